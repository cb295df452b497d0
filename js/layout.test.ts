import { describe, expect, it } from "vitest";
import { aliveNodes, boxGrid, computeLayout, edgeAt, edgeCurve, MAX_HEIGHT, T0, T1 } from "./layout";

const ones = (dims: number[]) => dims.slice(0, -1).map((n, l) => new Uint8Array(n * dims[l + 1]).fill(1));

describe("computeLayout", () => {
	it("puts columns left to right and nodes inside the box", () => {
		for (const dims of [[2, 5, 1], [4, 16, 16, 1], [64, 64, 64, 10]]) {
			const lay = computeLayout(dims, ones(dims), { width: 800, inVars: ["x1"], outVars: ["y"] });
			expect(lay.colX.length).toBe(dims.length);
			for (let c = 1; c < dims.length; c++) expect(lay.colX[c]).toBeGreaterThan(lay.colX[c - 1]);
			expect(lay.height).toBeLessThanOrEqual(MAX_HEIGHT);
			lay.nodeY.forEach((ys, c) => {
				expect(ys.length).toBe(dims[c]);
				for (const y of ys) expect(y).toBeGreaterThanOrEqual(0), expect(y).toBeLessThanOrEqual(lay.height);
			});
			expect(lay.colX[0]).toBeGreaterThan(0);
			expect(lay.colX[dims.length - 1]).toBeLessThan(lay.width);
		}
	});

	it("uses plot boxes for small networks and inline curves for large ones", () => {
		const small = computeLayout([2, 5, 1], ones([2, 5, 1]), { width: 800 });
		expect(small.mode).toBe("boxes");
		expect(small.boxes!.length).toBe(2);
		// up to a few hundred edges a layer, boxes in a grid; thousands: inline
		for (const dims of [[10, 5, 1], [30, 10, 1]]) {
			expect(computeLayout(dims, ones(dims), { width: 860 }).mode).toBe("boxes");
		}
		const big = computeLayout([64, 64, 64, 10], ones([64, 64, 64, 10]), { width: 800 });
		expect(big.mode).toBe("inline");
		expect(big.boxes).toBeNull();
	});

	it("lays a layer's boxes in a grid without overlaps, each input's boxes level with it", () => {
		for (const dims of [[10, 5, 1], [30, 10, 1], [50, 5, 1]]) {
			const lay = computeLayout(dims, ones(dims), { width: 860 });
			expect(lay.mode).toBe("boxes");
			const b = lay.boxes![0];
			const n = dims[0] * dims[1];
			for (let p = 0; p < n; p++) {
				expect(Math.min(b[4 * p + 2], b[4 * p + 3])).toBeGreaterThanOrEqual(14);
				for (let q = p + 1; q < n; q++) {
					const apart = b[4 * p] + b[4 * p + 2] <= b[4 * q] || b[4 * q] + b[4 * q + 2] <= b[4 * p]
						|| b[4 * p + 1] + b[4 * p + 3] <= b[4 * q + 1] || b[4 * q + 1] + b[4 * q + 3] <= b[4 * p + 1];
					expect(apart).toBe(true);
				}
			}
			// the first and last input's boxes are at the top and the bottom, as their nodes
			expect(b[1]).toBeLessThan(lay.nodeY[0][1]);
			expect(b[4 * (n - 1) + 1] + b[4 * (n - 1) + 3]).toBeGreaterThan(lay.nodeY[0][dims[0] - 2]);
		}
	});

	it("picks the grid that makes the boxes largest", () => {
		const one = boxGrid(5, 400, 500);
		expect(one.cols).toBe(1);
		const g = boxGrid(300, 400, 528);
		expect(g.cols * g.rows).toBeGreaterThanOrEqual(300);
		for (const cols of [g.cols - 2, g.cols + 2]) {
			const rows = Math.ceil(300 / cols);
			const h = Math.min((528 / rows) * 0.78, 44);
			const w = Math.min(((400 * 0.72) / cols) * 0.86, h * 1.7, 84);
			expect(Math.min(w, h)).toBeLessThanOrEqual(Math.min(g.w, g.h) + 0.25);
		}
	});

	it("gives every present edge its own non-overlapping box, absent edges none", () => {
		const dims = [2, 5, 1];
		const masks = ones(dims);
		masks[0][3] = 0;
		const lay = computeLayout(dims, masks, { width: 800 });
		const b = lay.boxes![0];
		expect(Number.isNaN(b[4 * 3])).toBe(true);
		for (let p = 0; p < 10; p++) {
			for (let q = p + 1; q < 10; q++) {
				if (p === 3 || q === 3) continue;
				const apart = b[4 * p] + b[4 * p + 2] <= b[4 * q] || b[4 * q] + b[4 * q + 2] <= b[4 * p]
					|| b[4 * p + 1] + b[4 * p + 3] <= b[4 * q + 1] || b[4 * q + 1] + b[4 * q + 3] <= b[4 * p + 1];
				expect(apart).toBe(true);
			}
		}
	});

	it("hides hidden nodes without a present edge in or out", () => {
		const dims = [2, 3, 1];
		const masks = ones(dims);
		masks[0][0 * 3 + 1] = 0;
		masks[0][1 * 3 + 1] = 0; // nothing comes into hidden node 1
		masks[1][2] = 0; // nothing leaves hidden node 2
		const alive = aliveNodes(dims, masks);
		expect(Array.from(alive[1])).toEqual([1, 0, 0]);
		expect(Array.from(alive[0])).toEqual([1, 1]);
	});
});

