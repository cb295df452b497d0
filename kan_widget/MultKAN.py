"""pykan 0.2.8's ``kan.MultKAN`` module name, for code that imports the class from it
(``from kan.MultKAN import KAN``, ``MultKAN``): both are :class:`kan_widget.model.KAN`."""

from __future__ import annotations

from .model import KAN

MultKAN = KAN

__all__ = ["KAN", "MultKAN"]
