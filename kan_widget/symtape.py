"""Fixed symbolic edges on the trainer's tape: the forward ``mask * (c*f(a*x + b) + d)`` and its
hand-written backward, so a partly (or wholly) symbolic model trains without autograd.

After ``auto_symbolic`` the last fit of the canonical pipeline trains a model whose every edge is
symbolic; through autograd each evaluation recorded a graph of ~15 small ops per function group
plus the engine's bookkeeping. Here the backward is the chain rule over the same saved tensors,
with each library function's derivative written out below (:func:`derivative`). The derivatives
follow autograd's conventions on the library's *safe* forms (:mod:`kan_widget.symbolic.library`):
a clamped argument passes no gradient outside its range, ``torch.where`` passes it to the branch
taken, ``sign``'s derivative is 0. The forward runs the same operations as
``KANLayer._symbolic_forward`` (values bit-identical); gradients equal autograd's to rounding
(``tests/test_symtape.py``: every library function, inside and across its guards).

A function without a written derivative (one added with ``add_symbolic``, a library entry
replaced by the user, pykan's ``y_th``-capped forms of :mod:`kan_widget.singular`) keeps the
layer on autograd (:func:`supported`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = ["SymGroup", "backward", "derivative", "forward", "supported"]

# (u, f(u)) -> f'(u); None: f'(u) = 1 (no multiply)
Deriv = Callable[[torch.Tensor, torch.Tensor], torch.Tensor | None]


class SymGroup(NamedTuple):
    """What one function group's backward needs: edge indices, the parameters ``a`` and ``c``
    ``[E]``, the inputs ``xi = x[:, ii]``, the argument ``u``, ``f(u)``, the mask (``None``:
    all ones) and ``f'``."""

    ii: torch.Tensor
    jj: torch.Tensor
    a: torch.Tensor
    c: torch.Tensor
    xi: torch.Tensor
    u: torch.Tensor
    fu: torch.Tensor
    m: torch.Tensor | None
    deriv: Deriv


def _pow(n: int) -> Deriv:
    # autograd's pow backward: n * u^(n-1)
    return lambda u, fu: n * u.pow(n - 1)


def _inv_pow(n: int, th: float, sing_max: float) -> Deriv:
    slope = sing_max / th if n % 2 else 0.0  # the odd forms' linear ramp; even: a constant

    def d(u: torch.Tensor, fu: torch.Tensor) -> torch.Tensor:
        small = u.abs() < th
        us = torch.where(small, torch.full_like(u, th), u)
        r = 1.0 / us**n
        return torch.where(small, torch.full_like(u, slope), -(r * r) * (n * us.pow(n - 1)))

    return d


def _table() -> dict[str, tuple[Callable[[Callable], bool], Deriv]]:
    """Library name -> (a check that the entry's ``torch_fn`` is the form the derivative was
    written for, the derivative). Built on first use: the library imports sympy."""
    from .symbolic import library as lib

    own = lib.__name__

    def is_lib(name: str) -> Callable[[Callable], bool]:
        # closures made in the library (x^n, 1/x^n, the identity lambda) are new objects per
        # call, so they are recognised by module and name; a user's function is not the
        # library's module
        return lambda fn: getattr(fn, "__module__", None) == own and fn.__name__ == name

    def is_fn(f: Callable) -> Callable[[Callable], bool]:
        return lambda fn: fn is f

    sq = lib._SQRT_TH
    log_th, exp_max, cos_min, edge = lib._LOG_TH, lib._EXP_MAX, lib._TAN_COS_MIN, lib._ARC_EDGE
    top = math.exp(exp_max)
    lo, hi = -1 + edge, 1 - edge

    def inside(u: torch.Tensor) -> torch.Tensor:
        return (u >= lo) & (u <= hi)  # clamp's backward mask

    def d_sqrt(u, fu):
        small = u.abs() < sq
        root = torch.sqrt(u.abs().clamp_min(sq))
        return torch.where(small, torch.full_like(u, 1 / math.sqrt(sq)), 0.5 / root)

    def d_inv_sqrt(u, fu):
        a = u.abs()
        return torch.where(a >= sq, -0.5 * fu.pow(3) * torch.sign(u), torch.zeros_like(u))

    def d_log(u, fu):
        a = u.abs()
        return torch.where(a >= log_th, torch.sign(u) / a.clamp_min(log_th), torch.zeros_like(u))

    def d_tan(u, fu):
        c0 = torch.cos(u)
        c = torch.where(c0 >= 0, c0.clamp_min(cos_min), c0.clamp_max(-cos_min))
        keep = torch.where(c0 >= 0, c0 >= cos_min, c0 <= -cos_min)
        s = torch.sin(u)
        return c0 / c + torch.where(keep, (s * s) / (c * c), torch.zeros_like(u))

    def d_arcsin(u, fu):
        uc = u.clamp(lo, hi)
        return torch.where(inside(u), (1 - uc * uc).rsqrt(), torch.zeros_like(u))

    def d_arccos(u, fu):
        uc = u.clamp(lo, hi)
        return torch.where(inside(u), -(1 - uc * uc).rsqrt(), torch.zeros_like(u))

    def d_arctanh(u, fu):
        uc = u.clamp(lo, hi)
        return torch.where(inside(u), 1 / (1 - uc * uc), torch.zeros_like(u))

    inv = {n: _inv_pow(n, lib.SING_MAX ** (-1.0 / n), lib.SING_MAX) for n in range(1, 6)}
    t: dict[str, tuple[Callable[[Callable], bool], Deriv]] = {
        "x": (is_lib("<lambda>"), lambda u, fu: None),
        "x^1.5": (is_lib("_pow15"), lambda u, fu: 1.5 * u.abs().pow(0.5) * torch.sign(u)),
        "sqrt": (is_lib("_sqrt"), d_sqrt),
        "x^0.5": (is_lib("_sqrt"), d_sqrt),
        "1/sqrt(x)": (is_lib("_inv_sqrt"), d_inv_sqrt),
        "1/x^0.5": (is_lib("_inv_sqrt"), d_inv_sqrt),
        "exp": (is_lib("_exp"), lambda u, fu: torch.where(u > exp_max, top, fu)),
        "log": (is_lib("_log"), d_log),
        "abs": (is_fn(torch.abs), lambda u, fu: torch.sign(u)),
        "sin": (is_fn(torch.sin), lambda u, fu: torch.cos(u)),
        "cos": (is_fn(torch.cos), lambda u, fu: -torch.sin(u)),
        "tan": (is_lib("_tan"), d_tan),
        "tanh": (is_fn(torch.tanh), lambda u, fu: 1 - fu * fu),
        "sgn": (is_fn(torch.sign), lambda u, fu: torch.zeros_like(u)),
        "arcsin": (is_lib("_arcsin"), d_arcsin),
        "arccos": (is_lib("_arccos"), d_arccos),
        "arctan": (is_fn(torch.arctan), lambda u, fu: 1 / (u * u + 1)),
        "arctanh": (is_lib("_arctanh"), d_arctanh),
        "0": (is_lib("_zero"), lambda u, fu: torch.zeros_like(u)),
        "gaussian": (is_lib("_gaussian"), lambda u, fu: -2 * u * fu),
    }
    for n in range(2, 6):
        t[f"x^{n}"] = (is_lib(f"pow{n}"), _pow(n))
    t["1/x"] = (is_lib("inv_pow1"), inv[1])
    for n in range(2, 6):
        t[f"1/x^{n}"] = (is_lib(f"inv_pow{n}"), inv[n])
    return t


