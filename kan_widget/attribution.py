"""Input attribution with pykan 0.2.8's semantics (KAN 2.0, arXiv 2408.10205, §4.1).

pykan scores a node by how much of the output's variation flows through it, walking the network
backwards from the outputs. With ``E[l][j, i] = std_batch(phi_lij)`` (the edge's spread) and
``S[l][j] = std_batch(sum_i phi_lij)`` (the spread of the node's sum before any node affine or
multiplication; a "subnode"), a query matrix ``N`` (rows: the nodes asked about, columns: the
current layer's nodes) goes one layer down as

    subnode score  = N, with each multiplication node's column repeated for its operands
    edge score     = E[l][j, i] * sub[k, j] / (S[l][j] + 1e-4)          [query, out, in]
    node score     = sum_j edge score                                    [query, in]

starting from the identity on the outputs. ``feature_score`` is the mean over the queries of the
input layer's scores. These are not the forward edge magnitudes of ``model.edge_scores`` (the
regulariser's, which drive ``prune``): they answer "which inputs matter to the output".

The layer structure is read from the model (``model.acts`` gives every layer's input after any
multiplication; :func:`subnode_structure` the operands of each node), so multiplication nodes
need no change here. Only ``[in, out]`` statistics are formed (the fused layer computes the
edges' spreads exactly from per-input feature covariances), never ``[batch, in, out]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .nodes import NodeLayout
from .validation import is_int, is_number

if TYPE_CHECKING:
    from .model import KAN

__all__ = [
    "Attribution",
    "activation_spreads",
    "attribute",
    "input_names",
    "scores_on",
    "subnode_structure",
]

_EPS = 1e-4  # pykan's guard in the division by a subnode's spread


@dataclass(frozen=True)
class Attribution:
    """One backward attribution. ``*_all`` keep the query rows (pykan's ``node_scores_all``
    etc.); the plain lists are their means over the queries. Edge scores are ``[out, in]``
    per layer as pykan's; node scores ``[width[l]]`` for layers ``0..l_end``."""

    node_scores_all: list[torch.Tensor]
    edge_scores_all: list[torch.Tensor]
    subnode_scores_all: list[torch.Tensor]

    @property
    def node_scores(self) -> list[torch.Tensor]:
        return [s.mean(0) for s in self.node_scores_all]

    @property
    def edge_scores(self) -> list[torch.Tensor]:
        return [s.mean(0) for s in self.edge_scores_all]

    @property
    def subnode_scores(self) -> list[torch.Tensor]:
        return [s.mean(0) for s in self.subnode_scores_all]


def subnode_structure(model: Any) -> list[tuple[int, list[int]]]:
    """For each layer's output side ``l = 1..depth``: ``(number of sum nodes, arity of each
    multiplication node)``, from the model's node layouts (``model.nodes``); for another object,
    from pykan's ``width`` (``[n_sum, n_mult]`` entries) and ``mult_arity`` (an int for every
    node, or per layer a list of per-node arities, as pykan accepts)."""
    layouts = getattr(model, "nodes", None)
    if layouts is not None and not callable(layouts):
        return [(int(lay.n_sum), [int(a) for a in lay.arities]) for lay in layouts[1:]]
    width = list(model.width)
    arity = getattr(model, "mult_arity", 2)
    out: list[tuple[int, list[int]]] = []
    for l in range(1, len(width)):
        w = width[l]
        if isinstance(w, (list, tuple)):
            n_sum, n_mult = int(w[0]), int(w[1])
            if isinstance(arity, int):
                arities = [arity] * n_mult
            else:
                arities = [int(a) for a in arity[l]] if n_mult else []
        else:
            n_sum, arities = int(w), []
        out.append((n_sum, arities))
    return out


def _to_subnodes(node: torch.Tensor, n_sum: int, arities: Sequence[int]) -> torch.Tensor:
    """``[q, nodes] -> [q, subnodes]``: a multiplication node's score goes to each operand."""
    if not arities:
        return node
    reps = torch.tensor([1] * n_sum + list(arities), device=node.device)
    return node.repeat_interleave(reps, dim=1)


