"""A KAN whose edges are all symbolic, read off as sympy formulas.

Every layer's node ``j`` is ``sum_i c*f(a*x_i + b) + d`` over its unmasked incoming edges, with
``f`` the entry's sympy form: the plain function (``sqrt(x)``) where the edge's argument stays in
its domain on the training data, else the guard the model's safe torch form applies there
(:mod:`kan_widget.symbolic.domain`), so the formula computes what the model computes. Simplifying
is kept only when it does not change the values on the training inputs.
Formulas can be rounded (:func:`ex_round`) and have their numbers snapped to nearby integers,
simple fractions and multiples of pi (:func:`snap_numbers`); :func:`clean` does both and
simplifies. ``sympy.latex(expr)`` turns any of them into LaTeX. :func:`formula` gives the clean list
(``model.formula()``); :func:`symbolic_formula` is pykan's ``(formulas, variables)``.
"""

from __future__ import annotations

import importlib
import math
import os
import pickle
import select
import signal
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import sympy
import torch

from ..threads import OneThread
from .domain import edge_sympy
from .library import get_function

__all__ = [
    "FormulaNotSimplified",
    "clean",
    "edge_expr",
    "ex_round",
    "formula",
    "input_symbols",
    "numeric_edges",
    "snap_numbers",
    "symbolic_formula",
]

# sympy.simplify on a large network's formula can take minutes (a 344-operation formula of 36
# edges: over 5 minutes; even a 12-operation one takes 2-4 s). So it runs in a forked child
# process for at most SIMPLIFY_SECONDS, and not at all beyond SIMPLIFY_MAX_OPS operations (or,
# where there is no fork, beyond SIMPLIFY_MAX_OPS_INLINE): the formula is then returned as built,
# with a FormulaNotSimplified warning.
SIMPLIFY_MAX_OPS = 400
SIMPLIFY_MAX_OPS_INLINE = 40
SIMPLIFY_SECONDS = 2.0
# sympy evaluates every nested function application while building (8.5 s for 36 edges): beyond
# this many active edges the formula is built unevaluated (sympy.evaluate(False)), in milliseconds
BUILD_MAX_EDGES = 16


class FormulaNotSimplified(UserWarning):
    """``symbolic_formula`` returned a formula without (full) simplification: it was too large
    or simplifying ran out of time. The formula is exact; only its form is longer."""


def input_symbols(n: int, var=None) -> list[sympy.Symbol]:
    """``x_1 .. x_n`` (pykan's names), or the user's names / sympy symbols."""
    if var is None:
        return [sympy.Symbol(f"x_{k + 1}") for k in range(n)]
    if isinstance(var, str) or not isinstance(var, Sequence):
        raise TypeError(f"var must be a list of {n} names or sympy symbols; got {var!r}")
    if len(var) != n:
        raise ValueError(f"var has {len(var)} entries but the model has {n} inputs")
    out = []
    for v in var:
        if isinstance(v, sympy.Basic):
            out.append(v)
        elif isinstance(v, str):
            out.append(sympy.Symbol(v))
        else:
            raise TypeError(f"var entries must be str or sympy symbols; got {v!r}")
    return out


def edge_expr(
    name: str, params: Sequence[float], x: sympy.Expr, u: torch.Tensor | None = None
) -> sympy.Expr:
    """``c*f(a*x + b) + d`` for library function ``name`` and ``params = (a, b, c, d)``.

    ``u``: the values the argument ``a*x + b`` takes on the data, if known; then ``f`` is the
    plainest form that equals the model's safe torch function there (``sqrt(u)`` if ``u`` stays
    positive, else ``sign(u)*sqrt(Abs(u))``, see :mod:`kan_widget.symbolic.domain`)."""
    a, b, c, d = (sympy.Float(float(v)) for v in params)
    return c * edge_sympy(get_function(name), u)(a * x + b) + d


