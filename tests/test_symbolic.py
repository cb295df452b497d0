"""Symbolic subsystem: library, batched fitting, ranking, formulas, and the model-facing API."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from kan_widget import KAN
from kan_widget.splines import curve2coef
from kan_widget.symbolic import (
    SYMBOLIC_LIB,
    add_symbolic,
    auto_symbolic,
    clean,
    ex_round,
    fit_functions,
    fix_symbolic,
    get_function,
    rank,
    snap_numbers,
    suggest_symbolic,
    unfix_symbolic,
)
from kan_widget.symbolic.formula import formula
from kan_widget.symbolic.library import resolve_lib

PYKAN_COMPLEXITY = {
    "x": 1,
    "x^2": 2,
    "x^3": 3,
    "x^4": 3,
    "x^5": 3,
    "1/x": 2,
    "1/x^2": 2,
    "1/x^3": 3,
    "1/x^4": 4,
    "1/x^5": 5,
    "sqrt": 2,
    "x^0.5": 2,
    "x^1.5": 4,
    "1/sqrt(x)": 2,
    "1/x^0.5": 2,
    "exp": 2,
    "log": 2,
    "abs": 3,
    "sin": 2,
    "cos": 2,
    "tan": 3,
    "tanh": 3,
    "sgn": 3,
    "arcsin": 4,
    "arccos": 4,
    "arctan": 4,
    "arctanh": 4,
    "0": 0,
    "gaussian": 3,
}

# functions that are the same family under c*f(a*x+b)+d: either name is a correct answer
SAME = {"cos": "sin", "x^0.5": "sqrt", "1/x^0.5": "1/sqrt(x)", "arccos": "arcsin"}

# argument windows where each function shows its shape (so it is identifiable), and the
# smallest fraction of the window the data must cover
WINDOWS = {
    "x": (-3, 3, 0.3),
    "x^2": (-2, 2, 0.5),
    "x^3": (-2, 2, 0.5),
    "x^4": (-2, 2, 0.5),
    "x^5": (-2, 2, 0.5),
    "1/x": (0.3, 1.5, 0.6),
    "1/x^2": (0.3, 1.5, 0.6),
    "1/x^3": (0.3, 1.5, 0.6),
    "1/x^4": (0.3, 1.5, 0.6),
    "1/x^5": (0.3, 1.5, 0.6),
    "sqrt": (0.02, 2, 0.6),
    "x^0.5": (0.02, 2, 0.6),
    "x^1.5": (0.0, 2, 0.6),
    "1/sqrt(x)": (0.05, 2, 0.6),
    "1/x^0.5": (0.05, 2, 0.6),
    "exp": (-3, 3, 0.5),
    "log": (0.05, 4, 0.6),
    "abs": (-2, 2, 0.6),
    "sin": (-6, 6, 0.5),
    "cos": (-6, 6, 0.5),
    "tan": (-1.4, 1.4, 0.6),
    "tanh": (-4, 4, 0.6),
    "sgn": (-2, 2, 0.6),
    "arcsin": (-0.99, 0.99, 0.6),
    "arccos": (-0.99, 0.99, 0.6),
    "arctan": (-6, 6, 0.6),
    "arctanh": (-0.95, 0.95, 0.6),
    "gaussian": (-3, 3, 0.6),
}
MUST_CONTAIN_ZERO = {"abs", "sgn"}


def random_affine(name: str, gen: torch.Generator) -> tuple[float, float, float, float]:
    """(a, b, c, d) with a*x+b for x in [-1, 1] inside the function's window."""
    lo, hi, frac = WINDOWS[name]
    u = torch.rand(6, generator=gen, dtype=torch.float64).tolist()
    width = (hi - lo) * (frac + (1 - frac) * u[0])
    start = lo + (hi - lo - width) * u[1]
    if name in MUST_CONTAIN_ZERO:  # the kink must be inside the data
        start = -width * (0.3 + 0.4 * u[1])
    a = width / 2 * (1 if u[2] < 0.5 else -1)
    b = start + width / 2
    c = (0.5 + 1.5 * u[3]) * (1 if u[4] < 0.5 else -1)
    d = 2 * u[5] - 1
    return a, b, c, d


def exact_model(names: list[str], params: list, n_train: int = 1000) -> KAN:
    """A [1, K] KAN whose edge j is exactly c*f(a*x+b)+d (a symbolic edge), inputs in [-1, 1]."""
    model = KAN([1, len(names)], grid=3, seed=0)
    model.layers[0].set_symbolic(
        [0] * len(names), list(range(len(names))), names, torch.tensor(params, dtype=torch.float64)
    )
    model.train_input = torch.linspace(-1, 1, n_train)[:, None]
    return model


