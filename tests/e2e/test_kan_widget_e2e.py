"""KANWidget in a real browser, in JupyterLab 4 and in Notebook 7 (each test runs in both).

Each test opens tests/e2e/kan_e2e.ipynb in a fresh browser context on a fresh kernel, runs the
cells it needs, drives the widget through its DOM contract (docs/WIDGET_PROTOCOL.md) and checks
the kernel side through a second jupyter_client (``kernel`` fixture), never only the UI.

    .venv/bin/python -m pytest tests/e2e -m e2e -v          # both front ends
    .venv/bin/python -m pytest tests/e2e -k lab             # JupyterLab only

Screenshots go to test-artifacts/ (``<frontend>_<stage>.png``).
"""

from __future__ import annotations

import math
import re
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NB = "kan_e2e.ipynb"
# cells of kan_e2e.ipynb
SETUP, WIDGET, RECORDER, BLOCKING, TABLE, MULT, ATTRIBUTION = 0, 1, 2, 3, 4, 5, 6
# the blocking cell's w.train(n, block=True) (kan_e2e.ipynb): long enough that it still runs when
# Pause is pressed some 3-8 s after the lambda move, however fast the engine gets (200 steps ran
# out first once the [2,5,1] closure went from 1.1 to 0.6 ms)
BLOCKING_STEPS = 5000
TRAIN_STEPS = 40  # steps per Train press, typed into the steps box (LBFGS, ~0.08 s/step here)

STATUS_RE = re.compile(
    r"(?P<run>running|paused) · step (?P<step>\d+) · train loss (?P<train>\S+)(?: \(R² \S+\))?"
    r" · (?:val loss \S+(?: \(R² \S+\))? · )?test loss (?P<test>\S+)"
)
PREVIEW_RE = re.compile(r"Prune would remove (\d+) nodes?, (\d+) edges?")


# --------------------------------------------------------------------------- page helpers
def open_notebook(page, server, name: str = NB) -> str:
    """Open the notebook ``name`` and wait for its kernel; returns the kernel id."""
    fe = server.frontend
    t0 = time.perf_counter()
    page.goto(server.notebook_url(name))
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext", timeout=120_000
    )
    kernel_id = page.evaluate(
        """async () => {
            const nb = window.jupyterapp.shell.currentWidget;
            await nb.context.ready;
            await nb.sessionContext.ready;
            return nb.sessionContext.session?.kernel?.id ?? null;
        }"""
    )
    assert kernel_id, "no kernel started for the notebook"
    page.timings[f"{fe}: goto -> kernel ready"] = time.perf_counter() - t0
    return kernel_id


def run_cell(page, index: int, wait: bool = True) -> None:
    """Run cell ``index`` with the front end's own command; with ``wait``, until it finishes,
    and fail with the traceback if it raised."""
    outputs = page.evaluate(
        """async ([index, wait]) => {
            const app = window.jupyterapp;
            const nb = app.shell.currentWidget;
            nb.content.activeCellIndex = index;
            const done = app.commands.execute('notebook:run-cell');
            if (!wait) return null;
            await done;
            return nb.content.widgets[index].model.outputs.toJSON();
        }""",
        [index, wait],
    )
    if wait:
        errors = [o for o in outputs if o.get("output_type") == "error"]
        assert not errors, "cell {} raised {}: {}\n{}".format(
            index,
            errors[0]["ename"],
            errors[0]["evalue"],
            re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0].get("traceback", []))),
        )


def widget(page):
    return page.locator(".kan-widget")


def button(page, name: str):
    return widget(page).get_by_role("button", name=name, exact=True)


def status_text(page) -> str:
    return widget(page).locator(".kan-status").inner_text()


def parse_status(text: str) -> dict:
    m = STATUS_RE.search(text)
    assert m, f".kan-status text does not match the expected format: {text!r}"

    def num(s: str) -> float | None:
        return None if s in ("–", "-") else float(s)

    return {
        "running": m["run"] == "running",
        "step": int(m["step"]),
        "train_loss": num(m["train"]),
        "test_loss": num(m["test"]),
    }