def _layer_inputs(model) -> list[torch.Tensor] | None:
    """Every layer's inputs on the training data (``model.train_input``), or None."""
    data = getattr(model, "train_input", None)
    if data is None:
        return None
    with torch.no_grad(), OneThread():
        return [a.detach().to(torch.float64) for a in model.activations(data)]


def numeric_edges(model) -> list[tuple[int, int, int]]:
    """Active edges that are still splines, as ``(l, i, j)``."""
    out: list[tuple[int, int, int]] = []
    for l, layer in enumerate(model.layers):
        todo = layer.numeric_mask()
        out.extend((l, int(i), int(j)) for i, j in todo.nonzero().tolist())
    return out


def _layer_exprs(model, xs: list[sympy.Expr]) -> list[sympy.Expr]:
    """The outputs for inputs ``xs`` (the data's units: the model's scaling is applied here)."""
    xs = _scaled_inputs(model, xs)
    acts = _layer_inputs(model)
    for l, layer in enumerate(model.layers):
        mask = layer.mask.detach().cpu()
        sym = layer.sym_mask.detach().cpu()
        params = layer.sym_params.detach().cpu().double()
        outs: list[sympy.Expr] = []
        for j in range(layer.out_dim):
            terms = []
            for i in range(layer.in_dim):
                if mask[i, j] == 0:
                    continue
                if bool(sym[i, j]):
                    p = params[i, j]
                    u = None if acts is None else p[0] * acts[l][:, i] + p[1]
                    terms.append(edge_expr(layer.sym_names[(i, j)], p.tolist(), xs[i], u))
                    if layer.ns_mask[i, j] != 0:  # 'ns': the spline part beside it
                        terms.append(sympy.Function(f"phi_{l}_{i}_{j}")(xs[i]))
                else:
                    terms.append(sympy.Function(f"phi_{l}_{i}_{j}")(xs[i]))
            outs.append(sympy.Add(*terms))
        xs = _node_exprs(model, l, outs)
    return _scaled_outputs(model, xs)


def _affine_expr(scale: float, bias: float, e: sympy.Expr) -> sympy.Expr:
    """``scale*e + bias``, written as ``e`` where the map is the identity."""
    if scale != 1.0:
        e = sympy.Float(scale) * e
    return e + sympy.Float(bias) if bias != 0.0 else e


def _node_exprs(model, l: int, subs: list[sympy.Expr]) -> list[sympy.Expr]:
    """Layer ``l``'s subnode sums -> the nodes of layer ``l + 1``: pykan's node maps and the
    products of multiplication nodes (:mod:`kan_widget.nodes`), as the forward computes them."""
    if not model.has_node_step:
        return subs
    ss, sb, ns, nb = (t.detach().cpu().double().tolist() for t in model._affine(l))
    subs = [_affine_expr(ss[j], sb[j], e) for j, e in enumerate(subs)]
    layout = model.nodes[l + 1]
    nodes = subs[: layout.n_sum]
    start = layout.n_sum
    for a in layout.arities:
        nodes.append(sympy.Mul(*subs[start : start + a]))
        start += a
    return [_affine_expr(ns[j], nb[j], e) for j, e in enumerate(nodes)]


def _scaled_inputs(model, xs: list[sympy.Expr]) -> list[sympy.Expr]:
    """The data's units -> the network's (``model.scaling``; nothing without one)."""
    scaling = getattr(model, "scaling", None)
    if scaling is None or scaling.in_identity:
        return xs
    return [
        sympy.Float(a) * x + sympy.Float(b) if (a, b) != (1.0, 0.0) else x
        for x, a, b in zip(xs, scaling.in_scale, scaling.in_shift, strict=True)
    ]


def _scaled_outputs(model, ys: list[sympy.Expr]) -> list[sympy.Expr]:
    """The network's units -> the data's."""
    scaling = getattr(model, "scaling", None)
    if scaling is None or scaling.out_identity:
        return ys
    return [
        sympy.Float(c) * y + sympy.Float(d)
        for y, c, d in zip(ys, scaling.out_scale, scaling.out_shift, strict=True)
    ]


