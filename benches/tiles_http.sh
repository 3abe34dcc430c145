#!/usr/bin/env bash
# Vector tiles over HTTP: Tessera beside Martin, on the same generated city, in one run.
#
# Uses the shared peer harness (../shared/peers): its city generator (200 000 parcels by
# default), its fixed tile list (every tile over the city at z10, z12, z14 and a seeded
# sample of 128 at z16) and its `bench_tiles.sh http`, which measures for each zoom:
#   cold  each tile once, in sequence, right after a server restart (no tile cached),
#         Accept-Encoding: gzip -> median / p95 ms, wire bytes;
#   raw   the same tiles without Accept-Encoding -> uncompressed MVT bytes per tile;
#   warm  wrk, 2 threads, 64 connections rotating over the zoom's tiles, gzip and identity.
# Tessera runs twice: `tessera` (tile cache on, restarted before the cold pass; after a
# restart it is given 3 s to prepare its z10–z14 generalization, as after every load) and
# `tessera_nocache` (--tile-cache-mb 0: every request renders its tile).
#
# Usage (from the repository root):
#   bash benches/tiles_http.sh              # Tessera only
#   PEERS=1 bash benches/tiles_http.sh      # plus martin → PostGIS (cache on and off) and
#                                           # martin → tippecanoe PMTiles, started by the
#                                           # harness (`bash ../shared/peers/run_all.sh setup` first)
# Env: PARCELS (200000), PORT (8091), PEERS_DIR, PEERS_HOME (/tmp/peers), RESULTS_DIR.
# Prints the harness's table and a Tessera/Martin ratio table; raw outputs stay under
# $RESULTS_DIR/tiles/LABEL/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="${PEERS_DIR:-$root/../shared/peers}"
export RESULTS_DIR="${RESULTS_DIR:-${PEERS_HOME:-/tmp/peers}/results_tessera}"
# shellcheck source=/dev/null
source "$peers/env.sh"
PARCELS="${PARCELS:-200000}"
PORT="${PORT:-8091}"
work="$PEERS_HOME/tessera"
mkdir -p "$work"

if [ ! -f "$DATA_DIR/manifest.json" ]; then
  python3 "$peers/gen_city.py" --out "$DATA_DIR" --seed 42 --parcels "$PARCELS" \
    --assets 1000 --pings 1000 --formats geojsonseq > "$work/gen_city.json"
fi
(cd "$root" && cargo build --release --locked --quiet)
bin="$root/target/release/tessera"
if [ ! -d "$work/data/parcels" ]; then
  "$bin" ingest "$DATA_DIR/parcels.geojsonseq" --layer parcels --data-dir "$work/data" \
    --title "Parcels ($PARCELS)" > "$work/ingest.log"
fi

# start_tessera CACHE_MB: (re)starts the server on $PORT and waits until it answers.
start_tessera() {
  stop_tessera
  (cd "$work" && exec "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$PORT" \
    --seed-from /nonexistent --tile-cache-mb "$1" > "$work/serve.log" 2>&1) &
  echo $! > "$work/serve.pid"
  wait_http "http://127.0.0.1:$PORT/conformance" 60
  sleep 3
}
stop_tessera() {
  if [ -f "$work/serve.pid" ]; then
    kill "$(cat "$work/serve.pid")" 2>/dev/null || true
    sleep 0.5
    rm -f "$work/serve.pid"
  fi
}
trap stop_tessera EXIT
export -f start_tessera stop_tessera wait_http
export bin work PORT

url="http://127.0.0.1:$PORT/tiles/parcels/{z}/{x}/{y}.mvt"
COLD_HOOK="start_tessera 256" bash "$peers/bench_tiles.sh" http tessera "$url" > /dev/null
COLD_HOOK="start_tessera 0" bash "$peers/bench_tiles.sh" http tessera_nocache "$url" > /dev/null
stop_tessera

if [ "${PEERS:-0}" = 1 ] && [ -x "$MARTIN_BIN" ]; then
  m="http://$MARTIN_ADDR"
  bash "$peers/setup_postgis.sh" start > /dev/null
  export COLD_HOOK="bash $peers/setup_martin.sh restart >/dev/null"
  unset MARTIN_CACHE_MB
  bash "$peers/bench_tiles.sh" http martin_pg "$m/parcels/{z}/{x}/{y}" > /dev/null
  bash "$peers/bench_tiles.sh" http martin_pmtiles "$m/parcels_pmtiles/{z}/{x}/{y}" > /dev/null
  MARTIN_CACHE_MB=0 bash "$peers/bench_tiles.sh" http martin_pg_nocache "$m/parcels/{z}/{x}/{y}" > /dev/null
  bash "$peers/setup_martin.sh" stop > /dev/null
fi

python3 "$peers/report.py" --results "$RESULTS_DIR" --logs /nonexistent --data "$DATA_DIR"
python3 - "$RESULTS_DIR/tiles" <<'EOF'
import csv, os, sys
base = sys.argv[1]
def rows(label):
    p = os.path.join(base, label, "summary.tsv")
    return {r["zoom"]: r for r in csv.DictReader(open(p), delimiter="\t")} if os.path.exists(p) else {}
def ratio(a, b):
    try:
        return "%.1f×" % (float(a) / float(b))
    except (TypeError, ValueError, ZeroDivisionError):
        return "-"
pairs = [("tessera", "martin_pg"), ("tessera_nocache", "martin_pg_nocache")]
if not any(rows(m) for _, m in pairs):
    sys.exit(0)
print("## Tessera / Martin → PostGIS, same run\n")
print("| pair | zoom | cold median: Martin ms / Tessera ms | cold p95 | warm gzip req/s: Tessera / Martin | raw bytes/tile Tessera / Martin |")
print("|---|---|---|---|---|---|")
for ours, theirs in pairs:
    a, b = rows(ours), rows(theirs)
    for z in sorted(a, key=int):
        if z not in b:
            continue
        x, y = a[z], b[z]
        print("| %s vs %s | z%s | %s (%s / %s) | %s | %s (%s / %s) | %s / %s |" % (
            ours, theirs, z,
            ratio(y["cold_med_ms"], x["cold_med_ms"]), y["cold_med_ms"], x["cold_med_ms"],
            ratio(y["cold_p95_ms"], x["cold_p95_ms"]),
            ratio(x["warm_rps"], y["warm_rps"]), x["warm_rps"], y["warm_rps"],
            x["raw_bytes_mean"], y["raw_bytes_mean"]))
EOF
