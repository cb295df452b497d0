"""The protocol's tables (docs/WIDGET_PROTOCOL.md) and the validation of what the front end sends.

Every fact about a hyperparameter (its range, its slider's label, scale and step, its default) and
every command (its fields, the widget method that runs it) is written here once. The widget builds
its traits and its dispatch from these tables and sends them to the front end as the ``spec``
trait (:func:`spec`), so the sliders are drawn from the same numbers Python validates against.

Everything coming from the browser is untrusted (a stale front end, a bug, a hand-typed number), so
each check returns an error string for ``status.error`` instead of raising, and the caller changes
nothing when it gets one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..classification import PROBLEMS
from ..compiler import MAX_FORMULA_CHARS
from ..symbolic.library import SYMBOLIC_LIB
from ..validation import edge_error, is_int, is_number

__all__ = [
    "COMMANDS",
    "DEFAULT_LR",
    "HPARAMS",
    "MAX_GRID",
    "OPTIMIZERS",
    "OUTPUT_TRAITS",
    "POLISH_STEPS",
    "SLIDERS",
    "SYM_PRESETS",
    "TABLE_DEFAULTS",
    "Command",
    "CommandSpec",
    "HParam",
    "check_hparam",
    "check_state",
    "parse_command",
    "spec",
]

OPTIMIZERS = ("LBFGS", "Adam")
# each optimiser's default learning rate: switching `opt` while `lr` is the old one's default
# switches `lr` too (an LBFGS rate of 1.0 would blow Adam up at once)
DEFAULT_LR = {"LBFGS": 1.0, "Adam": 1e-3}


@dataclass(frozen=True)
class HParam:
    """One hyperparameter trait: what Python accepts, and how the front end shows it.

    ``min``/``max`` bound the accepted values (``min`` itself only if ``min_inclusive``; both
    ``None`` for a choice). A slider (``scale`` not ``None``) spans ``slider_min`` .. ``max``:
    ``"log0"`` is a log scale from ``slider_min`` (its smallest non-zero value) whose first
    position means 0, ``"log"`` a log scale from ``slider_min``, ``"linear"`` a linear one from
    ``slider_min`` rounded to ``step``. ``label`` is the input's ``aria-label``. ``excluded``:
    values inside the range that mean nothing (``batch`` 0: -1 is "every row", 1.. a count).
    """

    kind: str  # "float" | "int" | "choice"
    default: Any
    label: str
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    scale: str | None = None  # "log0" | "log" | "linear" | None (no slider)
    slider_min: float | None = None
    step: float | None = None
    options: tuple[str, ...] | None = None
    excluded: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "min": self.min,
            "max": self.max,
            "min_inclusive": self.min_inclusive,
            "label": self.label,
            "scale": self.scale,
            "slider_min": self.slider_min,
            "step": self.step,
            "options": None if self.options is None else list(self.options),
            "default": self.default,
            "excluded": list(self.excluded),
        }


HPARAMS: dict[str, HParam] = {
    "lamb": HParam("float", 0.01, "lambda", 0.0, 1.0, scale="log0", slider_min=1e-5),
    "lamb_l1": HParam("float", 1.0, "mu1", 0.0, 10.0, scale="linear", slider_min=0.0, step=0.01),
    "lamb_entropy": HParam(
        "float", 2.0, "mu2", 0.0, 10.0, scale="linear", slider_min=0.0, step=0.01
    ),
    "theta": HParam("float", 0.01, "theta", 0.0, 1.0, scale="log0", slider_min=1e-5),
    # Prune inputs' threshold on the inputs' attribution scores (pykan's prune_input default)
    "input_theta": HParam(
        "float", 0.01, "input threshold", 0.0, 1.0, scale="log0", slider_min=1e-5
    ),
    "beta": HParam("float", 3.0, "beta", 0.1, 100.0, scale="log", slider_min=0.1),
    "steps": HParam("int", 50, "steps", 1, 100_000),
    # rows per training step, pykan's fit(batch=...): -1 every training row, else a random batch
    "batch": HParam("int", -1, "batch size", -1, 1_000_000, excluded=(0,)),
    "opt": HParam("choice", "LBFGS", "optimizer", options=OPTIMIZERS),
    "lr": HParam("float", DEFAULT_LR["LBFGS"], "learning rate", 0.0, 10.0, min_inclusive=False),
    # Symbolify's controls (auto_symbolic's r2_threshold, weight_simple and lib)
    "r2_threshold": HParam("float", 0.99, "r2 threshold", 0.0, 1.0),
    "weight_simple": HParam("float", 0.8, "simplicity weight", 0.0, 1.0),
    "sym_lib": HParam("choice", "all", "library", options=("all", "pykan", "polynomial", "trig")),
    # the loss and the numbers shown; KANWidget starts from the one its labels suggest
    "problem": HParam("choice", "regression", "problem", options=PROBLEMS),
}
# The defaults that differ for your own data (a dataset from create_dataset_from_data, which
# carries column names): a few hundred noisy rows overfit a [10, 5, 1] KAN at lamb 0.01 (diabetes,
# seeds 0-4, test R2 of the formula 0.515 / 0.489 / 0.510 / 0.329 / -1.56 with keep_best) and
# reach 0.533 / 0.515 / 0.559 / 0.514 / 0.557 at 0.02; 0.03 zeroes seed 3 (the penalty of 55
# edges outweighs the fit). Noise-free synthetic data keep 0.01: 0.02 leaves the canonical
# example's test RMSE 1.4x higher (bench/bench_tables.py).
# weight_simple 0.5 (0.8 elsewhere): on a noisy table the formula's R2 right after Symbolify
# equals the splines' (diabetes seeds 1/3: 0.530/0.567 against 0.525/0.564); what loses it is
# the retraining of simpler but less exact choices. Formula test R2 after the retraining,
# diabetes seeds 0-4: 0.521 0.493 0.561 0.508 0.536 at 0.8 -> 0.521 0.512 0.545 0.538 0.536 at
# 0.5 (formula within 0.03 of its splines on all five); wine, friedman1, the integer category
# table unchanged within 0.001 (seeds 0-1).
# polish 0 (Train's polish, POLISH_STEPS below, off): on a noisy table the penalty is what keeps
# the fit from overfitting; 10 unpenalised steps raised the validation loss (keep_best went back
# before them on diabetes seeds 0-3) and after Prune's retraining cost the formula's test R2,
# diabetes seeds 0-4: 0.521 0.512 0.545 0.538 0.536 without -> 0.518 0.535 0.498 0.538 0.480.
TABLE_DEFAULTS: dict[str, Any] = {"lamb": 0.02, "weight_simple": 0.5, "polish": 0}
# Train's last steps (at most a fifth of the run; not on a table, see TABLE_DEFAULTS) polish:
# lamb 0, and only the edges scoring at least theta train (kan_widget.training.polish_frozen;
# KANWidget(polish=0) turns it off). The
# penalty's bias then no longer limits the model the user sees and prunes, and Prune finds the
# same structure. [2,5,1] seeds 0-3, 40 penalised steps (lamb 0.01) + 10 polish, test RMSE /
# label std: sqrt(1+x^2+y^2) 3.4% -> 0.09 0.04 0.24 0.05%, exp(sin(pi x)+y^2) 2.1% -> 1.0%,
# prune() -> [2,1,1] on all eight (bench/bench_tables.py --only scale).
POLISH_STEPS = 10
# Symbolify's library presets: names of kan_widget.symbolic.SYMBOLIC_LIB (None: all of it, as
# it is when Symbolify runs). Sent in `spec` so the front end shows what each preset holds.
SYM_PRESETS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "pykan": ("x", "x^2", "x^3", "x^4", "exp", "log", "sqrt", "tanh", "sin", "abs", "0"),
    "polynomial": ("x", "x^2", "x^3", "x^4", "x^5", "0"),
    "trig": ("x", "x^2", "sin", "cos", "tan", "arctan", "tanh", "0"),
}
# the sliders, in display order (every hyperparameter with a scale)
SLIDERS: tuple[str, ...] = ("lamb", "lamb_l1", "lamb_entropy", "theta", "input_theta", "beta")


@dataclass(frozen=True)
class CommandSpec:
    """One command type: its fields (name -> "int" | "str"), the public ``KANWidget`` method that
    runs it (called with the fields' values in this order, then ``kwargs``), the ``status.busy``
    label while it runs, and whether it is queued on the command thread or run at once."""

    fields: Mapping[str, str]
    handler: str
    busy: str | None = None
    queued: bool = True
    kwargs: Mapping[str, Any] = field(default_factory=dict)


_EDGE = {"l": "int", "i": "int", "j": "int"}
COMMANDS: dict[str, CommandSpec] = {
    "train": CommandSpec({}, "train"),
    # at once: a Pause must not wait behind a long Symbolify; it also drops a queued Train/Step
    "pause": CommandSpec({}, "stop", queued=False, kwargs={"wait": False}),
    "step": CommandSpec({}, "step"),
    "reset": CommandSpec({}, "reset", busy="resetting"),
    "prune": CommandSpec({}, "prune", busy="pruning"),
    "prune_input": CommandSpec({}, "prune_input", busy="pruning inputs"),
    "remove_edge": CommandSpec(_EDGE, "remove_edge", busy="removing the edge"),
    "start_formula": CommandSpec({"formula": "str"}, "start_from_formula", busy="compiling"),
    "refine": CommandSpec({"grid": "int"}, "refine", busy="refining"),
    "symbolify": CommandSpec({}, "auto_symbolic", busy="symbolifying"),
    # minutes long: it reports progress in status.message and the Pause button stops it
    "discover": CommandSpec({}, "discover", busy="discovering"),
    "undo": CommandSpec({}, "undo", busy="undoing"),
    "redo": CommandSpec({}, "redo", busy="redoing"),
    "inspect": CommandSpec(_EDGE, "inspect", busy="inspecting"),
    "fix": CommandSpec({**_EDGE, "name": "str"}, "fix_symbolic", busy="fixing"),
    "unfix": CommandSpec(_EDGE, "unfix_symbolic", busy="unfixing"),
    "refresh": CommandSpec({}, "refresh", queued=False),
    "back_to_best": CommandSpec({}, "back_to_best", busy="restoring the best step"),
}

MAX_GRID = 1000  # far past any useful grid; stops a typo from allocating gigabytes

# traits only Python writes; a front-end write of one is rejected
OUTPUT_TRAITS = frozenset(
    [
        "spec",
        "structure",
        "curves",
        "scores",
        "masks",
        "feature_scores",
        "status",
        "formula",
        "inspector",
        "inspector_points",
        "classify",
        "class_grid",
        "class_points",
        "class_nodes",
    ]
)


def spec() -> dict[str, Any]:
    """The ``spec`` trait: these tables as JSON (a new dict each call)."""
    return {
        "hparams": {name: p.to_json() for name, p in HPARAMS.items()},
        "sliders": list(SLIDERS),
        "commands": {kind: dict(c.fields) for kind, c in COMMANDS.items()},
        # ranges of command fields (Refine's grid box), so the front end does not retype them
        "limits": {
            "refine_grid": {"min": 1, "max": MAX_GRID},
            "formula_chars": {"min": 1, "max": MAX_FORMULA_CHARS},
        },
        "symbolic": {
            "library": list(SYMBOLIC_LIB),
            "presets": {
                k: list(SYMBOLIC_LIB) if v is None else list(v) for k, v in SYM_PRESETS.items()
            },
        },
    }


@dataclass(frozen=True)
class Command:
    type: str
    fields: dict[str, Any]


def check_hparam(name: str, value: Any) -> str | None:
    """``None`` if ``value`` is acceptable for hyperparameter ``name``, else why not."""
    p = HPARAMS[name]
    if p.kind == "choice":
        assert p.options is not None  # every choice hyperparameter lists its options
        if value not in p.options:
            return f"{name} must be one of {', '.join(p.options)}; got {value!r}"
        return None
    if p.kind == "int":
        # JSON has one number type: an integral float from JS (e.g. 50.0) is still a valid count
        if is_number(value) and math.isfinite(value) and value == int(value):
            value = int(value)
        if not is_int(value):
            return f"{name} must be an integer; got {value!r}"
    elif not is_number(value):
        return f"{name} must be a number; got {value!r}"
    elif not math.isfinite(value):
        return f"{name} must be finite; got {value!r}"
    low_ok = value >= p.min if p.min_inclusive else value > p.min
    if not (low_ok and value <= p.max):
        bracket = "[" if p.min_inclusive else "("
        return f"{name} must be in {bracket}{p.min}, {p.max}]; got {value!r}"
    if value in p.excluded:
        allowed = ", ".join(f"{v:g}" for v in p.excluded)
        return f"{name} cannot be {value!r}: any value in [{p.min}, {p.max}] but {allowed}"
    return None


def check_state(state: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Split a front-end trait update into ``(accepted, rejected names, errors)``: hyperparameters
    out of range and writes to output traits are rejected; an int hyperparameter sent as an
    integral float (JSON) is accepted as an int. Other traits pass through."""
    accepted, rejected, errors = {}, [], []
    for name, value in state.items():
        err = None
        if name in HPARAMS:
            err = check_hparam(name, value)
            if err is None and HPARAMS[name].kind == "int":
                value = int(value)
        elif name in OUTPUT_TRAITS:
            err = f"'{name}' is set by the kernel only; the front end may not change it"
        if err:
            rejected.append(name)
            errors.append(err)
        else:
            accepted[name] = value
    return accepted, rejected, errors


def parse_command(
    content: Any, widths: list[int], out_widths: list[int] | None = None
) -> tuple[Command | None, str | None]:
    """Validate a custom message against the protocol and the current model ``widths`` (node
    counts; ``out_widths``: where edges end, ``model.width_out``, for multiplication nodes).

    Returns ``(command, None)`` or ``(None, error)``. Unknown extra fields are errors too, so a
    front end that drifts from the protocol is noticed at once rather than half-obeyed.
    """
    if not isinstance(content, dict):
        return None, f"message must be an object with a 'type'; got {type(content).__name__}"
    kind = content.get("type")
    if not isinstance(kind, str):
        return None, f"message has no string 'type': {_short(content)}"
    entry = COMMANDS.get(kind)
    if entry is None:
        return None, f"unknown message type {kind!r}; known: {', '.join(sorted(COMMANDS))}"
    extra = sorted(set(content) - set(entry.fields) - {"type"})
    if extra:
        return None, f"'{kind}' message has unexpected field(s) {extra}"
    fields: dict[str, Any] = {}
    for name, ftype in entry.fields.items():
        if name not in content:
            return None, f"'{kind}' message needs field '{name}'"
        v = content[name]
        if ftype == "int" and not is_int(v):
            return None, f"'{kind}' field '{name}' must be an integer; got {v!r}"
        if ftype == "str" and not (isinstance(v, str) and v):
            return None, f"'{kind}' field '{name}' must be a non-empty string; got {v!r}"
        fields[name] = v
    if _EDGE.keys() <= entry.fields.keys():
        err = edge_error(fields["l"], fields["i"], fields["j"], widths, out_widths)
        if err:
            return None, f"'{kind}': {err}"
    if kind == "start_formula" and len(fields["formula"]) > MAX_FORMULA_CHARS:
        return None, f"'start_formula': the formula is over {MAX_FORMULA_CHARS} characters"
    if kind == "refine" and not 1 <= fields["grid"] <= MAX_GRID:
        return None, f"'refine' grid must be in 1..{MAX_GRID}; got {fields['grid']}"
    return Command(kind, fields), None


def _short(obj: Any, limit: int = 120) -> str:
    s = repr(obj)
    return s if len(s) <= limit else s[: limit - 1] + "…"