def _default_var(model, var):
    """``var``, or the data's column names when the model was trained on a table."""
    scaling = getattr(model, "scaling", None)
    if var is None and scaling is not None and scaling.in_vars is not None:
        return list(scaling.in_vars)
    return var


def _build(model, xs: list[sympy.Expr], simplify: bool) -> tuple[list[sympy.Expr], bool]:
    """:func:`_layer_exprs`; over ``BUILD_MAX_EDGES`` active edges without sympy's evaluation
    (milliseconds instead of minutes: the same function in a longer form), which also means
    no simplification (a :class:`FormulaNotSimplified` warning when ``simplify``). Returns the
    formulas and whether they were built evaluated."""
    if model.n_edge <= BUILD_MAX_EDGES:
        return _layer_exprs(model, xs), True
    with sympy.evaluate(False):
        outs = _layer_exprs(model, xs)
    if simplify:
        _not_simplified(f"the network has {model.n_edge} active edges (over {BUILD_MAX_EDGES})")
    return outs, False


def _not_simplified(why: str) -> None:
    warnings.warn(
        FormulaNotSimplified(f"formula not simplified: {why}; it is exact, in a longer form"),
        stacklevel=4,
    )


def _check_symbolic(model, allow_numeric: bool) -> None:
    numeric = numeric_edges(model)
    if numeric and not allow_numeric:
        shown = ", ".join(str(e) for e in numeric[:8]) + (" ..." if len(numeric) > 8 else "")
        raise ValueError(
            f"{len(numeric)} active edge(s) are not symbolic yet: {shown}. Fix them with "
            "auto_symbolic() or fix_symbolic(l, i, j, name), or pass allow_numeric=True to "
            "show them as phi_l_i_j(x)"
        )


def formula(
    model, var=None, digits: int | None = None, simplify: bool = True, allow_numeric: bool = True
) -> list[sympy.Expr]:
    """One clean sympy expression per model output, in the input names ``var`` (default: the
    data's column names when the model was trained on a table, else ``x_1 ..``), in the data's
    units (the model's :attr:`~kan_widget.model.KAN.scaling` is folded into the numbers):
    ``model.formula()``. pykan's ``symbolic_formula`` (``(formulas, symbols)``, never
    simplified) is :func:`symbolic_formula`.

    - ``simplify``: constant factors are pulled out of ``exp`` (``exp(u + k) -> e^k*exp(u)``) and
      ``sympy.simplify`` is applied with the inputs taken as real (``log(exp(x)) -> x``), bounded:
      for at most ``SIMPLIFY_SECONDS`` (in a forked process) and only on formulas of at most
      ``SIMPLIFY_MAX_OPS`` operations; otherwise the formula comes back as built, with a
      :class:`FormulaNotSimplified` warning. The returned formulas use plain ``sympy.Symbol``
      names without assumptions.
    - ``digits``: round every number to this many decimals and snap numbers within rounding
      distance of an integer, a fraction ``p/q`` or a multiple ``p*pi/q`` with small ``q`` (see
      :func:`clean`); ``None`` keeps full precision.
    - Networks of more than ``BUILD_MAX_EDGES`` active edges get their formula built without
      sympy's evaluation (which took 10-40 s for all 336 edges of a [4, 16, 16, 1]) and not
      simplified (a :class:`FormulaNotSimplified` warning says so).
    - Masked (pruned) edges contribute nothing. An active edge that is still a spline (as
      ``auto_symbolic(r2_threshold=...)`` leaves the edges no library function fits) appears as
      an undefined function ``phi_l_i_j(x)``, named after the edge; ``allow_numeric=False``
      raises ``ValueError`` naming such edges instead.
    """
    _check_symbolic(model, allow_numeric)
    var = _default_var(model, var)
    outs, evaluated = _build(model, input_symbols(model.layers[0].in_dim, var), simplify)
    if not evaluated:
        if digits is not None:
            with sympy.evaluate(False):
                outs = [ex_round(e, digits) for e in outs]
        return outs
    result = []
    for expr in outs:
        if digits is not None:
            expr = clean(expr, digits, simplify=simplify)
        elif simplify:
            expr = _simplify_checked(expr, input_symbols(model.layers[0].in_dim, var), model)
        result.append(sympy.sympify(expr))
    return result


