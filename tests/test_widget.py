"""KANWidget without a browser: traits, commands as the front end sends them, the training thread.

Front-end messages go through ipywidgets' own dispatch (``_handle_custom_msg`` for commands,
``_handle_msg`` for trait updates), so a handler that is not registered, or a dispatcher that has
been overridden by mistake (browser-tests.md pitfall 4), fails here too.
"""

from __future__ import annotations

import importlib.util
import threading
import time

import numpy as np
import pytest
import torch
import traitlets

from kan_widget import KAN, create_dataset
from kan_widget.training import Diverged, Trainer
from kan_widget.widget import KANWidget
from kan_widget.widget import snapshot as snap
from kan_widget.widget.messages import check_hparam, parse_command
from kan_widget.widget.plots import MAX_POINTS, decimate
from kan_widget.widget.runner import THREAD_NAME

pytestmark = pytest.mark.timeout(120)

HAS_SYMBOLIC = importlib.util.find_spec("kan_widget.symbolic.api") is not None
needs_symbolic = pytest.mark.skipif(not HAS_SYMBOLIC, reason="kan_widget.symbolic.api missing")


def canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def dataset():
    # small, so that LBFGS steps stay cheap on a shared 2-core machine
    return create_dataset(canonical, n_var=2, train_num=300, test_num=300, seed=0)


@pytest.fixture
def w(dataset):
    # Adam: one cheap forward/backward per step, so thread tests run many steps quickly.
    # val_frac=0: these tests compare with the engine on every training row (the validation
    # split has its own tests below, with the default val_frac)
    widget = KANWidget(KAN([2, 5, 1], seed=1), dataset, opt="Adam", val_frac=0)
    yield widget
    widget.close()


# node scores of this fresh model's hidden layer are about [0.07, 0.01, 0.11, 0.01, 0.02]
PRUNE_THETA = 0.05


def send(widget, content, wait=True):
    """A custom message exactly as the front end's ``model.send`` delivers it; with ``wait``,
    return once the command thread has run it (not once a training run it started ends)."""
    widget._handle_custom_msg(content, [])
    if wait:
        assert widget._commands.wait(60), "command still running after 60 s"


