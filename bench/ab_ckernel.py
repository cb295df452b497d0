"""A/B of the compiled B-spline kernel (kan_widget/ckernel.py) against the torch path, in one
process: the kernel is switched on and off step by step (ABBA order), so a shared, busy
machine's load hits both alike. Figures: median CPU time (``time.process_time``) and wall time
per unit of work with the kernel off / on, and their ratios (with several threads the CPU time
includes OpenMP's spin-waiting). The two paths give the same bits (checked first,
on the wide case's loss and gradients). The compiled statistics and penalty (``use_stats``),
which round differently from torch, stay off in both ways: their own A/B is ab_cstats.py.

Rows: the wide case (forward + backward of MSE + 0.01 * penalty, [4,100,100,100,1] B=1000
G=3, bench_engine's), the L-BFGS closure [2,5,1] B=1000 lamb=0.01 (timed inside Trainer's
steps, as bench_engine's), and Adam steps (lamb=0.01, no grid updates) on [4,16,16,1] B=1000
and [64,64,64,10] B=1024; update_grid on [4,16,16,1] B=1000 and [10,32,32,1] B=10000
(float64 refits).

    PYTHONPATH=. .venv/bin/python bench/ab_ckernel.py [--reps 10] [--threads 1] [--rows wide,...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.bench_engine import LAMB, make_data, ours_model, wide_setup  # noqa: E402
from kan_widget import ckernel  # noqa: E402
from kan_widget.training import Trainer  # noqa: E402


def wide_case() -> tuple[Callable[[], object], int]:
    model, _, _, wide_step = wide_setup()

    def step():
        loss = wide_step()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    return step, 1


def closure_case() -> tuple[Callable[[], object], int]:
    """One L-BFGS step of [2,5,1]; the figure is per closure (the step's count is recorded)."""
    data = make_data([2, 5, 1], 1000, "cpu")
    tr = Trainer(ours_model([2, 5, 1], "cpu"), data, opt="LBFGS", lamb=LAMB, update_grid=False)
    real = tr._optimizer.step
    count = [0]

    def counted(closure, start=None):
        def c():
            count[0] += 1
            return closure()

        return real(c, start=start)

    tr._optimizer.step = counted
    for _ in range(3):  # past the first steps' extra work
        tr.step()

    def step():
        count[0] = 0
        tr.step()
        return count[0]

    return step, 0


def adam_case(width, batch) -> Callable[[], tuple[Callable[[], object], int]]:
    def make():
        data = make_data(width, batch, "cpu")
        tr = Trainer(ours_model(width, "cpu"), data, opt="Adam", lamb=LAMB, update_grid=False)
        for _ in range(3):
            tr.step()
        return tr.step, 1

    return make


def grid_case(width, batch) -> Callable[[], tuple[Callable[[], object], int]]:
    def make():
        data = make_data(width, batch, "cpu")
        model = ours_model(width, "cpu")
        x = data["train_input"]
        return (lambda: model.update_grid(x)), 1

    return make


ROWS = {
    "wide": ("wide fwd+bwd [4,100,100,100,1] B=1000, ms/step", wide_case),
    "closure": ("L-BFGS closure [2,5,1] B=1000 lamb=0.01, ms/closure", closure_case),
    "adam16": ("Adam [4,16,16,1] B=1000, ms/step", adam_case([4, 16, 16, 1], 1000)),
    "adam64": ("Adam [64,64,64,10] B=1024, ms/step", adam_case([64, 64, 64, 10], 1024)),
    "grid16": ("update_grid [4,16,16,1] B=1000, ms", grid_case([4, 16, 16, 1], 1000)),
    "grid32": ("update_grid [10,32,32,1] B=10000, ms", grid_case([10, 32, 32, 1], 10000)),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", default=",".join(ROWS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not ckernel.available():
        sys.exit("the C kernel is not available here (no cc, or KAN_WIDGET_NO_CKERNEL set)")
    ckernel.use_stats(False)  # the basis kernel alone (the stats kernel: ab_cstats.py)
    print(f"load average {os.getloadavg()[0]:.2f}, {args.threads} thread(s), reps {args.reps}")
    wide_step, _ = wide_case()
    got = {}
    for flag in (False, True):
        ckernel.use(flag)
        torch.manual_seed(0)
        got[flag] = wide_step()
    (la, ga), (lb, gb) = got[False], got[True]  # type: ignore[misc]
    same = torch.equal(la, lb) and all(torch.equal(a, b) for a, b in zip(ga, gb))
    print(f"wide case loss and gradients bit-identical with and without the kernel: {same}")
    for name in args.rows.split(","):
        label, make = ROWS[name]
        step, per = make()
        cpu: dict[bool, list[float]] = {False: [], True: []}
        wall: dict[bool, list[float]] = {False: [], True: []}
        for i in range(args.reps):
            for flag in (False, True) if i % 2 == 0 else (True, False):
                ckernel.use(flag)
                w0, t0 = time.perf_counter(), time.process_time()
                r = step()
                dt, dw = time.process_time() - t0, time.perf_counter() - w0
                n = r if per == 0 else per
                cpu[flag].append(dt / n)  # type: ignore[operator]
                wall[flag].append(dw / n)  # type: ignore[operator]
        ckernel.use(True)
        a, b = statistics.median(cpu[False]), statistics.median(cpu[True])
        c, d = statistics.median(wall[False]), statistics.median(wall[True])
        print(
            f"{label}: CPU torch {a * 1e3:.3f}, kernel {b * 1e3:.3f} (x{b / a:.3f}); "
            f"wall torch {c * 1e3:.3f}, kernel {d * 1e3:.3f} (x{d / c:.3f})"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
