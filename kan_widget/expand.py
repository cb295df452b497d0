"""pykan 0.2.8's ``expand_depth``, ``expand_width`` and ``perturb``, as a mixin of
:class:`~kan_widget.model.KAN`: grow a (usually compiled, :func:`kan_widget.kanpiler`) model and
switch splines on beside its symbolic edges, so that training can correct the formula.

pykan keeps two masks per edge (its spline's and its symbolic function's); here an edge is off
(``mask`` 0), a spline, a symbolic function (``sym_mask``), or both (``ns_mask``, pykan's
``'ns'``). pykan's ``'0'`` symbolic function is an edge that is off. What each method does to
pykan's masks is done to ours; where pykan would change the model's function on a model with
spline edges (it replaces both grown layers' splines, and ``perturb`` zeroes the last layer's),
ours keeps the function (docs/PYKAN_DIFFERENCES.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import torch

from .layer import KANLayer
from .nodes import NodeLayout

if TYPE_CHECKING:
    from .model import KAN

__all__ = ["PERTURB_MODES", "Expand"]

# pykan's perturb modes: which edge kinds get their spline switched on. An edge's kind is
# (its input node active, its output node active): 'a'/'i'; 'aa' edges split by whether the
# edge itself is active ('aa_a') or not ('aa_i'). A node is active when an active edge leaves
# it (inputs) or reaches it (outputs).
PERTURB_MODES = {
    "all": {"aa_a", "aa_i", "ai", "ia", "ii"},
    "non-intrusive": {"ai", "ii"},
    "minimal": {"aa_a"},
}


def _regrow(
    layer: KANLayer,
    fresh: KANLayer,
    in_pos: Sequence[int],
    out_pos: Sequence[int],
) -> KANLayer:
    """``fresh`` (a new layer, every edge off) with ``layer``'s edges copied in: old input
    ``i`` becomes ``in_pos[i]``, old output ``j`` becomes ``out_pos[j]``; an old input's knots
    come along (a new input keeps the fresh, uniform ones)."""
    ii = torch.tensor(list(in_pos), dtype=torch.long, device=fresh.grid.device)
    oo = torch.tensor(list(out_pos), dtype=torch.long, device=fresh.grid.device)
    tensors = {}
    for name in KANLayer.TENSORS:
        new, old = getattr(fresh, name).detach().clone(), getattr(layer, name).detach()
        if name == "grid":
            new[ii] = old
        else:
            new[ii[:, None], oo[None, :]] = old
        tensors[name] = new
    names = {(in_pos[i], out_pos[j]): n for (i, j), n in layer.sym_names.items()}
    return KANLayer(
        tensors, k=layer.k, base_fun=layer.base_fun_name, grid_eps=layer.grid_eps, sym_names=names
    )


class Expand:
    """pykan's ``expand_depth``, ``expand_width`` and ``perturb`` (in place, return ``None``)."""

    def _kan(self) -> KAN:
        return cast("KAN", self)

    def _fresh_layer(self, n_in: int, n_out: int, num: int, salt: int) -> KANLayer:
        """A new layer as the constructor makes one (``num`` grid intervals), every edge off.
        Drawn from a generator seeded by the model's seed and ``salt`` (the global random
        state is not touched)."""
        model = self._kan()
        config = model.config.replace(grid=num, sparse_init=False)
        gen = torch.Generator().manual_seed(model.config.seed * 1009 + salt)
        layer = KANLayer.initial(n_in, n_out, config, gen, model.device)
        with torch.no_grad():
            layer.mask.zero_()
        return layer

    def _affine_lists(self) -> list[list[torch.Tensor]] | None:
        model = self._kan()
        if not model.has_node_step:
            return None
        return [[t.detach().clone() for t in model._affine(l)] for l in range(model.depth)]

    def _reinstall(self, layers, nodes, affine) -> None:
        model = self._kan()
        # scores (None) are recomputed when next asked for; cache_data keeps the inputs
        model._install(model.config, layers, model.reg_metric, None, model.scaling, nodes, affine)

    def expand_depth(self) -> None:
        """pykan's ``expand_depth``: a layer added at the output end, each output node joined
        to itself by the symbolic identity ``'x'`` (no other edges), so the model computes the
        same function; the new layer's splines are there to be switched on (:meth:`perturb`)."""
        model = self._kan()
        n = model.width_in[-1]
        layer = self._fresh_layer(n, n, model.layers[-1].num, salt=model.depth)
        diag = list(range(n))
        params = torch.tensor([[1.0, 0.0, 1.0, 0.0]] * n)
        with torch.no_grad():
            layer.set_symbolic(diag, diag, ["x"] * n, params)
            layer.mask[diag, diag] = 1.0
        affine = self._affine_lists()
        if affine is not None:
            affine.append([torch.ones(n), torch.zeros(n), torch.ones(n), torch.zeros(n)])
        self._reinstall([*model.layers, layer], [*model.nodes, NodeLayout(n)], affine)

    def expand_width(
        self,
        layer_id: int,
        n_added_nodes: int,
        sum_bool: bool = True,
        mult_arity=2,
        *,
        perturb: bool = False,
    ) -> None:
        """pykan's ``expand_width``: ``n_added_nodes`` nodes added to hidden layer
        ``layer_id`` (``1 .. depth - 1``), sum nodes before the existing ones
        (``sum_bool=True``) or multiplication nodes of ``mult_arity`` operands (an int, or one
        per node) after them. Every edge to or from a new node is off (pykan's ``'0'``), so the
        model computes the same function. ``perturb=True`` (not in pykan 0.2.8) then calls
        :meth:`perturb`."""
        model = self._kan()
        if not isinstance(layer_id, int) or not 1 <= layer_id < model.depth:
            raise ValueError(
                f"layer_id must be a hidden layer, 1 to {model.depth - 1}; got {layer_id!r} "
                "(pykan 0.2.8's layer 0 also adds an output to the last layer; to add inputs, "
                "build a model with more inputs: augment_input adds the data's columns)"
            )
        if not isinstance(n_added_nodes, int) or n_added_nodes < 1:
            raise ValueError(f"n_added_nodes must be a positive int; got {n_added_nodes!r}")
        nodes = list(model.nodes)
        lay = nodes[layer_id]
        below, above = model.layers[layer_id - 1], model.layers[layer_id]
        if sum_bool:
            n = n_added_nodes
            new_lay = NodeLayout(lay.n_sum + n, lay.arities)
            out_pos = [j + n for j in range(lay.n_sub)]  # new sum nodes first
            in_pos = [i + n for i in range(lay.n_nodes)]
            sub_at, node_at, n_new_sub = 0, 0, n
        else:
            arities = [mult_arity] * n_added_nodes if isinstance(mult_arity, int) else mult_arity
            arities = [int(a) for a in arities]
            if len(arities) != n_added_nodes or any(a < 1 for a in arities):
                raise ValueError(
                    f"mult_arity must be a positive int or {n_added_nodes} of them; "
                    f"got {mult_arity!r}"
                )
            new_lay = NodeLayout(lay.n_sum, (*lay.arities, *arities))
            out_pos, in_pos = list(range(lay.n_sub)), list(range(lay.n_nodes))
            sub_at, node_at, n_new_sub = lay.n_sub, lay.n_nodes, sum(arities)
        fresh_below = self._fresh_layer(below.in_dim, new_lay.n_sub, below.num, salt=2 * layer_id)
        fresh_above = self._fresh_layer(
            new_lay.n_nodes, above.out_dim, above.num, salt=2 * layer_id + 1
        )
        layers = list(model.layers)
        layers[layer_id - 1] = _regrow(below, fresh_below, range(below.in_dim), out_pos)
        layers[layer_id] = _regrow(above, fresh_above, in_pos, range(above.out_dim))
        nodes[layer_id] = new_lay
        affine = self._affine_lists()
        if affine is not None:  # identity maps for the new (sub)nodes, where pykan puts them
            ss, sb, ns, nb = affine[layer_id - 1]
            k = new_lay.n_nodes - lay.n_nodes

            def put(t: torch.Tensor, at: int, m: int, fill: float) -> torch.Tensor:
                return torch.cat(
                    [t[:at], torch.full((m,), fill, dtype=t.dtype, device=t.device), t[at:]]
                )

            affine[layer_id - 1] = [
                put(ss, sub_at, n_new_sub, 1.0),
                put(sb, sub_at, n_new_sub, 0.0),
                put(ns, node_at, k, 1.0),
                put(nb, node_at, k, 0.0),
            ]
        self._reinstall(layers, nodes, affine)
        if perturb:
            self.perturb()

    def perturb(self, mag: float = 1.0, mode: str = "non-intrusive") -> None:
        """pykan's ``perturb``: switch splines on, weighted by ``mag``, beside a compiled
        model's symbolic edges, so that training can correct the formula. ``mode``:
        ``'non-intrusive'`` (edges out of nodes that feed nothing, or into nodes nothing
        feeds: the function is unchanged; every last-layer edge gets a spline at zero scale),
        ``'minimal'`` (a spline added to every active edge) or ``'all'``. An edge that is
        symbolic keeps its function and gets the spline added (``set_mode('ns')``); an edge
        that was off becomes a spline."""
        if mode not in PERTURB_MODES:
            raise ValueError(
                f"mode not recognized: {mode!r}; valid modes are 'all', 'non-intrusive', 'minimal'"
            )
        model = self._kan()
        chosen = PERTURB_MODES[mode]
        depth = model.depth
        with torch.no_grad():
            for l, layer in enumerate(model.layers):
                zero_fn = torch.zeros_like(layer.sym_mask)
                for (i, j), name in layer.sym_names.items():
                    zero_fn[i, j] = name == "0"
                active = (layer.mask != 0) & ~zero_fn  # [in, out]
                in_act = active.any(1)[:, None].expand_as(active)
                out_act = active.any(0)[None, :].expand_as(active)
                last_quiet = l == depth - 1 and mode == "non-intrusive"
                if last_quiet:
                    # every edge a spline at zero scale (the function unchanged); the splines
                    # of spline edges are kept (pykan zeroes them too)
                    pick = ~(active & ~layer.sym_mask)
                    weight = 1.0
                else:
                    pick = torch.zeros_like(active)
                    for kind in chosen:
                        i_a, o_a = kind[0] == "a", kind[1] == "a"
                        sel = (in_act == i_a) & (out_act == o_a)
                        if kind == "aa_a":
                            sel = sel & active
                        elif kind == "aa_i":
                            sel = sel & ~active
                        pick |= sel
                    weight = float(mag)
                sym_on = pick & layer.sym_mask & active  # keep the function, add the spline
                to_spline = pick & ~active  # off (or '0'): becomes a spline
                spline_on = pick & active & ~layer.sym_mask
                layer.ns_mask[sym_on] = weight
                off = to_spline.nonzero()
                if len(off):
                    layer.clear_symbolic(off[:, 0], off[:, 1])
                layer.mask[to_spline] = weight
                layer.mask[spline_on] = weight
                if last_quiet:
                    quiet = sym_on | to_spline
                    layer.scale_base[quiet] = 0.0
                    layer.scale_sp[quiet] = 0.0
        model._edge_scores = None  # recomputed when next asked for
        model.log_history("perturb")