def symbolic_formula(
    model,
    var=None,
    normalizer=None,
    output_normalizer=None,
    *,
    simplify: bool = False,
    allow_numeric: bool = True,
) -> tuple[list[sympy.Expr], list[sympy.Expr]]:
    """pykan's ``symbolic_formula``: ``(formulas, variables)``, one sympy expression per output
    and the input symbols (``x_1 ..``, or ``var``: names or sympy expressions; by default a
    table's column names when the model was trained on one), so that
    ``model.symbolic_formula()[0][0]`` is the first output's formula. In the data's units: the
    model's own :attr:`~kan_widget.model.KAN.scaling` is folded in.

    - ``normalizer``: ``(means, stds)`` of the inputs; the formula is in the raw inputs,
      ``x -> (x - mean)/std`` (for a model trained on normalised inputs).
    - ``output_normalizer``: ``(means, stds)`` of the outputs; the formula gives the raw
      outputs, ``y -> y*std + mean``.
    - ``simplify`` (ours, default off as pykan's): as in :func:`formula`.
    - Unlike pykan, an active edge that is still a spline appears as ``phi_l_i_j(x)`` (pykan
      silently counts it as 0, so its formula does not compute what the model computes);
      ``allow_numeric=False`` raises ``ValueError`` instead.
    - Over ``BUILD_MAX_EDGES`` active edges the formula is built without sympy's evaluation.

    :func:`formula` (``model.formula()``) gives the cleaned, simplified list instead.
    """
    _check_symbolic(model, allow_numeric)
    var = _default_var(model, var)
    n_in, n_out = model.layers[0].in_dim, model.layers[-1].out_dim
    if var is not None and not isinstance(var, str) and isinstance(var, Sequence) and var:
        if all(isinstance(v, sympy.Expr) for v in var):
            if len(var) != n_in:
                raise ValueError(f"var has {len(var)} entries but the model has {n_in} inputs")
            x0: list[sympy.Expr] = list(var)
        else:
            x0 = list(input_symbols(n_in, var))
    else:
        x0 = list(input_symbols(n_in, var))
    xs = list(x0)
    if normalizer is not None:
        mean, std = _pair(normalizer, n_in, "normalizer", "inputs")
        xs = [(x - m) / s for x, m, s in zip(xs, mean, std, strict=True)]
    outs, evaluated = _build(model, xs, simplify)
    if output_normalizer is not None:
        mean, std = _pair(output_normalizer, n_out, "output_normalizer", "outputs")
        outs = [y * s + m for y, m, s in zip(outs, mean, std, strict=True)]
    if not evaluated:
        return outs, x0
    if simplify:
        outs = [_simplify_checked(y, x0, model) for y in outs]
    return [sympy.sympify(y) for y in outs], x0


def _pair(norm, n: int, name: str, what: str) -> tuple[list[float], list[float]]:
    """``(means, stds)`` of ``n`` numbers each, as floats; a clear error otherwise."""
    try:
        mean, std = norm
        mean = [float(v) for v in (mean.flatten() if hasattr(mean, "flatten") else mean)]
        std = [float(v) for v in (std.flatten() if hasattr(std, "flatten") else std)]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be (means, stds), one of each per model {what[:-1]}; got {norm!r}"
        ) from None
    if len(mean) != n or len(std) != n:
        raise ValueError(
            f"{name} must hold {n} means and {n} stds (one per model {what[:-1]}); got "
            f"{len(mean)} and {len(std)}"
        )
    return mean, std


