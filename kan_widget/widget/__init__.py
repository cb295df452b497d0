"""The notebook widget: ``KANWidget(model, dataset)`` (protocol: docs/WIDGET_PROTOCOL.md)."""

from __future__ import annotations

from .widget import KANWidget

__all__ = ["KANWidget"]
