"""Training: a :class:`Trainer` that takes one optimiser step at a time, and pykan's ``fit``.

The trainer exists so that a caller on another thread (the widget) can change ``lamb`` and friends
between steps, stop within one step, and never see a half-updated or NaN model: every step starts
from a snapshot, and a step that produces a non-finite loss or parameter is rolled back.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import classification as cls
from .attribution import select_dataset
from .data import check_dataset
from .lbfgs import LBFGS
from .objective import loss_and_grad, tape_ok
from .regularizer import REG_METRICS, coef_penalty, edge_penalty
from .threads import OneThread, ThreadChoice, choice_for, thread_local_counts

__all__ = ["Diverged", "Trainer", "fit", "polish_frozen"]


class Diverged(RuntimeError):
    """A step produced a non-finite loss or parameters; the model was restored to the last finite
    state before this was raised."""


def _mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - y) ** 2)


OUTSIDE_GRID_TOL = 0.1
"""How far (a fraction of the grid's span) new training inputs may reach past the first layer's
grid, on a later fit without grid updates, before :class:`Trainer` warns."""


def _warn_outside_grid(model, z: torch.Tensor) -> None:
    """Warn when inputs ``z`` (network units) reach well past the first layer's grid.

    The model's scaling is fitted once, on the first fit's data (``KAN(normalize=...)``), and it
    must stay fixed: changing it would change what the trained network computes. Data that
    arrive in parts (continual learning) can then lie outside the grid the first part set, where
    a spline is zero; with ``update_grid=True`` the grid follows the data, without it nothing
    does, so this says so instead of training silently on the base function alone."""
    if z.numel() == 0:
        return
    layer = model.layers[0]
    k = layer.k
    g = layer.grid.detach()
    lo, hi = g[:, k], g[:, -k - 1]
    tol = OUTSIDE_GRID_TOL * (hi - lo)
    zmin, zmax = z.detach().amin(0), z.detach().amax(0)
    bad = ((zmin < lo - tol) | (zmax > hi + tol)).nonzero(as_tuple=True)[0].tolist()
    if not bad:
        return
    sc = model.scaling
    names = getattr(sc, "in_vars", None) if sc is not None else None
    c = bad[0]
    name = names[c] if names else f"input {c}"
    warnings.warn(
        f"{len(bad)} input column(s) ({name} first) reach outside the first layer's grid on this "
        f"fit (in the network's units [{float(zmin[c]):.3g}, {float(zmax[c]):.3g}] against "
        f"[{float(lo[c]):.3g}, {float(hi[c]):.3g}]): the model's scaling was fitted on the first "
        "fit's data and stays fixed, and update_grid=False keeps the grid where it is, so "
        "the splines are zero out there. Fit the scaling on the whole input range before the "
        "first fit (model.fit_scaling(x_all, y_all)), or use KAN(normalize=False) with a "
        "grid_range that covers every part of the data, or fit with update_grid=True",
        RuntimeWarning,
        stacklevel=4,
    )


class Trainer:
    """Step-by-step training of a KAN on a dataset dict.

    Hyperparameters (``lamb``, ``lamb_l1``, ``lamb_entropy``, ``lamb_coef``, ``lamb_coefdiff``,
    ``lr``) are plain attributes read at every step, so they may be changed between steps.
    """

    def __init__(
        self,
        model,
        dataset: dict,
        opt: str = "LBFGS",
        lr: float | None = None,
        lamb: float = 0.0,
        lamb_l1: float = 1.0,
        lamb_entropy: float = 2.0,
        lamb_coef: float = 0.0,
        lamb_coefdiff: float = 0.0,
        update_grid: bool = True,
        grid_update_num: int = 10,
        start_grid_update_step: int = -1,
        stop_grid_update_step: int = 50,
        batch: int = -1,
        loss_fn: Callable | None = None,
        reg_metric: str | None = None,
        track_scores: bool = False,
        seed: int = 0,
        max_iter: int = 20,
        problem: str | None = None,
    ):
        if opt not in ("LBFGS", "Adam"):
            raise ValueError(f"opt must be 'LBFGS' or 'Adam'; got {opt!r}")
        metric = reg_metric or model.reg_metric
        if metric not in REG_METRICS:
            raise ValueError(f"reg_metric must be one of {REG_METRICS}; got {metric!r}")
        if not isinstance(batch, int) or (batch != -1 and batch < 1):
            raise ValueError(f"batch must be -1 (full batch) or a positive int; got {batch!r}")
        self.model = model
        # after prune_input the original columns are accepted (pykan's x[:, input_id])
        dataset = select_dataset(model, dataset)
        self.data = check_dataset(
            dataset, model.width_in[0], model.width_in[-1], dtype=model.dtype, device=model.device
        )
        # "classification" or "regression" (kan_widget.classification), from the raw labels
        self.problem = _problem(dataset, self.data, model.width_in[-1], problem, model.dtype)
        classify = self.problem == "classification"
        model.reg_metric = metric
        model.train_input = self.data["train_input"]
        first = model.scaling is None
        if first:  # the first fit: the model's units (see KAN's normalize)
            names = [self.data.get(k) for k in ("in_vars", "out_vars")]
            y = self.data["train_label"]
            # classes, or a loss of the user's own: the labels keep their units
            own_units = classify or y.dim() == 1 or loss_fn is not None
            model.fit_scaling(self.data["train_input"], None if own_units else y, *names)
        # the data in the network's units (the same tensors where the scaling is the identity)
        scaling = model.scaling
        self._z = {}
        for split in ("train", "test"):
            x, y = self.data[f"{split}_input"], self.data[f"{split}_label"]
            # the test rows as a prediction sees them (held within the training range where
            # the scaling says so: model(x)'s test loss); the training rows as they are
            x = scaling.clip_inputs(x) if split == "test" else x
            self._z[f"{split}_input"] = scaling.inputs_to_model(x)
            self._z[f"{split}_label"] = y if classify else scaling.labels_to_model(y)
        if not first and not update_grid:
            _warn_outside_grid(model, self._z["train_input"])
        self.opt_name = opt
        self.lr = float(lr if lr is not None else (1.0 if opt == "LBFGS" else 1e-3))
        self.lamb, self.lamb_l1, self.lamb_entropy = lamb, lamb_l1, lamb_entropy
        self.lamb_coef, self.lamb_coefdiff = lamb_coef, lamb_coefdiff
        self.update_grid = update_grid
        # pykan divides by grid_update_num and fails when stop < num; we clamp to 1
        self.grid_update_freq = max(1, int(stop_grid_update_step / max(1, grid_update_num)))
        self.start_grid_update_step = start_grid_update_step
        self.stop_grid_update_step = stop_grid_update_step
        self.batch = batch
        # classification: cross-entropy (softmax for k outputs, on the logit for one)
        self.loss_fn = loss_fn or (cls.class_loss if classify else _mse)
        self.metric = metric
        self.track_scores = track_scores
        self.max_iter = max_iter
        self.steps_done = 0
        # per layer [in, out]: edges whose parameters the steps leave as they are (a polish,
        # see polish_frozen); None trains every parameter
        self._frozen: list[torch.Tensor] | None = None
        self._last_loss: float | None = None  # the previous step's training loss
        self._refitted = False  # whether the current step refitted the grids
        # hidden layers refitted without the grid floor for the rest of this trainer's steps,
        # and (step, layers) each time the floor was lifted (see _step)
        self._no_floor: set[int] = set()
        self.floor_lifted: list[tuple[int, tuple[int, ...]]] = []
        self._gen = torch.Generator().manual_seed(seed)
        self._optimizer: LBFGS | torch.optim.Adam  # set by _build_optimizer below
        # (objective key, L-BFGS's final (loss, gradient), the tensors the key names)
        self._carry: tuple | None = None
        self._params: list[torch.nn.Parameter] = []
        self._build_optimizer()

    @property
    def frozen(self) -> list[torch.Tensor] | None:
        """Per layer a bool ``[in, out]``: the edges whose spline parameters the steps leave as
        they are (a polish, see :func:`polish_frozen`); ``None`` trains every parameter."""
        return self._frozen

    @frozen.setter
    def frozen(self, masks: list[torch.Tensor] | None) -> None:
        if masks is not None:
            shapes = [(layer.in_dim, layer.out_dim) for layer in self.model.layers]
            if [tuple(m.shape) for m in masks] != shapes:
                raise ValueError(f"frozen needs one [in, out] mask per layer {shapes}")
            masks = [m.to(device=self.model.device, dtype=torch.bool) for m in masks]
        self._frozen = masks
        # L-BFGS's curvature pairs mix every coordinate: kept, they would move frozen edges
        # along directions the zeroed gradient knows nothing of (the line search then stalls)
        self._build_optimizer()

    # ------------------------------------------------------------------ optimiser
    def _build_optimizer(self) -> None:
        self._carry = None  # evaluations of the previous optimiser's parameters
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        if self.opt_name == "LBFGS":
            # ours, not torch's: torch's drops curvature pairs below a fixed 1e-10 (lbfgs.py)
            self._optimizer = LBFGS(
                self._params,
                lr=self.lr,
                history_size=10,
                max_iter=self.max_iter,
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-32,
                tolerance_change=1e-32,
                tolerance_ys=1e-32,
            )
        else:
            self._optimizer = torch.optim.Adam(self._params, lr=self.lr)

    def _check_params_current(self) -> None:
        # the model's parameters may have been replaced (restore, refine): rebuild the optimiser
        cur = [p for p in self.model.parameters() if p.requires_grad]
        if len(cur) != len(self._params) or any(a is not b for a, b in zip(cur, self._params)):
            self._build_optimizer()

    # ------------------------------------------------------------------ one step
    def _batch(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._z[f"{split}_input"], self._z[f"{split}_label"]
        if self.batch == -1 or self.batch >= x.shape[0]:
            return x, y
        idx = torch.randperm(x.shape[0], generator=self._gen)[: self.batch].to(x.device)
        return x[idx], y[idx]

    def step(self) -> dict[str, float]:
        """One optimiser step, run on one thread but for large products (:mod:`.threads`): on
        a machine whose cores are busy (a browser drawing the widget) the pool's wake-ups cost
        more than a second thread gains; the caller's thread count is back when it returns or
        raises. Whether its large products use the caller's threads is measured
        (:class:`~kan_widget.threads.ThreadChoice`, per model shape, batch and optimiser). See
        :meth:`_step`."""
        choice = self._thread_choice()
        par = True if choice is None else choice.pick()
        block = OneThread(par)
        self._refitted = False
        t0 = time.perf_counter()
        with block:
            out = self._step()
        if choice is not None and not self._refitted:  # a refit step is not like the others
            choice.record(par, time.perf_counter() - t0, block.large)
        return out

    def _thread_choice(self) -> ThreadChoice | None:
        """The shared timing of steps like this one's, ``None`` where there is nothing to
        choose (one thread asked for, counts not per thread, or not on the CPU)."""
        x = self._z["train_input"]
        if x.device.type != "cpu" or torch.get_num_threads() < 2 or not thread_local_counts():
            return None
        m = self.model
        rows = x.shape[0] if self.batch == -1 else min(self.batch, x.shape[0])
        shapes = tuple(tuple(p.shape) for p in self._params)
        return choice_for(
            ("step", self.opt_name, rows, shapes, x.dtype, x.device.type, id(type(m)))
        )

    def _step(self) -> dict[str, float]:
        """One optimiser step (for LBFGS up to ``max_iter`` inner iterations, as pykan).

        Returns ``{"step", "train_loss", "test_loss", "reg", "loss"}`` (losses as RMSE). On a
        non-finite loss or parameter, restores the state from before the step and raises
        :class:`Diverged`. Any other exception (KeyboardInterrupt included) also restores it.
        """
        model = self.model
        self._check_params_current()
        for g in self._optimizer.param_groups:
            g["lr"] = self.lr
        x, y = self._batch("train")
        step = self.steps_done
        snapshot = [p.detach().clone() for p in self._params]
        # coef is among the parameters snapshotted above; the knots are buffers
        grids = [layer.grid.clone() for layer in model.layers]
        lamb = float(self.lamb)
        need_stats = lamb > 0 or self.track_scores
        last: dict[str, Any] = {}

        metric = self.metric if need_stats else None
        coef_terms = lamb > 0 and bool(self.lamb_coef or self.lamb_coefdiff)
        custom_loss = None if self.loss_fn is _mse else self.loss_fn
        params = self._params
        frozen = self._frozen
        use_tape = tape_ok(model, metric, custom_loss, coef_terms)
        whole: list[int] = []  # layers whose every node this step's refit floored
        spread = 0.0

        def closure():
            # as after autograd, a parameter the objective does not use keeps no gradient
            for p in params:
                p.grad = None
            if use_tape:
                loss, l_pred, reg, stats = loss_and_grad(
                    model, x, y, metric, lamb, self.lamb_l1, self.lamb_entropy, custom_loss
                )
            else:
                if need_stats:
                    pred, stats = model.run_stats(x, self.metric)
                else:
                    pred, stats = model.run(x), None
                l_pred = self.loss_fn(pred, y)
                reg = pred.new_zeros(())
                if lamb > 0:
                    reg = edge_penalty(
                        [s.value for s in stats], self.metric, self.lamb_l1, self.lamb_entropy
                    )
                    if coef_terms:
                        reg = reg + coef_penalty(
                            [layer.coef for layer in model.layers],
                            self.lamb_coef,
                            self.lamb_coefdiff,
                        )
                loss = l_pred + lamb * reg
                loss.backward()
                l_pred, reg = l_pred.detach(), reg.detach()
            if frozen is not None:
                _zero_frozen_grads(model, frozen)
            last["l_pred"], last["reg"], last["stats"] = l_pred, reg, stats
            return loss

        try:
            if (
                self.update_grid
                and frozen is None  # a polish keeps every edge's grid (a refit moves them all)
                and step % self.grid_update_freq == 0
                and self.start_grid_update_step <= step < self.stop_grid_update_step
                and self._has_spline_edges()
            ):
                # the hidden-grid floor is for nodes the penalty switches off (KAN's doc)
                self._refitted = True
                whole = model._refit_grids(
                    x, min_span=None if lamb > 0 else 0.0, no_floor=self._no_floor
                )
                if whole:  # the predictions' spread before the step (see below)
                    spread = self._spread(x)
            if isinstance(self._optimizer, LBFGS):
                key = self._objective_key(lamb, need_stats, x, y)
                carry, self._carry = self._carry, None
                start = carry[1] if carry is not None and carry[0] == key else None
                loss = self._optimizer.step(closure, start=start)
                if not last:  # the step ended without evaluating: report the start point
                    closure()
                # the carry holds the batch and the model's tensors, so their ids stay theirs
                self._carry = (
                    self._objective_key(lamb, need_stats, x, y),
                    self._optimizer.final,
                    (x, y, *model.parameters(), *model.buffers(), *(frozen or ())),
                )
            else:
                loss = self._optimizer.step(closure)
            finite = bool(torch.isfinite(loss).all()) and all(
                bool(torch.isfinite(p).all()) for p in self._params
            )
        except BaseException:
            self._rollback(snapshot, grids)
            raise
        if not finite:
            self._rollback(snapshot, grids)
            prev = self._last_loss
            if self.problem == "classification" and prev is not None and prev < 1e-6:
                # separable classes: the cross-entropy's gradient vanishes as the logits grow,
                # and L-BFGS's curvature pairs of ~0 then give an unbounded step
                raise Diverged(
                    f"training stopped at step {step}: the cross-entropy had reached {prev:.2g} "
                    f"(every training row right by a wide margin), where the logits grow "
                    f"without bound and the next step overflowed; the model was kept at its "
                    f"last finite state. Train fewer steps, or set lamb > 0 to bound the logits."
                )
            raise Diverged(
                f"training diverged at step {step} (loss became {float(loss.detach()):.3g}); "
                f"the model was restored to its last finite state. Lower the learning rate "
                f"(lr={self.lr:g} now)."
            )
        if whole and self._went_constant(float(last["l_pred"]), x, y, spread):
            # The floor is for a node narrow next to its siblings (one the penalty switches
            # off). Here it widened every node of a layer, so the whole layer is small-scale
            # (the 4-variable toy's [4,5,5,1] starts with its second hidden layer 0.09-0.44
            # wide), the next layer's splines were left nearly linear over it, and the step
            # let the penalty silence the model. Undo the step; those layers follow pykan's
            # rule for the rest of the fit.
            self._rollback(snapshot, grids)
            self._no_floor.update(whole)
            self.floor_lifted.append((step, tuple(whole)))
            return self._step()
        if last.get("stats") is not None:
            model.set_scores(last["stats"])
        self.steps_done += 1
        with torch.no_grad():
            xt, yt = self._batch("test")
            pt = model.run(xt)
            test_loss = float(self.loss_fn(pt, yt))
            train_loss = float(last["l_pred"])
            # the losses reported in the data's units (the network trains in its own)
            train_user, test_user = (
                self._user_mse(x, y, train_loss),
                self._user_mse(pt, yt, test_loss, is_pred=True),
            )
        reg = float(last["reg"])
        self._last_loss = train_loss
        out = {
            "step": step,
            "train_loss": math.sqrt(max(train_user, 0.0)),
            "test_loss": math.sqrt(max(test_user, 0.0)),
            "reg": reg,
            "loss": train_loss + lamb * reg,
        }
        if self.problem == "classification":
            out.update(self.accuracies(pt, yt))
        return out

    def accuracies(self, test_pred=None, test_y=None) -> dict[str, float]:
        """``train_acc`` on every training row and ``test_acc`` (on ``test_pred`` against
        ``test_y`` if given, else on every test row) of the current model."""
        with torch.no_grad():
            xt, yt = self._z["train_input"], self._z["train_label"]
            out = {"train_acc": cls.accuracy(self.model.run(xt), yt)}
            if test_pred is None:
                test_y = self._z["test_label"]
                test_pred = self.model.run(self._z["test_input"])
            out["test_acc"] = cls.accuracy(test_pred, test_y)
        return out

    def _user_mse(self, a: torch.Tensor, y: torch.Tensor, mse: float, is_pred: bool = False):
        """``mse`` (in the network's units, of prediction ``a`` or of the model on inputs ``a``)
        in the data's units: unchanged without a scaling or with a custom ``loss_fn``."""
        scaling = self.model.scaling
        if scaling is None or scaling.out_identity or self.loss_fn is not _mse:
            return mse
        if len(scaling.out_scale) == 1:
            return mse * scaling.out_scale[0] ** 2
        pred = a if is_pred else self.model.run(a)
        s = torch.tensor(scaling.out_scale, dtype=pred.dtype, device=pred.device)
        return float(torch.mean(((pred - y) * s) ** 2))

    def _objective_key(self, lamb: float, need_stats: bool, x, y) -> tuple:
        """What the objective at the current parameters depends on, so an L-BFGS step may start
        from the previous step's final evaluation: the settings, the batch, and every parameter
        and buffer of the model, by identity (the carry keeps them alive) and version (an
        in-place edit moves the version; a grid update or a pruning, too)."""
        m = self.model
        tensors = (*m.parameters(), *m.buffers())
        return (
            lamb,
            need_stats,
            self.metric,
            self.lamb_l1,
            self.lamb_entropy,
            self.lamb_coef,
            self.lamb_coefdiff,
            self.loss_fn,
            None if self._frozen is None else tuple(id(f) for f in self._frozen),
            id(x),
            id(y),
            id(self._optimizer),
            tuple((id(t), t._version) for t in tensors),
            tuple(
                sorted(
                    (l, *e, n)
                    for l, layer in enumerate(m.layers)
                    for e, n in layer.sym_names.items()
                )
            ),
        )

    def _has_spline_edges(self) -> bool:
        # a grid update only moves splines; once every active edge is symbolic it changes nothing
        # the model computes, so skip its least-squares refits
        return any(layer.has_numeric_edges() for layer in self.model.layers)

    def _spread(self, x: torch.Tensor) -> float:
        """The model's predictions' RMS deviation from their mean on ``x``."""
        with torch.no_grad():
            return _label_std(self.model.run(x))

    def _went_constant(self, mse: float, x: torch.Tensor, y: torch.Tensor, before: float) -> bool:
        """Whether a regression step that ended at training MSE ``mse`` (inputs ``x``, labels
        ``y``, in the network's units) left the model no better than a constant (fit's
        silenced test) and cut its predictions' spread ``before`` the step tenfold or more:
        the step made the model constant (the 4-variable toy: 0.004-0.026 -> under 1e-4 of a
        label std 0.58), not one that has not learned yet (an Adam step barely moves it)."""
        if self.loss_fn is not _mse or self.problem == "classification":
            return False
        if not _no_better_than_constant(math.sqrt(max(mse, 0.0)), _label_std(y)):
            return False
        return self._spread(x) < 0.1 * before

    def _rollback(self, snapshot, grids) -> None:
        self._carry = None
        with torch.no_grad():
            for layer, g in zip(self.model.layers, grids):
                layer.grid = g
            for p, s in zip(self._params, snapshot):
                p.data = s
        # optimiser history refers to the failed trajectory
        self._build_optimizer()


POLISH_THETA = 0.01
"""An edge whose score is below this is left as it is by a polish (prune()'s default theta)."""


def polish_frozen(model, theta: float = POLISH_THETA) -> list[torch.Tensor]:
    """The edges a polish leaves as they are: per layer a bool ``[in, out]``, true where the
    edge's score (``model``'s current edge scores) is below ``theta``, the edges ``prune()``
    would cut.

    Why: the sparsity penalty biases the edges it keeps (the L1 part shrinks them, the entropy
    part pushes a node towards a single input: ``sqrt(1+x^2+y^2)`` stays 3.4% of its label
    spread away at lamb 0.01). Steps without the penalty remove that bias, but on every edge they
    also regrow the edges the penalty switched off, so ``prune()`` would then keep them. A
    polish trains only the edges above the threshold: the model the user sees is accurate, and
    it shows the same structure to ``prune()``."""
    if not theta >= 0:
        raise ValueError(f"polish theta must be a number >= 0; got {theta!r}")
    return [s < theta for s in model._ensure_scores()]


def _zero_frozen_grads(model, frozen: list[torch.Tensor]) -> None:
    """Zero the gradients of the frozen edges' spline parameters (their symbolic fits, if any,
    are left to train: a fixed edge has nothing a polish would undo)."""
    for layer, f in zip(model.layers, frozen):
        for p in (layer.coef, layer.scale_base, layer.scale_sp):
            if p.grad is not None:
                p.grad[f] = 0.0


def _problem(raw: Any, data: dict, n_out: int, problem: str | None, dtype) -> str:
    """The problem type of ``data`` (checked by check_dataset; ``raw`` the caller's dict), and
    ``data``'s labels put in its form (in place): ``None`` detects it (class indices are a
    classification, float labels a regression, as pykan); ``"classification"`` also takes one-hot
    rows or a 0/1 column; ``"regression"`` regresses class indices as one-hot rows."""
    if problem is not None and problem not in cls.PROBLEMS:
        raise ValueError(f"problem must be one of {cls.PROBLEMS} or None (detect); got {problem!r}")
    kind = problem or cls.detect_problem(raw["train_label"], n_out, one_hot=False)
    for split in ("train", "test"):
        y = data[f"{split}_label"]
        if kind == "classification":
            data[f"{split}_label"] = cls.prepare_labels(y, n_out, name=f"{split}_label")
        elif y.dim() == 1:  # class indices regressed: one-hot rows (pykan's MSE on them)
            data[f"{split}_label"] = torch.nn.functional.one_hot(y, n_out).to(dtype)
    return kind


class _Frames:
    """``fit(save_fig=True)``: one picture of the model per step in ``img_folder`` (pykan's
    ``{img_folder}/{step}.jpg``), drawn by ``model.plot``; without it, a warning once."""

    def __init__(self, model, folder, in_vars, out_vars, beta):
        self.model, self.folder = model, os.fspath(folder)
        self.kw = {"in_vars": in_vars, "out_vars": out_vars, "beta": beta}
        self.ok = callable(getattr(model, "plot", None))
        if not self.ok:
            warnings.warn(
                "fit(save_fig=True) writes no frames: this kan_widget has no model.plot() to "
                "draw them (the live KANWidget shows training instead)",
                RuntimeWarning,
                stacklevel=4,
            )

    def write(self, step: int) -> None:
        if not self.ok:
            return
        import matplotlib.pyplot as plt

        os.makedirs(self.folder, exist_ok=True)
        fig = self.model.plot(title=f"Step {step}", **self.kw)
        fig = fig if fig is not None else plt.gcf()
        try:
            fig.savefig(os.path.join(self.folder, f"{step}.jpg"), bbox_inches="tight", dpi=200)
        finally:
            plt.close(fig)


def _metric_value(v: Any) -> Any:
    """A ``metrics`` callable's result as pykan records it: a number (``.item()`` of a
    one-element tensor or array); anything else is kept as returned."""
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return v.item()
    if hasattr(v, "item") and getattr(v, "size", None) == 1:  # numpy scalars and arrays
        return v.item()
    return v


def fit(
    model,
    dataset: dict,
    opt: str = "LBFGS",
    steps: int = 100,
    log: int = 1,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    loss_fn: Callable | None = None,
    lr: float | None = None,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    batch: int = -1,
    metrics: Sequence[Callable] | None = None,
    save_fig: bool = False,
    in_vars: Sequence | None = None,
    out_vars: Sequence | None = None,
    beta: float = 3,
    save_fig_freq: int = 1,
    img_folder: str = "./video",
    singularity_avoiding: bool = False,
    y_th: float = 1000.0,
    reg_metric: str | None = None,
    display_metrics: Sequence[str] | None = None,
    callback: Callable[[int, dict], Any] | None = None,
    stop_event: threading.Event | None = None,
    verbose: bool = False,
    seed: int = 0,
    problem: str | None = None,
    polish: int = 0,
    polish_theta: float = POLISH_THETA,
) -> dict[str, Any]:
    """Train ``model`` on ``dataset``; pykan 0.2.8's ``fit`` signature and defaults.

    - ``opt``: ``"LBFGS"`` (lr 1.0, up to 20 inner iterations per step, as pykan) or ``"Adam"``
      (lr 1e-3).
    - ``lamb * (lamb_l1 * L1 + lamb_entropy * entropy)`` is added to the MSE; ``reg_metric``
      chooses the per-edge magnitude (default pykan's ``"edge_forward_spline_n"``; the paper's
      mean |phi| is ``"edge_mean_abs"``; see :mod:`kan_widget.regularizer`).
    - ``callback(step, metrics)`` runs after every step; returning ``False`` stops cleanly.
      ``stop_event`` (a ``threading.Event``) stops at the next step boundary.
    - ``metrics``: callables without arguments; each one's result is recorded after every step
      as a float under its ``__name__`` (pykan's ``results['train_acc'][-1]``).
    - ``singularity_avoiding``: symbolic edges train through pykan's forms of their functions
      capped at ``y_th`` near a singularity (:mod:`kan_widget.singular`).
    - ``save_fig``: after every ``save_fig_freq``-th step, ``model.plot(in_vars=..., out_vars=...,
      beta=..., title="Step n")`` is written to ``img_folder/n.jpg`` (pykan's video frames;
      the folder is made if needed). Nothing else is written to disk.
    - ``display_metrics``: accepted for pykan's signature (it chooses what pykan's progress bar
      shows); ``verbose=True`` prints every logged step's losses.

    - ``problem`` (ours): ``None`` detects it from the labels: 1-D integer class indices are a
      classification (cross-entropy on the logits: softmax for ``k`` outputs, binary on the
      logit for one output, labels 0/1), float labels a regression (MSE, pykan's);
      ``"classification"`` also takes one-hot rows (or a 0/1 column for one output);
      ``"regression"`` regresses class indices as one-hot rows. A ``loss_fn`` replaces the loss.
    - ``polish`` (ours, default 0: pykan's objective throughout): with ``lamb > 0`` the last
      ``polish`` of the ``steps`` steps run without the penalty and train only the edges whose
      score is at least ``polish_theta`` (prune()'s default theta; the others stay as they are,
      see :func:`polish_frozen`), so the penalty's bias is gone from the returned model and
      ``prune()`` sees the structure the penalty found. ``fit(steps=50, lamb=0.01, polish=10)``
      on ``sqrt(1+x^2+y^2)``: test RMSE 3.4% -> 0.1% of the label spread, prune() -> [2,1,1].

    Returns ``{"train_loss": [...], "test_loss": [...], "reg": [...]}`` (per step the square
    root of the loss, as pykan: the RMSE for a regression), for a classification
    ``"train_acc"`` and ``"test_acc"`` (fractions of rows classified right), plus one
    list per ``metrics`` callable, ``"stopped"``: why training ended early (or ``None``), and
    ``"floor_lifted"``: a tuple of ``(step, hidden layers)`` where the hidden-grid floor was
    lifted (see :class:`~kan_widget.model.KAN`'s ``grid_min_span``; usually empty). A
    diverging run stops, keeps its last finite parameters and warns.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an int >= 0; got {steps!r}")
    if save_fig and (not isinstance(save_fig_freq, int) or save_fig_freq < 1):
        raise ValueError(f"save_fig_freq must be an int >= 1; got {save_fig_freq!r}")
    if not isinstance(polish, int) or isinstance(polish, bool) or not 0 <= polish <= steps:
        raise ValueError(f"polish must be an int in 0..steps ({steps}); got {polish!r}")
    if not (isinstance(polish_theta, (int, float)) and polish_theta >= 0):
        raise ValueError(f"polish_theta must be a number >= 0; got {polish_theta!r}")
    frames = _Frames(model, img_folder, in_vars, out_vars, beta) if save_fig else None
    trainer = Trainer(
        model,
        dataset,
        opt=opt,
        lr=lr,
        lamb=lamb,
        lamb_l1=lamb_l1,
        lamb_entropy=lamb_entropy,
        lamb_coef=lamb_coef,
        lamb_coefdiff=lamb_coefdiff,
        update_grid=update_grid,
        grid_update_num=grid_update_num,
        start_grid_update_step=start_grid_update_step,
        stop_grid_update_step=stop_grid_update_step,
        batch=batch,
        loss_fn=loss_fn,
        reg_metric=reg_metric,
        seed=seed,
        problem=problem,
    )
    history: dict[str, Any] = {"train_loss": [], "test_loss": [], "reg": []}
    for f in metrics or []:
        history[f.__name__] = []
    # a classification's accuracies, unless the caller's metrics fill them (pykan's tutorials)
    acc_keys = cls.history_keys(history) if trainer.problem == "classification" else ()
    for key in acc_keys:
        history[key] = []
    history["stopped"] = None
    t0 = time.perf_counter()
    polish_from = steps - polish if lamb > 0 else steps
    for i in range(steps):
        if i == polish_from:  # the penalty's structure, scored on the training rows as prune()
            with OneThread():
                model.score_edges(trainer.data["train_input"])
            trainer.frozen = polish_frozen(model, polish_theta)
            trainer.lamb = 0.0
        if stop_event is not None and stop_event.is_set():
            history["stopped"] = "stop_event"
            break
        try:
            with model.singularity_avoiding(y_th if singularity_avoiding else None):
                m = trainer.step()
        except Diverged as e:
            warnings.warn(str(e), RuntimeWarning, stacklevel=3)
            history["stopped"] = str(e)
            break
        # np.float64, as pykan's 0-d arrays: a float that also has .item() (its tutorials call it)
        history["train_loss"].append(np.float64(m["train_loss"]))
        history["test_loss"].append(np.float64(m["test_loss"]))
        history["reg"].append(np.float64(m["reg"]))
        for key in acc_keys:
            history[key].append(np.float64(m[key]))
        for f in metrics or []:
            history[f.__name__].append(_metric_value(f()))
        if verbose and log and m["step"] % log == 0:
            print(
                f"step {m['step']:4d} | train {m['train_loss']:.3e} | test {m['test_loss']:.3e} "
                f"| reg {m['reg']:.3e} | {time.perf_counter() - t0:.1f}s"
            )
        if frames is not None and m["step"] % save_fig_freq == 0:
            frames.write(int(m["step"]))
        if callback is not None and callback(int(m["step"]), m) is False:
            history["stopped"] = "callback"
            break
    # (step, hidden layers) where the grid floor was lifted (Trainer._step); a tuple, as
    # the per-step series are the lists
    history["floor_lifted"] = tuple(trainer.floor_lifted)
    # scores for prune/plot/symbolic come from the training data, not the test set (pykan)
    with OneThread():
        model.score_edges(trainer.data["train_input"])
    if lamb > 0 and loss_fn is None and trainer.problem != "classification":
        _warn_if_silenced(history["train_loss"], dataset["train_label"], lamb)
    return history


SILENCED = 0.98
"""A penalised regression whose training RMSE ends at or above this fraction of the labels' std
fits no better than a constant (their mean, or a constant off it when the output is cut off):
most often the penalty won against the data, and ``fit`` says so."""


def _label_std(labels: torch.Tensor) -> float:
    """The labels' RMS deviation from their per-column mean: a constant model's RMSE."""
    y = labels.detach().double().reshape(labels.shape[0], -1)
    return float(((y - y.mean(dim=0, keepdim=True)) ** 2).mean().sqrt())


def _no_better_than_constant(rmse: float, std: float) -> bool:
    return std > 0 and math.isfinite(rmse) and rmse >= SILENCED * std


def silenced(train_rmse: Sequence[float], labels: torch.Tensor) -> bool:
    """Whether a penalised regression fit whose per-step training RMSE was ``train_rmse`` (fit's
    ``history["train_loss"]``, in the units of ``labels``) ended no better than a constant
    (:data:`SILENCED`). Runs under 10 steps and class labels are not judged (False)."""
    if len(train_rmse) < 10 or (labels.dim() == 1 and not labels.is_floating_point()):
        return False
    return _no_better_than_constant(float(train_rmse[-1]), _label_std(labels))


def _warn_if_silenced(train_rmse: list, labels: torch.Tensor, lamb: float) -> None:
    """Warn when a penalised fit ended predicting the labels' mean (pykan says nothing; a
    penalty too strong for the data ends there, and prune then removes every edge)."""
    if silenced(train_rmse, labels):
        last, std = float(train_rmse[-1]), _label_std(labels)
        warnings.warn(
            f"fit: the model fits no better than a constant: training RMSE {last:.3g} is "
            f"{100 * last / std:.0f}% of the labels' std {std:.3g}; if the penalty silenced the "
            f"model, train with a smaller lamb (e.g. lamb={lamb / 3:.2g}) or first without it",
            RuntimeWarning,
            stacklevel=4,
        )
