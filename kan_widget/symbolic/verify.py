"""Symbolic choices checked against the data: ``auto_symbolic(dataset=...)``.

Why: an edge's curve is only known to the spline's precision, and within it look-alikes fit as
well as the truth (``log`` on ``[1, 2]`` as a shifted parabola, ``arctanh`` as ``tan(1.15*x)``,
a learned ``x^2`` as ``cos(2*x)`` whose next edge bends it back). Ranking one edge's ``r^2``
cannot tell them apart; the data can: fix the edge, let the rest of the model adapt, and see
whether the model still fits. The true function lets every other edge become what it should be;
a look-alike leaves an error nothing downstream can undo (two inputs summed into one node cannot
both be re-bent by the next edge).

The procedure, layer by layer from the inputs (pykan's order: a layer's edges are chosen on the
activations the already fixed layers below produce):

1. fit every still-numeric edge of the layer against the library and rank the candidates
   exactly as :func:`~kan_widget.symbolic.api.auto_symbolic` does; decided at once, with the
   parameters fitted on the curves as they are before any trial trains the model: negligible
   edges (``'0'``), edges whose winner has ``r^2 < r2_threshold`` (stay splines), and **sure**
   edges, whose winner fits to ``1 - r^2 <= SURE`` (1e-6) with no plausible rival as simple
   (a straight edge: ``x``; a trial could only pick something more complex, by beating an
   exact fit);
2. per remaining edge, strongest first, try the ranking's ``MAX_TRIALS`` best plausible candidates
   (``r^2 >= R2_MIN``), the ``ACCURATE_TRIALS`` most accurate ones whatever their rank, plus
   ``x`` and ``x^2`` when plausible: fix the edge, train the whole
   model ``steps`` L-BFGS steps (no grid update, no penalty), note the training RMSE, undo
   exactly (:meth:`~kan_widget.model.KAN.checkpoint`);
3. the best trial and the simpler ones near it (within ``SETTLE`` times its RMSE) train
   ``2*steps`` more (a short refit favours whatever perturbs the model least);
4. the **simplest** trial (complexity, then searched parameters; among equals the lower RMSE)
   whose RMSE is within ``RTOL`` of the best's (plus ``ATOL*std(y)``) is kept. The best trial
   always qualifies, so a formula is always produced, as ``auto_symbolic`` does;
5. once every edge is fixed, each edge that kept a more complex function than some of its
   trials tries those simpler ones again, simplest first (:func:`_revisit`): they were judged
   while the other edges were splines, whose learned shapes may need the look-alike (a
   product learned through curved first-layer edges rejects ``x``; once the other edges are
   ``x`` and ``x^2``, ``x`` is exact);
6. the final check (:func:`_rivals`): if the whole formula does not fit the data exactly
   (RMSE above ``ATOL*std(y)``), each edge tries ``'0'`` and its ``RIVALS`` best other trials
   and keeps one whose training MSE is lower by more than chance over the rows explains
   (``SIGMAS*sqrt(2/n)`` relative, or row by row: the per-row drop ``PAIRED_SIGMAS`` standard
   errors above zero and at least ``MIN_DROP`` of the MSE, :func:`_better`) or that halves the
   RMSE (``GAIN``), the simplest of those equal within that bar, repeating until a pass swaps
   nothing. A trial judged while later edges were splines only fits to their precision, so a
   look-alike ties with the truth there (``tan(1.15*x)`` and ``arctanh(x)``); the fixed
   formula tells them apart by orders of magnitude on exact data, and under noise when the
   look-alike's misfit is one the rows can see (I.12.1 at 1% noise: ``x^2`` for ``log``, 28%
   more MSE; I.14.4: 17% more, which only the paired comparison sees); within the noise step
   4's choice stays.

So among functions that explain the data to the splines' level, the simplest is chosen (the
physicist's choice), and "fits to the noise level" is measured on the model's output, where the
noise is known, not on one edge, where it is not.

Cost: one short training per trial (a [2,2,1] model: 4-9 trials per edge, plus the settling
refits). Profiled on ``x1*sin(x2)`` ([2,2,1], 6 edges, 1000 rows): 72 refits, 980 L-BFGS steps
(each up to 20 iterations), 33 s of CPU; the settling refits are half of it. Sure edges cost
nothing (products through ``x`` edges). Measured (``bench/bench_recovery.py`` part (c), 14
functions, seeds 0-2, noise 0 and 1%): 63/84 recovered (61 without the revisit step; plain
``auto_symbolic()`` 37/84); see docs/PYKAN_DIFFERENCES.md.

Who calls it: :func:`~kan_widget.discover.discover` (its symbolify stage) passes its training
rows; plain ``auto_symbolic()`` and the widget's Symbolify stay pykan's (fix edges, train
nothing, need no labels: the model keeps its training inputs only; 25x cheaper).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import torch

from .. import training
from ..threads import OneThread
from .fit import fit_functions
from .library import SymbolicFunction
from .score import _KIND_ORDER, rank

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "ACCURATE_TRIALS",
    "ATOL",
    "GAIN",
    "MAX_TRIALS",
    "MIN_DROP",
    "PAIRED_SIGMAS",
    "R2_MIN",
    "RIVALS",
    "RTOL",
    "SETTLE",
    "SURE",
    "TRIAL_STEPS",
    "auto_symbolic_verified",
]

R2_MIN = 0.9
"""Candidates fitting an edge worse than this are not tried (the rest of the model cannot
absorb a 10% misfit on one edge)."""
MAX_TRIALS = 8
"""Trials per edge: the ranking's best plausible candidates (plus ``x`` and ``x^2``)..."""
ACCURATE_TRIALS = 3
"""...plus this many of the most accurate ones by ``r^2`` alone: the ranking demotes a fit that
explodes just past the edge's range, which the true ``arctanh`` on ``[-0.9, 0.9]`` does; ranked
below eight simple functions that miss the edge by 2%, it was never tried, and ``tan`` (its
look-alike, one unit simpler) was kept with a 1e-2 formula error on exact data."""
TRIAL_STEPS = 10
"""L-BFGS steps the model gets to adapt to each trial."""
RTOL = 0.25
"""A trial ties with the best when its training RMSE is at most ``1 + RTOL`` times the best's..."""
ATOL = 1e-4
"""...plus this fraction of the labels' standard deviation (an exact fit of noiseless data)."""
SURE = 1e-6
"""An edge whose ranking winner fits with ``1 - r2 <= SURE`` and has no plausible rival as
simple as it (``x`` on a straight edge: every other candidate is more complex) is fixed without
trials: a trial could only pick something more complex, and only by beating an exact fit."""
SETTLE = 4.0
"""Simpler trials within this factor of the best one's RMSE get a longer refit before the
comparison (:func:`_settle`)."""
RIVALS = 3
"""Rivals per edge tried by the final check (:func:`_rivals`), best trial RMSE first..."""
GAIN = 0.5
"""...one is kept when it cuts the whole formula's RMSE to at most this fraction (the bar
whatever the number of rows: more than noise or a longer refit explain; the current formula gets
the same training first), or when it passes :data:`SIGMAS`."""
SIGMAS = 4.0
"""...or when it cuts the formula's training MSE by more than this many standard errors of a
relative MSE difference over ``n`` rows, ``sqrt(2/n)`` (4 * 4.5% = 18% with 1000 rows): a
look-alike at 1% label noise leaves a misfit the rows can see (I.12.1: ``x^2`` 9.2e-3 against
``log`` 7.8e-3, MSE 28% lower, noise 5.6e-3), chance does not."""
PAIRED_SIGMAS = 4.0
"""A rival passes the paired comparison (:func:`_better`) when its per-row MSE drop is this
many standard errors above zero..."""
MIN_DROP = 0.1
"""...and at least this fraction of the current MSE: a drop the rows are sure of but that
explains under a tenth of what is left is not worth a more complex function (nor a swap
between look-alikes that are equal within the noise)."""
PAIRED_MIN_ROWS = 10
"""Fewer rows than this: only the unpaired bar (a standard error from 2-9 rows is itself a
guess)."""

