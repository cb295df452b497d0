"""The thread policy (kan_widget/threads.py): a training step runs on one thread but for large
products, the caller's count is back afterwards (also on error), a user's lower count is never
raised, and the thread count changes no number."""

from __future__ import annotations

import threading

import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget import threads as threads_mod
from kan_widget.training import Trainer

pytestmark = pytest.mark.skipif(
    not threads_mod.thread_local_counts(), reason="thread counts are per thread with OpenMP only"
)


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def count_log(monkeypatch):
    """Every count the engine sets, in order."""
    log: list[int] = []
    real = torch.set_num_threads

    def spy(n: int) -> None:
        log.append(n)
        real(n)

    monkeypatch.setattr(threads_mod.torch, "set_num_threads", spy)
    return log


def _data(n_var=2, n=200):
    return create_dataset(
        lambda x: torch.sin(x.sum(1, keepdim=True)), n_var=n_var, train_num=n, test_num=n
    )


def _seen_loss(seen):
    def loss_fn(pred, y):  # runs inside the step: records the count the step runs on
        seen.append(torch.get_num_threads())
        return torch.mean((pred - y) ** 2)

    return loss_fn


@pytest.mark.parametrize("opt", ["LBFGS", "Adam"])
def test_step_runs_on_one_thread_and_restores(two_threads, opt):
    seen: list[int] = []
    model = KAN([2, 3, 1], grid=3, seed=0)
    trainer = Trainer(model, _data(), opt=opt, lamb=0.01, loss_fn=_seen_loss(seen), max_iter=3)
    trainer.step()
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2
    assert threads_mod.caller_threads() == 2


def test_step_restores_on_error(two_threads):
    def bad_loss(pred, y):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")

    model = KAN([2, 3, 1], grid=3, seed=0)
    trainer = Trainer(model, _data(), opt="Adam", loss_fn=bad_loss)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.step()
    assert torch.get_num_threads() == 2
    assert threads_mod.caller_threads() == 2  # no block left open
    with pytest.raises(KeyboardInterrupt), threads_mod.OneThread():
        raise KeyboardInterrupt
    assert torch.get_num_threads() == 2


def test_fit_callback_sees_the_callers_count(two_threads):
    seen: list[int] = []
    model = KAN([2, 3, 1], grid=3, seed=0)
    model.fit(
        _data(), opt="Adam", steps=3, callback=lambda s, m: seen.append(torch.get_num_threads())
    )
    assert seen == [2, 2, 2]
    assert torch.get_num_threads() == 2


def test_nested_blocks_keep_the_callers_count(two_threads, count_log):
    a, b = torch.randn(512, 256), torch.randn(256, 128)  # 2*512*256*128 = 2^25 >= PAR_FLOPS
    with threads_mod.OneThread() as outer:
        with threads_mod.OneThread() as inner:
            assert inner.n == 2 and torch.get_num_threads() == 1
            assert threads_mod.caller_threads() == 2
            inner.mm(a, b)  # large: up to the caller's 2, then back to 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1  # the inner block does not restore
        assert outer.n == 2
    assert torch.get_num_threads() == 2
    assert count_log == [1, 2, 1, 2]


def test_a_lower_user_count_is_never_raised(count_log):
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    count_log.clear()
    try:
        # large enough that the fused layer's products pass PAR_FLOPS
        model = KAN([8, 32, 1], grid=3, seed=0)
        model.fit(_data(8, 8000), opt="Adam", steps=2, lamb=0.01, update_grid=False)
        assert torch.get_num_threads() == 1
        assert all(n <= 1 for n in count_log), count_log
    finally:
        torch.set_num_threads(old)


def test_other_threads_keep_their_count(two_threads):
    """A training thread (the widget's) and the caller's thread do not share the setting."""
    seen: list[int] = []
    inside, release = threading.Event(), threading.Event()

    def loss_fn(pred, y):
        inside.set()
        release.wait(10)
        return torch.mean((pred - y) ** 2)

    def train():
        torch.set_num_threads(2)
        model = KAN([2, 3, 1], grid=3, seed=0)
        Trainer(model, _data(), opt="Adam", loss_fn=loss_fn).step()
        seen.append(torch.get_num_threads())

    t = threading.Thread(target=train)
    t.start()
    assert inside.wait(10)
    assert torch.get_num_threads() == 2  # this thread, while the other is mid-step
    release.set()
    t.join()
    assert seen == [2]


