"""Symbolic regression benchmark: kan-widget beside pykan 0.2.8 (where installed).

1. The canonical pipeline in float32 for ``exp(sin(pi*x1) + x2^2)``: fit (lamb=0.01), prune, fit,
   auto_symbolic with lib [x, x^2, exp, sin], fit, formula. A run succeeds when the formula,
   rounded to 2 decimals (numbers snapped to integers / multiples of pi, then simplified), is
   exactly ``exp(sin(pi*x_1) + x_2**2)``. Targets: >= 9 of 10 seeds, no NaN, median <= 5 s.
2. auto_symbolic with the full library on a trained [4,16,16,1] (336 edges). Target: <= 10 s.
   pykan's figure is one edge's ``suggest_symbolic`` times 336 (a full run takes about an hour).

Run: ``python bench/bench_symbolic.py [--seeds 10] [--pykan-seeds 1] [--no-pykan]``. Wall times
depend on what else runs on the machine; the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import tempfile
import time
import warnings

import sympy
import torch

from kan_widget import KAN, create_dataset
from kan_widget.symbolic import auto_symbolic, clean
from kan_widget.symbolic import formula as formula_mod
from kan_widget.symbolic.formula import formula as clean_formula

LIB = ["x", "x^2", "exp", "sin"]
STEPS = 50


def target_fn(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def is_target(expr: sympy.Expr) -> bool:
    """``expr`` is exactly exp(sin(pi*x_1) + x_2**2), whatever the symbols' assumptions."""
    by_name = {s.name: s for s in expr.free_symbols}
    if set(by_name) != {"x_1", "x_2"}:
        return False
    x1, x2 = by_name["x_1"], by_name["x_2"]
    return sympy.simplify(expr - sympy.exp(sympy.sin(sympy.pi * x1) + x2**2)) == 0


def ours(seed: int) -> dict:
    # each seed's formula simplified afresh: formula() remembers what it simplified, and every
    # seed's rounded formula is often the same one (a pipeline run alone would not have it)
    formula_mod._SIMPLIFIED.clear()
    ds = create_dataset(target_fn, n_var=2, seed=seed)
    start = time.perf_counter()
    model = KAN([2, 5, 1], grid=5, k=3, seed=seed)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses += model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01)["train_loss"]
        model = model.prune()
        losses += model.fit(ds, opt="LBFGS", steps=STEPS)["train_loss"]
        auto_symbolic(model, lib=LIB)
        losses += model.fit(ds, opt="LBFGS", steps=STEPS)["train_loss"]
    try:
        formula = clean_formula(model, digits=2)[0]
    except ValueError as err:  # an edge left numeric
        formula = sympy.Symbol(f"incomplete: {err}")
    elapsed = time.perf_counter() - start
    nan = not all(math.isfinite(v) for v in losses) or formula.has(sympy.nan)
    return {
        "time": elapsed,
        "ok": is_target(formula),
        "nan": nan,
        "formula": formula,
        "width": model.width,
    }


