import { describe, expect, it } from "vitest";
import { parseNodes } from "./decode";
import { CASES } from "./fixtures/plan_prune_cases";
import { argmax, nodeScores, planPrune, previewText } from "./preview";

const f32 = (a: number[]) => Float32Array.from(a);
const u8 = (a: number[]) => Uint8Array.from(a);

describe("planPrune", () => {
	it("agrees with Python's plan_prune on generated cases", () => {
		for (const c of CASES) {
			const subs = c.layout ? parseNodes(c.layout, c.width)!.subs : undefined;
			const plan = planPrune(c.width, c.scores.map(f32), c.masks.map(u8), c.theta, c.theta, subs);
			expect(plan.nodes.map((n) => Array.from(n)), `nodes ${c.width} θ=${c.theta}`).toEqual(c.nodes);
			expect(plan.edges.map((e) => Array.from(e)), `edges ${c.width} θ=${c.theta}`).toEqual(c.edges);
			const presentRemoved = c.masks.flat().filter((m, k) => m > 0 && c.edges.flat()[k] === 0).length;
			expect(plan.removedEdges).toBe(presentRemoved);
			expect(plan.removedNodes).toBe(c.nodes.flat().filter((x) => x === 0).length);
		}
	});

	// [2, 2, 1]: hidden node 0 strong both ways, hidden node 1 weak outgoing
	const width = [2, 2, 1];
	const scores = [f32([0.5, 0.4, 0.02, 0.3]), f32([0.6, 0.005])];
	const masks = [u8([1, 1, 1, 1]), u8([1, 1])];

	it("keeps a hidden node iff min(max in, max out) > theta", () => {
		const ns = nodeScores(width, scores);
		expect(Array.from(ns[1])).toEqual([Math.fround(0.5), Math.fround(0.005)]);
		expect(Array.from(ns[0])).toEqual([Math.fround(0.5), Math.fround(0.3)]); // inputs: max out
		expect(Array.from(ns[2])).toEqual([Math.fround(0.6)]); // output: max in
		const plan = planPrune(width, scores, masks, 0.01);
		expect(Array.from(plan.nodes[1])).toEqual([1, 0]);
		expect(plan.removedNodes).toBe(1);
		// edges into/out of hidden node 1 go; edge (0,1,0) score .02 > .01 stays... but its end is gone
		expect(Array.from(plan.edges[0])).toEqual([1, 0, 1, 0]);
		expect(Array.from(plan.edges[1])).toEqual([1, 0]);
		expect(plan.removedEdges).toBe(3);
		expect(previewText(plan)).toBe("Prune would remove 1 node, 3 edges");
	});

	it("never removes inputs or outputs, and keeps the strongest hidden node", () => {
		const plan = planPrune(width, scores, masks, 0.9);
		expect(Array.from(plan.nodes[0])).toEqual([1, 1]);
		expect(Array.from(plan.nodes[2])).toEqual([1]);
		expect(Array.from(plan.nodes[1])).toEqual([1, 0]);
		expect(Array.from(plan.edges[0])).toEqual([0, 0, 0, 0]); // every score <= 0.9
	});

	it("does not count edges that are already gone", () => {
		const plan = planPrune(width, scores, [u8([1, 0, 1, 0]), u8([1, 0])], 0.01);
		expect(plan.removedEdges).toBe(0);
	});

	it("compares in float32 like torch", () => {
		// 0.01 as float32 is just below 0.01: a score equal to fround(0.01) is not > fround(0.01)
		const s = [f32([Math.fround(0.01)]), f32([1])];
		const plan = planPrune([1, 1, 1], s, [u8([1]), u8([1])], 0.01);
		expect(plan.edges[0][0]).toBe(0);
	});

	it("argmax takes the first maximum", () => {
		expect(argmax(f32([1, 3, 3, 2]))).toBe(1);
	});

	it("text without scores", () => {
		expect(previewText(null)).toMatch(/waiting/);
		expect(previewText({ nodes: [], edges: [], removedNodes: 2, removedEdges: 1 })).toBe(
			"Prune would remove 2 nodes, 1 edge",
		);
	});
});
