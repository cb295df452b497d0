import { describe, expect, it } from "vitest";
import {
	asF32, asU8, decodeCurves, decodePoints, decodeState, expectedSizes, parseFormula, parseInspector,
	parseStatus, parseStructure, splitEdges,
} from "./decode";
import { statusText } from "./status";
import { synthTraits } from "./test_util";

describe("asF32 / asU8", () => {
	it("views a DataView in place, honouring byteOffset and byteLength (a window into a larger buffer)", () => {
		const backing = new Float32Array([9, 1, 2, 3, 9]);
		const v = new DataView(backing.buffer, 4, 12);
		const f = asF32(v);
		expect(Array.from(f)).toEqual([1, 2, 3]);
		expect(f.buffer).toBe(backing.buffer); // no copy
	});

	it("copies when the offset is not 4-aligned", () => {
		const bytes = new Uint8Array(13);
		new DataView(bytes.buffer).setFloat32(1, 1.5, true);
		new DataView(bytes.buffer).setFloat32(5, -2, true);
		expect(Array.from(asF32(new DataView(bytes.buffer, 1, 8)))).toEqual([1.5, -2]);
	});

	it("accepts ArrayBuffer and typed arrays; anything else is empty", () => {
		expect(Array.from(asF32(new Float32Array([4, 5]).buffer))).toEqual([4, 5]);
		expect(Array.from(asU8(new Uint8Array([1, 0, 1])))).toEqual([1, 0, 1]);
		expect(asF32(null).length).toBe(0);
		expect(asF32({}).length).toBe(0);
		expect(asU8("nope").length).toBe(0);
	});

	it("drops a trailing partial float", () => {
		expect(asF32(new DataView(new ArrayBuffer(10))).length).toBe(2);
	});
});

describe("parseStructure", () => {
	const good = {
		version: 3, width: [2, 3, 1], in_vars: ["x", "y"], out_vars: ["f"], n_points: 5,
		layers: [{ in: 2, out: 3, sym: [[0, 1, "sin"], [5, 0, "bad"]] }, { in: 3, out: 1, sym: [] }],
	};

	it("keeps a consistent structure and drops out-of-range symbolic entries", () => {
		const s = parseStructure(good)!;
		expect(s.width).toEqual([2, 3, 1]);
		expect(s.layers[0].sym).toEqual([[0, 1, "sin"]]);
		expect(s.in_vars).toEqual(["x", "y"]);
		expect(s.version).toBe(3);
	});

	it("returns null for {} and for inconsistent layers", () => {
		expect(parseStructure({})).toBeNull();
		expect(parseStructure(null)).toBeNull();
		expect(parseStructure({ ...good, layers: [good.layers[0]] })).toBeNull();
		expect(parseStructure({ ...good, width: [2, 0, 1] })).toBeNull();
		expect(parseStructure({ ...good, layers: [{ in: 2, out: 4, sym: [] }, good.layers[1]] })).toBeNull();
	});

	it("fills in missing variable names", () => {
		const s = parseStructure({ ...good, in_vars: ["a"], out_vars: undefined })!;
		expect(s.in_vars).toEqual(["a", "x2"]);
		expect(s.out_vars).toEqual(["y1"]);
	});
});

