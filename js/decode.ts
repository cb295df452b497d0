/**
 * Decoding of the synced traits of docs/WIDGET_PROTOCOL.md into typed, validated values.
 * Pure: no DOM, no model. Anything malformed decodes to `null` (or a safe default) so the
 * drawing code never indexes past the end of a buffer.
 */
import {
	type ChoiceHparam, type FieldKind, isChoiceHparam, isNumberHparam, type NumberHparam, type Scale,
} from "./protocol";

export interface LayerSpec {
	in: number;
	out: number;
	/** symbolic edges of this layer: [i, j, name] */
	sym: [number, number, string][];
}

export interface Structure {
	version: number;
	/** nodes per column */
	width: number[];
	/**
	 * per column, the node each subnode belongs to (edges end on subnodes): the identity for sum
	 * nodes; a multiplication node (pykan's MultKAN) owns `arity` consecutive subnodes, its operands
	 */
	subs: Int32Array[];
	/** per column, 1 = a multiplication node */
	mult: Uint8Array[];
	in_vars: string[];
	out_vars: string[];
	n_points: number;
	layers: LayerSpec[];
	/**
	 * pykan's node map `node = node_scale * n + node_bias`, per column after the inputs (index
	 * c - 1), for models with a node step (multiplication nodes); null otherwise. A null entry:
	 * not finite.
	 */
	node_scale: (number | null)[][] | null;
	node_bias: (number | null)[][] | null;
}

export interface Status {
	running: boolean;
	step: number;
	train_loss: number | null;
	test_loss: number | null;
	reg: number | null;
	steps_per_s: number | null;
	n_edge: number;
	n_params: number;
	message: string;
	error: string | null;
	can_undo: boolean;
	can_redo: boolean;
	/** What a queued command is doing now ("symbolifying", ...), or null. */
	busy: string | null;
	val_loss: number | null;
	train_r2: number | null;
	val_r2: number | null;
	test_r2: number | null;
	/** rows the model is trained on, validated on (held out of training), tested on */
	n_train: number;
	n_val: number;
	n_test: number;
	/** warnings about the current model (overfitting, no better than the mean, ...) */
	notes: string[];
	/** the best validation step of this training session, or null */
	best_step: number | null;
	can_back_to_best: boolean;
	/** Symbolify's losses before and after, until the next change; null otherwise */
	symbolify: SymbolifyInfo | null;
	/** "regression" or "classification": the loss is an RMSE or a cross-entropy */
	problem: string;
	/** fractions of rows classified right (a classification; null otherwise) */
	train_acc: number | null;
	val_acc: number | null;
	test_acc: number | null;
}

/** The `classify` trait: how to read `class_grid` and `class_points`. */
export interface ClassInfo {
	problem: string;
	classes: number;
	n_in: number;
	in_vars: string[];
	/** cells per side of `class_grid` (0: no boundary, the inputs are not two) */
	grid: number;
	/** the input square: [x_lo, y_lo], [x_hi, y_hi] */
	lo: number[];
	hi: number[];
	/** confusion[split][true][predicted] counts, for models of other than two inputs */
	confusion: Record<string, number[][]> | null;
	/** cells per side of each node's picture in `class_nodes` (0: none) */
	node_grid: number;
	/** the model's width: how many node pictures each layer has */
	width: number[];
}

/** The `classify` trait checked, or null when it is absent or malformed. */
export function parseClassInfo(raw: unknown): ClassInfo | null {
	if (!raw || typeof raw !== "object") return null;
	const r = raw as Record<string, unknown>;
	if (!isInt(r.classes) || r.classes < 2 || !isInt(r.n_in) || !isInt(r.grid) || r.grid < 0) return null;
	const nums = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isFinite(x)) ? (v as number[]) : []);
	const lo = nums(r.lo);
	const hi = nums(r.hi);
	if (r.grid > 0 && (lo.length !== 2 || hi.length !== 2)) return null;
	let confusion: Record<string, number[][]> | null = null;
	if (r.confusion && typeof r.confusion === "object") {
		confusion = {};
		const k = r.classes;
		for (const [split, m] of Object.entries(r.confusion as Record<string, unknown>)) {
			const ok = Array.isArray(m) && m.length === k && m.every((row) => Array.isArray(row) && row.length === k && row.every(isInt));
			if (ok) confusion[split] = m as number[][];
		}
	}
	return {
		problem: typeof r.problem === "string" ? r.problem : "regression",
		classes: r.classes,
		n_in: r.n_in,
		in_vars: names(r.in_vars, r.n_in, "x"),
		grid: r.grid,
		lo,
		hi,
		confusion,
		node_grid: isInt(r.node_grid) && r.node_grid > 0 ? r.node_grid : 0,
		width: Array.isArray(r.width) && r.width.every(isInt) ? (r.width as number[]) : [],
	};
}

