"""Discovery that holds on problems nobody tuned it for: structure, fit quality, formula recovery,
side by side with pykan 0.2.8 (same data, same seeds, float32).

(a) **canonical pruning**: ``exp(sin(pi*x) + y^2)``, [2,5,1], 50 LBFGS steps with lamb=0.01, then
    ``prune()``; a seed counts when the trained model's test RMSE is < 0.05 and ``prune()``
    leaves [2,1,1] (as ``bench_canonical.py``). Row ``minimal`` (ours): ``prune_minimal(ds)``
    leaves [2,1,1] and its retrained model's test RMSE is < 0.05. Grids 3, 5 and
    10, on fresh data draws (uniform [-1,1]^2, 1000 train / 1000 test, seeds 100, 101).
    Measured (10 seeds, draws 100/101, main of 2026-12-06 evening, fingerprint
    06a77178d09e6abf; ``--no-pykan --parts a --seeds 10 --grids 3,5,10 --draws 100,101``):
    minimal 10/10 at every grid on both draws; prune() 9, 8, 4 (draw 100) and 8, 7, 5 (draw
    101) at grids 3/5/10 (before the compiled stats kernel: minimal 10, 10, 9 and 10, 10, 10;
    prune() 8, 7, 5 and 10, 6, 4: prune()'s misses sit at RMSE 0.054-0.066 or keep [2,2,1]);
    pykan (draw 101, seeds 0-1) 2/2 at grid 3, 0/2 at grid 5, 0/2 at grid 10.
(b) **fit quality** on the KAN paper's toy functions (Fig. 3.1), grid 5, 100 LBFGS steps, the
    same data and seeds for both: per seed the test RMSE of ours and pykan's and their ratio,
    then the median over ``--toy-seeds`` seeds (3; target: ours <= 1.1 x pykan's median), the
    seeds ours is lower on, and the geometric mean of the ratios. ``--toys xy,J0`` runs only
    those; ``--pykan-cache f.json`` reuses (and adds to) pykan's figures (``bench/pykan_toys.json``:
    pykan 0.2.8's, measured here under load, 4 digits; J0 and xy seeds 0-9, 100 vars 0-5, others
    0-4). Measured under load
    (seeds 0-4, 1 thread): median ratios J0(20x) 1.11 (seeds 0-9: 1.06), [2,1,1] canonical
    1.01, xy 1.13 (seeds 0-9: 1.09, geometric mean 1.02), 4-variable 0.99, the
    100-variable function 1.00. Every median here sits on seed noise: J0 at grid 5 is not
    representable (both 0.24-0.285 against the labels' std 0.29; float64 training reaches
    0.240) and the rest is how far L-BFGS creeps along a direction whose loss decrease is
    near float32's last bit (pykan's own seed-0 figure was 0.280 in one run, 0.251 in
    another); [2,1,1] canonical stalls at 0.58 in 4 of 5 seeds for both (the hidden node starts
    0.1 wide); the 100-variable function lands in one of two basins (4e-4 or 0.1-0.95) for
    both, ours 3 of 10 seeds in the good one, pykan 2 of 6 (its failures are worse: 0.95).
    The hidden layers' grid updates decide those basins (not changed, measured seeds 0-4):
    fit without them (first layer's only) gives 4-variable 4.2e-3 (median, against 0.28) and
    100-variable 4 of 5 good, but xy 7.6e-4 (against 4.4e-4) and [2,1,1] loses its good seed.
(c) **formula recovery** on functions with known truth (paper toys and Feynman equations of 2-4
    variables): fit (lamb=0.01) -> prune -> fit -> ``auto_symbolic()`` (whole library) -> fit
    -> ``symbolic_formula()``, ours with ``auto_symbolic(dataset=ds)`` (choices checked on the
    data, ``kan_widget/symbolic/verify.py``; ``--plain``: also without it); a run counts when
    the formula's relative RMSE against the truth on 2000 fresh points is < 1e-3 (2e-2 with 1%
    label noise). Noise 0 and 1%, ``--seeds`` seeds. Latest (main of 2026-12-06 evening, engine
    fingerprint 06a77178d09e6abf, the paired rivals bar; seeds 0-4, quiet machine, median 14 s
    per run): ours 128/140 = 91% (noise 0 63/70, 1% 65/70; missed: x1*x2 seed 0 at both
    noises, x1*sin(x2) seed 3 at noise 0, sqrt(x1^2+x2^2) seed 1 at noise 0, the 4-variable
    function 8 of 10); pykan 0.2.8 on seeds 0 and 1 (56 runs in the cache): 29/56 = 52%, 12
    crashed; on those 56 runs ours 51/56 = 91%, 1.75x pykan's rate (2x would need 58 of 56:
    unreachable while pykan recovers over half). pykan is not reproducible run to run here:
    I.27.6 seed 1 at 1% crashed in one process (UnboundLocalError) and recovered in another
    (the cache keeps the recovery). Earlier, on main of 2026-12-06 afternoon
    (seeds 0-4, one process per noise level: ``--no-pykan --parts c --seed-list 0,1,2,3,4
    --noises N --jsonl F``, then ``--table F1,F2 --pykan-cache bench/pykan_recovery.json``;
    quiet machine, median 11 s per run): ours 127/140 = 91% (noise 0 62/70, 1% 65/70; missed:
    x1*x2 seeds 0-1 at noise 0 and seed 0 at 1%, x1*sin(x2) seeds 0-1 at noise 0, the
    4-variable function 8 of 10). At 1% noise only 24 of ours' 70 formulas are within 2e-3 of
    the truth: for six Feynman functions every seed's formula is a look-alike within the noise
    (I.12.1 x1*x2 on [1,2]^2 as exp of a sum of squares, error 1e-2; pykan's 6 of 14 within
    2e-3). The rivals check's statistical bar (after those runs; 36 runs rerun): within 2e-3
    at 1% noise 0/8 -> 6/8 on I.12.1, I.25.13, I.14.4, I.16.6 seeds 0-1 and 5/14 -> 9/14 on
    seed 2, none worse; noise 0 seed 0 identical; about 2.5x the wall time per noisy run
    (under load). Before this session's rules (seeds 0-2): 63/84; plain ``auto_symbolic()``
    (``--only-plain``) 37/84.
    x1*x2 seed 0 (traced, issue 14): fit's first grid refit floors the young hidden nodes
    (``grid_min_span``; spans 0.33-1.04 after initialisation), the widest takes over within
    the first step (train RMSE 0.152) and prune() leaves [2,1,1]; without the floor at that
    refit it prunes to [2,2,1] and the formula is recovered (1.1e-4), but the same change
    loses sqrt(1+x^2+y^2)'s sparsity (tests/test_polish: 0.1% -> 5%, [2,2,1] in 3 of 5 seeds),
    as does a floor relative to the widest node: the step-0 floor is a winner-take-all bias
    that helps one-node truths and hurts two-node ones (branches structure-skip0, -rel).
    pykan 0.2.8, seed 0 (``--only-pykan --parts c --seed-list 0 --noises N --jsonl F``, one
    process per noise level, under load; median 292 s wall per run): 13/28 = 46% (noise 0 6/14,
    1% 7/14), 8 runs crashed inside pykan (``PYKAN_REC_CRASHES``: parameters turned NaN in a
    fit, then a grid update crashes, or lamb=0.01 silenced the model and prune() left no node;
    counted as failures); ours on the same 28 runs 23/28 = 82%, 1.8x pykan's rate (target 2x).
    pykan's runs are kept in ``bench/pykan_recovery.json``: ``--parts c --pykan-cache
    bench/pykan_recovery.json`` reads them instead of rerunning, ``--table F1,... --pykan-cache
    bench/pykan_recovery.json`` prints pykan's column beside ours (and adds pykan's runs found in
    the jsonl files to the cache).

pykan runs from a temporary directory (its checkpoint files go there) with its output silenced.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_recovery.py [--quick] [--no-pykan |
--only-pykan] [--no-minimal | --minimal-only] [--seeds N] [--toy-seeds N] [--toys xy,J0]
[--grids 3,5] [--draws 100] [--parts abc]``. ``--quick``: grids 3 and 5 on one draw with 3
seeds, the toys without the 100-variable one, recovery with 1 seed and noise 0 only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy
import torch

from kan_widget import KAN, create_dataset

STEPS = 50
POLISH = 0  # --polish K: (a)'s fits end with K polish steps (fit(polish=K), ours only)


@contextlib.contextmanager
def quiet_tmpdir():
    old = os.getcwd()
    with (
        tempfile.TemporaryDirectory() as tmp,
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(old)


def pykan_model(width, grid, seed):
    from kan import KAN as PyKAN

    # pykan 0.2.8's prune() reloads the model from its checkpoint files (auto_save=False gives
    # FileNotFoundError), so auto_save stays on, inside the temporary directory
    return PyKAN(width=width, grid=grid, k=3, seed=seed, auto_save=True)


def rmse(model, x, y) -> float:
    with torch.no_grad():
        return float(torch.sqrt(((model(x) - y) ** 2).mean()))


# ---------------------------------------------------------------------- (a) canonical pruning
def canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def uniform_data(f, n_var, draw, lo=-1.0, hi=1.0, n_train=1000, n_test=1000):
    g = torch.Generator().manual_seed(draw)
    lo_t = torch.as_tensor(lo, dtype=torch.float32)
    hi_t = torch.as_tensor(hi, dtype=torch.float32)
    xtr = torch.rand(n_train, n_var, generator=g) * (hi_t - lo_t) + lo_t
    xte = torch.rand(n_test, n_var, generator=g) * (hi_t - lo_t) + lo_t
    return {"train_input": xtr, "train_label": f(xtr), "test_input": xte, "test_label": f(xte)}


def prune_run(impl: str, ds, grid: int, seed: int) -> tuple[bool, list[int], float]:
    # as bench_canonical.py: the test RMSE of the trained model, the width after prune() (the
    # pruned model is not retrained: a removed node's constant output is simply dropped)
    if impl == "ours":
        model = KAN([2, 5, 1], grid=grid, k=3, seed=seed)
        hist = model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01, polish=POLISH)
        width = list(model.prune().width)
    else:
        with quiet_tmpdir():
            model = pykan_model([2, 5, 1], grid, seed)
            hist = model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01)
            width = [w[0] if isinstance(w, list) else w for w in model.prune().width]
    err = float(hist["test_loss"][-1])
    return width == [2, 1, 1] and err < 0.05, width, err


def minimal_run(ds, grid: int, seed: int) -> tuple[bool, list[int], float]:
    # ours: prune_minimal (prune, then remove nodes while a 20-step retraining fits as well);
    # counts when it leaves [2,1,1] with test RMSE < 0.05 (of the retrained model it returns)
    model = KAN([2, 5, 1], grid=grid, k=3, seed=seed)
    model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01, polish=POLISH)
    small = model.prune_minimal(ds)
    err = rmse(small, ds["test_input"], ds["test_label"])
    return small.width == [2, 1, 1] and err < 0.05, small.width, err


def table_a(counts: dict[tuple[str, int, int], int], n: int, grids, draws) -> None:
    """The target's table: per grid and draw, the seeds that reached [2,1,1] with test RMSE
    < 0.05 (target: at least 9 of 10 at each grid, on each draw)."""
    impls = list(dict.fromkeys(k[0] for k in counts))
    head = "".join(f"  {f'{impl} d{d}':>13s}" for impl in impls for d in draws)
    print(f"  table: seeds of {n} at [2,1,1] with test RMSE < 0.05 (target >= 9 of 10)")
    print(f"  grid{head}")
    for grid in grids:
        cells = "".join(
            f"  {f'{counts[(impl, d, grid)]}/{n}':>13s}" for impl in impls for d in draws
        )
        print(f"  {grid:4d}{cells}")


def part_a(impls, grids, draws, seeds, minimal):
    print("(a) canonical pruning: [2,5,1] -> prune() == [2,1,1] and test RMSE < 0.05")
    if minimal:
        print("    minimal: ours, prune_minimal(ds) == [2,1,1] and its test RMSE < 0.05")
    counts: dict[tuple[str, int, int], int] = {}
    for draw in draws:
        ds = uniform_data(canonical, 2, draw)
        for grid in grids:
            line = f"  draw {draw} grid {grid:2d}:"
            for impl in [*impls, "minimal"] if minimal else impls:
                t0 = time.perf_counter()
                if impl == "minimal":
                    runs = [minimal_run(ds, grid, s) for s in seeds]
                else:
                    runs = [prune_run(impl, ds, grid, s) for s in seeds]
                ok = sum(r[0] for r in runs)
                counts[(impl, draw, grid)] = ok
                fails = ", ".join(
                    f"s{s}:{r[1]}/{r[2]:.3f}" for s, r in zip(seeds, runs, strict=True) if not r[0]
                )
                line += f"  {impl} {ok}/{len(seeds)} ({time.perf_counter() - t0:.0f}s)"
                if fails:
                    line += f" [{fails}]"
            print(line, flush=True)
    table_a(counts, len(seeds), grids, draws)


# ---------------------------------------------------------------------- (b) toy functions
def _toys(quick: bool) -> list[tuple[str, list[int], int, Callable]]:
    toys = [
        ("J0(20x)", [1, 1], 1, lambda x: torch.special.bessel_j0(20 * x[:, [0]])),
        ("exp(sin(pi x)+y^2)", [2, 1, 1], 2, canonical),
        ("xy", [2, 2, 1], 2, lambda x: x[:, [0]] * x[:, [1]]),
        (
            "exp(.5(sin(pi(x1^2+x2^2))+sin(pi(x3^2+x4^2))))",
            [4, 4, 2, 1],
            4,
            lambda x: torch.exp(
                0.5
                * (
                    torch.sin(torch.pi * (x[:, [0]] ** 2 + x[:, [1]] ** 2))
                    + torch.sin(torch.pi * (x[:, [2]] ** 2 + x[:, [3]] ** 2))
                )
            ),
        ),
    ]
    if not quick:
        toys.append(
            (
                "exp(mean sin^2(pi x_i/2)), 100 vars",
                [100, 1, 1],
                100,
                lambda x: torch.exp(torch.sin(torch.pi * x / 2).pow(2).mean(1, keepdim=True)),
            )
        )
    return toys


def _toy_errors(impl: str, width, ds, seed: int) -> float:
    """Test RMSE after grid 5, 100 LBFGS steps (fit's defaults otherwise) of one engine."""
    if impl == "ours":
        model = KAN(width, grid=5, k=3, seed=seed)
        model.fit(ds, opt="LBFGS", steps=100)
    else:
        with quiet_tmpdir():
            model = pykan_model(width, 5, seed)
            model.fit(ds, opt="LBFGS", steps=100)
    return rmse(model, ds["test_input"], ds["test_label"])


def _read_json(path: str | None) -> dict:
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _load_cache(path: str | None) -> dict[str, float]:
    return {str(k): float(v) for k, v in _read_json(path).items()}


def _cache_update(path: str, entries: dict) -> dict:
    """Merge ``entries`` into the JSON file at ``path`` and return the whole cache. The file is
    re-read under an exclusive lock first: pykan's runs are split over processes, and a write of
    one process's stale copy would drop the figures another has added since."""
    import fcntl

    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        text = fh.read()
        cache = json.loads(text) if text.strip() else {}
        cache.update(entries)
        fh.seek(0)
        fh.truncate()
        json.dump(cache, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return cache


def part_b(impls, quick, seeds, only=None, pykan_cache: str | None = None):
    """Per toy and seed the test RMSE of each engine and their ratio, then the median over the
    seeds (the target: ours <= 1.1 x pykan's median), how many seeds ours is lower on and the
    geometric mean of the per-seed ratios. ``pykan_cache``: a JSON file of pykan's figures
    (``"toy|seed"`` -> RMSE) read before and written after, since pykan's run of the 100-variable
    function takes 5-20 minutes a seed under load."""
    print(f"(b) toy functions, grid 5, 100 LBFGS steps: test RMSE per seed, seeds {seeds}")
    cache = _load_cache(pykan_cache)
    summary = []
    for name, width, n_var, f in _toys(quick):
        if only and not any(name.startswith(o) or (len(o) > 2 and o in name) for o in only):
            continue
        ds = create_dataset(f, n_var=n_var, train_num=1000, test_num=1000, seed=0)
        errs: dict[str, list[float]] = {}
        secs: dict[str, float] = {}
        for impl in impls:
            t0 = time.perf_counter()
            errs[impl] = []
            for seed in seeds:
                key = f"{name}|{seed}"
                if impl == "pykan" and key in cache:
                    errs[impl].append(cache[key])
                    continue
                errs[impl].append(_toy_errors(impl, width, ds, seed))
                if impl == "pykan" and pykan_cache:
                    _cache_update(pykan_cache, {key: errs[impl][-1]})
            secs[impl] = time.perf_counter() - t0
        print(f"  {name} {width}  ({', '.join(f'{k} {v:.0f}s' for k, v in secs.items())})")
        both = "ours" in errs and "pykan" in errs
        print("    seed" + "".join(f"  {k:>9s}" for k in errs) + ("  ratio" if both else ""))
        for i, seed in enumerate(seeds):
            cells = "".join(f"  {errs[k][i]:9.3e}" for k in errs)
            ratio = f"  {errs['ours'][i] / max(errs['pykan'][i], 1e-30):5.2f}" if both else ""
            print(f"    {seed:4d}{cells}{ratio}")
        med = {k: float(np.median(v)) for k, v in errs.items()}
        line = "    med." + "".join(f"  {med[k]:9.3e}" for k in errs)
        if both:
            ratios = [o / max(p, 1e-30) for o, p in zip(errs["ours"], errs["pykan"], strict=True)]
            r_med = med["ours"] / max(med["pykan"], 1e-30)
            lower = sum(r < 1 for r in ratios)
            gmean = math.exp(sum(math.log(max(r, 1e-30)) for r in ratios) / len(ratios))
            line += f"  {r_med:5.2f}  (ours lower on {lower}/{len(seeds)}, geo. mean {gmean:.2f})"
            summary.append((name, ratios[0], r_med, lower, gmean))
        print(line, flush=True)
    if summary:
        print("  summary: ratio ours/pykan (target <= 1.1 on the median)")
        print(f"    {'toy':40s}  seed {seeds[0]}  median  lower  geo.mean")
        for name, r0, rm, lower, gm in summary:
            flag = "" if rm <= 1.1 else "  <- misses"
            print(
                f"    {name[:40]:40s}  {r0:6.2f}  {rm:6.2f}  {lower:2d}/{len(seeds):<2d}  "
                f"{gm:8.2f}{flag}"
            )


# ---------------------------------------------------------------------- (c) recovery
@dataclass
class Problem:
    name: str
    width: list[int]
    ranges: list[tuple[float, float]]
    truth: Callable[[np.ndarray], np.ndarray]  # [N, n] -> [N]

    def f(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.truth(x.double().numpy()), dtype=x.dtype)[:, None]


def _canonical_np(x: np.ndarray) -> np.ndarray:
    return np.exp(np.sin(np.pi * x[:, 0]) + x[:, 1] ** 2)


def _four_np(x: np.ndarray) -> np.ndarray:
    s1 = np.sin(np.pi * (x[:, 0] ** 2 + x[:, 1] ** 2))
    s2 = np.sin(np.pi * (x[:, 2] ** 2 + x[:, 3] ** 2))
    return np.exp(0.5 * (s1 + s2))


def problems() -> list[Problem]:
    pi = np.pi
    P = Problem
    u1 = [(-1.0, 1.0)] * 2
    p12 = [(1.0, 2.0)]
    return [
        P("exp(sin(pi x1)+x2^2)", [2, 5, 1], u1, _canonical_np),
        P("x1*x2", [2, 5, 1], u1, lambda x: x[:, 0] * x[:, 1]),
        P("x1*sin(x2)", [2, 5, 1], [(-1, 1), (-2, 2)], lambda x: x[:, 0] * np.sin(x[:, 1])),
        P("x1^2+cos(x2) ", [2, 5, 1], [(-1, 1), (-2, 2)], lambda x: x[:, 0] ** 2 + np.cos(x[:, 1])),
        P("I.12.1 mu*N", [2, 5, 1], p12 * 2, lambda x: x[:, 0] * x[:, 1]),
        P("I.25.13 q/C", [2, 5, 1], p12 * 2, lambda x: x[:, 0] / x[:, 1]),
        P("II.3.24 P/(4pi r^2)", [2, 5, 1], p12 * 2, lambda x: x[:, 0] / (4 * pi * x[:, 1] ** 2)),
        P("I.14.4 k x^2/2", [2, 5, 1], p12 * 2, lambda x: 0.5 * x[:, 0] * x[:, 1] ** 2),
        P("I.14.3 m g z", [3, 5, 1], p12 * 3, lambda x: x[:, 0] * x[:, 1] * x[:, 2]),
        P("I.12.2 q1 q2/r^2", [3, 5, 1], p12 * 3, lambda x: x[:, 0] * x[:, 1] / x[:, 2] ** 2),
        P("I.16.6 (u+v)/(1+uv)", [2, 5, 1], [(-0.9, 0.9)] * 2,
          lambda x: (x[:, 0] + x[:, 1]) / (1 + x[:, 0] * x[:, 1])),
        P("I.27.6 1/(1/d1+1/d2)", [2, 5, 1], p12 * 2, lambda x: 1 / (1 / x[:, 0] + 1 / x[:, 1])),
        P("I.8.14-ish sqrt(x1^2+x2^2)", [2, 5, 1], p12 * 2, lambda x: np.hypot(x[:, 0], x[:, 1])),
        P("exp(.5(sin(pi(x1^2+x2^2))+sin(pi(x3^2+x4^2))))", [4, 5, 5, 1], [(-1, 1)] * 4, _four_np),
    ]  # fmt: skip


def recovery_data(p: Problem, seed: int, noise: float):
    n = len(p.ranges)
    lo = torch.tensor([r[0] for r in p.ranges])
    hi = torch.tensor([r[1] for r in p.ranges])
    ds = uniform_data(p.f, n, 1000 + seed, lo, hi)
    if noise:
        g = torch.Generator().manual_seed(2000 + seed)
        y = ds["train_label"]
        ds["train_label"] = y + noise * y.std() * torch.randn(y.shape, generator=g)
    return ds


def formula_error(p: Problem, expr, symbols) -> float:
    g = np.random.default_rng(7)
    x = np.stack([g.uniform(lo, hi, 2000) for lo, hi in p.ranges], 1)
    truth = p.truth(x)
    try:
        fn = sympy.lambdify(symbols, expr, "numpy")
        with np.errstate(all="ignore"):
            pred = np.asarray(fn(*[x[:, k] for k in range(x.shape[1])]), dtype=complex)
        pred = np.broadcast_to(pred, truth.shape)
    except Exception:
        return math.inf
    err = np.sqrt(np.mean(np.abs(pred - truth) ** 2)) / (truth.std() + 1e-12)
    return float(err) if np.isfinite(err) else math.inf


def _where(err: BaseException) -> str:
    """The innermost frame of a traceback, as ``file:line in function`` (where a crash is)."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"


class PykanCrash(Exception):
    """An exception inside pykan's pipeline, with the stage (which of the user's calls) and the
    chain of pykan's frames down to where it was raised."""


def _pykan_frames(err: BaseException) -> str:
    """The traceback from the first frame inside pykan's package to the innermost, as
    ``file:line in function`` joined by ``>`` (which pykan call reached the crash)."""
    frames = traceback.extract_tb(err.__traceback__)
    inside = [i for i, f in enumerate(frames) if f"{os.sep}kan{os.sep}" in f.filename]
    chain = frames[inside[0] :] if inside else frames[-1:]
    return " > ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in chain)


def _pykan_recover(p: Problem, ds, seed: int):
    """pykan 0.2.8's run of the recovery pipeline, the calls a user of pykan makes (its
    defaults: fit updates the grid during its first 50 steps, ``auto_symbolic()`` searches the
    whole library); returns ``symbolic_formula()``'s expression or raises ``PykanCrash``."""
    stage = "KAN()"
    try:
        with quiet_tmpdir():
            model = pykan_model(p.width, 5, seed)
            stage = "fit(lamb=0.01)"
            model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01)
            stage = "prune()"
            model = model.prune()
            stage = "fit() after prune"
            model.fit(ds, opt="LBFGS", steps=STEPS)
            stage = "auto_symbolic()"
            model.auto_symbolic()
            stage = "fit() after auto_symbolic"
            model.fit(ds, opt="LBFGS", steps=STEPS)
            stage = "symbolic_formula()"
            return model.symbolic_formula()[0][0]
    except Exception as err:
        msg = f"{type(err).__name__}: {err} in pykan's {stage} at {_pykan_frames(err)}"
        raise PykanCrash(msg) from err


