"""The bqplot panel shown under the diagram: losses over steps, and how well the model fits.

bqplot re-sends a mark's whole array whenever ``x`` or ``y`` changes, so the loss history is
decimated to at most ``MAX_POINTS`` points, each mark is updated inside ``hold_sync()`` (x and y
in one message) and figures never animate (an animation per 0.1 s push only queues up).

Fit view by number of inputs: 1 -> target points and prediction curve against x; 2 -> heatmaps of
the prediction and of the error over the input square; more -> predicted against true. With
several outputs the first one is shown (the loss plot covers all of them). Errors and the
predicted-vs-true scatter use the training rows, whose predictions the snapshot has already
computed (a second forward pass over a test set would double the cost of every push); the loss
plot shows the test RMSE.

Why this file is over 400 lines: it is all of the widget's bqplot code, one panel: the loss
figure with its own tick rules (bqplot's log ticks crowd a 300 px axis), and the three fit views
above, each built once and then updated in place. Nothing in it is dead; the tick rules are
small functions of their own and tested as such.
"""

from __future__ import annotations

import math

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import torch

__all__ = ["MAX_POINTS", "Plots", "decimate", "linear_ticks", "log_ticks"]

MAX_POINTS = 1000
FIT_POINTS = 200  # curve resolution (1 input) and scatter size (more inputs)
HEAT_GRID = 30  # prediction heatmap resolution per axis
ERR_GRID = 15  # error heatmap bins per axis (test points are averaged per bin)

_FIG_LAYOUT = {"width": "420px", "height": "300px"}
_MARGIN = {"top": 40, "bottom": 40, "left": 55, "right": 55}


