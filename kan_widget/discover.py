"""Discover: the paper's whole recipe in one call, over a few restarts, keeping the sparsest
model that fits about as well as the best (``discover(model, dataset)``, ``model.discover``).

Each restart runs sparsify (fit with the penalty) -> :func:`~kan_widget.structure.prune_minimal`
-> refine (grid up) and fit -> auto_symbolic (edges with ``r^2 >= r2_threshold`` only; each
choice checked on the training rows, ``auto_symbolic(dataset=...)``) and fit.
Restart 0 starts from the model as it is; restart ``r > 0`` from a fresh initialisation of the
same width and options with seed ``model.config.seed + r`` (the seed decides how the penalty
splits the work between nodes, so restarts find different structures).

A sparsify fit that ends no better than a constant (the penalty silenced the model: fit's test,
:func:`~kan_widget.training.silenced`) would hand on a model whose formula is ``0``; the stage is
run again from the same start with the penalty divided by :data:`RETRY_DIVISOR`, at most
:data:`RETRIES` times, and the restart goes on from the last try. The steps report the try
(:class:`DiscoverStep`'s ``retry`` and ``lamb``), the candidates the penalty they were sparsified
with (``Candidate.lamb``), and ``DiscoverResult.notes`` says why each retry ran.

Each restart leaves two candidates: the refined spline model and the symbolified one (a symbolic
fit can cost accuracy; the spline model is then the honest fallback). The chosen candidate is
the sparsest (fewest edges, then fewest edges still splines, then lowest loss) whose loss is
within ``loss <= rtol * best + atol * std(labels)`` of the best candidate's.

Which loss chooses: the validation rows' RMSE when the dataset has ``val_input`` (the widget
holds some out), else the training RMSE. The test rows never choose; their RMSE is reported.

Restarts run one after another, not in parallel: each fit already uses the CPU's threads through
torch, and processes would have to pickle models and datasets both ways for no gain on 2 cores.
Nothing is written to disk and ``model`` is never changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .training import silenced
from .validation import is_int, is_number

if TYPE_CHECKING:
    from .model import KAN

__all__ = [
    "RETRIES",
    "RETRY_DIVISOR",
    "STAGES",
    "Candidate",
    "DiscoverResult",
    "DiscoverStep",
    "discover",
]

# the stages of one restart, in order (progress reports these names)
STAGES = ("sparsify", "prune", "refine", "symbolify")

RETRIES = 2
"""How many times a silenced sparsify fit is run again, each with a smaller penalty."""
RETRY_DIVISOR = 3.0
"""A retry's penalty is the previous try's divided by this (fit's silenced warning's advice)."""


@dataclass
class Candidate:
    """One model a restart produced: ``stage`` is "refine" (splines) or "symbolify"."""

    restart: int
    stage: str
    model: KAN
    loss: float  # the RMSE that chooses (validation rows if any, else training rows)
    train_loss: float
    test_loss: float | None
    n_edge: int
    n_spline: int  # edges still splines (0: the formula is complete)
    width: list[Any]
    formula: str
    lamb: float = math.nan  # the penalty its sparsify fit ran with (smaller after a retry)
    retry: int = 0  # the sparsify try it came from (0: the first; see RETRIES)

    def summary(self) -> str:
        test = "n/a" if self.test_loss is None else f"{self.test_loss:.3g}"
        retry = f", sparsified at lamb={self.lamb:.2g} (retry {self.retry})" if self.retry else ""
        return (
            f"restart {self.restart} {self.stage}: {self.width}, {self.n_edge} edges "
            f"({self.n_spline} splines), loss {self.loss:.3g}, test {test}{retry}"
        )


@dataclass(frozen=True)
class DiscoverStep:
    """One training step of a discover run, as ``on_step`` gets it: restart ``restart`` (from
    0), ``stage`` (a name of :data:`STAGES`), step ``step`` of ``n_steps`` of the current fit
    (from 1); in the prune stage each trial is a fit of its own, counted by ``trial`` (0 is the
    retraining after the first prune; 0 in the other stages). ``metrics`` as fit's callback
    gets them (``train_loss``, ``test_loss`` (RMSE), ``reg``); ``model`` the model being
    trained (not a copy: read it, do not change it). ``retry``: which try of the sparsify
    stage this restart is on (0 the first; a silenced fit is retried, see the module doc),
    ``lamb`` its penalty."""

    restart: int
    stage: str
    step: int
    n_steps: int
    trial: int
    metrics: dict[str, Any]
    model: KAN
    retry: int = 0
    lamb: float = math.nan

    def describe(self, restarts: int) -> str:
        """The status line's text: ``restart 1/3, prune (trial 2) step 5/20, loss 0.0123``;
        a retried sparsify says so: ``sparsify (retry 1, lamb=0.0033)``."""
        trial = f" (trial {self.trial})" if self.stage == "prune" else ""
        if self.stage == "sparsify" and self.retry:
            trial = f" (retry {self.retry}, lamb={self.lamb:.2g})"
        loss = self.metrics.get("train_loss")
        text = "n/a" if loss is None else f"{loss:.3g}"
        return (
            f"restart {self.restart + 1}/{restarts}, {self.stage}{trial} "
            f"step {self.step}/{self.n_steps}, loss {text}"
        )


@dataclass
class DiscoverResult:
    """``model``: the chosen candidate's model (``None`` if stopped before any); ``candidates``
    in the order they were made; ``chosen`` their index; ``stopped``: stop() ended it early;
    ``notes``: what the run did beyond the schedule (a silenced sparsify fit retried)."""

    candidates: list[Candidate] = field(default_factory=list)
    chosen: int | None = None
    stopped: bool = False
    select: str = "train"  # the split whose RMSE chose
    notes: list[str] = field(default_factory=list)

    @property
    def model(self) -> KAN | None:
        return None if self.chosen is None else self.candidates[self.chosen].model

    @property
    def best(self) -> Candidate | None:
        return None if self.chosen is None else self.candidates[self.chosen]


class _Stopped(Exception):
    pass


@dataclass
class _Where:
    """Where a run is, for the steps it reports."""

    restart: int = 0
    stage: str = STAGES[0]
    trial: int = -1
    retry: int = 0  # the sparsify try the restart is on
    lamb: float = math.nan  # its penalty


def _rmse(model: KAN, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        err = (model.predict(x) - y).double()
    return float(err.pow(2).mean().sqrt())


def _formula(model: KAN) -> str:
    try:
        return "; ".join(str(f) for f in model.formula(digits=3))
    except Exception as e:  # a formula is a convenience: never lose a candidate over it
        return f"(no formula: {type(e).__name__})"


def _train_split(dataset: dict) -> dict | None:
    """The training rows for ``auto_symbolic(dataset=...)``: regression labels (a float
    ``[rows, outputs]`` tensor) only; None otherwise (class labels: ranking by r^2 alone)."""
    y = dataset["train_label"]
    if not (torch.is_tensor(y) and y.dtype.is_floating_point and y.dim() == 2):
        return None
    return {"train_input": dataset["train_input"], "train_label": y}


def _check(dataset: Any, restarts: Any, steps: Any, kw: dict[str, Any]) -> None:
    if (
        not isinstance(dataset, dict)
        or "train_input" not in dataset
        or "train_label" not in dataset
    ):
        raise ValueError("dataset must be a dict with 'train_input' and 'train_label' (as for fit)")
    if not is_int(restarts) or restarts < 1:
        raise ValueError(f"restarts must be an int >= 1; got {restarts!r}")
    for name, v in steps.items():
        if not is_int(v) or v < 1:
            raise ValueError(f"{name} must be an int >= 1; got {v!r}")
    for name, v in kw.items():
        if not is_number(v) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0; got {v!r}")
    if kw["rtol"] < 1:
        raise ValueError(
            f"rtol must be >= 1 (1.1 keeps models within 10% of the best); got {kw['rtol']!r}"
        )
    if not 0 <= kw["r2_threshold"] <= 1:
        raise ValueError(f"r2_threshold must be in [0, 1]; got {kw['r2_threshold']!r}")


def discover(
    model: KAN,
    dataset: dict,
    restarts: int = 3,
    *,
    steps: int = 50,
    lamb: float = 0.01,
    prune_steps: int = 20,
    grid: int | None = None,
    fit_steps: int = 50,
    r2_threshold: float = 0.99,
    rtol: float = 1.1,
    atol: float = 1e-3,
    lib: Any = None,
    progress: Callable[[str, int, float], Any] | None = None,
    stop: Callable[[], bool] | None = None,
    on_step: Callable[[DiscoverStep], Any] | None = None,
) -> DiscoverResult:
    """Run the discover schedule (module doc) ``restarts`` times and choose a candidate.

    ``steps`` LBFGS steps with penalty ``lamb`` sparsify (and train prune_minimal's fresh
    starts); ``prune_steps`` retrain each pruning trial; ``grid`` is the refined grid
    (default twice the model's, at least 10);
    ``fit_steps`` follow the refine and the symbolify; ``r2_threshold`` and ``lib`` go to
    auto_symbolic. ``progress(stage, restart, fraction)`` is called as each stage starts
    (``fraction`` of the whole run done, 1.0 at the end); ``on_step(DiscoverStep)`` after every
    training step of every stage (the prune stage's retraining trials included), so a caller
    can draw the run's loss curve; ``stop()`` is checked between stages and after every
    training step (the prune stage's too): when it returns true, the candidates so far are
    chosen from and ``stopped`` is set."""
    kw = {"lamb": lamb, "r2_threshold": r2_threshold, "rtol": rtol, "atol": atol}
    counts = {"steps": steps, "prune_steps": prune_steps, "fit_steps": fit_steps}
    _check(dataset, restarts, counts, kw)
    grid = max(10, 2 * model.grid) if grid is None else grid
    if not is_int(grid) or grid < 1:
        raise ValueError(f"grid must be an int >= 1; got {grid!r}")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable(stage, restart, fraction) or None")
    if stop is not None and not callable(stop):
        raise TypeError("stop must be callable() -> bool or None")
    if on_step is not None and not callable(on_step):
        raise TypeError("on_step must be callable(DiscoverStep) or None")
    select = "val" if "val_input" in dataset and "val_label" in dataset else "train"
    y = torch.as_tensor(dataset["train_label"]).double()
    floor = atol * float(y.std()) if y.numel() > 1 else atol
    result = DiscoverResult(select=select)
    total = restarts * len(STAGES)

    def halt() -> None:
        if stop is not None and stop():
            raise _Stopped

    where = _Where()

    def stepped(m: KAN, step: int, metrics: dict, n: int) -> bool:
        if step == 0 and where.stage == "prune":  # each prune trial is a fit from step 0
            where.trial += 1
        if on_step is not None:
            trial = where.trial if where.stage == "prune" else 0
            on_step(
                DiscoverStep(
                    where.restart,
                    where.stage,
                    step + 1,
                    n,
                    trial,
                    metrics,
                    m,
                    where.retry,
                    where.lamb,
                )
            )
        return not (stop is not None and stop())

    def fit(m: KAN, n: int, lam: float = 0.0) -> dict:
        hist = m.fit(
            dataset, opt="LBFGS", steps=n, lamb=lam, callback=lambda i, d: stepped(m, i, d, n)
        )
        if hist.get("stopped") == "callback":
            raise _Stopped
        return hist

    def sparsify(start: KAN, r: int) -> KAN:
        """The sparsify stage from ``start`` (unchanged): a fit the penalty silenced is run
        again from ``start`` with a smaller penalty (module doc), up to RETRIES times."""
        lam = lamb
        for retry in range(RETRIES + 1):
            where.retry, where.lamb = retry, lam
            m = start.copy()
            hist = fit(m, steps, lam)
            if lam == 0 or not silenced(hist["train_loss"], dataset["train_label"]):
                return m
            last = float(hist["train_loss"][-1])
            if retry == RETRIES:
                result.notes.append(
                    f"restart {r}: sparsify at lamb={lam:.2g} still ended no better than a "
                    f"constant (training RMSE {last:.3g}) after {RETRIES} retries; kept it"
                )
                return m
            result.notes.append(
                f"restart {r}: sparsify at lamb={lam:.2g} ended no better than a constant "
                f"(training RMSE {last:.3g}): retried at lamb={lam / RETRY_DIVISOR:.2g}"
            )
            lam /= RETRY_DIVISOR
            halt()
        raise AssertionError("unreachable")  # the loop returns on its last try

    def record(r: int, stage: str, m: KAN) -> None:
        xs, ys = dataset[f"{select}_input"], dataset[f"{select}_label"]
        loss = _rmse(m, xs, ys)
        train = (
            loss if select == "train" else _rmse(m, dataset["train_input"], dataset["train_label"])
        )
        test = None
        if "test_input" in dataset and "test_label" in dataset:
            test = _rmse(m, dataset["test_input"], dataset["test_label"])
        n_spline = sum(int(layer.numeric_mask().sum()) for layer in m.layers)
        result.candidates.append(
            Candidate(
                r,
                stage,
                m,
                loss,
                train,
                test,
                m.n_edge,
                n_spline,
                m.width,
                _formula(m),
                where.lamb,
                where.retry,
            )
        )

    try:
        for r in range(restarts):

            def at(stage: str, r: int = r) -> None:
                halt()
                where.restart, where.stage, where.trial = r, stage, -1
                if stage == "sparsify":
                    where.retry, where.lamb = 0, lamb
                if progress is not None:
                    progress(stage, r, (r * len(STAGES) + STAGES.index(stage)) / total)

            if r == 0:
                m = model  # sparsify copies it
            else:
                m = type(model).from_config(
                    model.config.replace(seed=int(model.config.seed) + r),
                    model.width,
                    device=model.device,
                    mult_arity=model.mult_arity,
                )
                m.reg_metric = model.reg_metric
            at("sparsify")
            m = sparsify(m, r)
            at("prune")
            m = m.prune_minimal(
                dataset,
                steps=prune_steps,
                fresh_steps=steps,  # a fresh start of a smaller structure: the first fit's budget
                callback=lambda t, i, d: stepped(t, i, d, int(d.get("n_steps", prune_steps))),
            )
            halt()  # a stopped prune returns the last model it kept: not a candidate
            at("refine")
            if grid != m.grid:
                m = m.refine(grid)
            fit(m, fit_steps)
            record(r, "refine", m)
            at("symbolify")
            s = m.copy()
            # the data checks each choice (symbolic/verify.py): the simplest function that keeps
            # the fit, not the one closest to the spline (look-alikes), on regression labels
            s.auto_symbolic(
                lib=lib, r2_threshold=r2_threshold, verbose=0, dataset=_train_split(dataset)
            )
            fit(s, fit_steps)
            record(r, "symbolify", s)
    except _Stopped:
        result.stopped = True
    losses = [c.loss for c in result.candidates]
    ok = [i for i, v in enumerate(losses) if math.isfinite(v)]
    if ok:
        best = min(losses[i] for i in ok)
        near = [i for i in ok if losses[i] <= rtol * best + floor]
        c = result.candidates
        result.chosen = min(near, key=lambda i: (c[i].n_edge, c[i].n_spline, c[i].loss))
    if progress is not None and not result.stopped:
        progress("done", restarts - 1, 1.0)
    return result
