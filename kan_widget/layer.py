"""One KAN layer: a learnable 1-D function on every edge, summed into each output node.

Each edge is ``phi(x) = scale_base*silu(x) + scale_sp*sum_m coef_m B_m(x)`` (pykan's form), or, once
fixed symbolically, ``c*f(a*x + b) + d``. The forward pass never builds the per-edge
``[batch, in, out]`` tensor: basis features of each input feed one matrix multiply, so the cost is
that of a dense layer with ``in*(G+k+1)`` inputs (the fused kernel is :mod:`kan_widget.fused`).

Read top to bottom: making a layer (from its tensors, pykan's initialisation, pruning's
selection), its parameters and the caches derived from them, the forward pass (through autograd,
or the trainer's tape), per-edge statistics and values, the grid refit, symbolic edges.

Why this file is over 400 lines: it is one ``nn.Module`` whose methods all read the same
parameters, buffers and caches (``_knots``, ``_mask_state``, ``_groups``, the input cache); the
math is already elsewhere (splines.py, fused.py), and splitting the tape path or the symbolic
edges into mixins would separate each from the caches it depends on."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from . import symtape
from .config import KANConfig
from .fused import STATISTIC, InputCache, LayerWeights, SplineLayer, Tape
from .higher import layer_reference, transforms_active
from .singular import singular_fn
from .splines import (
    Knots,
    basis,
    curve2coef,
    grid_on_samples,
    knots_of,
    refit_coef,
    sort_rows,
    uniform_grid,
)
from .threads import ATEN_GRAIN, OneThread

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


def sparse_mask(in_dim: int, out_dim: int, **kw) -> torch.Tensor:
    """pykan's ``sparse_init`` mask ``[in, out]``: inputs and outputs on evenly spaced
    coordinates in [0, 1]; every input is joined to its nearest output and every output to its
    nearest input. Ties go as pykan's: the same expressions in the default dtype, ``argmin``."""
    in_c = torch.arange(in_dim) * 1 / in_dim + 1 / (2 * in_dim)
    out_c = torch.arange(out_dim) * 1 / out_dim + 1 / (2 * out_dim)
    dist = (out_c[:, None] - in_c[None, :]).abs()  # [out, in]
    mask = torch.zeros(in_dim, out_dim, **kw)
    mask[torch.arange(in_dim), dist.argmin(0)] = 1.0
    mask[dist.argmin(1), torch.arange(out_dim)] = 1.0
    return mask