def record_status(page) -> None:
    """Keep every text the status line shows in window.__kanStatusLog."""
    page.evaluate(
        """() => {
            const el = document.querySelector('.kan-widget .kan-status');
            window.__kanStatusLog = [el.textContent];
            new MutationObserver(() => window.__kanStatusLog.push(el.textContent))
                .observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )


def wait_status(page, pred_js: str, timeout: float = 60_000) -> None:
    """Wait until ``pred_js`` (a JS expression of ``t``, the status text) holds."""
    page.wait_for_function(
        f"""() => {{
            const el = document.querySelector('.kan-widget .kan-status');
            const t = el ? el.textContent : '';
            return {pred_js};
        }}""",
        timeout=timeout,
    )


def set_slider(page, label: str, position: int) -> float:
    """Move the ``label`` range input to ``position`` (fires input + change, as a drag's end
    does) and return the value the widget shows next to it."""
    w = widget(page)
    w.locator(f'input[type="range"][aria-label="{label}"]').fill(str(position))
    return float(w.locator(f'input[type="number"][aria-label="{label} value"]').input_value())


def preview_counts(page) -> tuple[int, int]:
    text = widget(page).locator(".kan-preview").inner_text()
    m = PREVIEW_RE.search(text)
    assert m, f".kan-preview text does not match: {text!r}"
    return int(m[1]), int(m[2])


def edge_elements(page):
    return widget(page).locator(".kan-diagram [data-edge]")


def click_edge(page) -> tuple[int, int, int]:
    """Click (real pointer) on the first diagram edge whose middle is not covered by another
    element; returns its (l, i, j)."""
    edges = edge_elements(page)
    edges.first.scroll_into_view_if_needed()
    target = page.evaluate(
        """() => {
            const els = [...document.querySelectorAll('.kan-widget .kan-diagram [data-edge]')];
            for (const el of els) {
                const shape = el.tagName.toLowerCase() === 'path' ? el
                    : (el.querySelector('rect') || el.querySelector('path'));
                const pts = [];
                if (shape.tagName.toLowerCase() === 'rect') {
                    const r = shape.getBoundingClientRect();
                    pts.push([r.x + r.width / 2, r.y + r.height / 2]);
                } else {
                    const len = shape.getTotalLength();
                    const m = shape.getScreenCTM();
                    for (const f of [0.5, 0.4, 0.6, 0.3, 0.7]) {
                        const p = shape.getPointAtLength(len * f);
                        pts.push([p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f]);
                    }
                }
                for (const [x, y] of pts) {
                    const hit = document.elementFromPoint(x, y);
                    if (hit && hit.closest('[data-edge]') === el)
                        return {x, y, edge: el.getAttribute('data-edge')};
                }
            }
            return null;
        }"""
    )
    assert target, "no diagram edge can be hit by a pointer (every [data-edge] is covered)"
    page.mouse.click(target["x"], target["y"])
    l, i, j = (int(v) for v in target["edge"].split(","))
    return l, i, j


def screenshot(page, artifacts, name: str) -> None:
    """A viewport screenshot with the widget in view, and one of the widget's output alone."""
    w = widget(page)
    w.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"{name}.png"))
    out = page.locator(".jp-OutputArea-output", has=w).first
    try:
        out.screenshot(path=str(artifacts / f"{name}_widget.png"))
    except Exception:  # an element screenshot is a nice-to-have
        pass


def test_mult_nodes_drawn_with_their_operands(page, jupyter_server, kernel, artifacts):
    """Issue 16: a model with multiplication nodes ([2, [2, 1], 1], arity 3): the product is a
    square with a times sign, its three operands dots joined to it, every edge of layer 0 ends
    on a sum node or an operand; the theta preview marks the product with its operands' edges,
    and Prune keeps the shape the kernel computes."""
    fe = jupyter_server.frontend
    open_notebook(page, jupyter_server)
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute("
        "'notebook:clear-all-cell-outputs'); }"
    )
    page.wait_for_function("() => document.querySelectorAll('.kan-widget').length === 0")
    run_cell(page, SETUP)
    run_cell(page, MULT)
    w = widget(page)
    w.wait_for(state="visible", timeout=120_000)
    wait_status(page, "/step 0/.test(t)")
    assert kernel.eval("w.structure['nodes']") == [[2, []], [2, [3]], [1, []]]
    diagram = w.locator(".kan-diagram")
    mult = diagram.locator("g.kan-node.kan-mult")
    assert mult.count() == 1 and mult.first.get_attribute("data-node") == "1,2"
    assert mult.first.locator("rect").count() == 1
    assert diagram.locator("circle.kan-operand").count() == 3
    assert diagram.locator("circle.kan-node").count() == 2 + 2 + 1
    # 2 inputs x (2 sum subnodes + 3 operands) + 3 nodes x 1 output edges, all present
    assert diagram.locator("[data-edge]").count() == 2 * 5 + 3 * 1
    # an edge into an operand ends at that operand's dot (to the pixel)
    ends = page.evaluate(
        """() => {
            const svg = document.querySelector('.kan-widget .kan-diagram');
            const dots = [...svg.querySelectorAll('circle.kan-operand')]
                .map(c => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
            const conn = svg.querySelector(
                'path.kan-conn[data-conn="0,0,4"], path[data-edge="0,0,4"]');
            const d = conn.getAttribute('d').trim();
            const nums = d.match(/-?[0-9.]+/g).map(Number);
            return {dots, end: nums.slice(-2)};
        }"""
    )
    last = ends["dots"][2]
    assert abs(ends["end"][0] - last[0]) < 1 and abs(ends["end"][1] - last[1]) < 1, ends
    screenshot(page, artifacts, f"{fe}_mult_nodes")
    # train a little, then Prune at a theta the kernel's plan agrees with
    train_to_step(page, kernel, 5)
    set_slider(page, "theta", 500)
    kernel.wait_for("w.theta", lambda v: v > 0, what="theta from the slider")
    want = kernel.eval(
        "__import__('kan_widget.pruning', fromlist=['x']).plan_prune(w.model._ensure_scores(), "
        "[la.mask for la in w.model.layers], w.theta, w.theta, w.model.nodes).width"
    )
    button(page, "Prune").click()
    wait_status(page, "/pruned /.test(t)")
    assert kernel.eval("w.model.width_in") == want
    check_console(page)


def check_console(page) -> None:
    assert page.external_requests == [], page.external_requests
    ours = page.our_errors()
    assert not ours, f"console errors from the widget: {ours}"


