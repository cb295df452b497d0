"""pykan 0.2.8's ``set_mode('ns')``, ``expand_depth``, ``expand_width`` and ``perturb`` (issue 13:
pykan's Physics_4 and API_2 tutorials), against pykan on the same inputs.

pykan writes files where it runs: every test that builds a pykan model runs in ``tmp_path`` with
``auto_save=False``.
"""

from __future__ import annotations

import pytest
import sympy
import torch

from kan_widget import KAN, kanpiler
from kan_widget.symbolic.formula import numeric_edges
from tests.pykan_twin import copy_into_ours

x1, x2, x3 = sympy.symbols("x1 x2 x3")
EXPR = sympy.exp(sympy.sin(x1) + x2**2)


pytestmark = pytest.mark.usefixtures("one_thread")  # in_tmp and one_thread: tests/conftest.py


def _x(n_in: int, B: int = 64, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, n_in, generator=g, dtype=dtype) * 2 - 1) * 0.9


def _spline_on(model: KAN) -> list[int]:
    """Edges whose spline is on, per layer (pykan: ``act_fun[l].mask`` non-zero)."""
    return [int((layer._mask_state()[0] != 0).sum()) for layer in model.layers]


def _pykan_kanpiler(variables, expr):
    from kan.compiler import kanpiler as pk_kanpiler

    m = pk_kanpiler(variables, expr)
    m.auto_save = False
    return m


# ------------------------------------------------------------------------------ set_mode('ns')
def test_ns_forward_matches_pykan(in_tmp):
    kan = pytest.importorskip("kan")
    torch.manual_seed(0)
    pk = kan.KAN(width=[2, 3, 1], grid=5, k=3, seed=0, auto_save=False).double()
    ours = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    copy_into_ours(pk, ours)
    params = [0.8, 0.1, 1.3, -0.2]  # a, b, c, d of c*sin(a*x + b) + d
    pk.fix_symbolic(0, 0, 1, "sin", fit_params_bool=False, verbose=False, log_history=False)
    with torch.no_grad():
        pk.symbolic_fun[0].affine[1, 0] = torch.tensor(params, dtype=torch.float64)
    pk.set_mode(0, 0, 1, "ns", mask_n=0.7)
    ours.layers[0].set_symbolic([0], [1], ["sin"], torch.tensor([params]))
    ours.set_mode(0, 0, 1, "ns", mask_n=0.7)
    x = _x(2, B=200, seed=1)
    torch.testing.assert_close(ours(x), pk(x), atol=1e-7, rtol=1e-6)
    # and the edge alone is spline*0.7 + the function (edge_values, as pykan's postacts)
    phi = ours.layers[0].edge_values(x)[:, 0, 1]
    ours.set_mode(0, 0, 1, "s")
    sym_only = ours.layers[0].edge_values(x)[:, 0, 1]
    torch.testing.assert_close(sym_only, 1.3 * torch.sin(0.8 * x[:, 0] + 0.1) - 0.2)
    assert float((phi - sym_only).detach().abs().max()) > 1e-3  # the spline part was there


