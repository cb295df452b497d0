"""The compiled magnitudes and penalty (kan_widget/csrc/stats.c via ckernel.stats_forward,
stats_backward, penalty): not bit-identical to the torch path (sums in float64), so checked
against it and against autograd of a plain-ops definition, in float64 to 1e-10 relative and in
float32 with margins; NaN propagates; what the kernel declines takes the torch path, and with
the kernel off every result is the torch path's to the bit."""

from __future__ import annotations

import math

import pytest
import torch

from kan_widget import KAN, ckernel
from kan_widget.regularizer import edge_penalty, spline_penalty

pytestmark = pytest.mark.usefixtures("one_thread")
METRICS = ["edge_forward_spline_n", "edge_forward_spline_u"]


def need_kernel() -> None:
    if not ckernel.available() or ckernel._stats_kernels() is None:
        pytest.skip("the compiled kernel is not available here (no C compiler?)")


@pytest.fixture
def stats_off():
    """Run a block with the compiled magnitudes and penalty off (the torch path)."""

    class Off:
        def __enter__(self):
            self.before = ckernel.use_stats(False)

        def __exit__(self, *exc):
            ckernel.use_stats(self.before)

    return Off()


def plain_penalty(a: torch.Tensor, l1w: float, entw: float) -> torch.Tensor:
    """pykan 0.2.8's penalty written out from its definition (no shared code with either path):
    per output node, the entropy of its incoming edges' shares, averaged; likewise per input
    node over its outgoing edges; p = A / (sum + 1), log2, +1e-4 in the log."""
    pr = a / (a.sum(0, keepdim=True) + 1)  # over inputs, per output column
    pc = a / (a.sum(1, keepdim=True) + 1)
    ent_r = -(pr * torch.log(pr + 1e-4) / math.log(2)).sum(0).mean()
    ent_c = -(pc * torch.log(pc + 1e-4) / math.log(2)).sum(1).mean()
    return l1w * a.sum() + entw * (ent_r + ent_c)


SHAPES = [(2, 5), (5, 1), (1, 1), (1, 4), (7, 3)]