def recover(impl: str, p: Problem, seed: int, noise: float) -> tuple[float, str]:
    # "ours" chooses with the data (auto_symbolic(dataset=ds), symbolic/verify.py); "plain" is
    # our auto_symbolic() without it (pykan's call), for the difference the data makes
    ds = recovery_data(p, seed, noise)
    n = len(p.ranges)
    symbols = [sympy.Symbol(f"x_{k + 1}") for k in range(n)]
    try:
        if impl in ("ours", "plain"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = KAN(p.width, grid=5, k=3, seed=seed)
                model.fit(ds, opt="LBFGS", steps=STEPS, lamb=0.01)
                model = model.prune()
                model.fit(ds, opt="LBFGS", steps=STEPS)
                model.auto_symbolic(dataset=ds if impl == "ours" else None)
                model.fit(ds, opt="LBFGS", steps=STEPS)
                out = model.symbolic_formula()
                expr = out[0][0] if isinstance(out, tuple) else out[0]
        else:
            expr = _pykan_recover(p, ds, seed)
    except PykanCrash as err:  # a crash inside pykan is pykan's failed run, as a user sees it
        return math.inf, f"error {err}"
    except Exception as err:
        return math.inf, f"error {type(err).__name__}: {err} at {_where(err)}"
    expr = expr.xreplace({s: sympy.Symbol(s.name) for s in expr.free_symbols})
    return formula_error(p, expr, symbols), str(expr)[:90]


PYKAN_REC_HOW = (
    "bench_recovery.py --only-pykan --parts c --seed-list S --noises N --jsonl F, one process "
    "per noise level, nice 5, 1 thread, on a shared 2-core machine under load (seconds are wall); "
    "a run that raised inside pykan is a failure (err null, formula 'error ...' names the pykan "
    "call and frames)"
)
# the crashes in pykan 0.2.8's column (8 of 28 runs, seed 0), located by rerunning runs stage
# by stage in a fresh process; the pipeline is pykan's tutorial's (hellokan: fit, prune, fit,
# auto_symbolic, fit, with fit's defaults), so a user sees the same crash: pykan's failures
PYKAN_REC_CRASHES = (
    "(A) UnboundLocalError 'coef' at spline.py:131 in curve2coef: during a fit the parameters "
    "become NaN (finite before it, NaN at a later grid update; pykan's fit does not stop on a "
    "non-finite loss); the next grid update (MultKAN.fit > update_grid > "
    "KANLayer.update_grid_from_samples) hands NaN values to curve2coef, whose lstsq raises (MKL: "
    "'Parameter 6 was incorrect on entry to SGELSY'); curve2coef catches that, prints 'lstsq "
    "failed' and returns its unset coef. Located: exp(sin(pi x1)+x2^2) noise 0 in the fit after "
    "auto_symbolic; the 4-variable function noise 0 in the fit after prune ([4,5,3,1]); I.27.6 "
    "noise 0.01 in the fit after prune of a silenced model. (B) RuntimeError 'stack expects a "
    "non-empty TensorList' at Symbolic_KANLayer.py:118: fit(lamb=0.01) silences the model "
    "(constant output; II.3.24's labels have mean 0.061, std 0.028), prune() removes every "
    "hidden node and its own forward() on the empty layer crashes. Located: II.3.24 noise 0 and "
    "0.01 (the bench's 0.01 run, in a process that had run 6 functions before, took path A). "
    "Not rerun: exp(sin(pi x1)+x2^2) and the 4-variable function at 0.01, I.27.6 at 0 (B, 33 s)."
)


def _rec_key(problem: str, noise: float, seed: int) -> str:
    return f"{problem.strip()}|{noise:g}|{seed}"


def _pykan_cached(path: str | None, p: Problem, noise: float, seed: int) -> dict | None:
    """pykan's recorded run of this problem, noise and seed from the cache, or None."""
    got = _read_json(path).get(_rec_key(p.name, noise, seed))
    if got is None:
        return None
    return dict(impl="pykan", problem=p.name.strip(), noise=noise, seed=seed, cached=True, **got)


def _pykan_cache_add(path: str, recs: list[dict]) -> dict:
    """Add pykan's run records (``--jsonl`` fields) to the recovery cache, with pykan's version
    and how the runs were measured under ``_about``; returns the whole cache."""
    from importlib.metadata import version

    fields = ("err", "ok", "formula", "seconds")
    about = {"pykan": version("pykan"), "how": PYKAN_REC_HOW, "crashes": PYKAN_REC_CRASHES}
    entries: dict = {"_about": about}
    for r in recs:
        entries[_rec_key(r["problem"], r["noise"], r["seed"])] = {k: r[k] for k in fields}
    return _cache_update(path, entries)


def part_c(impls, seeds, noises, verbose, only=None, jsonl=None, pykan_cache=None):
    """``pykan_cache``: pykan's runs are read from this JSON file (``bench/pykan_recovery.json``)
    instead of rerun, and the runs it lacks are added to it (about 4 min of CPU each)."""
    print("(c) recovery: fit->prune->fit->auto_symbolic->fit->formula; rel. RMSE vs truth")
    print(
        f"  runs recovered per noise level ({', '.join(f'{n:g}' for n in noises)}), seeds {seeds}"
    )
    totals = {(impl, n): [0, 0] for impl in impls for n in noises}
    for k, p in enumerate(problems()):
        if only is not None and k not in only:
            continue
        line = f"  {p.name[:34]:34s}"
        for impl in impls:
            cells = []
            t0 = time.perf_counter()
            for noise in noises:
                tol = 1e-3 if noise == 0 else 2e-2
                ok = 0
                for s in seeds:
                    rec = _pykan_cached(pykan_cache, p, noise, s) if impl == "pykan" else None
                    if rec is None:
                        t1 = time.perf_counter()
                        err, text = recover(impl, p, s, noise)
                        rec = dict(impl=impl, problem=p.name.strip(), noise=noise, seed=s)
                        rec.update(err=err if math.isfinite(err) else None, ok=bool(err < tol))
                        rec.update(formula=text, seconds=round(time.perf_counter() - t1, 1))
                        if jsonl:
                            with open(jsonl, "a") as fh:
                                fh.write(json.dumps(rec) + "\n")
                        if impl == "pykan" and pykan_cache:
                            _pykan_cache_add(pykan_cache, [rec])
                    ok += rec["ok"]
                    if verbose:
                        err = math.inf if rec["err"] is None else rec["err"]
                        seen = " (cached)" if rec.get("cached") else ""
                        print(
                            f"    {impl} noise {noise} seed {s}: {err:.2e}{seen}  {rec['formula']}"
                        )
                totals[(impl, noise)][0] += ok
                totals[(impl, noise)][1] += len(seeds)
                cells.append(f"{ok}/{len(seeds)}")
            line += f"  {impl} {' '.join(cells)} ({time.perf_counter() - t0:.0f}s)"
        print(line, flush=True)
    for impl in impls:
        ok = sum(totals[(impl, n)][0] for n in noises)
        runs = sum(totals[(impl, n)][1] for n in noises)
        per = ", ".join(
            f"noise {n:g} {totals[(impl, n)][0]}/{totals[(impl, n)][1]}" for n in noises
        )
        print(f"  total {impl}: {ok}/{runs} = {ok / max(runs, 1):.0%} ({per})")


def _seeds_text(seeds: set[int]) -> str:
    return ",".join(str(v) for v in sorted(seeds)) or "-"


def print_table(paths: list[str], pykan_cache: str | None = None) -> None:
    """The recovery table from ``--jsonl`` records (runs split over processes): per function and
    noise level, runs recovered of runs done, ours against pykan (a crash counts as a failure).
    ``pykan_cache``: pykan's runs in the jsonl files are added to it, and its runs fill pykan's
    column. Ours is compared with pykan on the runs both have (same function, noise, seed):
    the target is ours' rate at least twice pykan's there."""
    by_key: dict[tuple, dict] = {}
    for path in paths:
        with open(path) as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    by_key[(r["impl"], r["problem"], r["noise"], r["seed"])] = r  # last run wins
    if pykan_cache:
        mine = [r for r in by_key.values() if r["impl"] == "pykan"]
        cache = _pykan_cache_add(pykan_cache, mine) if mine else _read_json(pykan_cache)
        for key, got in cache.items():
            if key.startswith("_"):
                continue
            name, noise, seed = key.rsplit("|", 2)
            r = dict(impl="pykan", problem=name, noise=float(noise), seed=int(seed), **got)
            by_key.setdefault(("pykan", name, r["noise"], r["seed"]), r)
    recs = list(by_key.values())
    impls = [i for i in ("ours", "plain", "pykan") if any(r["impl"] == i for r in recs)]
    noises = sorted({r["noise"] for r in recs})
    cols = [(i, n) for i in impls for n in noises]
    names = [p.name.strip() for p in problems()]
    # the runs pykan and ours both made: the fair comparison when pykan ran fewer seeds
    pk = {(r["problem"], r["noise"], r["seed"]): r["ok"] for r in recs if r["impl"] == "pykan"}
    same = {
        (r["problem"], r["noise"], r["seed"]): (r["ok"], pk[(r["problem"], r["noise"], r["seed"])])
        for r in recs
        if r["impl"] == "ours" and (r["problem"], r["noise"], r["seed"]) in pk
    }
    both = bool(same)
    head = "".join(f"  {f'{i} {n:g}':>11s}" for i, n in cols)
    head += "  same runs: ours|pykan" if both else ""
    print(f"(c) recovery table: runs recovered / runs done\n  {'function':34s}{head}")
    tot = {c: [0, 0] for c in cols}
    for name in names:
        cells = ""
        for c in cols:
            rs = [r for r in recs if r["problem"] == name and (r["impl"], r["noise"]) == c]
            ok = sum(r["ok"] for r in rs)
            tot[c][0] += ok
            tot[c][1] += len(rs)
            cells += f"  {f'{ok}/{len(rs)}' if rs else '-':>11s}"
        if both:
            pairs = [v for k, v in same.items() if k[0] == name]
            o, q = sum(v[0] for v in pairs), sum(v[1] for v in pairs)
            cells += f"  {f'{o}|{q} of {len(pairs)}' if pairs else '-':>22s}"
        print(f"  {name[:34]:34s}{cells}")
    print(f"  {'total':34s}" + "".join(f"  {f'{v[0]}/{v[1]}':>11s}" for v in tot.values()))
    for i in impls:
        ok = sum(tot[(i, n)][0] for n in noises)
        runs = sum(tot[(i, n)][1] for n in noises)
        mine = [r for r in recs if r["impl"] == i]
        crashes = sum(1 for r in mine if r["formula"].startswith("error"))
        secs = [r["seconds"] for r in mine]
        print(
            f"  {i}: {ok}/{runs} = {ok / max(runs, 1):.0%} recovered, {crashes} crashed, "
            f"median {np.median(secs) if secs else float('nan'):.0f} s per run, "
            f"seeds {_seeds_text({r['seed'] for r in mine})}"
        )
    if both:
        o, q, n = sum(v[0] for v in same.values()), sum(v[1] for v in same.values()), len(same)
        ratio = f"{o / q:.1f}x pykan's rate" if q else "pykan recovered none: no finite ratio"
        print(
            f"  on the {n} runs both made: ours {o}/{n} = {o / n:.0%}, pykan {q}/{n} = {q / n:.0%}"
            f" ({ratio}; target >= 2x)"
        )
    crashed = [r for r in recs if r["formula"].startswith("error")]
    for r in sorted(crashed, key=lambda r: (r["impl"], r["problem"], r["noise"], r["seed"])):
        print(f"  crashed: {r['impl']} {r['problem']} noise {r['noise']:g} seed {r['seed']}:")
        print(f"    {r['formula'][6:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-pykan", action="store_true")
    ap.add_argument("--only-pykan", action="store_true")
    ap.add_argument("--no-minimal", action="store_true", help="(a) without prune_minimal")
    ap.add_argument("--minimal-only", action="store_true", help="(a) only prune_minimal")
    ap.add_argument("--toy-seeds", type=int, default=3, help="(b) seeds per toy (median)")
    ap.add_argument("--toys", default=None, help="(b) only these toys, e.g. xy,J0")
    ap.add_argument(
        "--pykan-cache",
        default=None,
        help="(b), (c), --table: JSON of pykan's figures (read+write)",
    )
    ap.add_argument("--grids", default=None, help="(a) grids, e.g. 3,5,10")
    ap.add_argument("--draws", default=None, help="(a) data draws, e.g. 100,101")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--parts", default="abc")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--problems", default=None, help="(c) which problems (0-based), e.g. 8,9")
    ap.add_argument("--noises", default=None, help="(c) label noise levels, e.g. 0,0.01")
    ap.add_argument("--plain", action="store_true", help="(c) also ours without dataset=")
    ap.add_argument("--only-plain", action="store_true", help="(c) only ours without dataset=")
    ap.add_argument("--seed-list", default=None, help="(c) these seeds, e.g. 3,4")
    ap.add_argument("--jsonl", default=None, help="(c) append one JSON line per run here")
    ap.add_argument("--table", default=None, help="print the (c) table from these jsonl files")
    ap.add_argument("--polish", type=int, default=0, help="(a): fit(polish=K), ours")
    args = ap.parse_args()
    global POLISH
    POLISH = args.polish
    torch.set_num_threads(1)
    if args.pykan_cache and "b" in args.parts and "c" in args.parts and not args.table:
        ap.error(
            "--pykan-cache: parts (b) and (c) keep pykan's figures in different files "
            "(bench/pykan_toys.json, bench/pykan_recovery.json); run --parts b and --parts c "
            "separately"
        )
    if args.table:
        print_table(args.table.split(","), args.pykan_cache)
        return
    impls = ["ours"] if args.no_pykan else ["pykan"] if args.only_pykan else ["ours", "pykan"]
    if args.quick:
        grids, draws = [3, 5], [100]
        seeds_a = list(range(args.seeds or 3))
        seeds_c = list(range(args.seeds or 1))
        noises = [0.0]
    else:
        grids, draws = [3, 5, 10], [100, 101]
        seeds_a = list(range(args.seeds or 10))
        seeds_c = list(range(args.seeds or 5))
        noises = [0.0, 0.01]
    if args.grids:
        grids = [int(g) for g in args.grids.split(",")]
    if args.noises:
        noises = [float(v) for v in args.noises.split(",")]
    if args.draws:
        draws = [int(d) for d in args.draws.split(",")]
    t0 = time.perf_counter()
    if "a" in args.parts:
        minimal = "ours" in impls and not args.no_minimal
        part_a([] if args.minimal_only else impls, grids, draws, seeds_a, minimal)
    if "b" in args.parts:
        only = args.toys.split(",") if args.toys else None
        part_b(impls, args.quick, list(range(args.toy_seeds)), only, args.pykan_cache)
    if "c" in args.parts:
        impls_c = [*impls, "plain"] if args.plain and "ours" in impls else impls
        if args.only_plain:
            impls_c = ["plain"]
        only = None if args.problems is None else {int(v) for v in args.problems.split(",")}
        if args.seed_list:
            seeds_c = [int(v) for v in args.seed_list.split(",")]
        part_c(impls_c, seeds_c, noises, args.verbose, only, args.jsonl, args.pykan_cache)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
