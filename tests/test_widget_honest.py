"""Honest numbers in the widget (issue 18): the status line shows the current model's losses after
every command, the validation rows and the overfitting watch, "back to best", Symbolify's
threshold and its before/after, and the notes the status line shows."""

from __future__ import annotations

import math

import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.widget import KANWidget
from kan_widget.widget import metrics as mx
from kan_widget.widget.messages import COMMANDS, HPARAMS, SYM_PRESETS, spec

pytestmark = pytest.mark.timeout(120)


def canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def dataset():
    return create_dataset(canonical, n_var=2, train_num=300, test_num=300, seed=0)


@pytest.fixture
def w(dataset):
    widget = KANWidget(KAN([2, 5, 1], seed=1), dataset, opt="Adam")
    yield widget
    widget.close()


def send(widget, content):
    widget._handle_custom_msg(content, [])
    assert widget._commands.wait(60), "command still running after 60 s"


def assert_current(widget):
    """status holds the current model's losses and R^2, recomputed now."""
    m = mx.evaluate(widget.model, widget._data)
    st = widget.status
    for k in ("train_loss", "val_loss", "test_loss", "train_r2", "val_r2", "test_r2"):
        assert st[k] == pytest.approx(m[k], rel=1e-9, abs=1e-12), k


# ---------------------------------------------------------------------- the validation split
def test_validation_rows_are_held_out_of_training(dataset, w):
    st = w.status
    assert (st["n_train"], st["n_val"], st["n_test"]) == (240, 60, 300)
    d = w._data
    assert d["train_input"].shape[0] == 240 and d["val_input"].shape[0] == 60
    # every training row is in exactly one of the two parts
    both = torch.cat([d["train_input"], d["val_input"]])
    assert torch.equal(both.unique(dim=0), dataset["train_input"].unique(dim=0))
    # the trainer sees only the fitting rows; the model's scores come from them too
    assert w._runner._data["train_input"].shape[0] == 240 and "val_input" not in w._runner._data
    assert w.model.train_input.shape[0] == 240
    # seeded: the same split every time, another seed another split
    again = KANWidget(KAN([2, 5, 1], seed=1), dataset)
    other = KANWidget(KAN([2, 5, 1], seed=1), dataset, val_seed=1)
    assert torch.equal(again._data["val_input"], d["val_input"])
    assert not torch.equal(other._data["val_input"], d["val_input"])
    none = KANWidget(KAN([2, 5, 1], seed=1), dataset, val_frac=0)
    assert none.status["n_val"] == 0 and none.status["val_loss"] is None
    for x in (again, other, none):
        x.close()


def test_val_frac_is_checked(dataset):
    with pytest.raises(ValueError, match=r"val_frac must be a number in \[0, 1\)"):
        KANWidget(KAN([2, 5, 1]), dataset, val_frac=1.0)


def test_split_leaves_the_dataset_alone(dataset):
    before = {k: v.clone() for k, v in dataset.items()}
    out, idx = mx.split_validation(dataset, 0.2, 0)
    assert out["val_input"].shape[0] == 60
    assert idx is not None and len(idx) == 60
    assert set(dataset) == set(before) and all(torch.equal(dataset[k], before[k]) for k in before)
    assert mx.split_validation(dataset, 0.0, 0) == (dataset, None)


# ---------------------------------------------------------------------- the current model's numbers
def test_status_is_the_current_models_after_every_command(w):
    assert_current(w)
    w.train(5, block=True)
    assert_current(w)
    steps = [
        {"type": "prune"},
        {"type": "refine", "grid": 5},
        {"type": "fix", "l": 0, "i": 0, "j": 0, "name": "sin"},
        {"type": "unfix", "l": 0, "i": 0, "j": 0},
        {"type": "symbolify"},
        {"type": "undo"},
        {"type": "redo"},
        {"type": "undo"},
        {"type": "reset"},
    ]
    seen = set()
    for c in steps:
        before = w.model
        send(w, c)
        assert w.status["error"] is None, (c, w.status["error"])
        assert w.model is not before, c
        assert_current(w)
        seen.add(round(w.status["train_loss"], 9))
    assert len(seen) >= 4  # the numbers really moved with the model


def test_status_says_when_no_input_reaches_an_output(w):
    """pykan's Physics_2B printed the formula 0 after a prune removed its only output edge: the
    widget's status says when no input reaches an output, and Undo takes the note away."""
    w.train(3, block=True)
    assert not any("no input reaches" in n for n in w.status["notes"])
    for i in range(5):  # every edge into the output
        send(w, {"type": "remove_edge", "l": 1, "i": i, "j": 0})
    assert w.status["error"] is None, w.status["error"]
    assert any(n.startswith("no input reaches y_1 any more") for n in w.status["notes"]), w.status
    send(w, {"type": "undo"})
    assert not any("no input reaches" in n for n in w.status["notes"])


