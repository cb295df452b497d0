"""Prediction past the training range: scaled inputs are held at the range's edge (Scaling.clip).

The first layer's grid is refitted to the training inputs; the spline coefficients past its ends
are barely constrained, so a spline can swing far a few percent outside (issue 18: a diabetes
prediction of 1923 on a target of 25-346, from a bmi 3.9% past its training maximum). These tests
check the mechanism; the figures on real tables are printed by bench/bench_tables.py.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.tables import Scaling, create_dataset_from_data, fit_scaling


def _table(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dose = rng.uniform(0, 10, n)
    age = rng.uniform(20, 70, n)
    return pd.DataFrame({"dose": dose, "age": age, "y": 5.0 * np.sin(dose) + 0.1 * age + 50})


def test_fit_scaling_records_the_training_range_of_scaled_columns():
    x = torch.tensor([[0.0, -0.5], [10.0, 0.9], [4.0, 0.2]])
    y = torch.tensor([[1.0], [2.0], [30.0]])
    s = fit_scaling(x, y, "auto")
    assert s.in_min == (0.0, -0.5) and s.in_max == (10.0, pytest.approx(0.9))
    lo, hi = s.clip_bounds()
    # column 0 is scaled (held at 0..10); column 1 lies in the grid range and is left alone
    assert (lo[0], hi[0]) == (0.0, 10.0) and lo[1] == -math.inf and hi[1] == math.inf
    far = torch.tensor([[-30.0, 5.0], [25.0, -7.0]])
    assert torch.equal(s.clip_inputs(far), torch.tensor([[0.0, 5.0], [10.0, -7.0]]))
    wide = dataclasses.replace(s, clip=0.1)
    lo, hi = wide.clip_bounds()
    assert (lo[0], hi[0]) == (pytest.approx(-1.0), pytest.approx(11.0))
    off = dataclasses.replace(s, clip=None)
    assert off.clip_bounds() is None and off.clip_inputs(far) is far


def test_no_ranges_when_nothing_is_scaled():
    x = torch.rand(50, 2) * 2 - 1
    assert fit_scaling(x, x[:, :1], False) == Scaling.identity(2, 1)
    s = fit_scaling(x, x[:, :1] * 100, "auto")  # labels scaled, inputs in the grid range
    assert s.in_min is None and s.clip_bounds() is None


def test_scaling_checks_its_ranges_and_clip():
    base = dict(in_scale=(1.0,), in_shift=(0.0,), out_scale=(1.0,), out_shift=(0.0,))
    with pytest.raises(ValueError, match="both in_min and in_max"):
        Scaling(**base, in_min=(0.0,))
    with pytest.raises(ValueError, match="one entry per input"):
        Scaling(**base, in_min=(0.0, 1.0), in_max=(1.0, 2.0))
    with pytest.raises(ValueError, match="must not exceed"):
        Scaling(**base, in_min=(2.0,), in_max=(1.0,))
    for bad in (-0.1, math.nan, True, "0.1"):
        with pytest.raises(ValueError, match="clip must be a number >= 0 or None"):
            Scaling(**base, clip=bad)


def test_dict_round_trip_and_older_dicts_clip_nothing():
    x = torch.tensor([[0.0], [10.0], [3.0]])
    s = fit_scaling(x, torch.tensor([[1.0], [5.0], [2.0]]), True)
    assert Scaling.from_dict(s.to_dict()) == s
    old = {k: v for k, v in s.to_dict().items() if k not in ("in_min", "in_max", "clip")}
    assert Scaling.from_dict(old).clip is None and Scaling.from_dict(old).clip_bounds() is None


def test_model_predictions_hold_past_the_range_and_match_the_reported_test_loss():
    d = create_dataset_from_data(_table(), "y", seed=0)
    model = KAN(width=[2, 3, 1], seed=0)
    hist = model.fit(d, steps=15)
    lo = torch.tensor(model.scaling.in_min)
    hi = torch.tensor(model.scaling.in_max)
    edge = torch.stack([lo, hi])
    far = torch.stack([lo - 5 * (hi - lo), hi + 0.5 * (hi - lo)])
    with torch.no_grad():
        assert torch.equal(model(far), model(edge))
        assert torch.equal(model.predict(far), model(edge))
    # the trainer's test loss is the RMSE of model(test rows), whatever they reach
    xt = d["test_input"].clone()
    xt[0, 0] = float(hi[0]) + 3 * float(hi[0] - lo[0])
    dd = {**d, "test_input": xt}
    hist = model.fit(dd, steps=1, update_grid=False)
    with torch.no_grad():
        rmse = float(torch.sqrt(torch.mean((model(xt) - d["test_label"]) ** 2)))
    assert hist["test_loss"][-1] == pytest.approx(rmse, rel=1e-3)
    # training still sees rows as they are: the warning about inputs outside the grid fires
    dd = {**d, "train_input": d["train_input"] * 3}
    with pytest.warns(RuntimeWarning, match="outside the first layer's grid"):
        model.copy().fit(dd, steps=1, update_grid=False)


def test_pykan_units_are_not_clipped():
    d = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=100, seed=0)
    for normalize in ("auto", False):
        model = KAN(width=[2, 2, 1], seed=0, normalize=normalize)
        model.fit(d, steps=3)
        far = torch.tensor([[3.0, -4.0]])
        assert model.scaling is None or model.scaling.clip_bounds() is None
        with torch.no_grad():
            assert not torch.equal(model(far), model(torch.tensor([[1.0, -1.0]])))


def test_outside_reports_rows_and_columns():
    s = fit_scaling(
        torch.tensor([[0.0, 100.0], [10.0, 200.0]]),
        torch.tensor([[1.0], [2.0]]),
        "auto",
        in_vars=("dose", "age"),
    )
    rep = s.outside(torch.tensor([[5.0, 150.0], [15.0, 150.0], [12.0, 90.0]]))
    assert rep["rows"] == 2 and rep["clipped"] is True
    assert rep["columns"]["dose"] == (2, pytest.approx(0.5))
    assert rep["columns"]["age"] == (1, pytest.approx(0.1))
    assert s.outside(torch.tensor([[5.0, 150.0]]))["columns"] == {}


def test_saved_model_keeps_its_clip(tmp_path):
    d = create_dataset_from_data(_table(), "y", seed=0)
    model = KAN(width=[2, 2, 1], seed=0)
    model.fit(d, steps=2)
    model.save(tmp_path / "m")
    back = KAN.load(tmp_path / "m")
    assert back.scaling == model.scaling
    far = torch.tensor([[100.0, -100.0]])
    with torch.no_grad():
        assert torch.allclose(back(far), model(far))


def test_prune_input_keeps_the_kept_columns_ranges():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"dose": rng.uniform(0, 10, 150), "noise": rng.uniform(-50, 50, 150)})
    df["y"] = 3.0 * np.sin(df["dose"]) + 20
    d = create_dataset_from_data(df, "y", seed=0)
    model = KAN(width=[2, 2, 1], seed=0)
    model.fit(d, steps=20, lamb=0.01)
    pruned = model.prune_input(0.05)
    assert pruned.scaling.in_vars == ("dose",)
    s = model.scaling
    assert pruned.scaling.in_min == (s.in_min[0],) and pruned.scaling.in_max == (s.in_max[0],)
    far = torch.tensor([[s.in_max[0] + 100.0, 0.0]])
    edge = torch.tensor([[s.in_max[0], 0.0]])
    with torch.no_grad():
        assert torch.equal(pruned(far), pruned(edge))
