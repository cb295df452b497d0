"""KANConfig: every constructor option, named once, survives every way a model is rebuilt.

Every option is set to a non-default value, and the set of options here must be KANConfig's
fields: a new option fails this file until it is listed, and then it is checked through copy,
checkpoint/restore, save/load, prune and the widget's Reset.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from kan_widget import KAN, create_dataset
from kan_widget.config import BASE_FUNS, KANConfig
from kan_widget.layer import BASE_FUNCTIONS

OPTIONS = {
    "grid": 4,
    "k": 2,
    "grid_range": (-2.0, 3.0),
    "seed": 7,
    "grid_eps": 0.1,
    "noise_scale": 0.2,
    "base_fun": "identity",
    "dtype": torch.float64,
    "scale_base_mu": 0.1,
    "scale_base_sigma": 0.5,
    "grid_min_span": 0.25,
    "auto_save": False,
    "ckpt_path": "./elsewhere",
    "sp_trainable": False,
    "sb_trainable": False,
    "sparse_init": True,
    "symbolic_enabled": False,
    "save_act": False,
    "first_init": False,
    "state_id": 3,
    "round": 2,
    "normalize": True,
}
# options whose only supported value is the default (with why, in the error)
DEFAULT_ONLY = {"affine_trainable": True}
WIDTH = [2, 3, 1]


def _f(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def dataset():
    return create_dataset(_f, n_var=2, train_num=200, test_num=50, seed=0, dtype=torch.float64)


@pytest.fixture
def model(dataset):
    m = KAN(WIDTH, **OPTIONS)
    m.score_edges(dataset["train_input"])
    return m


def _same_model(a: KAN, b: KAN) -> None:
    assert a.config == b.config
    assert a.width == b.width
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert (la.num, la.k, la.grid_eps, la.base_fun_name) == (
            lb.num,
            lb.k,
            lb.grid_eps,
            lb.base_fun_name,
        )
        # the options that live on the layers
        assert la.symbolic_enabled == lb.symbolic_enabled == a.config.symbolic_enabled
        assert la.scale_sp.requires_grad == lb.scale_sp.requires_grad == a.config.sp_trainable
        assert la.scale_base.requires_grad == lb.scale_base.requires_grad == a.config.sb_trainable


def test_options_here_are_every_field_and_none_is_its_default():
    fields = {f.name: f.default for f in dataclasses.fields(KANConfig)}
    assert set(OPTIONS) | set(DEFAULT_ONLY) == set(fields)
    for name, value in DEFAULT_ONLY.items():
        with pytest.raises(ValueError, match=name):
            KANConfig(**{name: value})
    for name, value in OPTIONS.items():
        assert value != fields[name], name
    config = KANConfig(**OPTIONS)
    assert KAN(WIDTH, **OPTIONS).config == config
    assert {
        f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name in OPTIONS
    } == OPTIONS


def test_from_config_is_the_constructor(model):
    fresh = KAN.from_config(model.config, WIDTH)
    _same_model(fresh, KAN(WIDTH, **OPTIONS))
    assert fresh.dtype == torch.float64 and fresh.k == 2 and fresh.grid == 4
    other = KAN.from_config(model.config.replace(seed=8), WIDTH)
    assert not torch.equal(other.layers[0].coef, fresh.layers[0].coef)
    with pytest.raises(TypeError, match="KANConfig"):
        KAN.from_config(model.config.to_dict(), WIDTH)


def test_copy_keeps_every_option(model):
    _same_model(model.copy(), model)


def test_checkpoint_restore_keeps_every_option(model):
    other = KAN([3, 2])  # all defaults, another width: restore rebuilds the layers
    other.restore(model.checkpoint())
    _same_model(other, model)
    assert other.reg_metric == model.reg_metric


def test_save_load_keeps_every_option(model, tmp_path):
    p = tmp_path / "m.safetensors"
    model.save(p)
    _same_model(KAN.load(p), model)


def test_prune_keeps_every_option(model):
    pruned = model.prune(node_th=0.0, edge_th=None)
    assert pruned.config == model.config
    assert [layer.k for layer in pruned.layers] == [2, 2]
    assert pruned.layers[0].base_fun_name == "identity" and pruned.dtype == torch.float64


def test_refine_and_to_replace_the_config(model):
    fine = model.refine(6)
    assert fine.config == model.config.replace(grid=6) and model.config.grid == 4
    m = KAN(WIDTH, seed=3)
    m.to(torch.float64)
    assert m.config == KANConfig(seed=3, dtype=torch.float64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.config.grid = 5  # type: ignore[misc]


def test_widget_reset_keeps_every_option(model, dataset):
    from kan_widget import KANWidget

    w = KANWidget(model, dataset)
    try:
        w.reset()
        assert w.model.config == model.config
        _same_model(w.model, KAN(WIDTH, **OPTIONS))
    finally:
        w.close()


def test_numpy_ints_are_ints():
    m = KAN(width=[2, 3, 1], grid=np.int64(3))
    assert m.config.grid == 3 and type(m.config.grid) is int
    _same_model(m, KAN([2, 3, 1], grid=3))
    m = KAN(width=[np.int64(2), 3, np.int32(1)], k=np.int32(2), seed=np.int64(5))
    assert m.width == [2, 3, 1] and m.k == 2 and m.config.seed == 5
    with pytest.raises(ValueError, match="grid must be an int"):
        KAN([2, 1], grid=True)


def test_dict_round_trip_and_format_1_files():
    config = KANConfig(**OPTIONS)
    d = config.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["dtype"] == "float64" and d["grid_range"] == [-2.0, 3.0]
    assert KANConfig.from_dict(d) == config
    # format 1 as io.py wrote it before KANConfig, and before grid_min_span existed
    old = {
        "grid": 3,
        "k": 3,
        "grid_range": [-1.0, 1.0],
        "seed": 1,
        "grid_eps": 0.02,
        "noise_scale": 0.3,
        "base_fun": "silu",
        "dtype": "float32",
        "scale_base_mu": 0.0,
        "scale_base_sigma": 1.0,
    }
    assert KANConfig.from_dict(old) == KANConfig()
    assert KANConfig.from_dict({**old, "grid_min_span": 0.0}).grid_min_span == 0.0
    with pytest.raises(ValueError, match="unknown model config options"):
        KANConfig.from_dict({**old, "mult_arity": 2})
    with pytest.raises(ValueError, match="dtype"):
        KANConfig.from_dict({**old, "dtype": "float16"})


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("grid", 0, "grid must be an int >= 1"),
        ("k", 11, r"k \(spline order\)"),
        ("grid_range", (1, 1), "grid_range"),
        ("grid_range", "ab", "grid_range"),
        ("seed", 1.5, "seed must be an int"),
        ("grid_eps", 2.0, "grid_eps"),
        ("noise_scale", -1.0, "noise_scale"),
        ("base_fun", "relu", "base_fun"),
        ("dtype", torch.float16, "dtype"),
        ("scale_base_mu", float("nan"), "scale_base_mu"),
        ("scale_base_sigma", "1", "scale_base_sigma"),
        ("grid_min_span", -1.0, "grid_min_span"),
        ("sp_trainable", 1, "sp_trainable must be True or False"),
        ("sparse_init", "yes", "sparse_init"),
        ("symbolic_enabled", None, "symbolic_enabled"),
        ("save_act", 0, "save_act"),
        ("affine_trainable", True, "affine_trainable=True is not supported"),
        ("ckpt_path", 3, "ckpt_path"),
        ("state_id", -1, "state_id"),
        ("round", 1.5, "round"),
        ("auto_save", 1, "auto_save"),
    ],
)
def test_bad_options_are_refused_by_name(option, value, match):
    with pytest.raises(ValueError, match=match):
        KAN([2, 1], **{option: value})
    with pytest.raises(ValueError, match=match):
        KANConfig().replace(**{option: value})


def test_unknown_option_and_base_functions():
    with pytest.raises(TypeError, match="mult_arities"):
        KAN([2, 1], mult_arities=2)
    with pytest.raises(ValueError, match="mult_arity must be an int >= 2"):
        KAN([2, [1, 1]], mult_arity=1)
    assert set(BASE_FUNS) == set(BASE_FUNCTIONS)


def test_loading_a_file_whose_tensors_do_not_fit(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    p = tmp_path / "m.safetensors"
    KAN([2, 3, 1]).save(p)
    with safe_open(p, framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(p)
    tensors["layers.0.coef"] = tensors["layers.0.coef"][:, :2].contiguous()
    save_file(tensors, p, metadata=meta)
    with pytest.raises(ValueError, match="tensors do not match the stored config"):
        KAN.load(p)
