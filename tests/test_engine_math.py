"""The engine's mathematics checked against independent, slow, obviously-right computations.

- B-splines against a scalar Cox–de Boor recursion (float64), partition of unity;
- gradients (basis and whole model, regulariser included) against finite differences;
- per-edge magnitudes, scores and the penalty against a computation that materialises every
  edge's values ``phi [B, in, out]``;
- grid update and refinement preserve the function (and the test would catch the scale_sp trap);
- save/load, checkpoint/restore, seeding, pruning, the canonical example (slow), CUDA (if any).
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from torch import nn

from kan_widget import KAN, create_dataset
from kan_widget.layer import EdgeStats
from kan_widget.regularizer import REG_METRICS, coef_penalty, edge_penalty
from kan_widget.splines import basis, basis_reference, curve2coef, uniform_grid

METRICS = list(REG_METRICS)


pytestmark = pytest.mark.usefixtures("one_thread")


def canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def trained():
    """[2,5,1], G=3, trained briefly on the canonical function (LBFGS with grid updates)."""
    data = create_dataset(canonical, n_var=2, train_num=1000, test_num=1000, seed=0)
    model = KAN([2, 5, 1], grid=3, seed=0)
    model.fit(data, opt="LBFGS", steps=8, lamb=0.0)
    return model, data


def _perturbed(width, grid=4, k=3, seed=0, dtype=torch.float64, mask_edge=True):
    """A model whose edges differ visibly from the init (and one masked edge)."""
    model = KAN(width, grid=grid, k=k, seed=seed, dtype=dtype, noise_scale=0.5)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.add_(0.3 * torch.randn(layer.coef.shape, generator=g, dtype=dtype))
            layer.scale_base.add_(
                0.2 * torch.randn(layer.scale_base.shape, generator=g, dtype=dtype)
            )
            layer.scale_sp.mul_(1 + torch.rand(layer.scale_sp.shape, generator=g, dtype=dtype))
        if mask_edge:
            model.layers[0].mask[0, 1] = 0.0
    return model


# =============================================================================== B-spline basis
def _cox_de_boor(i: int, p: int, t: list[float], x: float) -> float:
    """The textbook recursion on one scalar; half-open spans; 0/0 terms are 0."""
    if p == 0:
        return 1.0 if t[i] <= x < t[i + 1] else 0.0
    left = right = 0.0
    if t[i + p] != t[i]:
        left = (x - t[i]) / (t[i + p] - t[i]) * _cox_de_boor(i, p - 1, t, x)
    if t[i + p + 1] != t[i + 1]:
        right = (t[i + p + 1] - x) / (t[i + p + 1] - t[i + 1]) * _cox_de_boor(i + 1, p - 1, t, x)
    return left + right


def _knot_rows(G: int, k: int, seed: int = 0) -> torch.Tensor:
    """Extended knot vectors ``[3, G+2k+1]`` (float64): uniform, random non-uniform, and
    non-uniform with one repeated interior knot."""
    g = torch.Generator().manual_seed(seed)
    uni = uniform_grid(1, G, k, (-1, 1), dtype=torch.float64)[0]
    gaps = torch.rand(G + 2 * k, generator=g, dtype=torch.float64) + 0.1
    rnd = torch.cat([torch.zeros(1, dtype=torch.float64), gaps.cumsum(0)]) - 2.0
    rep = rnd.clone()
    mid = (G + 2 * k) // 2
    rep[mid + 1] = rep[mid]
    return torch.stack([uni, rnd, rep])


def _cox_de_boor_table(x: torch.Tensor, grid: torch.Tensor, k: int) -> torch.Tensor:
    n = grid.shape[1] - k - 1
    return torch.tensor(
        [
            [
                [_cox_de_boor(m, k, grid[i].tolist(), x[b, i].item()) for m in range(n)]
                for i in range(grid.shape[0])
            ]
            for b in range(x.shape[0])
        ],
        dtype=torch.float64,
    )


def _samples(grid: torch.Tensor, k: int, n: int = 120, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lo, hi = grid[:, 0].min().item() - 0.5, grid[:, -1].max().item() + 0.5
    x = lo + (hi - lo) * torch.rand(n, grid.shape[0], generator=g, dtype=torch.float64)
    x[:6] = grid[:, [0, 1, k, -k - 1, -2, -1]].t()  # exactly on knots, incl. both ends
    return x


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_basis_matches_scalar_cox_de_boor(k):
    G = 4
    grid = _knot_rows(G, k)  # uniform, non-uniform, non-uniform with a repeated knot
    x = _samples(grid, k)
    got = basis(x, grid, k)
    want = _cox_de_boor_table(x, grid, k)
    assert got.shape == want.shape == (120, 3, G + k)
    assert (got - want).abs().max().item() <= 1e-12
    # float32 agrees to float32 round-off
    got32 = basis(x.float(), grid.float(), k)
    assert (got32.double() - want).abs().max().item() <= 1e-5
    # the readable reference (used by curve2coef) agrees where knots are distinct
    ref = basis_reference(x[:, :2], grid[:2], k)
    assert (ref - want[:, :2]).abs().max().item() <= 1e-12


@pytest.mark.parametrize("k", [2, 3])
def test_reference_basis_with_repeated_knots(k):
    grid = _knot_rows(4, k)[2:]  # the row with a repeated interior knot
    x = _samples(grid, k).requires_grad_(True)
    ref = basis_reference(x, grid, k)
    assert (ref - _cox_de_boor_table(x, grid, k)).abs().max().item() <= 1e-12
    (g,) = torch.autograd.grad(ref.pow(2).sum(), x)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_partition_of_unity_inside_the_grid(k):
    G = 6
    grid = _knot_rows(G, k, seed=3)
    g = torch.Generator().manual_seed(2)
    lo, hi = grid[:, k], grid[:, -k - 1]  # the basis is a partition of unity on [t_k, t_{G+k})
    u = torch.rand(2000, 3, generator=g, dtype=torch.float64)
    x = lo + (hi - lo) * u
    s = basis(x, grid, k).sum(2)
    assert (s - 1).abs().max().item() <= 1e-12
    assert (basis(x, grid, k) >= -1e-15).all()
    # outside the extended knots every basis function is 0
    far = torch.stack([grid[:, 0] - 0.1, grid[:, -1] + 0.1])
    assert basis(far, grid, k).abs().max().item() == 0.0


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_basis_gradient_gradcheck(k):
    grid = _knot_rows(5, k, seed=4)
    g = torch.Generator().manual_seed(5)
    lo, hi = grid[:, 0] - 0.3, grid[:, -1] + 0.3
    x = lo + (hi - lo) * torch.rand(40, 3, generator=g, dtype=torch.float64)
    # keep samples off the knots, where low orders are not differentiable
    dist = (x.unsqueeze(2) - grid.unsqueeze(0)).abs().amin(2, keepdim=True).squeeze(2)
    x = torch.where(dist < 1e-3, x + 3e-3, x).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v: basis(v, grid, k), (x,), eps=1e-6, atol=1e-7, fast_mode=True
    )
    # and the closed-form derivative equals autograd through the reference recursion (on the
    # rows with distinct knots: see test_reference_basis_with_repeated_knots)
    (g1,) = torch.autograd.grad(basis(x, grid, k)[:, :2].pow(2).sum(), x)
    (g2,) = torch.autograd.grad(basis_reference(x[:, :2], grid[:2], k).pow(2).sum(), x)
    g1, g2 = g1[:, :2], g2[:, :2]
    assert (g1 - g2).abs().max().item() <= 1e-10


# ======================================================================= gradients of the model
class _Objective(nn.Module):
    """MSE + lamb * (edge penalty + coefficient penalty), as the trainer's closure (layer by
    layer, so that the gradient with respect to the input is part of the check)."""

    def __init__(self, model: KAN, metric: str, y: torch.Tensor):
        super().__init__()
        self.m, self.metric, self.y = model, metric, y

    def forward(self, x):
        pred, stats = x, []
        for layer in self.m.layers:
            pred, s = layer.forward_stats(pred, self.metric)
            stats.append(s)
        reg = edge_penalty([s.value for s in stats], self.metric, 1.0, 2.0)
        reg = reg + coef_penalty([layer.coef for layer in self.m.layers], 0.3, 0.2)
        return ((pred - self.y) ** 2).mean() + 0.5 * reg


def _objective_case(metric: str, n: int, seed: int):
    """A perturbed float64 [2,3,2], ``n`` inputs on [-1.2, 1.2] (requiring grad), random targets
    and the regularised objective over them."""
    model = _perturbed([2, 3, 2], grid=4)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 2, generator=g, dtype=torch.float64) * 2.4 - 1.2).requires_grad_(True)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return model, x, y, _Objective(model, metric, y)


@pytest.mark.parametrize("metric", METRICS)
def test_model_gradients_gradcheck(metric):
    model, x, y, obj = _objective_case(metric, 24, seed=7)
    names = [n for n, _ in obj.named_parameters() if not n.endswith("sym_params")]
    params = dict(obj.named_parameters())
    leaves = [params[n].detach().clone().requires_grad_(True) for n in names]

    def f(xv, *ps):
        return torch.func.functional_call(obj, dict(zip(names, ps, strict=True)), (xv,))

    assert torch.autograd.gradcheck(f, (x, *leaves), eps=1e-6, atol=1e-6, rtol=1e-4)
    # the penalty is not negligible in that objective (so its gradient was really checked)
    with torch.no_grad():
        _, stats = model.forward_stats(x, metric)
        assert edge_penalty([s.value for s in stats], metric, 1.0, 2.0).item() > 0.05
    # the public forward_stats computes the same objective, and its parameter gradients agree
    loss = obj(x.detach())
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    pred, stats = model.forward_stats(x.detach(), metric)
    reg = edge_penalty([s.value for s in stats], metric, 1.0, 2.0)
    reg = reg + coef_penalty([layer.coef for layer in model.layers], 0.3, 0.2)
    loss2 = ((pred - y) ** 2).mean() + 0.5 * reg
    assert torch.equal(loss, loss2)
    for a, b in zip(grads, torch.autograd.grad(loss2, [params[n] for n in names]), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("metric", [None, "edge_forward_spline_n", "edge_forward_spline_u"])
@pytest.mark.parametrize("lamb", [0.0, 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tape_gradient_equals_autograd_bit_for_bit(metric, lamb, dtype, monkeypatch):
    """The trainer's gradient pass without autograd (objective.loss_and_grad) gives the loss, the
    magnitudes and every parameter gradient autograd gives, to the bit: on a model with a pruned
    edge and a frozen parameter, and across batch chunks."""
    import kan_widget.splines as splines_mod
    from kan_widget.objective import loss_and_grad, tape_ok

    model = _perturbed([3, 4, 2], grid=4, dtype=dtype)
    model.layers[0].mask[1, 2] = 0.0
    model.layers[1].scale_sp.requires_grad_(False)
    g = torch.Generator().manual_seed(11)
    x = torch.rand(150, 3, generator=g, dtype=dtype) * 2.4 - 1.2
    y = torch.randn(150, 2, generator=g, dtype=dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    for chunk_floats in (1 << 18, 1):  # one chunk, then three
        monkeypatch.setattr(splines_mod, "_CHUNK_FLOATS", chunk_floats)
        for p in params:
            p.grad = None
        if metric is None:
            pred, stats = model.run(x), None
        else:
            pred, stats = model.run_stats(x, metric)
        mse = torch.mean((pred - y) ** 2)
        reg = edge_penalty([s.value for s in stats], metric, 1.0, 2.0) if lamb and metric else 0.0
        loss = mse + lamb * reg
        loss.backward()
        expected = [p.grad for p in params]
        for p in params:
            p.grad = None
        assert tape_ok(model, metric, None, False)
        loss2, mse2, _, stats2 = loss_and_grad(model, x, y, metric, lamb, 1.0, 2.0)
        assert torch.equal(loss.detach(), loss2) and torch.equal(mse.detach(), mse2)
        for a, b in zip(expected, [p.grad for p in params], strict=True):
            assert (a is None) == (b is None) and (a is None or torch.equal(a, b))
        assert model.layers[1].scale_sp.grad is None
        if metric is not None:
            for s, s2 in zip(stats, stats2, strict=True):
                assert torch.equal(s.value.detach(), s2.value)


def test_input_layer_features_are_reused_only_while_valid():
    """The first layer keeps its features for the last training inputs and knots (an L-BFGS
    step evaluates the model ~25 times on them): reused results equal fresh ones to the bit,
    and an in-place change of the inputs or a grid update is noticed."""
    from kan_widget.objective import loss_and_grad

    model = _perturbed([2, 3, 1], grid=4, dtype=torch.float32)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(200, 2, generator=g) * 2 - 1
    y = torch.randn(200, 1, generator=g)
    cache = model.layers[0]._input_cache

    def grads(inputs):
        for p in model.parameters():
            p.grad = None
        loss = loss_and_grad(model, inputs, y, "edge_forward_spline_n", 0.01, 1.0, 2.0)[0]
        return [loss] + [p.grad.clone() for p in model.parameters() if p.grad is not None]

    def same(a, b):
        return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))

    first = grads(x)
    assert cache.holds(x, model.layers[0]._knots(), "silu")
    assert same(grads(x), first)  # from the cache
    assert same(grads(x.clone()), first)  # a new tensor: recomputed
    with torch.no_grad():
        x[:50] *= 0.5  # in place: the version moves
    assert same(grads(x), grads(x.clone()))
    assert not same(grads(x), first)
    model.update_grid(x)
    assert not cache.holds(x, model.layers[0]._knots(), "silu")
    assert same(grads(x), grads(x.clone()))
    # autograd's path shares the cache and agrees with it
    pred, stats = model.run_stats(x, "edge_forward_spline_n")
    pred2, stats2 = model.run_stats(x.clone(), "edge_forward_spline_n")
    assert torch.equal(pred, pred2) and torch.equal(stats[0].value, stats2[0].value)
    import copy
    import pickle

    clone = copy.deepcopy(model)
    assert clone.layers[0]._input_cache.feats is None  # copies do not carry features
    assert pickle.loads(pickle.dumps(model)).layers[0]._input_cache.feats is None


def test_tape_path_is_used_only_where_it_applies():
    """A custom loss, coefficient penalties, the paper's metric and symbolic edges without a
    hand-written derivative go through autograd (library functions: tests/test_symtape.py)."""
    from kan_widget.objective import tape_ok

    model = _perturbed([2, 3, 1], grid=4)
    assert tape_ok(model, "edge_forward_spline_n", None, False)
    assert not tape_ok(model, "edge_mean_abs", None, False)
    assert not tape_ok(model, None, torch.nn.functional.l1_loss, False)
    assert not tape_ok(model, None, None, True)
    model.layers[0].set_symbolic([0], [0], ["sin"])
    assert tape_ok(model, None, None, False)
    with model.singularity_avoiding(10.0):
        model.layers[0].set_symbolic([1], [0], ["1/x"])
        assert not tape_ok(model, None, None, False)


@pytest.mark.parametrize("metric", ["edge_forward_spline_n", "edge_forward_spline_u"])
def test_batch_chunking_changes_nothing(metric, monkeypatch):
    """Large batches are processed in column chunks (splines.chunks): values, magnitudes and
    every gradient equal the one-chunk computation, and still pass gradcheck."""
    import kan_widget.splines as splines_mod

    _, x, y, obj = _objective_case(metric, 150, seed=3)
    params = [p for n, p in obj.named_parameters() if not n.endswith("sym_params")]

    def run():
        loss = obj(x)
        return [loss, *torch.autograd.grad(loss, [x, *params])]

    one = run()
    monkeypatch.setattr(splines_mod, "_CHUNK_FLOATS", 1)  # 64 columns per chunk: 3 chunks
    assert len(splines_mod.chunks(3, 11, 150)) == 3
    many = run()
    for a, b in zip(one, many, strict=True):
        assert (a - b).abs().max().item() <= 1e-12 * max(1.0, a.abs().max().item())
    xs = x[:80].detach().requires_grad_(True)
    obj.y = y[:80]
    assert torch.autograd.gradcheck(obj, (xs,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_layer_thread_count_is_restored_and_thread_local():
    """The fused layer runs its small work on one thread (threads.OneThread): the caller's thread
    count is back after forward, backward and an exception, and another thread's is untouched."""
    import threading

    import kan_widget.threads as threads_mod

    if not threads_mod.thread_local_counts():
        pytest.skip("ATen's parallel backend is not OpenMP: the layer leaves thread counts alone")
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = _perturbed([2, 3, 2], grid=4)
        x = torch.rand(300, 2, dtype=torch.float64) * 2 - 1
        pred, stats = model.forward_stats(x, "edge_forward_spline_n")
        assert torch.get_num_threads() == 2
        (pred.sum() + sum(s.value.sum() for s in stats)).backward()
        assert torch.get_num_threads() == 2
        seen = []

        def other():
            torch.set_num_threads(2)
            with threads_mod.OneThread():
                seen.append(torch.get_num_threads())
                done.wait(5)
            seen.append(torch.get_num_threads())

        done = threading.Event()
        t = threading.Thread(target=other)
        t.start()
        while not seen:
            pass
        assert torch.get_num_threads() == 2  # the other thread's one-thread section: not ours
        done.set()
        t.join()
        assert seen == [1, 2]
        with pytest.raises(RuntimeError), threads_mod.OneThread():
            assert torch.get_num_threads() == 1
            raise RuntimeError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


