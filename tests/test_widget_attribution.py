"""The widget's attribution (feature score bars, Prune inputs), remove-edge, the inspector's
SiLU / spline parts and "start from a formula", driven as the front end drives them."""

from __future__ import annotations

import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.widget import KANWidget
from kan_widget.widget.messages import parse_command

pytestmark = pytest.mark.timeout(120)


def f(x):
    # inputs 0 and 2 matter, 1 and 3 are noise columns
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [2]] ** 2)


@pytest.fixture(scope="module")
def dataset():
    return create_dataset(f, n_var=4, train_num=300, test_num=100, seed=0)


@pytest.fixture(scope="module")
def trained(dataset):
    m = KAN([4, 3, 1], seed=0)
    m.fit(dataset, steps=10, lamb=0.01)
    return m


@pytest.fixture
def w(trained, dataset):
    widget = KANWidget(trained.copy(), dataset, in_vars=["a", "b", "c", "d"], val_frac=0)
    yield widget
    widget.close()


def send(widget, content):
    widget._handle_custom_msg(content, [])
    assert widget._commands.wait(60), "command still running after 60 s"


def test_feature_scores_are_published(w):
    s = w.feature_scores
    assert len(s) == 4 and all(isinstance(v, float) for v in s)
    # the noise columns score far below the inputs that matter
    assert min(s[0], s[2]) > 20 * max(s[1], s[3])


def test_prune_input_command_is_undoable(w):
    before = w.model
    w.input_theta = 0.05
    send(w, {"type": "prune_input"})
    assert w.status["error"] is None
    assert w.model.width[0] == 2
    assert w.structure["in_vars"] == ["a", "c"]
    assert len(w.feature_scores) == 2
    assert "dropped inputs ['b', 'd']" in w.status["message"]
    # training goes on with the widget's own (4-column) data
    w.train(steps=2, block=True)
    assert w.status["error"] is None
    send(w, {"type": "undo"})
    assert w.model is before and w.structure["in_vars"] == ["a", "b", "c", "d"]


def test_prune_input_threshold_too_high_leaves_the_model(w):
    before = w.model
    w.input_theta = 1.0
    send(w, {"type": "prune_input"})
    assert "no input scores above" in (w.status["error"] or "")
    assert w.model is before


def test_remove_edge_command(w):
    n = w.model.n_edge
    send(w, {"type": "remove_edge", "l": 0, "i": 0, "j": 1})
    assert w.model.n_edge == n - 1 and w.model.layers[0].mask[0, 1] == 0
    send(w, {"type": "undo"})
    assert w.model.n_edge == n
    _, err = parse_command({"type": "remove_edge", "l": 0, "i": 9, "j": 0}, w.model.width)
    assert err is not None and "remove_edge" in err


def test_inspector_parts_sum_to_the_edge(w):
    info = w.inspect(0, 0, 1)
    parts = info["parts"]
    assert parts is not None and parts["base_fun"] == "silu"
    pts = torch.frombuffer(bytearray(w.inspector_points), dtype=torch.float32).reshape(2, -1)
    total = torch.tensor(parts["base"]) + torch.tensor(parts["spline"])
    assert torch.allclose(total, pts[1], atol=1e-5)
    # a symbolic edge has nothing to split
    w.fix_symbolic(0, 0, 1, "sin")
    assert w.inspect(0, 0, 1)["parts"] is None


def test_start_from_formula(w):
    send(w, {"type": "start_formula", "formula": "exp(sin(pi*a) + c^2)"})
    assert w.status["error"] is None
    assert w.model.width == [4, 1, 1]
    assert w.status["test_loss"] < 1e-3  # the formula is the data's function
    send(w, {"type": "start_formula", "formula": "gamma(a)"})
    assert "unknown function 'gamma'" in w.status["error"]
    assert w.model.width == [4, 1, 1]  # a failed formula changes nothing
    send(w, {"type": "start_formula", "formula": "a*b + c"})  # a multiplication node
    assert w.status["error"] is None and w.model.width == [4, [1, 1], 1]
    send(w, {"type": "undo"})
    send(w, {"type": "undo"})
    assert w.model.width == [4, 3, 1]
    _, err = parse_command({"type": "start_formula", "formula": "x" * 3000}, w.model.width)
    assert err is not None and "characters" in err
