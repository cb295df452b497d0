// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { columnOffsets, NODE_PIC_PX, picsFit } from "./node_pics";
import { computeLayout } from "./layout";
import { frames, mount, useFakeFrames } from "./test_util";

const ones = (dims: number[]) => dims.slice(0, -1).map((n, l) => new Uint8Array(n * dims[l + 1]).fill(1));
const dv = (a: Float32Array) => new DataView(a.buffer, a.byteOffset, a.byteLength);

describe("node pictures: geometry", () => {
	it("fit only when every node has grid*grid values", () => {
		expect(picsFit({ grid: 2, values: new Float32Array(4 * 8) }, [2, 5, 1])).toBe(true);
		expect(picsFit({ grid: 2, values: new Float32Array(4 * 8 - 1) }, [2, 5, 1])).toBe(false);
		expect(picsFit({ grid: 0, values: new Float32Array(0) }, [2, 5, 1])).toBe(false);
		expect(picsFit(null, [2, 5, 1])).toBe(false);
		expect(columnOffsets([2, 5, 5, 2])).toEqual([0, 2, 7, 12]);
	});

	it("nodes grow to hold a picture, never into their neighbours, names move out with them", () => {
		const dims = [2, 5, 5, 2];
		const plain = computeLayout(dims, ones(dims), { width: 760, inVars: ["x", "y"], outVars: ["c"] });
		const pics = computeLayout(dims, ones(dims), { width: 760, inVars: ["x", "y"], outVars: ["c"], nodePic: NODE_PIC_PX });
		expect(plain.nodeR).toBeLessThanOrEqual(7);
		expect(pics.nodeR).toBeCloseTo(NODE_PIC_PX / 2, 5);
		for (const [c, sp] of pics.spacing.entries()) if (dims[c] > 1) expect(2 * pics.nodeR).toBeLessThan(sp);
		// the input names end left of the (bigger) input nodes
		expect(pics.colX[0] - pics.nodeR).toBeGreaterThanOrEqual(plain.colX[0] - plain.nodeR);
		// crowded columns keep their nodes apart: at most 45% of the spacing
		const many = computeLayout([2, 40, 1], ones([2, 40, 1]), { width: 760, nodePic: NODE_PIC_PX });
		expect(2 * many.nodeR).toBeLessThanOrEqual(0.9 * Math.min(...many.spacing) + 1e-6);
	});
});

describe("node pictures in the widget's diagram", () => {
	useFakeFrames();

	const classify = { problem: "classification", classes: 2, n_in: 2, grid: 2, lo: [0, 0], hi: [1, 1], node_grid: 3, width: [2, 3, 1] };

	it("puts one picture in every node, repaints on a tick, and drops them when they stop fitting", async () => {
		const { model, el, dispose } = await mount([2, 3, 1], {
			classify, class_grid: dv(new Float32Array(8)), class_points: null, class_nodes: dv(new Float32Array(6 * 9)),
		});
		const pics = [...el.querySelectorAll<HTMLCanvasElement>(".kan-diagram-wrap canvas.kan-node-pic")];
		expect(pics.map((c) => c.dataset.node)).toEqual(["0,0", "0,1", "1,0", "1,1", "1,2", "2,0"]);
		expect(pics.every((c) => c.width === 3 && c.height === 3)).toBe(true);
		// the strip beside the boundary is gone: the pictures are in the diagram only
		expect(el.querySelector(".kan-node-maps")).toBeNull();
		const wrap = el.querySelector(".kan-diagram-wrap") as HTMLElement;
		const before = Number(wrap.dataset.picPaints);
		const draws = Number(wrap.dataset.drawCount);
		model.push({ class_nodes: dv(Float32Array.from({ length: 54 }, (_, i) => i - 27)) });
		await frames();
		expect(Number(wrap.dataset.picPaints)).toBe(before + 1);
		expect(Number(wrap.dataset.drawCount)).toBe(draws); // a picture tick redraws no edges
		model.push({ class_nodes: dv(new Float32Array(5)) }); // a wrong size: none, never misdrawn
		await frames();
		expect(el.querySelectorAll("canvas.kan-node-pic").length).toBe(0);
		dispose();
	});

	it("a regression widget (no pictures) keeps the small nodes", async () => {
		const { el, dispose } = await mount([2, 3, 1]);
		expect(el.querySelectorAll("canvas.kan-node-pic").length).toBe(0);
		const r = Number(el.querySelector("circle.kan-node")?.getAttribute("r"));
		expect(r).toBeLessThanOrEqual(7);
		dispose();
	});
});