@pytest.mark.parametrize("lambs", [(1.0, 2.0), (0.5, 0.0), (1.0, 0.3)])
def test_penalty_and_gradient_vs_autograd_float64(lambs):
    need_kernel()
    g = torch.Generator().manual_seed(0)
    values = [torch.rand(s, generator=g, dtype=torch.float64) * 3 for s in SHAPES]
    values.append(torch.rand(4, 6, generator=g, dtype=torch.float64).t())  # strided
    values.append(torch.zeros(2, 3, dtype=torch.float64))  # silenced edges: p = 0
    res = ckernel.penalty(values, *lambs)
    assert res is not None
    total, grads = res
    leaves = [v.clone().requires_grad_() for v in values]
    ref = sum(plain_penalty(a, *lambs) for a in leaves)
    ref_grads = torch.autograd.grad(ref, leaves)
    assert total.dtype == torch.float64 and total.shape == ()
    ref = ref.detach()
    assert abs(float(total) - float(ref)) <= 1e-10 * abs(float(ref))
    for got, want in zip(grads, ref_grads, strict=True):
        assert got.shape == want.shape and got.is_contiguous()
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_penalty_float32_within_margins_of_torch_path(stats_off):
    need_kernel()
    g = torch.Generator().manual_seed(1)
    values = [torch.rand(s, generator=g) for s in SHAPES]
    total, grads = spline_penalty(values, 1.0, 2.0)
    with stats_off:
        t_total, t_grads = spline_penalty(values, 1.0, 2.0)
    assert total.dtype == torch.float32
    assert abs(float(total) - float(t_total)) <= 1e-5 * abs(float(t_total))
    for got, want in zip(grads, t_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_penalty_nan_propagates():
    need_kernel()
    a = torch.rand(3, 2)
    a[1, 1] = float("nan")
    total, grads = ckernel.penalty([a], 1.0, 2.0)  # type: ignore[misc]
    assert math.isnan(float(total))
    assert torch.isnan(grads[0]).any()


def _loss_and_grads(model, x, y, metric):
    model.zero_grad(set_to_none=True)
    xi = x.clone().requires_grad_()
    pred, stats = model.forward_stats(xi, metric)
    loss = ((pred - y) ** 2).mean() + 0.01 * edge_penalty([s.value for s in stats], metric, 1, 2)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    return loss.detach(), [s.value.detach() for s in stats], grads, xi.grad


@pytest.mark.parametrize("metric", METRICS)
def test_layer_magnitudes_and_gradients_vs_torch_path_float64(metric, stats_off):
    """The whole forward/backward with the penalty: the compiled magnitudes (and penalty) give
    the torch path's loss, magnitudes and every gradient (parameters and input) to 1e-10."""
    need_kernel()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(300, 3, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randn(300, 2, generator=g, dtype=torch.float64)
    model = KAN([3, 4, 2], grid=4, k=3, seed=0, dtype=torch.float64, noise_scale=0.5)
    got = _loss_and_grads(model, x, y, metric)
    with stats_off:
        want = _loss_and_grads(model, x, y, metric)
    assert abs(float(got[0]) - float(want[0])) <= 1e-10 * abs(float(want[0]))
    for a, b in zip(got[1], want[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)
    for a, b in zip(got[2] + [got[3]], want[2] + [want[3]], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("metric", METRICS)
def test_layer_gradients_float32_within_margins(metric, stats_off):
    need_kernel()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(500, 2, generator=g) * 2 - 1
    y = torch.randn(500, 1, generator=g)
    model = KAN([2, 5, 1], grid=5, k=3, seed=1, noise_scale=0.5)
    got = _loss_and_grads(model, x, y, metric)
    with stats_off:
        want = _loss_and_grads(model, x, y, metric)
    assert abs(float(got[0]) - float(want[0])) <= 1e-5 * abs(float(want[0]))
    for a, b in zip(got[2] + [got[3]], want[2] + [want[3]], strict=True):
        scale = float(b.abs().max()) + 1e-6
        assert float((a - b).abs().max()) <= 1e-4 * scale


def test_gradcheck_through_the_compiled_magnitudes():
    """Finite differences against the hand-derived gradients, magnitudes and penalty both."""
    need_kernel()
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(40, 2, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    model = KAN([2, 3, 1], grid=3, k=3, seed=0, dtype=torch.float64, noise_scale=0.5)
    coef = model.layers[1].coef

    def f(x, c):
        with torch.no_grad():
            coef.copy_(c)
        _, stats = model.forward_stats(x, "edge_forward_spline_n")
        return edge_penalty([s.value for s in stats], "edge_forward_spline_n", 1.0, 2.0)

    assert torch.autograd.gradcheck(lambda x: f(x, coef.detach().clone()), (x,), atol=1e-6)


def test_declines_what_it_cannot_run():
    need_kernel()
    a = torch.rand(2, 3, requires_grad=True)
    assert ckernel.penalty([a], 1.0, 2.0) is None  # autograd records the torch path
    with torch.no_grad():
        assert ckernel.penalty([a], 1.0, 2.0) is not None
    assert ckernel.penalty([torch.rand(2, 3), torch.rand(3, 1).double()], 1.0, 2.0) is None
    assert ckernel.penalty([torch.rand(2, 3).half()], 1.0, 2.0) is None
    w = torch.rand(2, 4, 3)
    assert ckernel.stats_forward(torch.rand(2, 4, 4), w, 10, None) is None  # cov not float64
    assert ckernel.stats_forward(torch.rand(2, 5, 5).double(), w, 10, None) is None  # shapes
    before = ckernel.use_stats(False)
    try:
        assert ckernel.penalty([torch.rand(2, 3)], 1.0, 2.0) is None
        assert ckernel.stats_forward(torch.rand(2, 4, 4).double(), w, 10, None) is None
    finally:
        ckernel.use_stats(before)


def _fit_state(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g, dtype=dtype) * 2 - 1
    y = torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    model = KAN(width=[2, 5, 1], grid=3, k=3, seed=0, dtype=dtype)
    model.fit(data, opt="LBFGS", steps=4, lamb=0.01)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_off_is_the_torch_path_to_the_bit(stats_off):
    """With the compiled magnitudes off, a fit with the penalty equals the all-torch path (the
    basis kernel off too) to the bit: the fallback gives today's results."""
    need_kernel()
    with stats_off:
        a = _fit_state(torch.float32)
        before = ckernel.use(False)
        try:
            b = _fit_state(torch.float32)
        finally:
            ckernel.use(before)
    for k, v in a.items():
        assert torch.equal(v, b[k]), k
