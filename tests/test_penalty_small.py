"""Small layers' sparsity penalty in Python floats (regularizer._small_penalty) against the
tensor operations every other layer uses: the penalty and its gradient to 1e-6 (float32) /
1e-10 (float64) relative, zero magnitudes and layers of one edge included."""

from __future__ import annotations

import pytest
import torch

import kan_widget.regularizer as reg


def _layers(dtype):
    g = torch.Generator().manual_seed(0)
    a = [torch.rand(2, 5, generator=g, dtype=dtype), torch.rand(5, 1, generator=g, dtype=dtype)]
    a[0][1, 3] = 0.0  # a pruned edge
    a.append(torch.rand(1, 1, generator=g, dtype=dtype) * 1e-3)
    a.append(torch.rand(4, 3, generator=g, dtype=dtype) * 30)  # sums well above 1
    return a


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lambs", [(1.0, 2.0), (0.5, 0.0), (2.0, 0.3)])
def test_python_penalty_equals_the_tensor_operations(dtype, lambs, monkeypatch):
    values = _layers(dtype)
    assert all(reg._in_python(a) for a in values)
    total, grads = reg.spline_penalty(values, *lambs)
    monkeypatch.setattr(reg, "_PYTHON_EDGES", 0)
    assert not any(reg._in_python(a) for a in values)
    total_t, grads_t = reg.spline_penalty(values, *lambs)
    tol = 1e-6 if dtype == torch.float32 else 1e-10
    assert total.dtype == dtype and total.shape == ()
    assert abs(total.item() - total_t.item()) <= tol * abs(total_t.item())
    for g, gt in zip(grads, grads_t, strict=True):
        assert g.dtype == dtype and g.shape == gt.shape
        assert (g - gt).abs().max().item() <= tol * gt.abs().max().item()


def test_graph_wanted_takes_the_tensor_operations():
    """create_graph (higher derivatives) differentiates the penalty's own operations."""
    a = _layers(torch.float64)[0].requires_grad_(True)
    assert not reg._in_python(a)
    total, _ = reg.spline_penalty([a], 1.0, 2.0)
    (g,) = torch.autograd.grad(total, a)
    _, grads = reg.spline_penalty([a.detach()], 1.0, 2.0)
    torch.testing.assert_close(g, grads[0], rtol=1e-10, atol=1e-12)


def test_mixed_small_and_large_layers():
    g = torch.Generator().manual_seed(1)
    values = [torch.rand(2, 5, generator=g), torch.rand(20, 10, generator=g)]
    assert reg._in_python(values[0]) and not reg._in_python(values[1])
    total = reg.spline_penalty(values, 1.0, 2.0)[0].item()
    parts = sum(reg.spline_penalty([v], 1.0, 2.0)[0].item() for v in values)
    assert abs(total - parts) <= 1e-6 * parts


def test_no_magnitudes_is_a_named_error():
    with pytest.raises(ValueError, match="at least one layer"):
        reg.spline_penalty([], 1.0, 2.0)
