"""Derivatives of every order through the hand-written kernels.

The fused layer (:class:`~kan_widget.fused.SplineLayer`), the basis (``splines._Basis``) and the
penalty (``regularizer._SplinePenalty``) write their backward by hand from tensors computed
without a graph, so a backward recorded for a second derivative
(``torch.autograd.grad(..., create_graph=True)``, as physics-informed losses build a Laplacian)
would see none of its dependence on the inputs and give 0. Autograd runs a custom backward with
grad mode on exactly when the graph of the backward is wanted; then these kernels call
:func:`differentiable_backward` instead: it recomputes the forward with plain torch operations
(the definitions below, equal to the kernels up to round-off) and lets autograd differentiate
that, with ``create_graph=True``, so the result can be differentiated again, to any order.
Ordinary training never takes this path (its backward runs with grad mode off), so its numbers
are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from .splines import Knots, basis_reference
from .threads import OneThread

__all__ = ["differentiable_backward", "layer_reference"]


def _base(base_fun: str, x: torch.Tensor) -> torch.Tensor:
    if base_fun == "silu":
        return F.silu(x)
    if base_fun == "identity":
        return x
    return torch.zeros_like(x)


def layer_reference(
    x: torch.Tensor, w: torch.Tensor, kn: Knots, base_fun: str, stats: str | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What ``SplineLayer`` computes, in plain differentiable operations: ``y [B, out]`` from
    ``x [B, in]`` and weights ``w [in, K+1, out]``, and for ``stats`` ``"u"``/``"n"`` every
    edge's batch std (divided by ``std(x_i) + 0.1`` for ``"n"``), in float64 as the kernel."""
    B = x.shape[0]
    grid, k = kn.knots.squeeze(2), len(kn.inv)
    f = torch.cat([_base(base_fun, x).unsqueeze(2), basis_reference(x, grid, k)], dim=2)
    y = f.reshape(B, -1) @ w.reshape(-1, w.shape[2])  # [B, in*(K+1)] @ [in*(K+1), out]
    if stats is None:
        return y, None
    n = max(B - 1, 1)
    phi = torch.einsum("bif,ifo->bio", f.double(), w.double())
    dphi = phi - phi.mean(0, keepdim=True)
    std = ((dphi * dphi).sum(0) / n).clamp_min(1e-30).sqrt()  # [in, out]
    if stats == "n":
        xc = x.double() - x.double().mean(0, keepdim=True)
        x_std = ((xc * xc).sum(0) / n).clamp_min(1e-300).sqrt()  # [in]
        std = std / (x_std.unsqueeze(1) + 0.1)
    return y, std.to(x.dtype)


def differentiable_backward(
    forward: Callable[..., Sequence[torch.Tensor | None]],
    inputs: Sequence[torch.Tensor | None],
    needs: Sequence[bool],
    grad_outputs: Sequence[torch.Tensor | None],
) -> list[torch.Tensor | None]:
    """The gradients of ``forward(*inputs)`` (outputs weighted by ``grad_outputs``; ``None``:
    that output gets no gradient) in the inputs flagged by ``needs``, as a graph autograd can
    differentiate again. For a custom ``backward`` run with grad mode on."""
    wanted = [n for n, (t, need) in enumerate(zip(inputs, needs)) if need and t is not None]
    targets = [t for n, t in enumerate(inputs) if n in wanted and t is not None]
    result: list[torch.Tensor | None] = [None] * len(inputs)
    if not wanted:
        return result
    # small tensors: one thread (threads.py; a split small matmul cost ~50 ms on a busy machine)
    with torch.enable_grad(), OneThread():
        outs = forward(*inputs)
        pairs = [(o, g) for o, g in zip(outs, grad_outputs) if o is not None and g is not None]
        if not pairs:
            return result
        grads = torch.autograd.grad(
            [o for o, _ in pairs],
            targets,
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
    for n, g in zip(wanted, grads):
        t = inputs[n]
        assert t is not None
        # an input the forward does not depend on: a zero gradient (still a graph for autograd)
        result[n] = torch.zeros_like(t) if g is None else g
    return result