describe("curves, scores, masks", () => {
	it("matches Python's expected_sizes", () => {
		// [2,5,1], n=3: curves 4*((2*3 + 10*3) + (5*3 + 5*3)) = 264; 15 edges
		expect(expectedSizes([2, 5, 1], 3)).toEqual({ curves: 264, scores: 60, masks: 15 });
	});

	it("splits curves per layer into xs [in, n] then ys [in, out, n]", () => {
		const s = parseStructure({ width: [2, 3], n_points: 2, layers: [{ in: 2, out: 3, sym: [] }] })!;
		const flat = Float32Array.from({ length: 2 * 2 + 6 * 2 }, (_, k) => k);
		const c = decodeCurves(flat, s)!;
		expect(Array.from(c[0].xs)).toEqual([0, 1, 2, 3]);
		expect(c[0].ys.length).toBe(12);
		// edge (i=1, j=2) is at (1*3+2)*2 within ys
		expect(c[0].ys[(1 * 3 + 2) * 2]).toBe(4 + 10);
		expect(decodeCurves(flat.subarray(1), s)).toBeNull();
	});

	it("splits per-edge arrays row-major per layer", () => {
		const parts = splitEdges(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 3])!;
		expect(parts.map((p) => p.length)).toEqual([2, 6]);
		expect(Array.from(parts[1])).toEqual([3, 4, 5, 6, 7, 8]);
		expect(splitEdges(new Float32Array(5), [2, 3])).toBeNull();
	});

	it("decodes a whole synthetic state, with symbolic names per edge", () => {
		const t = synthTraits([2, 5, 1], { n: 7, sym: [[1, 3, 0, "x^2"]] });
		const st = decodeState(t.structure, t.curves, t.scores, t.masks)!;
		expect(st.curves).not.toBeNull();
		expect(st.curves![1].ys.length).toBe(5 * 1 * 7);
		expect(st.scores!.map((s) => s.length)).toEqual([10, 5]);
		expect(st.masks.map((s) => s.length)).toEqual([10, 5]);
		expect(st.sym[1][3]).toBe("x^2");
		expect(st.sym[0].every((x) => x === null)).toBe(true);
	});

	it("tolerates missing or mismatched buffers", () => {
		const t = synthTraits([2, 3, 1], { n: 4 });
		const st = decodeState(t.structure, null, new DataView(new ArrayBuffer(8)), null)!;
		expect(st.curves).toBeNull();
		expect(st.scores).toBeNull();
		expect(st.masks.every((m) => m.every((x) => x === 1))).toBe(true);
		expect(decodeState({}, null, null, null)).toBeNull();
	});
});

describe("status, formula, inspector", () => {
	it("fills status defaults and normalises empty errors", () => {
		const s = parseStatus({ running: true, step: 12, train_loss: 0.5, error: "" });
		expect(s).toMatchObject({ running: true, step: 12, train_loss: 0.5, test_loss: null, error: null, can_undo: false });
		expect(parseStatus(undefined).step).toBe(0);
		expect(parseStatus(undefined).busy).toBeNull();
		expect(parseStatus({ busy: "symbolifying" }).busy).toBe("symbolifying");
	});

	it("shows a busy command in the status line", () => {
		expect(statusText(parseStatus({ busy: "symbolifying", step: 3 }))).toMatch(/^symbolifying… · step 3/);
		expect(statusText(parseStatus({ running: true }))).toMatch(/^running · /);
		expect(statusText(parseStatus({}))).toMatch(/^paused · /);
	});

	it("parses the formula", () => {
		expect(parseFormula({ latex: "x^2", text: "x**2", complete: true })).toEqual({ latex: "x^2", text: "x**2", complete: true });
		expect(parseFormula({})).toEqual({ latex: "", text: "", complete: false });
	});

	it("parses the inspector and its points", () => {
		expect(parseInspector({})).toBeNull();
		const info = parseInspector({
			edge: [0, 1, 2], score: 0.3, symbolic: null, points: 3,
			candidates: [{ name: "sin", r2: 0.99, complexity: 2 }, { bogus: 1 }],
		})!;
		expect(info.edge).toEqual([0, 1, 2]);
		expect(info.candidates).toEqual([{ name: "sin", r2: 0.99, complexity: 2 }]);
		const p = decodePoints(new DataView(Float32Array.from([1, 2, 3, 10, 20, 30]).buffer));
		expect(Array.from(p.x)).toEqual([1, 2, 3]);
		expect(Array.from(p.y)).toEqual([10, 20, 30]);
	});
});
