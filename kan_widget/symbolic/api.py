"""Symbolic regression on a trained KAN: suggest, fix and unfix edges, and fix them all at once.

Every function takes the model first; :class:`~kan_widget.model.KAN` exposes them as methods with
pykan's names. Edges are fitted on ``N_SAMPLES`` quantiles of their inputs over the training data
(``model.train_input``, or the ``x`` you pass): a learned edge is known exactly, so its curve at
the quantiles describes it as well as every training row would. Ranking is explained in
:mod:`kan_widget.symbolic.score`, fitting in :mod:`kan_widget.symbolic.fit`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..threads import OneThread
from .extrapolate import wild_outside
from .fit import FitResult, fit_functions, r2_score, sample_quantiles
from .heldout import held_out_r2
from .library import SymbolicFunction, get_function, resolve_lib
from .score import rank
from .verify import TRIAL_STEPS

__all__ = [
    "N_SAMPLES",
    "ZERO_TOL",
    "Candidate",
    "SymbolicChoice",
    "auto_symbolic",
    "fix_symbolic",
    "format_candidates",
    "suggest_best",
    "suggest_symbolic",
    "unfix_symbolic",
]

N_SAMPLES = 100
ZERO_TOL = 1e-3
"""An edge whose spread (std over its samples) is at most this fraction of the largest spread
among the edges into the same node is negligible: only such edges are set to ``'0'``."""


@dataclass(frozen=True)
class Candidate:
    """One row of :func:`suggest_symbolic`: ``c*f(a*x+b)+d`` for library function ``name``."""

    name: str
    r2: float
    complexity: float
    score: float
    params: tuple[float, float, float, float]

    @property
    def a(self) -> float:
        return self.params[0]

    @property
    def b(self) -> float:
        return self.params[1]

    @property
    def c(self) -> float:
        return self.params[2]

    @property
    def d(self) -> float:
        return self.params[3]


def _abcd(params: torch.Tensor) -> tuple[float, float, float, float]:
    """A :attr:`Candidate.params` from a row ``params [4]`` of the fit."""
    a, b, c, d = (float(v) for v in params)
    return a, b, c, d


class SymbolicChoice(NamedTuple):
    """What :func:`auto_symbolic` fixed: edge ``(l, i, j)`` to ``name`` with fit quality ``r2``."""

    l: int
    i: int
    j: int
    name: str
    r2: float


# ---------------------------------------------------------------------- checks and samples
def _inputs(model, x) -> list[torch.Tensor]:
    if x is None:
        x = getattr(model, "train_input", None)
        if x is None:
            raise ValueError(
                "no data to fit edges on: train the model first (model.fit(dataset)) or pass "
                "x=inputs"
            )
    with OneThread():
        return model.activations(x)


def _layer_samples(
    model, acts: list[torch.Tensor], l: int, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantiles of layer ``l``'s inputs ``[n, in]`` and every edge's value there
    ``[n, in, out]``."""
    xq = sample_quantiles(acts[l], n)
    with torch.no_grad(), OneThread():
        phi = model.layers[l].edge_values(xq)
    return xq, phi


def _negligible(phi: torch.Tensor, active: torch.Tensor, zero_tol: float) -> torch.Tensor:
    """``[in, out]``: edges whose spread is tiny next to the largest edge into the same node."""
    spread = phi.double().std(0) * active
    ref = spread.amax(0, keepdim=True)
    return spread <= zero_tol * ref


def _demoted(x: torch.Tensor, y: torch.Tensor, entries, res: FitResult) -> torch.Tensor:
    """``[E, F]``: the fit's degenerate flags plus the fits that explode just past the edge's
    input range (:mod:`kan_widget.symbolic.extrapolate`): both rank lower."""
    wild = wild_outside(x, y, entries, res.params)
    return wild if res.degenerate is None else res.degenerate | wild


FLOOR_MAX = 1e-2
"""The largest noise floor on ``1 - r2`` (see :mod:`kan_widget.symbolic.score`, rule 4)."""


def _noise_floor(model, y: torch.Tensor, noise: float | None) -> torch.Tensor | None:
    """``[E]``: ``(noise / spread)^2`` of edges with values ``y [E, N]``, at most ``FLOOR_MAX``;
    ``noise`` (an RMSE in the labels' units) defaults to the model's last training RMSE
    (``model.fit_rmse``); None if unknown.

    The edges' values are in the network's units (labels standardised by ``model.scaling``),
    so the noise is divided by the output scale first: comparing an RMSE in the data's units
    with a spread in the network's made the floor wrong by the labels' std squared (on labels
    of std 100, every fit tied at the 1e-2 cap)."""
    if noise is None:
        noise = getattr(model, "fit_rmse", None)
    if noise is None or not noise > 0:
        return None
    scaling = getattr(model, "scaling", None)
    if scaling is not None:  # fit_rmse^2 is the mean over outputs of mse_net * scale^2
        out_scale = torch.tensor(scaling.out_scale, dtype=torch.float64)
        noise = float(noise) / float(out_scale.pow(2).mean().sqrt())
    spread = y.detach().to(torch.float64).std(1)
    floor = (float(noise) / spread.clamp_min(1e-300)) ** 2
    return floor.clamp(0.0, FLOOR_MAX)


