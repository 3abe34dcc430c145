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
port="${BROWSER_PORT:-18090}"
# shellcheck source=../serve_demo.sh
source tests/serve_demo.sh "$port"
mkdir -p target/browser
node tests/browser/viewer.mjs "http://127.0.0.1:$port" target/browser/viewer.png
