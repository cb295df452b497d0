"""A table (a dataset from create_dataset_from_data) gets TABLE_DEFAULTS in the widget; other
data keep HPARAMS' defaults; the caller's value wins. The figures behind the values are in
kan_widget/widget/messages.py and printed by bench/bench_tables.py."""

from __future__ import annotations

import torch

from kan_widget import KAN, KANWidget
from kan_widget.tables import create_dataset_from_data
from kan_widget.widget.messages import HPARAMS, TABLE_DEFAULTS


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(80, 2, generator=g) * 2 - 1
    return x, x[:, :1] * x[:, 1:] + 0.5 * x[:, :1]


def test_table_gets_its_symbolify_weight_and_penalty():
    x, y = _data()
    table = create_dataset_from_data(x.numpy(), y.numpy())
    assert TABLE_DEFAULTS["weight_simple"] < HPARAMS["weight_simple"].default
    for ds, expect in ((table, TABLE_DEFAULTS), (None, None)):
        data = ds if ds is not None else {"train_input": x, "train_label": y}
        w = KANWidget(KAN([2, 3, 1], seed=0), data)
        try:
            for name in ("lamb", "weight_simple"):
                want = expect[name] if expect else HPARAMS[name].default
                assert getattr(w, name) == want, name
        finally:
            w.close()
    w = KANWidget(KAN([2, 3, 1], seed=0), table, weight_simple=0.9)
    try:
        assert w.weight_simple == 0.9
    finally:
        w.close()
