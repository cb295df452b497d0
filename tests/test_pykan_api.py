"""pykan 0.2.8's engine semantics that its tutorials rely on (issue 13).

Derivatives of every order through the model (physics-informed losses), the default dtype,
class-index labels and metrics, the activations of the last forward for symbolic fitting,
pykan's constructor options and training arguments. Checked against finite differences and
closed forms, and against pykan itself where it is installed (run in a scratch directory with
``auto_save=False``: pykan writes files where it runs).
"""

from __future__ import annotations

import pytest
import torch

from kan_widget import KAN
from kan_widget.objective import loss_and_grad
from kan_widget.regularizer import edge_penalty

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------- derivatives
def _model(base_fun="silu", k=3, symbolic=False, width=(2, 3, 1), seed=0):
    m = KAN(list(width), grid=4, k=k, base_fun=base_fun, seed=seed, dtype=F64)
    if symbolic:  # one symbolic edge in each layer: sin in the first, x^2 in the second
        m.layers[0].set_symbolic([1], [2], ["sin"], torch.tensor([[1.3, 0.2, 0.7, 0.1]]))
        m.layers[1].set_symbolic([0], [0], ["x^2"], torch.tensor([[0.8, -0.1, 0.5, 0.0]]))
    return m


POINTS = torch.tensor([[0.13, -0.41], [-0.62, 0.27], [0.55, 0.71]], dtype=F64)


def _grad(m, x):
    """d sum(model(x)) / dx, first order only (the fused kernel's hand-written backward)."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m(x).sum(), x)
    return g


def _hessian(m, x):
    """``[B, 2, 2]``: the second derivatives of each row's output, by double backward."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m(x).sum(), x, create_graph=True)
    rows = []
    for i in range(x.shape[1]):
        (h,) = torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)
        rows.append(h)
    return torch.stack(rows, 1)


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
@pytest.mark.parametrize("symbolic", [False, True])
def test_first_and_second_derivatives_match_finite_differences(base_fun, symbolic):
    m = _model(base_fun, symbolic=symbolic)
    x, e = POINTS, 1e-5
    g = _grad(m, x)
    for i in range(2):
        d = torch.zeros_like(x)
        d[:, i] = e
        fd = (m(x + d) - m(x - d))[:, 0] / (2 * e)
        torch.testing.assert_close(g[:, i], fd, rtol=1e-6, atol=1e-8)
    h = _hessian(m, x)
    for j in range(2):  # column j: finite differences of the gradient along x_j
        d = torch.zeros_like(x)
        d[:, j] = e
        fd = (_grad(m, x + d) - _grad(m, x - d)) / (2 * e)
        torch.testing.assert_close(h[:, :, j], fd, rtol=1e-5, atol=1e-7)
    # the mixed partials agree with each other, and the Hessian is not the old silent 0
    torch.testing.assert_close(h[:, 0, 1], h[:, 1, 0])
    assert h.abs().max() > 1e-3


