"""``KAN.plot()``: pykan's picture of a network, as one matplotlib Figure, fast.

pykan 0.2.8 saves one PNG per edge into ``./figures`` and reads them back as one Axes per edge
(45 s and 336 files for [4,16,16,1]). Here the geometry comes from :mod:`kan_widget.layout` and
everything is drawn on one Axes with a handful of collections: one ``LineCollection`` per edge
colour for the curves, one for the connectors, one ``PolyCollection`` for the boxes, one
``EllipseCollection`` for the nodes, and a ``Text`` per name that fits. Nothing is written to
disk unless ``folder=`` is given.

The visual language is the widget's and pykan's: every edge's function in its own box (or, for
layers with thousands of edges, drawn along its line), opacity ``tanh(beta * A)`` with ``A`` the
edge's importance, symbolic edges in colour and named, removed edges not drawn.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from .layout import Layout, compute_layout

__all__ = ["COLORS", "METRICS", "plot"]

COLORS = {"spline": "#1f2933", "symbolic": "#d6336c", "both": "#7048e8"}
"""Edge colours (the widget's): numeric (pykan black), symbolic (pykan red), both (purple)."""
NODE_FILL, NODE_STROKE, TEXT = "#ffffff", "#343a40", "#212529"

METRICS = {
    "backward": None,  # the model's own edge scores (its reg_metric): what prune uses
    "forward_n": "edge_forward_spline_n",
    "forward_u": "edge_forward_spline_u",
}
"""pykan's ``metric`` names -> our score metrics (our REG_METRICS names are accepted too)."""

N_POINTS = 64  # points per curve in a box
N_LINE_POINTS = 12  # points per curve drawn along a line (a few pixels tall)
N_SAMPLES = 128  # most data points per edge with sample=True
RASTER_MIN = 1500  # a lines layer with more edges than this is drawn as one image


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib import pyplot as plt
    except ImportError as e:  # pragma: no cover - matplotlib is in the dev extras
        raise ImportError(
            "model.plot() needs matplotlib, which is not installed: pip install matplotlib "
            "(or pip install 'kan-widget[plot]'). The widget (KANWidget) works without it."
        ) from e
    return plt


def _plot_input(model) -> tuple[torch.Tensor, str]:
    """The inputs whose activations the picture shows: the last forward pass's (pykan's
    ``cache_data``), else the training inputs, else points spanning each input's grid."""
    for name in ("cache_data", "train_input"):
        x = getattr(model, name, None)
        if isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[0] > 0:
            if x.shape[1] == model.width[0]:
                return x.detach().to(model.device, model.dtype), name
    layer = model.layers[0]
    k = layer.k
    lo, hi = layer.grid[:, k], layer.grid[:, -k - 1]
    t = torch.linspace(0.0, 1.0, 101, dtype=model.dtype, device=model.device)
    return (lo[None, :] + (hi - lo)[None, :] * t[:, None]).detach(), "grid"


def _scores(model, x: torch.Tensor, metric: str) -> list[np.ndarray]:
    """Per layer ``[in, out]`` importance of every edge on ``x`` (0 for removed edges), without
    touching the model's stored scores or training inputs."""
    from .regularizer import REG_METRICS

    if metric in METRICS:
        name = METRICS[metric] or model.reg_metric
    elif metric in REG_METRICS:
        name = metric
    else:
        raise ValueError(
            f"metric must be one of {sorted(METRICS)} (pykan's) or {list(REG_METRICS)}; "
            f"got {metric!r}"
        )
    with torch.no_grad():
        _, stats = model.forward_stats(x, name)
    return [
        (s.score * (layer.mask > 0)).to("cpu", torch.float64).numpy()
        for s, layer in zip(stats, model.layers)
    ]


def _display(v: Any) -> str:
    """A name as shown: sympy expressions as mathtext (pykan's ``$latex$``), others as str."""
    try:
        import sympy

        if isinstance(v, sympy.Basic):
            return f"${sympy.latex(v)}$"
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def _check_vars(v, n: int, name: str) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        raise TypeError(f"{name} must be a list of {n} names (str or sympy), e.g. ['x', 'y']")
    if len(v) != n:
        raise ValueError(f"{name} has {len(v)} names but the model has {n}; give one per node")
    return [_display(s) for s in v]


def plot(
    model,
    folder: str | None = None,
    beta: float = 3,
    metric: str = "backward",
    scale: float = 0.5,
    tick: bool = False,
    sample: bool = False,
    in_vars=None,
    out_vars=None,
    title: str | None = None,
    varscale: float = 1.0,
    mask: bool = False,
):
    """See :meth:`kan_widget.KAN.plot`."""
    for name, v in (("beta", beta), ("scale", scale), ("varscale", varscale)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a number >= 0; got {v!r}")
    if scale <= 0 or varscale <= 0:
        raise ValueError("scale and varscale must be > 0 (pykan's defaults: 0.5 and 1.0)")
    if folder is not None and not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path (str) or None; got {folder!r}")
    in_names = _check_vars(in_vars, model.width_in[0], "in_vars")
    out_names = _check_vars(out_vars, model.width_in[-1], "out_vars")
    plt = _matplotlib()

    x, _ = _plot_input(model)
    scores = _scores(model, x, metric)
    present = [(layer.mask > 0).cpu().numpy() for layer in model.layers]
    edge_names = [dict(layer.sym_names) for layer in model.layers]
    lay = compute_layout(
        model.width_in,
        present,
        scale=scale,
        hide_dead=bool(mask),
        in_vars=in_names,
        out_vars=out_names,
        edge_names=edge_names,
        title=None if title is None else str(title),
        varscale=varscale,
        sub_to_node=[lay.sub_to_node() for lay in model.nodes] if model.has_node_step else None,
    )
    fig = plt.figure(figsize=(lay.fig_w, lay.fig_h), FigureClass=_figure_class())
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, lay.fig_w)
    ax.set_ylim(0, lay.fig_h)
    ax.set_axis_off()
    fig.kan_layout = lay  # type: ignore[attr-defined]
    _draw(ax, model, x, lay, scores, float(beta), bool(tick), bool(sample))
    if folder is not None:
        os.makedirs(folder, exist_ok=True)
        fig.savefig(os.path.join(folder, "kan.png"), dpi=200)
    return fig


_FIGURE_CLASS: Any = None


def _figure_class():
    """A Figure that a notebook shows once. With the inline backend pyplot shows every open
    figure when the cell ends, by ``display(fig)``; a Figure that is also the cell's value would
    be shown twice. So displaying this figure closes it in pyplot and shows its PNG: whichever
    comes first (the cell's value, or the end-of-cell flush) shows it, and only once."""
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib import pyplot as plt
        from matplotlib.figure import Figure

        class KANFigure(Figure):
            def _ipython_display_(self):
                import io

                from IPython.display import display

                backend = plt.get_backend().lower()
                managed = plt.fignum_exists(getattr(self, "number", -1))
                if managed and ("ipympl" in backend or "widget" in backend):
                    return  # an interactive canvas: ipympl shows it itself
                if managed:
                    plt.close(self)
                buf = io.BytesIO()
                self.savefig(buf, format="png", bbox_inches="tight")
                display({"image/png": buf.getvalue()}, raw=True)

        _FIGURE_CLASS = KANFigure
    return _FIGURE_CLASS


def _curves(model, x: torch.Tensor, ns: list[int]):
    """Per layer: ``xs [in, n]`` evenly spaced over each input's range on ``x``, ``ys [in, out, n]``
    every edge's value there, and the activations (layer inputs) ``acts``."""
    acts = model.activations(x)
    out = []
    with torch.no_grad():
        for layer, a, n in zip(model.layers, acts[:-1], ns):
            t = torch.linspace(0.0, 1.0, n, dtype=x.dtype, device=x.device)
            lo, hi = a.amin(0), a.amax(0)
            xs = lo[:, None] + (hi - lo)[:, None] * t  # [in, n]
            ys = layer.edge_values(xs.t().contiguous()).permute(1, 2, 0)  # [in, out, n]
            out.append((xs.cpu().double().numpy(), ys.cpu().double().numpy()))
    return out, acts


def _unit(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """``v`` mapped to [-1, 1] along ``axis`` (a flat curve to 0)."""
    lo = v.min(axis=axis, keepdims=True)
    hi = v.max(axis=axis, keepdims=True)
    span = hi - lo
    ok = np.isfinite(span) & (span > 1e-12 * np.maximum(1.0, np.abs(hi)))
    return np.where(ok, (v - lo) / np.where(ok, span, 1.0) * 2 - 1, 0.0)


def _rasterise(lay: Layout, items, dpi: float, rgb: list[np.ndarray]) -> np.ndarray:
    """Thousands of edges as one RGBA image at the figure's resolution: each polyline is sampled
    every pixel and each sample adds its edge's opacity to its pixel, per colour; overlapping
    edges add up as optical density ``1 - exp(-sum)``. Agg draws 8832 antialiased lines in
    seconds; this takes a fraction of that."""
    w = max(2, math.ceil(lay.fig_w * dpi))
    h = max(2, math.ceil(lay.fig_h * dpi))
    acc = np.zeros((len(rgb), h * w))
    for pts, alpha, cls, _ in items:
        p = (pts * dpi).astype(np.float32)  # [E, P, 2] pixels, y up
        per = p.shape[1] - 1
        a, b = p[:, :-1].reshape(-1, 2), p[:, 1:].reshape(-1, 2)
        cnt = np.ceil(np.hypot(*(b - a).T)).astype(np.int64) + 1
        idx = np.repeat(np.arange(len(cnt)), cnt)
        t = (np.arange(len(idx)) - np.repeat(np.cumsum(cnt) - cnt, cnt)).astype(np.float32)
        t /= np.repeat(cnt, cnt).astype(np.float32)
        x = a[idx, 0] + (b[idx, 0] - a[idx, 0]) * t
        y = a[idx, 1] + (b[idx, 1] - a[idx, 1]) * t
        lin = np.clip((h - 1 - y).astype(np.int64), 0, h - 1) * w
        lin += np.clip(x.astype(np.int64), 0, w - 1)
        edge = idx // per
        for k in np.unique(cls):
            sel = cls[edge] == k
            acc[k] += np.bincount(lin[sel], weights=alpha[edge[sel]], minlength=h * w)
    dens = acc.sum(0)
    img = np.empty((h * w, 4))
    img[:, :3] = (np.stack(rgb, 1) @ acc / np.maximum(dens, 1e-12)).T
    img[:, 3] = 1 - np.exp(-dens)
    return img.reshape(h, w, 4).astype(np.float32)


def _edge_colour_class(model, l: int) -> np.ndarray:
    """``[in, out]``: 0 numeric, 1 symbolic (pykan's red), 2 both (pykan's purple; not reached
    by this engine, where an edge is one or the other)."""
    layer = model.layers[l]
    return layer.sym_mask.cpu().numpy().astype(np.int8)


def _draw(ax, model, x, lay: Layout, scores, beta: float, tick: bool, sample: bool) -> None:
    from matplotlib import colors as mcolors
    from matplotlib.collections import EllipseCollection, LineCollection, PolyCollection

    names = list(COLORS)
    rgb = [np.array(mcolors.to_rgb(COLORS[c])) for c in names]
    ns = [N_POINTS if ll.mode == "boxes" else N_LINE_POINTS for ll in lay.layers]
    curves, acts = _curves(model, x, ns)

    segs: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    seg_rgba: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    seg_lw: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    seg_keys: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    raster: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    conn, conn_rgba, conn_lw = [], [], []
    polys, poly_face, poly_edge = [], [], []
    dots, dot_rgba, dot_size = [], [], []
    tick_texts = []
    for l, ll in enumerate(lay.layers):
        p = ll.present
        ii, jj = np.nonzero(p)
        if len(ii) == 0:
            continue
        alpha = np.tanh(beta * np.clip(np.nan_to_num(scores[l][ii, jj]), 0, None))
        cls = _edge_colour_class(model, l)[ii, jj]
        xs, ys = curves[l]
        ax_n = (xs[ii] - xs[ii].min(1, keepdims=True)) / np.maximum(
            np.ptp(xs[ii], axis=1, keepdims=True), 1e-30
        ) * 2 - 1  # [E, n]
        yn = _unit(ys[ii, jj])  # [E, n]
        a_x, a_y = lay.node_x[l][ii], np.full(len(ii), lay.node_y[l])
        b_x, b_y = lay.sub_x[l + 1][jj], lay.sub_y[l + 1][jj]  # subnodes (operands of products)
        if ll.mode == "boxes":
            cx, cy = ll.centers[ii, jj, 0], ll.centers[ii, jj, 1]
            h = ll.size / 2
            inner = 0.82 * h
            pts = np.stack([cx[:, None] + inner * ax_n, cy[:, None] + inner * yn], axis=2)
            lw = float(np.clip(ll.size * 3.0, 0.5, 2.5))
            c = np.stack([a_x, a_y, cx, cy - h], axis=1).reshape(-1, 2, 2)
            d = np.stack([cx, cy + h, b_x, b_y], axis=1).reshape(-1, 2, 2)
            conn += [c, d]
            col = np.array([rgb[k] for k in cls])
            rgba = np.concatenate([col, alpha[:, None]], axis=1)
            faint = np.concatenate([col, 0.7 * alpha[:, None]], axis=1)
            conn_rgba += [faint, faint]
            conn_lw.append(np.full(2 * len(ii), float(np.clip(ll.size * 1.5, 0.3, 1.0))))
            sq = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float) * h
            polys.append(np.stack([cx, cy], axis=1)[:, None, :] + sq[None])
            # white faces, as opaque as the edge: an important box hides the connectors behind
            # it, a faded one does not cut through them
            poly_face.append(np.concatenate([np.ones((len(ii), 3)), alpha[:, None]], axis=1))
            poly_edge.append(rgba)
            if sample:
                a = acts[l][:: max(1, -(-acts[l].shape[0] // N_SAMPLES))]
                with torch.no_grad():
                    v = model.layers[l].edge_values(a).cpu().double().numpy()
                a = a.cpu().double().numpy()
                for e, (i, j) in enumerate(zip(ii, jj)):
                    vx, vy = a[:, i], v[:, i, j]
                    lo_x, hi_x = xs[i].min(), xs[i].max()
                    lo_y, hi_y = ys[i, j].min(), ys[i, j].max()
                    px = cx[e] + inner * ((vx - lo_x) / max(hi_x - lo_x, 1e-30) * 2 - 1)
                    py = cy[e] + inner * ((vy - lo_y) / max(hi_y - lo_y, 1e-30) * 2 - 1)
                    dots.append(np.stack([px, py], axis=1))
                    dot_rgba.append(np.tile(rgba[e], (len(px), 1)))
                    dot_size.append(np.full(len(px), max(0.5, 10 * ll.size)))
            if tick and ll.size * 72 >= 28:
                fs = min(6.0, ll.size * 72 / 6)
                for e, (i, j) in enumerate(zip(ii, jj)):
                    lo_x, hi_x = xs[i].min(), xs[i].max()
                    lo_y, hi_y = ys[i, j].min(), ys[i, j].max()
                    # inside the box, as pykan's ticks (direction="in")
                    tick_texts.append((cx[e], cy[e] - h, f"{lo_x:.2g} .. {hi_x:.2g}", "x", fs))
                    tick_texts.append((cx[e] - h, cy[e], f"{lo_y:.2g} .. {hi_y:.2g}", "y", fs))
        else:
            dx, dy = b_x - a_x, b_y - a_y
            ln = np.maximum(np.hypot(dx, dy), 1e-12)
            nx, ny = -dy / ln, dx / ln  # left of the direction of travel
            t = 0.3 + 0.4 * (ax_n + 1) / 2  # [E, n] along the line
            amp = ll.size * yn
            mid_x = a_x[:, None] + dx[:, None] * t + nx[:, None] * amp
            mid_y = a_y[:, None] + dy[:, None] * t + ny[:, None] * amp
            pts = np.stack(
                [
                    np.concatenate([a_x[:, None], mid_x, b_x[:, None]], axis=1),
                    np.concatenate([a_y[:, None], mid_y, b_y[:, None]], axis=1),
                ],
                axis=2,
            )
            lw = float(np.clip(ll.size * 6.0, 0.25, 1.0))
        keys = np.stack([np.full(len(ii), l), ii, jj], axis=1)
        if ll.mode == "lines" and len(ii) > RASTER_MIN:
            raster.append((pts, alpha, cls, keys))
            continue
        for k in range(3):
            sel = cls == k
            if not sel.any():
                continue
            segs[k].append(pts[sel])
            rgba = np.concatenate([np.tile(rgb[k], (int(sel.sum()), 1)), alpha[sel, None]], axis=1)
            seg_rgba[k].append(rgba)
            seg_lw[k].append(np.full(int(sel.sum()), lw))
            seg_keys[k].append(keys[sel])

    if conn:
        lc = LineCollection(
            [s for c in conn for s in c],
            colors=np.concatenate(conn_rgba),
            linewidths=np.concatenate(conn_lw),
            zorder=1,
            gid="connectors",
        )
        ax.add_collection(lc)
    if polys:
        pc = PolyCollection(
            list(np.concatenate(polys)),
            facecolors=np.concatenate(poly_face),
            edgecolors=np.concatenate(poly_edge),
            linewidths=0.6,
            zorder=2,
            gid="boxes",
        )
        ax.add_collection(pc)
    for k, cname in enumerate(names):
        if not segs[k]:
            continue
        arrs = segs[k]
        lines = [s for a in arrs for s in a]
        lc = LineCollection(
            lines,
            colors=np.concatenate(seg_rgba[k]),
            linewidths=np.concatenate(seg_lw[k]),
            zorder=3,
            gid=f"edges-{cname}",
        )
        lc.kan_edges = np.concatenate(seg_keys[k])  # type: ignore[attr-defined]
        ax.add_collection(lc)
    if raster:
        img = _rasterise(lay, raster, float(ax.figure.dpi), rgb)
        im = ax.imshow(
            img,
            extent=(0, lay.fig_w, 0, lay.fig_h),
            origin="upper",
            interpolation="antialiased",
            zorder=3,
            gid="edges-raster",
        )
        ax.set_xlim(0, lay.fig_w)
        ax.set_ylim(0, lay.fig_h)
        ax.set_aspect("auto")
        im.kan_edges = np.concatenate([r[3] for r in raster])  # type: ignore[attr-defined]
        im.kan_rgba = np.concatenate(  # type: ignore[attr-defined]
            [np.concatenate([np.array(rgb)[r[2]], r[1][:, None]], axis=1) for r in raster]
        )
    if dots:
        ax.scatter(
            *np.concatenate(dots).T,
            s=np.concatenate(dot_size),
            c=np.concatenate(dot_rgba),
            linewidths=0,
            zorder=3,
            gid="samples",
        )

    _draw_mult_nodes(ax, lay)
    # sum nodes (circles)
    sums = [np.isfinite(xr) & ~m for xr, m in zip(lay.node_x, lay.mult)]
    cx = np.concatenate([xr[k] for xr, k in zip(lay.node_x, sums)])
    cy = np.concatenate([np.full(int(k.sum()), y) for k, y in zip(sums, lay.node_y)])
    diam = 2 * lay.node_r
    nodes = EllipseCollection(
        np.full(len(cx), diam),
        np.full(len(cx), diam),
        np.zeros(len(cx)),
        units="xy",
        offsets=np.stack([cx, cy], axis=1),
        offset_transform=ax.transData,
        facecolors=NODE_FILL,
        edgecolors=NODE_STROKE,
        linewidths=float(np.clip(lay.node_r * 30, 0.4, 1.5)),
        zorder=4,
        gid="nodes",
    )
    ax.add_collection(nodes)

    for x0, y0, text, where, fs in tick_texts:
        if where == "x":
            ax.text(x0, y0, text, fontsize=fs, ha="center", va="bottom", color=TEXT, zorder=5)
        else:
            ax.text(
                x0,
                y0,
                text,
                fontsize=fs,
                ha="left",
                va="center",
                rotation=90,
                color=TEXT,
                zorder=5,
            )
    for lab in lay.labels:
        colour = COLORS["symbolic"] if lab.kind == "edge" else TEXT
        ax.text(
            lab.x,
            lab.y,
            lab.text,
            fontsize=lab.size,
            ha="center",
            va="center",
            color=colour,
            zorder=5,
            gid=f"label-{lab.kind}",
        )


def _draw_mult_nodes(ax, lay: Layout) -> None:
    """Multiplication nodes, drawn apart from sum nodes: a square holding a ``×``, its operands
    small dots in a row below it (where their edges end), each joined to the square."""
    from matplotlib.collections import LineCollection, PolyCollection

    r = lay.node_r
    squares, links, dots = [], [], []
    for row, m in enumerate(lay.mult):
        for node in np.nonzero(m & np.isfinite(lay.node_x[row]))[0]:
            x, y = lay.node_x[row][node], lay.node_y[row]
            squares.append(
                np.array([[x - r, y - r], [x + r, y - r], [x + r, y + r], [x - r, y + r]])
            )
            ax.text(
                x,
                y,
                "\u00d7",
                fontsize=max(4.0, 72 * 1.6 * r),
                ha="center",
                va="center",
                color=NODE_STROKE,
                zorder=5,
                gid="mult-sign",
            )
    for row in range(len(lay.mult)):
        if not lay.mult[row].any():
            continue
        for sx, sy, node in zip(lay.sub_x[row], lay.sub_y[row], lay.sub_to_node[row]):
            if not np.isfinite(sx) or not lay.mult[row][node]:
                continue  # a sum node's subnode is the node itself
            node_x = lay.node_x[row][node]
            links.append(np.array([[sx, sy], [node_x, lay.node_y[row] - r]]))
            dots.append((sx, sy))
    if not squares:
        return
    ax.add_collection(
        LineCollection(links, colors=NODE_STROKE, linewidths=0.6, zorder=4, gid="mult-operands")
    )
    ax.add_collection(
        PolyCollection(
            squares,
            facecolors=NODE_FILL,
            edgecolors=NODE_STROKE,
            linewidths=float(np.clip(r * 30, 0.4, 1.5)),
            zorder=4,
            gid="mult-nodes",
        )
    )
    if dots:
        d = np.array(dots)
        ax.scatter(
            d[:, 0],
            d[:, 1],
            s=max(1.0, (72 * 0.6 * r) ** 2),
            c=NODE_STROKE,
            linewidths=0,
            zorder=4,
            gid="mult-operand-dots",
        )
