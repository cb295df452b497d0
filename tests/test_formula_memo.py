"""sympy.simplify in formula(): a formula simplified before gives the result it gave then without a
new child process, and the children find sympy's lazily imported modules already imported (each
child imported them again: 0.25-0.3 s of a canonical pipeline's formula step)."""

from __future__ import annotations

import os
import sys
import warnings

import pytest
import sympy
import torch

from kan_widget import KAN
from kan_widget.symbolic import formula as formula_mod
from kan_widget.symbolic.formula import FormulaNotSimplified, clean, formula


def _canonical_model() -> KAN:
    """exp(x_2^2 + sin(pi*x_1)) as fixed edges, with a few digits of noise to round away."""
    model = KAN([2, 1, 1], seed=0)
    p = torch.tensor([[3.1416, 0.0002, 0.9996, 0.0003], [1.0003, 0.0, 1.0002, -0.0001]])
    model.layers[0].set_symbolic([0, 1], [0, 0], ["sin", "x^2"], p)
    model.layers[1].set_symbolic([0], [0], ["exp"], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    model.train_input = torch.rand(64, 2) * 2 - 1
    return model


@pytest.fixture
def children(monkeypatch):
    """Counts the forked children, starting from an empty memo."""
    formula_mod._SIMPLIFIED.clear()
    calls = []
    real = formula_mod._in_child

    def counted(fn, arg, seconds):
        calls.append(arg)
        return real(fn, arg, seconds)

    monkeypatch.setattr(formula_mod, "_in_child", counted)
    yield calls
    formula_mod._SIMPLIFIED.clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="simplify runs inline without fork")
def test_clean_simplifies_a_formula_once(children):
    model = _canonical_model()
    (first,) = formula(model, digits=2)
    x1, x2 = sympy.symbols("x_1 x_2")
    assert first == sympy.exp(sympy.sin(sympy.pi * x1) + x2**2)
    # clean()'s second round met the first round's formula again: one child, not two
    assert len(children) == 1
    (again,) = formula(model, digits=2)
    assert str(again) == str(first) and len(children) == 1
    # the remembered result is the one a fresh child gives (the same string)
    formula_mod._SIMPLIFIED.clear()
    (fresh,) = formula(model, digits=2)
    assert str(fresh) == str(first) and len(children) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="simplify runs inline without fork")
def test_a_formula_that_ran_out_of_time_is_tried_again(children, monkeypatch):
    x = sympy.Symbol("x_1")
    expr = sympy.log(sympy.exp(sympy.Float(2.5) * x))
    monkeypatch.setattr(formula_mod, "_in_child", lambda fn, arg, seconds: None)
    with pytest.warns(FormulaNotSimplified, match="took over"):
        assert clean(expr, 2) == expr.xreplace({sympy.Float(2.5): sympy.Rational(5, 2)})
    assert not formula_mod._SIMPLIFIED  # a time-out is not remembered
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormulaNotSimplified)
        assert clean(expr, 2) == sympy.Rational(5, 2) * x  # log(exp(u)) = u: inputs are real


def test_the_memo_is_bounded(monkeypatch):
    formula_mod._SIMPLIFIED.clear()
    monkeypatch.setattr(formula_mod, "SIMPLIFIED_KEPT", 3)
    monkeypatch.setattr(formula_mod, "_in_child", lambda fn, arg, seconds: fn(arg))
    x = sympy.Symbol("x")
    for k in range(5):
        formula_mod._simplify_bounded(sympy.sin(x) ** 2 + sympy.cos(x) ** 2 + k)
    assert len(formula_mod._SIMPLIFIED) == 3
    assert list(formula_mod._SIMPLIFIED.values()) == [3, 4, 5]  # the most recent ones
    formula_mod._SIMPLIFIED.clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no children without fork")
def test_children_import_nothing():
    """What sympy.simplify imports on its first call is imported before the fork, so a child's
    simplify imports nothing (it did: sympy.physics.units, 0.25-0.3 s in every child)."""
    formula_mod._import_for_children()
    x1, x2 = sympy.symbols("x_1 x_2")
    expr = sympy.exp(x2**2 + sympy.sin(sympy.pi * x1))

    def imported_by_simplify(e):
        before = set(sys.modules)
        formula_mod._simplify_real_now(e)
        return sorted(set(sys.modules) - before)

    assert formula_mod._in_child(imported_by_simplify, expr, 300.0) == []