def spline_model(
    funcs: dict, width: list[int], grid: int = 40, lo: float = -1.0, hi: float = 1.0
) -> KAN:
    """A one-layer KAN whose spline edges are least-squares fits of ``funcs[(i, j)]`` (like a
    trained model's), with scale_base = 0."""
    model = KAN(width, grid=grid, k=3, grid_range=(lo, hi), seed=0)
    layer = model.layers[0]
    xs = torch.linspace(lo, hi, 800, dtype=torch.float64)[:, None].expand(-1, width[0])
    ys = torch.zeros(800, width[0], width[1], dtype=torch.float64)
    for (i, j), f in funcs.items():
        ys[:, i, j] = f(xs[:, i])
    with torch.no_grad():
        layer.scale_base.zero_()
        layer.scale_sp.fill_(1.0)
        layer.coef.copy_(curve2coef(xs, ys, layer.grid.double(), layer.k).float())
        for i in range(width[0]):
            for j in range(width[1]):
                if (i, j) not in funcs:
                    layer.mask[i, j] = 0.0
    gen = torch.Generator().manual_seed(0)
    model.train_input = lo + (hi - lo) * torch.rand(1000, width[0], generator=gen)
    return model


# ---------------------------------------------------------------------- library
def test_library_has_pykan_defaults_and_complexities():
    assert {n: f.complexity for n, f in SYMBOLIC_LIB.items()} == PYKAN_COMPLEXITY
    x = sympy.Symbol("x")
    for name, fn in SYMBOLIC_LIB.items():
        assert fn.name == name
        assert isinstance(fn.sympy_fn(x), sympy.Basic)
        u = torch.tensor([0.3, 0.6], dtype=torch.float64)
        # the torch form agrees with the sympy form where both are defined
        expected = [float(fn.sympy_fn(sympy.Float(v))) for v in u.tolist()]
        assert torch.allclose(fn.torch_fn(u), torch.tensor(expected, dtype=torch.float64)), name


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown symbolic function 'sinh'") as info:
        get_function("sinh")
    for name in ("'x'", "'sin'", "'gaussian'", "'1/x^5'"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="valid names"):
        resolve_lib(["x", "nope"])


@pytest.mark.parametrize("name", [n for n in SYMBOLIC_LIB if n != "0"])
def test_safe_forms_finite_across_singularities(name):
    """Values, loss and gradients stay finite on data crossing every singularity (float32)."""
    fn = SYMBOLIC_LIB[name]
    special = [0.0, 1.0, -1.0, math.pi / 2, -math.pi / 2, 1e-30, -1e-30, 20.0, 80.0]
    x = torch.cat([torch.linspace(-5, 5, 2001), torch.tensor(special)])
    p = torch.tensor([1.0, 0.0, 1.5, 0.2], requires_grad=True)
    y = p[2] * fn.torch_fn(p[0] * x + p[1]) + p[3]
    loss = ((y - torch.randn_like(y)) ** 2).mean()
    loss.backward()
    assert torch.isfinite(y).all() and torch.isfinite(loss)
    assert torch.isfinite(p.grad).all()


def test_add_symbolic_one_call_and_found_out_of_range():
    try:
        entry = add_symbolic("J0", torch.special.bessel_j0, lambda x: sympy.besselj(0, x), 3)
        assert SYMBOLIC_LIB["J0"] is entry
        with pytest.raises(ValueError, match="already in the library"):
            add_symbolic("J0", torch.special.bessel_j0)
        # J0(20x) needs a = 20, outside pykan's [-10, 10] box
        x = torch.linspace(-1, 1, 200, dtype=torch.float64)
        y = 0.7 * torch.special.bessel_j0(20 * x + 0.5) - 0.1
        res = fit_functions(x[None], y[None], ["x", "x^2", "sin", "J0"])
        assert res.names[int(res.r2[0].argmax())] == "J0"
        assert res.r2[0, 3] > 0.999999
        a, b, c, d = res.params[0, 3].tolist()
        assert abs(abs(a) - 20) < 1e-3 and abs(abs(b) - 0.5) < 1e-3
        assert abs(c - 0.7) < 1e-3 and abs(d + 0.1) < 1e-3
        x_sym = sympy.Symbol("x")
        assert entry.sympy_fn(x_sym) == sympy.besselj(0, x_sym)
        undefined = add_symbolic("myf", torch.tanh)
        assert str(undefined.sympy_fn(x_sym)) == "myf(x)"
    finally:
        SYMBOLIC_LIB.pop("J0", None)
        SYMBOLIC_LIB.pop("myf", None)


# ---------------------------------------------------------------------- recovery and ranking
def test_each_function_recovered_by_suggest_symbolic():
    gen = torch.Generator().manual_seed(0)
    names = [n for n in SYMBOLIC_LIB if n != "0"]
    params = [random_affine(n, gen) for n in names]
    model = exact_model(names, params)
    failures = []
    for j, name in enumerate(names):
        rows = suggest_symbolic(model, 0, 0, j, topk=3)
        want = SAME.get(name, name)
        if SAME.get(rows[0].name, rows[0].name) != want or rows[0].r2 <= 0.999:
            failures.append((name, params[j], [(r.name, r.r2, r.score) for r in rows]))
    assert not failures, failures


