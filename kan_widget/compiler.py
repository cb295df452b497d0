"""pykan's ``kan.compiler`` path: ``from kan_widget.compiler import kanpiler``."""

from .kanpiler import expr2kan, kanpiler, sf2kan

__all__ = ["expr2kan", "kanpiler", "sf2kan"]
