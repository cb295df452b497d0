"""Symbolic edges on the trainer's tape (kan_widget/symtape.py): values, magnitudes, scores and
every gradient against autograd's path, for every library function, with arguments inside and
across each function's guards (poles, clamps, the exp continuation)."""

from __future__ import annotations

import math

import pytest
import torch

from kan_widget import KAN, symtape
from kan_widget.objective import loss_and_grad, tape_ok
from kan_widget.regularizer import edge_penalty
from kan_widget.symbolic import library

DEFAULT_NAMES = [f.name for f in library._default_entries()]

# arguments on both sides of every guard of the safe forms (library.py's table), and ordinary ones
SPECIAL = [0.0, 1e-9, -1e-9, 3e-9, 1e-5, -1e-3, 0.02, 1 - 1e-7, -1 + 1e-7, 0.9999, 1.0000005]
SPECIAL += [-1.3, math.pi / 2, math.pi / 2 + 5e-5, -math.pi / 2 - 2e-5, 2.5, 21.0, 25.0, -30.0]


def _model(name: str, dtype=torch.float64) -> tuple[KAN, torch.Tensor, torch.Tensor]:
    """[2, 3, 2] with spline edges perturbed from the init; in layer 0, input 0's edges are
    ``name`` with ``a = 1, b = 0`` on one (so the inputs are the function's arguments) and
    others scaled and shifted; in layer 1, two edges are ``name`` (the input-gradient path)."""
    model = KAN([2, 3, 2], grid=4, k=3, seed=3, dtype=dtype, noise_scale=0.5)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.add_(0.3 * torch.randn(layer.coef.shape, generator=g, dtype=dtype))
    p0 = torch.tensor([[1.0, 0.0, 1.3, 0.2], [0.7, 0.05, -0.6, 0.1], [-0.4, 0.3, 0.9, -0.2]])
    model.layers[0].set_symbolic([0, 0, 0], [0, 1, 2], [name] * 3, p0)
    p1 = torch.tensor([[0.8, -0.1, 0.5, 0.0], [-1.1, 0.2, -0.3, 0.4]])
    model.layers[1].set_symbolic([0, 2], [1, 0], [name] * 2, p1)
    ordinary = torch.linspace(-1.2, 1.2, 41, dtype=dtype)
    col0 = torch.cat([ordinary, torch.tensor(SPECIAL, dtype=dtype)])
    col1 = torch.rand(col0.shape[0], generator=g, dtype=dtype) * 2 - 1
    x = torch.stack([col0, col1], 1)
    y = torch.randn(x.shape[0], 2, generator=g, dtype=dtype)
    return model, x, y