@pytest.mark.slow
def test_each_function_recovered_more_seeds():
    names = [n for n in SYMBOLIC_LIB if n != "0"]
    failures = []
    for seed in range(1, 6):
        gen = torch.Generator().manual_seed(seed)
        params = [random_affine(n, gen) for n in names]
        model = exact_model(names, params)
        x = torch.linspace(-1, 1, 100, dtype=torch.float64)[None].expand(len(names), -1)
        with torch.no_grad():
            y = model.layers[0].edge_values(x[0][:, None].float())[:, 0, :].t()
        entries = resolve_lib(None)
        res = fit_functions(x, y, entries)
        order, _ = rank(res.r2, entries, degenerate=res.degenerate)
        for j, name in enumerate(names):
            got = res.names[int(order[j, 0])]
            if SAME.get(got, got) != SAME.get(name, name) or res.r2[j].max() <= 0.999:
                failures.append((seed, name, got, params[j]))
    assert not failures, failures


def test_plain_sin_with_noise_is_not_set_to_zero():
    """pykan's trap: with '0' in the library, an edge that is plainly sin (r^2 ~ 0.993) became 0."""
    gen = torch.Generator().manual_seed(1)
    x = torch.linspace(-1, 1, 100, dtype=torch.float64)
    y = torch.sin(math.pi * x) + 0.06 * torch.randn(100, generator=gen, dtype=torch.float64)
    entries = resolve_lib(None)
    res = fit_functions(x[None], y[None], entries)
    k_sin = res.names.index("sin")
    assert 0.99 < float(res.r2[0, k_sin]) < 0.997
    order, _ = rank(res.r2, entries, negligible=torch.tensor([False]), degenerate=res.degenerate)
    assert res.names[int(order[0, 0])] == "sin"
    # pykan's score on the same fits picks '0' (documents the trap this fixes)
    comp = np.array([e.complexity for e in entries])
    r2 = res.r2[0].numpy().copy()
    r2[res.names.index("0")] = 0.0
    pykan_loss = 0.8 * comp + 0.2 * np.log2(1 + 1e-5 - r2)
    assert res.names[int(np.argmin(pykan_loss))] == "0"


def test_one_over_x5_can_win():
    x = torch.linspace(-1, 1, 100, dtype=torch.float64)
    y = 0.3 / (0.5 * x + 0.9) ** 5 - 1.0
    entries = resolve_lib(None)
    res = fit_functions(x[None], y[None], entries)
    order, _ = rank(res.r2, entries, degenerate=res.degenerate)
    assert res.names[int(order[0, 0])] == "1/x^5"


def test_zero_only_for_negligible_edges():
    model = spline_model(
        {
            (0, 0): lambda x: torch.sin(math.pi * x),
            (1, 0): lambda x: 1e-5 * x**2,
            (0, 1): lambda x: 0.01 * x**2,
        },
        [2, 2],
    )
    rows = suggest_symbolic(model, 0, 1, 0)
    assert rows[0].name == "0"
    rows = suggest_symbolic(model, 0, 0, 0)
    assert rows[0].name == "sin" and rows[-1].name != "0"
    # alone in its node, a small edge is the node's whole signal: not negligible
    assert suggest_symbolic(model, 0, 0, 1)[0].name == "x^2"


