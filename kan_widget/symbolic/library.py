"""The symbolic function library: what an edge ``c*f(a*x + b) + d`` may be.

Every entry has a torch form used by the forward pass and by the fitter, and a sympy form used by
:func:`~kan_widget.symbolic.formula.symbolic_formula`. The torch forms are *safe*: finite, with
finite gradients, for every finite input, so a fixed edge whose data drifts across a singularity
cannot turn the loss into NaN. Where the mathematical function is defined they agree with it, except
within a tiny band around a pole, where the value is capped:

================  =====================================================================
1/x^n             ``|x| < SING_MAX**(-1/n)``: odd n ramp linearly through 0, even n hold
                  ``SING_MAX``; so ``|f| <= SING_MAX`` (1e5)
sqrt, x^0.5       ``sign(x)*sqrt(|x|)`` (odd extension, as pykan), linear for ``|x| < 1e-8``
x^1.5             ``|x|**1.5`` (even extension, as pykan)
1/sqrt(x)         ``1/sqrt(max(|x|, 1e-8))``
log               ``log(max(|x|, 1e-8))``
exp               continues linearly (with matching slope) above ``x = 20``
tan               ``sin(x)/cos(x)`` with ``|cos(x)|`` held at least ``1e-4``
arcsin, arccos    argument clamped to ``[-1 + 1e-6, 1 - 1e-6]``
arctanh           argument clamped to ``[-1 + 1e-6, 1 - 1e-6]``
================  =====================================================================

The sympy forms are the plain functions (``sqrt(x)``, ``log(x)``, ``1/x``). A formula shows them
where the edge's argument stays clear of every guard on the training data; where it does not, it
shows the guard (``sign(u)*sqrt(Abs(u))``, or the exact ``Piecewise`` of the torch form), so the
formula always computes what the model computes (see :mod:`kan_widget.symbolic.domain`). The
fitter keeps the argument of ``sqrt``/``log``-like entries positive on the data where it can (see
``positive_domain``), and ranks a fit that leaves the domain like a degenerate one.

The fitter in :mod:`kan_widget.symbolic.fit` uses each entry's ``kind`` to decide which of
``(a, b)`` needs a numerical search (the rest is closed form). Complexities are pykan 0.2.8's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import sympy
import torch

__all__ = [
    "KINDS",
    "SING_MAX",
    "SYMBOLIC_LIB",
    "SymbolicFunction",
    "add_symbolic",
    "get_function",
    "resolve_lib",
]

Kind = Literal["zero", "linear", "quadratic", "shift", "exp", "periodic", "full"]
KINDS: tuple[str, ...] = ("zero", "linear", "quadratic", "shift", "exp", "periodic", "full")

SING_MAX = 1e5
_SQRT_TH = 1e-8
_LOG_TH = 1e-8
_EXP_MAX = 20.0
_TAN_COS_MIN = 1e-4
_ARC_EDGE = 1e-6

TorchFn = Callable[[torch.Tensor], torch.Tensor]
SympyFn = Callable[[sympy.Expr], sympy.Expr]


@dataclass(frozen=True)
class SymbolicFunction:
    """One library entry.

    ``kind`` tells the fitter what needs searching for ``c*f(a*x+b)+d``:

    - ``"zero"``: nothing (the edge becomes the constant ``d``);
    - ``"linear"``, ``"quadratic"``: closed form;
    - ``"shift"``: ``f`` is homogeneous (``f(s*u) = g(s)*f(u)`` or ``f(u) + g(s)``), so the scale
      ``a`` folds into ``c`` (or ``d``) and only the shift ``b`` is searched;
    - ``"exp"``: ``exp(a*x+b) = e^b*exp(a*x)``, so only ``a`` is searched;
    - ``"periodic"``: for sinusoids ``f(u) = sin(u + phase)`` only: ``c1*sin(a*x)+c2*cos(a*x)``
      covers every shift, so only ``a`` is searched (``sin`` and ``cos`` are the same family);
    - ``"full"``: a 2-D search over ``(a, b)``.

    ``parity`` (``"odd"``: ``f(-u) = -f(u) + const``, ``"even"``: ``f(-u) = f(u)``) lets the
    fitter search only ``a > 0``; ``positive_domain``
    marks entries whose sympy form is real only for positive arguments (the fitter flips the sign
    of ``(a, b)`` to keep the argument positive on the data when the parity allows it).
    ``support`` is the half-width of the argument range where ``f`` has its shape (the 2-D search
    covers every placement of that window over the data) and ``alpha_max`` the largest ``|a|``
    searched, in units of the data's half-range (``a*x`` then spans ``2*alpha_max`` across the
    data). ``period`` makes the ``b`` search periodic.
    ``phase`` is used by ``"periodic"`` entries only. ``min_alpha``: below this ``|a|`` (same
    units) the data sees too little of ``f`` to tell it from a polynomial (``exp(-(a*x)^2)`` near
    its peak is a parabola), so such fits are marked degenerate and rank lower. ``alias_of``
    marks duplicates (``x^0.5`` is ``sqrt``) so they are fitted once.
    """

    name: str
    torch_fn: TorchFn
    sympy_fn: SympyFn
    complexity: float
    kind: Kind = "full"
    parity: Literal["odd", "even"] | None = None
    positive_domain: bool = False
    support: float = 3.0
    alpha_max: float = 100.0
    period: float | None = None
    phase: float = 0.0
    min_alpha: float | None = None
    alias_of: str | None = None
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.torch_fn(x)


# ---------------------------------------------------------------------- safe torch forms
# Each uses torch.where on a *safe copy* of the input, so the branch that is not taken never
# produces inf (an inf times a zero gradient is NaN in autograd).


def _inv_pow(n: int) -> TorchFn:
    th = SING_MAX ** (-1.0 / n)

    def f(x: torch.Tensor) -> torch.Tensor:
        small = x.abs() < th
        xs = torch.where(small, torch.full_like(x, th), x)
        outer = 1.0 / xs**n
        inner = x * (SING_MAX / th) if n % 2 else torch.full_like(x, SING_MAX)
        return torch.where(small, inner, outer)

    f.__name__ = f"inv_pow{n}"
    return f


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    small = x.abs() < _SQRT_TH
    root = torch.sqrt(x.abs().clamp_min(_SQRT_TH))
    return torch.where(small, x / math.sqrt(_SQRT_TH), torch.sign(x) * root)


def _pow15(x: torch.Tensor) -> torch.Tensor:
    return x.abs() ** 1.5


def _inv_sqrt(x: torch.Tensor) -> torch.Tensor:
    return torch.rsqrt(x.abs().clamp_min(_SQRT_TH))


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x.abs().clamp_min(_LOG_TH))


def _exp(x: torch.Tensor) -> torch.Tensor:
    top = math.exp(_EXP_MAX)
    return torch.where(x > _EXP_MAX, top * (1.0 + (x - _EXP_MAX)), torch.exp(x.clamp_max(_EXP_MAX)))


def _tan(x: torch.Tensor) -> torch.Tensor:
    c = torch.cos(x)
    c = torch.where(c >= 0, c.clamp_min(_TAN_COS_MIN), c.clamp_max(-_TAN_COS_MIN))
    return torch.sin(x) / c


def _arcsin(x: torch.Tensor) -> torch.Tensor:
    return torch.arcsin(x.clamp(-1 + _ARC_EDGE, 1 - _ARC_EDGE))


def _arccos(x: torch.Tensor) -> torch.Tensor:
    return torch.arccos(x.clamp(-1 + _ARC_EDGE, 1 - _ARC_EDGE))


def _arctanh(x: torch.Tensor) -> torch.Tensor:
    return torch.arctanh(x.clamp(-1 + _ARC_EDGE, 1 - _ARC_EDGE))


def _zero(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def _gaussian(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-(x**2))


def _pow(n: int) -> TorchFn:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x**n

    f.__name__ = f"pow{n}"
    return f


def _default_entries() -> list[SymbolicFunction]:
    S = SymbolicFunction
    half = sympy.Rational(1, 2)
    return [
        S("x", lambda x: x, lambda x: x, 1, "linear", "odd"),
        S("x^2", _pow(2), lambda x: x**2, 2, "quadratic", "even"),
        S("x^3", _pow(3), lambda x: x**3, 3, "shift", "odd"),
        S("x^4", _pow(4), lambda x: x**4, 3, "shift", "even"),
        S("x^5", _pow(5), lambda x: x**5, 3, "shift", "odd"),
        S("1/x", _inv_pow(1), lambda x: 1 / x, 2, "shift", "odd"),
        S("1/x^2", _inv_pow(2), lambda x: x**-2, 2, "shift", "even"),
        S("1/x^3", _inv_pow(3), lambda x: x**-3, 3, "shift", "odd"),
        S("1/x^4", _inv_pow(4), lambda x: x**-4, 4, "shift", "even"),
        S("1/x^5", _inv_pow(5), lambda x: x**-5, 5, "shift", "odd"),
        S("sqrt", _sqrt, sympy.sqrt, 2, "shift", "odd", positive_domain=True),
        S("x^0.5", _sqrt, sympy.sqrt, 2, "shift", "odd", positive_domain=True, alias_of="sqrt"),
        S(
            "x^1.5",
            _pow15,
            lambda x: x ** sympy.Rational(3, 2),
            4,
            "shift",
            "even",
            positive_domain=True,
        ),
        S(
            "1/sqrt(x)",
            _inv_sqrt,
            lambda x: 1 / sympy.sqrt(x),
            2,
            "shift",
            "even",
            positive_domain=True,
        ),
        S(
            "1/x^0.5",
            _inv_sqrt,
            lambda x: x**-half,
            2,
            "shift",
            "even",
            positive_domain=True,
            alias_of="1/sqrt(x)",
        ),
        S("exp", _exp, sympy.exp, 2, "exp"),
        S("log", _log, sympy.log, 2, "shift", "even", positive_domain=True),
        S("abs", torch.abs, sympy.Abs, 3, "shift", "even"),
        # a sinusoid seen over less than ~4 radians has no clear extremum-and-inflection pair:
        # a parabola or cubic describes it as well (min_alpha is a half-range: 1.8 -> 3.6
        # radians; a learned parabola is matched near 1.3, cos(y) on [-2, 2] is 2.0 and must
        # not count as degenerate, or a gaussian takes it)
        S("sin", torch.sin, sympy.sin, 2, "periodic", period=2 * math.pi, min_alpha=1.8),
        S(
            "cos",
            torch.cos,
            sympy.cos,
            2,
            "periodic",
            period=2 * math.pi,
            phase=math.pi / 2,
            min_alpha=1.8,
        ),
        S(
            "tan",
            _tan,
            sympy.tan,
            3,
            "full",
            "odd",
            support=math.pi / 2,
            alpha_max=30.0,
            period=math.pi,
        ),
        S("tanh", torch.tanh, sympy.tanh, 3, "full", "odd", support=3.0),
        S("sgn", torch.sign, sympy.sign, 3, "shift", "odd"),
        S("arcsin", _arcsin, sympy.asin, 4, "full", "odd", support=1.0, alpha_max=1.2),
        S("arccos", _arccos, sympy.acos, 4, "full", "odd", support=1.0, alpha_max=1.2),
        S("arctan", torch.arctan, sympy.atan, 4, "full", "odd", support=4.0),
        S("arctanh", _arctanh, sympy.atanh, 4, "full", "odd", support=1.0, alpha_max=1.2),
        S("0", _zero, lambda x: sympy.Integer(0), 0, "zero"),
        S(
            "gaussian",
            _gaussian,
            lambda x: sympy.exp(-(x**2)),
            3,
            "full",
            "even",
            support=3.0,
            min_alpha=0.75,
        ),
    ]


SYMBOLIC_LIB: dict[str, SymbolicFunction] = {f.name: f for f in _default_entries()}
"""The library, in pykan's order (which is also the tie-break order when ranking)."""


