// @vitest-environment jsdom
import { describe, expect, it, vi } from "vitest";
import { frames, mount, useFakeFrames } from "./test_util";
import { partLines, plotPhi } from "./inspector";

useFakeFrames();

describe("feature score bars and the input-threshold preview", () => {
	it("draws one bar per input, longest for the top score", async () => {
		const { el } = await mount([3, 4, 1], { feature_scores: [0.9, 0.001, 0.45] });
		const bars = [...el.querySelectorAll<HTMLElement>(".kan-feature-bar")];
		expect(bars.map((b) => b.dataset.input)).toEqual(["0", "1", "2"]);
		const w = bars.map((b) => parseFloat(b.style.width));
		expect(w[0]).toBeGreaterThan(w[2]);
		expect(w[2]).toBeCloseTo(w[0] / 2, 1);
		expect(bars.every((b) => b.dataset.drop === "0")).toBe(true); // no preview until it moves
	});

	it("marks what Prune inputs would drop while the threshold moves, then fades", async () => {
		const { q, el, model } = await mount([3, 4, 1], { feature_scores: [0.9, 0.001, 0.45] });
		const box = q<HTMLInputElement>('input[aria-label="input threshold value"]')!;
		box.value = "0.5";
		box.dispatchEvent(new Event("change"));
		await frames();
		const dropped = () => [...el.querySelectorAll<HTMLElement>('.kan-feature-bar[data-drop="1"]')].map((b) => b.dataset.input);
		expect(dropped()).toEqual(["1", "2"]);
		expect(q(".kan-input-preview")!.textContent).toBe("Prune inputs would drop x2, x3");
		expect(model.get("input_theta")).toBe(0.5);
		await vi.advanceTimersByTimeAsync(4000);
		expect(dropped()).toEqual([]);
		expect(q(".kan-input-preview")!.textContent).toBe("");
		// new scores from the kernel move the bars; a width change without new scores hides them
		model.push({ feature_scores: [0.1, 0.2, 0.3] });
		await frames();
		expect(el.querySelectorAll(".kan-feature-bar").length).toBe(3);
	});

	it("Prune inputs and Start from formula send their commands", async () => {
		const { q, model } = await mount([2, 3, 1], { feature_scores: [0.5, 0.2] });
		q<HTMLButtonElement>(".kan-btn-prune_input")!.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "prune_input" });
		const box = q<HTMLInputElement>('input[aria-label="formula"]')!;
		box.value = "  exp(sin(pi*x1) + x2^2) ";
		q<HTMLButtonElement>(".kan-btn-start_formula")!.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "start_formula", formula: "exp(sin(pi*x1) + x2^2)" });
		box.value = "  ";
		(model.send as ReturnType<typeof vi.fn>).mockClear();
		q<HTMLButtonElement>(".kan-btn-start_formula")!.click();
		expect(model.send).not.toHaveBeenCalled(); // nothing typed, nothing sent
	});
});

describe("inspector: SiLU and spline parts, Remove edge", () => {
	const points = { x: Float32Array.from([-1, 0, 1]), y: Float32Array.from([0.5, 1, 2.5]) };
	const parts = { baseFun: "silu", base: Float32Array.from([-0.3, 0, 0.7]), spline: Float32Array.from([0.8, 1, 1.8]) };

	it("partLines pairs each part with the points' x", () => {
		expect(partLines(points, parts)).toEqual({ base: [[-1, Math.fround(-0.3)], [0, 0], [1, Math.fround(0.7)]], spline: [[-1, Math.fround(0.8)], [0, 1], [1, Math.fround(1.8)]] });
		expect(partLines(points, null)).toBeNull();
		expect(partLines(points, { ...parts, base: Float32Array.from([1]) })).toBeNull();
	});

	it("draws both parts beside phi", () => {
		const svg = plotPhi(document, null, points, parts);
		expect(svg.querySelector(".kan-part-base")!.getAttribute("d")).toMatch(/^M[\d.]+,[\d.]+L/);
		expect(svg.querySelector(".kan-part-spline")).not.toBeNull();
		expect(plotPhi(document, null, points, null).querySelector(".kan-part-base")).toBeNull();
	});

	it("shows the parts' legend and sends remove_edge", async () => {
		const { q, model } = await mount([2, 3, 1]);
		const pts = new Float32Array([-1, 0, 1, 0.5, 1, 2.5]);
		model.push({
			inspector: {
				edge: [0, 1, 2], score: 0.3, symbolic: null, candidates: [], points: 3,
				parts: { base_fun: "silu", base: [-0.3, 0, 0.7], spline: [0.8, 1, 1.8] },
			},
			inspector_points: new DataView(pts.buffer),
		});
		await frames();
		expect(q(".kan-part-legend")!.textContent).toContain("SiLU part");
		expect(q(".kan-inspector .kan-part-spline")).not.toBeNull();
		q<HTMLButtonElement>(".kan-remove-edge")!.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "remove_edge", l: 0, i: 1, j: 2 });
	});
});
