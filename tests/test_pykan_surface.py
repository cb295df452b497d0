"""pykan 0.2.8's API surface on kan_widget: the same names take the same arguments and return the
same shapes, and give the same numbers where the math is the same.

Each test calls pykan and kan_widget on the same inputs. pykan writes files where it runs and
reseeds the global RNGs, so pykan runs inside ``tmp_path`` with the RNG state put back.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy
import torch

kan = pytest.importorskip("kan")
import kan.utils as pku  # noqa: E402

import kan_widget  # noqa: E402
import kan_widget.utils as ku  # noqa: E402
from kan_widget import KAN, checkpoints  # noqa: E402

F2 = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731


@pytest.fixture(autouse=True)
def _one_thread_and_rng(tmp_path, monkeypatch):
    """pykan in a scratch directory, its global reseeding undone; one thread (tiny tensors)."""
    monkeypatch.chdir(tmp_path)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.random.fork_rng():
        state = np.random.get_state()
        yield
        np.random.set_state(state)
    torch.set_num_threads(n)


def _names(fn) -> list[str]:
    """Parameter names, without ``self`` and keyword-only extras (ours may add those)."""
    ps = inspect.signature(fn).parameters.values()
    return [p.name for p in ps if p.name != "self" and p.kind is not p.KEYWORD_ONLY]


def _same_signature(ours, theirs):
    assert _names(ours) == _names(theirs), (ours, _names(ours), _names(theirs))


def _pykan(width, **kw):
    kw.setdefault("auto_save", False)
    return kan.KAN(width=list(width), **kw)


# ---------------------------------------------------------------------- imports
# names pykan's tutorials take from ``from kan import *``
STAR_NAMES = [
    "torch", "np", "nn", "plt", "sympy", "nsimplify", "copy", "os", "tqdm", "KAN", "LBFGS",
    "SYMBOLIC_LIB", "create_dataset", "create_dataset_from_data", "ex_round", "add_symbolic",
    "augment_input", "sparse_mask", "fit_params", "batch_jacobian", "batch_hessian",
]  # fmt: skip
UTILS_NAMES = [
    "create_dataset", "create_dataset_from_data", "ex_round", "augment_input", "sparse_mask",
    "add_symbolic", "fit_params", "batch_jacobian", "batch_hessian", "SYMBOLIC_LIB",
]  # fmt: skip


def test_star_import_gives_pykans_names():
    theirs: dict = {}
    exec("from kan import *", theirs)
    ours: dict = {}
    exec("from kan_widget import *", ours)
    for name in STAR_NAMES:
        assert name in theirs, name
        assert name in ours, name
    assert ours["torch"] is torch and ours["np"] is np and ours["KAN"] is KAN
    for name in UTILS_NAMES:
        assert hasattr(pku, name) and hasattr(ku, name), name
        if callable(getattr(pku, name)) and name != "SYMBOLIC_LIB":
            _same_signature(getattr(ku, name), getattr(pku, name))


def test_package_import_stays_light():
    code = (
        "import sys, kan_widget; "
        "print(sorted(m for m in ('matplotlib', 'sympy', 'ipywidgets', 'pandas') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(kan_widget.__file__))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ---------------------------------------------------------------------- datasets
@pytest.mark.parametrize(
    ("kw", "f"),
    [
        ({"n_var": 2}, F2),
        ({"n_var": 2, "f_mode": "row"}, lambda x: x[0] * x[1]),
        ({"n_var": 2, "ranges": [[0.2, 5], [-1, 3]], "train_num": 50, "test_num": 30}, F2),
        ({"n_var": 2, "normalize_input": True, "normalize_label": True, "seed": 4}, F2),
    ],
)
def test_create_dataset_same_samples(kw, f):
    _same_signature(kan_widget.create_dataset, pku.create_dataset)
    theirs = pku.create_dataset(f, **kw)
    ours = kan_widget.create_dataset(f, **kw)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key].shape == theirs[key].shape, key
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-6, atol=1e-6)


def test_create_dataset_bad_f_mode():
    with pytest.raises(ValueError, match="f_mode"):
        kan_widget.create_dataset(F2, f_mode="rows")


def test_create_dataset_from_data_shapes():
    _same_signature(kan_widget.create_dataset_from_data, pku.create_dataset_from_data)
    x, y = torch.rand(100, 3), torch.rand(100, 2)
    theirs = pku.create_dataset_from_data(x, y, train_ratio=0.7)
    ours = kan_widget.create_dataset_from_data(x, y, train_ratio=0.7, seed=0)
    for key in theirs:
        assert ours[key].shape == theirs[key].shape, key
    # a split of the rows: every row once, in one of the two halves
    rows = torch.cat([ours["train_input"], ours["test_input"]])
    assert torch.equal(rows.sort(0).values, x.sort(0).values)
    again = kan_widget.create_dataset_from_data(x, y, train_ratio=0.7, seed=0)
    assert torch.equal(again["train_label"], ours["train_label"])
    with pytest.raises(ValueError, match="rows"):
        kan_widget.create_dataset_from_data(x, y[:50])


# ---------------------------------------------------------------------- utils
def test_utils_same_numbers():
    for d in [(3, 5), (5, 3), (4, 4), (1, 6)]:
        assert torch.equal(ku.sparse_mask(*d), pku.sparse_mask(*d)), d
    x1, x2 = sympy.symbols("x_1 x_2")
    ex = 1.234567 * sympy.sin(2.71828 * x1) + 0.333333 * x2**2
    assert str(ku.ex_round(ex, 3)) == str(pku.ex_round(ex, 3))
    xs = torch.rand(20, 2, dtype=torch.float64)
    aux = [x1 * x2, x1 + sympy.sin(x2)]
    torch.testing.assert_close(
        ku.augment_input([x1, x2], aux, xs), pku.augment_input([x1, x2], aux, xs)
    )

    def g(x):
        return (x[:, [0]] ** 2 * x[:, [1]]).sum(1, keepdim=True)

    xs = torch.rand(8, 2)
    torch.testing.assert_close(ku.batch_jacobian(g, xs), pku.batch_jacobian(g, xs))
    torch.testing.assert_close(ku.batch_hessian(g, xs), pku.batch_hessian(g, xs))


def test_fit_params_shape_and_quality():
    x = torch.linspace(-2, 2, 101)
    y = 2 * torch.sin(3 * x + 0.5) + 1
    p_t, r2_t = pku.fit_params(x, y, torch.sin, verbose=False)
    p_o, r2_o = ku.fit_params(x, y, torch.sin, verbose=False)
    assert p_o.shape == p_t.shape == (4,)
    assert float(r2_o) > 0.9999 and float(r2_t) > 0.9999
    a, b, c, d = p_o.tolist()
    torch.testing.assert_close(c * torch.sin(a * x + b) + d, y, atol=1e-3, rtol=0)


def test_add_symbolic_pykans_arguments():
    _same_signature(ku.add_symbolic, pku.add_symbolic)
    ku.add_symbolic("J0_test", torch.special.bessel_j0, c=1)
    try:
        assert "J0_test" in kan_widget.SYMBOLIC_LIB
        model = KAN([1, 1], grid=5, seed=0, auto_save=False)
        x = torch.linspace(-3, 3, 200)[:, None]
        model.fit({"train_input": x, "train_label": torch.special.bessel_j0(x)}, steps=20)
        name, fun, _r2, c = model.suggest_symbolic(0, 0, 0, lib=["J0_test", "x"], verbose=False)
        assert (name, fun, c) == ("J0_test", torch.special.bessel_j0, 1)
    finally:
        del kan_widget.SYMBOLIC_LIB["J0_test"]


# ---------------------------------------------------------------------- model methods
SAME_METHODS = [
    "symbolic_formula", "suggest_symbolic", "get_act", "get_fun", "get_range", "remove_node",
    "remove_edge", "rewind", "checkout", "saveckpt", "loadckpt", "log_history", "history",
    "prune_edge", "unfix_symbolic",
]  # fmt: skip


@pytest.mark.parametrize("name", SAME_METHODS)
def test_method_signatures(name):
    _same_signature(getattr(KAN, name), getattr(kan.KAN, name))


def test_layer_accessors():
    pk = _pykan([2, 3, 5, 1], grid=4, k=3)
    ours = KAN([2, 3, 5, 1], grid=4, k=3)
    assert len(ours.act_fun) == len(pk.act_fun) and len(ours.symbolic_fun) == len(pk.symbolic_fun)
    for a, b in zip(ours.act_fun, pk.act_fun, strict=True):
        assert (a.in_dim, a.out_dim) == (b.in_dim, b.out_dim)
        for t in ("coef", "mask", "scale_base", "scale_sp"):
            assert getattr(a, t).shape == getattr(b, t).shape, t
    pk.fix_symbolic(1, 2, 4, "sin", fit_params_bool=False, verbose=False)
    ours.fix_symbolic(1, 2, 4, "sin", fit_params=False, x=torch.rand(10, 2))
    for a, b in zip(ours.symbolic_fun, pk.symbolic_fun, strict=True):
        assert (a.in_dim, a.out_dim) == (b.in_dim, b.out_dim)
        assert a.funs_name == b.funs_name
        assert torch.equal(a.mask, b.mask)
        assert a.affine.shape == b.affine.shape
    torch.testing.assert_close(ours.symbolic_fun[1].affine[4, 2], pk.symbolic_fun[1].affine[4, 2])


def _pair(width=(2, 3, 1)):
    """pykan's model and ours with the same tensors (same ``[in, out, ...]`` layout)."""
    pk = _pykan(width, grid=5, k=3, seed=0)
    ours = KAN(list(width), grid=5, k=3, seed=0)
    with torch.no_grad():
        for layer, src in zip(ours.layers, pk.act_fun, strict=True):
            layer.grid = src.grid.detach().clone()
            layer.coef.data = src.coef.detach().clone()
            layer.scale_base.copy_(src.scale_base)
            layer.scale_sp.copy_(src.scale_sp)
    return pk, ours


