"""Datasets and input validation.

Every public entry point that takes data goes through :func:`as_tensor`, so bad input (NaN, wrong
column count, wrong type) fails early with a message that names the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

# the one implementation (pykan's name and arguments; tables and arrays too)
from .tables import create_dataset_from_data

__all__ = [
    "as_tensor",
    "check_dataset",
    "class_labels",
    "create_dataset",
    "create_dataset_from_data",
]


def as_tensor(
    data,
    n_cols: int | None,
    *,
    name: str = "x",
    dtype: torch.dtype = torch.float32,
    device=None,
) -> torch.Tensor:
    """Convert ``data`` (tensor, numpy array, pandas frame/series, nested list) to a finite 2-D
    float tensor with ``n_cols`` columns, or raise ``ValueError``/``TypeError`` saying why."""
    if hasattr(data, "to_numpy") and not isinstance(data, torch.Tensor):  # pandas
        data = data.to_numpy()
    if isinstance(data, torch.Tensor):
        t = data.detach()
    elif isinstance(data, (np.ndarray, list, tuple, float, int)):
        arr = np.asarray(data)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise TypeError(
                f"{name} must be numeric (got dtype {arr.dtype}); convert it with "
                f"np.asarray({name}, dtype=float)"
            )
        t = torch.from_numpy(np.array(arr, dtype=np.float64))
    else:
        raise TypeError(
            f"{name} must be a torch tensor, numpy array or pandas DataFrame, not "
            f"{type(data).__name__}"
        )
    if t.is_complex():
        raise TypeError(f"{name} is complex; pass real numbers")
    if t.dim() == 0:
        t = t.reshape(1, 1)
    elif t.dim() == 1:
        # a 1-D vector is one column for a 1-input model, otherwise one row
        t = t.reshape(-1, 1) if n_cols == 1 else t.reshape(1, -1)
    elif t.dim() != 2:
        raise ValueError(f"{name} must be 2-D [rows, columns]; got shape {tuple(t.shape)}")
    if n_cols is not None and t.shape[1] != n_cols:
        raise ValueError(
            f"{name} has {t.shape[1]} columns but the model expects {n_cols} (width[0] for "
            f"inputs, width[-1] for labels); got shape {tuple(t.shape)}, expected "
            f"[rows, {n_cols}]"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    t = t.to(dtype=dtype, device=device)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad_rows = (~finite).any(1).nonzero().flatten()
        bad_cols = (~finite).any(0).nonzero().flatten().tolist()
        first = bad_rows[:5].tolist()
        raise ValueError(
            f"{name} has NaN or inf in {len(bad_rows)} of {t.shape[0]} rows (first rows "
            f"{first}, columns {bad_cols}); drop or impute those rows before training"
        )
    return t


def class_labels(y) -> bool:
    """Whether ``y`` is a 1-D tensor or array of integers: class indices (as pykan's
    classification with ``loss_fn=torch.nn.CrossEntropyLoss()``), not values to regress."""
    if isinstance(y, torch.Tensor):
        return y.dim() == 1 and not y.is_floating_point() and not y.is_complex()
    return isinstance(y, np.ndarray) and y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def _labels(y, n_out: int, name: str, dtype, device) -> torch.Tensor:
    """Labels as :func:`as_tensor` checks them, or, for a model with several outputs, 1-D
    integer class indices in ``0..n_out-1`` (kept as a ``long`` tensor)."""
    if n_out == 1 or not class_labels(y):
        return as_tensor(y, n_out, name=name, dtype=dtype, device=device)
    t = torch.as_tensor(y).detach().to(device=device, dtype=torch.long)
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= n_out:
        raise ValueError(
            f"{name} holds class indices from {lo} to {hi}, but the model has {n_out} outputs: "
            f"class labels must lie in 0..{n_out - 1} (one output per class; widen width[-1])"
        )
    return t


def check_dataset(dataset: dict, n_in: int, n_out: int, *, dtype=torch.float32, device=None):
    """Validate a pykan-style dataset dict; return a new dict of checked tensors."""
    if not isinstance(dataset, dict):
        raise TypeError(
            "dataset must be a dict with keys 'train_input', 'train_label' (and optionally "
            "'test_input', 'test_label'), as returned by create_dataset"
        )
    missing = [k for k in ("train_input", "train_label") if k not in dataset]
    if missing:
        raise KeyError(f"dataset is missing {missing}; it needs 'train_input' and 'train_label'")
    out: dict = {}
    for split in ("train", "test"):
        if f"{split}_input" not in dataset:
            continue
        x = as_tensor(
            dataset[f"{split}_input"], n_in, name=f"{split}_input", dtype=dtype, device=device
        )
        y = _labels(dataset[f"{split}_label"], n_out, f"{split}_label", dtype, device)
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{split}_input has {x.shape[0]} rows but {split}_label has {y.shape[0]}; they "
                "must match row for row"
            )
        out[f"{split}_input"], out[f"{split}_label"] = x, y
    if "test_input" not in out:
        out["test_input"], out["test_label"] = out["train_input"], out["train_label"]
    # a table's column names (create_dataset_from_data) travel with the checked data
    for key, n in (("in_vars", n_in), ("out_vars", n_out)):
        names = dataset.get(key)
        if names is not None:
            if isinstance(names, str) or len(names) != n:
                raise ValueError(f"dataset[{key!r}] must list {n} names; got {names!r}")
            out[key] = [str(v) for v in names]
    return out


def create_dataset(
    f: Callable[[torch.Tensor], torch.Tensor],
    n_var: int = 2,
    f_mode: str = "col",
    ranges: Sequence[float] | Sequence[Sequence[float]] = (-1, 1),
    train_num: int = 1000,
    test_num: int = 1000,
    normalize_input: bool = False,
    normalize_label: bool = False,
    device=None,
    seed: int = 0,
    *,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """Sample ``x`` uniformly in ``ranges`` and label it with ``f`` (pykan's ``create_dataset``,
    its arguments in its order).

    ``f_mode='col'``: ``f`` takes ``x`` of shape ``[N, n_var]`` and returns ``[N, n_out]`` (e.g.
    ``lambda x: torch.exp(torch.sin(torch.pi*x[:, [0]]) + x[:, [1]]**2)``); ``f_mode='row'``: ``f``
    takes ``x.T`` (``[n_var, N]``, e.g. ``lambda x: x[0] * x[1]``). ``ranges``: one ``(low,
    high)`` for every variable or one per variable. ``normalize_input`` / ``normalize_label``:
    shift and scale by the training split's mean and std. Returns a dict with ``train_input``,
    ``train_label``, ``test_input``, ``test_label``. The samples are pykan's for the same seed,
    drawn from a local generator, so the global RNGs are untouched. ``dtype``: default
    ``torch.get_default_dtype()``, as pykan.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if f_mode not in ("col", "row"):
        raise ValueError(f"f_mode must be 'col' (f(x[N, n_var])) or 'row' (f(x.T)); got {f_mode!r}")
    r = np.asarray(ranges, dtype=float)
    if r.shape == (2,):
        r = np.tile(r.reshape(1, 2), (n_var, 1))
    elif r.shape != (n_var, 2):
        raise ValueError(
            f"ranges must be [low, high] or one [low, high] per variable ({n_var}); got {ranges!r}"
        )
    gen = torch.Generator().manual_seed(int(seed))
    xtr = torch.zeros(train_num, n_var)
    xte = torch.zeros(test_num, n_var)
    # column by column, train then test, in the default dtype: the same samples as pykan's
    # create_dataset
    # for the same seed (drawn from a local generator, so the global RNG is untouched)
    for i in range(n_var):
        lo, hi = float(r[i, 0]), float(r[i, 1])
        xtr[:, i] = torch.rand(train_num, generator=gen) * (hi - lo) + lo
        xte[:, i] = torch.rand(test_num, generator=gen) * (hi - lo) + lo
    xtr, xte = xtr.to(dtype), xte.to(dtype)
    if f_mode == "col":
        ytr, yte = f(xtr), f(xte)
    else:
        ytr, yte = f(xtr.T), f(xte.T)
    if ytr.dim() == 1:
        ytr, yte = ytr.unsqueeze(1), yte.unsqueeze(1)
    if normalize_input:
        m, s = xtr.mean(0, keepdim=True), xtr.std(0, keepdim=True)
        xtr, xte = (xtr - m) / s, (xte - m) / s
    if normalize_label:
        m, s = ytr.mean(0, keepdim=True), ytr.std(0, keepdim=True)
        ytr, yte = (ytr - m) / s, (yte - m) / s
    out = {"train_input": xtr, "train_label": ytr, "test_input": xte, "test_label": yte}
    return {k: v.to(device=device, dtype=dtype) for k, v in out.items()}
