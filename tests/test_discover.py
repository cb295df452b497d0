"""discover(): the sparsify -> prune -> refine -> symbolify schedule over restarts, its choice
rule, progress and stop, and the widget's Discover command (no browser). Step counts are tiny:
these check the plumbing and the rule, not how often the schedule finds the formula (that is
bench/bench_discover.py's figure)."""

from __future__ import annotations

import time

import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.discover import STAGES, DiscoverStep, discover
from kan_widget.widget import KANWidget

pytestmark = pytest.mark.timeout(300)

TINY = {"steps": 5, "prune_steps": 3, "fit_steps": 5, "grid": 5}


def target(x):
    return x[:, [0]] ** 2 + x[:, [1]]


@pytest.fixture(scope="module")
def data():
    return create_dataset(target, n_var=2, train_num=100, test_num=100, seed=0)


@pytest.fixture(scope="module")
def result(data):
    model = KAN([2, 3, 1], grid=3, k=3, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls: list[tuple[str, int, float]] = []
    steps: list[DiscoverStep] = []
    res = discover(
        model, data, 2, **TINY, progress=lambda *a: calls.append(a), on_step=steps.append
    )
    return model, before, res, calls, steps


def test_candidates_and_choice_rule(result, data):
    model, before, res, *_ = result
    # the input model is never changed
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert [(c.restart, c.stage) for c in res.candidates] == [
        (0, "refine"),
        (0, "symbolify"),
        (1, "refine"),
        (1, "symbolify"),
    ]
    assert res.select == "train" and not res.stopped
    best = res.best
    assert best is not None and res.model is best.model
    # the rule: within 1.1 * best + 1e-3 * std(labels), fewest edges, then fewest splines
    floor = 1e-3 * float(data["train_label"].double().std())
    lowest = min(c.loss for c in res.candidates)
    assert best.loss <= 1.1 * lowest + floor
    for c in res.candidates:
        if c.loss <= 1.1 * lowest + floor:
            assert (c.n_edge, c.n_spline) >= (best.n_edge, best.n_spline)
    # the numbers recorded are the model's own
    x, y = data["test_input"], data["test_label"]
    with torch.no_grad():
        rmse = float((best.model(x) - y).pow(2).mean().sqrt())
    assert best.test_loss == pytest.approx(rmse, rel=1e-6, abs=1e-9)
    assert best.n_edge == best.model.n_edge
    # x^2 + y is easy: even these few steps fit it far below the labels' spread (~0.6)
    assert best.test_loss < 0.05
    assert isinstance(best.formula, str) and best.formula


def test_progress_reports_every_stage_in_order(result):
    *_, calls, _ = result
    assert [(s, r) for s, r, _ in calls[:-1]] == [(s, r) for r in (0, 1) for s in STAGES]
    fracs = [f for *_, f in calls]
    assert fracs == sorted(fracs) and fracs[0] == 0.0
    assert calls[-1] == ("done", 1, 1.0)


def test_every_training_step_is_reported(result):
    """on_step sees every step of every stage, prune trials included, in order: the widget
    draws the run's loss curve from these."""
    *_, res, _, steps = result
    n = {"sparsify": TINY["steps"], "prune": TINY["prune_steps"], "refine": TINY["fit_steps"]}
    n["symbolify"] = TINY["fit_steps"]
    for r in (0, 1):
        mine = [s for s in steps if s.restart == r]
        assert [s.stage for s in mine] == sorted((s.stage for s in mine), key=STAGES.index)
        for stage in STAGES:
            got = [(s.trial, s.step, s.n_steps) for s in mine if s.stage == stage]
            trials = max(t for t, *_ in got) + 1
            assert trials == (1 if stage != "prune" else trials)
            # each fit counts 1..n (a prune trial is a fit of its own: prune_steps, or the
            # first fit's steps for prune_minimal's fresh starts)
            lengths = [ns for t, i, ns in got if i == 1]
            want = [(t, i, lengths[t]) for t in range(trials) for i in range(1, lengths[t] + 1)]
            assert got == want
            assert set(lengths) <= {n[stage], TINY["steps"]}
        prune = [s for s in mine if s.stage == "prune"]
        assert prune[0].trial == 0 and prune[-1].trial >= 0
    for s in steps:
        assert s.metrics["train_loss"] >= 0 and s.metrics["test_loss"] >= 0
    # the last step of a restart's symbolify trained the candidate that was recorded
    last = [s for s in steps if s.restart == 0 and s.stage == "symbolify"][-1]
    assert last.model is res.candidates[1].model
    assert "restart 1/2, symbolify step 5/5, loss" in last.describe(2)


@pytest.mark.parametrize("stage", STAGES)
def test_stop_takes_effect_after_the_current_step(data, stage):
    """stop() is read after every step of every stage (the prune stage's retraining trials
    too): no step is trained after it says stop."""
    model = KAN([2, 3, 1], grid=3, k=3, seed=0)
    seen: list[DiscoverStep] = []
    want = {"stop": False}

    def on_step(s: DiscoverStep) -> None:
        seen.append(s)
        if s.stage == stage and s.step == 2:
            want["stop"] = True

    res = discover(model, data, 1, **TINY, on_step=on_step, stop=lambda: want["stop"])
    assert res.stopped
    assert seen[-1].stage == stage and seen[-1].step == 2
    done = {"sparsify": 0, "prune": 0, "refine": 0, "symbolify": 1}[stage]
    assert len(res.candidates) == done  # a stopped fit leaves no candidate


def test_stop_between_stages_and_inside_fit(data):
    model = KAN([2, 3, 1], grid=3, k=3, seed=0)
    seen: list[str] = []
    res = discover(
        model,
        data,
        3,
        **TINY,
        progress=lambda s, r, f: seen.append(s),
        stop=lambda: "symbolify" in seen,
    )
    # stopped as restart 0's symbolify began: its spline candidate is kept and chosen
    assert res.stopped and [c.stage for c in res.candidates] == ["refine"]
    assert res.chosen == 0 and "done" not in seen
    # stop() is also checked every training step: a long sparsify ends after a few steps
    n = {"calls": 0}

    def stop() -> bool:
        n["calls"] += 1
        return n["calls"] > 3

    t0 = time.perf_counter()
    res = discover(model, data, 1, steps=100_000, stop=stop)
    assert res.stopped and res.model is None and res.candidates == []
    assert time.perf_counter() - t0 < 60  # 100000 LBFGS steps would take hours


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"restarts": 0}, "restarts must be an int >= 1"),
        ({"steps": 0}, "steps must be an int >= 1"),
        ({"rtol": 0.5}, "rtol must be >= 1"),
        ({"atol": float("nan")}, "atol must be a finite number"),
        ({"r2_threshold": 2.0}, r"r2_threshold must be in \[0, 1\]"),
        ({"grid": 0}, "grid must be an int >= 1"),
        ({"progress": 3}, "progress must be callable"),
        ({"on_step": 3}, "on_step must be callable"),
    ],
)
def test_bad_arguments_say_what_to_fix(data, kwargs, match):
    err = TypeError if "progress" in kwargs or "on_step" in kwargs else ValueError
    with pytest.raises(err, match=match):
        KAN([2, 3, 1], seed=0).discover(data, **kwargs)