def get_function(name: str | SymbolicFunction) -> SymbolicFunction:
    """The library entry called ``name``; an unknown name raises ``ValueError`` listing the valid
    ones."""
    if isinstance(name, SymbolicFunction):
        # fixed edges look their function up by name in the forward pass
        if SYMBOLIC_LIB.get(name.name) is not name:
            raise ValueError(
                f"{name.name!r} is not in the library; register it with add_symbolic first"
            )
        return name
    try:
        return SYMBOLIC_LIB[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in SYMBOLIC_LIB)
        raise ValueError(
            f"unknown symbolic function {name!r}; valid names: {valid} "
            "(add your own with kan_widget.symbolic.add_symbolic)"
        ) from None


def resolve_lib(lib) -> list[SymbolicFunction]:
    """``lib`` (None for the whole library, or names / entries) as a list of entries."""
    if lib is None:
        return list(SYMBOLIC_LIB.values())
    if isinstance(lib, (str, SymbolicFunction)):
        lib = [lib]
    entries = [get_function(n) for n in lib]
    if not entries:
        raise ValueError("lib is empty; pass None for the whole library or a list of names")
    seen: set[str] = set()
    unique = []
    for e in entries:
        if e.name not in seen:
            seen.add(e.name)
            unique.append(e)
    return unique