# ---------------------------------------------------------------------- number handling
def _pull_exp_constants(expr: sympy.Expr) -> sympy.Expr:
    """``exp(u + k) -> e^k * exp(u)`` for constant ``k``, so stray constants inside an ``exp``
    merge with the coefficient in front (and round away together)."""
    symbols = expr.free_symbols
    if not symbols:
        return expr

    def split(e):
        const, rest = e.args[0].as_independent(*symbols, as_Add=True)
        if const == 0 or rest == 0:
            return e
        return sympy.exp(const) * sympy.exp(rest)

    return expr.replace(lambda e: isinstance(e, sympy.exp), split)


def _simplify_real(expr: sympy.Expr) -> sympy.Expr:
    """``sympy.simplify`` treating the inputs as real numbers (they are), so that e.g.
    ``log(exp(x)) -> x``; the result keeps the caller's (assumption-free) symbols, so
    ``expr.subs(sympy.Symbol("x_1"), 0)`` still works."""
    out = _simplify_bounded(expr)
    return expr if out is None else out


def _simplify_bounded(expr: sympy.Expr) -> sympy.Expr | None:
    """:func:`_simplify_real_now` within the bounds (see ``SIMPLIFY_SECONDS``), or ``None`` and
    a :class:`FormulaNotSimplified` warning. A formula simplified before in this process gives
    the result it gave then (:data:`_SIMPLIFIED`)."""
    ops = sympy.count_ops(expr)
    forks = hasattr(os, "fork") and SIMPLIFY_SECONDS > 0
    limit = SIMPLIFY_MAX_OPS if forks else SIMPLIFY_MAX_OPS_INLINE
    if ops > limit:
        _not_simplified(f"{ops} operations (over {limit})")
        return None
    key = sympy.srepr(expr)
    with _SIMPLIFIED_LOCK:
        out = _SIMPLIFIED.get(key)
        if out is not None:
            _SIMPLIFIED.move_to_end(key)
            return out
    if not forks:
        out = _simplify_real_now(expr)
    else:
        _import_for_children()
        out = _in_child(_simplify_real_now, expr, SIMPLIFY_SECONDS)
        if out is None:  # not remembered: another try may have the time
            _not_simplified(f"sympy.simplify took over {SIMPLIFY_SECONDS:g} s")
            return None
    with _SIMPLIFIED_LOCK:
        _SIMPLIFIED[key] = out
        while len(_SIMPLIFIED) > SIMPLIFIED_KEPT:
            _SIMPLIFIED.popitem(last=False)
    return out


# sympy.simplify's results by the formula's srepr (exact numbers and symbols' assumptions), the
# most recently used SIMPLIFIED_KEPT of them. The result is a function of the formula alone, and
# it is asked for again and again: clean()'s second round is usually the first round's formula
# (rounding changed nothing), and a widget redraws the formula of an unchanged model; each ask
# was a forked child and a sympy.simplify, 0.1-0.4 s for exp(x_2**2 + sin(pi*x_1)) (measured).
SIMPLIFIED_KEPT = 256
_SIMPLIFIED: OrderedDict[str, sympy.Expr] = OrderedDict()
_SIMPLIFIED_LOCK = threading.Lock()

# modules sympy.simplify imports on its first call in a process (sympy.physics.units, for its
# Quantity check: 0.25-0.3 s, measured). A child's imports die with it, so each child imported
# them again; imported once here, every child finds them.
_CHILD_IMPORTS = ("sympy.physics.units", "sympy.physics.units.util")


def _import_for_children() -> None:
    for name in _CHILD_IMPORTS:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:  # another sympy: its children import what they need
                pass


