"""pykan 0.2.8's ``kan.MLP``: a plain multi-layer perceptron with the KAN's training surface, the
baseline its tutorials compare against (``from kan.MLP import MLP``).

Same constructor, the same initial weights for the same ``seed`` (``nn.Linear``'s initialisation
drawn after ``torch.manual_seed(seed)``), the same ``fit`` loop, penalty and result lists. One
difference (docs/PYKAN_DIFFERENCES.md): the global random number generators are left as they
were, both at construction (the weights are drawn inside ``torch.random.fork_rng``) and in
``fit`` (batches are drawn from a local generator, seeded by ``fit(seed=...)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .lbfgs import LBFGS
from .threads import OneThread
from .validation import is_int

__all__ = ["MLP"]

_REG_METRICS = ("w", "act", "fa", "a")


class MLP(nn.Module):
    """``MLP(width=[2, 20, 1], act='silu', save_act=True, seed=0, device='cpu')``: linear layers
    with SiLU between them (none after the last). As pykan's, a forward with ``save_act`` keeps
    ``acts`` (every layer's input), ``acts_scale`` (the std of every hidden and output node)
    and ``wa_forward`` (weights times the std of their inputs, ``[out, in]``)."""

    # an nn.ModuleList at run time; torch's stubs type its items as Module
    linears: Sequence[nn.Linear]

    def __init__(
        self,
        width: Sequence[int],
        act: str = "silu",
        save_act: bool = True,
        seed: int = 0,
        device="cpu",
    ):
        super().__init__()
        if (
            not isinstance(width, Sequence)
            or len(width) < 2
            or not all(is_int(w) and int(w) > 0 for w in width)
        ):
            raise ValueError(f"width must be a list of at least two ints > 0; got {width!r}")
        if act != "silu":
            raise ValueError(f"act must be 'silu' (pykan's MLP has only SiLU); got {act!r}")
        if not is_int(seed):
            raise ValueError(f"seed must be an int; got {seed!r}")
        self.width = [int(w) for w in width]
        self.depth = len(self.width) - 1
        # pykan reseeds the global generator here; the same draws, in a forked RNG state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.linears = nn.ModuleList(  # type: ignore[assignment]
                nn.Linear(self.width[i], self.width[i + 1]) for i in range(self.depth)
            )
        self.act_fun = nn.SiLU()
        self.save_act = bool(save_act)
        self.acts: list[torch.Tensor] | None = None
        self.acts_scale: list[torch.Tensor] = []
        self.wa_forward: list[torch.Tensor] = []
        self.cache_data: torch.Tensor | None = None
        self.device = torch.device(device)
        self.to(device)

    def to(self, *args, **kwargs):
        super().to(*args, **kwargs)
        self.device = self.linears[0].weight.device
        return self

    @property
    def w(self) -> list[torch.Tensor]:
        """Every layer's weight matrix ``[out, in]``."""
        return [lin.weight for lin in self.linears]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.width[0]:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor [batch, {self.width[0]}]; got {shape}")
        self.cache_data = x
        acts: list[torch.Tensor] = []
        if self.save_act:
            self.acts, self.acts_scale, self.wa_forward = acts, [], []
        for i, lin in enumerate(self.linears):
            if self.save_act:
                scale = torch.std(x, dim=0)
                acts.append(x.clone())
                if i > 0:
                    self.acts_scale.append(scale)
                self.wa_forward.append(scale[None, :] * lin.weight)
            x = lin(x)
            if i < self.depth - 1:
                x = self.act_fun(x)
            elif self.save_act:
                self.acts_scale.append(torch.std(x, dim=0))
        return x

    def get_act(self, x=None) -> None:
        """A forward on ``x`` (a tensor or a dataset dict; default the last inputs) that keeps
        the activations whatever ``save_act`` says."""
        if isinstance(x, dict):
            x = x["train_input"]
        if x is None:
            if self.cache_data is None:
                raise ValueError("get_act needs inputs: pass x (or a dataset), or run model(x)")
            x = self.cache_data
        old, self.save_act = self.save_act, True
        try:
            self.forward(x)
        finally:
            self.save_act = old

    def attribute(self) -> None:
        """pykan's backward attribution: ``edge_scores[l]`` ``[out, in]`` and ``node_scores``,
        from the output nodes (score 1) back to the inputs; sets ``wa_backward``."""
        if not self.acts:
            self.get_act()
        node = torch.ones(self.width[-1], device=self.device)
        nodes, edges = [node], []
        for l in range(self.depth, 0, -1):
            edge = self.wa_forward[l - 1].abs() * (node / (self.acts_scale[l - 1] + 1e-4))[:, None]
            edges.append(edge)
            node = edge.sum(dim=0) / math.sqrt(self.width[l - 1])
            nodes.append(node)
        self.node_scores = nodes[::-1]
        self.edge_scores = edges[::-1]
        self.wa_backward = self.edge_scores

    def reg(self, reg_metric: str, lamb_l1: float, lamb_entropy: float) -> torch.Tensor:
        """pykan's penalty: L1 plus entropy of ``|w|`` (``'w'``), of ``wa_forward`` (``'act'``),
        of the attribution (``'fa'``) or of the node scales (``'a'``)."""
        if reg_metric not in _REG_METRICS:
            raise ValueError(f"reg_metric must be one of {_REG_METRICS}; got {reg_metric!r}")
        if reg_metric != "w" and not self.acts:
            raise ValueError(f"reg_metric={reg_metric!r} needs activations: run get_act(x) first")
        values = {
            "w": lambda: self.w,
            "act": lambda: self.wa_forward,
            "fa": lambda: self.wa_backward,
            "a": lambda: self.acts_scale,
        }[reg_metric]()
        total = torch.zeros((), device=self.device)
        for v in values:
            v = v.abs()
            if v.dim() == 2:
                p_row = v / (v.sum(dim=1, keepdim=True) + 1)
                p_col = v / (v.sum(dim=0, keepdim=True) + 1)
                ent = -(p_row * torch.log2(p_row + 1e-4)).sum(dim=1).mean()
                ent = ent - (p_col * torch.log2(p_col + 1e-4)).sum(dim=0).mean()
            else:
                p = v / (v.sum() + 1)
                ent = -(p * torch.log2(p + 1e-4)).sum()
            total = total + lamb_l1 * v.sum() + lamb_entropy * ent
        return total

    def get_reg(self, reg_metric: str, lamb_l1: float, lamb_entropy: float) -> torch.Tensor:
        return self.reg(reg_metric, lamb_l1, lamb_entropy)

    def fit(
        self,
        dataset: dict,
        opt: str = "LBFGS",
        steps: int = 100,
        log: int = 1,
        lamb: float = 0.0,
        lamb_l1: float = 1.0,
        lamb_entropy: float = 2.0,
        loss_fn: Callable | None = None,
        lr: float = 1.0,
        batch: int = -1,
        metrics: Sequence[Callable] | None = None,
        in_vars=None,
        out_vars=None,
        beta: float = 3,
        device="cpu",
        reg_metric: str = "w",
        display_metrics=None,
        seed: int | None = 0,
    ) -> dict[str, Any]:
        """pykan's training loop: ``opt`` ``'LBFGS'`` (strong Wolfe) or ``'Adam'``, loss
        ``loss_fn`` (default mean squared error) plus ``lamb *`` :meth:`reg`. Returns
        ``{'train_loss', 'test_loss', 'reg', <metric names>}``, one value per step (losses as
        RMSE, np.float64 as pykan's 0-d arrays). ``in_vars``, ``out_vars``, ``beta``, ``device``
        and ``display_metrics`` are accepted for pykan's signature. Batches are drawn from a
        generator seeded by ``seed`` (ours; pykan draws from the global numpy RNG)."""
        if opt not in ("LBFGS", "Adam"):
            raise ValueError(f"opt must be 'LBFGS' or 'Adam'; got {opt!r}")
        if not is_int(steps) or int(steps) < 0:
            raise ValueError(f"steps must be an int >= 0; got {steps!r}")
        if reg_metric not in _REG_METRICS:
            raise ValueError(f"reg_metric must be one of {_REG_METRICS}; got {reg_metric!r}")
        for key in ("train_input", "train_label", "test_input", "test_label"):
            if key not in dataset:
                raise KeyError(f"dataset needs {key!r}")
        mse = lambda p, y: torch.mean((p - y) ** 2)  # noqa: E731
        loss_of = loss_fn if loss_fn is not None else mse
        old_save_act = self.save_act
        if lamb == 0.0:
            self.save_act = False  # as pykan's: no activations kept while unpenalised
        if opt == "Adam":
            optimizer: torch.optim.Optimizer | LBFGS = torch.optim.Adam(self.parameters(), lr=lr)
        else:
            optimizer = LBFGS(
                self.parameters(),
                lr=lr,
                history_size=10,
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-32,
                tolerance_change=1e-32,
                tolerance_ys=1e-32,
            )
        metrics = list(metrics or [])
        results: dict[str, Any] = {"train_loss": [], "test_loss": [], "reg": []}
        for f in metrics:
            results[f.__name__] = []
        x_tr, y_tr = dataset["train_input"], dataset["train_label"]
        x_te, y_te = dataset["test_input"], dataset["test_label"]
        n_tr, n_te = x_tr.shape[0], x_te.shape[0]
        full = batch == -1 or batch > n_tr
        bs, bs_te = (n_tr, n_te) if full else (batch, batch)
        rng = np.random.default_rng(seed)
        last: dict[str, torch.Tensor] = {}

        def objective(idx) -> torch.Tensor:
            train_loss = loss_of(self.forward(x_tr[idx].to(self.device)), y_tr[idx].to(self.device))
            if self.save_act:
                if reg_metric == "fa":
                    self.attribute()
                reg = self.get_reg(reg_metric, lamb_l1, lamb_entropy)
            else:
                reg = torch.zeros((), device=self.device)
            last["train"], last["reg"] = train_loss.detach(), reg.detach()
            return train_loss + lamb * reg

        for step in range(int(steps)):
            if step == steps - 1 and old_save_act:
                self.save_act = True
            idx = rng.choice(n_tr, bs, replace=False)
            idx_te = rng.choice(n_te, min(bs_te, n_te), replace=False)
            # one thread per step, as KAN's Trainer (kan_widget/threads.py says why); the
            # user's metrics below run on their own thread count
            with OneThread():
                if isinstance(optimizer, LBFGS):

                    def closure(idx=idx) -> torch.Tensor:
                        optimizer.zero_grad()
                        loss = objective(idx)
                        loss.backward()
                        return loss

                    optimizer.step(closure)
                else:
                    loss = objective(idx)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    test_loss = loss_of(self.forward(x_te[idx_te].to(self.device)), y_te[idx_te])
            for f in metrics:
                v = f()
                results[f.__name__].append(float(v.item() if hasattr(v, "item") else v))
            results["train_loss"].append(np.float64(math.sqrt(max(float(last["train"]), 0.0))))
            results["test_loss"].append(np.float64(math.sqrt(max(float(test_loss), 0.0))))
            results["reg"].append(np.float64(float(last["reg"])))
        self.save_act = old_save_act
        return results

    # ------------------------------------------------------------------ picture and layout
    def plot(self, beta: float = 3, scale: float = 1.0, metric: str = "w"):
        """pykan's picture: nodes as dots, every weight a line (blue positive, red negative)
        with opacity ``tanh(beta * |value|)``; ``metric`` ``'w'`` (weights), ``'act'``
        (``wa_forward``) or ``'fa'`` (attribution). Returns the matplotlib Figure."""
        import matplotlib.pyplot as plt
        from matplotlib.collections import LineCollection

        if metric not in ("w", "act", "fa"):
            raise ValueError(f"metric must be 'w', 'act' or 'fa'; got {metric!r}")
        if metric == "fa":
            self.attribute()
        elif metric == "act" and not self.acts:
            self.get_act()
        y0 = 0.5
        fig, ax = plt.subplots(figsize=(3 * scale, 3 * y0 * self.depth * scale))
        spacing = 1 / max(self.width)
        for j, n in enumerate(self.width):
            xs = (np.arange(n) + 0.5) / n
            ax.scatter(xs, np.full(n, j * y0), s=spacing**2 * 5000 * scale**2, color="black")
        for l in range(self.depth):
            p = (
                {"w": self.w, "act": self.wa_forward, "fa": getattr(self, "wa_backward", [])}[
                    metric
                ][l]
                .detach()
                .cpu()
                .numpy()
            )
            n_out, n_in = p.shape
            xo, xi = np.meshgrid(
                (np.arange(n_out) + 0.5) / n_out, (np.arange(n_in) + 0.5) / n_in, indexing="ij"
            )
            segs = np.stack(
                [
                    np.stack([xo, np.full_like(xo, y0 * (l + 1))], -1),
                    np.stack([xi, np.full_like(xi, y0 * l)], -1),
                ],
                axis=2,
            ).reshape(-1, 2, 2)
            colors = np.where(p.reshape(-1, 1) > 0, [[0, 0, 1.0]], [[1.0, 0, 0]])
            alpha = np.tanh(beta * np.abs(p.reshape(-1, 1)))
            ax.add_collection(
                LineCollection(
                    list(segs), colors=np.hstack([colors, alpha]), linewidths=0.5 * scale
                )
            )
        ax.set_ylim(-0.1 * y0, y0 * self.depth + 0.1 * y0)
        ax.set_xlim(-0.02, 1.02)
        ax.axis("off")
        return fig

    @property
    def connection_cost(self) -> torch.Tensor:
        """``sum |w| * distance`` between the nodes a weight connects, nodes placed evenly on
        [0, 1] (pykan's, for :meth:`auto_swap`)."""
        with torch.no_grad():
            cc = torch.zeros((), device=self.device)
            for lin in self.linears:
                t = lin.weight.abs()
                a = (torch.arange(t.shape[0], device=self.device) + 0.5) / t.shape[0]
                b = (torch.arange(t.shape[1], device=self.device) + 0.5) / t.shape[1]
                cc = cc + ((a[:, None] - b[None, :]).abs() * t).sum()
        return cc

    def swap(self, l: int, i1: int, i2: int) -> None:
        """Exchange hidden nodes ``i1`` and ``i2`` of layer ``l`` (1..depth-1): the function
        computed is unchanged."""
        if not is_int(l) or not 1 <= l < self.depth:
            raise ValueError(f"l must be a hidden layer, 1..{self.depth - 1}; got {l!r}")
        with torch.no_grad():
            perm = torch.arange(self.width[l])
            perm[[i1, i2]] = perm[[i2, i1]]
            inc, out = self.linears[l - 1], self.linears[l]
            inc.weight.copy_(inc.weight[perm])
            inc.bias.copy_(inc.bias[perm])
            out.weight.copy_(out.weight[:, perm])

    def auto_swap_l(self, l: int) -> None:
        """Reorder layer ``l``'s nodes greedily to lower :attr:`connection_cost` (pykan's)."""
        n = self.width[l]
        for i in range(n):
            costs = []
            for j in range(n):
                self.swap(l, i, j)
                costs.append(float(self.connection_cost))
                self.swap(l, i, j)
            self.swap(l, i, int(np.argmin(costs)))

    def auto_swap(self) -> None:
        """:meth:`auto_swap_l` on every hidden layer."""
        for l in range(1, self.depth):
            self.auto_swap_l(l)
