"""The extrapolation guard (kan_widget/symbolic/extrapolate.py): fits that match an edge on its
data but explode just past it are marked, tame ones are not (closed-form cases)."""

from __future__ import annotations

import pytest
import torch

from kan_widget.symbolic.api import _demoted
from kan_widget.symbolic.extrapolate import wild_outside
from kan_widget.symbolic.fit import FitResult
from kan_widget.symbolic.library import resolve_lib


def _wild(lo: float, hi: float, name: str, params: tuple[float, float, float, float]) -> bool:
    x = torch.linspace(lo, hi, 100, dtype=torch.float64)[None]
    (fn,) = resolve_lib([name])
    a, b, c, d = params
    y = c * fn.torch_fn(a * x + b) + d  # the candidate is exact on the data
    p = torch.tensor([[params]], dtype=torch.float64)
    return bool(wild_outside(x, y, [fn], p)[0, 0])


@pytest.mark.parametrize(
    "lo, hi, name, params",
    [
        # the diabetes formula's term: a pole at bmi = 0.189, 8% of the range past the data
        (-0.09, 0.17, "1/sqrt(x)", (-9.604, 1.816, 0.754, 0.0)),
        (-1.0, 1.0, "1/x", (1.0, 1.05, 1.0, 0.0)),  # a pole 5% past the end
        (-1.0, 1.0, "tan", (1.4, 0.0, 1.0, 0.0)),  # tan's pole at 1.12
        (-1.0, 1.0, "exp", (10.0, 0.0, 1.0, 0.0)),  # x7 in 20% of the range
    ],
)
def test_explosions_just_past_the_data_are_wild(lo, hi, name, params):
    assert _wild(lo, hi, name, params)


@pytest.mark.parametrize(
    "lo, hi, name, params",
    [
        (-0.09, 0.17, "1/sqrt(x)", (-9.604, 2.2, 0.754, 0.0)),  # the pole well away
        (-1.0, 1.0, "x^2", (1.0, 0.0, 1.0, 0.0)),
        (-1.0, 1.0, "x^4", (1.0, 0.0, 1.0, 0.0)),
        (-1.0, 1.0, "x^5", (1.0, 0.0, 1.0, 0.0)),
        (0.0, 1.0, "exp", (5.0, 0.0, 1.0, 0.0)),
        (-1.0, 1.0, "sin", (3.0, 0.0, 1.0, 0.0)),
        (-0.1, 0.1, "gaussian", (33.0, -1.0, 1.0, 0.0)),
        (-1.0, 1.0, "x", (1.0, 0.0, 0.0, 0.3)),  # a constant edge
    ],
)
def test_bounded_or_tame_fits_are_not(lo, hi, name, params):
    assert not _wild(lo, hi, name, params)


def test_wild_fits_are_demoted_with_the_degenerate_ones():
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)[None]
    entries = resolve_lib(["x", "1/x", "sin"])
    params = torch.tensor(
        [[[1, 0, 1, 0], [1, 1.05, 1, 0], [3, 0, 1, 0]]], dtype=torch.float64
    )  # [1 edge, 3 functions, 4]
    y = torch.sin(3 * x)
    degenerate = torch.tensor([[False, False, True]])
    res = FitResult([e.name for e in entries], torch.zeros(1, 3), params, degenerate)
    assert _demoted(x, y, entries, res).tolist() == [[False, True, True]]


# ---------------------------------------------------------------------- re-check after training
def _fixed_model(b: float):
    """[1, 1] with its edge fixed to ``1/(x + b)`` on data in [-1, 1]: the pole at ``-b``."""
    from kan_widget import KAN

    model = KAN([1, 1], seed=0, normalize=False)
    x = torch.linspace(-1, 1, 101)[:, None]
    model(x)  # the data the edge is fixed on
    model.fix_symbolic(0, 0, 0, "1/x", fit_params=False)
    with torch.no_grad():
        model.layers[0].sym_params[0, 0] = torch.tensor([1.0, b, 1.0, 0.0])
    return model, x


def test_wild_fixed_finds_a_pole_that_moved_next_to_the_data():
    from kan_widget.symbolic.extrapolate import wild_fixed

    model, x = _fixed_model(3.0)  # the pole 2 past the data: tame (as when it was fitted)
    assert wild_fixed(model, x) == []
    with torch.no_grad():  # training moved b: the pole now 5% of the range past -1
        model.layers[0].sym_params[0, 0, 1] = 1.1
    assert wild_fixed(model, x) == [(0, 0, 0, "1/x")]
    # a pruned (masked) edge is not reported; a model without fixed edges has nothing to check
    with torch.no_grad():
        model.layers[0].mask[0, 0] = 0.0
    assert wild_fixed(model, x) == []
    from kan_widget import KAN

    assert wild_fixed(KAN([1, 1], seed=0), x) == []