def start_widget(page, server, kernel) -> None:
    """Open the notebook, run the set-up and the widget cell, wait for the first frame."""
    fe = server.frontend
    open_notebook(page, server)
    t0 = time.perf_counter()
    run_cell(page, SETUP)
    # infrastructure first: the kernel ran the set-up cell and a second client can read it
    out = page.locator(".jp-OutputArea-output", has_text="E2E-SETUP-OK").first
    out.wait_for(state="visible")
    assert "E2E-SETUP-OK [2, 5, 1]" in out.inner_text()
    assert kernel.eval("model.width") == [2, 5, 1]
    run_cell(page, WIDGET)
    w = widget(page)
    w.wait_for(state="visible", timeout=120_000)
    wait_status(page, "/step 0/.test(t) && /15 edges/.test(t)")
    page.timings[f"{fe}: run set-up + widget cells -> first frame"] = time.perf_counter() - t0


def set_steps(page, kernel, n: int) -> None:
    """Type ``n`` into the steps box and leave it (it commits on change); the kernel sees it."""
    steps_box = widget(page).locator('input[type="number"][aria-label="steps"]')
    steps_box.fill(str(n))
    steps_box.blur()
    kernel.wait_for("w.steps", lambda v: v == n, what="steps from the steps box")


def train_to_step(page, kernel, n: int) -> None:
    """Set ``n`` steps, press Train and wait until the status line says it paused at step n."""
    set_steps(page, kernel, n)
    button(page, "Train").click()
    wait_status(page, f"/paused · step {n} /.test(t)", timeout=120_000)


