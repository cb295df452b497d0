"""KANWidget on class labels: the problem type, accuracy in the status, the decision boundary's
buffers and the confusion matrix (kan_widget/widget/classify.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kan_widget import KAN, KANWidget, create_dataset
from kan_widget.widget import classify as cv


def _circle(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    return x, (x.norm(dim=1) < 0.6).long()


@pytest.fixture
def circle():
    x, y = _circle(300, 0)
    xt, yt = _circle(300, 1)
    return {"train_input": x, "train_label": y, "test_input": xt, "test_label": yt}


def test_class_labels_make_a_classifying_widget(circle):
    w = KANWidget(KAN([2, 4, 2], grid=5, seed=0), circle)
    try:
        assert w.problem == "classification" and w.status["problem"] == "classification"
        g = cv.BOUNDARY_GRID
        assert len(w.class_grid) == g * g * 2 * 4 and w.classify["grid"] == g
        probs = np.frombuffer(w.class_grid, dtype="<f4").reshape(g * g, 2)
        assert np.allclose(probs.sum(1), 1, atol=1e-5)
        nodes = np.frombuffer(w.class_nodes, dtype="<f4")  # every node's picture
        assert len(nodes) == sum(w.model.width) * cv.NODE_GRID**2 and np.isfinite(nodes).all()
        pts = np.frombuffer(w.class_points, dtype="<f4").reshape(-1, 4)
        assert len(pts) == w.status["n_train"] + 300 and set(pts[:, 3]) == {0.0, 1.0}
        w.train(10, block=True)
        s = w.status
        assert s["error"] is None and s["train_r2"] is None
        assert s["test_acc"] > 0.9 and s["train_acc"] > 0.9 and s["val_acc"] is not None
        with torch.no_grad():
            want = w.model.accuracy(circle["test_input"], circle["test_label"])
        assert s["test_acc"] == pytest.approx(want)
        # the widget's loss is the cross-entropy itself (fit records its square root)
        assert w.history["train_acc"][-1] is not None and w.history["train_loss"][-1] < 0.5
        # a grid drawn from the trained model: the centre is inside the circle (class 1)
        probs = np.frombuffer(w.class_grid, dtype="<f4").reshape(g, g, 2)
        assert probs[g // 2, g // 2, 1] > 0.5 and probs[0, 0, 0] > 0.5
    finally:
        w.close()


def test_problem_switches_and_refuses_non_classes(circle):
    w = KANWidget(KAN([2, 3, 2], grid=5, seed=0), circle)
    try:
        w.problem = "regression"  # class indices regressed as one-hot rows
        assert w.status["train_acc"] is None and w.status["train_r2"] is not None
        assert w.class_grid == b"" and w.classify["problem"] == "regression"
        w.train(2, block=True)
        assert w.status["error"] is None
        w.problem = "classification"
        w.train(2, block=True)
        assert w.status["train_acc"] is not None and len(w.class_grid) > 0
    finally:
        w.close()
    reg = create_dataset(lambda x: x[:, [0]] ** 2, n_var=2, train_num=100, test_num=100)
    w = KANWidget(KAN([2, 3, 1], seed=0), reg)
    try:
        assert w.problem == "regression" and w.classify["problem"] == "regression"
        assert w.class_grid == b"" and w.class_points == b"" and len(w.class_nodes) > 0
        with pytest.raises(Exception, match="not classes"):
            w.problem = "classification"
        assert w.problem == "regression"
    finally:
        w.close()


def test_binary_one_output_and_confusion_for_more_inputs(circle):
    w = KANWidget(KAN([2, 3, 1], grid=5, seed=0), circle)
    try:
        assert w.problem == "classification" and w.classify["classes"] == 2
        w.train(2, block=True)
        assert w.status["test_acc"] > 0.5
    finally:
        w.close()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 4, generator=g)
    y = (x.sum(1) > 2).long()
    w = KANWidget(KAN([4, 2, 2], seed=0), {"train_input": x, "train_label": y})
    try:
        conf = w.classify["confusion"]
        assert w.classify["grid"] == 0 and w.class_grid == b""
        assert sum(map(sum, conf["train"])) == w.status["n_train"]
    finally:
        w.close()


def test_one_pass_draws_boundary_and_node_pictures(circle):
    """The pictures are 2x2 block means of the boundary's grid: an input node's picture is
    its coordinate at the picture cells' centres, exactly (it is linear); the probabilities
    are the model's own at the grid's cells; the logits' pictures are block means of them."""
    model = KAN([2, 3, 2], grid=5, seed=0)
    view = cv.ClassView(circle, 2, ["x", "y"])
    probs, nodes = view.frame(model)
    g, h = view.grid, view.node_grid
    assert h == g // 2 == cv.NODE_GRID
    p = np.frombuffer(probs, dtype="<f4").reshape(g * g, 2)
    with torch.no_grad():
        logits = model.predict(view.grid_x)
        want = torch.softmax(logits, 1).numpy()
    assert np.allclose(p, want, atol=1e-5)
    pics = np.frombuffer(nodes, dtype="<f4").reshape(sum(model.width), h, h)
    lo, hi = np.array(view.lo), np.array(view.hi)
    centres = lo[0] + (hi[0] - lo[0]) * (np.arange(h) + 0.5) / h
    assert np.allclose(pics[0], centres[None, :], atol=1e-5)  # x: along the columns
    rows = lo[1] + (hi[1] - lo[1]) * (np.arange(h) + 0.5) / h
    assert np.allclose(pics[1], rows[:, None], atol=1e-5)  # y: along the rows
    block = logits.numpy().reshape(h, 2, h, 2, 2).mean((1, 3))  # [h, h, classes]
    assert np.allclose(pics[-2], block[..., 0], atol=1e-4)
    assert np.allclose(pics[-1], block[..., 1], atol=1e-4)
    with pytest.raises(ValueError, match="even"):
        cv.ClassView(circle, 2, ["x", "y"], grid=47)


