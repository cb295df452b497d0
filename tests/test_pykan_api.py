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


pytestmark = pytest.mark.usefixtures("one_thread")


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


@pytest.mark.parametrize("symbolic", [False, True])
def test_torch_func_transforms(symbolic):
    """torch.func (hessian = jacfwd(jacrev), vmap) runs the layer's plain-ops definition: the
    same Hessians as the double backward through the fused kernel."""
    m = _model(symbolic=symbolic)
    h = _hessian(m, POINTS)

    def f(v):
        return m(v[None])[0, 0]

    torch.testing.assert_close(torch.func.vmap(torch.func.hessian(f))(POINTS), h)
    torch.testing.assert_close(torch.func.hessian(f)(POINTS[1]), h[1])
    torch.testing.assert_close(torch.func.vmap(torch.func.jacrev(f))(POINTS), _grad(m, POINTS))
    # nothing made inside a transform is kept: ordinary calls afterwards still work
    torch.testing.assert_close(_hessian(m, POINTS), h)
    assert m.cache_data is None or not torch._C._functorch.is_functorch_wrapped_tensor(m.cache_data)


# ---------------------------------------------------------------------- default dtype
@pytest.fixture
def default_float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_models_and_datasets_follow_the_default_dtype(default_float64):
    from kan_widget import create_dataset

    m = KAN([2, 3, 1])
    assert m.dtype == F64 and m.config.dtype == F64
    assert all(p.dtype == F64 for p in m.parameters())
    ds = create_dataset(lambda x: x[:, :1] * x[:, 1:], n_var=2, train_num=20, test_num=5)
    assert all(v.dtype == F64 for v in ds.values())
    m.fit(ds, steps=2)
    assert KAN([2, 1], dtype=torch.float32).dtype == torch.float32  # explicit wins
    assert create_dataset(lambda x: x, n_var=1, dtype=torch.float32)["train_input"].dtype == (
        torch.float32
    )


def test_an_unusable_default_dtype_is_named(default_float64):
    torch.set_default_dtype(torch.float16)
    with pytest.raises(ValueError, match=r"pass dtype=torch\.float32"):
        KAN([2, 1])
    assert KAN([2, 1], dtype=torch.float32).dtype == torch.float32


# ---------------------------------------------------------------------- classification
def _moons(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    return x, (x[:, 1] > 0.5 * torch.sin(3 * x[:, 0])).long()


def test_class_index_labels_with_cross_entropy_as_pykans_example():
    x, y = _moons()
    xt, yt = _moons(seed=1)
    ds = {"train_input": x, "train_label": y, "test_input": xt, "test_label": yt}
    model = KAN([2, 2], grid=3, k=3, seed=2024)

    def train_acc():
        return torch.mean(
            (torch.argmax(model(ds["train_input"]), dim=1) == ds["train_label"]).float()
        )

    def test_acc():
        return torch.mean(
            (torch.argmax(model(ds["test_input"]), dim=1) == ds["test_label"]).float()
        )

    results = model.fit(
        ds, opt="LBFGS", steps=5, metrics=(train_acc, test_acc), loss_fn=torch.nn.CrossEntropyLoss()
    )
    for name in ("train_acc", "test_acc"):
        assert len(results[name]) == 5 and all(type(v) is float for v in results[name])
    assert results["train_acc"][-1] > 0.8  # a margin: the boundary is a smooth curve
    ce = float(torch.nn.CrossEntropyLoss()(model(x), y).detach())
    assert results["train_loss"][-1] == pytest.approx(ce**0.5, rel=1e-4)
    # numpy class indices too
    model.fit(
        {"train_input": x.numpy(), "train_label": y.numpy()},
        steps=1,
        loss_fn=torch.nn.CrossEntropyLoss(),
    )


def test_bad_labels_keep_a_clear_error():
    x, y = _moons(50)
    model = KAN([2, 2])
    ce = torch.nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"class indices from 0 to 2.*2 outputs"):
        model.fit({"train_input": x, "train_label": y * 2}, steps=1, loss_fn=ce)
    with pytest.raises(ValueError, match=r"class indices from 0 to 2.*2 outputs"):
        model.fit({"train_input": x, "train_label": y * 2}, steps=1)  # detected: classification
    with pytest.raises(ValueError, match="columns"):  # floats of the wrong width
        model.fit({"train_input": x, "train_label": y.float()}, steps=1, loss_fn=ce)
    with pytest.raises(ValueError, match="columns"):
        model.fit({"train_input": x, "train_label": torch.zeros(50, 3)}, steps=1)


