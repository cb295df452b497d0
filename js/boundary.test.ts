// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { boundaryPixels, ClassPanel, classColor, confusionAccuracy, decodeClassPoints, nodePixels, toCanvas } from "./boundary";
import { parseClassInfo } from "./decode";
import { parseStatus } from "./decode";
import { statusText } from "./status";

const f32 = (a: number[]) => new DataView(new Float32Array(a).buffer);

describe("decision boundary colours", () => {
	it("is white at chance, the class colour (scaled) at certainty, top row = highest input", () => {
		// grid 2, two classes; rows from the bottom: [p0, p1] per cell
		const probs = new Float32Array([0.5, 0.5, 1, 0, 0, 1, 0.75, 0.25]);
		const px = boundaryPixels(probs, 2, 2, false);
		expect(px).not.toBeNull();
		const at = (row: number, col: number) => Array.from((px as Uint8ClampedArray).slice((row * 2 + col) * 4, (row * 2 + col) * 4 + 4));
		// bottom-left cell (probs row 0, col 0) is the canvas's bottom row, first column: chance -> white
		expect(at(1, 0)).toEqual([255, 255, 255, 255]);
		// bottom-right: class 0 certain -> 65% of the way to orange
		const [r, g, b] = classColor(0);
		expect(at(1, 1)).toEqual([Math.round(255 * 0.35 + r * 0.65), Math.round(255 * 0.35 + g * 0.65), Math.round(255 * 0.35 + b * 0.65), 255]);
		// top-right: class 0 at 0.75 -> half strength
		expect(at(0, 1)[0]).toBe(Math.round(255 * (1 - 0.325) + r * 0.325));
		// discretize: full strength wherever a class wins
		const d = boundaryPixels(probs, 2, 2, true) as Uint8ClampedArray;
		expect(Array.from(d.slice(12, 16))).toEqual(Array.from((px as Uint8ClampedArray).slice(12, 16)));
		expect(d[0]).toBe(Math.round(255 * 0.35 + classColor(1)[0] * 0.65)); // top-left: class 1
	});

	it("refuses a buffer of the wrong size and takes the most likely of k classes", () => {
		expect(boundaryPixels(new Float32Array(3), 2, 2, false)).toBeNull();
		const px = boundaryPixels(new Float32Array([0.1, 0.2, 0.7]), 1, 3, false) as Uint8ClampedArray;
		const t = ((0.7 - 1 / 3) / (2 / 3)) * 0.65;
		expect(px[0]).toBe(Math.round(255 * (1 - t) + classColor(2)[0] * t));
	});

	it("maps the input square onto the canvas with y upwards", () => {
		const info = { lo: [-1, -2], hi: [1, 2] };
		expect(toCanvas(-1, -2, info, 200)).toEqual([0, 200]);
		expect(toCanvas(1, 2, info, 200)).toEqual([200, 0]);
		expect(toCanvas(0, 0, info, 200)).toEqual([100, 100]);
	});

	it("decodes points and confusion matrices", () => {
		const p = decodeClassPoints(f32([0.1, 0.2, 1, 0, 0.3, 0.4, 0, 1]));
		expect(Array.from(p.cls)).toEqual([1, 0]);
		expect(Array.from(p.split)).toEqual([0, 1]);
		expect(decodeClassPoints(f32([1, 2, 3])).x.length).toBe(0);
		expect(confusionAccuracy([[3, 1], [0, 4]])).toBe(0.875);
		expect(confusionAccuracy([[0, 0], [0, 0]])).toBeNull();
	});
});

describe("node pictures", () => {
	it("diverge from white at 0 to orange below and blue above, scaled by the node's max |value|", () => {
		// g = 2, rows from the bottom: [-2, 0], [1, 2]
		const px = nodePixels(new Float32Array([-2, 0, 1, 2]), 2) as Uint8ClampedArray;
		const at = (row: number, col: number) => Array.from(px.slice((row * 2 + col) * 4, (row * 2 + col) * 4 + 3));
		expect(at(1, 0)).toEqual(classColor(0)); // bottom-left: -2 = -max -> full orange
		expect(at(1, 1)).toEqual([255, 255, 255]); // 0 -> white
		expect(at(0, 1)).toEqual(classColor(1)); // top-right: +max -> full blue
		const b = classColor(1);
		expect(at(0, 0)).toEqual(b.map((v) => Math.round(255 * 0.5 + v * 0.5)));
		expect(nodePixels(new Float32Array(3), 2)).toBeNull();
		expect(Array.from(nodePixels(new Float32Array(4), 2) as Uint8ClampedArray).slice(0, 3)).toEqual([255, 255, 255]);
	});
});

describe("class panel", () => {
	it("shows a confusion matrix for more than two inputs, nothing for a regression", () => {
		const panel = new ClassPanel(document);
		const info = parseClassInfo({ problem: "classification", classes: 2, n_in: 4, grid: 0, lo: [], hi: [], in_vars: ["a", "b", "c", "d"], confusion: { test: [[5, 1], [0, 4]] } });
		panel.update(info, null, null);
		expect(panel.element.hidden).toBe(false);
		expect(panel.element.textContent).toContain("test (accuracy 90.0%)");
		panel.update(parseClassInfo({ ...info, problem: "regression" }), null, null);
		expect(panel.element.hidden).toBe(true);
		expect(parseClassInfo({ classes: 2, n_in: 2, grid: 4, lo: [0], hi: [1] })).toBeNull();
	});

	it("status line shows accuracies for a classification", () => {
		const s = parseStatus({ problem: "classification", step: 3, train_acc: 0.9876, test_acc: 0.5, train_loss: 0.1, test_loss: 0.2, n_train: 10, n_test: 5 });
		expect(statusText(s)).toContain("train acc 98.8% · test acc 50.0% · cross-entropy 0.1 / 0.2 (train / test)");
	});
});
