// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { acceptValue, clampValue, Controls, DEBOUNCE_MS, fmt, fromPosition, POSITIONS, toPosition } from "./controls";
import { parseSpec, parseStatus } from "./decode";
import { SPEC } from "./fixtures/spec";
import { fakeModel, widgetState } from "./test_util";

const SLIDERS = parseSpec(SPEC).sliders;
const spec = (label: string) => SLIDERS.find((s) => s.label === label)!;

function setup() {
	const model = fakeModel(widgetState([2, 3, 1]));
	const onLive = vi.fn();
	const onDownload = vi.fn();
	const c = new Controls(document, { model, onLive, onDownload });
	document.body.replaceChildren(c.toolbar, c.panel);
	const q = <T extends Element>(sel: string) => document.querySelector<T & Element>(sel)!;
	return { model, c, onLive, onDownload, q };
}

function drag(input: HTMLInputElement, pos: number) {
	input.value = String(pos);
	input.dispatchEvent(new Event("input", { bubbles: true }));
}

describe("slider scales", () => {
	it("log0: position 0 is 0, the ends are min and max, round trip", () => {
		const s = spec("lambda");
		expect(fromPosition(s, 0)).toBe(0);
		expect(fromPosition(s, 1)).toBe(1e-5);
		expect(fromPosition(s, POSITIONS)).toBe(1);
		for (const v of [1e-5, 1e-4, 0.01, 0.5, 1]) {
			expect(fromPosition(s, toPosition(s, v)) / v).toBeCloseTo(1, 1);
		}
		expect(toPosition(s, 0)).toBe(0);
		expect(toPosition(s, 1e-9)).toBe(1);
	});

	it("log (beta 0.1..100) and linear (mu1 0..10)", () => {
		expect(fromPosition(spec("beta"), 0)).toBe(0.1);
		expect(fromPosition(spec("beta"), POSITIONS)).toBe(100);
		expect(fromPosition(spec("beta"), toPosition(spec("beta"), 3))).toBeCloseTo(3, 1);
		expect(fromPosition(spec("mu1"), POSITIONS / 2)).toBe(5);
		expect(toPosition(spec("mu1"), 2.5)).toBe(POSITIONS / 4);
	});

	it("clamps typed values into range", () => {
		expect(clampValue(spec("theta"), 5)).toBe(1);
		expect(clampValue(spec("theta"), -1)).toBe(0);
		expect(clampValue(spec("beta"), 0)).toBe(0.1);
	});

	it("formats numbers briefly", () => {
		expect(fmt(0.01)).toBe("0.01");
		expect(fmt(3)).toBe("3");
		expect(fmt(1.5e-5)).toBe("1.50e-5");
		expect(fmt(null)).toBe("–");
	});
});