def _rank_r2(x: torch.Tensor, y: torch.Tensor, entries, r2: torch.Tensor, held_out) -> torch.Tensor:
    """The ``r2`` the ranking uses: the worse of in-sample and held-out (see
    :mod:`kan_widget.symbolic.heldout`); ``held_out=None`` ranks by the in-sample ``r2``."""
    if held_out is None:
        return r2
    ho = held_out_r2(x, y, entries, float(held_out))
    return r2 if ho is None else torch.minimum(r2.to(torch.float64), ho)


# ---------------------------------------------------------------------- public functions
def suggest_symbolic(
    model,
    l: int,
    i: int,
    j: int,
    lib=None,
    topk: int = 5,
    weight_simple: float = 0.8,
    *,
    zero_tol: float = ZERO_TOL,
    x=None,
    n_samples: int = N_SAMPLES,
    verbose: bool = False,
    noise: float | None = None,
    held_out: float | None = None,
) -> list[Candidate]:
    """Rank library functions for edge ``(l, i, j)``: a list of :class:`Candidate` rows (name,
    r2, complexity, score, fitted ``(a, b, c, d)``), best first.

    The score (higher is better) is the fit's precision in bits divided by ``1 + lam*C``; ties
    within 5% go to the simpler function, and ``'0'`` wins only for a negligible edge (see
    :mod:`kan_widget.symbolic.score`). Nothing is changed on the model. pykan returns
    ``(best_name, best_fun, r2, complexity)`` and prints a table; here the rows are returned and
    ``verbose=True`` prints them. ``noise``: the labels' noise level (an RMSE in their units);
    fits closer than that tie (default: the model's last training RMSE, ``model.fit_rmse``,
    which copy, prune and refine keep). ``held_out`` (opt-in, e.g. ``0.1``): the
    fraction of the edge's samples at each end of its range that every candidate is checked on
    after a fit without them (the ranking uses the worse r2; :mod:`kan_widget.symbolic.heldout`);
    None (default) ranks by the in-sample r2. Off by default: on bench_recovery's 14 functions
    (1 seed, noise 0) it changed which runs recovered the truth, not how many (8 of 14).
    """
    l, i, j = model.check_edge(l, i, j)
    if not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int; got {topk!r}")
    entries = resolve_lib(lib)
    layer = model.layers[l]
    if float(layer.mask[i, j]) == 0:
        raise ValueError(f"edge ({l}, {i}, {j}) is pruned (mask 0): it has no curve to fit")
    acts = _inputs(model, x)
    xq, phi = _layer_samples(model, acts, l, n_samples)
    neg = _negligible(phi, layer.mask.bool(), zero_tol)[i, j]
    xe, ye = xq[:, i][None], phi[:, i, j][None]
    res = fit_functions(xe, ye, entries)
    floor = _noise_floor(model, ye, noise)
    r2 = _rank_r2(xe, ye, entries, res.r2, held_out)
    demoted = _demoted(xe, ye, entries, res)
    order, score = rank(r2, entries, weight_simple, neg.reshape(1), demoted, floor)
    rows = [
        Candidate(
            entries[k].name,
            float(res.r2[0, k]),
            float(entries[k].complexity),
            float(score[0, k]),
            _abcd(res.params[0, k]),
        )
        for k in order[0, :topk].tolist()
    ]
    if verbose:
        print(format_candidates(rows))
    return rows


def format_candidates(rows: list[Candidate]) -> str:
    """A plain-text table of :func:`suggest_symbolic` rows."""
    head = f"{'function':>10}  {'r2':>12}  {'complexity':>10}  {'score':>7}  (a, b, c, d)"
    lines = [head]
    for r in rows:
        p = ", ".join(f"{v:.4g}" for v in r.params)
        lines.append(f"{r.name:>10}  {r.r2:12.8f}  {r.complexity:10g}  {r.score:7.3f}  ({p})")
    return "\n".join(lines)


