"""Multiplication nodes (pykan's MultKAN): how a layer's edges meet in its nodes.

A layer of nodes holds ``n_sum`` sum nodes, then ``n_mult`` multiplication nodes, node ``m`` of
arity ``a_m`` multiplying ``a_m`` *subnodes*. Edges end on subnodes: the edge layer ``l`` maps the
``n_nodes`` nodes of layer ``l`` to the ``n_sub = n_sum + sum(a)`` subnodes of layer ``l+1``
(pykan's ``width_in[l]`` and ``width_out[l+1]``). Each subnode sums its incoming edges; a sum node
is its subnode, a multiplication node the product of its ``a_m`` consecutive subnodes. pykan
0.2.8's node step, with its per-node affine maps (constant 1 and 0 unless set)::

    s = subnode_scale * (edge sums) + subnode_bias          # [B, n_sub]
    n = [s[:, :n_sum], prod of each mult node's subnodes]   # [B, n_nodes]
    node = node_scale * n + node_bias

A model without multiplication nodes skips this step entirely (it is the identity there), so
every all-int width computes bit-identically to before. The product is taken left to right as
pykan's (``(s0*s1)*s2``), over columns padded with exact ones, so one gather serves any mix of
arities; its gradient (:func:`node_backward`) takes the products of the other operands from
prefix and suffix products (no division, so a zero operand is fine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .validation import is_int

__all__ = ["NodeLayout", "NodeStep", "parse_width", "pykan_mult_arity", "pykan_width"]


@dataclass(frozen=True)
class NodeLayout:
    """One layer of nodes: ``n_sum`` sum nodes, then one multiplication node per entry of
    ``arities`` (its number of operands)."""

    n_sum: int
    arities: tuple[int, ...] = ()

    @property
    def n_mult(self) -> int:
        return len(self.arities)

    @property
    def n_nodes(self) -> int:
        """Nodes: pykan's ``width_in``."""
        return self.n_sum + len(self.arities)

    @property
    def n_sub(self) -> int:
        """Subnodes (where edges end): pykan's ``width_out``."""
        return self.n_sum + sum(self.arities)

    def sub_to_node(self) -> list[int]:
        """For each subnode, the node it belongs to."""
        out = list(range(self.n_sum))
        for m, a in enumerate(self.arities):
            out.extend([self.n_sum + m] * a)
        return out

    def select(self, keep: Sequence[bool]) -> NodeLayout:
        """The layout of the kept nodes (``keep [n_nodes]``), as pykan's ``prune_node``: a mult
        node keeps or loses all its operands."""
        n_sum = sum(bool(k) for k in keep[: self.n_sum])
        arities = tuple(a for a, k in zip(self.arities, keep[self.n_sum :]) if k)
        return NodeLayout(n_sum, arities)

    def sub_keep(self, keep: torch.Tensor) -> torch.Tensor:
        """Node keep mask ``[n_nodes]`` -> subnode keep mask ``[n_sub]``."""
        if not self.arities:
            return keep
        return keep[torch.tensor(self.sub_to_node(), device=keep.device)]

    def to_json(self) -> list[Any]:
        return [self.n_sum, list(self.arities)]

    @classmethod
    def from_json(cls, v: Any) -> NodeLayout:
        n_sum, arities = v
        if not is_int(n_sum) or n_sum < 0 or not all(is_int(a) and a >= 2 for a in arities):
            raise ValueError(f"a node layout is [n_sum, [arities >= 2]]; got {v!r}")
        return cls(int(n_sum), tuple(int(a) for a in arities))


def _width_error(width: Any, why: str) -> ValueError:
    return ValueError(
        f"width {width!r}: {why}. A width lists each layer's nodes: an int (sum nodes), or "
        "[n_sum, n_mult] for a layer with multiplication nodes, e.g. [2, [5, 2], 1]"
    )


