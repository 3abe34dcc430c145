#!/usr/bin/env bash
# Mixed load against a release `tessera serve` on loopback: tiles and items at 64
# connections while 8 clients hammer heavy queries (area-share overlays, each several
# seconds) and one client runs far over its rate limit. Prints what the issue asks to
# hold: no 5xx on tiles and items, 429 for the client over its rate, heavy queries
# queued or refused with JSON 503/504, tile p99 loaded against unloaded, resident
# memory after warm-up against the end.
#
#   cargo build --release && bash benches/load_mixed.sh
#
# Settings (environment): DURATION of the loaded phase in seconds (180), WARMUP seconds
# of an untimed pass that renders and caches every path first (30), BASELINE seconds of
# the unloaded phase (30), PARCELS (100000) and ZONES (2000) of the generated
# city (../shared/peers/gen_city.py, cached in $CACHE_DIR), PORT (18433).
# Needs wrk and curl. Every request goes to 127.0.0.1; every loop ends by itself.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${TESSERA_BIN:-$TARGET/release/tessera}
GEN=${GEN_CITY:-$ROOT/../shared/peers/gen_city.py}
DURATION=${DURATION:-180}
BASELINE=${BASELINE:-30}
WARMUP=${WARMUP:-30}
PARCELS=${PARCELS:-100000}
ZONES=${ZONES:-2000}
PORT=${PORT:-18433}
CACHE_DIR=${CACHE_DIR:-$TARGET/load-mixed/city-$PARCELS-$ZONES}
OUT=$TARGET/load-mixed/run
BASE="http://127.0.0.1:$PORT"

[ -x "$BIN" ] || { echo "no tessera binary at $BIN: cargo build --release first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

if [ ! -f "$CACHE_DIR/parcels.geojson" ]; then
  mkdir -p "$CACHE_DIR"
  python3 "$GEN" --out "$CACHE_DIR" --seed 7 --parcels "$PARCELS" --zones "$ZONES" \
    --assets 10000 --pings 100000 --formats geojson --ping-formats csv >/dev/null
fi

rm -rf "$OUT" && mkdir -p "$OUT"
DATA=$OUT/data
for layer in parcels zones assets; do
  "$BIN" ingest "$CACHE_DIR/$layer.geojson" --layer "$layer" --data-dir "$DATA" \
    --sensitivity public >/dev/null
done
HEAVY_KEY=$("$BIN" keys --data-dir "$DATA" add --role steward --purpose "load: heavy clients" 2>/dev/null)
GREEDY_KEY=$("$BIN" keys --data-dir "$DATA" add --role analyst --purpose "load: over its rate" 2>/dev/null)
cat > "$OUT/tessera.toml" <<TOML
[limits]
public_rps = 100000.0        # the tile and item clients share 127.0.0.1
analyst_rps = 20.0           # the greedy client
steward_rps = 100000.0       # the heavy clients
heavy_concurrency = 1          # half the 2 cores: tiles keep the other
heavy_queue = 4
heavy_timeout_seconds = 20
TOML

"$BIN" serve --config "$OUT/tessera.toml" --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
  --access-log "$OUT/access.log" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf "$BASE/ready" >/dev/null && break
  sleep 0.2
done

# Tiles over the city at z13–z15 and item pages of the zones and assets.
python3 - "$CACHE_DIR" > "$OUT/paths.txt" <<'PY'
import json, math, sys
bb = json.load(open(f"{sys.argv[1]}/manifest.json"))["layers"]["parcels"]["bbox"]
def tile(lon, lat, z):
    n = 2 ** z
    r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
for z in (13, 14, 15):
    x0, y1 = tile(bb[0], bb[1], z)
    x1, y0 = tile(bb[2], bb[3], z)
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            print(f"/tiles/parcels/{z}/{x}/{y}.mvt")
for offset in range(0, 2000, 100):
    print(f"/collections/zones/items?limit=20&offset={offset}")
    print(f"/collections/assets/items?limit=50&offset={offset}")
PY

rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
p99() { awk '/ 99%/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $5}' "$1"; }

echo "warm-up: every path rendered and cached, a few heavy queries (${WARMUP}s)"
WRK_PATHS="$OUT/paths.txt" wrk -t2 -c16 -d"${WARMUP}s" --timeout 30s \
  -s "$ROOT/../shared/peers/rotate.lua" "$BASE" > "$OUT/wrk_warmup.txt"
for _ in 1 2; do
  curl -s -o /dev/null -H "Authorization: Bearer $HEAVY_KEY" \
    "$BASE/aggregate?cover=parcels&zones=zones&measure=area_share:land_use"
done
echo "unloaded: wrk 64 connections for ${BASELINE}s"
WRK_PATHS="$OUT/paths.txt" wrk -t2 -c64 -d"${BASELINE}s" --latency --timeout 30s \
  -s "$ROOT/../shared/peers/rotate.lua" "$BASE" > "$OUT/wrk_unloaded.txt"
RSS_WARM=$(rss)

echo "loaded: the same for ${DURATION}s, with 8 heavy clients and one over its rate"
heavy() {
  local end=$((SECONDS + DURATION))
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -H "Authorization: Bearer $HEAVY_KEY" \
      "$BASE/aggregate?cover=parcels&zones=zones&measure=area_share:land_use" || echo 000
  done
}
HEAVY=()
for c in 1 2 3 4 5 6 7 8; do
  heavy "$c" >> "$OUT/heavy_status.txt" &
  HEAVY+=($!)
done
WRK_PATHS="$OUT/paths.txt" wrk -t1 -c4 -d"${DURATION}s" --timeout 30s \
  -H "Authorization: Bearer $GREEDY_KEY" -s "$ROOT/../shared/peers/rotate.lua" "$BASE" \
  > "$OUT/wrk_greedy.txt" &
GREEDY=$!
(for _ in $(seq 1 $((DURATION / 5))); do sleep 5; rss; done) > "$OUT/rss.txt" &
SAMPLER=$!
WRK_PATHS="$OUT/paths.txt" wrk -t2 -c64 -d"${DURATION}s" --latency --timeout 30s \
  -s "$ROOT/../shared/peers/rotate.lua" "$BASE" > "$OUT/wrk_loaded.txt"
wait "$GREEDY" "$SAMPLER" "${HEAVY[@]}" || true

echo
echo "tiles and items, p99 unloaded / loaded: $(p99 "$OUT/wrk_unloaded.txt") / $(p99 "$OUT/wrk_loaded.txt")"
echo "tiles and items, requests/s unloaded / loaded: $(awk '/Requests\/sec/ {print $2}' "$OUT/wrk_unloaded.txt") / $(awk '/Requests\/sec/ {print $2}' "$OUT/wrk_loaded.txt")"
echo "tiles and items, non-2xx answers while loaded: $(non2xx "$OUT/wrk_loaded.txt")"
echo "greedy client: $(awk '/requests in/ {print $1}' "$OUT/wrk_greedy.txt") requests, non-2xx (429) $(non2xx "$OUT/wrk_greedy.txt")"
echo "heavy clients, statuses: $(sort "$OUT/heavy_status.txt" | uniq -c | tr '\n' ' ')"
echo "RSS after warm-up $((RSS_WARM / 1024)) MB, at the end $(( $(rss) / 1024 )) MB, samples (MB): $(awk '{printf "%d ", $1/1024}' "$OUT/rss.txt")"
echo "raw outputs in $OUT"
