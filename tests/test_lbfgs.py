"""Our L-BFGS: converges like the textbook method, and keeps tiny curvature pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kan_widget.lbfgs import LBFGS


def _ours(params, **kw):
    """The trainer's settings (pykan's fit): strong Wolfe, tolerances 1e-32, history 10."""
    settings = dict(
        line_search_fn="strong_wolfe", tolerance_grad=1e-32, tolerance_change=1e-32, history_size=10
    )
    return LBFGS(params, **{**settings, **kw})


def _minimise(opt_factory, x0, f, steps):
    x = torch.nn.Parameter(x0.clone())
    opt = opt_factory([x])

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    x = x.detach()
    return x, float(f(x))


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_rosenbrock_converges():
    x, loss = _minimise(
        lambda p: _ours(p, max_iter=20),
        torch.tensor([-1.5, 2.0], dtype=torch.float64),
        rosenbrock,
        10,
    )
    assert loss < 1e-16
    torch.testing.assert_close(x, torch.ones(2, dtype=torch.float64))


def test_keeps_curvature_pairs_torch_drops():
    # an ill-conditioned quadratic whose y.s products fall below torch's fixed 1e-10 cut-off
    a = torch.logspace(-12, -8, 20, dtype=torch.float64)

    def f(x):
        return 0.5 * (a * x * x).sum()

    x0 = torch.ones(20, dtype=torch.float64)
    _, ours = _minimise(lambda p: _ours(p, max_iter=20), x0, f, 5)
    _, theirs = _minimise(
        lambda p: torch.optim.LBFGS(
            p,
            max_iter=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-32,
            tolerance_change=1e-32,
        ),
        x0,
        f,
        5,
    )
    assert ours < theirs / 10


def test_same_iterates_as_torch_lbfgs_when_pairs_are_kept():
    """On a well-conditioned problem (every y.s far above torch's 1e-10) ours is the same method
    as torch.optim.LBFGS with the strong-Wolfe search: the iterates agree to rounding."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(30, 30, dtype=torch.float64, generator=gen)
    q = a @ a.T / 30 + torch.eye(30, dtype=torch.float64)
    b = torch.randn(30, dtype=torch.float64, generator=gen)

    def f(x):
        return 0.5 * x @ q @ x - b @ x + 0.1 * (x**4).sum()

    # two parameter tensors, so the flat vector is split back correctly
    def run(factory):
        xs = [
            torch.nn.Parameter(torch.zeros(12, dtype=torch.float64)),
            torch.nn.Parameter(torch.zeros(3, 6, dtype=torch.float64)),
        ]
        opt = factory(xs)
        path = []

        def closure():
            opt.zero_grad()
            loss = f(torch.cat([xs[0], xs[1].reshape(-1)]))
            loss.backward()
            return loss

        for _ in range(2):  # 10 iterations: the 3-pair history wraps, y.s stays far above 1e-10
            opt.step(closure)
            path.append(torch.cat([xs[0].detach(), xs[1].detach().reshape(-1)]))
        return path

    ours = run(lambda p: _ours(p, max_iter=5, history_size=3))
    theirs = run(
        lambda p: torch.optim.LBFGS(
            p,
            max_iter=5,
            history_size=3,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-32,
            tolerance_change=1e-32,
        )
    )
    for mine, ref in zip(ours, theirs):
        torch.testing.assert_close(mine, ref, rtol=1e-9, atol=1e-12)
    assert not torch.equal(ours[0], ours[-1])


def test_float32_steps_below_the_losss_last_bit_are_taken_as_pykan_takes_them():
    """In float32 the line search's sufficient-decrease test runs at the loss's resolution, as in
    torch's and pykan's L-BFGS (they pass g.d as a tensor): here every loss rounds to 1.0, and the
    third step's quasi-Newton direction (to x = 1) predicts a decrease below 1.0's last bit. Tested
    in float64 arithmetic that step was rejected (t = 0) and every later step repeated it: a
    [1,1] KAN on J0(20x) kept its step-1 loss for 100 steps while pykan's went on."""

    def f(x):
        return 1.0 + 1e-8 * ((x - 1) ** 2).sum()

    x0 = torch.zeros(4, dtype=torch.float32)
    x, loss = _minimise(lambda p: _ours(p, max_iter=20), x0, f, 3)
    assert x.dtype == torch.float32 and loss <= 1.0
    assert float(x.min()) > 0.1  # it moved towards 1 (the old search stayed at 4e-8)
    try:
        from kan.LBFGS import LBFGS as PykanLBFGS
    except ImportError:
        return
    settings = dict(line_search_fn="strong_wolfe", tolerance_grad=1e-32, tolerance_change=1e-32)
    ref, _ = _minimise(
        lambda p: PykanLBFGS(p, history_size=10, tolerance_ys=1e-32, **settings), x0, f, 3
    )
    torch.testing.assert_close(x, ref, rtol=1e-4, atol=1e-6)


def test_pykans_constructor_arguments_and_the_fixed_step_mode():
    """pykan's ``LBFGS(params, lr, max_iter, max_eval, tolerance_grad, tolerance_change,
    tolerance_ys, history_size, line_search_fn)`` with its defaults: without a line search the
    iterates are torch's fixed-step L-BFGS (pairs far above 1e-10 here)."""
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(8, 8, dtype=torch.float64, generator=gen)
    q = a @ a.T / 8 + torch.eye(8, dtype=torch.float64)

    def f(x):
        return 0.5 * x @ q @ x - x.sum()

    x0 = torch.zeros(8, dtype=torch.float64)
    for kw in ({}, {"line_search_fn": "strong_wolfe"}):
        for lr in (1.0, 0.5):
            args = {"lr": lr, "max_iter": 7, **kw}
            mine, _ = _minimise(lambda p, a=args: LBFGS(p, **a), x0, f, 3)
            ref, _ = _minimise(lambda p, a=args: torch.optim.LBFGS(p, **a), x0, f, 3)
            torch.testing.assert_close(mine, ref, rtol=1e-9, atol=1e-12)
    opt = LBFGS([torch.nn.Parameter(x0.clone())])
    group = opt.param_groups[0]
    assert (group["tolerance_grad"], group["tolerance_change"], group["history_size"]) == (
        1e-7,
        1e-9,
        100,
    )
    assert group["line_search_fn"] is None and group["max_eval"] == 25
    p = torch.nn.Parameter(x0.clone())
    LBFGS([{"params": [p]}], max_eval=3)  # one parameter group, as an Optimizer takes
    import pytest

    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS([p], line_search_fn="backtracking")


def test_constructing_it_does_not_import_dynamo():
    """A plain class: torch.optim.Optimizer's constructor imports torch._dynamo (over a second),
    which a notebook's first Train click would wait for."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from kan_widget.lbfgs import LBFGS\n"
        "p = torch.nn.Parameter(torch.zeros(3))\n"
        "opt = LBFGS([p])\n"
        "opt.step(lambda: ((p - 1) ** 2).sum().backward() or ((p - 1) ** 2).sum())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def _trainer_run(reuse: bool, between=None, steps: int = 8):
    """Steps of a Trainer on a small KAN; ``reuse=False`` drops the carried evaluation before
    every step. ``between(trainer, n)`` runs between steps. Returns (history, parameters, number
    of objective evaluations)."""
    import kan_widget.objective as objective
    from kan_widget import KAN, create_dataset
    from kan_widget.training import Trainer

    calls = [0]
    original = objective.loss_and_grad

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    ds = create_dataset(
        lambda x: torch.sin(3 * x[:, :1]) * x[:, 1:], n_var=2, train_num=200, test_num=50, seed=1
    )
    model = KAN([2, 3, 1], grid=4, seed=1)
    trainer = Trainer(model, ds, lamb=0.01, grid_update_num=2, stop_grid_update_step=4)
    history = []
    import kan_widget.training as training

    training.loss_and_grad = counted
    try:
        for n in range(steps):
            if not reuse:
                trainer._carry = None
            history.append(trainer.step())
            if between is not None:
                between(trainer, n)
    finally:
        training.loss_and_grad = original
    return history, [p.detach().clone() for p in model.parameters()], calls[0]


def test_trainer_starts_a_step_from_the_last_evaluation_bit_for_bit():
    """An L-BFGS step starts from the previous step's final loss and gradient while nothing
    changed (not after a grid update): the same trajectory to the bit, one evaluation fewer per
    such step."""
    h1, p1, n1 = _trainer_run(reuse=True)
    h2, p2, n2 = _trainer_run(reuse=False)
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert n2 - n1 == 6  # all but step 0 (the first) and step 2 (a grid update)


def test_trainer_reevaluates_after_edits_between_steps():
    """A mask edited in place, a changed lambda, a parameter written or the model restored between
    steps: the next step evaluates afresh (same results as without any carry)."""

    def edit(trainer, n):
        layer = trainer.model.layers[0]
        if n == 3:
            layer.mask[0, 1] = 0.0
        elif n == 4:
            trainer.lamb = 0.02
        elif n == 5:
            with torch.no_grad():
                layer.coef[1, 0, 2] += 0.05
        elif n == 6:  # new parameter tensors, the same values: a new optimiser, no carry
            trainer.model.restore(trainer.model.checkpoint())

    h1, p1, n1 = _trainer_run(reuse=True, between=edit)
    h2, p2, n2 = _trainer_run(reuse=False, between=edit)
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert n2 - n1 == 2  # steps 1 and 3: each edit cost the step after it its carry


def test_reused_buffers_give_the_plain_paths_iterates_bit_for_bit(monkeypatch):
    """The flat gradient, direction and start-point buffers (made once per parameter shapes)
    change no bit of the iterates: the same run with them switched off ends at the same point,
    with several parameters of different shapes, one without a gradient, and both step modes.
    Parameters of different dtypes take the plain path."""
    g = torch.Generator().manual_seed(3)
    target = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]

    def run(search, buffered: bool, dtypes=(torch.float32, torch.float32)):
        ps = [torch.nn.Parameter(torch.zeros(3, 4, dtype=dtypes[0]))]
        ps += [
            torch.nn.Parameter(torch.zeros(5, dtype=dtypes[1])),
            torch.nn.Parameter(torch.ones(2)),
        ]
        opt = _ours(ps, max_iter=7, line_search_fn=search)
        if not buffered:
            monkeypatch.setattr(opt, "_bufs", lambda: False)

        def closure():
            opt.zero_grad()
            loss = sum(((p - t.to(p.dtype)) ** 4).sum() for p, t in zip(ps, target))
            loss = loss + (ps[0] * ps[0]).sum() * ps[1].sum() ** 2  # couples them
            loss.backward()
            return loss

        for _ in range(4):
            opt.step(closure)
        assert ps[2].grad is None
        return [p.detach().clone() for p in ps]

    for search in ("strong_wolfe", None):
        a, b = run(search, True), run(search, False)
        assert all(torch.equal(u, v) for u, v in zip(a, b)), search
    mixed = run("strong_wolfe", True, (torch.float32, torch.float64))
    assert all(torch.isfinite(p).all() for p in mixed)


def _f(dtype):
    """Random numbers exactly representable in ``dtype`` (Python floats), wide exponents."""
    gen = torch.Generator().manual_seed(11)

    def draw(n):
        mant = torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1
        expo = torch.randint(-9, 5, (n,), generator=gen).to(torch.float64)
        return [float(v) for v in (mant * 10.0**expo).to(dtype)]

    return draw


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_line_searchs_numpy_scalars_give_torchs_bits(dtype):
    """The strong-Wolfe search keeps its scalars as NumPy scalars of the gradient's dtype
    where torch has 0-d tensors: the interpolation gives the same number to the bit, with
    trial steps that are Python floats or scalars, with and without bounds (torch's a/t is
    t.reciprocal()*a, its sqrt not always NumPy's)."""
    from kan_widget import wolfe

    if not wolfe._WEAK_PYTHON_SCALARS:
        pytest.skip("NumPy 1: the search keeps torch's tensors")
    draw = _f(dtype)
    n = 3000
    xs, fs, gs = draw(2 * n), draw(2 * n), draw(2 * n)
    lo = [abs(v) for v in draw(n)]
    kind = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    differ = 0
    for k in range(n):
        x1, x2 = abs(xs[2 * k]), abs(xs[2 * k + 1])
        x1 = 0 if k % 7 == 0 else x1  # the search's first bracket starts at the int 0
        bounds = (lo[k], 10 * lo[k]) if k % 2 else None

        def run(conv, k=k, x1=x1, x2=x2, bounds=bounds):
            a1 = conv(x1) if k % 3 == 0 else x1  # trial steps: tensors / scalars or floats
            a2 = conv(x2) if k % 5 < 3 else x2
            try:
                with np.errstate(all="ignore"):
                    g1, g2 = conv(gs[2 * k]), conv(gs[2 * k + 1])
                    got = wolfe.cubic_interpolate(a1, fs[2 * k], g1, a2, fs[2 * k + 1], g2, bounds)
            except ZeroDivisionError:  # both steps Python floats and equal: torch's too
                return "ZeroDivisionError"
            return float(got)

        ref = run(lambda v: torch.tensor(v, dtype=dtype))
        got = run(kind)
        if ref != got and not (ref != ref and got != got):  # nan == nan here
            differ += 1
    assert differ == 0, f"{differ} of {n} interpolations differ from torch's"


def test_numpy_scalars_or_tensors_give_the_same_iterates(monkeypatch):
    """A float32 Trainer's L-BFGS steps (strong Wolfe, zooms and interpolations) with the line
    search on NumPy scalars and on torch's 0-d tensors: the same parameters to the bit."""
    from kan_widget import KAN, create_dataset, wolfe
    from kan_widget.training import Trainer

    def run():
        ds = create_dataset(
            lambda x: torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2),
            n_var=2,
            train_num=300,
            test_num=30,
            seed=2,
        )
        model = KAN([2, 3, 1], grid=4, seed=2)
        trainer = Trainer(model, ds, lamb=0.01, grid_update_num=2, stop_grid_update_step=4)
        losses = [trainer.step()["train_loss"] for _ in range(6)]
        return losses, [p.detach().clone() for p in model.parameters()]

    scalars = run()
    monkeypatch.setattr(wolfe, "_NUMPY_DTYPES", {})  # the search on 0-d tensors, as torch
    tensors = run()
    assert scalars[0] == tensors[0]
    assert all(torch.equal(a, b) for a, b in zip(scalars[1], tensors[1], strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stopping_tests_read_max_abs_as_torch_does(dtype):
    """``max |d * t|`` is ``max |d| * |t|`` rounded once (rounding is monotone and symmetric),
    and ``_max_abs`` is ``abs().max()``, nan and inf included."""
    from kan_widget.lbfgs import _max_abs

    gen = torch.Generator().manual_seed(5)
    for k in range(400):
        d = (torch.randn(50, generator=gen, dtype=torch.float64) * 10.0 ** (k % 17 - 8)).to(dtype)
        if k % 50 == 1:
            d[3] = float("inf")
        if k % 50 == 2:
            d[7] = float("nan")
        t = [0.0, 1.0, 0.37, 1e-30, 3.3e5, float(torch.rand(1, generator=gen))][k % 6]
        ref = (d * t).abs().max()
        got = _max_abs(d) * abs(t)
        assert float(ref) == float(got) or (ref.isnan() and got != got), (k, t)
        m = _max_abs(d)
        assert float(d.abs().max()) == float(m) or (d.isnan().any() and m != m)
        for tol in (1e-32, 1e-7, float(m)):
            assert bool(d.abs().max() <= tol) == bool(m <= tol)
