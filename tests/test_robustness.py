"""Bad input, faults and files: every case gets a clear error or works, and loses nothing."""

from __future__ import annotations

import json
import os
import pickle
import struct
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kan_widget import KAN, Diverged, Trainer, create_dataset


def canonical(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def dataset():
    return create_dataset(canonical, n_var=2, train_num=200, test_num=100)


def params(model):
    return [p.detach().clone() for p in model.parameters()] + [
        layer.grid.clone() for layer in model.layers
    ]


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------- data
class TestData:
    def test_nan_names_rows_and_fix(self, dataset):
        ds = dict(dataset)
        x = ds["train_input"].clone()
        x[[3, 17], 1] = float("nan")
        ds["train_input"] = x
        model = KAN([2, 3, 1])
        before = params(model)
        with pytest.raises(ValueError, match=r"NaN or inf in 2 of 200 rows.*\[3, 17\].*drop"):
            model.fit(ds, steps=1)
        assert same(before, params(model))

    def test_inf_in_labels(self, dataset):
        ds = dict(dataset)
        y = ds["train_label"].clone()
        y[0, 0] = float("inf")
        ds["train_label"] = y
        with pytest.raises(ValueError, match="train_label has NaN or inf"):
            KAN([2, 3, 1]).fit(ds, steps=1)

    def test_wrong_column_count(self):
        model = KAN([2, 3, 1])
        with pytest.raises(ValueError, match="3 columns but the model expects 2"):
            model(torch.zeros(5, 3))

    def test_wrong_label_shape(self, dataset):
        ds = dict(dataset)
        ds["train_label"] = torch.zeros(200, 2)
        with pytest.raises(ValueError, match="train_label has 2 columns but the model expects 1"):
            KAN([2, 3, 1]).fit(ds, steps=1)

    def test_row_mismatch(self, dataset):
        ds = dict(dataset)
        ds["train_label"] = ds["train_label"][:10]
        with pytest.raises(ValueError, match="must match row for row"):
            KAN([2, 3, 1]).fit(ds, steps=1)

    def test_numpy_pandas_float64_int_inputs(self):
        pd = pytest.importorskip("pandas")
        model = KAN([2, 3, 1])
        x = np.array([[0.1, 0.2], [0.3, -0.4]])
        ref = model(torch.tensor(x, dtype=torch.float32))
        torch.testing.assert_close(model(x), ref)
        torch.testing.assert_close(model(pd.DataFrame(x, columns=["a", "b"])), ref)
        torch.testing.assert_close(model(torch.tensor(x, dtype=torch.float64)), ref)
        assert model(np.array([[0, 1]])).shape == (1, 2 - 1)

    def test_single_row_and_1d(self):
        model = KAN([2, 3, 1])
        assert model([0.5, 0.5]).shape == (1, 1)
        m1 = KAN([1, 2, 1])
        assert m1(np.linspace(-1, 1, 7)).shape == (7, 1)

    def test_non_numeric(self):
        with pytest.raises(TypeError, match="numeric"):
            KAN([2, 3, 1])(np.array([["a", "b"]]))
        with pytest.raises(TypeError, match="tensor, numpy array or pandas"):
            KAN([2, 3, 1])({"x": 1})

    def test_constant_column_and_far_inputs_train(self):
        x = torch.rand(100, 2) * 2 - 1
        x[:, 1] = 0.5  # constant column
        ds = {"train_input": x * torch.tensor([100.0, 1.0]), "train_label": x[:, :1] ** 2}
        model = KAN([2, 2, 1])
        h = model.fit(ds, steps=3)
        assert all(np.isfinite(h["train_loss"]))
        # by default the model scales the inputs onto the grid range (the constant column too)
        assert model.scaling is not None and model.scaling.in_scale[0] == pytest.approx(0.01, 0.1)
        model = KAN([2, 2, 1], normalize=False)  # pykan's units
        h = model.fit(ds, steps=3)
        assert all(np.isfinite(h["train_loss"]))
        # the grid followed the inputs far outside [-1, 1]
        assert float(model.layers[0].grid[0].max()) > 50
        assert all(torch.isfinite(p).all() for p in model.parameters())

    def test_invalid_config_messages(self):
        with pytest.raises(ValueError, match="needs at least 2 layers"):
            KAN([2])
        with pytest.raises(TypeError, match="width must be a list"):
            KAN("2,5,1")
        with pytest.raises(ValueError, match="grid must be an int >= 1"):
            KAN([2, 1], grid=0)
        with pytest.raises(ValueError, match=r"k .* must be an int"):
            KAN([2, 1], k=-1)
        with pytest.raises(ValueError, match="has a negative node count"):
            KAN([2, [5, -1], 1])

    def test_width_not_mutated(self):
        w = [2, 5, 1]
        model = KAN(w)
        assert w == [2, 5, 1] and model.width == w and model.width is not w


# ---------------------------------------------------------------- training faults
class TestTrainingFaults:
    def test_diverging_run_restores_and_warns(self, dataset):
        model = KAN([2, 3, 1], seed=0)
        model.fit(dataset, steps=1)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            h = model.fit(dataset, opt="Adam", lr=1e12, steps=20, update_grid=False)
        assert h["stopped"] and "diverged" in h["stopped"]
        assert any("diverged" in str(w.message) for w in rec)
        assert all(torch.isfinite(p).all() for p in model.parameters())

    def test_trainer_raises_diverged_and_rolls_back(self, dataset):
        model = KAN([2, 3, 1], seed=0)
        calls = {"n": 0}

        def nan_loss(p, y):
            calls["n"] += 1
            loss = torch.mean((p - y) ** 2)
            return loss * float("nan") if calls["n"] >= 3 else loss

        tr = Trainer(model, dataset, opt="Adam", loss_fn=nan_loss, update_grid=False)
        tr.step()
        before = params(model)
        with pytest.raises(Diverged, match="restored"):
            tr.step()
        assert same(before, params(model))

    def test_keyboard_interrupt_mid_lbfgs_leaves_consistent_model(self, dataset):
        model = KAN([2, 3, 1], seed=0)
        calls = {"n": 0}

        def interrupting(p, y):
            calls["n"] += 1
            if calls["n"] == 5:  # inside the LBFGS line search, parameters half-updated
                raise KeyboardInterrupt
            return torch.mean((p - y) ** 2)

        tr = Trainer(model, dataset, loss_fn=interrupting)
        before = params(model)
        with pytest.raises(KeyboardInterrupt):
            tr.step()
        assert same(before, params(model))
        calls["n"] = 100
        tr.step()  # and it can carry on training afterwards

    def test_stop_event_and_callback(self, dataset):
        import threading

        ev = threading.Event()
        model = KAN([2, 3, 1])
        ev.set()
        assert model.fit(dataset, steps=5, stop_event=ev)["stopped"] == "stop_event"
        h = model.fit(dataset, steps=5, opt="Adam", callback=lambda s, m: s < 1)
        assert len(h["train_loss"]) == 2 and h["stopped"] == "callback"

    def test_grid_update_num_larger_than_stop(self, dataset):
        # pykan raises ZeroDivisionError here
        model = KAN([2, 3, 1])
        model.fit(dataset, steps=2, stop_grid_update_step=5, grid_update_num=10)


# ---------------------------------------------------------------- files
class TestFiles:
    def test_truncated(self, tmp_path):
        p = tmp_path / "m.safetensors"
        KAN([2, 3, 1]).save(p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(ValueError, match="not a readable kan-widget model file"):
            KAN.load(p)

    def test_random_bytes(self, tmp_path):
        p = tmp_path / "r.bin"
        p.write_bytes(os.urandom(4096))
        with pytest.raises(ValueError, match="not a readable kan-widget model file"):
            KAN.load(p)

    def test_pickle_is_never_executed(self, tmp_path):
        marker = tmp_path / "pwned"

        class Evil:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        p = tmp_path / "evil.pt"
        p.write_bytes(pickle.dumps(Evil()))
        with pytest.raises(ValueError):
            KAN.load(p)
        assert not marker.exists()
        # and a torch.save'd state dict is refused too (torch.save uses pickle)
        q = tmp_path / "state.pt"
        torch.save(KAN([2, 1]).state_dict(), q)
        with pytest.raises(ValueError):
            KAN.load(q)

    def _rewrite_header(self, path, fn):
        data = path.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header["__metadata__"]["kan_widget"])
        fn(meta)
        header["__metadata__"]["kan_widget"] = json.dumps(meta)
        raw = json.dumps(header).encode()
        raw += b" " * ((8 - len(raw) % 8) % 8)
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])

    def test_newer_format_version(self, tmp_path):
        p = tmp_path / "m.safetensors"
        KAN([2, 3, 1]).save(p)
        self._rewrite_header(p, lambda m: m.update(format_version=99))
        with pytest.raises(ValueError, match=r"newer kan-widget .*format 99"):
            KAN.load(p)

    def test_saved_file_carries_version(self, tmp_path):
        p = tmp_path / "m.safetensors"
        KAN([2, 3, 1]).save(p)
        seen = {}
        self._rewrite_header(p, lambda m: seen.update(m))
        assert seen["format_version"] == 2 and seen["format"] == "kan-widget"

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            KAN.load(tmp_path / "nope")

    def test_nothing_written_to_cwd(self, tmp_path, monkeypatch, dataset):
        monkeypatch.chdir(tmp_path)
        model = KAN([2, 3, 1])
        model.fit(dataset, steps=2)
        model = model.prune()
        model.refine(5)
        assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    grid=st.integers(1, 8),
    k=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    fixes=st.lists(
        st.tuples(
            st.integers(0, 10),
            st.integers(0, 10),
            st.integers(0, 10),
            st.sampled_from(["sin", "x^2", "exp", "1/x", "log", "tanh", "0"]),
        ),
        max_size=4,
    ),
)
def test_save_load_round_trip(tmp_path_factory, width, grid, k, seed, fixes):
    model = KAN(width, grid=grid, k=k, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(16, width[0], generator=gen) * 4 - 2
    model.update_grid(x)
    for l, i, j, name in fixes:  # symbolic edges, with random (a, b, c, d), survive the trip
        layer = model.layers[l % model.depth]
        params = torch.rand(1, 4, generator=gen) * 2 - 1
        layer.set_symbolic([i % layer.in_dim], [j % layer.out_dim], [name], params)
    p = tmp_path_factory.mktemp("rt") / "m.safetensors"
    model.save(p)
    loaded = KAN.load(p)
    assert loaded.width == model.width
    assert [ly.sym_names for ly in loaded.layers] == [ly.sym_names for ly in model.layers]
    assert torch.equal(loaded(x), model(x))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 20),
    cols=st.integers(1, 5),
    bad=st.sampled_from([None, float("nan"), float("inf"), -float("inf")]),
    kind=st.sampled_from(["torch", "numpy", "list"]),
)
def test_input_validation_property(rows, cols, bad, kind):
    model = KAN([3, 2, 1])
    arr = np.random.default_rng(rows * 7 + cols).uniform(-1, 1, (rows, cols))
    if bad is not None:
        arr[rows // 2, cols - 1] = bad
    data = {"torch": torch.tensor(arr), "numpy": arr, "list": arr.tolist()}[kind]
    if cols != 3:
        with pytest.raises(ValueError, match="columns but the model expects 3"):
            model(data)
    elif bad is not None:
        with pytest.raises(ValueError, match="NaN or inf"):
            model(data)
    else:
        out = model(data)
        assert out.shape == (rows, 1)
