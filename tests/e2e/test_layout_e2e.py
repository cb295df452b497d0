"""The diagram's layout from 2 to 64 inputs in a real browser (issue 18, item 4), without Jupyter.

The built widget draws synthetic states of [2,5,1], [10,5,1], [30,10,1] and [64,64,64,10]
(js/bench_draw.mjs's ``show``, the page served from memory, no network), 860 px wide as in a
notebook. Each is saved to test-artifacts/layout_<width>.png, and the DOM is checked: up to
[30,10,1] every edge has its own plot box, no two boxes overlap, no two names or symbolic labels
overlap, and hovering a box enlarges its plot; [64,64,64,10] is drawn inline on a canvas, where
hovering an edge enlarges its curve on an overlay (saved as layout_64x64x64x10_hover.png).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "js" / "bench_draw.mjs"
BUNDLE = ROOT / "kan_widget" / "static" / "widget.js"
ORIGIN = "http://kan-layout.invalid"
PAGE = '<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>'
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]

# every drawn box and label as a client rect, and the pairs that overlap (a 0.5 px tolerance)
OVERLAPS_JS = """(sel) => {
    const rects = [...document.querySelectorAll(sel)].map((e) => e.getBoundingClientRect())
        .filter((r) => r.width > 0 && r.height > 0);
    let bad = 0;
    for (let a = 0; a < rects.length; a++) for (let b = a + 1; b < rects.length; b++) {
        const p = rects[a], q = rects[b];
        if (p.left < q.right - 0.5 && q.left < p.right - 0.5
            && p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) bad++;
    }
    return [rects.length, bad];
}"""


@pytest.fixture
def layout_page(browser):
    files = {
        "/": (PAGE, "text/html"),
        "/widget.js": (BUNDLE.read_text(encoding="utf-8"), "text/javascript"),
        # the harness and the shared helpers it imports (js/bench_harness.mjs)
        **{
            f"/{p.name}": (p.read_text(encoding="utf-8"), "text/javascript")
            for p in (HARNESS, HARNESS.with_name("bench_harness.mjs"))
        },
    }
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()

    def serve(route):
        path = route.request.url[len(ORIGIN) :] or "/"
        body, ctype = files.get(path, ("", "text/plain"))
        route.fulfill(status=200 if path in files else 404, body=body, content_type=ctype)

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    yield page
    ctx.close()


def show(page, width: list[int], in_vars: list[str] | None = None) -> None:
    page.mouse.move(1, 1)
    page.evaluate(
        """async ([w, names]) => {
            const widget = (await import('/widget.js')).default;
            const h = await import('/bench_draw.mjs');
            const t = h.synthTraits(w, 100, 1, 1);
            if (names) t.structure.in_vars = names;
            await h.show(widget, w, {containerWidth: 860, extra: t});
        }""",
        [width, in_vars],
    )
    page.wait_for_timeout(100)


@pytest.mark.parametrize(
    "width, names",
    [([2, 5, 1], None), ([10, 5, 1], DIABETES), ([30, 10, 1], None), ([64, 64, 64, 10], None)],
    ids=["2x5x1", "10x5x1", "30x10x1", "64x64x64x10"],
)
def test_layout_boxes_and_labels_do_not_overlap(layout_page, artifacts, width, names):
    page = layout_page
    show(page, width, names)
    name = "x".join(map(str, width))
    page.locator(".kan-diagram-wrap").first.screenshot(path=str(artifacts / f"layout_{name}.png"))
    diagram = page.locator(".kan-diagram").first
    if width[0] > 50:  # thousands of edges: lines on a canvas
        assert diagram.evaluate("e => e.tagName") == "CANVAS"
        assert diagram.get_attribute("data-mode") == "inline"
        # hovering an edge enlarges its curve: an overlay box (edge_zoom.ts), painted
        bb = diagram.bounding_box()
        page.mouse.move(bb["x"] + bb["width"] * 0.5, bb["y"] + bb["height"] * 0.45)
        zoom = page.locator(".kan-diagram-wrap canvas.kan-edge-zoom")
        zoom.wait_for(state="visible", timeout=5_000)
        assert zoom.get_attribute("data-zoom-edge"), "no edge under the pointer"
        x, y, w, h = map(int, zoom.get_attribute("data-zoom-rect").split(","))
        assert w >= 100 and h >= 60 and x >= 0 and y >= 0
        assert x + w <= bb["width"] + 1 and y + h <= bb["height"] + 1
        # the box is drawn: opaque background and a curve in it (not a blank overlay)
        inked = zoom.evaluate(
            """(c, [x, y, w, h]) => {
                const k = c.width / c.clientWidth;
                const d = c.getContext('2d').getImageData(x * k, y * k, w * k, h * k).data;
                let opaque = 0, ink = 0;
                for (let p = 0; p < d.length; p += 4) {
                    if (d[p + 3] > 200) opaque++;
                    if (d[p + 3] > 200 && d[p] < 200) ink++;
                }
                return [opaque / (d.length / 4), ink];
            }""",
            [x, y, w, h],
        )
        assert inked[0] > 0.95 and inked[1] > 50, inked
        page.locator(".kan-diagram-wrap").first.screenshot(
            path=str(artifacts / f"layout_{name}_hover.png")
        )
        page.mouse.move(1, 1)
        zoom.wait_for(state="hidden", timeout=5_000)
        return
    assert diagram.get_attribute("data-mode") == "boxes"
    n_edges = sum(a * b for a, b in itertools.pairwise(width))
    n_boxes, bad = page.evaluate(OVERLAPS_JS, ".kan-diagram .kan-box")
    assert n_boxes == n_edges and bad == 0, f"{bad} overlapping pairs among {n_boxes} boxes"
    # every input's name is written (2 to 30 inputs have room), and no two labels collide
    names_drawn = page.locator(".kan-names text").all_text_contents()
    assert names_drawn[: width[0]] == (names or [f"x{i + 1}" for i in range(width[0])])
    n_labels, bad = page.evaluate(OVERLAPS_JS, ".kan-diagram text")
    assert bad == 0, f"{bad} overlapping pairs among {n_labels} labels"
    # a box's size (the smallest must still show a curve)
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('.kan-diagram .kan-box')]"
        ".map((e) => Math.min(e.getBoundingClientRect().width, e.getBoundingClientRect().height))"
    )
    assert min(sizes) >= 13.5
    # hovering a box enlarges its plot; every box names its edge on hover
    # (a handle, not a locator: the hovered box moves to the end of its group, drawn on top)
    box = page.locator(".kan-diagram g.kan-edge .kan-box").nth(n_edges // 3).element_handle()
    before = box.bounding_box()
    page.mouse.move(before["x"] + before["width"] / 2, before["y"] + before["height"] / 2)
    page.wait_for_timeout(100)
    after = box.bounding_box()
    assert after["width"] > 2 * before["width"], (before, after)
    assert page.locator(".kan-diagram g.kan-edge > title").count() == n_edges
    if width == [10, 5, 1]:
        page.locator(".kan-diagram-wrap").first.screenshot(
            path=str(artifacts / f"layout_{name}_hover.png")
        )
