"""Which front end the widget loads: the built bundle ``kan_widget/static/widget.js`` (from
``js/widget.ts`` by ``npm run build``), or, when it was never built, a stub that says so.

The bundle carries its CSS (``js/styles.ts``, injected by ``render``), so there is no
``widget.css`` and the widget sets no ``_css``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLE", "ESM", "FALLBACK_ESM"]

BUNDLE = Path(__file__).resolve().parent.parent / "static" / "widget.js"
FALLBACK_ESM = """
function render({ el }) {
  el.classList.add("kan-widget");
  const p = document.createElement("p");
  p.className = "kan-error";
  p.textContent = "kan-widget: front end not built: run npm run build";
  el.appendChild(p);
}
export default { render };
"""
# Chosen at import: a missing bundle must not make the class unusable from Python.
ESM: Path | str = BUNDLE if BUNDLE.is_file() else FALLBACK_ESM
