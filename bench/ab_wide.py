"""The wide case (bench_engine's wide row: a caller's own loop of ``forward_stats`` + penalty +
``backward()`` on [4,100,100,100,1], B=1000, G=3) under this tree's code against the ways it
replaced, A/B in one process.

Ways: ``before`` (the penalty and the layers' weights at the caller's thread count, as before
``LayerWeights`` and the penalty's one-thread block), ``now`` (this tree). Each way runs
``--run`` consecutive iterations per turn, turns alternating, with its own thread choices
(threads.py's loop timing sees only its own iterations). Quiet (as found) and with one core
kept busy by a second process (bench_engine's ``BusyCore``). Prints median / best wall ms and
CPU ms per iteration, and the load average (the machine may be shared).

Run: ``PYTHONPATH=. .venv/bin/python bench/ab_wide.py [--turns 8] [--run 5] [--threads 2]
[--no-busy]``.
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

from bench_engine import WIDE, BusyCore, make_data, ours_model, wide_loss

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


def case(turns: int, run: int, busy: bool) -> dict[str, tuple[float, float, float]]:
    width, batch = WIDE
    data = make_data(width, batch, "cpu")
    x, y = data["train_input"], data["train_label"]
    model = ours_model(width, "cpu")

    def step():
        model.zero_grad(set_to_none=True)
        wide_loss(model, x, y).backward()

    wall: dict[str, list[float]] = {w: [] for w in WAYS}
    cpu: dict[str, list[float]] = {w: [] for w in WAYS}
    with BusyCore(busy):
        for turn in range(turns + 1):
            for w in WAYS if turn % 2 else WAYS[::-1]:
                with Way(w):
                    for i in range(run):
                        t0, c0 = time.perf_counter(), time.process_time()
                        step()
                        if turn and i:  # the first turn and each turn's first: warm-up
                            wall[w].append(time.perf_counter() - t0)
                            cpu[w].append(time.process_time() - c0)
    return {
        w: (
            1e3 * statistics.median(wall[w]),
            1e3 * min(wall[w]),
            1e3 * statistics.median(cpu[w]),
        )
        for w in WAYS
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--run", type=int, default=5, help="iterations per way per turn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-busy", action="store_true")
    cfg = ap.parse_args(argv)
    torch.set_num_threads(cfg.threads)
    load0 = os.getloadavg()[0]
    rows = []
    for busy in (False,) if cfg.no_busy else (False, True):
        rows.append((busy, case(cfg.turns, cfg.run, busy)))
        print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"\nwide fwd+bwd {WIDE[0]} B={WIDE[1]}, {cfg.threads} threads, load average "
        f"{load0:.1f} -> {os.getloadavg()[0]:.1f} ({os.cpu_count()} cpus); ms per iteration\n"
    )
    print("| load | way | wall median | wall best | CPU median |")
    print("| --- | --- | --- | --- | --- |")
    for busy, r in rows:
        for w in WAYS:
            med, best, c = r[w]
            load = "one core busy" if busy else "as found"
            print(f"| {load} | {w} | {med:.1f} | {best:.1f} | {c:.1f} |")
    for busy, r in rows:
        ratio = r["now"][0] / r["before"][0]
        print(f"now / before ({'busy' if busy else 'as found'}): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