def test_bad_dataset():
    with pytest.raises(ValueError, match="train_label"):
        discover(KAN([2, 3, 1], seed=0), {"train_input": torch.zeros(4, 2)})


@pytest.fixture
def w(data):
    widget = KANWidget(KAN([2, 3, 1], grid=3, k=3, seed=0), data, val_frac=0.2)
    yield widget
    widget.close()


def test_widget_discover_puts_every_candidate_in_undo(w):
    start = w.model
    res = w.discover(restarts=1, **TINY)
    assert res.select == "val"  # the widget's held-out rows choose, not the test rows
    assert w.model is res.model
    assert w.status["n_edge"] == res.model.n_edge and w.status["can_undo"]
    assert w.status["running"] is False and w.status["message"].startswith("discover (2 cand")
    others = [c.model for c in res.candidates if c.model is not res.model]
    seen = []
    while w.undo():
        seen.append(w.model)
    assert seen[: len(others)] == others[::-1]
    assert seen[len(others)] is start
    # more candidates than the undo history holds would lose the old model: refused
    with pytest.raises(ValueError, match="undo history keeps 20 models: use at most 10"):
        w.discover(restarts=11)


def test_widget_discover_steps_are_on_the_loss_curve(w):
    """Discover's training steps go onto the widget's loss curve (with the validation rows'
    loss, as Train's steps) and the step count; afterwards the status shows the chosen model's
    own numbers, not the run's last step."""
    from kan_widget.widget import metrics as mx

    n0 = len(w.history["step"])
    res = w.discover(restarts=1, **TINY)
    h = w.history
    added = len(h["step"]) - n0
    # sparsify 5 + prune (>= 1 trial of 3) + refine 5 + symbolify 5
    assert added >= 5 + 3 + 5 + 5 and (added - 15) % 3 == 0
    assert h["step"][-added:] == list(range(h["step"][-added], h["step"][-1] + 1))
    assert w.status["step"] == h["step"][-1]
    assert all(v is not None and v >= 0 for v in h["val_loss"][-added:])
    assert all(v is not None and v >= 0 for v in h["train_loss"][-added:])
    now = mx.evaluate(res.model, w._pdata)
    for k in ("train_loss", "val_loss", "test_loss"):
        assert w.status[k] == pytest.approx(now[k], rel=1e-5), k


