"""Classification in the widget: the problem type of the data, its numbers (cross-entropy and
accuracy per split, a confusion matrix), and the drawing data of the decision boundary.

The input square's drawing is not a classification's alone: for any two-input model (a
regression too) :meth:`ClassView.frame` gives every node's value over the square (TF
Playground's neuron pictures), from the same forward pass that gives a classification its
probabilities.

The engine's rules (which labels are classes, the loss, accuracy) are
:mod:`kan_widget.classification`'s; this module only puts them into the widget's shapes. The
boundary is computed here, in the kernel (class probabilities over a grid of the input square,
float32), and drawn by the front end (js/boundary.ts) on a canvas.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import classification as cls

__all__ = [
    "BOUNDARY_GRID",
    "MAX_POINTS",
    "NODE_GRID",
    "ClassView",
    "can_classify",
    "class_metrics",
    "detect",
    "problem_data",
]

BOUNDARY_GRID = 48  # cells per side of the probability grid
# cells per side of each node's picture: every 2x2 block of the boundary's grid, so one forward
# pass over the grid draws both (the pictures' buffer stays small: 24^2 floats a node)
NODE_GRID = BOUNDARY_GRID // 2
MAX_POINTS = 600  # points per split drawn over the boundary
PAD = 0.05  # the input square extends the data's range by this fraction on each side


def detect(labels: torch.Tensor, n_out: int) -> str:
    """The widget's problem type for checked labels: class indices, one-hot rows or a 0/1
    column are a classification (switchable), anything else a regression."""
    return cls.detect_problem(labels, n_out, one_hot=True)


def can_classify(labels: torch.Tensor, n_out: int) -> str | None:
    """``None`` if these labels can be classes for ``n_out`` outputs, else why not."""
    try:
        cls.prepare_labels(labels, n_out)
    except ValueError as e:
        return f"these labels are not classes ({e})"
    return None


def problem_data(data: dict, problem: str, n_out: int, dtype: torch.dtype) -> dict:
    """``data`` (checked splits) with every split's labels in ``problem``'s form: classes as
    training takes them, or for a regression class indices as one-hot rows."""
    out = dict(data)
    for key in [k for k in data if k.endswith("_label")]:
        y = data[key]
        if problem == "classification":
            out[key] = cls.prepare_labels(y, n_out, name=key)
        elif y.dim() == 1:
            out[key] = torch.nn.functional.one_hot(y, n_out).to(dtype)
    return out


def class_metrics(model, data: dict) -> dict[str, float | None]:
    """Cross-entropy (``{split}_loss``) and accuracy (``{split}_acc``) of ``model`` on every
    split of ``data`` present (labels in classification's form); R² does not apply (None)."""
    out: dict[str, float | None] = {}
    for split in ("train", "val", "test"):
        x, y = data.get(f"{split}_input"), data.get(f"{split}_label")
        loss = acc = None
        if x is not None and y is not None and x.shape[0] > 0:
            with torch.no_grad():
                logits = model.predict(x)
                ce = float(cls.class_loss(logits, y))
                loss = ce if math.isfinite(ce) else None
                acc = cls.accuracy(logits, y)
        out[f"{split}_loss"], out[f"{split}_acc"], out[f"{split}_r2"] = loss, acc, None
    return out


def _subset(n: int, limit: int) -> torch.Tensor:
    return torch.arange(n) if n <= limit else torch.linspace(0, n - 1, limit).round().long()


class ClassView:
    """The drawing data over one widget's input square: for two inputs the square, its grid and
    every node's picture (any problem type); for labels that are classes also the points and,
    for any number of inputs, the confusion matrices.

    ``classes``: whether ``data``'s labels are classes (in classification's form); False for a
    regression's data, whose view draws the node pictures alone."""

    def __init__(
        self,
        data: dict,
        n_out: int,
        in_vars: list[str],
        grid: int = BOUNDARY_GRID,
        classes: bool = True,
    ):
        self.data = data
        self.has_classes = bool(classes)
        self.n_out = n_out
        self.classes = max(2, n_out)
        self.in_vars = list(in_vars)
        x = data["train_input"]
        self.n_in = int(x.shape[1])
        self.grid = int(grid)
        if self.grid < 2 or self.grid % 2:
            raise ValueError(f"the boundary grid must be even (a picture cell is 2x2); got {grid}")
        self.node_grid = self.grid // 2
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.grid_x: torch.Tensor | None = None
        if self.n_in == 2:
            allx = torch.cat([data[k] for k in data if k.endswith("_input")])
            lo, hi = allx.amin(0).double(), allx.amax(0).double()
            span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
            lo, hi = lo - PAD * span, hi + PAD * span
            self.lo, self.hi = lo.tolist(), hi.tolist()
            # cell centres, row r = second input ascending, column c = first input ascending
            t = (torch.arange(self.grid, dtype=torch.float64) + 0.5) / self.grid
            gx = lo[0] + (hi[0] - lo[0]) * t
            gy = lo[1] + (hi[1] - lo[1]) * t
            yy, xx = torch.meshgrid(gy, gx, indexing="ij")
            self.grid_x = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).to(x.dtype)

    def points(self) -> bytes:
        """float32 rows ``[x, y, class, split]`` (split 0 train, 1 test), at most
        :data:`MAX_POINTS` per split; empty unless there are two inputs and the labels are
        classes."""
        if self.n_in != 2 or not self.has_classes:
            return b""
        rows = []
        for s, split in enumerate(("train", "test")):
            x, y = self.data.get(f"{split}_input"), self.data.get(f"{split}_label")
            if x is None or y is None:
                continue
            idx = _subset(int(x.shape[0]), MAX_POINTS)
            lab = y[idx, 0] if y.dim() == 2 else y[idx]
            part = torch.cat(
                [
                    x[idx].double(),
                    lab.double().unsqueeze(1),
                    torch.full((len(idx), 1), float(s), dtype=torch.float64),
                ],
                1,
            )
            rows.append(part)
        if not rows:
            return b""
        return torch.cat(rows).to(torch.float32).numpy().astype("<f4").tobytes()

    def frame(self, model, probabilities: bool = True) -> tuple[bytes, bytes]:
        """One live push's drawing, from one forward pass over the grid: the class
        probabilities (float32 ``[grid*grid, classes]``, row-major as :attr:`grid_x`; empty
        unless ``probabilities``, which a regression leaves off) and every node's picture
        (float32 ``[nodes, node_grid^2]``, layer by layer, inputs first and the outputs last, a
        classification's logits or a regression's predictions; each cell the mean of the 2x2
        grid cells it covers). Either is empty when not finite (never a stale or made-up
        picture), both unless there are two inputs."""
        if self.grid_x is None:
            return b"", b""
        if probabilities and not self.has_classes:
            raise ValueError("class probabilities need labels that are classes (classes=True)")
        with torch.no_grad():
            acts = model.activations(self.grid_x)  # [x_0, ..., x_L]: every layer's nodes
            if probabilities:
                p = cls.probabilities(acts[-1]).to(torch.float32)
            else:
                p = torch.empty(0, dtype=torch.float32)
            flat = torch.cat([a.t() for a in acts], 0).to(torch.float32)  # [nodes, grid^2]
            h = self.node_grid
            blocks = flat.reshape(-1, h, 2, h, 2).mean((2, 4)).reshape(-1, h * h)
        ok_p = p.numel() > 0 and bool(torch.isfinite(p).all())
        probs = p.numpy().astype("<f4").tobytes() if ok_p else b""
        ok = bool(torch.isfinite(blocks).all())
        nodes = blocks.contiguous().numpy().astype("<f4").tobytes() if ok else b""
        return probs, nodes

    def probabilities(self, model) -> bytes:
        """The class probabilities of :meth:`frame`."""
        return self.frame(model)[0]

    def node_maps(self, model) -> bytes:
        """The node pictures of :meth:`frame` (TF Playground's neuron pictures)."""
        return self.frame(model, probabilities=False)[1]

    def info(self, model, problem: str) -> dict[str, Any]:
        """The ``classify`` trait: what the front end needs to read the buffers."""
        out: dict[str, Any] = {
            "problem": problem,
            "classes": self.classes,
            "n_in": self.n_in,
            "in_vars": self.in_vars,
            "grid": self.grid if self.n_in == 2 else 0,
            "node_grid": self.node_grid if self.n_in == 2 else 0,
            "width": [int(w) for w in model.width_in],  # nodes per layer (sum and mult)
            "lo": self.lo,
            "hi": self.hi,
            "confusion": None,
        }
        if problem == "classification" and self.n_in != 2 and self.has_classes:
            conf = {}
            with torch.no_grad():
                for split in ("train", "test"):
                    x, y = self.data.get(f"{split}_input"), self.data.get(f"{split}_label")
                    if x is not None and y is not None:
                        conf[split] = cls.confusion_matrix(model.predict(x), y)
            out["confusion"] = conf
        return out