def test_the_issue_example_and_a_third_derivative():
    m = KAN([1, 1], dtype=F64)
    x = torch.tensor([[0.3]], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(m(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    (t,) = torch.autograd.grad(h.sum(), x)
    e = 1e-4

    def f(v):
        return float(m(torch.tensor([[v]], dtype=F64)).detach())

    fd2 = (f(0.3 + e) - 2 * f(0.3) + f(0.3 - e)) / e**2
    assert h.item() == pytest.approx(fd2, rel=1e-5, abs=1e-7)
    assert abs(h.item()) > 1e-3

    def second(v):
        xv = torch.tensor([[v]], dtype=F64, requires_grad=True)
        (gv,) = torch.autograd.grad(m(xv).sum(), xv, create_graph=True)
        (hv,) = torch.autograd.grad(gv.sum(), xv)
        return hv.item()

    # cubic splines: the third derivative is piecewise constant; 0.3 is inside one piece
    e = 1e-6
    assert t.item() == pytest.approx((second(0.3 + e) - second(0.3 - e)) / (2 * e), rel=1e-4)


def test_laplacian_as_pykans_pde_tutorial_builds_it():
    """pykan's PDE example: the Laplacian by two nested autograd calls, inside a loss that is
    then differentiated in the parameters (the training step of a physics-informed loss)."""
    torch.manual_seed(0)
    m = _model(width=(2, 2, 1))
    x = (torch.rand(16, 2, dtype=F64) * 2 - 1).requires_grad_(True)

    def laplacian(model, x):
        (g,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
        return sum(
            torch.autograd.grad(g[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2)
        )

    lap = laplacian(m, x)
    e = 1e-4
    fd = sum(
        (m(x + d) - 2 * m(x) + m(x - d))[:, 0] / e**2
        for d in (torch.tensor([e, 0.0], dtype=F64), torch.tensor([0.0, e], dtype=F64))
    )
    torch.testing.assert_close(lap, fd.detach(), rtol=1e-4, atol=1e-5)
    loss = (lap**2).mean()
    loss.backward()
    coef = m.layers[0].coef
    assert coef.grad is not None and coef.grad.abs().max() > 0
    # one coefficient, by finite differences of the loss
    idx = (0, 1, 2)
    c0 = coef[idx].item()
    vals = []
    for s in (1, -1):
        with torch.no_grad():
            coef[idx] = c0 + s * 1e-6
        vals.append(float((laplacian(m, x) ** 2).mean().detach()))
    with torch.no_grad():
        coef[idx] = c0
    assert coef.grad[idx].item() == pytest.approx((vals[0] - vals[1]) / 2e-6, rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("metric", ["edge_forward_spline_n", "edge_forward_spline_u"])
def test_hessian_of_the_training_loss_matches_the_fast_paths(metric):
    """The training objective's Hessian-vector product in the parameters (double backward
    through the fused layer and the penalty) against finite differences of the trainer's
    gradient without autograd (the tape of objective.py)."""
    torch.manual_seed(1)
    m = _model()
    x = torch.rand(64, 2, dtype=F64) * 2 - 1
    y = torch.sin(x[:, :1] * 2) + x[:, 1:] ** 2
    lamb = 0.1
    params = [m.layers[0].coef, m.layers[0].scale_base, m.layers[1].coef, m.layers[1].scale_sp]

    def loss_autograd():
        pred, stats = m.run_stats(x, metric)
        reg = edge_penalty([s.value for s in stats], metric, 1.0, 2.0)
        return torch.mean((pred - y) ** 2) + lamb * reg

    def tape_grad():
        for p in m.parameters():
            p.grad = None
        loss_and_grad(m, x, y, metric, lamb, 1.0, 2.0)
        return [p.grad.clone() for p in params]

    v = [torch.randn_like(p) for p in params]
    grads = torch.autograd.grad(loss_autograd(), params, create_graph=True)
    hv = torch.autograd.grad(sum((g * u).sum() for g, u in zip(grads, v)), params)
    e = 1e-6
    with torch.no_grad():
        for p, u in zip(params, v):
            p.add_(u, alpha=e)
    gp = tape_grad()
    with torch.no_grad():
        for p, u in zip(params, v):
            p.add_(u, alpha=-2 * e)
    gm = tape_grad()
    for h, a, b in zip(hv, gp, gm):
        torch.testing.assert_close(h, (a - b) / (2 * e), rtol=1e-4, atol=1e-6)
    # the first derivative through autograd equals the tape's (the fast paths are unchanged)
    with torch.no_grad():
        for p, u in zip(params, v):
            p.add_(u, alpha=e)
    g1 = torch.autograd.grad(loss_autograd(), params)
    for a, b in zip(g1, tape_grad()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_second_derivative_through_the_mean_abs_metric_and_k2():
    m = _model(k=2)
    x = POINTS.clone().requires_grad_(True)
    _, stats = m.forward_stats(x, "edge_mean_abs")
    (g,) = torch.autograd.grad(stats[0].value.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g[:, 0].sum(), x)

    def first(xv):
        xv = xv.clone().requires_grad_(True)
        _, s = m.forward_stats(xv, "edge_mean_abs")
        return torch.autograd.grad(s[0].value.sum(), xv)[0][:, 0]

    e = 1e-6
    d = torch.zeros_like(POINTS)
    d[:, 0] = e
    fd = (first(POINTS + d) - first(POINTS - d)) / (2 * e)
    torch.testing.assert_close(h[:, 0], fd, rtol=1e-4, atol=1e-6)