def test_model_output_is_differentiable_in_its_input():
    """pykan's KAN(x) is (its PDE tutorials differentiate through it), and a KAN used inside a
    larger network must pass gradients back to the layers before it."""
    model = _perturbed([2, 3, 1])
    x = torch.rand(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: model(v), (x,), eps=1e-6, atol=1e-7)


# ============================================================ magnitudes, scores and the penalty
def _direct_phi(layer, x):
    """Every edge's numeric value ``[B, in, out]`` from the reference basis (no covariance
    trick, no fast basis)."""
    bas = basis_reference(x, layer.grid, layer.k)  # [B, in, K]
    spline = torch.einsum("bik,iok->bio", bas, layer.coef)
    phi = layer.scale_base * layer.base_fun(x).unsqueeze(2) + layer.scale_sp * spline
    return phi * layer.mask


def _direct_magnitude(phi, x, metric):
    if metric == "edge_forward_spline_n":
        return phi.std(0) / (x.std(0).unsqueeze(1) + 0.1)
    if metric == "edge_forward_spline_u":
        return phi.std(0)
    return phi.abs().mean(0)


def _direct_penalty(A: list[torch.Tensor], metric: str, mu1: float, mu2: float) -> float:
    total = 0.0
    for a in A:
        a = a.double()
        if metric == "edge_mean_abs":  # the paper: layer-wide entropy, natural log
            p = (a / a.sum()).flatten()
            p = p[p > 0]
            ent = -(p * p.log()).sum()
        else:  # pykan 0.2.8's row + column entropy, log2, +1 in the denominators
            v = a.t()
            pr = v / (v.sum(1, keepdim=True) + 1)
            pc = v / (v.sum(0, keepdim=True) + 1)
            ent = (
                -(pr * torch.log2(pr + 1e-4)).sum(1).mean()
                - (pc * torch.log2(pc + 1e-4)).sum(0).mean()
            )
        total += mu1 * a.sum().item() + mu2 * ent.item()
    return total


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_magnitudes_scores_and_penalty_vs_materialised_phi(metric, dtype):
    model = _perturbed([3, 4, 3, 2], grid=5, dtype=dtype)
    g = torch.Generator().manual_seed(9)
    x = (torch.randn(256, 3, generator=g, dtype=torch.float64) * 0.9).to(dtype)  # B <= 256
    with torch.no_grad():
        _, stats = model.forward_stats(x, metric)
        acts = model.activations(x)
        want = []
        for l, layer in enumerate(model.layers):
            xl = acts[l].double()
            ref = _direct_phi(_as64(layer), xl)
            want.append(_direct_magnitude(ref, xl, metric))
    tol = 1e-10 if dtype == torch.float64 else 2e-4
    for s, w in zip(stats, want, strict=True):
        scale = w.abs().max().item()
        assert (s.value.double() - w).abs().max().item() <= tol * scale
        assert (s.score.double() - w).abs().max().item() <= tol * scale
    assert stats[0].value[0, 1].item() <= 1e-6  # the masked edge
    # the penalty (mu1 = 1, mu2 = 2 and a second pair)
    for mu1, mu2 in ((1.0, 2.0), (0.5, 0.0), (0.0, 1.0)):
        got = edge_penalty([s.value for s in stats], metric, mu1, mu2).item()
        ref = _direct_penalty(want, metric, mu1, mu2)
        assert abs(got - ref) <= max(tol, 1e-6) * 10 * max(1.0, abs(ref))
    # scores through the public API: [out, in], masked, from the same data
    model.score_edges(x, metric=metric)
    for l, s in enumerate(model.edge_scores):
        assert s.shape == (model.width[l + 1], model.width[l])
        w = want[l].t() * model.layers[l].mask.t().double()
        assert (s.double() - w).abs().max().item() <= tol * w.abs().max().item()
    # node scores follow the paper's rule: min(max incoming, max outgoing) for hidden nodes
    ns = model.node_scores
    for l in range(1, len(model.layers)):
        inc = model.edge_scores[l - 1].amax(1)  # [out of layer l-1] = nodes of layer l
        out = model.edge_scores[l].amax(0)
        assert torch.equal(ns[l], torch.minimum(inc, out))


