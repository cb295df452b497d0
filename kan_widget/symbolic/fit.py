"""Batched fits of ``y ~ c*f(a*x + b) + d``: many edges against many library functions at once.

Everything here is pure tensor work on ``x, y`` of shape ``[E, N]`` (E edges, N samples each); there
is no model. The work is a loop over library functions; within one function all edges and all
candidate ``(a, b)`` are evaluated as one tensor (in memory-bounded chunks of edges).

How one function is fitted:

1. Each edge's inputs are mapped to ``t = (x - m)/R`` in ``[-1, 1]`` (``m`` the middle and ``R``
   the half-width of the data), and the search is over ``u = alpha*t + beta``. The search ranges
   are fixed in these units, so they follow the data: ``sin(20x)`` on ``[-1, 1]`` is
   ``alpha = 20``, and ``tanh(x - 50)`` on ``[49, 51]`` is ``beta = 0``; pykan's fixed
   ``[-10, 10]`` box on ``(a, b)`` does not exist here.
2. For fixed ``(alpha, beta)`` the best ``(c, d)`` and ``r^2`` are closed form (least squares on
   one feature: ``r^2`` is the squared correlation of ``f(u)`` and ``y``).
3. What needs searching depends on the entry's ``kind`` (see
   :class:`~kan_widget.symbolic.library.SymbolicFunction`): nothing for ``x``, ``x^2`` and ``0``;
   the shift alone for homogeneous functions; ``a`` alone for ``exp`` and for ``sin``/``cos``
   (whose shift is closed form via ``c1*sin(a*x) + c2*cos(a*x)``); both for the rest. A coarse
   grid (float32, on 40 of the samples) finds each edge's basin; zoom rounds narrow it (a window
   whose best point is on its border moves instead of shrinking, so the search can leave the
   grid); a few Levenberg–Marquardt steps in float64 on all samples then give the last digits.
4. ``(alpha, beta)`` are mapped back to ``(a, b)`` for ``x``, tidied (``a = ±1`` for homogeneous
   functions, ``b = 0`` for ``exp``, ``b`` wrapped for periodic ones, arguments of ``sqrt``/``log``
   kept positive on the data) whenever that does not lower ``r^2``, and ``(c, d, r^2)`` are
   recomputed at the final ``(a, b)`` with the same safe torch function the forward pass uses, so
   the reported ``r^2`` is what the fixed edge will compute.

Everything after the coarse scan is float64, whatever the input dtype. The fit runs on one torch
thread (see :mod:`kan_widget.threads`).

Over 400 lines on purpose: the steps above are one algorithm on one private batch layout
(``_Batch``), read in the order it runs; split into modules, each would import the others'
private helpers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..threads import OneThread
from .domain import outside_plain_domain
from .library import SymbolicFunction, resolve_lib

__all__ = ["FitResult", "fit_functions", "r2_score", "sample_quantiles"]

_CHUNK_ELEMS = 1 << 20
_COARSE_N = 40
_ZOOM_ROUNDS_1D = 5
_ZOOM_ROUNDS_2D = 5
_POLISH_ITERS = 12
_FULL_ALPHA_N = 16
_PERIODIC_ALPHA_MIN = 1.0  # below this the data shows < 1/3 period: a polynomial there
_PERIODIC_ALPHA_STEP = 0.25
_SHIFT_MAX = 100.0
_FULL_ALPHA_MIN = 0.05
_EXP_ALPHA = (0.02, 60.0)


@dataclass
class FitResult:
    """Fits of every edge against every function: ``r2 [E, F]`` and ``params [E, F, 4]`` holding
    ``(a, b, c, d)`` of ``c*f(a*x+b)+d`` (float64), for ``names[F]``. ``degenerate [E, F]`` marks
    fits that ended where the function degenerates into a simpler one (see ``_degenerate``)."""

    names: list[str]
    r2: torch.Tensor
    params: torch.Tensor
    degenerate: torch.Tensor | None = None


@dataclass
class _Batch:
    x: torch.Tensor  # [E, N] original inputs
    y: torch.Tensor  # [E, N]
    t: torch.Tensor  # [E, N] inputs mapped to [-1, 1]
    yc: torch.Tensor  # [E, N] centred targets
    syy: torch.Tensor  # [E]
    m: torch.Tensor  # [E]
    R: torch.Tensor  # [E]
    const: torch.Tensor  # [E] bool: y has no variance


def sample_quantiles(x: torch.Tensor, n: int = 100) -> torch.Tensor:
    """``n`` quantiles (min and max included) of every column of ``x [B, C]`` -> ``[n, C]``.

    A learned edge is known exactly, so ~100 points placed like its training inputs describe it as
    well as every training row does, at a fraction of the cost.
    """
    q = torch.linspace(0, 1, n, dtype=torch.float64, device=x.device)
    return torch.quantile(x.detach().to(torch.float64), q, dim=0).to(x.dtype)


def _prepare(x: torch.Tensor, y: torch.Tensor) -> _Batch:
    if x.dim() == 1:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(
            f"x and y must both be [edges, samples]; got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[1] < 3:
        raise ValueError("need at least 3 samples per edge to fit c*f(a*x+b)+d")
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    lo, hi = x.amin(1), x.amax(1)
    m = (lo + hi) / 2
    R = (hi - lo) / 2
    R = torch.where(R > 1e-12 * (m.abs() + 1), R, torch.ones_like(R))
    t = (x - m[:, None]) / R[:, None]
    yc = y - y.mean(1, keepdim=True)
    syy = (yc * yc).sum(1)
    scale = y.abs().amax(1)
    const = syy <= y.shape[1] * (1e-9 * scale + 1e-12) ** 2
    return _Batch(x, y, t, yc, syy, m, R, const)


def _as_dtype(b: _Batch, dtype: torch.dtype) -> _Batch:
    return _Batch(
        *(
            v.to(dtype) if v.dtype.is_floating_point else v
            for v in (b.x, b.y, b.t, b.yc, b.syy, b.m, b.R, b.const)
        )
    )


def _coarse(b: _Batch) -> _Batch:
    """Every few samples in float32: enough to find each optimum's basin, which the float64
    polish on all samples then sharpens."""
    N = b.t.shape[1]
    if N > _COARSE_N:
        idx = torch.linspace(0, N - 1, _COARSE_N, device=b.t.device).round().long()
        t, y = b.t[:, idx], b.y[:, idx]
        yc = y - y.mean(1, keepdim=True)
        b = _Batch(b.x[:, idx], y, t, yc, (yc * yc).sum(1), b.m, b.R, b.const)
    return _as_dtype(b, torch.float32)


# ---------------------------------------------------------------------- r^2 on candidate grids
def _grid_r2(fn: Callable, b: _Batch, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """r^2 of the best ``c*f(alpha*t+beta)+d`` for every edge and candidate: alpha, beta are
    ``[E, P]`` (or ``[P]``, shared by all edges); returns ``[E, P]``."""
    E, N = b.t.shape
    P = alpha.shape[-1]
    if alpha.dim() == 1:
        alpha = alpha.expand(E, P)
        beta = beta.expand(E, P)
    alpha, beta = alpha.to(b.t.dtype), beta.to(b.t.dtype)
    out = torch.empty(E, P, dtype=torch.float64, device=b.t.device)
    step = max(1, _CHUNK_ELEMS // (P * N))
    for s in range(0, E, step):
        sl = slice(s, s + step)
        u = alpha[sl, :, None] * b.t[sl, None, :] + beta[sl, :, None]
        g = fn(u)
        g = g - g.mean(-1, keepdim=True)
        sgy = (g * b.yc[sl, None, :]).sum(-1)
        sgg = (g * g).sum(-1)
        r2 = sgy * sgy / (sgg * b.syy[sl, None])
        # a feature that is flat on the data (a clamped region, a zero) explains nothing
        ok = torch.isfinite(r2) & (sgg > 1e-24 * N)
        out[sl] = torch.where(ok, r2.clamp(0.0, 1.0), torch.zeros_like(r2)).double()
    return out


def _closed_form(
    fn: Callable, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares ``(c, d)`` and ``r^2`` of ``y ~ c*f(a*x+b)+d`` for per-edge ``a, b [E]``."""
    g = fn(a[:, None] * x + b[:, None])
    gm = g.mean(1)
    ym = y.mean(1)
    gc = g - gm[:, None]
    yc = y - ym[:, None]
    sgg = (gc * gc).sum(1)
    sgy = (gc * yc).sum(1)
    syy = (yc * yc).sum(1)
    ok = torch.isfinite(g).all(1) & (sgg > 1e-24 * x.shape[1])
    c = torch.where(ok, sgy / torch.where(ok, sgg, torch.ones_like(sgg)), torch.zeros_like(sgg))
    d = ym - c * torch.where(ok, gm, torch.zeros_like(gm))
    r2 = torch.where(ok, (sgy * sgy / (sgg * syy)).nan_to_num(0.0), torch.zeros_like(sgg))
    return c, d, r2.clamp(0.0, 1.0)


