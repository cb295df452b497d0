"""Your own data in your own units: tables in, a train/test split, and the model's scaling.

:func:`create_dataset_from_data` (pykan's name and first arguments) takes a pandas DataFrame, a
dict of Series/DataFrames, numpy arrays or tensors, checks every column (text, dates, NaN and a
constant target are refused with the column, the rows and the fix), splits the rows with a seed
and returns pykan's dataset dict plus ``in_vars`` / ``out_vars``: the column names made into
valid sympy symbols (``"body mass"`` -> ``body_mass``).

The data stay in your units. The *model* rescales them (:class:`Scaling`, fitted from the
training data at the first ``fit`` when ``KAN(normalize=...)`` asks for it, which by default it
does where the data are not already O(1)): inputs are mapped affinely onto the grid range and
labels standardised, so that ``lamb``, the pruning thresholds and the symbolic thresholds mean
the same on every problem, while ``model(x)``, the losses and ``symbolic_formula()`` speak the
original units and names.
"""

from __future__ import annotations

import dataclasses
import keyword
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "CLIP_MARGIN",
    "NORMALIZE_MODES",
    "Scaling",
    "create_dataset_from_data",
    "fit_scaling",
    "symbol_names",
]

NORMALIZE_MODES = ("auto", True, False)

# "auto" leaves a label column alone when it is already O(1): standard deviation within
# [1/LABEL_STD_BAND, LABEL_STD_BAND] and |mean| <= LABEL_MEAN_MAX (the canonical example's labels,
# mean 1.81 and std 1.36, are; sqrt(1+x^2+y^2)'s, std 0.17, and a table's target are not).
# Why 4, not 2: standardising a moderate std to 1 is not neutral for L-BFGS at pykan's
# initialisation: xy (std 0.33) reached test RMSE 2.0e-3 standardised against 4.4e-4 as it is
# (median of seeds 0-4, 100 steps; pykan 0.2.8 fits it as it is), and 3*xy trained as it is
# reaches 2.1e-3/1.1e-3 (relative, seeds 0-1) as the standardised xy does: the spread, not the code.
LABEL_STD_BAND = 4.0
LABEL_MEAN_MAX = 2.0
# ... and an input column when its training values lie in the grid range and span at least this
# fraction of it
INPUT_MIN_SPAN = 0.5
# Prediction holds each scaled input within its training range widened by this fraction of the
# range on either side (constant extrapolation past it). Why: the first layer's grid is refitted
# to the training inputs, and the B-spline coefficients of the basis functions that reach past
# its ends are barely constrained by the data, so a spline can swing far just outside: diabetes
# (seed 1, theta 0.03) predicted 1923 on a test row whose bmi lies 3.9% of its range past the
# training maximum (target 25-346). 0: even a few percent past the end is not safe.
CLIP_MARGIN = 0.0