def test_metrics_record_floats():
    from kan_widget.training import _metric_value

    assert _metric_value(torch.tensor(0.5)) == 0.5 and type(_metric_value(torch.tensor(1))) is int
    import numpy as np

    assert type(_metric_value(np.float32(0.25))) is float
    assert _metric_value("text") == "text"


# ---------------------------------------------------------------------- the last forward
def test_fix_symbolic_prune_and_refine_right_after_a_forward():
    model = KAN([2, 3, 1], seed=0)
    x = torch.rand(100, 2) * 2 - 1
    with pytest.raises(ValueError, match="no data"):
        model.fix_symbolic(0, 0, 0, "sin")
    model(x)
    assert torch.equal(model.cache_data, x) and torch.equal(model.train_input, x)
    r2 = model.fix_symbolic(0, 0, 0, "x^2")
    assert isinstance(r2, float)
    assert model.prune(node_th=0.0).width == [2, 3, 1]
    assert model.refine(5).grid == 5
    # fit's inputs take precedence over later forwards (scores on the training data)
    ds = {"train_input": x, "train_label": x[:, :1] ** 2}
    model.fit(ds, steps=1)
    model(torch.zeros(3, 2))
    assert model.train_input is not None and model.train_input.shape[0] == 100


def test_save_act_false_remembers_nothing():
    model = KAN([2, 1], save_act=False)
    model(torch.rand(10, 2))
    assert model.cache_data is None and model.train_input is None
    model.save_act = True
    model(torch.rand(10, 2))
    assert model.cache_data is not None and model.config.save_act


# ---------------------------------------------------------------------- constructor options
def test_sparse_init_is_pykans_mask():
    from kan_widget.layer import sparse_mask

    kan = pytest.importorskip("kan")
    from kan.utils import sparse_mask as pykan_mask

    for n_in, n_out in [(2, 5), (5, 2), (4, 4), (3, 7), (10, 3), (1, 1)]:
        assert torch.equal(sparse_mask(n_in, n_out), pykan_mask(n_in, n_out)), (n_in, n_out)
    m = KAN([3, 7, 2], sparse_init=True)
    for layer in m.layers:
        torch.testing.assert_close(layer.scale_sp.detach(), layer.mask / layer.in_dim**0.5)
    assert int(m.layers[0].mask.sum()) < 21
    del kan


def test_sp_and_sb_trainable():
    x = torch.rand(64, 2) * 2 - 1
    ds = {"train_input": x, "train_label": torch.sin(3 * x[:, :1]) + x[:, 1:]}
    m = KAN([2, 3, 1], sp_trainable=False, sb_trainable=False)
    before = [(l.scale_sp.clone(), l.scale_base.clone(), l.coef.clone()) for l in m.layers]
    m.fit(ds, steps=3)
    for layer, (sp, sb, coef) in zip(m.layers, before):
        assert torch.equal(layer.scale_sp, sp) and torch.equal(layer.scale_base, sb)
        assert not torch.equal(layer.coef, coef)
    assert not m.prune(node_th=0.0).layers[0].scale_sp.requires_grad


def test_symbolic_enabled_false_leaves_symbolic_edges_out():
    m = KAN([1, 1], dtype=F64)
    x = torch.linspace(-1, 1, 11, dtype=F64)[:, None]
    m.layers[0].set_symbolic([0], [0], ["sin"], torch.tensor([[1.0, 0.0, 2.0, 0.5]]))
    torch.testing.assert_close(m(x), 2 * torch.sin(x) + 0.5)
    m.symbolic_enabled = False
    assert torch.equal(m(x), torch.zeros_like(x)) and not m.config.symbolic_enabled
    m2 = KAN([1, 1], symbolic_enabled=False)
    assert not m2.layers[0].symbolic_enabled