# --------------------------------------------------------------------------- tests
def test_train_steer_prune_fix_symbolify_undo(page, jupyter_server, kernel, artifacts):
    """The issue's scenario: Train (loss falls in the widget and the kernel), lambda reaches the
    kernel, theta changes the preview, Prune shrinks the model, an edge fixed from the
    inspector is symbolic in the kernel, Symbolify shows a formula, Undo brings the width back."""
    from playwright.sync_api import expect

    fe = jupyter_server.frontend
    start_widget(page, jupyter_server, kernel)
    w = widget(page)
    assert edge_elements(page).count() == 15, "a [2,5,1] KAN has 15 edges in the diagram"
    expect(button(page, "Undo")).to_be_disabled()
    screenshot(page, artifacts, f"{fe}_initial")
    # two inputs, a regression: every node holds its picture too (TF Playground's thumbnails)
    expect(w.locator(".kan-diagram-wrap canvas.kan-node-pic")).to_have_count(2 + 5 + 1)
    painted = page.evaluate(
        """() => [...document.querySelectorAll('.kan-widget canvas.kan-node-pic')].map((c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let coloured = 0;  // a picture is drawn: some pixel is not white
            for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 2] < 250) coloured++;
            return coloured;
        })"""
    )
    assert all(n > 0 for n in painted), painted

    # ---- steps per press, through the steps box
    set_steps(page, kernel, TRAIN_STEPS)

    # ---- Train: the status line counts steps up and the loss falls; lambda moved meanwhile
    run_cell(page, RECORDER)
    loss0 = kernel.eval("w.status['test_loss']")  # the untrained model's, shown before Train
    t0 = time.perf_counter()
    record_status(page)
    button(page, "Train").click()
    wait_status(page, "/running · step/.test(t)", timeout=60_000)
    expect(button(page, "Pause")).to_be_visible()
    t_move = time.time()
    lamb = set_slider(page, "lambda", 700)
    assert lamb != 0.01
    wait_status(page, f"/paused · step {TRAIN_STEPS} /.test(t)", timeout=120_000)
    page.timings[f"{fe}: Train {TRAIN_STEPS} LBFGS steps -> status shows the end"] = (
        time.perf_counter() - t0
    )
    log = page.evaluate("() => window.__kanStatusLog")
    parsed = [parse_status(t) for t in log]
    steps = [p["step"] for p in parsed]
    assert steps == sorted(steps), f"the step count went backwards: {steps}"
    assert any(p["running"] for p in parsed), f"never showed 'running': {log}"
    losses = [p["test_loss"] for p in parsed if p["step"] > 0 and p["test_loss"] is not None]
    assert len(losses) >= 2, f"too few loss updates in the status line: {log}"
    # against the untrained model: lambda moved up mid-run may raise the loss after its first
    # update (how many steps ran before the move depends on the machine's speed)
    assert loss0 is not None and losses[-1] < 0.5 * loss0, f"did not fall: {loss0}, {losses}"
    st = kernel.eval("w.status")
    assert st["step"] == TRAIN_STEPS and not st["running"], st
    hist = kernel.eval("w.history['test_loss']")
    # the status is recomputed on the model as training left it (issue 18), the curve's last
    # point by the trainer: the same model, float32 sums in another order
    assert len(hist) == TRAIN_STEPS and hist[-1] < hist[0], hist
    # lambda moved mid-run: keep_best must leave the steered run's last step in place. The
    # notebook run once showed 0.12474 vs 0.12521: keep_best (then unconditional) had installed
    # the best validation step 20 of a run whose lambda moved at step 1 (reproduced in the
    # kernel: steps 20 and 40 of that run score 0.124739 and 0.125207). Same model, float32
    # sums in another order: equal to ~1e-7 here; 1e-4 leaves room for other CPUs.
    assert st["message"] == f"stopped at step {TRAIN_STEPS}", st["message"]
    assert math.isclose(st["test_loss"], hist[-1], rel_tol=1e-4), (st["test_loss"], hist[-1])
    shown = parse_status(status_text(page))["test_loss"]
    assert math.isclose(shown, st["test_loss"], rel_tol=5e-3), (shown, st["test_loss"])
    expect(button(page, "Train")).to_be_visible()
    screenshot(page, artifacts, f"{fe}_after_train")

    # ---- the lambda moved during training reached the kernel during training
    kernel.wait_for(
        "w.lamb", lambda v: math.isclose(v, lamb, rel_tol=1e-9), what=f"w.lamb == {lamb}"
    )
    got = [x for x in kernel.eval("seen") if x[0] == "lamb"]
    assert len(got) == 1 and math.isclose(got[0][1], lamb, rel_tol=1e-9), got
    _, _, running, at_step, t_seen = got[0]
    assert running and at_step < TRAIN_STEPS, f"lambda arrived after training: {got}"
    page.timings[f"{fe}: lambda move during training -> kernel observer"] = t_seen - t_move

    # ---- theta: the preview follows the slider (more removed as theta grows)
    scan = []
    for pos in (1, 300, 450, 550, 600, 650, 700, 800, 900):
        value = set_slider(page, "theta", pos)
        scan.append((pos, value, preview_counts(page)))
    counts_seen = [c for _, _, c in scan]
    assert len(set(counts_seen)) >= 2, f"the theta preview never changed: {scan}"
    assert counts_seen == sorted(counts_seen), f"preview not monotone in theta: {scan}"
    # prune with the smallest theta that removes a hidden node
    pos, theta, counts = next((s for s in scan if s[2][0] >= 1), scan[-1])
    assert 1 <= counts[0] <= 4, f"no theta removed a hidden node: {scan}"
    assert set_slider(page, "theta", pos) == theta
    assert preview_counts(page) == counts
    kernel.wait_for(
        "w.theta", lambda v: math.isclose(v, theta, rel_tol=1e-9), what=f"w.theta == {theta}"
    )
    screenshot(page, artifacts, f"{fe}_theta_preview")

    # ---- Prune: the kernel's model shrinks as the preview said
    button(page, "Prune").click()
    width = kernel.wait_for("w.model.width", lambda v: v != [2, 5, 1], what="width shrinks")
    assert width == [2, 5 - counts[0], 1], f"preview said {counts}, kernel width {width}"
    n_edge = kernel.eval("w.model.n_edge")
    assert n_edge == 15 - counts[1], f"preview said {counts}, kernel has {n_edge} edges"
    expect(edge_elements(page)).to_have_count(n_edge)
    expect(button(page, "Undo")).to_be_enabled()

    # ---- click an edge, fix a function from the inspector
    l, i, j = click_edge(page)
    insp = w.locator(".kan-inspector")
    expect(insp).to_have_attribute("data-edge", f"{l},{i},{j}")
    fix = insp.get_by_role("button", name=re.compile(r"^Fix ")).first
    expect(fix).to_be_visible()
    name = fix.inner_text().removeprefix("Fix ").strip()
    assert name, "empty candidate name"
    expect(insp.locator(".kan-inspector-curve")).to_have_count(1)
    screenshot(page, artifacts, f"{fe}_inspector")
    fix.click()
    kernel.wait_for(
        f"w.model.layers[{l}].sym_names.get(({i}, {j}))",
        lambda v: v == name,
        what=f"edge ({l},{i},{j}) symbolic as {name}",
    )
    expect(w.locator(f'.kan-diagram [data-sym="{l},{i},{j}"]')).to_have_text(name)

    # ---- Symbolify: a typeset formula, and the text in the kernel
    n_sym = "sum(len(layer.sym_names) for layer in w.model.layers)"
    assert kernel.eval(n_sym) == 1
    button(page, "Symbolify").click()
    kernel.wait_for(n_sym, lambda v: v > 1, what="edges made symbolic by Symbolify", timeout=120)
    text = kernel.eval("w.formula['text']")
    assert text.strip(), "w.formula['text'] is empty"
    formula = w.locator(".kan-formula")
    expect(formula.locator("math").first).to_be_visible()
    assert formula.locator(".kan-formula-math").inner_text().strip(), ".kan-formula is empty"
    expect(formula.get_by_role("button", name="Copy Python")).to_be_enabled()
    screenshot(page, artifacts, f"{fe}_after_symbolify")

    # ---- Undo x3: symbolify, fix, prune; the width comes back
    button(page, "Undo").click()
    kernel.wait_for(n_sym, lambda v: v == 1, what="symbolify undone")
    button(page, "Undo").click()
    kernel.wait_for(n_sym, lambda v: v == 0, what="fix undone")
    button(page, "Undo").click()
    kernel.wait_for("w.model.width", lambda v: v == [2, 5, 1], what="width back to [2, 5, 1]")
    expect(edge_elements(page)).to_have_count(15)
    expect(button(page, "Undo")).to_be_disabled()
    expect(button(page, "Redo")).to_be_enabled()
    assert kernel.eval("w.status['error']") is None
    screenshot(page, artifacts, f"{fe}_after_undo")
    expect(w.locator(".kan-error")).to_be_hidden()
    check_console(page)