# ---------------------------------------------------------------------- the model's scaling
@dataclasses.dataclass(frozen=True)
class Scaling:
    """The affine maps between the user's units and the units the network computes in.

    ``z = x*in_scale + in_shift`` (per input column; the network's input) and
    ``y = t*out_scale + out_shift`` (per output; ``t`` the network's output). ``in_vars`` /
    ``out_vars``: the data's column names, when it had some (used by ``symbolic_formula``).
    Plain floats, so a model's scaling is exact in JSON, shared by copies and on every device.

    ``in_min`` / ``in_max`` (ours): each input column's training range in the data's units, and
    ``clip``: at prediction (:meth:`clip_inputs`, which ``model(x)`` and ``model.predict`` apply)
    every *scaled* input column is held within that range widened by ``clip`` times its span, so
    a test row past the training data gets the model's value at the edge of the data instead of
    a spline's extrapolation. ``clip=None``, a column the scaling leaves as it is (pykan's
    units) and a scaling without ranges (older files, ``Scaling.identity``) clip nothing.
    Training, grid updates and ``refine`` see the inputs as they are.
    """

    in_scale: tuple[float, ...]
    in_shift: tuple[float, ...]
    out_scale: tuple[float, ...]
    out_shift: tuple[float, ...]
    in_vars: tuple[str, ...] | None = None
    out_vars: tuple[str, ...] | None = None
    in_min: tuple[float, ...] | None = None
    in_max: tuple[float, ...] | None = None
    clip: float | None = CLIP_MARGIN

    def __post_init__(self) -> None:
        for name in ("in_scale", "in_shift", "out_scale", "out_shift", "in_min", "in_max"):
            raw = getattr(self, name)
            if raw is None:
                continue
            v = tuple(float(a) for a in raw)
            if not all(math.isfinite(a) for a in v):
                raise ValueError(f"Scaling.{name} must be finite numbers; got {v}")
            object.__setattr__(self, name, v)
        if (self.in_min is None) != (self.in_max is None):
            raise ValueError("Scaling: give both in_min and in_max, or neither")
        if self.in_min is not None and self.in_max is not None:
            if len(self.in_min) != len(self.in_scale) or len(self.in_max) != len(self.in_scale):
                raise ValueError("Scaling: in_min and in_max need one entry per input column")
            if any(a > b for a, b in zip(self.in_min, self.in_max)):
                raise ValueError("Scaling: in_min must not exceed in_max")
        if self.clip is not None:
            if isinstance(self.clip, bool) or not isinstance(self.clip, (int, float)):
                raise ValueError(f"Scaling.clip must be a number >= 0 or None; got {self.clip!r}")
            if not (math.isfinite(self.clip) and self.clip >= 0):
                raise ValueError(f"Scaling.clip must be a number >= 0 or None; got {self.clip!r}")
            object.__setattr__(self, "clip", float(self.clip))
        if len(self.in_scale) != len(self.in_shift) or len(self.out_scale) != len(self.out_shift):
            raise ValueError("Scaling: scale and shift must have one entry per column")
        if any(s == 0 for s in self.in_scale + self.out_scale):
            raise ValueError("Scaling: a scale of 0 cannot be inverted")
        for name, n in (("in_vars", len(self.in_scale)), ("out_vars", len(self.out_scale))):
            raw = getattr(self, name)
            if raw is not None:
                names = tuple(str(s) for s in raw)
                if len(names) != n:
                    raise ValueError(f"Scaling.{name} needs {n} names; got {list(names)}")
                object.__setattr__(self, name, names)

    @classmethod
    def identity(cls, n_in: int, n_out: int, in_vars=None, out_vars=None) -> Scaling:
        return cls((1.0,) * n_in, (0.0,) * n_in, (1.0,) * n_out, (0.0,) * n_out, in_vars, out_vars)

    @property
    def in_identity(self) -> bool:
        return all(s == 1.0 for s in self.in_scale) and all(b == 0.0 for b in self.in_shift)

    @property
    def out_identity(self) -> bool:
        return all(s == 1.0 for s in self.out_scale) and all(b == 0.0 for b in self.out_shift)

    def _t(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device)

    def inputs_to_model(self, x: torch.Tensor) -> torch.Tensor:
        """User-unit inputs ``[B, n_in]`` -> the network's (the same tensor if identity)."""
        if self.in_identity:
            return x
        return x * self._t(self.in_scale, x) + self._t(self.in_shift, x)

    def clip_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """Per input column ``(low, high)`` in the data's units that prediction holds the inputs
        within (``-inf`` / ``inf`` for a column left as it is), or None when nothing is held."""
        if self.clip is None or self.in_min is None or self.in_max is None:
            return None
        lo, hi = [], []
        any_bound = False
        for a, b, mn, mx in zip(self.in_scale, self.in_shift, self.in_min, self.in_max):
            if a == 1.0 and b == 0.0:  # a column in pykan's units: as pykan, no bound
                lo.append(-math.inf)
                hi.append(math.inf)
                continue
            pad = self.clip * (mx - mn)
            lo.append(mn - pad)
            hi.append(mx + pad)
            any_bound = True
        return (tuple(lo), tuple(hi)) if any_bound else None

    def clip_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """User-unit inputs ``[B, n_in]`` held within :meth:`clip_bounds` (the same tensor when
        nothing is held). Differentiable (zero gradient past a bound, as a clamp)."""
        bounds = self.clip_bounds()
        if bounds is None:
            return x
        return torch.clamp(x, self._t(bounds[0], x), self._t(bounds[1], x))

    def outside(self, x: torch.Tensor) -> dict[str, Any]:
        """How far rows ``x [B, n_in]`` (user units) reach past the training range of each
        input: ``{"rows": rows with any column past it, "columns": {name: (rows past, largest
        distance past as a fraction of the column's range)}, "clipped": whether prediction holds
        them}``; empty ``columns`` without ranges or when every row is inside. For a status line
        ("3 test rows lie past the training range of hue (up to 54%); predictions hold them at
        the range's edge")."""
        out: dict[str, Any] = {"rows": 0, "columns": {}, "clipped": False}
        if self.in_min is None or self.in_max is None:
            return out
        xd = x.detach().to(torch.float64).cpu()
        mn = torch.tensor(self.in_min, dtype=torch.float64)
        mx = torch.tensor(self.in_max, dtype=torch.float64)
        span = torch.where(mx > mn, mx - mn, torch.ones_like(mx))
        past = torch.maximum(xd - mx, mn - xd).clamp(min=0) / span  # [B, n_in]
        hit = past > 0
        out["rows"] = int(hit.any(1).sum())
        names = self.in_vars or tuple(f"x_{c + 1}" for c in range(len(self.in_min)))
        for c in hit.any(0).nonzero().flatten().tolist():
            out["columns"][names[c]] = (int(hit[:, c].sum()), float(past[:, c].max()))
        out["clipped"] = self.clip_bounds() is not None
        return out

    def labels_to_model(self, y: torch.Tensor) -> torch.Tensor:
        """User-unit labels ``[B, n_out]`` -> the network's (the same tensor if identity)."""
        if self.out_identity:
            return y
        return (y - self._t(self.out_shift, y)) / self._t(self.out_scale, y)

    def outputs_to_user(self, t: torch.Tensor) -> torch.Tensor:
        """The network's outputs ``[B, n_out]`` -> user units (the same tensor if identity)."""
        if self.out_identity:
            return t
        return t * self._t(self.out_scale, t) + self._t(self.out_shift, t)

    def select_inputs(self, keep: Sequence[int], in_vars=None) -> Scaling:
        """The scaling of the input columns ``keep`` (in that order; ``prune_input``), their
        training ranges and the clip with them; ``in_vars`` names the kept columns."""
        cols = [int(c) for c in keep]

        def pick(v: tuple[float, ...] | None) -> tuple[float, ...] | None:
            return None if v is None else tuple(v[c] for c in cols)

        return dataclasses.replace(
            self,
            in_scale=tuple(self.in_scale[c] for c in cols),
            in_shift=tuple(self.in_shift[c] for c in cols),
            in_vars=in_vars,
            in_min=pick(self.in_min),
            in_max=pick(self.in_max),
        )

    def with_names(self, in_vars=None, out_vars=None) -> Scaling:
        return dataclasses.replace(self, in_vars=in_vars, out_vars=out_vars)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = None if v is None else v if f.name == "clip" else list(v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaling:
        if not isinstance(d, dict):
            raise ValueError(f"a model's scaling must be a dict; got {type(d).__name__}")
        d = dict(d)
        if "in_min" not in d:  # written before the clip existed: predictions as they were
            d.setdefault("clip", None)
        return cls(**d)


def _check_mode(mode) -> None:
    if not any(mode is m or (isinstance(mode, str) and mode == m) for m in NORMALIZE_MODES):
        raise ValueError(
            f"normalize must be 'auto' (scale data that are not already O(1)), True (always) "
            f"or False (never: pykan's behaviour); got {mode!r}"
        )


def fit_scaling(
    x: torch.Tensor,
    y: torch.Tensor,
    mode: bool | str = "auto",
    grid_range: tuple[float, float] = (-1.0, 1.0),
    in_vars=None,
    out_vars=None,
    grid: int | None = None,
) -> Scaling:
    """The :class:`Scaling` for training inputs ``x [N, n_in]`` and labels ``y [N, n_out]``.

    Each input column's training range ``[min, max]`` is mapped onto ``grid_range``; each label
    column is standardised (mean 0, std 1). ``mode=True`` scales every column, ``False`` none
    (pykan), ``"auto"`` only the columns that are not already O(1): an input column is left alone
    when its values lie within ``grid_range`` and span at least half of it, or two of the
    ``grid`` intervals where that is less (a fine grid resolves a narrow column: pykan's
    continual-learning example fits one fifth of the range at a time on grid=200), a label column
    when its std is within [0.25, 4] and its mean within [-2, 2]. A constant column is shifted,
    not scaled."""
    _check_mode(mode)
    lo, hi = float(grid_range[0]), float(grid_range[1])
    xd, yd = x.detach().double().cpu(), y.detach().double().cpu()
    in_scale, in_shift, out_scale, out_shift = [], [], [], []
    for c in range(xd.shape[1]):
        mn, mx = float(xd[:, c].min()), float(xd[:, c].max())
        min_span = INPUT_MIN_SPAN if grid is None else min(INPUT_MIN_SPAN, 2 / grid)
        inside = lo <= mn and mx <= hi and (mx - mn) >= min_span * (hi - lo)
        if mode is False or (mode == "auto" and inside):
            a, b = 1.0, 0.0
        elif mx > mn:
            a = (hi - lo) / (mx - mn)
            b = lo - mn * a
        else:
            a, b = 1.0, (lo + hi) / 2 - mn
        in_scale.append(a)
        in_shift.append(b)
    for c in range(yd.shape[1]):
        mean = float(yd[:, c].mean())
        std = float(yd[:, c].std()) if yd.shape[0] > 1 else 0.0
        o1 = 1 / LABEL_STD_BAND <= std <= LABEL_STD_BAND and abs(mean) <= LABEL_MEAN_MAX
        if mode is False or (mode == "auto" and o1):
            s, m = 1.0, 0.0
        else:
            s, m = (std if std > 0 else 1.0), mean
        out_scale.append(s)
        out_shift.append(m)
    # the ranges only where a column is scaled (all that prediction holds; mode False and
    # O(1) data stay equal to the identity)
    scaled = any(a != 1.0 or b != 0.0 for a, b in zip(in_scale, in_shift))
    return Scaling(
        tuple(in_scale),
        tuple(in_shift),
        tuple(out_scale),
        tuple(out_shift),
        in_vars,
        out_vars,
        in_min=tuple(float(v) for v in xd.amin(0)) if scaled else None,
        in_max=tuple(float(v) for v in xd.amax(0)) if scaled else None,
    )


# ---------------------------------------------------------------------- names
def symbol_names(names: Sequence[Any], prefix: str = "x") -> list[str]:
    """Column names made into distinct, valid sympy symbol names: ``"body mass"`` ->
    ``body_mass``, ``"2nd"`` -> ``x_2nd``, ``"E"`` -> ``E_`` (``E`` is Euler's number to sympy),
    repeats get ``_2``, ``_3``; an empty name becomes ``{prefix}_{k+1}``."""
    import sympy

    out: list[str] = []
    seen: set[str] = set()
    for k, raw in enumerate(names):
        s = re.sub(r"\W+", "_", str(raw).strip(), flags=re.ASCII).strip("_")
        if not s:
            s = f"{prefix}_{k + 1}"
        elif s[0].isdigit():
            s = f"{prefix}_{s}"
        if keyword.iskeyword(s):
            s += "_"
        try:
            ok = isinstance(sympy.sympify(s), sympy.Symbol)
        except (sympy.SympifyError, SyntaxError, TypeError, AttributeError, ValueError):
            ok = False
        if not ok:
            s += "_"
        base, n = s, 2
        while s in seen:
            s, n = f"{base}_{n}", n + 1
        seen.add(s)
        out.append(s)
    return out


# ---------------------------------------------------------------------- tables in
def _columns(data, what: str) -> tuple[list[tuple[str, Any]], Any]:
    """``data`` as ``[(name, 1-D values)]`` plus the row labels (a pandas index, or None)."""
    if isinstance(data, dict):
        cols: list[tuple[str, Any]] = []
        index = None
        for key, v in data.items():
            sub, idx = _columns(v, what)
            if hasattr(v, "columns"):  # a DataFrame in a dict: its own column names
                cols.extend(sub)
            elif len(sub) == 1:
                cols.append((str(key), sub[0][1]))
            else:
                cols.extend((f"{key}_{k + 1}", c) for k, (_, c) in enumerate(sub))
            index = idx if index is None else index
        if not cols:
            raise ValueError(f"{what} is an empty dict; give it at least one column")
        return cols, index
    if isinstance(data, (torch.Tensor, np.ndarray)):  # (a tensor has .index and .name too)
        pass
    elif hasattr(data, "columns") and hasattr(data, "dtypes"):  # pandas DataFrame
        return [(str(c), data[c]) for c in data.columns], data.index
    elif hasattr(data, "dtype") and hasattr(data, "index") and hasattr(data, "name"):  # Series
        return [(str(data.name) if data.name is not None else what, data)], data.index
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 2-D [rows, columns]; got shape {arr.shape}")
    prefix = "x" if what == "inputs" else "y"
    return [(f"{prefix}_{k + 1}", arr[:, k]) for k in range(arr.shape[1])], None


def _numeric(name: str, values, what: str) -> np.ndarray:
    dtype = getattr(values, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if str(dtype) == "category":
        raise TypeError(
            f"{what} column {name!r} is categorical; encode it as numbers first, e.g. "
            f"df[{name!r}] = df[{name!r}].cat.codes, or drop it"
        )
    if kind in ("M", "m") or "datetime" in str(dtype):
        raise TypeError(
            f"{what} column {name!r} holds dates/times ({dtype}); turn it into a number first, "
            f"e.g. df[{name!r}] = (df[{name!r}] - df[{name!r}].min()).dt.days, or drop it"
        )
    arr = np.asarray(values)
    if arr.dtype.kind in ("M", "m"):
        raise TypeError(
            f"{what} column {name!r} holds dates/times ({arr.dtype}); turn it into a number "
            f"first (e.g. days since the first date), or drop it"
        )
    if arr.dtype.kind == "b":
        return arr.astype(np.float64)
    if arr.dtype.kind not in "iuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{what} column {name!r} holds text (dtype {arr.dtype}); encode it as numbers "
                f"first, e.g. df[{name!r}] = df[{name!r}].astype('category').cat.codes "
                f"(or one column per category with pd.get_dummies), or drop it"
            ) from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{what} column {name!r} is complex; pass real numbers")
    return arr.astype(np.float64)


def _bad_rows(bad: np.ndarray, index) -> str:
    rows = np.flatnonzero(bad)
    labels = [index[r] for r in rows[:8]] if index is not None else rows[:8].tolist()
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    return f"{len(rows)} row(s): {[x.item() if hasattr(x, 'item') else x for x in labels]}{more}"


def _split(n: int, train_ratio: float, seed: int | None, shuffle: bool):
    """``(train rows, test rows)``, each sorted: a seeded shuffle (``seed=None``: a fresh one,
    from a local generator all the same) or, with ``shuffle=False``, the first rows train."""
    n_train = int(n * train_ratio)
    if n_train < 1 or (train_ratio < 1 and n - n_train < 1):
        raise ValueError(
            f"{n} rows with train_ratio={train_ratio} leave an empty train or test set; give "
            "more rows or another ratio"
        )
    if not shuffle:
        order = np.arange(n)
    elif seed is None:
        order = np.random.default_rng().permutation(n)
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).numpy()
    tr, te = order[:n_train], order[n_train:] if train_ratio < 1 else order[:n_train]
    return np.sort(tr), np.sort(te)  # rows in their original order within each split


