// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeState } from "./decode";
import { Diagram } from "./diagram";
import { BOX_ZOOM, zoomShift } from "./draw_svg";
import { ZOOM_H, ZOOM_W, zoomRect } from "./edge_zoom";
import { computeLayout, T0, T1 } from "./layout";
import { synthTraits } from "./test_util";

afterEach(() => {
	vi.restoreAllMocks();
});

const inside = (r: number[], W: number, H: number) => r[0] >= 0 && r[1] >= 0 && r[0] + r[2] <= W && r[1] + r[3] <= H;

describe("the enlarged box's place", () => {
	it("inline: a fixed box over the middle of the edge's plot, inside the diagram", () => {
		const lay = computeLayout([64, 64, 64, 10], null, { width: 860 });
		expect(lay.mode).toBe("inline");
		for (const [l, i, j] of [[0, 0, 0], [0, 63, 63], [1, 32, 5], [2, 0, 9], [2, 63, 0]]) {
			const r = zoomRect(lay, l, i, j);
			expect(r[2]).toBe(ZOOM_W);
			expect(r[3]).toBe(ZOOM_H);
			expect(inside(r, lay.width, lay.height)).toBe(true);
		}
		// room above: centred over the plot's middle, clear of its band (the edge stays in sight)
		const [l, i, j] = [1, 40, 40];
		const t = (T0 + T1) / 2;
		const cx = lay.colX[l] + (lay.subX[l + 1][j] - lay.colX[l]) * t;
		const cy = lay.nodeY[l][i] + (lay.subY[l + 1][j] - lay.nodeY[l][i]) * t;
		const r = zoomRect(lay, l, i, j);
		expect(r[0] + r[2] / 2).toBeCloseTo(cx, 6);
		expect(r[1] + r[3]).toBeLessThanOrEqual(cy - lay.amp);
		// the top row has no room above: the box goes below the band
		const top = zoomRect(lay, 0, 0, 0);
		const cy0 = lay.nodeY[0][0] + (lay.subY[1][0] - lay.nodeY[0][0]) * t;
		expect(top[1]).toBeGreaterThanOrEqual(cy0 + lay.amp);
	});

	it("boxes: the edge's own box, BOX_ZOOM times larger, as the SVG's hover", () => {
		const lay = computeLayout([10, 5, 1], null, { width: 860 });
		expect(lay.mode).toBe("boxes");
		for (const [l, i, j] of [[0, 0, 0], [0, 9, 4], [1, 2, 0]]) {
			const b = lay.boxes![l];
			const k = 4 * (i * lay.outDims[l] + j);
			const r = zoomRect(lay, l, i, j);
			expect(r[2]).toBeCloseTo(b[k + 2] * BOX_ZOOM, 6);
			expect(r[3]).toBeCloseTo(b[k + 3] * BOX_ZOOM, 6);
			const [dx, dy] = zoomShift(b[k], b[k + 1], b[k + 2], b[k + 3], BOX_ZOOM, lay.width, lay.height);
			expect(r[0] + r[2] / 2).toBeCloseTo(b[k] + b[k + 2] / 2 + dx, 6);
			expect(r[1] + r[3] / 2).toBeCloseTo(b[k + 1] + b[k + 3] / 2 + dy, 6);
			expect(inside(r, lay.width, lay.height)).toBe(true);
		}
	});
});

/** A 2D context that counts the calls that draw (jsdom has none) and keeps rectangles. */
function countingContext() {
	const calls: Record<string, number> = {};
	const rects: number[][] = [];
	const ctx = new Proxy({}, {
		get: (_t, p: string) => (...a: number[]) => {
			calls[p] = (calls[p] ?? 0) + 1;
			if (p === "fillRect" || p === "strokeRect") rects.push(a);
		},
		set: () => true,
	});
	vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(ctx as never);
	return { calls, rects };
}

function diagram(width: number[], n = 100) {
	const wrap = document.createElement("div");
	document.body.replaceChildren(wrap);
	const d = new Diagram(wrap, { raf: (cb) => setTimeout(cb, 0) });
	const t = synthTraits(width, { n });
	const state = decodeState(t.structure, t.curves, t.scores, t.masks)!;
	const scene = { state, beta: 3, plan: null, selected: null };
	d.setScene(scene, "rebuild");
	d.flush();
	return { wrap, d, scene };
}

