"""pykan 0.2.8's accessors, versions and picture, as a mixin of :class:`~kan_widget.model.KAN`.

What lives here is the part of pykan's public surface the engine itself does not need: version
history (``auto_save``, ``rewind``, ``history``; the state is in :mod:`kan_widget.checkpoints`),
pykan's views of the layers (``act_fun``, ``symbolic_fun``, ``spline_preacts``, ``get_fun``,
``get_range``), ``set_mode``, ``remove_node``, ``suggest_symbolic``, ``formula`` and ``plot``.
Each method is short and delegates; the differences from pykan are in docs/PYKAN_DIFFERENCES.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import torch

from . import attribution, checkpoints
from .attribution import Attribution
from .config import KANConfig
from .layer import KANLayer
from .validation import is_int

if TYPE_CHECKING:
    from .model import KAN

__all__ = ["PykanSurface", "SymbolicView"]


class PykanSurface:
    """pykan's names on :class:`~kan_widget.model.KAN` that only read or re-arrange its state."""

    if TYPE_CHECKING:  # what the mixin uses of KAN (defined there)
        layers: Sequence[KANLayer]
        config: KANConfig
        _edge_scores: list[torch.Tensor] | None
        train_input: torch.Tensor | None
        symbolic_enabled: bool
        save_act: bool

        @property
        def width_in(self) -> list[int]: ...
        @property
        def depth(self) -> int: ...
        def forward(
            self, x, singularity_avoiding: bool = False, y_th: float = 10.0
        ) -> torch.Tensor: ...
        def _input(self, x) -> torch.Tensor: ...
        def update_grid(self, x=None) -> None: ...
        def activations(self, x) -> list[torch.Tensor]: ...
        def save(self, path) -> None: ...
        @classmethod
        def load(cls, path, device=None) -> KAN: ...

    def _kan(self) -> KAN:
        return cast("KAN", self)

    cache_data: torch.Tensor | None = None
    """The inputs of the last :meth:`forward` / :meth:`get_act` (pykan's ``cache_data``)."""
    round: int = 0
    """pykan's round of the version name ``'{round}.{state_id}'`` (see :meth:`rewind`)."""
    state_id: int = 0
    """pykan's version number within the round (see :meth:`log_history`)."""

    @property
    def auto_save(self) -> bool:
        """Log a version after every changing call (``config.auto_save``); settable."""
        return self.config.auto_save

    @auto_save.setter
    def auto_save(self, value: bool) -> None:
        self.config = self.config.replace(auto_save=value)

    @property
    def ckpt_path(self) -> str:
        return self.config.ckpt_path

    def log_history(self, method_name: str) -> None:
        """Record the model as its next version ``'{round}.{state_id + 1}'`` (pykan's), in
        memory; see :mod:`kan_widget.checkpoints` (at most ``MAX_VERSIONS`` are kept)."""
        checkpoints.log(self._kan(), method_name)

    def set_mode(self, l: int, i: int, j: int, mode: str, mask_n=None) -> None:
        """pykan's ``set_mode``: ``'n'`` makes edge ``(l, i, j)`` its spline, ``'s'`` its fixed
        symbolic function (it must have one: ``fix_symbolic``), ``'ns'`` / ``'sn'`` both summed
        (the spline weighted by ``mask_n``, default 1, as pykan's), any other mode switches it
        off. An edge with no symbolic function under ``'ns'`` is its spline (pykan's ``'0'``
        function adds nothing)."""
        l, i, j = self._kan().check_edge(l, i, j)
        layer = self.layers[l]
        with torch.no_grad():
            if mode == "n":
                layer.clear_symbolic([i], [j])
                layer.mask[i, j] = 1.0 if mask_n is None else float(mask_n)
            elif mode in ("s", "ns", "sn"):
                weight = 0.0 if mode == "s" else (1.0 if mask_n is None else float(mask_n))
                if (i, j) not in layer.sym_names:
                    if mode == "s":
                        raise ValueError(
                            f"edge ({l}, {i}, {j}) has no symbolic function: fix_symbolic it first"
                        )
                    layer.mask[i, j] = weight  # the spline alone: pykan's '0' adds nothing
                    return
                layer.sym_mask[i, j] = True
                layer.mask[i, j] = 1.0
                layer.ns_mask[i, j] = weight
            else:
                layer.mask[i, j] = 0.0
                if self._edge_scores is not None:
                    self._edge_scores[l][i, j] = 0.0

    def reg(
        self,
        reg_metric: str = "edge_forward_spline_n",
        lamb_l1: float = 1.0,
        lamb_entropy: float = 2.0,
        lamb_coef: float = 0.0,
        lamb_coefdiff: float = 0.0,
        *,
        entropy_offset: float = 1e-4,
    ) -> torch.Tensor:
        """pykan's ``reg``: the penalty ``fit(lamb=...)`` multiplies by ``lamb`` (L1 and entropy
        of the per-edge magnitudes ``reg_metric``, plus the coefficient terms), on the inputs of
        the last forward pass (:attr:`cache_data`), differentiable in the parameters: for
        training loops of one's own (pykan's Physics_2B). pykan reads magnitudes its last
        forward stored; here that forward is run again (the same value). ``entropy_offset``
        (a later pykan's keyword): the ``1e-4`` inside the entropy's log, fixed in pykan 0.2.8
        and here; another value is refused."""
        from .regularizer import REG_METRICS, coef_penalty, edge_penalty

        if entropy_offset != 1e-4:
            raise ValueError(
                f"entropy_offset={entropy_offset!r}: only pykan 0.2.8's fixed 1e-4 is supported"
            )

        if reg_metric not in REG_METRICS:
            raise ValueError(
                f"reg_metric must be one of {REG_METRICS}; got {reg_metric!r} (pykan's "
                "'edge_forward_sum', 'edge_backward' and 'node_backward' are not supported)"
            )
        model = self._kan()
        x = self.cache_data if self.cache_data is not None else self.train_input
        if x is None:
            raise ValueError("reg() needs the inputs of a forward pass: run model(x) first")
        xm = x if model.scaling is None else model.scaling.inputs_to_model(x)
        _, stats = model.run_stats(xm, reg_metric)
        penalty = edge_penalty([s.value for s in stats], reg_metric, lamb_l1, lamb_entropy)
        coefs: list[torch.Tensor] = [layer.coef for layer in self.layers]
        return penalty + coef_penalty(coefs, lamb_coef, lamb_coefdiff)

    def get_reg(
        self,
        reg_metric: str = "edge_forward_spline_n",
        lamb_l1: float = 1.0,
        lamb_entropy: float = 2.0,
        lamb_coef: float = 0.0,
        lamb_coefdiff: float = 0.0,
    ) -> torch.Tensor:
        """pykan's ``get_reg``: :meth:`reg` (a hook for subclasses, as pykan's)."""
        return self.reg(reg_metric, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff)

    def speed(self, compile: bool = False):
        """pykan's ``speed``: stop logging versions (``auto_save=False``), leave symbolic edges
        out of the forward (``symbolic_enabled=False``) and keep no inputs (``save_act=False``);
        returns the model, or ``torch.compile(model)`` with ``compile``."""
        self.auto_save = False
        self.symbolic_enabled = False  # as pykan's: symbolic edges left out, nothing cached
        self.save_act = False
        return torch.compile(self._kan()) if compile else self

    def tree(
        self,
        x=None,
        in_var=None,
        style: str = "tree",
        sym_th: float = 1e-3,
        sep_th: float = 1e-1,
        skip_sep_test: bool = False,
        verbose: bool = False,
    ) -> None:
        """pykan's ``tree``: :func:`kan_widget.hypothesis.plot_tree` of the model as a function,
        on ``x``, else the inputs of the last forward pass (:attr:`cache_data`), else the
        training inputs (pykan's ``fit`` leaves those in ``cache_data``)."""
        from .hypothesis import plot_tree  # matplotlib is optional: imported on use

        if x is None:
            x = self.cache_data if self.cache_data is not None else self.train_input
            if x is None:
                raise ValueError("tree() needs inputs: pass x, or fit or run the model first")
        plot_tree(
            self._kan(),
            x,
            in_var=in_var,
            style=style,
            sym_th=sym_th,
            sep_th=sep_th,
            skip_sep_test=skip_sep_test,
            verbose=verbose,
        )

    def rewind(self, model_id: str) -> KAN:
        """A copy of version ``model_id`` (e.g. ``'0.1'``) that starts a new round, as pykan's.
        Versions are kept in memory (the last ``checkpoints.MAX_VERSIONS``); an unknown name
        raises ``ValueError`` listing the versions that exist."""
        return checkpoints.rewind(self._kan(), model_id)

    def checkout(self, model_id: str) -> KAN:
        """A copy of version ``model_id``; unlike :meth:`rewind`, no new round is started."""
        return checkpoints.checkout(self._kan(), model_id)

    def history(self, k: int | str = "all") -> None:
        """Print the last ``k`` lines of the version log (pykan's ``history.txt``)."""
        lines = checkpoints.ensure(self._kan()).lines
        n = len(lines) if k == "all" else int(k)
        for line in lines[len(lines) - n :]:
            print(line)

    def saveckpt(self, path: str = "model") -> None:
        """Write the model to ``{path}.safetensors`` (pykan's name; our safe file format, see
        :meth:`save`). :meth:`loadckpt` reads it back."""
        self.save(_ckpt_file(path))

    @classmethod
    def loadckpt(cls, path: str = "model") -> KAN:
        """Read a model written by :meth:`saveckpt` (``{path}.safetensors``) or :meth:`save`."""
        p = os.fspath(path)
        return cls.load(p if os.path.isfile(p) else _ckpt_file(p))

    @property
    def act_fun(self) -> Sequence[KANLayer]:
        """pykan's spline layers: ``model.act_fun[l]`` is layer ``l`` (``in_dim``, ``out_dim``,
        ``grid``, ``coef`` ``[in, out, G+k]``, ``scale_base``, ``scale_sp``, ``mask``
        ``[in, out]``), the same tensors training changes."""
        return self.layers

    @property
    def symbolic_fun(self) -> list[SymbolicView]:
        """pykan's symbolic layers: ``model.symbolic_fun[l]`` has ``in_dim``, ``out_dim``,
        ``mask`` ``[out, in]`` (1 where the edge is symbolic), ``funs_name`` ``[out][in]``
        (``'0'`` where it is not) and ``affine`` ``[out, in, 4]`` (a, b, c, d)."""
        return [SymbolicView(layer) for layer in self.layers]

    def get_act(self, x=None) -> None:
        """Run the model on ``x`` (a tensor, or a dataset dict: its ``train_input``; default the
        last inputs) and keep it as :attr:`cache_data` for :meth:`get_fun`, :meth:`get_range`."""
        if isinstance(x, dict):
            if "train_input" not in x:
                raise KeyError("get_act(dataset) needs dataset['train_input']")
            x = x["train_input"]
        if x is None:
            if self.cache_data is None:
                raise ValueError("get_act needs inputs: pass x (or a dataset), or run model(x)")
            x = self.cache_data
        with torch.no_grad():
            self.forward(x)
        # in the data's units, as forward keeps it; also with save_act=False, as pykan's
        self.cache_data = self._kan()._check_input(x).detach()

    @property
    def acts(self) -> list[torch.Tensor]:
        """pykan's ``model.acts``: every layer's input and then the output, ``[x_0, ..., x_L]``
        (``[batch, width[l]]``, detached), on the inputs of the last forward pass
        (:attr:`cache_data`; before any, the training inputs). pykan fills this list during
        every forward; here it is computed when read, from the current parameters, so training
        stores nothing. With a data scaling (``model.scaling``) the layers' inputs are in the
        network's units; :meth:`activations` computes the same list for any ``x``."""
        x = self.cache_data if self.cache_data is not None else self.train_input
        if x is None:
            raise ValueError("model.acts needs a forward pass first: run model(x) or get_act(x)")
        return [a.detach() for a in self.activations(x)]

    def _spline_acts(self, l: int) -> tuple[torch.Tensor, torch.Tensor]:
        """pykan's ``spline_preacts[l]``, ``spline_postacts[l]`` ``[B, out, in]`` on the cached
        inputs: each edge's input and its spline branch ``scale_base*b(x) +
        scale_sp*spline(x)`` (masked)."""
        x = self.cache_data if self.cache_data is not None else self.train_input
        if x is None:
            raise ValueError("no inputs to read activations from: run model(x) or get_act(x)")
        acts = self.activations(x)
        layer = self.layers[l]
        xl = acts[l]
        with torch.no_grad():
            post = (
                layer.scale_base * layer.base_fun(xl).unsqueeze(2)
                + layer.scale_sp * layer.spline_values(xl)
            ) * layer.mask
        pre = xl.unsqueeze(2).expand(-1, -1, layer.out_dim)
        return pre.permute(0, 2, 1), post.permute(0, 2, 1)

    @property
    def spline_preacts(self) -> list[torch.Tensor]:
        """Every layer's edge inputs ``[B, out, in]`` on :attr:`cache_data` (computed)."""
        return [self._spline_acts(l)[0] for l in range(self.depth)]

    @property
    def spline_postacts(self) -> list[torch.Tensor]:
        """Every layer's spline-branch edge outputs ``[B, out, in]`` on :attr:`cache_data`."""
        return [self._spline_acts(l)[1] for l in range(self.depth)]

    def get_fun(self, l: int, i: int, j: int):
        """Edge ``(l, i, j)``'s spline branch on the cached inputs, sorted by input, as numpy
        ``(inputs, outputs)``; also plots it in a small matplotlib figure (as pykan's)."""
        l, i, j = self._kan().check_edge(l, i, j)
        pre, post = self._spline_acts(l)
        x = pre[:, j, i].cpu().numpy()
        y = post[:, j, i].cpu().numpy()
        order = x.argsort()
        x, y = x[order], y[order]
        import matplotlib.pyplot as plt

        plt.figure(figsize=(3, 3))
        plt.plot(x, y, marker="o")
        return x, y

    def get_range(self, l: int, i: int, j: int, verbose: bool = True):
        """``(x_min, x_max, y_min, y_max)`` of edge ``(l, i, j)`` on the cached inputs (0-d numpy
        arrays, as pykan's); printed with ``verbose``."""
        l, i, j = self._kan().check_edge(l, i, j)
        pre, post = self._spline_acts(l)
        x, y = pre[:, j, i], post[:, j, i]
        out = tuple(v.cpu().numpy() for v in (x.min(), x.max(), y.min(), y.max()))
        if verbose:
            print(f"x range: [{out[0]:.2f} , {out[1]:.2f} ]")
            print(f"y range: [{out[2]:.2f} , {out[3]:.2f} ]")
        return out

    def remove_node(self, l: int, i: int, mode: str = "all", log_history: bool = True) -> None:
        """Cut node ``i`` of layer ``l`` (``l`` = 0 for inputs): ``mode='down'`` masks its
        incoming edges, ``'up'`` its outgoing ones, ``'all'`` both (as pykan's). The node stays
        in ``width``; :meth:`prune` removes it. A multiplication node's incoming edges are
        those of all its operands."""
        if mode not in ("all", "up", "down"):
            raise ValueError(f"mode must be 'all', 'up' or 'down'; got {mode!r}")
        width = self.width_in
        if not is_int(l) or not 0 <= l < len(width):
            raise ValueError(f"l must be a layer of nodes, 0..{len(width) - 1}; got {l!r}")
        l = int(l)
        if not is_int(i) or not 0 <= i < width[l]:
            raise ValueError(f"node {i!r} does not exist: layer {l} has {width[l]} nodes")
        i = int(i)
        if (mode == "down" and l == 0) or (mode == "up" and l == len(width) - 1):
            raise ValueError(f"node ({l}, {i}) has no {'incoming' if l == 0 else 'outgoing'} edges")
        with torch.no_grad():
            if mode in ("all", "down") and l > 0:
                subs = [s for s, n in enumerate(self._kan().nodes[l].sub_to_node()) if n == i]
                self.layers[l - 1].mask[:, subs] = 0.0
                if self._edge_scores is not None:
                    self._edge_scores[l - 1][:, subs] = 0.0
            if mode in ("all", "up") and l < self.depth:
                self.layers[l].mask[i, :] = 0.0
                if self._edge_scores is not None:
                    self._edge_scores[l][i, :] = 0.0
        if log_history:
            checkpoints.log(self._kan(), "remove_node")

    def update_grid_from_samples(self, x) -> None:
        """pykan's name for :meth:`update_grid` (knots moved to the samples ``x``)."""
        self._kan().update_grid(x)

    # ------------------------------------------------------------------ node order
    def swap(self, l: int, i1: int, i2: int, log_history: bool = True) -> None:
        """Exchange hidden nodes ``i1`` and ``i2`` of layer ``l`` (1..depth-1) with their
        incoming and outgoing edges (splines, symbolic functions, masks, scores): the function
        computed is unchanged (pykan's). Models with multiplication nodes or node maps are
        refused (their operands would have to move together)."""
        model = self._sum_nodes_only("swap")
        width = model.width_in
        if not is_int(l) or not 0 < l < len(width) - 1:
            raise ValueError(f"l must be a hidden layer, 1..{len(width) - 2}; got {l!r}")
        l = int(l)
        for i in (i1, i2):
            if not is_int(i) or not 0 <= i < width[l]:
                raise ValueError(f"node {i!r} does not exist: layer {l} has {width[l]} nodes")
        perm = torch.arange(width[l])
        perm[[int(i1), int(i2)]] = perm[[int(i2), int(i1)]]
        self._permute_nodes(l, perm)
        if log_history:
            checkpoints.log(self._kan(), "swap")

    def _sum_nodes_only(self, what: str) -> KAN:
        model = self._kan()
        if any(n.n_mult for n in model.nodes) or getattr(model, "node_scale", None) is not None:
            raise ValueError(
                f"{what} works on models of sum nodes only; this model has multiplication "
                "nodes or node maps (node_scale, ...)"
            )
        return model

    def _permute_nodes(self, l: int, perm: torch.Tensor) -> None:
        """Reorder hidden layer ``l``'s nodes: new node ``n`` is old node ``perm[n]``."""
        model = self._kan()
        layers = list(self.layers)
        before, after = layers[l - 1], layers[l]
        layers[l - 1] = before.select(torch.arange(before.in_dim), perm)
        layers[l] = after.select(perm, torch.arange(after.out_dim))
        scores = None
        if self._edge_scores is not None:
            scores = list(self._edge_scores)
            scores[l - 1] = scores[l - 1][:, perm.to(scores[l - 1].device)]
            scores[l] = scores[l][perm.to(scores[l].device)]
        model._install(self.config, layers, model.reg_metric, scores, model.scaling)

    @property
    def connection_cost(self) -> torch.Tensor:
        """``sum_edges score * |x_in - x_out|`` with each layer's nodes placed evenly on [0, 1]
        (pykan's; the edge scores are ours, see :attr:`edge_scores`)."""
        return _connection_cost(self._kan()._ensure_scores())

    def auto_swap_l(self, l: int) -> None:
        """Reorder layer ``l``'s nodes to lower :attr:`connection_cost`: each node in turn goes
        to the place that lowers it most (pykan's greedy pass; scores move with their edges,
        so no forward pass is needed per trial)."""
        n = self._sum_nodes_only("auto_swap").width_in[l]
        scores = [s.clone() for s in self._kan()._ensure_scores()]
        for i in range(n):
            costs = []
            for j in range(n):
                perm = torch.arange(n)
                perm[[i, j]] = perm[[j, i]]
                trial = list(scores)
                trial[l - 1], trial[l] = scores[l - 1][:, perm], scores[l][perm]
                costs.append(float(_connection_cost(trial)))
            j = int(torch.tensor(costs).argmin())
            if j != i:
                perm = torch.arange(n)
                perm[[i, j]] = perm[[j, i]]
                scores[l - 1], scores[l] = scores[l - 1][:, perm], scores[l][perm]
                self.swap(l, i, j, log_history=False)

    def auto_swap(self) -> None:
        """:meth:`auto_swap_l` on every hidden layer (pykan's)."""
        self._sum_nodes_only("auto_swap")
        for l in range(1, self.depth):
            self.auto_swap_l(l)
        checkpoints.log(self._kan(), "auto_swap")

    # ------------------------------------------------------------------ attribution
    _input_select: tuple[tuple[int, ...], int] | None = None
    """After :meth:`prune_input`: (original column of each input, original input count)."""
    _attribution: Attribution | None = None

    def attribute(self, l=None, i=None, out_score=None, plot: bool = True):
        """pykan's backward attribution (:mod:`kan_widget.attribution`) on the model's data
        (:attr:`train_input`). ``attribute()`` computes every layer's scores and returns
        ``None``; ``attribute(l)`` returns ``[width[l], width[0]]``, how much each input matters
        to each node of layer ``l``; ``attribute(l, i)`` the row of node ``i`` (drawn as a bar
        chart unless ``plot=False``). The regulariser's forward edge scores, which ``prune``
        uses, are :meth:`score_edges`; pykan's call replaces ``edge_scores`` / ``node_scores``
        with the backward ones, ours keeps them in :attr:`attribution`."""
        return attribution.run(self._kan(), l, i, out_score, plot)

    @property
    def attribution(self) -> Attribution | None:
        """The last :meth:`attribute` (node, edge and subnode scores as pykan's), or ``None``."""
        return self._attribution

    @property
    def feature_score(self) -> torch.Tensor:
        """pykan's ``feature_score``: each input's attribution score ``[width[0]]`` on the model's
        data (recomputed on every read, as pykan's)."""
        return attribution.feature_score(self._kan())

    def node_attribute(self) -> None:
        """pykan's ``node_attribute``: ``node_attribute_scores[l-1] = attribute(l)`` for every
        layer after the inputs."""
        self.node_attribute_scores = [self.attribute(l) for l in range(1, self.depth + 1)]

    @property
    def input_id(self) -> torch.Tensor:
        """pykan's ``input_id``: the original column of each input (after :meth:`prune_input`);
        ``model(x)`` and ``fit`` take rows of the original columns, as pykan's."""
        cols = range(self.width_in[0]) if self._input_select is None else self._input_select[0]
        return torch.tensor(list(cols), dtype=torch.long)

    def prune_input(self, threshold: float = 1e-2, active_inputs=None, log_history: bool = True):
        """pykan's ``prune_input``: a new model keeping the inputs whose :attr:`feature_score`
        exceeds ``threshold`` (or exactly the indices ``active_inputs``); ``self`` is unchanged.
        The kept inputs keep their names (``x_1, x_4`` stay so in the formula) and columns
        (:attr:`input_id`: the model takes the original rows, or rows of the kept columns)."""
        new = attribution.prune_input(self._kan(), threshold, active_inputs)
        checkpoints.inherit(new, self._kan())
        if log_history:
            checkpoints.log(new, "prune_input")
        return new

    def suggest_symbolic(
        self,
        l: int,
        i: int,
        j: int,
        a_range=(-10, 10),
        b_range=(-10, 10),
        lib=None,
        topk: int = 5,
        verbose: bool = True,
        r2_loss_fun=None,
        c_loss_fun=None,
        weight_simple: float = 0.8,
    ):
        """pykan's ``(best_name, best_fun, r2, complexity)`` for edge ``(l, i, j)``; prints the
        top ``topk`` with ``verbose``. :meth:`rank_symbolic` returns the whole ranking. See
        :func:`kan_widget.symbolic.api.suggest_best`."""
        from .symbolic import api

        return api.suggest_best(
            self,
            l,
            i,
            j,
            a_range,
            b_range,
            lib,
            topk,
            verbose,
            r2_loss_fun,
            c_loss_fun,
            weight_simple,
        )

    def rank_symbolic(self, l: int, i: int, j: int, lib=None, topk: int = 5, **kwargs):
        """Library functions ranked for edge ``(l, i, j)``: a list of ``Candidate`` rows (name,
        r2, complexity, score, ``(a, b, c, d)``), best first; nothing is changed. See
        :func:`kan_widget.symbolic.api.suggest_symbolic`."""
        from .symbolic import api

        return api.suggest_symbolic(self, l, i, j, lib=lib, topk=topk, **kwargs)

    def formula(
        self, var=None, digits: int | None = None, simplify: bool = True, allow_numeric=True
    ) -> list:
        """The clean formula: one simplified sympy expression per output, numbers rounded to
        ``digits`` decimals and snapped to integers, fractions and multiples of pi when
        ``digits`` is given (``model.formula(["x", "y"], digits=2)``); edges still splines
        appear as ``phi_l_i_j(x)`` (``allow_numeric=False`` raises instead). pykan's
        ``(formulas, variables)`` is :meth:`symbolic_formula`. See
        :func:`kan_widget.symbolic.formula.formula`."""
        from .symbolic.formula import formula

        return formula(self, var=var, digits=digits, simplify=simplify, allow_numeric=allow_numeric)

    # ------------------------------------------------------------------ picture
    def plot(
        self,
        folder=None,
        beta=3,
        metric="backward",
        scale=0.5,
        tick=False,
        sample=False,
        in_vars=None,
        out_vars=None,
        title=None,
        varscale=1.0,
        mask=False,
    ):
        """pykan's picture of the network as one matplotlib Figure (returned; a notebook shows it
        once). Every edge's function in its own box (drawn along its line for layers with
        thousands of edges), opacity ``tanh(beta * A)`` with ``A`` the edge's importance by
        ``metric``, symbolic edges in colour and named, removed edges not drawn; ``in_vars`` /
        ``out_vars`` (str or sympy), ``title``, ``scale`` and ``varscale`` as pykan's; ``tick``
        writes each box's x and y ranges, ``sample`` draws the data points.

        Curves span the inputs of the last forward pass (``cache_data``), else the training
        inputs, else each input's grid. Differences from pykan 0.2.8: nothing is written to disk
        unless ``folder`` is given (then the picture goes to ``folder/kan.png``; pykan writes a
        PNG per edge to ``./figures``); ``metric="backward"`` uses the model's edge scores (what
        :meth:`prune` uses) rather than pykan's backward attribution; ``mask=True`` (an argument
        of older pykans) leaves out hidden nodes with no edge left in or out. Needs matplotlib.
        See :func:`kan_widget.plot.plot` and :mod:`kan_widget.layout`."""
        from .plot import plot

        return plot(
            self,
            folder=folder,
            beta=beta,
            metric=metric,
            scale=scale,
            tick=tick,
            sample=sample,
            in_vars=in_vars,
            out_vars=out_vars,
            title=title,
            varscale=varscale,
            mask=mask,
        )