def test_discover_button_stops_on_pause(w):
    w.steps = 100_000  # the button takes the widget's steps: only Pause can end this soon
    w._handle_custom_msg({"type": "discover"}, [])
    deadline = time.monotonic() + 60
    while not str(w.status.get("message", "")).startswith("discover: restart 1/3"):
        assert time.monotonic() < deadline, w.status
        time.sleep(0.05)
    assert w.status["running"] is True and w.status["busy"] == "discovering"
    w._handle_custom_msg({"type": "pause"}, [])
    assert w.wait(60)
    assert w.status["running"] is False and w.status["busy"] is None
    assert w.status["error"] is None
    assert w.status["message"] == "discover stopped before any candidate"
    assert not w.status["can_undo"]
    # the run's steps are on the loss curve; the numbers shown are the (unchanged) model's
    assert len(w.history["step"]) >= 1 and w.status["step"] == w.history["step"][-1]
    from kan_widget.widget import metrics as mx

    now = mx.evaluate(w.model, w._pdata)
    assert w.status["train_loss"] == pytest.approx(now["train_loss"], rel=1e-5)


def test_prune_minimal_stops_and_keeps_the_last_kept_model(data):
    """prune_minimal's callback sees every retraining step; returning False drops the trial
    being retrained and returns the last model it kept (its log ends with the stop)."""
    model = KAN([2, 3, 1], grid=3, k=3, seed=0)
    model.fit(data, opt="LBFGS", steps=5)
    seen: list[tuple[int, int]] = []
    trained: list[KAN] = []

    def cb(m: KAN, step: int, metrics: dict) -> bool:
        if step == 0:
            trained.append(m)
        seen.append((len(trained) - 1, step))
        return len(trained) < 2 or step < 1  # stop at the second trial's second step

    small = model.prune_minimal(data, steps=3, callback=cb)
    assert seen[-1] == (1, 1) and [s for t, s in seen if t == 0] == [0, 1, 2]
    assert small is trained[0]  # the first retraining's model: the trial was dropped
    assert small.prune_log[-1]["stopped"] is True and small.prune_log[0]["kept"] is True
    with pytest.raises(TypeError, match="callback must be callable"):
        model.prune_minimal(data, callback=3)


def test_symbolify_stage_checks_choices_on_the_training_rows(data, monkeypatch):
    # the data-checked choice (auto_symbolic(dataset=...), symbolic/verify.py) is what Discover
    # uses; on a regression it gets the training rows (and only those)
    seen = []
    real = KAN.auto_symbolic

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("dataset"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(KAN, "auto_symbolic", spy)
    discover(KAN([2, 3, 1], grid=3, k=3, seed=0), data, 1, **TINY)
    assert len(seen) == 1 and set(seen[0]) == {"train_input", "train_label"}
    assert seen[0]["train_input"] is data["train_input"]


def test_a_silenced_sparsify_is_retried_with_a_smaller_lamb(data):
    """A sparsify fit the penalty silences (fit's test: training RMSE >= 98% of the labels'
    std) would hand prune a constant and the formula 0: it is rerun from the same start at
    lamb / 3, at most twice; the steps, the notes and the candidates say so. On x^2 + y ([2,3,1],
    10 steps) lamb=0.3 and 0.1 end at RMSE 0.61 (std 0.61), 0.033 at 0.07."""
    from kan_widget.discover import RETRIES, RETRY_DIVISOR

    steps: list[DiscoverStep] = []
    res = discover(
        KAN([2, 3, 1], grid=3, k=3, seed=0),
        data,
        1,
        **{**TINY, "steps": 10},
        lamb=0.3,
        on_step=steps.append,
    )
    sp = [s for s in steps if s.stage == "sparsify"]
    lambs = [0.3, 0.3 / RETRY_DIVISOR, 0.3 / RETRY_DIVISOR**2]
    assert [(s.retry, s.step) for s in sp] == [(r, i) for r in range(3) for i in range(1, 11)]
    assert [s.lamb for s in sp[::10]] == pytest.approx(lambs)
    assert "sparsify (retry 2, lamb=0.033) step 10/10" in sp[-1].describe(1)
    assert len(res.notes) == 2 and all("no better than a constant" in n for n in res.notes)
    assert "retried at lamb=0.033" in res.notes[1]
    assert [(c.retry, c.lamb) for c in res.candidates] == [(RETRIES, pytest.approx(lambs[2]))] * 2
    best = res.best
    assert best is not None and "retry 2" in best.summary()
    assert best.test_loss is not None and best.test_loss < 0.3  # a fit, not the mean (std 0.61)
    assert best.formula.strip() not in ("0", "")


def test_a_sparsify_silenced_at_every_lamb_is_kept_and_said(data):
    res = discover(KAN([2, 3, 1], grid=3, k=3, seed=0), data, 1, **{**TINY, "steps": 10}, lamb=30)
    assert len(res.notes) == 3 and "still ended no better than a constant" in res.notes[-1]
    assert all(c.retry == 2 for c in res.candidates)


def test_a_sparsify_that_fits_is_not_retried(result):
    *_, res, _, steps = result
    assert res.notes == [] and all(s.retry == 0 for s in steps)
    assert all(c.retry == 0 and c.lamb == 0.01 for c in res.candidates)
