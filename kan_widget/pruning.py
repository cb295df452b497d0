"""Which nodes and edges survive a threshold (``KAN.prune`` builds the smaller model).

Node rule (paper §2.5): a hidden node ``(l, i)`` survives iff its incoming score
``I = max_k A[l-1][k, i]`` and its outgoing score ``O = max_j A[l][i, j]`` both exceed ``node_th``.
Inputs and outputs are never removed. Edge rule (pykan's ``prune_edge``): an edge of the pruned
model survives iff its score exceeds ``edge_th``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["PrunePlan", "carry_constants", "node_scores_of", "plan_prune"]


def node_scores_of(scores: list[torch.Tensor]) -> list[torch.Tensor]:
    """Node scores from per-layer edge scores ``[in, out]`` (paper §2.5's I and O): for a hidden
    node min(max incoming, max outgoing), max outgoing for inputs, max incoming for outputs."""
    out: list[torch.Tensor] = []
    for l in range(len(scores) + 1):
        incoming = scores[l - 1].amax(0) if l > 0 else None  # over inputs of layer l-1
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
    scores: list[torch.Tensor], masks: list[torch.Tensor], node_th: float, edge_th: float | None
) -> PrunePlan:
    """Decide from edge scores ``[in, out]`` (and current masks) without building a model.

    Vectorised over nodes and edges; used both by ``prune`` and by the widget's theta preview.
    """
    node_scores = node_scores_of(scores)
    nodes = []
    for l, ns in enumerate(node_scores):
        keep = ns > node_th
        if 0 < l < len(node_scores) - 1:
            if not bool(keep.any()):  # never cut the network in two: keep its strongest node
                keep = torch.zeros_like(keep)
                keep[int(ns.argmax())] = True
        else:
            keep = torch.ones_like(keep)
        nodes.append(keep)
    edges = []
    for l, (s, m) in enumerate(zip(scores, masks)):
        e = (m > 0) & nodes[l].unsqueeze(1) & nodes[l + 1].unsqueeze(0)
        if edge_th is not None:
            e = e & (s > edge_th)
        edges.append(e)
    return PrunePlan(nodes=nodes, edges=edges)


def carry_constants(old_layers, new_layers, keep: list[torch.Tensor], x: torch.Tensor) -> None:
    """Make the pruned layers ``new_layers`` compute what ``old_layers`` computed, up to the
    part that varied: each kept node's mean over the samples ``x [N, in]`` (network units) is
    restored by shifting one surviving incoming edge.

    Why: a node (or edge) is removed because its output hardly *varies*, but that output is
    rarely zero; dropping it moves every downstream node by a constant, and the pruned model's
    own RMSE was 0.5-2 on the canonical example before retraining. The shift goes, per kept
    node, into the active incoming edge of largest ``|scale_sp|`` (spline coefficients, whose
    B-splines sum to 1 on the grid: the edge moves by exactly the shift where the data are) or,
    if that node's edges are all symbolic, into the first one's ``d``. A node without active
    incoming edges computes 0 whatever its parameters and is left as it is. Layer by layer, so
    each shift sees the already corrected inputs. ``keep[l]``: the old indices kept in layer
    ``l``."""
    with torch.no_grad():
        xo, xn = x, x[:, keep[0]]
        for l, (old, new) in enumerate(zip(old_layers, new_layers, strict=True)):
            yo = old(xo)
            delta = (yo[:, keep[l + 1]] - new(xn)).double().mean(0)  # [out_kept]
            active = new.mask != 0
            numeric = active & ~new.sym_mask
            sp = torch.where(numeric, new.scale_sp.detach().abs(), torch.zeros_like(new.scale_sp))
            best_sp, i_sp = sp.max(0)  # per output node: the numeric edge with the largest scale
            sym = active & new.sym_mask
            i_sym = sym.to(torch.int8).argmax(0)  # per output node: its first symbolic edge
            todo = (delta != 0) & torch.isfinite(delta)
            on_sp = todo & (best_sp > 1e-12)
            on_sym = todo & ~on_sp & sym.any(0)
            jj = on_sp.nonzero().flatten()
            ii = i_sp[jj]
            w = (new.scale_sp[ii, jj] * new.mask[ii, jj]).double()
            new.coef[ii, jj, :] += (delta[jj] / w).to(new.coef.dtype)[:, None]
            jj = on_sym.nonzero().flatten()
            ii = i_sym[jj]
            new.sym_params[ii, jj, 3] += (delta[jj] / new.mask[ii, jj].double()).to(
                new.sym_params.dtype
            )
            xo, xn = yo, new(xn)