def test_r2_and_rmse_agree(w):
    st = w.status
    for split in ("train", "val", "test"):
        std = w._stds[split]
        assert st[f"{split}_r2"] == pytest.approx(1 - (st[f"{split}_loss"] / std) ** 2, rel=1e-6)


def test_live_ticks_carry_validation_and_r2(w):
    w.train(3, block=True)
    h = w.history
    assert len(h["val_loss"]) == 3 and all(v is not None and v > 0 for v in h["val_loss"])
    tick = w._tick_metrics()
    assert tick["val_loss"] == pytest.approx(h["val_loss"][-1])
    assert tick["train_r2"] == pytest.approx(1 - (h["train_loss"][-1] / w._stds["train"]) ** 2)


# ---------------------------------------------------------------------- overfitting and best step
class FakeModel:
    def __init__(self):
        self.n = 0

    def checkpoint(self):
        self.n += 1
        return {"id": self.n}


def run_watch(vals, trains, window=4):
    watch, model = mx.OverfitWatch(window=window, tol=0.02), FakeModel()
    for s, (v, t) in enumerate(zip(vals, trains, strict=True), start=1):
        watch.update(model, s, v, t)
    return watch


def test_watch_sees_validation_rising_while_training_falls():
    vals = [5, 4, 3, 2, 2.2, 2.5, 2.8, 3.0, 3.3]
    trains = [5, 4, 3, 2, 1.8, 1.5, 1.2, 1.0, 0.8]
    watch = run_watch(vals, trains)
    assert watch.overfitting and watch.since == 4 and watch.best_step == 4
    assert watch.best_state == {"id": 4}  # checkpointed at each new best, the last at step 4


def test_watch_ignores_noise_and_joint_rises():
    # noise around a plateau: never 2% above the best on average
    vals = [2.0, 2.01, 1.995, 2.02, 2.0, 2.01, 2.015, 2.0, 2.01]
    assert not run_watch(vals, [2 - 0.01 * k for k in range(9)]).overfitting
    # both losses rising (a bad step size, not overfitting)
    vals = [5, 4, 3, 3.5, 4, 4.5, 5, 5.5, 6]
    assert not run_watch(vals, vals).overfitting
    # a rise shorter than the window is not called yet
    assert not run_watch([5, 4, 3, 3.5, 4], [5, 4, 3, 2, 1]).overfitting


