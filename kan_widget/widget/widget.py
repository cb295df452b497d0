"""KANWidget: a KAN and its dataset, live in a notebook (docs/WIDGET_PROTOCOL.md).

This layer only translates: engine state -> synced traits (snapshot.py, plots.py) and front-end
intents -> engine calls (messages.py, runner.py). It never changes how the engine computes.

Threads and locks (see runner.py for the training thread and the command thread, which runs the
buttons' commands in order so that the comm handler only validates and queues):
- ``_op_lock`` serialises operations that replace or restructure the model (prune, undo, ...),
  whether they come from a cell or from a button; each first stops training.
- ``_sync_lock`` serialises writes of output traits, so the training thread and the kernel never
  interleave inside one ``hold_sync()`` or overwrite a newer ``status`` with an older one.
- ``_hp_lock`` guards the hyperparameter snapshot the training thread reads every step.
Lock order: ``_op_lock`` may be held while taking either of the others, never the reverse, and
nothing holds ``_sync_lock`` or ``model_lock`` while waiting for the thread.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as ipw
import torch
import traitlets as t

from ..data import check_dataset
from ..model import KAN
from ..training import Diverged
from . import snapshot as snap
from .messages import HPARAMS, check_edge, check_hparam, parse_command
from .plots import Plots
from .runner import CommandQueue, Runner, describe_error

__all__ = ["HISTORY_LIMIT", "KANWidget"]

HISTORY_LIMIT = 20
VIEW_ROWS = 2048  # training rows the curves' ranges and the fit view are computed on
# Limits on live pushes beyond the protocol's 0.1 s: a [64,64,64,10] model's curves are 3.6 MB
# and take tens of ms to compute, which every 0.1 s would swamp the websocket and slow training.
PUSH_BYTES_PER_S = 4e6
PUSH_TIME_SHARE = 0.2
DEFAULT_LR = {"LBFGS": 1.0, "Adam": 1e-3}

_STATIC = Path(__file__).resolve().parent.parent / "static"
_FALLBACK_ESM = """
function render({ el }) {
  el.classList.add("kan-widget");
  const p = document.createElement("p");
  p.className = "kan-error";
  p.textContent = "kan-widget: front end not built: run npm run build";
  el.appendChild(p);
}
export default { render };
"""
# Chosen at import: a missing bundle must not make the class unusable from Python.
_ESM: Path | str = _STATIC / "widget.js" if (_STATIC / "widget.js").is_file() else _FALLBACK_ESM
_CSS: Path | str = _STATIC / "widget.css" if (_STATIC / "widget.css").is_file() else ""

_OUTPUT_TRAITS = frozenset(
    ["structure", "curves", "scores", "masks", "status", "formula", "inspector",
     "inspector_points"]
)
_EMPTY_FORMULA = {"latex": "", "text": "", "complete": False}


# formulas with more symbolic edges than this are shown unsimplified (prune first)
SIMPLIFY_MAX_EDGES = 12
# formulas longer than this (Python text) are not rounded and typeset (a [4,5,5,1] one of 6,500
# characters takes 20 s to round): a note is shown instead
FORMULA_MAX_CHARS = 4_000

# status.busy while a queued front-end command runs (train and step show "running" instead)
BUSY_LABELS = {
    "reset": "resetting", "prune": "pruning", "refine": "refining", "symbolify": "symbolifying",
    "undo": "undoing", "redo": "redoing", "inspect": "inspecting", "fix": "fixing",
    "unfix": "unfixing",
}
CLOSE_WAIT_S = 30.0
FIT_INTERVAL_S = 0.5  # the fit view's refresh period during training (final state: always)

# loss-curve points kept in w.history; older points are thinned 2:1 beyond this
HISTORY_CAP = 4000


class KANWidget(anywidget.AnyWidget):
    """Train, prune and symbolify a KAN live: ``w = KANWidget(model, dataset)``, then display
    ``w`` (the last expression of a cell).

    The buttons and these methods do the same things: :meth:`train`, :meth:`stop`, :meth:`step`,
    :meth:`reset`, :meth:`prune`, :meth:`refine`, :meth:`auto_symbolic`, :meth:`fix_symbolic`,
    :meth:`unfix_symbolic`, :meth:`undo`, :meth:`redo`, :meth:`refresh`. Hyperparameters are
    traits shared with the sliders (``w.lamb = 0.01``). ``w.model`` is the current model: prune,
    refine, reset, undo, redo and the symbolic operations replace it with a new object (the old
    one is kept for undo), while training updates it in place.
    """

    _esm = _ESM
    _css = _CSS

    # inputs: the front end writes these; set_state validates them
    lamb = t.Float(0.01).tag(sync=True)
    lamb_l1 = t.Float(1.0).tag(sync=True)
    lamb_entropy = t.Float(2.0).tag(sync=True)
    theta = t.Float(1e-2).tag(sync=True)
    beta = t.Float(3.0).tag(sync=True)
    steps = t.Int(50).tag(sync=True)
    opt = t.Unicode("LBFGS").tag(sync=True)
    lr = t.Float(1.0).tag(sync=True)

    # outputs: only Python writes these
    structure = t.Dict().tag(sync=True)
    curves = t.Bytes(b"").tag(sync=True)
    scores = t.Bytes(b"").tag(sync=True)
    masks = t.Bytes(b"").tag(sync=True)
    status = t.Dict().tag(sync=True)
    formula = t.Dict(dict(_EMPTY_FORMULA)).tag(sync=True)
    inspector = t.Dict().tag(sync=True)
    inspector_points = t.Bytes(b"").tag(sync=True)

    def __init__(
        self,
        model: KAN,
        dataset: dict,
        in_vars: list[str] | None = None,
        out_vars: list[str] | None = None,
        *,
        n_points: int = 100,
        **kwargs: Any,
    ):
        if not isinstance(model, KAN):
            raise TypeError(f"model must be a kan_widget.KAN; got {type(model).__name__}")
        if not isinstance(n_points, int) or isinstance(n_points, bool) or not 2 <= n_points <= 1000:
            raise ValueError(f"n_points must be an int in 2..1000; got {n_points!r}")
        width = model.width
        data = check_dataset(dataset, width[0], width[-1], dtype=model.dtype, device=model.device)
        self._in_vars = _names(in_vars, width[0], "in_vars", "x")
        self._out_vars = _names(out_vars, width[-1], "out_vars", "y")
        self._data = data
        # a bounded, evenly spread subset keeps each push's forward pass cheap on big data
        rows = slice(None, None, -(-data["train_input"].shape[0] // VIEW_ROWS))
        self._train_x = data["train_input"]
        self._x = data["train_input"][rows]
        view = {"train_input": self._x, "train_label": data["train_label"][rows]}
        self._n_points = n_points
        self._op_lock = threading.RLock()
        self._sync_lock = threading.RLock()
        self._hp_lock = threading.Lock()
        self._initial_width = list(width)
        self._initial_config = dict(model.config)
        self._initial_metric = model.reg_metric
        self._undo: collections.deque[KAN] = collections.deque(maxlen=HISTORY_LIMIT)
        self._redo: list[KAN] = []
        self._version = 0
        self._step_count = 0
        self.history: dict[str, list] = {"step": [], "train_loss": [], "test_loss": [], "reg": []}
        self._status: dict[str, Any] = {
            "running": False, "step": 0, "train_loss": None, "test_loss": None, "reg": None,
            "steps_per_s": None, "n_edge": 0, "n_params": 0, "message": "", "error": None,
            "can_undo": False, "can_redo": False, "busy": None,
        }
        self._box: ipw.VBox | None = None
        self._fit_drawn = -math.inf
        self._hp: dict[str, Any] = {}
        self._model = model
        # scores and curve ranges always come from this widget's training data
        model.attribute(self._train_x)
        super().__init__(**kwargs)
        with self._hp_lock:
            self._hp.update({name: getattr(self, name) for name in HPARAMS})
        self._runner = Runner(
            get_model=lambda: self.model, data=data, hparams=self._hparams,
            on_step=self._on_step, push=self._push_tick, on_end=self._on_train_end,
        )
        self._plots = Plots(view, self._in_vars, self._out_vars)
        # button commands run in order on their own thread, never in the comm handler
        self._commands = CommandQueue(self._run_command)
        # NB: not `_handle_custom_msg`, which is ipywidgets' dispatcher (browser-tests.md #4)
        self.on_msg(self._on_frontend_msg)
        _route_to_sender(self.comm)
        self.formula = self._safe_formula()  # the model may arrive with symbolic edges
        self._publish_model(message="ready")

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs):
        if self._box is None:
            self._box = ipw.VBox([self, self._plots.panel])
        bundle = self._box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        model = self.__dict__.get("_model")
        return f"KANWidget({model!r}, step={self.__dict__.get('_step_count', 0)})"

    @property
    def model(self) -> KAN:
        """The current model. Read-only: a model replaced behind the widget's back would skip
        the undo history and leave the front end showing the old one."""
        return self._model

    @property
    def in_vars(self) -> list[str]:
        return list(self._in_vars)

    @property
    def out_vars(self) -> list[str]:
        return list(self._out_vars)

    @property
    def running(self) -> bool:
        """Whether a training run is going."""
        return self._runner.running

    @property
    def last_error(self) -> BaseException | None:
        """The exception that ended the last training run (``None`` if it ended normally); its
        one-line summary is in ``status['error']``."""
        return self._runner.last_error

    # ------------------------------------------------------------------ hyperparameters
    @t.validate(*HPARAMS)
    def _validate_hparam(self, proposal):
        err = check_hparam(proposal["trait"].name, proposal["value"])
        if err:
            raise t.TraitError(err)
        return proposal["value"]

    @t.observe(*HPARAMS)
    def _hparam_changed(self, change):
        with self._hp_lock:
            self._hp[change["name"]] = change["new"]
        if change["name"] == "opt":
            # an LBFGS learning rate of 1.0 would blow Adam up at once; keep a tuned lr though.
            # (In the constructor traitlets reports no old value: that is the class default.)
            old = change["old"] if change["old"] in DEFAULT_LR else "LBFGS"
            if self.lr == DEFAULT_LR[old]:
                self.lr = DEFAULT_LR[change["new"]]

    def _hparams(self) -> dict:
        with self._hp_lock:
            return dict(self._hp)

    def set_state(self, sync_data):
        """Front-end trait updates: invalid hyperparameters are rejected here, before anything
        changes; the old value is sent back so the slider jumps back, and the reason is shown."""
        accepted, rejected, errors = {}, [], []
        for name, value in sync_data.items():
            if name in HPARAMS:
                err = check_hparam(name, value)
                if err is None and HPARAMS[name][0] == "int":
                    value = int(value)
            elif name in _OUTPUT_TRAITS:
                err = f"'{name}' is set by the kernel only; the front end may not change it"
            else:
                err = None
            if err:
                rejected.append(name)
                errors.append(err)
            else:
                accepted[name] = value
        if accepted:
            try:
                super().set_state(accepted)
            except t.TraitError as e:
                rejected.extend(k for k in accepted if k in HPARAMS)
                errors.append(str(e))
        if rejected:
            self.send_state(rejected)
            self._set_status(error="; ".join(errors))

    # ------------------------------------------------------------------ status and pushes
    def _set_status(self, **changes: Any) -> None:
        with self._sync_lock:
            self._status.update(changes)
            self.status = dict(self._status)

    def _model_status(self) -> dict:
        return {
            "step": self._step_count,
            "n_edge": self.model.n_edge,
            "n_params": self.model.n_params,
            "can_undo": bool(self._undo),
            "can_redo": bool(self._redo),
        }

    def _assign(self, values: dict[str, Any], force: bool = False) -> None:
        """Set output traits in one sync message; with ``force``, unchanged ones are sent too
        (traitlets sends only changes, but a refresh must repaint a front end that lost state)."""
        with self._sync_lock:
            same = [k for k, v in values.items() if force and getattr(self, k) == v]
            with self.hold_sync():
                for k, v in values.items():
                    setattr(self, k, v)
            if same:
                self.send_state(same)

    def _send_buffers(self, extra_status: dict, values: dict | None = None,
                      force: bool = False, live: bool = False) -> None:
        """Compute the per-tick buffers and send them with the status (and ``values``)."""
        with self._runner.model_lock:
            s = snap.snapshot(self.model, self._x, self._n_points)
            status = self._model_status()
        with self._sync_lock:
            self._status.update(status, **extra_status)
            self._assign(
                {**(values or {}), "curves": s.curves, "scores": s.scores, "masks": s.masks,
                 "status": dict(self._status)},
                force=force,
            )
            self._plots.update_losses(self.history)
            now = time.monotonic()
            # live ticks redraw the fit view at most every FIT_INTERVAL_S: the browser redraws
            # bqplot heatmaps via canvas.toDataURL, and nobody reads them at 10 Hz
            if not live or now - self._fit_drawn >= FIT_INTERVAL_S:
                self._fit_drawn = now
                self._plots.update_fit(self.model, s.output)

    def _publish_model(self, message: str, bump: bool = False, force: bool = False) -> None:
        """Send everything about the current model: after a structural change (``bump``: new
        structure version, formula recomputed) or on refresh (``force``: re-send as is)."""
        if bump:
            self._version += 1
        values = {
            "structure": snap.structure(
                self.model, self._version, self._in_vars, self._out_vars, self._n_points
            ),
        }
        if bump:
            # edge indices may mean other edges now: an open inspector would be wrong
            values.update(formula=self._safe_formula(), inspector={}, inspector_points=b"")
        if force:
            values["formula"] = self.formula
            values["inspector"], values["inspector_points"] = self.inspector, self.inspector_points
        self._send_buffers({"message": message}, values, force=force)

    # --- called on the training thread
    def _on_step(self, m: dict) -> None:
        self._step_count += 1
        h = self.history
        h["step"].append(self._step_count)
        h["train_loss"].append(m["train_loss"])
        h["test_loss"].append(m["test_loss"])
        h["reg"].append(m["reg"])
        if len(h["step"]) > HISTORY_CAP:
            # a long session keeps memory flat: halve the resolution of the whole curve
            for key in h:
                h[key] = h[key][::2]

    def _loss_status(self) -> dict:
        h = self.history
        last = {k: _finite(h[k][-1]) if h[k] else None for k in ("train_loss", "test_loss", "reg")}
        return {**last, "steps_per_s": self._runner.steps_per_s}

    def _push_tick(self) -> float:
        """A live update from the training thread; returns the gap to leave before the next."""
        t0 = time.perf_counter()
        if self._hparams()["lamb"] == 0:
            # with lambda = 0 the trainer skips the per-edge statistics, so scores would freeze.
            # Not attribute(): that would also make the view rows the model's train_input.
            with self._runner.model_lock, torch.no_grad():
                _, stats = self.model.forward_stats(self._x)
                self.model.set_scores(stats)
        self._send_buffers({"running": True, **self._loss_status()}, live=True)
        cost = time.perf_counter() - t0
        return max(cost / PUSH_TIME_SHARE, len(self.curves) / PUSH_BYTES_PER_S)

    def _on_train_end(self, error: BaseException | None) -> None:
        done = {"running": False, **self._loss_status()}
        if error is None:
            done["message"] = f"stopped at step {self._step_count}"
        elif isinstance(error, Diverged):
            done.update(message=f"diverged; restored step {self._step_count}",
                        error=describe_error(error))
        else:
            done.update(message=f"training failed at step {self._step_count}",
                        error=describe_error(error))
        try:
            # as fit() does: leave scores computed on the training data
            with self._runner.model_lock:
                self.model.attribute(self._train_x)
            values = {}
            if _has_symbolic(self.model):  # trained (a, b, c, d) change the formula
                values["formula"] = self._safe_formula()
            self._send_buffers(done, values)
        except BaseException as e:
            if error is None:
                done.update(error=describe_error(e))
            self._set_status(**done)
            raise

    # ------------------------------------------------------------------ training
    def train(self, steps: int | None = None, block: bool = False) -> bool:
        """Train ``steps`` steps (default ``self.steps``) on a background thread.

        Returns ``False`` and starts nothing if training is already running. With ``block``,
        waits for the end (Ctrl-C / Interrupt stops the thread) and re-raises an exception that
        ended the run; a divergence is not raised (the model was restored; see
        ``status['error']``).
        """
        n = self.steps if steps is None else steps
        err = check_hparam("steps", n)
        if err:
            raise ValueError(err)
        with self._op_lock:
            if self._runner.running:
                self._set_status(message="already training: pause first")
                return False
            self._set_status(running=True, error=None, message=f"training {int(n)} steps")
            started = self._runner.start(int(n))
        if block and started:
            self._block()
            e = self._runner.last_error
            if e is not None and not isinstance(e, Diverged):
                raise e
        return started

    def _block(self) -> None:
        try:
            while not self._runner.wait(0.1):
                pass
        except KeyboardInterrupt:
            self._runner.stop(wait=True)
            raise

    def stop(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Stop training after the current step; with ``wait`` (default) return once stopped."""
        return self._runner.stop(wait=wait, timeout=timeout)

    pause = stop

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the commands sent by the buttons have run and a training run has ended;
        ``True`` if nothing is running any more."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._commands.wait(timeout):
            return False
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._runner.wait(left)

    def step(self) -> bool:
        """One optimiser step (blocking). ``False`` if training is running."""
        return self.train(1, block=True)

    # ------------------------------------------------------------------ structural operations
    def _paused(self) -> bool:
        """Stop training before changing the model; returns whether it was running."""
        was = self._runner.running
        self._runner.stop(wait=True)
        return was

    def _replace(self, new: KAN, message: str, resume: bool, was_running: bool) -> None:
        self._undo.append(self.model)
        self._redo.clear()
        self._install(new, message)
        if resume and was_running:
            self.train()

    def _install(self, model: KAN, message: str) -> None:
        self._model = model
        self._runner.forget_trainer()
        with self._sync_lock:
            self._status["error"] = None  # sent with the rest below, in one message
        self._publish_model(message, bump=True)

    def reset(self) -> None:
        """A freshly initialised model with the original width and config (undoable); clears
        the loss history and the step count."""
        with self._op_lock:
            self._paused()
            new = self._fresh_model()
            self._step_count = 0
            for v in self.history.values():
                v.clear()
            self._replace(new, "reset", resume=False, was_running=False)

    def _fresh_model(self) -> KAN:
        c = self._initial_config
        m = KAN(
            self._initial_width, grid=c["grid"], k=c["k"], grid_range=c["grid_range"],
            seed=c["seed"], grid_eps=c["grid_eps"], noise_scale=c["noise_scale"],
            base_fun=c["base_fun"], device=self._x.device, dtype=getattr(torch, c["dtype"]),
            scale_base_mu=c["scale_base_mu"], scale_base_sigma=c["scale_base_sigma"],
        )
        m.reg_metric = self._initial_metric
        m.attribute(self._train_x)
        return m

    def prune(self, theta: float | None = None, resume: bool = False) -> KAN:
        """Prune nodes and edges scoring at most ``theta`` (default ``self.theta``); returns the
        new model, which becomes ``self.model``."""
        th = self.theta if theta is None else theta
        err = check_hparam("theta", th)
        if err:
            raise ValueError(err)
        with self._op_lock:
            was = self._paused()
            old = self.model.width
            new = self.model.prune(node_th=th, edge_th=th)
            self._replace(new, f"pruned {old} -> {new.width}", resume, was)
            return new

    def refine(self, grid: int, resume: bool = False) -> KAN:
        """Move every edge to a grid of ``grid`` intervals (same functions, more knots)."""
        if not isinstance(grid, int) or isinstance(grid, bool) or grid < 1:
            raise ValueError(f"grid must be an int >= 1; got {grid!r}")
        with self._op_lock:
            was = self._paused()
            new = self.model.refine(grid)
            self._replace(new, f"refined to grid {grid}", resume, was)
            return new

    def auto_symbolic(self, lib=None, resume: bool = False, **kwargs: Any):
        """Fix every edge to its best library function (``kan_widget.symbolic``), then update
        the formula. Returns what the engine's ``auto_symbolic`` returns."""
        with self._op_lock:
            was = self._paused()
            # fitting every edge takes seconds: say so before the kernel goes quiet
            n = sum(int(layer.numeric_mask().sum()) for layer in self.model.layers)
            self._set_status(message=f"symbolifying: fitting {n} edge{'' if n == 1 else 's'}",
                             error=None)
            new = self.model.copy()
            result = new.auto_symbolic(lib=lib, **kwargs)
            self._replace(new, "symbolified", resume, was)
            return result

    def fix_symbolic(self, l: int, i: int, j: int, fun, resume: bool = False, **kwargs: Any):
        """Make edge ``(l, i, j)`` the function ``fun`` (a library name); returns the fit's r^2."""
        self._check_edge(l, i, j)
        with self._op_lock:
            was = self._paused()
            new = self.model.copy()
            r2 = new.fix_symbolic(l, i, j, fun, **kwargs)
            self._replace(new, f"edge ({l},{i},{j}) fixed to {fun}", resume, was)
            return r2

    def unfix_symbolic(self, l: int, i: int, j: int, resume: bool = False) -> None:
        """Return edge ``(l, i, j)`` to its spline."""
        self._check_edge(l, i, j)
        with self._op_lock:
            was = self._paused()
            new = self.model.copy()
            new.unfix_symbolic(l, i, j)
            self._replace(new, f"edge ({l},{i},{j}) unfixed", resume, was)

    def undo(self, resume: bool = False) -> bool:
        """Go back to the model before the last structural operation; ``False`` if none."""
        with self._op_lock:
            was = self._paused()
            if not self._undo:
                self._set_status(message="nothing to undo")
                return False
            self._redo.append(self.model)
            self._install(self._undo.pop(), "undone")
            if resume and was:
                self.train()
            return True

    def redo(self, resume: bool = False) -> bool:
        """Re-apply the last undone operation; ``False`` if none."""
        with self._op_lock:
            was = self._paused()
            if not self._redo:
                self._set_status(message="nothing to redo")
                return False
            self._undo.append(self.model)
            self._install(self._redo.pop(), "redone")
            if resume and was:
                self.train()
            return True

    def refresh(self) -> None:
        """Re-send the whole model state to the front end (also when nothing changed)."""
        self._publish_model("refreshed", force=True)

    # ------------------------------------------------------------------ inspection
    def _check_edge(self, l: int, i: int, j: int) -> None:
        for name, v in (("l", l), ("i", i), ("j", j)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"edge index {name} must be an int; got {v!r}")
        err = check_edge(l, i, j, self.model.width)
        if err:
            raise IndexError(err)

    def inspect(self, l: int, i: int, j: int, topk: int = 5) -> dict:
        """Fill ``inspector`` for edge ``(l, i, j)``: its score, symbolic function, the best
        ``topk`` library candidates and up to 200 (x, phi(x)) points; returns the dict."""
        self._check_edge(l, i, j)
        self._set_status(message=f"fitting functions to edge ({l},{i},{j})", error=None)
        with self._runner.model_lock:
            # a private copy: the symbolic fit must not slow or race the training thread
            model = self.model.copy()
            score = float(model.edge_scores[l][j, i])
        points = snap.edge_points(model, self._x, l, i, j)
        present = bool(model.layers[l].mask[i, j] > 0)
        # a removed edge has no curve to fit: show it, with no candidates
        candidates = _candidates(model.suggest_symbolic(l, i, j, topk=topk)) if present else []
        info = {
            "edge": [l, i, j],
            "score": _finite(score),
            "symbolic": model.layers[l].sym_names.get((i, j)),
            "candidates": candidates,
            "points": len(points) // 8,
        }
        with self._sync_lock:
            self._assign({"inspector": info, "inspector_points": points})
        self._set_status(message=f"inspecting edge ({l},{i},{j})")
        return info

    # ------------------------------------------------------------------ formula
    def formula_sympy(self, simplify: bool = True, digits: int | None = None) -> list:
        """The current formula, one sympy expression per output, in ``in_vars``.

        Edges that are still splines appear as undefined functions ``phi_l_i_j(x)`` (see
        ``formula['complete']``). ``digits`` rounds and snaps numbers as
        :func:`kan_widget.symbolic.clean` does; ``None`` keeps full precision.
        """
        return list(self.model.symbolic_formula(
            var=list(self._in_vars), simplify=simplify, digits=digits, allow_numeric=True
        ))

    def _safe_formula(self) -> dict:
        """The formula trait's value; a failure empties it and is shown, never raised, because
        it must not undo the operation that has already replaced the model."""
        try:
            return self._formula_dict()
        except Exception as e:
            self._set_status(error=f"formula failed: {describe_error(e)}")
            return dict(_EMPTY_FORMULA)

    def _formula_dict(self) -> dict:
        if not _has_symbolic(self.model):
            return dict(_EMPTY_FORMULA)
        import sympy

        from ..symbolic import clean

        n_sym = sum(len(layer.sym_names) for layer in self.model.layers)
        # sympy.simplify on a large unpruned network can take minutes (the command thread would
        # be busy, and Undo queued behind it): simplify only formulas a person can read anyway
        exprs = self.formula_sympy(simplify=n_sym <= SIMPLIFY_MAX_EDGES)
        lhs = [sympy.Symbol(v) for v in self._out_vars]
        pairs = list(zip(lhs, exprs, strict=True))
        text = "\n".join(f"{y} = {sympy.sstr(e)}" for y, e in pairs)
        if len(text) > FORMULA_MAX_CHARS:
            # an unpruned network's formula (336 edges: 66,000 characters) is unreadable, and
            # rounding and typesetting it takes minutes: say so; Copy Python still has it all
            latex = (
                rf"\text{{{n_sym} symbolic edges, {len(text):,} characters: too long to show; "
                r"prune first, or use Copy Python}"
            )
        else:
            # display rounded, copy at full precision: the text is for computing with
            latex = r",\quad ".join(
                f"{sympy.latex(y)} = {sympy.latex(clean(e, 4, simplify=False))}"
                for y, e in pairs
            )
        return {"latex": latex, "text": text, "complete": _all_symbolic(self.model)}

    # ------------------------------------------------------------------ front-end commands
    def _on_frontend_msg(self, _widget, content, _buffers) -> None:
        """Validate a command and queue it: the handler returns at once, so sliders, Pause and
        later commands are handled while a long one (symbolify, ...) runs on the command
        thread. ``pause`` and ``refresh`` act at once."""
        cmd, err = parse_command(content, self.model.width)
        if err:
            self._set_status(error=err)
            return
        try:
            if cmd.type == "pause":
                # a Train or Step still waiting behind a long command must not start later
                self._commands.discard(lambda c: c.type in ("train", "step"))
                self.stop(wait=False)
            elif cmd.type == "refresh":
                self.refresh()
            else:
                self._commands.submit(cmd)
        except Exception as e:
            # a button must never raise into the kernel log where nobody sees it
            self._set_status(error=f"{cmd.type} failed: {describe_error(e)}")

    def _run_command(self, cmd) -> None:
        """Run one queued command on the command thread; errors go to ``status.error``."""
        label = BUSY_LABELS.get(cmd.type)
        try:
            if label:
                self._set_status(busy=label)
            self._dispatch(cmd)
        except BaseException as e:
            self._commands.last_error = e
            self._set_status(error=f"{cmd.type} failed: {describe_error(e)}")
        finally:
            if label:
                self._set_status(busy=None)

    def _dispatch(self, cmd) -> None:
        f = cmd.fields
        if cmd.type == "train":
            self.train()
        elif cmd.type == "step":
            if not self.step():
                self._set_status(message="training is running: pause first to step")
        elif cmd.type == "reset":
            self.reset()
        elif cmd.type == "prune":
            self.prune()
        elif cmd.type == "refine":
            self.refine(f["grid"])
        elif cmd.type == "symbolify":
            self.auto_symbolic()
        elif cmd.type == "undo":
            self.undo()
        elif cmd.type == "redo":
            self.redo()
        elif cmd.type == "inspect":
            self.inspect(f["l"], f["i"], f["j"])
        elif cmd.type == "fix":
            self.fix_symbolic(f["l"], f["i"], f["j"], f["name"])
        elif cmd.type == "unfix":
            self.unfix_symbolic(f["l"], f["i"], f["j"])
        elif cmd.type == "refresh":
            self.refresh()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Stop training and close the widget and its plots."""
        commands = self.__dict__.get("_commands")
        if commands is not None:
            commands.discard()
            # a long symbolify cannot be interrupted: do not hang the kernel on it
            commands.wait(CLOSE_WAIT_S)
        runner = self.__dict__.get("_runner")
        if runner is not None:
            runner.stop(wait=True)
        plots = self.__dict__.get("_plots")
        if plots is not None:
            plots.close()
        box = self.__dict__.get("_box")
        if box is not None:
            box.close()
        super().close()


def _names(given, n: int, what: str, prefix: str) -> list[str]:
    if given is None:
        return [f"{prefix}_{k + 1}" for k in range(n)]
    names = list(given)
    if len(names) != n or not all(isinstance(v, str) and v for v in names):
        raise ValueError(f"{what} must be {n} non-empty strings; got {given!r}")
    if len(set(names)) != n:
        raise ValueError(f"{what} must be distinct; got {names}")
    return names


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _has_symbolic(model: KAN) -> bool:
    return any(layer.sym_names for layer in model.layers)


def _all_symbolic(model: KAN) -> bool:
    return not any(layer.has_numeric_edges() for layer in model.layers)


def _candidates(result) -> list[dict]:
    """``suggest_symbolic``'s ranking as the protocol's ``[{"name", "r2", "complexity"}]``."""
    out = []
    for r in result or []:
        if isinstance(r, dict):
            name, r2, c = r.get("name"), r.get("r2"), r.get("complexity", r.get("c"))
        else:
            name, r2, c = getattr(r, "name", None), getattr(r, "r2", None), getattr(
                r, "complexity", None)
        out.append({
            "name": str(name),
            "r2": None if r2 is None else _finite(r2),
            "complexity": None if c is None else _finite(c),
        })
    return out


def _route_to_sender(comm) -> None:
    """Deliver front-end messages to the subshell the front end chose.

    ipykernel 7 routes a comm message to the subshell that last *published* on that comm
    (``BaseComm._reply_subshell_for``). Our training thread publishes under the parent of whatever
    request ran last, which is the cell blocked in ``w.train(block=True)``, so slider moves and
    Pause queued behind that very cell. The widget relies on no request/reply pairing, so the
    front end's own routing (a comm subshell, where JupyterLab enables them) is the right one.
    """
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = lambda data, default: default
