"""KAN: a stack of :class:`~kan_widget.layer.KANLayer`, with pykan's names and defaults.

Differences from pykan 0.2.8, on purpose:
- constructing a model never reseeds the global RNGs (a local generator; same seed, same model);
- nothing is ever written to disk unless you call :meth:`save`;
- ``fit`` leaves scores computed on the *training* data (pykan's on the test data);
- ``prune`` follows the paper's node rule (a hidden node survives iff its largest incoming and
  largest outgoing edge scores both exceed ``node_th``); pykan uses a backward attribution;
  the pruned model keeps the removed parts' constant output (``keep_constants``).

The work lives elsewhere (layer.py, training.py, pruning.py, io.py, symbolic/); what stays here
is the model's state, how it is put together (``__init__``, ``from_config``, ``_install``,
``_build``) and one short method per engine operation. pykan's accessors, versions and picture
(``rewind``, ``act_fun``, ``get_range``, ``plot``, ...) are the mixin in pykan_api.py. The
``symbolic`` methods import :mod:`kan_widget.symbolic` on first use, so that the engine alone
never loads sympy. Multiplication nodes (``width=[2, [5, 2], 1]``) are :mod:`kan_widget.nodes`:
the model runs their step between its layers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import os
import warnings
from collections.abc import Collection, Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn

from . import checkpoints, io, training
from .attribution import select_columns
from .classification import Classifier
from .config import KANConfig
from .data import as_tensor
from .discover import DiscoverResult, discover
from .expand import Expand
from .higher import transforms_active
from .layer import EdgeStats, KANLayer
from .nodes import NodeLayout, NodeStep, parse_width, pykan_mult_arity, pykan_width
from .pruning import carry_constants, node_scores_of, plan_prune, unreached_outputs
from .pykan_api import PykanSurface
from .regularizer import REG_METRICS
from .tables import Scaling, fit_scaling
from .threads import OneThread
from .validation import check_edge, is_int, is_number

__all__ = ["KAN"]

DEFAULT_METRIC = "edge_forward_spline_n"

AFFINE = ("subnode_scale", "subnode_bias", "node_scale", "node_bias")
"""pykan's per-node affine maps, in the order :class:`~kan_widget.nodes.NodeStep` takes them."""


