"""kan-widget: train, prune and symbolify Kolmogorov–Arnold Networks live in Jupyter.

The engine (``KAN``, ``create_dataset``) knows nothing about widgets; ``KANWidget`` is imported
lazily so that using the engine alone never loads ipywidgets.

``from kan_widget import *`` gives what pykan 0.2.8's ``from kan import *`` gives its tutorials:
``torch``, ``nn``, ``np``, ``plt``, ``sympy`` (and ``nsimplify``, ``latex``, ``symbols``),
``copy``, ``os``, ``random``, ``tqdm``, ``LBFGS``, ``SYMBOLIC_LIB``, ``MultKAN`` (``KAN``) and the
``kan.utils`` names
(:mod:`kan_widget.utils`). They are loaded on first use (``import kan_widget`` alone loads
neither matplotlib nor sympy); the star import loads them.
"""

from __future__ import annotations

import importlib

from .data import create_dataset, create_dataset_from_data
from .model import KAN
from .training import Diverged, Trainer, fit

# name -> (module, attribute or None for the module itself), resolved on first use
_LAZY = {
    "KANWidget": ("kan_widget.widget", "KANWidget"),
    "KANPlayground": ("kan_widget.widget.playground", "KANPlayground"),
    "SYMBOLIC_LIB": ("kan_widget.symbolic.library", "SYMBOLIC_LIB"),
    "LBFGS": ("kan_widget.lbfgs", "LBFGS"),
    "kanpiler": ("kan_widget.compiler", "kanpiler"),
    "add_symbolic": ("kan_widget.utils", "add_symbolic"),
    "augment_input": ("kan_widget.utils", "augment_input"),
    "batch_hessian": ("kan_widget.utils", "batch_hessian"),
    "batch_jacobian": ("kan_widget.utils", "batch_jacobian"),
    "ex_round": ("kan_widget.utils", "ex_round"),
    "fit_params": ("kan_widget.utils", "fit_params"),
    "get_derivative": ("kan_widget.utils", "get_derivative"),
    "model2param": ("kan_widget.utils", "model2param"),
    "MultKAN": ("kan_widget.model", "KAN"),
    "sparse_mask": ("kan_widget.utils", "sparse_mask"),
    "torch": ("torch", None),
    "nn": ("torch.nn", None),
    "np": ("numpy", None),
    "plt": ("matplotlib.pyplot", None),
    "sympy": ("sympy", None),
    "nsimplify": ("sympy", "nsimplify"),
    "latex": ("sympy", "latex"),
    "symbols": ("sympy", "symbols"),
    "copy": ("copy", None),
    "os": ("os", None),
    "random": ("random", None),
    "tqdm": ("tqdm", "tqdm"),
}

__all__ = [
    "KAN",
    "Diverged",
    "KANPlayground",
    "KANWidget",
    "Trainer",
    "create_dataset",
    "create_dataset_from_data",
    "fit",
    *sorted(set(_LAZY) - {"KANWidget", "KANPlayground"}),
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kan_widget' has no attribute {name!r}")