def test_mimics_do_not_beat_simpler_functions():
    """x stays x, x^2 stays x^2 (not cos near a = 0, not a gaussian), also with a little noise
    or the slight flattening a learned parabola often has (which cos(a*x) at small a matches)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.linspace(-1, 1, 100, dtype=torch.float64)
    noise = 1e-3 * torch.randn(100, generator=gen, dtype=torch.float64)
    ys = torch.stack(
        [
            2 * x - 1,
            2 * x - 1 + noise,
            3 * x**2 - 0.2,
            3 * x**2 - 0.2 + noise,
            (x + 0.4) ** 2,
            x**2 - 0.04 * x**4,
        ]
    )
    entries = resolve_lib(None)
    res = fit_functions(x[None].expand(len(ys), -1), ys, entries)
    order, _ = rank(res.r2, entries, degenerate=res.degenerate)
    got = [res.names[int(k)] for k in order[:, 0]]
    assert got == ["x", "x", "x^2", "x^2", "x^2", "x^2"]
    assert bool(res.degenerate[5, res.names.index("cos")])


def test_found_outside_pykans_box():
    """sin(20x) (a = 20) and tanh(3(x - 50)) (b = -150) need no hand-widened range."""
    x1 = torch.linspace(-1, 1, 100, dtype=torch.float64)
    x2 = torch.linspace(49, 51, 100, dtype=torch.float64)
    x3 = torch.linspace(15, 18, 100, dtype=torch.float64)
    xs = torch.stack([x1, x2, x3])
    ys = torch.stack([torch.sin(20 * x1), torch.tanh(3 * (x2 - 50)), 2 / (x3 - 20)])
    res = fit_functions(xs, ys, ["x", "x^2", "sin", "tanh", "1/x"])
    assert res.r2[0, 2] > 0.999999 and abs(abs(res.params[0, 2, 0]) - 20) < 1e-4
    a, b = res.params[1, 3, :2].tolist()
    assert res.r2[1, 3] > 0.999999 and abs(a - 3) < 1e-3 and abs(b + 150) < 0.05
    assert res.r2[2, 4] > 0.999999 and abs(res.params[2, 4, 1] + 20) < 1e-3
    entries = resolve_lib(["x", "x^2", "sin", "tanh", "1/x"])
    order, _ = rank(res.r2, entries, degenerate=res.degenerate)
    assert [res.names[int(k)] for k in order[:, 0]] == ["sin", "tanh", "1/x"]


def test_sqrt_argument_kept_positive():
    x = torch.linspace(-1, 1, 100, dtype=torch.float64)
    y = torch.sqrt(1.2 - x)  # a < 0: the argument must stay positive for sympy's sqrt
    res = fit_functions(x[None], y[None], ["sqrt", "log"])
    a, b, c, d = res.params[0, 0].tolist()
    assert res.r2[0, 0] > 0.999999
    assert (a * x + b).min() > -1e-9
    assert abs(c - 1) < 1e-6 and abs(d) < 1e-6


def test_constant_edge():
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)
    res = fit_functions(x[None], torch.full((1, 50), 0.7, dtype=torch.float64), ["x", "sin"])
    assert torch.all(res.r2 == 1)
    assert torch.allclose(res.params[0, :, 2], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(res.params[0, :, 3], torch.full((2,), 0.7, dtype=torch.float64))


# ---------------------------------------------------------------------- model-facing API
def test_auto_symbolic_on_spline_edges():
    funcs = {
        (0, 0): lambda x: torch.sin(math.pi * x),
        (1, 0): lambda x: x**2,
        (0, 1): lambda x: torch.exp(1.5 * x) - 1,
        (1, 1): lambda x: 0.5 * x,
        (2, 1): lambda x: torch.tanh(4 * x),
    }
    model = spline_model(funcs, [3, 2])
    chosen = auto_symbolic(model)
    got = {(c.l, c.i, c.j): c.name for c in chosen}
    assert got == {
        (0, 0, 0): "sin",
        (0, 1, 0): "x^2",
        (0, 0, 1): "exp",
        (0, 1, 1): "x",
        (0, 2, 1): "tanh",
    }
    assert all(c.r2 > 0.9999 for c in chosen)
    layer = model.layers[0]
    assert bool(layer.sym_mask[0, 0]) and not bool(layer.sym_mask[2, 0])  # masked edge skipped
    assert auto_symbolic(model) == []  # nothing left to fix
    x = model.train_input
    expected = torch.stack(
        [
            torch.sin(math.pi * x[:, 0]) + x[:, 1] ** 2,
            torch.exp(1.5 * x[:, 0]) - 1 + 0.5 * x[:, 1] + torch.tanh(4 * x[:, 2]),
        ],
        1,
    )
    assert torch.allclose(model(x), expected, atol=1e-3)


def test_auto_symbolic_threshold_keeps_splines():
    model = spline_model(
        {
            (0, 0): lambda x: torch.sin(math.pi * x),
            (1, 0): lambda x: torch.special.bessel_j0(9 * x),
        },
        [2, 1],
    )
    chosen = auto_symbolic(model, lib=["x", "sin"], r2_threshold=0.99)
    assert [(c.i, c.name) for c in chosen] == [(0, "sin")]
    assert not bool(model.layers[0].sym_mask[1, 0])


def test_fix_unfix_and_errors():
    model = spline_model({(0, 0): lambda x: 2 * torch.sin(3 * x + 0.5) + 0.1}, [1, 1])
    before = model(model.train_input).detach()
    r2 = fix_symbolic(model, 0, 0, 0, "sin")
    assert r2 > 0.99999
    a, b, c, d = model.layers[0].sym_params[0, 0].tolist()
    assert abs(a - 3) < 1e-3 and abs(b - 0.5) < 1e-3 and abs(c - 2) < 1e-3 and abs(d - 0.1) < 1e-3
    assert model.layers[0].sym_names[(0, 0)] == "sin"
    unfix_symbolic(model, 0, 0, 0)
    assert torch.equal(model(model.train_input).detach(), before)
    r2_raw = fix_symbolic(model, 0, 0, 0, "x", fit_params=False)
    assert r2_raw < 0.9  # x itself, unfitted
    assert model.layers[0].sym_params[0, 0].tolist() == [1.0, 0.0, 1.0, 0.0]

    with pytest.raises(ValueError, match="valid names"):
        fix_symbolic(model, 0, 0, 0, "sinh")
    with pytest.raises(IndexError, match="layer l=1 out of range"):
        suggest_symbolic(model, 1, 0, 0)
    with pytest.raises(IndexError, match="input node i=2"):
        fix_symbolic(model, 0, 2, 0, "x")
    with pytest.raises(IndexError, match="output node j=-1"):
        unfix_symbolic(model, 0, 0, -1)
    with pytest.raises(TypeError, match="must be an int"):
        suggest_symbolic(model, 0, 0.5, 0)
    model.layers[0].mask[0, 0] = 0.0
    with pytest.raises(ValueError, match="pruned"):
        suggest_symbolic(model, 0, 0, 0)
    fresh = KAN([1, 1], seed=0)
    with pytest.raises(ValueError, match="no data"):
        suggest_symbolic(fresh, 0, 0, 0)


def test_fixed_edges_train_and_give_formula():
    """Fixed edges compute c*f(a*x+b)+d and their four numbers train in fit."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, 2, generator=gen) * 2 - 1

    def target(x):
        return 1.5 * torch.sin(1.3 * x[:, [0]] + 0.2) + 0.7 * x[:, [1]] ** 2 - 0.1

    ds = {"train_input": x, "train_label": target(x), "test_input": x, "test_label": target(x)}
    model = KAN([2, 1], grid=3, seed=0)
    model.train_input = x
    fix_symbolic(model, 0, 0, 0, "sin", fit_params=False)
    fix_symbolic(model, 0, 1, 0, "x^2", fit_params=False)
    hist = model.fit(ds, opt="LBFGS", steps=30, update_grid=False)
    assert hist["train_loss"][-1] < 1e-4
    (f,) = formula(model, digits=3)
    x1, x2 = sympy.symbols("x_1 x_2")
    grid = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    num = sympy.lambdify((x1, x2), f)(grid[:, 0], grid[:, 1])
    ref = target(torch.tensor(grid)).squeeze(1).numpy()
    assert np.allclose(num, ref, atol=5e-3)
    assert f.has(sympy.sin) and sympy.Poly(f.subs(x1, 0), x2).degree() == 2


