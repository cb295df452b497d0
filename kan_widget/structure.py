"""The smallest structure that fits: prune, then remove hidden nodes one at a time while a short
retraining shows the smaller model fits as well (``KAN.prune_minimal``).

Why not thresholds alone: ``prune()`` keeps every node whose score is above ``node_th``, and
whether a trained model has left one node or two alive depends on the seed, the grid and the
data draw (canonical example, grid 10: [2,2,1] or [2,3,1] in 5 of 10 seeds). Two live nodes can
share work one node could do (``exp(sin(pi*x)+y^2)`` split over two paths); no score of the
trained model can tell that apart from two nodes that are both needed. A retraining can: the
question asked is the user's own, "does the smaller model fit as well?".

Each trial takes one hidden node away (weakest score first): first folded into the strongest
node of its layer (:func:`merged_node`: an additive split over two nodes becomes one node),
then, if that does not fit, removed with its constant output carried into the next layer
(:func:`~kan_widget.pruning.carry_constants`); each start is retrained ``steps`` L-BFGS steps
without the penalty, and kept when its training RMSE is within tolerance of the best seen:
``rmse^2 <= ((1 + tol) * best)^2 + (atol * std(labels))^2``. The relative part alone is too
strict at a coarse grid: a [2,2,1] reaches 0.003 where [2,1,1] reaches 0.006 (two nodes have
twice the splines), while a needed node leaves 0.7; the absolute part says what a node must
explain to be kept (by default 1% of the labels' spread; ``atol=0`` keeps every node that
helps by more than ``tol``). Cost: one short fit per surviving hidden
node tried (two when the merge fails), after the first prune has removed the clearly dead
ones.

When no node's fold or removal fits, the smaller structure gets ``fresh`` new starts
(:func:`reinitialised`: the masks kept, the functions re-initialised) of ``fresh_steps`` steps
each before the search ends: at a fine grid the work can be split over nodes so that neither
a fold nor a removal starts near a fit, while a new start of the smaller structure does (in
about half the seeds, hence two).

Multiplication nodes (pykan's MultKAN): sum nodes fold into the strongest other sum node of
their layer as above (through pykan's node affine maps); a multiplication node is only ever
removed, and nothing folds into one: a product of subnodes is not a sum of edges, so no set of
incoming edges computes ``u*v + r*w``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from .validation import is_number

if TYPE_CHECKING:
    from .model import KAN

__all__ = ["merged_node", "prune_minimal", "without_node"]


def without_node(model: KAN, l: int, i: int) -> KAN:
    """A new model without hidden node ``i`` of layer ``l``, its constant output carried into
    the next layer (nothing else changed, nothing logged)."""
    width = model.width_in
    if not 0 < l < len(width) - 1:
        raise ValueError(f"layer {l} is not a hidden layer (1..{len(width) - 2})")
    if not 0 <= i < width[l] or width[l] < 2:
        raise ValueError(f"node ({l}, {i}) cannot be removed: layer {l} has {width[l]} nodes")
    keep = [torch.arange(w) for w in width]
    keep[l] = keep[l][keep[l] != i]
    return model._subset(keep, None, keep_constants=True)


def merged_node(model: KAN, l: int, i: int, j: int) -> KAN | None:
    """A new model in which hidden node ``i`` of layer ``l`` is folded into node ``j``: node
    ``j``'s incoming edges become ``phi_kj + r*phi_ki`` and node ``i`` is removed, with
    ``r`` the ratio of the two nodes' outgoing slopes (least squares over the training
    inputs), so where the outgoing edges are near-linear the model computes what it did.

    Why: removing a node throws its work away, and a short retraining rarely rebuilds it in
    another node (``sin(x) + y^2`` on [2,2,1]: 0.31 after removal and 20 steps); folding it in
    starts the smaller model where an additive structure already fits. None when an edge
    involved is symbolic (their sum is not one library function) and when ``i`` or ``j`` is a
    multiplication node: a product of subnodes is not a sum of edges, so ``u*v + r*(p*q)`` (or
    ``u*v + r*(a + b)``) has no form as one node's incoming edges; such a node can only be
    removed. Sum nodes of a model with multiplication nodes fold as in a plain model; pykan's
    node affine maps (``node = ns*(ss*S + sb) + nb``, ``S`` the edge sum) are accounted for: node
    ``i``'s edges enter node ``j``'s sum with the factor ``r*a_i/a_j``, ``a = ns*ss``."""
    x = getattr(model, "train_input", None)
    if x is None:
        return None
    n_sum = model._nodes[l].n_sum  # sum nodes come first in a layer of nodes
    if i >= n_sum or j >= n_sum:
        return None
    inc, out = model.layers[l - 1], model.layers[l]
    if bool(inc.sym_mask[:, [i, j]].any()) or bool(out.sym_mask[[i, j]].any()):
        return None
    # a sum node's value is a*S + c, S its edge sum (a = 1 without affine maps)
    a_i = a_j = 1.0
    if model.has_node_step:
        ss, _, ns, _ = (t.detach().double() for t in model._affine(l - 1))
        a_i, a_j = float(ns[i] * ss[i]), float(ns[j] * ss[j])
        if a_j == 0.0 or not math.isfinite(a_i / a_j):
            return None
    with torch.no_grad():
        h = model.activations(x)[l].double()  # [N, width[l]]: node values in network units
        g = out.edge_values(h.to(out.coef.dtype)).double()  # [N, n_l, n_out]
        hc = h - h.mean(0)
        var = (hc * hc).sum(0).clamp_min(1e-300)  # [n_l]
        slope = torch.einsum("n,no->o", hc[:, i], g[:, i] - g[:, i].mean(0)) / var[i]
        slope_j = torch.einsum("n,no->o", hc[:, j], g[:, j] - g[:, j].mean(0)) / var[j]
        den = float((slope_j * slope_j).sum())
        if not den > 0:
            return None
        # node j's new value a_j*(S_j + r*a_i/a_j*S_i) + c_j = node_j + r*(node_i - c_i)
        r = float((slope_j * slope).sum()) / den * a_i / a_j
        new = model.copy()
        a = new.layers[l - 1]
        m = a.mask.detach()
        sp = a.scale_sp.detach() * m
        sb = a.scale_base.detach() * m
        # phi_kj + r*phi_ki with scale_sp 1: the spline's coefficients carry both scales
        a.coef[:, j, :] = sp[:, j, None] * a.coef[:, j, :] + r * sp[:, i, None] * a.coef[:, i, :]
        a.scale_sp[:, j] = 1.0
        a.scale_base[:, j] = sb[:, j] + r * sb[:, i]
        a.mask[:, j] = torch.maximum(m[:, j], m[:, i])
        new._edge_scores = None
    keep = [torch.arange(w) for w in model.width_in]
    keep[l] = keep[l][keep[l] != i]
    # node i's constant is carried; node j's own change is what the retraining starts from
    small = new._subset(keep, None, keep_constants=False)
    small.update_grid()  # node j's values now span another range
    return small


def reinitialised(model: KAN, seed: int) -> KAN | None:
    """``model``'s structure (width, edge masks, scaling, input selection) with every edge's
    function as a new model of its config and ``seed`` starts it (coefficients, scales, knots).
    None for a model with symbolic edges, multiplication nodes or node affine maps (their
    functions are not all a new model's splines) or whose layers' grids differ from its
    config's."""
    if model.has_node_step or any(bool(layer.sym_mask.any()) for layer in model.layers):
        return None
    fresh = type(model).from_config(model.config.replace(seed=seed), model.width, model.device)
    if any(a.coef.shape != b.coef.shape for a, b in zip(model.layers, fresh.layers)):
        return None
    new = model.copy()
    with torch.no_grad():
        for a, b in zip(new.layers, fresh.layers):
            a.coef.copy_(b.coef)
            a.scale_base.copy_(b.scale_base)
            a.scale_sp.copy_(b.scale_sp)
            a.grid = b.grid.clone()  # the masks stay: the structure found is kept
    new._edge_scores = None
    return new


StepCallback = Callable[["KAN", int, dict], Any]


class _Stopped(Exception):
    pass


def _fresh_trial(
    current: KAN,
    trials: list[tuple[float, int, int]],
    fresh: int,
    steps: int,
    dataset: dict,
    callback: StepCallback | None,
) -> tuple[KAN, float] | None:
    """The best of ``fresh`` re-initialised starts of ``current`` without its weakest hidden
    node, each retrained ``steps`` steps. Why: where the work is split over nodes whose
    outgoing edges are far from linear (grid 10: ``exp(a) + exp(b)`` shapes), neither a fold
    nor a removal starts near a fit, and 20 steps from there stay at RMSE ~0.5 while a new
    start of the smaller structure fits (canonical, grid 10, draw 101, seed 7: 0.0075 in 50
    steps; a start is itself seed-dependent, hence more than one)."""
    if fresh < 1 or not trials:
        return None
    _, l, i = trials[0]
    base = without_node(current, l, i)
    seed = int(current.config.seed)
    fits = []
    for k in range(fresh):
        start = reinitialised(base, seed + k)
        if start is None:
            return None
        fits.append(_retrain(start, dataset, steps, callback))
    return min(fits, key=lambda f: f[1])


def _retrain(
    model: KAN, dataset: dict, steps: int, callback: StepCallback | None = None
) -> tuple[KAN, float]:
    cb = None if callback is None else (lambda i, m: callback(model, i, {**m, "n_steps": steps}))
    hist = model.fit(dataset, opt="LBFGS", steps=steps, callback=cb)
    if hist.get("stopped") == "callback":
        raise _Stopped
    return model, float(hist["train_loss"][-1])


def prune_minimal(
    model: KAN,
    dataset: dict,
    *,
    node_th: float = 1e-2,
    edge_th: float | None = 3e-2,
    steps: int = 20,
    tol: float = 0.5,
    atol: float = 1e-2,
    merge: bool = True,
    fresh: int = 2,
    fresh_steps: int = 50,
    verbose: bool = False,
    callback: StepCallback | None = None,
) -> KAN:
    """``model.prune(node_th, edge_th)``, retrained ``steps`` steps, then hidden nodes removed
    one at a time while the retrained smaller model's training RMSE ``r`` stays within
    ``r^2 <= ((1 + tol) * best)^2 + (atol * std(labels))^2``. Returns the retrained,
    smallest model found (``.prune_log`` lists the trials); ``model`` is unchanged. See the
    module doc.

    When no single node's trial fits, ``fresh`` restarts of the smaller structure (the weakest
    node removed, every edge re-initialised with seeds ``config.seed + k``, masks kept:
    :func:`reinitialised`) are trained ``fresh_steps`` steps each and judged by the same rule.

    ``callback(trained_model, step, metrics)`` runs after every retraining step (``step``
    counts from 0 in each retraining, ``metrics`` as fit's callback gets them, with
    ``n_steps``: that retraining's length); returning
    ``False`` stops: the trial being retrained is dropped and the smallest model kept so far
    is returned, its ``prune_log`` ending with ``{"stopped": True}`` (if the first retraining
    is stopped, that is the pruned model as far as it was retrained)."""
    for name, v in (("tol", tol), ("atol", atol)):
        if not is_number(v) or not v >= 0:
            raise ValueError(f"{name} must be a number >= 0; got {v!r}")
    for name, n in (("steps", steps), ("fresh_steps", fresh_steps)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive int; got {n!r}")
    if not isinstance(fresh, int) or isinstance(fresh, bool) or fresh < 0:
        raise ValueError(f"fresh must be an int >= 0; got {fresh!r}")
    if "train_label" not in dataset:
        raise ValueError("dataset needs 'train_input' and 'train_label' (as for fit)")
    y = torch.as_tensor(dataset["train_label"])
    floor = atol * float(y.double().std()) if y.numel() > 1 else 0.0
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable(model, step, metrics) or None")
    current = model.prune(node_th, edge_th)
    try:
        current, best = _retrain(current, dataset, steps, callback)
    except _Stopped:
        current.__dict__["prune_log"] = [{"width": current.width, "stopped": True}]
        return current
    log: list[dict[str, Any]] = [{"width": current.width, "rmse": best, "kept": True}]
    try:  # `current` changes only when a trial is kept: a stop leaves the last kept model
        while True:
            scores = current.node_scores
            trials = sorted(
                (float(scores[l][i]), l, i)
                for l in range(1, len(scores) - 1)
                if len(scores[l]) > 1
                for i in range(len(scores[l]))
            )
            for _, l, i in trials:
                # fold into the strongest other sum node (a multiplication node takes no fold)
                n_sum = current._nodes[l].n_sum
                others = [(float(scores[l][k]), k) for k in range(n_sum) if k != i]
                merged = None
                if merge and i < n_sum and others:
                    merged = merged_node(current, l, i, max(others)[1])
                ok = False
                for how, start in (("merged", merged), ("removed", None)):
                    if how == "merged" and start is None:
                        continue
                    cand, err = _retrain(
                        start or without_node(current, l, i), dataset, steps, callback
                    )
                    ok = err**2 <= ((1 + tol) * best) ** 2 + floor**2
                    log.append(
                        {"width": cand.width, "rmse": err, "kept": ok, "node": (l, i), "how": how}
                    )
                    if verbose:
                        print(f"prune_minimal: node ({l},{i}) {how}: {cand.width} {err:.3e} {ok}")
                    if ok:
                        current, best = cand, min(best, err)
                        break
                if ok:
                    break
            else:
                fit = _fresh_trial(current, trials, fresh, fresh_steps, dataset, callback)
                if fit is None:
                    break
                cand, err = fit
                ok = err**2 <= ((1 + tol) * best) ** 2 + floor**2
                log.append({"width": cand.width, "rmse": err, "kept": ok, "how": "fresh"})
                if verbose:
                    print(f"prune_minimal: fresh {cand.width} {err:.3e} {ok}")
                if not ok:
                    break
                current, best = cand, min(best, err)
    except _Stopped:
        log.append({"width": current.width, "stopped": True})
    current.__dict__["prune_log"] = log  # an nn.Module: a plain attribute, not a submodule
    return current
