"""Engine state -> the binary buffers and JSON dicts of docs/WIDGET_PROTOCOL.md.

Everything here is per-layer tensor work: a [64,64,64,10] model has 8832 edges and a Python loop
over them would cost more than the training step it reports on. The only loops are over layers
and over symbolic edges (which are few and named one by one anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Snapshot",
    "curve_inputs",
    "curves_bytes",
    "edge_points",
    "expected_sizes",
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


def structure(model, version: int, in_vars: list[str], out_vars: list[str], n_points: int) -> dict:
    layers = []
    for layer in model.layers:
        sym = [[int(i), int(j), str(name)] for (i, j), name in sorted(layer.sym_names.items())]
        layers.append({"in": int(layer.in_dim), "out": int(layer.out_dim), "sym": sym})
    out = {
        "version": int(version),
        "width": [int(w) for w in model.width_in],
        "in_vars": list(in_vars),
        "out_vars": list(out_vars),
        "n_points": int(n_points),
        "layers": layers,
    }
    if model.has_node_step:  # multiplication nodes: each column's [n_sum, [arities]]
        out["nodes"] = [lay.to_json() for lay in model.nodes]
    return out


@dataclass
class Snapshot:
    curves: bytes
    scores: bytes
    masks: bytes
    output: torch.Tensor  # the model's output on x, for the plots (saves a forward pass)


def snapshot(model, x: torch.Tensor, n_points: int) -> Snapshot:
    """The per-tick buffers for ``model`` evaluated on data ``x`` (normally the training inputs)."""
    acts = model.acts(x)
    return Snapshot(
        curves=curves_bytes(model, acts, n_points),
        scores=scores_bytes(model),
        masks=masks_bytes(model),
        output=acts[-1],
    )


def edge_points(model, x: torch.Tensor, l: int, i: int, j: int, limit: int = 200) -> bytes:
    """``inspector_points``: ``[2, n]`` float32, x then phi(x) of edge (l, i, j) at up to ``limit``
    training inputs, sorted by x so the front end can draw them as a line as well as dots."""
    with torch.no_grad():
        rows = x[:: max(1, -(-x.shape[0] // limit))][:limit]
        a = model.acts(rows)[l]
        phi = model.layers[l].edge_values(a)[:, i, j]
        xi = a[:, i]
        order = torch.argsort(xi)
        return _f32(torch.stack([xi[order], phi[order]]))


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