def test_grid_update_skipped_only_when_every_edge_is_symbolic():
    """fit(update_grid=True) on a fully symbolic model leaves the knots alone (they shape no
    output); one spline edge left brings the grid updates back."""
    x = torch.rand(300, 2, generator=torch.Generator().manual_seed(1)) * 4 - 2
    y = torch.sin(x[:, [0]]) + x[:, [1]] ** 2
    ds = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    model = KAN([2, 1], grid=3, seed=0)
    model.train_input = x
    fix_symbolic(model, 0, 0, 0, "sin")
    kw = {
        "opt": "Adam",
        "steps": 6,
        "update_grid": True,
        "grid_update_num": 3,
        "stop_grid_update_step": 6,
    }
    before = model.layers[0].grid.clone()
    model.fit(ds, **kw)
    assert model.layers[0].grid.max() > before.max() + 0.5  # knots followed the data to +-2
    fix_symbolic(model, 0, 1, 0, "x^2")
    before = model.layers[0].grid.clone()
    half = {k: v / 2 if k.endswith("input") else v for k, v in ds.items()}
    hist = model.fit(half, **kw)  # data on +-1: an update would pull the knots in
    assert torch.equal(model.layers[0].grid, before)
    assert all(math.isfinite(v) for v in hist["train_loss"])


