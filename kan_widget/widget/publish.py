"""Engine state -> the widget's output traits (docs/WIDGET_PROTOCOL.md, "Python side details").

A :class:`Publisher` is the only writer of ``structure``, ``curves``, ``scores``, ``masks``,
``feature_scores``, ``status``, ``formula`` and ``inspector``: every write takes
:attr:`Publisher.lock`, so the training thread and the kernel never interleave inside one
``hold_sync()`` or overwrite a newer ``status`` with an older one. A structural change sends
everything in one sync message, so the buffers always match ``structure``. Live pushes from the
training thread are paced here.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from ..attribution import input_names
from ..training import Diverged
from . import format as fmt
from . import snapshot as snap
from .history import ACC_KEYS
from .runner import describe_error

__all__ = ["FIT_INTERVAL_S", "PUSH_BYTES_PER_S", "PUSH_TIME_SHARE", "Publisher"]

# Limits on live pushes beyond the protocol's 0.1 s: a [64,64,64,10] model's curves are 3.6 MB
# and take tens of ms to compute, which every 0.1 s would swamp the websocket and slow training.
PUSH_BYTES_PER_S = 4e6
PUSH_TIME_SHARE = 0.2
FIT_INTERVAL_S = 0.5  # the fit view's refresh period during training (final state: always)


class Publisher:
    """Writes one widget's output traits.

    ``widget`` is the anywidget (its traits are set, ``hold_sync`` and ``send_state`` used);
    ``get_model`` returns the current model and ``model_status`` the status fields that depend
    on it (step, n_edge, ...), both called under ``model_lock``; ``losses`` is the loss curve
    (history.new_losses) the loss plot shows; ``x`` the training rows curves are drawn on.
    """

    def __init__(
        self,
        widget,
        plots,
        *,
        get_model: Callable[[], Any],
        model_status: Callable[[], dict],
        metrics: Callable[[], dict],
        losses: dict[str, list],
        x,
        n_points: int,
        in_vars: list[str],
        out_vars: list[str],
        model_lock,
        extra: Callable[[Any, bool], dict] | None = None,
    ):
        self._widget = widget
        self._plots = plots
        self._get_model = get_model
        self._model_status = model_status
        self._metrics = metrics
        self._losses = losses
        self._x = x
        self._n_points = n_points
        self._in_vars, self._out_vars = in_vars, out_vars
        self._model_lock = model_lock
        # more traits sent with every push (the classification drawing): (model, live) -> dict
        self._extra = extra
        self.lock = threading.RLock()
        self.status: dict[str, Any] = {
            "running": False,
            "step": 0,
            "train_loss": None,
            "test_loss": None,
            "val_loss": None,
            "train_r2": None,
            "val_r2": None,
            "test_r2": None,
            "reg": None,
            "steps_per_s": None,
            "n_edge": 0,
            "n_params": 0,
            "message": "",
            "error": None,
            "can_undo": False,
            "can_redo": False,
            "busy": None,
            # honest numbers (metrics.py): rows per split, warnings, the best validation step
            "n_train": 0,
            "n_val": 0,
            "n_test": 0,
            "notes": [],
            "best_step": None,
            "can_back_to_best": False,
            "symbolify": None,
            # classification (classify.py): the problem type and each split's accuracy
            "problem": "regression",
            "train_acc": None,
            "val_acc": None,
            "test_acc": None,
        }
        self.version = 0  # structure.version
        self.fit_drawn = -math.inf  # when the fit view was last redrawn (time.monotonic)

    def set_status(self, **changes: Any) -> None:
        with self.lock:
            self.status.update(changes)
            self._widget.status = dict(self.status)

    def assign(self, values: dict[str, Any], force: bool = False) -> None:
        """Set output traits in one sync message; with ``force``, unchanged ones are sent too
        (traitlets sends only changes, but a refresh must repaint a front end that lost state)."""
        w = self._widget
        with self.lock:
            same = [k for k, v in values.items() if force and getattr(w, k) == v]
            with w.hold_sync():
                for k, v in values.items():
                    setattr(w, k, v)
            if same:
                w.send_state(same)

    def send_buffers(
        self,
        extra_status: dict,
        values: dict | None = None,
        force: bool = False,
        live: bool = False,
    ) -> None:
        """Compute the per-tick buffers and send them with the status (and ``values``)."""
        # live ticks redraw the fit view and the input bars at most every FIT_INTERVAL_S: the
        # browser redraws bqplot heatmaps via canvas.toDataURL, and nobody reads them at 10 Hz
        now = time.monotonic()
        slow_due = not live or now - self.fit_drawn >= FIT_INTERVAL_S
        with self._model_lock:
            model = self._get_model()
            s = snap.snapshot(model, self._x, self._n_points, features=slow_due)
            status = self._model_status()
            extra = self._extra(model, live) if self._extra is not None else {}
        if s.features is not None:
            values = {**(values or {}), "feature_scores": s.features}
        with self.lock:
            self.status.update(status, **extra_status)
            self.assign(
                {
                    **(values or {}),
                    **extra,
                    "curves": s.curves,
                    "scores": s.scores,
                    "masks": s.masks,
                    "status": dict(self.status),
                },
                force=force,
            )
            self._plots.update_losses(self._losses)
            if slow_due:
                self.fit_drawn = now
                self._plots.update_fit(model, s.output)

    def publish_model(self, message: str, bump: bool = False, force: bool = False) -> None:
        """Send everything about the current model: after a structural change (``bump``: new
        structure version, formula recomputed) or on refresh (``force``: re-send as is)."""
        if bump:
            self.version += 1
        w = self._widget
        values: dict[str, Any] = {
            "structure": snap.structure(
                self._get_model(), self.version, self._in_vars, self._out_vars, self._n_points
            ),
        }
        if bump:
            # edge indices may mean other edges now: an open inspector would be wrong
            values.update(formula=self.formula(), inspector={}, inspector_points=b"")
        if force:
            values.update(
                formula=w.formula, inspector=w.inspector, inspector_points=w.inspector_points
            )
        self.send_buffers({"message": message, **self._metrics()}, values, force=force)

    def fit_due(self) -> bool:
        """Whether a live push now would redraw the fit view (every FIT_INTERVAL_S)."""
        return time.monotonic() - self.fit_drawn >= FIT_INTERVAL_S

    def next_gap(self, cost: float) -> float:
        """Seconds to leave before the next live push, given that this one took ``cost`` s."""
        return max(cost / PUSH_TIME_SHARE, len(self._widget.curves) / PUSH_BYTES_PER_S)

    def loss_status(self, steps_per_s: float | None) -> dict:
        """The status fields of the loss curve's last point."""
        h = self._losses
        last = {
            k: fmt.finite(h[k][-1]) if h.get(k) and h[k][-1] is not None else None
            for k in ("train_loss", "test_loss", "reg", "val_loss", *ACC_KEYS)
        }
        return {**last, "steps_per_s": steps_per_s}

    def train_ended(
        self,
        error: BaseException | None,
        step: int,
        steps_per_s: float | None,
        rescore: Callable[[], None],
    ) -> None:
        """The final push of a training run that ended at ``step`` (with ``error``, or ``None``
        if it ended normally), after ``rescore()`` (which leaves the scores as ``fit`` does)."""
        done = {"running": False, **self.loss_status(steps_per_s)}
        if error is None:
            done["message"] = f"stopped at step {step}"
        elif isinstance(error, Diverged):
            done.update(message=f"diverged; restored step {step}", error=describe_error(error))
        else:
            done.update(message=f"training failed at step {step}", error=describe_error(error))
        try:
            rescore()
            done.update(self._metrics())  # the numbers of the model as training left it
            values = {}
            if fmt.has_symbolic(self._get_model()):  # trained (a, b, c, d) change the formula
                values["formula"] = self.formula()
            self.send_buffers(done, values)
        except BaseException as e:
            if error is None:
                done.update(error=describe_error(e))
            self.set_status(**done)
            raise

    def formula(self) -> dict:
        """The formula trait's value; a failure empties it and is shown, never raised, because
        it must not undo the operation that has already replaced the model."""
        try:
            model = self._get_model()
            return fmt.formula_dict(model, input_names(model, self._in_vars), self._out_vars)
        except Exception as e:
            self.set_status(error=f"formula failed: {describe_error(e)}")
            return dict(fmt.EMPTY_FORMULA)
