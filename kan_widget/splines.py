"""B-spline bases on per-input knot vectors, and least-squares fits onto them.

Layout conventions (as pykan): a layer with ``n_in`` inputs keeps one extended knot vector per
input, ``grid`` of shape ``[n_in, G + 2k + 1]``; the basis of order ``k`` then has ``G + k``
functions per input, and ``basis(x)`` has shape ``[batch, n_in, G + k]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from . import ckernel

__all__ = [
    "basis",
    "basis_reference",
    "basis_t",
    "chunks",
    "curve2coef",
    "deriv_grad_torch",
    "extend_grid",
    "grid_on_samples",
    "knots_of",
    "recursion",
    "recursion_torch",
    "refit_coef",
    "sort_rows",
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


# Columns (samples) per chunk of elementwise work: ~2^18 floats per [in, knots, cols] temporary.
# Bigger temporaries are served by fresh mmap'd pages from glibc, and the page faults made the
# basis 5x slower at [10,32,32,1] B=10000 (measured); small models run in one chunk.
_CHUNK_FLOATS = 1 << 18


def chunks(n_in: int, n_knots: int, B: int) -> list[slice]:
    """Column ranges of the batch for work on ``[n_in, n_knots, cols]`` temporaries."""
    cols = max(64, _CHUNK_FLOATS // max(1, n_in * n_knots))
    return [slice(c, min(c + cols, B)) for c in range(0, B, cols)]


class Knots(NamedTuple):
    """Per-grid constants of the basis recursion, computed once per knot vector (the layer caches
    them per grid version), so the recursion does one fused multiply-add per level, no divides.

    ``knots [n_in, n_knots, 1]``; for level ``p = 1..k``, ``inv[p-1] = 1/(t[m+p]-t[m])`` (0 on
    zero-width spans) and ``shift[p-1] = -t[m]*inv``, both ``[n_in, n_knots-p, 1]``; ``dinv`` is
    ``k*inv[k-1]``, the derivative's coefficients; ``packed`` all of them in the compiled
    kernel's layout (:func:`ckernel.pack`; None where the kernel cannot run).
    """

    knots: torch.Tensor
    inv: list[torch.Tensor]
    shift: list[torch.Tensor]
    dinv: torch.Tensor | None
    packed: torch.Tensor | None = None


def knots_of(grid: torch.Tensor, k: int) -> Knots:
    g = grid.unsqueeze(2)
    inv, shift = [], []
    for p in range(1, k + 1):
        span = g[:, p:] - g[:, :-p]
        # zero-width spans (repeated knots) carry a zero basis; 0 keeps 0*inf = NaN out
        r = torch.where(span != 0, 1.0 / torch.where(span != 0, span, 1.0), 0.0)
        inv.append(r)
        shift.append(-g[:, : r.shape[1]] * r)
    dinv = k * inv[-1] if k > 0 else None
    return Knots(g, inv, shift, dinv, ckernel.pack(g, inv, shift, dinv))


def recursion(
    xt: torch.Tensor,
    kn: Knots,
    out: torch.Tensor | None = None,
    prev_out: torch.Tensor | None = None,
    scratch: Scratch | None = None,
    need_prev: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Bases of order k and k-1 in ``[n_in, n_basis, batch]`` layout for ``xt [n_in, 1, batch]``
    (batch innermost: contiguous elementwise work on the longest axis), written into ``out`` and
    ``prev_out`` when given; the temporaries into ``scratch`` when given (then the results
    not written to ``out``/``prev_out`` live in it until its next use). ``need_prev=False``:
    the order-(k-1) basis may be None (unless ``prev_out`` is given).

    By the compiled kernel where it runs (:mod:`ckernel`: the same bits), else
    :func:`recursion_torch`.
    """
    res = ckernel.basis(xt, kn, out, prev_out, scratch, need_prev)
    return recursion_torch(xt, kn, out, prev_out, scratch) if res is None else res


