"""pykan 0.2.8's ``kan.utils`` names that its tutorials import, with pykan's arguments and return
shapes: ``from kan_widget.utils import create_dataset, ex_round, ...`` works as ``from kan.utils
import ...`` does.

Differences (docs/PYKAN_DIFFERENCES.md): nothing reseeds the global RNGs
(``create_dataset_from_data`` takes a ``seed``), and ``add_symbolic`` adds to our library, whose
torch functions are already safe near singularities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy
import torch

from .data import create_dataset, create_dataset_from_data
from .symbolic import formula as _formula
from .symbolic import library as _library
from .symbolic.library import SYMBOLIC_LIB

__all__ = [
    "SYMBOLIC_LIB",
    "add_symbolic",
    "augment_input",
    "batch_hessian",
    "batch_jacobian",
    "create_dataset",
    "create_dataset_from_data",
    "ex_round",
    "fit_params",
    "get_derivative",
    "model2param",
    "sparse_mask",
]


def ex_round(ex1: sympy.Expr, n_digit: int) -> sympy.Expr:
    """Round every number in the sympy expression ``ex1`` to ``n_digit`` decimals (pykan's)."""
    return _formula.ex_round(ex1, n_digit)


def add_symbolic(name: str, fun: Callable, c: float = 1, fun_singularity=None) -> None:
    """Add (or replace) library function ``name`` computing ``fun`` (a torch function), of
    complexity ``c``, as pykan's; formulas show it as an undefined sympy function ``name(x)``.
    ``fun_singularity`` (pykan's singularity-avoiding form) is checked and not needed: ``fun``
    is used as given. For a sympy form and fitting hints, use
    :func:`kan_widget.symbolic.library.add_symbolic`."""
    if fun_singularity is not None and not callable(fun_singularity):
        raise TypeError("fun_singularity must be callable (x, y_th) -> (..., values), or None")
    _library.add_symbolic(name, fun, None, c, overwrite=True)


def sparse_mask(in_dim: int, out_dim: int) -> torch.Tensor:
    """pykan's sparse initial mask ``[in_dim, out_dim]``: nodes placed evenly on [0, 1] in both
    layers, each connected to its nearest node of the other layer."""
    in_coord = torch.arange(in_dim) / in_dim + 1 / (2 * in_dim)
    out_coord = torch.arange(out_dim) / out_dim + 1 / (2 * out_dim)
    dist = (out_coord[:, None] - in_coord[None, :]).abs()
    mask = torch.zeros(in_dim, out_dim)
    mask[torch.arange(in_dim), dist.argmin(0)] = 1.0
    mask[dist.argmin(1), torch.arange(out_dim)] = 1.0
    return mask


def augment_input(orig_vars: Sequence[sympy.Symbol], aux_vars: Sequence[sympy.Expr], x):
    """Prepend auxiliary columns ``aux_vars`` (sympy expressions of ``orig_vars``) to ``x``: a
    tensor ``[N, len(orig_vars)]`` gives ``[N, len(aux_vars) + len(orig_vars)]``; a dataset dict
    has its ``train_input`` and ``test_input`` replaced (in place, and returned), as pykan's."""
    if isinstance(x, dict):
        for key in ("train_input", "test_input"):
            x[key] = augment_input(orig_vars, aux_vars, x[key])
        return x
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor or a dataset dict; got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != len(orig_vars):
        raise ValueError(
            f"x must be [N, {len(orig_vars)}] (one column per orig_var); got {tuple(x.shape)}"
        )
    cols = [x[:, k].detach().cpu().numpy() for k in range(len(orig_vars))]
    aux = []
    for expr in aux_vars:
        fn = sympy.lambdify(list(orig_vars), expr, "numpy")
        vals = np.broadcast_to(np.asarray(fn(*cols), dtype=float), (x.shape[0],))
        aux.append(torch.as_tensor(vals.copy(), dtype=x.dtype, device=x.device)[:, None])
    return torch.cat([*aux, x], dim=1)


def fit_params(
    x,
    y,
    fun,
    a_range=(-10, 10),
    b_range=(-10, 10),
    grid_number: int = 101,
    iteration: int = 3,
    verbose: bool = True,
    device="cpu",
):
    """Fit ``y ≈ c*fun(a*x + b) + d`` (pykan's): returns ``(tensor([a, b, c, d]), r2)``.

    ``fun`` is a torch function or a library name. Our batched fit
    (:mod:`kan_widget.symbolic.fit`) searches ``a`` and ``b`` for every function kind, so
    ``a_range``, ``b_range``, ``grid_number`` and ``iteration`` are accepted for pykan's
    signature and not needed."""
    from .symbolic.fit import fit_functions

    xt = torch.as_tensor(x, dtype=torch.float64).detach().reshape(1, -1)
    yt = torch.as_tensor(y, dtype=torch.float64).detach().reshape(1, -1)
    if xt.shape != yt.shape:
        raise ValueError(f"x and y must have the same length; got {xt.shape[1]} and {yt.shape[1]}")
    if isinstance(fun, str):
        entry, temp = _library.get_function(fun), None
    else:
        if not callable(fun):
            raise TypeError("fun must be a torch function (tensor -> tensor) or a library name")
        known = [e for e in SYMBOLIC_LIB.values() if e.torch_fn is fun]
        if known:
            entry, temp = known[0], None
        else:
            temp = f"__fit_params_{id(fun)}"
            entry = _library.add_symbolic(temp, fun, overwrite=True)
    try:
        res = fit_functions(xt, yt, [entry])
    finally:
        if temp is not None:
            SYMBOLIC_LIB.pop(temp, None)
    params, r2 = res.params[0, 0].to(dtype=torch.float32), res.r2[0, 0]
    if verbose:
        print(f"r2 is {float(r2)}")
    return params.to(device), r2


def batch_jacobian(func, x: torch.Tensor, create_graph: bool = False, mode: str = "scalar"):
    """d func(x) / dx row by row (pykan's): ``mode='scalar'`` for a one-output ``func`` gives
    ``[B, n_in]``; ``'vector'`` gives ``[B, n_out, n_in]``."""
    if mode not in ("scalar", "vector"):
        raise ValueError(f"mode must be 'scalar' or 'vector'; got {mode!r}")

    def summed(x):
        return func(x).sum(dim=0)

    jac = torch.autograd.functional.jacobian(summed, x, create_graph=create_graph)
    return jac[0] if mode == "scalar" else jac.permute(1, 0, 2)


def batch_hessian(model, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Second derivatives of a one-output ``model`` row by row, ``[B, n_in, n_in]`` (pykan's)."""

    def summed_jac(x):
        return batch_jacobian(model, x, create_graph=True).sum(dim=0)

    return torch.autograd.functional.jacobian(summed_jac, x, create_graph=create_graph).permute(
        1, 0, 2
    )


def model2param(model: torch.nn.Module) -> torch.Tensor:
    """Every parameter of ``model`` flattened into one vector, in ``model.parameters()`` order
    (pykan's). Our KAN's parameters are not pykan's (see docs/PYKAN_DIFFERENCES.md), so the
    vector's length differs from a pykan model of the same width."""
    params = [p.reshape(-1) for p in model.parameters()]
    if not params:
        raise ValueError("model has no parameters")
    return torch.cat(params)


def get_derivative(
    model,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    derivative: str = "hessian",
    loss_mode: str = "pred",
    reg_metric: str = "w",
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 0.0,
) -> torch.Tensor:
    """The Jacobian ``[1, P]`` or Hessian ``[1, P, P]`` of the loss in the flattened parameters
    (:func:`model2param`, ``P`` of them), as pykan's. ``loss_mode='pred'``: ``mean((model(x) -
    y)^2)``; ``'reg'``: the sparsity penalty with metric ``reg_metric`` (a KAN's
    ``edge_forward_spline_n`` / ``_u`` / ``edge_mean_abs``); ``'all'``: ``pred + lamb * reg``.
    The model is not changed: the loss is evaluated with ``torch.func.functional_call``."""
    from torch.func import functional_call

    if derivative not in ("hessian", "jacobian"):
        raise ValueError(f"derivative must be 'hessian' or 'jacobian'; got {derivative!r}")
    if loss_mode not in ("pred", "reg", "all"):
        raise ValueError(f"loss_mode must be 'pred', 'reg' or 'all'; got {loss_mode!r}")
    if loss_mode != "pred":
        from .regularizer import REG_METRICS

        if reg_metric not in REG_METRICS or not hasattr(model, "run_stats"):
            raise ValueError(
                f"loss_mode={loss_mode!r} needs a KAN and reg_metric one of {REG_METRICS}; got "
                f"reg_metric={reg_metric!r} (use loss_mode='pred' for the prediction loss only)"
            )
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def loss_of(p: torch.Tensor) -> torch.Tensor:
        params = {n: t.reshape(s) for n, t, s in zip(names, p[0].split(sizes), shapes)}
        total = p.new_zeros(1, 1)
        if loss_mode in ("pred", "all"):
            pred = functional_call(model, params, (inputs,))
            total = total + torch.mean((pred - labels) ** 2)
        if loss_mode in ("reg", "all"):
            from .regularizer import edge_penalty

            wrapped = {f"model.{n}": t for n, t in params.items()}
            stats = functional_call(_Stats(model, reg_metric), wrapped, (inputs,))
            reg = edge_penalty([s.value for s in stats], reg_metric, lamb_l1, lamb_entropy)
            total = total + (reg if loss_mode == "reg" else lamb * reg)
        return total

    p = model2param(model).detach()[None, :]
    if derivative == "hessian":
        return batch_hessian(loss_of, p)
    return batch_jacobian(loss_of, p)


class _Stats(torch.nn.Module):
    """``model``'s per-edge magnitudes as a module's forward (for ``functional_call``)."""

    def __init__(self, model, metric: str):
        super().__init__()
        self.model = model
        self.metric = metric

    def forward(self, x):
        return self.model.run_stats(self.model._input(x), self.metric)[1]
