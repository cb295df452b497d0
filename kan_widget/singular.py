"""pykan's singularity avoidance: ``model(x, singularity_avoiding=True, y_th=...)`` and
``fit(singularity_avoiding=True, y_th=...)``.

There, a symbolic edge whose function has a pole or a bounded domain computes a version of it
capped at ``y_th`` near the singularity (pykan 0.2.8's ``SYMBOLIC_LIB`` fourth entries, same
formulas): ``1/x`` runs linearly through 0 once ``|1/x| > y_th``, ``1/x^2`` holds ``y_th``,
``log`` holds ``-y_th``, ``exp`` holds ``y_th`` above ``log(y_th)``, and so on. Functions without
a singularity (and functions added by the user) compute as usual. Our library's everyday forms
are already finite everywhere (capped at 1e5, see :mod:`kan_widget.symbolic.library`); this is
pykan's stronger, ``y_th``-dependent cap, for training through a singular region.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["SINGULAR", "singular_fn"]


def _odd_inverse(n: int) -> Callable[[torch.Tensor, float], torch.Tensor]:
    def f(x: torch.Tensor, y_th: float) -> torch.Tensor:
        x_th = 1 / y_th ** (1 / n)
        near = x.abs() < x_th
        return torch.where(near, y_th / x_th * x, torch.nan_to_num(1 / x**n))

    return f


def _even_inverse(n: int) -> Callable[[torch.Tensor, float], torch.Tensor]:
    def f(x: torch.Tensor, y_th: float) -> torch.Tensor:
        x_th = 1 / y_th ** (1 / n)
        near = x.abs() < x_th
        return torch.where(near, torch.full_like(x, y_th), torch.nan_to_num(1 / x**n))

    return f


def _sqrt(x: torch.Tensor, y_th: float) -> torch.Tensor:
    x_th = 1 / y_th**2
    near = x.abs() < x_th
    far = torch.nan_to_num(torch.sqrt(torch.where(near, 1.0, x.abs())) * torch.sign(x))
    return torch.where(near, x_th / y_th * x, far)


def _inv_sqrt(x: torch.Tensor, y_th: float) -> torch.Tensor:
    x_th = 1 / y_th**2
    near = x.abs() < x_th
    far = torch.nan_to_num(1 / torch.sqrt(torch.where(near, 1.0, x.abs())))
    return torch.where(near, torch.full_like(x, y_th), far)


def _log(x: torch.Tensor, y_th: float) -> torch.Tensor:
    x_th = math.exp(-y_th)
    near = x.abs() < x_th
    far = torch.nan_to_num(torch.log(torch.where(near, 1.0, x.abs())))
    return torch.where(near, torch.full_like(x, -y_th), far)


def _tan(x: torch.Tensor, y_th: float) -> torch.Tensor:
    clip = x % math.pi
    delta = math.pi / 2 - math.atan(y_th)
    near = (clip - math.pi / 2).abs() < delta
    far = torch.nan_to_num(torch.tan(torch.where(near, 0.0, clip)))
    return torch.where(near, -y_th / delta * (clip - math.pi / 2), far)


def _arctanh(x: torch.Tensor, y_th: float) -> torch.Tensor:
    delta = 1 - math.tanh(y_th) + 1e-4
    edge = x.abs() > 1 - delta
    inner = torch.nan_to_num(torch.arctanh(torch.where(edge, 0.0, x)))
    return torch.where(edge, y_th * torch.sign(x), inner)


def _arcsin(x: torch.Tensor, y_th: float) -> torch.Tensor:
    out = x.abs() > 1
    return torch.where(out, math.pi / 2 * torch.sign(x), torch.arcsin(torch.where(out, 0.0, x)))


def _arccos(x: torch.Tensor, y_th: float) -> torch.Tensor:
    out = x.abs() > 1
    inner = torch.arccos(torch.where(out, 0.0, x))
    return torch.where(out, math.pi / 2 * (1 - torch.sign(x)), inner)


def _exp(x: torch.Tensor, y_th: float) -> torch.Tensor:
    x_th = math.log(y_th)
    above = x > x_th
    return torch.where(above, torch.full_like(x, y_th), torch.exp(torch.where(above, 0.0, x)))


SINGULAR: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "1/x": _odd_inverse(1),
    "1/x^2": _even_inverse(2),
    "1/x^3": _odd_inverse(3),
    "1/x^4": _even_inverse(4),
    "1/x^5": _odd_inverse(5),
    "sqrt": _sqrt,
    "x^0.5": _sqrt,
    "x^1.5": lambda x, y_th: x.abs() ** 1.5,
    "1/sqrt(x)": _inv_sqrt,
    "1/x^0.5": _inv_sqrt,
    "exp": _exp,
    "log": _log,
    "tan": _tan,
    "arctanh": _arctanh,
    "arcsin": _arcsin,
    "arccos": _arccos,
}
"""Library name -> ``f(x, y_th)``, pykan 0.2.8's singularity-protected forms."""


def singular_fn(name: str, y_th: float | None, plain: Callable) -> Callable:
    """The function an edge named ``name`` computes: ``plain`` unless ``y_th`` is set and
    ``name`` has a protected form."""
    if y_th is None or name not in SINGULAR:
        return plain
    protected = SINGULAR[name]
    return lambda x: protected(x, y_th)
