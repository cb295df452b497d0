"""Save and load models: safetensors (tensors only) plus a JSON config in its header.

Never pickle: a model file from someone else cannot run code when loaded. Files carry a format
version; a newer one than this code knows is refused with a message, not misread.
"""

from __future__ import annotations

import json
import os

import torch

__all__ = ["FORMAT_VERSION", "load", "save"]

FORMAT_VERSION = 1
_MAGIC = "kan-widget"


def save(model, path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {
        "format": _MAGIC,
        "format_version": FORMAT_VERSION,
        "width": model.width,
        "grids": [layer.num for layer in model.layers],
        "config": model.config,
        "reg_metric": model.reg_metric,
        "sym_names": [
            [[i, j, name] for (i, j), name in sorted(layer.sym_names.items())]
            for layer in model.layers
        ],
    }
    save_file(state, os.fspath(path), metadata={"kan_widget": json.dumps(meta)})


def load(path, device=None):
    from safetensors import safe_open

    from .model import KAN, _build_layers

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ValueError(
            f"{path!r} is not a readable kan-widget model file (a safetensors file written by "
            f"KAN.save); it may be truncated or of another format: {e}"
        ) from None
    if "kan_widget" not in header:
        raise ValueError(f"{path!r} is a safetensors file but not a kan-widget model (no config)")
    try:
        meta = json.loads(header["kan_widget"])
        version = int(meta["format_version"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path!r} has a damaged kan-widget header: {e}") from None
    if meta.get("format") != _MAGIC:
        raise ValueError(f"{path!r} is not a kan-widget model file")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer kan-widget (format {version}; this version reads "
            f"up to {FORMAT_VERSION}); upgrade kan-widget to load it"
        )
    model = KAN.__new__(KAN)
    torch.nn.Module.__init__(model)
    model.config = dict(meta["config"])
    model.train_input = None
    model._edge_scores = None
    model.reg_metric = meta.get("reg_metric", "edge_forward_spline_n")
    try:
        model.layers = _build_layers(meta["width"], meta["grids"], model.config, device)
        model.load_state_dict({k: v.to(device) if device else v for k, v in tensors.items()})
    except (RuntimeError, KeyError, IndexError, TypeError) as e:
        raise ValueError(f"{path!r}: tensors do not match the stored config: {e}") from None
    for layer, names in zip(model.layers, meta["sym_names"]):
        layer.sym_names = {(int(i), int(j)): str(n) for i, j, n in names}
        layer._sym_groups = None
    return model