def test_singular_edges_train_without_nan():
    """Fixed singular functions on data crossing their singularity: finite output, loss, fit."""
    names = [
        "1/x",
        "1/x^2",
        "1/x^3",
        "1/x^4",
        "1/x^5",
        "log",
        "sqrt",
        "1/sqrt(x)",
        "x^1.5",
        "tan",
        "arcsin",
        "arccos",
        "arctanh",
        "exp",
    ]
    x = torch.linspace(-2, 2, 201)[:, None]  # includes 0 exactly
    x = torch.cat([x, torch.tensor([[0.0], [1.0], [-1.0], [math.pi / 2]])])
    model = KAN([1, len(names)], seed=0)
    model.layers[0].set_symbolic(
        [0] * len(names),
        list(range(len(names))),
        names,
        torch.tensor([[30.0, 0.0, 1.0, 0.0]] * len(names)),
    )
    y = model(x)
    assert torch.isfinite(y).all()
    label = torch.zeros(x.shape[0], len(names))
    ds = {"train_input": x, "train_label": label, "test_input": x, "test_label": label}
    hist = model.fit(ds, opt="Adam", steps=3, lr=1e-3, update_grid=False)
    assert all(math.isfinite(v) for v in hist["train_loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ---------------------------------------------------------------------- formulas
def test_hand_fixed_network_formula_exact():
    model = KAN([2, 3, 1], seed=0)
    l0, l1 = model.layers
    l0.set_symbolic(
        [0, 1, 0, 1],
        [0, 0, 1, 2],
        ["sin", "x^2", "exp", "x"],
        torch.tensor(
            [
                [2.0, 0.5, 3.0, 1.0],
                [1.0, -1.0, 0.5, 0.0],
                [1.0, 0.0, 1.0, 0.0],
                [1.0, 0.0, 2.0, 0.0],
            ]
        ),
    )
    l0.mask[1, 1] = 0.0
    l0.mask[0, 2] = 0.0
    l1.set_symbolic(
        [0, 1, 2],
        [0, 0, 0],
        ["tanh", "log", "x"],
        torch.tensor([[1.0, 0.0, 1.0, 0.0], [2.0, 0.0, 1.0, 0.0], [1.0, 0.0, -1.0, 0.25]]),
    )
    (f,) = formula(model, var=["p", "q"])
    p, q = sympy.symbols("p q")
    h0 = 3 * sympy.sin(2 * p + sympy.Rational(1, 2)) + 1 + (q - 1) ** 2 / 2
    h1 = sympy.exp(p)
    h2 = 2 * q
    # log(2*exp(p)) = p + log(2) for real p: simplify treats the inputs as real
    expected = sympy.tanh(h0) + p + sympy.log(2) - h2 + sympy.Rational(1, 4)
    assert not f.has(sympy.exp) and not f.has(sympy.log(2 * h1))
    diff = sympy.simplify(clean(f, 6, simplify=False) - expected)
    assert not diff.free_symbols and abs(float(diff)) < 1e-6
    assert f.free_symbols == {p, q}
    assert formula(model, var=["p", "q"], simplify=False)[0].has(sympy.exp)
    # the formula is the network: same numbers at points where every function is defined
    xs = torch.tensor([[0.3, 0.8], [-0.5, 1.7], [0.9, -0.4]])
    num = sympy.lambdify((p, q), f)(xs[:, 0].double().numpy(), xs[:, 1].double().numpy())
    assert np.allclose(num, model(xs).detach().squeeze(1).numpy(), atol=1e-5)
    assert "\\tanh" in sympy.latex(f)


def test_formula_needs_symbolic_edges():
    model = KAN([2, 1], seed=0)
    model.layers[0].set_symbolic([0], [0], ["sin"], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"not symbolic yet: \(0, 1, 0\)"):
        formula(model, allow_numeric=False)
    (f,) = formula(model, allow_numeric=True)
    assert "phi_0_1_0" in str(f)
    with pytest.raises(ValueError, match="has 1 entries but the model has 2 inputs"):
        formula(model, var=["a"], allow_numeric=True)


def test_formula_with_spline_edges_after_training_simplifies():
    # with training inputs the simplification is checked numerically; a formula still holding
    # spline edges (undefined phi_l_i_j) cannot be evaluated, and must not raise NameError
    model = KAN([2, 1], seed=0)
    model.train_input = torch.rand(32, 2) * 2 - 1
    model.layers[0].set_symbolic([0], [0], ["sin"], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    (f,) = formula(model, var=["a", "b"], allow_numeric=True)
    assert "phi_0_1_0(b)" in str(f) and "sin(1.0*a)" in str(f)


def test_rounding_and_snapping():
    x, y = sympy.symbols("x_1 x_2")
    F = sympy.Float
    e = F(1.02) * sympy.exp(
        F(0.5)
        * (
            F(2.001) * sympy.sin(F(3.1416) * x + F(0.0003))
            + F(0.06)
            + F(1.999) * (y + F(0.001)) ** 2
        )
        + F(-0.01)
    ) + F(0.002)
    assert ex_round(F(3.14159) * x, 2) == F(3.14) * x
    assert snap_numbers(F(3.1416) * x + F(0.49998), 1e-3) == sympy.pi * x + sympy.Rational(1, 2)
    assert snap_numbers(F(1.2345) * x, 1e-3) == F(1.2345) * x
    target = sympy.exp(sympy.sin(sympy.pi * x) + y**2)
    # exp(u + 0.02) = 1.0202*exp(u): the stray constant merges with the 1.02 in front
    assert clean(e, 1) == target
    assert clean(F(0.98) * sympy.sin(F(-3.1412) * x + F(3.1409)), 1) == sympy.sin(sympy.pi * x)
    with pytest.raises(ValueError, match="digits"):
        ex_round(e, -1)


def test_rounding_sees_products_not_factors():
    """A trained [2,2,1] in float32 (seed 5 of the canonical pipeline) read
    1.0508*(0.9755*x_2)**2 inside the exp: 0.99993*x_2**2, but rounded factor by factor
    1.05*0.98**2 = 1.01*x_2**2. Powers of sums are multiplied out before rounding."""
    x, y = sympy.symbols("x_1 x_2")
    F = sympy.Float
    inner = F(1.05075796711142) * (F(0.975547850131989) * y - F(4.78e-8)) ** 2
    e = F(1.0000006) * sympy.exp(inner - F(0.9999998) * sympy.sin(F(3.1415934) * x + F(3.1415922)))
    e = e - F(1.14e-7) * sympy.sin(F(2.66) * sympy.sin(F(1.68) * x + F(2.21)) + F(1.13))
    target = sympy.exp(sympy.sin(sympy.pi * x) + y**2)
    assert clean(e, 2) == target
    assert clean(e, 3) == target
    # round bases are left factored
    assert clean(F(2.0) * (y - F(1.0)) ** 3, 2) == 2 * (y - 1) ** 3


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 4, 6])
def test_canonical_pipeline_float32(seed):
    """fit (lamb=0.01), prune, fit, auto_symbolic [x, x^2, exp, sin], fit -> the exact formula.

    The symbolic stage is responsible for the formula once pruning has found the [2, 1, 1]
    structure; when pruning keeps a second hidden node the network may not have the target's
    structure at all, so a wrong formula there is an expected failure (bench_symbolic.py
    reports the rate over 10 seeds).

    Margin (seeds 0, 1, 4, 6, each also with the initial parameters perturbed by 1e-7 relative,
    three draws: 16 runs): 15 gave the exact formula, 1 pruned to [2, 2, 1] with another formula
    (seed 0 unperturbed on the AMD dev machine: the xfail path). In every exact run the formula
    rounded to 4 digits is exact too or off by 1e-4 (exp(1.0001*x_2**2 + ...)), while rounding
    to 2 digits tolerates 5e-3: 50x headroom once [2, 1, 1] is found."""
    from kan_widget import create_dataset

    def f(x):
        return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)

    ds = create_dataset(f, n_var=2, seed=seed)
    model = KAN([2, 5, 1], grid=5, k=3, seed=seed)
    losses = model.fit(ds, opt="LBFGS", steps=50, lamb=0.01)["train_loss"]
    model = model.prune()
    width = model.width
    losses += model.fit(ds, opt="LBFGS", steps=50)["train_loss"]
    auto_symbolic(model, lib=["x", "x^2", "exp", "sin"])
    losses += model.fit(ds, opt="LBFGS", steps=50)["train_loss"]
    assert all(math.isfinite(v) for v in losses)
    (expr,) = formula(model, digits=2)
    x1, x2 = sympy.symbols("x_1 x_2")
    if expr != sympy.exp(sympy.sin(sympy.pi * x1) + x2**2) and width != [2, 1, 1]:
        pytest.xfail(f"pruned to {width}, not [2, 1, 1]; expr {expr}")
    assert expr == sympy.exp(sympy.sin(sympy.pi * x1) + x2**2), expr


