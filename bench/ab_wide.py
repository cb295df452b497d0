"""The wide case (bench_engine's wide row: a caller's own loop of ``forward_stats`` + penalty +
``backward()`` on [4,100,100,100,1], B=1000, G=3) under this tree's code against the ways it
replaced, A/B in one process.

Ways: ``before`` (the penalty and the layers' weights at the caller's thread count: the code
before ``LayerWeights`` and the penalty's one-thread block), ``now`` (this tree). Each turn
runs a quiet phase (as found) and a phase with one core kept busy by a second process
(bench_engine's ``BusyCore``); in each phase every way runs ``--run`` consecutive iterations
with its own thread choices (threads.py's loop timing sees only its own iterations), so each
way meets the load changes as a user's loop would. Prints median / best wall ms and median CPU
ms per iteration (each run's first iteration, right after the load changed, included), busy /
quiet per way, and the load average (the machine may be shared).

Run: ``PYTHONPATH=. .venv/bin/python bench/ab_wide.py [--turns 6] [--run 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import ClassVar

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import WIDE, BusyCore, wide_setup

import kan_widget.regularizer as regularizer
import kan_widget.threads as threads
from kan_widget.layer import KANLayer

WAYS = ("before", "now")
_weights = KANLayer._weights


class Way:
    """Sets one way for the iterations run inside it, with that way's own thread choices."""

    choices: ClassVar[dict[str, dict]] = {w: {} for w in WAYS}

    def __init__(self, way: str):
        self.way = way

    def __enter__(self):
        threads._choices = self.choices[self.way]
        threads._loop.t = float("-inf")  # the other way's iterations are no period of this one
        if self.way == "before":
            regularizer.OneThread = lambda par=True: contextlib.nullcontext()  # type: ignore
            KANLayer._weights = lambda self, one_thread=False: _weights(self)  # type: ignore
        return self

    def __exit__(self, *exc):
        regularizer.OneThread = threads.OneThread  # type: ignore[misc]
        KANLayer._weights = _weights  # type: ignore[method-assign]


def case(turns: int, run: int) -> dict[tuple[str, bool], tuple[float, float, float]]:
    step = wide_setup()[3]
    keys = [(w, b) for b in (False, True) for w in WAYS]
    wall: dict[tuple[str, bool], list[float]] = {k: [] for k in keys}
    cpu: dict[tuple[str, bool], list[float]] = {k: [] for k in keys}
    for turn in range(turns + 1):  # turn 0: warm-up
        for busy in (False, True):
            with BusyCore(busy):
                for w in WAYS if turn % 2 else WAYS[::-1]:
                    with Way(w):
                        for _ in range(run):
                            t0, c0 = time.perf_counter(), time.process_time()
                            step()
                            if turn:
                                wall[w, busy].append(time.perf_counter() - t0)
                                cpu[w, busy].append(time.process_time() - c0)
        print(f"turn {turn} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return {
        k: (1e3 * statistics.median(wall[k]), 1e3 * min(wall[k]), 1e3 * statistics.median(cpu[k]))
        for k in keys
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--run", type=int, default=5, help="iterations per way per phase")
    ap.add_argument("--threads", type=int, default=2)
    cfg = ap.parse_args(argv)
    torch.set_num_threads(cfg.threads)
    load0 = os.getloadavg()[0]
    r = case(cfg.turns, cfg.run)
    print(
        f"\nwide fwd+bwd {WIDE[0]} B={WIDE[1]}, {cfg.threads} threads, load average "
        f"{load0:.1f} -> {os.getloadavg()[0]:.1f} ({os.cpu_count()} cpus); ms per iteration\n"
    )
    print(
        "| way | quiet median | quiet best | quiet CPU | busy median | busy best | busy CPU "
        "| busy / quiet |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for w in WAYS:
        q, b = r[w, False], r[w, True]
        print(
            f"| {w} | {q[0]:.1f} | {q[1]:.1f} | {q[2]:.1f} | {b[0]:.1f} | {b[1]:.1f} | "
            f"{b[2]:.1f} | {b[0] / q[0]:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
