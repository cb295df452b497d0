"""discover(): the sparsify -> prune -> refine -> symbolify schedule over restarts, its choice
rule, progress and stop, and the widget's Discover command (no browser). Step counts are tiny:
these check the plumbing and the rule, not how often the schedule finds the formula (that is
bench/bench_discover.py's figure)."""

from __future__ import annotations

import time

import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.discover import STAGES, discover
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
    res = discover(model, data, 2, **TINY, progress=lambda *a: calls.append(a))
    return model, before, res, calls


def test_candidates_and_choice_rule(result, data):
    model, before, res, _ = result
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
    *_, calls = result
    assert [(s, r) for s, r, _ in calls[:-1]] == [(s, r) for r in (0, 1) for s in STAGES]
    fracs = [f for *_, f in calls]
    assert fracs == sorted(fracs) and fracs[0] == 0.0
    assert calls[-1] == ("done", 1, 1.0)


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
    ],
)
def test_bad_arguments_say_what_to_fix(data, kwargs, match):
    err = TypeError if "progress" in kwargs else ValueError
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
