"""Every option of ``KAN(width, ...)`` besides the width and the device, named once.

:class:`KANConfig` is what a model remembers of how it was made (``model.config``): the
constructor's options, validated here, and the same object rebuilds the model (``KAN.from_config``,
the widget's Reset), travels with copies and checkpoints, and is written to model files
(``to_dict`` / ``from_dict``). Adding a constructor option is adding a field here (with its check
in ``__post_init__``) and reading it where it is used (``KANLayer.initial`` for an initialisation
option).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import torch

from .tables import _check_mode as _check_normalize
from .validation import is_int, is_number

__all__ = ["BASE_FUNS", "DTYPES", "KANConfig"]

BASE_FUNS = ("silu", "identity", "zero")
"""Names of the base functions ``b(x)`` an edge adds to its spline (``KANLayer.BASE_FUNCTIONS``)."""

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclasses.dataclass(frozen=True)
class KANConfig:
    """The options of ``KAN(width, ...)`` (pykan 0.2.8's names and defaults, plus
    ``grid_min_span``); frozen, so a model's config changes only by being replaced
    (``config.replace(grid=10)``).

    - ``grid``: grid intervals per edge (``G``); ``k``: spline order (3 = cubic).
    - ``grid_range``: ``(low, high)`` of the initial uniform grid.
    - ``seed``: seeds a local generator for the initial coefficients and scales (global RNGs
      are never touched).
    - ``grid_eps``: weight of the uniform grid when grids follow the data (0 = quantiles).
    - ``noise_scale``: amplitude of the initial splines' noise.
    - ``base_fun``: ``"silu"``, ``"identity"`` or ``"zero"``.
    - ``dtype``: ``torch.float32`` or ``torch.float64``; ``None`` (the default):
      ``torch.get_default_dtype()`` when the model is made, as pykan (its tutorials start with
      ``torch.set_default_dtype(torch.float64)``).
    - ``scale_base_mu``, ``scale_base_sigma``: initial ``scale_base`` is
      ``mu/sqrt(in) + sigma*U(-1, 1)/sqrt(in)``.
    - ``grid_min_span``: hidden-layer grids never span less than this while ``fit`` trains
      with a penalty (0 = pykan's grid update, which ``update_grid`` and ``refine`` use; a
      layer the floor widened whole and whose next step went constant is lifted off it; see
      :class:`~kan_widget.model.KAN`).
    - ``normalize``: ``"auto"`` (default), ``True`` or ``False``: whether the first ``fit``
      fits the model's :class:`~kan_widget.tables.Scaling` (inputs onto the grid range, labels
      standardised) where the data are not already O(1), always, or never (pykan). A deliberate
      difference from pykan: see :class:`~kan_widget.model.KAN`.

    pykan 0.2.8's other options, with its meaning:

    - ``sp_trainable``, ``sb_trainable``: whether ``scale_sp`` / ``scale_base`` are trained.
    - ``sparse_init``: each layer starts with pykan's sparse mask (every input joined to its
      nearest output and every output to its nearest input, on evenly spaced coordinates).
    - ``symbolic_enabled``: ``False`` leaves the symbolic edges out of the forward (they then
      contribute 0, as pykan's ``symbolic_enabled=False``).
    - ``affine_trainable``: pykan's per-node affine scale and bias; only ``False`` (pykan's
      default, where they stay 1 and 0) is supported.
    - ``save_act``: whether a plain ``model(x)`` remembers ``x`` for symbolic fitting, pruning
      scores, grid refits and plots (pykan's activation cache).
    - ``auto_save``: log a version of the model after every changing call (pykan's
      ``'0.0'``, ``'0.1'``, ... for ``model.rewind``), kept in memory; see
      :mod:`kan_widget.checkpoints`.
    - ``ckpt_path``: a folder where versions are also written (``{path}/0.1.safetensors``), only
      when set to another folder than pykan's default ``"./model"``, which is never written.
    - ``first_init``, ``state_id``, ``round``: pykan's checkpoint bookkeeping.
    """

    grid: int = 3
    k: int = 3
    grid_range: tuple[float, float] = (-1.0, 1.0)
    seed: int = 1
    grid_eps: float = 0.02
    noise_scale: float = 0.3
    base_fun: str = "silu"
    dtype: torch.dtype | None = None
    scale_base_mu: float = 0.0
    scale_base_sigma: float = 1.0
    grid_min_span: float = 1.0
    auto_save: bool = True
    ckpt_path: str = "./model"
    sp_trainable: bool = True
    sb_trainable: bool = True
    sparse_init: bool = False
    symbolic_enabled: bool = True
    affine_trainable: bool = False
    save_act: bool = True
    first_init: bool = True
    state_id: int = 0
    round: int = 0
    normalize: bool | str = "auto"

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:  # normalised values (np.int64(3) -> 3, ...)
            object.__setattr__(self, name, value)

        g, k = self.grid, self.k
        if not is_int(g) or g < 1:
            raise ValueError(f"grid must be an int >= 1 (number of grid intervals); got {g!r}")
        put("grid", int(g))
        if not is_int(k) or not 0 <= k <= 10:
            raise ValueError(f"k (spline order) must be an int in 0..10, 3 for cubic; got {k!r}")
        put("k", int(k))
        try:
            lo, hi = (float(v) for v in self.grid_range)
        except (TypeError, ValueError):
            lo = hi = math.nan
        if not lo < hi:
            raise ValueError(
                f"grid_range must be (low, high) with low < high; got {self.grid_range!r}"
            )
        put("grid_range", (lo, hi))
        if not is_int(self.seed):
            raise ValueError(f"seed must be an int; got {self.seed!r}")
        put("seed", int(self.seed))
        if self.base_fun not in BASE_FUNS:
            raise ValueError(f"base_fun must be one of {sorted(BASE_FUNS)}; got {self.base_fun!r}")
        for name, ok, rule in (
            ("grid_eps", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
            ("noise_scale", lambda v: v >= 0, ">= 0"),
            ("scale_base_mu", math.isfinite, "finite"),
            ("scale_base_sigma", math.isfinite, "finite"),
            ("grid_min_span", lambda v: 0 <= v < math.inf, ">= 0"),
        ):
            v = getattr(self, name)
            if not is_number(v) or not ok(float(v)):
                raise ValueError(f"{name} must be a number {rule}; got {v!r}")
            put(name, float(v))
        for name in (
            "sp_trainable",
            "sb_trainable",
            "sparse_init",
            "symbolic_enabled",
            "affine_trainable",
            "save_act",
            "auto_save",
            "first_init",
        ):
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got {v!r}")
            put(name, bool(v))
        if self.affine_trainable:
            raise ValueError(
                "affine_trainable=True is not supported: kan_widget's nodes have no affine "
                "scale and bias (pykan's default affine_trainable=False is the same model)"
            )
        if not isinstance(self.ckpt_path, (str, os.PathLike)):
            raise ValueError(f"ckpt_path must be a path (str); got {self.ckpt_path!r}")
        put("ckpt_path", os.fspath(self.ckpt_path))
        for name in ("state_id", "round"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise ValueError(f"{name} must be an int >= 0; got {v!r}")
            put(name, int(v))
        if self.dtype is None:  # pykan follows torch.set_default_dtype
            default = torch.get_default_dtype()
            if default not in DTYPES.values():
                raise ValueError(
                    f"the default dtype is {default} (torch.set_default_dtype); KAN needs "
                    "torch.float32 or torch.float64: pass dtype=torch.float32"
                )
            put("dtype", default)
        _check_normalize(self.normalize)
        if self.dtype not in DTYPES.values():
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {self.dtype}")

    def replace(self, **changes: Any) -> KANConfig:
        """A copy with ``changes`` (checked like the constructor's)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``dtype`` as ``"float32"``/``"float64"``, ``grid_range`` as a list."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["grid_range"] = list(self.grid_range)
        d["dtype"] = str(self.dtype).replace("torch.", "")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KANConfig:
        """The inverse of :meth:`to_dict`; reads every format-1 model file's config (a missing
        option, as ``grid_min_span`` in files older than it, takes its default)."""
        if not isinstance(d, dict):
            raise ValueError(f"a model config must be a dict; got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown model config options {unknown}; known: {sorted(names)}")
        d = dict(d)
        if "dtype" in d:
            if d["dtype"] not in DTYPES:
                raise ValueError(f"dtype must be one of {sorted(DTYPES)}; got {d['dtype']!r}")
            d["dtype"] = DTYPES[d["dtype"]]
        return cls(**d)
