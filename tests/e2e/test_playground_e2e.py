"""KANPlayground in a real browser (JupyterLab 4 and Notebook 7): choose the spiral, add a hidden
layer, train, see the test accuracy rise in the widget and in the kernel, toggle the test points,
type a formula target and see the data change, type a malicious and a broken formula and see an
error (nothing runs); the node pictures in the diagram's nodes, hover cards on a node and an
edge, the batch size box. Screenshots: test-artifacts/<frontend>_playground_*.png."""

from __future__ import annotations

import re
import time

import pytest
from test_kan_widget_e2e import check_console, open_notebook, run_cell

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NB = "playground_e2e.ipynb"
SETUP, SHOW = 0, 1
ACC_RE = re.compile(r"step (\d+) · train acc (\S+)% · test acc (\S+)%")


def status(page) -> str:
    return page.locator(".kan-widget .kan-status").first.inner_text()


def test_spiral_layer_train_formula(page, jupyter_server, kernel, artifacts):
    from playwright.sync_api import expect

    fe = jupyter_server.frontend
    open_notebook(page, jupyter_server, NB)
    run_cell(page, SETUP)
    assert kernel.eval("pg.model.width") == [2, 4, 1]
    run_cell(page, SHOW)
    panel = page.locator(".kan-playground")
    panel.wait_for(state="visible", timeout=120_000)
    page.locator(".kan-widget .kan-status").first.wait_for(state="visible")

    # ---- the spiral, and one more hidden layer (a rebuild in the same widget)
    panel.get_by_label("data set").select_option("spiral")
    kernel.wait_for("pg.panel.data", lambda v: v == "spiral", what="the spiral chosen")
    assert kernel.eval("pg.widget.problem") == "classification"
    page.wait_for_function(
        "() => /step 0 · train acc/.test(document.querySelector('.kan-widget .kan-status')"
        "?.textContent ?? '')"
    )
    panel.get_by_role("button", name="add a hidden layer").click()
    kernel.wait_for("pg.model.width", lambda v: v == [2, 4, 4, 1], what="a second hidden layer")
    expect(panel.locator(".kan-pg-layers")).to_contain_text("KAN [2, 4, 4, 1]")
    m0 = ACC_RE.search(status(page))
    assert m0, status(page)
    acc0 = float(m0[3])

    # ---- train 30 steps with the steps box and the Train button
    w = page.locator(".kan-widget").first
    steps = w.locator('input[type="number"][aria-label="steps"]')
    steps.fill("30")
    steps.blur()
    kernel.wait_for("pg.widget.steps", lambda v: v == 30, what="steps from the box")
    t0 = time.perf_counter()
    w.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function(
        "() => /paused · step 30 /.test(document.querySelector('.kan-widget .kan-status')"
        "?.textContent ?? '')",
        timeout=180_000,
    )
    page.timings[f"{fe}: playground 30 spiral steps"] = time.perf_counter() - t0
    m1 = ACC_RE.search(status(page))
    assert m1 and float(m1[3]) > acc0 + 10, f"test accuracy did not rise: {acc0} -> {status(page)}"
    kacc = kernel.eval("pg.widget.status['test_acc']")
    assert kacc == pytest.approx(float(m1[3]) / 100, abs=0.001) and kacc > 0.8
    boundary = w.locator("canvas.kan-boundary")
    expect(boundary).to_be_visible()
    w.get_by_label("show test data").check()
    w.get_by_label("discretize output").check()

    # ---- node pictures in the diagram's nodes (one per node, painted), hover enlarges one
    pics = w.locator(".kan-diagram-wrap canvas.kan-node-pic")
    expect(pics).to_have_count(2 + 4 + 4 + 1)
    painted = page.evaluate(
        """() => [...document.querySelectorAll('.kan-widget canvas.kan-node-pic')].map((c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let coloured = 0;  // a picture is drawn: some pixel is not white
            for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 2] < 250) coloured++;
            return coloured;
        })"""
    )
    assert all(n > 0 for n in painted), painted
    hidden = w.locator('.kan-diagram-wrap canvas.kan-node-pic[data-node="1,0"]')
    small = hidden.bounding_box()
    hidden.hover()
    card = w.locator(".kan-diagram-wrap .kan-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("node (1, 0)")
    expect(card).to_contain_text("importance")
    page.wait_for_timeout(300)  # the enlargement's transition
    big = hidden.bounding_box()
    assert small and big and big["width"] > 2 * small["width"], (small, big)
    w.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"{fe}_playground_spiral.png"))
    # ---- an edge's hover card: its function, ranges and importance
    w.locator('.kan-diagram-wrap [data-edge="0,0,0"] .kan-box').hover(force=True)
    expect(card).to_contain_text("edge (0, 0, 0)")
    expect(card).to_contain_text("φ range")
    page.screenshot(path=str(artifacts / f"{fe}_playground_edge_card.png"))
    page.mouse.move(0, 0)
    expect(card).to_be_hidden()

    # ---- the batch size box (pykan's fit(batch=...)) reaches the kernel
    batch = w.locator('input[type="number"][aria-label="batch size"]')
    expect(batch).to_have_value("-1")
    batch.fill("64")
    batch.blur()
    kernel.wait_for("pg.widget.batch", lambda v: v == 64, what="batch size from the box")

    # ---- a typed formula: regression on it, the data change
    formula = panel.get_by_label("formula")
    formula.fill("x^2 + sin(pi*y)")
    formula.press("Enter")
    kernel.wait_for("pg.widget.problem", lambda v: v == "regression", what="the formula target")
    assert kernel.eval("pg.panel.data") == "formula"
    assert kernel.eval("pg.model.width") == [2, 4, 4, 1]
    page.wait_for_function(
        "() => /step 0 · train loss/.test(document.querySelector('.kan-widget .kan-status')"
        "?.textContent ?? '')"
    )
    expect(panel.get_by_label("data set")).to_have_value("formula")

    # ---- a malicious, then a broken formula: an error, nothing runs, the data stay
    formula.fill("__import__('os').system('touch /tmp/kan-pwned')")
    formula.press("Enter")
    err = panel.locator(".kan-pg-error")
    expect(err).to_contain_text("only numbers")
    assert kernel.eval("pg.panel.formula") == "x^2 + sin(pi*y)"
    assert kernel.eval("__import__('os').path.exists('/tmp/kan-pwned')") is False
    formula.fill("x^2 +")
    formula.press("Enter")
    expect(err).to_contain_text("not an expression")
    assert kernel.eval("pg.panel.data") == "formula"
    page.screenshot(path=str(artifacts / f"{fe}_playground_formula_error.png"))
    check_console(page)