def test_fully_symbolic_layer_skips_splines_exactly():
    """Once every active edge of a layer is symbolic its spline path is skipped: same outputs
    as the masked spline path (which adds exact zeros), and no gradient reaches the splines."""
    model = KAN([2, 2, 1], grid=5, seed=0)
    l0 = model.layers[0]
    l0.set_symbolic(
        [0, 0, 1],
        [0, 1, 0],
        ["sin", "x^2", "exp"],
        torch.tensor([[2.0, 0.1, 1.5, 0.0], [1.0, 0.0, 0.5, 0.2], [0.5, 0.0, 1.0, -1.0]]),
    )
    l0.mask[1, 1] = 0.0
    x = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert not l0.has_numeric_edges() and model.layers[1].has_numeric_edges()
    y = model(x)
    with_stats, _ = model.run_stats(x, "edge_forward_spline_n")  # the spline path runs here
    torch.testing.assert_close(y, with_stats, rtol=0, atol=0)
    y.sum().backward()
    assert l0.coef.grad is None and l0.sym_params.grad is not None
    assert model.layers[1].coef.grad is not None
    l0.clear_symbolic([1], [0])
    assert l0.has_numeric_edges()  # unfixing an edge brings the splines back


# ---------------------------------------------------------------------- the noise floor
def test_noise_floor_prefers_the_exact_simple_function():
    """A learned edge is only as exact as the model: a ``1/x`` on [1, 2] with a 1e-3 wobble is
    fitted a little better by ``1/sqrt(x + b)`` and an ``x^2`` on [0, 1] with a 1e-2 wobble by
    ``tanh``; at the noise level (``floor``) both fit and the simple, exact one is chosen."""
    from kan_widget.symbolic.fit import fit_functions
    from kan_widget.symbolic.library import resolve_lib
    from kan_widget.symbolic.score import rank

    entries = resolve_lib(None)
    x1 = torch.linspace(1, 2, 100, dtype=torch.float64)
    x2 = torch.linspace(0, 1, 100, dtype=torch.float64)
    x3 = torch.linspace(-2, 2, 100, dtype=torch.float64)
    cases = [
        (x1, 1 / x1 + 1e-3 * torch.sin(9 * x1), 1e-3, "1/x"),
        (x2, x2**2 + 1e-2 * torch.sin(9 * x2), 1e-2, "x^2"),
        (x3, torch.cos(x3) + 1e-2 * torch.sin(7 * x3 + 1), 1e-2, {"sin", "cos"}),
    ]
    X = torch.stack([c[0] for c in cases])
    Y = torch.stack([c[1] for c in cases])
    res = fit_functions(X, Y, entries)
    plain, _ = rank(res.r2, entries, 0.8, None, res.degenerate)
    assert entries[int(plain[0, 0])].name != "1/x"  # without the floor the wobble decides
    noise = torch.tensor([c[2] for c in cases], dtype=torch.float64) / 2**0.5
    floor = (noise / Y.std(1)) ** 2
    order, _ = rank(res.r2, entries, 0.8, None, res.degenerate, floor)
    for e, case in enumerate(cases):
        want = case[3] if isinstance(case[3], set) else {case[3]}
        assert entries[int(order[e, 0])].name in want