_TABLE: dict[str, tuple[Callable[[Callable], bool], Deriv]] | None = None


def derivative(name: str) -> Deriv | None:
    """The derivative of library function ``name`` as it is now registered, or ``None`` when
    it has none written here (a user's function, or a library entry the user replaced)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    from .symbolic.library import SYMBOLIC_LIB

    entry, known = SYMBOLIC_LIB.get(name), _TABLE.get(name)
    if entry is None or known is None or not known[0](entry.torch_fn):
        return None
    return known[1]


def supported(names, y_th: float | None) -> bool:
    """Whether every function in ``names`` can run on the tape (with pykan's singularity cap
    ``y_th`` set, the capped forms of :mod:`kan_widget.singular` stay on autograd)."""
    from .singular import SINGULAR

    return all(
        derivative(n) is not None and (y_th is None or n not in SINGULAR) for n in set(names)
    )


def forward(
    groups,
    sym_params: torch.Tensor,
    masks: list[torch.Tensor | None],
    x: torch.Tensor,
    out_dim: int,
) -> tuple[torch.Tensor, list[SymGroup], list[torch.Tensor]]:
    """``(y [B, out], saved groups, values [B, E] per group)`` of the symbolic edges in
    ``groups`` (``KANLayer._groups``) with their masks ``masks`` (``None``: all ones, whose
    product is skipped: exact): the operations of ``KANLayer._symbolic_forward``, so the values
    are the bits autograd's path computes."""
    from .symbolic.library import get_function

    y = x.new_zeros(x.shape[0], out_dim)
    saved, values = [], []
    for (name, ii, jj), m in zip(groups, masks, strict=True):
        p = sym_params[ii, jj]  # [E, 4]
        a, b, c, d = p.unbind(1)  # one op for the four views
        deriv = derivative(name)
        assert deriv is not None, f"symtape.forward: {name!r} has no derivative (supported())"
        xi = x[:, ii]
        u = a * xi + b
        fu = get_function(name).torch_fn(u)
        vals = c * fu + d
        if m is not None:
            vals = vals * m
        y = y.index_add(1, jj, vals)
        saved.append(SymGroup(ii, jj, a, c, xi, u, fu, m, deriv))
        values.append(vals)
    return y, saved, values


def backward(
    saved: list[SymGroup], gy: torch.Tensor, sym_params: torch.Tensor, in_dim: int, need_dx: bool
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(their part of the input's gradient [B, in] or None when not ``need_dx``, the
    gradient of ``sym_params [in, out, 4]``)`` of the symbolic edges, from the output's gradient
    ``gy [B, out]``: the chain rule through ``(c*f(a*x + b) + d) * mask`` and the indexing."""
    g_p = torch.zeros_like(sym_params)
    gx = gy.new_zeros(gy.shape[0], in_dim) if need_dx else None
    for s in saved:
        gv = gy[:, s.jj]  # through index_add
        if s.m is not None:
            gv = gv * s.m
        gc = (gv * s.fu).sum(0)
        gd = gv.sum(0)
        gfu = gv * s.c
        d = s.deriv(s.u, s.fu)
        gu = gfu if d is None else gfu * d
        ga = (gu * s.xi).sum(0)
        gb = gu.sum(0)
        g_p[s.ii, s.jj] = torch.stack([ga, gb, gc, gd], 1)
        if gx is not None:
            gx.index_add_(1, s.ii, gu * s.a)
    return gx, g_p
