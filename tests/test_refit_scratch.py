"""Grid refits reuse three scratch buffers for the basis recursion's temporaries
(``splines.Scratch``, against page faults): the coefficients must be the bits of fresh
temporaries, whatever the chunking and knot counts."""

from __future__ import annotations

import pytest
import torch

from kan_widget import splines


def _refit_fresh(x, grid_old, coef_old, grid_new, k, ridge=1e-8):
    """refit_coef as it was: every temporary a fresh tensor."""
    xt = x.t().double().contiguous().unsqueeze(1)
    kn_new, kn_old = splines.knots_of(grid_new.double(), k), splines.knots_of(grid_old.double(), k)
    n_in, n_knots = grid_new.shape
    K, K_old = n_knots - k - 1, grid_old.shape[1] - k - 1
    ata = xt.new_zeros(n_in, K, K)
    ab = xt.new_zeros(n_in, K, K_old)
    for c in splines.chunks(n_in, max(n_knots, grid_old.shape[1]), xt.shape[2]):
        a, _ = splines.recursion(xt[..., c], kn_new)
        b, _ = splines.recursion(xt[..., c], kn_old)
        ata.baddbmm_(a, a.transpose(1, 2))
        ab.baddbmm_(a, b.transpose(1, 2))
    atb = ab @ coef_old.double().transpose(1, 2)
    return splines._solve_normal(ata, atb, ridge).to(coef_old.dtype)


@pytest.mark.parametrize(
    "n_in,n_out,B,g_old,g_new,k",
    [
        (2, 5, 1000, 3, 3, 3),  # one chunk
        (32, 4, 10000, 5, 5, 3),  # many chunks, a shorter last one
        (16, 3, 3000, 5, 10, 3),  # refine: more knots than before
        (8, 2, 2500, 10, 4, 2),  # fewer knots, another order
        (3, 2, 500, 4, 4, 1),
    ],
)
def test_refit_with_scratch_is_bitwise_fresh(n_in, n_out, B, g_old, g_new, k):
    gen = torch.Generator().manual_seed(n_in * 100 + B)
    x = torch.rand(B, n_in, generator=gen) * 2 - 1
    grid_old = splines.uniform_grid(n_in, g_old, k, (-1.2, 1.1), dtype=torch.float32)
    coef_old = torch.randn(n_in, n_out, g_old + k, generator=gen)
    xs = splines.sort_rows(x.t().contiguous())
    grid_new = splines.grid_on_samples(xs, g_new, k, 0.02)
    got = splines.refit_coef(xs.t(), grid_old, coef_old, grid_new, k)
    want = _refit_fresh(xs.t(), grid_old, coef_old, grid_new, k)
    assert torch.equal(got, want)


def test_recursion_with_scratch_is_bitwise_fresh():
    gen = torch.Generator().manual_seed(0)
    xt = (torch.rand(6, 1, 700, generator=gen, dtype=torch.float64) * 2 - 1).contiguous()
    kn = splines.knots_of(splines.uniform_grid(6, 5, 3, (-1, 1), dtype=torch.float64), 3)
    v0, p0 = splines.recursion(xt, kn)
    scratch = splines.Scratch(xt, 6 * kn.knots.shape[1] * 700)
    scratch.bufs[0].fill_(float("nan"))  # stale contents must not leak
    scratch.bufs[1].fill_(float("nan"))
    scratch.bufs[2].fill_(float("nan"))
    v1, p1 = splines.recursion(xt, kn, scratch=scratch)
    assert torch.equal(v0, v1) and torch.equal(p0, p1)