def _as64(layer):
    """A float64 view of a layer's tensors, for reference computations."""

    class L:
        pass

    c = L()
    c.grid, c.k, c.base_fun = layer.grid.double(), layer.k, layer.base_fun
    c.coef, c.mask = layer.coef.double(), layer.mask.double()
    c.scale_base, c.scale_sp = layer.scale_base.double(), layer.scale_sp.double()
    return c


def test_edge_mean_abs_subsamples_large_batches():
    """Beyond 256 rows the paper's metric is estimated on evenly spaced rows: close, not exact."""
    model = _perturbed([2, 3, 1], dtype=torch.float32)
    x = torch.rand(5000, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        _, stats = model.forward_stats(x, "edge_mean_abs")
        exact = _direct_phi(_as64(model.layers[0]), x.double()).abs().mean(0)
    rel = ((stats[0].value.double() - exact).abs().max() / exact.max()).item()
    assert rel < 0.15  # ~264 of 5000 rows: a sampling error of a few % (measured 7%)


def test_forward_equals_materialised_phi_sum():
    model = _perturbed([3, 4, 2])
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2
    with torch.no_grad():
        h = x
        for layer in model.layers:
            h = _direct_phi(layer, h).sum(1)
        assert (model(x) - h).abs().max().item() <= 1e-12


# =================================================================== grid update and refinement
def test_update_grid_preserves_function(trained):
    model, data = trained
    x = data["train_input"]
    with torch.no_grad():
        # least squares on the samples, so close but not exact: measured 1.3% (max relative
        # error) with pykan's rule and with the default floor on hidden grids (grid_min_span=1);
        # the scale_sp trap (test below) is > 100%
        exact = model.copy()
        exact.config = exact.config.replace(grid_min_span=0.0)
        for m, tol in ((exact, 2e-2), (model.copy(), 2e-2)):
            y0 = m(x)
            m.update_grid(x)
            y1 = m(x)
            err = ((y1 - y0).abs().max() / y0.abs().max()).item()
            assert err < tol, (m.config.grid_min_span, err)
        # a second update on the same samples lands on the same knots, where the splines are
        # exactly representable: the least-squares refit must then reproduce them
        grids = [layer.grid.clone() for layer in m.layers]
        m.update_grid(x)
        y2 = m(x)
        for a, layer in zip(grids, m.layers, strict=True):
            assert (a - layer.grid).abs().max().item() <= 1e-6
        assert ((y2 - y1).abs().max() / y1.abs().max()).item() < 1e-4


def test_hidden_grids_never_narrower_than_grid_min_span():
    """While the penalty trains, a hidden node whose values span 0.2 gets a uniform grid 1 wide
    around their centre; the input grid follows the data; grid_min_span=0 is pykan's rule
    (knots on the samples)."""
    x = torch.rand(500, 2, generator=torch.Generator().manual_seed(0)) * 4 - 2
    for span, want in ((1.0, 1.0), (0.0, None)):
        model = KAN([2, 1, 1], grid=4, seed=0, grid_min_span=span)
        with torch.no_grad():
            model.layers[0].scale_base.fill_(0.05)  # hidden values: about 0.1*silu(x), narrow
            model.layers[0].scale_sp.zero_()
            h = model.layers[0](x)
            model._refit_grids(x)  # as fit(lamb > 0) does; update_grid is pykan's rule
        lo, hi = float(h.min()), float(h.max())
        knots = model.layers[1].grid[0, 3:-3]  # the grid without its k extension knots
        assert float(model.layers[0].grid[0, 3]) < -1.9  # inputs: knots on the data
        if want is None:
            assert float(knots[0]) == pytest.approx(lo, abs=1e-6)
            assert float(knots[-1]) == pytest.approx(hi, abs=1e-6)
        else:
            assert float(knots[-1] - knots[0]) == pytest.approx(want, abs=1e-6)
            assert float(knots.mean()) == pytest.approx((lo + hi) / 2, abs=1e-6)
            torch.testing.assert_close(knots.diff(), torch.full((4,), want / 4))
    with pytest.raises(ValueError, match="grid_min_span"):
        KAN([2, 1], grid_min_span=-1.0)


def test_fit_without_penalty_keeps_knots_on_the_samples():
    """The hidden-grid floor is for nodes the sparsity penalty is switching off, so it applies
    while ``lamb > 0``: pykan's first example ([2,1,1], lamb=0, its hidden node starting 0.1
    wide) then trains as pykan's (test RMSE 0.014 after 20 LBFGS steps; with the floor the
    next spline was linear there and training stalled at 0.68). With a penalty the floor holds;
    ``update_grid`` and ``refine`` follow pykan (a PDE loop calling update_grid reached l2 0.008
    instead of 0.049)."""
    data = create_dataset(
        lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2
    )
    model = KAN(width=[2, 1, 1], grid=3, k=3, seed=1)
    assert model.config.grid_min_span == 1.0
    res = model.fit(data, steps=20)
    assert res["test_loss"][-1] < 0.1  # 0.014 measured; the floor gave 0.68
    narrow = KAN(width=[2, 1, 1], grid=3, k=3, seed=1)
    with torch.no_grad():  # hidden values about 0.1*silu(x): 0.2 wide at most
        narrow.layers[0].scale_base.fill_(0.05)
        narrow.layers[0].scale_sp.zero_()
        narrow.layers[1].scale_base.zero_()  # a silent output: the first step changes little
        narrow.layers[1].scale_sp.zero_()
    for lamb, floor in ((0.0, False), (0.01, True), (None, False)):
        m = narrow.copy()
        if lamb is None:  # a user's update_grid (pykan's PDE tutorials call it): pykan's rule
            m.update_grid(data["train_input"])
        else:
            m.fit(data, steps=1, lamb=lamb)  # the grid update runs before the first step
        knots = m.layers[1].grid[0, 3:-3]
        assert (float(knots[-1] - knots[0]) == pytest.approx(1.0, abs=1e-6)) == floor


def test_refine_preserves_function_and_catches_scale_sp_trap(trained):
    coarse = trained[0].copy()
    x = torch.rand(4000, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1  # training range
    with torch.no_grad():
        y0 = coarse(x)
        scale = y0.std().item()
        fine = coarse.refine(10)
        assert fine.grid == 10 and coarse.grid == 3
        assert [layer.coef.shape[2] for layer in fine.layers] == [13, 13]
        err = (fine(x) - y0).abs().max().item() / scale
        assert err < 3e-2, err
        assert torch.equal(coarse(x), y0)  # refine returns a new model
        # the known trap: fitting the spline to its scaled output and applying scale_sp again
        trap = fine.copy()
        for layer in trap.layers:
            layer.coef.mul_(layer.scale_sp.unsqueeze(2))
        trap_err = (trap(x) - y0).abs().max().item() / scale
    assert trap_err > 1.0, trap_err  # >100% of the function's scale...
    assert trap_err > 30 * err  # ...far outside this test's tolerance


# ======================================================================================== files
def _state_equal(a: KAN, b: KAN) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert torch.equal(sa[k], sb[k]), k
    assert a.width == b.width
    assert a.config == b.config
    assert a.reg_metric == b.reg_metric
    assert [layer.num for layer in a.layers] == [layer.num for layer in b.layers]
    assert [layer.sym_names for layer in a.layers] == [layer.sym_names for layer in b.layers]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_save_load_round_trip_bit_identical(tmp_path, trained, dtype):
    model = trained[0].copy().to(dtype)
    model = model.prune(node_th=0.0, edge_th=None)  # any width; masks as trained
    model.layers[0].mask[1, 0] = 0.0
    model.reg_metric = "edge_mean_abs"
    p = tmp_path / "m.kan"
    model.save(p)
    back = KAN.load(p)
    _state_equal(model, back)
    x = torch.rand(300, 2, dtype=dtype)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))


