// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { CanvasRenderer } from "./draw_canvas";
import { chooseRenderer, Diagram, SVG_MAX_EDGES } from "./diagram";
import { decodeState } from "./decode";
import widget, { render } from "./widget";
import { fakeModel, frames, mount, synthTraits, useFakeFrames, widgetState } from "./test_util";

useFakeFrames();

describe("render", () => {
	it("exports an anywidget module with render", () => {
		expect(typeof widget.render).toBe("function");
	});

	it("draws the first frame from the synced traits alone", async () => {
		const { q, model } = await mount();
		expect(q(".kan-widget")).not.toBeNull();
		const svg = q("svg.kan-diagram")!;
		expect(svg).not.toBeNull();
		expect(svg.querySelectorAll("[data-edge]").length).toBe(15);
		expect(q(".kan-status")!.textContent).toContain("step 0");
		expect(q(".kan-preview")!.textContent).toMatch(
			/^Prune would remove \d+ nodes?, \d+ edges?(; θ ≥ \S+ would remove (node|edge) \([\d, ]+\))?$/,
		);
		expect(model.send).not.toHaveBeenCalled(); // no kernel round trip needed to draw
		expect(q(".kan-diagram-wrap")!.dataset.drawCount).toBe("1");
	});

	it("toggles Train/Pause with status.running and sends the right command", async () => {
		const { q, model } = await mount();
		const train = q<HTMLButtonElement>(".kan-btn-train")!;
		expect(train.textContent).toBe("Train");
		train.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "train" });
		model.push({ status: { ...(model.get("status") as object), running: true, step: 7, steps_per_s: 12.5 } });
		expect(train.textContent).toBe("Pause");
		expect(q(".kan-status")!.textContent).toContain("step 7");
		expect(q(".kan-status")!.textContent).toContain("running");
		train.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "pause" });
		model.push({ status: { ...(model.get("status") as object), running: false } });
		expect(train.textContent).toBe("Train");
	});

	it("on a tick restyles and re-plots the same elements; on structure change rebuilds", async () => {
		const { q, model } = await mount([2, 3, 1]);
		const first = q("[data-edge]")!;
		const t = synthTraits([2, 3, 1], { n: 16, seed: 9 });
		model.push({ curves: t.curves, scores: t.scores });
		await frames();
		expect(q("[data-edge]")).toBe(first);
		const A = new Float32Array((t.scores as DataView).buffer)[0];
		expect(Number(first.getAttribute("opacity"))).toBeCloseTo(Math.tanh(3 * A), 3);
		const next = synthTraits([2, 2, 1], { n: 16 });
		model.push({ ...next, structure: { ...(next.structure as object), version: 2 } });
		await frames();
		expect(q("[data-edge]")).not.toBe(first);
		expect(q("svg.kan-diagram")!.querySelectorAll("[data-edge]").length).toBe(6);
	});

	it("beta changes opacity without a kernel round trip", async () => {
		const { q, model } = await mount([2, 3, 1]);
		const slider = q<HTMLInputElement>('input[aria-label="beta"]')!;
		slider.value = slider.max; // beta = 100
		slider.dispatchEvent(new Event("input"));
		await frames();
		const e = q('[data-edge="0,0,0"]')!;
		const A = new Float32Array((model.get("scores") as DataView).buffer)[0];
		expect(Number(e.getAttribute("opacity"))).toBeCloseTo(Math.tanh(100 * A), 3);
		expect(model.save_changes).not.toHaveBeenCalled(); // the write to the kernel is debounced
	});

	it("theta preview counts and marks what Prune would remove while theta moves", async () => {
		const { q, model } = await mount([2, 5, 1]);
		const slider = q<HTMLInputElement>('input[aria-label="theta"]')!;
		slider.value = slider.max; // theta = 1: every hidden node but the strongest goes
		slider.dispatchEvent(new Event("input"));
		await frames();
		expect(q(".kan-preview")!.textContent).toBe("Prune would remove 4 nodes, 15 edges");
		expect(q("svg.kan-diagram")!.querySelectorAll('[data-kind="doomed"]').length).toBeGreaterThan(0);
		await vi.advanceTimersByTimeAsync(400); // debounced write
		expect(model.get("theta")).toBe(1);
		await vi.advanceTimersByTimeAsync(4000); // marks fade after a while
		expect(q("svg.kan-diagram")!.querySelectorAll('[data-kind="doomed"]').length).toBe(0);
		expect(q(".kan-preview")!.textContent).toBe("Prune would remove 4 nodes, 15 edges");
	});

	it("clicking an edge sends inspect; the inspector shows candidates with Fix and Unfix", async () => {
		const { q, model } = await mount([2, 3, 1]);
		const e = q('[data-edge="0,1,2"]')!;
		e.querySelector(".kan-curve")!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
		expect(model.send).toHaveBeenLastCalledWith({ type: "inspect", l: 0, i: 1, j: 2 });
		const pts = new DataView(Float32Array.from([-1, 0, 1, 0.5, 0.1, 0.7]).buffer);
		model.push({
			inspector: {
				edge: [0, 1, 2], score: 0.25, symbolic: null, points: 3,
				candidates: [{ name: "sin", r2: 0.998, complexity: 2 }, { name: "x^2", r2: 0.9, complexity: 2 }],
			},
			inspector_points: pts,
		});
		const panel = q(".kan-inspector")!;
		expect(panel.textContent).toContain("Edge (0, 1, 2): x2 → node (1, 2)");
		expect(panel.querySelector(".kan-inspector-plot .kan-inspector-curve")).not.toBeNull();
		expect(panel.querySelector(".kan-inspector-points")).not.toBeNull();
		const fix = [...panel.querySelectorAll("button")].find((b) => b.textContent === "Fix sin")!;
		fix.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "fix", l: 0, i: 1, j: 2, name: "sin" });
		expect(panel.querySelector(".kan-unfix")).toBeNull();
		// a tick redraws the plot but keeps the buttons (no click lost under the pointer)
		model.push({ curves: synthTraits([2, 3, 1], { n: 16, seed: 4 }).curves });
		expect(panel.contains(fix)).toBe(true);
		await frames();
		expect(q('[data-edge="0,1,2"]')!.getAttribute("data-kind")).toBe("selected");
		model.push({ inspector: { edge: [0, 1, 2], score: 0.25, symbolic: "sin", points: 3, candidates: [] } });
		const unfix = [...panel.querySelectorAll("button")].find((b) => b.textContent === "Unfix")!;
		unfix.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "unfix", l: 0, i: 1, j: 2 });
	});

	it("shows status.error visibly until dismissed", async () => {
		const { q, model } = await mount();
		const err = q(".kan-error")!;
		expect(err.hidden).toBe(true);
		model.push({ status: { ...(model.get("status") as object), error: "lamb must be in [0, 1]; got 5" } });
		expect(err.hidden).toBe(false);
		expect(err.textContent).toContain("lamb must be in [0, 1]");
		err.querySelector<HTMLButtonElement>('[aria-label="Dismiss error"]')!.click();
		expect(err.hidden).toBe(true);
		model.push({ status: { ...(model.get("status") as object), error: "another" } });
		expect(err.hidden).toBe(false);
	});

	it("disables Undo/Redo per status", async () => {
		const { q, model } = await mount();
		expect(q<HTMLButtonElement>(".kan-btn-undo")!.disabled).toBe(true);
		model.push({ status: { ...(model.get("status") as object), can_undo: true } });
		expect(q<HTMLButtonElement>(".kan-btn-undo")!.disabled).toBe(false);
		expect(q<HTMLButtonElement>(".kan-btn-redo")!.disabled).toBe(true);
	});

	it("typesets the formula", async () => {
		const { q, model } = await mount();
		model.push({ formula: { latex: "e^{x^{2}}", text: "exp(x**2)", complete: true } });
		expect(q(".kan-formula math")).not.toBeNull();
	});

	it("downloads the diagram as SVG", async () => {
		const { q } = await mount();
		const created: Blob[] = [];
		const urls = { createObjectURL: vi.fn((b: Blob) => (created.push(b), "blob:x")), revokeObjectURL: vi.fn() };
		vi.stubGlobal("URL", Object.assign(function () {}, urls));
		const clicks: string[] = [];
		vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
			clicks.push(this.download);
		});
		q<HTMLButtonElement>(".kan-btn-svg")!.click();
		await Promise.resolve();
		expect(clicks).toEqual(["kan.svg"]);
		expect(created[0].type).toBe("image/svg+xml");
		expect(await created[0].text()).toContain("data-edge=");
	});

	it("the disposer removes every listener and the DOM", async () => {
		const { el, model, dispose } = await mount();
		expect(model.listenerCount()).toBeGreaterThan(0);
		dispose();
		expect(model.listenerCount()).toBe(0);
		expect(el.children.length).toBe(0);
		await frames(); // nothing scheduled afterwards throws
	});

	it("two views of one model are independent", async () => {
		const model = fakeModel(widgetState([2, 3, 1]));
		const a = document.createElement("div");
		const b = document.createElement("div");
		document.body.replaceChildren(a, b);
		const da = render({ model: model as never, el: a });
		const db = render({ model: model as never, el: b });
		await frames();
		da();
		model.push({ status: { ...(model.get("status") as object), step: 3 } });
		expect(b.querySelector(".kan-status")!.textContent).toContain("step 3");
		db();
		expect(model.listenerCount()).toBe(0);
	});

	it("waits quietly for a structure", async () => {
		const { q } = await mount([2, 3, 1], { structure: {}, curves: null, scores: null, masks: null });
		expect(q(".kan-diagram")).toBeNull();
		expect(q(".kan-preview")!.textContent).toMatch(/waiting/);
	});
});