def _simplify_real_now(expr: sympy.Expr) -> sympy.Expr:
    reps = {
        s: sympy.Dummy(s.name, real=True)
        for s in expr.free_symbols
        if isinstance(s, sympy.Symbol) and s.is_real is None
    }
    back = {v: k for k, v in reps.items()}
    return sympy.simplify(expr.xreplace(reps)).xreplace(back)


def _in_child(fn: Callable, arg, seconds: float):
    """``fn(arg)`` computed in a forked child process, or ``None`` when it takes over
    ``seconds`` (the child is then killed) or fails. sympy cannot be interrupted inside this
    process; a child can. The child only runs pure-Python sympy and leaves with ``os._exit``."""
    r, w = os.pipe()
    with warnings.catch_warnings():  # Python 3.12 warns on fork in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(r)
            data = pickle.dumps(fn(arg))
            with os.fdopen(w, "wb") as f:
                f.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    done = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                break
            b = os.read(r, 1 << 16)
            if not b:
                done = True
                break
            chunks.append(b)
    finally:
        os.close(r)
        if not done:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not done or status != 0 or not chunks:
        return None
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:
        return None


def _simplify(expr: sympy.Expr) -> sympy.Expr:
    return _simplify_real(_pull_exp_constants(expr))


def _guarded_expr(expr: sympy.Expr) -> bool:
    """Whether ``expr`` holds a domain guard (see :mod:`kan_widget.symbolic.domain`):
    ``sympy.simplify`` on those is slow (tens of seconds) and can drop the guard."""
    return bool(expr.has(sympy.Piecewise, sympy.Min, sympy.Max, sympy.sign))


def _values(expr: sympy.Expr, symbols: list, x: torch.Tensor):
    import numpy as np

    fn = sympy.lambdify(symbols, expr, "numpy")
    cols = [x[:, k].detach().to(torch.float64).cpu().numpy() for k in range(x.shape[1])]
    with np.errstate(all="ignore"):
        out = np.asarray(fn(*cols), dtype=complex)
    return np.broadcast_to(out, (x.shape[0],))


def _simplify_checked(expr: sympy.Expr, symbols: list, model) -> sympy.Expr:
    """Simplify ``expr`` unless that changes what it computes on the training inputs: the
    simplified formula must equal the unsimplified one (which equals the model) to 1e-9
    relative there, else the lighter ``exp`` constant pull (or nothing) is kept."""
    import numpy as np

    x = getattr(model, "train_input", None)
    candidates = [_pull_exp_constants(expr), expr]
    if not _guarded_expr(expr):
        candidates.insert(0, _simplify(expr))
    if x is None:
        return candidates[0]
    x = x[:256]
    try:
        ref = _values(expr, symbols, x)
    except NameError:
        # spline edges left as phi_l_i_j(...) (undefined functions): nothing to compare on, so
        # only the exact exp-constant pull is applied
        return candidates[-2]
    scale = float(np.nanmax(np.abs(ref))) if np.isfinite(ref).any() else 1.0
    for cand in candidates[:-1]:
        try:
            got = _values(cand, symbols, x)
        except Exception:  # a form numpy cannot evaluate: keep looking
            continue
        same = np.isfinite(got) == np.isfinite(ref)
        close = np.abs(np.where(np.isfinite(ref), got - ref, 0)) <= 1e-9 * (scale + 1e-300)
        if bool((same & close).all()):
            return cand
    return expr


def ex_round(expr: sympy.Expr, digits: int) -> sympy.Expr:
    """Round every float in ``expr`` to ``digits`` decimals (pykan's ``ex_round``, done in one
    pass)."""
    if not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be an int >= 0; got {digits!r}")
    reps = {f: sympy.Float(round(float(f), digits)) for f in expr.atoms(sympy.Float)}
    return expr.xreplace(reps)


