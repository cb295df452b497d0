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

import torch

__all__ = ["REG_METRICS", "coef_penalty", "edge_penalty"]

REG_METRICS = ("edge_forward_spline_n", "edge_forward_spline_u", "edge_mean_abs")


def edge_penalty(values: list[torch.Tensor], metric: str, lamb_l1: float, lamb_entropy: float):
    """``sum_l (mu1*L1(A_l) + mu2*S(A_l))`` for per-layer magnitudes ``A_l`` of shape [in, out]."""
    total = values[0].new_zeros(())
    for a in values:
        l1 = a.sum()
        if metric == "edge_mean_abs":
            p = a / (l1 + 1e-12)
            ent = -(p * torch.log(p + 1e-12)).sum()
        else:
            vec = a.t()  # pykan's [out, in] layout: rows are output nodes
            p_row = vec / (vec.sum(1, keepdim=True) + 1)
            p_col = vec / (vec.sum(0, keepdim=True) + 1)
            ent_row = -(p_row * torch.log2(p_row + 1e-4)).sum(1).mean()
            ent_col = -(p_col * torch.log2(p_col + 1e-4)).sum(0).mean()
            ent = ent_row + ent_col
        total = total + lamb_l1 * l1 + lamb_entropy * ent
    return total


def coef_penalty(coefs: list[torch.Tensor], lamb_coef: float, lamb_coefdiff: float):
    """pykan's coefficient terms: L1 of coefficients and of neighbouring differences."""
    total = coefs[0].new_zeros(())
    for c in coefs:  # [in, out, K]
        if lamb_coef:
            total = total + lamb_coef * c.abs().mean(1).sum()
        if lamb_coefdiff:
            total = total + lamb_coefdiff * torch.diff(c, dim=2).abs().mean(1).sum()
    return total
