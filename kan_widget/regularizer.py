"""The sparsity penalty ``lambda*(mu1*sum|Phi|_1 + mu2*sum S(Phi))`` and its variants.

Two families of per-edge magnitude ``A_ij`` (computed by ``KANLayer.forward_stats``):

- ``"edge_forward_spline_n"`` (default, pykan 0.2.8's default): ``std_batch(phi_ij) /
  (std_batch(x_i) + 0.1)``, with pykan 0.2.8's entropy taken per row and per column,
  ``p = A / (sum + 1)``, log2. It is exactly computable without the ``[batch, in, out]`` tensor,
  and it is the default so that pykan tutorials (``lamb=0.01`` etc.) carry over unchanged.
  ``"edge_forward_spline_u"`` is the same without the division by ``std(x_i) + 0.1``.
- ``"edge_mean_abs"`` (the paper, §2.5): ``|phi_ij|_1 = mean_batch |phi_ij|``, with the paper's
  layer-wide entropy ``S = -sum p log p``, ``p = A / sum(A)`` (natural log, as written in the
  paper). Estimated on at most 256 evenly spaced rows of the batch.
"""

from __future__ import annotations

import math

import torch

from . import ckernel
from .threads import OneThread

__all__ = ["REG_METRICS", "coef_penalty", "edge_penalty", "spline_penalty"]

REG_METRICS = ("edge_forward_spline_n", "edge_forward_spline_u", "edge_mean_abs")


def edge_penalty(values: list[torch.Tensor], metric: str, lamb_l1: float, lamb_entropy: float):
    """``sum_l (mu1*L1(A_l) + mu2*S(A_l))`` for per-layer magnitudes ``A_l`` of shape [in, out]."""
    if metric != "edge_mean_abs":
        return _SplinePenalty.apply(float(lamb_l1), float(lamb_entropy), *values)
    total = values[0].new_zeros(())
    for a in values:
        l1 = a.sum()
        p = a / (l1 + 1e-12)
        ent = -(p * torch.log(p + 1e-12)).sum()
        total = total + lamb_l1 * l1 + lamb_entropy * ent
    return total


_LN2 = math.log(2.0)


