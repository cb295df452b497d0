"""A/B of the canonical symbolic pipeline against another git revision, in one process.

The pipeline of ``bench/bench_symbolic.py`` (fit lamb=0.01 -> prune -> fit -> auto_symbolic ->
fit -> ``formula(digits=2)``, [2,5,1], 50 L-BFGS steps each) runs with this tree's engine and with
the revision's (its ``kan_widget`` extracted by ``git archive`` and imported as
``kan_widget_ref``), interleaved per seed in ABBA order, so a shared, busy machine's load hits
both alike. Per phase it records CPU time (``os.times``: this process and its children, the
formula's forked ``sympy.simplify``) and wall time; it prints per-phase medians and their ratio,
the aten ops per L-BFGS closure and outside the closures (counted as
``tests/test_speed_ops.py`` does) for both, and checks that both give the same losses (to the
bit) and the same formula strings.

Each seed starts with the formula memo empty (``formula._SIMPLIFIED``, if the revision has one),
and sympy.simplify has run once in the process before the first seed (as in
``bench_symbolic.py`` after its first seed, whose ``is_target`` simplifies): the figures are
those of a pipeline in a process that has simplified before, but not this formula.

    PYTHONPATH=. .venv/bin/python bench/ab_pipeline.py [--ref main] [--seeds 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter

import sympy
import torch
from torch.utils._python_dispatch import TorchDispatchMode

LIB = ["x", "x^2", "exp", "sin"]
STEPS = 50


def target_fn(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def load_ref(ref: str, into: str):
    """The revision's ``kan_widget`` package, imported as ``kan_widget_ref`` (its modules import
    each other relatively, so the copy is self-contained)."""
    archive = subprocess.run(
        ["git", "archive", ref, "kan_widget"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    os.rename(os.path.join(into, "kan_widget"), os.path.join(into, "kan_widget_ref"))
    sys.path.insert(0, into)
    return importlib.import_module("kan_widget_ref")


class Engine:
    def __init__(self, pkg):
        self.pkg = pkg
        self.symbolic = importlib.import_module(pkg.__name__ + ".symbolic")
        self.formula_mod = importlib.import_module(pkg.__name__ + ".symbolic.formula")
        self.training = importlib.import_module(pkg.__name__ + ".training")


def _clock() -> tuple[float, float]:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system, time.perf_counter()


def pipeline(eng: Engine, seed: int) -> dict:
    memo = getattr(eng.formula_mod, "_SIMPLIFIED", None)
    if memo is not None:
        memo.clear()
    ds = eng.pkg.create_dataset(target_fn, n_var=2, seed=seed)
    phases: dict[str, tuple[float, float]] = {}
    losses: list[float] = []
    c0, w0 = _clock()

    def mark(name):
        nonlocal c0, w0
        c, w = _clock()
        phases[name] = (c - c0, w - w0)
        c0, w0 = c, w

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = eng.pkg.KAN([2, 5, 1], grid=5, k=3, seed=seed)
        losses += model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01)["train_loss"]
        mark("fit1")
        model = model.prune()
        mark("prune")
        losses += model.fit(ds, opt="LBFGS", steps=STEPS)["train_loss"]
        mark("fit2")
        eng.symbolic.auto_symbolic(model, lib=LIB)
        mark("auto_symbolic")
        losses += model.fit(ds, opt="LBFGS", steps=STEPS)["train_loss"]
        mark("fit3")
        try:
            formula = str(eng.formula_mod.formula(model, digits=2)[0])
        except ValueError as err:
            formula = f"incomplete: {err}"
        mark("formula")
    phases["total"] = (sum(v[0] for v in phases.values()), sum(v[1] for v in phases.values()))
    return {"phases": phases, "losses": [float(v) for v in losses], "formula": formula}


class _Count(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0
        self.off = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.off:
            self.n += 1
        return func(*args, **(kwargs or {}))


def op_counts(eng: Engine) -> tuple[float, float]:
    """Aten ops per L-BFGS closure (forward, penalty, backward) and per closure outside them
    (the optimiser's own), over 5 steps of fit1's trainer after 3 steps."""
    ds = eng.pkg.create_dataset(target_fn, n_var=2, seed=0)
    model = eng.pkg.KAN([2, 5, 1], grid=5, k=3, seed=0)
    trainer = eng.training.Trainer(model, ds, opt="LBFGS", lamb=0.01, update_grid=False)
    for _ in range(3):
        trainer.step()
    inside, outside, n = _Count(), _Count(), [0]
    real = trainer._optimizer.step

    def step(closure, start=None):
        def counted():
            n[0] += 1
            outside.off = True
            try:
                with inside:
                    return closure()
            finally:
                outside.off = False

        return real(counted, start=start)

    trainer._optimizer.step = step
    with outside:
        for _ in range(5):
            trainer.step()
    return inside.n / n[0], outside.n / n[0]


def step_cpu(engines: dict, reps: int) -> dict[str, list[tuple[float, float, float]]]:
    """CPU seconds per L-BFGS closure over whole trainer steps (closures and the optimiser's own
    work), [2,5,1] with lamb=0.01 from the same trained state (seed 2, 10 steps of fit1), three
    steps a rep, the engines alternating ABBA: less noisy than whole pipelines on a busy machine.
    """
    base = {}
    for name, eng in engines.items():
        ds = eng.pkg.create_dataset(target_fn, n_var=2, seed=2)
        model = eng.pkg.KAN([2, 5, 1], grid=5, k=3, seed=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(ds, opt="LBFGS", steps=10, lamb=0.01)
        base[name] = (model, ds)
    out: dict[str, list[tuple[float, float, float]]] = {name: [] for name in engines}
    order = list(engines)
    for _ in range(reps):
        for name in order:
            eng = engines[name]
            model, ds = base[name]
            trainer = eng.training.Trainer(
                model.copy(), ds, opt="LBFGS", lamb=0.01, update_grid=False
            )
            n = [0, 0.0]  # closures, CPU seconds inside them
            real = trainer._optimizer.step

            def counted(closure, start=None, real=real, n=n):
                def c():
                    n[0] += 1
                    t0 = time.process_time()
                    try:
                        return closure()
                    finally:
                        n[1] += time.process_time() - t0

                return real(c, start=start)

            trainer._optimizer.step = counted
            c0 = time.process_time()
            for _ in range(3):
                trainer.step()
            total = time.process_time() - c0
            out[name].append((total / n[0], n[1] / n[0], (total - n[1]) / n[0]))
        order.reverse()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="main")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--step-reps", type=int, default=30)
    ap.add_argument("--no-pipeline", action="store_true", help="the op counts and steps only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import kan_widget

    with tempfile.TemporaryDirectory() as tmp:
        engines = {"ref": Engine(load_ref(args.ref, tmp)), "this": Engine(kan_widget)}
        x = sympy.Symbol("x_1")
        sympy.simplify(sympy.exp(sympy.sin(x)) + x**2)  # as bench_symbolic after its first seed
        for name, eng in engines.items():
            inside, outside = op_counts(eng)
            print(f"{name}: {inside:.0f} ops per closure, {outside:.1f} outside it", flush=True)
        per = step_cpu(engines, args.step_reps)
        for i, what in enumerate(("whole steps", "inside closures", "outside closures")):
            ms = {k: 1e3 * statistics.median(r[i] for r in v) for k, v in per.items()}
            print(
                f"CPU ms per closure, {what} (median of {args.step_reps}): ref "
                f"{ms['ref']:.3f}, this {ms['this']:.3f}, ratio {ms['this'] / ms['ref']:.3f}",
                flush=True,
            )
        print(f"(load {os.getloadavg()[0]:.1f})")
        if args.no_pipeline:
            return
        runs: dict[str, list[dict]] = {"ref": [], "this": []}
        order = ["ref", "this"]
        for r in range(args.rounds):
            for seed in range(args.seeds):
                for name in order:
                    runs[name].append(pipeline(engines[name], seed))
                    ph = runs[name][-1]["phases"]
                    print(
                        f"round {r} seed {seed} {name:>4}: "
                        + " ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for k, v in ph.items())
                        + f"  (cpu/wall s, load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
                order.reverse()  # ABBA
    same_losses = all(
        a["losses"] == b["losses"] for a, b in zip(runs["ref"], runs["this"], strict=True)
    )
    same_formula = all(
        a["formula"] == b["formula"] for a, b in zip(runs["ref"], runs["this"], strict=True)
    )
    print(f"\nsame losses to the bit: {same_losses}; same formula strings: {same_formula}")
    head = f"{'ref cpu':>9}{'this cpu':>10}{'ratio':>7}{'ref wall':>10}{'this wall':>11}"
    print(f"{'phase':<14}{head}")
    for phase in runs["ref"][0]["phases"]:
        med = {
            k: [statistics.median(r["phases"][phase][i] for r in runs[k]) for i in (0, 1)]
            for k in runs
        }
        ratio = med["this"][0] / med["ref"][0] if med["ref"][0] > 0 else float("nan")
        print(
            f"{phase:<14}{med['ref'][0]:>9.3f}{med['this'][0]:>10.3f}{ratio:>7.2f}"
            f"{med['ref'][1]:>10.3f}{med['this'][1]:>11.3f}"
        )
    formulas = Counter(r["formula"] for r in runs["this"])
    print("formulas:", dict(formulas))
    print(
        f"(torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}, medians of "
        f"{args.seeds} seeds x {args.rounds} rounds, ABBA)"
    )


if __name__ == "__main__":
    main()
