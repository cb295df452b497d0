"""Teaching data sets: TensorFlow Playground's (classification: circle, XOR, two Gaussians, spiral;
regression: plane, multi-Gaussian), the KAN paper's toy functions, and a typed formula.

Every set is drawn from a local generator (``seed``), so the global RNGs are untouched, and comes
back as a dataset dict (``train_input``, ``train_label``, ``test_input``, ``test_label``) with
``in_vars``. Class labels are 1-D ``long`` tensors (``fit`` detects a classification); regression
labels are ``[n, 1]`` floats. Coordinates are TF Playground's divided by 5, so the input square
is about [-1, 1]^2, the KAN grid's default range.

A typed formula is never run as Python: :func:`parse_formula` checks its syntax tree against a
short list of operators, names and functions before sympy's parser builds the expression, and
the expression is evaluated through ``sympy.lambdify`` on numbers.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = [
    "CLASSIFICATION_SETS",
    "DATASETS",
    "FORMULA_FUNCTIONS",
    "REGRESSION_SETS",
    "TOY_FUNCTIONS",
    "FormulaError",
    "make_dataset",
    "parse_formula",
]

CLASSIFICATION_SETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_SETS = ("plane", "multi_gauss")
# the KAN paper's toy functions (Liu et al. 2024, fig. 3.1 and §3), as typed formulas
TOY_FUNCTIONS: dict[str, str] = {
    "toy_exp_sin": "exp(sin(pi*x) + y^2)",
    "toy_xy": "x*y",
    "toy_sin_sq": "sin(pi*x) + y^2",
    "toy_bessel": "besselj(0, 20*x)",
}
DATASETS = (*CLASSIFICATION_SETS, *REGRESSION_SETS, *TOY_FUNCTIONS, "formula")

# what a formula may call (sympy names); anything else is refused before parsing
FORMULA_FUNCTIONS = (
    "sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "asin", "acos", "atan",
    "arcsin", "arccos", "arctan", "abs", "Abs", "sign", "besselj", "Min", "Max", "min", "max",
    "sigmoid",
)  # fmt: skip
FORMULA_CONSTANTS = ("pi", "E", "e")
MAX_FORMULA_CHARS = 200
MAX_CONSTANT = 1e6
MAX_DEPTH = 30


class FormulaError(ValueError):
    """A typed formula that is not a formula of the allowed variables and functions."""


def _check_tree(tree: ast.AST, variables: tuple[str, ...]) -> None:
    """Refuse every syntax but arithmetic on numbers, the variables, the constants and the
    allowed functions: no attributes, subscripts, strings, keywords, lambdas or comprehensions,
    so nothing in the text can reach Python objects when sympy's parser evaluates it."""
    allowed = set(variables) | set(FORMULA_CONSTANTS)

    def visit(node: ast.AST, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise FormulaError(f"the formula nests more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Expression):
            return visit(node.body, depth + 1)
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
                raise FormulaError(
                    f"operator {type(node.op).__name__} is not allowed; use + - * / ^"
                )
            if isinstance(node.op, ast.Pow):
                # a tower (9^9^9) has more digits than memory: its exponent holds no power
                if any(
                    isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)
                    for n in ast.walk(node.right)
                ):
                    raise FormulaError("powers of powers (a^b^c) are not allowed")
                exp = node.right.value if isinstance(node.right, ast.Constant) else None
                if isinstance(exp, (int, float)) and abs(exp) > 100:
                    raise FormulaError("exponents above 100 are not allowed")
            visit(node.left, depth + 1)
            return visit(node.right, depth + 1)
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.UAdd, ast.USub)):
                raise FormulaError(f"operator {type(node.op).__name__} is not allowed")
            return visit(node.operand, depth + 1)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise FormulaError(f"{v!r} is not a number")
            if abs(v) > MAX_CONSTANT:
                raise FormulaError(f"numbers above {MAX_CONSTANT:g} are not allowed")
            return None
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                raise FormulaError(
                    f"unknown name {node.id!r}: the variables are {', '.join(variables)}, the "
                    f"constants pi and E"
                )
            return None
        if isinstance(node, ast.Call):
            f = node.func
            if not isinstance(f, ast.Name) or f.id not in FORMULA_FUNCTIONS:
                name = f.id if isinstance(f, ast.Name) else ast.unparse(f)
                known = ", ".join(FORMULA_FUNCTIONS)
                raise FormulaError(f"{name!r} is not an allowed function; use one of {known}")
            if node.keywords:
                raise FormulaError("keyword arguments are not allowed")
            for a in node.args:
                visit(a, depth + 1)
            return None
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula")

    visit(tree, 0)


