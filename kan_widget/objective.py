"""The training objective and its gradient in one pass, without autograd.

In the common case (mean squared error, no penalty or the ``edge_forward_spline_*`` penalty, every
edge a spline or a library function) the trainer runs each layer's fused forward and hand-written
backward itself (``KANLayer.forward_tape`` / ``backward_tape``; symbolic edges:
:mod:`kan_widget.symtape`). Small models are bound by per-operation overhead,
and autograd's part of it (recording the graph, the engine, the nodes of the weight products, the
loss and the penalty) was about a fifth of an L-BFGS closure for [2,5,1] (2.7 -> 2.2 ms,
measured). The operations are those autograd would run, so losses and gradients are bit-identical
(``tests/test_engine_math.py``; symbolic edges' gradients equal autograd's to rounding,
``tests/test_symtape.py``); any other case goes through autograd.

Multiplication nodes (:mod:`kan_widget.nodes`) stay on this path: their step runs between the
layers and its hand-written gradient (the product rule) between their backward passes; equal to
autograd's to rounding (not bit-identical: the other operands' products are formed differently).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import classification as cls
from .layer import EdgeStats
from .regularizer import spline_penalty

__all__ = ["loss_and_grad", "tape_ok"]


# loss functions (besides the default, mean squared error) with a hand-written gradient:
# loss_fn -> (pred, y) -> (loss, d loss / d pred)
LOSS_GRADS: dict[Callable, Callable] = {cls.class_loss: cls.class_loss_grad}


def tape_ok(model, metric: str | None, loss_fn: Callable | None, coef_terms: bool) -> bool:
    """Whether :func:`loss_and_grad` computes this objective: the default loss (``None``) or
    one of :data:`LOSS_GRADS` (classification's), no coefficient penalty, a fused magnitude
    (or none), and symbolic edges (if any) of library functions with a hand-written derivative
    (:mod:`kan_widget.symtape`)."""
    return (
        (loss_fn is None or loss_fn in LOSS_GRADS)
        and not coef_terms
        and all(layer.tape_ok(metric) for layer in model.layers)
    )


def loss_and_grad(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    metric: str | None,
    lamb: float,
    lamb_l1: float,
    lamb_entropy: float,
    loss_fn: Callable | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[EdgeStats] | None]:
    """``mean((model(x) - y)^2) + lamb * penalty`` (or ``loss_fn(model(x), y)`` for a
    ``loss_fn`` of :data:`LOSS_GRADS`) with every parameter's ``.grad`` set.

    ``metric``: the magnitude for the penalty and the scores (``None``: neither). Returns
    ``(loss, prediction loss, penalty, stats)``, all detached.
    """
    tapes, values, scores, node_tapes = [], [], [], []
    steps = model._steps  # None without multiplication nodes (nothing between the layers)
    h = x
    for n, layer in enumerate(model.layers):
        h, value, score, tape = layer.forward_tape(h, metric, need_dx=n > 0)
        if steps is not None:
            with torch.no_grad():
                h, ops = steps[n].forward(h, model._affine(n))
            node_tapes.append(ops)
        tapes.append(tape)
        values.append(value)
        scores.append(score)
    with torch.no_grad():
        if loss_fn is None:
            d = h - y
            l_pred = torch.mean(d * d)
        else:
            l_pred, g = LOSS_GRADS[loss_fn](h, y)
        if metric is not None and lamb > 0:
            reg, g_values = spline_penalty(values, lamb_l1, lamb_entropy)
        else:
            reg, g_values = h.new_zeros(()), None
        loss = l_pred + lamb * reg
        if loss_fn is None:
            g = d * (2.0 / d.numel())
    for n in range(len(tapes) - 1, -1, -1):
        if steps is not None:
            with torch.no_grad():
                g = steps[n].backward(g, node_tapes[n], model._affine(n))
        gv = None if g_values is None else g_values[n] * lamb
        g = model.layers[n].backward_tape(tapes[n], g, gv)
    stats = (
        None
        if metric is None
        else [EdgeStats(value=v, score=s) for v, s in zip(values, scores, strict=True)]
    )
    return loss, l_pred, reg, stats