def test_fit_records_rmse_for_the_noise_floor():
    from kan_widget import create_dataset

    ds = create_dataset(lambda x: x[:, [0]] ** 2, n_var=1, train_num=100, test_num=10, seed=0)
    model = KAN([1, 1], grid=5, k=3, seed=0)
    assert model.fit_rmse is None
    hist = model.fit(ds, opt="LBFGS", steps=3)
    assert model.fit_rmse == hist["train_loss"][-1]


def test_noise_floor_is_in_the_networks_units():
    """The floor compares the training RMSE (labels' units) with the edges' spread (network
    units): labels 100x larger give the same floor, and copy / prune / refine keep fit_rmse."""
    from kan_widget import create_dataset
    from kan_widget.symbolic.api import _noise_floor

    floors = []
    for scale in (1.0, 100.0):
        ds = create_dataset(
            lambda x, s=scale: s * x[:, [0]] ** 2, n_var=1, train_num=200, test_num=10, seed=0
        )
        model = KAN([1, 1], grid=5, k=3, seed=0, normalize=True)
        model.fit(ds, opt="LBFGS", steps=5)
        assert model.fit_rmse is not None
        phi = model.layers[0].edge_values(model.activations(ds["train_input"])[0])[:, 0, 0].detach()
        floor = _noise_floor(model, phi[None], None)
        assert floor is not None
        # the same noise relative to the labels: the floor is (fit_rmse/scale / spread)^2
        want = (model.fit_rmse / model.scaling.out_scale[0] / phi.double().std()) ** 2
        assert float(floor[0]) == pytest.approx(min(float(want), 1e-2), rel=1e-6)
        floors.append(float(floor[0]))
        for other in (model.copy(), model.prune(), model.refine(7)):
            assert other.fit_rmse == model.fit_rmse
    # the two trainings see identical standardised labels, so the floors agree closely
    assert floors[1] == pytest.approx(floors[0], rel=1e-2)


def test_cos_over_four_radians_is_not_a_gaussian():
    """``cos(y)`` on [-2, 2] (the issue's case) spans 4 radians: a sinusoid, not degenerate, so
    the gaussian that also fits it does not win."""
    from kan_widget.symbolic.fit import fit_functions
    from kan_widget.symbolic.library import resolve_lib
    from kan_widget.symbolic.score import rank

    entries = resolve_lib(None)
    x = torch.linspace(-2, 2, 100, dtype=torch.float64)
    ys = torch.stack([torch.cos(x), torch.cos(x) + 1e-4 * x**3, torch.cos(0.98 * x)])
    res = fit_functions(x[None].expand(len(ys), -1), ys, entries)
    order, _ = rank(res.r2, entries, degenerate=res.degenerate)
    assert {entries[int(k)].name for k in order[:, 0]} <= {"sin", "cos"}


def test_held_out_r2_keeps_exact_functions_and_checks_the_ends():
    """held_out_r2 fits on the inner 80% of each edge's range and scores on all of it: an
    exact function predicts the ends (r2 ~ 1), a function fitted to imitate another on the
    inner range loses accuracy at the ends; bad fractions are refused, too few samples skip."""
    from kan_widget.symbolic.fit import fit_functions
    from kan_widget.symbolic.heldout import held_out_r2
    from kan_widget.symbolic.library import resolve_lib

    entries = resolve_lib(["x^2", "sin", "exp", "1/x", "tanh"])
    names = [e.name for e in entries]
    x1 = torch.linspace(1, 2, 100, dtype=torch.float64)
    x2 = torch.linspace(-1, 1, 100, dtype=torch.float64)
    cases = [(x1, 1 / x1, "1/x"), (x2, torch.exp(x2), "exp"), (x2, torch.sin(2 * x2), "sin")]
    x3 = torch.linspace(0, 1, 100, dtype=torch.float64)
    cases.append((x3, 3 * x3**2 - 1, "x^2"))
    X = torch.stack([c[0] for c in cases])
    Y = torch.stack([c[1] for c in cases])
    ho = held_out_r2(X, Y, entries)
    res = fit_functions(X, Y, entries)
    assert ho is not None and ho.shape == (len(cases), len(entries))
    for e, (_, _, name) in enumerate(cases):
        assert float(ho[e, names.index(name)]) > 1 - 1e-8  # exact: predicts the ends
    # tanh imitating a parabola on [0.1, 0.9] misses the ends by more than it does in-sample
    t = names.index("tanh")
    assert 1 - float(ho[3, t]) > 2 * (1 - float(res.r2[3, t]))
    with pytest.raises(ValueError, match="frac"):
        held_out_r2(X, Y, entries, frac=0.5)
    assert held_out_r2(X[:, :10], Y[:, :10], entries) is None
