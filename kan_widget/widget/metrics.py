"""Honest numbers for the widget: the current model's losses on every split, the validation rows
held out of training, the overfitting watch, and the plain-language notes the status line shows.

Pure functions of a model and tensors (and one small stateful watcher); nothing here touches a
trait. The engine's ``fit`` is not involved: a code user's ``model.fit(dataset)`` trains on every
training row, as pykan's does; only the widget holds validation rows out (``KANWidget(val_frac=)``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..pruning import unreached_outputs

__all__ = [
    "FORMULA_MARGIN",
    "OVERFIT_TOL",
    "OVERFIT_WINDOW",
    "CutOutputs",
    "OverfitWatch",
    "evaluate",
    "notes",
    "rmse_r2",
    "split_validation",
]

OVERFIT_WINDOW = 10  # steps the validation loss must stay up before it counts as rising
OVERFIT_TOL = 0.02  # ... by at least this fraction above its best
FORMULA_MARGIN = 0.10  # a formula whose test RMSE is this much worse than the splines' is flagged


def split_validation(data: dict, frac: float, seed: int) -> tuple[dict, torch.Tensor | None]:
    """``data`` with ``frac`` of its training rows moved into ``val_input``/``val_label``
    (a seeded random choice, at least one row kept for training); returns ``(data, val_index)``.
    ``frac == 0`` (or a single training row) returns ``data`` unchanged and ``None``."""
    n = int(data["train_input"].shape[0])
    n_val = min(n - 1, round(frac * n))
    if frac <= 0 or n_val <= 0:
        return data, None
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=g)
    val_idx, fit_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    dev = data["train_input"].device
    val_idx, fit_idx = val_idx.to(dev), fit_idx.to(dev)
    out = dict(data)
    out["train_input"] = data["train_input"][fit_idx]
    out["train_label"] = data["train_label"][fit_idx]
    out["val_input"] = data["train_input"][val_idx]
    out["val_label"] = data["train_label"][val_idx]
    return out, val_idx


def rmse_r2(model, x: torch.Tensor, y: torch.Tensor) -> tuple[float | None, float | None]:
    if x.shape[0] == 0 or y.dim() != 2:  # 1-D class indices: RMSE and R² do not apply
        return None, None
    # no_grad, not inference_mode: a layer caches index tensors of its symbolic edges
    # (layer._groups), and inference tensors in that cache would break the next training step.
    # Without grad the input-feature cache is not used, so training's cache stays as it was.
    with torch.no_grad():
        pred = model.predict(x)  # x and y are in the data's units
        err = ((pred - y) ** 2).double()
        sse = float(err.sum())
        yd = y.double()
        sst = float(((yd - yd.mean(dim=0, keepdim=True)) ** 2).sum())
    mse = sse / err.numel()
    rmse = math.sqrt(mse) if math.isfinite(mse) else None
    r2 = 1.0 - sse / sst if sst > 0 and math.isfinite(sse) else None
    return rmse, r2


def evaluate(model, data: dict) -> dict[str, float | None]:
    """RMSE and R^2 of ``model`` on each split of ``data`` present: ``train_loss``, ``train_r2``,
    ``val_loss``, ``val_r2``, ``test_loss``, ``test_r2`` (``None`` where a split is absent or a
    value is not finite), and ``test_std`` (the label standard deviation of the test rows, the
    RMSE of always predicting their mean)."""
    out: dict[str, float | None] = {}
    for split in ("train", "val", "test"):
        x, y = data.get(f"{split}_input"), data.get(f"{split}_label")
        rmse, r2 = rmse_r2(model, x, y) if x is not None and y is not None else (None, None)
        out[f"{split}_loss"], out[f"{split}_r2"] = rmse, r2
    yt = data["test_label"].double()
    out["test_std"] = (
        float(((yt - yt.mean(dim=0, keepdim=True)) ** 2).mean().sqrt()) if yt.dim() == 2 else None
    )
    return out


class OverfitWatch:
    """Watches the validation loss of one training session (one model object).

    Keeps the best validation loss's step and a checkpoint of the model there. Says the model is
    overfitting when, for at least ``window`` steps since the best step, the mean validation loss
    of the last ``window`` steps is more than ``tol`` above the best while the training loss
    went down meanwhile (so noise around a plateau and a diverging run are not called
    overfitting)."""

    def __init__(self, window: int = OVERFIT_WINDOW, tol: float = OVERFIT_TOL):
        self.window = window
        self.tol = tol
        self.reset()

    def reset(self) -> None:
        self.best_step: int | None = None
        self.best_val: float = math.inf
        self.best_train: float = math.inf
        self.best_state: dict[str, Any] | None = None
        self.since: int | None = None  # the best step, once the rise is confirmed
        self._recent: list[tuple[float, float]] = []  # (val, train) of the last `window` steps

    def update(self, model, step: int, val_loss: float | None, train_loss: float | None) -> None:
        """Record one step's losses (``model`` is checkpointed on a new best)."""
        if val_loss is None or not math.isfinite(val_loss):
            return
        train = math.inf if train_loss is None else train_loss
        self._recent = [*self._recent[-(self.window - 1) :], (val_loss, train)]
        if val_loss < self.best_val:
            self.best_val, self.best_train, self.best_step = val_loss, train, step
            self.best_state = model.checkpoint()
            self.since = None
            return
        if self.best_step is None or step - self.best_step < self.window:
            return
        mean_val = sum(v for v, _ in self._recent) / len(self._recent)
        if mean_val > self.best_val * (1 + self.tol) and train < self.best_train:
            self.since = self.best_step
        else:
            self.since = None

    @property
    def last_train(self) -> float | None:
        """The last recorded step's training loss (``None`` before the first)."""
        return self._recent[-1][1] if self._recent else None

    @property
    def last_val(self) -> float | None:
        """The last recorded step's validation loss (``None`` before the first)."""
        return self._recent[-1][0] if self._recent else None

    @property
    def overfitting(self) -> bool:
        return self.since is not None


