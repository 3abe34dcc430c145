#!/usr/bin/env bash
# Heatmap tiles and a points-in-zones aggregate timed over HTTP against a release
# `tessera serve`, with curl's time_total (connection, server work and transfer).
#
#   cargo build --release && bash benches/heatmap_http.sh
#
# Data: ../shared/peers/gen_city.py (--pings $PINGS --parcels 1000 --zones 100
# --assets 100 --ping-formats csv), generated once into $CACHE_DIR and reused; pings are
# ingested as a personal layer (k-anonymity on, k = 10) into a temporary data folder.
#
# What is timed, over every tile at z12 and z14 that covers the pings' bbox:
# - first: the very first heatmap request after the server has loaded the layer (the
#   point columns are built in the background at load; the script waits for them);
# - cold: the first request of each tile and query: the tile cache is empty for it,
#   the point columns are built. Each round asks every tile again with another k
#   (k=10, 11, ...: same work, another cache key), for more samples per zoom;
# - warm: the same requests repeated, answered from the tile cache;
# - aggregate: /aggregate?points=pings&zones=zones&stat=distinct, first (builds the
#   zone index) then repeated (not cached: computed each time).
#
# Settings (environment): TESSERA_BIN (default $CARGO_TARGET_DIR or target, then
# release/tessera), PINGS (1000000), PORT (18431), ROUNDS of cold requests (5),
# REPEATS of warm requests and aggregates (10), CACHE_DIR for the generated data. The
# raw times are kept in $TARGET/heatmap-http/times-$PINGS.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${TESSERA_BIN:-$TARGET/release/tessera}
GEN=${GEN_CITY:-$ROOT/../shared/peers/gen_city.py}
PINGS=${PINGS:-1000000}
PORT=${PORT:-18431}
ROUNDS=${ROUNDS:-5}
REPEATS=${REPEATS:-10}
CACHE_DIR=${CACHE_DIR:-$TARGET/heatmap-http/city-$PINGS}
BASE="http://127.0.0.1:$PORT"
QUERY="cells=64&stat=distinct"

[ -x "$BIN" ] || { echo "no tessera binary at $BIN: cargo build --release first" >&2; exit 1; }
[ -f "$GEN" ] || { echo "no generator at $GEN (set GEN_CITY)" >&2; exit 1; }

WORK=$(mktemp -d -t tessera-heatmap-http.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -f "$CACHE_DIR/manifest.json" ]; then
  echo "== generating the city ($PINGS pings) into $CACHE_DIR"
  mkdir -p "$CACHE_DIR"
  python3 "$GEN" --out "$CACHE_DIR" --pings "$PINGS" --parcels 1000 --zones 100 --assets 100 \
    --ping-formats csv > "$CACHE_DIR/gen.log"
fi

echo "== ingesting into $WORK/data"
t0=$(date +%s.%N)
"$BIN" ingest "$CACHE_DIR/pings.csv" --data-dir "$WORK/data" --layer pings \
  --sensitivity personal --id-field device_id --time-field ts > "$WORK/ingest-pings.log"
t1=$(date +%s.%N)
"$BIN" ingest "$CACHE_DIR/zones.geojson" --data-dir "$WORK/data" --layer zones > "$WORK/ingest-zones.log"
INGEST_S=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
echo "pings ingested in $INGEST_S s"

echo "== starting tessera serve on $BASE"
"$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" --seed-from "$WORK/none" \
  > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "$BASE/collections" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf -o /dev/null "$BASE/collections" || { echo "server did not start" >&2; exit 1; }
# The server builds the pings' point columns in the background after a load; wait for
# them, as a planner would find the server some seconds after an ingest.
t0=$(date +%s.%N)
for _ in $(seq 1 600); do
  grep -q "point columns ready" "$WORK/server.log" && break
  sleep 0.2
done
PREPARE_S=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
echo "point columns ready $PREPARE_S s after the server answered"

# Server CPU time (all threads, clock ticks), for the CPU per request of each phase:
# wall time on a loaded shared machine also measures the load.
ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
cpu_begin() { CPU0=$(ticks); }
cpu_end() { echo "$1 $(($(ticks) - CPU0))" >> "$WORK/cpu"; }