def parse_width(width: Any, mult_arity: Any = 2) -> list[NodeLayout]:
    """pykan's ``width`` and ``mult_arity`` -> one :class:`NodeLayout` per layer of nodes.

    ``width``: ints, or ``[n_sum, n_mult]`` pairs for layers with multiplication nodes (not the
    inputs). ``mult_arity``: an int >= 2 for every multiplication node, or pykan's per-node
    lists, one list per layer of ``width`` (``[[], [2, 3], []]``: the hidden layer's two mult
    nodes multiply 2 and 3 numbers). Every problem is a ValueError that says what to write."""
    if isinstance(width, (str, bytes)) or not isinstance(width, Sequence):
        raise TypeError(f"width must be a list such as [2, 5, 1] or [2, [5, 2], 1]; got {width!r}")
    w = list(width)
    if len(w) < 2:
        raise _width_error(width, "it needs at least 2 layers (inputs, ..., outputs)")
    pairs: list[tuple[int, int]] = []
    for l, v in enumerate(w):
        if is_int(v):
            pair = (int(v), 0)
        elif isinstance(v, (list, tuple)) and len(v) == 2 and all(is_int(u) for u in v):
            pair = (int(v[0]), int(v[1]))
        else:
            raise _width_error(width, f"entry {l} ({v!r}) is neither an int nor [n_sum, n_mult]")
        if pair[0] < 0 or pair[1] < 0:
            raise _width_error(width, f"entry {l} ({v!r}) has a negative node count")
        if pair[0] + pair[1] < 1:
            raise _width_error(width, f"entry {l} ({v!r}) has no nodes")
        pairs.append(pair)
    if pairs[0][1]:
        raise _width_error(width, "the inputs (entry 0) cannot be multiplication nodes")
    if is_int(mult_arity):
        if mult_arity < 2:
            raise ValueError(
                f"mult_arity must be an int >= 2 (numbers each multiplication node multiplies) "
                f"or per-node lists; got {mult_arity!r}"
            )
        return [NodeLayout(s, (int(mult_arity),) * m) for s, m in pairs]
    ok = isinstance(mult_arity, (list, tuple)) and all(
        isinstance(a, (list, tuple)) for a in mult_arity
    )
    if not ok or len(mult_arity) != len(pairs):
        raise ValueError(
            f"mult_arity must be an int >= 2, or one list per layer of width ({len(pairs)} "
            f"lists, each with one arity per multiplication node, e.g. "
            f"{[[2] * m for _, m in pairs]}); got {mult_arity!r}"
        )
    layouts = []
    for l, ((s, m), ar) in enumerate(zip(pairs, mult_arity)):
        if len(ar) != m or not all(is_int(a) and a >= 2 for a in ar):
            raise ValueError(
                f"mult_arity[{l}] must list {m} ints >= 2 (layer {l} has {m} multiplication "
                f"nodes); got {list(ar)!r}"
            )
        layouts.append(NodeLayout(s, tuple(int(a) for a in ar)))
    return layouts


def pykan_width(layouts: Sequence[NodeLayout]) -> list[Any]:
    """The ``width`` argument that rebuilds ``layouts``: an int for a layer without
    multiplication nodes, ``[n_sum, n_mult]`` otherwise (all ints for a plain KAN)."""
    return [lay.n_sum if not lay.arities else [lay.n_sum, lay.n_mult] for lay in layouts]


def pykan_mult_arity(layouts: Sequence[NodeLayout]) -> int | list[list[int]]:
    """The ``mult_arity`` argument that rebuilds ``layouts``: an int when every
    multiplication node has the same arity (2 when there are none), else per-node lists."""
    arities = {a for lay in layouts for a in lay.arities}
    if len(arities) <= 1:
        return arities.pop() if arities else 2
    return [list(lay.arities) for lay in layouts]


class NodeStep:
    """The node step of one edge layer (subnodes -> nodes) with its index tensors, made once per
    model structure. ``affine``: ``(subnode_scale, subnode_bias, node_scale, node_bias)``."""

    def __init__(self, layout: NodeLayout, device: torch.device):
        self.layout = layout
        s, ar = layout.n_sum, layout.arities
        amax = max(ar, default=0)
        pad = layout.n_sub  # index of the column of ones appended to the subnodes
        idx = torch.full((len(ar), amax), pad, dtype=torch.long)
        start = s
        for m, a in enumerate(ar):
            idx[m, :a] = torch.arange(start, start + a)
            start += a
        self.idx = idx.to(device)

    def forward(self, x: torch.Tensor, affine: Sequence[torch.Tensor]):
        """Subnode sums ``x [B, n_sub]`` -> nodes ``[B, n_nodes]``, and what :meth:`backward`
        needs (the gathered operands)."""
        ss, sb, ns, nb = affine
        x = ss * x + sb
        s = self.layout.n_sum
        if not self.layout.arities:
            return ns * x + nb, None
        if self.idx.device != x.device:  # the model moved (model.to(device))
            self.idx = self.idx.to(x.device)
        ops = torch.cat([x, x.new_ones(x.shape[0], 1)], 1)[:, self.idx]  # [B, n_mult, amax]
        prod = ops[:, :, 0]
        for c in range(1, ops.shape[2]):
            prod = prod * ops[:, :, c]
        return ns * torch.cat([x[:, :s], prod], 1) + nb, ops

    def backward(self, g: torch.Tensor, ops, affine: Sequence[torch.Tensor]) -> torch.Tensor:
        """The gradient in the subnode sums from the gradient ``g [B, n_nodes]`` in the nodes
        (the affine maps are constants: ``affine_trainable=False``)."""
        ss, _, ns, _ = affine
        g = g * ns
        s = self.layout.n_sum
        if ops is None:
            return g * ss
        B, M, A = ops.shape
        # product of the other operands: prefix[c] * suffix[c+1]
        one = ops.new_ones(B, M)
        pre = [one]
        for c in range(A - 1):
            pre.append(pre[-1] * ops[:, :, c])
        suf = [one]
        for c in range(A - 1, 0, -1):
            suf.append(suf[-1] * ops[:, :, c])
        suf.reverse()
        others = torch.stack([p * q for p, q in zip(pre, suf)], 2)  # [B, M, A]
        gm = (g[:, s:].unsqueeze(2) * others).reshape(B, -1)
        gx = g.new_zeros(B, self.layout.n_sub + 1)
        gx[:, :s] = g[:, :s]
        gx.index_add_(1, self.idx.reshape(-1), gm)
        return gx[:, :-1] * ss