def overfit_table() -> dict:
    """Few noisy rows of sin(3x) and clean test rows: a flexible [1,8,1] grid-20 KAN trained
    without penalty overfits them (the validation loss rises while the training loss falls)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 1, generator=g) * 2 - 1
    y = torch.sin(3 * x) + 0.5 * torch.randn(60, 1, generator=g)
    xt = torch.linspace(-1, 1, 200)[:, None]
    return {"train_input": x, "train_label": y, "test_input": xt, "test_label": torch.sin(3 * xt)}


def test_overfitting_note_and_back_to_best():
    # few noisy rows and a flexible model: the validation loss must rise as training goes on
    ds = overfit_table()
    w = KANWidget(KAN([1, 8, 1], grid=20, seed=0), ds, lamb=0.0, steps=60, keep_best=False)
    try:
        w.train(block=True)
        st = w.status
        best = w._watch.best_step
        assert st["best_step"] == best and st["can_back_to_best"]
        assert any(
            n.startswith("overfitting: validation loss rising since step") for n in st["notes"]
        )
        assert f"since step {best}" in " ".join(st["notes"])
        val_at_best = w._watch.best_val
        assert st["val_loss"] > val_at_best * 1.02
        trained = w.model
        send(w, {"type": "back_to_best"})
        assert w.status["error"] is None and w.model is not trained
        assert w.status["val_loss"] == pytest.approx(val_at_best, rel=1e-4)
        assert w.status["message"].startswith(f"back to best: step {best}")
        assert not any(n.startswith("overfitting") for n in w.status["notes"])
        assert w.status["can_back_to_best"] is False
        assert_current(w)
        w.undo()  # undoable: the trained model, its note and the button come back
        assert w.model is trained and w.status["can_back_to_best"]
        assert any(n.startswith("overfitting") for n in w.status["notes"])
    finally:
        w.close()


def test_early_stop_goes_back_to_the_best_step_undoably():
    # the same overfitting table as above, with early_stop=True: the run stops once
    # the validation loss has risen for a window of steps, and the best step's model is current
    ds = overfit_table()
    w = KANWidget(KAN([1, 8, 1], grid=20, seed=0), ds, lamb=0.0, steps=200, early_stop=True)
    try:
        w.train(block=True)
        assert w.wait(30)
        best, last = w._watch.best_step, w._step_count
        assert best is not None and last < 200, "training did not stop early"
        assert last - best >= mx.OVERFIT_WINDOW  # it waited for the rise to be confirmed
        st = w.status
        assert st["message"].startswith(f"stopped early at step {last}: validation loss rising")
        assert f"back to step {best}" in st["message"]
        assert st["val_loss"] == pytest.approx(w._watch.best_val, rel=1e-4)
        assert not any(n.startswith("overfitting") for n in st["notes"])
        assert_current(w)
        assert w.undo() is True  # the last step's model comes back, overfitting note and all
        assert w.status["val_loss"] > w._watch.best_val * (1 + mx.OVERFIT_TOL)
        assert any(n.startswith("overfitting") for n in w.status["notes"])
    finally:
        w.close()


def test_early_stop_is_checked(dataset):
    with pytest.raises(ValueError, match="early_stop must be True or False"):
        KANWidget(KAN([2, 5, 1]), dataset, early_stop="yes")


def test_back_to_best_without_training_says_why(w):
    assert w.back_to_best() is False
    assert "no best step" in w.status["message"] and w.status["error"] is None


def test_cut_outputs_are_computed_only_when_a_mask_changes(w):
    """Every live tick's status asks which outputs no input reaches: training changes no mask,
    so the answer is kept until a mask is replaced (a new model) or written in place."""
    cache = w._cut_outputs
    n0 = cache.computed
    assert n0 >= 1
    w.train(8, block=True)  # ticks and the final push: the same masks
    assert w.wait(30)
    assert cache.computed == n0
    with torch.no_grad():  # in place: the tensor's version counter moves
        w.model.layers[1].mask[:, 0] = 0.0
    w.refresh()
    assert cache.computed == n0 + 1
    assert any(n.startswith("no input reaches y_1") for n in w.status["notes"])
    send(w, {"type": "reset"})  # a new model: new mask tensors
    assert cache.computed == n0 + 2
    assert not any(n.startswith("no input reaches") for n in w.status["notes"])


# ---------------------------------------------------------------------- notes
def test_notes_say_when_no_better_than_the_mean():
    m = {"test_loss": 2.0, "test_std": 1.5, "test_r2": -0.8}
    (note,) = mx.notes(m)
    assert note.startswith("no better than predicting the mean: test R² -0.8")
    assert mx.notes({"test_loss": 0.5, "test_std": 1.5, "test_r2": 0.9}) == []


def test_notes_say_when_the_formula_fits_worse():
    m = {"test_loss": 1.2, "test_std": 10.0, "test_r2": 0.98}
    (note,) = mx.notes(m, spline_test=1.0)
    assert note == "formula fits worse than the splines: test RMSE 1.2 vs 1 (+20%)"
    assert mx.notes(m, spline_test=1.15) == []  # within the 10% margin


def test_fresh_model_on_real_scale_labels_is_flagged(dataset):
    # labels far from 0 (as diabetes' 25..346): an untrained model is worse than the mean
    ds = dict(dataset, train_label=dataset["train_label"] * 50 + 150)
    ds["test_label"] = dataset["test_label"] * 50 + 150
    w = KANWidget(KAN([2, 3, 1], seed=0), ds)
    try:
        assert w.status["test_r2"] < 0
        assert any(n.startswith("no better than predicting the mean") for n in w.status["notes"])
    finally:
        w.close()


# ---------------------------------------------------------------------- Symbolify
def test_symbolify_controls_are_in_the_tables():
    assert HPARAMS["r2_threshold"].default == 0.99 and HPARAMS["weight_simple"].default == 0.8
    s = spec()
    assert s["hparams"]["sym_lib"]["options"] == list(SYM_PRESETS)
    assert s["symbolic"]["presets"]["polynomial"] == list(SYM_PRESETS["polynomial"])
    from kan_widget.symbolic.library import SYMBOLIC_LIB

    assert s["symbolic"]["library"] == list(SYMBOLIC_LIB)
    assert s["symbolic"]["presets"]["all"] == list(SYMBOLIC_LIB)
    for names in s["symbolic"]["presets"].values():
        assert set(names) <= set(SYMBOLIC_LIB)
    assert COMMANDS["back_to_best"].handler == "back_to_best"


def test_symbolify_fixes_only_good_edges_and_reports(w):
    w.train(20, block=True)
    w.r2_threshold = 1.0  # nothing but exact zeros fits this well
    send(w, {"type": "symbolify"})
    info = w.status["symbolify"]
    kept = sum(int(layer.numeric_mask().sum()) for layer in w.model.layers)
    assert info["kept"] == kept > 0 and info["r2_threshold"] == 1.0
    assert w.status["message"].endswith(f"{kept} kept as spline{'' if kept == 1 else 's'}")
    assert not w.formula["complete"]
    before = info["before"]["test_loss"]
    w.undo()
    assert w.status["symbolify"] is None  # shown until the next change
    assert w.status["test_loss"] == pytest.approx(before, rel=1e-9)
    w.r2_threshold = 0.0
    fixed = w.auto_symbolic()
    info = w.status["symbolify"]
    assert info["kept"] == 0 and info["fixed"] == len(fixed) and w.formula["complete"]
    assert info["after"]["test_loss"] == pytest.approx(w.status["test_loss"], rel=1e-9)
    worse = info["after"]["test_loss"] > info["before"]["test_loss"] * 1.1
    assert any(n.startswith("formula fits worse") for n in w.status["notes"]) == worse


def test_symbolify_report_stays_with_its_model_through_keep_best():
    """keep_best installs a copy of the Symbolified model's best step: Symbolify's before/after
    stays (with the step it was measured at), Undo/Redo bring it back with the model it belongs
    to, and any other change drops it."""
    ds = overfit_table()
    w = KANWidget(KAN([1, 8, 1], grid=20, seed=0), ds, lamb=0.0, steps=60, keep_best=True)
    try:
        w.train(5, block=True)
        assert w.wait(30)
        pre = w.model
        w.auto_symbolic(r2_threshold=0.95)
        info = w.status["symbolify"]
        assert info is not None and info["fixed"] > 0 and info["step"] == 5
        symbolified = w.model
        w.train(block=True)  # the noisy rows overfit: keep_best goes back to the best step
        assert w.wait(30)
        assert w.status["message"].startswith("kept the best validation step"), w.status
        assert w.model is not symbolified and w.status["step"] == 65
        assert w.status["symbolify"] == info  # the numbers of step 5, and it says so
        assert w.undo() and w.model is symbolified and w.status["symbolify"] == info
        assert w.undo() and w.model is pre and w.status["symbolify"] is None
        assert w.redo() and w.status["symbolify"] == info
        w.fix_symbolic(0, 0, 0, "x")  # another change: a model Symbolify did not report on
        assert w.status["symbolify"] is None
    finally:
        w.close()


def test_symbolify_uses_the_library_preset(w):
    w.sym_lib = "polynomial"
    w.r2_threshold = 0.0
    w.auto_symbolic()
    names = {n for layer in w.model.layers for n in layer.sym_names.values()}
    assert names and names <= set(SYM_PRESETS["polynomial"])


def test_symbolify_controls_reject_bad_values(w):
    with pytest.raises(ValueError, match="r2_threshold must be in"):
        w.auto_symbolic(r2_threshold=1.5)
    with pytest.raises(Exception, match="sym_lib must be one of"):
        w.sym_lib = "everything"
    assert math.isclose(w.r2_threshold, 0.99)


def test_losses_are_in_the_data_units_when_the_model_rescales():
    """Labels of mean ~1200 and spread ~100 make the model standardise them (normalize='auto'):
    the status line's losses must still be the current model's RMSE in the data's units."""
    import torch

    from kan_widget import KAN, KANWidget, create_dataset

    f = lambda x: 100 * torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2) + 1000  # noqa: E731
    d = create_dataset(f, n_var=2, train_num=200, test_num=100)
    m = KAN([2, 3, 1], seed=0)
    w = KANWidget(m, d, val_frac=0.2)
    try:
        w.train(5, block=True)
        assert m.scaling is not None
        rmse = float(((m.predict(d["test_input"]) - d["test_label"]) ** 2).mean().sqrt())
        assert abs(w.status["test_loss"] - rmse) <= 1e-4 * rmse
    finally:
        w.close()


