"""pykan 0.2.8's ``kan.spline`` functions, with its names, arguments and shapes, for code written
against it (``from kan.spline import B_batch, extend_grid``). Our own spline code, which the
engine uses, is :mod:`kan_widget.splines`.

Shapes as pykan's: ``x [batch, in]``; ``grid [in, G+2k+1]`` (one row may serve every input);
``B_batch`` gives ``[batch, in, G+k]``; ``coef [in, out, G+k]``; curves ``[batch, in, out]``.
"""

from __future__ import annotations

import torch

from . import splines

__all__ = ["B_batch", "coef2curve", "curve2coef", "extend_grid"]


def B_batch(x: torch.Tensor, grid: torch.Tensor, k: int = 0, extend: bool = True, device="cpu"):
    """The order-``k`` B-spline basis of every input on its knots: ``[batch, in, G+k]`` for ``x
    [batch, in]`` and ``grid [in or 1, G+2k+1]`` (pykan's ``B_batch``; ``extend`` and ``device``
    are accepted and unused, as there). Degenerate spans give 0."""
    return splines.basis_reference(x, grid, int(k))


def coef2curve(x_eval: torch.Tensor, grid: torch.Tensor, coef: torch.Tensor, k: int, device="cpu"):
    """Every edge's spline ``sum_m coef[i, j, m] B_m(x_i)`` at ``x_eval [batch, in]``:
    ``[batch, in, out]`` (pykan's ``coef2curve``)."""
    b = B_batch(x_eval, grid, k)
    return torch.einsum("ijk,jlk->ijl", b, coef.to(b))


def curve2coef(x_eval: torch.Tensor, y_eval: torch.Tensor, grid: torch.Tensor, k: int):
    """Least-squares coefficients ``[in, out, G+k]`` with ``coef2curve(x_eval, ...) ≈ y_eval
    [batch, in, out]`` (pykan's ``curve2coef``; solved by :func:`kan_widget.splines.curve2coef`,
    which does not fail where pykan's float32 ``lstsq`` does)."""
    return splines.curve2coef(x_eval, y_eval, grid, int(k))


def extend_grid(grid: torch.Tensor, k_extend: int = 0) -> torch.Tensor:
    """``grid [in, G+1]`` with ``k_extend`` knots added on each side at the mean spacing
    (pykan's ``extend_grid``, the same sums in the same order)."""
    h = (grid[:, [-1]] - grid[:, [0]]) / (grid.shape[1] - 1)
    for _ in range(int(k_extend)):
        grid = torch.cat([grid[:, [0]] - h, grid, grid[:, [-1]] + h], dim=1)
    return grid
