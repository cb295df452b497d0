import { describe, expect, it } from "vitest";
import { barFractions, inputPlan, inputPreviewText, parseFeatures } from "./attribution";

describe("input attribution", () => {
	it("parses the trait, null as NaN", () => {
		expect(parseFeatures([0.5, null, 2])).toEqual([0.5, NaN, 2]);
		expect(parseFeatures({})).toEqual([]);
	});

	it("keeps an input iff its score > threshold (prune_input's rule)", () => {
		const plan = inputPlan([0.9, 0.001, 0.4, 0.01], 0.01);
		expect(plan && Array.from(plan.keep)).toEqual([1, 0, 1, 0]); // 0.01 is not > 0.01
		expect(plan?.dropped).toBe(2);
		expect(inputPreviewText(plan, ["a", "b", "c", "d"])).toBe("Prune inputs would drop b, d");
		expect(inputPreviewText(inputPlan([0.9, 0.5], 0.01), ["a", "b"])).toBe("Prune inputs would keep every input");
		expect(inputPreviewText(inputPlan([0.9, 0.5], 1), ["a", "b"])).toMatch(/lower it/);
		expect(inputPlan([], 0.01)).toBeNull();
	});

	it("compares in float32 as torch does", () => {
		// 0.1 as float32 is 0.100000001490116: a score of exactly float32(0.1) is not kept at 0.1
		expect(inputPlan([Math.fround(0.1)], 0.1)?.kept).toBe(0);
		expect(inputPlan([NaN], 0)?.kept).toBe(0);
	});

	it("bars are fractions of the largest score", () => {
		expect(barFractions([2, 1, 0, NaN])).toEqual([1, 0.5, 0, 0]);
		expect(barFractions([0, 0])).toEqual([0, 0]);
	});
});