def add_symbolic(
    name: str,
    torch_fn: TorchFn,
    sympy_fn: SympyFn | None = None,
    complexity: float = 2,
    *,
    kind: Kind = "full",
    parity: Literal["odd", "even"] | None = None,
    positive_domain: bool = False,
    support: float = 3.0,
    alpha_max: float = 100.0,
    period: float | None = None,
    phase: float = 0.0,
    overwrite: bool = False,
) -> SymbolicFunction:
    """Add ``name`` to :data:`SYMBOLIC_LIB` and return the entry, e.g.
    ``add_symbolic("J0", torch.special.bessel_j0, lambda x: sympy.besselj(0, x), 3)``.

    ``torch_fn`` must be elementwise and should be finite for every finite input (see the safe
    forms in this module). Without ``sympy_fn`` formulas show an undefined function ``name(...)``
    (as pykan). ``kind="full"`` (search both ``a`` and ``b``) is always correct; the other kinds
    and ``parity`` only make the fit faster when they hold (see :class:`SymbolicFunction`;
    ``kind="periodic"`` is for sinusoids ``sin(u + phase)`` only). Complexity is on pykan's scale
    (``x`` 1, ``sin`` 2, ``tanh`` 3, ``arcsin`` 4).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    if name in SYMBOLIC_LIB and not overwrite:
        raise ValueError(f"{name!r} is already in the library; pass overwrite=True to replace it")
    if not callable(torch_fn):
        raise TypeError("torch_fn must be callable: tensor -> tensor of the same shape")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    probe = torch.linspace(-3, 3, 7, dtype=torch.float64)
    out = torch_fn(probe)
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
        raise ValueError(f"torch_fn must map a tensor to a tensor of the same shape ({name!r})")
    if sympy_fn is None:
        undefined = sympy.Function(name)

        def sympy_fn(x):
            return undefined(x)

    entry = SymbolicFunction(
        name,
        torch_fn,
        sympy_fn,
        float(complexity),
        kind,
        parity,
        positive_domain,
        support,
        alpha_max,
        period,
        phase,
    )
    SYMBOLIC_LIB[name] = entry
    return entry
