"""``KAN.plot()`` (kan_widget/plot.py) and the diagram layout (kan_widget/layout.py).

What a pykan user relies on: pykan's argument names, a Figure back, no files written, faded
unimportant edges, symbolic edges coloured and named, removed edges gone; and for the layout:
no two edge boxes overlap, and names are left out rather than written over each other.
"""

from __future__ import annotations

import inspect
import itertools
import os
import sys

import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from kan_widget import KAN  # noqa: E402
from kan_widget.layout import compute_layout, overlaps  # noqa: E402
from kan_widget.plot import COLORS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _model(width, seed=0, data=True):
    m = KAN(width=width, grid=3, k=3, seed=seed)
    if data:
        g = torch.Generator().manual_seed(seed)
        m.score_edges(torch.rand(64, width[0], generator=g) * 2 - 1)  # scores + training inputs
    return m


def _edges(fig) -> dict[tuple[int, int, int], tuple[str, np.ndarray]]:
    """``{(l, i, j): (collection gid, rgba)}`` of every drawn edge curve."""
    out = {}
    for coll in fig.axes[0].collections + fig.axes[0].images:
        keys = getattr(coll, "kan_edges", None)
        if keys is None:
            continue
        rgba = getattr(coll, "kan_rgba", None)
        rgba = coll.get_colors() if rgba is None else rgba
        for k, key in enumerate(keys):
            out[tuple(int(v) for v in key)] = (coll.get_gid(), rgba[k])
    return out


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_returns_one_figure_with_one_axes_and_few_artists():
    fig = _model([4, 16, 16, 1]).plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.collections) <= 8  # curves per colour, connectors, boxes, nodes
    assert len(_edges(fig)) == 4 * 16 + 16 * 16 + 16


def test_signature_has_pykans_arguments_and_defaults():
    kan = pytest.importorskip("kan")
    theirs = inspect.signature(kan.MultKAN.plot).parameters
    ours = inspect.signature(KAN.plot).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    for name, p in theirs.items():
        if name in ("self", "folder"):
            continue
        assert ours[name].default == p.default, name
    assert ours["folder"].default is None  # pykan: "./figures"; we write nothing unless asked
    assert ours["mask"].default is False


def test_nothing_is_written_unless_folder_is_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = _model([2, 5, 1])
    fig = m.plot(in_vars=["x", "y"], title="t", tick=True, sample=True)
    fig.canvas.draw()
    assert os.listdir(tmp_path) == []
    m.plot(folder=str(tmp_path / "figs"))
    assert os.listdir(tmp_path) == ["figs"]
    assert os.listdir(tmp_path / "figs") == ["kan.png"]


def test_beta_fades_unimportant_edges():
    m = _model([2, 3, 1])
    with torch.no_grad():  # silence edge (0, 0, 1) entirely, make (0, 1, 2) strong
        layer = m.layers[0]
        layer.coef[0, 1] = 0
        layer.scale_base[0, 1] = 0
        layer.scale_sp[0, 1] = 0
        layer.scale_base[1, 2] = 3.0
    edges = _edges(m.plot(beta=3))
    weak, strong = edges[(0, 0, 1)][1][3], edges[(0, 1, 2)][1][3]
    assert weak < 0.01
    assert strong > 0.5
    assert weak < strong
    # larger beta, more opaque (tanh(beta*A) grows with beta)
    assert _edges(m.plot(beta=30))[(0, 1, 2)][1][3] >= strong


