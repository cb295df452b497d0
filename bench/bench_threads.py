"""The thread policy's measured choice (kan_widget/threads.py) against the fixed ways, A/B in one
process.

For each case the same model takes steps in turn under three ways, interleaved round by round:
``caller`` (large products on the caller's threads, the policy before the choice was measured),
``one`` (every product on one thread) and ``measured`` (the policy: :class:`ThreadChoice`).
Cases: ``fit`` rows are ``Trainer`` Adam steps (lamb=0.01); the ``loop`` row is a caller's own
loop of ``forward_stats`` + penalty + ``backward()`` (the wide case of bench_engine), run in
runs of ``--run`` iterations per way so the loop's timing sees consecutive iterations. Each case
runs quiet and with one core kept busy by a second process (bench_engine's ``BusyCore``).
Prints median ms per step and measured / best-fixed.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_threads.py [--rounds 6] [--threads 2]
[--no-busy]``. Wall times depend on the load; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import LAMB, WIDE, BusyCore, make_data, ours_model, wide_setup

import kan_widget.fused as fused
import kan_widget.threads as threads
from kan_widget.training import Trainer

FIT_CASES = [([4, 16, 16, 1], 1000), ([10, 32, 32, 1], 10000), ([64, 64, 64, 10], 1024)]
WAYS = ("caller", "one", "measured")


class Way:
    """Sets one way for the steps run inside it (and restores the policy after)."""

    def __init__(self, way: str):
        self.way = way

    def __enter__(self):
        self.saved = (Trainer._thread_choice, fused.free_block, threads.PAR_FLOPS)
        if self.way == "measured":
            # the other ways' steps since the last measured one are no iteration of the loop
            threads._loop.t = float("-inf")
        else:
            Trainer._thread_choice = lambda self: None  # type: ignore[method-assign]
            fused.free_block = lambda key=None: threads.OneThread()
        if self.way == "one":
            threads.PAR_FLOPS = 1 << 62  # no product is large: all on one thread
        return self

    def __exit__(self, *exc):
        Trainer._thread_choice, fused.free_block, threads.PAR_FLOPS = self.saved  # type: ignore[method-assign]


def fit_case(width, batch, rounds: int, busy: bool) -> dict[str, float]:
    data = make_data(width, batch, "cpu")
    trainer = Trainer(ours_model(width, "cpu"), data, opt="Adam", lamb=LAMB, update_grid=False)
    for _ in range(2):
        trainer.step()
    t: dict[str, list[float]] = {w: [] for w in WAYS}
    with BusyCore(busy):
        for _ in range(rounds):
            for w in WAYS:
                with Way(w):
                    t0 = time.perf_counter()
                    trainer.step()
                    t[w].append(time.perf_counter() - t0)
    return {w: 1e3 * statistics.median(v) for w, v in t.items()}


def loop_case(rounds: int, run: int, busy: bool) -> dict[str, float]:
    step = wide_setup()[3]
    step()
    t: dict[str, list[float]] = {w: [] for w in WAYS}
    with BusyCore(busy):
        for _ in range(max(1, rounds // 2)):
            for w in WAYS:
                with Way(w):
                    for _ in range(run):
                        t0 = time.perf_counter()
                        step()
                        t[w].append(time.perf_counter() - t0)
    return {w: 1e3 * statistics.median(v) for w, v in t.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="steps per way and case (fit rows)")
    ap.add_argument("--run", type=int, default=6, help="loop row: iterations per way per turn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-busy", action="store_true")
    cfg = ap.parse_args(argv)
    torch.set_num_threads(cfg.threads)
    if not threads.thread_local_counts():
        print("thread counts are not per thread here (not OpenMP): nothing to choose")
        return 0
    load0 = os.getloadavg()[0]
    rows = []
    for busy in (False,) if cfg.no_busy else (False, True):
        for width, batch in FIT_CASES:
            rows.append(
                (f"fit Adam step {width} B={batch}", busy, fit_case(width, batch, cfg.rounds, busy))
            )
            print(rows[-1], file=sys.stderr, flush=True)
        rows.append(
            (f"own loop fwd+bwd {WIDE[0]} B={WIDE[1]}", busy, loop_case(cfg.rounds, cfg.run, busy))
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"\nthread ways, {cfg.threads} threads, load average {load0:.1f} -> "
        f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} cpus); median ms per step\n"
    )
    print("| case | load | caller's threads | one thread | measured | measured / best fixed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, busy, r in rows:
        best = min(r["caller"], r["one"])
        print(
            f"| {name} | {'one core busy' if busy else 'as found'} | {r['caller']:.1f} | "
            f"{r['one']:.1f} | {r['measured']:.1f} | {r['measured'] / best:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
