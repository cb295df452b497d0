"""The fused autograd kernel of a layer's numeric edges: features, output and magnitudes in one
forward, and their hand-written backward beside it.

:class:`SplineLayer` computes ``y = f @ w`` from the features ``f [in, K+1, B]`` (base function,
then the B-spline basis) of every input, and every edge's batch standard deviation (the
regulariser's magnitude) from the features' Gram matrix, without the ``[B, in, out]`` edge
tensor. :class:`InputCache` keeps the input layer's :class:`Features` across the evaluations of
one L-BFGS step; :class:`Tape` lets the trainer run the forward and backward itself, outside
autograd (``KANLayer.forward_tape``).
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import torch

from . import ckernel
from .higher import differentiable_backward, layer_reference
from .splines import Knots, Scratch, basis_deriv_grad, chunks, recursion
from .threads import OneThread, free_block

__all__ = ["STATISTIC", "Features", "InputCache", "Moments", "SplineLayer", "Tape"]

# reg_metric -> the fused layer's statistic (None: no statistics)
STATISTIC = {None: None, "edge_forward_spline_n": "n", "edge_forward_spline_u": "u"}


class Tape:
    """What a :class:`SplineLayer` forward saves for its backward, when the trainer runs both
    itself (``KANLayer.forward_tape``): the part of autograd's ``ctx`` the layer uses."""

    def __init__(self, need_dx: bool):
        self.needs_input_grad = (need_dx, True)
        self.layer_views: tuple[torch.Tensor, ...] = ()  # the layer's own (forward_tape)

    def set_materialize_grads(self, _value: bool) -> None:
        pass

    def save_for_backward(self, *tensors: torch.Tensor | None) -> None:
        self.saved_tensors = tensors


class Moments(NamedTuple):
    """What the magnitudes need from a layer's features, whatever the weights: the float64
    centred features (``fc``, one chunk; ``None`` when the backward recomputes them per chunk),
    their ``mean`` and Gram matrix ``cov``, and for the ``"n"`` metric the centred inputs ``xc``,
    their std, and the float64 terms derived from it that the forward and backward share
    (``x_std64``, the divisor ``x_den = x_std + 0.1`` and its reciprocal ``x_rden``): computed
    once per features, so the input layer's are computed once per grid, not per evaluation."""

    fc: list[torch.Tensor] | None
    mean: torch.Tensor
    cov: torch.Tensor
    xc: torch.Tensor | None
    x_std: torch.Tensor | None
    x_std64: torch.Tensor | None = None
    x_den: torch.Tensor | None = None
    x_rden: torch.Tensor | None = None


