/**
 * The kernel <-> front-end protocol as types (docs/WIDGET_PROTOCOL.md): the synced trait map, the
 * command messages, and the typed model the rest of the front end talks to. Both tables below
 * mirror Python's kan_widget/widget/messages.py (HPARAMS, COMMANDS); js/protocol.test.ts checks
 * them against the `spec` trait Python sends (fixture js/fixtures/spec.json).
 */
import type { ClassInfo, Formula, Inspector, Status, Structure } from "./decode";

// ---- hyperparameters (traits the front end writes)

/** Each hyperparameter trait and the JS type of its value. */
export const HPARAM_TYPES = {
	lamb: "number",
	lamb_l1: "number",
	lamb_entropy: "number",
	theta: "number",
	input_theta: "number",
	beta: "number",
	steps: "number",
	batch: "number",
	opt: "string",
	lr: "number",
	r2_threshold: "number",
	weight_simple: "number",
	sym_lib: "string",
	problem: "string",
} as const;

type ValueOf<T extends "number" | "string"> = T extends "number" ? number : string;

export type HparamTraits = { -readonly [K in keyof typeof HPARAM_TYPES]: ValueOf<(typeof HPARAM_TYPES)[K]> };
export type HparamName = keyof HparamTraits;
/** Hyperparameters holding a number (sliders, steps, learning rate). */
export type NumberHparam = { [K in HparamName]: HparamTraits[K] extends number ? K : never }[HparamName];
/** Hyperparameters holding one of a list of strings (the optimiser). */
export type ChoiceHparam = { [K in HparamName]: HparamTraits[K] extends string ? K : never }[HparamName];

export const isHparamName = (k: string): k is HparamName => Object.prototype.hasOwnProperty.call(HPARAM_TYPES, k);
export const isNumberHparam = (k: string): k is NumberHparam => isHparamName(k) && HPARAM_TYPES[k] === "number";
export const isChoiceHparam = (k: string): k is ChoiceHparam => isHparamName(k) && HPARAM_TYPES[k] === "string";

// ---- the `spec` trait (set once by Python at construction)

export type HparamKind = "float" | "int" | "choice";
export type Scale = "log0" | "log" | "linear";
export type FieldKind = "int" | "str";

/** One entry of `spec.hparams`, as Python sends it. */
export interface HparamSpecTrait {
	kind: HparamKind;
	/** null (or absent) for a "choice" */
	min: number | null;
	max: number | null;
	min_inclusive: boolean;
	label: string;
	/** slider scale; null: not a slider */
	scale: Scale | null;
	/** smallest non-zero slider value of a log scale; null for linear scales and non-sliders */
	slider_min: number | null;
	/** rounding step of a linear slider */
	step: number | null;
	/** the allowed values of a "choice" */
	options: string[] | null;
	default: number | string;
	/** values inside min..max that are refused (`batch` 0); absent from older kernels */
	excluded?: number[];
}

export interface SpecTrait {
	hparams: Record<string, HparamSpecTrait>;
	/** slider names in display order */
	sliders: string[];
	/** command type -> {field: kind} */
	commands: Record<string, Record<string, FieldKind>>;
	/** ranges of command fields: Refine's grid */
	limits?: { refine_grid?: { min: number; max: number }; formula_chars?: { min: number; max: number } };
	/** Symbolify's library: every function's name, and each `sym_lib` preset's names */
	symbolic?: { library: string[]; presets: Record<string, string[]> };
}

// ---- commands (custom messages, front end -> kernel)

/** Each command type and its fields (Python's COMMANDS). */
export const COMMAND_FIELDS = {
	train: {},
	pause: {},
	step: {},
	reset: {},
	prune: {},
	prune_input: {},
	remove_edge: { l: "int", i: "int", j: "int" },
	start_formula: { formula: "str" },
	refine: { grid: "int" },
	symbolify: {},
	discover: {},
	undo: {},
	redo: {},
	inspect: { l: "int", i: "int", j: "int" },
	fix: { l: "int", i: "int", j: "int", name: "str" },
	unfix: { l: "int", i: "int", j: "int" },
	refresh: {},
	back_to_best: {},
} as const satisfies Record<string, Record<string, FieldKind>>;

