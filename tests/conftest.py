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


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: intra-op threads only add barrier waits, which on a loaded 2-core machine
    made the parity tests 50x slower (measured). Opt in per module with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run pykan in a scratch directory: it writes files into the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