def fix_symbolic(
    model,
    l: int,
    i: int,
    j: int,
    fun: str | SymbolicFunction,
    fit_params: bool = True,
    *,
    x=None,
    n_samples: int = N_SAMPLES,
    verbose: bool = False,
) -> float:
    """Make edge ``(l, i, j)`` compute ``c*fun(a*x+b)+d`` and return the fit's r^2.

    With ``fit_params`` the four numbers are fitted to the edge's current curve (closed form and
    batched search, see :mod:`kan_widget.symbolic.fit`); otherwise they are ``(1, 0, 1, 0)`` and
    the returned r^2 is that of ``fun(x)`` as is (it can be negative). In both cases they stay
    trainable: a later ``fit`` refines them. The edge's spline is kept, so
    :func:`unfix_symbolic` restores it.
    """
    l, i, j = model.check_edge(l, i, j)
    entry = get_function(fun)
    layer = model.layers[l]
    if float(layer.mask[i, j]) == 0:
        raise ValueError(f"edge ({l}, {i}, {j}) is pruned (mask 0): it has no curve to fit")
    acts = _inputs(model, x)
    xq, phi = _layer_samples(model, acts, l, n_samples)
    xe, ye = xq[:, i][None], phi[:, i, j][None]
    if fit_params:
        res = fit_functions(xe, ye, [entry])
        params, r2 = res.params[0, 0], float(res.r2[0, 0])
    else:
        params = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
        r2 = float(r2_score(xe, ye, entry, params)[0])
    layer.set_symbolic([i], [j], [entry.name], params[None])
    if verbose:
        print(f"r2 is {r2:.6f}")
    return r2


def unfix_symbolic(model, l: int, i: int, j: int) -> None:
    """Return edge ``(l, i, j)`` to its spline (as it was when the edge was fixed)."""
    l, i, j = model.check_edge(l, i, j)
    model.layers[l].clear_symbolic([i], [j])


def auto_symbolic(
    model,
    lib=None,
    r2_threshold: float = 0.0,
    weight_simple: float = 0.8,
    verbose: bool = False,
    *,
    zero_tol: float = ZERO_TOL,
    x=None,
    n_samples: int = N_SAMPLES,
    noise: float | None = None,
    held_out: float | None = None,
    dataset: dict | None = None,
    steps: int = TRIAL_STEPS,
) -> list[SymbolicChoice]:
    """Fit every active, not yet symbolic edge against every function of ``lib`` (all of them by
    default) in one batched pass, and fix each edge to its best candidate.

    ``dataset`` (ours; ``discover`` passes its training rows):
    choose with the data instead (:mod:`kan_widget.symbolic.verify`): layer by layer, each edge
    takes the simplest plausible candidate whose model, after ``steps`` L-BFGS steps of
    adaptation, fits the training rows within 25% of the best trial's RMSE; this trains the
    model and costs one short training per trial (seconds to a minute), so without ``dataset``
    the call stays pykan's (fix only, no training, no labels needed). ``r2_threshold`` applies
    as below; ``held_out`` does not.

    Returns what was fixed, as ``(l, i, j, name, r2)`` tuples (and prints it with ``verbose``).
    An edge whose best r^2 is below ``r2_threshold`` is left as a spline; a negligible edge (see
    ``zero_tol``) is set to ``'0'`` whenever ``'0'`` is in ``lib``, whatever its r^2. Pruned
    (masked) edges are skipped: they contribute nothing. Ranking: see
    :mod:`kan_widget.symbolic.score`; ``noise`` and ``held_out`` as in :func:`suggest_symbolic`.
    """
    start = time.perf_counter()
    entries = resolve_lib(lib)
    if dataset is not None:
        if x is not None:
            raise ValueError("pass x or dataset, not both: dataset's train_input is the x")
        from .verify import auto_symbolic_verified

        picked = auto_symbolic_verified(
            model,
            dataset,
            entries,
            weight_simple,
            zero_tol,
            n_samples,
            noise,
            steps,
            verbose,
            r2_threshold,
        )
        out = sorted(SymbolicChoice(*c) for c in picked)
        if verbose:
            for c in out:
                print(f"fixing ({c.l},{c.i},{c.j}) with {c.name}, r2={c.r2:.6f}")
            print(f"auto_symbolic: {len(out)} edges fixed in {time.perf_counter() - start:.2f} s")
        return out
    acts = _inputs(model, x)
    xs, ys, negs = [], [], []
    where: list[tuple[int, int, int]] = []
    for l, layer in enumerate(model.layers):
        todo = layer.numeric_mask()
        if not bool(todo.any()):
            continue
        xq, phi = _layer_samples(model, acts, l, n_samples)
        ii, jj = todo.nonzero(as_tuple=True)
        xs.append(xq[:, ii].t())
        ys.append(phi[:, ii, jj].t())
        negs.append(_negligible(phi, layer.mask.bool(), zero_tol)[ii, jj])
        where.extend((l, int(a), int(b)) for a, b in zip(ii.tolist(), jj.tolist(), strict=True))
    if not where:
        if verbose:
            print("auto_symbolic: no edge left to fix")
        return []
    x_all, y_all = torch.cat(xs), torch.cat(ys)
    res = fit_functions(x_all, y_all, entries)
    floor = _noise_floor(model, y_all, noise)
    r2 = _rank_r2(x_all, y_all, entries, res.r2, held_out)
    demoted = _demoted(x_all, y_all, entries, res)
    order, _ = rank(r2, entries, weight_simple, torch.cat(negs), demoted, floor)
    best = order[:, 0]
    e_idx = torch.arange(len(where))
    best_r2 = res.r2[e_idx, best]
    best_params = res.params[e_idx, best]
    is_zero = torch.tensor([entries[k].kind == "zero" for k in best.tolist()])
    keep = (best_r2 >= r2_threshold) | is_zero

    chosen: list[SymbolicChoice] = []
    per_layer: dict[int, list[int]] = {}
    for e in keep.nonzero(as_tuple=True)[0].tolist():
        per_layer.setdefault(where[e][0], []).append(e)
    for l, es in per_layer.items():
        model.layers[l].set_symbolic(
            [where[e][1] for e in es],
            [where[e][2] for e in es],
            [entries[int(best[e])].name for e in es],
            best_params[es],
        )
    for e, (l, i, j) in enumerate(where):
        if bool(keep[e]):
            chosen.append(SymbolicChoice(l, i, j, entries[int(best[e])].name, float(best_r2[e])))
        elif verbose:
            print(
                f"kept ({l},{i},{j}) as a spline: best {entries[int(best[e])].name} has "
                f"r2={float(best_r2[e]):.4f} < {r2_threshold}"
            )
    if verbose:
        for c in chosen:
            print(
                f"fixing ({c.l},{c.i},{c.j}) with {c.name}, r2={c.r2:.6f}, "
                f"c={get_function(c.name).complexity:g}"
            )
        print(
            f"auto_symbolic: {len(chosen)} of {len(where)} edges fixed in "
            f"{time.perf_counter() - start:.2f} s"
        )
    return sorted(chosen)