def test_ns_formula_trains_and_resets():
    model = KAN([2, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    layer = model.layers[0]
    layer.set_symbolic([0, 1], [0, 0], ["sin", "x^2"], torch.tensor([[1.0, 0, 1, 0]] * 2))
    model.set_mode(0, 0, 0, "ns")
    (f,) = model.formula(simplify=False)
    names = {type(a).__name__ for a in f.atoms(sympy.Function)} | {str(f)}
    assert any("phi_0_0_0" in n for n in names) and "sin" in str(f)
    assert (0, 0, 0) in numeric_edges(model) and (0, 1, 0) not in numeric_edges(model)
    with pytest.raises(ValueError, match="not symbolic yet"):
        model.formula(allow_numeric=False)
    # the spline part trains (its coefficients get gradients), the model stays finite
    x = _x(2, B=128)
    y = torch.sin(x[:, [0]]) + x[:, [1]] ** 2 + 0.3 * x[:, [0]] ** 3
    before = layer.coef.detach().clone()
    hist = model.fit(
        {"train_input": x, "train_label": y, "test_input": x, "test_label": y},
        steps=5,
        update_grid=False,
    )
    assert torch.isfinite(torch.tensor(hist["train_loss"])).all()
    assert not torch.equal(before[0, 0], layer.coef.detach()[0, 0])
    # fixing the edge again makes it the function alone (pykan's fix_symbolic: act mask 0)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    assert float(layer.ns_mask[0, 0]) == 0.0 and (0, 0, 0) not in numeric_edges(model)


def test_ns_without_function_is_the_spline():
    model = KAN([2, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    x = _x(2)
    y = model(x)
    model.set_mode(0, 1, 0, "ns", mask_n=0.5)  # no symbolic function: pykan's '0' adds nothing
    layer = model.layers[0]
    assert not bool(layer.sym_mask.any()) and float(layer.mask[1, 0]) == 0.5
    half = layer.edge_values(x)[:, 1, 0]
    model.set_mode(0, 1, 0, "n")
    torch.testing.assert_close(half * 2, layer.edge_values(x)[:, 1, 0])
    torch.testing.assert_close(model(x), y)
    with pytest.raises(ValueError, match="fix_symbolic it first"):
        model.set_mode(0, 1, 0, "s")


def test_ns_survives_copy_save_and_old_files(tmp_path):
    model = KAN([2, 1], grid=5, k=3, seed=0, dtype=torch.float64, auto_save=False)
    model.layers[0].set_symbolic([0], [0], ["sin"], torch.tensor([[1.0, 0, 1, 0]]))
    model.set_mode(0, 0, 0, "ns", mask_n=0.25)
    x = _x(2)
    path = tmp_path / "m.kan"
    model.save(path)
    loaded = KAN.load(path)
    assert float(loaded.layers[0].ns_mask[0, 0]) == 0.25
    torch.testing.assert_close(loaded(x), model(x))
    # a state saved before the buffer existed: no edge is both
    plain = KAN([2, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    state = {k: v for k, v in plain.state_dict().items() if not k.endswith("ns_mask")}
    from kan_widget.model import _layers_from_state

    layers = _layers_from_state(plain.config, [(2, 1)], [5], state, [{}])
    assert float(layers[0].ns_mask.abs().sum()) == 0.0


# ------------------------------------------------------------------------------ expand / perturb
def test_expand_depth_width_match_pykan_and_keep_the_function(in_tmp):
    pytest.importorskip("kan")
    torch.set_default_dtype(torch.float32)  # pykan's kanpiler follows the default dtype
    pk = _pykan_kanpiler([x1, x2], EXPR)
    ours = kanpiler([x1, x2], EXPR)
    x = _x(2, dtype=torch.float32)
    y_pk, y = pk(x).detach(), ours(x).detach()
    steps = [
        ("expand_depth", ()),
        ("expand_width", (1, 2)),
        ("expand_width", (2, 1, False, 3)),
        ("expand_width", (1, 2, False, [2, 3])),
    ]
    for name, args in steps:
        getattr(pk, name)(*args)
        getattr(ours, name)(*args)
        assert ours.width_in == pk.width_in, name
        assert ours.width_out == pk.width_out, name
        torch.testing.assert_close(pk(x).detach(), y_pk, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(ours(x).detach(), y, atol=1e-6, rtol=1e-6)
    assert ours.n_mult == [n for n in (len(a) for a in pk.mult_arity[1:-1])]
    assert ours.mult_arity == [list(a) for a in pk.mult_arity]
    with pytest.raises(ValueError, match="hidden layer"):
        ours.expand_width(0, 1)
    with pytest.raises(ValueError, match="mult_arity"):
        ours.expand_width(1, 2, sum_bool=False, mult_arity=[2])


@pytest.mark.parametrize("mode", ["non-intrusive", "minimal", "all"])
def test_perturb_switches_on_pykans_edges(in_tmp, mode):
    pytest.importorskip("kan")
    torch.set_default_dtype(torch.float32)
    pk = _pykan_kanpiler([x1, x2], EXPR)
    ours = kanpiler([x1, x2], EXPR)
    x = _x(2, dtype=torch.float32)
    for m in (pk, ours):
        m.expand_depth()
        m.expand_width(1, 2)
        m.get_act(x)
    y = ours(x).detach()
    pk.perturb(mag=0.5, mode=mode)
    ours.perturb(mag=0.5, mode=mode)
    assert _spline_on(ours) == [int((f.mask != 0).sum()) for f in pk.act_fun]
    for l, layer in enumerate(ours.layers):  # and the same weights
        w = layer._mask_state()[0]
        torch.testing.assert_close(w[w != 0], pk.act_fun[l].mask.detach()[w != 0])
    if mode == "non-intrusive":  # the compiled formula is still what the model computes
        torch.testing.assert_close(ours(x).detach(), y, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(pk(x).detach(), y, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="mode not recognized"):
        ours.perturb(mode="some")


def test_perturb_then_fit_corrects_the_formula():
    """A compiled sin(x1) + x2^2 with data that also has 0.5*x1*x2: after perturb the splines
    train and the loss falls well below the compiled formula's."""
    ours = kanpiler([x1, x2], sympy.sin(x1) + x2**2)
    ours.expand_width(1, 1) if ours.depth > 1 else ours.expand_depth()
    ours.expand_width(1, 2)
    x = _x(2, B=400, seed=3, dtype=torch.float32)
    y = torch.sin(x[:, [0]]) + x[:, [1]] ** 2 + 0.5 * x[:, [0]] * x[:, [1]]
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    base = float(((ours(x) - y) ** 2).mean().sqrt())
    ours.perturb()
    hist = ours.fit(data, steps=30)
    assert hist["train_loss"][-1] < 0.3 * base, (base, hist["train_loss"][-1])


def test_expand_on_a_model_with_node_maps_keeps_the_function():
    ours = kanpiler([x1, x2, x3], x1 * x2 + sympy.sin(x3))
    assert ours.has_node_step
    x = _x(3, dtype=torch.float32)
    y = ours(x).detach()
    ours.expand_width(1, 1)
    ours.expand_width(1, 1, sum_bool=False)
    ours.expand_depth()
    ours.perturb()
    torch.testing.assert_close(ours(x).detach(), y, atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------------------ reg
@pytest.mark.parametrize("lambs", [(1.0, 2.0, 0.0, 0.0), (0.5, 1.0, 1.0, 0.5)])
def test_reg_matches_pykan_and_has_gradients(in_tmp, lambs):
    """pykan's ``model.reg(...)`` for hand-written training loops (Physics_2B): the value on
    the last forward's inputs, differentiable in the parameters."""
    kan = pytest.importorskip("kan")
    pk = kan.KAN(width=[2, 3, 1], grid=5, k=3, seed=0, auto_save=False).double()
    ours = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64, auto_save=False)
    copy_into_ours(pk, ours)
    x = _x(2, B=100, seed=4)
    pk.symbolic_enabled = False
    pk(x)
    ours(x)
    r_pk = pk.reg("edge_forward_spline_n", *lambs)
    r = ours.reg("edge_forward_spline_n", *lambs)
    assert abs(float(r) - float(r_pk)) <= 1e-8 * max(1.0, abs(float(r_pk)))
    r.backward()
    assert ours.layers[0].coef.grad is not None and float(ours.layers[0].coef.grad.abs().sum()) > 0
    assert float(ours.get_reg("edge_forward_spline_n", *lambs)) == pytest.approx(float(r))
    assert float(ours.reg("edge_forward_spline_n", *lambs, entropy_offset=1e-4)) == float(r)
    with pytest.raises(ValueError, match="entropy_offset"):
        ours.reg(entropy_offset=1e-3)
    with pytest.raises(ValueError, match="reg_metric"):
        ours.reg("edge_backward", 1.0, 2.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="forward pass"):
        KAN([2, 1]).reg()