def test_discover_shows_progress_and_pause_stops_it(page, jupyter_server, kernel, artifacts):
    """Discover runs on the command thread: the status line shows its stage and step i of n,
    its training steps grow the loss curve (the kernel's and the browser's loss plot) and the
    step count, Train turns into Pause, and Pause ends it within a step (steps set so high
    that nothing else would end it soon)."""
    from playwright.sync_api import expect

    fe = jupyter_server.frontend
    start_widget(page, jupyter_server, kernel)
    set_steps(page, kernel, 100_000)
    n0 = kernel.eval("len(w.history['step'])")
    out = page.locator(".jp-OutputArea-output", has=widget(page)).first
    line = out.locator(".bqplot", has_text="loss").first.locator(".curve path.line").first
    button(page, "Discover").click()
    stepping = "/discover: restart 1\\/3, sparsify step \\d+\\/100000, loss /.test(t)"
    wait_status(page, f"/discovering… /.test(t) && {stepping}")
    # "discovering… · step N · train loss ...": Discover's busy word replaces "running"
    first = int(re.search(r" step (\d+) · train loss", status_text(page))[1])
    d0 = line.get_attribute("d") or ""
    # the status line counts Discover's steps as Train's; the loss plot's line grows
    wait_status(page, f"{stepping} && +/ step (\\d+) /.exec(t)[1] >= {first + 3}")
    expect(line).not_to_have_attribute("d", d0)
    assert kernel.eval("len(w.history['step'])") >= n0 + 3
    screenshot(page, artifacts, f"{fe}_discovering")
    button(page, "Pause").click()
    wait_status(page, "/paused · step/.test(t) && /discover stopped before any candidate/.test(t)")
    expect(button(page, "Train")).to_be_visible()
    st = kernel.eval("w.status")
    assert st["running"] is False and st["busy"] is None and st["error"] is None
    assert kernel.eval("w.model.width") == [2, 5, 1]  # nothing chosen: the model is unchanged
    # stopped within a step: the curve does not grow any more; its last point is the step shown
    n1 = kernel.eval("len(w.history['step'])")
    time.sleep(1.0)
    assert kernel.eval("len(w.history['step'])") == n1
    assert kernel.eval("w.history['step'][-1]") == st["step"]
    check_console(page)


def test_steerable_while_cell_blocks(page, jupyter_server, kernel, artifacts):
    """While a cell runs ``w.train(BLOCKING_STEPS, block=True)``, a lambda move reaches the
    kernel at once (its trait observer runs while training runs) and Pause ends the blocking
    cell early.

    This needs comm messages to bypass the busy main shell: JupyterLab 4.4+ / Notebook 7.4+ send
    them to a kernel subshell (setting ``commsOverSubshells``, default ``perCommTarget``) when the
    kernel supports subshells (ipykernel 7). The kernel is read from a subshell of our own while
    the cell runs, but only after the update had time to arrive: a request handled on any shell
    changes where ipykernel 7.4 routes later comm messages (see ``_diagnose_blocked_comm``).
    KANWidget bypasses ipykernel 7's publish-based routing of comm replies (``_route_to_sender``);
    without that, the update queued behind the blocking cell."""
    fe = jupyter_server.frontend
    sent = []  # subshell_id of each comm_msg the page sent with a lambda update

    def on_ws(ws):
        def on_sent(payload):
            text = payload if isinstance(payload, str) else payload.decode("latin-1")
            if '"comm_msg"' in text and '"lamb"' in text:
                sub = re.search(r'"subshell_id":\s*(null|"[^"]*")', text)
                sent.append(sub[1].strip('"') if sub else "absent")

        ws.on("framesent", on_sent)

    page.on("websocket", on_ws)
    start_widget(page, jupyter_server, kernel)
    run_cell(page, RECORDER)
    # connect and open our subshell now: connecting (kernel_info) would wait for the cell
    assert kernel.eval("seen", subshell=True) == []
    run_cell(page, BLOCKING, wait=False)
    wait_status(page, "/running · step [1-9]/.test(t)", timeout=120_000)
    t_move = time.time()
    lamb = set_slider(page, "lambda", 500)
    time.sleep(1.5)  # no kernel requests meanwhile: they would change ipykernel's routing
    probe = (
        "([x[1:] for x in seen if x[0] == 'lamb'], w.running, w.status['step'], "
        "getattr(w.comm, '_reply_subshell_id', 'n/a'))"
    )
    seen, running_now, step_now, route = kernel.eval(probe, subshell=True)
    deadline = time.monotonic() + 6
    while not seen and time.monotonic() < deadline and running_now:
        time.sleep(0.5)
        seen, running_now, step_now, _ = kernel.eval(probe, subshell=True)
    if not seen:
        reason = _diagnose_blocked_comm(kernel, sent, route)
        kid = jupyter_server.api("/api/sessions")[0]["kernel"]["id"]
        jupyter_server.api(f"/api/kernels/{kid}/interrupt", method="POST")
        late = kernel.eval("seen", timeout=180)  # main shell: after the cell ended
        screenshot(page, artifacts, f"{fe}_blocking_cell_steered")
        detail = (
            f"still no update at step {step_now} of {BLOCKING_STEPS} (running={running_now}); "
            f"after interrupting the cell the kernel got {late}"
        )
        # KANWidget overrides the comm's reply routing (widget.py `_route_to_sender`); if this
        # fails again, `reason` says whether ipykernel's routing is back in the way.
        pytest.fail(
            f"{fe}: lambda did not reach the kernel while the cell ran; {reason or ''}; comm_msg "
            f"subshell ids sent: {sent}; route {route!r}; {detail}"
        )
    v, running, at_step, t_seen = seen[0]
    assert v == pytest.approx(lamb, rel=1e-9)
    assert running and at_step < BLOCKING_STEPS, seen
    page.timings[f"{fe}: lambda move in a blocking cell -> kernel observer"] = t_seen - t_move
    button(page, "Pause").click()
    wait_status(page, "/paused · step/.test(t)", timeout=60_000)
    step = kernel.eval("w.status['step']", timeout=120)  # main shell: the cell has ended
    assert step < BLOCKING_STEPS, f"Pause did not end the blocking cell early (step {step})"
    assert kernel.eval("w.lamb") == pytest.approx(lamb, rel=1e-9)
    screenshot(page, artifacts, f"{fe}_blocking_cell_steered")
    check_console(page)