def test_get_act_get_range_get_fun_same_numbers():
    pk, ours = _pair()
    ds = kan_widget.create_dataset(F2, n_var=2, train_num=200, test_num=10)
    pk.get_act(ds)
    ours.get_act(ds)
    torch.testing.assert_close(ours.cache_data, pk.cache_data)
    for l, i, j in [(0, 0, 1), (0, 1, 2), (1, 2, 0)]:
        theirs = pk.get_range(l, i, j, verbose=False)
        mine = ours.get_range(l, i, j, verbose=False)
        assert len(mine) == 4 and all(isinstance(v, np.ndarray) and v.shape == () for v in mine)
        np.testing.assert_allclose(np.array(mine), np.array(theirs), rtol=1e-5, atol=1e-6)
        xt, yt = pk.get_fun(l, i, j)
        xo, yo = ours.get_fun(l, i, j)
        assert xo.shape == xt.shape and yo.shape == yt.shape
        np.testing.assert_allclose(xo, xt, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(yo, yt, rtol=1e-4, atol=1e-5)
    for name in ("spline_preacts", "spline_postacts"):
        for a, b in zip(getattr(ours, name), getattr(pk, name), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize(("l", "i", "mode"), [(1, 0, "all"), (1, 2, "up"), (1, 1, "down")])
def test_remove_node_same_masks(l, i, mode):
    pk, ours = _pair((2, 3, 2))
    pk.remove_node(l, i, mode=mode, log_history=False)
    ours.remove_node(l, i, mode=mode)
    for a, b in zip(ours.act_fun, pk.act_fun, strict=True):
        assert torch.equal(a.mask, b.mask)


def test_remove_node_bad_input():
    model = KAN([2, 3, 1])
    with pytest.raises(ValueError, match="mode"):
        model.remove_node(1, 0, mode="sideways")
    with pytest.raises(ValueError, match="does not exist"):
        model.remove_node(1, 3)
    with pytest.raises(ValueError, match="incoming"):
        model.remove_node(0, 0, mode="down")


def _fixed_pair(var=None):
    """pykan's model and ours, every edge fixed to the same function with a=1, b=0, c=1, d=0."""
    pk, ours = _pair((2, 2, 1))
    x = torch.rand(50, 2)
    pk.get_act(x)
    funs = {(0, 0, 0): "sin", (0, 0, 1): "x^2", (0, 1, 0): "exp", (0, 1, 1): "x", (1, 0, 0): "x"}
    funs[(1, 1, 0)] = "x^2"
    for (l, i, j), f in funs.items():
        pk.fix_symbolic(l, i, j, f, fit_params_bool=False, verbose=False, log_history=False)
        ours.fix_symbolic(l, i, j, f, fit_params=False, x=x)
    return pk, ours


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"var": ["p", "q"]},
        {"normalizer": ([0.5, -1.0], [2.0, 3.0])},
        {"output_normalizer": ([0.25], [4.0])},
    ],
)
def test_symbolic_formula_same_shape_and_formula(kw):
    pk, ours = _fixed_pair()
    theirs = pk.symbolic_formula(**kw)
    mine = ours.symbolic_formula(**kw)
    assert isinstance(mine, tuple) and len(mine) == 2
    assert len(mine[0]) == len(theirs[0]) == 1
    assert [str(v) for v in mine[1]] == [str(v) for v in theirs[1]]
    # the same function of the same symbols
    f_t = sympy.lambdify(theirs[1], theirs[0][0])
    f_o = sympy.lambdify(mine[1], mine[0][0])
    for p in [(0.3, -0.2), (-0.7, 0.5), (0.1, 0.9)]:
        assert f_o(*p) == pytest.approx(float(f_t(*p)), rel=1e-6)
    # model.symbolic_formula()[0][0] is a sympy expression; formula() the clean list, the same
    # function (simplified)
    assert isinstance(mine[0][0], sympy.Expr)
    if "normalizer" not in kw and "output_normalizer" not in kw:
        (clean,) = ours.formula(var=kw.get("var"))
        f_c = sympy.lambdify(mine[1], clean)
        for p in [(0.3, -0.2), (-0.7, 0.5)]:
            assert f_c(*p) == pytest.approx(f_o(*p), rel=1e-6)


