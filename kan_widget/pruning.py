"""Which nodes and edges survive a threshold (``KAN.prune`` builds the smaller model).

Node rule (paper §2.5): a hidden node ``(l, i)`` survives iff its incoming score
``I = max_k A[l-1][k, i]`` and its outgoing score ``O = max_j A[l][i, j]`` both exceed ``node_th``.
Inputs and outputs are never removed. Edge rule (pykan's ``prune_edge``): an edge of the pruned
model survives iff its score exceeds ``edge_th``.

Multiplication nodes (:mod:`kan_widget.nodes`): edges end on subnodes, so a multiplication
node's incoming score is the largest over all its operands' incoming edges; the node is kept or
removed with all its operands (as pykan's ``prune_node``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .nodes import NodeLayout

__all__ = ["PrunePlan", "carry_constants", "node_scores_of", "plan_prune", "unreached_outputs"]


def _to_nodes(sub: torch.Tensor, layout: NodeLayout | None) -> torch.Tensor:
    """Subnode scores ``[n_sub]`` -> node scores ``[n_nodes]``: the largest of each node's
    operands (the scores themselves where there are no multiplication nodes)."""
    if layout is None or not layout.arities:
        return sub
    index = torch.tensor(layout.sub_to_node(), device=sub.device)
    return sub.new_zeros(layout.n_nodes).scatter_reduce(0, index, sub, "amax", include_self=False)


def unreached_outputs(
    masks: Sequence[torch.Tensor], nodes: Sequence[NodeLayout] | None = None
) -> list[int]:
    """Outputs that no chain of switched-on edges (``mask != 0``) joins to any input: such an
    output is a constant whatever the inputs are. A multiplication node counts as reached when
    any of its operands is (the others then scale it)."""
    reach = torch.ones(masks[0].shape[0], dtype=torch.bool, device=masks[0].device)
    for l, m in enumerate(masks):
        sub = (reach.to(m.dtype) @ (m != 0).to(m.dtype)) > 0
        layout = None if nodes is None else nodes[l + 1]
        reach = _to_nodes(sub.to(m.dtype), layout) > 0
    return [int(i) for i in (~reach).nonzero().flatten()]


def node_scores_of(
    scores: list[torch.Tensor], nodes: Sequence[NodeLayout] | None = None
) -> list[torch.Tensor]:
    """Node scores from per-layer edge scores ``[in, out]`` (paper §2.5's I and O): for a hidden
    node min(max incoming, max outgoing), max outgoing for inputs, max incoming for outputs.
    ``nodes``: the model's node layouts, where edges end on subnodes (see the module doc)."""
    out: list[torch.Tensor] = []
    for l in range(len(scores) + 1):
        incoming = None
        if l > 0:  # over inputs of layer l-1
            incoming = _to_nodes(scores[l - 1].amax(0), None if nodes is None else nodes[l])
        outgoing = scores[l].amax(1) if l < len(scores) else None
        if incoming is None:
            assert outgoing is not None  # l == 0 and a model has at least one layer
            out.append(outgoing)
        elif outgoing is None:
            out.append(incoming)
        else:
            out.append(torch.minimum(incoming, outgoing))
    return out


@dataclass
class PrunePlan:
    """What ``prune`` would keep: per-layer node keep masks and per-layer edge keep masks
    ``[in, out]`` (edges touching a removed node count as removed)."""

    nodes: list[torch.Tensor]
    edges: list[torch.Tensor]

    @property
    def width(self) -> list[int]:
        return [int(n.sum()) for n in self.nodes]

    @property
    def removed_nodes(self) -> int:
        return int(sum(int((~n).sum()) for n in self.nodes))

    @property
    def removed_edges(self) -> int:
        return int(sum(int((~e).sum()) for e in self.edges))


def plan_prune(
    scores: list[torch.Tensor],
    masks: list[torch.Tensor],
    node_th: float,
    edge_th: float | None,
    nodes: Sequence[NodeLayout] | None = None,
) -> PrunePlan:
    """Decide from edge scores ``[in, out]`` (and current masks) without building a model.
    ``nodes``: the model's node layouts (``None``: sum nodes only); ``PrunePlan.nodes`` are
    per node, ``PrunePlan.edges`` per edge (ending on subnodes).

    Vectorised over nodes and edges; used both by ``prune`` and by the widget's theta preview.
    """
    layouts = nodes
    node_scores = node_scores_of(scores, layouts)
    keep_nodes = []
    for l, ns in enumerate(node_scores):
        keep = ns > node_th
        if 0 < l < len(node_scores) - 1:
            if not bool(keep.any()):  # never cut the network in two: keep its strongest node
                keep = torch.zeros_like(keep)
                keep[int(ns.argmax())] = True
        else:
            keep = torch.ones_like(keep)
        keep_nodes.append(keep)
    edges = []
    for l, (s, m) in enumerate(zip(scores, masks)):
        sub = keep_nodes[l + 1] if layouts is None else layouts[l + 1].sub_keep(keep_nodes[l + 1])
        e = (m > 0) & keep_nodes[l].unsqueeze(1) & sub.unsqueeze(0)
        if edge_th is not None:
            e = e & (s > edge_th)
        edges.append(e)
    return PrunePlan(nodes=keep_nodes, edges=edges)


def carry_constants(old, new, sub: list[torch.Tensor], x: torch.Tensor) -> None:
    """Make the pruned model ``new`` compute what ``old`` (a KAN) computed, up to the part that
    varied: each kept (sub)node's mean over the samples ``x [N, in]`` (network units) is
    restored by shifting one surviving incoming edge.

    Why: a node (or edge) is removed because its output hardly *varies*, but that output is
    rarely zero; dropping it moves every downstream node by a constant, and the pruned model's
    own RMSE was 0.5-2 on the canonical example before retraining. The shift goes, per kept
    node, into the active incoming edge of largest ``|scale_sp|`` (spline coefficients, whose
    B-splines sum to 1 on the grid: the edge moves by exactly the shift where the data are) or,
    if that node's edges are all symbolic, into the first one's ``d``. A node without active
    incoming edges computes 0 whatever its parameters and is left as it is. Layer by layer, so
    each shift sees the already corrected inputs, through the models' node steps (with
    multiplication nodes the subnodes' means are matched: exact when the removed parts were
    constant). ``sub[l]``: the old (sub)node indices kept among layer ``l - 1``'s outputs
    (inputs are never removed)."""
    with torch.no_grad():
        xo, xn = x, x[:, sub[0]]
        for l, (lo, layer) in enumerate(zip(old.layers, new.layers, strict=True)):
            yo = lo(xo)
            delta = (yo[:, sub[l + 1]] - layer(xn)).double().mean(0)  # [out_kept]
            active = layer.mask != 0
            numeric = active & ~layer.sym_mask
            sp = torch.where(
                numeric, layer.scale_sp.detach().abs(), torch.zeros_like(layer.scale_sp)
            )
            best_sp, i_sp = sp.max(0)  # per output node: the numeric edge with the largest scale
            sym = active & layer.sym_mask
            i_sym = sym.to(torch.int8).argmax(0)  # per output node: its first symbolic edge
            todo = (delta != 0) & torch.isfinite(delta)
            on_sp = todo & (best_sp > 1e-12)
            on_sym = todo & ~on_sp & sym.any(0)
            jj = on_sp.nonzero().flatten()
            ii = i_sp[jj]
            w = (layer.scale_sp[ii, jj] * layer.mask[ii, jj]).double()
            layer.coef[ii, jj, :] += (delta[jj] / w).to(layer.coef.dtype)[:, None]
            jj = on_sym.nonzero().flatten()
            ii = i_sym[jj]
            layer.sym_params[ii, jj, 3] += (delta[jj] / layer.mask[ii, jj].double()).to(
                layer.sym_params.dtype
            )
            xo, xn = old.node_step(l, yo), new.node_step(l, layer(xn))
