"""Engine results -> the protocol's JSON dicts: the ``formula`` trait and the ``inspector``'s
candidate list (docs/WIDGET_PROTOCOL.md, "Formula" and ``inspector``).

Pure functions of a model (or of ``suggest_symbolic``'s ranking); nothing here touches a trait.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "EMPTY_FORMULA",
    "FORMULA_MAX_CHARS",
    "SIMPLIFY_MAX_EDGES",
    "all_symbolic",
    "candidates",
    "finite",
    "formula_dict",
    "formula_sympy",
    "has_symbolic",
]

EMPTY_FORMULA = {"latex": "", "text": "", "complete": False}
# formulas with more symbolic edges than this are shown unsimplified (prune first)
SIMPLIFY_MAX_EDGES = 12
# formulas longer than this (Python text) are not rounded and typeset (a [4,5,5,1] one of 6,500
# characters takes 20 s to round): a note is shown instead
FORMULA_MAX_CHARS = 4_000


def finite(v) -> float | None:
    """``float(v)``, or ``None`` for NaN and infinities (JSON has neither)."""
    v = float(v)
    return v if math.isfinite(v) else None


def has_symbolic(model) -> bool:
    return any(layer.sym_names for layer in model.layers)


def all_symbolic(model) -> bool:
    return not any(layer.has_numeric_edges() for layer in model.layers)


def formula_sympy(
    model, in_vars: list[str], simplify: bool = True, digits: int | None = None
) -> list:
    """The model's formula, one sympy expression per output, in the variables ``in_vars``; edges
    that are still splines appear as undefined functions ``phi_l_i_j(x)``."""
    return list(
        model.formula(var=list(in_vars), digits=digits, simplify=simplify, allow_numeric=True)
    )


def formula_dict(model, in_vars: list[str], out_vars: list[str]) -> dict:
    """The ``formula`` trait's value: ``{"latex", "text", "complete"}``."""
    if not has_symbolic(model):
        return dict(EMPTY_FORMULA)
    import sympy

    from ..symbolic import clean

    n_sym = sum(len(layer.sym_names) for layer in model.layers)
    # sympy.simplify on a large unpruned network can take minutes (the command thread would
    # be busy, and Undo queued behind it): simplify only formulas a person can read anyway
    # A partial formula (spline edges as phi_l_i_j(x), after an honest Symbolify) is not
    # simplified either: sympy's trigsimp on one with a dozen undefined functions ran for
    # minutes (a [3,4,1] model, 5 edges fixed at r2 >= 0.9, 11 kept as splines)
    complete = all_symbolic(model)
    exprs = formula_sympy(model, in_vars, simplify=n_sym <= SIMPLIFY_MAX_EDGES and complete)
    lhs = [sympy.Symbol(v) for v in out_vars]
    pairs = list(zip(lhs, exprs, strict=True))
    text = "\n".join(f"{y} = {sympy.sstr(e)}" for y, e in pairs)
    if len(text) > FORMULA_MAX_CHARS:
        # an unpruned network's formula (336 edges: 66,000 characters) is unreadable, and
        # rounding and typesetting it takes minutes: say so; Copy Python still has it all
        latex = (
            rf"\text{{{n_sym} symbolic edges, {len(text):,} characters: too long to show; "
            r"prune first, or use Copy Python}"
        )
    else:
        # display rounded, copy at full precision: the text is for computing with
        latex = r",\quad ".join(
            f"{sympy.latex(y)} = {sympy.latex(clean(e, 4, simplify=False))}" for y, e in pairs
        )
    return {"latex": latex, "text": text, "complete": complete}


def candidates(result: Any) -> list[dict]:
    """``suggest_symbolic``'s ranking as the protocol's ``[{"name", "r2", "complexity"}]``."""
    out = []
    for r in result or []:
        if isinstance(r, dict):
            name, r2, c = r.get("name"), r.get("r2"), r.get("complexity", r.get("c"))
        else:
            name, r2, c = (
                getattr(r, "name", None),
                getattr(r, "r2", None),
                getattr(r, "complexity", None),
            )
        out.append(
            {
                "name": str(name),
                "r2": None if r2 is None else finite(r2),
                "complexity": None if c is None else finite(c),
            }
        )
    return out
