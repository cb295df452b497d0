"""What the widget remembers of the session's past: the models behind Undo/Redo, and the loss
curve that the loss plot and ``status`` read.

Both are bounded, so a long session keeps memory flat: the undo history keeps the last
``HISTORY_LIMIT`` models, and the loss curve halves its resolution whenever it reaches
``HISTORY_CAP`` points.
"""

from __future__ import annotations

import collections
from typing import Any, Generic, TypeVar

__all__ = [
    "ACC_KEYS",
    "HISTORY_CAP",
    "HISTORY_LIMIT",
    "LOSS_KEYS",
    "History",
    "new_losses",
    "record_losses",
]

HISTORY_LIMIT = 20  # models kept for undo
HISTORY_CAP = 4000  # loss-curve points kept; older points are thinned 2:1 beyond this
LOSS_KEYS = ("train_loss", "test_loss", "reg", "val_loss")
# a classification's accuracies (None for a regression), beside the losses
ACC_KEYS = ("train_acc", "val_acc", "test_acc")

M = TypeVar("M")


class History(Generic[M]):
    """Bounded undo and redo stacks of whole models (each structural operation makes a new model
    object, so the old one is the checkpoint)."""

    def __init__(self, limit: int = HISTORY_LIMIT):
        self._undo: collections.deque[M] = collections.deque(maxlen=limit)
        self._redo: list[M] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def limit(self) -> int:
        """How many models the undo history keeps at most."""
        return int(self._undo.maxlen or 0)

    @property
    def undo_depth(self) -> int:
        """How many models Undo can go back to."""
        return len(self._undo)

    def record(self, old: M) -> None:
        """``old`` is being replaced by a new operation: keep it for undo; redo is forgotten."""
        self._undo.append(old)
        self._redo.clear()

    def undo(self, current: M) -> M | None:
        """The model to go back to (``current`` becomes redoable), or ``None`` if there is none."""
        if not self._undo:
            return None
        self._redo.append(current)
        return self._undo.pop()

    def redo(self, current: M) -> M | None:
        """The model to re-apply (``current`` becomes undoable), or ``None`` if there is none."""
        if not self._redo:
            return None
        self._undo.append(current)
        return self._redo.pop()


def new_losses() -> dict[str, list]:
    """An empty loss curve: ``{"step": [...], "train_loss": [...], "test_loss": [...],
    "reg": [...], "val_loss": [...]}``, one entry per step in each list (``val_loss`` is
    ``None`` when no validation rows are held out)."""
    return {"step": [], **{k: [] for k in (*LOSS_KEYS, *ACC_KEYS)}}


def record_losses(
    losses: dict[str, list], step: int, metrics: dict[str, Any], cap: int = HISTORY_CAP
) -> None:
    """Append one step's ``metrics`` to ``losses``; past ``cap`` points, halve the resolution of
    the whole curve (the lists stay aligned)."""
    losses["step"].append(step)
    for k in (*LOSS_KEYS, *ACC_KEYS):
        losses[k].append(metrics.get(k))
    if len(losses["step"]) > cap:
        for k in losses:
            losses[k] = losses[k][::2]