def activation_spreads(
    model: KAN, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(E, S)`` on inputs ``x`` (the data's units): per layer the edges' spreads
    ``[in, subnodes]`` (unbiased std over the batch, symbolic edges included, removed edges 0)
    and the subnodes' spreads ``[subnodes]`` (std of each layer's sum)."""
    if x.shape[0] < 2:
        raise ValueError(
            f"attribution needs at least 2 samples to measure spreads; got {x.shape[0]}: "
            "fit the model or call model(x) on more rows first"
        )
    return spreads_of_acts(model, model.activations(x))


def spreads_of_acts(
    model: KAN, acts: Sequence[torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """:func:`activation_spreads` from ``model.activations(x)`` already computed (the widget's tick
    has them): every layer's input, in the network's units."""
    edges, subs = [], []
    with torch.no_grad():
        for layer, a in zip(model.layers, acts[:-1]):
            y, stats = layer.forward_stats(a, "edge_forward_spline_u")
            edges.append(stats.score.detach() * layer.mask)
            subs.append(y.detach().std(0))
    return edges, subs


def attribute(
    edges: Sequence[torch.Tensor],
    subs: Sequence[torch.Tensor],
    structure: Sequence[tuple[int, list[int]]],
    l_end: int,
    out_score: torch.Tensor | None = None,
) -> Attribution:
    """The backward pass above from layer ``l_end``'s nodes (the identity, or ``diag(out_score)``)
    down to the inputs, on spreads ``edges`` ``[in, subnodes]`` and ``subs`` ``[subnodes]``."""
    if l_end == 0:
        n_nodes = edges[0].shape[0]
    else:
        n_sum, arities = structure[l_end - 1]
        n_nodes = n_sum + len(arities)
    ref = edges[0]
    if out_score is None:
        node = torch.eye(n_nodes, dtype=ref.dtype, device=ref.device)
    else:
        node = torch.diag(out_score.to(dtype=ref.dtype, device=ref.device))
    nodes, subnodes, edge_list = [node], [], []
    for l in range(l_end, 0, -1):
        n_sum, arities = structure[l - 1]
        sub = _to_subnodes(node, n_sum, arities)  # [q, subnodes]
        # [q, out, in] = E[in, out]^T * sub[q, out] / (S[out] + eps)
        w = edges[l - 1].t() / (subs[l - 1] + _EPS).unsqueeze(1)  # [out, in]
        edge = sub.unsqueeze(2) * w.unsqueeze(0)
        node = edge.sum(1)
        subnodes.append(sub)
        edge_list.append(edge)
        nodes.append(node)
    return Attribution(nodes[::-1], edge_list[::-1], subnodes[::-1])


def scores_on(model: KAN, acts: Sequence[torch.Tensor]) -> Attribution:
    """The full attribution on the activations ``acts = model.activations(x)``, without storing
    anything on the model (the widget's bars, on its own rows)."""
    if acts[0].shape[0] < 2:
        raise ValueError("attribution needs at least 2 samples to measure spreads")
    edges, subs = spreads_of_acts(model, acts)
    return attribute(edges, subs, subnode_structure(model), model.depth)


def input_names(model: Any, names: Sequence[str]) -> list[str]:
    """The names of the model's inputs, given the original columns' ``names`` (after
    ``prune_input`` the model has a subset of them)."""
    sel = getattr(model, "_input_select", None)
    if sel is None or len(names) != sel[1]:
        return list(names)
    return [names[c] for c in sel[0]]


def check_layer_node(model: KAN, l, i) -> tuple[int | None, int | None]:
    """``(l, i)`` of ``attribute(l, i)`` checked against the model: a layer ``0..depth`` and a
    node of it. A tensor or array in ``l`` means the caller wanted the edge scores on data."""
    if l is not None and not is_int(l):
        if isinstance(l, torch.Tensor) or hasattr(l, "shape"):
            raise TypeError(
                "attribute(l, i) is pykan's backward attribution (l: a layer index); for the "
                "edge scores on inputs x use model.score_edges(x)"
            )
        raise TypeError(f"l must be a layer index (an int) or None; got {l!r}")
    if l is None:
        if i is not None:
            raise ValueError("attribute(i=...) needs the layer l of node i")
        return None, None
    l = int(l)
    if not 0 <= l <= model.depth:
        raise ValueError(f"layer l={l} does not exist: the model has layers 0..{model.depth}")
    if i is None:
        return l, None
    n = model.width_in[l]
    if not is_int(i) or not 0 <= int(i) < n:
        raise ValueError(f"node i={i!r} does not exist in layer {l}: it has nodes 0..{n - 1}")
    return l, int(i)


def check_threshold(threshold) -> float:
    if not is_number(threshold) or threshold != threshold or threshold < 0:
        raise ValueError(f"threshold must be a number >= 0; got {threshold!r}")
    return float(threshold)


def select_columns(x: Any, select: tuple[tuple[int, ...], int], n_in: int) -> Any:
    """pykan's ``x[:, input_id]`` for a model after ``prune_input``: rows of the original
    ``select[1]`` columns give the kept columns ``select[0]``; anything else is returned as it
    is (rows of the kept columns are accepted too; other widths fail the usual shape check)."""
    cols, n_orig = select
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != n_orig or n_orig == n_in:
        return x
    if hasattr(x, "iloc"):  # pandas: by position
        return x.iloc[:, list(cols)]
    if isinstance(x, torch.Tensor):
        return x[:, torch.tensor(cols, dtype=torch.long, device=x.device)]
    return x[:, list(cols)]


def select_dataset(model: Any, dataset: Any) -> Any:
    """``dataset`` with its inputs' columns selected as :func:`select_columns` (a new dict; names
    in ``in_vars`` too), so a model after ``prune_input`` trains on the original data as
    pykan's does."""
    sel = getattr(model, "_input_select", None)
    if sel is None or not isinstance(dataset, dict):
        return dataset
    n_in = model.layers[0].in_dim
    out = dict(dataset)
    for key in ("train_input", "test_input"):
        if key in out:
            out[key] = select_columns(out[key], sel, n_in)
    names = out.get("in_vars")
    if isinstance(names, (list, tuple)) and len(names) == sel[1] != n_in:
        out["in_vars"] = [names[c] for c in sel[0]]
    return out


def run(model: KAN, l=None, i=None, out_score=None, plot: bool = True):
    """pykan's ``model.attribute(l, i, out_score, plot)``; see :meth:`KAN.attribute`."""
    l, i = check_layer_node(model, l, i)
    x = model.train_input
    if x is None:
        raise RuntimeError(
            "attribution needs data: call model.fit(dataset), model(x) or model.get_act(x) first"
        )
    edges, subs = activation_spreads(model, x)
    structure = subnode_structure(model)
    full = attribute(edges, subs, structure, model.depth)
    if l is None:
        if out_score is not None:
            n_out = full.node_scores_all[-1].shape[0]
            out = torch.as_tensor(out_score, dtype=edges[0].dtype, device=edges[0].device)
            if out.shape != (n_out,) or not bool(torch.isfinite(out).all()):
                raise ValueError(
                    f"out_score must be {n_out} finite numbers (one per output); got {out_score!r}"
                )
            full = attribute(edges, subs, structure, model.depth, out)
        model._attribution = full
        return None
    model._attribution = full
    part = attribute(edges, subs, structure, l, full.node_scores[l])
    if i is None:
        return part.node_scores_all[0]
    row = part.node_scores_all[0][i]
    if plot:
        _bar(row, model)
    return row


def _bar(row: torch.Tensor, model: KAN) -> None:
    """pykan's bar chart of one node's input scores (matplotlib, on the current figure)."""
    import matplotlib.pyplot as plt

    n = row.shape[0]
    plt.figure(figsize=(1 * n, 3))
    plt.bar(range(n), row.detach().cpu().numpy())
    plt.xticks(range(n))


def feature_score(model: KAN) -> torch.Tensor:
    """pykan's ``model.feature_score``: the inputs' attribution scores ``[width[0]]``, recomputed
    on the model's current data (as pykan's property calls ``attribute()``)."""
    run(model)
    assert model._attribution is not None  # run() sets it
    return model._attribution.node_scores[0]


def prune_input(model: KAN, threshold=1e-2, active_inputs=None) -> KAN:
    """pykan's ``prune_input``: a new model keeping the inputs whose feature score exceeds
    ``threshold`` (or exactly ``active_inputs``); see :meth:`KAN.prune_input`."""
    from .model import KAN as _KAN

    n_in = model.layers[0].in_dim
    if active_inputs is None:
        th = check_threshold(threshold)
        keep = (feature_score(model) > th).nonzero().flatten().tolist()
    else:
        if isinstance(active_inputs, (str, bytes)) or not hasattr(active_inputs, "__iter__"):
            raise TypeError(f"active_inputs must be a list of input indices; got {active_inputs!r}")
        keep = [int(v) if is_int(v) else v for v in active_inputs]
        bad = [v for v in keep if not is_int(v) or not 0 <= v < n_in]
        if bad or len(set(keep)) != len(keep):
            raise ValueError(
                f"active_inputs must be distinct input indices in 0..{n_in - 1}; got "
                f"{list(active_inputs)!r}"
            )
    if not keep:
        raise ValueError(
            f"no input scores above threshold={threshold}: the model would have no inputs; lower "
            f"the threshold (feature scores: {[round(float(v), 4) for v in feature_score(model)]})"
        )
    dev = model.device
    idx = torch.tensor(keep, dtype=torch.long, device=dev)
    first = model.layers[0]
    rest = [
        layer.select(torch.arange(layer.in_dim), torch.arange(layer.out_dim))
        for layer in model.layers[1:]
    ]
    layers = [first.select(idx, torch.arange(first.out_dim, device=dev)), *rest]
    old = model._input_select
    orig_cols = list(range(n_in)) if old is None else list(old[0])
    n_orig = n_in if old is None else old[1]
    scaling = model.scaling
    if scaling is not None:
        names = scaling.in_vars or tuple(f"x_{c + 1}" for c in orig_cols)
        scaling = scaling.select_inputs(keep, tuple(names[c] for c in keep))
    x = model.train_input
    # the input layer loses columns; every other layer of nodes (and its affine maps) stays
    nodes = [NodeLayout(len(keep)), *model.nodes[1:]]
    affine = None
    if model.has_node_step:
        affine = [[t.detach().clone() for t in model._affine(l)] for l in range(model.depth)]
    new = _KAN._build(
        model.config,
        layers,
        reg_metric=model.reg_metric,
        train_input=None if x is None else x[:, idx.to(x.device)],
        scaling=scaling,
        nodes=nodes,
        affine=affine,
    )
    new._input_select = (tuple(orig_cols[c] for c in keep), n_orig)
    return new