def test_status_says_when_training_moved_a_fixed_edge_next_to_a_pole():
    # y = 1/(x + 3) on [-1, 1], the edge fixed to 1/x: tame where it was fitted; then its shift
    # moves (as training can move it) so that the pole sits 5% of the range past the data
    x = torch.linspace(-1, 1, 200)[:, None]
    y = 1 / (x + 3)
    ds = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    w = KANWidget(KAN([1, 1], seed=0, normalize=False), ds, opt="Adam", lr=1e-9, keep_best=False)
    try:
        w.fix_symbolic(0, 0, 0, "1/x", fit_params=False)
        with torch.no_grad():
            w.model.layers[0].sym_params[0, 0] = torch.tensor([1.0, 3.0, 1.0, 0.0])
        w.train(1, block=True)
        assert w.wait(30)
        assert not any("blow up" in n for n in w.status["notes"])
        with torch.no_grad():
            w.model.layers[0].sym_params[0, 0, 1] = 1.1
        w.train(1, block=True)  # the check runs on the model training left
        assert w.wait(30)
        (note,) = [n for n in w.status["notes"] if "blow up" in n]
        assert note.startswith("fixed edge (0,0,0) 1/x now blow up just past the data")
        w.unfix_symbolic(0, 0, 0)  # a spline again: nothing to warn about
        assert not any("blow up" in n for n in w.status["notes"])
    finally:
        w.close()