def decimate(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` evenly spread points of ``n``, first and last included."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


MAX_TICKS = 6  # tick labels per axis: more crowd a 300 px axis (".2~g" labels overlap)


# tick mantissas per decade, sparsest first
_LOG_STEPS = (
    (1,),
    (1, 3),
    (1, 2, 5),
    (1, 1.5, 2, 3, 5, 7),
    (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9),
)


def log_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> np.ndarray | None:
    """Tick values for a log axis spanning ``[lo, hi]``: the sparsest set of ``_LOG_STEPS``
    mantissas per decade that gives 3 ticks (never more than ``max_ticks``); every k-th decade
    when even one per decade is too many; round linear steps when the span is too narrow for 3
    (0.12 .. 0.18). ``None`` (bqplot's own ticks) without a positive range."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
        return None
    lo, hi = min(lo, hi), max(lo, hi)
    d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    eps = 1e-9
    best: list[float] | None = None
    for mantissas in _LOG_STEPS:
        ticks = [
            float(f"{m}e{d}")
            for d in range(d0, d1 + 1)
            for m in mantissas
            if lo * (1 - eps) <= m * 10.0**d <= hi * (1 + eps)
        ]
        if len(ticks) > max_ticks:
            break
        best = ticks
        if len(ticks) >= 3:
            break
    if best is None:
        decades = [float(f"1e{d}") for d in range(d0, d1 + 1) if lo <= 10.0**d <= hi * (1 + eps)]
        best = decades[:: math.ceil(len(decades) / max_ticks)]
    if len(best) < 3:
        lin = list(linear_ticks(lo, hi, min(5, max_ticks), integer=False))
        if len(lin) > len(best):
            best = lin
    return np.asarray(best, dtype=np.float64)


def linear_ticks(
    lo: float, hi: float, max_ticks: int = MAX_TICKS, integer: bool = True
) -> np.ndarray:
    """At most ``max_ticks`` round values (steps of 1, 2 or 5 times a power of ten) in
    ``[lo, hi]``; with ``integer``, whole numbers only (a step axis has no step 1.5)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(0)
    lo, hi = min(lo, hi), max(lo, hi)
    span = max(hi - lo, 1e-300)
    k0 = math.floor(math.log10(span / max_ticks)) - 1
    steps = (float(f"{m}e{k}") for k in range(k0, k0 + 400) for m in (1, 2, 5))
    step = next(
        s
        for s in steps
        if not (integer and s < 1) and math.floor(hi / s) - math.ceil(lo / s) + 1 <= max_ticks
    )
    first = math.ceil(lo / step - 1e-9)
    n = math.floor(hi / step + 1e-9) - first + 1
    # float(f"...") rounds 0.30000000000000004 to 0.3, so labels and equality stay clean
    return np.asarray([float(f"{(first + i) * step:.12g}") for i in range(max(n, 0))])


def step_span(steps: np.ndarray) -> tuple[float, float]:
    """The step axis's range: the steps' own, at least one step wide (``(0, 1)`` before any)."""
    v = steps[np.isfinite(steps)]
    if not v.size:
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo >= 1:
        return (lo, hi)
    lo = hi - 1.0 if hi >= 1 else lo  # a lone step n: the axis from n - 1 to n
    return (lo, lo + 1.0)


def _legend(items: list[tuple[str, str, bool]]) -> ipw.HTML:
    """A legend under the loss plot (bqplot's own sits inside the plot, over the curves)."""
    spans = "".join(
        f'<span style="white-space:nowrap;margin:0 8px"><span style="display:inline-block;'
        f"width:22px;vertical-align:middle;margin-right:4px;border-top:2px "
        f'{"dashed" if dashed else "solid"} {color}"></span>{label}</span>'
        for label, color, dashed in items
    )
    return ipw.HTML(
        f'<div class="kan-loss-legend" style="font-size:12px;line-height:1.2;text-align:center">'
        f"{spans}</div>",
        layout=ipw.Layout(width="100%", margin="0"),
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _figure(marks, axes, title: str) -> bq.Figure:
    return bq.Figure(
        marks=marks,
        axes=axes,
        title=title,
        animation_duration=0,
        fig_margin=_MARGIN,
        title_style={"font-size": "13px"},  # three figures share a row: keep titles short
        layout=ipw.Layout(**_FIG_LAYOUT),
    )


class Plots:
    """Owns the bqplot widgets; ``panel`` is what the widget places under the diagram."""

    def __init__(
        self, data: dict, in_vars: list[str], out_vars: list[str], problem: str = "regression"
    ):
        self._data = data
        self._n_in = data["train_input"].shape[1]
        self._in_vars, self._out_vars = in_vars, out_vars
        self._problem = problem
        self._build_loss()
        self._build_accuracy()
        self._build_fit()
        self.panel = ipw.HBox([self.loss_box, *self._shown()])

    def _shown(self) -> list:
        """The figures beside the loss plot: the fit view of a regression, or a
        classification's accuracy (its decision boundary is drawn by the widget itself)."""
        return [self.acc_figure] if self._problem == "classification" else self.fit_figures

    def set_problem(self, problem: str, data: dict) -> None:
        """Show ``problem``'s figures for ``data`` (the view rows, labels in its form)."""
        old = self.fit_figures
        self._problem, self._data = problem, data
        self._build_fit()
        self.panel.children = [self.loss_box, *self._shown()]
        for fig in old:
            _close_figure(fig, set())
        label = "cross-entropy" if problem == "classification" else "RMSE"
        self.loss_axis.label = label
        self.loss_lines.labels = [f"{k} {label}" for k in ("train", "test", "val")]
        self.loss_legend.value = self._legend_for(label).value

    def _legend_for(self, label: str) -> ipw.HTML:
        return _legend(
            [
                (f"train {label}", "#1f77b4", False),
                (f"test {label}", "#ff7f0e", False),
                (f"validation {label}", "#2ca02c", False),
                ("reg (right axis)", "#7f7f7f", True),
            ]
        )

    def _build_accuracy(self) -> None:
        sx, sy = bq.LinearScale(), bq.LinearScale(min=0.0, max=1.0)
        self.acc_step_axis = bq.Axis(scale=sx, label="step", tick_format="d")
        self.acc_lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros((3, 0)),
            scales={"x": sx, "y": sy},
            labels=["train accuracy", "test accuracy", "val accuracy"],
            colors=["#1f77b4", "#ff7f0e", "#2ca02c"],
            display_legend=True,
        )
        self.acc_figure = _figure(
            [self.acc_lines],
            [
                self.acc_step_axis,
                bq.Axis(scale=sy, side="left", label="accuracy", tick_format=".0%"),
            ],
            "accuracy",
        )

    # ------------------------------------------------------------------ building
    def _build_loss(self) -> None:
        sx, sy, sr = bq.LinearScale(), bq.LogScale(), bq.LogScale()
        colors = {
            "train RMSE": "#1f77b4",
            "test RMSE": "#ff7f0e",
            "val RMSE": "#2ca02c",
            "reg": "#7f7f7f",
        }
        self.loss_lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros((3, 0)),
            scales={"x": sx, "y": sy},
            labels=["train RMSE", "test RMSE", "val RMSE"],
            colors=[colors["train RMSE"], colors["test RMSE"], colors["val RMSE"]],
        )
        self.reg_lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": sx, "y": sr},
            labels=["reg"],
            colors=[colors["reg"]],
            line_style="dashed",
        )
        # tick values are set from the data in update_losses: bqplot's log axis labels every
        # 1..9 of a decade, which crowds (0.09, 0.1, 0.11, ... 0.19) and overlaps
        self.step_axis = bq.Axis(scale=sx, label="step", tick_format="d")
        # ".2~g": two digits, no trailing zeros ("0.09", "1e-5"), never a repeated exponent
        self.loss_axis = bq.Axis(scale=sy, side="left", label="RMSE", tick_format=".2~g")
        self.reg_axis = bq.Axis(
            scale=sr, side="right", label="reg (dashed)", tick_format=".2~g", grid_lines="none"
        )
        self.loss_figure = _figure(
            [self.loss_lines, self.reg_lines],
            [self.step_axis, self.loss_axis, self.reg_axis],
            "loss",
        )
        self.loss_legend = _legend(
            [
                ("train RMSE", colors["train RMSE"], False),
                ("test RMSE", colors["test RMSE"], False),
                ("validation RMSE", colors["val RMSE"], False),
                ("reg (right axis)", colors["reg"], True),
            ]
        )
        # the box takes the figure's size and shrinks like the other figures in the row
        if self._problem == "classification":
            self.loss_axis.label = "cross-entropy"
            self.loss_lines.labels = [f"{k} cross-entropy" for k in ("train", "test", "val")]
            self.loss_legend = self._legend_for("cross-entropy")
        self.loss_figure.layout.width = "100%"
        self.loss_box = ipw.VBox(
            [self.loss_figure, self.loss_legend],
            layout=ipw.Layout(width=_FIG_LAYOUT["width"], min_width="0", overflow="hidden"),
        )
        self._ticks: dict[str, tuple | None] = {}

    def _set_ticks(self, axis: bq.Axis, key: str, values: np.ndarray | None) -> None:
        """Assign tick values only when they change (each assignment is a message)."""
        new = None if values is None else tuple(values.tolist())
        if self._ticks.get(key, ()) != new:
            self._ticks[key] = new
            axis.tick_values = None if values is None else values

    def _build_fit(self) -> None:
        x_tr, y_tr = self._data["train_input"], self._data["train_label"]
        y_name = self._out_vars[0]
        self._lo = _np(self._data["train_input"].amin(0))
        self._hi = _np(self._data["train_input"].amax(0))
        if self._problem == "classification":  # no fit view: the boundary is the widget's
            self.fit_figures = []
        elif self._n_in == 1:
            sx, sy = bq.LinearScale(), bq.LinearScale()
            order = decimate(x_tr.shape[0], FIT_POINTS * 2)
            self._target_x = _np(x_tr[order, 0])
            self.target_mark = bq.Scatter(
                x=self._target_x,
                y=_np(y_tr[order, 0]),
                scales={"x": sx, "y": sy},
                default_size=12,
                colors=["#999999"],
                labels=["target"],
                display_legend=True,
            )
            self._grid = np.linspace(self._lo[0], self._hi[0], FIT_POINTS)
            self.pred_mark = bq.Lines(
                x=self._grid,
                y=np.zeros(FIT_POINTS),
                scales={"x": sx, "y": sy},
                colors=["#d62728"],
                labels=["prediction"],
                display_legend=True,
            )
            self.fit_figures = [
                _figure(
                    [self.target_mark, self.pred_mark],
                    [
                        bq.Axis(
                            scale=sx,
                            label=self._in_vars[0],
                            tick_format=".2~g",
                            tick_values=self._input_ticks(0),
                        ),
                        bq.Axis(scale=sy, side="left", label=y_name),
                    ],
                    f"fit: {y_name}",
                )
            ]
        elif self._n_in == 2:
            gx = np.linspace(self._lo[0], self._hi[0], HEAT_GRID)
            gy = np.linspace(self._lo[1], self._hi[1], HEAT_GRID)
            self._heat_x = torch.as_tensor(
                np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2),
                dtype=self._data["train_input"].dtype,
            )
            ex = np.linspace(self._lo[0], self._hi[0], ERR_GRID)
            ey = np.linspace(self._lo[1], self._hi[1], ERR_GRID)
            self.pred_mark = self._heatmap(gx, gy, "viridis")
            self.error_mark = self._heatmap(ex, ey, "Reds")
            self.fit_figures = [
                self._heat_figure(self.pred_mark, f"prediction: {y_name}"),
                self._heat_figure(self.error_mark, f"|error| of {y_name} (training data)"),
            ]
        else:
            sx, sy = bq.LinearScale(), bq.LinearScale()
            lo, hi = float(y_tr[:, 0].min()), float(y_tr[:, 0].max())
            self._scatter_rows = torch.as_tensor(decimate(x_tr.shape[0], FIT_POINTS * 2))
            self.pred_mark = bq.Scatter(
                x=_np(y_tr[self._scatter_rows, 0]),
                y=np.zeros(len(self._scatter_rows)),
                scales={"x": sx, "y": sy},
                default_size=12,
                colors=["#1f77b4"],
            )
            self.diagonal = bq.Lines(
                x=np.array([lo, hi]),
                y=np.array([lo, hi]),
                scales={"x": sx, "y": sy},
                colors=["#999999"],
                line_style="dashed",
            )
            self.fit_figures = [
                _figure(
                    [self.diagonal, self.pred_mark],
                    [
                        bq.Axis(scale=sx, label=f"true {y_name}"),
                        bq.Axis(scale=sy, side="left", label=f"predicted {y_name}"),
                    ],
                    f"fit: {y_name} (training data)",
                )
            ]

    @staticmethod
    def _heatmap(gx: np.ndarray, gy: np.ndarray, scheme: str) -> bq.HeatMap:
        return bq.HeatMap(
            x=gx,
            y=gy,
            color=np.zeros((len(gy), len(gx))),
            scales={
                "x": bq.LinearScale(),
                "y": bq.LinearScale(),
                "color": bq.ColorScale(scheme=scheme),
            },
            null_color="white",
        )

    def _heat_figure(self, mark: bq.HeatMap, title: str) -> bq.Figure:
        # No ColorAxis: bqplot draws its bar 200 px shorter than the plot, which leaves a stub
        # at this size; the value range goes in the title instead (see update_fit).
        return _figure(
            [mark],
            [
                bq.Axis(
                    scale=mark.scales["x"],
                    label=self._in_vars[0],
                    tick_format=".2~g",
                    tick_values=self._input_ticks(0),
                ),
                bq.Axis(
                    scale=mark.scales["y"],
                    side="left",
                    label=self._in_vars[1],
                    tick_format=".2~g",
                    tick_values=self._input_ticks(1),
                ),
            ],
            title,
        )

    def _input_ticks(self, k: int) -> np.ndarray:
        """Round ticks over input ``k``'s range: d3's ten crowd a 200 px axis ("-0.8-0.6...")."""
        return linear_ticks(float(self._lo[k]), float(self._hi[k]), 5, integer=False)

    # ------------------------------------------------------------------ updating
    def update_losses(self, history: dict[str, list]) -> None:
        n = len(history["step"])
        idx = decimate(n)
        steps = np.asarray(history["step"], dtype=np.float64)[idx]
        train = np.asarray(history["train_loss"], dtype=np.float64)[idx]
        test = np.asarray(history["test_loss"], dtype=np.float64)[idx]
        reg = np.asarray(history["reg"], dtype=np.float64)[idx]
        # validation: NaN (a gap) where no validation rows are held out
        raw_val = history.get("val_loss", [])
        val = np.asarray(
            [np.nan if v is None else v for v in raw_val] if len(raw_val) == n else [np.nan] * n,
            dtype=np.float64,
        )[idx]
        with self.loss_lines.hold_sync():
            self.loss_lines.x = steps
            self.loss_lines.y = np.stack([train, test, val]) if n else np.zeros((3, 0))
        # a log axis cannot show reg = 0 (lambda = 0): leave those steps out
        pos = reg > 0
        with self.reg_lines.hold_sync():
            self.reg_lines.x = steps[pos]
            self.reg_lines.y = reg[pos]
        self._update_ticks(steps, np.concatenate([train, test, val]), reg[pos])
        if self._problem == "classification":
            acc = [
                np.asarray(
                    [np.nan if v is None else v for v in history.get(k, [])]
                    if len(history.get(k, [])) == n
                    else [np.nan] * n,
                    dtype=np.float64,
                )[idx]
                for k in ("train_acc", "test_acc", "val_acc")
            ]
            with self.acc_lines.hold_sync():
                self.acc_lines.x = steps
                self.acc_lines.y = np.stack(acc) if n else np.zeros((3, 0))

    def _update_ticks(self, steps: np.ndarray, loss: np.ndarray, reg: np.ndarray) -> None:
        def span(v: np.ndarray, log: bool) -> tuple[float, float] | None:
            v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
            return (float(v.min()), float(v.max())) if v.size else None

        ss = step_span(steps)
        ticks = linear_ticks(*ss)
        lone = not len(steps) or float(np.nanmax(steps) - np.nanmin(steps)) < 1
        axes = [("step", self.step_axis), ("acc_step", getattr(self, "acc_step_axis", None))]
        for key, axis in axes:
            if axis is None:
                continue
            self._set_ticks(axis, key, ticks)
            # a lone step (or none yet) gets an axis one step wide: bqplot's own domain around a
            # single point would be fractional, and "d" rounds its ticks into repeats (0, 0, 1)
            narrow = ss if lone else None
            if self._ticks.get(f"{key}_domain", ()) != narrow:
                self._ticks[f"{key}_domain"] = narrow
                with axis.scale.hold_sync():
                    axis.scale.min, axis.scale.max = (None, None) if narrow is None else narrow
        s = span(loss, True)
        self._set_ticks(self.loss_axis, "loss", None if s is None else log_ticks(*s))
        s = span(reg, True)
        self._set_ticks(self.reg_axis, "reg", None if s is None else log_ticks(*s))

    def update_fit(self, model, train_pred: torch.Tensor) -> None:
        """Redraw the fit view; ``train_pred`` is the model's output on the training inputs."""
        if self._problem == "classification":
            return
        with torch.no_grad():
            if self._n_in == 1:
                grid = torch.as_tensor(self._grid, dtype=model.dtype).unsqueeze(1)
                self.pred_mark.y = _np(model.predict(grid)[:, 0])
            elif self._n_in == 2:
                pred = _np(model.predict(self._heat_x)[:, 0]).reshape(HEAT_GRID, HEAT_GRID)
                err = self._binned_error(train_pred)
                y_name = self._out_vars[0]
                self.pred_mark.color = pred
                self.error_mark.color = err
                self.fit_figures[
                    0
                ].title = f"prediction: {y_name} in [{pred.min():.3g}, {pred.max():.3g}]"
                self.fit_figures[
                    1
                ].title = f"|error| of {y_name} (training data), max {np.nanmax(err):.2g}"
            else:
                self.pred_mark.y = _np(train_pred[self._scatter_rows, 0])

    def _binned_error(self, pred: torch.Tensor) -> np.ndarray:
        """Mean |prediction - label| of the training points in each cell (NaN where none fall):
        the true function is unknown off the data, so the error is shown where there is data."""
        x, y = self._data["train_input"], self._data["train_label"]
        err = _np((pred[:, 0] - y[:, 0]).abs())
        u = (_np(x) - self._lo) / np.where(self._hi > self._lo, self._hi - self._lo, 1.0)
        cell = np.clip((u * ERR_GRID).astype(np.int64), 0, ERR_GRID - 1)
        flat = cell[:, 1] * ERR_GRID + cell[:, 0]  # row = second input, as the heatmap's y
        total = np.bincount(flat, weights=err, minlength=ERR_GRID * ERR_GRID)
        count = np.bincount(flat, minlength=ERR_GRID * ERR_GRID)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return mean.reshape(ERR_GRID, ERR_GRID)

    def close(self) -> None:
        """Close every bqplot widget (scales, axes, marks, figures) so none is left in the
        kernel's widget registry."""
        seen: set[int] = set()
        self.loss_legend.close()
        self.loss_box.close()
        for fig in [self.loss_figure, self.acc_figure, *self.fit_figures]:
            _close_figure(fig, seen)
        self.panel.close()


def _close_figure(fig: bq.Figure, seen: set[int]) -> None:
    """Close a figure with its marks, axes and scales (``seen``: scales closed already)."""
    for w in [*fig.marks, *fig.axes]:
        for s in getattr(w, "scales", {}).values():
            if id(s) not in seen:
                seen.add(id(s))
                s.close()
        if hasattr(w, "scale") and id(w.scale) not in seen:
            seen.add(id(w.scale))
            w.scale.close()
        w.close()
    fig.close()
