"""pykan 0.2.8 names its tutorials use beyond the core API, side by side with pykan on the same
inputs: ``model.acts`` (pykan's list attribute; ours is computed when read), the fit history's
values, ``pykan_utils.model2param`` / ``get_derivative``, ``pykan_mlp.MLP`` and ``kan.MultKAN``.

pykan writes files where it runs: every test that builds a pykan model runs in ``tmp_path``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.MLP import MLP
from kan_widget.utils import get_derivative, model2param
from tests.pykan_twin import copy_into_ours

kan = pytest.importorskip("kan")
pykan_mlp = pytest.importorskip("kan.MLP")
pykan_utils = pytest.importorskip("kan.utils")


pytestmark = pytest.mark.usefixtures("one_thread")


def _keep_rng(make):
    """``make()`` with the global torch RNG restored after (pykan reseeds it)."""
    state = torch.get_rng_state()
    try:
        return make()
    finally:
        torch.set_rng_state(state)


def _pykan_kan(width, **kw):
    return _keep_rng(lambda: kan.KAN(width=list(width), auto_save=False, **kw))


def _dataset(n_var=2, n=200, seed=0):
    return create_dataset(
        lambda x: (
            torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)
            if n_var == 2
            else x[:, [0]] ** 2
        ),
        n_var=n_var,
        train_num=n,
        test_num=n,
        seed=seed,
    )


# ------------------------------------------------------------------------------------ acts
def test_acts_is_pykans_list_of_the_last_forward(in_tmp):
    pk = _pykan_kan([2, 5, 3, 1], grid=5, seed=0)
    model = KAN([2, 5, 3, 1], grid=5, seed=0, auto_save=False)
    copy_into_ours(pk, model)
    x = torch.rand(64, 2) * 2 - 1
    with torch.no_grad():
        pk(x)
        model(x)
    assert isinstance(model.acts, list)
    assert len(model.acts) == len(pk.acts) == 4
    for a, b in zip(pk.acts, model.acts, strict=True):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= 1e-5
    assert not model.acts[1].requires_grad
    # a later forward on other inputs is what acts shows, as pykan's
    x2 = torch.rand(7, 2)
    model(x2)
    assert model.acts[0].shape == (7, 2)
    assert torch.equal(model.activations(x2)[-1], model.acts[-1])


def test_acts_before_any_forward_is_a_clear_error():
    model = KAN([2, 3, 1], auto_save=False)
    with pytest.raises(ValueError, match="forward pass first"):
        model.acts  # noqa: B018


# ------------------------------------------------------------------------------- fit history
def test_fit_history_values_behave_as_pykans(in_tmp):
    ds = _dataset()
    pk = _pykan_kan([2, 3, 1], grid=3, seed=0)
    theirs = pk.fit(ds, steps=2, update_grid=False)
    ours = KAN([2, 3, 1], grid=3, seed=0, auto_save=False).fit(ds, steps=2, update_grid=False)
    for key in ("train_loss", "test_loss", "reg"):
        assert len(ours[key]) == len(theirs[key]) == 2
        for a, b in zip(theirs[key], ours[key], strict=True):
            # pykan's are 0-d arrays: .item(), float(), numpy maths and formatting all work
            assert isinstance(b.item(), float) and isinstance(float(b), float)
            assert np.ndim(b) == np.ndim(a) == 0
            assert f"{b:.2e}" and np.sqrt(b).dtype == np.float64
        # the same model and data: the same losses (LBFGS implementations differ in last bits)
        assert ours[key][0] == pytest.approx(float(theirs[key][0]), rel=1e-3, abs=1e-6)
    assert np.array(ours["train_loss"]).shape == np.array(theirs["train_loss"]).shape == (2,)


# ------------------------------------------------------------------------ model2param, hessian
def test_model2param_is_the_parameters_flattened_in_order():
    model = KAN([2, 3, 1], auto_save=False)
    p = model2param(model)
    assert p.dim() == 1 and p.numel() == sum(q.numel() for q in model.parameters())
    first = next(iter(model.parameters()))
    assert torch.equal(p[: first.numel()], first.detach().reshape(-1))
    # pykan's does the same on its own model
    pm = _keep_rng(lambda: pykan_mlp.MLP(width=[2, 3, 1]))
    assert torch.equal(pykan_utils.model2param(pm), model2param(pm))


def test_get_derivative_matches_finite_differences():
    torch.manual_seed(0)
    model = KAN([1, 3, 1], grid=3, auto_save=False, dtype=torch.float64)
    x = torch.rand(40, 1, dtype=torch.float64) * 2 - 1
    y = x**2
    jac = get_derivative(model, x, y, derivative="jacobian")
    hess = get_derivative(model, x, y, derivative="hessian")
    n = model2param(model).numel()
    assert jac.shape == (1, n) and hess.shape == (1, n, n)
    assert (hess - hess.transpose(1, 2)).abs().max().item() < 1e-8
    before = model2param(model).clone()

    def loss_at(p):
        with torch.no_grad():
            off = 0
            for q in model.parameters():
                q.copy_(p[off : off + q.numel()].reshape(q.shape))
                off += q.numel()
            return torch.mean((model(x) - y) ** 2)

    h, rows = 1e-5, [0, 5, n // 2, n - 5]
    for i in rows:
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = h
        fd_grad = (loss_at(before + e) - loss_at(before - e)) / (2 * h)
        assert float(jac[0, i]) == pytest.approx(float(fd_grad), rel=1e-5, abs=1e-9)
        # column i of the Hessian: the gradient's change along e_i (a difference of Jacobians)
        loss_at(before + e)
        jp = get_derivative(model, x, y, derivative="jacobian")
        loss_at(before - e)
        jm = get_derivative(model, x, y, derivative="jacobian")
        fd_col = (jp - jm)[0] / (2 * h)
        assert (hess[0, :, i] - fd_col).abs().max().item() <= 1e-5 * (1 + fd_col.abs().max())
    loss_at(before)
    assert torch.equal(model2param(model), before)  # get_derivative left the model alone


def test_get_derivative_prediction_hessian_as_pykans_on_the_coefficients(in_tmp):
    """The coefficient block of the loss Hessian: the same model, the same number as pykan's."""
    pk = _pykan_kan([1, 3, 1], grid=3, seed=0)
    model = KAN([1, 3, 1], grid=3, seed=0, auto_save=False)
    copy_into_ours(pk, model)
    x = torch.rand(30, 1) * 2 - 1
    y = x**2
    theirs = pykan_utils.get_derivative(pk, x, y, derivative="hessian")[0]
    ours = get_derivative(model, x, y, derivative="hessian")[0]

    def block(m, layer_name):
        off, out = 0, {}
        for name, q in m.named_parameters():
            out[name] = (off, q.numel())
            off += q.numel()
        return out[layer_name]

    for l in range(2):
        o1, n1 = block(pk, f"act_fun.{l}.coef")
        o2, n2 = block(model, f"layers.{l}.coef")
        assert n1 == n2
        a = theirs[o1 : o1 + n1, o1 : o1 + n1]
        b = ours[o2 : o2 + n2, o2 : o2 + n2]
        assert (a - b).abs().max().item() <= 1e-4 * (1 + a.abs().max().item())