def _diagnose_blocked_comm(kernel, sent: list[str], route) -> str | None:
    """Why a comm update waits for the busy main shell; None if the cause is not a known one.

    Known cause (ipykernel 7.4.0): the front end addresses the comm_msg to a subshell, but the
    kernel's shell-channel thread re-routes comm_msg/comm_close through the comm's
    ``_reply_subshell_for`` (ipykernel/comm/comm.py) to the subshell that last *published* on
    that comm (kernelbase.py ``shell_channel_thread_main``). KANWidget publishes from the cell
    (creation, ``train()``) and from its training thread, and a user thread publishes with the
    parent of the last request any shell handled (``Kernel._shell_context``), here the blocking
    cell's: so the update is routed to the main shell, which the cell keeps busy.
    ``route`` is ``w.comm._reply_subshell_id`` read right after the update was sent (None: the
    main shell)."""
    if not sent:
        return None
    version, has_routing = kernel.eval(
        "(__import__('ipykernel').__version__, hasattr(type(w.comm), '_reply_subshell_for'))",
        subshell=True,
    )
    to_subshell = [s for s in sent if s not in ("null", "absent")]
    if not to_subshell:
        return (
            f"the front end sent the lambda comm_msg without a subshell_id ({sent}), so it "
            f"queues behind the running cell (commsOverSubshells off or unsupported)"
        )
    if has_routing and route is None:
        return (
            f"the front end sent the lambda comm_msg to subshell {to_subshell[0]}, but "
            f"ipykernel {version} re-routes comm_msg to the shell that last published on "
            f"that comm (Comm._reply_subshell_for; w.comm._reply_subshell_id=None, i.e. the "
            f"main shell, set by the training thread's pushes in the blocking cell's "
            f"context), which the blocking cell keeps busy"
        )
    return None


def test_saved_notebook_reopens_with_last_drawing(page, jupyter_server, kernel, artifacts):
    """Train a little, save the notebook (widget state saved: conftest turns on the widget
    manager's saveState), shut the kernel down, reopen the notebook: the diagram, the status
    line (the saved step) and the bqplot panel come back from the notebook alone."""
    import json

    fe = jupyter_server.frontend
    start_widget(page, jupyter_server, kernel)
    w = widget(page)
    train_to_step(page, kernel, 3)
    n_edges = edge_elements(page).count()
    assert n_edges == 15
    before = status_text(page)
    page.evaluate(
        """async () => {
            const nb = window.jupyterapp.shell.currentWidget;
            await window.jupyterapp.commands.execute('docmanager:save');
            await nb.context.ready;
        }"""
    )
    saved = json.loads((jupyter_server.root_dir / NB).read_text())
    state = saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    assert state, "no widget state saved in the notebook metadata (saveState setting?)"
    kan_states = [
        m["state"]
        for m in state["state"].values()
        if m["state"].get("_anywidget_id", "").endswith("KANWidget") or "structure" in m["state"]
    ]
    assert len(kan_states) == 1, list(state["state"])
    assert kan_states[0]["status"]["step"] == 3
    assert "_esm" in kan_states[0] and len(kan_states[0]["_esm"]) > 10_000

    # ---- reopen with the kernel gone: a new page, the server's kernels shut down first
    page.goto("about:blank")
    jupyter_server.shutdown_sessions()
    kernel.close()
    t0 = time.perf_counter()
    page.goto(jupyter_server.notebook_url(NB))
    w = widget(page)
    w.wait_for(state="visible", timeout=120_000)
    wait_status(page, "/paused · step 3 /.test(t)", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.kan-widget .kan-diagram-wrap')?.dataset.state === 'ok'"
    )
    page.timings[f"{fe}: reopen saved notebook -> diagram drawn"] = time.perf_counter() - t0
    assert edge_elements(page).count() == n_edges
    assert parse_status(status_text(page)) == parse_status(before)
    # the loss plot (bqplot) is restored beside it
    out = page.locator(".jp-OutputArea-output", has=w).first
    assert out.locator(".bqplot").count() >= 1
    screenshot(page, artifacts, f"{fe}_reopened_saved")
    check_console(page)


