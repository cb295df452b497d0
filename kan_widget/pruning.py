"""Which nodes and edges survive a threshold, and the smaller model that keeps them.

Node rule (paper §2.5): a hidden node ``(l, i)`` survives iff its incoming score
``I = max_k A[l-1][k, i]`` and its outgoing score ``O = max_j A[l][i, j]`` both exceed ``node_th``.
Inputs and outputs are never removed. Edge rule (pykan's ``prune_edge``): an edge of the pruned
model survives iff its score exceeds ``edge_th``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["PrunePlan", "plan_prune", "prune"]


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
    from .model import _node_scores

    node_scores = _node_scores(scores)
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


def prune(model, node_th: float = 1e-2, edge_th: float | None = 3e-2):
    """A new, smaller model; ``model`` is unchanged."""
    for name, v in (("node_th", node_th), ("edge_th", edge_th)):
        if v is not None and (not isinstance(v, (int, float)) or v != v or v < 0):
            raise ValueError(f"{name} must be a number >= 0; got {v!r}")
    scores = model._ensure_scores()
    plan = plan_prune(scores, [layer.mask for layer in model.layers], node_th, None)
    new = model.copy()
    keep = [n.nonzero().flatten() for n in plan.nodes]
    new.layers = nn.ModuleList(
        layer.select(keep[l], keep[l + 1]) for l, layer in enumerate(model.layers)
    )
    new._edge_scores = [s[keep[l]][:, keep[l + 1]].clone() for l, s in enumerate(scores)]
    if new.train_input is not None:
        new.attribute()
    if edge_th is not None:
        new.prune_edge(edge_th)
    return new
