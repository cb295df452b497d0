"""kan-widget: train, prune and symbolify Kolmogorov–Arnold Networks live in Jupyter.

The engine (``KAN``, ``create_dataset``) knows nothing about widgets; ``KANWidget`` is imported
lazily so that using the engine alone never loads ipywidgets.
"""

from __future__ import annotations

from .data import create_dataset
from .model import KAN
from .training import Diverged, Trainer, fit

__all__ = ["KAN", "Diverged", "KANWidget", "Trainer", "create_dataset", "fit"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "KANWidget":
        from .widget import KANWidget

        return KANWidget
    if name in ("SYMBOLIC_LIB", "add_symbolic"):
        from .symbolic import library

        return getattr(library, name)
    raise AttributeError(f"module 'kan_widget' has no attribute {name!r}")
