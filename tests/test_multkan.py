"""Multiplication nodes (pykan's MultKAN, :mod:`kan_widget.nodes`): forward parity with pykan
0.2.8 on identical parameters, the trainer's gradient against autograd, pruning, grids,
checkpoints and files, the formula, and bad widths."""

from __future__ import annotations

import pytest
import sympy
import torch

from kan_widget import KAN
from kan_widget.nodes import NodeLayout, parse_width
from tests.pykan_twin import copy_into_ours

# pykan-side layouts: (width, mult_arity)
SHAPES = [
    ([2, [5, 2], 1], 2),
    ([3, [4, 2], [2, 1], 2], 3),
    ([2, [1, 2], [0, 1]], [[], [2, 3], [4]]),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _inputs(n_in: int, B: int = 256, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, n_in, generator=g) * 2.4 - 1.2


def _random_model(width, mult_arity, seed=0, **kw) -> KAN:
    """A model whose splines, scales and node maps are all non-trivial."""
    model = KAN(width, mult_arity=mult_arity, seed=seed, noise_scale=1.0, dtype=torch.float32, **kw)
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for layer in model.layers:
            layer.scale_base.add_(0.3 * torch.randn(layer.scale_base.shape, generator=g))
        for name in ("subnode_scale", "subnode_bias", "node_scale", "node_bias"):
            for p in getattr(model, name):
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


# ----------------------------------------------------------------------------------- pykan parity
@pytest.mark.parametrize(("width", "mult_arity"), SHAPES)
def test_forward_parity_with_pykan(tmp_path, monkeypatch, width, mult_arity):
    kan = pytest.importorskip("kan")
    monkeypatch.chdir(tmp_path)  # pykan writes files where it runs
    rng = torch.get_rng_state()
    try:
        pk = kan.KAN(
            width=[list(w) if isinstance(w, list) else w for w in width],
            mult_arity=mult_arity,
            grid=5,
            k=3,
            seed=0,
            noise_scale=1.0,
            auto_save=False,
        )
    finally:
        torch.set_rng_state(rng)
    model = _random_model(width, mult_arity, grid=5)
    assert model.width_in == pk.width_in[: len(width)]
    assert model.width_out[1:] == pk.width_out[1:]
    x = _inputs(model.width_in[0])
    with torch.no_grad():
        pk.update_grid_from_samples(x)  # non-uniform knots
        copy_into_ours(pk, model)
        for l in range(len(model.layers)):
            for name in ("subnode_scale", "subnode_bias", "node_scale", "node_bias"):
                getattr(pk, name)[l].data = getattr(model, name)[l].detach().clone()
        want = pk(x)
        got = model(x)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-5 * max(1.0, want.abs().max().item())
    for a, b in zip(pk.acts, model.activations(x), strict=True):  # every layer's nodes
        assert (a - b).abs().max().item() <= 1e-5 * max(1.0, a.abs().max().item())
    # the regulariser: per edge layer, on the edges' own magnitudes (before the products)
    from kan_widget.regularizer import edge_penalty

    with torch.no_grad():
        _, stats = model.forward_stats(x, "edge_forward_spline_n")
        ours = edge_penalty([s.value for s in stats], "edge_forward_spline_n", 1.0, 2.0)
        theirs = pk.reg("edge_forward_spline_n", 1.0, 2.0, 0.0, 0.0)
    assert abs(ours.item() - theirs.item()) <= 1e-4 * abs(theirs.item())


# ------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize(("width", "mult_arity"), SHAPES)
def test_trainer_gradient_matches_autograd(width, mult_arity):
    from kan_widget.objective import loss_and_grad, tape_ok
    from kan_widget.regularizer import edge_penalty

    model = _random_model(width, mult_arity)
    x = _inputs(model.width_in[0], B=64)
    y = torch.sin(x.sum(1, keepdim=True)).expand(-1, model.width_in[-1]).contiguous()
    metric = "edge_forward_spline_n"
    assert tape_ok(model, metric, None, False)
    params = [p for p in model.parameters() if p.requires_grad]
    loss, _, _, _ = loss_and_grad(model, x, y, metric, 0.01, 1.0, 2.0)
    params = [p for p in params if p.grad is not None]  # not sym_params: no symbolic edges
    assert len(params) == 3 * model.depth
    tape_grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    pred, stats = model.run_stats(x, metric)
    ref = torch.mean((pred - y) ** 2) + 0.01 * edge_penalty([s.value for s in stats], metric, 1, 2)
    ref.backward()
    assert abs(loss.item() - ref.item()) <= 1e-6 * max(1.0, abs(ref.item()))
    for p, g in zip(params, tape_grads):
        scale = max(1e-3, p.grad.abs().max().item())
        assert (p.grad - g).abs().max().item() <= 1e-5 * scale


def test_fit_reduces_the_loss_on_a_product():
    x = _inputs(2, B=400)
    data = {
        "train_input": x,
        "train_label": x[:, :1] * x[:, 1:],
        "test_input": x[:50],
        "test_label": x[:50, :1] * x[:50, 1:],
    }
    model = KAN([2, [0, 1], 1], base_fun="identity", seed=0, dtype=torch.float32)
    hist = model.fit(data, steps=15)
    # labels' std is about 0.5: a product node learns the product to a few thousandths
    assert hist["train_loss"][-1] < 1e-2 and hist["test_loss"][-1] < 1e-2


# --------------------------------------------------------------------------------------- pruning
def test_prune_drops_a_dead_mult_node_with_its_operands():
    model = _random_model([2, [2, 2], 1], 2)
    with torch.no_grad():
        model.layers[0].mask[:, 2:4] = 0.0  # both operands of mult node 2 get nothing
        model.layers[1].mask[0, :] = 0.0  # sum node 0 feeds nothing
    x = _inputs(2)
    model.score_edges(x)
    before = model(x)
    new = model.prune(node_th=1e-2, edge_th=None)
    assert new.width == [2, [1, 1], 1] and new.nodes[1] == NodeLayout(1, (2,))
    assert new.width_out == [2, 3, 1]
    # the removed nodes contributed nothing but a constant from node 2's product 0*0 ... the
    # node maps' biases make it non-zero, so compare without them
    assert (new(x) - before).abs().max().item() < 1e9  # runs
    for name in ("subnode_scale", "node_scale"):
        assert getattr(new, name)[0].shape == (new.width_out[1] if "sub" in name else 2,)


def test_prune_keeps_a_mult_node_with_one_strong_operand():
    model = KAN([2, [1, 1], 1], seed=0, dtype=torch.float32)
    with torch.no_grad():
        model.layers[0].mask[:, 1] = 0.0  # operand 1 of the mult node: constant 0 ... then
        model.layers[0].mask[0, 1] = 1.0  # one edge, strong
        model.layers[0].mask[:, 0] = 0.0  # sum node 0 dead
    model.score_edges(_inputs(2))
    new = model.prune(node_th=1e-2, edge_th=None)
    assert new.width == [2, [0, 1], 1]
    assert new.width_out == [2, 2, 1]


# ----------------------------------------------------------------------------------------- grids
def test_update_grid_and_refine_keep_the_function():
    model = _random_model([2, [3, 2], 1], 2, grid=5)
    x = _inputs(2, B=400)
    before = model(x).detach()
    model.update_grid(x)
    assert (model(x) - before).abs().max().item() < 0.05 * before.abs().max().item()
    finer = model.refine(10, x)
    assert finer.grid == 10 and finer.width == model.width
    assert (finer(x) - before).abs().max().item() < 0.05 * before.abs().max().item()


# --------------------------------------------------------------------------- copies and files
def test_copy_checkpoint_restore_save_load(tmp_path):
    model = _random_model([2, [1, 2], [0, 1]], [[], [2, 3], [4]])
    x = _inputs(2)
    y = model(x).detach()
    assert torch.equal(model.copy()(x), y)
    state = model.checkpoint()
    other = KAN([2, 3, 1])
    other.restore(state)
    assert other.width == model.width and other.mult_arity == model.mult_arity
    assert torch.equal(other(x), y)
    model.save(tmp_path / "m.safetensors")
    back = KAN.load(tmp_path / "m.safetensors")
    assert back.width == [2, [1, 2], [0, 1]] and back.mult_arity == [[], [2, 3], [4]]
    assert torch.equal(back(x), y)
    # a plain model keeps no node step (nothing but layers in its state)
    plain = KAN([2, 3, 1])
    plain.restore(KAN([2, [3, 1], 1]).checkpoint())
    assert plain.has_node_step
    plain.restore(KAN([2, 3, 1]).checkpoint())
    assert not plain.has_node_step and plain.node_scale is None
    assert all(k.startswith("layers.") for k in plain.state_dict())


# --------------------------------------------------------------------------------------- formula
def test_formula_shows_the_product():
    model = KAN([2, [0, 1], 1], base_fun="identity", seed=0, dtype=torch.float64)
    x = _inputs(2).double()
    model.score_edges(x)
    model.fix_symbolic(0, 0, 0, "x", fit_params=False)
    model.fix_symbolic(0, 1, 1, "x", fit_params=False)
    model.fix_symbolic(1, 0, 0, "x", fit_params=False)
    with torch.no_grad():
        model.layers[0].mask[1, 0] = 0.0
        model.layers[0].mask[0, 1] = 0.0
    assert torch.allclose(model(x), x[:, :1] * x[:, 1:], atol=1e-12)
    x1, x2 = sympy.symbols("x_1 x_2")
    f = model.formula()[0]
    assert sympy.simplify(f - x1 * x2) == 0


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("width", "mult_arity", "match"),
    [
        ([2, [5, -1], 1], 2, r"entry 1 \(\[5, -1\]\) has a negative node count"),
        ([2, [5, 2, 1], 1], 2, "neither an int nor"),
        ([[2, 1], 3, 1], 2, "inputs .* cannot be multiplication nodes"),
        ([2, [5, 2], 1], 1, "mult_arity must be an int >= 2"),
        ([2, [5, 2], 1], [[2, 3]], "one list per layer of width"),
        ([2, [5, 2], 1], [[], [3], []], r"mult_arity\[1\] must list 2 ints >= 2"),
        ([2, [5, 2], 1], [[], [2, 1], []], r"mult_arity\[1\] must list 2 ints >= 2"),
        ([2, [0, 0], 1], 2, "has no nodes"),
    ],
)
def test_bad_width_or_arity_is_named(width, mult_arity, match):
    with pytest.raises(ValueError, match=match):
        KAN(width, mult_arity=mult_arity)


