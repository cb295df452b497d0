"""Classification as a problem type: labels, losses, accuracy and class probabilities.

A KAN classifies by giving one logit per class (``width[-1] = k >= 2``, softmax cross-entropy)
or one logit for two classes (``width[-1] = 1``, binary cross-entropy on the logit). The network
and everything that acts on it (regulariser, pruning, Symbolify) are unchanged: only the loss,
the labels' form and the numbers reported differ, and they live here.

Inside training the labels of a classification take one form per output count:
``k >= 2``: class indices, a ``long`` tensor ``[n]`` (``torch.nn.CrossEntropyLoss``'s form);
``k == 1``: floats ``[n, 1]`` of 0 and 1 (``torch.nn.BCEWithLogitsLoss``'s form).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .data import class_labels

if TYPE_CHECKING:
    import sympy

    from .model import KAN

__all__ = [
    "PROBLEMS",
    "Classifier",
    "accuracy",
    "class_loss",
    "class_loss_grad",
    "confusion_matrix",
    "detect_problem",
    "is_one_hot",
    "prepare_labels",
    "probabilities",
    "probability_formula",
]

PROBLEMS = ("regression", "classification")


def is_one_hot(y: Any) -> bool:
    """Whether ``y`` is a float ``[n, k>=2]`` array of 0s and 1s with one 1 per row."""
    t = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y.detach()
    if t.dim() != 2 or t.shape[1] < 2 or t.shape[0] == 0 or t.is_complex():
        return False
    ok = ((t == 0) | (t == 1)).all() and (t.sum(1) == 1).all()
    return bool(ok)


def _binary_column(y: Any) -> bool:
    t = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y.detach()
    if t.is_complex() or t.numel() == 0 or not (t.dim() == 1 or (t.dim() == 2 and t.shape[1] == 1)):
        return False
    return bool(((t == 0) | (t == 1)).all()) and bool((t == 1).any()) and bool((t == 0).any())


def detect_problem(labels: Any, n_out: int, *, one_hot: bool = True) -> str:
    """``"classification"`` for class-index labels (1-D integers), and, with ``one_hot``, for
    one-hot labels ``[n, n_out >= 2]`` or a single 0/1 column when ``n_out == 1`` holding both
    values; else ``"regression"``. ``fit`` calls it with ``one_hot=False`` (float labels are
    regressed with the mean squared error, as pykan); the widget with ``one_hot=True``."""
    if class_labels(labels):
        return "classification"
    if not one_hot:
        return "regression"
    if n_out >= 2 and is_one_hot(labels):
        return "classification"
    if n_out == 1 and _binary_column(labels):
        return "classification"
    return "regression"


def prepare_labels(y: Any, n_out: int, name: str = "labels") -> torch.Tensor:
    """Classification labels in training's form (module docstring) from class indices ``[n]``,
    one-hot rows ``[n, k]`` or (``n_out == 1``) a 0/1 column; ``ValueError`` naming the problem
    and the fix otherwise."""
    t = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y.detach()
    if t.dim() == 2 and t.shape[1] == 1 and n_out == 1:
        t = t[:, 0]
    if t.dim() == 2:
        if t.shape[1] != n_out or not is_one_hot(t):
            raise ValueError(
                f"{name} of shape {tuple(t.shape)} are not one-hot rows for {n_out} classes: "
                f"give class indices [rows] in 0..{max(n_out, 2) - 1}, or one-hot rows "
                f"[rows, {n_out}] (a single 1 per row)"
            )
        t = t.argmax(1)
    if t.dim() != 1 or t.shape[0] == 0:
        raise ValueError(f"{name} must be class indices [rows]; got shape {tuple(t.shape)}")
    if t.is_floating_point():
        if not bool((t == t.round()).all()):
            raise ValueError(
                f"{name} hold non-integer values, which are not classes: pass integer class "
                f"indices, or use problem='regression'"
            )
    n_cls = max(n_out, 2)
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= n_cls:
        fix = "a binary model's labels are 0 and 1" if n_out == 1 else "widen width[-1]"
        raise ValueError(
            f"{name} hold classes from {lo} to {hi}, but the model has {n_out} output"
            f"{'s' if n_out != 1 else ''}: class labels must lie in 0..{n_cls - 1} ({fix})"
        )
    t = t.to(torch.long)
    return t.reshape(-1, 1).float() if n_out == 1 else t


def class_loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits ``pred [n, k]`` against classes ``y`` (training's form):
    softmax cross-entropy for ``k >= 2``, binary cross-entropy on the logit for ``k == 1``;
    the mean over rows (natural log)."""
    if pred.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(pred, y.to(pred.dtype))
    return F.cross_entropy(pred, y)


