"""Checks shared by the engine and the widget: one definition of "an int", "a number" and "an
edge that exists", so an error reads the same wherever the bad value came from.

``is_int`` accepts numpy integers (``np.int64(3)`` is an int to a user) and refuses ``bool``
(``True`` is an int to Python but never a count or an index here).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

__all__ = ["check_edge", "edge_error", "is_int", "is_number", "require_int"]


def is_int(v: Any) -> bool:
    """True for Python and numpy integers, False for bools and everything else."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """True for real numbers (int, float, numpy scalars), False for bools."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def require_int(name: str, v: Any, low: int | None = None, what: str = "") -> int:
    """``int(v)`` if ``v`` is an integer of at least ``low``; else a ValueError naming ``name``."""
    if not is_int(v) or (low is not None and int(v) < low):
        bound = f" >= {low}" if low is not None else ""
        extra = f" ({what})" if what else ""
        raise ValueError(f"{name} must be an int{bound}{extra}; got {v!r}")
    return int(v)


def edge_error(
    l: int, i: int, j: int, widths: Sequence[int], out_widths: Sequence[int] | None = None
) -> str | None:
    """``None`` if edge ``(l, i, j)`` exists in a model of ``widths`` (node counts), else why
    not. ``out_widths``: the subnode counts where edges end (a model with multiplication nodes,
    ``model.width_out``); by default ``widths``."""
    outs = widths if out_widths is None else out_widths
    for name, v in (("l", l), ("i", i), ("j", j)):
        if not is_int(v):
            return f"edge index {name} must be an int; got {v!r}"
    depth = len(widths) - 1
    if not 0 <= l < depth:
        return f"layer l={l} out of range 0..{depth - 1}"
    if not 0 <= i < widths[l]:
        return f"input node i={i} out of range 0..{widths[l] - 1} for layer {l}"
    if not 0 <= j < outs[l + 1]:
        return f"output node j={j} out of range 0..{outs[l + 1] - 1} for layer {l}"
    return None


def check_edge(
    l: int, i: int, j: int, widths: Sequence[int], out_widths: Sequence[int] | None = None
) -> tuple[int, int, int]:
    """Raise (TypeError for a non-int index, IndexError out of range) unless the edge exists;
    returns the indices as Python ints (``out_widths`` as :func:`edge_error`'s)."""
    err = edge_error(l, i, j, widths, out_widths)
    if err is None:
        return int(l), int(i), int(j)
    raise (TypeError if "must be an int" in err else IndexError)(err)
