"""Model files: safetensors (tensors only) plus a JSON header, read and written without knowing
what a model is (``KAN.save`` / ``KAN.load`` say what goes in).

Never pickle: a model file from someone else cannot run code when loaded. Files carry a format
version; a newer one than this code knows is refused with a message, not misread.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

__all__ = ["FORMAT_VERSION", "MAGIC", "read", "write"]

FORMAT_VERSION = 2
"""2: ``nodes`` (multiplication nodes) in the header; format 1 files (sum nodes only) still read."""
MAGIC = "kan-widget"


def write(path, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` (copied to CPU) and ``meta`` (JSON) to ``path``, with the format tag."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    header = {"format": MAGIC, "format_version": FORMAT_VERSION, **meta}
    save_file(state, os.fspath(path), metadata={"kan_widget": json.dumps(header)})


def read(path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(meta, tensors)`` of a file :func:`write` wrote (tensors on CPU); a clear ValueError
    for anything else, FileNotFoundError for no file."""
    from safetensors import safe_open

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
    if meta.get("format") != MAGIC:
        raise ValueError(f"{path!r} is not a kan-widget model file")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer kan-widget (format {version}; this version reads "
            f"up to {FORMAT_VERSION}); upgrade kan-widget to load it"
        )
    return meta, tensors