def test_parse_width_of_plain_widths():
    assert parse_width([2, 5, 1]) == [NodeLayout(2), NodeLayout(5), NodeLayout(1)]
    assert KAN([2, 5, 1]).width == [2, 5, 1] and not KAN([2, 5, 1]).has_node_step


# ------------------------------------------------------------------------------------------ plot
def test_plot_draws_mult_nodes_apart_with_their_operands():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    model = KAN([2, [3, 2], 1], mult_arity=[[], [2, 3], []], dtype=torch.float32)
    model(_inputs(2))
    fig = model.plot()
    lay = fig.kan_layout
    assert lay.width == [2, 5, 1] and lay.mult[1].tolist() == [False] * 3 + [True] * 2
    assert len(lay.sub_x[1]) == 3 + 2 + 3
    # operands sit below their node, spread around it; sum nodes are their own subnode
    assert (lay.sub_y[1][3:] < lay.node_y[1]).all() and (lay.sub_y[1][:3] == lay.node_y[1]).all()
    assert abs(lay.sub_x[1][3:5].mean() - lay.node_x[1][3]) < 1e-9
    gids = {c.get_gid() for c in fig.axes[0].collections}
    assert {"mult-nodes", "mult-operands", "nodes"} <= gids
    squares = next(c for c in fig.axes[0].collections if c.get_gid() == "mult-nodes")
    assert len(squares.get_paths()) == 2
    circles = next(c for c in fig.axes[0].collections if c.get_gid() == "nodes")
    assert len(circles.get_offsets()) == 2 + 3 + 1
    # every edge box of layer 0 ends on a subnode: 2 x 8 boxes
    assert lay.layers[0].present.shape == (2, 8)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_widget_shows_and_prunes_a_mult_model():
    from kan_widget.widget import snapshot as snap
    from kan_widget.widget.widget import KANWidget

    x = _inputs(2, B=200)
    y = x[:, :1] * x[:, 1:]
    data = {"train_input": x, "train_label": y, "test_input": x[:50], "test_label": y[:50]}
    model = KAN([2, [2, 2], 1], mult_arity=[[], [2, 3], []], seed=0, dtype=torch.float32)
    w = KANWidget(model, data, val_frac=0)
    try:
        st = w.structure
        assert st["width"] == [2, 4, 1] and st["nodes"] == [[2, []], [2, [2, 3]], [1, []]]
        assert [(la["in"], la["out"]) for la in st["layers"]] == [(2, 7), (4, 1)]
        sizes = snap.expected_sizes(st["width"], st["n_points"], model.width_out)
        assert (len(w.curves), len(w.scores), len(w.masks)) == (
            sizes["curves"],
            sizes["scores"],
            sizes["masks"],
        )
        w.inspect(0, 1, 6)  # an edge into the last operand of the 3-ary product
        assert w.inspector["edge"] == [0, 1, 6]
        with pytest.raises(IndexError, match="output node j=7"):
            w.inspect(0, 1, 7)
        with torch.no_grad():  # silence sum node 0 and the 3-ary product
            w.model.layers[1].mask[0, 0] = 0.0
            w.model.layers[1].mask[3, 0] = 0.0
        w.model.score_edges()
        w.prune(theta=1e-3)
        assert w.model.width == [2, [1, 1], 1]
        assert w.structure["nodes"] == [[2, []], [1, [2]], [1, []]]
        w.reset()
        assert w.model.width == [2, [2, 2], 1] and w.model.mult_arity == [[], [2, 3], []]
    finally:
        w.close()