def test_save_load_with_symbolic_edges(tmp_path, trained):
    model = trained[0].copy()
    model.layers[0].set_symbolic(
        [0, 1], [2, 3], ["sin", "x^2"], torch.tensor([[3.1, 0.1, 0.9, -0.2], [1.0, 0.0, 1.1, 0.3]])
    )
    model.layers[1].set_symbolic([2], [0], ["exp"], torch.tensor([[0.5, 0.1, 1.2, 0.0]]))
    p = tmp_path / "m.kan"
    model.save(p)
    back = KAN.load(p)
    _state_equal(model, back)
    assert back.layers[0].sym_names == {(0, 2): "sin", (1, 3): "x^2"}
    assert bool(back.layers[0].sym_mask[0, 2]) and not bool(back.layers[0].sym_mask[0, 1])
    if importlib.util.find_spec("kan_widget.symbolic.library") is None:
        pytest.skip("kan_widget.symbolic.library not there yet: symbolic forward not checked")
    x = torch.rand(200, 2) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(x), back(x))


# ================================================================================ checkpointing
def test_checkpoint_restore_round_trip(trained):
    model = trained[0].copy()
    data = trained[1]
    x = data["test_input"]
    ck = model.checkpoint()
    with torch.no_grad():
        y0 = model(x)
    ref = model.copy()
    model.fit(data, opt="Adam", steps=3, lr=1e-2, update_grid=True, lamb=0.01)
    model.layers[0].mask[0, 0] = 0.0
    with torch.no_grad():
        assert not torch.equal(model(x), y0)
    model.restore(ck)
    _state_equal(model, ref)
    with torch.no_grad():
        assert torch.equal(model(x), y0)
    # across a width change (prune) and back
    small = model.prune(node_th=0.0, edge_th=None)
    small.layers[0].mask.zero_()
    small_ck = small.checkpoint()
    model.restore(small_ck)
    assert model.width == small.width
    model.restore(ck)
    _state_equal(model, ref)
    # the checkpoint is a copy, not a view of the live tensors
    with torch.no_grad():
        model.layers[0].coef.add_(1.0)
    model.restore(ck)
    _state_equal(model, ref)


