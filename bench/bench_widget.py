"""How long the widget takes to (re-)send a model's state; run ``python bench/bench_widget.py``.

``refresh()`` is the whole re-send (structure, curves, scores, masks, status, plots); the snapshot
row is its engine part alone (acts on the training data, every edge's curve, scores, masks).
Without a kernel the comm is a dummy, so the figures include serialising the traits but not the
websocket. Target: refresh of [4,16,16,1] with 100 points per curve <= 20 ms.

``--threads N`` sets torch's intra-op threads. On a shared, busy 2-core machine use 1: with more
threads than free cores torch's workers wait on each other and the figures get 10-40x worse.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout that is not pip-installed
    sys.path.insert(0, str(ROOT))

from kan_widget import KAN, create_dataset  # noqa: E402
from kan_widget.widget import KANWidget  # noqa: E402
from kan_widget.widget import snapshot as snap  # noqa: E402

REPEATS = 20
SHAPES = ([4, 16, 16, 1], [64, 64, 64, 10])


def median_ms(fn, repeats: int = REPEATS) -> tuple[float, float]:
    """Median wall time and median CPU time of this thread, in ms. On a shared machine the CPU
    time is the steadier figure: it leaves out the time spent waiting for a core."""
    fn()  # warm-up: first calls pay for allocation and lazy imports
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for width in SHAPES:
        n_in, n_out = width[0], width[-1]
        w_out = torch.linspace(0.5, 1.5, n_in)
        data = create_dataset(
            lambda x, w_out=w_out, n_out=n_out: torch.sin(x @ w_out).unsqueeze(1).repeat(1, n_out),
            n_var=n_in,
            train_num=1000,
            test_num=1000,
        )
        t0 = time.perf_counter()
        w = KANWidget(KAN(width, seed=0), data)
        construct = 1000 * (time.perf_counter() - t0)
        snap_ms = median_ms(lambda w=w: snap.snapshot(w.model, w._x, 100))
        refresh_ms = median_ms(w.refresh)
        edges = sum(a * b for a, b in itertools.pairwise(width))
        rows.append((str(width), edges, len(w.curves), construct, snap_ms, refresh_ms))
        w.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {load:.1f}, 100 points per curve, 1000 training rows, "
        f"median of {REPEATS}"
    )
    print(
        "| width | edges | curves bytes | construct ms | snapshot ms wall / cpu "
        "| refresh() ms wall / cpu |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for width, edges, nbytes, construct, (sw, sc), (rw, rc) in rows:
        print(
            f"| {width} | {edges} | {nbytes} | {construct:.0f} | {sw:.1f} / {sc:.1f} | "
            f"{rw:.1f} / {rc:.1f} |"
        )


if __name__ == "__main__":
    main()