def _autograd(model, x, y, metric, lamb):
    """Loss, gradients and scores through autograd (the trainer's other path)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    if metric is None:
        pred, stats = model.run(x), None
    else:
        pred, stats = model.run_stats(x, metric)
    loss = torch.mean((pred - y) ** 2)
    if lamb and metric:
        loss = loss + lamb * edge_penalty([s.value for s in stats], metric, 1.0, 2.0)
    loss.backward()
    grads = [None if p.grad is None else p.grad.clone() for p in params]
    return loss.detach(), grads, stats


def _tape(model, x, y, metric, lamb):
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    assert tape_ok(model, metric, None, False)
    loss, _, _, stats = loss_and_grad(model, x, y, metric, lamb, 1.0, 2.0)
    return loss, [p.grad for p in params], stats


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    scale = max(float(b.abs().max()), 1e-300)
    return bool(((a - b).abs() <= rtol * scale).all())


def test_every_library_function_has_a_derivative():
    """A function added to the library without a derivative here would silently train through
    autograd: this names it."""
    missing = [n for n in DEFAULT_NAMES if symtape.derivative(n) is None]
    assert not missing, f"write their derivatives in kan_widget/symtape.py: {missing}"


@pytest.mark.parametrize("name", DEFAULT_NAMES)
@pytest.mark.parametrize(
    "metric,lamb", [(None, 0.0), ("edge_forward_spline_n", 0.01), ("edge_forward_spline_u", 0.1)]
)
def test_symbolic_tape_equals_autograd(name, metric, lamb):
    """Loss bit-identical (the forward runs autograd's path's operations); every gradient
    equal to 1e-10 of its largest entry (float64); magnitudes and scores bit-identical."""
    model, x, y = _model(name)
    loss, grads, stats = _autograd(model, x, y, metric, lamb)
    loss2, grads2, stats2 = _tape(model, x, y, metric, lamb)
    assert torch.isfinite(loss)
    assert torch.equal(loss, loss2), (float(loss), float(loss2))
    for (pname, _), a, b in zip(
        [(n, p) for n, p in model.named_parameters() if p.requires_grad], grads, grads2
    ):
        assert (a is None) == (b is None), pname
        if a is not None:
            assert torch.isfinite(b).all(), pname
            assert _close(b, a, 1e-10), (pname, (b - a).abs().max(), a.abs().max())
    if metric is not None:
        for s, s2 in zip(stats, stats2, strict=True):
            assert torch.equal(s.value.detach(), s2.value)
            assert torch.equal(s.score, s2.score)


@pytest.mark.parametrize("name", ["sin", "1/x", "log", "tan", "arctanh", "exp"])
def test_symbolic_tape_float32(name):
    """float32, the training dtype: gradients to 1e-5 of their largest entry."""
    model, x, y = _model(name, torch.float32)
    loss, grads, _ = _autograd(model, x, y, "edge_forward_spline_n", 0.01)
    loss2, grads2, _ = _tape(model, x, y, "edge_forward_spline_n", 0.01)
    assert torch.equal(loss, loss2)
    for a, b in zip(grads, grads2, strict=True):
        assert (a is None) == (b is None)
        assert a is None or _close(b, a, 1e-5)


def test_all_symbolic_layers_skip_the_splines():
    """Every edge fixed and no magnitudes: the splines are not evaluated (their parameters get
    no gradient, as through autograd), the symbolic parameters' gradients agree."""
    model = KAN([2, 2, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    model.layers[0].set_symbolic([0, 0, 1, 1], [0, 1, 0, 1], ["sin", "x^2", "exp", "x"])
    model.layers[1].set_symbolic([0, 1], [0, 0], ["exp", "tanh"])
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randn(64, 1, generator=g, dtype=torch.float64)
    loss, grads, _ = _autograd(model, x, y, None, 0.0)
    loss2, grads2, _ = _tape(model, x, y, None, 0.0)
    assert torch.equal(loss, loss2)
    assert model.layers[0].coef.grad is None and model.layers[1].scale_base.grad is None
    for a, b in zip(grads, grads2, strict=True):
        assert (a is None) == (b is None)
        assert a is None or _close(b, a, 1e-12)


def test_functions_without_a_derivative_stay_on_autograd(monkeypatch):
    """A user's function, a library entry replaced by the user, and pykan's y_th-capped forms
    of singular functions are trained through autograd."""
    model = KAN([2, 2, 1], grid=3, k=3, seed=0)
    model.layers[0].set_symbolic([0], [0], ["sin"])
    assert tape_ok(model, "edge_forward_spline_n", None, False)
    model.layers[0].set_symbolic([1], [1], ["log"])
    with model.singularity_avoiding(10.0):  # log has a capped form; sin has none
        assert not tape_ok(model, None, None, False)
    assert tape_ok(model, None, None, False)
    monkeypatch.setitem(
        library.SYMBOLIC_LIB,
        "log",
        library.SymbolicFunction("log", lambda x: torch.log(x.abs() + 1), library.sympy.log, 2),
    )
    assert symtape.derivative("log") is None
    assert not tape_ok(model, None, None, False)
    monkeypatch.undo()
    assert tape_ok(model, None, None, False)
    library.add_symbolic("softsign_t", lambda x: x / (1 + x.abs()), overwrite=True)
    try:
        model.layers[1].set_symbolic([0], [0], ["softsign_t"])
        assert not tape_ok(model, None, None, False)
    finally:
        library.SYMBOLIC_LIB.pop("softsign_t", None)


def test_partly_symbolic_fit_matches_autograd(monkeypatch):
    """A few L-BFGS steps of a partly symbolic model on the tape end where autograd's path
    ends (float64: the gradients differ in the last bits only)."""
    import kan_widget.training as training

    def fit(use_tape: bool):
        model = KAN([2, 3, 1], grid=4, k=3, seed=2, dtype=torch.float64)
        model.layers[0].set_symbolic([0, 1], [0, 2], ["sin", "x^2"])
        model.layers[1].set_symbolic([1], [0], ["exp"])
        g = torch.Generator().manual_seed(4)
        x = torch.rand(200, 2, generator=g, dtype=torch.float64) * 2 - 1
        y = torch.sin(3 * x[:, :1]) + x[:, 1:] ** 2
        data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
        if not use_tape:
            monkeypatch.setattr(training, "tape_ok", lambda *a: False)
        hist = model.fit(data, opt="LBFGS", steps=3, lamb=0.01, update_grid=False)
        monkeypatch.undo()
        return hist["train_loss"][-1], model.layers[0].sym_params.detach().clone()

    loss_t, p_t = fit(True)
    loss_a, p_a = fit(False)
    assert math.isclose(loss_t, loss_a, rel_tol=1e-6)
    assert _close(p_t, p_a, 1e-6)


def test_masked_symbolic_edges_and_mask_edits():
    """A symbolic edge switched off by the mask (in place, after a first evaluation filled the
    per-group mask cache) gives autograd's values and gradients; switched back on, too."""
    model, x, y = _model("sin")
    metric = "edge_forward_spline_n"
    for value in (0.0, 1.0):
        _tape(model, x, y, metric, 0.01)  # fills the cache
        with torch.no_grad():
            model.layers[0].mask[0, 1] = value
            model.layers[1].mask[2, 0] = value
        loss, grads, stats = _autograd(model, x, y, metric, 0.01)
        loss2, grads2, stats2 = _tape(model, x, y, metric, 0.01)
        assert torch.equal(loss, loss2)
        for a, b in zip(grads, grads2, strict=True):
            assert (a is None) == (b is None)
            assert a is None or _close(b, a, 1e-10)
        for s, s2 in zip(stats, stats2, strict=True):
            assert torch.equal(s.score, s2.score)


def test_multiplication_nodes_with_symbolic_edges():
    """A MultKAN with symbolic edges (node steps between the layers) on the tape: gradients
    equal autograd's; and with symbolic_enabled=False the edges are left out on both paths."""
    model = KAN([2, [2, 1], 1], grid=3, k=3, seed=4, dtype=torch.float64)
    model.layers[0].set_symbolic([0, 1], [0, 2], ["sin", "x^2"])
    model.layers[1].set_symbolic([1], [0], ["tanh"])
    g = torch.Generator().manual_seed(2)
    x = torch.rand(80, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randn(80, 1, generator=g, dtype=torch.float64)
    for enabled in (True, False):
        model.symbolic_enabled = enabled
        metric = "edge_forward_spline_n"
        loss, grads, _ = _autograd(model, x, y, metric, 0.01)
        loss2, grads2, _ = _tape(model, x, y, metric, 0.01)
        assert float((loss - loss2).abs()) <= 1e-12 * float(loss.abs())
        for a, b in zip(grads, grads2, strict=True):
            assert (a is None) == (b is None)
            assert a is None or _close(b, a, 1e-10)