describe("Controls", () => {
	beforeEach(() => vi.useFakeTimers());
	afterEach(() => vi.useRealTimers());

	it("gives every control an accessible name and suppresses JupyterLab shortcuts", () => {
		const { c } = setup();
		for (const label of ["lambda", "mu1", "mu2", "theta", "input threshold", "beta"]) {
			const range = document.querySelector<HTMLInputElement>(`input[type=range][aria-label="${label}"]`);
			expect(range, label).not.toBeNull();
			expect(document.querySelector(`input[type=number][aria-label="${label} value"]`), label).not.toBeNull();
		}
		for (const label of ["steps", "optimizer", "learning rate", "grid"]) {
			expect(document.querySelector(`[aria-label="${label}"]`), label).not.toBeNull();
		}
		const texts = [...document.querySelectorAll("button")].map((b) => b.textContent);
		expect(texts).toEqual([
			"Train", "Step", "Reset", "Prune", "Prune inputs", "Refine", "Symbolify", "Discover", "Undo", "Redo", "Back to best",
			"Start from formula", "Download SVG", "Download PNG",
		]);
		for (const e of document.querySelectorAll("input, select, button")) {
			expect(e.getAttribute("data-lm-suppress-shortcuts"), e.outerHTML).toBe("true");
		}
		c.dispose();
	});

	it("shows the model's values", () => {
		const { q } = setup();
		expect(q<HTMLInputElement>('[aria-label="lambda value"]').value).toBe("0.01");
		expect(q<HTMLInputElement>('[aria-label="beta value"]').value).toBe("3");
		expect(Number(q<HTMLInputElement>('[aria-label="theta"]').value)).toBe(toPosition(spec("theta"), 0.01));
		expect(q<HTMLInputElement>('[aria-label="steps"]').value).toBe("50");
		expect(q<HTMLSelectElement>('[aria-label="optimizer"]').value).toBe("LBFGS");
	});

	it("debounces a drag: live value at once, one model.set + save_changes after the pause", () => {
		const { model, onLive, q } = setup();
		const range = q<HTMLInputElement>('[aria-label="lambda"]');
		drag(range, 350);
		drag(range, 355);
		drag(range, 360);
		const v = fromPosition(spec("lambda"), 360);
		expect(onLive).toHaveBeenLastCalledWith("lamb", v);
		expect(q<HTMLInputElement>('[aria-label="lambda value"]').value).toBe(String(v));
		expect(model.save_changes).not.toHaveBeenCalled();
		vi.advanceTimersByTime(DEBOUNCE_MS - 10);
		expect(model.save_changes).not.toHaveBeenCalled();
		vi.advanceTimersByTime(20);
		expect(model.set).toHaveBeenCalledTimes(1);
		expect(model.set).toHaveBeenCalledWith("lamb", v);
		expect(model.save_changes).toHaveBeenCalledTimes(1);
		expect(model.get("lamb")).toBe(v);
	});

	it("commits at once when the drag ends", () => {
		const { model, q } = setup();
		const range = q<HTMLInputElement>('[aria-label="theta"]');
		drag(range, 400);
		range.dispatchEvent(new Event("change", { bubbles: true }));
		expect(model.set).toHaveBeenCalledWith("theta", fromPosition(spec("theta"), 400));
		expect(model.save_changes).toHaveBeenCalledTimes(1);
		vi.advanceTimersByTime(1000);
		expect(model.save_changes).toHaveBeenCalledTimes(1);
	});

	it("takes typed values, clamped, and ignores garbage", () => {
		const { model, q } = setup();
		const num = q<HTMLInputElement>('[aria-label="mu2 value"]');
		num.value = "4.25";
		num.dispatchEvent(new Event("change"));
		expect(model.get("lamb_entropy")).toBe(4.25);
		expect(q<HTMLInputElement>('[aria-label="mu2"]').value).toBe(String(toPosition(spec("mu2"), 4.25)));
		num.value = "99";
		num.dispatchEvent(new Event("change"));
		expect(model.get("lamb_entropy")).toBe(10);
		num.value = "";
		num.dispatchEvent(new Event("change"));
		expect(model.get("lamb_entropy")).toBe(10);
		expect(model.save_changes).toHaveBeenCalledTimes(2);
	});

	it("builds the batch size box from the spec: -1 (every row) or a count, never 0", () => {
		const { model, q } = setup();
		model.state.batch = -1;
		const box = q<HTMLInputElement>('[aria-label="batch size"]');
		expect(box).not.toBeNull();
		expect(box.min).toBe("-1");
		box.value = "64";
		box.dispatchEvent(new Event("change"));
		expect(model.get("batch")).toBe(64);
		box.value = "0"; // means nothing: not written, the box shows the value again
		box.dispatchEvent(new Event("change"));
		expect(model.get("batch")).toBe(64);
		expect(box.value).toBe("64");
		const p = parseSpec(SPEC).params.find((x) => x.name === "batch")!;
		expect(p.kind !== "choice" && acceptValue(p, "0")).toBeNull();
		expect(p.kind !== "choice" && acceptValue(p, "-1")).toBe(-1);
	});

	it("writes steps, optimizer and learning rate", () => {
		const { model, q } = setup();
		const steps = q<HTMLInputElement>('[aria-label="steps"]');
		steps.value = "120.4";
		steps.dispatchEvent(new Event("change"));
		expect(model.get("steps")).toBe(120);
		const opt = q<HTMLSelectElement>('[aria-label="optimizer"]');
		opt.value = "Adam";
		opt.dispatchEvent(new Event("change"));
		expect(model.get("opt")).toBe("Adam");
		const lr = q<HTMLInputElement>('[aria-label="learning rate"]');
		lr.value = "0.001";
		lr.dispatchEvent(new Event("change"));
		expect(model.get("lr")).toBe(0.001);
		lr.value = "-1";
		lr.dispatchEvent(new Event("change"));
		expect(model.get("lr")).toBe(0.001);
		expect(lr.value).toBe("0.001");
		expect(model.save_changes).toHaveBeenCalledTimes(3);
	});

	it("follows trait changes from Python, but not over a drag in progress", () => {
		const { model, c, q } = setup();
		const range = q<HTMLInputElement>('[aria-label="beta"]');
		model.push({ beta: 10 });
		c.sync("beta");
		expect(range.value).toBe(String(toPosition(spec("beta"), 10)));
		drag(range, 100);
		model.push({ beta: 50 });
		c.sync("beta");
		expect(range.value).toBe("100");
		expect(q<HTMLInputElement>('[aria-label="beta value"]').value).toBe(String(fromPosition(spec("beta"), 100)));
	});

	it("Train becomes Pause while running; buttons send commands", () => {
		const { model, c, q } = setup();
		const train = q<HTMLButtonElement>(".kan-btn-train");
		train.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "train" });
		c.setStatus(parseStatus({ running: true, can_undo: true }));
		expect(train.textContent).toBe("Pause");
		train.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "pause" });
		c.setStatus(parseStatus({ running: false }));
		expect(train.textContent).toBe("Train");
		for (const [cls, type] of [["step", "step"], ["reset", "reset"], ["prune", "prune"], ["symbolify", "symbolify"], ["discover", "discover"]]) {
			q<HTMLButtonElement>(`.kan-btn-${cls}`).click();
			expect(model.send).toHaveBeenLastCalledWith({ type });
		}
		const grid = q<HTMLInputElement>('[aria-label="grid"]');
		grid.value = "20";
		q<HTMLButtonElement>(".kan-btn-refine").click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "refine", grid: 20 });
	});

	it("enables Undo/Redo from status", () => {
		const { model, c, q, onDownload } = setup();
		const undo = q<HTMLButtonElement>(".kan-btn-undo");
		const redo = q<HTMLButtonElement>(".kan-btn-redo");
		expect(undo.disabled && redo.disabled).toBe(true);
		c.setStatus(parseStatus({ can_undo: true, can_redo: false }));
		expect(undo.disabled).toBe(false);
		expect(redo.disabled).toBe(true);
		undo.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "undo" });
		q<HTMLButtonElement>(".kan-btn-png").click();
		expect(onDownload).toHaveBeenCalledWith("png");
	});

	it("enables Back to best from status and sends its command", () => {
		const { model, c, q } = setup();
		const best = q<HTMLButtonElement>(".kan-btn-back_to_best");
		expect(best.disabled).toBe(true);
		c.setStatus(parseStatus({ can_back_to_best: true, best_step: 12 }));
		expect(best.disabled).toBe(false);
		expect(best.title).toContain("step 12");
		best.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "back_to_best" });
		c.setStatus(parseStatus({ can_back_to_best: false }));
		expect(best.disabled).toBe(true);
	});

	it("shows the library preset's functions and writes the Symbolify controls", () => {
		const { model, q } = setup();
		const lib = q<HTMLSelectElement>(".kan-sym_lib");
		expect(lib.value).toBe("all");
		lib.value = "trig";
		lib.dispatchEvent(new Event("change"));
		expect(model.get("sym_lib")).toBe("trig");
		expect(lib.title).toBe("x, x^2, sin, cos, tan, arctan, tanh, 0");
		const th = q<HTMLInputElement>(".kan-r2_threshold");
		th.value = "0.95";
		th.dispatchEvent(new Event("change"));
		expect(model.get("r2_threshold")).toBe(0.95);
		th.value = "3";
		th.dispatchEvent(new Event("change"));
		expect(model.get("r2_threshold")).toBe(1); // clamped into [0, 1]
	});

	it("dispose flushes a pending drag", () => {
		const { model, c, q } = setup();
		drag(q<HTMLInputElement>('[aria-label="mu1"]'), POSITIONS * 0.3);
		c.dispose();
		expect(model.get("lamb_l1")).toBe(3);
		expect(model.save_changes).toHaveBeenCalledTimes(1);
	});
});

