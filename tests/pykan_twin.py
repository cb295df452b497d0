"""Test helper (not a test module): pykan models and ours with the same parameters."""

from __future__ import annotations

import torch


def copy_into_ours(pk, model) -> None:
    """Copy pykan model ``pk``'s knots, coefficients, scales and masks into ``model``, layer by
    layer, in ``model``'s dtype (so the two compute the same splines)."""
    with torch.no_grad():
        for l, layer in enumerate(model.layers):
            src = pk.act_fun[l]
            layer.grid = src.grid.detach().clone().to(layer.grid)
            layer.coef.data = src.coef.detach().clone().to(layer.coef)
            layer.scale_base.copy_(src.scale_base)
            layer.scale_sp.copy_(src.scale_sp)
            layer.mask.copy_(src.mask)