def r2_score(
    x: torch.Tensor, y: torch.Tensor, fn: SymbolicFunction | Callable, params: torch.Tensor
) -> torch.Tensor:
    """``1 - SS_res/SS_tot`` of the exact ``c*f(a*x+b)+d`` (no refit; may be negative)."""
    f = fn.torch_fn if isinstance(fn, SymbolicFunction) else fn
    x = x.detach().to(torch.float64).reshape(-1, x.shape[-1])
    y = y.detach().to(torch.float64).reshape(-1, y.shape[-1])
    p = params.detach().to(torch.float64).reshape(-1, 4)
    pred = p[:, 2:3] * f(p[:, 0:1] * x + p[:, 1:2]) + p[:, 3:4]
    ss_res = ((y - pred) ** 2).sum(1)
    ss_tot = ((y - y.mean(1, keepdim=True)) ** 2).sum(1)
    return torch.where(
        ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300), (ss_res == 0).to(torch.float64)
    )


# ---------------------------------------------------------------------- searches
def _zoom_1d(
    coarse_eval: Callable[[torch.Tensor], torch.Tensor],
    evalf: Callable[[torch.Tensor], torch.Tensor],
    grid: torch.Tensor,
    rounds: int = _ZOOM_ROUNDS_1D,
) -> torch.Tensor:
    """Maximise ``evalf(points [E, P]) -> [E, P]``: the best point of the shared sorted
    ``grid [G]`` by ``coarse_eval``, then zoom windows of 9 points around each edge's best."""
    r = coarse_eval(grid)
    k = r.argmax(1)
    G = grid.shape[0]
    center = grid[k]
    best = torch.full_like(center, -1.0)
    lo = grid[(k - 1).clamp_min(0)]
    hi = grid[(k + 1).clamp_max(G - 1)]
    half = torch.maximum(center - lo, hi - center)
    lin = torch.linspace(-1, 1, 9, dtype=torch.float64, device=grid.device)
    for _ in range(rounds):
        pts = center[:, None] + half[:, None] * lin[None, :]
        r = evalf(pts)
        k = r.argmax(1)
        val = r.gather(1, k[:, None]).squeeze(1)
        better = val > best
        center = torch.where(better, pts.gather(1, k[:, None]).squeeze(1), center)
        best = torch.maximum(val, best)
        # a best point on the window's border moves the window; inside, it shrinks it
        inner = (k > 0) & (k < 8)
        half = torch.where(inner | ~better, half / 4, half)
    return center