def recursion_torch(
    xt: torch.Tensor,
    kn: Knots,
    out: torch.Tensor | None = None,
    prev_out: torch.Tensor | None = None,
    scratch: Scratch | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`recursion` in torch operations (the definition the compiled kernel reproduces).

    With ``w_m = (x - t_m)/(t_{m+p} - t_m)``, ``B_{m,p} = w_m B_{m,p-1} + (1 - w_{m+1})
    B_{m+1,p-1}``: a multiply-add for ``w``, one multiply and two adds per level. The order-0
    indicator is the difference of the monotone step ``[x < t_m]`` (knots are sorted).
    """
    n_in, n_knots, B = xt.shape[0], kn.knots.shape[1], xt.shape[2]
    # lt into a float buffer: a bool result and its conversion cost 6x more (measured), and the
    # broadcast addcmul 3x more than a broadcast mul plus an in-place add
    shape = (n_in, n_knots, B)
    step = torch.lt(
        xt, kn.knots, out=xt.new_empty(shape) if scratch is None else scratch.get(0, shape)
    )
    k = len(kn.inv)
    # order q's result goes straight into its destination: out (q = k), prev_out (q = k - 1) if
    # contiguous (one chunk); the next level reading a strided chunk costs more than a copy
    direct = prev_out is not None and prev_out.is_contiguous()
    dest = {k: out, k - 1: prev_out if direct else None}
    if scratch is not None:
        # level q's value alternates between buffers 1 and 0 (the step's, free after level 0):
        # each level reads the previous value while it writes its own; u is buffer 2
        for q in range(k + 1):
            if dest.get(q) is None:
                dest[q] = scratch.get(1 - q % 2, (n_in, n_knots - 1 - q, B))
    value = torch.sub(step[:, 1:], step[:, :-1], out=dest.get(0))
    prev = value
    for p, (shift, inv) in enumerate(zip(kn.shift, kn.inv)):
        prev = value
        u_out = None if scratch is None else scratch.get(2, value.shape)
        u = torch.mul(xt, inv, out=u_out).add_(shift).mul_(value)
        value = torch.add(value[:, 1:], u[:, :-1], out=dest.get(p + 1))
        value.sub_(u[:, 1:])
    if prev_out is not None and not direct:
        prev_out.copy_(prev)
    return value, prev


class Scratch:
    """Reusable buffers (three by default) for :func:`recursion`'s temporaries over many calls
    (a grid refit's chunks): a fresh ~1 MB temporary per op came from new pages, and the page faults
    were half of a small model's ``update_grid`` (measured). Views of the first elements of
    each, so any shape up to the first call's fits; the values are those of fresh tensors."""

    def __init__(self, like: torch.Tensor, numel: int, n: int = 3):
        self.bufs = [like.new_empty(numel) for _ in range(n)]

    def get(self, i: int, shape: tuple[int, ...]) -> torch.Tensor:
        n = 1
        for d in shape:
            n *= d
        return self.bufs[i][:n].view(shape)


def basis_deriv_grad(
    prev: torch.Tensor, kn: Knots, grad_out: torch.Tensor, scratch: Scratch | None = None
) -> torch.Tensor:
    """``sum_m grad_out[m] * dB_m/dx`` ``[n_in, batch]`` from the order-(k-1) basis ``prev``:
    ``dB_{m,k}/dx = k*(B_{m,k-1}/(t_{m+k}-t_m) - B_{m+1,k-1}/(t_{m+k+1}-t_{m+1}))``; the
    temporaries in ``scratch``'s first two buffers when given (the same values). By the
    compiled kernel where it runs (:mod:`ckernel`: the same bits), else
    :func:`deriv_grad_torch`."""
    res = ckernel.deriv_grad(prev, kn, grad_out)
    return deriv_grad_torch(prev, kn, grad_out, scratch) if res is None else res


def deriv_grad_torch(
    prev: torch.Tensor, kn: Knots, grad_out: torch.Tensor, scratch: Scratch | None = None
) -> torch.Tensor:
    """:func:`basis_deriv_grad` in torch operations (the definition the kernel reproduces)."""
    assert kn.dinv is not None  # prev exists only where the input's gradient is wanted
    if scratch is None:
        q = prev * kn.dinv
        return ((q[:, :-1] - q[:, 1:]) * grad_out).sum(1)
    q = torch.mul(prev, kn.dinv, out=scratch.get(0, prev.shape))
    n_in, n_b, cols = prev.shape
    d = torch.sub(q[:, :-1], q[:, 1:], out=scratch.get(1, (n_in, n_b - 1, cols)))
    return d.mul_(grad_out).sum(1)


class _Basis(torch.autograd.Function):
    """B-spline basis with a closed-form derivative in x, in ``[n_in, n_basis, batch]`` layout.

    Autograd through the recursion would record ~4k elementwise ops; the derivative of an order-k
    basis is a difference of two order-(k-1) bases, so the backward is a few multiply-adds.
    Knots are buffers (moved by grid updates, never trained), so no gradient flows to them.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, kn: Knots) -> torch.Tensor:
        value, prev = recursion(x.t().unsqueeze(1), kn)
        ctx.save_for_backward(x, prev if kn.dinv is not None else None)
        ctx.kn = kn
        return value

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        kn = ctx.kn
        if kn.dinv is None or not ctx.needs_input_grad[0]:
            return None, None
        x, prev = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain-ops recursion instead, so that the
            # result has a graph in x (a second derivative through basis_deriv_grad would be 0)
            from .higher import differentiable_backward

            (gx,) = differentiable_backward(
                lambda x: [basis_reference(x, kn.knots.squeeze(2), len(kn.inv)).permute(1, 2, 0)],
                [x],
                [True],
                [grad_out],
            )
            return gx, None
        return basis_deriv_grad(prev, kn, grad_out).t(), None


def basis_t(x: torch.Tensor, grid: torch.Tensor, k: int, kn: Knots | None = None) -> torch.Tensor:
    """B-spline basis values as a contiguous ``[n_in, G+k, batch]`` tensor (batch innermost).

    This is the layout the layer multiplies with (``reshape(-1, B).t()`` is a free view that BLAS
    reads transposed) and in which the regulariser's feature covariance is one batched matmul.
    """
    from .higher import transforms_active

    if transforms_active():  # torch.func transforms: plain operations (see higher.py)
        return basis_reference(x, grid, k).permute(1, 2, 0)
    return _Basis.apply(x, knots_of(grid, k) if kn is None else kn)


def basis(x: torch.Tensor, grid: torch.Tensor, k: int, kn: Knots | None = None) -> torch.Tensor:
    """B-spline basis values ``[batch, n_in, G+k]`` for inputs ``x`` ([batch, n_in]).

    Equal to :func:`basis_reference` (and pykan's ``B_batch``) up to round-off; a sample exactly on
    the last knot gets 0 as in pykan (half-open intervals). A view of :func:`basis_t`.
    """
    return basis_t(x, grid, k, kn).permute(2, 0, 1)


def curve2coef(
    x: torch.Tensor, y: torch.Tensor, grid: torch.Tensor, k: int, ridge: float = 1e-8
) -> torch.Tensor:
    """Least-squares spline coefficients ``[n_in, n_out, G+k]`` with ``sum_m c_m B_m(x) ≈ y``.

    ``x`` is [batch, n_in], ``y`` [batch, n_in, n_out]. One solve per input with all its outputs as
    right-hand sides; normal equations in float64 with a tiny relative ridge, so a basis function
    with no samples under it gets coefficient ~0 instead of a rank-deficient failure (pykan's
    float32 lstsq fails there, see kan-facts.md).
    """
    A = basis_t(x.double(), grid.double(), k)  # [n_in, K, B]
    atb = A @ y.double().transpose(0, 1)  # [n_in, K, n_out]
    return _solve_normal(A @ A.transpose(1, 2), atb, ridge).to(y.dtype)


def refit_coef(
    x: torch.Tensor,
    grid_old: torch.Tensor,
    coef_old: torch.Tensor,
    grid_new: torch.Tensor,
    k: int,
    ridge: float = 1e-8,
) -> torch.Tensor:
    """Coefficients on ``grid_new`` whose splines best match (least squares on the samples
    ``x [B, n_in]``) the splines ``coef_old [n_in, n_out, K_old]`` on ``grid_old``.

    Same solve as :func:`curve2coef` on the old splines' values, without forming them
    (``[B, n_in, n_out]``): ``A^T y = (A^T B_old) c_old``, with both bases accumulated over batch
    chunks into ``[n_in, K, K]`` and ``[n_in, K, K_old]`` Gram matrices.
    """
    xt = x.t().double().contiguous().unsqueeze(1)  # [n_in, 1, B]
    kn_new, kn_old = knots_of(grid_new.double(), k), knots_of(grid_old.double(), k)
    n_in, n_knots = grid_new.shape
    K, K_old = n_knots - k - 1, grid_old.shape[1] - k - 1
    ata = xt.new_zeros(n_in, K, K)
    ab = xt.new_zeros(n_in, K, K_old)
    cols = chunks(n_in, max(n_knots, grid_old.shape[1]), xt.shape[2])
    width = cols[0].stop - cols[0].start
    scratch = Scratch(xt, n_in * max(n_knots, grid_old.shape[1]) * width)
    a_buf = xt.new_empty(n_in * K * width)  # a stays while b's recursion reuses the scratch
    for c in cols:
        a, _ = recursion(
            xt[..., c],
            kn_new,
            a_buf[: n_in * K * (c.stop - c.start)].view(n_in, K, -1),
            scratch=scratch,
            need_prev=False,
        )
        b, _ = recursion(xt[..., c], kn_old, scratch=scratch, need_prev=False)
        ata.baddbmm_(a, a.transpose(1, 2))
        ab.baddbmm_(a, b.transpose(1, 2))
    atb = ab @ coef_old.double().transpose(1, 2)  # [n_in, K, n_out]
    return _solve_normal(ata, atb, ridge).to(coef_old.dtype)


def _solve_normal(ata: torch.Tensor, atb: torch.Tensor, ridge: float) -> torch.Tensor:
    """``[n_in, n_out, K]`` from normal equations ``ata [n_in, K, K]``, ``atb [n_in, K, n_out]``."""
    scale = ata.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-30)
    eye = torch.eye(ata.shape[-1], dtype=ata.dtype, device=ata.device)
    ata = ata + (ridge * scale)[:, None, None] * eye
    return torch.linalg.solve(ata, atb).transpose(1, 2)


def sort_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row sorted. On CPU numpy's sort is 14x faster than torch.sort at [16, 1000], and the
    strided torch.sort over dim 0 was another 1.3x slower (measured)."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.numpy(), axis=1))
    return torch.sort(x, dim=1).values


def grid_on_samples(
    x_sorted: torch.Tensor, num: int, k: int, eps: float, min_span: float = 0.0
) -> torch.Tensor:
    """Extended knots ``[n_in, num + 2k + 1]`` for the samples ``x_sorted [n_in, B]`` (each row
    sorted): sample quantiles mixed with a uniform grid over the sample range (weight ``eps`` on
    uniform), as pykan's ``update_grid_from_samples``; a row spanning less than ``min_span`` gets
    a uniform grid ``min_span`` wide around its centre, a constant row a unit-width one."""
    B = x_sorted.shape[1]
    ids = [int(B / num * i) for i in range(num)] + [-1]
    adaptive = x_sorted[:, ids]  # [in, num+1]
    lo, hi = adaptive[:, :1], adaptive[:, -1:]
    steps = torch.arange(num + 1, dtype=x_sorted.dtype, device=x_sorted.device)
    if min_span > 0:
        narrow = hi - lo < min_span
        mid = (lo + hi) / 2
        lo = torch.where(narrow, mid - min_span / 2, lo)
        hi = torch.where(narrow, mid + min_span / 2, hi)
        wide = lo + (hi - lo) / num * steps
        adaptive = torch.where(narrow, wide, adaptive)
    # a constant input would give zero-width intervals; give it a unit-width grid
    span = torch.where(hi - lo > 1e-6, hi - lo, torch.ones_like(hi))
    uniform = lo + span / num * steps
    adaptive = torch.where(hi - lo > 1e-6, adaptive, uniform)
    g = eps * uniform + (1 - eps) * adaptive
    return extend_grid(g, k)