type Commands = typeof COMMAND_FIELDS;
export type CommandType = keyof Commands;
type FieldValue<F> = F extends "int" ? number : string;
type Flat<T> = { [K in keyof T]: T[K] };

/**
 * One command message: `{type: "train"} | {type: "refine", grid: number} | {type: "inspect", l, i,
 * j} | {type: "fix", l, i, j, name: string} | ...`, derived from COMMAND_FIELDS.
 */
export type Command = {
	[T in CommandType]: Flat<{ type: T } & { -readonly [F in keyof Commands[T]]: FieldValue<Commands[T][F]> }>;
}[CommandType];

/**
 * Why `msg` is not a well-formed command of `table` (Python's parse_command without the range
 * checks that need the model), or null if it is.
 */
export function commandError(msg: unknown, table: Record<string, Record<string, FieldKind>> = COMMAND_FIELDS): string | null {
	if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return "a command must be an object";
	const m = msg as Record<string, unknown>;
	if (typeof m.type !== "string") return "a command needs a string 'type'";
	if (!Object.prototype.hasOwnProperty.call(table, m.type)) return `unknown command type '${m.type}'`;
	const fields = table[m.type];
	for (const k of Object.keys(m)) {
		if (k !== "type" && !Object.prototype.hasOwnProperty.call(fields, k)) return `'${m.type}' has no field '${k}'`;
	}
	for (const [k, kind] of Object.entries(fields)) {
		const v = m[k];
		if (kind === "int" && !(typeof v === "number" && Number.isInteger(v))) return `'${m.type}' field '${k}' must be an integer`;
		if (kind === "str" && !(typeof v === "string" && v.length > 0)) return `'${m.type}' field '${k}' must be a non-empty string`;
	}
	return null;
}

// ---- the synced traits and the model

type Empty = Record<string, never>;

/** Every synced trait and the type its value has in the browser. */
export type KanTraits = HparamTraits & {
	spec: SpecTrait | Empty;
	structure: Structure | Empty;
	/** float32 little-endian; see docs/WIDGET_PROTOCOL.md for the layout */
	curves: DataView | null;
	scores: DataView | null;
	/** uint8 */
	masks: DataView | null;
	/** each input's attribution score (pykan's feature_score); null where not finite */
	feature_scores: (number | null)[];
	status: Partial<Status>;
	formula: Partial<Formula>;
	inspector: Inspector | Empty;
	/** float32 `[2, n]` */
	inspector_points: DataView | null;
	/** the classification drawing: what class_grid and class_points hold */
	classify: ClassInfo | Empty;
	/** float32 `[grid*grid, classes]` class probabilities over the input square */
	class_grid: DataView | null;
	/** float32 rows `[x, y, class, split]` (split 0 train, 1 test) */
	class_points: DataView | null;
	/** float32 `[nodes, node_grid^2]`: every node's value over the input square */
	class_nodes: DataView | null;
	/** lesson mode: names of the controls to hide */
	hide: string[];
};

export type TraitName = keyof KanTraits;

/**
 * The slice of anywidget's model (`AnyModel<T>`) the front end uses, typed over the trait map `T`:
 * `get("lamb")` is a number. Writes are limited to the traits the front end owns (`W`), and
 * `send` takes only commands.
 */
export interface TypedModel<T extends object, W extends keyof T = keyof T, C = unknown> {
	get<K extends keyof T>(key: K): T[K];
	set<K extends W>(key: K, value: T[K]): void;
	save_changes(): void;
	send(content: C): void;
	on(event: `change:${keyof T & string}`, callback: () => void): void;
	off(event: `change:${keyof T & string}`, callback: () => void): void;
}

export type KanModel = TypedModel<KanTraits, HparamName, Command>;
