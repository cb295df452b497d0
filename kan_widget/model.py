"""KAN: a stack of :class:`~kan_widget.layer.KANLayer`, with pykan's names and defaults.

Differences from pykan 0.2.8, on purpose:
- constructing a model never reseeds the global RNGs (a local generator; same seed, same model);
- nothing is ever written to disk unless you call :meth:`save`;
- ``fit`` leaves scores computed on the *training* data (pykan's on the test data);
- ``prune`` follows the paper's node rule (a hidden node survives iff its largest incoming and
  largest outgoing edge scores both exceed ``node_th``); pykan uses a backward attribution.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .data import as_tensor
from .layer import BASE_FUNCTIONS, EdgeStats, KANLayer
from .regularizer import REG_METRICS

__all__ = ["KAN"]

DEFAULT_METRIC = "edge_forward_spline_n"


def _check_config(width, grid, k, grid_range, base_fun, noise_scale, grid_eps) -> list[int]:
    if isinstance(width, (str, bytes)) or not isinstance(width, Sequence):
        raise TypeError(f"width must be a list of ints such as [2, 5, 1]; got {width!r}")
    w = list(width)
    if any(isinstance(v, (list, tuple)) for v in w):
        raise ValueError(
            "multiplication nodes (width entries like [5, 2]) are not supported; use ints, "
            "e.g. [2, 5, 1]"
        )
    if len(w) < 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in w):
        raise ValueError(
            f"width must list at least 2 positive ints (inputs, ..., outputs), e.g. [2, 5, 1]; "
            f"got {width!r}"
        )
    if not isinstance(grid, int) or isinstance(grid, bool) or grid < 1:
        raise ValueError(f"grid must be an int >= 1 (number of grid intervals); got {grid!r}")
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= 10:
        raise ValueError(f"k (spline order) must be an int in 0..10, 3 for cubic; got {k!r}")
    lo, hi = (float(v) for v in grid_range)
    if not lo < hi:
        raise ValueError(f"grid_range must be (low, high) with low < high; got {grid_range!r}")
    if base_fun not in BASE_FUNCTIONS:
        raise ValueError(f"base_fun must be one of {sorted(BASE_FUNCTIONS)}; got {base_fun!r}")
    if not 0.0 <= grid_eps <= 1.0:
        raise ValueError(f"grid_eps must be in [0, 1]; got {grid_eps!r}")
    if noise_scale < 0:
        raise ValueError(f"noise_scale must be >= 0; got {noise_scale!r}")
    return w


class KAN(nn.Module):
    """Kolmogorov–Arnold Network, ``KAN(width=[2, 5, 1], grid=3, k=3, seed=1)``.

    Each edge ``(l, i, j)`` (layer, input node, output node) carries
    ``phi(x) = scale_base*silu(x) + scale_sp*spline(x)``; node ``j`` of the next layer sums its
    incoming edges. Defaults are pykan 0.2.8's, so its tutorials carry over.

    One addition: ``grid_min_span`` (default 1.0). Grid updates move a hidden node's knots to the
    range its values take; when a node is being switched off by the sparsity penalty that range
    shrinks towards a point, and a grid squeezed onto it lets the next layer's splines magnify
    the node's last variations, so it survives pruning. Hidden-layer grids therefore never span
    less than ``grid_min_span`` (a narrow range gets a uniform grid of that width around its
    centre). On ``exp(sin(pi*x)+y^2)`` ([2,5,1], 50 LBFGS steps, lamb=0.01, seeds 0-9) pruning
    finds [2,1,1] in 10 of 10 seeds instead of 8 (pykan's count). ``grid_min_span=0`` is pykan's
    grid update exactly. Input grids always follow the data.
    """

    def __init__(
        self,
        width: Sequence[int],
        grid: int = 3,
        k: int = 3,
        grid_range: Sequence[float] = (-1, 1),
        seed: int = 1,
        grid_eps: float = 0.02,
        noise_scale: float = 0.3,
        base_fun: str = "silu",
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        grid_min_span: float = 1.0,
    ):
        super().__init__()
        w = _check_config(width, grid, k, grid_range, base_fun, noise_scale, grid_eps)
        if not isinstance(grid_min_span, (int, float)) or not 0 <= grid_min_span < math.inf:
            raise ValueError(f"grid_min_span must be a number >= 0; got {grid_min_span!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype}")
        self.config: dict[str, Any] = {
            "grid": grid,
            "k": k,
            "grid_range": [float(grid_range[0]), float(grid_range[1])],
            "seed": int(seed),
            "grid_eps": float(grid_eps),
            "noise_scale": float(noise_scale),
            "base_fun": base_fun,
            "dtype": str(dtype).replace("torch.", ""),
            "scale_base_mu": float(scale_base_mu),
            "scale_base_sigma": float(scale_base_sigma),
            "grid_min_span": float(grid_min_span),
        }
        gen = torch.Generator().manual_seed(int(seed))
        self.layers = nn.ModuleList(
            KANLayer(
                w[l],
                w[l + 1],
                grid,
                k,
                grid_range=grid_range,
                noise_scale=noise_scale,
                scale_base_mu=scale_base_mu,
                scale_base_sigma=scale_base_sigma,
                base_fun=base_fun,
                grid_eps=grid_eps,
                generator=gen,
                dtype=dtype,
                device=device,
            )
            for l in range(len(w) - 1)
        )
        self._edge_scores: list[torch.Tensor] | None = None
        self.train_input: torch.Tensor | None = None
        self.reg_metric = DEFAULT_METRIC

    # ------------------------------------------------------------------ shape
    @property
    def width(self) -> list[int]:
        """Current node counts per layer, as a new list of ints."""
        return [self.layers[0].in_dim] + [layer.out_dim for layer in self.layers]

    @property
    def grid(self) -> int:
        return self.layers[0].num

    @property
    def k(self) -> int:
        return self.layers[0].k

    @property
    def device(self) -> torch.device:
        return self.layers[0].grid.device

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].grid.dtype

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def n_edge(self) -> int:
        """Active edges (present and not pruned)."""
        return int(sum(int(layer.mask.sum().item()) for layer in self.layers))

    @property
    def n_params(self) -> int:
        """Trainable numbers of the active edges: spline coefficients, two scales, and (a,b,c,d)
        for symbolic edges in place of their spline."""
        total = 0
        for layer in self.layers:
            active = layer.mask.bool()
            sym = int((active & layer.sym_mask).sum())
            num = int(active.sum()) - sym
            total += num * (layer.n_basis + 2) + 4 * sym
        return total

    def __repr__(self) -> str:
        return f"KAN(width={self.width}, grid={self.grid}, k={self.k}, edges={self.n_edge})"

    # ------------------------------------------------------------------ forward
    def _input(self, x) -> torch.Tensor:
        n_in = self.layers[0].in_dim
        if (
            isinstance(x, torch.Tensor)
            and x.dim() == 2
            and x.shape[1] == n_in
            and x.shape[0] > 0
            and not x.is_complex()
        ):
            # no detach: a KAN inside a larger network, or d(output)/d(input), needs the graph
            x = x.to(dtype=self.dtype, device=self.device)
            if bool(torch.isfinite(x.detach()).all()):
                return x
        return as_tensor(x, n_in, name="x", dtype=self.dtype, device=self.device)

    def forward(self, x) -> torch.Tensor:
        """Outputs ``[batch, width[-1]]`` for inputs ``[batch, width[0]]`` (tensor, numpy or
        pandas). Inputs are checked (shape, finite); training calls :meth:`_run` directly."""
        return self._run(self._input(x))

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_stats(self, x, metric: str | None = None) -> tuple[torch.Tensor, list[EdgeStats]]:
        """Forward pass that also returns every layer's per-edge magnitudes (for the penalty and
        the scores) in the same pass."""
        return self._run_stats(self._input(x), metric or self.reg_metric)

    def _run_stats(self, x: torch.Tensor, metric: str) -> tuple[torch.Tensor, list[EdgeStats]]:
        stats = []
        for layer in self.layers:
            x, s = layer.forward_stats(x, metric)
            stats.append(s)
        return x, stats

    def acts(self, x) -> list[torch.Tensor]:
        """Inputs to every layer followed by the output: ``[x_0, x_1, ..., x_L]``."""
        x = self._input(x)
        out = [x]
        with torch.no_grad():
            for layer in self.layers:
                x = layer(x)
                out.append(x)
        return out

    # ------------------------------------------------------------------ importance
    def set_scores(self, stats: list[EdgeStats]) -> None:
        """Store per-edge scores (internal layout [in, out]) from a forward_stats pass."""
        self._edge_scores = [s.score.detach() * layer.mask for s, layer in zip(stats, self.layers)]

    def attribute(self, x=None, metric: str | None = None) -> list[torch.Tensor]:
        """Recompute edge and node scores on ``x`` (default: the training inputs) and return the
        edge scores. Unlike pykan's backward attribution, scores are the forward per-edge
        magnitudes of ``metric`` (the same quantity the regulariser penalises)."""
        if x is None:
            if self.train_input is None:
                raise RuntimeError(
                    "no data to score edges on: call model.fit(dataset) or model.attribute(x)"
                )
            x = self.train_input
        else:
            x = self._input(x)
            self.train_input = x
        if metric is not None and metric not in REG_METRICS:
            raise ValueError(f"metric must be one of {REG_METRICS}; got {metric!r}")
        with torch.no_grad():
            _, stats = self.forward_stats(x, metric)
        self.set_scores(stats)
        return self.edge_scores

    def _ensure_scores(self) -> list[torch.Tensor]:
        if self._edge_scores is None or any(
            s.shape != (layer.in_dim, layer.out_dim)
            for s, layer in zip(self._edge_scores, self.layers)
        ):
            self.attribute()
        assert self._edge_scores is not None
        return self._edge_scores

    @property
    def edge_scores(self) -> list[torch.Tensor]:
        """Per-layer edge importance, shape ``[out, in]`` as pykan's."""
        return [s.t() for s in self._ensure_scores()]

    @property
    def node_scores(self) -> list[torch.Tensor]:
        """Per-layer node importance ``[width[l]]``: min(max incoming, max outgoing) edge score
        for hidden nodes, max outgoing for inputs, max incoming for outputs."""
        return _node_scores(self._ensure_scores())

    # ------------------------------------------------------------------ grids
    def update_grid(self, x=None) -> None:
        """Move every layer's knots to the samples ``x`` (default: training inputs) and refit its
        splines so the model's function is preserved on the samples (pykan's
        ``update_grid_from_samples``)."""
        x = self.train_input if x is None else self._input(x)
        if x is None:
            raise RuntimeError("update_grid needs samples: pass x or call fit first")
        self._refit_grids(x)

    def _refit_grids(self, x: torch.Tensor, num: int | None = None) -> None:
        """Refit every layer's grid (to ``num`` intervals) on its inputs, layer by layer from
        ``x``; hidden layers' grids are kept ``grid_min_span`` wide (see the class doc)."""
        min_span = float(self.config.get("grid_min_span", 1.0))
        with torch.no_grad():
            for l, layer in enumerate(self.layers):
                layer.refit_grid(x, num=num, min_span=0.0 if l == 0 else min_span)
                x = layer(x)

    update_grid_from_samples = update_grid

    def refine(self, new_grid: int, x=None) -> KAN:
        """A new model with ``new_grid`` intervals per edge, initialised to the same functions
        (least squares on the training inputs, or ``x``). pykan's grid extension."""
        if not isinstance(new_grid, int) or isinstance(new_grid, bool) or new_grid < 1:
            raise ValueError(f"new_grid must be an int >= 1; got {new_grid!r}")
        x = self.train_input if x is None else self._input(x)
        if x is None:
            raise RuntimeError("refine needs samples: pass x or call fit first")
        new = self.copy()
        new._refit_grids(x, num=new_grid)
        new.config["grid"] = new_grid
        new._edge_scores = None
        return new

    # ------------------------------------------------------------------ pruning
    def prune(self, node_th: float = 1e-2, edge_th: float | None = 3e-2) -> KAN:
        """A smaller model: hidden nodes whose incoming and outgoing scores both exceed
        ``node_th`` are kept (paper §2.5), then edges scoring below ``edge_th`` are removed
        (``None`` keeps all edges). Returns a new KAN; ``self`` is unchanged. See
        :mod:`kan_widget.pruning`."""
        from .pruning import prune

        return prune(self, node_th=node_th, edge_th=edge_th)

    def prune_node(self, threshold: float = 1e-2) -> KAN:
        return self.prune(node_th=threshold, edge_th=None)

    def prune_edge(self, threshold: float = 3e-2) -> None:
        """Remove (mask) edges whose score is at most ``threshold``, in place (as pykan)."""
        scores = self._ensure_scores()
        with torch.no_grad():
            for layer, s in zip(self.layers, scores):
                layer.mask.mul_((s > threshold).to(layer.mask.dtype))
        self._edge_scores = [s * layer.mask for s, layer in zip(scores, self.layers)]

    def remove_edge(self, l: int, i: int, j: int) -> None:
        """Mask edge ``(l, i, j)``."""
        self._check_edge(l, i, j)
        self.layers[l].mask[i, j] = 0.0
        if self._edge_scores is not None:
            self._edge_scores[l][i, j] = 0.0

    def _check_edge(self, l: int, i: int, j: int) -> None:
        for name, v in (("l", l), ("i", i), ("j", j)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"edge index {name} must be an int; got {v!r}")
        if not 0 <= l < self.depth:
            raise IndexError(f"layer l={l} out of range: the model has layers 0..{self.depth - 1}")
        layer = self.layers[l]
        if not 0 <= i < layer.in_dim:
            raise IndexError(f"input node i={i} out of range for layer {l} (0..{layer.in_dim - 1})")
        if not 0 <= j < layer.out_dim:
            raise IndexError(
                f"output node j={j} out of range for layer {l} (0..{layer.out_dim - 1})"
            )

    # ------------------------------------------------------------------ training
    def fit(self, dataset: dict, **kwargs) -> dict[str, list]:
        """Train on ``dataset`` (pykan's signature: opt, steps, lr, lamb, lamb_l1, lamb_entropy,
        lamb_coef, lamb_coefdiff, update_grid, grid_update_num, batch, reg_metric, callback,
        stop_event, ...). Returns a history dict of lists: ``train_loss``, ``test_loss`` (RMSE)
        and ``reg``. See :func:`kan_widget.training.fit`."""
        from .training import fit

        return fit(self, dataset, **kwargs)

    # ------------------------------------------------------------------ snapshots
    def checkpoint(self) -> dict[str, Any]:
        """An in-memory copy of the whole model state, for undo (no disk)."""
        return {
            "width": self.width,
            "config": copy.deepcopy(self.config),
            "state": {k: v.detach().clone() for k, v in self.state_dict().items()},
            "sym_names": [dict(layer.sym_names) for layer in self.layers],
            "grids": [layer.num for layer in self.layers],
            "scores": None if self._edge_scores is None else [s.clone() for s in self._edge_scores],
            "reg_metric": self.reg_metric,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Return to a :meth:`checkpoint` (the width may differ: layers are rebuilt)."""
        self.config = copy.deepcopy(state["config"])
        device = next(iter(state["state"].values())).device
        self.layers = _build_layers(state["width"], state["grids"], self.config, device)
        self.load_state_dict(state["state"])
        for layer, names in zip(self.layers, state["sym_names"]):
            layer.sym_names = dict(names)
            layer._sym_groups = None
        self._edge_scores = (
            None if state["scores"] is None else [s.clone() for s in state["scores"]]
        )
        self.reg_metric = state.get("reg_metric", DEFAULT_METRIC)

    def copy(self) -> KAN:
        """A deep copy (no files written, unlike pykan's ``copy``)."""
        new = KAN.__new__(KAN)
        nn.Module.__init__(new)
        new.config = copy.deepcopy(self.config)
        new.layers = nn.ModuleList()
        new._edge_scores = None
        new.train_input = self.train_input
        new.reg_metric = self.reg_metric
        new.restore(self.checkpoint())
        return new

    def to(self, *args, **kwargs):  # keep config's dtype in step with the tensors
        out = super().to(*args, **kwargs)
        self.config["dtype"] = str(self.dtype).replace("torch.", "")
        if self.train_input is not None:
            self.train_input = self.train_input.to(device=self.device, dtype=self.dtype)
        for layer in self.layers:
            layer._sym_groups = None
        return out

    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write the model to ``path`` (safetensors with a JSON config; never pickle)."""
        from .io import save

        save(self, path)

    @classmethod
    def load(cls, path, device=None) -> KAN:
        """Read a model written by :meth:`save`; rejects anything else with a clear error."""
        from .io import load

        return load(path, device=device)

    # ------------------------------------------------------------------ symbolic
    def suggest_symbolic(self, l: int, i: int, j: int, lib=None, topk: int = 5, **kwargs):
        """Rank library functions for edge ``(l, i, j)``; see :mod:`kan_widget.symbolic.api`."""
        from .symbolic import api

        return api.suggest_symbolic(self, l, i, j, lib=lib, topk=topk, **kwargs)

    def auto_symbolic(
        self, lib=None, r2_threshold: float = 0.0, weight_simple: float = 0.8, **kwargs
    ):
        """Fit every active edge against every library function (batched) and fix the best."""
        from .symbolic import api

        return api.auto_symbolic(
            self, lib=lib, r2_threshold=r2_threshold, weight_simple=weight_simple, **kwargs
        )

    def fix_symbolic(self, l: int, i: int, j: int, fun, fit_params: bool = True, **kwargs):
        """Make edge ``(l, i, j)`` compute ``c*fun(a*x+b)+d``; returns the fit's r^2."""
        from .symbolic import api

        return api.fix_symbolic(self, l, i, j, fun, fit_params=fit_params, **kwargs)

    def unfix_symbolic(self, l: int, i: int, j: int) -> None:
        """Return edge ``(l, i, j)`` to its spline."""
        from .symbolic import api

        api.unfix_symbolic(self, l, i, j)

    def symbolic_formula(self, var=None, simplify: bool = True, **kwargs):
        """One sympy expression per output; see :func:`kan_widget.symbolic.formula`."""
        from .symbolic import formula

        return formula.symbolic_formula(self, var=var, simplify=simplify, **kwargs)


def _node_scores(scores: list[torch.Tensor]) -> list[torch.Tensor]:
    """Node scores from per-layer edge scores ``[in, out]`` (paper §2.5's I and O)."""
    out: list[torch.Tensor] = []
    for l in range(len(scores) + 1):
        incoming = scores[l - 1].amax(0) if l > 0 else None  # over inputs of layer l-1
        outgoing = scores[l].amax(1) if l < len(scores) else None
        if incoming is None:
            out.append(outgoing)
        elif outgoing is None:
            out.append(incoming)
        else:
            out.append(torch.minimum(incoming, outgoing))
    return out


def _build_layers(width: list[int], grids: list[int], config: dict, device) -> nn.ModuleList:
    """Empty layers of the right shapes (values are overwritten by a state dict)."""
    dtype = getattr(torch, config["dtype"])
    gen = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nn.ModuleList(
            KANLayer(
                width[l],
                width[l + 1],
                grids[l],
                config["k"],
                grid_range=config["grid_range"],
                base_fun=config["base_fun"],
                grid_eps=config["grid_eps"],
                generator=gen,
                dtype=dtype,
                device=device,
            )
            for l in range(len(width) - 1)
        )
