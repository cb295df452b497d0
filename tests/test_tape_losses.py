"""Classification's losses on the trainer's tape (objective.LOSS_GRADS): the softmax and the
one-logit cross-entropy, their gradients and a few training steps against autograd's path."""

from __future__ import annotations

import math

import pytest
import torch

from kan_widget import KAN
from kan_widget import classification as cls
from kan_widget.objective import loss_and_grad, tape_ok
from kan_widget.regularizer import edge_penalty


def _data(n_out: int, dtype):
    g = torch.Generator().manual_seed(5)
    x = torch.rand(300, 2, generator=g, dtype=dtype) * 2 - 1
    cls_idx = ((x[:, 0] > 0).long() + (x[:, 1] > 0.3).long()) % max(n_out, 2)
    y = cls_idx.reshape(-1, 1).to(dtype) if n_out == 1 else cls_idx
    return x, y


@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lamb", [0.0, 0.01])
def test_class_loss_on_the_tape_equals_autograd(n_out, dtype, lamb):
    """Loss bit-identical; every gradient equal to autograd's to 1e-6 (float32) / 1e-12
    (float64) of its largest entry."""
    model = KAN([2, 4, n_out], grid=4, k=3, seed=1, dtype=dtype, noise_scale=0.5)
    model.layers[0].set_symbolic([1], [2], ["sin"])
    x, y = _data(n_out, dtype)
    metric = "edge_forward_spline_n"
    params = [p for p in model.parameters() if p.requires_grad]
    pred, stats = model.run_stats(x, metric)
    loss = cls.class_loss(pred, y)
    if lamb:
        loss = loss + lamb * edge_penalty([s.value for s in stats], metric, 1.0, 2.0)
    loss.backward()
    ref = [None if p.grad is None else p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    assert tape_ok(model, metric, cls.class_loss, False)
    loss2, l_pred, _, _ = loss_and_grad(model, x, y, metric, lamb, 1.0, 2.0, cls.class_loss)
    assert torch.equal(loss.detach(), loss2)
    assert torch.equal(cls.class_loss(pred, y).detach(), l_pred)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    for a, p in zip(ref, params, strict=True):
        b = p.grad
        assert (a is None) == (b is None)
        if a is not None:
            assert float((a - b).abs().max()) <= tol * float(a.abs().max()), p.shape


def test_class_loss_gradient_alone_is_autograds():
    """The loss head by itself: bit-identical loss, gradient within 1e-7 relative."""
    g = torch.Generator().manual_seed(2)
    for k in (1, 2, 5):
        logits = (torch.randn(64, k, generator=g) * 4).requires_grad_()
        y = (
            torch.randint(0, 2, (64, 1), generator=g).float()
            if k == 1
            else torch.randint(0, k, (64,), generator=g)
        )
        loss = cls.class_loss(logits, y)
        (ga,) = torch.autograd.grad(loss, logits)
        loss2, gb = cls.class_loss_grad(logits.detach(), y)
        assert torch.equal(loss.detach(), loss2)
        assert torch.allclose(ga, gb, rtol=1e-6, atol=1e-9), k


def test_other_losses_stay_on_autograd():
    model = KAN([2, 3, 1], grid=3, k=3, seed=0)
    assert not tape_ok(model, None, torch.nn.functional.l1_loss, False)
    assert tape_ok(model, None, cls.class_loss, False)


def test_classification_fit_on_the_tape_matches_autograd(monkeypatch):
    """A few L-BFGS steps of a 3-class fit end where autograd's path ends (float64)."""
    import kan_widget.training as training

    x, y = _data(3, torch.float64)
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}

    def fit(use_tape: bool):
        model = KAN([2, 3, 3], grid=4, k=3, seed=2, dtype=torch.float64)
        if not use_tape:
            monkeypatch.setattr(training, "tape_ok", lambda *a: False)
        hist = model.fit(data, opt="LBFGS", steps=3, lamb=0.01, update_grid=False)
        monkeypatch.undo()
        return hist["train_loss"][-1], model.layers[1].coef.detach().clone()

    loss_t, c_t = fit(True)
    loss_a, c_a = fit(False)
    assert math.isclose(loss_t, loss_a, rel_tol=1e-6)
    assert float((c_t - c_a).abs().max()) <= 1e-6 * float(c_a.abs().max())
