"""pykan 0.2.8's ``kan.spline`` names that its tutorials import (``from kan_widget.spline import
B_batch, extend_grid``), with pykan's arguments; the engine's own, faster forms are in
:mod:`kan_widget.splines`."""

from __future__ import annotations

import torch

from . import splines

__all__ = ["B_batch", "extend_grid"]


def B_batch(x: torch.Tensor, grid: torch.Tensor, k: int = 0, extend: bool = True, device="cpu"):
    """B-spline basis ``[batch, n_in, G+k]`` of order ``k`` for ``x [batch, n_in]`` on knot
    vectors ``grid [n_in, G+2k+1]`` (already extended; a single row broadcasts over the inputs),
    as pykan's. ``extend`` and ``device`` are pykan's and unused there too."""
    if x.dim() != 2 or grid.dim() != 2:
        raise ValueError(
            f"x must be [batch, n_in] and grid [n_in, n_knots]; got {tuple(x.shape)} and "
            f"{tuple(grid.shape)}"
        )
    return splines.basis_reference(x, grid, int(k))


def extend_grid(grid: torch.Tensor, k_extend: int = 0) -> torch.Tensor:
    """``grid [n_in, G+1]`` with ``k_extend`` more knots on each side at the mean spacing."""
    return splines.extend_grid(grid, int(k_extend))