/** The middle of edge (l, i, j)'s plot in client px (jsdom: the diagram sits at 0, 0, unscaled). */
function middle(d: Diagram, l: number, i: number, j: number): [number, number] {
	const lay = d.currentLayout!;
	const t = (T0 + T1) / 2;
	return [
		lay.colX[l] + (lay.subX[l + 1][j] - lay.colX[l]) * t,
		lay.nodeY[l][i] + (lay.subY[l + 1][j] - lay.nodeY[l][i]) * t,
	];
}

const move = (target: Element, [x, y]: [number, number]) =>
	target.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: x, clientY: y }));

describe("hovering an edge of a canvas drawing", () => {
	it("[64,64,64,10]: the edge's curve, enlarged, drawn alone on an overlay", () => {
		const { calls, rects } = countingContext();
		const { wrap, d, scene } = diagram([64, 64, 64, 10]);
		expect(d.rendererKind).toBe("canvas");
		const canvas = wrap.querySelector("canvas.kan-diagram")!;
		const at = middle(d, 1, 40, 40);
		const edge = d.edgeAtClient(...at)!;
		expect(edge).not.toBeNull();
		const before = { ...calls };
		move(canvas, at);
		const zoom = wrap.querySelector("canvas.kan-edge-zoom") as HTMLCanvasElement;
		expect(zoom).not.toBeNull();
		expect(zoom.hidden).toBe(false);
		expect(zoom.getAttribute("data-zoom-edge")).toBe(edge.join(","));
		const r = zoomRect(d.currentLayout!, ...edge);
		expect(zoom.getAttribute("data-zoom-rect")).toBe(r.map(Math.round).join(","));
		expect(rects).toContainEqual(r); // the box's background, where zoomRect says
		// one edge, not the network: a few hundred points, two strokes of paths, no redraw below
		const lines = (calls.lineTo ?? 0) - (before.lineTo ?? 0);
		expect(lines).toBeGreaterThan(100);
		expect(lines).toBeLessThan(300);
		expect(wrap.dataset.drawCount).toBe("1");
		expect(zoom.dataset.zoomDraws).toBe("1");
		// the pointer moves along the same edge: nothing redrawn
		move(canvas, at);
		expect(zoom.dataset.zoomDraws).toBe("1");
		// a training tick while the pointer rests: the enlarged curve is the new one
		d.setScene({ ...scene }, "curves");
		d.flush();
		expect(zoom.dataset.zoomDraws).toBe("2");
		expect(zoom.getAttribute("data-zoom-edge")).toBe(edge.join(","));
		// off the diagram: gone
		wrap.dispatchEvent(new MouseEvent("mouseleave"));
		expect(zoom.hidden).toBe(true);
		expect(zoom.hasAttribute("data-zoom-edge")).toBe(false);
		d.dispose();
		expect(wrap.querySelector("canvas")).toBeNull();
	});

	it("SVG boxes grow by CSS (no overlay); SVG inline lines get the overlay", () => {
		countingContext();
		const boxes = diagram([2, 5, 1], 20);
		expect(boxes.d.currentLayout!.mode).toBe("boxes");
		move(boxes.wrap.querySelector('[data-edge="0,1,2"]')!, [5, 5]);
		expect(boxes.wrap.querySelector(".kan-card")).not.toBeNull();
		expect(boxes.wrap.querySelector("canvas.kan-edge-zoom")).toBeNull();
		boxes.d.dispose();
		const inline = diagram([20, 30, 1], 20);
		expect(inline.d.rendererKind).toBe("svg");
		expect(inline.d.currentLayout!.mode).toBe("inline");
		move(inline.wrap.querySelector('[data-edge="0,3,7"]')!, [5, 5]);
		const zoom = inline.wrap.querySelector("canvas.kan-edge-zoom") as HTMLCanvasElement;
		expect(zoom.hidden).toBe(false);
		expect(zoom.getAttribute("data-zoom-edge")).toBe("0,3,7");
		inline.d.dispose();
	});
});