def _pictures(w):
    h = w.classify["node_grid"]
    return h, np.frombuffer(w.class_nodes, dtype="<f4").reshape(sum(w.model.width), h, h)


def test_two_input_regression_sends_node_pictures():
    """A two-input regression gets TF Playground's neuron pictures through the same trait and
    the same forward as a classification: on a hand-set [2,1] model whose edges are fixed to
    x and y^2, the output node's picture is x + y^2 averaged over each 2x2 block of the grid
    (closed form), and after training each node's picture is the model's own node values.
    A three-input regression sends none."""
    data = create_dataset(
        lambda x: x[:, [0]] + x[:, [1]] ** 2, n_var=2, train_num=200, test_num=100, seed=0
    )
    model = KAN([2, 1], grid=3, seed=0)
    x = data["train_input"]
    model.fix_symbolic(0, 0, 0, "x", fit_params=False, x=x)
    model.fix_symbolic(0, 1, 0, "x^2", fit_params=False, x=x)
    w = KANWidget(model, data)
    try:
        assert w.problem == "regression" and w.class_grid == b"" and w.class_points == b""
        info = w.classify
        assert info["problem"] == "regression" and info["grid"] == cv.BOUNDARY_GRID
        assert info["width"] == [2, 1]
        h, pics = _pictures(w)
        assert h == cv.NODE_GRID and np.isfinite(pics).all()
        g = cv.BOUNDARY_GRID
        lo, hi = np.array(info["lo"]), np.array(info["hi"])
        t = (np.arange(g) + 0.5) / g
        gx, gy = lo[0] + (hi[0] - lo[0]) * t, lo[1] + (hi[1] - lo[1]) * t
        want = (gx[None, :] + gy[:, None] ** 2).reshape(h, 2, h, 2).mean((1, 3))
        assert np.allclose(pics[2], want, atol=1e-4)  # the output: x + y^2, exactly
        assert np.allclose(pics[0], gx.reshape(h, 2).mean(1)[None, :], atol=1e-5)
    finally:
        w.close()
    w = KANWidget(KAN([2, 3, 1], grid=3, seed=0), data)
    try:
        w.train(3, block=True)
        assert w.status["error"] is None
        h, pics = _pictures(w)
        view = w._class_view
        with torch.no_grad():
            acts = w.model.activations(view.grid_x)
        for layer, a in enumerate(acts):  # each node's picture: its own values, block means
            first = sum(w.model.width[:layer])
            want = a.t().numpy().reshape(-1, h, 2, h, 2).mean((2, 4))
            assert np.allclose(pics[first : first + a.shape[1]], want, atol=1e-4)
    finally:
        w.close()
    three = create_dataset(lambda x: x[:, [0]] * x[:, [2]], n_var=3, train_num=50, test_num=50)
    w = KANWidget(KAN([3, 2, 1], grid=3, seed=0), three)
    try:
        assert w.class_nodes == b"" and w.class_grid == b"" and w.classify["node_grid"] == 0
    finally:
        w.close()


def test_batch_size_is_a_hyperparameter(circle):
    """``batch`` (pykan's fit(batch=...)) is in the hyperparameter table: checked there (0
    refused with the reason, the old value kept), handed to the trainer, -1 = every row."""
    from kan_widget.widget.messages import HPARAMS, check_hparam, spec

    assert spec()["hparams"]["batch"]["default"] == -1 and HPARAMS["batch"].excluded == (0,)
    assert check_hparam("batch", 0) is not None and "batch" in check_hparam("batch", 0)
    assert check_hparam("batch", -2) is not None and check_hparam("batch", 2.5) is not None
    assert check_hparam("batch", -1) is None and check_hparam("batch", 32) is None
    w = KANWidget(
        KAN([2, 3, 2], grid=5, seed=0), circle, batch=32, keep_best=False
    )  # keep_best would swap the model
    try:
        w.set_state({"batch": 0})  # as the front end would write it
        assert w.batch == 32 and "batch" in (w.status["error"] or "")
        w.train(2, block=True)
        assert w._runner.trainer.batch == 32 and w.status["step"] == 2
        w.batch = -1
        w.train(1, block=True)
        assert w._runner.trainer.batch == -1
    finally:
        w.close()


def test_step_axes_have_whole_number_ticks_from_step_zero(circle):
    """Before training and after one step the loss and accuracy plots' step axes span one
    whole step with whole-number ticks (bqplot's own domain around a lone point is fractional
    and "d" rounds its ticks into repeats); later they follow the steps."""
    from kan_widget.widget.plots import step_span

    assert step_span(np.zeros(0)) == (0.0, 1.0) and step_span(np.array([0.0])) == (0.0, 1.0)
    assert step_span(np.array([7.0])) == (6.0, 7.0) and step_span(np.array([1.0, 9.0])) == (1, 9)
    w = KANWidget(KAN([2, 3, 2], grid=5, seed=0), circle)
    try:
        p = w._plots
        for axis in (p.step_axis, p.acc_step_axis):
            assert list(axis.tick_values) == [0, 1] and (axis.scale.min, axis.scale.max) == (0, 1)
        w.train(1, block=True)
        for axis in (p.step_axis, p.acc_step_axis):
            ticks = list(axis.tick_values)
            assert ticks == [0, 1] and all(float(t).is_integer() for t in ticks)
        w.train(4, block=True)
        for axis in (p.step_axis, p.acc_step_axis):
            assert list(axis.tick_values) == [1, 2, 3, 4, 5] and axis.scale.min is None
    finally:
        w.close()