class Features:
    """A layer's features ``f [in, K+1, B]`` (base function, then the basis) for inputs ``x``,
    the order-(k-1) basis ``prev`` (one tensor per batch chunk) when the input's gradient is
    needed, and, computed on first use, their :class:`Moments`."""

    def __init__(self, x: torch.Tensor, kn: Knots, base_fun: str, need_dx: bool):
        B, n_in = x.shape
        n_f = kn.knots.shape[1] - len(kn.inv)  # K + 1
        self.xt = xt = x.t().contiguous().unsqueeze(1)  # [in, 1, B]
        self.f = f = x.new_empty(n_in, n_f, B)
        # the views the products use, made once (the input layer's live across evaluations)
        self.f2d = f.view(n_in * n_f, B)
        self.ft = self.f2d.t()
        self.x0 = xt[:, 0]  # [in, B]
        self.cols = cols = chunks(n_in, kn.knots.shape[1], B)
        # the order-(k-1) basis, one contiguous tensor per chunk: the recursion writes each
        # level straight into it (a strided slice of one buffer took a copy per chunk, 6% of
        # the wide case's step, measured), and the backward reads it per chunk
        self.prev: list[torch.Tensor] | None = (
            [x.new_empty(n_in, n_f, c.stop - c.start) for c in cols] if need_dx else None
        )
        if len(cols) == 1:  # one chunk: no column slices (small models count every op)
            recursion(xt, kn, f[:, 1:], None if self.prev is None else self.prev[0])
        if len(cols) > 1:
            # the recursion's temporaries in this thread's reused buffers: fresh ~1 MB ones
            # per op came from new pages, and the page faults cost more than the math (wide
            # case, measured)
            scratch = _scratch(x, n_in * kn.knots.shape[1] * (cols[0].stop - cols[0].start))
            for n, c in enumerate(cols):
                prev_n = None if self.prev is None else self.prev[n]
                recursion(xt[..., c], kn, f[:, 1:, c], prev_n, scratch)
        if base_fun == "silu":
            torch.ops.aten.silu.out(xt, out=f[:, :1])
        else:
            f[:, 0] = xt[:, 0] if base_fun == "identity" else 0
        self._moments: dict[bool, Moments] = {}

    def moments(self, stats: str) -> Moments:
        n = stats == "n"
        if n not in self._moments:
            self._moments[n] = self._compute_moments(n)
        return self._moments[n]

    def _compute_moments(self, with_x_std: bool) -> Moments:
        f, cols = self.f, self.cols
        n_in, n_f, B = f.shape
        # centred features in float64, per chunk (small contiguous pieces: one big buffer's
        # first-touch page faults cost more than the math). One chunk is kept for the
        # backward's Gram derivative; several are recomputed there from f (bit-identical):
        # keeping them doubled the memory freed and faulted back in every step (wide case:
        # ~2800 page faults/step, ~8 ms of system time)
        if len(cols) == 1 and f.is_cpu:
            # in one compiled call (ckernel.moments: ~11 ops of a small hidden layer)
            res = ckernel.moments(f, self.x0 if with_x_std else None)
            if res is not None:
                fc, mean, cov, *xs = res
                if not with_x_std:
                    return Moments([fc], mean, cov, None, None)
                return Moments([fc], mean, cov, *xs)
        if len(cols) == 1:
            # one cast: equal to the bit to mean(dtype=float64), which casts a copy of its own
            fc = f.to(torch.float64, copy=True)
            mean = fc.mean(2, keepdim=True)
            fcs = [fc.sub_(mean)]
            cov = torch.bmm(fc, fc.transpose(1, 2))
        else:
            # shifted data: centre each chunk (cast into one reused float64 buffer) on the
            # float32 mean, then correct the Gram by the exact mean's offset ``s / B`` from it
            # (``sum (f - a)(f - a)^T = C + B d d^T``, d = mean - a): no float64 copy of the
            # whole features for the mean (its fresh pages were a tenth of the wide step)
            shift = f.mean(2, keepdim=True).double()
            cov = torch.zeros(n_in, n_f, n_f, dtype=torch.float64, device=f.device)
            s = torch.zeros_like(shift)
            for c in cols:
                fcc = _centred(f, c, shift)
                cov.baddbmm_(fcc, fcc.transpose(1, 2))
                s.add_(fcc.sum(2, keepdim=True))
            cov.baddbmm_(s, s.transpose(1, 2), alpha=-1.0 / B)
            mean = shift.add_(s, alpha=1.0 / B)
            fcs = None
        if not with_x_std:
            return Moments(fcs, mean, cov, None, None)
        # torch.std is 7x slower than this at [100, 1, 1000] (measured)
        x0 = self.x0
        xc = x0 - x0.mean(1, keepdim=True)  # [in, B]
        x_std = torch.linalg.vector_norm(xc, dim=1, keepdim=True).div_(math.sqrt(max(B - 1, 1)))
        x_std64 = x_std.double()
        x_den = x_std64 + 0.1
        # reciprocal alone: "1.0 / t" is reciprocal then a product by 1.0 (exact), two ops
        return Moments(fcs, mean, cov, xc, x_std, x_std64, x_den, torch.reciprocal(x_den))


