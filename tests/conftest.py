"""Shared test settings."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _simplify_without_a_clock(monkeypatch):
    """sympy.simplify runs under a time budget (``SIMPLIFY_SECONDS``, 2 s); a loaded test machine
    can take longer, and tests assert what simplifying gives, not how fast: give it minutes.
    test_tables.py checks the cut-off itself."""
    from kan_widget.symbolic import formula

    monkeypatch.setattr(formula, "SIMPLIFY_SECONDS", 300.0)