def _zoom_2d(
    evalf: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    alpha: torch.Tensor,
    beta: torch.Tensor,
    h_alpha: torch.Tensor,
    h_beta: torch.Tensor,
    rounds: int = _ZOOM_ROUNDS_2D,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Refine per-edge ``(alpha, beta) [E]`` on 5x5 windows of half-widths ``h_*``."""
    lin = torch.linspace(-1, 1, 5, dtype=torch.float64, device=alpha.device)
    da, db = torch.meshgrid(lin, lin, indexing="ij")
    da, db = da.reshape(-1), db.reshape(-1)
    border = (da.abs() == 1) | (db.abs() == 1)
    best = torch.full_like(alpha, -1.0)
    for _ in range(rounds):
        pa = alpha[:, None] + h_alpha[:, None] * da[None, :]
        pb = beta[:, None] + h_beta[:, None] * db[None, :]
        r = evalf(pa, pb)
        k = r.argmax(1)
        val = r.gather(1, k[:, None]).squeeze(1)
        better = val > best
        alpha = torch.where(better, pa.gather(1, k[:, None]).squeeze(1), alpha)
        beta = torch.where(better, pb.gather(1, k[:, None]).squeeze(1), beta)
        best = torch.maximum(val, best)
        shrink = ~(better & border[k])
        h_alpha = torch.where(shrink, h_alpha / 2, h_alpha)
        h_beta = torch.where(shrink, h_beta / 2, h_beta)
    return alpha, beta


def _polish(
    fn: SymbolicFunction,
    b: _Batch,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    free_alpha: bool,
    free_beta: bool,
    alpha_min: float = 0.0,
    iters: int = _POLISH_ITERS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Levenberg–Marquardt on ``(alpha, beta, c, d)`` of every edge at once, from the search's
    point: the grid gets the basin, this gets the last digits cheaply. Steps that do not lower
    the squared error (or leave ``|alpha| >= alpha_min``) are refused, so it never makes a fit
    worse; a flat or kinked ``f`` (sgn, abs) simply stays where the search left it."""
    f, t, y = fn.torch_fn, b.t, b.y
    c, d, _ = _closed_form(f, t, y, alpha, beta)
    theta = torch.stack([alpha, beta, c, d], 1)
    free = torch.tensor([free_alpha, free_beta, True, True], device=t.device)
    pinned = torch.diag_embed((~free).to(t.dtype)).expand(t.shape[0], 4, 4)

    def sse_of(th: torch.Tensor) -> torch.Tensor:
        pred = th[:, 2:3] * f(th[:, 0:1] * t + th[:, 1:2]) + th[:, 3:4]
        return ((pred - y) ** 2).sum(1)

    sse = sse_of(theta)
    mu = torch.full_like(alpha, 1e-3)
    for _ in range(iters):
        u = theta[:, 0:1] * t + theta[:, 1:2]
        g = f(u)
        # central differences: exact enough for Gauss-Newton steps, and free of autograd's
        # per-call overhead (this loop runs for every function of every fit)
        h = 1e-5 * u.abs().clamp_min(1.0)
        fp = (f(u + h) - f(u - h)) / (2 * h)
        cc = theta[:, 2:3]
        r = cc * g + theta[:, 3:4] - y
        J = torch.stack([cc * fp * t, cc * fp, g, torch.ones_like(g)], -1) * free
        A = (J[..., :, None] * J[..., None, :]).sum(1)
        grad = (J * r[..., None]).sum(1)
        diag = A.diagonal(dim1=1, dim2=2)
        ridge = 1e-12 * diag.sum(1, keepdim=True) + 1e-300
        A = A + torch.diag_embed(mu[:, None] * diag + ridge) + pinned
        delta, _ = torch.linalg.solve_ex(A, -grad[..., None])
        trial = theta + delta.squeeze(-1) * free
        sse_new = sse_of(trial)
        ok = torch.isfinite(sse_new) & (sse_new < sse) & torch.isfinite(trial).all(1)
        if alpha_min > 0:
            ok &= trial[:, 0].abs() >= alpha_min
        theta = torch.where(ok[:, None], trial, theta)
        sse = torch.where(ok, sse_new, sse)
        mu = torch.where(ok, mu / 3, mu * 4).clamp(1e-12, 1e12)
    return theta[:, 0], theta[:, 1]


def _search_shift(fn: SymbolicFunction, b: _Batch, coarse: _Batch) -> tuple[torch.Tensor, ...]:
    dev = b.t.device
    inner = torch.linspace(-4, 4, 33, dtype=torch.float64, device=dev)
    n_out = math.ceil(math.log(_SHIFT_MAX / 4) / math.log(1.4))
    outer = 4 * 1.4 ** torch.arange(1, n_out + 1, dtype=torch.float64, device=dev)
    grid = torch.cat([-outer.clamp_max(_SHIFT_MAX).flip(0), inner, outer.clamp_max(_SHIFT_MAX)])
    signs = [1.0] if fn.parity is not None else [1.0, -1.0]
    best_beta = best_r2 = best_sign = None
    for sgn in signs:

        def coarse_eval(beta, sgn=sgn):
            return _grid_r2(fn.torch_fn, coarse, torch.full_like(beta, sgn), beta)

        # the zoom uses every sample: a step (sgn) or kink (abs) must fall between the right
        # pair of samples, which the polish cannot fix for a flat or kinked f
        def evalf(beta, sgn=sgn):
            return _grid_r2(fn.torch_fn, b, torch.full_like(beta, sgn), beta)

        beta = _zoom_1d(coarse_eval, evalf, grid)
        sign = torch.full_like(beta, sgn)
        beta = _polish(fn, b, sign, beta, free_alpha=False, free_beta=True)[1]
        _, _, r2 = _closed_form(fn.torch_fn, b.t, b.y, sign, beta)
        if best_r2 is None:
            best_beta, best_r2, best_sign = beta, r2, sign
        else:
            assert best_beta is not None and best_sign is not None  # set with best_r2
            better = r2 > best_r2
            best_beta = torch.where(better, beta, best_beta)
            best_sign = torch.where(better, sign, best_sign)
            best_r2 = torch.maximum(r2, best_r2)
    assert best_sign is not None and best_beta is not None  # signs is not empty
    return best_sign, best_beta


def _search_exp(fn: SymbolicFunction, b: _Batch, coarse: _Batch) -> tuple[torch.Tensor, ...]:
    # exp(alpha*t + beta) = e^beta * exp(alpha*t): beta only rescales c, so it is chosen to keep
    # the largest argument at 0 (no overflow however large alpha gets)
    dev = b.t.device
    mags = torch.logspace(
        math.log10(_EXP_ALPHA[0]), math.log10(_EXP_ALPHA[1]), 24, dtype=torch.float64, device=dev
    )
    grid = torch.cat([-mags.flip(0), mags])

    def coarse_eval(alpha):
        return _grid_r2(fn.torch_fn, coarse, alpha, -alpha.abs())

    def evalf(alpha):
        return _grid_r2(fn.torch_fn, b, alpha, -alpha.abs())

    alpha = _zoom_1d(coarse_eval, evalf, grid)
    beta = -alpha.abs()
    return _polish(fn, b, alpha, beta, free_alpha=True, free_beta=False)


def _periodic_r2(b: _Batch, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """r^2 of ``c1*sin(alpha*t) + c2*cos(alpha*t) + d`` (closed form) and the phase ``p`` with
    ``c1*sin(u) + c2*cos(u) = R*sin(u + p)``; ``alpha`` is ``[P]`` or ``[E, P]``."""
    E, N = b.t.shape
    P = alpha.shape[-1]
    if alpha.dim() == 1:
        alpha = alpha.expand(E, P)
    alpha = alpha.to(b.t.dtype)
    r2_out = torch.empty(E, P, dtype=torch.float64, device=b.t.device)
    phase_out = torch.empty_like(r2_out)
    step = max(1, _CHUNK_ELEMS // (P * N))
    for s in range(0, E, step):
        sl = slice(s, s + step)
        u = alpha[sl, :, None] * b.t[sl, None, :]
        sn, cs = torch.sin(u), torch.cos(u)
        sn = sn - sn.mean(-1, keepdim=True)
        cs = cs - cs.mean(-1, keepdim=True)
        yc = b.yc[sl, None, :]
        sss, scc, ssc = (sn * sn).sum(-1), (cs * cs).sum(-1), (sn * cs).sum(-1)
        ssy, scy = (sn * yc).sum(-1), (cs * yc).sum(-1)
        det = sss * scc - ssc * ssc
        ok = det > 1e-9 * (sss * scc + 1e-30)
        det = torch.where(ok, det, torch.ones_like(det))
        c1 = (scc * ssy - ssc * scy) / det
        c2 = (sss * scy - ssc * ssy) / det
        r2 = (c1 * ssy + c2 * scy) / b.syy[sl, None]
        r2 = torch.where(ok & torch.isfinite(r2), r2.clamp(0.0, 1.0), torch.zeros_like(r2))
        r2_out[sl] = r2.double()
        phase_out[sl] = torch.atan2(c2, c1).double()
    return r2_out, phase_out


def _search_periodic(fn: SymbolicFunction, b: _Batch, cache: dict) -> tuple[torch.Tensor, ...]:
    """``sin`` and ``cos`` share one search: ``c1*sin(alpha*t) + c2*cos(alpha*t)`` is closed form
    for every shift, so only ``alpha`` is scanned, once per batch."""
    if "periodic" not in cache:
        N = b.t.shape[1]
        # ~N/4 periods across the data is the most N quantile points can still show
        top = max(4.0, math.pi * N / 4)
        grid = torch.arange(
            _PERIODIC_ALPHA_MIN, top, _PERIODIC_ALPHA_STEP, dtype=torch.float64, device=b.t.device
        )
        # the coarse scan needs every sample (high frequencies) but not float64
        r = _periodic_r2(_as_dtype(b, torch.float32), grid)[0]
        k = r.argmax(1)
        center = grid[k]
        half = torch.full_like(center, _PERIODIC_ALPHA_STEP)
        lin = torch.linspace(-1, 1, 9, dtype=torch.float64, device=b.t.device)
        best = torch.full_like(center, -1.0)
        for _ in range(_ZOOM_ROUNDS_1D):
            pts = (center[:, None] + half[:, None] * lin[None, :]).clamp_min(_PERIODIC_ALPHA_MIN)
            rr = _periodic_r2(b, pts)[0]
            kk = rr.argmax(1)
            val = rr.gather(1, kk[:, None]).squeeze(1)
            better = val > best
            center = torch.where(better, pts.gather(1, kk[:, None]).squeeze(1), center)
            best = torch.maximum(val, best)
            half = torch.where(((kk > 0) & (kk < 8)) | ~better, half / 4, half)
        _, phase = _periodic_r2(b, center[:, None])
        cache["periodic"] = (center, phase.squeeze(1))
    alpha, phase = cache["periodic"]
    # f(u) = sin(u + fn.phase), so sin(alpha*t + p) = f(alpha*t + p - fn.phase)
    return _polish(fn, b, alpha, phase - fn.phase, True, True, alpha_min=_PERIODIC_ALPHA_MIN)


def _full_grid(fn: SymbolicFunction, dev) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Coarse (alpha, beta) candidates, plus each one's beta spacing.

    For every width ``alpha`` (log spaced), the window ``|u| <= support`` where ``f`` has its
    shape is placed at every position that overlaps the data, finely enough that consecutive
    placements overlap."""
    hi = max(fn.alpha_max, _FULL_ALPHA_MIN * 2)
    mags = torch.logspace(
        math.log10(_FULL_ALPHA_MIN), math.log10(hi), _FULL_ALPHA_N, dtype=torch.float64
    )
    alphas = mags if fn.parity is not None else torch.cat([mags, -mags])
    pa, pb, hb = [], [], []
    for a in alphas.tolist():
        if fn.period is not None:
            n = 12
            step = fn.period / n
            betas = torch.arange(n, dtype=torch.float64) * step - fn.period / 2
        else:
            reach = abs(a) + fn.support
            n = int(min(101, max(7, math.ceil(2 * abs(a) / fn.support) + 7)))
            betas = torch.linspace(-reach, reach, n, dtype=torch.float64)
            step = 2 * reach / (n - 1)
        pa.append(torch.full_like(betas, a))
        pb.append(betas)
        hb.append(torch.full_like(betas, step))
    return torch.cat(pa).to(dev), torch.cat(pb).to(dev), torch.cat(hb).to(dev)


def _search_full(fn: SymbolicFunction, b: _Batch, coarse: _Batch) -> tuple[torch.Tensor, ...]:
    ga, gb, gh = _full_grid(fn, b.t.device)
    r = _grid_r2(fn.torch_fn, coarse, ga, gb)
    k = r.argmax(1)
    alpha, beta = ga[k], gb[k]
    ratio = (max(fn.alpha_max, _FULL_ALPHA_MIN * 2) / _FULL_ALPHA_MIN) ** (1 / (_FULL_ALPHA_N - 1))
    h_alpha = alpha.abs() * (ratio - 1)
    h_beta = gh[k] / 2

    def evalf(pa, pb):
        return _grid_r2(fn.torch_fn, coarse, pa, pb)

    alpha, beta = _zoom_2d(evalf, alpha, beta, h_alpha, h_beta)
    return _polish(fn, b, alpha, beta, True, True)


def _search_quadratic(b: _Batch) -> tuple[torch.Tensor, torch.Tensor]:
    # y ~ q2*t^2 + q1*t + q0 = q2*(t + s)^2 + const with s = q1/(2*q2)
    t = b.t
    p = t * t
    p = p - p.mean(1, keepdim=True)
    q = t - t.mean(1, keepdim=True)
    spp, sqq, spq = (p * p).sum(1), (q * q).sum(1), (p * q).sum(1)
    spy, sqy = (p * b.yc).sum(1), (q * b.yc).sum(1)
    det = spp * sqq - spq * spq
    det = torch.where(det.abs() > 1e-300, det, torch.ones_like(det))
    q2 = (sqq * spy - spq * sqy) / det
    q1 = (spp * sqy - spq * spy) / det
    # a vanishing q2 means a straight line: a vertex far away keeps (t + s)^2 linear on the data
    s = q1 / (2 * q2)
    far = ~torch.isfinite(s) | (s.abs() > 1e3)
    s = torch.where(far, torch.sign(q1 * q2 + (q2 == 0)) * 1e3, s)
    return torch.ones_like(s), s


# ---------------------------------------------------------------------- tidy and finalise
def _to_x_units(b: _Batch, alpha: torch.Tensor, beta: torch.Tensor):
    a = alpha / b.R
    return a, beta - a * b.m


def _better_or_equal(r2_new: torch.Tensor, r2_old: torch.Tensor) -> torch.Tensor:
    return (1 - r2_new) <= (1 - r2_old) * (1 + 1e-6) + 1e-13


def _finalize(
    fn: SymbolicFunction, b: _Batch, a: torch.Tensor, bb: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[E, 4]`` params with tidy ``(a, b)`` where that costs no accuracy, and their r2."""
    f = fn.torch_fn
    c, d, r2 = _closed_form(f, b.x, b.y, a, bb)

    def try_alt(a2, b2, cond):
        nonlocal a, bb, c, d, r2
        c2, d2, r22 = _closed_form(f, b.x, b.y, a2, b2)
        take = cond & _better_or_equal(r22, r2)
        a = torch.where(take, a2, a)
        bb = torch.where(take, b2, bb)
        c = torch.where(take, c2, c)
        d = torch.where(take, d2, d)
        r2 = torch.where(take, r22, r2)

    everywhere = torch.ones_like(a, dtype=torch.bool)
    if fn.kind in ("shift", "quadratic"):
        # homogeneous: f(a*x + b) = g(|a|) * f(sign(a)*(x + b/a)), so |a| can go into c
        scale = a.abs().clamp_min(1e-300)
        try_alt(a / scale, bb / scale, everywhere)
    if fn.positive_domain and fn.parity is not None:
        arg = a[:, None] * b.x + bb[:, None]
        try_alt(-a, -bb, arg.median(1).values < 0)
    if fn.kind == "exp":
        try_alt(a, torch.zeros_like(bb), everywhere)
    if fn.period is not None:
        p = fn.period
        try_alt(a, torch.remainder(bb + p / 2, p) - p / 2, everywhere)
    return torch.stack([a, bb, c, d], 1), r2


def _degenerate(fn: SymbolicFunction, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Fits that ran to the end of the search where ``f`` turns into a simpler function on the
    data: ``sin``/``cos`` at the lowest frequency (a parabola or a line), ``exp`` or a sigmoid at
    the smallest slope (a line), a power with its singularity or vertex pushed far away (a
    low-order polynomial), an entry below its ``min_alpha`` (a gaussian seen only near its
    peak). Such a fit says "something simpler", not "this function"."""
    if fn.kind == "periodic":
        return alpha <= (fn.min_alpha or _PERIODIC_ALPHA_MIN * (1 + 1e-3))
    if fn.kind == "exp":
        return alpha.abs() <= _EXP_ALPHA[0] * 1.01
    if fn.kind == "shift":
        return beta.abs() >= _SHIFT_MAX * 0.99
    if fn.kind == "full":
        return alpha.abs() <= (fn.min_alpha or _FULL_ALPHA_MIN * 1.01)
    return torch.zeros_like(alpha, dtype=torch.bool)


def _fit_one(
    fn: SymbolicFunction, b: _Batch, coarse: _Batch, cache: dict
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    E = b.x.shape[0]
    ones = torch.ones(E, dtype=torch.float64, device=b.x.device)
    no = torch.zeros(E, dtype=torch.bool, device=b.x.device)
    if fn.kind == "zero":
        params = torch.stack([ones, 0 * ones, 0 * ones, b.y.mean(1)], 1)
        return torch.zeros_like(ones), params, no
    degenerate = no
    if fn.kind == "linear":
        a, bb = ones, 0 * ones
    else:
        if fn.kind == "quadratic":
            alpha, beta = _search_quadratic(b)
        elif fn.kind == "shift":
            alpha, beta = _search_shift(fn, b, coarse)
        elif fn.kind == "exp":
            alpha, beta = _search_exp(fn, b, coarse)
        elif fn.kind == "periodic":
            alpha, beta = _search_periodic(fn, b, cache)
        else:
            alpha, beta = _search_full(fn, b, coarse)
        degenerate = _degenerate(fn, alpha, beta)
        a, bb = _to_x_units(b, alpha, beta)
    params, r2 = _finalize(fn, b, a, bb)
    # a fit whose argument leaves the function's domain on the data (sqrt of a sign-changing
    # argument, a pole inside the data) needs a guard in the formula: a physicist's choice only
    # if nothing plainer fits, so it ranks like a degenerate fit
    u = params[:, 0:1] * b.x + params[:, 1:2]
    degenerate = degenerate | outside_plain_domain(fn, u)
    return r2, params, degenerate


def fit_functions(
    x: torch.Tensor, y: torch.Tensor, lib: Sequence[str | SymbolicFunction] | None = None
) -> FitResult:
    """Fit every edge ``y[e] ~ c*f(a*x[e]+b)+d`` for every ``f`` in ``lib`` (None = the whole
    library). ``x, y`` are ``[E, N]``. An edge with constant ``y`` is fitted exactly by any
    function with ``c = 0`` (``r^2 = 1``)."""
    with OneThread():
        return _fit_functions(x, y, lib)


def _fit_functions(
    x: torch.Tensor, y: torch.Tensor, lib: Sequence[str | SymbolicFunction] | None
) -> FitResult:
    entries = resolve_lib(lib)
    b = _prepare(x, y)
    coarse = _coarse(b)
    E = b.x.shape[0]
    F = len(entries)
    r2 = torch.zeros(E, F, dtype=torch.float64, device=b.x.device)
    params = torch.zeros(E, F, 4, dtype=torch.float64, device=b.x.device)
    degenerate = torch.zeros(E, F, dtype=torch.bool, device=b.x.device)
    done: dict[str, int] = {}
    cache: dict = {}
    for k, fn in enumerate(entries):
        key = fn.alias_of or fn.name
        if key in done:
            k0 = done[key]
            r2[:, k], params[:, k], degenerate[:, k] = r2[:, k0], params[:, k0], degenerate[:, k0]
            continue
        r2[:, k], params[:, k], degenerate[:, k] = _fit_one(fn, b, coarse, cache)
        done[key] = k
    if bool(b.const.any()):
        const_params = torch.stack(
            [torch.ones(E), torch.zeros(E), torch.zeros(E), torch.zeros(E)], 1
        ).to(params)
        const_params[:, 3] = b.y.mean(1)
        r2[b.const] = 1.0
        params[b.const] = const_params[b.const][:, None, :].expand(-1, F, 4)
        degenerate[b.const] = False
    return FitResult([fn.name for fn in entries], r2, params, degenerate)