def test_symbolic_formula_bad_normalizer():
    _, ours = _fixed_pair()
    with pytest.raises(ValueError, match="normalizer must hold 2 means"):
        ours.symbolic_formula(normalizer=([0.0], [1.0]))


def test_suggest_symbolic_shape():
    model = KAN([1, 1], grid=5, seed=0, auto_save=False)
    x = torch.linspace(-1, 1, 200)[:, None]
    model.fit({"train_input": x, "train_label": torch.sin(2 * x)}, steps=30)
    name, fun, r2, _c = model.suggest_symbolic(0, 0, 0, verbose=False)
    assert isinstance(name, str) and callable(fun) and isinstance(r2, float)
    assert name == "sin" and r2 > 0.999
    assert fun is kan_widget.SYMBOLIC_LIB[name].torch_fn
    rows = model.rank_symbolic(0, 0, 0, topk=3)
    assert rows[0].name == "sin" and len(rows) == 3
    # pykan's loss functions: its ranking formula on our fits
    lib = ["x", "x^2", "sin", "tanh"]
    all_rows = model.rank_symbolic(0, 0, 0, lib=lib, topk=4)
    by_loss = min(all_rows, key=lambda r: 0.5 * r.complexity + 0.5 * np.log2(1 + 1e-5 - r.r2))
    got = model.suggest_symbolic(
        0,
        0,
        0,
        lib=lib,
        verbose=False,
        weight_simple=0.5,
        r2_loss_fun=lambda x: np.log2(1 + 1e-5 - x),
    )
    assert got[0] == by_loss.name


