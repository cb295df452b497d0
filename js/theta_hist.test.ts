// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { planPrune } from "./preview";
import { binCounts, ceil2, HIST_W, nextCut, nextCutText, scoreSets, ThetaHistogram } from "./theta_hist";

// [2, 3, 1]: layer 0 edges k = i*3 + j, layer 1 edges k = i
const width = [2, 3, 1];
const scores = [
	Float32Array.from([0.5, 0.02, 0.3, 0.4, 0.01, 0.2]),
	Float32Array.from([0.6, 0.03, 0.004]),
];
const masks = [new Uint8Array(6).fill(1), new Uint8Array(3).fill(1)];

describe("score distribution", () => {
	it("collects log10 scores of hidden nodes and present edges", () => {
		const s = scoreSets(width, scores, masks);
		// hidden node scores: min(max in, max out) = min(0.5, 0.6), min(0.02, 0.03), min(0.3, 0.004)
		expect(s.nodes.map((v) => Number((10 ** v).toPrecision(3)))).toEqual([0.5, 0.02, 0.004]);
		expect(s.edges).toHaveLength(9);
		const removed = [new Uint8Array(6).fill(1), Uint8Array.from([1, 1, 0])];
		expect(scoreSets(width, scores, removed).edges).toHaveLength(8); // a pruned edge is not counted
		expect(scoreSets(width, [new Float32Array(6), new Float32Array(3)], masks).zeros).toBe(12);
	});

	it("bins values, the ones outside the range into the end bins", () => {
		expect(binCounts([-5, -4.9, -2.5, 0, 3, -9], -5, 0, 5)).toEqual([3, 0, 1, 0, 2]);
	});

	it("draws one bar per kind and bin, and the cut at theta", () => {
		const h = new ThetaHistogram(document, -5, 0);
		h.update(scoreSets(width, scores, masks), 0.01);
		const el = h.element;
		expect(el.querySelectorAll('rect[data-kind="node"]').length).toBeGreaterThan(0);
		expect(el.querySelectorAll('rect[data-kind="edge"]').length).toBeGreaterThan(0);
		const cut = el.querySelector(".kan-theta-cut")!;
		expect(Number(cut.getAttribute("x1"))).toBeCloseTo((3 / 5) * HIST_W, 1); // log10(0.01) = -2
		expect(el.querySelector("title")!.textContent).toContain("9 edges");
		h.update(null, 0);
		expect(el.querySelectorAll("rect")).toHaveLength(0);
		expect(cut.getAttribute("x1")).toBe("0.0");
	});
});

describe("the next theta", () => {
	it("rounds up to two significant digits, so that theta removes the score", () => {
		expect(ceil2(0.0223)).toBe(0.023);
		expect(ceil2(0.0229)).toBe(0.023);
		expect(ceil2(0.0231)).toBe(0.024);
		expect(ceil2(0.02)).toBe(0.02);
		expect(ceil2(1.234e-4)).toBe(0.00013);
		expect(Math.fround(ceil2(Math.fround(0.3))) >= Math.fround(0.3)).toBe(true);
	});

	it("names what the smallest larger theta removes first, and it really does", () => {
		const cut = nextCut(width, scores, masks, 0.001)!;
		expect(cut).toEqual({ theta: 0.004, kind: "node", at: [1, 2] });
		expect(nextCutText(cut)).toBe("θ ≥ 0.004 would remove node (1, 2)");
		expect(planPrune(width, scores, masks, 0.001).removedNodes).toBe(0);
		expect(planPrune(width, scores, masks, cut.theta).nodes[1][2]).toBe(0);
	});

	it("never offers the last node of a layer; then the next edge", () => {
		// at theta 0.25 only node 0 (0.5) is left in the hidden layer: it can never go
		const cut = nextCut(width, scores, masks, 0.25)!;
		expect(cut.kind).toBe("edge");
		expect(cut).toEqual({ theta: 0.3, kind: "edge", at: [0, 0, 2] });
		expect(nextCutText(null)).toBe("no theta removes anything more");
		expect(nextCut(width, scores, masks, 0.7)).toBeNull();
	});
});
