"""The extrapolation guard: a candidate that fits an edge on its data but explodes just outside it.

An edge is fitted on quantiles of its training inputs, but test rows (and the next layer's inputs
after retraining) reach a little beyond that range. ``c/sqrt(b - a*x)`` with its pole 5% past the
largest training value, or ``exp(-1089*x^2 + 68*x)`` fitted to a bump, match the spline on the
data and send a prediction to the hundreds a step outside (issue 18: a diabetes formula reached
900 on a target of 25-346). :func:`wild_outside` marks such fits so the ranking prefers a bounded
candidate; the caller ORs the mask into the fit's ``degenerate`` flags (the same demotion as a fit
that needs a guard in the formula), so a wild fit wins only when nothing tamer fits.

Pure tensor work on the fit's ``[E, N]`` samples and ``[E, F, 4]`` parameters; no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .library import SymbolicFunction

__all__ = ["EXTRAPOLATION_MARGIN", "EXTRAPOLATION_SLACK", "wild_outside"]

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
    lo, hi = xd.amin(1, keepdim=True), xd.amax(1, keepdim=True)
    ylo, yhi = yd.amin(1, keepdim=True), yd.amax(1, keepdim=True)
    span_x, span_y = hi - lo, yhi - ylo
    s = torch.linspace(1.0 / _POINTS, 1.0, _POINTS, dtype=torch.float64, device=xd.device)
    pts = torch.cat([lo - margin * span_x * s, hi + margin * span_x * s], 1)  # [E, 2P]
    band_lo, band_hi = ylo - slack * span_y, yhi + slack * span_y
    p = params.detach().to(torch.float64)
    out = torch.zeros(p.shape[0], p.shape[1], dtype=torch.bool, device=xd.device)
    for k, fn in enumerate(entries):
        a, b, c, d = (p[:, k, q : q + 1] for q in range(4))
        with torch.no_grad():
            v = c * fn.torch_fn(a * pts + b) + d
        bad = ~torch.isfinite(v) | (v < band_lo) | (v > band_hi)
        out[:, k] = bad.any(1) & (span_y[:, 0] > 0)
    return out