class CutOutputs:
    """The outputs no input reaches any more (:func:`kan_widget.pruning.unreached_outputs`),
    recomputed only when the model's masks change: another mask tensor (a new model) or one
    written in place (its version counter). The status of every live tick asks; training never
    changes a mask, so a tick costs a comparison instead of a pass over every layer's mask."""

    def __init__(self) -> None:
        # (nodes, [(mask, its version)], cut) in one tuple: ticks (training thread) and commands
        # (command thread) both ask, and one assignment never pairs a key with another's answer
        self._entry: tuple[tuple, list[tuple[torch.Tensor, int]], list[int]] | None = None
        self.computed = 0  # how often it was recomputed (tests and the benchmark read it)

    def __call__(self, model) -> list[int]:
        masks = [layer.mask for layer in model.layers]
        nodes = tuple(model.nodes)
        e = self._entry
        if (
            e is None
            or e[0] != nodes
            or len(e[1]) != len(masks)
            # a held reference, compared by identity: an id cannot be reused while it is held
            or any(a is not m or v != m._version for (a, v), m in zip(e[1], masks))
        ):
            versions = [(m, m._version) for m in masks]  # before computing: a later write shows
            e = self._entry = (nodes, versions, unreached_outputs(masks, list(nodes)))
            self.computed += 1
        return list(e[2])


def notes(
    m: dict[str, float | None],
    *,
    overfit_since: int | None = None,
    spline_test: float | None = None,
    margin: float = FORMULA_MARGIN,
    wild_edges: list[tuple[int, int, int, str]] | None = None,
    cut_outputs: list[str] | None = None,
) -> list[str]:
    """The warnings the status line shows for metrics ``m`` (of :func:`evaluate`): overfitting,
    a model no better than predicting the mean, and a formula worse than the splines it replaced
    (``spline_test``: the splines' test RMSE just before Symbolify), and fixed edges that now
    blow up just past their data (``wild_edges``, of
    :func:`kan_widget.symbolic.extrapolate.wild_fixed`: training moved them), and outputs no
    input reaches any more (``cut_outputs``: a prune removed every path to them)."""
    out = []
    if cut_outputs:
        out.append(
            f"no input reaches {', '.join(cut_outputs)} any more: the model predicts a constant "
            "there (a prune removed every path); Undo, or prune with a lower θ"
        )
    if overfit_since is not None:
        out.append(f"overfitting: validation loss rising since step {overfit_since}")
    r2, test, std = m.get("test_r2"), m.get("test_loss"), m.get("test_std")
    if (r2 is not None and r2 <= 0) or (test is not None and std is not None and test >= std):
        r2_txt = "–" if r2 is None else f"{r2:.3g}"
        out.append(
            f"no better than predicting the mean: test R² {r2_txt}, "
            f"test RMSE {_g(test)} ≥ label std {_g(std)}"
            if test is not None and std is not None and test >= std
            else f"no better than predicting the mean: test R² {r2_txt}"
        )
    if spline_test is not None and test is not None and test > spline_test * (1 + margin):
        out.append(
            f"formula fits worse than the splines: test RMSE {_g(test)} vs {_g(spline_test)} "
            f"(+{100 * (test / spline_test - 1):.0f}%)"
        )
    if wild_edges:
        shown = ", ".join(f"({l},{i},{j}) {name}" for l, i, j, name in wild_edges[:4])
        more = f" and {len(wild_edges) - 4} more" if len(wild_edges) > 4 else ""
        out.append(
            f"fixed edge{'s' if len(wild_edges) > 1 else ''} {shown}{more} now blow up just past "
            "the data (training moved a pole or steep part next to it): predictions a little "
            "outside the training range are unsafe; Symbolify again or unfix the edge"
        )
    return out


def _g(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"
