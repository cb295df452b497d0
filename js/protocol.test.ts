import { describe, expect, it } from "vitest";
import { parseSpec } from "./decode";
import { SPEC } from "./fixtures/spec";
import { COMMAND_FIELDS, type Command, commandError, HPARAM_TYPES, type KanModel } from "./protocol";

describe("the protocol tables match Python's (fixtures/spec.ts, from gen_spec.py)", () => {
	it("every hyperparameter trait, with the JS type of its value", () => {
		const fromPython = Object.fromEntries(
			Object.entries(SPEC.hparams).map(([k, h]) => [k, h.kind === "choice" ? "string" : "number"]),
		);
		expect(HPARAM_TYPES).toEqual(fromPython);
	});

	it("every command and its fields", () => {
		expect(COMMAND_FIELDS).toEqual(SPEC.commands);
	});
});

describe("commandError", () => {
	it("accepts every command the front end sends", () => {
		const sent: Command[] = [
			{ type: "train" }, { type: "pause" }, { type: "step" }, { type: "reset" }, { type: "prune" },
			{ type: "refine", grid: 20 }, { type: "symbolify" }, { type: "discover" }, { type: "undo" }, { type: "redo" },
			{ type: "inspect", l: 0, i: 1, j: 2 }, { type: "fix", l: 0, i: 1, j: 2, name: "sin" },
			{ type: "unfix", l: 0, i: 1, j: 2 }, { type: "refresh" }, { type: "back_to_best" },
			{ type: "prune_input" }, { type: "remove_edge", l: 0, i: 1, j: 2 },
			{ type: "start_formula", formula: "exp(sin(pi*x_1) + x_2^2)" },
		];
		expect(sent.map((c) => c.type).sort()).toEqual(Object.keys(COMMAND_FIELDS).sort());
		for (const c of sent) expect(commandError(c, SPEC.commands), c.type).toBeNull();
	});

	it("rejects what Python's parse_command rejects (before its range checks)", () => {
		expect(commandError(null)).toMatch(/object/);
		expect(commandError([])).toMatch(/object/);
		expect(commandError({})).toMatch(/type/);
		expect(commandError({ type: "fly" })).toMatch(/unknown/);
		expect(commandError({ type: "train", extra: 1 })).toMatch(/no field 'extra'/);
		expect(commandError({ type: "refine" })).toMatch(/'grid' must be an integer/);
		expect(commandError({ type: "refine", grid: "10" })).toMatch(/integer/);
		expect(commandError({ type: "refine", grid: 1.5 })).toMatch(/integer/);
		expect(commandError({ type: "fix", l: 0, i: 0, j: 0, name: "" })).toMatch(/non-empty string/);
		expect(commandError({ type: "inspect", l: 0, i: 0, j: 0 })).toBeNull();
	});

	it("is typed: malformed commands do not compile", () => {
		const send = (m: Pick<KanModel, "send">) => {
			// @ts-expect-error refine needs its grid
			m.send({ type: "refine" });
			// @ts-expect-error no such command
			m.send({ type: "fly" });
			// @ts-expect-error fields are numbers
			m.send({ type: "inspect", l: "0", i: 0, j: 0 });
			// @ts-expect-error train has no fields
			m.send({ type: "train", steps: 5 });
			m.send({ type: "fix", l: 0, i: 0, j: 0, name: "sin" });
		};
		const got: unknown[] = [];
		send({ send: (c) => got.push(c) });
		expect(got.length).toBe(5);
	});

	it("is typed: traits have their own types, outputs cannot be written", () => {
		const use = (m: Pick<KanModel, "get" | "set">) => {
			const lamb: number = m.get("lamb");
			const opt: string = m.get("opt");
			// @ts-expect-error lamb is a number
			m.set("lamb", "0.1");
			// @ts-expect-error the status is Python's to write
			m.set("status", {});
			m.set("theta", 0.5);
			return [lamb, opt];
		};
		const state: Record<string, unknown> = { lamb: 0.1, opt: "Adam" };
		const m = { get: (k: string) => state[k], set: (k: string, v: unknown) => void (state[k] = v) };
		expect(use(m as never)).toEqual([0.1, "Adam"]);
		expect(state).toEqual({ lamb: "0.1", opt: "Adam", status: {}, theta: 0.5 });
	});
});

describe("parseSpec", () => {
	it("turns Python's table into sliders in display order and the other inputs", () => {
		const s = parseSpec(SPEC);
		expect(s.sliders.map((p) => p.label)).toEqual(["lambda", "mu1", "mu2", "theta", "input threshold", "beta"]);
		expect(s.params.map((p) => p.name)).toEqual([
			"lamb", "lamb_l1", "lamb_entropy", "theta", "input_theta", "beta", "steps", "batch", "opt", "lr", "r2_threshold", "weight_simple", "sym_lib", "problem",
		]);
		expect(s.presets.polynomial).toEqual(["x", "x^2", "x^3", "x^4", "x^5", "0"]);
		const [lamb, mu1, , , , beta] = s.sliders;
		expect(lamb).toMatchObject({ name: "lamb", min: 0, max: 1, default: 0.01, slider: { scale: "log0", lo: 1e-5, step: null } });
		expect(mu1).toMatchObject({ min: 0, max: 10, default: 1, slider: { scale: "linear", lo: 0, step: 0.01 } });
		expect(beta).toMatchObject({ min: 0.1, max: 100, default: 3, slider: { scale: "log", lo: 0.1 } });
		expect(s.params.find((p) => p.name === "opt")).toEqual({
			name: "opt", kind: "choice", label: "optimizer", options: ["LBFGS", "Adam"], default: "LBFGS",
		});
		expect(s.params.find((p) => p.name === "lr")).toMatchObject({ kind: "float", min: 0, minInclusive: false, slider: null });
		expect(s.params.find((p) => p.name === "steps")).toMatchObject({ kind: "int", min: 1, max: 100000, default: 50 });
	});

	it("leaves out what is malformed or unknown; {} gives no controls", () => {
		expect(parseSpec({})).toEqual({
			params: [],
			sliders: [],
			commands: {},
			presets: {},
			refineGrid: { min: 1, max: 1 },
			formulaChars: 2000,
		});
		expect(parseSpec({ limits: { refine_grid: { min: 1, max: 1000 } } }).refineGrid).toEqual({ min: 1, max: 1000 });
		expect(parseSpec(null).params).toEqual([]);
		const s = parseSpec({
			hparams: {
				theta: { kind: "float", min: 0, max: 1, label: "theta", scale: "log0", slider_min: 0 }, // log of 0
				beta: { kind: "float", min: 5, max: 1, label: "beta" }, // empty range
				lamb: { kind: "float", min: 0, max: 1, label: "lambda", scale: "cubic" }, // no such scale
				gamma: { kind: "float", min: 0, max: 1, label: "gamma", scale: "linear" }, // unknown trait
				opt: { kind: "choice", options: [] }, // nothing to choose
				steps: { kind: "int", min: 1, max: 9, label: "steps", scale: "linear", default: 3 },
			},
			sliders: ["theta", "lamb", "gamma", "steps", "steps"],
			commands: { train: {}, fix: { l: "int", name: "str", bad: "float" } },
		});
		expect(s.params.map((p) => p.name)).toEqual(["theta", "lamb", "steps"]);
		expect(s.params[0].kind !== "choice" && s.params[0].slider).toBeNull(); // a number box instead
		expect(s.sliders.map((p) => p.name)).toEqual(["steps"]);
		expect(s.commands).toEqual({ train: {}, fix: { l: "int", name: "str" } });
	});
});
