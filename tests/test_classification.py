"""Classification as a problem type (kan_widget/classification.py and fit's hooks): losses and
accuracy against closed forms, label forms, fit's history, probabilities and formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from kan_widget import KAN
from kan_widget import classification as cls


def _circle(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    return x, (x.norm(dim=1) < 0.6).long()


def _ds(n=300):
    x, y = _circle(n, 0)
    xt, yt = _circle(n, 1)
    return {"train_input": x, "train_label": y, "test_input": xt, "test_label": yt}


def test_losses_match_closed_forms():
    z = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    # -log softmax of the true class, averaged
    want = (-(2.0 - math.log(math.exp(2) + math.exp(-1) + math.exp(0.5))) + math.log(3)) / 2
    assert float(cls.class_loss(z, y)) == pytest.approx(want, rel=1e-12)
    z1 = torch.tensor([[3.0], [-0.5]], dtype=torch.float64)
    y1 = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    want1 = (math.log1p(math.exp(-3.0)) + math.log1p(math.exp(0.5))) / 2
    assert float(cls.class_loss(z1, y1)) == pytest.approx(want1, rel=1e-12)


def test_accuracy_confusion_and_probabilities():
    z = torch.tensor([[2.0, -1.0], [0.0, 1.0], [3.0, 0.0], [-1.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert cls.accuracy(z, y) == 0.75
    assert cls.confusion_matrix(z, y) == [[1, 0], [1, 2]]
    p = cls.probabilities(z)
    assert torch.allclose(p.sum(1), torch.ones(4))
    assert float(p[0, 0]) == pytest.approx(1 / (1 + math.exp(-3)), rel=1e-6)
    z1 = torch.tensor([[0.3], [-2.0]])
    p1 = cls.probabilities(z1)
    assert float(p1[0, 1]) == pytest.approx(1 / (1 + math.exp(-0.3)), rel=1e-6)
    assert cls.accuracy(z1, torch.tensor([[1.0], [1.0]])) == 0.5


def test_label_forms_and_errors():
    idx = cls.prepare_labels(torch.tensor([0, 2, 1]), 3)
    assert idx.dtype == torch.long and idx.tolist() == [0, 2, 1]
    assert cls.prepare_labels(np.eye(3)[[1, 0]], 3).tolist() == [1, 0]
    assert cls.prepare_labels(torch.tensor([[0.0], [1.0]]), 1).tolist() == [[0.0], [1.0]]
    assert cls.detect_problem(torch.tensor([0, 1]), 2) == "classification"
    assert cls.detect_problem(torch.eye(2), 2) == "classification"
    assert cls.detect_problem(torch.eye(2), 2, one_hot=False) == "regression"
    assert cls.detect_problem(torch.rand(5, 1), 1) == "regression"
    with pytest.raises(ValueError, match="0 and 1"):
        cls.prepare_labels(torch.tensor([0, 2]), 1)
    with pytest.raises(ValueError, match="one-hot"):
        cls.prepare_labels(torch.rand(4, 2), 2)
    with pytest.raises(ValueError, match="non-integer"):
        cls.prepare_labels(torch.tensor([0.5, 1.0]), 1)


def test_fit_on_class_indices_records_accuracy():
    ds = _ds()
    model = KAN([2, 3, 2], grid=5, k=3, seed=0)
    h = model.fit(ds, steps=8)
    for key in ("train_acc", "test_acc"):
        assert len(h[key]) == 8 and all(isinstance(v, float) for v in h[key])
    assert h["test_acc"][-1] == pytest.approx(model.accuracy(ds["test_input"], ds["test_label"]))
    assert h["test_acc"][-1] > 0.9  # a circle: far from chance (0.72 says "all outside")
    with torch.no_grad():
        ce = float(cls.class_loss(model.predict(ds["train_input"]), ds["train_label"]))
    assert h["train_loss"][-1] == pytest.approx(ce**0.5, rel=1e-3)  # sqrt(loss), as pykan
    p = model.predict_proba(ds["test_input"])
    assert p.shape == (300, 2) and torch.allclose(p.sum(1), torch.ones(300))
    assert torch.equal(model.predict_class(ds["test_input"]), p.argmax(1))
    # the regulariser and pruning act unchanged
    h = model.fit(ds, steps=3, lamb=0.01)
    assert h["reg"][-1] > 0
    pruned = model.prune()
    assert pruned.width[-1] == 2 and pruned.accuracy(ds["test_input"], ds["test_label"]) > 0.5


def test_binary_one_output_and_one_hot():
    ds = _ds()
    model = KAN([2, 3, 1], grid=5, k=3, seed=0)
    h = model.fit(ds, steps=3)
    assert h["train_acc"][-1] > 0.9 and model.predict_proba(ds["test_input"]).shape == (300, 2)
    assert model.scaling is not None and model.scaling.out_identity  # logits keep their units
    one_hot = dict(ds, train_label=torch.eye(2)[ds["train_label"]])
    one_hot["test_label"] = torch.eye(2)[ds["test_label"]]
    m2 = KAN([2, 3, 2], grid=5, k=3, seed=0)
    assert "train_acc" not in m2.fit(one_hot, steps=1)  # float labels: pykan's regression
    assert "train_acc" in KAN([2, 3, 2], seed=0).fit(one_hot, steps=1, problem="classification")
    h = KAN([2, 3, 2], seed=0).fit(ds, steps=1, problem="regression")  # indices as one-hot
    assert "train_acc" not in h and h["train_loss"][-1] < 1.0
    with pytest.raises(ValueError, match="problem must be one of"):
        KAN([2, 2]).fit(ds, steps=1, problem="ranking")


def test_own_metrics_named_train_acc_win():
    ds = _ds(100)
    model = KAN([2, 2], seed=0)

    def train_acc():
        return 0.5

    h = model.fit(ds, steps=2, metrics=(train_acc,))
    assert h["train_acc"] == [0.5, 0.5] and len(h["test_acc"]) == 2


def test_probability_formula_computes_predict_proba():
    ds = _ds(100)
    model = KAN([2, 1], grid=3, k=3, seed=0)
    model.fit(ds, steps=1)
    for i in range(2):
        model.fix_symbolic(0, i, 0, "x^2")
    model.fit(ds, steps=5)
    (p,) = model.probability_formula(["x", "y"])
    x = ds["test_input"][:20]
    f = sympy.lambdify(sympy.symbols("x y"), p, "numpy")
    with np.errstate(over="ignore"):  # exp of a wide margin's logit: 1/(1+inf) is 0, right
        got = torch.as_tensor(f(x[:, 0].double().numpy(), x[:, 1].double().numpy()))
    assert torch.allclose(got.float(), model.predict_proba(x)[:, 1], atol=1e-4)
    a, b, c = sympy.symbols("a b c")
    three = cls.probability_formula([a, b, c])
    assert sympy.simplify(sum(three) - 1) == 0
