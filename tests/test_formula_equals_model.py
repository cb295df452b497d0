"""The formula computes what the model computes: ``lambdify(symbolic_formula())`` against
``model(x)`` on the training inputs, for random small KANs whose edges are fixed to random
library functions (the singular ones included) with random parameters, so that arguments cross
poles, leave the domain of ``sqrt``/``log``/``arcsin`` and overflow ``exp``. Float64 models;
agreement to 1e-4 of the output's scale (the float64 numbers agree to ~1e-12)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sympy
import torch

from kan_widget import KAN
from kan_widget.symbolic.domain import FORMS, edge_sympy
from kan_widget.symbolic.library import SYMBOLIC_LIB, get_function

REL = 1e-4
NAMES = list(SYMBOLIC_LIB)


def formulas(model: KAN, simplify: bool) -> list[sympy.Expr]:
    """The engine's formulas: ``model.formula()`` where it exists (the clean list), else
    ``model.symbolic_formula()`` (a list, or pykan's ``(formulas, variables)``)."""
    make = getattr(model, "formula", None) or model.symbolic_formula
    out = make(simplify=simplify)
    return list(out[0] if isinstance(out, tuple) else out)


def formula_values(model: KAN, x: torch.Tensor, simplify: bool) -> np.ndarray:
    (expr,) = formulas(model, simplify)
    symbols = [sympy.Symbol(f"x_{k + 1}") for k in range(x.shape[1])]
    fn = sympy.lambdify(symbols, expr, "numpy")
    cols = [x[:, k].numpy() for k in range(x.shape[1])]
    with np.errstate(all="ignore"):
        out = np.asarray(fn(*cols), dtype=complex)
    return np.broadcast_to(out, (x.shape[0],))


def random_case(seed: int) -> tuple[KAN, torch.Tensor]:
    """A [n, h, 1] float64 KAN with every edge fixed to a random library function with random
    (a, b, c, d); inputs uniform on [-2, 2] plus the points where first-layer arguments vanish."""
    rng = random.Random(seed)
    width = [rng.randint(1, 3), rng.randint(1, 3), 1]
    model = KAN(width, grid=3, k=3, seed=seed, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(150, width[0], dtype=torch.float64, generator=gen) * 4 - 2
    for layer in model.layers:
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                name = rng.choice(NAMES)
                a = rng.choice([-1, 1]) * 10 ** rng.uniform(-1, 1.2)
                b = rng.uniform(-2, 2)
                params = torch.tensor([[a, b, rng.uniform(-1, 1), rng.uniform(-1, 1)]])
                layer.set_symbolic([i], [j], [name], params.double())
    # rows that put the first layer's arguments exactly on a pole / a domain edge
    p = model.layers[0].sym_params.detach()
    on_pole = x[:8].clone()
    for r in range(on_pole.shape[0]):
        i = r % width[0]
        j = r % width[1]
        # not for a step: exactly on a jump, the 15 digits numpy prints decide the side
        if model.layers[0].sym_names[(i, j)] != "sgn":
            on_pole[r, i] = -p[i, j, 1] / p[i, j, 0]
    x = torch.cat([x, on_pole])
    model.train_input = x
    return model, x


@pytest.mark.parametrize("seed", range(24))
def test_formula_equals_model_random_fixes(seed):
    model, x = random_case(seed)
    with torch.no_grad():
        y = model(x)[:, 0].numpy()
    assert np.isfinite(y).all()
    got = formula_values(model, x, simplify=False)
    scale = np.abs(y).max() + 1e-12
    assert np.isfinite(got).all(), "formula is NaN/inf where the model is finite"
    assert np.abs(got.imag).max() <= REL * scale, "formula is complex where the model is real"
    assert np.abs(got.real - y).max() <= REL * scale


@pytest.mark.parametrize("seed", range(6))
def test_simplified_formula_equals_model(seed):
    """Simplifying must not change the values (it may drop a guard or take a complex branch:
    then the formula stays unsimplified)."""
    rng = random.Random(1000 + seed)
    model = KAN([2, 1, 1], grid=3, k=3, seed=seed, dtype=torch.float64)
    x = torch.rand(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x = x * 4 - 2
    for layer in model.layers:
        for i in range(layer.in_dim):
            name = rng.choice(NAMES)
            params = torch.tensor([[rng.uniform(-2, 2), rng.uniform(-1, 1), 1.0, 0.0]])
            layer.set_symbolic([i], [0], [name], params.double())
    model.train_input = x
    with torch.no_grad():
        y = model(x)[:, 0].numpy()
    got = formula_values(model, x, simplify=True)
    scale = np.abs(y).max() + 1e-12
    assert np.abs(got - y).max() <= REL * scale


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_guarded_form_equals_torch(name):
    """Each form of a guarded entry equals the torch form wherever it says it is valid, and the
    last form everywhere, including the guard bands and beyond the domain."""
    entry = get_function(name)
    u = torch.cat(
        [
            torch.linspace(-30, 30, 2001, dtype=torch.float64),
            torch.tensor([0.0, 1e-9, -1e-9, 1e-5, -1e-5, 0.99999999, -0.99999999, 1.0, -1.0]),
            torch.tensor([torch.pi / 2, -torch.pi / 2, 20.0, 20.5], dtype=torch.float64),
        ]
    )
    ref = entry.torch_fn(u).numpy()
    s = sympy.Symbol("u", real=True)
    for valid, form in FORMS[name]:
        rows = np.array([valid(u[k : k + 1]) for k in range(u.shape[0])])
        fn = sympy.lambdify(s, form(s), "numpy")
        with np.errstate(all="ignore"):
            got = np.asarray(fn(u.numpy()[rows]), dtype=complex)
        want = ref[rows]
        err = np.abs(got - want) / (np.abs(want) + 1)
        assert err.max(initial=0.0) < 1e-9, (name, form(s))
    assert rows.all()  # the exact form is valid everywhere


def test_plain_form_when_the_data_stay_in_the_domain():
    sqrt = get_function("sqrt")
    s = sympy.Symbol("u")
    assert edge_sympy(sqrt, torch.tensor([0.5, 2.0]))(s) == sympy.sqrt(s)
    assert edge_sympy(sqrt, torch.tensor([-0.5, 2.0]))(s) == sympy.sign(s) * sympy.sqrt(
        sympy.Abs(s)
    )
    assert edge_sympy(sqrt, None)(s) == sympy.sqrt(s)


def test_issue_example_sqrt_crossing_zero():
    """The issue's failure: ``sqrt(0.018 - x2)`` on data where the argument changes sign; the
    model is finite there, and so must the formula be."""
    model = KAN([1, 1], grid=3, k=3, seed=0, dtype=torch.float64)
    model.layers[0].set_symbolic([0], [0], ["sqrt"], torch.tensor([[-1.0, 0.018, 1.0, 0.0]]))
    x = torch.linspace(-1, 1, 101, dtype=torch.float64)[:, None]
    model.train_input = x
    with torch.no_grad():
        y = model(x)[:, 0].numpy()
    got = formula_values(model, x, simplify=True)
    assert np.abs(got - y).max() <= REL * np.abs(y).max()


def test_trained_pipeline_formula_equals_model():
    """A float32 model after fit -> auto_symbolic (whole library) -> fit: the formula agrees
    with the model on the training inputs to float32 precision."""
    from kan_widget import create_dataset

    def f(x):
        return torch.sqrt(x[:, [0]] + 1.5) + torch.log(x[:, [1]] + 1.2)

    ds = create_dataset(f, n_var=2, train_num=200, test_num=10, seed=0)
    model = KAN([2, 1, 1], grid=5, k=3, seed=0)
    model.fit(ds, opt="LBFGS", steps=20)
    model.auto_symbolic()
    model.fit(ds, opt="LBFGS", steps=10)
    x = ds["train_input"].double()
    with torch.no_grad():
        y = model(ds["train_input"])[:, 0].double().numpy()
    got = formula_values(model, x, simplify=True)
    assert np.isfinite(got).all()
    assert np.abs(got - y).max() <= 1e-4 * np.abs(y).max()
