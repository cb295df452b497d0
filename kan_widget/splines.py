"""B-spline bases on per-input knot vectors, and least-squares fits onto them.

Layout conventions (as pykan): a layer with ``n_in`` inputs keeps one extended knot vector per
input, ``grid`` of shape ``[n_in, G + 2k + 1]``; the basis of order ``k`` then has ``G + k``
functions per input, and ``basis(x)`` has shape ``[batch, n_in, G + k]``.
"""

from __future__ import annotations

import torch

__all__ = [
    "basis",
    "basis_reference",
    "basis_t",
    "curve2coef",
    "extend_grid",
    "uniform_grid",
]


def extend_grid(grid: torch.Tensor, k: int) -> torch.Tensor:
    """Add ``k`` knots on each side of ``grid`` ([n_in, G+1]) at the mean knot spacing."""
    h = (grid[:, -1:] - grid[:, :1]) / (grid.shape[1] - 1)
    steps = torch.arange(1, k + 1, dtype=grid.dtype, device=grid.device)
    left = grid[:, :1] - h * steps.flip(0)
    right = grid[:, -1:] + h * steps
    return torch.cat([left, grid, right], dim=1)


def uniform_grid(n_in: int, num: int, k: int, grid_range, *, dtype, device=None) -> torch.Tensor:
    """Extended uniform knot vectors ``[n_in, num + 2k + 1]`` on ``grid_range``."""
    lo, hi = float(grid_range[0]), float(grid_range[1])
    g = torch.linspace(lo, hi, num + 1, dtype=dtype, device=device).expand(n_in, num + 1)
    return extend_grid(g, k)


def basis_reference(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """Cox–de Boor recursion written as pykan writes it ([batch, n_in, G+k]); differentiable.

    Kept as the readable definition that tests compare the fast path against.
    """
    x = x.unsqueeze(2)
    g = grid.unsqueeze(0)
    value = ((x >= g[:, :, :-1]) & (x < g[:, :, 1:])).to(x.dtype)
    for p in range(1, k + 1):
        # zero-width spans (repeated knots) contribute nothing; dividing by them would spread
        # 0*inf = NaN through the recursion
        d_l = g[:, :, p:-1] - g[:, :, : -(p + 1)]
        d_r = g[:, :, p + 1 :] - g[:, :, 1:-p]
        inv_l = torch.where(d_l != 0, 1.0 / d_l, torch.zeros_like(d_l))
        inv_r = torch.where(d_r != 0, 1.0 / d_r, torch.zeros_like(d_r))
        left = (x - g[:, :, : -(p + 1)]) * inv_l * value[:, :, :-1]
        value = left + (g[:, :, p + 1 :] - x) * inv_r * value[:, :, 1:]
    return value


def _recursion(x: torch.Tensor, grid: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bases of order k and k-1, in [n_in, n_basis, batch] layout (batch innermost: contiguous
    elementwise work on the longest axis, which is what makes the recursion cheap)."""
    xt = x.t().unsqueeze(1)  # [n_in, 1, B]
    g = grid.unsqueeze(2)  # [n_in, n_knots, 1]
    value = ((xt >= g[:, :-1]) & (xt < g[:, 1:])).to(x.dtype)
    prev = value
    for p in range(1, k + 1):
        # reciprocal knot spans; zero-width spans (repeated knots) contribute nothing
        d_left = g[:, p:-1] - g[:, : -(p + 1)]
        d_right = g[:, p + 1 :] - g[:, 1:-p]
        inv_l = torch.where(d_left != 0, 1.0 / d_left, torch.zeros_like(d_left))
        inv_r = torch.where(d_right != 0, 1.0 / d_right, torch.zeros_like(d_right))
        prev = value
        value = (xt - g[:, : -(p + 1)]) * inv_l * value[:, :-1] + (
            g[:, p + 1 :] - xt
        ) * inv_r * value[:, 1:]
    return value, prev


class _Basis(torch.autograd.Function):
    """B-spline basis with a closed-form derivative in x, in ``[n_in, n_basis, batch]`` layout.

    Autograd through the recursion would record ~6k elementwise ops; the derivative of an order-k
    basis is a difference of two order-(k-1) bases, so the backward is two fused multiply-adds.
    Knots are buffers (moved by grid updates, never trained), so no gradient flows to them.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
        value, prev = _recursion(x, grid, k)
        if k > 0:
            ctx.save_for_backward(prev, grid)
        ctx.k = k
        return value

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        k = ctx.k
        if k == 0 or not ctx.needs_input_grad[0]:
            return None, None, None
        prev, grid = ctx.saved_tensors  # prev: [n_in, n_basis + 1, B]
        g = grid.unsqueeze(2)
        d_left = g[:, k:-1] - g[:, : -(k + 1)]
        d_right = g[:, k + 1 :] - g[:, 1:-k]
        inv_l = torch.where(d_left != 0, k / d_left, torch.zeros_like(d_left))
        inv_r = torch.where(d_right != 0, k / d_right, torch.zeros_like(d_right))
        dvalue = inv_l * prev[:, :-1] - inv_r * prev[:, 1:]  # [n_in, n_basis, B]
        grad_x = (dvalue * grad_out).sum(1).t()
        return grad_x, None, None


def basis_t(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """B-spline basis values as a contiguous ``[n_in, G+k, batch]`` tensor (batch innermost).

    This is the layout the layer multiplies with (``reshape(-1, B).t()`` is a free view that BLAS
    reads transposed) and in which the regulariser's feature covariance is one batched matmul.
    """
    return _Basis.apply(x, grid, k)


def basis(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    """B-spline basis values ``[batch, n_in, G+k]`` for inputs ``x`` ([batch, n_in]).

    Equal to :func:`basis_reference` (and pykan's ``B_batch``) up to round-off; a sample exactly on
    the last knot gets 0 as in pykan (half-open intervals). A view of :func:`basis_t`.
    """
    return basis_t(x, grid, k).permute(2, 0, 1)


def curve2coef(
    x: torch.Tensor, y: torch.Tensor, grid: torch.Tensor, k: int, ridge: float = 1e-8
) -> torch.Tensor:
    """Least-squares spline coefficients ``[n_in, n_out, G+k]`` with ``sum_m c_m B_m(x) ≈ y``.

    ``x`` is [batch, n_in], ``y`` [batch, n_in, n_out]. One solve per input with all its outputs as
    right-hand sides; normal equations in float64 with a tiny relative ridge, so a basis function
    with no samples under it gets coefficient ~0 instead of a rank-deficient failure (pykan's
    float32 lstsq fails there, see kan-facts.md).
    """
    A = basis_reference(x.double(), grid.double(), k).permute(1, 0, 2)  # [n_in, B, K]
    rhs = y.double().permute(1, 0, 2)  # [n_in, B, n_out]
    ata = A.transpose(1, 2) @ A  # [n_in, K, K]
    atb = A.transpose(1, 2) @ rhs  # [n_in, K, n_out]
    scale = ata.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-30)
    eye = torch.eye(ata.shape[-1], dtype=ata.dtype, device=ata.device)
    ata = ata + (ridge * scale)[:, None, None] * eye
    coef = torch.linalg.solve(ata, atb)  # [n_in, K, n_out]
    return coef.permute(0, 2, 1).to(y.dtype)