# ================================================================================ seeds and width
def test_caches_follow_masks_and_survive_inference_mode():
    """The per-layer caches (knot constants, the spline edges' mask factor) follow in-place
    changes of their buffers, and a first forward under torch.inference_mode does not leave
    inference tensors behind that would break training."""
    model = KAN([2, 3, 1], grid=4, seed=0)
    x = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        y0 = model(x)
    ds = {
        "train_input": x,
        "train_label": y0.clone() * 0.5,
        "test_input": x,
        "test_label": y0.clone() * 0.5,
    }
    model.fit(ds, steps=2, lamb=0.01)  # would raise on a cached inference tensor
    layer = model.layers[0]
    before = model(x).detach()
    layer.mask[0, 1] = 0.0  # in place: the cached factor must follow
    after = model(x).detach()
    phi = layer.edge_values(x).detach()
    assert phi[:, 0, 1].abs().max() == 0
    assert not torch.equal(before, after)
    layer.mask[0, 1] = 1.0
    torch.testing.assert_close(model(x).detach(), before, rtol=0, atol=0)


def test_same_seed_bit_identical_and_global_rng_untouched():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    a = KAN([3, 4, 2], grid=5, seed=7)
    b = KAN([3, 4, 2], grid=5, seed=7)
    c = KAN([3, 4, 2], grid=5, seed=8)
    assert torch.equal(torch.get_rng_state(), before)
    _state_equal(a, b)
    assert not torch.equal(a.layers[0].coef, c.layers[0].coef)
    assert not torch.equal(a.layers[0].scale_base, c.layers[0].scale_base)
    # data creation is local too
    create_dataset(canonical, n_var=2, seed=3)
    assert torch.equal(torch.get_rng_state(), before)