# ---------------------------------------------------------------------- singularities
def test_singularity_avoiding_forms_are_pykans():
    pytest.importorskip("kan")
    from kan.utils import SYMBOLIC_LIB as PYKAN_LIB

    from kan_widget.singular import SINGULAR

    x = torch.cat(
        [torch.linspace(-3, 3, 601, dtype=F64), torch.tensor([0.0, 1e-9, -1e-9, 1.0, -1.0])]
    )
    for name, ours in SINGULAR.items():
        if name == "x^1.5":
            # pykan's form returns |x|**1.5 itself, not a pair, so its [1] is one sample (a bug)
            torch.testing.assert_close(ours(x, 10.0), x.abs() ** 1.5)
            continue
        for y_th in (1.0, 10.0, 1000.0):
            # the value is the last item (pykan's own [1] takes tan's delta: a bug there)
            theirs = PYKAN_LIB[name][3](x, torch.tensor(y_th, dtype=F64))[-1]
            torch.testing.assert_close(ours(x, y_th), theirs.to(F64), msg=f"{name} {y_th}")


def test_forward_and_fit_with_singularity_avoiding():
    m = KAN([1, 1], dtype=F64)
    m.layers[0].set_symbolic([0], [0], ["1/x"], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    x = torch.tensor([[1.0], [-0.01]], dtype=F64)
    torch.testing.assert_close(m(x)[:, 0], torch.tensor([1.0, -100.0], dtype=F64))
    capped = m(x, singularity_avoiding=True, y_th=1.0)[:, 0]
    torch.testing.assert_close(capped, torch.tensor([1.0, -0.01], dtype=F64))
    assert m.layers[0].y_th is None  # only within the call
    ds = {"train_input": torch.rand(50, 1, dtype=F64) + 0.5}
    ds["train_label"] = 2 / ds["train_input"]
    m.fit(ds, steps=3, singularity_avoiding=True, y_th=100.0)
    assert m.layers[0].y_th is None
    with pytest.raises(ValueError, match="y_th"):
        m(x, singularity_avoiding=True, y_th=-1.0)


# ---------------------------------------------------------------------- video frames
def test_save_fig_writes_frames_only_when_asked(in_tmp, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    x = torch.rand(32, 2) * 2 - 1
    ds = {"train_input": x, "train_label": x[:, :1] * x[:, 1:]}
    m = KAN([2, 2, 1])
    m.fit(ds, steps=2)
    assert list(in_tmp.iterdir()) == []
    if not callable(getattr(m, "plot", None)):
        with pytest.warns(RuntimeWarning, match="no model.plot"):
            m.fit(ds, steps=2, save_fig=True, img_folder=str(in_tmp / "video"))
        assert not (in_tmp / "video").exists()

        import matplotlib.pyplot as plt

        def plot(self=m, **kw):
            fig = plt.figure()
            plt.title(kw["title"])
            return fig

        monkeypatch.setattr(m, "plot", plot, raising=False)
    m.fit(ds, steps=3, save_fig=True, save_fig_freq=2, img_folder=str(in_tmp / "video"))
    assert sorted(p.name for p in (in_tmp / "video").iterdir()) == ["0.jpg", "2.jpg"]


# ---------------------------------------------------------------------- kan.spline
def test_pykans_spline_functions():
    pytest.importorskip("kan")
    from kan import spline as pk

    from kan_widget import spline

    G, k = 5, 3
    g1 = torch.linspace(-1, 1, steps=G + 1)[None, :]
    grid = spline.extend_grid(g1, k_extend=k)
    assert torch.equal(grid, pk.extend_grid(g1, k_extend=k))
    # API_5_grid: one grid row for 1001 inputs at once
    x = torch.linspace(-1, 1, steps=1001)[None, :]
    b = spline.B_batch(x, grid, k=k)
    assert b.shape == (1, 1001, G + k)
    torch.testing.assert_close(b, pk.B_batch(x, grid, k=k), rtol=1e-5, atol=1e-6)
    # per-input grids, curves and the least-squares inverse
    xs = torch.rand(200, 2, dtype=F64) * 2 - 1
    grids = spline.extend_grid(torch.linspace(-1, 1, G + 1, dtype=F64).expand(2, G + 1), k)
    coef = torch.randn(2, 3, G + k, dtype=F64)
    y = spline.coef2curve(xs, grids, coef, k)
    assert y.shape == (200, 2, 3)
    torch.testing.assert_close(y, pk.coef2curve(xs, grids, coef, k))
    torch.testing.assert_close(spline.curve2coef(xs, y, grids, k), coef, rtol=1e-5, atol=1e-6)