class _ViewCache:
    """:meth:`KANLayer._tape_views`'s views and their key; copies and pickles of a layer start
    empty (the views belong to the original's tensors)."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.views: tuple[torch.Tensor, ...] = ()

    def __getstate__(self):
        return {}

    def __setstate__(self, _state) -> None:
        self.__init__()  # type: ignore[misc]


class _LayerTape(NamedTuple):
    """:meth:`KANLayer.forward_tape`'s record for :meth:`KANLayer.backward_tape`: the spline
    part's (``None`` when it did not run: every edge fixed, no magnitudes), the symbolic
    edges' (``None``: none), and whether the input's gradient is wanted."""

    spline: Tape | None
    sym: list[symtape.SymGroup] | None
    need_dx: bool


class KANLayer(nn.Module):
    """A layer of ``in_dim*out_dim`` learnable edges on per-input knot vectors.

    Parameters and buffers use pykan's ``[in, out, ...]`` layout so parameters can be copied between
    the two (see ``tests/test_pykan_parity.py``).
    """

    TENSORS = (
        "coef",
        "scale_base",
        "scale_sp",
        "sym_params",
        "grid",
        "mask",
        "sym_mask",
        "ns_mask",
    )
    """What :meth:`state_dict` holds, in its order: the parameters, then the buffers.

    ``mask`` switches an edge on (and scales it); ``sym_mask`` makes it its symbolic function
    instead of its spline; ``ns_mask`` is the spline's weight on an edge that is symbolic too
    (pykan's ``set_mode('ns')`` and ``perturb``: both of pykan's masks non-zero), 0 unless
    asked for, so an edge is one or the other by default."""

    # declared for the type checker (nn.Module's __getattr__ would type them ``Tensor | Module``)
    coef: nn.Parameter
    scale_base: nn.Parameter
    scale_sp: nn.Parameter
    sym_params: nn.Parameter
    grid: torch.Tensor
    mask: torch.Tensor
    sym_mask: torch.Tensor
    ns_mask: torch.Tensor
    base_fun: Callable[[torch.Tensor], torch.Tensor]

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        *,
        k: int,
        base_fun: str = "silu",
        grid_eps: float = 0.02,
        sym_names: Mapping[tuple[int, int], str] | None = None,
    ):
        """A layer holding ``tensors`` (the names of :attr:`TENSORS`, shaped as the class doc
        says; used as given, not copied), with spline order ``k``; ``sym_names`` names the
        symbolic edges. Every layer is made here: :meth:`initial` (a new model), the model's
        copies, checkpoints and files, and :meth:`select` (pruning)."""
        super().__init__()
        if sorted(tensors) != sorted(self.TENSORS):
            raise ValueError(f"a layer needs tensors {list(self.TENSORS)}; got {list(tensors)}")
        t = tensors
        n_in, n_out = t["scale_base"].shape
        n_knots = t["grid"].shape[-1]
        self.in_dim, self.out_dim, self.num, self.k = n_in, n_out, n_knots - 2 * k - 1, k
        shapes = {
            "coef": (n_in, n_out, self.num + k),
            "sym_params": (n_in, n_out, 4),
            "grid": (n_in, n_knots),
        }
        for name in self.TENSORS:
            shape = shapes.get(name, (n_in, n_out))
            if tuple(t[name].shape) != shape or self.num < 1:
                raise ValueError(
                    f"layer tensor {name} has shape {tuple(t[name].shape)}; "
                    f"expected {shape} (grid intervals {self.num}, k={k})"
                )
        self.grid_eps = grid_eps
        self.base_fun_name = base_fun
        self.base_fun = BASE_FUNCTIONS[base_fun]
        for name in self.TENSORS:
            if name in ("grid", "mask", "sym_mask", "ns_mask"):
                self.register_buffer(name, t[name])
            else:
                setattr(self, name, nn.Parameter(t[name]))
        self.sym_names: dict[tuple[int, int], str] = dict(sym_names or {})
        # KAN(symbolic_enabled=False): symbolic edges left out of the forward (the model sets it)
        self.symbolic_enabled = True
        # pykan's singularity_avoiding threshold while the model sets it (None: plain functions)
        self.y_th: float | None = None
        self._sym_groups: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None
        self._knot_cache: tuple[torch.Tensor, int, Knots] | None = None
        self._mask_cache: tuple | None = None
        self._sym_mask_cache: tuple | None = None
        self._input_cache = InputCache()
        self._views = _ViewCache()
        self._knots()  # part of the grid's state: not the first training step's work

    @classmethod
    def initial(
        cls, in_dim: int, out_dim: int, config: KANConfig, generator: torch.Generator, device=None
    ) -> KANLayer:
        """A new layer as pykan initialises it, drawing from ``generator``: splines through
        small noise, random ``scale_base``, ``scale_sp = 1/sqrt(in_dim)``, every edge a spline."""
        c, dtype = config, config.dtype
        kw = {"dtype": dtype, "device": device}
        grid = uniform_grid(in_dim, c.grid, c.k, c.grid_range, **kw)
        # pykan's init: a least-squares spline through small uniform noise at the grid points
        noise = torch.rand(c.grid + 1, in_dim, out_dim, generator=generator, dtype=dtype) - 0.5
        noise = (noise * c.noise_scale / c.grid).to(device)
        knots = grid[:, c.k : -c.k].t()  # [G+1, in]
        coef = curve2coef(knots, noise, grid, c.k)
        u = torch.rand(in_dim, out_dim, generator=generator, dtype=dtype).to(device)
        root = math.sqrt(in_dim)
        mask = (
            sparse_mask(in_dim, out_dim, **kw)
            if c.sparse_init
            else torch.ones(in_dim, out_dim, **kw)
        )
        sym = torch.zeros(in_dim, out_dim, 4, **kw)
        sym[..., 0] = 1.0  # a = 1, c = 1 so a freshly fixed edge is f(x)
        sym[..., 2] = 1.0
        tensors = {
            "coef": coef,
            "scale_base": c.scale_base_mu / root + c.scale_base_sigma * (u * 2 - 1) / root,
            "scale_sp": torch.full((in_dim, out_dim), 1 / root, **kw) * mask,
            "sym_params": sym,
            "grid": grid,
            "mask": mask,
            "sym_mask": torch.zeros(in_dim, out_dim, dtype=torch.bool, device=device),
            "ns_mask": torch.zeros(in_dim, out_dim, dtype=c.dtype, device=device),
        }
        return cls(tensors, k=c.k, base_fun=c.base_fun, grid_eps=c.grid_eps)

    def select(self, in_keep: torch.Tensor, out_keep: torch.Tensor) -> KANLayer:
        """A new layer keeping the given input and output indices (parameters copied)."""
        ii, oo = in_keep.to(self.grid.device), out_keep.to(self.grid.device)
        tensors = {
            name: t.detach()[ii].clone() if name == "grid" else t.detach()[ii][:, oo].clone()
            for name, t in ((name, getattr(self, name)) for name in self.TENSORS)
        }
        in_pos = {int(v): n for n, v in enumerate(in_keep.tolist())}
        out_pos = {int(v): n for n, v in enumerate(out_keep.tolist())}
        names = {
            (in_pos[i], out_pos[j]): name
            for (i, j), name in self.sym_names.items()
            if i in in_pos and j in out_pos
        }
        return KANLayer(
            tensors, k=self.k, base_fun=self.base_fun_name, grid_eps=self.grid_eps, sym_names=names
        )

    # ------------------------------------------------------------------ parameters
    def set_trainable(self, sp: bool, sb: bool) -> None:
        """pykan's ``sp_trainable`` / ``sb_trainable``: whether ``scale_sp`` / ``scale_base``
        are trained."""
        self.scale_sp.requires_grad_(sp)
        self.scale_base.requires_grad_(sb)

    @property
    def n_basis(self) -> int:
        return self.num + self.k

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, grid={self.num}, k={self.k}"

    def numeric_mask(self) -> torch.Tensor:
        """``[in, out]`` bool: the active edges with a spline part: not fixed, or fixed with the
        spline added (``'ns'``; pykan's ``auto_symbolic`` fits those again too)."""
        return (self.mask != 0) & (~self.sym_mask | (self.ns_mask != 0))

    def has_numeric_edges(self) -> bool:
        """Whether any active edge is still a spline (cached until a mask changes)."""
        return self._mask_state()[1]

    def _mask_state(self) -> tuple[torch.Tensor, bool, bool]:
        """``(the splines' mask, whether any edge has its spline on, whether that mask is all
        ones)``: ``mask`` on spline edges, ``ns_mask`` on symbolic ones (0 unless ``'ns'``),
        cached until a mask is replaced or changed in place (small models are bound by
        per-operation overhead; the tape skips products by an all-ones mask, which are
        exact)."""
        m, s, n, c = self.mask, self.sym_mask, self.ns_mask, self._mask_cache
        if (
            c is None
            or c[0] is not m
            or c[1] != m._version
            or c[2] is not s
            or c[3] != s._version
            or c[4] is not n
            or c[5] != n._version
        ):
            spline = m * (~s)
            if bool((n != 0).any()):  # edges with both parts: pykan's 'ns'
                spline = torch.where(s, n, spline)
            state = (spline, bool((spline != 0).any()), bool((spline == 1).all()))
            if torch.is_inference_mode_enabled() or transforms_active():  # see _knots
                return state
            c = self._mask_cache = (m, m._version, s, s._version, n, n._version, *state)
        return c[6], c[7], c[8]

    def _numeric_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective weights: base ``[in, out]``, spline ``[in, K, out]``, masks folded in."""
        m = self._mask_state()[0]
        wb = self.scale_base * m
        ws = (self.scale_sp * m).unsqueeze(1) * self.coef.transpose(1, 2)
        return wb, ws

    def _weights(self, one_thread: bool = False) -> torch.Tensor:
        """Per-input feature weights ``[in, K+1, out]``: base, then the spline's coefficients.
        ``one_thread``: from ATen's 32K-element grain on, by :class:`LayerWeights` (the same
        values and gradients, computed on one thread: fused.py); not under torch.func."""
        if one_thread and self.coef.numel() + self.scale_sp.numel() >= ATEN_GRAIN:
            return LayerWeights.apply(
                self.scale_base, self.scale_sp, self.coef, self._mask_state()[0]
            )
        wb, ws = self._numeric_weights()
        return torch.cat([wb.unsqueeze(1), ws], dim=1)

    def _knots(self) -> Knots:
        """The recursion's constants for the current knots, recomputed when the grid buffer is
        replaced or modified in place (its version counter moves)."""
        g, c = self.grid, self._knot_cache
        if c is None or c[0] is not g or c[1] != g._version:
            if torch.is_inference_mode_enabled() or transforms_active():
                # inference tensors cannot be saved for a later backward, and tensors made
                # inside a torch.func transform must not outlive it: not cached
                return knots_of(g, self.k)
            c = self._knot_cache = (g, g._version, knots_of(g, self.k))
        return c[2]

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self._forward(x, stats=None)
        return y

    def forward_stats(self, x: torch.Tensor, metric: str, sub: int = 256):
        """Forward pass plus per-edge magnitudes for ``metric`` (see ``regularizer.py``)."""
        return self._forward(x, stats=metric, sub=sub)

    def _forward(self, x: torch.Tensor, stats: str | None, sub: int = 256):
        B = x.shape[0]
        if stats is None and not self.has_numeric_edges():
            # every active edge is symbolic: the spline path would add exact zeros (the last fit
            # of the symbolic pipeline spends its time here)
            sym_y, _, _ = self._symbolic_forward(x, need_stats=False)
            return (x.new_zeros(B, self.out_dim) if sym_y is None else sym_y), None
        fused = STATISTIC.get(stats, "other")
        if fused == "other" and stats != "edge_mean_abs":
            raise ValueError(
                f"unknown reg_metric {stats!r}; use 'edge_forward_spline_n' (pykan's default), "
                "'edge_forward_spline_u' or 'edge_mean_abs' (the paper's)"
            )
        if fused != "other" and transforms_active():
            # torch.func (jacrev, hessian, vmap...): plain operations every transform can take
            y, value = layer_reference(x, self._weights(), self._knots(), self.base_fun_name, fused)
        elif fused != "other":
            grad = torch.is_grad_enabled()
            y, value = SplineLayer.apply(
                x,
                self._weights(one_thread=True),
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
            assert fused is not None  # stats is a metric here, so fused is "n" or "u"
            return y, self._fused_stats(x, fused, value, sym_std)
        return y, self._mean_abs_stats(x, wb, ws, sym_abs, sub)

    # ------------------------------------------------------------------ gradient without autograd
    def tape_ok(self, metric: str | None) -> bool:
        """Whether :meth:`forward_tape` can run this layer: a magnitude the fused layer
        computes (``None``, or an ``edge_forward_spline_*`` metric) and symbolic edges whose
        functions have a hand-written derivative (:func:`kan_widget.symtape.supported`)."""
        if metric not in STATISTIC:
            return False
        if not self.sym_names or not self.symbolic_enabled:
            return True
        return symtape.supported(self.sym_names.values(), self.y_th)

    def forward_tape(self, x: torch.Tensor, metric: str | None, need_dx: bool):
        """:meth:`forward_stats` outside autograd: ``(y, magnitudes or None, scores or None,
        tape)``, the tape holding what :meth:`backward_tape` needs. ``need_dx``: whether the
        input's gradient will be asked for (not for the first layer). The same operations as
        :meth:`_forward`, so the values are bit-identical."""
        stats = STATISTIC[metric]
        groups = self._groups() if self.symbolic_enabled else []
        y = value = spline = sym = None
        with torch.no_grad():
            if stats is not None or self.has_numeric_edges():
                # _weights' operations on cached views: the same values in 4 ops instead of 7
                sb1, sp1, coef_t, m1 = self._tape_views()
                if self._mask_state()[2]:  # no edge masked: the products by 1 are exact
                    spm1, sbm1 = sp1, sb1
                else:
                    spm1, sbm1 = sp1 * m1, sb1 * m1
                w = torch.cat([sbm1, spm1 * coef_t], 1)
                spline = Tape(need_dx)
                spline.layer_views = (coef_t, spm1)
                with OneThread() as th:
                    y, value = SplineLayer.run_forward(
                        spline,
                        th,
                        x,
                        w,
                        self._knots(),
                        self.base_fun_name,
                        stats,
                        True,
                        None if need_dx else self._input_cache,
                    )
            score = value
            if groups:
                y_sym, sym, vals = symtape.forward(
                    groups, self.sym_params, self._sym_masks(), x, self.out_dim
                )
                y = y_sym if y is None else y + y_sym
                if stats is not None:
                    sym_std = x.new_zeros(self.in_dim, self.out_dim)
                    for (_, ii, jj), v in zip(groups, vals, strict=True):
                        sym_std[ii, jj] = v.std(0) if v.shape[0] > 1 else v.abs().mean(0)
                    score = self._fused_stats(x, stats, value, sym_std).score
            elif y is None:  # every active edge fixed, none enabled: as _forward
                y = x.new_zeros(x.shape[0], self.out_dim)
        return y, value, score, _LayerTape(spline, sym, need_dx)

    def backward_tape(self, tape: _LayerTape, gy: torch.Tensor, gvalue: torch.Tensor | None):
        """Set the parameters' ``.grad`` (replacing, not accumulating) from the gradients of the
        output ``gy`` and of the magnitudes ``gvalue``; return the input's gradient. The spline
        part runs the operations autograd runs through :meth:`_weights` (bit-identical
        gradients); the symbolic part is :func:`kan_widget.symtape.backward` (equal to
        rounding)."""
        gx = None
        with torch.no_grad():
            if tape.spline is not None:
                with OneThread() as th:
                    gx, gw, *_ = SplineLayer.run_backward(tape.spline, th, gy, gvalue)
                m, _, ones = self._mask_state()
                # the forward's coef^T and (scale_sp * m)[:, None]
                coef_t, spm1 = tape.spline.layer_views
                gs = gw[:, 1:]  # [in, K, out]: the gradient of (scale_sp * m) * coef^T
                g_sb, g_sp = gw[:, 0], (gs * coef_t).sum(1)
                grads = (
                    (self.scale_base, g_sb if ones else g_sb * m),
                    (self.scale_sp, g_sp if ones else g_sp * m),
                    (self.coef, (gs * spm1).transpose(1, 2)),
                )
                for p, g in grads:
                    if p.requires_grad:
                        p.grad = g
            if tape.sym is not None:
                gxs, g_sym = symtape.backward(
                    tape.sym, gy, self.sym_params, self.in_dim, tape.need_dx
                )
                if self.sym_params.requires_grad:
                    self.sym_params.grad = g_sym
                if gxs is not None:
                    gx = gxs if gx is None else gx + gxs
        return gx

    def _tape_views(self) -> tuple[torch.Tensor, ...]:
        """``scale_base[:, None]``, ``scale_sp[:, None]``, ``coef^T`` and the mask of
        :meth:`_mask_state` ``[:, None]``: views made once and reused while the parameters keep
        their storage (an optimiser's in-place updates) and the mask its cache entry. Small
        models are bound by the number of operations, and each view is one."""
        m = self._mask_state()[0]
        ps = (self.scale_base, self.scale_sp, self.coef)
        # a view keeps its storage alive, so a replaced tensor cannot reuse a cached address
        key = tuple((id(t), t.data_ptr(), t.shape) for t in (m, *ps))
        v = self._views
        if v.key != key:
            with torch.no_grad():
                v.key, v.views = (
                    key,
                    (
                        self.scale_base.unsqueeze(1),
                        self.scale_sp.unsqueeze(1),
                        self.coef.transpose(1, 2),
                        m.unsqueeze(1),
                    ),
                )
        return v.views

    # ------------------------------------------------------------------ statistics
    def _fused_stats(self, x, fused: str, value, sym_std) -> EdgeStats:
        """Stats of the ``edge_forward_spline_*`` metrics: the fused layer's magnitudes
        ``value``, with the symbolic edges' std (``sym_std``) as their scores."""
        score = value.detach()
        if sym_std is not None:
            if fused == "n":
                x_std = x.detach().std(0) if x.shape[0] > 1 else torch.zeros_like(x[0])
                sym_std = sym_std / (x_std.unsqueeze(1) + 0.1)
            score = torch.where(self.sym_mask, sym_std.detach(), score)
        return EdgeStats(value=value, score=score)

    def _mean_abs_stats(self, x, wb, ws, sym_abs, sub: int) -> EdgeStats:
        """Stats of ``edge_mean_abs`` from the forward's numeric weights ``wb, ws``. Mean
        ``|phi|`` has no closed form over the batch; a fixed stride of rows estimates it well and
        bounds the ``[rows, in, out]`` tensor (kan-facts.md)."""
        xs = x[:: max(1, x.shape[0] // sub)]
        phi = self.base_fun(xs).unsqueeze(2) * wb + torch.einsum(
            "bik,iko->bio", basis(xs, self.grid, self.k, self._knots()), ws
        )
        value = phi.abs().mean(0)
        score = value.detach()
        if sym_abs is not None:
            score = torch.where(self.sym_mask, sym_abs.detach(), score)
        return EdgeStats(value=value, score=score)

    def edge_values(self, x: torch.Tensor) -> torch.Tensor:
        """Every edge's value ``[B, in, out]`` at inputs ``x [B, in]`` (masked edges give 0).

        Materialises the per-edge tensor on purpose: for curves and symbolic fits on ~100 points.
        """
        wb, ws = self._numeric_weights()
        phi = self.base_fun(x).unsqueeze(2) * wb + torch.einsum(
            "bik,iko->bio", basis(x, self.grid, self.k), ws
        )
        for ii, jj, vals in self._symbolic_values(x):
            both = self.ns_mask[ii, jj] != 0  # 'ns' edges: the spline part added
            phi[:, ii, jj] = torch.where(both, phi[:, ii, jj] + vals, vals)
        return phi

    def spline_values(self, x: torch.Tensor) -> torch.Tensor:
        """The spline part ``sum_m coef_m B_m(x)`` of every edge, ``[B, in, out]`` (no scales)."""
        return torch.einsum("bik,iok->bio", basis(x, self.grid, self.k), self.coef)

    # ------------------------------------------------------------------ grid refit
    def refit_grid(
        self,
        x: torch.Tensor,
        num: int | None = None,
        grid_eps: float | None = None,
        min_span: float = 0.0,
    ) -> bool:
        """Move the knots to the samples ``x [B, in]`` (optionally to ``num`` intervals) and refit
        ``coef`` by least squares so each edge's spline is unchanged on the samples.

        New knots mix sample quantiles with a uniform grid over the sample range (weight
        ``grid_eps`` on uniform), as pykan's ``update_grid_from_samples``. An input whose samples
        span less than ``min_span`` gets a uniform grid ``min_span`` wide around their centre
        (``KAN(grid_min_span=...)`` says why; 0 is pykan's rule). The scales are not
        touched: the refit is of the spline part alone, so re-applying ``scale_sp`` is not needed
        (doing so is the known trap that changes phi by over 100%).

        Returns whether ``min_span`` widened every input's grid (all inputs narrower than it:
        the training loop then knows the floor acted on the whole layer).
        """
        num = self.num if num is None else int(num)
        eps = self.grid_eps if grid_eps is None else grid_eps
        with torch.no_grad(), OneThread():  # a refit is many small ops (threads.py)
            x_sorted = sort_rows(x.detach().t().contiguous())  # [in, B]
            new_grid = grid_on_samples(x_sorted, num, self.k, eps, min_span)
            whole = min_span > 0 and bool((x_sorted[:, -1] - x_sorted[:, 0] < min_span).all())
            # assign .data so optimisers holding this Parameter keep training it
            self.coef.data = refit_coef(x_sorted.t(), self.grid, self.coef, new_grid, self.k)
            self.num = num
            self.grid = new_grid
            self._input_cache.clear()  # features on the old knots
            self._knots()
        return whole

    # ------------------------------------------------------------------ symbolic edges
    def _groups(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(name, input indices, output indices)`` of the symbolic edges, one entry per
        function, cached until the names change or the layer moves to another device."""
        g = self._sym_groups
        if g is None or (g and g[0][1].device != self.grid.device):
            by_name: dict[str, list[tuple[int, int]]] = {}
            for (i, j), name in sorted(self.sym_names.items()):
                by_name.setdefault(name, []).append((i, j))
            dev = self.grid.device
            g = self._sym_groups = [
                (
                    name,
                    torch.tensor([e[0] for e in edges], dtype=torch.long, device=dev),
                    torch.tensor([e[1] for e in edges], dtype=torch.long, device=dev),
                )
                for name, edges in by_name.items()
            ]
        return g

    def _sym_masks(self) -> list[torch.Tensor | None]:
        """Each symbolic group's ``mask[ii, jj]``, ``None`` where all ones (the tape skips the
        exact product), cached until the mask or the groups change (small models are bound by
        the number of operations)."""
        groups, m, c = self._groups(), self.mask, self._sym_mask_cache
        if c is None or c[0] is not m or c[1] != m._version or c[2] is not groups:
            masks = [m[ii, jj] for _, ii, jj in groups]
            c = (m, m._version, groups, [None if bool((v == 1).all()) else v for v in masks])
            if torch.is_inference_mode_enabled() or transforms_active():  # see _knots
                return c[3]
            self._sym_mask_cache = c
        return c[3]

    def _symbolic_values(self, x: torch.Tensor):
        """``(input indices, output indices, values [B, E])`` of the symbolic edges, one entry per
        library function (one vectorised call each): ``mask * (c*f(a*x+b) + d)``."""
        from .symbolic.library import get_function  # sympy: loaded with the first symbolic edge

        if not self.symbolic_enabled:
            return
        for name, ii, jj in self._groups():
            p = self.sym_params[ii, jj]  # [E, 4]
            fn = get_function(name).torch_fn
            if self.y_th is not None:  # pykan's singularity_avoiding (kan_widget/singular.py)
                fn = singular_fn(name, self.y_th, fn)
            vals = p[:, 2] * fn(p[:, 0] * x[:, ii] + p[:, 1]) + p[:, 3]
            yield ii, jj, vals * self.mask[ii, jj]

    def _symbolic_forward(self, x: torch.Tensor, need_stats: bool):
        """Symbolic edges grouped by function: one vectorised call per distinct function."""
        if not self.symbolic_enabled or not self._groups():
            return None, None, None
        y = x.new_zeros(x.shape[0], self.out_dim)
        sym_std = x.new_zeros(self.in_dim, self.out_dim) if need_stats else None
        sym_abs = x.new_zeros(self.in_dim, self.out_dim) if need_stats else None
        for ii, jj, vals in self._symbolic_values(x):
            y = y.index_add(1, jj, vals)
            if sym_std is not None and sym_abs is not None:  # need_stats
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
            self.ns_mask[i_idx, j_idx] = 0.0  # the function alone, as pykan's fix_symbolic
        for i, j, n in zip(i_idx.tolist(), j_idx.tolist(), names):
            self.sym_names[(i, j)] = n
        self._sym_groups = None

    def clear_symbolic(self, i_idx, j_idx) -> None:
        """Return edges to their spline (which kept its last trained values)."""
        i_idx = torch.as_tensor(i_idx, dtype=torch.long).reshape(-1)
        j_idx = torch.as_tensor(j_idx, dtype=torch.long).reshape(-1)
        self.sym_mask[i_idx, j_idx] = False
        self.ns_mask[i_idx, j_idx] = 0.0
        for i, j in zip(i_idx.tolist(), j_idx.tolist()):
            self.sym_names.pop((i, j), None)
        self._sym_groups = None