def _fit_params(threads: int, width, n: int, opt: str) -> list[torch.Tensor]:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = KAN(width, grid=3, seed=0)
        model.fit(_data(width[0], n), opt=opt, steps=2, lamb=0.01, grid_update_num=2)
        return [t.detach().clone() for t in model.state_dict().values()]
    finally:
        torch.set_num_threads(old)


# [8,32,1] B=8000: the first layer's products pass PAR_FLOPS, so they run on 2 threads;
# [16,64,1] B=500 LBFGS: its flat-vector dot products were split over 2 threads before the
# whole step ran on one, and the fit differed in the last bits
@pytest.mark.parametrize(
    "width,n,opt",
    [([8, 32, 1], 8000, "LBFGS"), ([8, 32, 1], 8000, "Adam"), ([16, 64, 1], 500, "LBFGS")],
)
def test_thread_count_changes_no_number(width, n, opt):
    one, two = _fit_params(1, width, n, opt), _fit_params(2, width, n, opt)
    assert all(torch.equal(a, b) for a, b in zip(one, two))


@pytest.mark.parametrize("how", ["update_grid", "refine", "layer"])
def test_grid_refits_run_on_one_thread(two_threads, monkeypatch, how):
    """A refit's solves and Gram products ran on the pool outside any step, and on a busy
    machine took 15x their quiet time (issue 17)."""
    import kan_widget.layer as layer_mod

    seen: list[int] = []
    real = layer_mod.refit_coef

    def spy(*args, **kw):
        seen.append(torch.get_num_threads())
        return real(*args, **kw)

    monkeypatch.setattr(layer_mod, "refit_coef", spy)
    model = KAN([2, 3, 1], grid=3, seed=0)
    x = _data()["train_input"]
    if how == "update_grid":
        model.update_grid(x)
    elif how == "refine":
        model.refine(5, x)
    else:
        model.layers[0].refit_grid(x)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


def _feed(choice, cost, blocks):
    """Run ``blocks`` blocks through ``choice``, each way costing ``cost[way]`` per product;
    returns the ways picked."""
    picked = []
    for _ in range(blocks):
        par = choice.pick()
        picked.append(par)
        choice.record(par, 3 * cost[par], 3)
    return picked


def test_thread_choice_keeps_the_faster_way_and_follows_the_load():
    c = threads_mod.ThreadChoice()
    # start: both ways twice, alternating, the caller's threads first
    assert _feed(c, {True: 1.0, False: 2.0}, 4) == [True, False, True, False]
    picked = _feed(c, {True: 1.0, False: 2.0}, 200)
    # the slower way is only re-tried, ever more rarely (the gap doubles up to MAX_GAP)
    assert 3 <= picked.count(False) <= 200 // threads_mod.ThreadChoice.MIN_GAP
    assert picked[-threads_mod.ThreadChoice.MAX_GAP :].count(False) <= 1
    # the load changes (another process on a core): one thread becomes the faster way
    picked = _feed(c, {True: 5.0, False: 2.0}, 3 * threads_mod.ThreadChoice.MAX_GAP + 10)
    assert picked[-20:].count(True) <= 4
    assert c.best() is False
    # and back
    picked = _feed(c, {True: 1.0, False: 2.0}, 3 * threads_mod.ThreadChoice.MAX_GAP + 10)
    assert c.best() is True and picked[-20:].count(False) <= 4


def test_thread_choice_ignores_blocks_without_large_products():
    c = threads_mod.ThreadChoice()
    for _ in range(5):
        assert c.pick() is True
        c.record(True, 1.0, 0)
    assert c.times == ([], [])


def test_choice_for_is_shared_and_bounded():
    a = threads_mod.choice_for(("test", 1))
    assert threads_mod.choice_for(("test", 1)) is a
    for i in range(threads_mod._MAX_CHOICES + 5):
        threads_mod.choice_for(("test-fill", i))
    assert len(threads_mod._choices) <= threads_mod._MAX_CHOICES
    assert threads_mod.choice_for(("test", 1)) is not a  # the oldest went first


def test_steps_time_both_ways_and_use_the_choice(two_threads, count_log):
    """A model whose products pass PAR_FLOPS: its steps try the caller's threads and one
    thread, and record per-product times for each; the numbers do not depend on the way."""
    model = KAN([8, 32, 1], grid=3, seed=0)
    trainer = Trainer(model, _data(8, 8000), opt="Adam", lamb=0.01, update_grid=False)
    choice = trainer._thread_choice()
    assert choice is not None
    choice.times[0].clear()
    choice.times[1].clear()
    count_log.clear()
    for _ in range(4):
        trainer.step()
    assert len(choice.times[0]) == 2 and len(choice.times[1]) == 2
    assert all(t > 0 for arm in choice.times for t in arm)
    # steps at one thread for their products never raise the count inside the step
    assert count_log.count(2) >= 2  # the caller's-threads steps' products (and restores)
    assert torch.get_num_threads() == 2


