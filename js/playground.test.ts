// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { dataLabel, editShape, render, widthText } from "./playground";

function fakeModel(init: Record<string, unknown>) {
	const state: Record<string, unknown> = { ...init };
	const handlers: Record<string, (() => void)[]> = {};
	const sent: unknown[] = [];
	return {
		state,
		sent,
		get: (k: string) => state[k],
		set: (k: string, v: unknown) => {
			state[k] = v;
		},
		save_changes: () => undefined,
		send: (msg: unknown) => sent.push(msg),
		on: (ev: string, fn: () => void) => (handlers[ev] ??= []).push(fn),
		off: () => undefined,
		fire: (ev: string) => (handlers[ev] ?? []).forEach((f) => f()),
	};
}

const base = {
	data: "circle", formula: "x*y", noise: 0, train_ratio: 0.5, n_samples: 500, data_seed: 0, hidden: [5], grid: 5, k: 3, seed: 0,
	hide: [], error: "", message: "", options: { datasets: ["circle", "spiral", "formula", "toy_xy"], toy: { toy_xy: "x*y" }, max_layers: 2, max_nodes: 3 },
};

describe("playground shape edits", () => {
	it("adds and removes layers and nodes within the limits", () => {
		expect(editShape([5], { kind: "add_layer" })).toEqual([5, 5]);
		expect(editShape([], { kind: "add_layer" })).toEqual([2]);
		expect(editShape([5, 5], { kind: "add_layer" }, 2)).toEqual([5, 5]);
		expect(editShape([5, 3], { kind: "remove_layer" })).toEqual([5]);
		expect(editShape([5, 3], { kind: "add_node", layer: 1 })).toEqual([5, 4]);
		expect(editShape([1], { kind: "remove_node", layer: 0 })).toEqual([1]);
		expect(editShape([8], { kind: "add_node", layer: 0 }, 4, 8)).toEqual([8]);
		expect(widthText([5, 5])).toBe("[2, 5, 5, 1]");
		expect(dataLabel("toy_xy", { toy_xy: "x*y" })).toBe("KAN paper: x*y");
		expect(dataLabel("gauss")).toBe("two Gaussians");
	});

	it("writes the traits the user changes and hides what a lesson hides", () => {
		const m = fakeModel(base);
		const el = document.createElement("div");
		const dispose = render({ model: m as never, el });
		const sel = el.querySelector<HTMLSelectElement>('[aria-label="data set"]')!;
		expect([...sel.options].map((o) => o.value)).toEqual(["circle", "spiral", "formula", "toy_xy"]);
		sel.value = "spiral";
		sel.dispatchEvent(new Event("change"));
		expect(m.state.data).toBe("spiral");
		el.querySelector<HTMLButtonElement>('[aria-label="add a hidden layer"]')!.click();
		expect(m.state.hidden).toEqual([5, 5]);
		m.fire("change:hidden");
		el.querySelector<HTMLButtonElement>('[aria-label="add a hidden layer"]')!.click();
		expect(m.state.hidden).toEqual([5, 5]); // max_layers 2
		const f = el.querySelector<HTMLInputElement>('[aria-label="formula"]')!;
		f.value = "x^2";
		f.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
		expect(m.state.formula).toBe("x^2");
		el.querySelector<HTMLButtonElement>(".kan-pg-regenerate")!.click();
		expect(m.sent).toEqual([{ type: "regenerate" }]);
		m.state.hide = ["shape", "noise"];
		m.state.error = "bad formula";
		m.fire("change:hide");
		expect(el.querySelector<HTMLElement>("fieldset:nth-of-type(2)")!.hidden).toBe(true);
		expect(el.querySelector<HTMLElement>(".kan-pg-noise")!.hidden).toBe(true);
		expect(el.querySelector<HTMLElement>(".kan-pg-error")!.textContent).toBe("bad formula");
		dispose();
	});
});