def test_get_derivative_bad_input():
    model = KAN([1, 2, 1], auto_save=False)
    x = torch.rand(5, 1)
    with pytest.raises(ValueError, match="derivative must be"):
        get_derivative(model, x, x, derivative="laplacian")
    with pytest.raises(ValueError, match="reg_metric"):
        get_derivative(model, x, x, loss_mode="reg", reg_metric="w")


# ------------------------------------------------------------------------------------- MLP
def test_mlp_matches_pykans_weights_forward_and_scores(in_tmp):
    rng = torch.get_rng_state()
    ours = MLP(width=[2, 7, 3], seed=5)
    assert torch.equal(torch.get_rng_state(), rng)  # the global generator is left alone
    theirs = _keep_rng(lambda: pykan_mlp.MLP(width=[2, 7, 3], seed=5))
    for p, q in zip(theirs.parameters(), ours.parameters(), strict=True):
        assert torch.equal(p, q)
    x = torch.randn(50, 2)
    assert torch.equal(theirs(x), ours(x))
    for name in ("acts", "acts_scale", "wa_forward"):
        for a, b in zip(getattr(theirs, name), getattr(ours, name), strict=True):
            assert torch.allclose(a, b)
    theirs.attribute()
    ours.attribute()
    for a, b in zip(theirs.edge_scores, ours.edge_scores, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    for metric in ("w", "act", "fa", "a"):
        assert ours.reg(metric, 1.0, 2.0).item() == pytest.approx(
            theirs.reg(metric, 1.0, 2.0).item(), rel=1e-5
        )


def test_mlp_fit_as_pykans(in_tmp):
    ds = _dataset()
    theirs = _keep_rng(lambda: pykan_mlp.MLP(width=[2, 7, 1], seed=5))
    ours = MLP(width=[2, 7, 1], seed=5)

    def acc():  # a metric as pykan's tutorials write them (a 0-d tensor)
        return torch.tensor(0.5)

    rt = theirs.fit(ds, opt="Adam", lr=1e-2, steps=5, metrics=[acc])
    ro = ours.fit(ds, opt="Adam", lr=1e-2, steps=5, metrics=[acc])
    assert set(ro) == set(rt) == {"train_loss", "test_loss", "reg", "acc"}
    for key in ("train_loss", "test_loss"):
        assert len(ro[key]) == 5
        np.testing.assert_allclose(
            [float(v) for v in ro[key]], [float(v) for v in rt[key]], rtol=1e-5
        )
        assert isinstance(ro[key][-1].item(), float)
    assert ro["acc"] == [0.5] * 5
    lb = ours.fit(ds, steps=3)  # LBFGS
    assert lb["train_loss"][-1] < ro["train_loss"][-1]


def test_mlp_swap_keeps_the_function_and_auto_swap_lowers_the_cost():
    model = MLP(width=[2, 6, 5, 1], seed=1)
    x = torch.randn(20, 2)
    with torch.no_grad():
        y = model(x)
        model.swap(1, 0, 4)
        assert torch.allclose(model(x), y, atol=1e-6)
        before = float(model.connection_cost)
        model.auto_swap()
        assert float(model.connection_cost) <= before + 1e-6
        assert torch.allclose(model(x), y, atol=1e-6)


def test_mlp_plot_and_bad_input():
    model = MLP(width=[2, 4, 1])
    model(torch.randn(10, 2))
    for metric in ("w", "act", "fa"):
        fig = model.plot(metric=metric)
        assert fig.axes
    import matplotlib.pyplot as plt

    plt.close("all")
    with pytest.raises(ValueError, match="width"):
        MLP(width=[2])
    with pytest.raises(ValueError, match="act"):
        MLP(width=[2, 1], act="relu")
    with pytest.raises(ValueError, match=r"\[batch, 2\]"):
        model(torch.randn(10, 3))
    with pytest.raises(ValueError, match="reg_metric"):
        model.reg("l2", 1.0, 1.0)


def test_multkan_module_names():
    from kan_widget.MultKAN import KAN as K2
    from kan_widget.MultKAN import MultKAN

    assert K2 is KAN and MultKAN is KAN
    ns: dict = {}
    exec("from kan_widget import *", ns)
    for name in ("MultKAN", "get_derivative", "model2param"):
        assert name in ns


# --------------------------------------------------------------------------- KAN node order
def test_kan_swap_and_auto_swap_keep_the_function():
    ds = _dataset(n=100)
    model = KAN([2, 5, 4, 1], seed=0, auto_save=True)
    model.fit(ds, steps=3, lamb=0.01)
    model.fix_symbolic(1, 2, 1, "sin")
    x = ds["test_input"]
    with torch.no_grad():
        y = model(x)
    before = float(model.connection_cost)
    model.swap(1, 0, 3)
    model.swap(2, 1, 2)
    assert model.layers[1].sym_names == {(2, 2): "sin"}  # the symbolic edge moved with its nodes
    with torch.no_grad():
        assert (model(x) - y).abs().max().item() <= 1e-5
    model.auto_swap()
    with torch.no_grad():
        assert (model(x) - y).abs().max().item() <= 1e-5
    assert float(model.connection_cost) <= before + 1e-6
    assert [line.split()[-3] for line in _history(model)[-3:]] == ["swap", "swap", "auto_swap"]
    with pytest.raises(ValueError, match="hidden layer"):
        model.swap(0, 0, 1)
    with pytest.raises(ValueError, match="does not exist"):
        model.swap(1, 0, 9)


def _history(model) -> list[str]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.history()
    return buf.getvalue().splitlines()


def test_update_grid_from_samples_is_update_grid():
    ds = _dataset(n=100)
    a = KAN([2, 3, 1], seed=0, auto_save=False)
    b = a.copy()
    a.update_grid_from_samples(ds["train_input"])
    b.update_grid(ds["train_input"])
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert torch.equal(la.grid, lb.grid) and torch.equal(la.coef, lb.coef)


def test_swap_refuses_multiplication_nodes():
    model = KAN([2, [3, 2], 1], auto_save=False)
    with pytest.raises(ValueError, match="sum nodes only"):
        model.swap(1, 0, 1)
    with pytest.raises(ValueError, match="sum nodes only"):
        model.auto_swap()
    model(torch.rand(8, 2))
    assert [a.shape[1] for a in model.acts] == model.width_in  # acts as pykan's: node values


def test_continual_learning_on_a_fine_grid_keeps_inputs_unscaled():
    """pykan's Example_8: one fifth of [-1, 1] at a time on grid=200. normalize="auto" leaves
    a column spanning two grid intervals alone (it used to map the first fifth onto the whole
    grid, so later fifths fell off it: RMSE 0.34 instead of pykan's 4e-6)."""
    centers = [-0.8, 0.0]
    x = torch.stack([torch.linspace(-0.2, 0.2, 100) + c for c in centers])  # [2, 100]
    y = torch.exp(-((x - torch.tensor(centers)[:, None]) ** 2) * 300)
    model = KAN(
        [1, 1],
        grid=200,
        k=3,
        noise_scale=0.1,
        sp_trainable=False,
        sb_trainable=False,
        base_fun="zero",
        auto_save=False,
    )
    for g in range(2):
        d = {"train_input": x[g][:, None], "train_label": y[g][:, None]}
        d["test_input"], d["test_label"] = d["train_input"], d["train_label"]
        res = model.fit(d, steps=5, update_grid=False)
        assert res["train_loss"][-1] < 1e-3
    assert model.scaling.in_scale == (1.0,) and model.scaling.in_shift == (0.0,)
    with torch.no_grad():  # the first peak is still there: the splines are local
        err = (model(x[0][:, None]) - y[0][:, None]).abs().max().item()
    assert err < 1e-2
