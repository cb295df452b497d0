"""Validation of what the front end sends: command messages and hyperparameter trait values.

Everything coming from the browser is untrusted (a stale front end, a bug, a hand-typed number), so
each check returns an error string for ``status.error`` instead of raising, and the caller changes
nothing when it gets one. The ranges are those of docs/WIDGET_PROTOCOL.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMANDS",
    "HPARAMS",
    "OPTIMIZERS",
    "Command",
    "check_hparam",
    "parse_command",
]

OPTIMIZERS = ("LBFGS", "Adam")

# name -> (kind, low, high, low_inclusive); kind "float", "int" or "choice"
HPARAMS: dict[str, tuple[str, Any, Any, bool]] = {
    "lamb": ("float", 0.0, 1.0, True),
    "lamb_l1": ("float", 0.0, 10.0, True),
    "lamb_entropy": ("float", 0.0, 10.0, True),
    "theta": ("float", 0.0, 1.0, True),
    "beta": ("float", 0.1, 100.0, True),
    "steps": ("int", 1, 100_000, True),
    "opt": ("choice", OPTIMIZERS, None, True),
    "lr": ("float", 0.0, 10.0, False),
}

# type -> {field: kind}; "edge" commands also get their (l, i, j) range-checked
COMMANDS: dict[str, dict[str, str]] = {
    "train": {},
    "pause": {},
    "step": {},
    "reset": {},
    "prune": {},
    "refine": {"grid": "int"},
    "symbolify": {},
    "undo": {},
    "redo": {},
    "inspect": {"l": "int", "i": "int", "j": "int"},
    "fix": {"l": "int", "i": "int", "j": "int", "name": "str"},
    "unfix": {"l": "int", "i": "int", "j": "int"},
    "refresh": {},
}

MAX_GRID = 1000  # far past any useful grid; stops a typo from allocating gigabytes


@dataclass(frozen=True)
class Command:
    type: str
    fields: dict[str, Any]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_hparam(name: str, value: Any) -> str | None:
    """``None`` if ``value`` is acceptable for hyperparameter ``name``, else why not."""
    kind, lo, hi, lo_incl = HPARAMS[name]
    if kind == "choice":
        if value not in lo:
            return f"{name} must be one of {', '.join(lo)}; got {value!r}"
        return None
    if kind == "int":
        # JSON has one number type: an integral float from JS (e.g. 50.0) is still a valid count
        if _is_number(value) and math.isfinite(value) and value == int(value):
            value = int(value)
        if not _is_int(value):
            return f"{name} must be an integer; got {value!r}"
    elif not _is_number(value):
        return f"{name} must be a number; got {value!r}"
    elif not math.isfinite(value):
        return f"{name} must be finite; got {value!r}"
    low_ok = value >= lo if lo_incl else value > lo
    if not (low_ok and value <= hi):
        bracket = "[" if lo_incl else "("
        return f"{name} must be in {bracket}{lo}, {hi}]; got {value!r}"
    return None


def parse_command(content: Any, widths: list[int]) -> tuple[Command | None, str | None]:
    """Validate a custom message against the protocol and the current model ``widths``.

    Returns ``(command, None)`` or ``(None, error)``. Unknown extra fields are errors too, so a
    front end that drifts from the protocol is noticed at once rather than half-obeyed.
    """
    if not isinstance(content, dict):
        return None, f"message must be an object with a 'type'; got {type(content).__name__}"
    kind = content.get("type")
    if not isinstance(kind, str):
        return None, f"message has no string 'type': {_short(content)}"
    spec = COMMANDS.get(kind)
    if spec is None:
        return None, f"unknown message type {kind!r}; known: {', '.join(sorted(COMMANDS))}"
    extra = sorted(set(content) - set(spec) - {"type"})
    if extra:
        return None, f"'{kind}' message has unexpected field(s) {extra}"
    fields: dict[str, Any] = {}
    for name, ftype in spec.items():
        if name not in content:
            return None, f"'{kind}' message needs field '{name}'"
        v = content[name]
        if ftype == "int" and not _is_int(v):
            return None, f"'{kind}' field '{name}' must be an integer; got {v!r}"
        if ftype == "str" and not (isinstance(v, str) and v):
            return None, f"'{kind}' field '{name}' must be a non-empty string; got {v!r}"
        fields[name] = v
    if {"l", "i", "j"} <= spec.keys():
        err = check_edge(fields["l"], fields["i"], fields["j"], widths)
        if err:
            return None, f"'{kind}': {err}"
    if kind == "refine" and not 1 <= fields["grid"] <= MAX_GRID:
        return None, f"'refine' grid must be in 1..{MAX_GRID}; got {fields['grid']}"
    return Command(kind, fields), None


def check_edge(l: int, i: int, j: int, widths: list[int]) -> str | None:
    """``None`` if edge ``(l, i, j)`` exists in a model of ``widths``, else why not."""
    depth = len(widths) - 1
    if not 0 <= l < depth:
        return f"layer l={l} out of range 0..{depth - 1}"
    if not 0 <= i < widths[l]:
        return f"input node i={i} out of range 0..{widths[l] - 1} for layer {l}"
    if not 0 <= j < widths[l + 1]:
        return f"output node j={j} out of range 0..{widths[l + 1] - 1} for layer {l}"
    return None


def _short(obj: Any, limit: int = 120) -> str:
    s = repr(obj)
    return s if len(s) <= limit else s[: limit - 1] + "…"
