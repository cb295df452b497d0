// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { decodeState } from "./decode";
import { BOX_ZOOM, SvgRenderer, pathData, zoomShift } from "./draw_svg";
import { computeLayout } from "./layout";
import { planPrune } from "./preview";
import { COLORS, opacity, type Scene } from "./scene";
import { synthTraits } from "./test_util";

function sceneFor(width: number[], opts: Parameters<typeof synthTraits>[1] = {}, beta = 3): Scene {
	const t = synthTraits(width, opts);
	const state = decodeState(t.structure, t.curves, t.scores, t.masks)!;
	return { state, beta, plan: null, selected: null };
}

function draw(scene: Scene, mode?: "boxes" | "inline") {
	const st = scene.state;
	const lay = computeLayout(st.structure.width, st.masks, {
		width: 800, mode, inVars: st.structure.in_vars, outVars: st.structure.out_vars,
	});
	const r = new SvgRenderer(document);
	document.body.append(r.element);
	r.build(scene, lay);
	return { r, lay, svg: r.element };
}

describe("SvgRenderer", () => {
	it("draws one data-edge element per present edge, with opacity tanh(beta*A)", () => {
		for (const mode of ["boxes", "inline"] as const) {
			const scene = sceneFor([2, 5, 1], { n: 12, masked: 0.2, seed: 3 });
			const { svg } = draw(scene, mode);
			const edges = svg.querySelectorAll("[data-edge]");
			const present = scene.state.masks.reduce((a, m) => a + m.filter((x) => x > 0).length, 0);
			expect(edges.length).toBe(present);
			for (const e of edges) {
				const [l, i, j] = e.getAttribute("data-edge")!.split(",").map(Number);
				const k = i * scene.state.structure.layers[l].out + j;
				expect(scene.state.masks[l][k]).toBe(1);
				const A = scene.state.scores![l][k];
				expect(Number(e.getAttribute("opacity"))).toBeCloseTo(Math.tanh(3 * A), 3);
				expect(e.classList.contains("kan-edge")).toBe(true);
			}
			svg.remove();
		}
	});

	it("draws nodes and input/output names", () => {
		const scene = sceneFor([2, 5, 1]);
		const { svg } = draw(scene);
		expect(svg.querySelectorAll("circle.kan-node").length).toBe(8);
		const names = [...svg.querySelectorAll(".kan-names text")].map((t) => t.textContent);
		expect(names).toEqual(["x1", "x2", "y1"]);
		expect(svg.getAttribute("class")).toBe("kan-diagram");
		expect(svg.getAttribute("data-renderer")).toBe("svg");
	});

	it("plots each curve as a path with one point per sample (boxes) ", () => {
		const scene = sceneFor([2, 3, 1], { n: 9 });
		const { svg } = draw(scene, "boxes");
		const curve = svg.querySelector('[data-edge="0,1,2"] .kan-curve')!;
		const d = curve.getAttribute("d")!;
		expect(d.startsWith("M")).toBe(true);
		expect(d.slice(1).split(/[L ]/).length).toBe(9);
	});

	it("colours symbolic edges and writes the function's name", () => {
		const scene = sceneFor([2, 3, 1], { sym: [[0, 1, 2, "sin"]] });
		for (const mode of ["boxes", "inline"] as const) {
			const { svg } = draw(scene, mode);
			const e = svg.querySelector('[data-edge="0,1,2"]')!;
			expect(e.getAttribute("stroke")).toBe(COLORS[1]);
			expect(e.getAttribute("data-kind")).toBe("symbolic");
			expect(svg.querySelector('[data-sym="0,1,2"]')!.textContent).toBe("sin");
			// the edges Symbolify left as splines are marked as such
			expect(svg.querySelector('[data-edge="0,0,0"]')!.getAttribute("stroke")).toBe(COLORS[4]);
			expect(svg.querySelector('[data-edge="0,0,0"]')!.getAttribute("data-kind")).toBe("kept-spline");
			svg.remove();
		}
	});

	it("update restyles in place: same elements, new opacity, beta, path data", () => {
		const scene = sceneFor([3, 4, 1], { n: 10 });
		const { r, lay, svg } = draw(scene, "inline");
		const before = [...svg.querySelectorAll("[data-edge]")];
		const d0 = before[0].getAttribute("d");
		const scores = scene.state.scores!;
		scores[0][0] = 0.05;
		const ys = scene.state.curves![0].ys;
		for (let p = 0; p < 10; p++) ys[p] = p * p;
		r.update({ ...scene, beta: 10 }, lay, "curves");
		const after = [...svg.querySelectorAll("[data-edge]")];
		expect(after).toEqual(before);
		expect(Number(after[0].getAttribute("opacity"))).toBeCloseTo(Math.tanh(10 * 0.05), 3);
		expect(after[0].getAttribute("d")).not.toBe(d0);
	});

	it("a style update leaves the plots alone", () => {
		const scene = sceneFor([2, 3, 1], { n: 10 });
		const { r, lay, svg } = draw(scene, "inline");
		const e = svg.querySelector("[data-edge]")!;
		const d0 = e.getAttribute("d");
		scene.state.curves![0].ys.fill(0.5);
		r.update({ ...scene, beta: 10 }, lay, "style");
		expect(e.getAttribute("d")).toBe(d0);
		r.update({ ...scene, beta: 10 }, lay, "curves");
		expect(e.getAttribute("d")).not.toBe(d0);
	});

	it("marks what the theta preview would prune, nodes and edges", () => {
		const scene = sceneFor([2, 2, 1], {
			scores: [[0.5, 0.4, 0.02, 0.3], [0.6, 0.005]],
		});
		const { r, lay, svg } = draw(scene);
		const st = scene.state;
		const plan = planPrune(st.structure.width, st.scores!, st.masks, 0.01);
		r.update({ ...scene, plan }, lay, "style");
		const doomed = [...svg.querySelectorAll('[data-edge][data-kind="doomed"]')].map((e) => e.getAttribute("data-edge"));
		expect(doomed.sort()).toEqual(["0,0,1", "0,1,1", "1,1,0"]);
		expect(svg.querySelector('[data-node="1,1"]')!.getAttribute("data-kind")).toBe("doomed");
		expect(svg.querySelector('[data-node="1,0"]')!.getAttribute("data-kind")).toBeNull();
		// a doomed edge stays visible even if faint
		expect(Number(svg.querySelector('[data-edge="1,1,0"]')!.getAttribute("opacity"))).toBeGreaterThanOrEqual(0.3);
		r.update({ ...scene, plan: null }, lay, "style");
		expect(svg.querySelectorAll('[data-kind="doomed"]').length).toBe(0);
	});

	it("leaves pruned (masked) edges and dead nodes out", () => {
		const scene = sceneFor([2, 3, 1]);
		const m = scene.state.masks;
		m[1][2] = 0; // hidden node 2 has no way out
		const { svg } = draw(scene);
		expect(svg.querySelector('[data-edge="1,2,0"]')).toBeNull();
		expect(svg.querySelector('[data-node="1,2"]')).toBeNull();
	});

	it("serializes to a standalone SVG document", () => {
		const { r } = draw(sceneFor([2, 3, 1]));
		const text = r.serialize();
		expect(text).toMatch(/^<\?xml/);
		expect(text).toContain('xmlns="http://www.w3.org/2000/svg"');
		expect(text).toContain("data-edge=");
	});
});

