# Sourced by the black-box test scripts: builds the release binary and serves the demo
# data (seeded into a fresh temporary data folder, with the repository's tessera.toml)
# on 127.0.0.1:$1 until the sourcing script exits. Waits up to 30 s for the server.
#
# Usage: source tests/serve_demo.sh PORT     (from the repository root)
cargo build --release --locked --quiet
demo_data="$(mktemp -d)"
./target/release/tessera serve --data-dir "$demo_data" --listen "127.0.0.1:$1" >"$demo_data.log" 2>&1 &
demo_server=$!
trap 'kill $demo_server 2>/dev/null || true; rm -rf "$demo_data" "$demo_data.log"' EXIT
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$1/conformance" >/dev/null && break
  sleep 0.2
done