def test_width_not_mutated_and_reads_back():
    w = [2, 5, 1]
    model = KAN(w)
    assert w == [2, 5, 1]
    assert model.width == [2, 5, 1]
    got = model.width
    got.append(7)
    assert model.width == [2, 5, 1]
    t = (3, 4, 2)
    assert KAN(t).width == [3, 4, 2]


# ======================================================================================= pruning
def _hand_scores(model: KAN, scores: list[torch.Tensor]) -> None:
    model.set_scores([EdgeStats(value=s, score=s) for s in scores])


def test_prune_removes_exactly_the_nodes_below_threshold():
    model = KAN([2, 4, 3, 1], seed=0)
    th = 0.1
    s0 = torch.full((2, 4), 0.5)
    s0[:, 1] = 0.05  # hidden (1,1): all incoming below -> removed
    s0[:, 3] = torch.tensor([0.1, 0.02])  # (1,3): max incoming exactly th -> removed (strict >)
    s1 = torch.full((4, 3), 0.5)
    s1[2, :] = 0.09  # (1,2): outgoing all below -> removed though incoming is large
    s1[:, 0] = 0.01  # (2,0): incoming all below -> removed
    s1[0, 1] = 2.0
    s2 = torch.tensor([[0.5], [0.5], [0.5]])
    s2[2, 0] = 0.2
    _hand_scores(model, [s0, s1, s2])
    ns = model.node_scores
    assert ns[1].tolist() == pytest.approx([0.5, 0.05, 0.09, 0.1])
    keep1, keep2 = [0], [1, 2]
    small = model.prune(node_th=th, edge_th=None)
    assert small.width == [2, 1, 2, 1]
    assert model.width == [2, 4, 3, 1]  # unchanged
    # the survivors carry the right parameters
    for l, (ii, oo) in enumerate([([0, 1], keep1), (keep1, keep2), (keep2, [0])]):
        src, dst = model.layers[l], small.layers[l]
        ii_t, oo_t = torch.tensor(ii), torch.tensor(oo)
        assert torch.equal(dst.coef, src.coef[ii_t][:, oo_t])
        assert torch.equal(dst.scale_base, src.scale_base[ii_t][:, oo_t])
        assert torch.equal(dst.grid, src.grid[ii_t])
    # a node just above the threshold survives
    s0[:, 3] = torch.tensor([0.1001, 0.02])
    _hand_scores(model, [s0, s1, s2])
    assert model.prune(node_th=th, edge_th=None).width == [2, 2, 2, 1]
    # edge threshold: masks edges scoring <= edge_th among the survivors
    small = model.prune(node_th=th, edge_th=0.3)
    assert small.width == [2, 2, 2, 1]
    assert small.layers[2].mask.flatten().tolist() == [1.0, 0.0]  # s2[1]=0.5, s2[2]=0.2


def test_prune_by_zeroing_edges():
    """Scores from data: nodes whose edges were all removed score 0 and go."""
    model = _perturbed([2, 5, 1], dtype=torch.float32, mask_edge=False)
    with torch.no_grad():
        model.layers[0].mask[:, 1] = 0.0  # hidden node 1: no incoming edges
        model.layers[1].mask[3, :] = 0.0  # hidden node 3: no outgoing edges
    model.score_edges(torch.rand(500, 2) * 2 - 1)
    assert model.node_scores[1][1].item() == 0.0 and model.node_scores[1][3].item() == 0.0
    assert (model.node_scores[1][[0, 2, 4]] > 1e-2).all()
    small = model.prune(node_th=1e-2, edge_th=None, keep_constants=False)
    assert small.width == [2, 3, 1]
    x = torch.rand(200, 2) * 2 - 1
    with torch.no_grad():
        # pykan's prune (keep_constants=False) changes the function by a constant: node 1 is
        # constantly 0 and its outgoing edges contribute phi(0); node 3 contributes nothing
        diff = small(x) - model(x)
        assert diff.std().item() <= 1e-5
        const = sum(model.layers[1].edge_values(torch.zeros(1, 5))[0, 1, :])
        assert diff.mean().item() == pytest.approx(-const.item(), abs=1e-5)
        assert abs(const.item()) > 1e-2  # the offset is really there (what the default undoes)
        # ours (the default) moves that constant into a surviving edge: the same function
        kept = model.prune(node_th=1e-2, edge_th=None)
        assert kept.width == [2, 3, 1]
        assert (kept(x) - model(x)).abs().max().item() <= 1e-5