def _spline_entropies(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pykan 0.2.8's entropy along each axis of ``a [in, out]``, averaged over the other axis
    (``p = a / (sum + 1)``, log2, ``+1e-4`` in the log), summed over the two axes, and its
    gradient in ``a``. Both axes go through one stack of elementwise operations (small models
    are bound by the number of operations)."""
    n_in, n_out = a.shape
    s_row = a.sum(0, keepdim=True) + 1  # [1, out]
    s_col = a.sum(1, keepdim=True) + 1  # [in, 1]
    p = torch.stack([a / s_row, a / s_col])  # the same quotients as one broadcast divide
    pe = p + 1e-4
    lp = torch.log2(pe)
    ent = (p * lp).sum((1, 2)) / _divisors(n_in, n_out, a)
    # d(-p log2(p + eps))/dp, then through p = a / (sum + 1): (h - sum(h p)) / (sum + 1)
    h = lp + p / (pe * _LN2)
    hp = h * p
    # unbind: both axes' views in one op instead of two selects
    (h_row, h_col), (hp_row, hp_col) = h.unbind(), hp.unbind()
    g_row = torch.sub(hp_row.sum(0, keepdim=True), h_row).div_(s_row * n_out)
    g_col = torch.sub(hp_col.sum(1, keepdim=True), h_col).div_(s_col * n_in)
    return ent.sum(), g_row.add_(g_col)


_DIVISORS: dict[tuple, torch.Tensor] = {}


def _divisors(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """``[-n_out, -n_in]`` in ``like``'s dtype and device, made once per shape (a new tensor
    each call was an op of the small models' closures)."""
    key = (n_in, n_out, like.dtype, like.device)
    d = _DIVISORS.get(key)
    if d is None:
        with torch.inference_mode(False), torch.no_grad():
            d = _DIVISORS[key] = torch.tensor([-n_out, -n_in], dtype=like.dtype, device=like.device)
    return d


_FILLED: dict[tuple, torch.Tensor] = {}


def _filled(like: torch.Tensor, value: float) -> torch.Tensor:
    """A contiguous tensor of ``like``'s shape, dtype and device filled with ``value``, made
    once per key and only ever read (an operand of an out-of-place add)."""
    key = (tuple(like.shape), like.dtype, like.device, value)
    t = _FILLED.get(key)
    if t is None:
        if len(_FILLED) > 64:  # shapes come and go (pruning, refine): keep it small
            _FILLED.clear()
        with torch.inference_mode(False), torch.no_grad():
            t = _FILLED[key] = torch.full(like.shape, value, dtype=like.dtype, device=like.device)
    return t


def spline_penalty(
    values: list[torch.Tensor], lamb_l1: float, lamb_entropy: float
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The penalty of the ``edge_forward_spline_*`` metrics over all layers and its gradient in
    each layer's magnitudes, computed together (the trainer's gradient pass uses both).

    By the compiled kernel where it runs (``ckernel.penalty``: one call instead of ~30 ops a
    layer, sums in float64), else the torch operations below."""
    res = ckernel.penalty(values, lamb_l1, lamb_entropy)
    if res is not None:
        return res
    total: torch.Tensor | None = None
    grads = []
    for a in values:
        l1 = a.sum()
        if lamb_l1 != 1.0:  # pykan's default is 1: a product by 1.0 is exact (an op saved)
            l1 = lamb_l1 * l1
        # magnitudes are >= 0, so starting from the first term equals starting from 0 + it
        total = l1 if total is None else total + l1
        if lamb_entropy:
            # pykan's [out, in] layout has rows = output nodes (our columns); both are summed
            ent, g_ent = _spline_entropies(a)
            total = total + lamb_entropy * ent
            if a.is_contiguous():
                # lamb_l1 + lamb_entropy * g_ent as the in-place add on a filled tensor computes
                # it (the same kernel on the same layout), from a filled tensor made once per
                # shape: an op saved per layer
                g = torch.add(_filled(a, lamb_l1), g_ent, alpha=lamb_entropy)
            else:
                g = torch.full_like(a, lamb_l1).add_(g_ent, alpha=lamb_entropy)
        else:
            g = torch.full_like(a, lamb_l1)  # the caller's own tensor (it may write to it)
        grads.append(g)
    assert total is not None, "spline_penalty needs at least one layer's magnitudes"
    return total, grads


class _SplinePenalty(torch.autograd.Function):
    """:func:`spline_penalty` for autograd: on [in, out] tensors autograd's own graph (~50
    backward ops a layer) costs more than the arithmetic, and small models are bound by per-op
    overhead."""

    @staticmethod
    def forward(ctx, lamb_l1: float, lamb_entropy: float, *values: torch.Tensor):
        # one thread (a no-op inside a training step's block): MKL's log2 runs an OpenMP
        # region whatever its size, and outside a step (a caller's own loop) each waited for
        # the pool's workers; on a busy machine for a descheduled one (threads.py)
        with OneThread(par=False):
            total, grads = spline_penalty(list(values), lamb_l1, lamb_entropy)
        ctx.save_for_backward(*grads, *values)
        ctx.lambs = (lamb_l1, lamb_entropy)
        return total

    @staticmethod
    def backward(ctx, g):
        saved = ctx.saved_tensors
        n = len(saved) // 2
        if torch.is_grad_enabled():
            # create_graph=True: the saved gradients have no graph in the magnitudes, so
            # autograd differentiates the penalty's plain operations instead (higher.py)
            from .higher import differentiable_backward

            grads = differentiable_backward(
                lambda *v: [spline_penalty(list(v), *ctx.lambs)[0]],
                saved[n:],
                ctx.needs_input_grad[2:],
                [g],
            )
            return None, None, *grads
        with OneThread(par=False):
            return None, None, *[g * d for d in saved[:n]]


def coef_penalty(coefs: list[torch.Tensor], lamb_coef: float, lamb_coefdiff: float):
    """pykan's coefficient terms: L1 of coefficients and of neighbouring differences."""
    total = coefs[0].new_zeros(())
    for c in coefs:  # [in, out, K]
        if lamb_coef:
            total = total + lamb_coef * c.abs().mean(1).sum()
        if lamb_coefdiff:
            total = total + lamb_coefdiff * torch.diff(c, dim=2).abs().mean(1).sum()
    return total
