"""Your own data end to end: tables in, the model's scaling, formulas in the data's units.

Statistical figures (the diabetes table's R², the sqrt example's RMSE as a fraction of the label
spread) are printed by bench/bench_tables.py; here only what holds with a wide margin.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
import sympy
import torch

from kan_widget import KAN, create_dataset
from kan_widget.symbolic import formula as formula_mod
from kan_widget.symbolic.formula import FormulaNotSimplified, formula, symbolic_formula
from kan_widget.tables import Scaling, create_dataset_from_data, fit_scaling, symbol_names


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(50, 100, n)
    age = rng.uniform(20, 70, n)
    return pd.DataFrame({"body mass": mass, "age": age, "y": 3.0 * mass - 2.0 * age + 500.0})


def _canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


# ---------------------------------------------------------------------- tables in
def test_dataframe_split_names_and_units():
    df = _table()
    d = create_dataset_from_data(df, "y", train_ratio=0.75, seed=3)
    assert d["in_vars"] == ["body_mass", "age"] and d["out_vars"] == ["y"]
    assert d["train_input"].shape == (90, 2) and d["test_input"].shape == (30, 2)
    rows = d["train_rows"].numpy()
    # the data stay in the user's units, row for row
    assert np.allclose(d["train_input"][:, 0].numpy(), df["body mass"].to_numpy()[rows])
    assert np.allclose(d["train_label"][:, 0].numpy(), df["y"].to_numpy()[rows], rtol=1e-6)
    assert sorted(np.concatenate([rows, d["test_rows"].numpy()]).tolist()) == list(range(120))
    # the same seed, the same split; shuffle=False keeps the order (first rows train)
    again = create_dataset_from_data(df, "y", train_ratio=0.75, seed=3)
    assert torch.equal(again["train_input"], d["train_input"])
    ordered = create_dataset_from_data(df.drop(columns="y"), df["y"], shuffle=False)
    assert ordered["train_rows"].tolist() == list(range(96))
    assert ordered["out_vars"] == ["y"]


def test_dict_of_series_and_arrays():
    df = _table(40)
    d = create_dataset_from_data({"m": df["body mass"], "a": df["age"].to_numpy()}, df[["y"]])
    assert d["in_vars"] == ["m", "a"] and d["out_vars"] == ["y"]
    d = create_dataset_from_data(np.ones((10, 3)) * np.arange(10)[:, None], np.arange(10.0))
    assert d["in_vars"] == ["x_1", "x_2", "x_3"] and d["out_vars"] == ["y_1"]


def test_symbol_names():
    got = symbol_names(["body mass", "body-mass", "2nd", "E", "lambda", "", "sin", "x"])
    assert got == ["body_mass", "body_mass_2", "x_2nd", "E_", "lambda_", "x_6", "sin_", "x"]
    for name in got:
        assert isinstance(sympy.sympify(name), sympy.Symbol)


@pytest.mark.parametrize(
    ("column", "values", "match"),
    [
        ("city", ["a", "b"] * 10, r"input column 'city' holds text .*cat\.codes"),
        ("when", pd.date_range("2020-01-01", periods=20), r"'when' holds dates.*dt\.days"),
        ("kind", pd.Categorical(["u", "v"] * 10), r"'kind' is categorical.*cat\.codes"),
    ],
)
def test_text_date_category_columns_are_named(column, values, match):
    df = _table(20)
    df[column] = values
    with pytest.raises(TypeError, match=match):
        create_dataset_from_data(df, "y")


def test_nan_target_names_rows_and_constant_target_is_refused():
    df = _table(20)
    df.index = [f"r{k}" for k in range(20)]
    df.loc["r3", "y"] = np.nan
    df.loc["r7", "y"] = np.inf
    with pytest.raises(ValueError, match=r"label 'y' is NaN or inf in 2 row\(s\): \['r3', 'r7'\]"):
        create_dataset_from_data(df, "y")
    df = _table(20)
    df.loc[df.index[5], "age"] = np.nan
    with pytest.raises(ValueError, match=r"input 'age' is NaN or inf in 1 row\(s\): \[5\]"):
        create_dataset_from_data(df, "y")
    df = _table(20)
    df["y"] = 4.0
    with pytest.raises(ValueError, match=r"label 'y' is constant .*nothing to learn"):
        create_dataset_from_data(df, "y")
    with pytest.raises(KeyError, match=r"label column\(s\) \['z'\] not in the table"):
        create_dataset_from_data(df, "z")
    with pytest.raises(ValueError, match="train_ratio must be a number in"):
        create_dataset_from_data(df, "y", train_ratio=1.5)


# ---------------------------------------------------------------------- the model's scaling
def test_auto_scaling_leaves_o1_data_alone():
    d = create_dataset(_canonical, n_var=2, train_num=200, seed=0)
    s = fit_scaling(d["train_input"], d["train_label"], "auto")
    assert s.in_identity and s.out_identity
    big = create_dataset(lambda x: 100 * _canonical(x) + 1000, n_var=2, train_num=200, seed=0)
    s = fit_scaling(big["train_input"], big["train_label"], "auto")
    assert s.in_identity and not s.out_identity
    t = s.labels_to_model(big["train_label"])
    assert abs(float(t.mean())) < 1e-4 and abs(float(t.std()) - 1) < 1e-4
    s = fit_scaling(d["train_input"] * 50 + 7, d["train_label"], "auto")
    z = s.inputs_to_model(d["train_input"] * 50 + 7)
    assert float(z.min()) == pytest.approx(-1, abs=1e-5) and float(z.max()) == pytest.approx(1)
    assert fit_scaling(big["train_input"], big["train_label"], False) == Scaling.identity(2, 1)
    with pytest.raises(ValueError, match="normalize must be 'auto'"):
        KAN([2, 1], normalize="yes")


def test_canonical_training_is_unchanged_by_auto():
    d = create_dataset(_canonical, n_var=2, train_num=200, test_num=50, seed=0)
    a, b = KAN([2, 3, 1], seed=0), KAN([2, 3, 1], seed=0, normalize=False)
    ha, hb = a.fit(d, steps=3, lamb=0.01), b.fit(d, steps=3, lamb=0.01)
    assert ha["train_loss"] == hb["train_loss"]
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


@pytest.fixture(scope="module")
def table_model():
    d = create_dataset_from_data(_table(), "y", seed=0)
    model = KAN([2, 2, 1], seed=0)
    hist = model.fit(d, steps=5)
    return model, d, hist


def test_scaling_round_trips_exactly(table_model):
    model, d, hist = table_model
    s = model.scaling
    assert s is not None and not s.in_identity and not s.out_identity
    assert s.in_vars == ("body_mass", "age") and s.out_vars == ("y",)
    raw = model.copy()
    raw.scaling = None  # the same network without the units
    x = d["test_input"]
    want = s.outputs_to_user(raw(s.inputs_to_model(x)))
    assert torch.equal(model(x), want)
    # the reported losses are in the data's units
    rmse = float(torch.sqrt(torch.mean((model(x).detach() - d["test_label"]) ** 2)))
    assert hist["test_loss"][-1] == pytest.approx(rmse, rel=1e-4)
    assert model.activations(x)[-1].shape == (x.shape[0], 1)
    assert torch.equal(model.activations(x)[-1], model(x))


def test_save_load_copy_prune_restore_keep_the_scaling(table_model, tmp_path):
    model, d, _ = table_model
    x = d["test_input"]
    path = tmp_path / "m.kan"
    model.save(path)
    for other in (KAN.load(path), model.copy(), model.prune(node_th=0.0, edge_th=None)):
        assert other.scaling == model.scaling
        assert torch.allclose(other(x), model(x), rtol=1e-6, atol=1e-4)
    state = model.checkpoint()
    fresh = KAN([2, 2, 1], seed=5)
    fresh.restore(state)
    assert fresh.scaling == model.scaling and torch.equal(fresh(x), model(x))
    # a second fit keeps the scaling it was given at the first
    before = model.scaling
    model.copy().fit({"train_input": x * 3, "train_label": d["test_label"]}, steps=1)
    assert model.scaling is before


def test_formula_in_the_data_units_and_names(table_model):
    model, d, _ = table_model
    m = model.copy()
    for layer in m.layers:
        ii, jj = layer.mask.nonzero(as_tuple=True)
        layer.set_symbolic(
            ii.tolist(),
            jj.tolist(),
            ["x^2"] * len(ii),
            torch.tensor([[0.7, 0.1, 0.9, 0.2]] * len(ii), dtype=torch.float64),
        )
    (f,) = formula(m)
    names = sympy.symbols("body_mass age")
    assert f.free_symbols == set(names)
    (g,), variables = symbolic_formula(m)  # pykan's shape, in the same units and names
    assert variables == list(names) and g.free_symbols == set(names)
    x = d["test_input"][:5].double()
    got = sympy.lambdify(names, f)(x[:, 0].numpy(), x[:, 1].numpy())
    want = m(d["test_input"][:5]).detach().double().squeeze(1).numpy()
    assert np.allclose(got, want, rtol=1e-4)


def test_spline_edges_show_as_named_functions(table_model):
    model, _, _ = table_model
    m = model.copy()
    m.fix_symbolic(0, 0, 0, "x")
    (f,) = formula(m, simplify=False)
    text = str(f)
    assert "phi_0_1_0(" in text and "phi_1_0_0(" in text and "phi_0_0_0" not in text
    with pytest.raises(ValueError, match="not symbolic yet"):
        formula(m, allow_numeric=False)


def test_sqrt_example_learns_with_the_default_penalty():
    # labels mean 1.28, std 0.17: without the scaling fit(lamb=0.01) learns nothing (RMSE ~ std)
    d = create_dataset(
        lambda x: torch.sqrt(1 + x[:, [0]] ** 2 + x[:, [1]] ** 2), 2, train_num=500, test_num=500
    )
    model = KAN([2, 5, 1], seed=0)
    hist = model.fit(d, steps=30, lamb=0.01)
    assert hist["test_loss"][-1] < 0.2 * float(d["test_label"].std())


def test_data_in_parts_outside_the_fitted_scaling_warn_and_fit_scaling_first_helps():
    # continual learning on a coarse grid: the first part sets the scaling ("auto" maps [-1, -0.6]
    # onto the grid; a part spanning two grid intervals is left alone), so a later part lies
    # outside the grid; without grid updates nothing follows it
    parts = []
    for c in (-0.8, 0.4):
        x = torch.linspace(c - 0.2, c + 0.2, 40)[:, None]
        parts.append({"train_input": x, "train_label": torch.sin(3 * x)})
    for d in parts:
        d["test_input"], d["test_label"] = d["train_input"], d["train_label"]
    model = KAN([1, 1], grid=3, seed=0)
    model.fit(parts[0], steps=2, update_grid=False)
    with pytest.warns(RuntimeWarning, match=r"outside the first layer's grid.*fit_scaling"):
        model.fit(parts[1], steps=2, update_grid=False)
    # the scaling fitted on the whole range first: no warning
    x_all = torch.linspace(-1, 1, 100)[:, None]
    model = KAN([1, 1], grid=3, seed=0)
    model.fit_scaling(x_all, torch.sin(3 * x_all))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for d in parts:
            model.fit(d, steps=2, update_grid=False)


# ---------------------------------------------------------------------- bounded formula
def test_large_formula_is_built_unevaluated_and_says_so():
    model = KAN([4, 4, 4, 1], seed=0)
    for layer in model.layers:
        ii, jj = layer.mask.nonzero(as_tuple=True)
        params = torch.tensor([[1.3, 0.2, 0.8, 0.1]] * len(ii), dtype=torch.float64)
        layer.set_symbolic(ii.tolist(), jj.tolist(), ["sin"] * len(ii), params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (f,) = formula(model)
    assert any(issubclass(w.category, FormulaNotSimplified) for w in caught)
    x = torch.rand(4, 4) * 2 - 1
    syms = sympy.symbols("x_1:5")
    got = sympy.lambdify(syms, f)(*[x[:, k].double().numpy() for k in range(4)])
    assert np.allclose(got, model(x).detach().double().squeeze(1).numpy(), atol=1e-5)


def test_simplify_in_a_child_is_cut_off():
    if not hasattr(__import__("os"), "fork"):
        pytest.skip("no fork on this platform")
    assert formula_mod._in_child(lambda v: v + 1, 41, 30.0) == 42
    t0 = time.monotonic()
    assert formula_mod._in_child(time.sleep, 60, 0.3) is None
    assert time.monotonic() - t0 < 30  # killed, not waited for (a wide margin)


def test_names_travel_through_check_dataset_to_the_model():
    from kan_widget.data import check_dataset

    d = create_dataset_from_data(_table(30), "y")
    checked = check_dataset(d, 2, 1)
    assert checked["in_vars"] == ["body_mass", "age"] and checked["out_vars"] == ["y"]
    model = KAN([2, 1], seed=0)
    model.fit(checked, steps=1)  # as the widget's trainer gets it
    assert model.scaling is not None and model.scaling.in_vars == ("body_mass", "age")
    with pytest.raises(ValueError, match=r"dataset\['in_vars'\] must list 2 names"):
        check_dataset({**d, "in_vars": ["a"]}, 2, 1)


def test_the_public_name_takes_tables_too():
    import kan_widget

    d = kan_widget.create_dataset_from_data(_table(40), "y", seed=1)
    assert d["in_vars"] == ["body_mass", "age"]
    assert d["train_rows"].tolist() == sorted(d["train_rows"].tolist())
    # tensors keep pykan's path and shapes (a tensor has .index and .name too)
    x, y = torch.rand(50, 3), torch.rand(50, 2)
    d = kan_widget.create_dataset_from_data(x, y, seed=0)
    assert d["train_input"].shape == (40, 3) and "in_vars" not in d
    d = create_dataset_from_data({"t": torch.arange(10.0), "u": np.ones(10)}, torch.rand(10))
    assert d["in_vars"] == ["t", "u"] and d["train_input"].shape == (8, 2)


def test_one_implementation_with_pykans_tensor_semantics():
    import kan_widget
    from kan_widget import data, tables

    assert data.create_dataset_from_data is tables.create_dataset_from_data
    assert kan_widget.create_dataset_from_data is tables.create_dataset_from_data
    # two tensors: pykan's four keys, each tensor indexed as it is
    x = torch.rand(50, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (50,))  # class indices, 1-D
    d = kan_widget.create_dataset_from_data(x, y)
    assert set(d) == {"train_input", "train_label", "test_input", "test_label"}
    assert d["train_input"].dtype == torch.float64 and d["train_label"].dtype == torch.int64
    assert d["train_label"].shape == (40,) and d["test_label"].shape == (10,)
    rows = torch.cat([d["train_input"], d["test_input"]])
    assert torch.equal(rows.sort(0).values, x.sort(0).values)  # every row once
    f32 = kan_widget.create_dataset_from_data(x, y, dtype=torch.float32)
    assert f32["train_input"].dtype == torch.float32 and f32["train_label"].dtype == torch.int64
    # seed=None: a fresh split each call (the global RNGs untouched)
    np.random.seed(5)
    splits = {
        tuple(kan_widget.create_dataset_from_data(x, y, seed=None)["test_label"].tolist())
        for _ in range(5)
    }
    assert len(splits) > 1 and np.random.randint(10**6) == np.random.RandomState(5).randint(10**6)
    bad = x.clone()
    bad[7, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf in 1 row\(s\): \[7\]"):
        kan_widget.create_dataset_from_data(bad, y)
