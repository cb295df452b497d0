"""L-BFGS with a configurable curvature tolerance.

``torch.optim.LBFGS`` drops a curvature pair whenever ``y.s <= 1e-10``, a constant it does not let
callers change. Near convergence on fine grids every pair falls below it, the method degrades to
scaled gradient descent and training stalls (train RMSE 1e-4 instead of 2e-6 at G=50; pykan keeps
pairs down to 1e-32). This is the textbook two-loop recursion with torch's strong-Wolfe line
search (copied into ``wolfe.py``).

It is a plain class with the parts of the ``torch.optim.Optimizer`` interface the trainer uses
(``param_groups``, ``state``, ``zero_grad``, ``step``): constructing a process's first ``Optimizer``
imports ``torch._dynamo``, 1.2-1.8 s here (measured), which a notebook's first Train click would
wait for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .wolfe import scalar, strong_wolfe

__all__ = ["LBFGS"]


class LBFGS:
    def __init__(
        self,
        params,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        tolerance_ys: float = 1e-32,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ):
        """pykan 0.2.8's ``kan.LBFGS.LBFGS`` arguments and defaults (``from kan.LBFGS import
        LBFGS`` in its tutorials): ``line_search_fn="strong_wolfe"`` searches each step's
        length, ``None`` takes fixed steps of ``lr``; ``max_eval`` defaults to
        ``max_iter * 5 // 4``. (The trainer passes pykan's ``fit`` settings: strong Wolfe,
        tolerances 1e-32, history 10.)"""
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                "line_search_fn must be None or 'strong_wolfe' (as pykan's); "
                f"got {line_search_fn!r}"
            )
        if isinstance(params, torch.Tensor):
            raise TypeError("params must be an iterable of tensors, e.g. model.parameters()")
        self._params = list(params)
        if self._params and isinstance(self._params[0], dict):  # one parameter group, as pykan
            if len(self._params) != 1:
                raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
            self._params = list(self._params[0]["params"])
        self.param_groups: list[dict[str, Any]] = [
            {
                "params": self._params,
                "lr": lr,
                "max_iter": max_iter,
                "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
                "history_size": history_size,
                "tolerance_grad": tolerance_grad,
                "tolerance_change": tolerance_change,
                "tolerance_ys": tolerance_ys,
                "line_search_fn": line_search_fn,
            }
        ]
        self.state: dict = {}
        self.final: tuple[torch.Tensor, torch.Tensor] | None = None
        self._sizes = [p.numel() for p in self._params]
        self._zero_grads: dict[tuple, torch.Tensor] = {}
        # per-step vectors' storage and views, made once per parameter shapes (small models
        # are bound by the number of operations; a view per parameter is one each): see _bufs
        self._buf_key: tuple | None = None
        self._grad_flat = self._dir = torch.empty(0)
        self._grad_views: list[torch.Tensor] = []
        self._dir_views: list[torch.Tensor] = []
        self._x0: list[torch.Tensor] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.zero_()

    def _bufs(self) -> bool:
        """Make the flat gradient buffer, the direction buffer and the step's start point
        (with their per-parameter views) for the parameters' current shapes; ``False`` when
        the parameters do not share one dtype and device (then the plain path runs)."""
        ps = self._params
        key = tuple((p.shape, p.dtype, p.device) for p in ps)
        if key == self._buf_key:
            return True
        if not ps or len({(p.dtype, p.device) for p in ps}) != 1:
            return False
        sizes = [p.numel() for p in ps]
        self._sizes = sizes
        self._grad_flat = ps[0].new_empty(sum(sizes))
        self._dir = ps[0].new_empty(sum(sizes))
        self._grad_views = [v.view_as(p) for v, p in zip(self._grad_flat.split(sizes), ps)]
        self._dir_views = [v.view_as(p) for v, p in zip(self._dir.split(sizes), ps)]
        self._x0 = [torch.empty_like(p) for p in ps]
        self._buf_key = key
        return True

    def _flat_grad(self) -> torch.Tensor:
        """The parameters' gradients as one new vector: copied into the cached views of one
        buffer in one op, then cloned (callers keep it), instead of a reshape per parameter
        and a cat; the same values."""
        grads = [p.grad if p.grad is not None else self._zeros(p) for p in self._params]
        if not self._bufs():
            return torch.cat([g.reshape(-1) for g in grads])
        torch._foreach_copy_(self._grad_views, grads)
        return self._grad_flat.clone()

    def _zeros(self, p: torch.Tensor) -> torch.Tensor:
        """Zeros standing for a parameter without a gradient (a layer's ``sym_params`` while no
        edge is symbolic), made once per shape: only read by ``torch.cat``, which copies them;
        a fresh ``zeros_like`` was two ops of every evaluation of a [2,5,1] model."""
        key = (p.shape, p.dtype, p.device)
        z = self._zero_grads.get(key)
        if z is None:
            z = self._zero_grads[key] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        return z

    def _add(self, t: float, d: torch.Tensor) -> None:
        if d is self._dir:  # the direction buffer: its views are made once
            views = self._dir_views
        else:
            views = [v.view_as(p) for v, p in zip(d.split(self._sizes), self._params)]
        torch._foreach_add_(self._params, views, alpha=t)

    def _set(self, values: list[torch.Tensor]) -> None:
        torch._foreach_copy_(self._params, values)

    @torch.no_grad()
    def step(self, closure, start: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Up to ``max_iter`` iterations; returns the loss at the starting point.

        ``start``: ``(loss, flat gradient)`` at the current parameters when the caller already
        has them (the trainer passes :attr:`final` of the previous step while neither the model
        nor the objective changed); the step then skips its first evaluation, which would give
        the same numbers. :attr:`final` is set to the loss and gradient where the step ends.
        """
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        tol_ys, history = group["tolerance_ys"], group["history_size"]
        closure = torch.enable_grad()(closure)
        state = self.state
        state.setdefault("n_iter", 0)

        if start is None:
            orig_loss = closure()
            g = self._flat_grad()
        else:
            orig_loss, g = start
        loss = float(orig_loss)
        evals = 1
        if _max_abs(g) <= tol_grad:
            self.final = (orig_loss, g)
            return orig_loss
        d, t = state.get("d"), state.get("t")
        dirs, stps, ro = state.get("dirs", []), state.get("stps", []), state.get("ro", [])
        h_diag, prev_g = state.get("h_diag", 1.0), state.get("prev_g")

        for n_iter in range(1, max_iter + 1):
            state["n_iter"] += 1
            # the direction lives in one buffer (see _add) while the parameters keep their
            # shapes; everything reading the previous direction (s = d * t) runs before the
            # new one is written
            buffered = self._bufs()
            if state["n_iter"] == 1:
                d = torch.neg(g, out=self._dir) if buffered else -g
                dirs, stps, ro, h_diag = [], [], [], 1.0
            else:
                assert prev_g is not None and d is not None and t is not None  # from iteration 1
                y, s = g - prev_g, d * t
                ys = float(y.dot(s))
                if ys > tol_ys:
                    if len(dirs) == history:
                        dirs.pop(0), stps.pop(0), ro.pop(0)
                    dirs.append(y)
                    stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y.dot(y))
                # two-loop recursion: d = -H g (q and d are this iteration's own: updated in
                # place, the same arithmetic without a new vector per history entry)
                q = -g
                alpha = [0.0] * len(dirs)
                for i in range(len(dirs) - 1, -1, -1):
                    alpha[i] = float(stps[i].dot(q)) * ro[i]
                    q.sub_(alpha[i] * dirs[i])
                d = torch.mul(q, h_diag, out=self._dir) if buffered else q * h_diag
                for i in range(len(dirs)):
                    beta = float(dirs[i].dot(d)) * ro[i]
                    d.add_(stps[i] * (alpha[i] - beta))
            # g is never written to (every evaluation's gradient is a new vector): no copy
            prev_g, prev_loss = g, loss
            t = min(1.0, 1.0 / float(g.abs().sum())) * lr if state["n_iter"] == 1 else lr
            # a tensor in the parameters' dtype, as torch and pykan pass it: the line search's
            # sufficient-decrease test then runs at the loss's own resolution, so in float32 a
            # step whose predicted decrease is below the loss's last bit is accepted when the
            # loss does not rise (pykan's fit goes on along flat directions); in float64
            # arithmetic that test rejects every step there and the search returns t = 0
            gtd_t = scalar(g.dot(d))
            gtd = float(gtd_t)
            if gtd > -tol_change:
                break
            # max |d * t| (a stopping test) is max |d| * |t| rounded once: rounding is monotone
            # and symmetric, so the largest rounded product is the rounded largest product
            d_max = _max_abs(d)
            if group["line_search_fn"] is None:
                # fixed steps of lr (torch's and pykan's LBFGS without a line search)
                self._add(t, d)
                if n_iter == max_iter:  # the step's end is not evaluated: nothing to carry
                    state.update(d=d, t=t, dirs=dirs, stps=stps, ro=ro, h_diag=h_diag)
                    state["prev_g"] = prev_g
                    self.final = None
                    return orig_loss
                loss, g = float(closure()), self._flat_grad()
                evals += 1
                if (
                    evals >= max_eval
                    or _max_abs(g) <= tol_grad
                    or d_max * abs(t) <= tol_change
                    or abs(loss - prev_loss) < tol_change
                ):
                    break
                continue
            if buffered:  # the start point of this line search only: one buffer reused
                x0 = self._x0
                torch._foreach_copy_(x0, self._params)
            else:
                x0 = [p.clone() for p in self._params]
            at = [0.0]  # the parameters hold x0 + at[0] * d (0: x0 itself)

            def obj(x, step, direction, at=at):
                step = float(step)  # the search's trial steps are tensors (gtd_t's dtype)
                if at[0] != 0.0:
                    self._set(x)
                self._add(step, direction)
                at[0] = step
                return float(closure()), self._flat_grad()

            with np.errstate(all="ignore"):  # as torch's 0-d tensors: inf and nan, no warning
                loss, g, t, ls_evals = strong_wolfe(obj, x0, t, d, loss, g, gtd_t, d_norm=d_max)
            t = float(t)
            if at[0] != t:  # the accepted step is usually the last one evaluated
                self._set(x0)
                self._add(t, d)
            evals += ls_evals
            if (
                n_iter == max_iter
                or evals >= max_eval
                or _max_abs(g) <= tol_grad
                or d_max * abs(t) <= tol_change
                or abs(loss - prev_loss) < tol_change
            ):
                break
        state.update(d=d, t=t, dirs=dirs, stps=stps, ro=ro, h_diag=h_diag, prev_g=prev_g)
        # the line search's values are where the parameters now are (float of a tensor: exact)
        self.final = (torch.tensor(loss, dtype=g.dtype, device=g.device), g)
        return orig_loss


def _max_abs(v: torch.Tensor):
    """``v.abs().max()`` (nan if any entry is) as a scalar of ``v``'s dtype (wolfe.scalar): one
    reduction instead of two operations, and comparisons with a Python tolerance that need no
    tensor operation (the tolerance rounded to ``v``'s dtype, as torch compares)."""
    return scalar(torch.linalg.vector_norm(v, float("inf")))
