"""The fused layer's several-chunk path (large layers): the Gram matrix from chunks centred on
the float32 mean and corrected by the exact mean's offset, in per-thread reused buffers. Against
the plain float64 edge-tensor definition (``higher.layer_reference``), near-constant edges
included (the case that needs float64), and under two threads at once."""

from __future__ import annotations

import threading

import pytest
import torch

import kan_widget.splines as splines_mod
from kan_widget.fused import SplineLayer
from kan_widget.higher import layer_reference
from kan_widget.splines import knots_of


def _case(dtype: torch.dtype, n_in: int = 6, n_out: int = 4, B: int = 700, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    grid = torch.linspace(-1.0, 1.0, 5, dtype=dtype).repeat(n_in, 1)
    h = 0.5
    ext = torch.cat([grid[:, :1] - h * torch.arange(3, 0, -1, dtype=dtype), grid], 1)
    ext = torch.cat([ext, grid[:, -1:] + h * torch.arange(1, 4, dtype=dtype)], 1)
    kn = knots_of(ext, 3)
    n_f = ext.shape[1] - 3  # K + 1: base function and K basis functions
    # inputs with an offset (features far from centred) and one nearly constant input
    x = torch.rand(B, n_in, generator=g, dtype=dtype) * 1.6 - 0.6
    x[:, 1] = 0.3 + 1e-3 * x[:, 1]
    w = torch.randn(n_in, n_f, n_out, generator=g, dtype=dtype)
    # nearly constant edges: equal spline weights (the basis sums to 1) plus a tiny change
    w[2, 1:, 0] = 0.7 + 1e-5 * torch.randn(n_f - 1, generator=g, dtype=dtype)
    w[2, 0, 0] = 0.0
    return x, w, kn


def _run(fn, x, w, kn, stats, gy, gv):
    xs, ws = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    y, v = fn(xs, ws, kn, stats)
    torch.autograd.backward([y, v], [gy, gv])
    return [y.detach(), v.detach(), xs.grad, ws.grad]


def _fused(x, w, kn, stats):
    return SplineLayer.apply(x, w, kn, "silu", stats, True)


def _reference(x, w, kn, stats):
    # float64 throughout: the reference the float32 kernel is judged against
    y, v = layer_reference(x.double(), w.double(), kn_double(kn), "silu", stats)
    return y.to(x.dtype), v.to(x.dtype)


def kn_double(kn):
    return knots_of(kn.knots.squeeze(2).double(), len(kn.inv))


@pytest.mark.parametrize("stats", ["u", "n"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_gram_equals_one_chunk_and_the_definition(stats, dtype, monkeypatch):
    """Many chunks against one chunk (the whole batch cast to float64 and centred on its exact
    mean): values and gradients to 1e-6 (float32) / 1e-10 (float64) relative. Against the
    float64 edge-tensor definition: the values and input gradients to the same margins, the
    nearly constant edge's std to 1e-3 of itself (float32 features; its weight gradient is
    ill-conditioned, ~1/std, on every path alike: 1e-3 between the paths)."""
    x, w, kn = _case(dtype)
    g = torch.Generator().manual_seed(5)
    gy = torch.randn(x.shape[0], w.shape[2], generator=g, dtype=dtype)
    gv = torch.rand(w.shape[0], w.shape[2], generator=g, dtype=dtype)
    assert len(splines_mod.chunks(x.shape[1], kn.knots.shape[1], x.shape[0])) == 1
    one = _run(_fused, x, w, kn, stats, gy, gv)
    monkeypatch.setattr(splines_mod, "_CHUNK_FLOATS", 1)  # 64 columns a chunk
    assert len(splines_mod.chunks(x.shape[1], kn.knots.shape[1], x.shape[0])) > 5
    many = _run(_fused, x, w, kn, stats, gy, gv)
    ref = _run(_reference, x, w, kn, stats, gy, gv)
    tol = 1e-6 if dtype == torch.float32 else 1e-10

    def rel(a, b):
        return ((a.double() - b.double()).norm() / b.double().norm()).item()

    # the nearly constant edge's weight gradient (~1/std: its round-off is amplified on every
    # path alike) to 1e-3, every other weight gradient to the margin
    ill = torch.zeros_like(w, dtype=torch.bool)
    ill[2, :, 0] = True
    assert rel(many[3][ill], one[3][ill]) <= 1e-3
    many[3][ill], one[3][ill] = 0.0, 0.0
    for name, a, b in zip(["y", "std", "dx", "dw"], many, one, strict=True):
        assert rel(a, b) <= tol, f"{name}: {rel(a, b):.2e} from one chunk ({dtype}, {stats})"
    for name, a, b in zip(["y", "std", "dx"], many[:3], ref[:3], strict=True):
        assert rel(a, b) <= tol, f"{name}: {rel(a, b):.2e} from the definition"
    s, r = many[1][2, 0].double(), ref[1][2, 0].double()
    assert 0 < r.item() and abs(s - r).item() <= 1e-3 * r.item()


def test_chunked_path_is_the_same_in_two_threads(monkeypatch):
    """Each thread has its own scratch buffers: concurrent evaluations give the values a lone
    evaluation gives, to the bit."""
    monkeypatch.setattr(splines_mod, "_CHUNK_FLOATS", 1)
    cases = [_case(torch.float32, B=900, seed=s) for s in (1, 2)]
    g = torch.Generator().manual_seed(6)
    seeds = [(torch.randn(900, 4, generator=g), torch.rand(6, 4, generator=g)) for _ in cases]
    alone = [_run(_fused, *c, "n", *s) for c, s in zip(cases, seeds, strict=True)]
    out: list = [None, None]

    def work(i):
        for _ in range(20):
            out[i] = _run(_fused, *cases[i], "n", *seeds[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, out, strict=True):
        for u, v in zip(a, b, strict=True):
            assert torch.equal(u, v)