class KAN(PykanSurface, Expand, Classifier, nn.Module):
    """Kolmogorov–Arnold Network, ``KAN(width=[2, 5, 1], grid=3, k=3, seed=1)``.

    Each edge ``(l, i, j)`` (layer, input node, output node) carries
    ``phi(x) = scale_base*silu(x) + scale_sp*spline(x)``; node ``j`` of the next layer sums its
    incoming edges. Defaults are pykan 0.2.8's, so its tutorials carry over.

    One addition: ``grid_min_span`` (default 1.0). Grid updates move a hidden node's knots to the
    range its values take; when a node is being switched off by the sparsity penalty that range
    shrinks towards a point, and a grid squeezed onto it lets the next layer's splines magnify
    the node's last variations, so it survives pruning. Hidden-layer grids therefore never span
    less than ``grid_min_span`` while the penalty trains (``fit(lamb > 0)``; a narrow range gets
    a uniform grid of that width around its centre). Without a penalty no node is being
    switched off: ``fit(lamb=0)``, :meth:`update_grid` and :meth:`refine` use pykan's rule.
    pykan's first example ([2,1,1], lamb=0) starts with its hidden node 0.1 wide, and a floor
    there left the next spline linear (test RMSE 0.68 instead of 0.014); its PDE tutorial calls
    ``update_grid_from_samples`` in its own loop (l2 0.049 instead of 0.008). On
    ``exp(sin(pi*x)+y^2)`` ([2,5,1], 50 LBFGS steps, lamb=0.01, seeds 0-9) pruning finds [2,1,1]
    in 10 of 10 seeds instead of 8 (pykan's count). ``grid_min_span=0`` is pykan's grid update
    exactly. Input grids always follow the data. The floor is for a node narrow next to its
    siblings; where a refit's floor widened every node of a layer (the layer is small-scale as
    a whole) and the L-BFGS step after it made the model a constant, the step is redone with
    that layer on pykan's rule for the rest of the fit (``fit(...)["floor_lifted"]`` lists
    ``(step, layers)``): [4,5,5,1] on the paper's 4-variable function starts with its second
    hidden layer 0.09-0.44 wide, and ``fit(steps=50, lamb=0.01)`` ended at the labels' std on
    every seed (seeds 0-2, grids 3 and 5) where it now reaches 0.19-0.36.

    A deliberate difference: ``normalize`` (default ``"auto"``). The penalty ``lamb``, the
    pruning thresholds and the symbolic thresholds act on the network's own numbers, so with
    pykan their meaning depends on the units of the data: on ``sqrt(1+x^2+y^2)`` (labels mean
    1.3, std 0.17) ``fit(lamb=0.01)`` learns nothing. The first ``fit`` therefore gives the model
    a :class:`~kan_widget.tables.Scaling` (``model.scaling``) from the training data: inputs
    mapped onto ``grid_range``, labels standardised, column by column where they are not already
    O(1) (``"auto"``: the canonical example's data are, so it trains exactly as without), for
    every column (``True``), or never (``False``: pykan's behaviour). The network trains in the
    scaled units; ``model(x)``, ``fit``'s losses and ``symbolic_formula()`` speak the data's own
    units (and a table's column names, see :func:`~kan_widget.tables.create_dataset_from_data`).
    ``model.activations(x)`` lists the layers' inputs in the network's units, then the output in
    yours. A prediction (``model(x)``, ``predict``, ``fit``'s test loss) holds each scaled input
    column within its training range (``Scaling.clip``): a spline is not extrapolated past the
    data it was fitted on; ``model.scaling.outside(x)`` says which rows lie past it.
    """

    # an nn.ModuleList at run time; torch's stubs type its items as Module, not KANLayer
    layers: Sequence[KANLayer]

    def __init__(
        self, width: Sequence[Any], *options: Any, mult_arity: Any = 2, device=None, **named: Any
    ):
        # the options are KANConfig's fields (the signature below names them for help())
        super().__init__()
        nodes = parse_width(width, mult_arity)
        config = KANConfig(*options, **named)
        gen = torch.Generator().manual_seed(config.seed)
        layers = [
            KANLayer.initial(nodes[l].n_nodes, nodes[l + 1].n_sub, config, gen, device)
            for l in range(len(nodes) - 1)
        ]
        self.train_input = None
        self.cache_data = None
        self.fit_rmse: float | None = None
        self._install(config, layers, DEFAULT_METRIC, None, nodes=nodes)
        checkpoints.start(self, write=config.ckpt_path != KANConfig.ckpt_path)

    @classmethod
    def from_config(
        cls, config: KANConfig, width: Sequence[Any], device=None, mult_arity: Any = 2
    ) -> KAN:
        """A freshly initialised model: ``KAN(width, **options)`` for the options in ``config``
        (``model.config`` of any model), on ``device``. The same seed gives the same model.
        ``width`` and ``mult_arity`` as the constructor's (``model.width``,
        ``model.mult_arity`` rebuild a model's shape)."""
        if not isinstance(config, KANConfig):
            raise TypeError(f"config must be a KANConfig (a model.config); got {config!r}")
        options = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        # ckpt_path named to the constructor means "write versions there": a rebuild (the
        # widget's Reset) writes nothing, and keeps the path in its config
        path = options.pop("ckpt_path")
        new = cls(width, device=device, mult_arity=mult_arity, **options)
        new.config = new.config.replace(ckpt_path=path)
        return new

    def _install(
        self,
        config: KANConfig,
        layers: Sequence[KANLayer],
        reg_metric: str,
        scores: list[torch.Tensor] | None,
        scaling: Scaling | None = None,
        nodes: Sequence[NodeLayout] | None = None,
        affine: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> None:
        """Make this model ``layers`` under ``config``: every attribute but ``train_input``. The
        one place a model is put together: the constructor, :meth:`restore` and :meth:`_build`
        (copies, files, pruning) all end here.

        ``nodes``: each layer of nodes' :class:`~kan_widget.nodes.NodeLayout` (``None``: sum
        nodes only). ``affine``: per edge layer ``(subnode_scale, subnode_bias, node_scale,
        node_bias)``, pykan's node maps (``None``: 1 and 0). A model with multiplication nodes
        (or affine maps given) runs :mod:`kan_widget.nodes`' step after every layer and holds
        the maps as pykan's ``node_scale`` etc.; any other model has neither (``None``), so it
        computes exactly as a plain stack of layers."""
        if nodes is None:
            nodes = [NodeLayout(layers[0].in_dim)] + [NodeLayout(la.out_dim) for la in layers]
        nodes = list(nodes)
        if len(nodes) != len(layers) + 1 or any(
            (la.in_dim, la.out_dim) != (nodes[l].n_nodes, nodes[l + 1].n_sub)
            for l, la in enumerate(layers)
        ):
            raise ValueError(
                f"layers of shapes {[(la.in_dim, la.out_dim) for la in layers]} do not fit the "
                f"node layout {pykan_width(nodes)} (mult_arity {pykan_mult_arity(nodes)})"
            )
        self._nodes = nodes
        stepped = affine is not None or any(lay.arities for lay in nodes)
        if stepped:
            dev, dt = layers[0].grid.device, config.dtype
            lists: list[list[torch.Tensor]] = [[], [], [], []]
            for l in range(len(layers)):
                n_sub, n_nodes = nodes[l + 1].n_sub, nodes[l + 1].n_nodes
                given = None if affine is None else affine[l]
                ident = (
                    torch.ones(n_sub),
                    torch.zeros(n_sub),
                    torch.ones(n_nodes),
                    torch.zeros(n_nodes),
                )
                for k in range(4):
                    t = ident[k] if given is None else given[k].detach()
                    if t.shape != ident[k].shape:
                        raise ValueError(
                            f"node affine tensor {k} of layer {l} has shape {tuple(t.shape)}; "
                            f"expected {tuple(ident[k].shape)}"
                        )
                    lists[k].append(t.to(device=dev, dtype=dt, copy=True))
            for name, ts in zip(AFFINE, lists):
                setattr(
                    self,
                    name,
                    nn.ParameterList([nn.Parameter(t, requires_grad=False) for t in ts]),
                )
            self._steps: list[NodeStep] | None = [
                NodeStep(nodes[l + 1], dev) for l in range(len(layers))
            ]
        else:
            for name in AFFINE:
                if name in self._modules:
                    del self._modules[name]
                self.__dict__[name] = None
            self._steps = None
        self.config = config
        for layer in layers:  # pykan's per-model options that live on every layer
            layer.set_trainable(config.sp_trainable, config.sb_trainable)
            layer.symbolic_enabled = config.symbolic_enabled
        self.layers = cast(Sequence[KANLayer], nn.ModuleList(layers))
        self._edge_scores = scores
        self.reg_metric = reg_metric
        self.scaling = scaling  # None until the first fit (or no normalisation asked for)

    @classmethod
    def _build(
        cls,
        config: KANConfig,
        layers: Sequence[KANLayer],
        *,
        reg_metric: str,
        scores: list[torch.Tensor] | None = None,
        train_input: torch.Tensor | None = None,
        scaling: Scaling | None = None,
        nodes: Sequence[NodeLayout] | None = None,
        affine: Sequence[Sequence[torch.Tensor]] | None = None,
    ) -> KAN:
        """A model of existing ``layers`` (nothing drawn at random)."""
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.train_input = train_input
        new.cache_data = None
        new.fit_rmse = None
        new._install(config, layers, reg_metric, scores, scaling, nodes, affine)
        checkpoints.ensure(new)
        return new

    # ------------------------------------------------------------------ shape
    @property
    def width(self) -> list[Any]:
        """The current shape as the constructor's ``width``, a new list: ints (node counts)
        for a model without multiplication nodes; a layer with some is ``[n_sum, n_mult]``
        (pykan's form). Node counts alone are :attr:`width_in`."""
        return pykan_width(self._nodes)

    @property
    def width_in(self) -> list[int]:
        """Nodes per layer (pykan's ``width_in``): what each edge layer's inputs index."""
        return [lay.n_nodes for lay in self._nodes]

    @property
    def width_out(self) -> list[int]:
        """Subnodes per layer (pykan's ``width_out``): what each edge layer's outputs index,
        ``width_out[l + 1]`` for layer ``l``; equal to :attr:`width_in` without multiplication
        nodes."""
        return [lay.n_sub for lay in self._nodes]

    @property
    def nodes(self) -> list[NodeLayout]:
        """Each layer of nodes' split: ``nodes[l].n_sum`` sum nodes then ``nodes[l].n_mult``
        multiplication nodes of ``nodes[l].arities`` operands (:mod:`kan_widget.nodes`)."""
        return list(self._nodes)

    @property
    def n_sum(self) -> list[int]:
        """Sum nodes of each hidden layer (pykan's ``n_sum``)."""
        return [lay.n_sum for lay in self._nodes[1:-1]]

    @property
    def n_mult(self) -> list[int]:
        """Multiplication nodes of each hidden layer (pykan's ``n_mult``)."""
        return [lay.n_mult for lay in self._nodes[1:-1]]

    @property
    def mult_arity(self) -> int | list[list[int]]:
        """The constructor's ``mult_arity`` for the current shape (pykan's attribute)."""
        return pykan_mult_arity(self._nodes)

    @property
    def has_node_step(self) -> bool:
        """Whether layers' outputs go through :mod:`kan_widget.nodes`' step (multiplication
        nodes, or pykan's node affine maps)."""
        return self._steps is not None

    def _affine(self, l: int) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, name)[l] for name in AFFINE)

    def node_step(self, l: int, h: torch.Tensor) -> torch.Tensor:
        """Layer ``l``'s outputs (subnode sums ``[B, width_out[l+1]]``) -> the nodes of layer
        ``l + 1`` (the identity without multiplication nodes)."""
        if self._steps is None:
            return h
        return self._steps[l].forward(h, self._affine(l))[0]

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
        mult = "" if self._steps is None else f", mult_arity={self.mult_arity}"
        return f"KAN(width={self.width}{mult}, grid={self.grid}, k={self.k}, edges={self.n_edge})"

    def check_edge(self, l: Any, i: Any, j: Any) -> tuple[int, int, int]:
        """``(l, i, j)`` as ints if edge ``(l, i, j)`` exists (``j`` indexes the subnodes of
        layer ``l + 1``, :attr:`width_out`); else IndexError or TypeError naming the problem."""
        return check_edge(l, i, j, self.width_in, self.width_out)

    # ------------------------------------------------------------------ forward
    def _input(self, x) -> torch.Tensor:
        """``x`` checked, in the network's units (see :attr:`scaling`)."""
        x = self._check_input(x)
        return x if self.scaling is None else self.scaling.inputs_to_model(x)

    def _output(self, t: torch.Tensor) -> torch.Tensor:
        """The network's output ``t`` in the data's units."""
        return t if self.scaling is None else self.scaling.outputs_to_user(t)

    def _check_input(self, x) -> torch.Tensor:
        """``x`` as a finite ``[batch, width[0]]`` tensor of the model's dtype, in user units."""
        n_in = self.layers[0].in_dim
        if self._input_select is not None:  # after prune_input: pykan's x[:, input_id]
            x = select_columns(x, self._input_select, n_in)
        if (
            isinstance(x, torch.Tensor)
            and x.dim() == 2
            and x.shape[1] == n_in
            and x.shape[0] > 0
            and not x.is_complex()
        ):
            # no detach: a KAN inside a larger network, or d(output)/d(input), needs the graph
            x = x.to(dtype=self.dtype, device=self.device)
            if transforms_active():  # torch.func: no data-dependent checks under vmap
                return x
            if bool(torch.isfinite(x.detach()).all()):
                return x
        return as_tensor(x, n_in, name="x", dtype=self.dtype, device=self.device)

    def forward(self, x, singularity_avoiding: bool = False, y_th: float = 10.0) -> torch.Tensor:
        """Outputs ``[batch, width[-1]]`` for inputs ``[batch, width[0]]`` (tensor, numpy or
        pandas), in the data's units. Inputs are checked (shape, finite); training calls
        :meth:`run` directly.

        As pykan's, the inputs are remembered (``cache_data``, unless ``save_act=False``): until
        the model is trained, symbolic fitting, pruning scores, grid refits and plots use them
        (see :attr:`train_input`). ``singularity_avoiding``: symbolic edges with a pole or a
        bounded domain compute pykan's forms capped at ``y_th`` (:mod:`kan_widget.singular`)."""
        xu = self._check_input(x)
        if self.config.save_act and not transforms_active():
            self.cache_data = xu.detach()  # in the data's units, as train_input
        x = self._predict_input(xu)
        if not singularity_avoiding:
            return self._output(self.run(x))
        with self.singularity_avoiding(y_th):
            return self._output(self.run(x))

    @contextlib.contextmanager
    def singularity_avoiding(self, y_th: float | None) -> Iterator[None]:
        """Within the block, symbolic edges compute pykan's singularity-protected functions
        capped at ``y_th`` (``None``: the plain functions)."""
        if y_th is not None and (not is_number(y_th) or not 0 < float(y_th) < math.inf):
            raise ValueError(f"y_th must be a number > 0 (the singularity cap); got {y_th!r}")
        old = [layer.y_th for layer in self.layers]
        for layer in self.layers:
            layer.y_th = None if y_th is None else float(y_th)
        try:
            yield
        finally:
            for layer, v in zip(self.layers, old):
                layer.y_th = v

    @property
    def train_input(self) -> torch.Tensor | None:
        """The samples symbolic fitting, pruning scores, grid refits and plots use: the training
        inputs last used by ``fit`` (or ``score_edges(x)``), else the inputs of the last
        ``model(x)`` (pykan's ``cache_data``), else ``None``."""
        own = self._train_input
        return own if own is not None else self.cache_data

    @train_input.setter
    def train_input(self, x: torch.Tensor | None) -> None:
        self._train_input = x

    @property
    def symbolic_enabled(self) -> bool:
        """pykan's ``model.symbolic_enabled``: ``False`` leaves symbolic edges out."""
        return self.config.symbolic_enabled

    @symbolic_enabled.setter
    def symbolic_enabled(self, value: bool) -> None:
        self.config = self.config.replace(symbolic_enabled=value)
        for layer in self.layers:
            layer.symbolic_enabled = self.config.symbolic_enabled

    @property
    def save_act(self) -> bool:
        """pykan's ``model.save_act``: whether ``model(x)`` remembers ``x``."""
        return self.config.save_act

    @save_act.setter
    def save_act(self, value: bool) -> None:
        self.config = self.config.replace(save_act=value)

    def predict(self, x) -> torch.Tensor:
        """The model's outputs for ``x``, both in the data's units, without remembering ``x``
        (``model(x)`` keeps it as :attr:`cache_data`, pykan's cache for symbolic fitting and
        plots): for evaluation, e.g. the widget's losses and fit view."""
        return self._output(self.run(self._predict_input(self._check_input(x))))

    def _predict_input(self, xu: torch.Tensor) -> torch.Tensor:
        """Checked user-unit inputs -> the network's units for a prediction: scaled inputs are
        held within their training range first (:meth:`Scaling.clip_inputs`; ours, pykan has no
        scaling; ``model.scaling = dataclasses.replace(model.scaling, clip=None)`` turns it
        off). Training, grid updates and refine use :meth:`_input`, which does not clip."""
        if self.scaling is None:
            return xu
        return self.scaling.inputs_to_model(self.scaling.clip_inputs(xu))

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without the input checks and the scaling: ``x`` is already a
        ``[batch, width[0]]`` tensor of the model's dtype and device in the network's units,
        and so is the result (the trainer's batches; see :attr:`scaling`)."""
        if self._steps is None:
            for layer in self.layers:
                x = layer(x)
            return x
        for l, layer in enumerate(self.layers):
            x = self.node_step(l, layer(x))
        return x

    def forward_stats(self, x, metric: str | None = None) -> tuple[torch.Tensor, list[EdgeStats]]:
        """Forward pass that also returns every layer's per-edge magnitudes (for the penalty and
        the scores) in the same pass; the output in the data's units."""
        y, stats = self.run_stats(self._input(x), metric or self.reg_metric)
        return self._output(y), stats

    def run_stats(self, x: torch.Tensor, metric: str) -> tuple[torch.Tensor, list[EdgeStats]]:
        """:meth:`forward_stats` without the input checks (see :meth:`run`)."""
        stats = []
        for l, layer in enumerate(self.layers):
            x, s = layer.forward_stats(x, metric)
            x = self.node_step(l, x)
            stats.append(s)
        return x, stats

    def activations(self, x) -> list[torch.Tensor]:
        """Inputs to every layer followed by the output: ``[x_0, x_1, ..., x_L]``. The layers'
        inputs are in the network's units (``x_0`` scaled, see :attr:`scaling`), the output
        ``x_L`` in the data's."""
        x = self._input(x)
        out = [x]
        with torch.no_grad():
            for l, layer in enumerate(self.layers):
                x = self.node_step(l, layer(x))
                out.append(x)
        out[-1] = self._output(out[-1])
        return out

    # ------------------------------------------------------------------ importance
    def set_scores(self, stats: list[EdgeStats]) -> None:
        """Store per-edge scores (internal layout [in, out]) from a forward_stats pass."""
        self._edge_scores = [s.score.detach() * layer.mask for s, layer in zip(stats, self.layers)]

    def score_edges(self, x=None, metric: str | None = None) -> list[torch.Tensor]:
        """Recompute edge and node scores on ``x`` (default: the training inputs) and return the
        edge scores. Unlike pykan's backward attribution, scores are the forward per-edge
        magnitudes of ``metric`` (the same quantity the regulariser penalises). pykan's backward
        attribution is :meth:`attribute` (``attribute(l, i)``, ``feature_score``)."""
        if x is None:
            if self.train_input is None:
                raise RuntimeError(
                    "no data to score edges on: call model.fit(dataset) or model.score_edges(x)"
                )
            x = self.train_input
        else:
            x = self._check_input(x)
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
            self.score_edges()
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
        return node_scores_of(self._ensure_scores(), self._nodes)

    # ------------------------------------------------------------------ grids
    def update_grid(self, x=None) -> None:
        """Move every layer's knots to the samples ``x`` (default: training inputs) and refit its
        splines so the model's function is preserved on the samples (pykan's
        ``update_grid_from_samples``)."""
        x = self.train_input if x is None else x
        if x is None:
            raise RuntimeError("update_grid needs samples: pass x or call fit first")
        with OneThread(par=False):  # the input check too (threads.py: refits)
            self._refit_grids(self._input(x), min_span=0.0)  # the floor is fit(lamb > 0)'s

    def _refit_grids(
        self,
        x: torch.Tensor,
        num: int | None = None,
        min_span: float | None = None,
        no_floor: Collection[int] = (),
    ) -> list[int]:
        """Refit every layer's grid (to ``num`` intervals) on its inputs, layer by layer from
        ``x``; hidden layers' grids are kept ``min_span`` wide (default ``grid_min_span``; see
        the class doc), but for the layers in ``no_floor``. Returns the layers whose every input
        the floor widened (see :meth:`~kan_widget.training.Trainer.step`)."""
        min_span = self.config.grid_min_span if min_span is None else min_span
        whole: list[int] = []
        # one thread (threads.py): the refit's sort, Gram products and small solves each woke
        # the pool (and MKL's LAPACK threads); with another process on a core a refit at 2
        # threads took 160 ms-1.3 s instead of 11-43 ms ([4,16,16,1] B=1000, measured)
        with torch.no_grad(), OneThread():
            last = len(self.layers) - 1
            for l, layer in enumerate(self.layers):
                span = 0.0 if l == 0 or l in no_floor else min_span
                if layer.refit_grid(x, num=num, min_span=span):
                    whole.append(l)
                if l < last:  # the last layer's outputs feed no grid
                    x = self.node_step(l, layer(x))
        return whole

    update_grid_from_samples = update_grid

    def refine(self, new_grid: int | None = None, x=None, *, grid: int | None = None) -> KAN:
        """A new model with ``new_grid`` intervals per edge, initialised to the same functions
        (least squares on the training inputs, or ``x``). pykan's grid extension. ``grid=`` is
        accepted for ``new_grid`` (pykan's own Example_3 calls ``refine(grid=...)``)."""
        if grid is not None:
            if new_grid is not None:
                raise TypeError("refine takes new_grid or grid, not both")
            new_grid = grid
        if new_grid is None or not is_int(new_grid) or new_grid < 1:
            raise ValueError(f"new_grid must be an int >= 1; got {new_grid!r}")
        new_grid = int(new_grid)
        x = self.train_input if x is None else x
        if x is None:
            raise RuntimeError("refine needs samples: pass x or call fit first")
        x = self._input(x)
        new = self.copy()
        new._refit_grids(x, num=new_grid, min_span=0.0)
        new.config = new.config.replace(grid=new_grid)
        new._edge_scores = None
        checkpoints.log(new, "refine")
        return new

    # ------------------------------------------------------------------ pruning
    def prune(
        self, node_th: float = 1e-2, edge_th: float | None = 3e-2, *, keep_constants: bool = True
    ) -> KAN:
        """A smaller model: hidden nodes whose incoming and outgoing scores both exceed
        ``node_th`` are kept (paper §2.5), then edges scoring below ``edge_th`` are removed
        (``None`` keeps all edges). Returns a new KAN; ``self`` is unchanged. See
        :mod:`kan_widget.pruning`.

        ``keep_constants`` (ours; pykan's prune is ``False``): what the removed nodes and edges
        contributed on average over the training inputs is moved into a surviving edge of each
        node, so the pruned model computes what the model did up to the removed parts'
        variation (:func:`~kan_widget.pruning.carry_constants`), not that plus an offset."""
        for name, v in (("node_th", node_th), ("edge_th", edge_th)):
            if v is not None and (not is_number(v) or v != v or v < 0):
                raise ValueError(f"{name} must be a number >= 0; got {v!r}")
        scores = self._ensure_scores()
        masks = [layer.mask for layer in self.layers]
        plan = plan_prune(scores, masks, node_th, None, self._nodes)
        new = self._subset([n.nonzero().flatten() for n in plan.nodes], edge_th, keep_constants)
        new._warn_cut_outputs(self, "prune")
        checkpoints.log(new, "prune")
        return new

    def _warn_cut_outputs(self, before: KAN, what: str) -> None:
        """Say so when ``what`` left an output that ``before`` computed from the inputs with no
        path from any input: its formula is then a constant (pykan's Physics_2B printed ``0``
        without a word)."""
        masks_before = [layer.mask for layer in before.layers]
        lost = set(unreached_outputs([layer.mask for layer in self.layers], self._nodes))
        lost -= set(unreached_outputs(masks_before, before._nodes))
        if lost:
            ids = sorted(lost)
            names = ("output " if len(ids) == 1 else "outputs ") + ", ".join(map(str, ids))
            warnings.warn(
                f"{what} removed every path from the inputs to {names}: the model now predicts "
                "a constant there. Use a lower threshold (edge_th / node_th), or train longer "
                "before pruning.",
                UserWarning,
                stacklevel=3,
            )

    def _subset(self, keep: list[torch.Tensor], edge_th: float | None, keep_constants: bool) -> KAN:
        """A new model of the nodes ``keep[l]`` (indices per layer), edges scoring at most
        ``edge_th`` masked, constants carried (see :meth:`prune`); nothing logged."""
        scores = self._ensure_scores()
        # a multiplication node keeps or loses all its operands (subnodes)
        keep_mask = [torch.zeros(w, dtype=torch.bool) for w in self.width_in]
        for m, k in zip(keep_mask, keep, strict=True):
            m[k.cpu()] = True
        sub = [lay.sub_keep(n).nonzero().flatten() for lay, n in zip(self._nodes, keep_mask)]
        affine = None
        if self._steps is not None:
            affine = [
                [t[sub[l + 1] if k < 2 else keep[l + 1]] for k, t in enumerate(self._affine(l))]
                for l in range(self.depth)
            ]
        new = KAN._build(
            self.config,
            [layer.select(keep[l], sub[l + 1]) for l, layer in enumerate(self.layers)],
            reg_metric=self.reg_metric,
            scores=[s[keep[l]][:, sub[l + 1]].clone() for l, s in enumerate(scores)],
            train_input=self.train_input,
            scaling=self.scaling,
            nodes=[lay.select(n.tolist()) for lay, n in zip(self._nodes, keep_mask)],
            affine=affine,
        )
        checkpoints.inherit(new, self)
        new._input_select = self._input_select
        if new.train_input is not None:
            new.score_edges()
        if edge_th is not None:
            new.prune_edge(edge_th, log_history=False)
        if keep_constants and new.train_input is not None:
            carry_constants(self, new, sub, self._input(new.train_input))
        new.fit_rmse = self.fit_rmse
        return new

    def prune_minimal(self, dataset: dict, **kwargs: Any) -> KAN:
        """The smallest structure that fits as well: :meth:`prune`, then hidden nodes removed
        one at a time while a short retraining (``steps``, default 20) keeps the training RMSE
        within tolerance (``tol``, ``atol``); ``node_th``, ``edge_th``, ``verbose`` as named.
        Returns the retrained model; ``self`` is unchanged. See :mod:`kan_widget.structure`."""
        from .structure import prune_minimal

        new = prune_minimal(self, dataset, **kwargs)
        checkpoints.log(new, "prune_minimal")
        return new

    def discover(self, dataset: dict, restarts: int = 3, **kwargs: Any) -> DiscoverResult:
        """Sparsify -> prune_minimal -> refine -> symbolify over ``restarts`` restarts; the
        sparsest candidate within tolerance of the best loss is ``.model`` of the result.
        ``self`` is unchanged. See :func:`kan_widget.discover.discover`."""
        return discover(self, dataset, restarts, **kwargs)

    def prune_node(self, threshold: float = 1e-2) -> KAN:
        return self.prune(node_th=threshold, edge_th=None)

    def prune_edge(self, threshold: float = 3e-2, log_history: bool = True) -> None:
        """Remove (mask) edges whose score is at most ``threshold``, in place (as pykan)."""
        scores = self._ensure_scores()
        before = self.copy() if log_history else None  # called by prune: it warns itself
        with torch.no_grad():
            for layer, s in zip(self.layers, scores):
                layer.mask.mul_((s > threshold).to(layer.mask.dtype))
        self._edge_scores = [s * layer.mask for s, layer in zip(scores, self.layers)]
        if before is not None:
            self._warn_cut_outputs(before, "prune_edge")
        if log_history:
            checkpoints.log(self, "prune_edge")

    def remove_edge(self, l: int, i: int, j: int, log_history: bool = True) -> None:
        """Mask edge ``(l, i, j)``."""
        l, i, j = self.check_edge(l, i, j)
        self.layers[l].mask[i, j] = 0.0
        if self._edge_scores is not None:
            self._edge_scores[l][i, j] = 0.0
        if log_history:
            checkpoints.log(self, "remove_edge")

    # ------------------------------------------------------------------ training
    def fit(self, dataset: dict, **kwargs) -> dict[str, Any]:
        """Train on ``dataset`` (pykan's signature: opt, steps, lr, lamb, lamb_l1, lamb_entropy,
        lamb_coef, lamb_coefdiff, update_grid, grid_update_num, batch, reg_metric, callback,
        stop_event, ...). Returns a history dict of lists: ``train_loss``, ``test_loss`` (RMSE)
        and ``reg``. See :func:`kan_widget.training.fit`. The last training RMSE is kept as
        ``fit_rmse``: symbolic fitting takes it as the edges' noise level."""
        result = training.fit(self, dataset, **kwargs)
        checkpoints.log(self, "fit")
        losses = result.get("train_loss") or [None]
        self.fit_rmse = losses[-1]
        return result

    # ------------------------------------------------------------------ snapshots
    def checkpoint(self) -> dict[str, Any]:
        """An in-memory copy of the whole model state, for undo (no disk)."""
        return {
            "width": self.width,
            "nodes": list(self._nodes),  # frozen dataclasses
            "config": self.config,  # frozen: shared, never changed
            "state": {k: v.detach().clone() for k, v in self.state_dict().items()},
            "sym_names": [dict(layer.sym_names) for layer in self.layers],
            "grids": [layer.num for layer in self.layers],
            "scores": None if self._edge_scores is None else [s.clone() for s in self._edge_scores],
            "reg_metric": self.reg_metric,
            "scaling": self.scaling,  # frozen: shared, never changed
            "input_select": self._input_select,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Return to a :meth:`checkpoint` (the width may differ: layers are rebuilt)."""
        config = state["config"]
        nodes = state.get("nodes")
        layers = _layers_from_state(
            config,
            _edge_widths(state["width"], nodes),
            state["grids"],
            state["state"],
            state["sym_names"],
        )
        scores = None if state["scores"] is None else [s.clone() for s in state["scores"]]
        self._install(
            config,
            layers,
            state.get("reg_metric", DEFAULT_METRIC),
            scores,
            state.get("scaling"),
            nodes,
            _affine_from_state(state["state"], len(layers)),
        )
        self._input_select = state.get("input_select")

    def copy(self) -> KAN:
        """A deep copy (no files written, unlike pykan's ``copy``)."""
        layers = _layers_from_state(
            self.config,
            _edge_widths(self.width, self._nodes),
            [layer.num for layer in self.layers],
            self.state_dict(),
            [layer.sym_names for layer in self.layers],
        )
        scores = None if self._edge_scores is None else [s.clone() for s in self._edge_scores]
        new = KAN._build(
            self.config,
            layers,
            reg_metric=self.reg_metric,
            scores=scores,
            train_input=self.train_input,
            scaling=self.scaling,
            nodes=self._nodes,
            affine=_affine_from_state(self.state_dict(), self.depth),
        )
        new.fit_rmse = self.fit_rmse  # the symbolic noise floor (refine and prune keep it too)
        new._input_select = self._input_select
        return checkpoints.inherit(new, self)

    def to(self, *args, **kwargs):  # keep config's dtype in step with the tensors
        out = super().to(*args, **kwargs)
        self.config = self.config.replace(dtype=self.dtype)
        if self.train_input is not None:
            self.train_input = self.train_input.to(device=self.device, dtype=self.dtype)
        return out

    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write the model to ``path`` (safetensors with a JSON config; never pickle)."""
        meta = {
            "width": self.width,
            "grids": [layer.num for layer in self.layers],
            "config": self.config.to_dict(),
            "reg_metric": self.reg_metric,
            "sym_names": [
                [[i, j, name] for (i, j), name in sorted(layer.sym_names.items())]
                for layer in self.layers
            ],
            "scaling": None if self.scaling is None else self.scaling.to_dict(),
            # format 2: the node layouts (multiplication nodes); format 1 files have none
            "nodes": [lay.to_json() for lay in self._nodes],
            "input_select": None
            if self._input_select is None
            else [list(self._input_select[0]), self._input_select[1]],
        }
        io.write(path, meta, self.state_dict())

    @classmethod
    def load(cls, path, device=None) -> KAN:
        """Read a model written by :meth:`save`; rejects anything else with a clear error."""
        meta, tensors = io.read(path)
        name = os.fspath(path)
        try:
            config = KANConfig.from_dict(meta["config"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{name!r} has an invalid model config: {e}") from None
        try:
            sym_names = [
                {(int(i), int(j)): str(n) for i, j, n in names} for names in meta["sym_names"]
            ]
            nodes = meta.get("nodes")  # absent in format 1: sum nodes only
            nodes = None if nodes is None else [NodeLayout.from_json(v) for v in nodes]
            layers = _layers_from_state(
                config,
                _edge_widths(meta["width"], nodes),
                meta["grids"],
                tensors,
                sym_names,
                device=device,
            )
            affine = _affine_from_state(tensors, len(layers))
        except (ValueError, RuntimeError, KeyError, IndexError, TypeError) as e:
            raise ValueError(f"{name!r}: tensors do not match the stored config: {e}") from None
        if "scaling" not in meta:  # a file from before scaling: trained in the data's units
            meta["scaling"] = Scaling.identity(layers[0].in_dim, layers[-1].out_dim).to_dict()
        try:
            scaling = None if meta.get("scaling") is None else Scaling.from_dict(meta["scaling"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name!r} has an invalid scaling: {e}") from None
        try:
            new = cls._build(
                config,
                layers,
                reg_metric=meta.get("reg_metric", DEFAULT_METRIC),
                scaling=scaling,
                nodes=nodes,
                affine=affine,
            )
        except ValueError as e:
            raise ValueError(f"{name!r}: tensors do not match the stored config: {e}") from None
        sel = meta.get("input_select")
        if sel is not None:
            try:
                new._input_select = (tuple(int(v) for v in sel[0]), int(sel[1]))
            except (TypeError, ValueError, IndexError) as e:
                raise ValueError(f"{name!r} has an invalid input_select: {e}") from None
        return new

    # ------------------------------------------------------------------ units
    def fit_scaling(self, x, y, in_vars=None, out_vars=None) -> Scaling:
        """Give the model its :attr:`scaling` for training inputs ``x`` and labels ``y`` (user
        units), as ``config.normalize`` says (``fit`` does this on its first call); returns it.
        ``in_vars`` / ``out_vars``: the data's column names, for ``symbolic_formula``. A model
        with symbolic edges already computes functions of the data as it is: it keeps the
        identity."""
        xs = self._check_input(x)
        n_out = self.width_in[-1]
        if y is None:  # labels that keep their units (class indices, a custom loss)
            ys = torch.zeros(xs.shape[0], n_out, dtype=self.dtype)
        else:
            ys = as_tensor(y, n_out, name="y", dtype=self.dtype, device=self.device)
        mode = self.config.normalize
        if any(bool(layer.sym_mask.any()) for layer in self.layers):
            mode = False
        scaling = fit_scaling(
            xs, ys, mode, self.config.grid_range, in_vars, out_vars, grid=self.grid
        )
        if y is None:
            scaling = dataclasses.replace(
                scaling, out_scale=(1.0,) * n_out, out_shift=(0.0,) * n_out
            )
        self.scaling = scaling
        return scaling

    # ------------------------------------------------------------------ symbolic
    def auto_symbolic(
        self, lib=None, r2_threshold: float = 0.0, weight_simple: float = 0.8, **kwargs
    ):
        """Fit every active edge against every library function (batched) and fix the best.
        ``dataset=`` (ours) chooses with the data: per layer, the simplest candidate whose short
        refit fits as well as the best (:mod:`kan_widget.symbolic.verify`); it trains the model."""
        from .symbolic import api

        log_history = kwargs.pop("log_history", True)
        result = api.auto_symbolic(
            self, lib=lib, r2_threshold=r2_threshold, weight_simple=weight_simple, **kwargs
        )
        if log_history:
            checkpoints.log(self, "auto_symbolic")
        return result

    def fix_symbolic(self, l: int, i: int, j: int, fun, fit_params: bool = True, **kwargs):
        """Make edge ``(l, i, j)`` compute ``c*fun(a*x+b)+d``; returns the fit's r^2."""
        from .symbolic import api

        log_history = kwargs.pop("log_history", True)
        fit_params = _pykan_fix_options(kwargs, fit_params)
        r2 = api.fix_symbolic(self, l, i, j, fun, fit_params=fit_params, **kwargs)
        if log_history:
            checkpoints.log(self, "fix_symbolic")
        return r2

    def unfix_symbolic(self, l: int, i: int, j: int, log_history: bool = True) -> None:
        """Return edge ``(l, i, j)`` to its spline."""
        from .symbolic import api

        api.unfix_symbolic(self, l, i, j)
        if log_history:
            checkpoints.log(self, "unfix_symbolic")

    def symbolic_formula(
        self,
        var=None,
        normalizer=None,
        output_normalizer=None,
        *,
        simplify: bool = False,
        allow_numeric: bool = True,
    ):
        """pykan's ``(formulas, variables)``: ``model.symbolic_formula()[0][0]`` is the first
        output's formula, unsimplified. :meth:`formula` gives the clean list; see
        :func:`kan_widget.symbolic.formula.symbolic_formula`."""
        from .symbolic.formula import symbolic_formula

        return symbolic_formula(
            self, var, normalizer, output_normalizer, simplify=simplify, allow_numeric=allow_numeric
        )


def _pykan_fix_options(kwargs: dict[str, Any], fit_params: bool) -> bool:
    """pykan's ``fix_symbolic`` keywords, taken out of ``kwargs``: ``fit_params_bool`` (its name
    for ``fit_params``), ``a_range``/``b_range`` (not needed by our fit) and ``random=False``."""
    fit_params = bool(kwargs.pop("fit_params_bool", fit_params))
    for name in ("a_range", "b_range"):
        rng = kwargs.pop(name, (-10, 10))
        try:
            lo, hi = (float(v) for v in rng)
        except (TypeError, ValueError):
            lo = hi = float("nan")
        if not lo < hi:
            raise ValueError(f"{name} must be (low, high) with low < high; got {rng!r}")
    if kwargs.pop("random", False):
        raise ValueError("random=True (random a, b, c, d) is not supported; use fit_params")
    return fit_params


def _edge_widths(width: Sequence[Any], nodes: Sequence[NodeLayout] | None) -> list[tuple[int, int]]:
    """Each edge layer's ``(inputs, outputs)`` for a model of ``width`` (``nodes``: its node
    layouts, ``None`` for sum nodes only, as in format-1 files)."""
    if nodes is None:
        nodes = parse_width(width)
    if pykan_width(nodes) != list(width):
        raise ValueError(
            f"width {list(width)} does not match the node layouts {pykan_width(nodes)}"
        )
    return [(nodes[l].n_nodes, nodes[l + 1].n_sub) for l in range(len(nodes) - 1)]


def _affine_from_state(
    state: dict[str, torch.Tensor], depth: int
) -> list[list[torch.Tensor]] | None:
    """pykan's node affine maps held in ``state`` (keys ``node_scale.{l}`` etc.), or ``None``
    where the state has none (a model without multiplication nodes)."""
    if f"{AFFINE[0]}.0" not in state:
        return None
    return [[state[f"{name}.{l}"] for name in AFFINE] for l in range(depth)]


def _layers_from_state(
    config: KANConfig,
    dims: Sequence[tuple[int, int]],
    grids: Sequence[int],
    state: dict[str, torch.Tensor],
    sym_names: Sequence[dict],
    device=None,
) -> list[KANLayer]:
    """Layers holding copies of a model's ``state_dict`` (keys ``layers.{l}.{name}``), cast to
    the config's dtype, on ``device`` (``None``: where the tensors are). Raises ValueError
    unless the tensors fit each layer's ``(inputs, outputs)`` in ``dims`` and ``grids``."""
    depth = len(dims)
    if len(grids) != depth or len(sym_names) != depth:
        raise ValueError(f"{depth} layers need {depth} grids and sym_names lists")
    want = {f"layers.{l}.{name}" for l in range(depth) for name in KANLayer.TENSORS}
    if not any(f"layers.{l}.ns_mask" in state for l in range(depth)):
        # saved before edges could be spline plus symbolic: none is
        state = dict(state)
        for l in range(depth):
            if f"layers.{l}.mask" in state:
                state[f"layers.{l}.ns_mask"] = torch.zeros_like(state[f"layers.{l}.mask"])
    if any(f"{name}.0" in state for name in AFFINE):  # a model with a node step
        want |= {f"{name}.{l}" for l in range(depth) for name in AFFINE}
    if set(state) != want:
        raise ValueError(
            f"missing tensors {sorted(want - set(state))}, unexpected {sorted(set(state) - want)}"
        )
    layers = []
    for l in range(depth):
        tensors = {}
        for name in KANLayer.TENSORS:
            t = state[f"layers.{l}.{name}"].detach()
            dtype = config.dtype if t.is_floating_point() else t.dtype
            tensors[name] = t.to(
                device=device, dtype=dtype, copy=True, memory_format=torch.contiguous_format
            )
        layer = KANLayer(
            tensors,
            k=config.k,
            base_fun=config.base_fun,
            grid_eps=config.grid_eps,
            sym_names=sym_names[l],
        )
        if (layer.in_dim, layer.out_dim, layer.num) != (*dims[l], grids[l]):
            raise ValueError(
                f"layer {l} has {layer.in_dim} -> {layer.out_dim} nodes on "
                f"{layer.num} intervals; the width and grids say "
                f"{dims[l][0]} -> {dims[l][1]} on {grids[l]}"
            )
        layers.append(layer)
    return layers


def _signature() -> inspect.Signature:
    """``KAN(width, grid=3, k=3, ..., device=None)``: the constructor's options are
    :class:`KANConfig`'s fields, shown by name in ``help(KAN)`` and notebook tooltips."""
    P = inspect.Parameter
    return inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD), P("width", P.POSITIONAL_OR_KEYWORD)]
        + [
            P(f.name, P.POSITIONAL_OR_KEYWORD, default=f.default)
            for f in dataclasses.fields(KANConfig)
        ]
        + [P("mult_arity", P.KEYWORD_ONLY, default=2), P("device", P.KEYWORD_ONLY, default=None)]
    )


KAN.__init__.__signature__ = _signature()  # type: ignore[attr-defined]