def test_long_formula_scrolls_and_loss_plot_is_readable(page, jupyter_server, kernel, artifacts):
    """Symbolify the unpruned net: its long formula scrolls sideways in the formula panel (a
    visible scrollbar, nothing hidden to the left). The loss plot's tick labels do not overlap
    and its legend sits below the plot, off the curves."""
    fe = jupyter_server.frontend
    start_widget(page, jupyter_server, kernel)
    w = widget(page)
    train_to_step(page, kernel, 5)
    # every edge symbolic (r2 threshold 0), so the formula is complete and long
    box = w.locator('input[aria-label="r2 threshold"]')
    box.fill("0")
    box.blur()
    kernel.wait_for("w.r2_threshold", lambda v: v == 0, what="r2 threshold from its box")
    button(page, "Symbolify").click()
    kernel.wait_for("w.formula['complete']", bool, what="a complete formula", timeout=180)
    math_box = w.locator(".kan-formula-math")
    math_box.locator("math").first.wait_for(state="attached")
    wait_status(page, "/symbolified/.test(t) && !/symbolifying…/.test(t)")
    # how long Symbolify's formula is depends on the fits; make sure it is wider than the panel
    # as a three-output model's would be (outputs joined by ",\quad ", as the kernel does)
    kernel.eval(
        r"setattr(w, 'formula', dict(w.formula, latex=r',\quad '.join([w.formula['latex']] * 3)))"
    )
    page.wait_for_function(
        "() => { const el = document.querySelector('.kan-widget .kan-formula-math');"
        " return el.scrollWidth > el.clientWidth + 200; }"
    )
    geo = math_box.evaluate(
        """el => {
            el.scrollLeft = 0;
            const m = el.querySelector('math').getBoundingClientRect();
            const box = el.getBoundingClientRect();
            const first = {mathLeft: m.left, boxLeft: box.left};
            el.scrollLeft = el.scrollWidth;
            const m2 = el.querySelector('math').getBoundingClientRect();
            const out = {...first, mathRight: m2.right, boxRight: box.right,
                         scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
                         scrollbar: el.offsetHeight - el.clientHeight - el.clientTop * 2,
                         scrolled: el.scrollLeft};
            el.scrollLeft = 0;
            return out;
        }"""
    )
    assert geo["scrollWidth"] > geo["clientWidth"] + 50, f"formula is not wide: {geo}"
    assert geo["mathLeft"] >= geo["boxLeft"] - 1, f"formula start hidden left: {geo}"
    assert geo["scrolled"] > 0 and geo["mathRight"] <= geo["boxRight"] + 1, geo
    assert geo["scrollbar"] >= 6, f"no visible horizontal scrollbar: {geo}"

    # ---- loss plot: no two tick labels of one axis overlap; the legend is under the plot
    out = page.locator(".jp-OutputArea-output", has=w).first
    loss = out.locator(".bqplot", has_text="loss").first
    loss.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # bqplot lays its axes out after the last data message
    overlaps = loss.evaluate(
        """fig => {
            const bad = [];
            for (const ax of fig.querySelectorAll('g.axis')) {
                const labels = [...ax.querySelectorAll('.tick text')]
                    .filter(t => t.textContent.trim() !== '')
                    .map(t => [t.textContent, t.getBoundingClientRect()]);
                for (let a = 0; a < labels.length; a++)
                    for (let b = a + 1; b < labels.length; b++) {
                        const [ta, ra] = labels[a], [tb, rb] = labels[b];
                        if (ra.left < rb.right && rb.left < ra.right &&
                            ra.top < rb.bottom && rb.top < ra.bottom) bad.push([ta, tb]);
                    }
                if (labels.length > 7) bad.push(['too many labels', String(labels.length)]);
            }
            return bad;
        }"""
    )
    assert overlaps == [], f"loss plot tick labels overlap: {overlaps}"
    legend = out.locator(".kan-loss-legend")
    assert "train RMSE" in legend.inner_text()
    lb, fb = legend.bounding_box(), loss.bounding_box()
    assert lb["y"] >= fb["y"] + fb["height"] - 2, (lb, fb)
    screenshot(page, artifacts, f"{fe}_long_formula")
    math_box.screenshot(path=str(artifacts / f"{fe}_long_formula_panel.png"))
    out.screenshot(path=str(artifacts / f"{fe}_long_formula_output.png"))
    check_console(page)