@contextlib.contextmanager
def _in_tmpdir():
    """pykan writes checkpoints and copy_temp_* files into the working directory."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(old)


def theirs(seed: int) -> dict:
    from kan import KAN as PyKAN
    from kan.utils import create_dataset as py_dataset

    ds = py_dataset(target_fn, n_var=2, seed=seed)
    start = time.perf_counter()
    nan = False
    formula: sympy.Expr = sympy.Symbol("failed")
    with (
        _in_tmpdir(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        try:
            # pykan's prune copies the model through checkpoint files, so auto_save stays on
            model = PyKAN(width=[2, 5, 1], grid=5, k=3, seed=seed)
            h1 = model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01)
            model = model.prune()
            h2 = model.fit(ds, opt="LBFGS", steps=STEPS)
            model.auto_symbolic(lib=LIB)
            h3 = model.fit(ds, opt="LBFGS", steps=STEPS)
            losses = [*h1["train_loss"], *h2["train_loss"], *h3["train_loss"]]
            nan = not all(math.isfinite(float(v)) for v in losses)
            formula = model.symbolic_formula()[0][0]
        except Exception as err:  # pykan's lstsq fails in float32 (kan-facts.md)
            nan = True
            formula = sympy.Symbol(f"error: {type(err).__name__}: {err}"[:120])
    elapsed = time.perf_counter() - start
    ok = False
    if not nan and not formula.has(sympy.nan):
        # the same rounding and snapping as ours, so only the fit differs
        ok = is_target(clean(formula, 2))
    return {"time": elapsed, "ok": ok, "nan": nan, "formula": formula}


def trained_big(seed: int = 0) -> tuple[KAN, dict]:
    def f(x):
        return (
            torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)
            + torch.tanh(2 * x[:, [2]]) * x[:, [3]]
        )

    ds = create_dataset(f, n_var=4, seed=seed)
    model = KAN([4, 16, 16, 1], grid=5, k=3, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(ds, opt="Adam", steps=200, lr=1e-2, update_grid=False)
    return model, ds


def bench_big(with_pykan: bool) -> dict:
    model, _ = trained_big()
    times = []
    for _ in range(3):
        m = model.copy()
        start = time.perf_counter()
        chosen = auto_symbolic(m)
        times.append(time.perf_counter() - start)
    out = {"ours": statistics.median(times), "edges": len(chosen), "pykan": None}
    if with_pykan:
        from kan import KAN as PyKAN

        with _in_tmpdir(), contextlib.redirect_stdout(io.StringIO()):
            py = PyKAN(width=[4, 16, 16, 1], grid=5, k=3, seed=0)
            py(torch.rand(1000, 4) * 2 - 1)  # caches the activations suggest_symbolic fits
            start = time.perf_counter()
            py.suggest_symbolic(0, 0, 0, verbose=False)
            one = time.perf_counter() - start
        out["pykan"] = one * 336
        out["pykan_one"] = one
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--pykan-seeds", type=int, default=1)
    parser.add_argument("--no-pykan", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import kan  # noqa: F401

        have_pykan = not args.no_pykan
    except ImportError:
        have_pykan = False

    runs = []
    for seed in range(args.seeds):
        r = ours(seed)
        runs.append(r)
        print(
            f"seed {seed}: {r['time']:.2f} s  width {r['width']}  "
            f"{'ok ' if r['ok'] else 'NO '} {'NaN ' if r['nan'] else ''}{r['formula']}",
            flush=True,
        )
    py_runs = []
    if have_pykan:
        for seed in range(args.pykan_seeds):
            r = theirs(seed)
            py_runs.append(r)
            print(
                f"pykan seed {seed}: {r['time']:.1f} s  {'ok ' if r['ok'] else 'NO '}"
                f"{'NaN ' if r['nan'] else ''}{r['formula']}",
                flush=True,
            )
    big = bench_big(have_pykan)

    def frac(rs):
        return f"{sum(r['ok'] for r in rs)}/{len(rs)}" if rs else "-"

    def nans(rs):
        return str(sum(r["nan"] for r in rs)) if rs else "-"

    def med(rs):
        return f"{statistics.median(r['time'] for r in rs):.2f} s" if rs else "-"

    rows = [
        ("canonical pipeline: formula exact (float32)", frac(runs), frac(py_runs), ">= 9/10"),
        ("canonical pipeline: runs with NaN / error", nans(runs), nans(py_runs), "0"),
        ("canonical pipeline: median wall time", med(runs), med(py_runs), "<= 5 s"),
        (
            f"auto_symbolic, full library, {big['edges']} edges of [4,16,16,1]",
            f"{big['ours']:.2f} s",
            "-"
            if big["pykan"] is None
            else f"{big['pykan']:.0f} s (336 x {big['pykan_one']:.1f} s)",
            "<= 10 s",
        ),
    ]
    w = max(len(r[0]) for r in rows)
    print()
    print(f"{'metric':<{w}}  {'kan-widget':>12}  {'pykan 0.2.8':>24}  target")
    for name, a, b, t in rows:
        print(f"{name:<{w}}  {a:>12}  {b:>24}  {t}")
    print(
        f"(torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, "
        f"{os.cpu_count()} cpus)"
    )


if __name__ == "__main__":
    main()
