"""fit says when its penalty silenced the model (issue 14: the 4-variable toy on [4,5,5,1] at
lamb=0.01 ends predicting the labels' mean, prune then removes every edge and the formula is 0,
all without a word)."""

from __future__ import annotations

import warnings

import pytest
import torch

from kan_widget import KAN, create_dataset

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_thread")]


def canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def ds():
    return create_dataset(canonical, n_var=2, train_num=200, test_num=100, seed=0)


def test_a_penalty_that_silences_the_model_is_named(ds):
    model = KAN([2, 3, 1], seed=0)
    with pytest.warns(RuntimeWarning, match=r"penalty silenced the model.*smaller lamb"):
        h = model.fit(ds, steps=12, lamb=50.0)
    std = float(ds["train_label"].std(unbiased=False))
    assert h["train_loss"][-1] >= 0.98 * std  # it did predict the mean


def test_a_fit_that_learns_is_not_warned(ds):
    model = KAN([2, 3, 1], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(ds, steps=12, lamb=0.01)
        model.fit(ds, steps=12, lamb=50.0 * 0)  # no penalty: nothing to blame


def test_short_runs_and_custom_losses_are_left_alone(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        KAN([2, 3, 1], seed=0).fit(ds, steps=5, lamb=50.0)
        KAN([2, 3, 1], seed=0).fit(
            ds, steps=12, lamb=50.0, loss_fn=lambda p, y: torch.mean((p - y) ** 2)
        )