def class_loss_grad(pred: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`class_loss` and its gradient in ``pred``, without autograd (the trainer's tape,
    :mod:`kan_widget.objective`). Softmax: the operations ``F.cross_entropy`` runs (log-softmax,
    then NLL), differentiated by the same aten backward kernels autograd calls, so both are
    autograd's bits; one logit: autograd's formula ``(sigmoid(pred) - y) / n``."""
    if pred.shape[1] == 1:
        t = y.to(pred.dtype)
        loss = F.binary_cross_entropy_with_logits(pred, t)
        return loss, (torch.sigmoid(pred) - t).div_(pred.numel())
    aten = torch.ops.aten
    lsm = torch.log_softmax(pred, 1)
    mean, ignore = 1, -100  # reduction "mean", the default ignore_index
    loss, total = aten.nll_loss_forward(lsm, y, None, mean, ignore)
    one = torch.ones((), dtype=pred.dtype, device=pred.device)
    g = aten.nll_loss_backward(one, lsm, y, None, mean, ignore, total)
    return loss, aten._log_softmax_backward_data(g, lsm, 1, pred.dtype)


def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    """The class of each row: ``argmax`` of the logits, or ``logit > 0`` for one output."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def _as_index(y: torch.Tensor) -> torch.Tensor:
    return y[:, 0].long() if y.dim() == 2 else y.long()


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows whose predicted class is ``y``'s (training's form)."""
    return float((predicted_classes(logits) == _as_index(y)).double().mean())


def confusion_matrix(logits: torch.Tensor, y: torch.Tensor) -> list[list[int]]:
    """``m[true][predicted]`` counts (``k`` classes, 2 for one output)."""
    k = max(2, logits.shape[1])
    idx = _as_index(y).cpu() * k + predicted_classes(logits).cpu()
    counts = torch.bincount(idx, minlength=k * k).reshape(k, k)
    return counts.tolist()


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``[n, max(k, 2)]``: softmax of ``k >= 2`` logits; for one logit
    ``[1 - sigmoid, sigmoid]`` (class 0, class 1)."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def probability_formula(logits: list[sympy.Expr]) -> list[sympy.Expr]:
    """Class probabilities as sympy expressions of the logits' formulas: ``1/(1+exp(-f))`` for
    one logit (the probability of class 1), ``1/(1+exp(f_0-f_1))`` for two (class 1), and the
    softmax ``exp(f_j)/sum_i exp(f_i)`` per class for more."""
    import sympy  # lazily: importing the engine loads no sympy

    if len(logits) == 1:
        return [1 / (1 + sympy.exp(-logits[0]))]
    if len(logits) == 2:
        return [1 / (1 + sympy.exp(logits[0] - logits[1]))]
    denom = sympy.Add(*[sympy.exp(f) for f in logits])
    return [sympy.exp(f) / denom for f in logits]


class Classifier:
    """Classification methods of :class:`~kan_widget.KAN` (a mixin): the outputs are logits."""

    if TYPE_CHECKING:

        def predict(self, x) -> torch.Tensor: ...
        def formula(self, var=None, digits=None, simplify=True, allow_numeric=True) -> list: ...

    def predict_proba(self, x) -> torch.Tensor:
        """Class probabilities ``[rows, classes]`` for inputs ``x`` (no gradient): the softmax
        of the logits, or for a one-output model ``[P(class 0), P(class 1)]`` from the
        sigmoid of its logit (the model trained with ``fit`` on class labels)."""
        with torch.no_grad():
            return probabilities(self.predict(x))

    def predict_class(self, x) -> torch.Tensor:
        """The predicted class index of each row of ``x`` (``long [rows]``)."""
        with torch.no_grad():
            return predicted_classes(self.predict(x))

    def accuracy(self, x, y) -> float:
        """The fraction of rows of ``x`` whose predicted class is their label ``y`` (class
        indices, one-hot rows, or a 0/1 column for a one-output model)."""
        model: KAN = self  # type: ignore[assignment]
        labels = prepare_labels(y, model.width[-1], name="y")
        with torch.no_grad():
            return accuracy(self.predict(x), labels)

    def probability_formula(self, var=None, digits: int | None = None) -> list:
        """The class probability as a formula of the inputs (:func:`probability_formula` of the
        logits' :meth:`formula`); for more than two classes one softmax term per class."""
        return probability_formula(self.formula(var, digits=digits))


def history_keys(metrics: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The accuracy keys ``fit`` records for a classification (pykan's tutorial names), less
    those a caller's own ``metrics`` callables already fill."""
    return tuple(k for k in ("train_acc", "test_acc") if not metrics or k not in metrics)
