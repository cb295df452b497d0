"""A/B of the compiled magnitudes and penalty (``ckernel.use_stats``, csrc/stats.c) against the
torch path, in one process: two L-BFGS trainers on the same [2,5,1] problem (with the penalty),
stepped alternately (ABBA), one with the kernel on and one off, so a shared machine's load hits
both alike. Prints the medians of CPU time (``time.process_time``) per closure for both, their
ratio, L-BFGS steps a second at 25 evaluations a step (CPU time of whole steps, grid updates
included, per evaluation) and the aten
ops per steady-state closure.

    PYTHONPATH=. .venv/bin/python bench/ab_cstats.py [--steps 20] [--width 2,5,1]

Measured 2026-12-06 (shared 2-core machine, load 7-10, one thread): closure CPU 0.88-0.96 ms
compiled against 1.50-1.53 ms on the torch path (ratio 0.58-0.62); 82 against 184 aten ops;
25-evaluation steps a second 27 against 19.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from kan_widget import KAN, ckernel
from kan_widget.training import Trainer


class Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--width", default="2,5,1")
    args = ap.parse_args()
    torch.set_num_threads(1)
    width = [int(v) for v in args.width.split(",")]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1000, width[0], generator=g) * 2 - 1
    y = torch.exp(torch.sin(torch.pi * x[:, :1]) + (x[:, 1:] ** 2).sum(1, keepdim=True))
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    times: dict[bool, list[float]] = {True: [], False: []}
    steps: dict[bool, list[float]] = {True: [], False: []}
    ops: dict[bool, int] = {}
    trainers = {}
    for on in (True, False):
        tr = Trainer(KAN(width, grid=3, k=3, seed=0), data, opt="LBFGS", lamb=0.01)
        real = tr._optimizer.step

        def step(closure, start=None, real=real, on=on):
            def timed():
                if on not in ops and len(times[on]) > 30:
                    counter = Ops()
                    with counter:
                        loss = closure()
                    ops[on] = counter.n
                    return loss
                t0 = time.process_time()
                loss = closure()
                times[on].append(time.process_time() - t0)
                return loss

            return real(timed, start=start)

        tr._optimizer.step = step
        trainers[on] = tr
    order = [True, False, False, True]
    for n in range(args.steps):
        for on in order if n % 2 == 0 else order[::-1]:
            before = ckernel.use_stats(on)
            try:
                n0 = len(times[on])
                t0 = time.process_time()
                trainers[on].step()
                # per evaluation, optimiser work included: steps differ in their evaluations
                steps[on].append((time.process_time() - t0) / max(len(times[on]) - n0, 1))
            finally:
                ckernel.use_stats(before)
    a, b = (statistics.median(times[on][10:]) * 1e3 for on in (True, False))
    print(f"load {os.getloadavg()[0]:.1f}; closures {len(times[True])} / {len(times[False])}")
    print(f"closure {width} CPU ms: compiled {a:.3f}, torch path {b:.3f}, ratio {a / b:.2f}")
    sa, sb = (statistics.median(steps[on][2:]) for on in (True, False))
    print(
        f"L-BFGS steps a second at 25 evaluations a step (CPU, whole steps): "
        f"compiled {1 / (25 * sa):.0f}, torch path {1 / (25 * sb):.0f}"
    )
    print(f"aten ops per closure: compiled {ops.get(True)}, torch path {ops.get(False)}")


if __name__ == "__main__":
    main()