class InputCache:
    """The first layer's :class:`Features` for the last training inputs and knots.

    An L-BFGS step evaluates the model ~25 times on the same inputs, and grid updates come every
    few steps, so the input layer's basis, its float64 centring and Gram matrix (a third of a
    [2,5,1] closure, measured) are computed once per grid instead of once per evaluation. Keyed
    on the identity and version of the inputs and of the knot constants."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.store(None, None, None, None)

    def store(self, x, kn, base_fun, feats: Features | None) -> None:
        self.x, self.kn, self.base_fun, self.feats = x, kn, base_fun, feats
        self.version = None if x is None else x._version

    def __getstate__(self):  # copies and pickles of a layer do not carry the features
        return {}

    def __setstate__(self, _state) -> None:
        self.clear()

    def holds(self, x: torch.Tensor, kn: Knots, base_fun: str) -> bool:
        return (
            self.feats is not None
            and self.x is x
            and self.version == x._version
            and self.kn is kn
            and self.base_fun == base_fun
        )


class SplineLayer(torch.autograd.Function):
    """One layer's numeric edges and, optionally, every edge's batch standard deviation (the
    regulariser's magnitude), with a hand-written backward.

    Features ``f_i = [base(x_i), B_1(x_i), ..., B_K(x_i)]`` are built once in ``[in, K+1, B]``
    layout (batch innermost), so the output is one matmul with the weights ``w [in, K+1, out]``
    and ``Var(phi_ij) = w_ij^T Cov(f_i) w_ij`` (unbiased, like ``torch.std``) is one batched Gram
    matrix: the ``[B, in, out]`` edge tensor never exists. Autograd through the basis recursion
    and the quadratic form would record dozens of ops per layer (small models are bound by per-op
    overhead); here the backward is two matmuls, two small batched matmuls and the closed-form
    basis derivative.

    The quadratic form cancels heavily for edges that are nearly constant over the batch, so the
    covariance, the form and its gradients are evaluated in float64: in float32 the variance of
    such edges is round-off noise, and the gradient of its square root (what the L1 penalty
    differentiates) is then garbage that stalls LBFGS's line search.

    ``stats``: None, ``"u"`` (std of every edge) or ``"n"`` (std / (std of the input + 0.1)).
    """

    @staticmethod
    def forward(
        ctx,
        x,
        w,
        kn: Knots,
        base_fun: str,
        stats: str | None,
        grad: bool,
        cache: InputCache | None = None,
    ):
        # outside a training step: as the caller's loop runs fastest (threads.free_block)
        key = (x.shape, w.shape, stats, x.dtype) if x.device.type == "cpu" else None
        with free_block(key) as th:
            return SplineLayer.run_forward(ctx, th, x, w, kn, base_fun, stats, grad, cache)

    @staticmethod
    def run_forward(
        ctx,
        th: OneThread,
        x,
        w,
        kn: Knots,
        base_fun: str,
        stats: str | None,
        grad,
        cache: InputCache | None = None,
    ):
        B = x.shape[0]
        # needs_input_grad ignores no_grad mode: ``grad`` says whether a backward can follow
        need_dx = grad and ctx.needs_input_grad[0] and kn.dinv is not None
        cache = None if need_dx else cache  # the input layer's features only (no prev)
        feats = cache.feats if cache is not None and cache.holds(x, kn, base_fun) else None
        if feats is None:
            feats = Features(x, kn, base_fun, need_dx)
            if cache is not None:
                cache.store(x, kn, base_fun, feats)
        xt, f, cols = feats.xt, feats.f, feats.cols
        w2d = w.reshape(-1, w.shape[2])
        y = th.mm(feats.ft, w2d)
        ctx.set_materialize_grads(False)
        ctx.kn, ctx.base_fun, ctx.stats, ctx.chunks = kn, base_fun, stats, cols
        ctx.f2d, ctx.x0, ctx.w2d, ctx.m = feats.f2d, feats.x0, w2d, None
        ctx.prev = feats.prev  # a list (per chunk), kept beside the saved tensors
        ctx.cstats = False  # whether the compiled magnitudes ran (then no wd is saved)
        if stats is None:
            ctx.save_for_backward(x, xt, w, f)
            return y, None
        ctx.m = m = feats.moments(stats)
        ctx.fc, ctx.mean = m.fc, m.mean
        if x.is_cpu:
            # the magnitudes in one compiled call (ckernel.stats_forward: ~10 ops a layer)
            res = ckernel.stats_forward(m.cov, w, B, m.x_den)
            if res is not None:
                cw, std, value = res
                ctx.cstats = True
                ctx.save_for_backward(x, xt, w, f, None, cw, std, m.xc, m.x_std)
                return y, value
        wd = w.double()
        cw = torch.bmm(m.cov, wd).div_(max(B - 1, 1))
        std = (wd * cw).sum(1).clamp_min_(1e-30).sqrt_()  # [in, out]; var 0: no gradient
        value = std if m.x_den is None else std / m.x_den
        ctx.save_for_backward(x, xt, w, f, wd, cw, std, m.xc, m.x_std)
        return y, value.to(x.dtype)

    @staticmethod
    def backward(ctx, gy, gval):
        if torch.is_grad_enabled():
            # the graph of this backward is wanted (create_graph=True): a second derivative
            # through the hand-written one would be 0, so autograd differentiates the plain-ops
            # definition instead (kan_widget/higher.py)
            x, _, w, *_ = ctx.saved_tensors
            gx, gw = differentiable_backward(
                lambda x, w: layer_reference(x, w, ctx.kn, ctx.base_fun, ctx.stats),
                (x, w),
                ctx.needs_input_grad[:2],
                (gy, gval),
            )
            return gx, gw, None, None, None, None, None
        with free_block() as th:
            return SplineLayer.run_backward(ctx, th, gy, gval)

    @staticmethod
    def run_backward(ctx, th: OneThread, gy, gval):
        _, xt, w, feats, *extra = ctx.saved_tensors
        prev = ctx.prev
        kn, B = ctx.kn, xt.shape[2]
        n_in, n_f = feats.shape[0], feats.shape[1]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        one = len(ctx.chunks) == 1  # one chunk: no column slices
        gw = gx = M = g_xstd = None
        if gval is not None and ctx.cstats:
            wd, cw, std, xc, x_std = extra
            res = ckernel.stats_backward(
                gval, std, cw, w, B, ctx.m.x_rden if ctx.stats == "n" else None, need_x
            )
            if res is None:  # not a tensor the kernel takes: the torch path's operations
                wd = w.double()
                extra = [wd, *extra[1:]]
            else:
                gw, M, g_xstd = res
                gw = gw if need_w else None
                zero = _zero(cw)
        if gval is not None and (not ctx.cstats or extra[0] is not None):
            wd, cw, std, xc, x_std = extra
            gstd = gval.double()
            zero = _zero(gstd)
            if ctx.stats == "n":
                r = ctx.m.x_rden  # [in, 1]
                if need_x:
                    g_xstd = -(gstd * std).sum(1, keepdim=True) * r * r
                gstd = gstd * r
            # d std/d var = 1/(2 std), and d var/d w = 2 C w
            gvar = torch.where(std > 1e-15, gstd / std, zero).unsqueeze(1)  # 2 * dL/dvar
            if need_w:
                gw = (cw * gvar).to(w.dtype)
            if need_x:
                M = torch.bmm(wd * gvar, wd.transpose(1, 2)).div_(max(B - 1, 1))
        if gy is not None and need_w:
            g = th.mm(ctx.f2d, gy).view(w.shape)
            gw = g if gw is None else gw + g
        if need_x and (gy is not None or M is not None):
            gx = xt.new_zeros(n_in, B) if len(ctx.chunks) > 1 else None
            w_flat = ctx.w2d  # w as [in * (K+1), out]
            for n, c in enumerate(ctx.chunks):
                gf = None
                if gy is not None:
                    gf = th.mm(w_flat, (gy if one else gy[c]).t()).view(n_in, n_f, -1)
                if M is not None:
                    # the Gram derivative; centring drops out (rows of fc are centred, so this
                    # gradient already has zero mean over the batch)
                    # cast first: a mixed-dtype add_ is 20x slower (measured)
                    fcc = ctx.fc[n] if ctx.fc is not None else _centred(feats, c, ctx.mean)
                    # gf += (M fc).to(dtype) in one compiled call where it runs (it adds
                    # into gf in place: None when it declines, nothing written)
                    if not (
                        one
                        and gf is not None
                        and ctx.cstats
                        and ckernel.gram_backward(M, fcc, gf) is not None
                    ):
                        if one:
                            g = torch.bmm(M, fcc).to(w.dtype)
                        else:  # several chunks: into reused buffers (fresh pages cost more)
                            g64 = _scratch(fcc, fcc.numel(), 2).get(0, fcc.shape)
                            g = _scratch(xt, fcc.numel(), 2).get(0, fcc.shape)
                            g.copy_(torch.bmm(M, fcc, out=g64))
                        gf = g if gf is None else gf.add_(g)
                assert gf is not None  # gy or M is set (the condition above)
                gc = _base_grad(ctx.base_fun, gf[:, 0], ctx.x0 if one else xt[:, 0, c])
                if prev is not None:
                    sc = None if one else _scratch(xt, prev[n].numel())
                    d = basis_deriv_grad(prev[n], kn, gf[:, 1:], sc)
                    gc = d if gc is None else gc + d
                if gx is None:
                    gx = gc
                elif gc is not None:
                    gx[:, c] += gc
            if g_xstd is not None and B > 1:
                # d std(x_i)/d x_bi = (x_bi - mean_i) / ((B-1) std_i); a constant input: 0
                s = torch.where(x_std > 0, g_xstd / (ctx.m.x_std64 * (B - 1)), zero)
                g = xc * s.to(xt.dtype)
                gx = g if gx is None else gx + g
        return None if gx is None else gx.t(), gw, None, None, None, None, None


_ZEROS: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _zero(like: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero of ``like``'s dtype and device, made once: ``torch.where(c, a, 0.0)``
    dispatches a ``scalar_tensor`` op for the 0.0 every call (small models count every op)."""
    key = (like.dtype, like.device)
    z = _ZEROS.get(key)
    if z is None:
        with torch.inference_mode(False), torch.no_grad():
            z = _ZEROS[key] = torch.zeros((), dtype=like.dtype, device=like.device)
    return z


def _centred(feats: torch.Tensor, c: slice, mean: torch.Tensor) -> torch.Tensor:
    """Columns ``c`` of ``feats [in, n_f, B]`` in float64, minus ``mean [in, n_f, 1]``, in this
    thread's reused float64 buffer: valid until the next call (each caller consumes it at once)."""
    part = feats[..., c]
    out = _scratch(mean, part.numel(), 1).get(0, part.shape)
    return out.copy_(part).sub_(mean)


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.scratch: dict[tuple[torch.dtype, torch.device, int], Scratch] = {}


_PER_THREAD = _PerThread()


def _scratch(like: torch.Tensor, numel: int, n: int = 3) -> Scratch:
    """This thread's :class:`Scratch` of ``n`` buffers of ``like``'s dtype and device holding at
    least ``numel`` elements (grown when a larger layer needs more). Per thread: a model trained
    in one thread while another evaluates one never shares a temporary."""
    key = (like.dtype, like.device, n)
    sc = _PER_THREAD.scratch.get(key)
    if sc is None or sc.bufs[0].numel() < numel:
        with torch.inference_mode(False), torch.no_grad():
            sc = _PER_THREAD.scratch[key] = Scratch(like.detach(), numel, n)
    return sc


def _base_grad(base_fun: str, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
    if base_fun == "silu":
        return torch.ops.aten.silu_backward(g, x)
    return g if base_fun == "identity" else None


class LayerWeights(torch.autograd.Function):
    """A layer's feature weights ``w [in, K+1, out]`` (``KANLayer._weights``: base, then the
    spline's coefficients, masks folded in) from ``scale_base``, ``scale_sp``, ``coef`` and the
    splines' mask, forward and backward on one thread.

    Outside a training step autograd ran these ops at the caller's count: ``w`` and its
    gradient pass ATen's 32K-element grain from ``[100, 7, 100]`` on, so each op woke the
    thread pool, and with another process on a core each waited for a descheduled worker.
    The operations are autograd's own (those of ``_numeric_weights`` and ``cat``; the backward
    is ``backward_tape``'s), so values and gradients are bit-identical; with ``create_graph``
    the backward's plain operations on the saved inputs are recorded as any."""

    @staticmethod
    def forward(ctx, sb, sp, coef, m):
        with OneThread(par=False):
            spm1 = (sp * m).unsqueeze(1)
            coef_t = coef.transpose(1, 2)
            w = torch.cat([(sb * m).unsqueeze(1), spm1 * coef_t], dim=1)
        # the inputs, not spm1 / coef_t: made in here they have no graph, and a backward
        # with create_graph must differentiate through them (recomputed: the same bits)
        ctx.save_for_backward(sp, coef, m)
        return w

    @staticmethod
    def backward(ctx, gw):
        sp, coef, m = ctx.saved_tensors
        with OneThread(par=False):
            spm1 = (sp * m).unsqueeze(1)
            coef_t = coef.transpose(1, 2)
            gs = gw[:, 1:]  # the gradient of (scale_sp * m)[:, None] * coef^T
            g_sb = gw[:, 0] * m if ctx.needs_input_grad[0] else None
            g_sp = (gs * coef_t).sum(1) * m if ctx.needs_input_grad[1] else None
            g_coef = None
            if ctx.needs_input_grad[2]:
                # in coef's own layout, here: autograd copied the transposed view into it
                # (its layout contract) at the caller's count, a parallel region after which
                # the idle worker spun ~8 ms (wide case: 18 ms of CPU a step, measured)
                g_coef = (gs * spm1).transpose(1, 2).contiguous()
        return g_sb, g_sp, g_coef, None