export interface SymbolifyInfo {
	before: { train_loss: number | null; test_loss: number | null };
	after: { train_loss: number | null; test_loss: number | null };
	fixed: number;
	kept: number;
	r2_threshold: number;
	/** the step count when Symbolify ran: its numbers are of then (null: not sent) */
	step: number | null;
}

export interface Formula {
	latex: string;
	text: string;
	complete: boolean;
}

export interface Candidate {
	name: string;
	r2: number;
	complexity: number;
}

/** A spline edge's two terms at the inspector's points: base function (SiLU) and spline. */
export interface EdgeParts {
	baseFun: string;
	base: Float32Array;
	spline: Float32Array;
}

export interface Inspector {
	edge: [number, number, number];
	score: number;
	symbolic: string | null;
	candidates: Candidate[];
	points: number;
	/** null for a symbolic or removed edge (one function: nothing to split) */
	parts: EdgeParts | null;
}

function floats(v: unknown): Float32Array | null {
	if (!Array.isArray(v)) return null;
	return Float32Array.from(v, (x) => (typeof x === "number" && Number.isFinite(x) ? x : NaN));
}

function parseParts(raw: unknown): EdgeParts | null {
	if (!raw || typeof raw !== "object") return null;
	const r = raw as Record<string, unknown>;
	const base = floats(r.base);
	const spline = floats(r.spline);
	if (!base || !spline || base.length !== spline.length) return null;
	return { baseFun: typeof r.base_fun === "string" ? r.base_fun : "base", base, spline };
}

/** Per layer: `xs` is `[in, n]`, `ys` is `[in, out, n]` (views into the trait's buffer). */
export interface LayerCurves {
	xs: Float32Array;
	ys: Float32Array;
}

/** Everything the diagram needs, decoded and checked against one structure. */
export interface NetState {
	structure: Structure;
	/** null until a `curves` buffer of the right size arrives */
	curves: LayerCurves[] | null;
	/** per layer `[in*out]` edge scores; null when missing or of the wrong size */
	scores: Float32Array[] | null;
	/** per layer `[in*out]`, 1 = present; all ones when missing or of the wrong size */
	masks: Uint8Array[];
	/** per layer `[in*out]`: the symbolic function's name, or null for a spline edge */
	sym: (string | null)[][];
}

function isBufferLike(v: unknown): v is ArrayBuffer | ArrayBufferView {
	if (v == null || typeof v !== "object") return false;
	if (ArrayBuffer.isView(v)) return true;
	return Object.prototype.toString.call(v) === "[object ArrayBuffer]"
		|| Object.prototype.toString.call(v) === "[object SharedArrayBuffer]";
}

function parts(v: ArrayBuffer | ArrayBufferView): [ArrayBufferLike, number, number] {
	if (ArrayBuffer.isView(v)) return [v.buffer, v.byteOffset, v.byteLength];
	return [v, 0, v.byteLength];
}

/**
 * float32 view of a binary trait (a DataView in Jupyter). Views the bytes in place; the view
 * honours byteOffset and byteLength, since Jupyter's DataView may be a window into a larger
 * message buffer. Copies only if the offset is not 4-aligned (a Float32Array cannot start there).
 */
export function asF32(v: unknown): Float32Array {
	if (!isBufferLike(v)) return new Float32Array(0);
	const [buffer, off, len] = parts(v);
	const n = Math.floor(len / 4);
	if (off % 4 === 0) return new Float32Array(buffer, off, n);
	return new Float32Array(buffer.slice(off, off + n * 4) as ArrayBuffer);
}