MAX_PASSES = 3
"""The final check repeats over all edges until a pass swaps nothing, at most this many times
(a swap changes what the other edges' rivals compete against)."""


def _significant(n: int) -> float:
    """The relative MSE drop over ``n`` training rows that chance does not explain."""
    return SIGMAS * math.sqrt(2.0 / max(n, 1))


def _beats(loss: float, base: float, bar: float) -> bool:
    """Whether RMSE ``loss`` is better than ``base`` by more than chance (or halves it)."""
    if not math.isfinite(loss):
        return False
    return loss <= GAIN * base or loss * loss < (1.0 - bar) * base * base


def _sq(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[n]``: each training row's squared residual (mean over outputs), float64; +inf when
    the model is not finite there (so a rival that blows up never passes)."""
    with torch.no_grad(), OneThread():
        d = (model(x).double() - y.double()).pow(2).mean(1)
    return torch.where(torch.isfinite(d), d, torch.full_like(d, math.inf))


def _better(new: torch.Tensor, base: torch.Tensor, bar: float) -> bool:
    """Whether squared residuals ``new`` fit the rows better than ``base`` (the same rows) by
    more than chance: :func:`_beats` on their RMSEs, or a **paired** comparison: the per-row
    drop ``base - new`` averages more than :data:`PAIRED_SIGMAS` standard errors of its own
    mean and at least :data:`MIN_DROP` of the base MSE. Why paired: both models see the same
    label noise, which cancels row by row; the unpaired bar (:func:`_significant`) charges the
    comparison with the noise twice (I.14.4 at 1% noise: ``x^2`` for ``log`` on an input edge,
    MSE 17% higher, under the 18% unpaired bar; paired, it passes: formula error 4.8e-3 ->
    7.9e-4)."""
    mse_new, mse_base = float(new.mean()), float(base.mean())
    # no better is never better (two exact fits, both MSE 0, must stay equals)
    if not math.isfinite(mse_new) or mse_new >= mse_base:
        return False
    if _beats(math.sqrt(mse_new), math.sqrt(mse_base), bar):
        return True
    if new.numel() < PAIRED_MIN_ROWS:  # a standard error of a handful of rows means little
        return False
    d = base - new
    drop = float(d.mean())
    se = float(d.std()) / math.sqrt(max(int(d.numel()), 1))
    return drop > PAIRED_SIGMAS * se and drop > MIN_DROP * mse_base


def _kind(entry: SymbolicFunction) -> int:
    """Searched parameters, fewest first (``x^2`` before ``sin`` before ``tanh``)."""
    return _KIND_ORDER.get(entry.kind, 4)


def _trials(entries: list[SymbolicFunction], order: torch.Tensor, r2: torch.Tensor) -> list[int]:
    """The candidates one edge tries, simplest first: the ranking's ``MAX_TRIALS`` best plausible
    ones (``r2 >= R2_MIN``; the winner even if it is not), the ``ACCURATE_TRIALS`` with the
    highest ``r2`` (whatever the ranking's penalties), plus the plain powers ``x`` and ``x^2``
    when plausible (what a look-alike most often stands in for)."""
    ranked = [int(k) for k in order.tolist()]
    pos = {k: p for p, k in enumerate(ranked)}

    def ok(k: int) -> bool:
        fn = entries[k]
        # x^0.5 is sqrt: one trial; '0' is only for negligible edges (decided before)
        return fn.kind != "zero" and fn.alias_of is None and float(r2[k]) >= R2_MIN

    picked = [k for k in ranked if ok(k)][:MAX_TRIALS]
    by_r2 = sorted((k for k in ranked if ok(k)), key=lambda k: -float(r2[k]))
    picked += by_r2[:ACCURATE_TRIALS]
    picked += [k for k in ranked if entries[k].kind in ("linear", "quadratic") and ok(k)]
    if ranked[0] not in picked and entries[ranked[0]].kind != "zero":
        picked.append(ranked[0])
    return sorted(set(picked), key=lambda k: (entries[k].complexity, _kind(entries[k]), pos[k]))


def _sure(entries: list[SymbolicFunction], order: torch.Tensor, r2: torch.Tensor) -> bool:
    """Whether an edge's ranking winner is certain without trials (see :data:`SURE`): it fits to
    ``1 - r2 <= SURE`` and no other plausible candidate is as simple."""
    top = int(order[0])
    win = entries[top]
    if win.kind == "zero" or not 1.0 - float(r2[top]) <= SURE:
        return False
    c = win.complexity
    return not any(
        k != top
        and e.kind != "zero"
        and e.alias_of is None
        and e.complexity <= c
        and float(r2[k]) >= R2_MIN
        for k, e in enumerate(entries)
    )


def _simplest(tried: list, entries: list[SymbolicFunction], bar: float) -> int:
    """Index in ``tried`` (simplicity order) of the chosen trial: the simplest whose RMSE is
    within ``bar``; among the equally simple ones (same complexity and searched parameters)
    within the bar, the lowest RMSE. Why not library order: it means nothing between equals
    (``1/x`` before ``log``), and on exact data the lower RMSE is the true function (``log`` on
    ``[1, 2]`` for ``x*y^2 = exp(log x + 2 log y)``: 3.5e-3 against ``1/x``'s 3.7e-3 while the
    other edges are splines; ``1/x`` left a 2.5e-3 formula error)."""
    first = next(p for p, t in enumerate(tried) if t[0] <= bar)

    def cls(p: int) -> tuple[float, int]:
        fn = entries[tried[p][1]]
        return fn.complexity, _kind(fn)

    same = [p for p in range(len(tried)) if cls(p) == cls(first) and tried[p][0] <= bar]
    return min(same, key=lambda p: (tried[p][0], p))


def _settle(tried: list, model, refit, atol: float) -> list:
    """Give the lowest-loss trial and every simpler one within ``SETTLE`` times its RMSE
    another ``2*steps`` each before they are compared: a short refit favours the candidate
    closest to the spline (it perturbs the model least), not the one the data prefers; an exact
    ``x`` that the next layer still has to adapt to needs the longer run."""
    best = min(range(len(tried)), key=lambda t: tried[t][0])
    lowest = tried[best][0]
    near = [t for t in range(best) if tried[t][0] <= SETTLE * lowest + atol]
    if not near or not math.isfinite(lowest):
        return tried
    out = list(tried)
    for t in [*near, best]:
        model.restore(tried[t][2])
        loss = refit(2)
        out[t] = (loss, tried[t][1], model.checkpoint())
    return out


def _rmse(model, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad(), OneThread():
        d = model(x).double() - y.double()
        v = float(d.pow(2).mean().sqrt())
    return v if math.isfinite(v) else math.inf


def _labels(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        x, y = dataset["train_input"], dataset["train_label"]
    except (TypeError, KeyError):
        raise ValueError(
            "dataset must be a dict with 'train_input' and 'train_label' (create_dataset's form)"
        ) from None
    if not (torch.is_tensor(y) and y.dtype.is_floating_point and y.dim() == 2):
        raise ValueError(
            "auto_symbolic(dataset=...) checks choices by the regression RMSE: train_label must "
            "be a float tensor [rows, outputs]; leave dataset out for a classifier"
        )
    return x, y


def _restores_on_error(
    fn: Callable[Concatenate[Any, P], R],
) -> Callable[Concatenate[Any, P], R]:
    """``fn(model, ...)``, with the model returned to its state before the call on an error
    (or an interrupt): the trials fix and train edges as they go."""

    @functools.wraps(fn)
    def wrapper(model: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        origin = model.checkpoint()
        try:
            return fn(model, *args, **kwargs)
        except BaseException:
            model.restore(origin)
            raise

    return wrapper


@_restores_on_error
def auto_symbolic_verified(
    model,
    dataset: dict,
    entries: list[SymbolicFunction],
    weight_simple: float,
    zero_tol: float,
    n_samples: int,
    noise: float | None,
    steps: int = TRIAL_STEPS,
    verbose: bool = False,
    r2_threshold: float = 0.0,
) -> list[tuple[int, int, int, str, float]]:
    """Fix every numeric edge, layer by layer, to the simplest candidate whose model, after
    ``steps`` steps of adaptation, fits the training data within ``RTOL`` of the best trial's
    (see the module docstring). An edge whose ranking winner fits with ``r2 < r2_threshold``
    stays a spline (as in ``auto_symbolic``); a negligible one becomes ``'0'`` when the library
    has it. Returns ``(l, i, j, name, r2)`` per fixed edge. On an error (or an interrupt) the
    model is returned to its state before the call."""
    from .api import _demoted, _inputs, _layer_samples, _negligible, _noise_floor

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    x, y = _labels(dataset)
    if not math.isfinite(_rmse(model, x, y)):
        raise ValueError("the model's output is not finite on dataset['train_input']: fit it first")
    atol = ATOL * float(y.double().std())
    has_zero = any(e.kind == "zero" for e in entries)
    zero_k = [k for k, e in enumerate(entries) if e.kind == "zero"][:1]
    chosen: list[tuple[int, int, int, str, float]] = []
    simpler: dict[int, list[int]] = {}  # index in chosen -> the simpler trials it beat
    rivals: dict[int, list[int]] = {}  # index in chosen -> other trials near the best, best first

    def refit(times: int = 1) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            training.fit(model, dataset, opt="LBFGS", steps=times * steps, update_grid=False, log=0)
        return _rmse(model, x, y)

    for l in range(len(model.layers)):
        layer = model.layers[l]  # restore() rebuilds the layers: never hold one across trials
        todo = layer.numeric_mask()
        if not bool(todo.any()):
            continue
        acts = _inputs(model, x)
        xq, phi = _layer_samples(model, acts, l, n_samples)
        ii, jj = todo.nonzero(as_tuple=True)
        xe, ye = xq[:, ii].t(), phi[:, ii, jj].t()
        neg = _negligible(phi, layer.mask.bool(), zero_tol)[ii, jj]
        res = fit_functions(xe, ye, entries)
        floor = _noise_floor(model, ye, noise)
        order, _ = rank(res.r2, entries, weight_simple, neg, _demoted(xe, ye, entries, res), floor)
        spread = ye.double().std(1)
        # first the edges decided without trials ('0', below r2_threshold, sure): their
        # parameters were fitted on the curves as they are now, before any trial trains the model
        tryout: list[int] = []
        for e in spread.argsort(descending=True).tolist():
            i, j = int(ii[e]), int(jj[e])
            top = int(order[e, 0])
            zero = entries[top].kind == "zero" and has_zero
            if not zero and float(res.r2[e, top]) < r2_threshold:
                if verbose:
                    print(f"  kept ({l},{i},{j}) as a spline: best r2 {float(res.r2[e, top]):.4f}")
            elif zero or _sure(entries, order[e], res.r2[e]):
                model.layers[l].set_symbolic(
                    [i], [j], [entries[top].name], res.params[e, top][None]
                )
                chosen.append((l, i, j, entries[top].name, float(res.r2[e, top])))
                if verbose:
                    print(f"  sure ({l},{i},{j}) {entries[top].name}: r2 {chosen[-1][4]:.8f}")
            else:
                tryout.append(e)
        for e in tryout:
            i, j = int(ii[e]), int(jj[e])
            trials = _trials(entries, order[e], res.r2[e])
            start = model.checkpoint()
            tried: list[tuple[float, int, dict]] = []
            for k in trials:
                # restore() rebuilds the layers: look the layer up each time
                model.layers[l].set_symbolic([i], [j], [entries[k].name], res.params[e, k][None])
                loss = refit()
                if verbose:
                    r2k = float(res.r2[e, k])
                    print(f"  trial ({l},{i},{j}) {entries[k].name}: rmse {loss:.3e} r2 {r2k:.8f}")
                tried.append((loss, k, model.checkpoint()))
                model.restore(start)
            tried = _settle(tried, model, refit, atol)
            lowest = min(t[0] for t in tried)
            bar = (1 + RTOL) * lowest + atol
            pick = _simplest(tried, entries, bar)
            loss, k, state = tried[pick]
            model.restore(state)
            chosen.append((l, i, j, entries[k].name, float(res.r2[e, k])))
            own = (entries[k].complexity, _kind(entries[k]))
            lost = [
                t[1] for t in tried[:pick] if (entries[t[1]].complexity, _kind(entries[t[1]])) < own
            ]
            if lost:  # simpler trials lost while the rest were splines: revisit them
                simpler[len(chosen) - 1] = lost
            near = [t for t in tried if t[1] != k and t[0] <= SETTLE * lowest + atol]
            near.sort(key=lambda t: t[0])
            # '0' first: an edge the formula does not need (a spare node's linear term that
            # its neighbours' shifts compensate) is the simplest rival of all
            if zero_k or near:
                rivals[len(chosen) - 1] = zero_k + [t[1] for t in near[:RIVALS]]
    if simpler:
        _revisit(model, chosen, simpler, entries, x, y, refit, n_samples, atol, verbose)
    if rivals:
        _rivals(model, chosen, rivals, entries, x, y, refit, n_samples, atol, verbose)
    return chosen


def _edge_fits(model, x: torch.Tensor, edge: tuple[int, int, int], cands, n_samples: int):
    """``fit_functions`` of the candidates ``cands`` to edge ``(l, i, j)`` as the model now
    computes it on ``x`` (the other edges as they are fixed so far): the revisit and the final
    check fit their swaps to the current activations, not those of the first trials."""
    from .api import _inputs, _layer_samples

    l, i, j = edge
    xq, phi = _layer_samples(model, _inputs(model, x), l, n_samples)
    return fit_functions(xq[:, i][None], phi[:, i, j][None], cands)


def _revisit(
    model,
    chosen: list[tuple[int, int, int, str, float]],
    simpler: dict[int, list[int]],
    entries: list[SymbolicFunction],
    x: torch.Tensor,
    y: torch.Tensor,
    refit,
    n_samples: int,
    atol: float,
    verbose: bool,
) -> None:
    """Once every edge is fixed, give each edge that kept a more complex function another try
    with the simpler candidates it rejected, simplest first: a simple trial is judged while the
    other edges are still splines, whose learned shapes may need the complex one (a product
    learned through curved first-layer edges rejects ``x`` on its first edge; once the others
    are ``x`` and ``x^2``, ``x`` is exact). A candidate is kept when, after ``2*steps`` steps,
    the model fits within ``RTOL`` of its RMSE before the swap (plus ``atol``); else the swap is
    undone exactly. Edits ``chosen`` in place."""
    for c, ks in simpler.items():
        l, i, j, name, _ = chosen[c]
        before = model.checkpoint()
        base = _rmse(model, x, y)
        res = _edge_fits(model, x, (l, i, j), [entries[k] for k in ks], n_samples)
        for n, k in enumerate(ks):
            model.layers[l].set_symbolic([i], [j], [entries[k].name], res.params[0, n][None])
            loss = refit(2)
            if verbose:
                swap = f"{name} -> {entries[k].name}"
                print(f"  revisit ({l},{i},{j}) {swap}: rmse {base:.3e} -> {loss:.3e}")
            if loss <= (1 + RTOL) * base + atol:
                chosen[c] = (l, i, j, entries[k].name, float(res.r2[0, n]))
                break
            model.restore(before)


def _rivals(
    model,
    chosen: list[tuple[int, int, int, str, float]],
    rivals: dict[int, list[int]],
    entries: list[SymbolicFunction],
    x: torch.Tensor,
    y: torch.Tensor,
    refit,
    n_samples: int,
    atol: float,
    verbose: bool,
) -> None:
    """The final check: does the whole formula fit the data as well as its rivals let it? Each
    trial was judged while the later edges were splines, which fit only to their own precision
    (~1e-3): the true function and its look-alikes tie there, and the simpler look-alike is
    kept (``tan(1.15*x)`` for ``arctanh(x)`` on ``[-0.9, 0.9]``). Once every edge is fixed, the
    formula's RMSE is no longer limited by splines: on exact data the true function brings it
    to round-off, a look-alike leaves its own misfit. So when the formula is not exact (RMSE
    above ``atol``), each edge tries its ``RIVALS`` best other trials (those within ``SETTLE``
    of its best trial's RMSE), best first, each after ``2*steps`` steps, against the current
    formula after the same training (``'0'`` first: an edge the formula does not need, e.g. a
    spare node's small linear term that shifts elsewhere compensate, is the simplest rival);
    a rival passes if it cuts the training MSE by more than chance over the rows explains
    (:data:`SIGMAS`; or paired row by row, :func:`_better`) or halves the RMSE
    (:data:`GAIN`); of the passing rivals, the simplest among those equal to the best within
    that bar is kept. Passes repeat until one swaps
    nothing (:data:`MAX_PASSES`). A choice within the noise stays (noisy data keep the simplest
    choice); a look-alike whose misfit the rows can see is undone. Edits ``chosen``."""
    bar = _significant(int(x.shape[0]))
    base = refit(2)
    base_sq = _sq(model, x, y)
    for _ in range(MAX_PASSES):
        swapped = False
        for c, ks in rivals.items():
            if not base > atol:  # the formula is exact: nothing left to explain
                return
            l, i, j, name, _ = chosen[c]
            before = model.checkpoint()
            res = _edge_fits(model, x, (l, i, j), [entries[k] for k in ks], n_samples)
            # (rmse, n, state, squared residuals) of the rivals that pass
            passed: list[tuple[float, int, dict, torch.Tensor]] = []
            for n, k in enumerate(ks):
                if entries[k].name == name:  # the edge's own choice after an earlier swap
                    continue
                model.layers[l].set_symbolic([i], [j], [entries[k].name], res.params[0, n][None])
                loss = refit(2)
                sq = _sq(model, x, y)
                ok = _better(sq, base_sq, bar)
                if verbose:
                    swap = f"{name} -> {entries[k].name}"
                    print(f"  rival ({l},{i},{j}) {swap}: rmse {base:.3e} -> {loss:.3e} {ok}")
                if ok:
                    passed.append((loss, n, model.checkpoint(), sq))
                model.restore(before)
            if not passed:
                continue
            # the best passing rival and those the data cannot tell from it: the simplest wins
            best = min(passed, key=lambda t: t[0])[3]
            equal = [t for t in passed if not _better(best, t[3], bar)]
            loss, n, state, sq = min(
                equal, key=lambda t: (entries[ks[t[1]]].complexity, _kind(entries[ks[t[1]]]), t[0])
            )
            model.restore(state)
            chosen[c] = (l, i, j, entries[ks[n]].name, float(res.r2[0, n]))
            # the swapped-out choice becomes a rival of its own edge for the next pass
            old = next((k for k in ks if entries[k].name == name), None)
            if old is None:
                k_old = next((k for k, e in enumerate(entries) if e.name == name), None)
                if k_old is not None:
                    rivals[c] = [*ks, k_old]
            base, base_sq = loss, sq
            swapped = True
        if not swapped:
            return
