"""One KAN layer: a learnable 1-D function on every edge, summed into each output node.

Each edge is ``phi(x) = scale_base*silu(x) + scale_sp*sum_m coef_m B_m(x)`` (pykan's form), or, once
fixed symbolically, ``c*f(a*x + b) + d``. The forward pass never builds the per-edge
``[batch, in, out]`` tensor: basis features of each input feed one matrix multiply, so the cost is
that of a dense layer with ``in*(G+k+1)`` inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .splines import (
    Knots,
    _recursion,
    basis,
    basis_deriv_grad,
    chunks,
    curve2coef,
    extend_grid,
    knots_of,
    refit_coef,
    uniform_grid,
)
from .threads import OneThread

__all__ = ["BASE_FUNCTIONS", "EdgeStats", "KANLayer"]

BASE_FUNCTIONS = {
    "silu": F.silu,
    "identity": lambda x: x,
    "zero": torch.zeros_like,
}


@dataclass
class EdgeStats:
    """Per-edge magnitudes of one layer, ``[in, out]``, from one forward pass.

    ``value`` carries gradients (it is what the regulariser penalises); ``score`` is the detached
    magnitude including symbolic edges (what importance, fading and pruning use).
    """

    value: torch.Tensor
    score: torch.Tensor


# reg_metric -> the fused layer's statistic (None: no statistics)
_FUSED = {None: None, "edge_forward_spline_n": "n", "edge_forward_spline_u": "u"}


class KANLayer(nn.Module):
    """A layer of ``in_dim*out_dim`` learnable edges on per-input knot vectors.

    Parameters and buffers use pykan's ``[in, out, ...]`` layout so parameters can be copied between
    the two (see ``tests/test_pykan_parity.py``).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        grid: int = 3,
        k: int = 3,
        *,
        grid_range=(-1.0, 1.0),
        noise_scale: float = 0.3,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        base_fun: str = "silu",
        grid_eps: float = 0.02,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device=None,
    ):
        super().__init__()
        self.in_dim, self.out_dim, self.num, self.k = in_dim, out_dim, grid, k
        self.grid_eps = grid_eps
        self.base_fun_name = base_fun
        self.base_fun = BASE_FUNCTIONS[base_fun]
        kw = {"dtype": dtype, "device": device}
        self.register_buffer("grid", uniform_grid(in_dim, grid, k, grid_range, **kw))
        # pykan's init: a least-squares spline through small uniform noise at the grid points
        noise = torch.rand(grid + 1, in_dim, out_dim, generator=generator, dtype=dtype) - 0.5
        noise = (noise * noise_scale / grid).to(device)
        knots = self.grid[:, k:-k].t()  # [G+1, in]
        self.coef = nn.Parameter(curve2coef(knots, noise, self.grid, k))
        u = torch.rand(in_dim, out_dim, generator=generator, dtype=dtype).to(device)
        sb = scale_base_mu / math.sqrt(in_dim) + scale_base_sigma * (u * 2 - 1) / math.sqrt(in_dim)
        self.scale_base = nn.Parameter(sb)
        self.scale_sp = nn.Parameter(torch.full((in_dim, out_dim), 1 / math.sqrt(in_dim), **kw))
        self.register_buffer("mask", torch.ones(in_dim, out_dim, **kw))
        self.register_buffer(
            "sym_mask", torch.zeros(in_dim, out_dim, dtype=torch.bool, device=device)
        )
        sym = torch.zeros(in_dim, out_dim, 4, **kw)
        sym[..., 0] = 1.0  # a = 1, c = 1 so a freshly fixed edge is f(x)
        sym[..., 2] = 1.0
        self.sym_params = nn.Parameter(sym)
        self.sym_names: dict[tuple[int, int], str] = {}
        self._sym_groups: list[tuple[str, torch.Tensor, torch.Tensor]] | None = []
        self._knot_cache: tuple[torch.Tensor, int, Knots] | None = None
        self._mask_cache: tuple | None = None
        self._input_cache = _InputCache()
        self._knots()  # part of the grid's state: not the first training step's work

    # ------------------------------------------------------------------ structure
    @property
    def n_basis(self) -> int:
        return self.num + self.k

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, grid={self.num}, k={self.k}"

    def _mask_state(self) -> tuple[torch.Tensor, bool]:
        """``(mask * ~sym_mask, whether any active edge is still a spline)``, cached until either
        mask is replaced or changed in place (small models are bound by per-operation
        overhead)."""
        m, s, c = self.mask, self.sym_mask, self._mask_cache
        if c is None or c[0] is not m or c[1] != m._version or c[2] is not s or c[3] != s._version:
            state = (m * (~s), bool(self.numeric_mask().any()))
            if torch.is_inference_mode_enabled():  # see _knots
                return state
            c = self._mask_cache = (m, m._version, s, s._version, *state)
        return c[4], c[5]

    def _numeric_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective weights: base ``[in, out]``, spline ``[in, K, out]``, masks folded in."""
        m = self._mask_state()[0]
        wb = self.scale_base * m
        ws = (self.scale_sp * m).unsqueeze(1) * self.coef.transpose(1, 2)
        return wb, ws

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self._forward(x, stats=None)
        return y

    def forward_stats(self, x: torch.Tensor, metric: str, sub: int = 256):
        """Forward pass plus per-edge magnitudes for ``metric`` (see ``regularizer.py``)."""
        return self._forward(x, stats=metric, sub=sub)

    def _knots(self) -> Knots:
        """The recursion's constants for the current knots, recomputed when the grid buffer is
        replaced or modified in place (its version counter moves)."""
        g, c = self.grid, self._knot_cache
        if c is None or c[0] is not g or c[1] != g._version:
            if torch.is_inference_mode_enabled():
                # inference tensors cannot be saved for a later backward: not cached
                return knots_of(g, self.k)
            c = self._knot_cache = (g, g._version, knots_of(g, self.k))
        return c[2]

    def _weights(self) -> torch.Tensor:
        """Per-input feature weights ``[in, K+1, out]``: base, then the spline's coefficients."""
        wb, ws = self._numeric_weights()
        return torch.cat([wb.unsqueeze(1), ws], dim=1)

    def numeric_mask(self) -> torch.Tensor:
        """``[in, out]`` bool: the active edges that are still splines (not pruned, not fixed)."""
        return (self.mask != 0) & ~self.sym_mask

    def has_numeric_edges(self) -> bool:
        """Whether any active edge is still a spline (cached until a mask changes)."""
        return self._mask_state()[1]

    def _forward(self, x: torch.Tensor, stats: str | None, sub: int = 256):
        B = x.shape[0]
        if stats is None and not self.has_numeric_edges():
            # every active edge is symbolic: the spline path would add exact zeros (the last fit
            # of the symbolic pipeline spends its time here)
            sym_y, _, _ = self._symbolic_forward(x, need_stats=False)
            return (x.new_zeros(B, self.out_dim) if sym_y is None else sym_y), None
        fused = _FUSED.get(stats, "other")
        if fused != "other":
            grad = torch.is_grad_enabled()
            y, value = _SplineLayer.apply(
                x,
                self._weights(),
                self._knots(),
                self.base_fun_name,
                fused,
                grad,
                self._input_cache if grad and not x.requires_grad else None,
            )
        else:
            wb, ws = self._numeric_weights()
            y = self.base_fun(x) @ wb + basis(x, self.grid, self.k).reshape(B, -1) @ ws.reshape(
                -1, self.out_dim
            )
        sym_y, sym_std, sym_abs = self._symbolic_forward(x, need_stats=stats is not None)
        if sym_y is not None:
            y = y + sym_y
        if stats is None:
            return y, None
        if fused != "other":
            score = value.detach()
            if sym_std is not None:
                if fused == "n":
                    x_std = x.detach().std(0) if B > 1 else torch.zeros_like(x[0])
                    sym_std = sym_std / (x_std.unsqueeze(1) + 0.1)
                score = torch.where(self.sym_mask, sym_std.detach(), score)
        elif stats == "edge_mean_abs":
            # mean |phi| has no closed form over the batch; a fixed stride of rows estimates it
            # well and bounds the [rows, in, out] tensor (kan-facts.md).
            xs = x[:: max(1, B // sub)]
            phi = self.base_fun(xs).unsqueeze(2) * wb + torch.einsum(
                "bik,iko->bio", basis(xs, self.grid, self.k, self._knots()), ws
            )
            value = phi.abs().mean(0)
            score = value.detach()
            if sym_abs is not None:
                score = torch.where(self.sym_mask, sym_abs.detach(), score)
        else:
            raise ValueError(
                f"unknown reg_metric {stats!r}; use 'edge_forward_spline_n' (pykan's default), "
                "'edge_forward_spline_u' or 'edge_mean_abs' (the paper's)"
            )
        return y, EdgeStats(value=value, score=score)

    # ------------------------------------------------------------------ gradient without autograd
    def tape_ok(self, metric: str | None) -> bool:
        """Whether :meth:`forward_tape` can run this layer: every edge a spline (symbolic edges'
        library functions are differentiated by autograd) and a magnitude the fused layer
        computes (``None``, or an ``edge_forward_spline_*`` metric)."""
        return not self.sym_names and metric in _FUSED

    def forward_tape(self, x: torch.Tensor, metric: str | None, need_dx: bool):
        """:meth:`forward_stats` outside autograd: ``(y, magnitudes or None, tape)``, the tape
        holding what :meth:`backward_tape` needs. ``need_dx``: whether the input's gradient
        will be asked for (not for the first layer)."""
        with torch.no_grad():
            w = self._weights()
            tape = _Tape(need_dx)
            with OneThread() as th:
                y, value = _SplineLayer._forward(
                    tape, th, x, w, self._knots(), self.base_fun_name, _FUSED[metric], True,
                    None if need_dx else self._input_cache,
                )
        return y, value, tape

    def backward_tape(self, tape: _Tape, gy: torch.Tensor, gvalue: torch.Tensor | None):
        """Set the parameters' ``.grad`` (replacing, not accumulating) from the gradients of the
        output ``gy`` and of the magnitudes ``gvalue``; return the input's gradient. The same
        operations autograd runs through :meth:`_weights`, so the gradients are bit-identical."""
        with torch.no_grad():
            with OneThread() as th:
                gx, gw, *_ = _SplineLayer._backward(tape, th, gy, gvalue)
            m = self._mask_state()[0]
            gs = gw[:, 1:]  # [in, K, out]: the gradient of (scale_sp * m) * coef^T
            grads = (
                (self.scale_base, gw[:, 0] * m),
                (self.scale_sp, (gs * self.coef.transpose(1, 2)).sum(1) * m),
                (self.coef, (gs * (self.scale_sp * m).unsqueeze(1)).transpose(1, 2)),
            )
            for p, g in grads:
                if p.requires_grad:
                    p.grad = g
        return gx

    # ------------------------------------------------------------------ symbolic edges
    def _groups(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        if self._sym_groups is None:
            by_name: dict[str, list[tuple[int, int]]] = {}
            for (i, j), name in sorted(self.sym_names.items()):
                by_name.setdefault(name, []).append((i, j))
            dev = self.grid.device
            self._sym_groups = [
                (
                    name,
                    torch.tensor([e[0] for e in edges], dtype=torch.long, device=dev),
                    torch.tensor([e[1] for e in edges], dtype=torch.long, device=dev),
                )
                for name, edges in by_name.items()
            ]
        return self._sym_groups

    def _symbolic_forward(self, x: torch.Tensor, need_stats: bool):
        """Symbolic edges grouped by function: one vectorised call per distinct function."""
        groups = self._groups()
        if not groups:
            return None, None, None
        from .symbolic.library import get_function

        y = x.new_zeros(x.shape[0], self.out_dim)
        sym_std = x.new_zeros(self.in_dim, self.out_dim) if need_stats else None
        sym_abs = x.new_zeros(self.in_dim, self.out_dim) if need_stats else None
        for name, ii, jj in groups:
            p = self.sym_params[ii, jj]  # [E, 4]
            vals = p[:, 2] * get_function(name).torch_fn(p[:, 0] * x[:, ii] + p[:, 1]) + p[:, 3]
            vals = vals * self.mask[ii, jj]
            y = y.index_add(1, jj, vals)
            if need_stats:
                v = vals.detach()
                sym_std[ii, jj] = v.std(0) if v.shape[0] > 1 else v.abs().mean(0)
                sym_abs[ii, jj] = v.abs().mean(0)
        return y, sym_std, sym_abs

    def set_symbolic(self, i_idx, j_idx, names: list[str], params: torch.Tensor | None = None):
        """Fix edges ``(i_idx[e], j_idx[e])`` to ``names[e]`` with ``params[e] = (a, b, c, d)``."""
        i_idx = torch.as_tensor(i_idx, dtype=torch.long).reshape(-1)
        j_idx = torch.as_tensor(j_idx, dtype=torch.long).reshape(-1)
        if len(names) != len(i_idx) or len(j_idx) != len(i_idx):
            raise ValueError("set_symbolic: i_idx, j_idx and names must have the same length")
        with torch.no_grad():
            if params is not None:
                self.sym_params[i_idx, j_idx] = torch.as_tensor(params).to(self.sym_params)
            self.sym_mask[i_idx, j_idx] = True
        for i, j, n in zip(i_idx.tolist(), j_idx.tolist(), names):
            self.sym_names[(i, j)] = n
        self._sym_groups = None

    def clear_symbolic(self, i_idx, j_idx) -> None:
        """Return edges to their spline (which kept its last trained values)."""
        i_idx = torch.as_tensor(i_idx, dtype=torch.long).reshape(-1)
        j_idx = torch.as_tensor(j_idx, dtype=torch.long).reshape(-1)
        self.sym_mask[i_idx, j_idx] = False
        for i, j in zip(i_idx.tolist(), j_idx.tolist()):
            self.sym_names.pop((i, j), None)
        self._sym_groups = None

    # ------------------------------------------------------------------ per-edge values
    def edge_values(self, x: torch.Tensor) -> torch.Tensor:
        """Every edge's value ``[B, in, out]`` at inputs ``x [B, in]`` (masked edges give 0).

        Materialises the per-edge tensor on purpose: for curves and symbolic fits on ~100 points.
        """
        wb, ws = self._numeric_weights()
        phi = self.base_fun(x).unsqueeze(2) * wb + torch.einsum(
            "bik,iko->bio", basis(x, self.grid, self.k), ws
        )
        if self.sym_names:
            from .symbolic.library import get_function

            for name, ii, jj in self._groups():
                p = self.sym_params[ii, jj]
                v = p[:, 2] * get_function(name).torch_fn(p[:, 0] * x[:, ii] + p[:, 1]) + p[:, 3]
                phi[:, ii, jj] = v * self.mask[ii, jj]
        return phi

    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """The spline part ``sum_m coef_m B_m(x)`` of every edge, ``[B, in, out]`` (no scales)."""
        return torch.einsum("bik,iok->bio", basis(x, self.grid, self.k), self.coef)

    # ------------------------------------------------------------------ copying
    def select(self, in_keep: torch.Tensor, out_keep: torch.Tensor) -> KANLayer:
        """A new layer keeping the given input and output indices (parameters copied)."""
        new = KANLayer.__new__(KANLayer)
        nn.Module.__init__(new)
        new.in_dim, new.out_dim = len(in_keep), len(out_keep)
        new.num, new.k, new.grid_eps = self.num, self.k, self.grid_eps
        new.base_fun_name, new.base_fun = self.base_fun_name, self.base_fun
        ii, oo = in_keep.to(self.grid.device), out_keep.to(self.grid.device)
        new.register_buffer("grid", self.grid[ii].clone())
        new.coef = nn.Parameter(self.coef.detach()[ii][:, oo].clone())
        new.scale_base = nn.Parameter(self.scale_base.detach()[ii][:, oo].clone())
        new.scale_sp = nn.Parameter(self.scale_sp.detach()[ii][:, oo].clone())
        new.register_buffer("mask", self.mask[ii][:, oo].clone())
        new.register_buffer("sym_mask", self.sym_mask[ii][:, oo].clone())
        new.sym_params = nn.Parameter(self.sym_params.detach()[ii][:, oo].clone())
        in_pos = {int(v): n for n, v in enumerate(in_keep.tolist())}
        out_pos = {int(v): n for n, v in enumerate(out_keep.tolist())}
        new.sym_names = {
            (in_pos[i], out_pos[j]): name
            for (i, j), name in self.sym_names.items()
            if i in in_pos and j in out_pos
        }
        new._sym_groups = None
        new._knot_cache = None
        new._mask_cache = None
        new._input_cache = _InputCache()
        return new

    def refit_grid(self, x: torch.Tensor, num: int | None = None, grid_eps: float | None = None,
                   min_span: float = 0.0):
        """Move the knots to the samples ``x [B, in]`` (optionally to ``num`` intervals) and refit
        ``coef`` by least squares so each edge's spline is unchanged on the samples.

        New knots mix sample quantiles with a uniform grid over the sample range (weight
        ``grid_eps`` on uniform), as pykan's ``update_grid_from_samples``. An input whose samples
        span less than ``min_span`` gets a uniform grid ``min_span`` wide around their centre
        (``KAN(grid_min_span=...)`` says why; 0 is pykan's rule). The scales are not
        touched: the refit is of the spline part alone, so re-applying ``scale_sp`` is not needed
        (doing so is the known trap that changes phi by over 100%).
        """
        num = self.num if num is None else int(num)
        eps = self.grid_eps if grid_eps is None else grid_eps
        with torch.no_grad():
            x_sorted = _sort_rows(x.detach().t().contiguous())  # [in, B]
            B = x_sorted.shape[1]
            ids = [int(B / num * i) for i in range(num)] + [-1]
            adaptive = x_sorted[:, ids]  # [in, num+1]
            lo, hi = adaptive[:, :1], adaptive[:, -1:]
            if min_span > 0:
                narrow = hi - lo < min_span
                mid = (lo + hi) / 2
                lo = torch.where(narrow, mid - min_span / 2, lo)
                hi = torch.where(narrow, mid + min_span / 2, hi)
                wide = lo + (hi - lo) / num * torch.arange(num + 1, dtype=x.dtype, device=x.device)
                adaptive = torch.where(narrow, wide, adaptive)
            # a constant input would give zero-width intervals; give it a unit-width grid
            span = torch.where(hi - lo > 1e-6, hi - lo, torch.ones_like(hi))
            steps = torch.arange(num + 1, dtype=x.dtype, device=x.device)
            uniform = lo + span / num * steps
            adaptive = torch.where(hi - lo > 1e-6, adaptive, uniform)
            g = eps * uniform + (1 - eps) * adaptive
            new_grid = extend_grid(g, self.k)
            # assign .data so optimisers holding this Parameter keep training it
            self.coef.data = refit_coef(x_sorted.t(), self.grid, self.coef, new_grid, self.k)
            self.num = num
            self.grid = new_grid
            self._input_cache.clear()  # features on the old knots
            self._knots()


def _sort_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row sorted. On CPU numpy's sort is 14x faster than torch.sort at [16, 1000], and the
    strided torch.sort over dim 0 was another 1.3x slower (measured)."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.numpy(), axis=1))
    return torch.sort(x, dim=1).values


class _Tape:
    """What a :class:`_SplineLayer` forward saves for its backward, when the trainer runs both
    itself (``KANLayer.forward_tape``): the part of autograd's ``ctx`` the layer uses."""

    def __init__(self, need_dx: bool):
        self.needs_input_grad = (need_dx, True)

    def set_materialize_grads(self, _value: bool) -> None:
        pass

    def save_for_backward(self, *tensors: torch.Tensor | None) -> None:
        self.saved_tensors = tensors


class _Moments(NamedTuple):
    """What the magnitudes need from a layer's features, whatever the weights: the float64
    centred features (``fc``, one chunk; ``None`` when the backward recomputes them per chunk),
    their ``mean`` and Gram matrix ``cov``, and for the ``"n"`` metric the centred inputs ``xc``
    and their std."""

    fc: list[torch.Tensor] | None
    mean: torch.Tensor
    cov: torch.Tensor
    xc: torch.Tensor | None
    x_std: torch.Tensor | None


class _Features:
    """A layer's features ``f [in, K+1, B]`` (base function, then the basis) for inputs ``x``,
    the order-(k-1) basis ``prev`` when the input's gradient is needed, and, computed on first
    use, their :class:`_Moments`."""

    def __init__(self, x: torch.Tensor, kn: Knots, base_fun: str, need_dx: bool):
        B, n_in = x.shape
        n_f = kn.knots.shape[1] - len(kn.inv)  # K + 1
        self.xt = xt = x.t().contiguous().unsqueeze(1)  # [in, 1, B]
        self.f = f = x.new_empty(n_in, n_f, B)
        self.prev = prev = x.new_empty(n_in, n_f, B) if need_dx else None
        self.cols = chunks(n_in, kn.knots.shape[1], B)
        for c in self.cols:
            _recursion(xt[..., c], kn, f[:, 1:, c], None if prev is None else prev[..., c])
        if base_fun == "silu":
            torch.ops.aten.silu.out(xt, out=f[:, :1])
        else:
            f[:, 0] = xt[:, 0] if base_fun == "identity" else 0
        self._moments: dict[bool, _Moments] = {}

    def moments(self, stats: str) -> _Moments:
        n = stats == "n"
        if n not in self._moments:
            self._moments[n] = self._compute_moments(n)
        return self._moments[n]

    def _compute_moments(self, with_x_std: bool) -> _Moments:
        f, cols, xt = self.f, self.cols, self.xt
        n_in, n_f, B = f.shape
        # centred features in float64, per chunk (small contiguous pieces: one big buffer's
        # first-touch page faults cost more than the math). One chunk is kept for the
        # backward's Gram derivative; several are recomputed there from f (bit-identical):
        # keeping them doubled the memory freed and faulted back in every step (wide case:
        # ~2800 page faults/step, ~8 ms of system time)
        if len(cols) == 1:
            # one cast: equal to the bit to mean(dtype=float64), which casts a copy of its own
            fc = f.to(torch.float64, copy=True)
            mean = fc.mean(2, keepdim=True)
            fcs = [fc.sub_(mean)]
            cov = torch.bmm(fc, fc.transpose(1, 2))
        else:
            cov = torch.zeros(n_in, n_f, n_f, dtype=torch.float64, device=f.device)
            mean = f.mean(2, keepdim=True, dtype=torch.float64)
            for fcc in [_centred(f, c, mean) for c in cols]:
                cov.baddbmm_(fcc, fcc.transpose(1, 2))
            fcs = None
        xc = x_std = None
        if with_x_std:
            # torch.std is 7x slower than this at [100, 1, 1000] (measured)
            xc = xt[:, 0] - xt[:, 0].mean(1, keepdim=True)  # [in, B]
            x_std = torch.linalg.vector_norm(xc, dim=1, keepdim=True).div_(math.sqrt(max(B - 1, 1)))
        return _Moments(fcs, mean, cov, xc, x_std)


class _InputCache:
    """The first layer's :class:`_Features` for the last training inputs and knots.

    An L-BFGS step evaluates the model ~25 times on the same inputs, and grid updates come every
    few steps, so the input layer's basis, its float64 centring and Gram matrix (a third of a
    [2,5,1] closure, measured) are computed once per grid instead of once per evaluation. Keyed
    on the identity and version of the inputs and of the knot constants."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.store(None, None, None, None)

    def store(self, x, kn, base_fun, feats: _Features | None) -> None:
        self.x, self.kn, self.base_fun, self.feats = x, kn, base_fun, feats
        self.version = None if x is None else x._version

    def __getstate__(self):  # copies and pickles of a layer do not carry the features
        return {}

    def __setstate__(self, _state) -> None:
        self.clear()

    def holds(self, x: torch.Tensor, kn: Knots, base_fun: str) -> bool:
        return (self.feats is not None and self.x is x and self.version == x._version
                and self.kn is kn and self.base_fun == base_fun)


class _SplineLayer(torch.autograd.Function):
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
    def forward(ctx, x, w, kn: Knots, base_fun: str, stats: str | None, grad: bool,
                cache: _InputCache | None = None):
        with OneThread() as th:
            return _SplineLayer._forward(ctx, th, x, w, kn, base_fun, stats, grad, cache)

    @staticmethod
    def _forward(ctx, th: OneThread, x, w, kn: Knots, base_fun: str, stats: str | None, grad,
                 cache: _InputCache | None = None):
        B = x.shape[0]
        # needs_input_grad ignores no_grad mode: ``grad`` says whether a backward can follow
        need_dx = grad and ctx.needs_input_grad[0] and kn.dinv is not None
        cache = None if need_dx else cache  # the input layer's features only (no prev)
        if cache is not None and cache.holds(x, kn, base_fun):
            feats = cache.feats
        else:
            feats = _Features(x, kn, base_fun, need_dx)
            if cache is not None:
                cache.store(x, kn, base_fun, feats)
        xt, f, prev, cols = feats.xt, feats.f, feats.prev, feats.cols
        y = th.mm(f.view(-1, B).t(), w.reshape(-1, w.shape[2]))
        ctx.set_materialize_grads(False)
        ctx.kn, ctx.base_fun, ctx.stats, ctx.chunks = kn, base_fun, stats, cols
        if stats is None:
            ctx.save_for_backward(xt, w, f, prev)
            return y, None
        m = feats.moments(stats)
        ctx.fc, ctx.mean = m.fc, m.mean
        wd = w.double()
        cw = torch.bmm(m.cov, wd).div_(max(B - 1, 1))
        std = (wd * cw).sum(1).clamp_min_(1e-30).sqrt_()  # [in, out]; var 0: no gradient
        value = std if m.x_std is None else std / (m.x_std.double() + 0.1)
        ctx.save_for_backward(xt, w, f, prev, wd, cw, std, m.xc, m.x_std)
        return y, value.to(x.dtype)

    @staticmethod
    def backward(ctx, gy, gval):
        with OneThread() as th:
            return _SplineLayer._backward(ctx, th, gy, gval)

    @staticmethod
    def _backward(ctx, th: OneThread, gy, gval):
        xt, w, feats, prev, *extra = ctx.saved_tensors
        kn, B = ctx.kn, xt.shape[2]
        n_in, n_f, n_w = feats.shape[0], feats.shape[1], feats.shape[0] * feats.shape[1]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gw = gx = M = g_xstd = None
        if gval is not None:
            wd, cw, std, xc, x_std = extra
            gstd = gval.double()
            if ctx.stats == "n":
                r = 1.0 / (x_std.double() + 0.1)  # [in, 1]
                g_xstd = -(gstd * std).sum(1, keepdim=True) * r * r
                gstd = gstd * r
            # d std/d var = 1/(2 std), and d var/d w = 2 C w
            gvar = torch.where(std > 1e-15, gstd / std, 0.0).unsqueeze(1)  # 2 * dL/dvar
            if need_w:
                gw = (cw * gvar).to(w.dtype)
            if need_x:
                M = torch.bmm(wd * gvar, wd.transpose(1, 2)).div_(max(B - 1, 1))
        if gy is not None and need_w:
            g = th.mm(feats.view(n_w, B), gy).view(w.shape)
            gw = g if gw is None else gw + g
        if need_x and (gy is not None or M is not None):
            gx = xt.new_zeros(n_in, B) if len(ctx.chunks) > 1 else None
            w_flat = w.reshape(n_w, -1)
            for n, c in enumerate(ctx.chunks):
                gf = None
                if gy is not None:
                    gf = th.mm(w_flat, gy[c].t()).view(n_in, n_f, -1)
                if M is not None:
                    # the Gram derivative; centring drops out (rows of fc are centred, so this
                    # gradient already has zero mean over the batch)
                    # cast first: a mixed-dtype add_ is 20x slower (measured)
                    fcc = ctx.fc[n] if ctx.fc is not None else _centred(feats, c, ctx.mean)
                    g = torch.bmm(M, fcc).to(w.dtype)
                    gf = g if gf is None else gf.add_(g)
                gc = _base_grad(ctx.base_fun, gf[:, 0], xt[:, 0, c])
                if prev is not None:
                    d = basis_deriv_grad(prev[..., c], kn, gf[:, 1:])
                    gc = d if gc is None else gc + d
                if gx is None:
                    gx = gc
                elif gc is not None:
                    gx[:, c] += gc
            if g_xstd is not None and B > 1:
                # d std(x_i)/d x_bi = (x_bi - mean_i) / ((B-1) std_i); a constant input: 0
                s = torch.where(x_std > 0, g_xstd / (x_std.double() * (B - 1)), 0.0)
                g = xc * s.to(xt.dtype)
                gx = g if gx is None else gx + g
        return None if gx is None else gx.t(), gw, None, None, None, None, None


def _centred(feats: torch.Tensor, c: slice, mean: torch.Tensor) -> torch.Tensor:
    """Columns ``c`` of ``feats [in, n_f, B]`` in float64, minus ``mean [in, n_f, 1]``."""
    return feats[..., c].to(torch.float64, copy=True).sub_(mean)


def _base_grad(base_fun: str, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
    if base_fun == "silu":
        return torch.ops.aten.silu_backward(g, x)
    return g if base_fun == "identity" else None