def test_honest_numbers_on_a_table(page, jupyter_server, kernel, artifacts):
    """Issue 18 on a table with named columns: the names are on the diagram and in the formula;
    the status line shows R² and the rows of each split; training on few noisy rows says it
    overfits, and Back to best restores that step; the status line changes after Prune and
    Symbolify (the current model's numbers), and Symbolify says what it changed."""
    from playwright.sync_api import expect

    fe = jupyter_server.frontend
    open_notebook(page, jupyter_server)
    # an earlier test may have saved the notebook with its widget cell's output (and state):
    # clear it, so the table's widget is the only one on the page
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute("
        "'notebook:clear-all-cell-outputs'); }"
    )
    page.wait_for_function("() => document.querySelectorAll('.kan-widget').length === 0")
    run_cell(page, SETUP)
    run_cell(page, TABLE)
    w = widget(page)
    w.wait_for(state="visible", timeout=120_000)
    wait_status(
        page, "/step 0/.test(t) && /trained on 64 rows, validated on 16, tested on 200/.test(t)"
    )
    diagram_text = w.locator(".kan-diagram").text_content()
    for name in ("age", "bmi", "bp", "progression"):
        assert name in diagram_text, f"column {name!r} is not on the diagram: {diagram_text!r}"
    assert "R²" in status_text(page)
    expect(button(page, "Back to best")).to_be_disabled()
    # the theta histogram is drawn beside the slider
    assert w.locator(".kan-theta-hist rect").count() > 0
    assert w.locator(".kan-theta-hist .kan-theta-cut").count() == 1

    # ---- Train 150 steps (the notebook set them): the overfitting note appears
    button(page, "Train").click()
    wait_status(page, "/paused · step 150 /.test(t)", timeout=180_000)
    notes = w.locator(".kan-notes")
    expect(notes).to_contain_text("overfitting: validation loss rising since step", timeout=30_000)
    best = kernel.eval("w._watch.best_step")
    assert f"since step {best}" in notes.inner_text()
    assert kernel.eval("w.status['val_loss'] > 1.02 * w._watch.best_val") is True
    expect(button(page, "Back to best")).to_be_enabled()
    screenshot(page, artifacts, f"{fe}_table_overfitting")

    # ---- Back to best: the model of that step, its numbers, the note gone; undoable
    before = status_text(page)
    button(page, "Back to best").click()
    wait_status(page, f"/back to best: step {best} /.test(t)")
    assert kernel.eval("abs(w.status['val_loss'] - w._watch.best_val) <= 1e-4 * w._watch.best_val")
    expect(notes).not_to_contain_text("overfitting")
    assert status_text(page) != before
    expect(button(page, "Undo")).to_be_enabled()
    screenshot(page, artifacts, f"{fe}_table_back_to_best")

    # ---- Prune at a theta that removes something: the status line shows the new model's losses
    set_slider(page, "theta", 700)
    kernel.wait_for("w.theta", lambda v: v > 0.01, what="theta from the slider")
    before = status_text(page)
    button(page, "Prune").click()
    wait_status(page, "/pruned /.test(t)")
    assert status_text(page) != before
    fresh = kernel.eval(
        "round(w.status['train_loss'], 12) == round(__import__('kan_widget.widget.metrics', "
        "fromlist=['x']).evaluate(w.model, w._data)['train_loss'], 12)"
    )
    assert fresh is True, "status.train_loss is not the pruned model's"

    # ---- Symbolify at r² >= 0.9: before/after shown, the names in the formula, losses current
    box = w.locator('input[aria-label="r2 threshold"]')
    box.fill("0.9")
    box.blur()
    kernel.wait_for("w.r2_threshold", lambda v: v == 0.9, what="r2 threshold from its box")
    before = status_text(page)
    button(page, "Symbolify").click()
    wait_status(page, "/symbolified /.test(t)", timeout=120_000)
    expect(notes).to_contain_text("Symbolify: test loss", timeout=30_000)
    assert status_text(page) != before
    # the typeset formula (MathML: one element per letter) shows the spline edges as phi, and
    # its text (Copy Python) is in the column names
    shown = w.locator(".kan-formula").text_content()
    assert "progression" in shown.replace("\n", "") or "𝜙" in shown, shown
    text = kernel.eval("w.formula['text']")
    assert text.startswith("progression = ") and any(n in text for n in ("age", "bmi", "bp")), text
    expect(w.locator(".kan-formula")).to_contain_text("Partial: some edges are still splines")
    info = kernel.eval("w.status['symbolify']")
    assert info["after"]["test_loss"] == pytest.approx(kernel.eval("w.status['test_loss']"))
    screenshot(page, artifacts, f"{fe}_table_symbolified")
    check_console(page)


def test_attribution_preview_and_prune_inputs(page, jupyter_server, kernel, artifacts):
    """Issue 16: a bar beside each input (its attribution score); the input threshold marks the
    inputs Prune inputs would drop, Prune inputs drops exactly those in the kernel, Undo brings
    them back."""
    from playwright.sync_api import expect

    fe = jupyter_server.frontend
    open_notebook(page, jupyter_server)
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute("
        "'notebook:clear-all-cell-outputs'); }"
    )
    page.wait_for_function("() => document.querySelectorAll('.kan-widget').length === 0")
    run_cell(page, SETUP)
    run_cell(page, ATTRIBUTION)
    w = widget(page)
    w.wait_for(state="visible", timeout=120_000)
    bars = w.locator(".kan-feature-bar")
    expect(bars).to_have_count(4)
    scores = kernel.eval("w.feature_scores")
    noise, signal = max(scores[1], scores[3]), min(scores[0], scores[2])
    assert signal > 10 * noise, scores
    # the bars' lengths follow the scores (a's is the longest)
    widths = [b.bounding_box()["width"] for b in bars.all()]
    assert widths.index(max(widths)) == scores.index(max(scores)), (widths, scores)
    expect(w.locator('.kan-feature-bar[data-drop="1"]')).to_have_count(0)

    # ---- the input threshold between the noise and the signal scores: b and d are marked
    th = float(f"{math.sqrt(noise * signal):.3g}")
    box = w.locator('input[type="number"][aria-label="input threshold value"]')
    box.fill(str(th))
    box.press("Enter")
    marked = w.locator('.kan-feature-bar[data-drop="1"]')
    expect(marked).to_have_count(2)
    assert [m.get_attribute("data-input") for m in marked.all()] == ["1", "3"]
    expect(w.locator(".kan-input-preview")).to_have_text("Prune inputs would drop b, d")
    kernel.wait_for("w.input_theta", lambda v: v == th, what="input threshold from its box")
    screenshot(page, artifacts, f"{fe}_input_preview")

    # ---- Prune inputs: the kernel's model keeps a and c; Undo restores all four
    button(page, "Prune inputs").click()
    kernel.wait_for("w.model.width", lambda v: v == [2, 3, 1], what="inputs pruned")
    # the structure trait is published just after the model is swapped in
    kernel.wait_for("w.structure['in_vars']", lambda v: v == ["a", "c"], what="kept inputs")
    expect(bars).to_have_count(2)
    wait_status(page, "/dropped inputs/.test(t)")
    button(page, "Undo").click()
    kernel.wait_for("w.model.width", lambda v: v == [4, 3, 1], what="undo of Prune inputs")
    expect(bars).to_have_count(4)
    check_console(page)
