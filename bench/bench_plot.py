"""``model.plot()`` time: ours for [4,16,16,1] and [64,64,64,10], pykan 0.2.8's for [4,16,16,1].

    .venv/bin/python bench/bench_plot.py               # table (pykan once: ~45 s)
    .venv/bin/python bench/bench_plot.py --no-pykan    # ours only
    .venv/bin/python bench/bench_plot.py --reps 5

"plot()" is the call (layout, curves, artists); "+draw" adds rendering the picture with Agg at
100 dpi (what a notebook does to show it), "cpu" is "+draw" in CPU seconds of this process (less
sensitive to other jobs on a shared machine than wall time), "files" the files the call wrote.
Each of our models is fitted for a few Adam steps first, so curves and fading are a trained
model's. pykan runs in
a temporary directory (it writes ./figures/*.png and ./model) with ``auto_save=False``, on the
same data; its plot() is timed once (it does not return a figure; "+draw" is its savefig).
Median of ``--reps`` runs for ours; the machine may be shared, so read the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import torch
from matplotlib import pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kan_widget import KAN


def _data(n_in: int, n_out: int, n: int = 1000, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_in, generator=g) * 2 - 1
    y = torch.sin(torch.pi * x[:, :1]) + (x[:, 1:2] ** 2 if n_in > 1 else 0)
    y = y.repeat(1, n_out)
    return {"train_input": x, "train_label": y, "test_input": x[:100], "test_label": y[:100]}


def _files(folder: str) -> int:
    return sum(len(f) for _, _, f in os.walk(folder))


def time_ours(width: list[int], reps: int) -> tuple[float, float, float, int]:
    m = KAN(width=width, grid=5, k=3, seed=0)
    m.fit(_data(width[0], width[-1]), opt="Adam", steps=10, lr=0.01, lamb=0.01)
    calls, draws, cpus = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            for _ in range(reps + 1):  # the first run pays for imports
                c0, t0 = time.process_time(), time.perf_counter()
                fig = m.plot()
                t1 = time.perf_counter()
                fig.canvas.draw()
                t2, c2 = time.perf_counter(), time.process_time()
                plt.close(fig)
                calls.append(t1 - t0)
                draws.append(t2 - t0)
                cpus.append(c2 - c0)
            files = _files(tmp)
        finally:
            os.chdir(cwd)
    med = statistics.median
    return med(calls[1:]), med(draws[1:]), med(cpus[1:]), files


def time_pykan(width: list[int]) -> tuple[float, float, float, int]:
    import kan

    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            m = kan.KAN(width=list(width), grid=5, k=3, seed=0, auto_save=False)
            d = _data(width[0], width[-1])
            m.fit(d, opt="Adam", steps=10, lr=0.01, lamb=0.01)
            m(d["train_input"])
            c0, t0 = time.process_time(), time.perf_counter()
            m.plot()
            t1 = time.perf_counter()
            plt.gcf().canvas.draw()
            t2, c2 = time.perf_counter(), time.process_time()
            plt.close("all")
            files = _files(tmp) - _files(os.path.join(tmp, "model"))
        finally:
            os.chdir(cwd)
    return t1 - t0, t2 - t0, c2 - c0, files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-pykan", action="store_true")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; {torch.get_num_threads()} torch threads")
    print(f"{'':<28}{'plot()':>10}{'+draw':>10}{'cpu':>10}{'files':>7}")
    for width in ([4, 16, 16, 1], [64, 64, 64, 10]):
        call, draw, cpu, files = time_ours(width, args.reps)
        name = "kan-widget " + str(width)
        print(f"{name:<28}{call:>9.3f}s{draw:>9.3f}s{cpu:>9.3f}s{files:>7}")
    if not args.no_pykan:
        try:
            call, draw, cpu, files = time_pykan([4, 16, 16, 1])
        except ImportError:
            print("pykan not installed: pip install pykan==0.2.8")
        else:
            name = "pykan 0.2.8 [4, 16, 16, 1]"
            print(f"{name:<28}{call:>9.3f}s{draw:>9.3f}s{cpu:>9.3f}s{files:>7}")


if __name__ == "__main__":
    main()