describe("large networks", () => {
	it("switch to canvas above the SVG limit", async () => {
		expect(chooseRenderer(336)).toBe("svg");
		expect(chooseRenderer(8832)).toBe("canvas");
		expect(chooseRenderer(SVG_MAX_EDGES + 1)).toBe("canvas");
	});

	it("draw [64,64,64,10] on a canvas in a few batched strokes", () => {
		const calls = { stroke: 0, lineTo: 0, moveTo: 0 };
		const ctx = new Proxy({}, {
			get: (_t, p: string) => {
				if (p in calls) return () => { calls[p as keyof typeof calls]++; };
				return () => undefined;
			},
			set: () => true,
		});
		vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(ctx as never);
		const wrap = document.createElement("div");
		document.body.replaceChildren(wrap);
		const d = new Diagram(wrap, { raf: (cb) => setTimeout(cb, 0) });
		const t = synthTraits([64, 64, 64, 10], { n: 100 });
		const state = decodeState(t.structure, t.curves, t.scores, t.masks)!;
		d.setScene({ state, beta: 3, plan: null, selected: null }, "rebuild");
		d.flush();
		expect(d.rendererKind).toBe("canvas");
		expect(wrap.querySelector("canvas.kan-diagram")).not.toBeNull();
		expect(wrap.dataset.renderer).toBe("canvas");
		expect(calls.moveTo).toBeGreaterThan(8000); // every visible edge drawn...
		expect(calls.stroke).toBeLessThan(60); // ...in few strokes
		d.dispose();
		expect(wrap.querySelector("canvas")).toBeNull();
	});

	it("both renderers answer one interface; a canvas exports SVG built off-screen", () => {
		vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
		const t = synthTraits([2, 3, 1]);
		const state = decodeState(t.structure, t.curves, t.scores, t.masks)!;
		const scene = { state, beta: 3, plan: null, selected: null };
		for (const max of [800, 0]) {
			const wrap = document.createElement("div");
			document.body.replaceChildren(wrap);
			const d = new Diagram(wrap, { raf: (cb) => setTimeout(cb, 0), svgMaxEdges: max });
			d.setScene(scene, "rebuild");
			d.flush();
			expect(d.rendererKind).toBe(max ? "svg" : "canvas");
			d.setScene({ ...scene, beta: 10 }, "style");
			d.flush();
			expect(wrap.dataset.drawCount).toBe("2");
			const text = d.svgText()!;
			expect(text).toContain('data-edge="0,1,2"');
			expect(wrap.querySelectorAll("svg").length).toBe(max ? 1 : 0); // nothing added to the page
			d.dispose();
		}
	});

	it("canvas renderer survives a missing 2D context", () => {
		vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
		const t = synthTraits([3, 3, 1]);
		const state = decodeState(t.structure, t.curves, t.scores, t.masks)!;
		const r = new CanvasRenderer(document);
		expect(() => r.draw({ state, beta: 3, plan: null, selected: null }, { width: 400 } as never)).not.toThrow();
	});
});

describe("torn updates", () => {
	beforeEach(() => {
		vi.useFakeTimers();
		vi.stubGlobal("requestAnimationFrame", (cb: FrameRequestCallback) => setTimeout(() => cb(0), 16) as unknown as number);
	});

	it("keeps the last picture while buffers lag behind a new structure", async () => {
		const { q, model } = await mount([2, 3, 1]);
		const next = synthTraits([2, 2, 1], { n: 16 });
		model.push({ structure: { ...(next.structure as object), version: 2 } }); // buffers still old
		await frames();
		expect(q(".kan-diagram-wrap")!.dataset.state).toBe("waiting");
		expect(q("svg.kan-diagram")!.querySelectorAll("[data-edge]").length).toBe(9);
		model.push({ curves: next.curves, scores: next.scores, masks: next.masks });
		await frames();
		expect(q(".kan-diagram-wrap")!.dataset.state).toBe("ok");
		expect(q("svg.kan-diagram")!.querySelectorAll("[data-edge]").length).toBe(6);
	});
});