def test_symbolic_edge_is_coloured_and_named():
    m = _model([2, 3, 1])
    m.layers[0].set_symbolic([1], [2], ["sin"], torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    fig = m.plot()
    edges = _edges(fig)
    gid, rgba = edges[(0, 1, 2)]
    assert gid == "edges-symbolic"
    assert np.allclose(rgba[:3], mcolors.to_rgb(COLORS["symbolic"]))
    assert edges[(0, 0, 0)][0] == "edges-spline"
    assert "sin" in _texts(fig)


def test_in_and_out_vars_and_title_are_shown():
    sympy = pytest.importorskip("sympy")
    m = _model([2, 5, 1])
    fig = m.plot(in_vars=["x", sympy.Symbol("alpha")], out_vars=["energy"], title="my KAN")
    texts = _texts(fig)
    for want in ("x", r"$\alpha$", "energy", "my KAN"):
        assert want in texts
    assert not any(t in ("x", "energy") for t in _texts(m.plot()))  # none unless given


def test_bad_arguments_get_clear_errors():
    m = _model([2, 5, 1])
    with pytest.raises(ValueError, match="in_vars has 3 names"):
        m.plot(in_vars=["a", "b", "c"])
    with pytest.raises(TypeError, match="list of 2 names"):
        m.plot(in_vars="xy")
    with pytest.raises(ValueError, match="metric must be one of"):
        m.plot(metric="sideways")
    with pytest.raises(ValueError, match="beta must be a number"):
        m.plot(beta=-1)


def test_masked_edge_is_not_drawn():
    m = _model([2, 5, 1])
    m.remove_edge(0, 1, 3)
    fig = m.plot()
    edges = _edges(fig)
    assert (0, 1, 3) not in edges
    assert len(edges) == 2 * 5 + 5 - 1
    boxes = next(c for c in fig.axes[0].collections if c.get_gid() == "boxes")
    assert len(boxes.get_paths()) == len(edges)


def test_mask_true_leaves_out_dead_hidden_nodes():
    m = _model([2, 3, 1])
    for i in range(2):
        m.remove_edge(0, i, 1)  # hidden node 1 has no input left
    lay = m.plot(mask=True).kan_layout
    assert not np.isfinite(lay.node_x[1][1])
    assert np.isfinite(lay.node_x[1][[0, 2]]).all()
    assert np.isfinite(m.plot().kan_layout.node_x[1]).all()


@pytest.mark.parametrize("width", [[2, 5, 1], [10, 5, 1], [30, 10, 1], [64, 64, 64, 10]])
def test_draws_every_present_edge(width):
    m = _model(width)
    fig = m.plot(in_vars=[f"x{i}" for i in range(width[0])])
    assert len(_edges(fig)) == sum(a * b for a, b in itertools.pairwise(width))
    fig.canvas.draw()
    modes = [ll.mode for ll in fig.kan_layout.layers]
    if width == [64, 64, 64, 10]:
        assert modes[0] == "lines"  # 4096 edges: no boxes a few pixels wide
    else:
        assert "boxes" in modes


def test_after_prune():
    m = _model([4, 6, 1])
    with torch.no_grad():
        m.layers[1].scale_base[2:] = 0
        m.layers[1].scale_sp[2:] = 0
        m.layers[1].coef[2:] = 0
    m.score_edges()  # scores of the changed model
    p = m.prune(node_th=1e-2, edge_th=None)
    assert p.width[1] < 6
    fig = p.plot()
    assert len(_edges(fig)) == int(sum((layer.mask > 0).sum() for layer in p.layers))


def test_without_any_data_uses_the_grid_range():
    m = _model([3, 4, 2], data=False)
    assert m.train_input is None
    fig = m.plot()
    assert len(_edges(fig)) == 3 * 4 + 4 * 2
    assert m.train_input is None  # plot changes nothing on the model


def test_uses_the_last_forward_inputs_when_cached():
    m = _model([1, 1], data=False)
    m.cache_data = torch.linspace(5.0, 7.0, 50).reshape(-1, 1)  # pykan's name
    lines = [c for c in m.plot().axes[0].collections if getattr(c, "kan_edges", None) is not None]
    assert lines  # drawn over 5..7, no error


@pytest.mark.parametrize("metric", ["backward", "forward_n", "forward_u", "edge_mean_abs"])
def test_metrics(metric):
    assert len(_edges(_model([2, 3, 1]).plot(metric=metric))) == 9


def test_notebook_shows_the_figure_once(monkeypatch):
    """With the inline backend, pyplot shows every open figure at the end of the cell by
    ``display(fig)``; a figure that is also the cell's value must not be shown a second time:
    displaying it closes it in pyplot, so the end-of-cell flush finds nothing more to show."""
    shown = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    monkeypatch.setattr(plt, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    fig = _model([2, 5, 1]).plot()
    assert plt.fignum_exists(fig.number)  # plt.show() / plt.savefig() work as after pykan's
    fig._ipython_display_()
    assert len(shown) == 1 and "image/png" in shown[0][0]
    assert not plt.fignum_exists(fig.number)


@pytest.mark.timeout(300)
def test_notebook_cell_shows_one_picture(tmp_path):
    """``model.plot()`` as a cell's last line, mid-cell, and followed by ``plt.show()``: one
    picture each, in a real kernel with the inline backend; no file written."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cells = [
        "from kan_widget import KAN\nm = KAN(width=[2, 3, 1], seed=0)\nm.plot()",
        "fig = m.plot(title='t')\nprint('more code')",
        "import matplotlib.pyplot as plt\nm.plot()\nplt.show()",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    env.pop("MPLBACKEND", None)
    env.setdefault("OMP_NUM_THREADS", "1")
    nbclient.NotebookClient(
        nb, timeout=240, resources={"metadata": {"path": str(tmp_path)}}
    ).execute(env=env)
    for cell in nb.cells:
        pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == 1, (cell.source, cell.outputs)
    assert os.listdir(tmp_path) == []


def test_missing_matplotlib_names_the_fix(monkeypatch):
    m = _model([2, 3, 1])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        m.plot()


# ---------------------------------------------------------------- layout


def _pairwise_overlap(rects: np.ndarray) -> bool:
    if len(rects) < 2:
        return False
    a, b = rects[:, None], rects[None, :]
    hit = (a[..., 0] < b[..., 2]) & (b[..., 0] < a[..., 2])
    hit &= (a[..., 1] < b[..., 3]) & (b[..., 1] < a[..., 3])
    np.fill_diagonal(hit, False)
    return bool(hit.any())


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 40), min_size=2, max_size=4),
    st.integers(0, 2**31 - 1),
    st.sampled_from([0.3, 0.5, 1.0]),
)
def test_layout_boxes_never_overlap(width, seed, scale):
    rng = np.random.default_rng(seed)
    present = [rng.random((a, b)) < 0.8 for a, b in itertools.pairwise(width)]
    names = [
        {(int(i), int(j)): "sin" for i, j in zip(*np.nonzero(p)) if rng.random() < 0.3}
        for p in present
    ]
    lay = compute_layout(
        width,
        present,
        scale=scale,
        in_vars=[f"x_{i}" for i in range(width[0])],
        out_vars=["y"] * width[-1],
        edge_names=names,
        title="t",
    )
    for l, ll in enumerate(lay.layers):
        assert (ll.present == present[l]).all()
        rects = lay.box_rects(l)
        assert len(rects) == (present[l].sum() if ll.mode == "boxes" else 0)
        assert not _pairwise_overlap(rects)
        if len(rects):  # inside the figure and between the two node rows
            assert rects[:, 0].min() >= 0 and rects[:, 2].max() <= lay.fig_w
            assert rects[:, 1].min() > lay.node_y[l] + lay.node_r
            assert rects[:, 3].max() < lay.node_y[l + 1] - lay.node_r
            assert ll.size >= 0.2  # never boxes too small to see
    label_rects = np.array([lab.box() for lab in lay.labels])
    assert not _pairwise_overlap(label_rects)


def test_layout_labels_shrink_then_drop():
    few = compute_layout([3, 2, 1], in_vars=["a", "b", "c"])
    assert [lab.text for lab in few.labels if lab.kind == "in"] == ["a", "b", "c"]
    many = compute_layout([60, 2, 1], in_vars=[f"temperature_{i}" for i in range(60)])
    shown = [lab for lab in many.labels if lab.kind == "in"]
    assert 0 < len(shown) < 60  # some left out, none overlapping
    assert all(lab.size >= 5 for lab in shown)


def test_overlaps():
    assert overlaps((0, 0, 1, 1), (0.5, 0.5, 2, 2))
    assert not overlaps((0, 0, 1, 1), (1, 0, 2, 1))  # touching is not overlapping


@pytest.mark.parametrize(
    "kw",
    [
        {"scale": 0.2},
        {"scale": 2.0},
        {"beta": 100000},
        {"beta": 0.1},
        {"beta": 100, "in_vars": [r"$\alpha$", "x"], "out_vars": ["y"], "title": "My KAN"},
        {"metric": "forward_u", "beta": 100},
        {"mask": True, "beta": 0.1},
        {"sample": True, "tick": True},
    ],
)
def test_pykan_tutorial_calls(kw):
    """The plot() calls of pykan's API_2_plotting tutorial."""
    fig = _model([2, 5, 1]).plot(**kw)
    fig.canvas.draw()
    assert len(_edges(fig)) == 15
