"""Where a KAN diagram's nodes, edge boxes and names go: pure geometry (numpy), no drawing.

One layout for :meth:`KAN.plot` (and, later, the widget): pykan's picture, made to scale.

- Vertical as pykan's: inputs on the bottom row, outputs on the top row, one band per layer.
  Units are inches, origin bottom-left (matplotlib figure inches).
- Each present edge gets its own square box in its layer's band, holding the plot of its
  function (pykan's look). pykan puts all the boxes of a layer in one row, so a [4,16,16,1]
  layer's 256 boxes come out a few pixels wide; here they fill a grid of ``rows`` rows chosen
  to make the boxes as large as the band allows, without overlaps, in pykan's order (edge
  ``(i, j)`` at position ``i*out + j``, columns filled bottom to top, left to right, so each input
  node's boxes stay together above it).
- A layer whose boxes would be smaller than :data:`MIN_BOX` inches (thousands of edges) is drawn
  as ``"lines"``: each edge a straight line from node to node carrying its curve in the middle
  (the widget's inline mode), so [64,64,64,10] stays readable.
- Names (input and output variables, symbolic functions on edges, the title) are placed where
  there is room: fonts shrink to fit down to :data:`MIN_FONT` points, then labels that would
  collide with one already placed are left out.
- Multiplication nodes (pykan's MultKAN): edges end on *subnodes*. A sum node is its own
  subnode; a multiplication node's operands are small points in a row just below it, each the
  end of its incoming edges, joined to the node (``sub_x``, ``sub_y``, ``mult``).
- Masked (removed) edges take no box. With ``hide_dead=True`` hidden nodes with no present edge in
  or out are left out and the remaining nodes of that row spread out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "MIN_BOX",
    "MIN_FONT",
    "Label",
    "LayerLayout",
    "Layout",
    "compute_layout",
    "overlaps",
    "text_size",
]

MIN_BOX = 0.2
"""Least box side (inches, 20 px at 100 dpi) for a layer to be drawn as boxes."""
MIN_FONT = 5.0
"""Smallest font (points) a name is written in; below it the name is left out."""
FILL = 0.8
"""Box side over the slot pitch (the rest is the gap between boxes)."""
LABEL_STRIP = 0.3
"""Height below each box kept for its symbolic name, as a fraction of the box side."""
CHAR_W = 0.6
"""Width of a character in ems (an upper estimate for proportional fonts)."""


@dataclass
class Label:
    """A name to write: centre ``(x, y)`` in inches, font ``size`` in points; ``kind`` is
    ``"in"``, ``"out"``, ``"edge"`` or ``"title"``; ``key`` the node index or edge ``(l, i, j)``."""

    x: float
    y: float
    text: str
    size: float
    kind: str
    key: object = None

    def box(self, pad: float = 0.0) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` the text is estimated to cover, widened by ``pad`` ems."""
        w, h = text_size(self.text, self.size)
        p = pad * self.size / 72.0
        return (self.x - w / 2 - p, self.y - h / 2, self.x + w / 2 + p, self.y + h / 2)


@dataclass
class LayerLayout:
    """Layer ``l``'s edges. ``mode`` is ``"boxes"`` or ``"lines"``. ``present [in, out]`` says
    which edges are drawn. Boxes: ``centers [in, out, 2]`` (NaN where absent), side ``size``, in a
    grid of ``rows`` x ``cols``. Lines: ``size`` is how far (inches) the curve swings across its
    line at most, ``centers`` the middle of each line."""

    mode: str
    present: np.ndarray
    centers: np.ndarray
    size: float
    rows: int = 1
    cols: int = 1
    band: tuple[float, float] = (0.0, 0.0)


@dataclass
class Layout:
    """The whole diagram: figure size ``fig_w x fig_h`` inches, node centres per row
    (``node_x[r]`` NaN for a node not drawn, ``node_y[r]`` the row's height), node radius,
    per-layer edge layouts and the names that fit. Where edges end: ``sub_x[r]``, ``sub_y[r]``
    per subnode of row ``r`` (the node itself for a sum node, an operand point below it for a
    multiplication node); ``mult[r]`` marks row ``r``'s multiplication nodes and
    ``sub_to_node[r]`` says whose each subnode is."""

    width: list[int]
    fig_w: float
    fig_h: float
    node_x: list[np.ndarray]
    node_y: list[float]
    node_r: float
    alive: list[np.ndarray]
    layers: list[LayerLayout]
    labels: list[Label] = field(default_factory=list)
    sub_x: list[np.ndarray] = field(default_factory=list)
    sub_y: list[np.ndarray] = field(default_factory=list)
    mult: list[np.ndarray] = field(default_factory=list)
    sub_to_node: list[np.ndarray] = field(default_factory=list)

    def box_rects(self, l: int) -> np.ndarray:
        """``[E, 4]`` (x0, y0, x1, y1) of layer ``l``'s boxes (empty for a lines layer)."""
        lay = self.layers[l]
        if lay.mode != "boxes":
            return np.zeros((0, 4))
        c = lay.centers[lay.present]
        h = lay.size / 2
        return np.concatenate([c - h, c + h], axis=1)