def test_no_choice_at_one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(KAN([2, 3, 1], grid=3, seed=0), _data(), opt="Adam")
        assert trainer._thread_choice() is None
    finally:
        torch.set_num_threads(old)


@pytest.fixture
def fresh_loop(monkeypatch):
    monkeypatch.setattr(threads_mod, "_loop", threads_mod._Loop())
    return threads_mod._loop


def test_a_callers_loop_is_timed_between_anchor_forwards(two_threads, fresh_loop, count_log):
    """Outside a step, each return to the first key seen ends one timed iteration of the
    caller's loop; other keys and backward blocks (no key) run as the iteration's way."""
    a, b = torch.randn(512, 256), torch.randn(256, 128)  # 2^25 flops >= PAR_FLOPS
    anchor, other = ("test-loop", "a"), ("test-loop", "b")
    threads_mod._choices.pop(("loop", anchor), None)
    ways = []
    for _ in range(6):
        with threads_mod.free_block(anchor) as th:
            ways.append(th.par)
            th.mm(a, b)
        with threads_mod.free_block(other) as th2:
            th2.mm(a, b)
        with threads_mod.free_block() as th3:
            th3.mm(a, b)
        assert th2.par == th3.par == ways[-1]
    assert fresh_loop.anchor == anchor
    choice = threads_mod.choice_for(("loop", anchor))
    # five whole iterations timed (the sixth is open), alternating from the caller's threads
    assert ways[:4] == [True, False, True, False]
    assert sum(map(len, choice.times)) == 5
    assert all(t > 0 for arm in choice.times for t in arm)
    assert torch.get_num_threads() == 2


def test_a_pause_restarts_the_loop(two_threads, fresh_loop, monkeypatch):
    monkeypatch.setattr(threads_mod, "LOOP_STALE_S", 0.0)
    first, second = ("test-pause", 1), ("test-pause", 2)
    threads_mod._choices.pop(("loop", first), None)
    with threads_mod.free_block(first):
        pass
    with threads_mod.free_block(second):  # after a pause: anchors the loop anew
        pass
    assert fresh_loop.anchor == second
    with threads_mod.free_block(second):  # a pause again: not an iteration, not timed
        pass
    assert threads_mod.choice_for(("loop", first)).times == ([], [])
    assert threads_mod.choice_for(("loop", second)).times == ([], [])


def test_no_loop_inside_a_step_or_at_one_thread(fresh_loop):
    with threads_mod.OneThread(par=False) as outer:
        with threads_mod.free_block(("test-inside", 1)) as th:
            assert not th.outermost
        assert outer.n == torch.get_num_threads() or outer.n >= 1
    assert fresh_loop.anchor is None
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threads_mod.free_block(("test-inside", 2)):
            pass
        assert fresh_loop.anchor is None
    finally:
        torch.set_num_threads(old)


def test_a_callers_own_loop_gets_the_same_gradients(two_threads, fresh_loop):
    """A forward and backward outside any step (the wide benchmark's loop): iterations run
    either way, and the gradients do not depend on it."""
    model = KAN([8, 64, 1], grid=3, seed=0)
    x = torch.rand(8000, 8) * 2 - 1
    grads = []
    for _ in range(5):
        model.zero_grad(set_to_none=True)
        pred, stats = model.forward_stats(x, "edge_forward_spline_n")
        (pred.square().mean() + sum(s.value.sum() for s in stats)).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert all(torch.equal(g, h) for gs in grads[1:] for g, h in zip(gs, grads[0], strict=True))
    assert fresh_loop.anchor is not None
    choice = threads_mod.choice_for(("loop", fresh_loop.anchor))
    assert len(choice.times[0]) >= 1 and len(choice.times[1]) >= 1


