"""Formulas that compute what the model computes: the guards of the safe torch forms in sympy.

Every library entry's torch form is *safe* (see :mod:`kan_widget.symbolic.library`): ``sqrt`` is
extended to negative arguments, ``log`` and ``1/sqrt`` hold their argument away from 0, ``1/x^n``
caps the value near the pole, ``exp`` continues linearly above 20, ``tan`` caps near its poles and
``arcsin``/``arccos``/``arctanh`` clamp their argument. Where an edge's argument never reaches a
guard on the data, the plain function (``sqrt(u)``, ``log(u)``) *is* what the model computes, and
the formula shows it. Where it does, the formula shows the guard: first a plain-looking extension
when that is exact on the data (``sign(u)*sqrt(Abs(u))``, ``log(Abs(u))``), else the exact
``Piecewise`` / ``Max`` / ``Min`` form of the torch function. So a formula never turns NaN or
complex where the model is finite.

:func:`edge_sympy` picks the form for one edge from the values its argument ``u = a*x + b`` takes
on the data; entries without guards (``x^2``, ``sin``, user entries) always use their sympy form.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy
import torch

from .library import (
    _ARC_EDGE,
    _EXP_MAX,
    _LOG_TH,
    _SQRT_TH,
    _TAN_COS_MIN,
    SING_MAX,
    SYMBOLIC_LIB,
    SymbolicFunction,
)

__all__ = ["FORMS", "edge_sympy", "outside_plain_domain"]

Valid = Callable[[torch.Tensor], bool]
Form = tuple[Valid, Callable[[sympy.Expr], sympy.Expr]]


def _always(u: torch.Tensor) -> bool:
    return True


def _inv_pow_forms(n: int) -> list[Form]:
    th = SING_MAX ** (-1.0 / n)

    def exact(u):
        inner = u * (SING_MAX / th) if n % 2 else sympy.Float(SING_MAX)
        return sympy.Piecewise((inner, sympy.Abs(u) < th), (u**-n, True))

    return [(lambda u: bool((u.abs() >= th).all()), lambda u: u**-n), (_always, exact)]


def _sqrt_forms(plain: Callable[[sympy.Expr], sympy.Expr]) -> list[Form]:
    def odd(u):
        return sympy.sign(u) * sympy.sqrt(sympy.Abs(u))

    def exact(u):
        return sympy.Piecewise((u / math.sqrt(_SQRT_TH), sympy.Abs(u) < _SQRT_TH), (odd(u), True))

    return [
        (lambda u: bool((u >= _SQRT_TH).all()), plain),
        (lambda u: bool((u.abs() >= _SQRT_TH).all()), odd),
        (_always, exact),
    ]


def _inv_sqrt_forms(plain: Callable[[sympy.Expr], sympy.Expr]) -> list[Form]:
    return [
        (lambda u: bool((u >= _SQRT_TH).all()), plain),
        (lambda u: bool((u.abs() >= _SQRT_TH).all()), lambda u: 1 / sympy.sqrt(sympy.Abs(u))),
        (_always, lambda u: 1 / sympy.sqrt(sympy.Max(sympy.Abs(u), _SQRT_TH))),
    ]


def _log_forms() -> list[Form]:
    return [
        (lambda u: bool((u >= _LOG_TH).all()), sympy.log),
        (lambda u: bool((u.abs() >= _LOG_TH).all()), lambda u: sympy.log(sympy.Abs(u))),
        (_always, lambda u: sympy.log(sympy.Max(sympy.Abs(u), _LOG_TH))),
    ]


def _exp_forms() -> list[Form]:
    top = sympy.exp(sympy.Integer(int(_EXP_MAX)))

    def exact(u):
        return sympy.Piecewise((top * (1 + u - _EXP_MAX), u > _EXP_MAX), (sympy.exp(u), True))

    return [(lambda u: bool((u <= _EXP_MAX).all()), sympy.exp), (_always, exact)]


def _tan_forms() -> list[Form]:
    def exact(u):
        c = sympy.cos(u)
        return sympy.Piecewise(
            (sympy.sin(u) / sympy.Max(c, _TAN_COS_MIN), c >= 0),
            (sympy.sin(u) / sympy.Min(c, -_TAN_COS_MIN), True),
        )

    return [
        (lambda u: bool((torch.cos(u).abs() >= _TAN_COS_MIN).all()), sympy.tan),
        (_always, exact),
    ]


def _clamped_forms(fn: Callable[[sympy.Expr], sympy.Expr]) -> list[Form]:
    lo, hi = -1 + _ARC_EDGE, 1 - _ARC_EDGE
    return [
        (lambda u: bool(((u >= lo) & (u <= hi)).all()), fn),
        (_always, lambda u: fn(sympy.Min(sympy.Max(u, lo), hi))),
    ]


def _pow15_forms() -> list[Form]:
    three_halves = sympy.Rational(3, 2)
    return [
        (lambda u: bool((u >= 0).all()), lambda u: u**three_halves),
        (_always, lambda u: sympy.Abs(u) ** three_halves),
    ]


FORMS: dict[str, list[Form]] = {
    "1/x": _inv_pow_forms(1),
    "1/x^2": _inv_pow_forms(2),
    "1/x^3": _inv_pow_forms(3),
    "1/x^4": _inv_pow_forms(4),
    "1/x^5": _inv_pow_forms(5),
    "sqrt": _sqrt_forms(sympy.sqrt),
    "x^0.5": _sqrt_forms(sympy.sqrt),
    "x^1.5": _pow15_forms(),
    "1/sqrt(x)": _inv_sqrt_forms(lambda u: 1 / sympy.sqrt(u)),
    "1/x^0.5": _inv_sqrt_forms(lambda u: 1 / sympy.sqrt(u)),
    "log": _log_forms(),
    "exp": _exp_forms(),
    "tan": _tan_forms(),
    "arcsin": _clamped_forms(sympy.asin),
    "arccos": _clamped_forms(sympy.acos),
    "arctanh": _clamped_forms(sympy.atanh),
}
"""Per guarded library entry: ``(valid on the data?, sympy form)`` from the plainest to the exact
one. The last form is valid everywhere and equals the torch form."""


# the default entries' torch forms: an entry replaced with add_symbolic(..., overwrite=True)
# keeps only its own sympy form
_DEFAULT_FNS = {name: SYMBOLIC_LIB[name].torch_fn for name in FORMS if name in SYMBOLIC_LIB}


def _guarded(entry: SymbolicFunction) -> list[Form] | None:
    forms = FORMS.get(entry.name)
    if forms is None or _DEFAULT_FNS.get(entry.name) is not entry.torch_fn:
        return None
    return forms


def edge_sympy(
    entry: SymbolicFunction, u: torch.Tensor | None
) -> Callable[[sympy.Expr], sympy.Expr]:
    """The sympy form of ``entry`` that equals its torch form at every argument value in ``u``
    (the plainest such form); with ``u=None`` (no data known) the plain form."""
    forms = _guarded(entry)
    if forms is None:
        return entry.sympy_fn
    if u is None:
        return entry.sympy_fn
    u = u.detach().to(torch.float64).reshape(-1)
    for valid, fn in forms:
        if valid(u):
            return fn
    return forms[-1][1]


def outside_plain_domain(entry: SymbolicFunction, u: torch.Tensor) -> torch.Tensor:
    """``[E]`` bool for arguments ``u [E, N]``: where the plain function (``sqrt(u)``, ``log(u)``,
    ``1/u`` away from its cap) does not describe the torch form on some sample, so the formula
    would need a guard. Used by the ranking to prefer functions the data keep in their domain."""
    forms = _guarded(entry)
    if forms is None:
        return torch.zeros(u.shape[0], dtype=torch.bool, device=u.device)
    valid = forms[0][0]
    u = u.detach().to(torch.float64)
    return torch.tensor([not valid(row) for row in u], dtype=torch.bool, device=u.device)