describe("helpers", () => {
	it("pathData writes M then L points", () => {
		expect(pathData(Float32Array.from([0, 0, 1.26, 2, 3, 4]), 3)).toBe("M0,0L1.3,2 3,4");
	});
	it("opacity is tanh(beta*A), 0 for non-positive", () => {
		expect(opacity(3, 0.2)).toBeCloseTo(Math.tanh(0.6));
		expect(opacity(3, 0)).toBe(0);
		expect(opacity(3, Number.NaN)).toBe(0);
	});
});

describe("zoomShift (a hovered box's enlargement stays inside the diagram)", () => {
	const W = 400;
	const H = 300;
	const inside = (x: number, y: number, w: number, h: number, z: number) => {
		const [dx, dy] = zoomShift(x, y, w, h, z, W, H);
		const cx = x + w / 2 + dx;
		const cy = y + h / 2 + dy;
		return { dx, dy, l: cx - (w * z) / 2, r: cx + (w * z) / 2, t: cy - (h * z) / 2, b: cy + (h * z) / 2 };
	};
	it("leaves a box that fits where it is", () => {
		expect(zoomShift(150, 120, 20, 16, 2.4, W, H)).toEqual([0, 0]);
	});
	it("moves a top-row box down just enough, a side box left or right", () => {
		const top = inside(150, 2, 20, 16, 2.4); // grown 48x38.4 about y=10: top at -9.2
		expect(top.dx).toBe(0);
		expect(top.dy).toBeCloseTo(10.2, 6); // to 1 px below the top
		expect(top.t).toBeCloseTo(1, 6);
		const right = inside(388, 2, 10, 10, 3);
		expect(right.dx).toBeLessThan(0);
		expect(right.r).toBeCloseTo(W - 1, 6);
		expect(right.t).toBeCloseTo(1, 6);
		const left = inside(0, 280, 10, 10, 3);
		expect(left.l).toBeCloseTo(1, 6);
		expect(left.b).toBeCloseTo(H - 1, 6);
	});
	it("keeps the top-left corner of a box larger than the diagram in view", () => {
		const big = inside(100, 100, 300, 200, 2.4);
		expect(big.l).toBeCloseTo(1, 6);
		expect(big.t).toBeCloseTo(1, 6);
	});
	it("a hovered top-row box gets the shift as CSS variables", () => {
		const scene = sceneFor([2, 3, 1], { n: 12, seed: 1 });
		const { svg, lay } = draw(scene, "boxes");
		const boxes = [...svg.querySelectorAll("g.kan-edge rect.kan-box")] as SVGRectElement[];
		const ys = boxes.map((b) => Number(b.getAttribute("y")));
		const box = boxes[ys.indexOf(Math.min(...ys))]; // a box of the top row
		const g = box.parentNode as SVGGElement;
		const n = (a: string) => Number(box.getAttribute(a));
		const [, dy] = zoomShift(n("x"), n("y"), n("width"), n("height"), BOX_ZOOM, lay.width, lay.height);
		expect(dy).toBeGreaterThan(0); // enlarged in place, it would be cut at the top
		box.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
		expect(g.style.getPropertyValue("--kan-dy")).toBe(`${Math.round(dy * 10) / 10}px`);
		expect(g.parentNode?.lastElementChild).toBe(g); // raised above the rest
		svg.remove();
	});
});
