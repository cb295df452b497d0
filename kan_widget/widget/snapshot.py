"""Engine state -> the binary buffers and JSON dicts of docs/WIDGET_PROTOCOL.md.

Everything here is per-layer tensor work: a [64,64,64,10] model has 8832 edges and a Python loop
over them would cost more than the training step it reports on. The only loops are over layers
and over symbolic edges (which are few and named one by one anyway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..attribution import input_names, scores_on

__all__ = [
    "Snapshot",
    "curve_inputs",
    "curves_bytes",
    "edge_parts",
    "edge_points",
    "expected_sizes",
    "feature_scores",
    "masks_bytes",
    "scores_bytes",
    "snapshot",
    "structure",
]


def _f32(t: torch.Tensor) -> bytes:
    a = t.detach().to("cpu", torch.float32).contiguous().numpy()
    return a.astype("<f4", copy=False).tobytes()


def curve_inputs(acts: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """Per layer ``[in_l, n]``: ``n`` evenly spaced points from each input's min to its max on the
    data, so each curve is drawn over the range that input actually takes."""
    t = torch.linspace(0.0, 1.0, n, dtype=acts[0].dtype, device=acts[0].device)
    out = []
    for a in acts[:-1]:
        lo, hi = a.amin(0), a.amax(0)
        out.append(lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * t)
    return out


def curves_bytes(model, acts: list[torch.Tensor], n: int) -> bytes:
    """``curves``: per layer ``xs [in, n]`` then ``ys [in, out, n]``, float32, concatenated."""
    parts = []
    with torch.no_grad():
        for layer, xs in zip(model.layers, curve_inputs(acts, n), strict=True):
            ys = layer.edge_values(xs.t())  # [n, in, out]
            parts.append(xs.reshape(-1))
            parts.append(ys.permute(1, 2, 0).reshape(-1))
        flat = torch.cat(parts) if parts else torch.zeros(0)
    return _f32(flat)


def scores_bytes(model) -> bytes:
    """``scores``: per layer ``[in, out]`` row-major, float32; removed edges are 0."""
    with torch.no_grad():
        parts = [
            (s.t() * (layer.mask > 0)).reshape(-1)
            for s, layer in zip(model.edge_scores, model.layers, strict=True)
        ]
        return _f32(torch.cat(parts))


def masks_bytes(model) -> bytes:
    """``masks``: per layer ``[in, out]`` uint8, 1 where the edge is present."""
    parts = [(layer.mask > 0).reshape(-1).to("cpu", torch.uint8) for layer in model.layers]
    return torch.cat(parts).numpy().tobytes()


def feature_scores(model, acts: list[torch.Tensor]) -> list[float | None]:
    """``feature_scores``: each input's attribution score (pykan's ``feature_score``) on the
    rows of ``acts = model.activations(x)``, the bars beside the input nodes; a score that is not
    finite is ``None`` (shown as such)."""
    with torch.no_grad():
        s = scores_on(model, acts).node_scores[0]
    return [float(v) if math.isfinite(v) else None for v in s.tolist()]


def structure(model, version: int, in_vars: list[str], out_vars: list[str], n_points: int) -> dict:
    layers = []
    for layer in model.layers:
        sym = [[int(i), int(j), str(name)] for (i, j), name in sorted(layer.sym_names.items())]
        layers.append({"in": int(layer.in_dim), "out": int(layer.out_dim), "sym": sym})
    out = {
        "version": int(version),
        "width": [int(w) for w in model.width_in],
        "in_vars": input_names(model, in_vars),  # after prune_input: the kept columns' names
        "out_vars": list(out_vars),
        "n_points": int(n_points),
        "layers": layers,
    }
    if model.has_node_step:  # multiplication nodes: each column's [n_sum, [arities]]
        out["nodes"] = [lay.to_json() for lay in model.nodes]
        # pykan's node map (node = node_scale * n + node_bias), per column after the inputs;
        # constants in training (affine_trainable=False), so structural pushes carry them
        for name in ("node_scale", "node_bias"):
            out[name] = [
                [v if math.isfinite(v) else None for v in t.detach().double().tolist()]
                for t in getattr(model, name)
            ]
    return out


@dataclass
class Snapshot:
    curves: bytes
    scores: bytes
    masks: bytes
    features: list[float | None] | None  # None: not computed this time (a paced live tick)
    output: torch.Tensor  # the model's output on x, for the plots (saves a forward pass)


def snapshot(model, x: torch.Tensor, n_points: int, features: bool = True) -> Snapshot:
    """The per-tick buffers for ``model`` evaluated on data ``x`` (normally the training inputs);
    the input attribution scores too with ``features``."""
    acts = model.activations(x)
    return Snapshot(
        curves=curves_bytes(model, acts, n_points),
        scores=scores_bytes(model),
        masks=masks_bytes(model),
        features=feature_scores(model, acts) if features else None,
        output=acts[-1],
    )


def _edge_inputs(model, x: torch.Tensor, l: int, i: int, limit: int):
    """Layer ``l``'s inputs at up to ``limit`` evenly spread rows of ``x``, and the order that
    sorts input ``i`` (shared by the points and the parts, so they line up)."""
    rows = x[:: max(1, -(-x.shape[0] // limit))][:limit]
    a = model.activations(rows)[l]
    return a, torch.argsort(a[:, i])


def edge_points(model, x: torch.Tensor, l: int, i: int, j: int, limit: int = 200) -> bytes:
    """``inspector_points``: ``[2, n]`` float32, x then phi(x) of edge (l, i, j) at up to ``limit``
    training inputs, sorted by x so the front end can draw them as a line as well as dots."""
    with torch.no_grad():
        a, order = _edge_inputs(model, x, l, i, limit)
        phi = model.layers[l].edge_values(a)[:, i, j]
        xi = a[:, i]
        return _f32(torch.stack([xi[order], phi[order]]))


def edge_parts(model, x: torch.Tensor, l: int, i: int, j: int, limit: int = 200) -> dict | None:
    """``inspector['parts']``: a spline edge's two terms at the points of :func:`edge_points`,
    ``{"base_fun": name, "base": scale_base*b(x), "spline": scale_sp*spline(x)}`` (their sum
    is phi); ``None`` for a symbolic or removed edge (one function, nothing to split)."""
    layer = model.layers[l]
    if (i, j) in layer.sym_names or not bool(layer.mask[i, j] > 0):
        return None
    with torch.no_grad():
        a, order = _edge_inputs(model, x, l, i, limit)
        xi = a[order][:, i]
        base = layer.scale_base[i, j] * layer.base_fun(xi)
        spline = layer.scale_sp[i, j] * layer.spline_values(a[order])[:, i, j]
    as_list = lambda t: [float(v) if math.isfinite(v) else None for v in t.tolist()]  # noqa: E731
    return {"base_fun": layer.base_fun_name, "base": as_list(base), "spline": as_list(spline)}


def expected_sizes(
    width: list[int], n_points: int, out_widths: list[int] | None = None
) -> dict[str, int]:
    """Byte lengths the protocol prescribes for ``width`` (node counts; ``out_widths``: where
    edges end, ``model.width_out``, for multiplication nodes) (used by tests and the front end's
    sanity checks)."""
    w = np.asarray(width)
    n_in, n_out = w[:-1], np.asarray(width if out_widths is None else out_widths)[1:]
    edges = int((n_in * n_out).sum())
    return {
        "curves": 4 * int((n_in * n_points + n_in * n_out * n_points).sum()),
        "scores": 4 * edges,
        "masks": edges,
    }