describe("edgeCurve", () => {
	const dims = [2, 3, 1];
	const n = 5;
	const ys = Float32Array.from({ length: 2 * 3 * n }, (_, k) => k % n); // rising lines

	it("inline: runs from the input node to the output node through the plot", () => {
		const lay = computeLayout(dims, ones(dims), { width: 800, mode: "inline" });
		const out = new Float32Array(2 * (n + 2));
		const cnt = edgeCurve(lay, 0, 1, 2, ys, n, n, out);
		expect(cnt).toBe(n + 2);
		expect([out[0], out[1]]).toEqual([lay.colX[0], lay.nodeY[0][1]]);
		expect([out[2 * (cnt - 1)], out[2 * cnt - 1]]).toEqual([lay.colX[1], lay.nodeY[1][2]]);
		// the plot spans T0..T1 of the way and swings at most amp across the line
		const ax = lay.colX[0];
		const dx = lay.colX[1] - ax;
		expect(out[2]).toBeCloseTo(ax + dx * T0 - 0, -1);
		expect(out[2 * n]).toBeCloseTo(ax + dx * T1, -1);
	});

	it("inline: a flat or missing curve is a straight line", () => {
		const lay = computeLayout(dims, ones(dims), { width: 800, mode: "inline" });
		const out = new Float32Array(2 * (n + 2));
		const cnt = edgeCurve(lay, 0, 0, 0, null, n, n, out);
		const [ax, ay, bx, by] = [out[0], out[1], out[2 * (cnt - 1)], out[2 * cnt - 1]];
		for (let p = 0; p < cnt; p++) {
			const cross = (out[2 * p] - ax) * (by - ay) - (out[2 * p + 1] - ay) * (bx - ax);
			expect(Math.abs(cross)).toBeLessThan(1e-2 * Math.hypot(bx - ax, by - ay));
		}
	});

	it("boxes: stays inside the box, higher phi drawn higher", () => {
		const lay = computeLayout(dims, ones(dims), { width: 800 });
		expect(lay.mode).toBe("boxes");
		const out = new Float32Array(2 * n);
		const cnt = edgeCurve(lay, 0, 1, 1, ys, n, n, out);
		const b = lay.boxes![0];
		const k = 1 * 3 + 1;
		for (let p = 0; p < cnt; p++) {
			expect(out[2 * p]).toBeGreaterThanOrEqual(b[4 * k]);
			expect(out[2 * p]).toBeLessThanOrEqual(b[4 * k] + b[4 * k + 2]);
			expect(out[2 * p + 1]).toBeGreaterThanOrEqual(b[4 * k + 1]);
			expect(out[2 * p + 1]).toBeLessThanOrEqual(b[4 * k + 1] + b[4 * k + 3]);
		}
		expect(out[2 * (cnt - 1) + 1]).toBeLessThan(out[1]); // rising line: last point higher on screen
	});

	it("decimates to maxPts samples", () => {
		const lay = computeLayout(dims, ones(dims), { width: 800, mode: "inline" });
		const out = new Float32Array(2 * (n + 2));
		expect(edgeCurve(lay, 0, 0, 0, ys, n, 3, out)).toBe(3 + 2);
	});
});

describe("edgeAt", () => {
	it("finds the edge under a point, prefers visible ones, ignores absent ones", () => {
		const dims = [2, 2, 1];
		const masks = ones(dims);
		const lay = computeLayout(dims, masks, { width: 800, mode: "inline" });
		const mid = (l: number, i: number, j: number): [number, number] => [
			(lay.colX[l] + lay.colX[l + 1]) / 2, (lay.nodeY[l][i] + lay.nodeY[l + 1][j]) / 2,
		];
		expect(edgeAt(lay, masks, ...mid(1, 1, 0))).toEqual([1, 1, 0]);
		expect(edgeAt(lay, masks, ...mid(0, 0, 0))).toEqual([0, 0, 0]);
		expect(edgeAt(lay, masks, 1, 1)).toBeNull();
		masks[1][1] = 0;
		expect(edgeAt(lay, masks, ...mid(1, 1, 0))).toBeNull();
	});

	it("in boxes mode, a click in a box selects its edge", () => {
		const dims = [2, 5, 1];
		const lay = computeLayout(dims, ones(dims), { width: 800 });
		const b = lay.boxes![0];
		const k = 1 * 5 + 3;
		expect(edgeAt(lay, null, b[4 * k] + 3, b[4 * k + 1] + 3)).toEqual([0, 1, 3]);
	});
});