# One timed GET: appends "label status seconds" to $WORK/times.
get() {
  local label=$1 url=$2 out
  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$BASE$url")
  case ${out%% *} in
    200|204) ;;
    *) echo "GET $url -> $out" >&2; exit 1 ;;
  esac
  echo "$label $out" >> "$WORK/times"
}

# Tiles covering the pings' bbox at a zoom, one "x y" per line.
tiles() {
  python3 - "$CACHE_DIR/manifest.json" "$1" <<'EOF'
import json, math, sys
bbox = json.load(open(sys.argv[1]))["layers"]["pings"]["bbox"]
z = int(sys.argv[2]); n = 2 ** z
def tile(lon, lat):
    r = math.radians(lat)
    return (int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n))
(x0, y1), (x1, y0) = tile(bbox[0], bbox[1]), tile(bbox[2], bbox[3])
for x in range(x0, x1 + 1):
    for y in range(y0, y1 + 1):
        print(x, y)
EOF
}

: > "$WORK/times"
: > "$WORK/cpu"
# Prime with a tile in the middle of the city, with a query not reused below.
mapfile -t list < <(tiles 12)
read -r fx fy <<< "${list[$(( ${#list[@]} / 2 ))]}"
cpu_begin
get first "/heatmap/pings/12/$fx/$fy.mvt?$QUERY&k=99"
cpu_end first
for z in 12 14; do
  mapfile -t list < <(tiles "$z")
  echo "== z$z: ${#list[@]} tiles, $ROUNDS cold rounds, $REPEATS warm repeats"
  cpu_begin
  for ((r = 0; r < ROUNDS; r++)); do
    for t in "${list[@]}"; do
      get "z${z}_cold" "/heatmap/pings/$z/${t% *}/${t#* }.mvt?$QUERY&k=$((10 + r))"
    done
  done
  cpu_end "z${z}_cold"
  cpu_begin
  for ((r = 0; r < REPEATS; r++)); do
    for t in "${list[@]}"; do
      get "z${z}_warm" "/heatmap/pings/$z/${t% *}/${t#* }.mvt?$QUERY&k=10"
    done
  done
  cpu_end "z${z}_warm"
done
echo "== aggregate"
cpu_begin
get aggregate_first "/aggregate?points=pings&zones=zones&stat=distinct"
cpu_end aggregate_first
cpu_begin
for ((r = 0; r < REPEATS; r++)); do
  get aggregate "/aggregate?points=pings&zones=zones&stat=distinct"
done
cpu_end aggregate

cp "$WORK/times" "$TARGET/heatmap-http/times-$PINGS.txt"
python3 - "$WORK/times" "$PINGS" "$INGEST_S" "$(nproc)" "$WORK/cpu" "$(getconf CLK_TCK)" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    label, status, secs = line.split()
    rows.setdefault(label, []).append((float(secs) * 1e3, status))
cpu = {}
for line in open(sys.argv[5]):
    label, ticks = line.split()
    cpu[label] = int(ticks) * 1e3 / int(sys.argv[6])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))]
print(f"\n{int(sys.argv[2]):,} pings (ingested in {sys.argv[3]} s), {sys.argv[4]} cores, "
      f"load average {sys.argv[7]}; curl time_total in ms (nearest-rank percentiles) and "
      "the server's mean CPU ms per request\n")
print(f"{'request':<16} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8} {'CPU/req':>8}  statuses")
what = [("first", "heatmap, first after load (columns built at load)"),
        ("z12_cold", "heatmap z12, cold"), ("z12_warm", "heatmap z12, warm (cached)"),
        ("z14_cold", "heatmap z14, cold"), ("z14_warm", "heatmap z14, warm (cached)"),
        ("aggregate_first", "aggregate, first (builds zone index)"),
        ("aggregate", "aggregate, repeated")]
for key, text in what:
    v = rows.get(key, [])
    if not v:
        continue
    ms = [m for m, _ in v]
    statuses = ",".join(sorted({s for _, s in v}))
    per = f"{cpu[key] / len(ms):8.1f}" if key in cpu else f"{'-':>8}"
    print(f"{key:<16} {len(ms):>4} {pct(ms, 50):>8.1f} {pct(ms, 95):>8.1f} {max(ms):>8.1f} {per}  "
          f"{statuses:<8} {text}")
EOF