def test_prune_keeps_constants_of_removed_nodes_and_edges():
    """A trained model pruned to fewer nodes and edges computes what it did on the training
    inputs up to the removed parts' variation: the constant they added is carried into a
    surviving edge (spline coefficients, or a symbolic edge's d). pykan's rule leaves an offset
    the size of the removed outputs. Thresholds are far from every score (margins asserted)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, 2, generator=gen) * 2 - 1
    model = KAN([2, 4, 1], grid=5, k=3, seed=1)
    model.score_edges(x)
    with torch.no_grad():
        # hidden nodes 2 and 3 become near-constant: their incoming edges have tiny slopes but
        # a large offset (spline coefficients + 1.5), so they score ~1e-4 and are removed
        layer0 = model.layers[0]
        layer0.scale_base[:, 2:] = 0.0
        layer0.coef[:, 2:, :] = 1e-4 * torch.arange(layer0.coef.shape[2]) + 1.5
        layer0.scale_sp[:, :2] *= 10.0  # nodes 0 and 1 clearly alive
        model.layers[1].scale_sp[0] *= 10.0
        model.layers[1].set_symbolic([1], [0], ["sin"], torch.tensor([[2.0, 0.3, 3.0, 0.2]]))
    model.score_edges(x)
    ns = model.node_scores[1]
    assert float(ns[2]) < 1e-3 and float(ns[3]) < 1e-3  # 10x below node_th
    assert float(ns[0]) > 1e-1 and float(ns[1]) > 1e-1  # 10x above
    ref = model(x)
    old = model.prune(keep_constants=False)
    new = model.prune()
    assert new.width == old.width == [2, 2, 1]
    with torch.no_grad():
        off = float((old(x) - ref).abs().mean())
        err = float((new(x) - ref).abs().max())
    assert off > 0.1  # what pykan's rule loses
    assert err < 1e-3 * off
    # the constant goes into a symbolic edge's d where a node has only symbolic edges
    model.layers[1].set_symbolic([0], [0], ["x"], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    d_before = float(model.layers[1].sym_params[0, 0, 3].detach())
    new = model.prune()
    with torch.no_grad():
        assert float((new(x) - model(x)).abs().max()) < 1e-3 * off
    assert float(new.layers[1].sym_params[0, 0, 3].detach()) != d_before


# ======================================================================== canonical (statistical)
@pytest.mark.slow
def test_canonical_example_trains_and_prunes_to_2_1_1():
    """exp(sin(pi x) + y^2) with [2,5,1], 50 LBFGS steps, lamb=0.01 (pykan's tutorial), seeds
    0-9: every seed trains (finite test RMSE < 0.1), at least 5 reach RMSE < 0.05, and
    prune(1e-2) gives [2,1,1] in at least 9.

    The issue's figure ("RMSE < 0.05 and [2,1,1] in k of 10 seeds") is a statistic of float32
    round-off, not a property: bench/bench_canonical.py prints it (9 of 10 on the AMD EPYC dev
    machine, 7 of 10 on an Intel Xeon, whose MKL takes other code paths). Seeds 1, 5, 6, 7, 8 and
    9 end near 0.05, and a relative change of 1e-7 in the training inputs or in the initial
    parameters (two draws each) moves them by up to 0.01: the count was 9, 9 (inputs) and 7, 8
    (parameters) of 10 (`bench_canonical.py --variants`; 1 or 2 threads give the same bits).
    This test asserts what held in every variant, with headroom:

    - every seed's RMSE < 0.1: measured max 0.061 here, 0.064 on the Xeon (seed 6); 1.5x below
      the bound: catches a seed that diverges or stalls (labels' std 1.4; 0.09 after 2 steps);
    - RMSE < 0.05 in >= 5 seeds: measured 7-9; seeds 0, 2, 3, 4 never above 0.042 and seed 5
      mostly above 0.05, so five of seeds 1, 6, 7, 8, 9 would have to cross 0.05 at once;
    - [2,1,1] in >= 9 seeds: 10 of 10 in every variant and on the Xeon (pykan's grid rule,
      grid_min_span=0, gives 8). The second-largest hidden node score stayed <= 0.21x node_th
      except once (seed 9 with perturbed inputs: 0.94x), so one seed may flip, not two.
    The margins are printed with -s.

    Why 10 of 10 prune to [2,1,1]: grid updates squeeze a dying hidden node's knots onto its
    shrinking range, which lets the next layer magnify what is left of it; hidden grids kept at
    least 1 wide (the default grid_min_span) stop that. Variants measured before this one (none
    kept; "k/10" = RMSE < 0.05 and [2,1,1]): the paper's mean-|phi| metric 1/10, layer-wide
    log2 entropy 6/10, row/column entropy without pykan's +1 0/10, lamb_entropy=10 6/10, L-BFGS
    memory cleared at each grid update 4/10, grid updates stopped at step 25 7/10, input-layer
    grid updates only 5/10, no grid updates 5/10 (9/10 pruned); minimum spans 0.25 and 0.5
    9/10."""
    data = create_dataset(canonical, n_var=2, train_num=1000, test_num=1000, seed=0)
    rows, rmses, pruned = [], [], 0
    for seed in range(10):
        model = KAN([2, 5, 1], grid=3, k=3, seed=seed)
        hist = model.fit(data, opt="LBFGS", steps=50, lamb=0.01)
        rmse = hist["test_loss"][-1]
        width = model.prune(node_th=1e-2).width
        rmses.append(rmse)
        pruned += width == [2, 1, 1]
        scores = sorted(model.node_scores[1].tolist(), reverse=True)
        rows.append(
            f"seed {seed}: test RMSE {rmse:.4f} ({rmse / 0.05:.2f} of 0.05), pruned "
            f"width {width}, 2nd hidden node score {scores[1] / 1e-2:.2f} x node_th"
        )
    report = "\n".join(rows)
    print(report)
    assert all(math.isfinite(r) and r < 0.1 for r in rmses), report
    assert sum(r < 0.05 for r in rmses) >= 5, report
    assert pruned >= 9, report


# ========================================================================================= CUDA
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("metric", METRICS)
def test_cuda_forward_backward_match_cpu(metric):
    cpu = _perturbed([3, 6, 4, 2], grid=5, dtype=torch.float32)
    gpu = cpu.copy().to("cuda")
    assert gpu.device.type == "cuda"
    x = torch.randn(512, 3, generator=torch.Generator().manual_seed(4)) * 1.5
    y = torch.randn(512, 2, generator=torch.Generator().manual_seed(5))
    losses, grads = [], []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        obj = _Objective(m, metric, y.to(dev))
        loss = obj(x.to(dev))
        loss.backward()
        losses.append(loss.item())
        grads.append(
            {n: p.grad.detach().cpu() for n, p in m.named_parameters() if p.grad is not None}
        )
        with torch.no_grad():
            out = m(x.to(dev)).cpu()
            if dev == "cpu":
                want = out
            else:
                assert (out - want).abs().max().item() <= 1e-4
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        a, b = grads[0][n], grads[1][n]
        assert (a - b).abs().max().item() <= 1e-3 * max(1.0, a.abs().max().item()), n


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_update_grid_and_refine():
    data = create_dataset(canonical, n_var=2, train_num=500, seed=0, device="cuda")
    model = KAN([2, 5, 1], grid=3, seed=0, device="cuda")
    hist = model.fit(data, opt="Adam", steps=20, lr=1e-2, lamb=0.01, update_grid=True)
    assert all(math.isfinite(v) for v in hist["test_loss"])
    fine = model.refine(6)
    assert fine.device.type == "cuda"
    x = data["test_input"]
    with torch.no_grad():
        assert (fine(x) - model(x)).abs().max().item() <= 5e-2 * model(x).std().item()
    cpu = model.copy().to("cpu")
    with torch.no_grad():
        assert (cpu(x.cpu()) - model(x).cpu()).abs().max().item() <= 1e-4


def test_functional_helpers_are_consistent():
    """curve2coef inverts coef -> curve on the knots' span (sanity for the refits above)."""
    grid = uniform_grid(2, 7, 3, (-1, 1), dtype=torch.float64)
    x = torch.linspace(-1, 1, 300, dtype=torch.float64).unsqueeze(1).expand(300, 2)
    coef = torch.randn(2, 3, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.einsum("bik,iok->bio", basis(x, grid, 3), coef)
    back = curve2coef(x, y, grid, 3)
    y_back = torch.einsum("bik,iok->bio", basis(x, grid, 3), back)
    print(
        "curve2coef: curve err",
        ((y_back - y).abs().max() / y.abs().max()).item(),
        "interior coef err",
        (back - coef)[:, :, 1:-1].abs().max().item(),
        "coef err",
        (back - coef).abs().max().item(),
    )
    assert (y_back - y).abs().max().item() <= 2e-6 * y.abs().max().item()
    # coefficients are recovered too, up to the tiny ridge (which mostly biases the two end basis
    # functions, whose support barely reaches into the samples)
    assert (back - coef).abs().max().item() <= 1e-4


def test_prune_minimal_folds_an_additive_split_and_keeps_a_needed_node():
    """prune_minimal removes hidden nodes while a short retraining fits as well: sin(x) + y^2
    trained on [2,3,1] ends as [2,1,1] (one node suffices: the split is folded into one node),
    x*y keeps two nodes (one node leaves RMSE ~0.15 of a label std 0.34). Margins: with
    atol=0.1 the acceptance bound is ~0.058 for sin(x)+y^2 (measured 0.03 after the fold) and
    ~0.034 for x*y (measured 0.15 and 0.33 for the one-node trials)."""
    from kan_widget.structure import without_node

    cases = [
        (lambda x: torch.sin(x[:, [0]]) + x[:, [1]] ** 2, [2, 1, 1]),
        (lambda x: x[:, [0]] * x[:, [1]], [2, 2, 1]),
    ]
    for f, want in cases:
        ds = create_dataset(f, n_var=2, train_num=300, test_num=100, seed=0)
        model = KAN([2, 3, 1], grid=5, k=3, seed=0)
        model.fit(ds, opt="LBFGS", steps=30)
        before = model.width
        small = model.prune_minimal(ds, atol=0.1)
        assert small.width == want, small.prune_log
        assert model.width == before  # unchanged
        last = small.prune_log[-1]
        assert last["kept"] is False or small.width == [2, 1, 1]
    # a removed node's constant is carried: the model computes the same up to its variation
    x = ds["train_input"]
    w = model.prune(node_th=0.0, edge_th=None)
    weakest = int(w.node_scores[1].argmin())
    cut = without_node(w, 1, weakest)
    with torch.no_grad():
        spread = float(w.layers[1].edge_values(w.activations(x)[1])[:, weakest, 0].std())
        assert float((cut(x) - w(x)).std()) <= 1.5 * spread + 1e-6
        assert abs(float((cut(x) - w(x)).mean())) < 1e-4


def test_prune_minimal_folds_sum_nodes_of_a_multiplication_model():
    """On a model with multiplication nodes, prune_minimal folds sum nodes into each other as in
    a plain model (before, it only removed nodes there): sin(x) + y^2 + x*y on [2,[3,1],1]
    leaves at most one sum node, and at least one fold was kept on the way."""
    f = lambda x: torch.sin(x[:, [0]]) + x[:, [1]] ** 2 + x[:, [0]] * x[:, [1]]  # noqa: E731
    ds = create_dataset(f, n_var=2, train_num=300, test_num=100, seed=0)
    model = KAN([2, [3, 1], 1], grid=5, k=3, seed=0)
    model.fit(ds, opt="LBFGS", steps=30)
    small = model.prune_minimal(ds, atol=0.1)
    assert small.n_sum[0] <= 1 and small.n_mult == [1], small.prune_log
    assert any(e.get("how") == "merged" and e["kept"] for e in small.prune_log), small.prune_log
    # the acceptance bound is ~0.06 (atol 0.1 of a label std ~0.6); measured ~1e-3
    assert rmse_of(small, ds["test_input"], ds["test_label"]) < 0.03


def rmse_of(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x) - y).pow(2).mean().sqrt())


def test_merged_node_accounts_for_node_affine_maps_and_refuses_a_product():
    """merged_node folds sum node i into sum node j through pykan's node affine maps: a model
    whose node i is scaled by 2 (node_scale) with its incoming edges halved computes the same
    function, and its fold must compute the same as the plain model's fold. A multiplication
    node takes no fold (a product is not a sum of edges): None."""
    from kan_widget.structure import merged_node

    f = lambda x: torch.sin(x[:, [0]]) + x[:, [1]] ** 2 + x[:, [0]] * x[:, [1]]  # noqa: E731
    ds = create_dataset(f, n_var=2, train_num=200, test_num=10, seed=1)
    model = KAN([2, [3, 1], 1], grid=5, k=3, seed=0)
    model.fit(ds, opt="LBFGS", steps=10)
    x = ds["train_input"]
    twin = model.copy()
    with torch.no_grad():
        twin.node_scale[0][0] = 2.0
        twin.subnode_scale[0][1] = 4.0  # node 1: its edge sum enters 4x, its edges are quartered
        for i, s in ((0, 2.0), (1, 4.0)):
            twin.layers[0].scale_sp[:, i] /= s
            twin.layers[0].scale_base[:, i] /= s
        assert torch.allclose(twin(x), model(x), atol=1e-5)
    for i, j in ((0, 1), (1, 0), (2, 0)):
        a, b = merged_node(model, 1, i, j), merged_node(twin, 1, i, j)
        assert a is not None and b is not None
        with torch.no_grad():
            scale = float(model(x).std())
            assert float((a(x) - b(x)).abs().max()) <= 1e-4 * scale, (i, j)
    assert merged_node(model, 1, 3, 0) is None  # node 3 is the multiplication node
    assert merged_node(model, 1, 0, 3) is None


def test_reinitialised_keeps_the_structure_and_starts_the_functions_afresh():
    """prune_minimal's fresh starts: the same width, edge masks and scaling, every edge's
    coefficients, scales and knots as a new model of the config and seed has them; refused
    (None) where edges are not all splines of a plain model."""
    from kan_widget.structure import reinitialised

    f = lambda x: torch.sin(x[:, [0]]) + 3 * x[:, [1]] ** 2  # noqa: E731
    ds = create_dataset(f, n_var=2, train_num=100, test_num=10, seed=0)
    model = KAN([2, 3, 1], grid=5, k=3, seed=0)
    model.fit(ds, opt="LBFGS", steps=3)
    model.remove_edge(0, 1, 2, log_history=False)
    new = reinitialised(model, 7)
    assert new is not None and new.width == model.width and new.scaling == model.scaling
    ref = KAN([2, 3, 1], grid=5, k=3, seed=7)
    for a, b, m in zip(new.layers, ref.layers, model.layers, strict=True):
        assert torch.equal(a.mask, m.mask)  # the structure found stays
        for name in ("coef", "scale_base", "scale_sp", "grid"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert float(new.layers[0].mask[1, 2]) == 0.0
    with torch.no_grad():  # the old model is untouched
        assert not torch.equal(model.layers[0].coef, new.layers[0].coef)
    sym = model.copy()
    sym.fix_symbolic(0, 0, 0, "sin", verbose=False)
    assert reinitialised(sym, 7) is None
    assert reinitialised(KAN([2, [1, 1], 1], grid=5, k=3, seed=0), 7) is None
