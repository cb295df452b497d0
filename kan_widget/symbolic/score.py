"""How candidates for one edge are ranked: accuracy against simplicity.

The score of candidate ``f`` with fit quality ``r2`` and complexity ``C`` (library values, pykan's)
is **higher-is-better**::

    bits  = -log2(max(1 - r2, 0) + 1e-10)      # precision of the fit, in bits (0 .. 33.2)
    score = bits / (1 + lam * C)               # lam = weight_simple / (16 * (1 - weight_simple))

so one unit of complexity costs a *fraction* of the fit's precision (a quarter at the default
``weight_simple = 0.8``), not a fixed number of bits. Then:

1. **Ties go to the simpler function.** Every candidate whose score is within 5% of the best is
   considered as good; among them the lowest complexity wins, then the fewest searched parameters
   (``sgn`` before ``tanh``), then library order (``sin`` before ``cos``, ``sqrt`` before
   ``x^0.5``). Functions that can mimic a simpler one on the data (``cos(a*x)`` near ``a = 0``
   looks like ``x^2``) therefore do not win by fitting the last digits of noise.
2. **Degenerate fits count for less.** A fit in the regime where the function is
   indistinguishable from a simpler one on the data has its score halved: ``sin``/``cos`` seeing
   less than ~4 radians (no clear extremum-and-inflection pair: a learned parabola is matched by
   ``cos(1.3*x)``), ``exp`` or a sigmoid at the smallest slope (a line), a gaussian seen only near
   its peak, a power whose singularity was pushed to the end of the search (see
   :mod:`kan_widget.symbolic.fit`), and a fit whose argument leaves the function's domain on the
   data (``sqrt`` of an argument that changes sign, a pole of ``1/x`` among the data: the formula
   would need a guard, see :mod:`kan_widget.symbolic.domain`). Exact data still wins through;
   a learned, slightly distorted parabola stays ``x^2``.
3. **``'0'`` is not ranked by r^2.** It wins only when the edge is negligible (its spread is at
   most ``zero_tol``, 1e-3, of the largest edge into the same node, decided by the caller);
   otherwise it ranks last.

4. **Fits below the noise level tie.** ``auto_symbolic`` / ``suggest_symbolic`` know the
   model's last training RMSE (``model.fit_rmse``, set by ``model.fit``): an edge is not known
   better than that, so ``1 - r2`` is floored at ``(fit_rmse / edge spread)^2`` (at most 1e-2).
   A learned ``1/x`` on ``[1, 2]`` with a 1e-3 wobble is matched a little better by
   ``1/sqrt(x + b)`` (two searched numbers fitting the wobble); at the noise level both fit, and
   the simpler, exact-looking one is chosen. Without ``fit_rmse`` (a model trained elsewhere)
   there is no floor.

5. **Fits must predict the ends of the range** (opt-in: ``held_out=0.1``). ``auto_symbolic``
   and ``suggest_symbolic`` then pass the worse of each candidate's in-sample ``r2`` and its
   ``r2`` when fitted without the outer 10% of the edge's samples at each end
   (:mod:`kan_widget.symbolic.heldout`): a look-alike that matches only where it was fitted
   (``tanh`` for ``x^2`` on [0, 1]: 1 - r2 2e-4 in-sample, 3e-3 held out) counts for what it
   predicts; an exact function loses nothing.

Why not pykan's ``loss = 0.8*C + 0.2*log2(1 + 1e-5 - r2)``: a fixed 4 bits per complexity unit
lets ``'0'`` (``C = 0``, ``r2 = 0``, loss ~0) beat any edge fitted with
``r2 < 1 - 2**(-4*C)``: an edge that is plainly ``sin`` with ``r2 = 0.993`` becomes 0, and the
``1e-5`` floor caps the accuracy term at 3.3 units, so ``1/x^5`` (``C = 5``) can never be chosen.
With the relative score a noisy but clear ``sin`` (``r2 = 0.95``, score 2.9) still beats ``x``
(``r2 = 0.61``, score 1.1), and an exact ``1/x^5`` (score 14.8) beats every approximation of it.
``weight_simple = 0`` ranks by accuracy alone; ``weight_simple = 1`` by complexity alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .library import SymbolicFunction

__all__ = ["DEGENERATE_FACTOR", "R2_FLOOR", "TIE", "rank", "selection_score"]

R2_FLOOR = 1e-10
TIE = 0.05
DEGENERATE_FACTOR = 0.5
_KIND_ORDER = {
    "zero": 0,
    "linear": 1,
    "quadratic": 2,
    "shift": 3,
    "exp": 3,
    "periodic": 3,
    "full": 4,
}


def selection_score(
    r2: torch.Tensor, complexity: torch.Tensor, weight_simple: float = 0.8
) -> torch.Tensor:
    """Higher is better; see the module docstring. ``r2 [..., F]``, ``complexity [F]``."""
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must be in [0, 1]; got {weight_simple!r}")
    complexity = complexity.to(torch.float64)
    if weight_simple >= 1.0:
        return -complexity.expand_as(r2).clone()
    bits = -torch.log2((1 - r2.to(torch.float64)).clamp_min(0.0) + R2_FLOOR)
    lam = weight_simple / (16 * (1 - weight_simple))
    return bits.clamp_min(0.0) / (1 + lam * complexity)


def rank(
    r2: torch.Tensor,
    entries: Sequence[SymbolicFunction],
    weight_simple: float = 0.8,
    negligible: torch.Tensor | None = None,
    degenerate: torch.Tensor | None = None,
    floor: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Order candidates per edge: ``r2 [E, F]`` -> ``(order [E, F], score [E, F])``, with
    ``order[e, 0]`` the chosen function. ``negligible [E]`` marks edges that ``'0'`` should
    take; ``degenerate [E, F]`` marks fits whose score is halved; ``floor [E]`` is each edge's
    noise level as a fraction of its variance: ``1 - r2`` below it counts as equal to it (a fit
    closer than the noise explains the noise), so every function that fits to the noise level
    ties, and the simplest of them wins."""
    E, F = r2.shape
    dev = r2.device
    if floor is not None:
        r2 = torch.minimum(r2.to(torch.float64), 1 - floor.to(torch.float64)[:, None])
    complexity = torch.tensor(
        [float(e.complexity) for e in entries], dtype=torch.float64, device=dev
    )
    score = selection_score(r2, complexity, weight_simple)
    if degenerate is not None:
        score = torch.where(degenerate & (score > 0), score * DEGENERATE_FACTOR, score)
    is_zero = torch.tensor([e.kind == "zero" for e in entries], device=dev)
    if negligible is None:
        negligible = torch.zeros(E, dtype=torch.bool, device=dev)
    top = -math.log2(R2_FLOOR) + 1.0
    zero_score = torch.where(
        negligible[:, None], torch.full_like(score, top), torch.full_like(score, -math.inf)
    )
    score = torch.where(is_zero[None, :], zero_score, score)

    best = score.max(1, keepdim=True).values
    tied = score >= best - TIE * best.abs()
    # lexicographic (complexity, searched parameters, library position) as one number
    kind_rank = torch.tensor(
        [_KIND_ORDER.get(e.kind, 4) for e in entries], dtype=torch.float64, device=dev
    )
    position = torch.arange(F, dtype=torch.float64, device=dev)
    simple_key = (complexity * 8 + kind_rank) * (F + 1) + position
    key = torch.where(
        tied,
        simple_key[None, :].expand(E, F),
        torch.full((E, F), math.inf, dtype=torch.float64, device=dev),
    )
    winner = key.argmin(1)
    sort_key = -score.clone()
    sort_key[torch.arange(E, device=dev), winner] = -math.inf
    order = torch.sort(sort_key, dim=1, stable=True).indices
    return order, score