def suggest_best(
    model,
    l: int,
    i: int,
    j: int,
    a_range=(-10, 10),
    b_range=(-10, 10),
    lib=None,
    topk: int = 5,
    verbose: bool = True,
    r2_loss_fun=None,
    c_loss_fun=None,
    weight_simple: float = 0.8,
):
    """pykan's ``suggest_symbolic``: ``(best_name, best_fun, r2, complexity)`` for edge
    ``(l, i, j)``, ``best_fun`` the library's torch function; ``verbose`` prints the top ``topk``.

    By default the ranking is ours (:func:`suggest_symbolic`, :mod:`kan_widget.symbolic.score`).
    Given ``r2_loss_fun`` or ``c_loss_fun`` (pykan's defaults: ``log2(1 + 1e-5 - r2)`` and
    ``c``), candidates are ranked by pykan's total loss ``weight_simple*c_loss_fun(c) +
    (1 - weight_simple)*r2_loss_fun(r2)``, lowest first, on our fits. ``a_range`` and
    ``b_range`` are accepted for pykan's signature; our fit searches ``a`` and ``b`` per
    function (:mod:`kan_widget.symbolic.fit`) and does not need them.
    """
    import numpy as np

    for name, rng in (("a_range", a_range), ("b_range", b_range)):
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError):
            lo = hi = float("nan")
        if not lo < hi:
            raise ValueError(f"{name} must be (low, high) with low < high; got {rng!r}")
    if not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be a positive int; got {topk!r}")
    custom = r2_loss_fun is not None or c_loss_fun is not None
    n_all = len(resolve_lib(lib))
    rows = suggest_symbolic(
        model, l, i, j, lib=lib, topk=n_all if custom else topk, weight_simple=weight_simple
    )
    if custom:
        r2_loss = r2_loss_fun or (lambda x: np.log2(1 + 1e-5 - x))
        c_loss = c_loss_fun or (lambda x: x)
        r2s = np.array([r.r2 for r in rows])
        cs = np.array([r.complexity for r in rows])
        loss = weight_simple * np.asarray(c_loss(cs), dtype=float) + (1 - weight_simple) * (
            np.asarray(r2_loss(r2s), dtype=float)
        )
        rows = [rows[k] for k in np.argsort(loss, kind="stable")[:topk]]
    if verbose:
        print(format_candidates(rows))
    best = rows[0]
    return best.name, get_function(best.name).torch_fn, best.r2, best.complexity