def _tensor_split(
    inputs: torch.Tensor, labels: torch.Tensor, train_ratio: float, device, seed, shuffle, dtype
) -> dict[str, Any]:
    """pykan's path: tensors in, tensors out, indexed as they are (dtype, a 1-D label vector and
    integer class labels kept), pykan's four keys."""
    if inputs.shape[0] != labels.shape[0]:
        raise ValueError(
            f"inputs have {inputs.shape[0]} rows but labels have {labels.shape[0]}; they must "
            "match row for row"
        )
    for what, v in (("inputs", inputs), ("labels", labels)):
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = ~torch.isfinite(v.reshape(v.shape[0], -1)).all(1)
            raise ValueError(
                f"{what} are NaN or inf in {_bad_rows(bad.cpu().numpy(), None)}; drop or impute "
                "those rows first"
            )
    tr, te = _split(int(inputs.shape[0]), train_ratio, seed, shuffle)
    tr_i, te_i = torch.from_numpy(tr).to(inputs.device), torch.from_numpy(te).to(inputs.device)

    def t(a: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        a = a.detach()[rows.to(a.device)]
        if dtype is not None and a.is_floating_point():
            a = a.to(dtype)
        return a.to(device)

    return {
        "train_input": t(inputs, tr_i),
        "test_input": t(inputs, te_i),
        "train_label": t(labels, tr_i),
        "test_label": t(labels, te_i),
    }


def create_dataset_from_data(
    inputs,
    labels,
    train_ratio: float = 0.8,
    device="cpu",
    *,
    seed: int | None = 0,
    shuffle: bool = True,
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """A train/test dataset from your own data (pykan's ``create_dataset_from_data``; the one
    implementation, also ``kan_widget.create_dataset_from_data``).

    - ``inputs``: a pandas DataFrame, a dict of Series/DataFrames/arrays, a numpy array or a
      tensor ``[rows, n_in]``. ``labels``: the same kinds ``[rows, n_out]``, or the name (or
      list of names) of columns of the ``inputs`` DataFrame, which are then taken out of the
      inputs.
    - ``train_ratio`` of the rows train, the rest test: shuffled with a local generator seeded
      by ``seed`` (pykan draws from numpy's global RNG; ``seed=None``: a fresh split each call,
      the global RNGs untouched), or in order (the first rows train) with ``shuffle=False``.
    - Two tensors (pykan's input) are split as pykan splits them: pykan's four keys, each
      tensor indexed as it is (its dtype, a 1-D label vector and integer class labels kept;
      ``dtype`` converts floating tensors). NaN or inf rows are refused.
    - Anything else is a table: each column is checked, and the result is pykan's dict in
      ``dtype`` (default: torch's default dtype) plus ``in_vars`` / ``out_vars`` (column names
      as sympy symbol names, see :func:`symbol_names`) and ``train_rows`` / ``test_rows`` (row
      positions). The model scales the data itself (``KAN(normalize=...)``) and remembers the
      names, so ``symbolic_formula()`` reads ``0.3*bmi + ...``. Text, category and date
      columns, NaN or inf anywhere, and a constant label are refused with the column or rows
      and the fix.
    """
    if (
        isinstance(train_ratio, bool)
        or not isinstance(train_ratio, (int, float))
        or not 0 < train_ratio <= 1
    ):
        raise ValueError(f"train_ratio must be a number in (0, 1]; got {train_ratio!r}")
    if isinstance(inputs, torch.Tensor) and isinstance(labels, torch.Tensor):
        return _tensor_split(inputs, labels, train_ratio, device, seed, shuffle, dtype)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    names = [labels] if isinstance(labels, str) else labels
    if isinstance(names, list) and names and all(isinstance(s, str) for s in names):
        if not hasattr(inputs, "columns"):
            raise TypeError(
                f"labels={labels!r} names columns, so inputs must be a pandas DataFrame; pass the "
                "label values instead"
            )
        missing = [n for n in names if n not in inputs.columns]
        if missing:
            raise KeyError(
                f"label column(s) {missing} not in the table; it has {list(inputs.columns)}"
            )
        labels, inputs = inputs[names], inputs.drop(columns=names)
    xcols, xindex = _columns(inputs, "inputs")
    ycols, yindex = _columns(labels, "labels")
    x = np.stack([_numeric(n, v, "input") for n, v in xcols], axis=1)
    y = np.stack([_numeric(n, v, "label") for n, v in ycols], axis=1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"inputs have {x.shape[0]} rows but labels have {y.shape[0]}; they must match row "
            "for row"
        )
    n = x.shape[0]
    index = xindex if xindex is not None else yindex
    for k, (name, _) in enumerate(ycols):
        bad = ~np.isfinite(y[:, k])
        if bad.any():
            raise ValueError(
                f"label {name!r} is NaN or inf in {_bad_rows(bad, index)}; drop those rows "
                f"first, e.g. df = df.dropna(subset=[{name!r}])"
            )
    for k, (name, _) in enumerate(xcols):
        bad = ~np.isfinite(x[:, k])
        if bad.any():
            raise ValueError(
                f"input {name!r} is NaN or inf in {_bad_rows(bad, index)}; drop or impute those "
                f"rows first, e.g. df = df.dropna(subset=[{name!r}]) or "
                f"df[{name!r}] = df[{name!r}].fillna(df[{name!r}].median())"
            )
    for k, (name, _) in enumerate(ycols):
        if n > 0 and np.all(y[:, k] == y[0, k]):
            raise ValueError(
                f"label {name!r} is constant (every row is {y[0, k]:g}): there is nothing to "
                "learn from it, and it cannot be standardised; check that you chose the right "
                "column"
            )
    tr, te = _split(n, train_ratio, seed, shuffle)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype=dtype, device=device)

    return {
        "train_input": t(x[tr]),
        "train_label": t(y[tr]),
        "test_input": t(x[te]),
        "test_label": t(y[te]),
        "in_vars": symbol_names([c for c, _ in xcols], "x"),
        "out_vars": symbol_names([c for c, _ in ycols], "y"),
        "train_rows": torch.from_numpy(np.asarray(tr, dtype=np.int64)),
        "test_rows": torch.from_numpy(np.asarray(te, dtype=np.int64)),
    }