def _snap(value: float, tol: float) -> sympy.Expr | None:
    if abs(value - round(value)) <= tol:
        return sympy.Integer(round(value))
    best: tuple[float, sympy.Expr] | None = None
    for q in (2, 3, 4, 6):
        p = round(value * q)
        err = abs(value - p / q)
        if q != 6 and err <= tol and (best is None or err < best[0]):
            best = (err, sympy.Rational(p, q))
        p = round(value * q / math.pi)
        err = abs(value - p * math.pi / q)
        if p != 0 and err <= tol and (best is None or err < best[0]):
            best = (err, sympy.pi * sympy.Rational(p, q))
    p = round(value / math.pi)
    if p != 0 and abs(value - p * math.pi) <= tol:
        return sympy.pi * p
    return None if best is None else best[1]


def snap_numbers(expr: sympy.Expr, tol: float) -> sympy.Expr:
    """Replace every float within ``tol`` of an integer by the integer, else of ``p/q``
    (``q`` in 2, 3, 4) or ``p*pi/q`` (``q`` in 1, 2, 3, 4, 6) by that exact number (the nearest
    if several); other floats are kept."""
    reps = {}
    for f in expr.atoms(sympy.Float):
        s = _snap(float(f), tol)
        if s is not None:
            reps[f] = s
    return expr.xreplace(reps)


def _expand_powers(expr: sympy.Expr, tol: float) -> sympy.Expr:
    """``c*(a*x + b)**n -> c*a**n*x**n + ...`` for small integer ``n`` and one input ``x``, when
    ``a`` or ``b`` is not itself a round number (``(x - 1.0)**3`` stays as it is).

    Rounding must see the product of the numbers, not each factor: ``1.0508*(0.9755*x)**2`` is
    ``0.99993*x**2``, but rounded factor by factor it becomes ``1.05*0.98**2 = 1.0084``."""

    def is_affine_power(e):
        if not (
            isinstance(e, sympy.Pow)
            and e.exp.is_Integer
            and 1 < int(e.exp) <= 5
            and e.base.is_Add
            and len(e.base.free_symbols) == 1
        ):
            return False
        # only affine bases: multiplying out powers of long sums makes big formulas explode
        (x,) = e.base.free_symbols
        return (
            e.base.is_polynomial(x)
            and sympy.degree(e.base, x) == 1
            and any(_snap(float(f), tol) is None for f in e.base.atoms(sympy.Float))
        )

    def is_affine_product(e):
        # a multiplication node's product of affine operands, ``c*(a*x + b)*(e*y + f)``: the
        # same reason (rounded factor by factor, 0.496*1.429*1.410 = 0.999 instead of 1.000)
        if not isinstance(e, sympy.Mul):
            return False
        sums = [f for f in e.args if f.is_Add]
        if not 1 <= len(sums) <= 4:
            return False
        for f in sums:
            if len(f.free_symbols) != 1:
                return False
            (x,) = f.free_symbols
            if not (f.is_polynomial(x) and sympy.degree(f, x) == 1):
                return False
        return any(_snap(float(f), tol) is None for f in e.atoms(sympy.Float))

    expr = expr.replace(is_affine_power, sympy.expand_multinomial)
    return expr.replace(is_affine_product, sympy.expand_mul)


def clean(expr: sympy.Expr, digits: int = 2, simplify: bool = True) -> sympy.Expr:
    """Multiply out powers of sums, pull constants out of ``exp``, round to ``digits`` decimals,
    snap numbers that are within rounding distance of an integer, fraction or multiple of pi,
    and (by default) simplify. Repeats once, since simplifying can merge numbers that then round
    further."""
    tol = 0.5 * 10.0 ** (-digits) + 1e-12
    for _ in range(2):
        expr = _pull_exp_constants(_expand_powers(expr, tol))
        expr = snap_numbers(ex_round(expr, digits), tol)
        if simplify:
            out = _simplify_bounded(expr)
            if out is None:  # too large or too slow: so would the second round be
                break
            expr = out
    return expr
