// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { edgeCard, nodeCard, num3, rangeText } from "./cards";
import { decodeState } from "./decode";
import { frames, mount, synthTraits, useFakeFrames } from "./test_util";

function state(width: number[], opts = {}) {
	const t = synthTraits(width, { n: 8, ...opts });
	const s = decodeState(t.structure, t.curves, t.scores, t.masks);
	if (!s) throw new Error("bad synthetic state");
	return s;
}

describe("card text", () => {
	it("formats numbers and ranges honestly", () => {
		expect(num3(0.012345)).toBe("0.0123");
		expect(num3(NaN)).toBe("not finite");
		expect(rangeText(Float32Array.from([3, -1, 2]))).toBe("-1 … 3");
		expect(rangeText(Float32Array.from([1, NaN]))).toBe("not finite");
		expect(rangeText(new Float32Array(0))).toBeNull();
	});

	it("an edge: function, input and phi ranges from the curves, its score", () => {
		const s = state([2, 3, 1], { sym: [[0, 1, 2, "sin"]], scores: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.25], [0.7, 0.8, 0.9]] });
		const c = edgeCard(s, 0, 1, 2)!;
		expect(c.title).toBe("edge (0, 1, 2): x2 → node (1, 2)");
		const rows = Object.fromEntries(c.rows);
		expect(rows.function).toBe("sin");
		expect(rows["input range"]).toBe("-1 … 1"); // synthetic xs run from -1 to 1
		const ys = s.curves![0].ys.subarray(5 * 8, 6 * 8);
		expect(rows["φ range"]).toBe(`${num3(Math.min(...ys))} … ${num3(Math.max(...ys))}`);
		expect(rows.importance).toBe("0.25");
		expect(Object.fromEntries(edgeCard(s, 0, 0, 0)!.rows).function).toBe("spline");
		expect(edgeCard(s, 0, 2, 0)).toBeNull();
	});

	it("a node: kind, the node score rule, value range (an output's from its picture)", () => {
		const s = state([2, 3, 1], { scores: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.25], [0.7, 0.8, 0.9]] });
		const hidden = Object.fromEntries(nodeCard(s, 1, 2)!.rows);
		expect(hidden.kind).toBe("sum");
		expect(hidden.importance).toBe("0.3"); // min(max in 0.3 (x1) / 0.25 (x2) -> 0.3, out 0.9)
		expect(hidden["value range (data)"]).toBe("-1 … 1");
		const inp = Object.fromEntries(nodeCard(s, 0, 1)!.rows);
		expect(inp.importance).toBe("0.5"); // max outgoing: 0.4, 0.5, 0.25
		const out = nodeCard(s, 2, 0, Float32Array.from([-2, 0.5, 4]))!;
		expect(out.title).toBe("y1");
		expect(Object.fromEntries(out.rows)["value range (input square)"]).toBe("-2 … 4");
		expect(nodeCard(s, 3, 0)).toBeNull();
		expect(hidden["node bias"]).toBeUndefined(); // no node step: no node map
	});

	it("a node of a model with a node step: pykan's node_scale and node_bias", () => {
		const t = synthTraits([2, 3, 1], { n: 8 });
		const structure = { ...(t.structure as Record<string, unknown>), node_scale: [[1, 2, 1], [1]], node_bias: [[0, -0.25, null], [3]] };
		const s = decodeState(structure, t.curves, t.scores, t.masks)!;
		const hidden = Object.fromEntries(nodeCard(s, 1, 1)!.rows);
		expect(hidden["node scale"]).toBe("2");
		expect(hidden["node bias"]).toBe("-0.25");
		expect(Object.fromEntries(nodeCard(s, 1, 2)!.rows)["node bias"]).toBe("not finite");
		expect(Object.fromEntries(nodeCard(s, 2, 0)!.rows)["node bias"]).toBe("3");
		expect(Object.fromEntries(nodeCard(s, 0, 0)!.rows)["node bias"]).toBeUndefined();
		// a map that does not fit the width is dropped, never misread
		const bad = { ...(t.structure as Record<string, unknown>), node_bias: [[0, 1], [3]] };
		expect(decodeState(bad, t.curves, t.scores, t.masks)!.structure.node_bias).toBeNull();
	});
});

describe("hover cards in the widget", () => {
	useFakeFrames();

	it("shows an edge's and a node's card on hover and hides it on leave", async () => {
		const { el, model, dispose } = await mount([2, 3, 1]);
		const wrap = el.querySelector(".kan-diagram-wrap") as HTMLElement;
		const edge = el.querySelector('[data-edge="0,1,2"]') as Element;
		edge.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 10, clientY: 10 }));
		const card = el.querySelector(".kan-card") as HTMLElement;
		expect(card.hidden).toBe(false);
		expect(card.textContent).toContain("edge (0, 1, 2)");
		expect(card.textContent).toContain("importance");
		// a tick while the pointer rests: the card shows the new numbers
		const scores = Float32Array.from({ length: 9 }, () => 0.5);
		scores[5] = 0.125; // edge (0, 1, 2) = k 5 of layer 0
		model.push({ scores: new DataView(scores.buffer) });
		await frames();
		expect(card.textContent).toContain("importance0.125");
		const node = el.querySelector('[data-node="1,0"]') as Element;
		node.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 10, clientY: 10 }));
		expect(card.textContent).toContain("node (1, 0)");
		wrap.dispatchEvent(new MouseEvent("mouseleave"));
		expect(card.hidden).toBe(true);
		dispose();
	});
});
