"""Symbolic regression for KAN edges: the function library, batched fits, ranking, formulas.

``model.auto_symbolic()``, ``model.suggest_symbolic(l, i, j)``, ``model.fix_symbolic(l, i, j,
name)`` and ``model.formula()`` are the usual entry points; this package holds their
implementation and the pieces they are built from.
"""

from __future__ import annotations

from sympy import latex

from .api import (
    Candidate,
    SymbolicChoice,
    auto_symbolic,
    fix_symbolic,
    format_candidates,
    suggest_best,
    suggest_symbolic,
    unfix_symbolic,
)
from .fit import FitResult, fit_functions
from .formula import clean, ex_round, snap_numbers, symbolic_formula
from .library import SYMBOLIC_LIB, SymbolicFunction, add_symbolic, get_function
from .score import rank, selection_score

__all__ = [
    "SYMBOLIC_LIB",
    "Candidate",
    "FitResult",
    "SymbolicChoice",
    "SymbolicFunction",
    "add_symbolic",
    "auto_symbolic",
    "clean",
    "ex_round",
    "fit_functions",
    "fix_symbolic",
    "format_candidates",
    "get_function",
    "latex",
    "rank",
    "selection_score",
    "snap_numbers",
    "suggest_best",
    "suggest_symbolic",
    "symbolic_formula",
    "unfix_symbolic",
]
