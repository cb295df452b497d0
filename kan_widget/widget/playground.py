"""KANPlayground: TensorFlow Playground's lessons on a KAN. ``KANPlayground()`` shows a data panel
and a shape panel (``PlaygroundPanel``, js/playground.ts) above a :class:`KANWidget`.

This layer only translates: the panel's traits become engine calls
(:func:`kan_widget.datasets.make_dataset`, ``KAN(...)``) and the widget is the ordinary
KANWidget. A change of data makes a new KANWidget on the new data (the hyperparameters carried
over); a change of shape rebuilds the model inside the same widget as one undoable step
(:meth:`KANWidget.rebuild`), so the sliders keep their values. Every setting is a synced trait,
so a saved notebook keeps it; :attr:`KANPlayground.state` gives them as a dict and
``KANPlayground(**state)`` rebuilds the same playground.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as ipw
import traitlets as t

from ..datasets import CLASSIFICATION_SETS, DATASETS, TOY_FUNCTIONS, FormulaError, make_dataset
from ..model import KAN
from .messages import HPARAMS
from .widget import KANWidget

__all__ = ["DATA_TRAITS", "HIDEABLE", "SHAPE_TRAITS", "KANPlayground", "PlaygroundPanel"]

_BUNDLE = Path(__file__).resolve().parent.parent / "static" / "playground.js"
_FALLBACK = """
function render({ el }) {
  el.textContent = "kan-widget: playground front end not built: run npm run build";
}
export default { render };
"""

# the panel's settings: (type, default, accepted range or None)
DATA_TRAITS: dict[str, tuple[str, Any, tuple[float, float] | None]] = {
    "data": ("str", "circle", None),
    "formula": ("str", "x*y", None),
    "noise": ("float", 0.0, (0.0, 0.5)),
    "train_ratio": ("float", 0.5, (0.1, 0.9)),
    "n_samples": ("int", 500, (20, 5000)),
    "data_seed": ("int", 0, (0, 2**31 - 1)),
}
SHAPE_TRAITS: dict[str, tuple[str, Any, tuple[float, float] | None]] = {
    # grid 3 (not the KAN's usual 5): with noise 0.25 a grid of 5 chases the noise on the circle
    # (3 points under a same-size MLP), 3 stays within; clean data still reach 99%+
    # (bench/bench_classify.py, section 3)
    "grid": ("int", 3, (1, 50)),
    "k": ("int", 3, (1, 5)),
    "seed": ("int", 0, (0, 2**31 - 1)),
}
MAX_LAYERS, MAX_NODES = 4, 8
# the playground's own starting hyperparameters (a keyword overrides them): the widget's lambda
# of 0.01 keeps the spiral at chance (49% test accuracy, bench_classify section 3), 1e-3
# still keeps the splines from chasing noisy labels
PLAYGROUND_HPARAMS: dict[str, Any] = {"lamb": 1e-3}
# what `hide=[...]` may name: the panel's parts, and the KANWidget's controls
PANEL_PARTS: tuple[str, ...] = (
    *("data", "shape", "formula", "noise", "train_ratio", "n_samples", "regenerate"),
    *("layers", "grid", "k", "seed"),
)
WIDGET_PARTS: tuple[str, ...] = (
    *("train", "step", "reset", "prune", "refine", "symbolify", "undo", "redo"),
    *("back_to_best", "svg", "png", *HPARAMS),
)
# groups a lesson hides at once
HIDE_GROUPS = {"symbolify": ("symbolify", "r2_threshold", "weight_simple", "sym_lib")}
HIDEABLE = (*PANEL_PARTS, *WIDGET_PARTS)


def _trait(kind: str, default: Any) -> t.TraitType:
    return {"str": t.Unicode, "float": t.Float, "int": t.Int}[kind](default).tag(sync=True)


class PlaygroundPanel(anywidget.AnyWidget):
    """The data and shape panel: its traits are the playground's settings (see the tables
    above); ``error`` says why the last change was refused (the old setting stays)."""

    _esm = _BUNDLE if _BUNDLE.is_file() else _FALLBACK
    data = _trait("str", "circle")
    formula = _trait("str", "x*y")
    noise = _trait("float", 0.0)
    train_ratio = _trait("float", 0.5)
    n_samples = _trait("int", 500)
    data_seed = _trait("int", 0)
    hidden = t.List(t.Int(), [5]).tag(sync=True)
    grid = _trait("int", 5)
    k = _trait("int", 3)
    seed = _trait("int", 0)
    hide = t.List(t.Unicode()).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    message = t.Unicode("").tag(sync=True)
    options = t.Dict().tag(sync=True)  # the data sets and limits, for the front end


def _check(name: str, value: Any) -> str | None:
    kind, _, bounds = {**DATA_TRAITS, **SHAPE_TRAITS}[name]
    if kind == "str":
        if name == "data" and value not in DATASETS:
            return f"data must be one of {', '.join(DATASETS)}; got {value!r}"
        return None if isinstance(value, str) else f"{name} must be text; got {value!r}"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        ok = ok and float(value) == int(value)
    if not ok or bounds is None or not bounds[0] <= value <= bounds[1]:
        what = "an integer" if kind == "int" else "a number"
        lo, hi = bounds if bounds else (None, None)
        return f"{name} must be {what} in [{lo}, {hi}]; got {value!r}"
    return None


def _check_hidden(hidden: Any) -> str | None:
    if not isinstance(hidden, (list, tuple)) or len(hidden) > MAX_LAYERS:
        return f"hidden must be a list of at most {MAX_LAYERS} layer sizes; got {hidden!r}"
    if not all(isinstance(n, int) and 1 <= n <= MAX_NODES for n in hidden):
        return f"each hidden layer has 1..{MAX_NODES} nodes; got {list(hidden)!r}"
    return None


class KANPlayground(ipw.VBox):
    """``KANPlayground()``: TF Playground's first screen on a KAN, in one line.

    ``data``: one of :data:`kan_widget.datasets.DATASETS` (``"formula"`` uses ``formula``, a
    typed expression of x and y); ``noise``, ``train_ratio``, ``n_samples`` and ``data_seed``
    shape the data; ``hidden`` (hidden layer sizes), ``grid``, ``k`` and ``seed`` the KAN.
    ``hide``: controls a lesson hides (``["shape", "symbolify"]``; names in :data:`HIDEABLE`).
    Other keywords set the widget's hyperparameters (``lamb=0``, ``steps=100``, ...); the
    playground starts from :data:`PLAYGROUND_HPARAMS` (``lamb=1e-3``) and grid 3, the settings
    that keep noisy data within 3 points of a same-size MLP and clean data at 99%+.
    ``pg.widget`` is the KANWidget, ``pg.model`` its model, ``pg.dataset`` the data.
    """

    def __init__(
        self,
        data: str = "circle",
        *,
        formula: str = "x*y",
        noise: float = 0.0,
        train_ratio: float = 0.5,
        n_samples: int = 500,
        data_seed: int = 0,
        hidden: list[int] | tuple[int, ...] = (5,),
        grid: int = SHAPE_TRAITS["grid"][1],
        k: int = 3,
        seed: int = 0,
        hide: list[str] | tuple[str, ...] = (),
        **hparams: Any,
    ):
        settings = {
            "data": data,
            "formula": formula,
            "noise": noise,
            "train_ratio": train_ratio,
            "n_samples": n_samples,
            "data_seed": data_seed,
            "grid": grid,
            "k": k,
            "seed": seed,
        }
        for name, value in settings.items():
            err = _check(name, value)
            if err:
                raise ValueError(err)
        err = _check_hidden(list(hidden))
        if err:
            raise ValueError(err)
        unknown = sorted(set(hide) - set(HIDEABLE) - set(HIDE_GROUPS))
        if unknown:
            raise ValueError(f"hide names unknown controls {unknown}; choose from {HIDEABLE}")
        bad = sorted(set(hparams) - set(HPARAMS))
        if bad:
            raise TypeError(f"unknown settings {bad}; hyperparameters are {sorted(HPARAMS)}")
        self.panel = PlaygroundPanel(**settings, hidden=list(hidden), hide=list(hide))
        self.panel.options = {
            "datasets": list(DATASETS),
            "classification": list(CLASSIFICATION_SETS),
            "toy": dict(TOY_FUNCTIONS),
            "limits": {n: list(b) for n, (_, _, b) in {**DATA_TRAITS, **SHAPE_TRAITS}.items() if b},
            "max_layers": MAX_LAYERS,
            "max_nodes": MAX_NODES,
        }
        self._hparams = {**PLAYGROUND_HPARAMS, **hparams}
        self._quiet = False  # set while the playground itself writes a panel trait
        self.dataset = make_dataset(**self._data_args())  # a bad formula raises here, at once
        self.widget = self._new_widget(self._new_model())
        super().__init__([self.panel, self._box(self.widget)])
        self.panel.observe(self._data_changed, names=list(DATA_TRAITS))
        self.panel.observe(self._shape_changed, names=["hidden", *SHAPE_TRAITS])
        self.panel.observe(self._hide_changed, names=["hide"])
        self.panel.on_msg(self._on_msg)

    # ------------------------------------------------------------------ state
    @property
    def model(self) -> KAN:
        return self.widget.model

    @property
    def state(self) -> dict[str, Any]:
        """Every setting (data, shape, hidden controls, hyperparameters): ``KANPlayground(
        **pg.state)`` rebuilds this playground (the trained parameters are not part of it)."""
        p = self.panel
        out: dict[str, Any] = {n: getattr(p, n) for n in (*DATA_TRAITS, *SHAPE_TRAITS)}
        out.update(hidden=list(p.hidden), hide=list(p.hide))
        out.update({n: getattr(self.widget, n) for n in HPARAMS if n != "problem"})
        return out

    def _data_args(self) -> dict[str, Any]:
        p = self.panel
        return {
            "name": p.data,
            "n": int(p.n_samples),
            "noise": float(p.noise),
            "train_ratio": float(p.train_ratio),
            "seed": int(p.data_seed),
            "formula": p.formula,
        }

    def _width(self) -> list[int]:
        return [2, *self.panel.hidden, 1]

    def _new_model(self) -> KAN:
        p = self.panel
        return KAN(width=self._width(), grid=int(p.grid), k=int(p.k), seed=int(p.seed))

    def _widget_hide(self) -> list[str]:
        names: list[str] = []
        for n in self.panel.hide:
            names.extend(HIDE_GROUPS.get(n, (n,)))
        return [n for n in names if n in WIDGET_PARTS]

    def _new_widget(self, model: KAN) -> KANWidget:
        # val_frac=0: the train:test ratio means what it says, as in TF Playground
        w = KANWidget(model, self.dataset, val_frac=0.0, hide=self._widget_hide())
        for name, value in self._hparams.items():
            setattr(w, name, value)
        w.observe(self._model_changed, names=["structure"])
        return w

    def _model_changed(self, _change: dict) -> None:
        """The shape panel shows the current model's shape: after Undo or Redo of a rebuild,
        and after Prune, it follows the model (without rebuilding it)."""
        model = self.widget.model
        if model.has_node_step:  # multiplication nodes: the panel's ints cannot say it
            return
        hidden = [int(w) for w in model.width[1:-1]]
        self._quiet = True
        try:
            if list(self.panel.hidden) != hidden:
                self.panel.hidden = hidden
            if int(self.panel.grid) != model.grid:
                self.panel.grid = model.grid
            if int(self.panel.k) != model.k:
                self.panel.k = model.k
        finally:
            self._quiet = False

    @staticmethod
    def _box(w: KANWidget) -> ipw.VBox:
        return ipw.VBox([w, w._plots.panel])

    # ------------------------------------------------------------------ changes
    def _refuse(self, change: dict, err: str) -> None:
        """Put the old setting back (the front end's control jumps back) and say why."""
        self.panel.error = err
        self._quiet = True
        try:
            setattr(self.panel, change["name"], change["old"])
        finally:
            self._quiet = False

    def _data_changed(self, change: dict) -> None:
        if self._quiet:
            return
        err = _check(change["name"], change["new"])
        if err:
            return self._refuse(change, err)
        if change["name"] == "formula" and self.panel.data != "formula":
            # a typed formula is the new target: checked, then shown
            self._quiet = True
            old_data, self.panel.data = self.panel.data, "formula"
            self._quiet = False
            self.regenerate(_change=change)
            if self.panel.error:  # refused: the data set stays the one shown
                self._quiet = True
                self.panel.data = old_data
                self._quiet = False
            return
        self.regenerate(_change=change)

    def regenerate(self, new_seed: bool = False, _change: dict | None = None) -> None:
        """Draw the data again from the panel's settings (``new_seed``: other random points, as
        TF Playground's button); a new KANWidget shows it, with the same hyperparameters."""
        if new_seed:
            self._quiet = True
            try:
                self.panel.data_seed = (int(self.panel.data_seed) + 1) % 2**31
            finally:
                self._quiet = False
        try:
            dataset = make_dataset(**self._data_args())
        except (FormulaError, ValueError) as e:
            if _change is not None:
                self._refuse(_change, str(e))
            else:
                self.panel.error = str(e)
            return
        old = self.widget
        self._hparams.update({n: getattr(old, n) for n in HPARAMS if n != "problem"})
        self.dataset = dataset
        self.widget = self._new_widget(self._new_model())
        self.children = [self.panel, self._box(self.widget)]
        old.close()
        p = self.panel
        self.panel.error = ""
        self.panel.message = (
            f"{p.data}: {dataset['train_input'].shape[0]} training and "
            f"{dataset['test_input'].shape[0]} test points, noise {p.noise:g}"
        )

    def _shape_changed(self, change: dict) -> None:
        if self._quiet:
            return
        err = _check_hidden(change["new"]) if change["name"] == "hidden" else None
        err = err or (None if change["name"] == "hidden" else _check(change["name"], change["new"]))
        if err:
            return self._refuse(change, err)
        self.rebuild()

    def rebuild(self) -> None:
        """A new model of the panel's shape in the same widget: one undoable step, the sliders
        and the loss curve's data kept."""
        new = self._new_model()
        self.widget.rebuild(new, f"rebuilt as {new.width} (grid {new.grid}, k {new.k})")
        self.panel.error = ""
        self.panel.message = f"model {new.width}, grid {new.grid}, k {new.k}"

    def _hide_changed(self, change: dict) -> None:
        self.widget.hide = self._widget_hide()

    def _on_msg(self, _w: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "regenerate":
            self.regenerate(new_seed=True)
        else:
            self.panel.error = f"unknown playground message {content!r}"

    def close(self) -> None:
        # also from __del__ of a playground whose constructor refused its arguments
        for part in ("widget", "panel"):
            w = self.__dict__.get(part)
            if w is not None:
                w.close()
        super().close()
