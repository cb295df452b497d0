"""Teaching data sets (kan_widget/datasets.py), the typed formula's safety, and KANPlayground."""

from __future__ import annotations

import time

import pytest
import torch

from kan_widget import KANPlayground
from kan_widget.datasets import DATASETS, FormulaError, make_dataset, parse_formula


@pytest.mark.parametrize("name", DATASETS)
def test_every_set_has_its_shape(name):
    d = make_dataset(name, n=100, noise=0.1, train_ratio=0.6, seed=1, formula="x*y")
    assert d["train_input"].shape == (60, 2) and d["test_input"].shape == (40, 2)
    assert d["in_vars"] == ["x", "y"] and bool(d["train_input"].abs().max() < 2)
    if name in ("circle", "xor", "gauss", "spiral"):
        assert d["train_label"].dtype == torch.long and set(d["train_label"].tolist()) <= {0, 1}
    else:
        assert d["train_label"].shape == (60, 1) and bool(torch.isfinite(d["train_label"]).all())
    again = make_dataset(name, n=100, noise=0.1, train_ratio=0.6, seed=1, formula="x*y")
    assert torch.equal(again["train_label"], d["train_label"])  # seeded


def test_tf_playground_geometry():
    d = make_dataset("circle", n=400)
    r = d["train_input"].norm(dim=1)
    inside = d["train_label"] == 1
    assert bool((r[inside] < 0.5).all()) and bool((r[~inside] > 0.7).all())  # radius 5 / 5
    d = make_dataset("xor", n=400)
    x = d["train_input"]
    assert torch.equal(d["train_label"], (x[:, 0] * x[:, 1] >= 0).long())
    d = make_dataset("formula", n=200, formula="x^2 + 2*y")
    x = d["train_input"]
    assert torch.allclose(d["train_label"][:, 0], x[:, 0] ** 2 + 2 * x[:, 1], atol=1e-5)


@pytest.mark.parametrize(
    "text, why",
    [
        ("__import__('os').system('echo hi')", "only numbers"),
        ("x.__class__", "only numbers"),
        ("open('f')", "only numbers"),
        ("getattr(x, 'y')", "only numbers"),
        ("exec(x)", "not an allowed function"),
        ("x if y else 1", "not allowed"),
        ("9^9^9^9", "powers of powers"),
        ("x^1000", "above 100"),
        ("x*", "not an expression"),
        ("2y", "write products"),
        ("z + 1", "unknown name 'z'"),
        ("", "empty"),
        ("x" * 300, "longer than"),
    ],
)
def test_bad_or_malicious_formulas_are_refused_by_name(text, why):
    t0 = time.perf_counter()
    with pytest.raises(FormulaError, match=why):
        parse_formula(text)
    assert time.perf_counter() - t0 < 30  # never a hang (a generous bound, not a timing test)


def test_formula_not_finite_on_the_square_is_refused():
    with pytest.raises(FormulaError, match="not finite"):
        make_dataset("formula", formula="log(x)")
    assert str(parse_formula("sin(pi*x)^2 + 2*y")) == "2*y + sin(pi*x)**2"


def test_playground_data_shape_and_lessons():
    pg = KANPlayground("spiral", hidden=[3], lamb=0.0, steps=5, hide=["shape", "symbolify"])
    try:
        assert pg.model.width == [2, 3, 1] and pg.widget.problem == "classification"
        assert pg.widget.lamb == 0.0 and "sym_lib" in pg.widget.hide
        pg.widget.train(2, block=True)
        assert pg.widget.status["test_acc"] is not None
        pg.panel.hidden = [3, 2]  # a rebuild: one undoable step, the sliders kept
        assert pg.model.width == [2, 3, 2, 1] and pg.widget.lamb == 0.0
        assert pg.widget.undo() and pg.model.width == [2, 3, 1]
        assert pg.panel.hidden == [3]  # the panel shows the model Undo brought back
        assert pg.widget.redo() and pg.panel.hidden == [3, 2]
        pg.panel.hidden = [99]
        assert "1..8 nodes" in pg.panel.error and pg.panel.hidden == [3, 2]
        first = pg.widget
        pg.panel.formula = "open('x')"  # refused: the data and the widget stay
        assert "only numbers" in pg.panel.error and pg.panel.formula == "x*y"
        assert pg.widget is first and pg.panel.data == "spiral"
        pg.panel.formula = "x^2 + sin(pi*y)"  # a typed target: regression on it
        assert pg.panel.data == "formula" and pg.panel.error == ""
        assert pg.widget.problem == "regression" and pg.widget.lamb == 0.0
        state = pg.state
        assert state["formula"] == "x^2 + sin(pi*y)" and state["hidden"] == [3, 2]
    finally:
        pg.close()
    pg2 = KANPlayground(**state)
    try:
        assert pg2.model.width == [2, 3, 2, 1] and pg2.state == state
    finally:
        pg2.close()
    with pytest.raises(ValueError, match="hide names unknown"):
        KANPlayground(hide=["everything"])