_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_LATEX_PUNCT = re.compile(r"[${}^_\\]")


def text_size(text: str, size: float) -> tuple[float, float]:
    """Estimated ``(width, height)`` in inches of ``text`` in a ``size``-point font; mathtext
    (``$...$``) counts each command (``\\alpha``) as one character and drops braces."""
    s = text
    if len(s) >= 2 and s.startswith("$") and s.endswith("$"):
        s = _LATEX_PUNCT.sub("", _LATEX_CMD.sub("x", s))
    lines = s.split("\n") or [""]
    n = max(len(line) for line in lines)
    em = size / 72.0
    return (max(n, 1) * CHAR_W * em, 1.25 * em * len(lines))


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Do rectangles ``(x0, y0, x1, y1)`` ``a`` and ``b`` share interior points?"""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Placer:
    """Greedy collision-free label placement: a label is kept if it overlaps none kept before.
    Buckets on a coarse grid keep this linear for thousands of labels."""

    def __init__(self, cell: float = 0.5):
        self.cell = cell
        self.grid: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def _cells(self, r):
        c = self.cell
        for gx in range(math.floor(r[0] / c), math.floor(r[2] / c) + 1):
            for gy in range(math.floor(r[1] / c), math.floor(r[3] / c) + 1):
                yield (gx, gy)

    def add(self, r: tuple[float, float, float, float]) -> bool:
        cells = list(self._cells(r))
        for k in cells:
            for o in self.grid.get(k, ()):
                if overlaps(r, o):
                    return False
        for k in cells:
            self.grid.setdefault(k, []).append(r)
        return True


def _spread(n_alive: int, x0: float, x1: float) -> np.ndarray:
    """Centres of ``n_alive`` evenly spaced slots on ``[x0, x1]`` (pykan's ``(i + 1/2)/n``)."""
    return x0 + (np.arange(n_alive) + 0.5) * (x1 - x0) / max(n_alive, 1)


def _alive(
    width: list[int], present: list[np.ndarray], hide_dead: bool, s2n: list[np.ndarray]
) -> list[np.ndarray]:
    alive = [np.ones(n, dtype=bool) for n in width]
    if hide_dead:
        for r in range(1, len(width) - 1):
            incoming = np.zeros(width[r], dtype=bool)
            np.logical_or.at(incoming, s2n[r], present[r - 1].any(0))  # any operand's edge
            alive[r] = np.asarray(incoming & present[r].any(1), dtype=bool)
    return alive


def _grid_shape(m: int, band_w: float, band_h: float, s_max: float) -> tuple[int, int, float]:
    """``(rows, cols, side)`` of the grid of ``m`` square boxes in a ``band_w x band_h`` band with
    the largest side (at most ``s_max``); ties go to fewer rows (pykan's single row)."""
    best = (1, max(m, 1), 0.0)
    for rows in range(1, max(1, m) + 1):
        cols = max(1, -(-m // rows))
        side = min(FILL * band_w / cols, band_h / (rows * (1 + LABEL_STRIP) + 0.2), s_max)
        if side > best[2] + 1e-12:
            best = (rows, cols, side)
        if band_h / rows < MIN_BOX:
            break
    return best


def compute_layout(
    width: Sequence[int],
    present: Sequence[np.ndarray] | None = None,
    *,
    scale: float = 0.5,
    hide_dead: bool = False,
    in_vars: Sequence[str] | None = None,
    out_vars: Sequence[str] | None = None,
    edge_names: Sequence[Mapping[tuple[int, int], str]] | None = None,
    title: str | None = None,
    varscale: float = 1.0,
    sub_to_node: Sequence[Sequence[int]] | None = None,
) -> Layout:
    """Lay out a KAN of ``width`` (e.g. ``[2, 5, 1]``) whose present edges are ``present[l]``
    (bool ``[in, out]``; ``None``: all). ``scale`` is pykan's: 0.5 gives a 5-inch-wide picture of a
    small network; larger networks grow to at most 2.4 times that. ``in_vars``/``out_vars`` are
    the display strings of the input/output names, ``edge_names[l]`` ``{(i, j): name}`` the names
    written by edges (symbolic functions), ``varscale`` the size of the variable names.
    ``sub_to_node[r]``: for each subnode of row ``r`` the node it belongs to (a model with
    multiplication nodes, ``KAN.nodes[r].sub_to_node()``; then ``present[l]`` is
    ``[width[l], subnodes of row l + 1]``); ``None``: every node is its own subnode."""
    width = [int(w) for w in width]
    depth = len(width) - 1
    if depth < 1 or min(width) < 1:
        raise ValueError(f"width must list at least 2 positive ints; got {width}")
    if sub_to_node is None:
        s2n = [np.arange(n) for n in width]
    else:
        s2n = [np.asarray(v, dtype=np.int64).reshape(-1) for v in sub_to_node]
        if len(s2n) != len(width) or any(
            len(v) and (v.min() < 0 or v.max() >= n) for v, n in zip(s2n, width)
        ):
            raise ValueError(f"sub_to_node must map each row's subnodes to its {width} nodes")
    n_sub = [len(v) for v in s2n]
    mult = [np.bincount(v, minlength=n) > 1 for v, n in zip(s2n, width)]
    for r, (v, n) in enumerate(zip(s2n, width)):
        if n and np.bincount(v, minlength=n).min() < 1:
            raise ValueError(f"sub_to_node[{r}] leaves a node without subnodes")
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive number such as 0.5; got {scale!r}")
    if not (isinstance(varscale, (int, float)) and varscale > 0 and math.isfinite(varscale)):
        raise ValueError(f"varscale must be a positive number such as 1.0; got {varscale!r}")
    pres = [
        np.ones((width[l], n_sub[l + 1]), dtype=bool)
        if present is None
        else np.asarray(present[l], dtype=bool)
        for l in range(depth)
    ]
    for l, p in enumerate(pres):
        if p.shape != (width[l], n_sub[l + 1]):
            raise ValueError(f"present[{l}] has shape {p.shape}; expected {width[l], n_sub[l + 1]}")
    alive = _alive(width, pres, hide_dead, s2n)
    pres = [p & alive[l][:, None] & alive[l + 1][s2n[l + 1]][None, :] for l, p in enumerate(pres)]
    m_max = max([int(p.sum()) for p in pres] + width)

    # picture size: pykan's 10*scale inches wide, grown with the busiest layer
    grow = min(max(math.sqrt(m_max) / 6.0, 1.0), 2.4)
    fig_w = 10.0 * scale * grow
    layer_h = 4.0 * scale * grow**0.7
    var_pt = 28.0 * scale * varscale
    in_h = 1.6 * var_pt / 72.0 if in_vars else 0.0
    out_h = 1.6 * var_pt / 72.0 if out_vars else 0.0
    title_pt = 28.0 * scale
    title_h = 1.8 * title_pt / 72.0 if title else 0.0
    margin = 0.15 * scale * 2
    bottom = margin + in_h
    fig_h = bottom + depth * layer_h + margin + out_h + title_h
    x0, x1 = margin, fig_w - margin

    node_y = [bottom + r * layer_h for r in range(depth + 1)]
    node_x = []
    pitch = []
    for r, n in enumerate(width):
        xs = np.full(n, np.nan)
        k = int(alive[r].sum())
        xs[alive[r]] = _spread(k, x0, x1)
        node_x.append(xs)
        pitch.append((x1 - x0) / max(k, 1))
    node_r = min(max(0.3 * min(pitch) / 2, 0.012), 0.06 * 2 * scale)

    # subnodes: a multiplication node's operands in a row just below it, spaced 2.4 radii
    sub_x, sub_y = [], []
    drop = 3.0 * node_r
    for r in range(depth + 1):
        v = s2n[r]
        xs, ys = node_x[r][v].copy(), np.full(len(v), node_y[r])
        for node in np.nonzero(mult[r])[0]:
            ops = np.nonzero(v == node)[0]
            off = (np.arange(len(ops)) - (len(ops) - 1) / 2) * 2.4 * node_r
            xs[ops] = node_x[r][node] + off
            ys[ops] = node_y[r] - drop
        sub_x.append(xs)
        sub_y.append(ys)

    layers = []
    s_max = 1.6 * scale
    for l in range(depth):
        p = pres[l]
        m = int(p.sum())
        pad = node_r + 0.08 * layer_h
        top = pad + (drop if mult[l + 1].any() else 0.0)
        b0, b1 = node_y[l] + pad, node_y[l + 1] - top
        rows, cols, side = _grid_shape(m, x1 - x0, b1 - b0, s_max)
        centers = np.full((width[l], n_sub[l + 1], 2), np.nan)
        if side >= MIN_BOX:
            pos = np.arange(m)
            col, row = pos // rows, pos % rows
            px = (x1 - x0) / cols
            slot = (b1 - b0) / rows
            # the box sits at the top of its slot, its name in the strip below it
            bx = x0 + (col + 0.5) * px
            by = b0 + (row + 0.5) * slot + (LABEL_STRIP * side) / 2
            ii, jj = np.nonzero(p)  # row-major: pykan's order i*out + j
            centers[ii, jj, 0] = bx
            centers[ii, jj, 1] = by
            layers.append(LayerLayout("boxes", p, centers, side, rows, cols, (b0, b1)))
        else:
            ii, jj = np.nonzero(p)
            centers[ii, jj, 0] = (node_x[l][ii] + sub_x[l + 1][jj]) / 2
            centers[ii, jj, 1] = (node_y[l] + sub_y[l + 1][jj]) / 2
            amp = min(0.35 * min(pitch[l], pitch[l + 1]), 0.08 * layer_h, 0.15)
            layers.append(LayerLayout("lines", p, centers, amp, 1, 1, (b0, b1)))

    lay = Layout(
        width, fig_w, fig_h, node_x, node_y, node_r, alive, layers, [], sub_x, sub_y, mult, s2n
    )
    placer = _Placer()
    if title:
        t = Label(fig_w / 2, fig_h - margin - title_h / 2, str(title), title_pt, "title")
        placer.add(t.box())
        lay.labels.append(t)
    if in_vars is not None:
        y = node_y[0] - node_r - in_h / 2
        lay.labels += _row_labels(in_vars, node_x[0], y, pitch[0], var_pt, "in", placer)
    if out_vars is not None:
        y = node_y[-1] + node_r + out_h / 2
        lay.labels += _row_labels(out_vars, node_x[-1], y, pitch[-1], var_pt, "out", placer)
    if edge_names:
        lay.labels += _edge_labels(lay, edge_names, placer)
    return lay


def _fit_font(texts: Sequence[str], room: float, largest: float) -> float:
    """The largest font (at most ``largest`` points) in which every text is ``room`` wide or less;
    :data:`MIN_FONT` if none fits (the placer then leaves colliding ones out)."""
    widest = max((text_size(t, 1.0)[0] for t in texts), default=0.0)
    if widest <= 0:
        return largest
    return max(min(largest, room / widest), MIN_FONT)


def _row_labels(names, xs, y, pitch, largest, kind, placer) -> list[Label]:
    names = [str(v) for v in names]
    if len(names) != len(xs):
        raise ValueError(
            f"{kind}_vars has {len(names)} names for {len(xs)} {kind}put nodes; give one per node"
        )
    size = _fit_font(names, 0.85 * pitch, largest)
    out = []
    for i, (name, x) in enumerate(zip(names, xs)):
        if not name or not np.isfinite(x):
            continue
        lab = Label(float(x), float(y), name, size, kind, i)
        if placer.add(lab.box(0.25)):
            out.append(lab)
    return out


def _edge_labels(lay: Layout, edge_names, placer) -> list[Label]:
    out = []
    for l, names in enumerate(edge_names):
        if l >= len(lay.layers) or not names:
            continue
        ll = lay.layers[l]
        if ll.mode == "boxes":
            size = min(ll.size * LABEL_STRIP * 0.75 * 72, 10.0)
            dy = -(ll.size / 2 + ll.size * LABEL_STRIP / 2)
        else:
            size = min(ll.size * 72 * 0.8, 8.0)
            dy = ll.size + size / 72
        if size < MIN_FONT:
            continue
        for (i, j), name in sorted(names.items()):
            if not ll.present[i, j]:
                continue
            cx, cy = ll.centers[i, j]
            lab = Label(float(cx), float(cy + dy), str(name), size, "edge", (l, i, j))
            if placer.add(lab.box(0.25)):
                out.append(lab)
    return out
