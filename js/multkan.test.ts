// @vitest-environment jsdom
/**
 * Multiplication nodes (pykan's MultKAN) in the front end: `structure.nodes` decoded into
 * subnode maps, the theta preview's rule for a product (Python's plan_prune with node layouts),
 * and the layout and drawing of a multiplication node with its operands' edges.
 */
import { describe, expect, it } from "vitest";
import { expectedSizes, parseNodes, parseStructure, splitEdges } from "./decode";
import { computeLayout, edgeAt, edgeCurve } from "./layout";
import { planPrune } from "./preview";
import { nextCut } from "./theta_hist";

// width [2, [1, 2], 1] with arities [2, 3]: column 1 has nodes 0 (sum), 1 (x2), 2 (x3) and
// subnodes [0, 1, 1, 2, 2, 2]
const RAW = {
	version: 3,
	width: [2, 3, 1],
	nodes: [[2, []], [1, [2, 3]], [1, []]],
	in_vars: ["x", "y"],
	out_vars: ["f"],
	n_points: 4,
	layers: [{ in: 2, out: 6, sym: [[1, 5, "x"]] }, { in: 3, out: 1, sym: [] }],
};

describe("structure with multiplication nodes", () => {
	it("decodes the subnode maps and sizes the buffers by subnodes", () => {
		const s = parseStructure(RAW)!;
		expect(s).not.toBeNull();
		expect(Array.from(s.subs[1])).toEqual([0, 1, 1, 2, 2, 2]);
		expect(Array.from(s.mult[1])).toEqual([0, 1, 1]);
		expect(s.layers[0].sym).toEqual([[1, 5, "x"]]);
		const sizes = expectedSizes(s.width, 4, s.subs);
		expect(sizes.masks).toBe(2 * 6 + 3 * 1);
		expect(sizes.curves).toBe(4 * (2 * 4 + 12 * 4 + 3 * 4 + 3 * 4));
		expect(splitEdges(new Uint8Array(15), s.width, s.subs)!.map((m) => m.length)).toEqual([12, 3]);
	});

	it("refuses node layouts that do not fit the width", () => {
		expect(parseNodes([[2, []], [1, [2]], [1, []]], [2, 3, 1])).toBeNull(); // 2 nodes, width says 3
		expect(parseNodes([[2, []], [1, [1, 2]], [1, []]], [2, 3, 1])).toBeNull(); // arity 1
		expect(parseStructure({ ...RAW, layers: [{ in: 2, out: 3, sym: [] }, RAW.layers[1]] })).toBeNull();
		expect(parseStructure({ ...RAW, nodes: [[2, []]] })).toBeNull();
	});
});

describe("theta preview with a product", () => {
	const s = parseStructure(RAW)!;
	const masks = [new Uint8Array(12).fill(1), new Uint8Array(3).fill(1)];
	it("takes a node's incoming score from its strongest operand and drops its operands with it", () => {
		const s0 = new Float32Array(12).fill(0.001);
		s0[1 * 6 + 2] = 0.5; // x_2 -> operand 2 of node 1 (the x2 product)
		const s1 = Float32Array.from([0.001, 0.4, 0.3]);
		const plan = planPrune(s.width, [s0, s1], masks, 0.01, null, s.subs);
		expect(Array.from(plan.nodes[1])).toEqual([0, 1, 0]);
		// edges into both operands of node 1 stay; into node 2's three operands and node 0 go
		const kept = Array.from(plan.edges[0]);
		expect(kept).toEqual([0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
		expect(plan.removedNodes).toBe(2);
		const cut = nextCut(s.width, [s0, s1], masks, 0.01, s.subs);
		expect(cut).not.toBeNull();
	});
});

describe("layout of a multiplication node", () => {
	const s = parseStructure(RAW)!;
	const masks = [new Uint8Array(12).fill(1), new Uint8Array(3).fill(1)];
	for (const mode of ["boxes", "inline"] as const) {
		it(`ends each edge on its operand, left of the node (${mode})`, () => {
			const lay = computeLayout(s.width, masks, { width: 800, mode, subs: s.subs });
			expect(lay.outDims).toEqual([6, 1]);
			expect(Array.from(lay.mult[1])).toEqual([0, 1, 1]);
			// node 2's three operands: left of it, spread around its height, distinct
			const ops = [3, 4, 5];
			for (const q of ops) expect(lay.subX[1][q]).toBeLessThan(lay.colX[1]);
			const ys = ops.map((q) => lay.subY[1][q]);
			expect(new Set(ys).size).toBe(3);
			expect((ys[0] + ys[2]) / 2).toBeCloseTo(lay.nodeY[1][2], 3);
			// the sum node's subnode is the node itself
			expect(lay.subX[1][0]).toBe(lay.colX[1]);
			expect(lay.subY[1][0]).toBe(lay.nodeY[1][0]);
			const buf = new Float32Array(64);
			const n = edgeCurve(lay, 0, 1, 4, null, 4, 4, buf);
			if (mode === "inline") {
				expect(buf[2 * (n - 1)]).toBeCloseTo(lay.subX[1][4], 3);
				expect(buf[2 * (n - 1) + 1]).toBeCloseTo(lay.subY[1][4], 3);
				// hit-testing finds the edge near its operand end
				const hx = 0.9 * lay.subX[1][4] + 0.1 * lay.colX[0];
				const hy = 0.9 * lay.subY[1][4] + 0.1 * lay.nodeY[0][1];
				expect(edgeAt(lay, masks, hx, hy)).toEqual([0, 1, 4]);
			}
		});
	}
});

describe("drawing a multiplication node", () => {
	it("draws it as a square with its operands joined to it, and edges ending on them (svg)", async () => {
		const { decodeState } = await import("./decode");
		const { SvgRenderer } = await import("./draw_svg");
		const doc = document;
		const n = RAW.n_points;
		const curves = new Float32Array((2 * n + 12 * n + 3 * n + 3 * n)).map((_, q) => Math.sin(q));
		const scores = new Float32Array(15).fill(0.5);
		const masks = new Uint8Array(15).fill(1);
		const view = (a: ArrayBufferView) => new DataView(a.buffer);
		const state = decodeState(RAW, view(curves), view(scores), view(masks))!;
		expect(state.curves).not.toBeNull();
		const s = state.structure;
		for (const mode of ["boxes", "inline"] as const) {
			const lay = computeLayout(s.width, state.masks, { width: 800, mode, subs: s.subs });
			const r = new SvgRenderer(doc);
			doc.body.append(r.element);
			r.build({ state, beta: 3, plan: null, selected: null }, lay);
			const svg = r.element;
			expect(svg.querySelectorAll("circle.kan-node").length).toBe(2 + 1 + 1);
			const mult = svg.querySelectorAll("g.kan-node.kan-mult");
			expect([...mult].map((g) => g.getAttribute("data-node"))).toEqual(["1,1", "1,2"]);
			expect(mult[0].querySelector("rect")).not.toBeNull();
			expect(svg.querySelectorAll("circle.kan-operand").length).toBe(5);
			expect(svg.querySelector("path.kan-operand-links")).not.toBeNull();
			expect(svg.querySelectorAll("[data-edge]").length).toBe(15);
			expect(svg.querySelector('[data-edge="0,1,5"]')).not.toBeNull();
			r.element.remove();
		}
	});
});