def parse_formula(text: str, variables: tuple[str, ...] = ("x", "y")):
    """The sympy expression of ``text`` (``^`` is a power), in ``variables``; ``FormulaError``
    naming what is wrong otherwise. The text is checked as a syntax tree first (only numbers,
    the variables, ``pi``/``E``, ``+ - * / ^`` and :data:`FORMULA_FUNCTIONS`), then sympy's
    parser builds the expression from those names alone (no builtins)."""
    import sympy
    from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the formula is empty: type an expression of x and y, e.g. x*y")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(f"the formula is longer than {MAX_FORMULA_CHARS} characters")
    if "__" in text or any(c in text for c in ";\n\\'\"`[]{}:@!=<>&|~$#"):
        raise FormulaError(
            "the formula may hold only numbers, variables, functions, + - * / ^ and brackets"
        )
    py = text.replace("^", "**")
    try:
        tree = ast.parse(py, mode="eval")
    except SyntaxError as e:
        raise FormulaError(
            f"the formula is not an expression ({e.msg} at column {e.offset}); write products "
            f"with *, e.g. 2*x*y"
        ) from None
    _check_tree(tree, variables)
    syms = {v: sympy.Symbol(v, real=True) for v in variables}
    names: dict[str, Any] = {
        "pi": sympy.pi,
        "E": sympy.E,
        "e": sympy.E,
        "abs": sympy.Abs,
        "arcsin": sympy.asin,
        "arccos": sympy.acos,
        "arctan": sympy.atan,
        "min": sympy.Min,
        "max": sympy.Max,
        "sigmoid": lambda z: 1 / (1 + sympy.exp(-z)),
    }
    for f in FORMULA_FUNCTIONS:
        if f not in names:
            names[f] = getattr(sympy, f)
    safe_globals = {
        "__builtins__": {},
        "Integer": sympy.Integer,
        "Float": sympy.Float,
        "Rational": sympy.Rational,
        "Symbol": sympy.Symbol,
        # evaluate=False builds the tree from these (nothing is computed while parsing, so
        # 9^9^9 is a tree, not a number with 370 million digits)
        "Add": sympy.Add,
        "Mul": sympy.Mul,
        "Pow": sympy.Pow,
    }
    try:
        expr = parse_expr(
            text,
            local_dict={**names, **syms},
            global_dict=safe_globals,
            transformations=(*standard_transformations, convert_xor),
            evaluate=False,
        )
    except Exception as e:  # the tree was checked: what is left is sympy refusing the math
        raise FormulaError(f"sympy could not read the formula: {e}") from None
    if not isinstance(expr, sympy.Expr):
        raise FormulaError("the formula is not an expression of numbers")
    return expr