def test_keep_best_returns_to_the_best_validation_step_undoably():
    # the overfitting table of the tests above: at the end of the run the widget keeps the best
    # validation step (keep_best=True) and says so; Undo returns to the last step
    ds = overfit_table()
    w = KANWidget(KAN([1, 8, 1], grid=20, seed=0), ds, lamb=0.0, steps=60, keep_best=True)
    try:
        w.train(block=True)
        assert w.wait(30)
        best, last = w._watch.best_step, w._step_count
        assert best is not None and best < last
        st = w.status
        assert st["message"].startswith(f"kept the best validation step {best} of steps up to 60")
        assert st["val_loss"] == pytest.approx(w._watch.best_val, rel=1e-4)
        assert_current(w)
        assert w.undo() is True
        assert w.status["val_loss"] > w._watch.best_val
    finally:
        w.close()
    with pytest.raises(ValueError, match="keep_best must be True or False"):
        KANWidget(KAN([1, 1]), ds, keep_best=1)


def test_keep_best_leaves_a_run_whose_penalty_moved_alone(monkeypatch):
    """A lambda moved mid-run (the user steering) changes what training minimises: the best
    step of the old objective is not installed behind the user's back."""
    from kan_widget import Trainer

    ds = overfit_table()
    w = KANWidget(KAN([1, 8, 1], grid=20, seed=0), ds, lamb=0.0, steps=60, keep_best=True)
    real = Trainer.step

    def step(self):  # the slider moves during the first step
        if w.lamb == 0.0:
            w.lamb = 1e-4
        return real(self)

    monkeypatch.setattr(Trainer, "step", step)
    try:
        before = w.model
        w.train(block=True)
        assert w.wait(30)
        assert w.lamb == 1e-4 and w._step_count == 60
        assert not w.status["message"].startswith("kept the best"), w.status["message"]
        assert w.model is before  # trained in place, not swapped for an earlier step
    finally:
        w.close()


def test_keep_best_counts_a_move_as_soon_as_the_run_shows_running():
    """The steer browser test moves lambda once the status line says "running": that move must
    count as steering even when it lands before the first step (the objective keep_best
    compares with is taken before "running" is shown), so the status line's losses stay the
    last step's, the loss curve's last point."""
    ds = overfit_table()
    w = KANWidget(KAN([1, 8, 1], grid=20, seed=0), ds, lamb=0.0, steps=60, keep_best=True)

    def steer(change):
        if change["new"].get("running") and w.lamb == 0.0:
            w.lamb = 1e-4  # as the user does on seeing "running"

    w.observe(steer, names=["status"])
    try:
        before = w.model
        w.train(block=True)
        assert w.wait(30)
        assert w.lamb == 1e-4 and w._step_count == 60
        assert w.status["message"] == "stopped at step 60", w.status["message"]
        assert w.model is before
        assert w.status["test_loss"] == pytest.approx(w.history["test_loss"][-1], rel=1e-4)
    finally:
        w.close()


def test_your_own_table_gets_the_table_defaults(dataset):
    from kan_widget.tables import create_dataset_from_data
    from kan_widget.widget.messages import TABLE_DEFAULTS

    x, y = dataset["train_input"][:100], dataset["train_label"][:100]
    table = create_dataset_from_data(x.numpy(), y.numpy())  # names: x_1, x_2 -> a table
    plain = {"train_input": x, "train_label": y}
    for ds, lamb in (
        (table, TABLE_DEFAULTS["lamb"]),
        (plain, HPARAMS["lamb"].default),
    ):
        w = KANWidget(KAN([2, 3, 1], seed=0), ds)
        try:
            assert w.lamb == lamb
        finally:
            w.close()
    w = KANWidget(KAN([2, 3, 1], seed=0), table, lamb=0.005)  # the caller's value wins
    try:
        assert w.lamb == 0.005
    finally:
        w.close()