/** uint8 view of a binary trait (no copy). */
export function asU8(v: unknown): Uint8Array {
	if (!isBufferLike(v)) return new Uint8Array(0);
	const [buffer, off, len] = parts(v);
	return new Uint8Array(buffer, off, len);
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function names(raw: unknown, n: number, prefix: string): string[] {
	const src = Array.isArray(raw) ? raw : [];
	const out: string[] = [];
	for (let i = 0; i < n; i++) {
		const s = src[i];
		out.push(typeof s === "string" && s.length > 0 ? s : `${prefix}${i + 1}`);
	}
	return out;
}

/** The `structure` trait, checked; null for `{}` (nothing sent yet) or anything inconsistent. */
export function parseStructure(raw: unknown): Structure | null {
	if (raw == null || typeof raw !== "object") return null;
	const r = raw as Record<string, unknown>;
	const width = r.width;
	if (!Array.isArray(width) || width.length < 2 || !width.every((w) => isInt(w) && w >= 1)) return null;
	const w = width as number[];
	const n = r.n_points;
	if (!isInt(n) || n < 1) return null;
	const rawLayers = Array.isArray(r.layers) ? r.layers : null;
	if (!rawLayers || rawLayers.length !== w.length - 1) return null;
	const nodes = parseNodes(r.nodes, w);
	if (!nodes) return null;
	const { subs, mult } = nodes;
	const layers: LayerSpec[] = [];
	for (let l = 0; l < rawLayers.length; l++) {
		const lr = rawLayers[l] as Record<string, unknown> | null;
		const nOut = subs[l + 1].length;
		if (!lr || lr.in !== w[l] || lr.out !== nOut) return null;
		const sym: [number, number, string][] = [];
		for (const s of Array.isArray(lr.sym) ? lr.sym : []) {
			if (Array.isArray(s) && isInt(s[0]) && isInt(s[1]) && typeof s[2] === "string"
				&& s[0] >= 0 && s[0] < w[l] && s[1] >= 0 && s[1] < nOut) {
				sym.push([s[0], s[1], s[2]]);
			}
		}
		layers.push({ in: w[l], out: nOut, sym });
	}
	return {
		version: isInt(r.version) ? r.version : 0,
		width: w.slice(),
		subs,
		mult,
		in_vars: names(r.in_vars, w[0], "x"),
		out_vars: names(r.out_vars, w[w.length - 1], "y"),
		n_points: n,
		layers,
		node_scale: nodeMap(r.node_scale, w),
		node_bias: nodeMap(r.node_bias, w),
	};
}

/** A per-node map over the columns after the inputs (`structure.node_bias`), or null if absent
 * or not one number (or null: not finite) per node. */
function nodeMap(raw: unknown, width: number[]): (number | null)[][] | null {
	if (!Array.isArray(raw) || raw.length !== width.length - 1) return null;
	const ok = raw.every((col, l) => Array.isArray(col) && col.length === width[l + 1]
		&& col.every((v) => v === null || (typeof v === "number" && Number.isFinite(v))));
	return ok ? (raw as (number | null)[][]) : null;
}

/**
 * `structure.nodes` (absent: sum nodes only): per column `[n_sum, [arity of each multiplication
 * node]]`, `n_sum + arities.length` nodes; null if inconsistent with `width`.
 */
export function parseNodes(raw: unknown, width: number[]): { subs: Int32Array[]; mult: Uint8Array[] } | null {
	if (raw == null) {
		return { subs: width.map((n) => Int32Array.from({ length: n }, (_, i) => i)), mult: width.map((n) => new Uint8Array(n)) };
	}
	if (!Array.isArray(raw) || raw.length !== width.length) return null;
	const subs: Int32Array[] = [];
	const mult: Uint8Array[] = [];
	for (let c = 0; c < width.length; c++) {
		const v = raw[c];
		if (!Array.isArray(v) || v.length !== 2 || !isInt(v[0]) || v[0] < 0 || !Array.isArray(v[1])) return null;
		const nSum = v[0] as number;
		const ar = v[1] as unknown[];
		if (!ar.every((a) => isInt(a) && a >= 2) || nSum + ar.length !== width[c]) return null;
		const s: number[] = [];
		for (let i = 0; i < nSum; i++) s.push(i);
		(ar as number[]).forEach((a, m) => {
			for (let q = 0; q < a; q++) s.push(nSum + m);
		});
		const mk = new Uint8Array(width[c]);
		for (let m = 0; m < ar.length; m++) mk[nSum + m] = 1;
		subs.push(Int32Array.from(s));
		mult.push(mk);
	}
	return { subs, mult };
}

/** Edge endpoints per column (subnodes): `width` itself unless `subs` says otherwise. */
export function outCounts(width: number[], subs?: Int32Array[]): number[] {
	return subs ? subs.map((s) => s.length) : width.slice();
}

/** Number of edges per layer and in total (`subs`: see `Structure.subs`). */
export function edgeCounts(width: number[], subs?: Int32Array[]): { perLayer: number[]; total: number } {
	const outs = outCounts(width, subs);
	const perLayer: number[] = [];
	let total = 0;
	for (let l = 0; l + 1 < width.length; l++) {
		perLayer.push(width[l] * outs[l + 1]);
		total += width[l] * outs[l + 1];
	}
	return { perLayer, total };
}

/** Byte lengths the protocol prescribes (mirrors snapshot.expected_sizes in Python). */
export function expectedSizes(
	width: number[], n: number, subs?: Int32Array[],
): { curves: number; scores: number; masks: number } {
	let curves = 0;
	const { perLayer, total } = edgeCounts(width, subs);
	for (let l = 0; l + 1 < width.length; l++) curves += width[l] * n + perLayer[l] * n;
	return { curves: 4 * curves, scores: 4 * total, masks: total };
}

/** Split `curves` per layer; null if its length does not match the structure. */
export function decodeCurves(flat: Float32Array, s: Structure): LayerCurves[] | null {
	const n = s.n_points;
	if (flat.length * 4 !== expectedSizes(s.width, n, s.subs).curves) return null;
	const out: LayerCurves[] = [];
	let off = 0;
	for (const layer of s.layers) {
		const nx = layer.in * n;
		const ny = layer.in * layer.out * n;
		out.push({ xs: flat.subarray(off, off + nx), ys: flat.subarray(off + nx, off + nx + ny) });
		off += nx + ny;
	}
	return out;
}

/** Split a per-edge array (scores, masks) per layer; null if its length does not match. */
export function splitEdges<T extends Float32Array | Uint8Array>(
	flat: T, width: number[], subs?: Int32Array[],
): T[] | null {
	const { perLayer, total } = edgeCounts(width, subs);
	if (flat.length !== total) return null;
	const out: T[] = [];
	let off = 0;
	for (const n of perLayer) {
		out.push(flat.subarray(off, off + n) as T);
		off += n;
	}
	return out;
}

/** Per layer `[in*out]` names of symbolic edges (null for spline edges). */
export function symTable(s: Structure): (string | null)[][] {
	return s.layers.map((layer) => {
		const t: (string | null)[] = new Array(layer.in * layer.out).fill(null);
		for (const [i, j, name] of layer.sym) t[i * layer.out + j] = name;
		return t;
	});
}

/** Decode the four state traits against the structure. */
export function decodeState(structureRaw: unknown, curves: unknown, scores: unknown, masks: unknown): NetState | null {
	const structure = parseStructure(structureRaw);
	if (!structure) return null;
	const m = splitEdges(asU8(masks), structure.width, structure.subs);
	return {
		structure,
		curves: decodeCurves(asF32(curves), structure),
		scores: splitEdges(asF32(scores), structure.width, structure.subs),
		masks: m ?? structure.layers.map((layer) => new Uint8Array(layer.in * layer.out).fill(1)),
		sym: symTable(structure),
	};
}

/** The `status` trait with defaults for anything missing. */
export function parseStatus(raw: unknown): Status {
	const r = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
	return {
		running: r.running === true,
		step: isInt(r.step) ? r.step : 0,
		train_loss: num(r.train_loss),
		test_loss: num(r.test_loss),
		reg: num(r.reg),
		steps_per_s: num(r.steps_per_s),
		n_edge: isInt(r.n_edge) ? r.n_edge : 0,
		n_params: isInt(r.n_params) ? r.n_params : 0,
		message: typeof r.message === "string" ? r.message : "",
		error: typeof r.error === "string" && r.error.length > 0 ? r.error : null,
		can_undo: r.can_undo === true,
		can_redo: r.can_redo === true,
		busy: typeof r.busy === "string" && r.busy.length > 0 ? r.busy : null,
		val_loss: num(r.val_loss),
		train_r2: num(r.train_r2),
		val_r2: num(r.val_r2),
		test_r2: num(r.test_r2),
		n_train: isInt(r.n_train) ? r.n_train : 0,
		n_val: isInt(r.n_val) ? r.n_val : 0,
		n_test: isInt(r.n_test) ? r.n_test : 0,
		notes: Array.isArray(r.notes) ? r.notes.filter((n): n is string => typeof n === "string" && n.length > 0) : [],
		best_step: isInt(r.best_step) ? r.best_step : null,
		can_back_to_best: r.can_back_to_best === true,
		symbolify: parseSymbolify(r.symbolify),
		problem: r.problem === "classification" ? "classification" : "regression",
		train_acc: num(r.train_acc),
		val_acc: num(r.val_acc),
		test_acc: num(r.test_acc),
	};
}

function parseSymbolify(raw: unknown): SymbolifyInfo | null {
	if (!raw || typeof raw !== "object") return null;
	const r = raw as Record<string, unknown>;
	const losses = (v: unknown) => {
		const o = (v && typeof v === "object" ? v : {}) as Record<string, unknown>;
		return { train_loss: num(o.train_loss), test_loss: num(o.test_loss) };
	};
	return {
		before: losses(r.before),
		after: losses(r.after),
		fixed: isInt(r.fixed) ? r.fixed : 0,
		kept: isInt(r.kept) ? r.kept : 0,
		r2_threshold: num(r.r2_threshold) ?? NaN,
		step: isInt(r.step) && r.step >= 0 ? r.step : null,
	};
}

export function parseFormula(raw: unknown): Formula {
	const r = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
	return {
		latex: typeof r.latex === "string" ? r.latex : "",
		text: typeof r.text === "string" ? r.text : "",
		complete: r.complete === true,
	};
}

/** The `inspector` trait; null for `{}` (no edge inspected). */
export function parseInspector(raw: unknown): Inspector | null {
	if (!raw || typeof raw !== "object") return null;
	const r = raw as Record<string, unknown>;
	const e = r.edge;
	if (!Array.isArray(e) || e.length !== 3 || !e.every(isInt)) return null;
	const candidates: Candidate[] = [];
	for (const c of Array.isArray(r.candidates) ? r.candidates : []) {
		if (c && typeof c === "object" && typeof (c as Candidate).name === "string") {
			const cc = c as Record<string, unknown>;
			candidates.push({
				name: cc.name as string,
				r2: num(cc.r2) ?? NaN,
				complexity: num(cc.complexity) ?? NaN,
			});
		}
	}
	return {
		edge: [e[0], e[1], e[2]],
		score: num(r.score) ?? NaN,
		symbolic: typeof r.symbolic === "string" && r.symbolic ? r.symbolic : null,
		candidates,
		points: isInt(r.points) ? r.points : 0,
		parts: parseParts(r.parts),
	};
}

/** `inspector_points` (`[2, n]` float32) as x and phi(x) arrays. */
export function decodePoints(v: unknown): { x: Float32Array; y: Float32Array } {
	const f = asF32(v);
	const n = Math.floor(f.length / 2);
	return { x: f.subarray(0, n), y: f.subarray(n, 2 * n) };
}

/** A slider's scale: `lo` is its smallest value (the smallest non-zero one for "log0"). */
export interface SliderScale {
	scale: Scale;
	lo: number;
	/** linear: rounding step (null: 1/1000 of the range) */
	step: number | null;
}

/** A number hyperparameter: valid values are min..max (min excluded unless `minInclusive`). */
export interface NumberParam {
	name: NumberHparam;
	kind: "float" | "int";
	label: string;
	min: number;
	max: number;
	minInclusive: boolean;
	default: number;
	/** values inside min..max that are refused (`batch` 0) */
	excluded: number[];
	/** null: typed into a number box, not a slider */
	slider: SliderScale | null;
}

export interface ChoiceParam {
	name: ChoiceHparam;
	kind: "choice";
	label: string;
	options: string[];
	default: string;
}

export type Param = NumberParam | ChoiceParam;
export type SliderParam = NumberParam & { slider: SliderScale };

/** The `spec` trait, checked: what the hyperparameter controls show and accept. */
export interface Spec {
	/** every hyperparameter, in Python's order */
	params: Param[];
	/** the sliders, in display order */
	sliders: SliderParam[];
	/** command type -> {field: kind} */
	commands: Record<string, Record<string, FieldKind>>;
	/** `sym_lib` preset -> the library names it holds (empty when Python sent none) */
	presets: Record<string, string[]>;
	/** Refine's grid box range (Python's messages.MAX_GRID); 1..1 when Python sent none */
	refineGrid: { min: number; max: number };
	/** the longest formula "start from a formula" accepts (Python's kanpiler limit) */
	formulaChars: number;
}

export const isSlider = (p: Param): p is SliderParam => p.kind !== "choice" && p.slider !== null;

const SCALES: readonly string[] = ["log0", "log", "linear"];

function parseParam(name: string, raw: unknown): Param | null {
	if (!raw || typeof raw !== "object") return null;
	const r = raw as Record<string, unknown>;
	const label = typeof r.label === "string" && r.label ? r.label : name;
	if (r.kind === "choice") {
		const options = Array.isArray(r.options) ? r.options.filter((o): o is string => typeof o === "string") : [];
		if (!isChoiceHparam(name) || options.length === 0) return null;
		const d = typeof r.default === "string" && options.includes(r.default) ? r.default : options[0];
		return { name, kind: "choice", label, options, default: d };
	}
	if (r.kind !== "float" && r.kind !== "int") return null;
	const min = num(r.min);
	const max = num(r.max);
	if (!isNumberHparam(name) || min === null || max === null || !(max > min)) return null;
	let slider: SliderScale | null = null;
	if (typeof r.scale === "string" && SCALES.includes(r.scale)) {
		const scale = r.scale as Scale;
		const lo = scale === "linear" ? min : num(r.slider_min);
		const step = num(r.step);
		if (lo !== null && (scale === "linear" || (lo > 0 && lo < max))) {
			slider = { scale, lo, step: step !== null && step > 0 ? step : null };
		}
	}
	const d = num(r.default);
	return {
		name, kind: r.kind, label, min, max, minInclusive: r.min_inclusive !== false,
		default: d ?? min, slider,
		excluded: Array.isArray(r.excluded) ? r.excluded.filter((v): v is number => typeof v === "number" && Number.isFinite(v)) : [],
	};
}

/**
 * The `spec` trait. Entries that are malformed, or name a trait this front end does not know
 * (protocol.ts HPARAM_TYPES), are left out; `{}` gives no controls at all.
 */
export function parseSpec(raw: unknown): Spec {
	const r = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
	const hp = (r.hparams && typeof r.hparams === "object" ? r.hparams : {}) as Record<string, unknown>;
	const params: Param[] = [];
	for (const [name, v] of Object.entries(hp)) {
		const p = parseParam(name, v);
		if (p) params.push(p);
	}
	const sliders: SliderParam[] = [];
	for (const name of Array.isArray(r.sliders) ? r.sliders : []) {
		const p = params.find((q) => q.name === name);
		if (p && isSlider(p) && !sliders.includes(p)) sliders.push(p);
	}
	const commands: Record<string, Record<string, FieldKind>> = {};
	const rc = (r.commands && typeof r.commands === "object" ? r.commands : {}) as Record<string, unknown>;
	for (const [type, fields] of Object.entries(rc)) {
		if (!fields || typeof fields !== "object") continue;
		const f: Record<string, FieldKind> = {};
		for (const [k, kind] of Object.entries(fields)) if (kind === "int" || kind === "str") f[k] = kind;
		commands[type] = f;
	}
	const presets: Record<string, string[]> = {};
	const sym = (r.symbolic && typeof r.symbolic === "object" ? r.symbolic : {}) as Record<string, unknown>;
	const rp = (sym.presets && typeof sym.presets === "object" ? sym.presets : {}) as Record<string, unknown>;
	for (const [k, v] of Object.entries(rp)) {
		if (Array.isArray(v)) presets[k] = v.filter((n): n is string => typeof n === "string");
	}
	const lim = (r.limits && typeof r.limits === "object" ? r.limits : {}) as Record<string, unknown>;
	const rg = (lim.refine_grid && typeof lim.refine_grid === "object" ? lim.refine_grid : {}) as Record<
		string,
		unknown
	>;
	const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
	const refineGrid = { min: num(rg.min, 1), max: Math.max(num(rg.min, 1), num(rg.max, 1)) };
	const fc = (lim.formula_chars && typeof lim.formula_chars === "object" ? lim.formula_chars : {}) as Record<
		string,
		unknown
	>;
	return { params, sliders, commands, presets, refineGrid, formulaChars: num(fc.max, 2000) };
}
