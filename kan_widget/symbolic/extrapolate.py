"""The extrapolation guard: a candidate that fits an edge on its data but explodes just outside it.

An edge is fitted on quantiles of its training inputs, but test rows (and the next layer's inputs
after retraining) reach a little beyond that range. ``c/sqrt(b - a*x)`` with its pole 5% past the
largest training value, or ``exp(-1089*x^2 + 68*x)`` fitted to a bump, match the spline on the
data and send a prediction to the hundreds a step outside (issue 18: a diabetes formula reached
900 on a target of 25-346). :func:`wild_outside` marks such fits so the ranking prefers a bounded
candidate; the caller ORs the mask into the fit's ``degenerate`` flags (the same demotion as a fit
that needs a guard in the formula), so a wild fit wins only when nothing tamer fits.

The guard acts when an edge is fitted, but later training moves the fixed edges' affine
parameters (and the inputs reaching them), and can bring a pole next to the data.
:func:`wild_fixed` re-checks a model's fixed edges by the same rule on their current inputs
(one vectorised call per function), for the widget to say so after a training run.

Pure tensor work on the fit's ``[E, N]`` samples and ``[E, F, 4]`` parameters; ``wild_fixed``
reads a model only through ``activations(x)`` and each layer's symbolic tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .library import SymbolicFunction, get_function

__all__ = ["EXTRAPOLATION_MARGIN", "EXTRAPOLATION_SLACK", "wild_fixed", "wild_outside"]

EXTRAPOLATION_MARGIN = 0.1
"""How far past each end of an edge's input range the guard looks, as a fraction of the range."""
EXTRAPOLATION_SLACK = 2.0
"""A candidate may leave the edge's value range on the data by this many times that range there
(a line stretched by the margin moves 0.1 of it, ``x^4`` on ``[-1, 1]`` about 1.1, ``exp(5x)`` on
``[0, 1]`` about 0.7); beyond that, or not finite, it is wild."""
_POINTS = 16  # points per side: enough to catch a pole inside the margin


def wild_outside(
    x: torch.Tensor,
    y: torch.Tensor,
    entries: Sequence[SymbolicFunction],
    params: torch.Tensor,
    margin: float = EXTRAPOLATION_MARGIN,
    slack: float = EXTRAPOLATION_SLACK,
) -> torch.Tensor:
    """``[E, F]`` bool: fits ``c*f(a*x+b)+d`` (``params [E, F, 4]``) of edges with samples
    ``x, y [E, N]`` that are not finite, or leave ``[min y - slack*span, max y + slack*span]``
    somewhere within ``margin`` of the input range past either end. A constant edge (``span``
    0) is never wild: every fit of it has ``c = 0``."""
    xd = x.detach().to(torch.float64)
    yd = y.detach().to(torch.float64)
    ylo, yhi = yd.amin(1, keepdim=True), yd.amax(1, keepdim=True)
    span_y = yhi - ylo
    pts = _ends(xd, margin)  # [E, 2P]
    band_lo, band_hi = ylo - slack * span_y, yhi + slack * span_y
    p = params.detach().to(torch.float64)
    out = torch.zeros(p.shape[0], p.shape[1], dtype=torch.bool, device=xd.device)
    for k, fn in enumerate(entries):
        out[:, k] = _wild(fn.torch_fn, p[:, k], pts, band_lo, band_hi) & (span_y[:, 0] > 0)
    return out


def _ends(x: torch.Tensor, margin: float) -> torch.Tensor:
    """``[E, 2P]``: points up to ``margin`` of each row's range past either end of ``x [E, N]``."""
    lo, hi = x.amin(1, keepdim=True), x.amax(1, keepdim=True)
    s = torch.linspace(1.0 / _POINTS, 1.0, _POINTS, dtype=x.dtype, device=x.device)
    return torch.cat([lo - margin * (hi - lo) * s, hi + margin * (hi - lo) * s], 1)


def _wild(fn: Callable, p: torch.Tensor, pts, band_lo, band_hi) -> torch.Tensor:
    """``[E]``: ``c*fn(a*pts+b)+d`` (``p [E, 4]``) not finite or outside the band somewhere."""
    a, b, c, d = (p[:, q : q + 1] for q in range(4))
    with torch.no_grad():
        v = c * fn(a * pts + b) + d
    return (~torch.isfinite(v) | (v < band_lo) | (v > band_hi)).any(1)


def wild_fixed(
    model, x: torch.Tensor, margin: float = EXTRAPOLATION_MARGIN, slack: float = EXTRAPOLATION_SLACK
) -> list[tuple[int, int, int, str]]:
    """The fixed (symbolic) edges ``(l, i, j, name)`` of ``model`` that, on the inputs ``x``
    reaches them with now, are not finite on the data or leave ``slack`` times their value
    range on the data within ``margin`` of their input range past either end: the fit-time
    rule of :func:`wild_outside`, re-checked after training moved their parameters. One
    vectorised call per function per layer; an edge that is constant on the data is never
    wild; pruned edges are skipped."""
    from ..singular import singular_fn

    if not any(layer.sym_names for layer in model.layers):
        return []
    acts = model.activations(x)
    out: list[tuple[int, int, int, str]] = []
    for l, layer in enumerate(model.layers):
        if not layer.sym_names or not layer.symbolic_enabled:
            continue
        by_name: dict[str, list[tuple[int, int]]] = {}
        for (i, j), name in sorted(layer.sym_names.items()):
            if bool(layer.mask[i, j]):
                by_name.setdefault(name, []).append((i, j))
        xl = acts[l].detach().to(torch.float64)
        for name, edges in by_name.items():
            ii = torch.tensor([e[0] for e in edges], dtype=torch.long, device=xl.device)
            jj = torch.tensor([e[1] for e in edges], dtype=torch.long, device=xl.device)
            fn = get_function(name).torch_fn
            if layer.y_th is not None:  # pykan's singularity_avoiding: the model's own form
                fn = singular_fn(name, layer.y_th, fn)
            p = layer.sym_params.detach()[ii, jj].to(torch.float64)  # [E, 4]
            xe = xl[:, ii].T  # [E, N]
            with torch.no_grad():
                ye = p[:, 2:3] * fn(p[:, 0:1] * xe + p[:, 1:2]) + p[:, 3:4]
            finite = torch.isfinite(ye).all(1)
            yc = torch.where(torch.isfinite(ye), ye, torch.zeros_like(ye))
            ylo, yhi = yc.amin(1, keepdim=True), yc.amax(1, keepdim=True)
            span = yhi - ylo
            bad = _wild(fn, p, _ends(xe, margin), ylo - slack * span, yhi + slack * span)
            bad = ~finite | (bad & (span[:, 0] > 0))
            out.extend((l, *edges[k], name) for k in bad.nonzero().flatten().tolist())
    return out