class SymbolicView:
    """pykan's ``Symbolic_KANLayer`` view of a :class:`KANLayer` (``model.symbolic_fun[l]``):
    ``mask``, ``funs_name`` and ``affine`` in pykan's ``[out, in]`` layout, read from the layer
    (``affine`` is a view of its parameters; change edges with ``fix_symbolic``)."""

    def __init__(self, layer: KANLayer):
        self._layer = layer

    @property
    def in_dim(self) -> int:
        return self._layer.in_dim

    @property
    def out_dim(self) -> int:
        return self._layer.out_dim

    @property
    def mask(self) -> torch.Tensor:
        layer = self._layer
        return (layer.sym_mask & layer.mask.bool()).t().to(layer.coef.dtype)

    @property
    def funs_name(self) -> list[list[str]]:
        names = self._layer.sym_names
        return [[names.get((i, j), "0") for i in range(self.in_dim)] for j in range(self.out_dim)]

    @property
    def affine(self) -> torch.Tensor:
        return self._layer.sym_params.permute(1, 0, 2)

    def __repr__(self) -> str:
        return f"Symbolic_KANLayer view (in_dim={self.in_dim}, out_dim={self.out_dim})"


def _connection_cost(scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sum score[i, j] * |a_i - b_j|`` over layers, nodes at ``(k + 1/2) / n`` on [0, 1]."""
    total = torch.zeros(())
    for t in scores:
        a = (torch.arange(t.shape[0], device=t.device) + 0.5) / t.shape[0]
        b = (torch.arange(t.shape[1], device=t.device) + 0.5) / t.shape[1]
        total = total + ((a[:, None] - b[None, :]).abs() * t).sum().cpu()
    return total


def _ckpt_file(path) -> str:
    p = os.fspath(path)
    return p if p.endswith(".safetensors") else p + ".safetensors"
