#!/usr/bin/env bash
# Browser test of the web map viewer: a release build serving the demo data, opened in
# headless Chromium (Debian's `chromium`) through playwright-core.
#
# Usage: tests/browser/run.sh     (from the repository root)
# Needs: chromium (apt-get install chromium), node and npm. The screenshot is written to
# target/browser/viewer.png.
set -euo pipefail
cd "$(dirname "$0")/../.."

(cd tests/browser && npm install --silent --no-audit --no-fund)
cargo build --release --locked --quiet
data="$(mktemp -d)"
port="${BROWSER_PORT:-18090}"
./target/release/tessera serve --data-dir "$data" --listen "127.0.0.1:$port" >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$port/conformance" >/dev/null && break
  sleep 0.2
done
mkdir -p target/browser
node tests/browser/viewer.mjs "http://127.0.0.1:$port" target/browser/viewer.png