def _formula_fn(text: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import sympy

    expr = parse_formula(text)
    # floats, not Python integers: 9^9^9 must overflow to an error, not compute 370M digits
    expr = expr.xreplace({i: sympy.Float(i) for i in expr.atoms(sympy.Integer)})
    fn = sympy.lambdify(sympy.symbols("x y", real=True), expr, modules=["scipy", "numpy"])

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        try:
            with np.errstate(all="ignore"):
                out = np.broadcast_to(np.asarray(fn(x, y), dtype=np.float64), x.shape).copy()
        except (ArithmeticError, ValueError, TypeError) as e:
            raise FormulaError(f"{text!r} cannot be computed: {e}") from None
        bad = ~np.isfinite(out)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FormulaError(
                f"{text!r} is not finite at {int(bad.sum())} of {out.size} points, e.g. "
                f"x={x[i]:.3g}, y={y[i]:.3g}: the inputs lie in [-1, 1]; use a formula "
                f"defined there (log(x) needs x > 0: try log(x + 2))"
            )
        return out

    return f


def _uniform(g: torch.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    return (torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo) + lo).numpy()


def _normal(g: torch.Generator, n: int) -> np.ndarray:
    return torch.randn(n, generator=g, dtype=torch.float64).numpy()


def _draw(name: str, n: int, noise: float, g: torch.Generator, formula: str | None):
    """``(x [n, 2], labels)`` in TF Playground's units (radius 5)."""
    if name == "circle":
        radius = 5.0
        half = n // 2
        r = np.concatenate(
            [_uniform(g, half, 0, radius * 0.5), _uniform(g, n - half, radius * 0.7, radius)]
        )
        a = _uniform(g, n, 0, 2 * math.pi)
        x, y = r * np.sin(a), r * np.cos(a)
        nx, ny = _uniform(g, n, -radius, radius) * noise, _uniform(g, n, -radius, radius) * noise
        label = (np.hypot(x + nx, y + ny) < radius * 0.5).astype(np.int64)
        return np.stack([x, y], 1), label
    if name == "xor":
        x, y = _uniform(g, n, -5, 5), _uniform(g, n, -5, 5)
        x, y = x + np.where(x > 0, 0.3, -0.3), y + np.where(y > 0, 0.3, -0.3)
        nx, ny = _uniform(g, n, -5, 5) * noise, _uniform(g, n, -5, 5) * noise
        return np.stack([x, y], 1), ((x + nx) * (y + ny) >= 0).astype(np.int64)
    if name == "gauss":
        std = math.sqrt(0.5 + (4 - 0.5) * noise / 0.5)  # TF: variance 0.5 .. 4 for noise 0 .. 0.5
        half = n // 2
        label = np.concatenate([np.ones(half, np.int64), np.zeros(n - half, np.int64)])
        c = np.where(label == 1, 2.0, -2.0)
        return np.stack([c + std * _normal(g, n), c + std * _normal(g, n)], 1), label
    if name == "spiral":
        half = n // 2
        i = np.concatenate([np.arange(half), np.arange(n - half)]).astype(np.float64)
        m = np.concatenate([np.full(half, half), np.full(n - half, n - half)]).astype(np.float64)
        label = np.concatenate([np.ones(half, np.int64), np.zeros(n - half, np.int64)])
        r = i / m * 5
        t = 1.75 * i / m * 2 * math.pi + np.where(label == 1, 0.0, math.pi)
        x = r * np.sin(t) + _uniform(g, n, -1, 1) * noise
        y = r * np.cos(t) + _uniform(g, n, -1, 1) * noise
        return np.stack([x, y], 1), label
    if name == "plane":
        x, y = _uniform(g, n, -6, 6), _uniform(g, n, -6, 6)
        nx, ny = _uniform(g, n, -6, 6) * noise, _uniform(g, n, -6, 6) * noise
        return np.stack([x, y], 1), ((x + nx) + (y + ny)) / 10
    if name == "multi_gauss":
        x, y = _uniform(g, n, -6, 6), _uniform(g, n, -6, 6)
        nx, ny = _uniform(g, n, -6, 6) * noise, _uniform(g, n, -6, 6) * noise
        centres = (
            (-4, 2.5, 1),
            (0, 2.5, -1),
            (4, 2.5, 1),
            (-4, -2.5, -1),
            (0, -2.5, 1),
            (4, -2.5, -1),
        )
        label = np.zeros(n)
        for cx, cy, sign in centres:
            d = np.hypot(x + nx - cx, y + ny - cy)
            v = sign * np.clip(1 - d / 2, 0, 1)
            label = np.where(np.abs(v) > np.abs(label), v, label)
        return np.stack([x, y], 1), label
    # a formula (typed, or one of the toy functions) over [-5, 5]^2 (so [-1, 1]^2 after / 5)
    text = TOY_FUNCTIONS.get(name, formula)
    if text is None:
        raise FormulaError("data='formula' needs formula='...' (e.g. 'x*y')")
    f = _formula_fn(text)
    u, v = _uniform(g, n, -1, 1), _uniform(g, n, -1, 1)
    t = f(u, v)
    t = t + noise * (t.std() if t.std() > 0 else 1.0) * _normal(g, n)
    return np.stack([u, v], 1) * 5, t


def make_dataset(
    name: str = "circle",
    n: int = 500,
    noise: float = 0.0,
    train_ratio: float = 0.5,
    seed: int = 0,
    formula: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict:
    """A teaching data set as a dataset dict: ``n`` points, ``train_ratio`` of them for training
    (TF Playground's default 50%), ``noise`` in TF Playground's units (0 .. 0.5), drawn with
    ``seed``. ``name``: one of :data:`DATASETS`; ``"formula"`` takes ``formula`` (a typed
    expression of ``x`` and ``y``, see :func:`parse_formula`), with Gaussian noise of ``noise``
    times the labels' std."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if not isinstance(n, int) or isinstance(n, bool) or not 4 <= n <= 100_000:
        raise ValueError(f"n must be an int in 4..100000; got {n!r}")
    if not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
        raise ValueError(f"noise must be a number in [0, 1]; got {noise!r}")
    if not isinstance(train_ratio, (int, float)) or not 0 < train_ratio < 1:
        raise ValueError(f"train_ratio must be a number in (0, 1); got {train_ratio!r}")
    g = torch.Generator().manual_seed(int(seed))
    xy, label = _draw(name, n, float(noise), g, formula)
    xy = xy / 5.0
    perm = torch.randperm(n, generator=g).numpy()
    n_train = min(n - 1, max(1, round(n * train_ratio)))
    tr, te = perm[:n_train], perm[n_train:]
    x = torch.as_tensor(xy, dtype=dtype)
    if name in CLASSIFICATION_SETS:
        y = torch.as_tensor(label, dtype=torch.long)
    else:
        y = torch.as_tensor(label, dtype=dtype).reshape(-1, 1)
    return {
        "train_input": x[tr],
        "train_label": y[tr],
        "test_input": x[te],
        "test_label": y[te],
        "in_vars": ["x", "y"],
    }