def test_update_grid_runs_whole_on_one_thread(two_threads, count_log, monkeypatch):
    """``update_grid`` outside a step: its input check and its large products (the forward
    between layers, over PAR_FLOPS here) ran at the caller's 2 threads; on a busy machine the
    other thread spun for 52 ms of a 190 ms call ([10,32,32,1] B=10000, issue 17)."""
    model = KAN([8, 64, 1], grid=3, seed=0)
    x = _data(8, 8000)["train_input"]
    seen: list[int] = []
    real = model._check_input

    def check(v):
        seen.append(torch.get_num_threads())
        return real(v)

    monkeypatch.setattr(model, "_check_input", check)
    before = [p.detach().clone() for p in model.parameters()]
    model.update_grid(x)
    assert seen == [1]
    assert count_log == [1, 2]  # one block: lowered once, restored once, no product at 2
    assert torch.get_num_threads() == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _plain_weights(layer):
    """``KANLayer._weights`` by autograd's own operations (the path before LayerWeights)."""
    wb, ws = layer._numeric_weights()
    return torch.cat([wb.unsqueeze(1), ws], dim=1)


@pytest.mark.parametrize("masked", [False, True])
def test_layer_weights_equal_autograd_to_the_bit(two_threads, masked):
    """The wide layers' weights (past ATen's grain) and their gradients on one thread, the same
    bits as autograd's own operations (a masked edge included)."""
    from kan_widget.fused import LayerWeights

    big = KAN([64, 80, 1], grid=3, seed=1).layers[0]
    assert big.coef.numel() + big.scale_sp.numel() >= threads_mod.ATEN_GRAIN
    if masked:
        with torch.no_grad():
            big.mask[3, 5] = 0.0
            big.mask[10] = 0.0
    g = torch.randn(64, 7, 80)
    outs = []
    for make in (
        _plain_weights,
        lambda lay: LayerWeights.apply(
            lay.scale_base, lay.scale_sp, lay.coef, lay._mask_state()[0]
        ),
    ):
        big.zero_grad(set_to_none=True)
        w = make(big)
        w.backward(g)
        outs.append([w.detach(), big.scale_base.grad, big.scale_sp.grad, big.coef.grad])
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)
    assert torch.get_num_threads() == 2


def test_wide_loop_ops_outside_the_layer_run_on_one_thread(two_threads, fresh_loop, monkeypatch):
    """A caller's own loop on a wide model: the weights' ops, the penalty (MKL's log2 woke the
    pool whatever its size) and their backward run on one thread; the caller's own ops (the
    loss) at their count, which is theirs again after each call."""
    from kan_widget import fused, regularizer

    seen: dict[str, list[int]] = {"weights": [], "penalty": [], "penalty_bwd": []}
    real_pen = regularizer.spline_penalty
    real_cat = fused.torch.cat

    def pen(*a, **k):
        seen["penalty"].append(torch.get_num_threads())
        return real_pen(*a, **k)

    class SpyTorch:  # fused.torch.cat is called by LayerWeights.forward only in this loop
        def __getattr__(self, name):
            return getattr(torch, name)

        @staticmethod
        def cat(*a, **k):
            seen["weights"].append(torch.get_num_threads())
            return real_cat(*a, **k)

    monkeypatch.setattr(regularizer, "spline_penalty", pen)
    monkeypatch.setattr(fused, "torch", SpyTorch())
    model = KAN([8, 80, 80, 1], grid=3, seed=0)
    x = torch.rand(500, 8) * 2 - 1
    pred, stats = model.forward_stats(x, "edge_forward_spline_n")
    assert torch.get_num_threads() == 2
    reg = regularizer.edge_penalty([s.value for s in stats], "edge_forward_spline_n", 1.0, 2.0)
    assert torch.get_num_threads() == 2
    (pred.square().mean() + 0.01 * reg).backward()
    assert torch.get_num_threads() == 2
    assert seen["weights"] == [1]  # the [80, 80] layer only: the others pass no grain
    assert seen["penalty"] == [1]
    # in coef's layout already: autograd's copy into it was a parallel region at 2 threads
    assert model.layers[1].coef.grad.is_contiguous()


def test_layer_weights_second_derivative(two_threads):
    """create_graph through LayerWeights: the backward's operations are recorded, so a
    gradient of a gradient equals the plain path's."""
    from kan_widget.fused import LayerWeights

    lay = KAN([64, 80, 1], grid=3, seed=1).layers[0]
    g = torch.randn(64, 7, 80)
    res = []
    for make in (
        _plain_weights,
        lambda l_: LayerWeights.apply(l_.scale_base, l_.scale_sp, l_.coef, l_._mask_state()[0]),
    ):
        w = make(lay)
        (gc,) = torch.autograd.grad((w * w * g).sum(), lay.coef, create_graph=True)
        (gg,) = torch.autograd.grad(gc.square().sum(), lay.scale_sp)
        res.append(gg)
    torch.testing.assert_close(res[0], res[1], rtol=1e-5, atol=1e-6)
