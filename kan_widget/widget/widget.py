"""KANWidget: a KAN and its dataset, live in a notebook (docs/WIDGET_PROTOCOL.md).

This layer only translates: engine state -> synced traits (publish.py writes them, from
snapshot.py, format.py and plots.py) and front-end intents -> engine calls (messages.py validates
them and names the method that runs each command; runner.py runs training and the queued
commands). history.py keeps the undo history and the loss curve. It never changes how the engine
computes.

Why this file is over 400 lines: it is the public class, and most of it is the user's API (the
constructor and seventeen documented methods, each a thin call into the engine under the op lock);
moving public methods into mixins would scatter what a reader looks for in one place.

Threads and locks (see runner.py for the training thread and the command thread, which runs the
buttons' commands in order so that the comm handler only validates and queues):
- ``_op_lock`` serialises operations that replace or restructure the model (prune, undo, ...),
  whether they come from a cell or from a button; each first stops training.
- ``Publisher.lock`` serialises writes of output traits (publish.py).
- ``_hp_lock`` guards the hyperparameter snapshot the training thread reads every step.
Lock order: ``_op_lock`` may be held while taking either of the others, never the reverse, and
nothing holds ``Publisher.lock`` or ``model_lock`` while waiting for the thread.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import weakref
from typing import Any

import anywidget
import ipywidgets as ipw
import torch
import traitlets as t

from ..attribution import input_names
from ..compiler import kanpiler
from ..data import check_dataset
from ..discover import DiscoverResult, DiscoverStep
from ..model import KAN
from ..training import Diverged
from ..validation import is_int, require_int
from . import classify as cv
from . import format as fmt
from . import messages
from . import metrics as mx
from . import snapshot as snap
from .bundle import ESM
from .history import ACC_KEYS, History, new_losses, record_losses
from .messages import (
    COMMANDS,
    DEFAULT_LR,
    HPARAMS,
    POLISH_STEPS,
    SYM_PRESETS,
    TABLE_DEFAULTS,
    check_hparam,
    check_state,
    parse_command,
)
from .plots import Plots
from .publish import Publisher
from .runner import CommandQueue, Runner, describe_error

__all__ = ["KANWidget"]

VIEW_ROWS = 2048  # training rows the curves' ranges and the fit view are computed on
CLOSE_WAIT_S = 30.0

_TRAIT_TYPES = {"float": t.Float, "int": t.Int, "choice": t.Unicode}


def _hparam_trait(name: str) -> t.TraitType:
    """The synced trait of hyperparameter ``name``, with the default of messages.HPARAMS."""
    p = HPARAMS[name]
    return _TRAIT_TYPES[p.kind](p.default).tag(sync=True)


class KANWidget(anywidget.AnyWidget):
    """Train, prune and symbolify a KAN live: ``w = KANWidget(model, dataset)``, then display
    ``w`` (the last expression of a cell).

    The buttons and these methods do the same things: :meth:`train`, :meth:`stop`, :meth:`step`,
    :meth:`reset`, :meth:`prune`, :meth:`refine`, :meth:`auto_symbolic`, :meth:`fix_symbolic`,
    :meth:`unfix_symbolic`, :meth:`undo`, :meth:`redo`, :meth:`refresh`. Hyperparameters are
    traits shared with the sliders (``w.lamb = 0.01``). ``w.model`` is the current model: prune,
    refine, reset, undo, redo and the symbolic operations replace it with a new object (the old
    one is kept for undo), while training updates it in place.

    Honest numbers: ``val_frac`` (default 0.2) of the training rows, chosen at random with
    ``val_seed``, are held out of the widget's training as validation rows (``val_frac=0``: none;
    ``model.fit`` in code is unaffected and trains on every row). They watch for overfitting
    (``status['notes']``, "overfitting: validation loss rising since step N") and keep the best
    step's model, which :meth:`back_to_best` restores; the test rows only judge. With
    ``early_stop=True`` a training run that overfits stops there and goes back to the best step
    by itself (undoable: :meth:`undo` returns to the last step). It is off by default: on
    diabetes the validation RMSE is flat within 2% after the first LBFGS steps, so choosing a
    step by it picks noise, and a more eager watch stopped the noise-free canonical example at
    step 8 (bench/bench_tables.py). ``keep_best=True`` (the default) trains every step asked
    for and, when the run ends above its best validation loss, installs the best step
    (undoable): a penalty's sparsifying steps still run, so the noise-free canonical example
    prunes to the same [2,1,1] and the same test RMSE. The status line
    says "trained on N rows, validated on M, tested on K" and shows each split's RMSE and R²,
    recomputed on the current model after every command.

    ``polish`` (default 10, 0 for a table: ``messages.POLISH_STEPS``, ``TABLE_DEFAULTS``): the
    last ``min(polish, steps // 5)`` steps of every Train run of a regression (a
    classification keeps the penalty, which bounds its logits) leave the penalty out and train
    only the edges scoring at least ``theta`` (:func:`kan_widget.training.polish_frozen`), so the
    penalty's bias is gone from the model shown and Prune sees the structure it found
    (``sqrt(1+x^2+y^2)``: 2.4% -> 0.04% of the label spread, still [2,1,1]).
    """

    _esm = ESM  # the bundle carries its CSS: no _css

    # inputs: the front end writes these; set_state validates them
    lamb = _hparam_trait("lamb")
    lamb_l1 = _hparam_trait("lamb_l1")
    lamb_entropy = _hparam_trait("lamb_entropy")
    theta = _hparam_trait("theta")
    input_theta = _hparam_trait("input_theta")
    beta = _hparam_trait("beta")
    steps = _hparam_trait("steps")
    batch = _hparam_trait("batch")  # pykan's fit(batch=...): -1 every training row
    opt = _hparam_trait("opt")
    lr = _hparam_trait("lr")
    r2_threshold = _hparam_trait("r2_threshold")
    weight_simple = _hparam_trait("weight_simple")
    sym_lib = _hparam_trait("sym_lib")
    problem = _hparam_trait("problem")  # set from the labels at construction (classify.py)

    # outputs: only Python writes these
    spec = t.Dict(read_only=True).tag(sync=True)  # messages.spec(), never changed
    structure = t.Dict().tag(sync=True)
    curves = t.Bytes(b"").tag(sync=True)
    scores = t.Bytes(b"").tag(sync=True)
    masks = t.Bytes(b"").tag(sync=True)
    # each input's attribution score (pykan's feature_score; None: not finite)
    feature_scores: t.List = t.List().tag(sync=True)
    status = t.Dict().tag(sync=True)
    formula = t.Dict(dict(fmt.EMPTY_FORMULA)).tag(sync=True)
    inspector = t.Dict().tag(sync=True)
    inspector_points = t.Bytes(b"").tag(sync=True)
    # classification drawing (classify.py): what the buffers hold, class probabilities over the
    # input square (float32 [grid*grid, classes]), points (float32 rows [x, y, class, split])
    classify = t.Dict().tag(sync=True)
    class_grid = t.Bytes(b"").tag(sync=True)
    class_points = t.Bytes(b"").tag(sync=True)
    class_nodes = t.Bytes(b"").tag(sync=True)  # float32 [nodes, node_grid^2] node pictures
    # lesson mode: names of controls the front end hides (buttons, hyperparameters)
    hide = t.List(t.Unicode()).tag(sync=True)

    def __init__(
        self,
        model: KAN,
        dataset: dict,
        in_vars: list[str] | None = None,
        out_vars: list[str] | None = None,
        *,
        n_points: int = 100,
        val_frac: float = 0.2,
        val_seed: int = 0,
        early_stop: bool = False,
        keep_best: bool = True,
        polish: int | None = None,
        **kwargs: Any,
    ):
        if not isinstance(model, KAN):
            raise TypeError(f"model must be a kan_widget.KAN; got {type(model).__name__}")
        if not is_int(n_points) or not 2 <= n_points <= 1000:
            raise ValueError(f"n_points must be an int in 2..1000; got {n_points!r}")
        if not (isinstance(val_frac, (int, float)) and 0 <= val_frac < 1):
            raise ValueError(
                f"val_frac must be a number in [0, 1) (0: no validation rows); got {val_frac!r}"
            )
        width = model.width_in  # node counts (model.width is [2, [5, 2], 1] with products)
        data = check_dataset(dataset, width[0], width[-1], dtype=model.dtype, device=model.device)
        # the widget trains on (1 - val_frac) of the training rows; the rest only watch for
        # overfitting and pick the best step (the test rows judge, they never choose)
        self._data, _ = mx.split_validation(
            data, float(val_frac), require_int("val_seed", val_seed)
        )
        data = {k: v for k, v in self._data.items() if not k.startswith("val_")}
        self._n_out, self._dtype = width[-1], model.dtype
        if polish is not None:
            kwargs["polish"] = polish
        if data.get("in_vars") is not None:  # your own table: its defaults, unless given
            for name, value in TABLE_DEFAULTS.items():
                kwargs.setdefault(name, value)
        # Train's last steps without the penalty on the kept edges (Runner; messages.py)
        polish = kwargs.pop("polish", POLISH_STEPS)
        # the problem type: from the labels, unless the caller names one (switchable later)
        self._problem = kwargs.setdefault("problem", cv.detect(data["train_label"], width[-1]))
        err = check_hparam("problem", self._problem) or self._problem_error(self._problem)
        if err:
            raise ValueError(err)
        self._use_problem(self._problem)
        if not isinstance(early_stop, bool):
            raise ValueError(f"early_stop must be True or False; got {early_stop!r}")
        self._early_stop = early_stop
        if not isinstance(keep_best, bool):
            raise ValueError(f"keep_best must be True or False; got {keep_best!r}")
        self._keep_best = keep_best
        if not is_int(polish) or polish < 0:
            raise ValueError(f"polish must be an int >= 0 (0: no polish); got {polish!r}")
        self._run_hp: dict = {}  # the penalty weights the current run started with
        self._stopped_early: int | None = None  # the best step, once a run stopped for it
        self._watch = mx.OverfitWatch()
        self._cut_outputs = mx.CutOutputs()
        self._watch_model: KAN | None = None  # the model object the watch has followed
        self._spline_test: float | None = None  # the splines' test RMSE before Symbolify
        # Symbolify's before/after, per model: the model Symbolify made and those trained on from
        # it (training in place; keep_best, early stop and Back to best install a copy of the
        # same session) carry it, so the status describes the current model's lineage and
        # Undo/Redo bring it back with the model; any other change starts a model without it
        self._symbolify_of: weakref.WeakKeyDictionary[KAN, dict] = weakref.WeakKeyDictionary()
        # fixed edges that leave their range just past their data (of the model checked last)
        self._wild: tuple[KAN | None, list[tuple[int, int, int, str]]] = (None, [])
        # a table's column names (create_dataset_from_data) unless the caller names them
        in_vars = data.get("in_vars") if in_vars is None else in_vars
        out_vars = data.get("out_vars") if out_vars is None else out_vars
        self._in_vars = _names(in_vars, width[0], "in_vars", "x")
        self._out_vars = _names(out_vars, width[-1], "out_vars", "y")
        # the input square's drawing: node pictures for any two-input model; the decision
        # boundary / confusion matrix too for labels that can be classes
        if self._problem_error("classification") is None:
            cdata = cv.problem_data(self._data, "classification", width[-1], model.dtype)
            self._class_view = cv.ClassView(cdata, width[-1], self._in_vars)
        else:
            self._class_view = cv.ClassView(self._data, width[-1], self._in_vars, classes=False)
        # a bounded, evenly spread subset keeps each push's forward pass cheap on big data
        rows = slice(None, None, -(-data["train_input"].shape[0] // VIEW_ROWS))
        self._train_x = data["train_input"]
        self._x = data["train_input"][rows]
        self._view_rows = rows
        view = {"train_input": self._x, "train_label": self._pdata["train_label"][rows]}
        self._n_points = int(n_points)
        self._op_lock = threading.RLock()
        self._hp_lock = threading.Lock()
        self._discover_stop = threading.Event()
        self._initial_width = model.width
        self._initial_arity = model.mult_arity
        self._initial_config = model.config  # a frozen KANConfig: Reset rebuilds from it
        self._initial_metric = model.reg_metric
        self._history: History[KAN] = History()
        self._step_count = 0
        self.history: dict[str, list] = new_losses()
        self._box: ipw.VBox | None = None
        self._hp: dict[str, Any] = {}
        self._model = model
        # scores and curve ranges always come from this widget's training data
        model.score_edges(self._train_x)
        super().__init__(**kwargs)
        with self._hp_lock:
            self._hp.update({name: getattr(self, name) for name in HPARAMS})
        self._runner = Runner(
            get_model=lambda: self.model,
            data=data,
            hparams=self._hparams,
            on_step=self._on_step,
            push=self._push_tick,
            on_end=self._on_train_end,
            polish=int(polish),
        )
        self._plots = Plots(view, self._in_vars, self._out_vars, problem=self._problem)
        self._pub = Publisher(
            self,
            self._plots,
            get_model=lambda: self.model,
            model_status=self._model_status,
            metrics=self._fresh_metrics,
            losses=self.history,
            x=self._x,
            n_points=self._n_points,
            in_vars=self._in_vars,
            out_vars=self._out_vars,
            model_lock=self._runner.model_lock,
            extra=self._class_traits,
        )
        # button commands run in order on their own thread, never in the comm handler
        self._commands = CommandQueue(self._run_command)
        # NB: not `_handle_custom_msg`, which is ipywidgets' dispatcher (browser-tests.md #4)
        self.on_msg(self._on_frontend_msg)
        _route_to_sender(self.comm)
        self.formula = self._pub.formula()  # the model may arrive with symbolic edges
        self._pub.status["problem"] = self._problem
        self._publish_model(message="ready")

    @t.default("spec")
    def _spec_default(self) -> dict:
        return messages.spec()

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
        if not err and proposal["trait"].name == "problem" and "_data" in self.__dict__:
            err = self._problem_error(proposal["value"])
        if err:
            raise t.TraitError(err)
        return proposal["value"]

    @t.observe(*HPARAMS)
    def _hparam_changed(self, change):
        with self._hp_lock:
            self._hp[change["name"]] = change["new"]
        if change["name"] == "problem" and "_pub" in self.__dict__:
            self._switch_problem(change["new"])
        if change["name"] == "opt":
            # an LBFGS learning rate of 1.0 would blow Adam up at once; keep a tuned lr though.
            # (In the constructor traitlets reports no old value: that is the class default.)
            old = change["old"] if change["old"] in DEFAULT_LR else HPARAMS["opt"].default
            if self.lr == DEFAULT_LR[old]:
                self.lr = DEFAULT_LR[change["new"]]

    def _objective_hp(self) -> dict:
        """The hyperparameters that define what training minimises (penalty weights)."""
        hp = self._hparams()
        return {k: v for k, v in hp.items() if k.startswith("lamb")}

    def _hparams(self) -> dict:
        with self._hp_lock:
            return dict(self._hp)

    def set_state(self, sync_data):
        """Front-end trait updates: invalid hyperparameters are rejected here, before anything
        changes; the old value is sent back so the slider jumps back, and the reason is shown."""
        accepted, rejected, errors = check_state(sync_data)
        if accepted:
            try:
                super().set_state(accepted)
            except t.TraitError as e:
                rejected.extend(k for k in accepted if k in HPARAMS)
                errors.append(str(e))
        if rejected:
            self.send_state(rejected)
            self._set_status(error="; ".join(errors))

    # ------------------------------------------------------------------ problem type
    def _problem_error(self, problem: str) -> str | None:
        """Why the labels cannot be treated as ``problem`` (None if they can)."""
        if problem != "classification":
            return None
        err = cv.can_classify(self._data["train_label"], self._n_out)
        return None if err is None else f"problem cannot be 'classification': {err}"

    def _use_problem(self, problem: str) -> None:
        """The labels of every split in ``problem``'s form, and what depends on them."""
        self._problem = problem
        self._pdata = cv.problem_data(self._data, problem, self._n_out, self._dtype)
        self._stds = {
            s: float(((y - y.mean(dim=0, keepdim=True)).double() ** 2).mean().sqrt())
            for s in ("train", "val", "test")
            if (y := self._pdata.get(f"{s}_label")) is not None and y.numel() and y.dim() == 2
        }

    def _switch_problem(self, problem: str) -> None:
        """The ``problem`` trait changed: the loss, the numbers and the pictures follow; the
        loss curve starts afresh (its numbers meant the other loss)."""
        with self._op_lock:
            self._paused()
            self._use_problem(problem)
            self._runner.forget_trainer()
            for v in self.history.values():
                v.clear()
            self._watch.reset()
            self._watch_model = None
            view = {
                "train_input": self._x,
                "train_label": self._pdata["train_label"][self._view_rows],
            }
            self._plots.set_problem(problem, view)
            with self._pub.lock:
                self._pub.status["problem"] = problem
            self._publish_model(f"problem: {problem}")

    def _class_traits(self, model: KAN, live: bool) -> dict:
        """The input square's traits for a push: every node's picture for two inputs (either
        problem type) and, for a classification, the boundary, points and confusion."""
        view = self._class_view
        classify = self._problem == "classification"
        grid, nodes = view.frame(model, probabilities=classify)  # one forward pass draws both
        out: dict[str, Any] = {"class_grid": grid, "class_nodes": nodes}
        if not live or not classify or view.n_in == 2 or self._pub.fit_due():
            out["classify"] = view.info(model, self._problem)
        if not self.class_points:
            out["class_points"] = view.points()
        return out

    # ------------------------------------------------------------------ status and pushes
    def _set_status(self, **changes: Any) -> None:
        self._pub.set_status(**changes)

    def _model_status(self) -> dict:
        return {
            "step": self._step_count,
            "n_edge": self.model.n_edge,
            "n_params": self.model.n_params,
            "can_undo": self._history.can_undo,
            "can_redo": self._history.can_redo,
        }

    def _split_sizes(self) -> dict:
        return {
            f"n_{s}": int(self._data[f"{s}_input"].shape[0]) if f"{s}_input" in self._data else 0
            for s in ("train", "val", "test")
        }

    def _r2(self, split: str, rmse: float | None) -> float | None:
        std = self._stds.get(split)
        if rmse is None or not std:
            return None
        return 1.0 - (rmse / std) ** 2  # pooled over outputs, as metrics.evaluate

    def _honest(self, m: dict) -> dict:
        """Status fields derived from metrics ``m`` of the current model: R^2, notes, best step."""
        watching = self._watch_model is self.model
        since = self._watch.since if watching else None
        spline = self._spline_test if fmt.has_symbolic(self.model) else None
        out: dict[str, Any] = {k: fmt.finite(v) if v is not None else None for k, v in m.items()}
        classify = self._problem == "classification"
        for split in ("train", "val", "test"):
            if out.get(f"{split}_r2") is None and not classify:  # R² is a regression's
                out[f"{split}_r2"] = self._r2(split, out.get(f"{split}_loss"))
            if not classify:
                out[f"{split}_acc"] = None
        std = None if classify else self._stds.get("test")
        wild = self._wild[1] if self._wild[0] is self.model else []
        cut = self._cut_outputs(self.model)  # recomputed only when a mask changed
        out["notes"] = mx.notes(
            {**out, "test_std": std},
            overfit_since=since,
            spline_test=spline,
            wild_edges=wild,
            cut_outputs=[self._out_vars[i] for i in cut],
        )
        out.pop("test_std", None)
        out["best_step"] = self._watch.best_step if watching else None
        out["can_back_to_best"] = watching and self._watch.best_state is not None
        out["symbolify"] = self._symbolify_of.get(self.model)
        return {**out, **self._split_sizes()}

    def _fresh_metrics(self) -> dict:
        """The status fields of the current model, evaluated now on every split."""
        with self._runner.model_lock:
            m = self._evaluate(self.model)
            # training moves fixed edges' (a, b, c, d): re-check the extrapolation guard
            wild = []
            if fmt.has_symbolic(self.model):
                from ..symbolic.extrapolate import wild_fixed  # sympy: with the first fixed edge

                wild = wild_fixed(self.model, self._train_x)
            self._wild = (self.model, wild)
        return self._honest(m)

    def _evaluate(self, model: KAN) -> dict:
        """Each split's loss (RMSE, or cross-entropy for a classification) and R² or accuracy."""
        if self._problem == "classification":
            return cv.class_metrics(model, self._pdata)
        return mx.evaluate(model, self._pdata)

    def _tick_metrics(self) -> dict:
        """The status fields of a live tick, from the last step's losses (no extra forward)."""
        h = self.history
        m = {
            k: fmt.finite(h[k][-1]) if h[k] and h[k][-1] is not None else None
            for k in ("train_loss", "val_loss", "test_loss", *ACC_KEYS)
        }
        return self._honest(m)

    def _publish_model(self, message: str, bump: bool = False, force: bool = False) -> None:
        self._pub.publish_model(message, bump=bump, force=force)

    # --- called on the training thread
    def _on_step(self, m: dict) -> None:
        self._record_step(m, self.model, watch=True)

    def _record_step(self, m: dict, model: KAN, watch: bool) -> None:
        """One training step of ``model`` onto the loss curve (``m``: the trainer's metrics);
        ``watch``: ``model`` is the widget's own, so the overfitting watch follows it (not
        for Discover's steps, whose models are candidates)."""
        self._step_count += 1
        if watch and self._watch_model is not model:  # a new model: a new session to watch
            self._watch.reset()
            self._watch_model = model
        val = val_acc = None
        classify = self._problem == "classification"
        if classify:  # the widget shows the cross-entropy itself, fit records its square root
            m = {**m, **{k: m[k] ** 2 for k in ("train_loss", "test_loss") if m.get(k) is not None}}
        if "val_input" in self._data:
            with self._runner.model_lock:
                if classify:
                    x, y = self._pdata["val_input"], self._pdata["val_label"]
                    got = cv.class_metrics(model, {"val_input": x, "val_label": y})
                    val, val_acc = got["val_loss"], got["val_acc"]
                else:
                    val, _ = mx.rmse_r2(model, self._pdata["val_input"], self._pdata["val_label"])
        if watch and "val_input" in self._data:
            self._watch.update(model, self._step_count, val, m.get("train_loss"))
            if self._early_stop and self._watch.overfitting and self._stopped_early is None:
                self._stopped_early = self._watch.best_step
                self._runner.stop(wait=False)  # the loop ends after this step
        record_losses(self.history, self._step_count, {**m, "val_loss": val, "val_acc": val_acc})

    def _push_tick(self) -> float:
        """A live update from the training thread; returns the gap to leave before the next."""
        t0 = time.perf_counter()
        if self._hparams()["lamb"] == 0:
            # with lambda = 0 the trainer skips the per-edge statistics, so scores would freeze.
            # Not score_edges(): that would also make the view rows the model's train_input.
            with self._runner.model_lock, torch.no_grad():
                _, stats = self.model.forward_stats(self._x)
                self.model.set_scores(stats)
        self._pub.send_buffers(
            {
                "running": True,
                **self._pub.loss_status(self._runner.steps_per_s),
                **self._tick_metrics(),
            },
            live=True,
        )
        return self._pub.next_gap(time.perf_counter() - t0)

    def _on_train_end(self, error: BaseException | None) -> None:
        def rescore():  # as fit() does: leave scores computed on the training data
            with self._runner.model_lock:
                self.model.score_edges(self._train_x)

        self._pub.train_ended(error, self._step_count, self._runner.steps_per_s, rescore)
        if error is None and self._stopped_early is not None:
            self._restore_after_early_stop()
        elif error is None and self._keep_best and self._watch_model is self.model:
            w = self._watch
            step, val, last_val, last_train = w.best_step, w.best_val, w.last_val, w.last_train
            if step is not None and step != self._step_count and last_val is not None:
                # only where the run overfitted: validation above its best while the training
                # loss went below its value there, under one objective: a run whose penalty
                # was moved mid-run (the user steering) is not undone behind their back.
                same = self._run_hp == self._objective_hp()
                if same and val < last_val and last_train is not None and last_train < w.best_train:
                    self._restore_after_early_stop(
                        f"kept the best validation step {step} of steps up to "
                        f"{self._step_count} (validation RMSE {val:.3g}, last step "
                        f"{last_val:.3g}; Undo returns to step {self._step_count})"
                    )

    def _restore_after_early_stop(self, message: str | None = None) -> None:
        """On the training thread, after a run stopped because the validation loss rose: make
        the best step's model current (undoable). Skipped if another operation holds the op
        lock: it is about to replace the model anyway (and may be waiting for this thread)."""
        st = self._watch.best_state if self._watch_model is self.model else None
        if st is None or not self._op_lock.acquire(blocking=False):
            return
        try:
            step, val, last = self._watch.best_step, self._watch.best_val, self._step_count
            with self._runner.model_lock:
                new = self.model.copy()
                new.restore(st)
                new.score_edges(self._train_x)
            self._replace(
                new,
                message
                or f"stopped early at step {last}: validation loss rising since step {step}; "
                f"back to step {step} (validation RMSE {val:.3g}; Undo returns to step {last})",
                same_session=True,
            )
        finally:
            self._op_lock.release()

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
            # keep_best compares runs of one objective: taken before the status says
            # "running", so a slider moved once the user sees the run going always counts as
            # steering (taken after, a move racing this line made a steered run look unsteered
            # and keep_best swapped it for its best step behind the user's back)
            self._run_hp = self._objective_hp()
            self._stopped_early = None
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
        """Stop training after the current step, and drop a Train or Step that the buttons
        queued and that has not started yet; with ``wait`` (default) return once stopped."""
        self._commands.discard(lambda c: c.type in ("train", "step"))
        self._discover_stop.set()  # a running discover() ends after its current step
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
        """One optimiser step (blocking). ``False`` (and a note in ``status.message``) if
        training is running."""
        if self.train(1, block=True):
            return True
        self._set_status(message="training is running: pause first to step")
        return False

    # ------------------------------------------------------------------ structural operations
    def _paused(self) -> bool:
        """Stop training before changing the model; returns whether it was running."""
        was = self._runner.running
        self._runner.stop(wait=True)
        return was

    @contextlib.contextmanager
    def _changing(self, resume: bool):
        """Hold ``_op_lock`` with training paused; afterwards, if the block did not raise, resume
        training if it was running and ``resume`` is set."""
        with self._op_lock:
            was = self._paused()
            yield
            if resume and was:
                self.train()

    def _replace(self, new: KAN, message: str, same_session: bool = False) -> None:
        """Make ``new`` current, undoably; ``same_session``: ``new`` is a step of the current
        model's training (keep_best, early stop, Back to best), so it keeps Symbolify's
        before/after."""
        old = self.model
        self._history.record(old)
        info = self._symbolify_of.get(old) if same_session else None
        self._install(new, message, symbolify=info)

    def _install(self, model: KAN, message: str, symbolify: dict | None = None) -> None:
        self._model = model
        if symbolify is not None:
            self._symbolify_of[model] = symbolify
        self._runner.forget_trainer()
        with self._pub.lock:
            self._pub.status["error"] = None  # sent with the rest below, in one message
        self._publish_model(message, bump=True)

    def rebuild(self, new: KAN, message: str) -> None:
        """Replace the model by ``new`` (another shape, say) as one undoable step; Reset then
        rebuilds ``new``'s width and config. The hyperparameters stay as they are."""
        with self._op_lock:
            self._paused()
            new.score_edges(self._train_x)
            self._initial_width = list(new.width)
            self._initial_config = new.config
            self._replace(new, message)

    def reset(self) -> None:
        """A freshly initialised model with the original width and config (undoable); clears
        the loss history and the step count."""
        with self._op_lock:
            self._paused()
            new = self._fresh_model()
            self._step_count = 0
            for v in self.history.values():
                v.clear()
            self._watch.reset()
            self._watch_model = None
            self._spline_test = None
            self._replace(new, "reset")

    def _fresh_model(self) -> KAN:
        m = KAN.from_config(
            self._initial_config,
            self._initial_width,
            device=self._x.device,
            mult_arity=self._initial_arity,
        )
        m.reg_metric = self._initial_metric
        m.score_edges(self._train_x)
        return m

    def prune(self, theta: float | None = None, resume: bool = False) -> KAN:
        """Prune nodes and edges scoring at most ``theta`` (default ``self.theta``); returns the
        new model, which becomes ``self.model``."""
        th = self.theta if theta is None else theta
        err = check_hparam("theta", th)
        if err:
            raise ValueError(err)
        with self._changing(resume):
            old = self.model.width
            new = self.model.prune(node_th=th, edge_th=th)
            self._replace(new, f"pruned {old} -> {new.width}")
            return new

    def prune_input(self, threshold: float | None = None, resume: bool = False) -> KAN:
        """Drop the inputs whose attribution score (pykan's ``feature_score``) is at most
        ``threshold`` (default ``self.input_theta``), undoably; returns the new model, which
        takes the widget's data as it is (its ``input_id`` picks the kept columns)."""
        th = self.input_theta if threshold is None else threshold
        err = check_hparam("input_theta", th)
        if err:
            raise ValueError(err)
        with self._changing(resume):
            old = self.model
            old.score_edges(self._train_x)  # feature scores on this widget's training rows
            new = old.prune_input(th)
            new.score_edges(self._train_x)
            dropped = [n for n in input_names(old, self._in_vars) if n not in self._names(new)]
            self._replace(new, f"dropped input{'' if len(dropped) == 1 else 's'} {dropped}")
            return new

    def _names(self, model: KAN) -> list[str]:
        return input_names(model, self._in_vars)

    def remove_edge(self, l: int, i: int, j: int, resume: bool = False) -> None:
        """Remove edge ``(l, i, j)`` (pykan's ``remove_edge``), undoably."""
        l, i, j = self.model.check_edge(l, i, j)
        with self._changing(resume):
            new = self.model.copy()
            new.remove_edge(l, i, j)
            self._replace(new, f"edge ({l},{i},{j}) removed")

    def start_from_formula(self, formula: str, resume: bool = False) -> KAN:
        """Replace the model by one whose edges compute ``formula`` (text such as
        ``"exp(sin(pi*x) + y^2)"`` in the widget's input names; :func:`kan_widget.kanpiler`),
        undoably; the new model has the grid, k and options of the current one."""
        if self.model.width_in[-1] != 1:
            raise ValueError("start from a formula needs a model with one output")
        cfg = self.model.config
        names = self._in_vars
        new = kanpiler(names, formula, grid=cfg.grid, k=cfg.k, seed=cfg.seed, base_fun=cfg.base_fun)
        new.reg_metric = self.model.reg_metric
        new.score_edges(self._train_x)
        with self._changing(resume):
            self._replace(new, f"started from {formula} ({new.width})")
        return new

    def refine(self, grid: int, resume: bool = False) -> KAN:
        """Move every edge to a grid of ``grid`` intervals (same functions, more knots)."""
        grid = require_int("grid", grid, low=1)
        with self._changing(resume):
            new = self.model.refine(grid)
            self._replace(new, f"refined to grid {grid}")
            return new

    def auto_symbolic(
        self,
        lib=None,
        resume: bool = False,
        *,
        r2_threshold: float | None = None,
        weight_simple: float | None = None,
        **kwargs: Any,
    ):
        """Fix every edge whose best library function fits with r^2 >= ``r2_threshold`` to that
        function; the other edges stay splines (drawn as such, and named ``phi_l_i_j`` in the
        formula). Then update the formula and show the losses before and after.

        ``lib``, ``r2_threshold`` and ``weight_simple`` default to the widget's controls
        (``self.sym_lib`` preset, ``self.r2_threshold``, ``self.weight_simple``), not to pykan's
        0.0 threshold: the widget fixes only edges that fit well. Returns what the engine's
        ``auto_symbolic`` returns (the fixed edges).
        """
        th = self.r2_threshold if r2_threshold is None else r2_threshold
        ws = self.weight_simple if weight_simple is None else weight_simple
        for name, v in (("r2_threshold", th), ("weight_simple", ws)):
            err = check_hparam(name, v)
            if err:
                raise ValueError(err)
        if lib is None:
            preset = SYM_PRESETS[self.sym_lib]
            lib = None if preset is None else list(preset)
        with self._changing(resume):
            # fitting every edge takes seconds: say so before the kernel goes quiet
            n = sum(int(layer.numeric_mask().sum()) for layer in self.model.layers)
            self._set_status(
                message=f"symbolifying: fitting {n} edge{'' if n == 1 else 's'}", error=None
            )
            before = self._fresh_metrics()
            new = self.model.copy()
            result = new.auto_symbolic(lib=lib, r2_threshold=th, weight_simple=ws, **kwargs)
            after = self._evaluate(new)
            if not fmt.has_symbolic(self.model):
                self._spline_test = before["test_loss"]
            kept = sum(int(layer.numeric_mask().sum()) for layer in new.layers)
            info = {
                "before": {k: before[k] for k in ("train_loss", "test_loss")},
                "after": {k: fmt.finite(after[k]) for k in ("train_loss", "test_loss")},
                "fixed": len(result),
                "kept": kept,
                "r2_threshold": float(th),
                "step": self._step_count,  # the numbers are of then: training may follow
            }
            self._history.record(self.model)
            self._install(
                new,
                f"symbolified {len(result)} edge{'' if len(result) == 1 else 's'} "
                f"(r² ≥ {th:g}); {kept} kept as spline{'' if kept == 1 else 's'}",
                symbolify=info,
            )
            return result

    def discover(self, restarts: int = 3, **kwargs: Any) -> DiscoverResult:
        """Run :func:`kan_widget.discover.discover` on the widget's data (chosen on its
        validation rows; ``lamb``, ``steps``, ``r2_threshold`` and the library default to the
        widget's controls; ``kwargs`` as discover's). Every training step of the run goes onto
        the loss curve as a Train step does (the status line: the stage, step i of n, the
        loss; the drawing stays the current model until the end) and :meth:`stop` (the Pause
        button) ends it after the current step. Every candidate goes into the undo history and
        the chosen one becomes the model. Blocks; the button runs it off the main thread."""
        # the old model and every candidate but the chosen one go into the undo history
        if is_int(restarts) and 2 * restarts > self._history.limit:
            raise ValueError(
                f"restarts={restarts} makes {2 * restarts} candidates, but the undo history "
                f"keeps {self._history.limit} models: use at most {self._history.limit // 2} "
                "restarts here (or model.discover() outside the widget)"
            )
        preset = SYM_PRESETS[self.sym_lib]
        opts = {"lamb": self.lamb, "steps": self.steps, "r2_threshold": self.r2_threshold}
        opts["lib"] = None if preset is None else list(preset)
        pace = {"last": -math.inf, "gap": self._runner.push_interval, "t0": time.perf_counter()}
        n_steps = [0]

        def progress(stage: str, r: int, frac: float) -> None:
            if stage != "done":
                self._set_status(message=f"discover: restart {r + 1}/{restarts}, {stage}")

        def on_step(s: DiscoverStep) -> None:
            # on the command thread, as the runner's steps: the same curve, the same pacing
            self._record_step(s.metrics, s.model, watch=False)
            n_steps[0] += 1
            now = time.perf_counter()
            if now - pace["last"] < pace["gap"]:
                return
            pace["last"] = now
            rate = n_steps[0] / max(now - pace["t0"], 1e-9)
            status = {
                "running": True,
                "message": f"discover: {s.describe(restarts)}",
                **self._pub.loss_status(rate),
                **self._tick_metrics(),
            }
            self._pub.send_buffers(status, live=True)
            cost = time.perf_counter() - now
            pace["gap"] = max(self._runner.push_interval, self._pub.next_gap(cost))

        with self._changing(False):
            self._discover_stop.clear()
            self._set_status(running=True, error=None)  # so Pause shows and stops it
            try:
                res = self.model.discover(
                    self._data,
                    restarts,
                    **{**opts, **kwargs},
                    progress=progress,
                    stop=self._discover_stop.is_set,
                    on_step=on_step,
                )
            finally:
                # the numbers are the current model's again (the ticks showed the run's)
                self._set_status(running=False, **self._fresh_metrics())
            best = res.best
            if best is None:
                self._publish_model("discover stopped before any candidate")
                return res
            self._history.record(self.model)
            for c in res.candidates:
                c.model.score_edges(self._train_x)
                if c is not best:
                    self._history.record(c.model)
            how = "stopped; " if res.stopped else ""
            self._install(
                best.model,
                f"discover ({how}{len(res.candidates)} candidates): chose {best.summary()}",
            )
            return res

    def fix_symbolic(self, l: int, i: int, j: int, fun, resume: bool = False, **kwargs: Any):
        """Make edge ``(l, i, j)`` the function ``fun`` (a library name); returns the fit's r^2."""
        l, i, j = self.model.check_edge(l, i, j)
        with self._changing(resume):
            new = self.model.copy()
            r2 = new.fix_symbolic(l, i, j, fun, **kwargs)
            self._replace(new, f"edge ({l},{i},{j}) fixed to {fun}")
            return r2

    def unfix_symbolic(self, l: int, i: int, j: int, resume: bool = False) -> None:
        """Return edge ``(l, i, j)`` to its spline."""
        l, i, j = self.model.check_edge(l, i, j)
        with self._changing(resume):
            new = self.model.copy()
            new.unfix_symbolic(l, i, j)
            self._replace(new, f"edge ({l},{i},{j}) unfixed")

    def undo(self, resume: bool = False) -> bool:
        """Go back to the model before the last structural operation; ``False`` if none."""
        return self._travel(self._history.undo, "nothing to undo", "undone", resume)

    def redo(self, resume: bool = False) -> bool:
        """Re-apply the last undone operation; ``False`` if none."""
        return self._travel(self._history.redo, "nothing to redo", "redone", resume)

    def _travel(self, move, nothing: str, done: str, resume: bool) -> bool:
        with self._op_lock:
            was = self._paused()
            model = move(self.model)
            if model is None:
                self._set_status(message=nothing)
                return False
            self._install(model, done)
            if resume and was:
                self.train()
            return True

    def back_to_best(self, resume: bool = False) -> bool:
        """Replace the model by the one at the best validation step of the current training
        session (undoable); ``False`` (and a note) if there is none."""
        with self._op_lock:
            was = self._paused()
            st = self._watch.best_state if self._watch_model is self.model else None
            if st is None:
                self._set_status(
                    message="no best step to go back to: train with validation rows (val_frac > 0)"
                )
                return False
            new = self.model.copy()
            new.restore(st)
            new.score_edges(self._train_x)
            step, val = self._watch.best_step, self._watch.best_val
            self._replace(
                new, f"back to best: step {step} (validation RMSE {val:.3g})", same_session=True
            )
            if resume and was:
                self.train()
            return True

    def refresh(self) -> None:
        """Re-send the whole model state to the front end (also when nothing changed)."""
        self._publish_model("refreshed", force=True)

    # ------------------------------------------------------------------ inspection
    def inspect(self, l: int, i: int, j: int, topk: int = 5) -> dict:
        """Fill ``inspector`` for edge ``(l, i, j)``: its score, symbolic function, the best
        ``topk`` library candidates and up to 200 (x, phi(x)) points; returns the dict."""
        l, i, j = self.model.check_edge(l, i, j)
        self._set_status(message=f"fitting functions to edge ({l},{i},{j})", error=None)
        with self._runner.model_lock:
            # a private copy: the symbolic fit must not slow or race the training thread
            model = self.model.copy()
            score = float(model.edge_scores[l][j, i])
        points = snap.edge_points(model, self._x, l, i, j)
        present = bool(model.layers[l].mask[i, j] > 0)
        # a removed edge has no curve to fit: show it, with no candidates
        ranking = model.rank_symbolic(l, i, j, topk=topk) if present else []
        info = {
            "edge": [l, i, j],
            "score": fmt.finite(score),
            "symbolic": model.layers[l].sym_names.get((i, j)),
            "candidates": fmt.candidates(ranking),
            "points": len(points) // 8,
            # the spline edge's two terms at the same points: base (SiLU) and spline parts
            "parts": snap.edge_parts(model, self._x, l, i, j),
        }
        self._pub.assign({"inspector": info, "inspector_points": points})
        self._set_status(message=f"inspecting edge ({l},{i},{j})")
        return info

    # ------------------------------------------------------------------ formula
    def formula_sympy(self, simplify: bool = True, digits: int | None = None) -> list:
        """The current formula, one sympy expression per output, in ``in_vars``.

        Edges that are still splines appear as undefined functions ``phi_l_i_j(x)`` (see
        ``formula['complete']``). ``digits`` rounds and snaps numbers as
        :func:`kan_widget.symbolic.clean` does; ``None`` keeps full precision.
        """
        model = self.model
        return fmt.formula_sympy(model, self._names(model), simplify=simplify, digits=digits)

    # ------------------------------------------------------------------ front-end commands
    def _on_frontend_msg(self, _widget, content, _buffers) -> None:
        """Validate a command, then queue it, or run it at once if messages.COMMANDS says so
        (pause, refresh): the handler returns at once, so sliders, Pause and later commands
        are handled while a long one (symbolify, ...) runs on the command thread."""
        cmd, err = parse_command(content, self.model.width_in, self.model.width_out)
        if err:
            self._set_status(error=err)
            return
        assert cmd is not None  # parse_command returns a command or an error
        if COMMANDS[cmd.type].queued:
            self._commands.submit(cmd)
        else:
            self._run_command(cmd)

    def _run_command(self, cmd) -> None:
        """Run one command with the method messages.COMMANDS names; errors go to
        ``status.error`` (and a queued command's also to the queue's ``last_error``)."""
        entry = COMMANDS[cmd.type]
        try:
            if entry.busy:
                self._set_status(busy=entry.busy)
            handler = getattr(self, entry.handler)
            handler(*(cmd.fields[f] for f in entry.fields), **entry.kwargs)
        except BaseException as e:
            # a button must never raise into the kernel log where nobody sees it
            self._set_status(error=f"{cmd.type} failed: {describe_error(e)}")
            if entry.queued:
                raise  # the command thread keeps it in last_error and runs the next
        finally:
            if entry.busy:
                self._set_status(busy=None)

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


def _route_to_sender(comm) -> None:
    """Deliver front-end messages to the subshell the front end chose.

    ipykernel 7 routes a comm message to the subshell that last *published* on that comm
    (``BaseComm._reply_subshell_for``). Our training thread publishes under the parent of whatever
    request ran last, which is the cell blocked in ``w.train(block=True)``, so slider moves and
    Pause queued behind that very cell. The widget relies on no request/reply pairing, so the
    front end's own routing (a comm subshell, where JupyterLab enables them) is the right one.
    ipykernel has no public switch for this; it is the one private attribute set here.
    """
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = lambda data, default: default