def update_from_frontend(widget, state):
    """A trait update exactly as the front end's ``model.save_changes`` delivers it."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def record_sends(widget):
    sent = []
    orig = widget.send_state

    def spy(key=None):
        # hold_sync passes its pending set and clears it afterwards: keep a copy
        sent.append(key if key is None or isinstance(key, str) else sorted(key))
        return orig(key)

    widget.send_state = spy
    return sent


def state_of(widget):
    return (
        widget.model,
        widget.model.width,
        dict(widget.structure),
        widget._history.undo_depth,
        widget.curves,
        widget.masks,
    )


def train_threads():
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def wait_for(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# ---------------------------------------------------------------------- construction, buffers
def test_construct_publishes_state(w):
    s = w.structure
    assert s["width"] == [2, 5, 1] and s["in_vars"] == ["x_1", "x_2"] and s["out_vars"] == ["y_1"]
    assert s["n_points"] == 100
    assert s["layers"] == [{"in": 2, "out": 5, "sym": []}, {"in": 5, "out": 1, "sym": []}]
    st = w.status
    assert st["running"] is False and st["step"] == 0 and st["error"] is None
    assert st["n_edge"] == 15 and st["n_params"] == w.model.n_params
    assert st["can_undo"] is False and st["can_redo"] is False
    assert w.formula == {"latex": "", "text": "", "complete": False}
    assert set(st) == {
        "running",
        "step",
        "train_loss",
        "test_loss",
        "reg",
        "steps_per_s",
        "n_edge",
        "n_params",
        "message",
        "error",
        "can_undo",
        "can_redo",
        "busy",
        "val_loss",
        "train_r2",
        "val_r2",
        "test_r2",
        "n_train",
        "n_val",
        "n_test",
        "notes",
        "best_step",
        "can_back_to_best",
        "symbolify",
        "problem",
        "train_acc",
        "val_acc",
        "test_acc",
    }


def test_constructor_validation(dataset):
    with pytest.raises(TypeError):
        KANWidget("not a model", dataset)
    with pytest.raises(ValueError, match="columns"):
        KANWidget(KAN([3, 2, 1]), dataset)
    with pytest.raises(ValueError, match="in_vars"):
        KANWidget(KAN([2, 2, 1]), dataset, in_vars=["x"])
    w = KANWidget(KAN([2, 2, 1]), dataset, in_vars=["x", "y"], out_vars=["f"], lamb=0.1)
    assert w.structure["in_vars"] == ["x", "y"] and w.lamb == 0.1
    w.close()


def test_buffer_sizes_match_protocol(w):
    sizes = snap.expected_sizes(w.model.width, 100)
    assert len(w.curves) == sizes["curves"] == 4 * (2 * 100 + 10 * 100 + 5 * 100 + 5 * 100)
    assert len(w.scores) == sizes["scores"] == 4 * 15
    assert len(w.masks) == sizes["masks"] == 15
    w.prune(theta=PRUNE_THETA)
    sizes = snap.expected_sizes(w.model.width, 100)
    assert w.model.width != [2, 5, 1]
    assert (len(w.curves), len(w.scores), len(w.masks)) == (
        sizes["curves"],
        sizes["scores"],
        sizes["masks"],
    )


def test_buffer_contents(w, dataset):
    model, n = w.model, 100
    curves = np.frombuffer(w.curves, dtype="<f4")
    acts = model.activations(dataset["train_input"])
    off = 0
    for l, layer in enumerate(model.layers):
        n_in, n_out = layer.in_dim, layer.out_dim
        xs = curves[off : off + n_in * n].reshape(n_in, n)
        off += n_in * n
        ys = curves[off : off + n_in * n_out * n].reshape(n_in, n_out, n)
        off += n_in * n_out * n
        lo, hi = acts[l].amin(0).numpy(), acts[l].amax(0).numpy()
        np.testing.assert_allclose(xs[:, 0], lo, rtol=1e-6)
        np.testing.assert_allclose(xs[:, -1], hi, rtol=1e-5, atol=1e-6)
        i, j = n_in - 1, n_out - 1  # one edge, computed directly
        x_in = torch.zeros(n, n_in)
        x_in[:, i] = torch.tensor(xs[i])
        direct = layer.edge_values(x_in)[:, i, j].detach().numpy()
        np.testing.assert_allclose(ys[i, j], direct, rtol=1e-4, atol=1e-5)
    assert off == len(curves)
    scores = np.frombuffer(w.scores, dtype="<f4")
    expect = np.concatenate([s.t().reshape(-1).numpy() for s in model.edge_scores])
    np.testing.assert_allclose(scores, expect, rtol=1e-6)
    # edge (l, i, j) sits at offset_l + i*out_l + j
    np.testing.assert_allclose(scores[1 * 5 + 3], float(model.edge_scores[0][3, 1]), rtol=1e-6)
    masks = np.frombuffer(w.masks, dtype=np.uint8)
    assert masks.tolist() == [1] * 15


def test_removed_edges_have_zero_score_and_mask(w):
    w.model.remove_edge(0, 1, 2)
    w.refresh()
    off = 1 * 5 + 2
    assert np.frombuffer(w.masks, dtype=np.uint8)[off] == 0
    assert np.frombuffer(w.scores, dtype="<f4")[off] == 0.0
    assert w.status["n_edge"] == 14


# ---------------------------------------------------------------------- traits
def test_trait_round_trips(w):
    sent = record_sends(w)
    update_from_frontend(
        w,
        {
            "lamb": 0.002,
            "lamb_l1": 2.0,
            "lamb_entropy": 0.5,
            "theta": 0.05,
            "beta": 10,
            "steps": 20,
            "opt": "Adam",
            "lr": 0.01,
        },
    )
    assert (w.lamb, w.lamb_l1, w.lamb_entropy, w.theta, w.beta, w.steps, w.opt, w.lr) == (
        0.002,
        2.0,
        0.5,
        0.05,
        10.0,
        20,
        "Adam",
        0.01,
    )
    assert w._hparams()["lamb"] == 0.002 and w._hparams()["opt"] == "Adam"
    assert w.status["error"] is None
    assert sent == []  # values from the front end are not echoed back as updates
    w.lamb = 0.003  # from Python: reaches the front end
    assert w.get_state("lamb") == {"lamb": 0.003} and w._hparams()["lamb"] == 0.003
    update_from_frontend(w, {"steps": 30.0})  # JS numbers may arrive as floats
    assert w.steps == 30 and isinstance(w.steps, int)


def test_python_assignment_out_of_range_raises(w):
    with pytest.raises(traitlets.TraitError, match="lamb"):
        w.lamb = 2.0
    with pytest.raises(traitlets.TraitError, match="opt"):
        w.opt = "SGD"
    with pytest.raises(traitlets.TraitError):
        w.lr = 0.0
    assert (w.lamb, w.opt, w.lr) == (0.01, "Adam", 1e-3)


def test_switching_optimizer_switches_default_lr(w):
    update_from_frontend(w, {"opt": "LBFGS"})
    assert w.lr == 1.0
    update_from_frontend(w, {"opt": "Adam"})
    assert w.lr == 1e-3
    w.lr = 0.05
    w.opt = "LBFGS"
    assert w.lr == 0.05  # a tuned lr is left alone


@pytest.mark.parametrize(
    "state",
    [
        {"lamb": 1.5},
        {"lamb": -0.1},
        {"theta": float("nan")},
        {"beta": 0.01},
        {"steps": 0},
        {"steps": 2.5},
        {"opt": "SGD"},
        {"lr": 0},
        {"lr": 11},
        {"lamb_l1": "1"},
        {"lamb": True},
    ],
)
def test_slider_out_of_range_rejected(w, state):
    ((name, _),) = state.items()
    old = getattr(w, name)
    sent = record_sends(w)
    update_from_frontend(w, state)
    assert getattr(w, name) == old
    assert w._hparams()[name] == old
    assert name in (w.status["error"] or "")
    assert [name] in sent  # the old value goes back so the slider jumps back


def test_valid_and_invalid_together(w):
    update_from_frontend(w, {"lamb": 0.5, "theta": 7})
    assert w.lamb == 0.5 and w.theta == 0.01
    assert "theta" in w.status["error"]


def test_frontend_cannot_write_outputs(w):
    before = (dict(w.status), w.curves)
    update_from_frontend(w, {"curves": b"\0" * 8})
    assert w.curves == before[1]
    assert "curves" in w.status["error"]


# ---------------------------------------------------------------------- training
def test_train_block_steps_and_lowers_loss(w, dataset, capsys):
    w.opt, w.lr = "LBFGS", 1.0
    with torch.no_grad():
        before = float(
            torch.sqrt(torch.mean((w.model(dataset["train_input"]) - dataset["train_label"]) ** 2))
        )
    assert w.train(2, block=True) is True
    st = w.status
    assert st["step"] == 2 and st["running"] is False and st["error"] is None
    assert st["train_loss"] < before
    assert st["test_loss"] is not None and st["reg"] is not None
    assert w.history["step"] == [1, 2]
    assert capsys.readouterr() == ("", "")  # nothing printed from the thread
    w.opt = "Adam"
    w.step()
    assert w.status["step"] == 3
    send(w, {"type": "step"})
    assert w.status["step"] == 4


def test_train_message_then_pause(w):
    update_from_frontend(w, {"steps": 100000})
    send(w, {"type": "train"})
    assert w.running and w.status["running"] is True
    wait_for(lambda: w._step_count >= 1)
    send(w, {"type": "pause"})
    assert w.wait(30)
    assert w.status["running"] is False and w.status["message"].startswith("stopped")


def test_stop_within_one_step(w, monkeypatch):
    """At most the step in progress when the stop is requested finishes. The count is read as
    the stop event is set, not before calling stop(): on a loaded machine the training thread
    can run several 1-ms Adam steps between a read in the test and the stop itself."""
    w.train(100000)
    wait_for(lambda: w._step_count >= 2)
    event, at_stop = w._runner._stop, []
    real_set = event.set
    monkeypatch.setattr(event, "set", lambda: (at_stop.append(w._step_count), real_set()))
    t0 = time.monotonic()
    assert w.stop() is True
    assert time.monotonic() - t0 < 30
    assert len(at_stop) == 1 and w._step_count <= at_stop[0] + 1, (at_stop, w._step_count)
    assert w.wait(0) is True and not w.running and not train_threads()
    assert w.status["running"] is False and w.status["step"] == w._step_count


def test_second_train_does_not_start_second_thread(w):
    assert w.train(100000) is True
    first = w._runner.thread
    assert w.train(100000) is False
    send(w, {"type": "train"})
    send(w, {"type": "step"})
    assert w._runner.thread is first and len(train_threads()) == 1
    assert "already" in w.status["message"] or "pause" in w.status["message"]
    w.stop()


def test_hyperparameters_reach_running_trainer(w):
    w.train(100000)
    wait_for(lambda: w._runner.trainer is not None)
    update_from_frontend(w, {"lamb": 0.0, "lr": 0.5})
    wait_for(lambda: w._runner.trainer.lamb == 0.0 and w._runner.trainer.lr == 0.5)
    w.stop()


def test_pushes_are_throttled(w, monkeypatch):
    pushes = []
    orig = w._push_tick

    def spy():
        pushes.append(time.monotonic())
        return orig()

    monkeypatch.setattr(w._runner, "_push", spy)
    monkeypatch.setattr(w._runner, "push_interval", 0.2)
    w.train(100000)
    wait_for(lambda: len(pushes) >= 3)
    w.stop()
    gaps = np.diff(pushes)
    assert (gaps >= 0.2 - 1e-3).all()


def test_exception_in_training_is_shown(w, monkeypatch):
    def boom(self):
        raise RuntimeError("boom in step")

    monkeypatch.setattr(Trainer, "step", boom)
    assert w.train(3) is True
    assert w.wait(30)
    assert w.status["error"] == "RuntimeError: boom in step"
    assert w.status["running"] is False
    assert isinstance(w.last_error, RuntimeError)
    with pytest.raises(RuntimeError, match="boom"):
        w.train(3, block=True)
    send(w, {"type": "train"})
    assert w.wait(30) and "boom" in w.status["error"]


def test_divergence_is_shown_not_raised(w, monkeypatch):
    def diverge(self):
        raise Diverged("training diverged at step 0 (loss became nan)")

    monkeypatch.setattr(Trainer, "step", diverge)
    w.train(3, block=True)  # no exception: the model was rolled back
    assert "diverged" in w.status["error"] and w.status["running"] is False


def test_close_stops_thread(dataset):
    widget = KANWidget(KAN([2, 5, 1], seed=1), dataset)
    widget.train(100000)
    wait_for(lambda: widget._step_count >= 1)
    widget.close()
    assert not widget.running and not train_threads()
    assert widget.comm is None


def test_keyboard_interrupt_stops_blocking_train(w, monkeypatch):
    calls = {"n": 0}
    real_wait = w._runner.wait

    def wait(timeout=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_wait(timeout)

    monkeypatch.setattr(w._runner, "wait", wait)
    with pytest.raises(KeyboardInterrupt):
        w.train(100000, block=True)
    assert not train_threads()


# ---------------------------------------------------------------------- structural commands
def test_prune_undo_redo_via_messages(w):
    update_from_frontend(w, {"theta": PRUNE_THETA})
    version = w.structure["version"]
    send(w, {"type": "prune"})
    pruned = w.model.width
    assert pruned[1] < 5 and w.status["error"] is None
    assert w.structure["width"] == pruned and w.structure["version"] == version + 1
    assert w.status["can_undo"] is True and w.status["can_redo"] is False
    send(w, {"type": "undo"})
    assert w.model.width == [2, 5, 1] and w.structure["width"] == [2, 5, 1]
    assert w.status["can_undo"] is False and w.status["can_redo"] is True
    send(w, {"type": "redo"})
    assert w.model.width == pruned
    send(w, {"type": "redo"})
    assert w.status["message"] == "nothing to redo" and w.model.width == pruned


def test_prune_pauses_training_and_resumes_only_if_asked(w):
    w.train(100000)
    new = w.prune(theta=PRUNE_THETA)
    assert not w.running and w.model is new
    w.train(100000)
    w.undo(resume=True)
    assert w.running
    w.stop()


def test_undo_history_is_bounded(dataset, monkeypatch):
    widget = KANWidget(KAN([2, 2, 1], seed=1), dataset)
    # only the bookkeeping is under test here, not the (tested elsewhere) re-sending
    monkeypatch.setattr(widget, "_publish_model", lambda *a, **k: None)
    for _ in range(21):
        widget.refine(3)
    assert widget._history.undo_depth == 20
    n = 0
    while widget.undo():
        n += 1
    assert n == 20 and widget.status["message"] == "nothing to undo"
    widget.close()


def test_refine_and_reset(w):
    send(w, {"type": "refine", "grid": 6})
    assert w.model.grid == 6 and w.status["error"] is None
    w.train(2, block=True)
    send(w, {"type": "reset"})
    fresh = KAN([2, 5, 1], seed=1)
    assert w.model.grid == 3 and w.status["step"] == 0 and w.history["step"] == []
    assert torch.equal(w.model.layers[0].coef, fresh.layers[0].coef)
    send(w, {"type": "undo"})
    assert w.model.grid == 6


def test_refresh_resends_everything(w):
    sent = record_sends(w)
    send(w, {"type": "refresh"})
    keys = {k for batch in sent if batch for k in batch}
    assert {"structure", "curves", "scores", "masks", "status", "formula"} <= keys


# ---------------------------------------------------------------------- invalid messages
@pytest.mark.parametrize(
    "content, fragment",
    [
        ({"type": "explode"}, "unknown message type"),
        ({"kind": "train"}, "type"),
        ("train", "object"),
        ([1, 2], "object"),
        ({"type": 3}, "type"),
        ({"type": "refine"}, "grid"),
        ({"type": "refine", "grid": "7"}, "integer"),
        ({"type": "refine", "grid": 7.5}, "integer"),
        ({"type": "refine", "grid": True}, "integer"),
        ({"type": "refine", "grid": 0}, "grid"),
        ({"type": "inspect", "l": 0, "i": 0}, "j"),
        ({"type": "inspect", "l": 2, "i": 0, "j": 0}, "layer"),
        ({"type": "inspect", "l": 0, "i": 2, "j": 0}, "input node"),
        ({"type": "inspect", "l": 1, "i": 0, "j": 1}, "output node"),
        ({"type": "inspect", "l": -1, "i": 0, "j": 0}, "layer"),
        ({"type": "fix", "l": 0, "i": 0, "j": 0}, "name"),
        ({"type": "fix", "l": 0, "i": 0, "j": 0, "name": ""}, "name"),
        ({"type": "fix", "l": 0, "i": 0, "j": 9, "name": "sin"}, "output node"),
        ({"type": "unfix", "l": "0", "i": 0, "j": 0}, "integer"),
        ({"type": "prune", "theta": 0.5}, "unexpected"),
    ],
)
def test_invalid_messages_change_nothing(w, content, fragment):
    before = state_of(w)
    send(w, content)
    assert fragment in (w.status["error"] or "")
    assert state_of(w) == before and not w.running


def test_error_clears_on_next_valid_action(w):
    send(w, {"type": "nope"})
    assert w.status["error"]
    w.train(1, block=True)
    assert w.status["error"] is None


def test_failed_command_reports_and_keeps_model(w):
    before = state_of(w)
    send(w, {"type": "fix", "l": 0, "i": 0, "j": 0, "name": "no_such_function_xyz"})
    assert w.status["error"].startswith("fix failed")
    assert state_of(w) == before


def test_python_methods_raise_on_bad_edges(w):
    with pytest.raises(IndexError):
        w.fix_symbolic(5, 0, 0, "sin")
    with pytest.raises(TypeError):
        w.unfix_symbolic(0, 0.5, 0)
    with pytest.raises(ValueError):
        w.refine(0)
    with pytest.raises(ValueError):
        w.train(0)


# ---------------------------------------------------------------------- symbolic
@needs_symbolic
def test_symbolify_gives_formula(w):
    w.prune(theta=0.08)  # [2, 1, 1]: three edges keep the fits quick
    send(w, {"type": "symbolify"})
    assert w.status["error"] is None, w.status["error"]
    f = w.formula
    assert f["text"].startswith("y_1 = ") and f["latex"].startswith("y_{1} = ")
    assert f["complete"] is True
    assert any(layer["sym"] for layer in w.structure["layers"])
    exprs = w.formula_sympy(simplify=False)
    assert len(exprs) == 1 and {s.name for s in exprs[0].free_symbols} <= {"x_1", "x_2"}
    send(w, {"type": "undo"})
    assert w.formula == {"latex": "", "text": "", "complete": False}


@needs_symbolic
def test_inspect_fix_unfix(w):
    send(w, {"type": "inspect", "l": 0, "i": 0, "j": 0})
    ins = w.inspector
    assert w.status["error"] is None, w.status["error"]
    assert ins["edge"] == [0, 0, 0] and ins["symbolic"] is None and ins["points"] > 0
    assert 1 <= len(ins["candidates"]) <= 5
    assert {"name", "r2", "complexity"} <= set(ins["candidates"][0])
    assert len(w.inspector_points) == 8 * ins["points"]
    name = ins["candidates"][0]["name"]
    send(w, {"type": "fix", "l": 0, "i": 0, "j": 0, "name": name})
    assert w.status["error"] is None, w.status["error"]
    assert w.structure["layers"][0]["sym"] == [[0, 0, name]]
    assert w.formula["complete"] is False
    send(w, {"type": "unfix", "l": 0, "i": 0, "j": 0})
    assert w.structure["layers"][0]["sym"] == []


# ---------------------------------------------------------------------- display, plots
def test_display_is_box_of_widget_and_plots(w):
    import bqplot
    import ipywidgets as ipw

    bundle = w._repr_mimebundle_()
    model_id = bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    box = w._box
    assert box.model_id == model_id
    assert isinstance(box, ipw.VBox) and box.children[0] is w
    loss_box, *figs = box.children[1].children
    # the loss plot with its legend beneath (bqplot's own legend would sit on the curves)
    assert isinstance(loss_box, ipw.VBox) and isinstance(loss_box.children[1], ipw.HTML)
    assert "train RMSE" in loss_box.children[1].value
    figs = [loss_box.children[0], *figs]
    assert figs and all(isinstance(f, bqplot.Figure) for f in figs)
    assert not any(m.display_legend for f in figs for m in f.marks)
    assert all(f.animation_duration == 0 for f in figs)
    assert bundle["text/plain"].startswith("KANWidget(")
    assert w._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]["model_id"] == model_id


@pytest.mark.parametrize("n_var, n_figs", [(1, 2), (2, 3), (3, 2)])
def test_fit_view_per_input_count(n_var, n_figs):
    ds = create_dataset(lambda x: x.sum(1, keepdim=True), n_var=n_var, train_num=50, test_num=50)
    widget = KANWidget(KAN([n_var, 2, 1]), ds)
    assert len(widget._plots.panel.children) == n_figs
    widget.train(1, block=True)
    assert len(widget._plots.loss_lines.x) == 1
    widget.close()


def test_loss_axis_ticks_stay_few_and_round(w):
    from kan_widget.widget.plots import MAX_TICKS, linear_ticks, log_ticks

    # one decade (bqplot alone labels 0.09, 0.1, 0.11, ... 0.19, which overlap)
    assert log_ticks(0.09, 0.19).tolist() == [0.09, 0.1, 0.12, 0.15]
    assert log_ticks(0.063, 0.2).tolist() == [0.07, 0.1, 0.15, 0.2]
    assert log_ticks(0.12, 0.18).tolist() == [0.12, 0.14, 0.16, 0.18]
    assert log_ticks(0.085, 0.35).tolist() == [0.1, 0.15, 0.2, 0.3]
    assert log_ticks(2e-3, 0.4).tolist() == [0.003, 0.01, 0.03, 0.1, 0.3]
    many = log_ticks(1e-12, 10.0)  # 14 decades: every other one
    assert 3 <= len(many) <= MAX_TICKS and many[-1] <= 10
    assert log_ticks(0.0, 1.0) is None and log_ticks(float("nan"), 1.0) is None
    assert linear_ticks(1, 3).tolist() == [1, 2, 3]  # steps are whole numbers
    assert linear_ticks(1, 3997).tolist() == [1000, 2000, 3000]
    for lo, hi in [(1e-7, 3.0), (0.5, 0.51), (11, 18), (1e-3, 1e-2)]:
        ticks = log_ticks(lo, hi)
        assert 1 <= len(ticks) <= MAX_TICKS and all(lo <= v <= hi for v in ticks), (lo, hi, ticks)
    w.train(3, block=True)
    p = w._plots
    assert p.step_axis.tick_values.tolist() == [1, 2, 3]
    assert 2 <= len(p.loss_axis.tick_values) <= MAX_TICKS
    assert 2 <= len(p.reg_axis.tick_values) <= MAX_TICKS


def test_decimate():
    assert decimate(10).tolist() == list(range(10))
    idx = decimate(12345)
    assert len(idx) <= MAX_POINTS and idx[0] == 0 and idx[-1] == 12344
    assert (np.diff(idx) > 0).all()


# ---------------------------------------------------------------------- messages module
def test_parse_command_accepts_protocol():
    widths = [2, 5, 1]
    for content in (
        {"type": "train"},
        {"type": "refine", "grid": 10},
        {"type": "fix", "l": 1, "i": 4, "j": 0, "name": "sin"},
    ):
        cmd, err = parse_command(content, widths)
        assert err is None and cmd.type == content["type"]


def test_check_hparam_ranges():
    assert check_hparam("lamb", 0) is None and check_hparam("lamb", 1) is None
    assert check_hparam("lr", 10) is None and check_hparam("lr", 0) is not None
    assert check_hparam("beta", 0.1) is None and check_hparam("beta", 100.5) is not None
    assert check_hparam("steps", 100000) is None and check_hparam("steps", 100001) is not None
    assert check_hparam("opt", "Adam") is None and check_hparam("opt", "adam") is not None


def test_push_asks_for_longer_gap_when_costly(w, monkeypatch):
    import kan_widget.widget.publish as wmod

    gap = w._push_tick()
    assert gap >= len(w.curves) / wmod.PUSH_BYTES_PER_S
    monkeypatch.setattr(wmod, "PUSH_BYTES_PER_S", 1.0)  # as if the curves were huge
    assert w._push_tick() >= len(w.curves)


def test_loss_history_is_bounded_in_long_sessions(dataset):
    from kan_widget.widget.history import HISTORY_CAP

    widget = KANWidget(KAN([2, 2, 1], seed=1), dataset)
    for s in range(10_000):  # what 10,000 live training steps append
        widget._on_step({"train_loss": 1.0 / (s + 1), "test_loss": 1.0, "reg": 0.0})
    h = widget.history
    assert HISTORY_CAP // 2 <= len(h["step"]) <= HISTORY_CAP
    assert len({len(v) for v in h.values()}) == 1  # the curves stay aligned
    assert h["step"][0] == 1 and h["step"][-1] > 9_990
    widget.close()


@pytest.mark.parametrize(
    "command",
    [
        {"type": "prune"},
        {"type": "refine", "grid": 5},
        {"type": "symbolify"},
        {"type": "undo"},
        {"type": "redo"},
        {"type": "reset"},
        {"type": "step"},
    ],
)
def test_commands_during_training_are_safe(w, command):
    w.train(100000)
    wait_for(lambda: w.status["step"] >= 1)
    send(w, command)
    w.stop()
    assert not w.running
    assert threading.active_count() < 50
    model = w.model
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert torch.isfinite(model(w._train_x[:8])).all()
    # the widget is still usable afterwards
    w.train(1, block=True)
    assert w.status["error"] is None, w.status["error"]


# ------------------------------------------------------------ long commands off the handler
@pytest.fixture
def slow_symbolify(monkeypatch):
    """``KAN.auto_symbolic`` that blocks until released (or raises ``fail`` when set)."""
    gate = {
        "started": threading.Event(),
        "release": threading.Event(),
        "fail": None,
        "thread": None,
    }
    real = KAN.auto_symbolic

    def fake(self, *args, **kwargs):
        gate["thread"] = threading.current_thread().name
        gate["started"].set()
        assert gate["release"].wait(60)
        if gate["fail"] is not None:
            raise gate["fail"]
        return real(self, *args, **kwargs)

    monkeypatch.setattr(KAN, "auto_symbolic", fake)
    yield gate
    gate["release"].set()


@needs_symbolic
def test_symbolify_runs_off_the_handler(w, slow_symbolify):
    from kan_widget.widget.runner import COMMAND_THREAD_NAME

    w.prune(theta=0.08)  # [2, 1, 1]: the real fit at the end stays quick
    pruned = w.model
    # the gated auto_symbolic blocks for up to 60 s: a handler that ran it would take that long,
    # so a bound of 10 s tells the two apart however loaded the machine is
    t0 = time.perf_counter()
    send(w, {"type": "symbolify"}, wait=False)
    assert time.perf_counter() - t0 < 10  # the handler only queues it
    assert slow_symbolify["started"].wait(30)
    assert slow_symbolify["thread"] == COMMAND_THREAD_NAME
    assert w.status["busy"] == "symbolifying"
    assert w.status["message"].startswith("symbolifying")
    # other messages are handled meanwhile: a slider, Pause, a refresh
    t0 = time.perf_counter()
    update_from_frontend(w, {"lamb": 0.123})
    send(w, {"type": "pause"}, wait=False)
    send(w, {"type": "refresh"}, wait=False)
    assert time.perf_counter() - t0 < 10
    assert w.lamb == 0.123 and w._hparams()["lamb"] == 0.123
    assert w.status["busy"] == "symbolifying"
    # a second command waits its turn and runs after, in order
    send(w, {"type": "undo"}, wait=False)
    slow_symbolify["release"].set()
    assert w.wait(60)
    assert w.status["busy"] is None and w.status["error"] is None, w.status
    assert w.model is pruned  # symbolified, then undone: back to the pruned model
    assert w.status["can_redo"] is True
    send(w, {"type": "redo"})
    assert any(layer["sym"] for layer in w.structure["layers"])
    assert w.formula["complete"] is True


@needs_symbolic
def test_symbolify_pauses_training_and_keeps_undo(w):
    w.train(100000)
    wait_for(lambda: w.status["step"] >= 1)
    w.prune(theta=0.08)
    w.train(100000)
    before = w.model
    send(w, {"type": "symbolify"})
    assert not w.running and w.status["running"] is False  # paused, not resumed
    assert w.model is not before and w.status["can_undo"] is True
    send(w, {"type": "undo"})
    assert w.model is before and not w.running


@needs_symbolic
def test_exception_in_symbolify_reaches_status_error(w, slow_symbolify):
    before = state_of(w)
    slow_symbolify["fail"] = RuntimeError("fit exploded")
    send(w, {"type": "symbolify"}, wait=False)
    slow_symbolify["release"].set()
    assert w.wait(60)
    assert w.status["error"] == "symbolify failed: RuntimeError: fit exploded"
    assert w.status["busy"] is None
    assert state_of(w) == before  # the model and the undo history are as they were
    assert isinstance(w._commands.last_error, RuntimeError)
    # the command thread survives: the next command runs
    send(w, {"type": "refine", "grid": 4})
    assert w.model.grid == 4 and w.status["error"] is None


def test_pause_drops_a_queued_train(w, slow_symbolify):
    send(w, {"type": "symbolify"}, wait=False)
    assert slow_symbolify["started"].wait(30)
    send(w, {"type": "train"}, wait=False)
    send(w, {"type": "pause"}, wait=False)
    slow_symbolify["fail"] = RuntimeError("stop here")
    slow_symbolify["release"].set()
    assert w.wait(60)
    assert not w.running and w.status["step"] == 0


def test_buttons_queue_in_order(w):
    send(w, {"type": "refine", "grid": 4}, wait=False)
    send(w, {"type": "refine", "grid": 5}, wait=False)
    send(w, {"type": "undo"}, wait=False)
    assert w.wait(60)
    assert w.model.grid == 4 and w.status["can_redo"] is True
    assert not [t for t in threading.enumerate() if t.name.startswith("kan-widget-command")]


def test_fit_view_redraws_at_most_twice_a_second_while_training(w, monkeypatch):
    import kan_widget.widget.publish as wmod

    calls = []
    real = w._plots.update_fit
    monkeypatch.setattr(w._plots, "update_fit", lambda *a: (calls.append(1), real(*a)))
    w._pub.fit_drawn = -float("inf")  # as if the last redraw was long ago
    # no clock in the assertion: the interval is made huge, so five ticks give one redraw
    # however slow a loaded machine runs them
    monkeypatch.setattr(wmod, "FIT_INTERVAL_S", 1e9)
    for _ in range(5):
        w._push_tick()  # five live ticks in a row: one fit redraw
    assert len(calls) == 1
    monkeypatch.setattr(wmod, "FIT_INTERVAL_S", 0.0)
    w._push_tick()
    assert len(calls) == 2
    monkeypatch.setattr(wmod, "FIT_INTERVAL_S", 1e9)
    w.train(2, block=True)  # the end of a run always redraws it
    assert len(calls) == 3
    w.refresh()
    assert len(calls) == 4


@needs_symbolic
def test_huge_formula_is_not_typeset(w, monkeypatch):
    import kan_widget.widget.format as wmod

    monkeypatch.setattr(wmod, "FORMULA_MAX_CHARS", 10)
    w.prune(theta=0.08)
    send(w, {"type": "symbolify"})
    f = w.formula
    assert w.status["error"] is None, w.status["error"]
    assert f["latex"].startswith(r"\text{") and "too long to show" in f["latex"]
    assert f["text"].startswith("y_1 = ") and len(f["text"]) > 10  # Copy Python has it all


# ---------------------------------------------------------------------- the spec trait
def test_spec_trait_is_the_protocol_table(w):
    from kan_widget.widget import messages

    assert w.spec == messages.spec()
    assert w.get_state("spec")["spec"] == messages.spec()  # synced, JSON as is
    spec = w.spec
    assert set(spec) == {"hparams", "sliders", "commands", "limits", "symbolic"}
    assert spec["limits"] == {
        "refine_grid": {"min": 1, "max": messages.MAX_GRID},
        "formula_chars": {"min": 1, "max": messages.MAX_FORMULA_CHARS},
    }
    assert spec["commands"] == {k: dict(c.fields) for k, c in messages.COMMANDS.items()}
    assert spec["sliders"] == ["lamb", "lamb_l1", "lamb_entropy", "theta", "input_theta", "beta"]
    keys = {
        "kind",
        "min",
        "max",
        "min_inclusive",
        "label",
        "scale",
        "slider_min",
        "step",
        "options",
        "default",
        "excluded",
    }
    traits = KANWidget.class_traits()
    for name, p in spec["hparams"].items():
        assert set(p) == keys, name
        assert p == messages.HPARAMS[name].to_json()
        # every trait's default is the table's, and inside the accepted range
        assert traits[name].default_value == p["default"], name
        assert check_hparam(name, p["default"]) is None, name
        assert (p["scale"] is not None) == (name in spec["sliders"]), name
    # the sliders as js/controls.ts drew them before they came from here
    js = {  # trait: (label, scale, slider min, max, step, fallback)
        "lamb": ("lambda", "log0", 1e-5, 1, None, 0.01),
        "lamb_l1": ("mu1", "linear", 0, 10, 0.01, 1),
        "lamb_entropy": ("mu2", "linear", 0, 10, 0.01, 2),
        "theta": ("theta", "log0", 1e-5, 1, None, 0.01),
        "beta": ("beta", "log", 0.1, 100, None, 3),
    }
    for name, want in js.items():
        p = spec["hparams"][name]
        assert (
            p["label"],
            p["scale"],
            p["slider_min"],
            p["max"],
            p["step"],
            p["default"],
        ) == want, name
    assert spec["hparams"]["opt"]["options"] == ["LBFGS", "Adam"]
    assert spec["hparams"]["lr"]["min_inclusive"] is False


def test_spec_trait_is_read_only(w):
    before = w.spec
    sent = record_sends(w)
    update_from_frontend(w, {"spec": {}})
    assert w.spec == before and ["spec"] in sent  # sent back as it was
    assert "set by the kernel only" in w.status["error"]
    with pytest.raises(traitlets.TraitError):
        w.spec = {}


def test_reset_rebuilds_from_the_whole_config(dataset):
    # every option survives Reset, grid_min_span included (it used to fall back to 1.0)
    model = KAN([2, 3, 1], grid=4, seed=3, grid_min_span=0.25, noise_scale=0.1)
    widget = KANWidget(model, dataset)
    widget.refine(6)
    widget.reset()
    fresh = KAN([2, 3, 1], grid=4, seed=3, grid_min_span=0.25, noise_scale=0.1)
    assert widget.model.config == model.config == fresh.config
    assert widget.model.config.grid_min_span == 0.25 and widget.model.width == [2, 3, 1]
    for a, b in zip(widget.model.layers, fresh.layers, strict=True):
        assert torch.equal(a.coef, b.coef) and torch.equal(a.scale_base, b.scale_base)
    widget.close()


def test_structure_carries_pykan_node_map_for_a_node_step():
    """The hover card's node bias: ``structure`` carries pykan's ``node_scale`` / ``node_bias``
    per column after the inputs for a model with a node step (multiplication nodes), a non-finite
    entry as None (never a made-up number), and nothing for a plain model."""
    model = KAN([2, [1, 1], 1], seed=0, dtype=torch.float32)
    with torch.no_grad():
        model.node_bias[0][1] = 0.75
        model.node_scale[1][0] = 2.0
        model.node_bias[1][0] = float("nan")
    s = snap.structure(model, 0, ["x", "y"], ["z"], 8)
    assert s["node_bias"] == [[0.0, 0.75], [None]] and s["node_scale"] == [[1.0, 1.0], [2.0]]
    plain = snap.structure(KAN([2, 2, 1], seed=0), 0, ["x", "y"], ["z"], 8)
    assert "node_bias" not in plain and "node_scale" not in plain