# ---------------------------------------------------------------------- versions
def test_version_names_as_pykans(tmp_path):
    ds = kan_widget.create_dataset(F2, n_var=2, train_num=100, test_num=10)
    os.chdir(tmp_path)
    pk = kan.KAN(width=[2, 3, 1], grid=3, k=3, seed=1, auto_save=True)
    pk.fit(ds, steps=1, update_grid=False)
    pk = pk.prune()
    pk_names = [(pk.round, int(pk.state_id))]
    pk = pk.rewind("0.1")
    pk_names.append((pk.round, int(pk.state_id)))
    pk.fit(ds, steps=1, update_grid=False)
    pk_names.append((pk.round, int(pk.state_id)))

    ours_dir = tmp_path / "ours"
    ours_dir.mkdir()
    os.chdir(ours_dir)
    m = KAN([2, 3, 1], grid=3, k=3, seed=1)
    assert (m.round, m.state_id) == (0, 0)
    m.fit(ds, steps=1, update_grid=False)
    m = m.prune()
    names = [(m.round, m.state_id)]
    m = m.rewind("0.1")
    names.append((m.round, m.state_id))
    m.fit(ds, steps=1, update_grid=False)
    names.append((m.round, m.state_id))
    assert names == pk_names == [(0, 2), (1, 1), (1, 2)]
    assert list(os.listdir(ours_dir)) == []  # in memory: nothing written
    assert m.width == [2, 3, 1]  # version 0.1 is the model before pruning


