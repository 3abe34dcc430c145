#!/usr/bin/env python3
"""Grid binning, Tessera against datashader, on the same points and canvases.

The points are the 10M generated pings of `benches/analytics.rs`, written by that bench
as the `f32` Web Mercator offsets Tessera bins (`points.f32`: all x, then all y), with
the canvases it measures (`canvases.json`: size and ranges in the same offset frame,
and Tessera's counts per cell in `<canvas>.u32`). So datashader bins exactly the same
`f32` values on exactly the same rectangles; the script checks that its counts agree
with Tessera's before timing anything.

Datashader is timed with `ds.Canvas(plot_width=N, plot_height=N, x_range, y_range)
.points(df, 'x', 'y', agg=ds.count())`, numba warmed up by one untimed call per canvas:
- on one core: a pandas DataFrame (datashader's pandas path is a serial numba loop),
  in a process with NUMBA_NUM_THREADS=1;
- on both cores: a dask DataFrame of two partitions on the threaded scheduler with two
  workers (datashader's way to use several cores), NUMBA_NUM_THREADS=2.
Each figure is the median of --runs runs. Per core means points / CPU seconds of the
process (`time.process_time`, all threads), the same clock as the Rust bench's default
(CPU time of its one thread), so a loaded shared machine does not skew the ratio; the
wall-clock rate is printed beside it.

Setup and run (from the repository root; T is the cargo target folder):

    T=${CARGO_TARGET_DIR:-target}
    python3 -m venv $T/datashader-venv
    $T/datashader-venv/bin/pip install datashader pandas numpy 'dask[dataframe]'
    ANALYTICS_BENCH_DUMP=$T/analytics-bench cargo bench --bench analytics -- grid_binning
    $T/datashader-venv/bin/python benches/datashader_compare.py \\
        --data $T/analytics-bench --criterion $T/criterion
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def load(data_dir):
    import numpy as np

    with open(os.path.join(data_dir, "canvases.json")) as f:
        meta = json.load(f)
    n = meta["points"]
    xy = np.fromfile(os.path.join(data_dir, "points.f32"), dtype="<f4")
    if xy.size != 2 * n:
        sys.exit(f"points.f32 holds {xy.size} values, expected {2 * n}")
    return meta, xy[:n], xy[n:]


def worker(data_dir, threads, runs):
    """Times datashader in this process; prints one JSON object per canvas."""
    import numpy as np
    import pandas as pd
    import datashader as ds

    meta, x, y = load(data_dir)
    df = pd.DataFrame({"x": x, "y": y})
    if threads > 1:
        import dask
        import dask.dataframe as dd

        dask.config.set(scheduler="threads", num_workers=threads)
        frame = dd.from_pandas(df, npartitions=threads).persist()
    else:
        frame = df
    for c in meta["canvases"]:
        size = c["size"]
        canvas = ds.Canvas(
            plot_width=size,
            plot_height=size,
            x_range=tuple(c["x_range"]),
            y_range=tuple(c["y_range"]),
        )

        def run():
            return canvas.points(frame, "x", "y", agg=ds.count())

        agg = run()  # compiles the numba kernels
        # datashader's row 0 is the southern row, Tessera's the northern one.
        got = np.flipud(np.asarray(agg.values, dtype=np.int64))
        want = np.fromfile(os.path.join(data_dir, f"{c['id']}.u32"), dtype="<u4")
        want = want.reshape(size, size).astype(np.int64)
        diff = np.abs(got - want)
        walls, cpus = [], []
        for _ in range(runs):
            w0, c0 = time.perf_counter(), time.process_time()
            run()
            cpus.append(time.process_time() - c0)
            walls.append(time.perf_counter() - w0)
        print(
            json.dumps(
                {
                    "id": c["id"],
                    "threads": threads,
                    "points": meta["points"],
                    "total": int(got.sum()),
                    "tessera_total": c["tessera_total"],
                    "cells_differing": int((diff > 0).sum()),
                    "points_moved": int(diff.sum()) // 2,
                    "wall_s": statistics.median(walls),
                    "cpu_s": statistics.median(cpus),
                }
            ),
            flush=True,
        )


def tessera_seconds(criterion_dir, canvas_id):
    """Median seconds per run of `grid_binning/<canvas>` from criterion's samples."""
    path = os.path.join(criterion_dir, "grid_binning", canvas_id, "new", "sample.json")
    try:
        with open(path) as f:
            s = json.load(f)
    except OSError:
        return None
    return statistics.median(t / i for t, i in zip(s["times"], s["iters"])) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="ANALYTICS_BENCH_DUMP folder")
    ap.add_argument("--criterion", help="criterion output folder (target/criterion)")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--worker", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.data, a.worker, a.runs)
        return

    import datashader

    with open(os.path.join(a.data, "canvases.json")) as f:
        meta = json.load(f)
    results = {}
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        out = subprocess.run(
            [sys.executable, __file__, "--data", a.data, "--runs", str(a.runs),
             "--worker", str(threads)],
            env=env, check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
        for line in out.splitlines():
            r = json.loads(line)
            results[(r["id"], threads)] = r

    n = meta["points"]
    clock = meta.get("clock", "cpu")
    print(f"\n{n / 1e6:g}M points, datashader {datashader.__version__}; "
          f"Tessera from criterion ({clock} clock), datashader CPU time (wall in brackets); "
          "M points/s per core, median of runs\n")
    head = (f"{'canvas':<14} {'in canvas':>10} {'moved':>6} {'Tessera 1 core':>15} "
            f"{'datashader 1 thread':>22} {'datashader 2 threads':>22} {'Tessera/ds':>11}")
    print(head)
    print("-" * len(head))
    for c in meta["canvases"]:
        one, two = results[(c["id"], 1)], results[(c["id"], 2)]
        # A few points on the canvas's closed east/north edges, and a few hundred within
        # f32 rounding of a cell edge, may differ; more would mean different canvases.
        off = abs(one["total"] - c["tessera_total"])
        if off > n // 100_000 or one["points_moved"] > n // 10_000:
            print(f"  warning: {c['id']}: datashader counted {one['total']} points, "
                  f"Tessera {c['tessera_total']}; {one['points_moved']} points in other cells")
        t = tessera_seconds(a.criterion, c["id"]) if a.criterion else None
        ds1 = n / one["cpu_s"] / 1e6
        ds2 = n / two["cpu_s"] / 1e6
        ds1_wall = n / one["wall_s"] / 1e6
        ds2_wall = n / two["wall_s"] / 2 / 1e6
        tess = f"{n / t / 1e6:15.0f}" if t else f"{'-':>15}"
        ratio = f"{n / t / 1e6 / max(ds1, ds2):10.2f}x" if t else f"{'-':>11}"
        print(f"{c['id']:<14} {one['total']:>10} {one['points_moved']:>6} {tess} "
              f"{ds1:>10.0f} [{ds1_wall:>8.0f}] {ds2:>10.0f} [{ds2_wall:>8.0f}] {ratio}")
    print("\n'moved': points datashader put in another cell than Tessera (f32 edge rounding, "
          "and datashader's closed east/north edges).\n'datashader 2 threads' per core: "
          "points / process CPU seconds [points / wall seconds / 2].\nTessera/ds: Tessera "
          "per core over the better datashader per-core figure.")


if __name__ == "__main__":
    main()
