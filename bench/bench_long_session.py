"""Long session: 10,000 training steps with the widget live; prints memory over time.

The widget is driven as a notebook would drive it (``w.train(n, block=True)`` on its background
thread, live pushes throttled to the front end). Resident memory should stay flat: the loss
history is thinned beyond ``HISTORY_CAP`` points and the undo history holds at most 20 models.

    .venv/bin/python bench/bench_long_session.py [--steps 10000] [--every 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import torch

from kan_widget import KAN, KANWidget, create_dataset


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    def f(x):
        return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)

    data = create_dataset(f, n_var=2, train_num=1000, test_num=1000)
    w = KANWidget(KAN([2, 5, 1], seed=1), data, in_vars=["x", "y"], opt="Adam", lr=1e-2, lamb=0.01)
    rows = []
    t0 = time.perf_counter()
    done = 0
    while done < args.steps:
        w.train(args.every, block=True)
        if done == 0:
            w.prune()  # exercise undo history too
        done += args.every
        gc.collect()
        rows.append((w.status["step"], rss_mib(), len(w.history["step"]), time.perf_counter() - t0))
    w.close()
    print("| step | RSS (MiB) | history points | elapsed (s) |")
    print("| --- | --- | --- | --- |")
    for step, rss, n, el in rows:
        print(f"| {step} | {rss:.1f} | {n} | {el:.1f} |")
    first = rows[0][1]
    print(f"\nRSS growth from step {rows[0][0]} to {rows[-1][0]}: {rows[-1][1] - first:+.1f} MiB")


if __name__ == "__main__":
    main()