def test_rewind_restores_the_state_and_refuses_unknown_names():
    ds = kan_widget.create_dataset(F2, n_var=2, train_num=100, test_num=10)
    m = KAN([2, 3, 1], grid=3, seed=1)
    m.fit(ds, steps=2)
    after_fit = m(ds["test_input"])
    m.fix_symbolic(0, 0, 0, "sin")
    m.remove_edge(0, 1, 1)
    back = m.rewind("0.1")
    torch.testing.assert_close(back(ds["test_input"]), after_fit, rtol=0, atol=0)
    assert back.layers[0].mask[1, 1] == 1 and not back.layers[0].sym_names
    with pytest.raises(ValueError, match=r"no model version '2\.0'.*'0\.0', '0\.1', '0\.2'"):
        m.rewind("2.0")
    quiet = KAN([2, 1], auto_save=False)
    quiet.fit(ds, steps=1)
    with pytest.raises(ValueError, match="versions that exist: none"):
        quiet.rewind("0.0")


def test_versions_are_bounded():
    m = KAN([2, 1])
    checkpoints.ensure(m).max_versions = 3
    for _ in range(5):
        m.remove_edge(0, 0, 0)
    assert list(checkpoints.ensure(m).versions) == ["0.3", "0.4", "0.5"]
    with pytest.raises(ValueError, match="dropped"):
        m.rewind("0.1")


def test_ckpt_path_writes_only_when_given(tmp_path):
    KAN([2, 1], ckpt_path="./model").remove_edge(0, 0, 0)  # pykan's default: never written
    KAN.from_config(KAN([2, 1]).config, [2, 1])  # the widget's Reset: nothing written
    assert os.listdir(tmp_path) == []
    folder = tmp_path / "ck"
    m = KAN([2, 3, 1], ckpt_path=str(folder))
    m.remove_edge(0, 0, 0)
    assert sorted(os.listdir(folder)) == ["0.0.safetensors", "0.1.safetensors", "history.txt"]
    loaded = KAN.loadckpt(str(folder / "0.1"))
    assert loaded.layers[0].mask[0, 0] == 0
    m.saveckpt(str(tmp_path / "mark"))
    assert KAN.loadckpt(str(tmp_path / "mark")).width == [2, 3, 1]
    assert (tmp_path / "mark.safetensors").is_file()


def test_spline_module_same_numbers():
    import kan.spline as pks

    import kan_widget.spline as ks

    _same_signature(ks.B_batch, pks.B_batch)
    _same_signature(ks.extend_grid, pks.extend_grid)
    grid = torch.linspace(-1, 1, 6)[None, :].repeat(3, 1)
    assert torch.equal(ks.extend_grid(grid, k_extend=3), pks.extend_grid(grid, k_extend=3))
    ext = ks.extend_grid(grid, 3)
    x = torch.rand(50, 3) * 2 - 1
    torch.testing.assert_close(ks.B_batch(x, ext, k=3), pks.B_batch(x, ext, k=3))


def test_fix_symbolic_takes_pykans_keywords_and_set_mode():
    pk, ours = _pair((2, 2, 1))
    x = torch.rand(30, 2)
    pk.get_act(x)
    pk.fix_symbolic(0, 1, 0, "x^2", fit_params_bool=False, verbose=False, log_history=False)
    ours.fix_symbolic(0, 1, 0, "x^2", fit_params_bool=False, a_range=(-5, 5), x=x)
    torch.testing.assert_close(ours.symbolic_fun[0].affine[0, 1], pk.symbolic_fun[0].affine[0, 1])
    ours.set_mode(0, 1, 0, "n")
    assert ours.symbolic_fun[0].funs_name[0][1] == "0" and ours.act_fun[0].mask[1, 0] == 1
    ours.set_mode(0, 0, 1, "off")
    assert ours.act_fun[0].mask[0, 1] == 0
    ours.set_mode(0, 1, 0, "ns", mask_n=0.5)  # no function: the spline, weighted (pykan's '0')
    assert ours.act_fun[0].mask[1, 0] == 0.5 and ours.symbolic_fun[0].funs_name[0][1] == "0"
    with pytest.raises(ValueError, match="fix_symbolic it first"):
        ours.set_mode(0, 1, 0, "s")
    _same_signature(KAN.set_mode, kan.KAN.set_mode)


def test_refine_takes_pykan_new_grid_and_the_grid_keyword():
    """pykan's ``refine(new_grid)``; its own Example_3 calls ``refine(grid=...)``: both work."""
    import torch

    from kan_widget import KAN, create_dataset

    data = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=64, test_num=16)
    m = KAN([2, 3, 1], dtype=torch.float64)
    m.fit(data, steps=1)
    assert m.refine(7).config.grid == 7
    assert m.refine(grid=5).config.grid == 5
    with pytest.raises(TypeError, match="not both"):
        m.refine(5, grid=3)