describe("rejected values", () => {
	it("a value sent back by Python replaces a committed number, but not one being typed", () => {
		const { model, c, q } = setup();
		const num = q<HTMLInputElement>('[aria-label="lambda value"]');
		num.focus();
		num.value = "0.5";
		num.dispatchEvent(new Event("change"));
		expect(model.get("lamb")).toBe(0.5);
		model.push({ lamb: 0.01 }); // the kernel refused and re-sent its value
		c.sync("lamb");
		expect(num.value).toBe("0.01");
		num.value = "0.3"; // typing, not committed yet
		model.push({ lamb: 0.02 });
		c.sync("lamb");
		expect(num.value).toBe("0.3");
		c.dispose();
	});
});

describe("Enter", () => {
	it("commits steps and learning rate on Enter even without a change event", () => {
		const { model, c, q } = setup();
		const steps = q<HTMLInputElement>('[aria-label="steps"]');
		steps.value = "77";
		steps.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
		expect(model.get("steps")).toBe(77);
		const lr = q<HTMLInputElement>('[aria-label="learning rate"]');
		lr.value = "0.5";
		lr.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
		expect(model.get("lr")).toBe(0.5);
		expect(model.save_changes).toHaveBeenCalledTimes(2);
		c.dispose();
	});
});

describe("built from the spec trait", () => {
	it("the sliders, their limits, labels and the optimiser's options come from Python's table", () => {
		const spec = structuredClone(SPEC);
		spec.sliders = ["beta", "theta"];
		spec.hparams.beta = { ...spec.hparams.beta, max: 1000 };
		spec.hparams.opt = { ...spec.hparams.opt, options: ["LBFGS", "Adam", "SGD"] };
		spec.hparams.steps = { ...spec.hparams.steps, max: 500 };
		const model = fakeModel({ ...widgetState([2, 3, 1]), spec, opt: "SGD" });
		const c = new Controls(document, { model });
		document.body.replaceChildren(c.toolbar, c.panel);
		const ranges = [...document.querySelectorAll("input[type=range]")].map((e) => e.getAttribute("aria-label"));
		expect(ranges).toEqual(["beta", "theta"]);
		expect([...document.querySelectorAll(".kan-slider .kan-label")].map((e) => e.textContent)).toEqual(["β beta", "θ theta"]);
		expect(document.querySelector<HTMLInputElement>('[aria-label="beta value"]')!.max).toBe("1000");
		const opt = document.querySelector<HTMLSelectElement>('[aria-label="optimizer"]')!;
		expect([...opt.options].map((o) => o.value)).toEqual(["LBFGS", "Adam", "SGD"]);
		expect(opt.value).toBe("SGD");
		const steps = document.querySelector<HTMLInputElement>('[aria-label="steps"]')!;
		expect(steps.max).toBe("500");
		steps.value = "9999";
		steps.dispatchEvent(new Event("change"));
		expect(model.get("steps")).toBe(500);
		// the other hyperparameters are fields, in Python's order, below the sliders
		const fields = [...document.querySelectorAll(".kan-field [aria-label]")].map((e) => e.getAttribute("aria-label"));
		expect(fields).toEqual([
			"lambda", "mu1", "mu2", "input threshold", "steps", "batch size", "optimizer", "learning rate", "r2 threshold", "simplicity weight",
			"library", "problem",
		]);
		c.dispose();
	});

	it("today's table gives today's DOM", () => {
		const { c } = setup();
		const q = (s: string) => c.panel.querySelector<HTMLInputElement>(s)!;
		const classes = [...c.panel.children].map((e) => e.className);
		expect(classes).toEqual([
			"kan-slider kan-slider-lambda", "kan-slider kan-slider-mu1", "kan-slider kan-slider-mu2",
			"kan-slider kan-slider-theta", "kan-slider kan-slider-input-threshold", "kan-slider kan-slider-beta", "kan-field", "kan-field", "kan-field",
			"kan-field", "kan-field", "kan-field", "kan-field", "kan-field",
		]);
		// the problem type (regression / classification), a choice like the optimiser
		const problem = c.panel.querySelector<HTMLSelectElement>(".kan-problem")!;
		expect([...problem.options].map((o) => o.value)).toEqual(["regression", "classification"]);
		// Symbolify's controls: r2 threshold and simplicity weight boxes, the library presets
		expect([q(".kan-r2_threshold").min, q(".kan-r2_threshold").max]).toEqual(["0", "1"]);
		expect([q(".kan-weight_simple").min, q(".kan-weight_simple").max]).toEqual(["0", "1"]);
		const lib = c.panel.querySelector<HTMLSelectElement>(".kan-sym_lib")!;
		expect([...lib.options].map((o) => o.value)).toEqual(["all", "pykan", "polynomial", "trig"]);
		expect(lib.options[2].title).toBe("x, x^2, x^3, x^4, x^5, 0");
		expect([q(".kan-steps").min, q(".kan-steps").max, q(".kan-steps").step]).toEqual(["1", "100000", "1"]);
		expect([q(".kan-lr").min, q(".kan-lr").max, q(".kan-lr").step]).toEqual(["0", "10", "any"]);
		expect(c.panel.querySelector(".kan-opt")!.tagName).toBe("SELECT");
		expect([q('[aria-label="lambda value"]').min, q('[aria-label="beta value"]').min]).toEqual(["0", "0.1"]);
		expect([...c.panel.querySelectorAll(".kan-slider .kan-label")].map((e) => e.textContent))
			.toEqual(["λ lambda", "μ1 mu1", "μ2 mu2", "θ theta", "θ input threshold", "β beta"]);
		c.dispose();
	});

	it("a trait Python has not set yet shows the spec's default", () => {
		const state = widgetState([2, 3, 1]);
		delete state.theta;
		const c = new Controls(document, { model: fakeModel(state) });
		expect(c.value("theta")).toBe(0.01);
		expect(c.value("steps")).toBeNull(); // not a slider
		c.dispose();
	});

	it("no spec, no hyperparameter inputs (the commands still work)", () => {
		const model = fakeModel({ ...widgetState([2, 3, 1]), spec: {} });
		const c = new Controls(document, { model });
		expect(c.panel.children.length).toBe(0);
		c.buttons.train.click();
		expect(model.send).toHaveBeenLastCalledWith({ type: "train" });
		c.dispose();
	});

	it("acceptValue rounds ints, clamps, and refuses an excluded minimum", () => {
		const params = parseSpec(SPEC).params;
		const p = (n: string) => params.find((x) => x.name === n)! as Parameters<typeof acceptValue>[0];
		expect(acceptValue(p("steps"), "120.6")).toBe(121);
		expect(acceptValue(p("steps"), "0")).toBe(1);
		expect(acceptValue(p("lr"), "0")).toBeNull();
		expect(acceptValue(p("lr"), "20")).toBe(10);
		expect(acceptValue(p("theta"), "-1")).toBe(0);
		expect(acceptValue(p("theta"), " ")).toBeNull();
		expect(acceptValue(p("theta"), "abc")).toBeNull();
	});
});
