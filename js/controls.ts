/**
 * The buttons and hyperparameter inputs, built from the `spec` trait (Python's table of ranges,
 * scales, labels and defaults). Each slider is a range input (positions 0..POSITIONS, on a log
 * scale where the spec says so) next to an editable number input holding the value itself; the
 * other hyperparameters are a number box or, for a choice, a <select>.
 * Drags are debounced: the value is shown and handed to `onLive` at once (theta preview, beta
 * opacity), and written to the model (`model.set` + `save_changes`) DEBOUNCE_MS after the last
 * move, or at once when the drag ends. Commands go out with `model.send`.
 */
import {
	type ChoiceParam, type NumberParam, type Param, parseSpec, type SliderParam, type Spec, type Status,
} from "./decode";
import type { Command, HparamName, KanModel, KanTraits, NumberHparam } from "./protocol";

/** The slice of the model the controls use. */
export type ModelLike = Pick<KanModel, "get" | "set" | "save_changes" | "send">;

export const POSITIONS = 1000;
export const DEBOUNCE_MS = 200;
const DEFAULT_GRID = 10;

/** The Greek letter shown before a slider's name (the name itself is its accessible label). */
const SYMBOLS: Record<string, string> = { lambda: "λ", mu1: "μ1", mu2: "μ2", theta: "θ", "input threshold": "θ", beta: "β" };

/** Round to 3 significant digits (what a slider position can mean anyway). */
const sig3 = (v: number) => (v === 0 ? 0 : Number(v.toPrecision(3)));

/** Value at slider position `pos` (0..POSITIONS). */
export function fromPosition(spec: SliderParam, pos: number): number {
	const p = Math.min(POSITIONS, Math.max(0, Math.round(pos)));
	const { scale, lo: min, step } = spec.slider;
	const lo = Math.log10(min);
	const hi = Math.log10(spec.max);
	switch (scale) {
		case "log0":
			if (p === 0) return 0;
			return sig3(10 ** (lo + ((hi - lo) * (p - 1)) / (POSITIONS - 1)));
		case "log":
			return sig3(10 ** (lo + ((hi - lo) * p) / POSITIONS));
		case "linear": {
			const st = step ?? (spec.max - min) / POSITIONS;
			const v = min + ((spec.max - min) * p) / POSITIONS;
			return Number((Math.round(v / st) * st).toFixed(10));
		}
	}
}

/** Nearest slider position for `value` (values outside the range go to the ends). */
export function toPosition(spec: SliderParam, value: number): number {
	if (!Number.isFinite(value)) return 0;
	const { scale, lo: min } = spec.slider;
	const lo = Math.log10(min);
	const hi = Math.log10(spec.max);
	const clampP = (p: number) => Math.min(POSITIONS, Math.max(0, Math.round(p)));
	switch (scale) {
		case "log0":
			if (value <= 0) return 0;
			return Math.max(1, clampP(1 + ((Math.log10(value) - lo) / (hi - lo)) * (POSITIONS - 1)));
		case "log":
			if (value <= 0) return 0;
			return clampP(((Math.log10(value) - lo) / (hi - lo)) * POSITIONS);
		case "linear":
			return clampP(((value - min) / (spec.max - min)) * POSITIONS);
	}
}

/** Clamp a typed value into the hyperparameter's range (for "log0" sliders this includes 0). */
export function clampValue(spec: NumberParam, v: number): number {
	return Math.min(spec.max, Math.max(spec.min, v));
}

/**
 * A typed value as the hyperparameter will take it (rounded for an int, clamped into range), or
 * null for one that cannot be (not a number, or at or below an excluded minimum: there is no
 * nearest valid value to clamp to).
 */
export function acceptValue(spec: NumberParam, text: string): number | null {
	let v = Number(text);
	if (text.trim() === "" || !Number.isFinite(v)) return null;
	if (spec.kind === "int") v = Math.round(v);
	if (!spec.minInclusive && v <= spec.min) return null;
	v = clampValue(spec, v);
	return spec.excluded.includes(v) ? null : v;
}

/** Short text for a number: 0.01, 3, 1.5e-4. */
export function fmt(v: number | null | undefined): string {
	if (v === null || v === undefined || Number.isNaN(v)) return "–";
	if (v === 0) return "0";
	const a = Math.abs(v);
	if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(3)));
	return v.toExponential(2).replace("e+", "e");
}

export interface ControlsOptions {
	model: ModelLike;
	debounceMs?: number;
	/** live value while a slider moves (before the debounced write) */
	onLive?: (trait: NumberHparam, value: number) => void;
	/** a slider (range or number box) gained or lost focus */
	onFocus?: (trait: NumberHparam, focused: boolean) => void;
	onDownload?: (kind: "svg" | "png") => void;
}

function suppress<T extends HTMLElement>(e: T): T {
	// JupyterLab binds arrow keys, digits, Enter etc. to notebook commands in command mode; Lumino
	// leaves a key alone only when the focused element itself carries this attribute
	e.setAttribute("data-lm-suppress-shortcuts", "true");
	return e;
}

export function button(doc: Document, text: string, cls: string): HTMLButtonElement {
	const b = suppress(doc.createElement("button"));
	b.type = "button";
	b.textContent = text;
	b.className = cls;
	return b;
}

/** The small "×" button that closes a panel; `label` is its accessible name. */
export function closeButton(doc: Document, label: string, onClick: () => void): HTMLButtonElement {
	const b = button(doc, "×", "kan-close");
	b.setAttribute("aria-label", label);
	b.addEventListener("click", onClick);
	return b;
}

interface SliderParts {
	spec: SliderParam;
	range: HTMLInputElement;
	number: HTMLInputElement;
	timer: ReturnType<typeof setTimeout> | null;
	pendingValue: number | null;
	/** what was last written into the number box (to tell typing from a stale display) */
	shown: string;
}

/** A hyperparameter that is not a slider: a number box, or a <select> for a choice. */
type Field =
	| { spec: NumberParam; input: HTMLInputElement }
	| { spec: ChoiceParam; input: HTMLSelectElement };

export class Controls {
	readonly toolbar: HTMLElement;
	readonly panel: HTMLElement;
	readonly buttons: Record<string, HTMLButtonElement> = {};
	readonly grid: HTMLInputElement;
	/** "start from a formula": the text box */
	readonly formulaBox: HTMLInputElement;
	/** the checked `spec` trait the inputs were built from */
	readonly spec: Spec;
	private sliders = new Map<HparamName, SliderParts>();
	private fields: Field[] = [];
	private opts: ControlsOptions;
	private running = false;
	private cleanups: (() => void)[] = [];
	/** sets the library select's tooltip to the chosen preset's functions */
	private presetTitle: (() => void) | null = null;

	constructor(doc: Document, opts: ControlsOptions) {
		this.opts = opts;
		const model = opts.model;
		this.spec = parseSpec(model.get("spec"));

		// ---- toolbar: commands
		const tb = doc.createElement("div");
		tb.className = "kan-toolbar";
		tb.setAttribute("role", "toolbar");
		tb.setAttribute("aria-label", "KAN commands");
		this.toolbar = tb;
		const add = (key: string, text: string, onClick: () => void, group: HTMLElement) => {
			const b = button(doc, text, `kan-btn kan-btn-${key}`);
			this.listen(b, "click", onClick);
			this.buttons[key] = b;
			group.append(b);
			return b;
		};
		const group = () => {
			const g = doc.createElement("span");
			g.className = "kan-group";
			tb.append(g);
			return g;
		};
		const send = (c: Command) => () => model.send(c);
		const g1 = group();
		add("train", "Train", () => model.send({ type: this.running ? "pause" : "train" }), g1);
		add("step", "Step", send({ type: "step" }), g1);
		add("reset", "Reset", send({ type: "reset" }), g1);
		const g2 = group();
		add("prune", "Prune", send({ type: "prune" }), g2);
		const pi = add("prune_input", "Prune inputs", send({ type: "prune_input" }), g2);
		pi.title = "drop the inputs whose attribution score is at most the input threshold (undoable)";
		add("refine", "Refine", () => {
			const g = this.gridValue();
			this.grid.value = String(g);
			model.send({ type: "refine", grid: g });
		}, g2);
		this.grid = suppress(doc.createElement("input"));
		Object.assign(this.grid, {
			type: "number", min: String(this.spec.refineGrid.min), max: String(this.spec.refineGrid.max), step: "1", value: String(DEFAULT_GRID), className: "kan-grid",
		});
		this.grid.setAttribute("aria-label", "grid");
		this.grid.title = "grid intervals for Refine";
		g2.append(this.grid);
		add("symbolify", "Symbolify", send({ type: "symbolify" }), g2);
		add("discover", "Discover", send({ type: "discover" }), g2).title =
			"sparsify, prune, refine and symbolify over a few restarts; keeps the sparsest model near the best loss (Pause stops it; every candidate is undoable)";
		const g3 = group();
		add("undo", "Undo", send({ type: "undo" }), g3);
		add("redo", "Redo", send({ type: "redo" }), g3);
		add("back_to_best", "Back to best", send({ type: "back_to_best" }), g3);
		this.buttons.undo.disabled = true;
		this.buttons.redo.disabled = true;
		this.buttons.back_to_best.disabled = true;
		this.buttons.back_to_best.title = "restore the model of the best validation step (undoable)";
		// start from a formula: the text goes to Python's kanpiler (sympy's parser, never eval)
		const g5 = group();
		this.formulaBox = suppress(doc.createElement("input"));
		Object.assign(this.formulaBox, {
			type: "text", className: "kan-formula-box", placeholder: "formula, e.g. exp(sin(pi*x_1) + x_2^2)",
			maxLength: this.spec.formulaChars, spellcheck: false,
		});
		this.formulaBox.setAttribute("aria-label", "formula");
		const start = () => {
			const text = this.formulaBox.value.trim();
			if (text) model.send({ type: "start_formula", formula: text });
		};
		g5.append(this.formulaBox);
		add("start_formula", "Start from formula", start, g5).title = "replace the model by one whose edges compute the formula (undoable)";
		this.onEnter(this.formulaBox, start);
		const g4 = group();
		add("svg", "Download SVG", () => opts.onDownload?.("svg"), g4);
		add("png", "Download PNG", () => opts.onDownload?.("png"), g4);

		// ---- hyperparameters: the sliders, then the others in the spec's order
		const panel = doc.createElement("div");
		panel.className = "kan-controls";
		this.panel = panel;
		for (const spec of this.spec.sliders) panel.append(this.slider(doc, spec));
		for (const spec of this.spec.params) {
			if (!this.sliders.has(spec.name)) panel.append(this.field(doc, spec));
		}
		this.sync();
	}

	private listen(target: EventTarget, type: string, fn: (ev: Event) => void): void {
		target.addEventListener(type, fn);
		this.cleanups.push(() => target.removeEventListener(type, fn));
	}

	/** Enter commits a number box even where the notebook swallows the key before `change`. */
	private onEnter(input: HTMLInputElement, fn: () => void): void {
		this.listen(input, "keydown", (ev) => {
			if ((ev as KeyboardEvent).key === "Enter") fn();
		});
	}

	private gridValue(): number {
		const v = Math.round(Number(this.grid.value));
		return Number.isFinite(v) && v >= 1 ? Math.min(this.spec.refineGrid.max, v) : DEFAULT_GRID;
	}

	/** A labelled number box or <select> for a hyperparameter that is not a slider. */
	private field(doc: Document, spec: Param): HTMLElement {
		const wrap = doc.createElement("label");
		wrap.className = "kan-field";
		const span = doc.createElement("span");
		span.className = "kan-label";
		span.textContent = spec.label;
		let input: HTMLInputElement | HTMLSelectElement;
		if (spec.kind === "choice") {
			const select = suppress(doc.createElement("select"));
			const members = (o: string) => this.spec.presets[o]?.join(", ") ?? "";
			for (const o of spec.options) {
				const opt = doc.createElement("option");
				opt.value = o;
				opt.textContent = o;
				// a Symbolify library preset: its functions, as Python's table lists them
				if (members(o)) opt.title = members(o);
				select.append(opt);
			}
			this.listen(select, "change", () => {
				this.commit(spec.name, select.value);
				this.syncFields(true);
			});
			if (Object.keys(this.spec.presets).length && spec.name === "sym_lib") {
				this.presetTitle = () => {
					select.title = members(select.value);
				};
			}
			this.fields.push({ spec, input: select });
			input = select;
		} else {
			const box = suppress(doc.createElement("input"));
			Object.assign(box, { type: "number", min: String(spec.min), max: String(spec.max), step: spec.kind === "int" ? "1" : "any" });
			const commitBox = () => {
				const v = acceptValue(spec, box.value);
				if (v !== null) this.commit(spec.name, v);
				this.syncFields(true);
			};
			this.listen(box, "change", commitBox);
			this.onEnter(box, commitBox);
			this.fields.push({ spec, input: box });
			input = box;
		}
		input.className = `kan-${spec.name}`;
		input.setAttribute("aria-label", spec.label);
		wrap.append(span, input);
		return wrap;
	}

	private slider(doc: Document, spec: SliderParam): HTMLElement {
		const row = doc.createElement("div");
		row.className = `kan-slider kan-slider-${spec.label.replace(/\W+/g, "-")}`;
		const label = doc.createElement("span");
		label.className = "kan-label";
		label.textContent = SYMBOLS[spec.label] ? `${SYMBOLS[spec.label]} ${spec.label}` : spec.label;
		label.setAttribute("aria-hidden", "true");
		const range = suppress(doc.createElement("input"));
		Object.assign(range, { type: "range", min: "0", max: String(POSITIONS), step: "1" });
		range.setAttribute("aria-label", spec.label);
		const number = suppress(doc.createElement("input"));
		Object.assign(number, { type: "number", step: "any", className: "kan-num" });
		number.min = String(spec.min);
		number.max = String(spec.max);
		number.setAttribute("aria-label", `${spec.label} value`);
		const parts: SliderParts = { spec, range, number, timer: null, pendingValue: null, shown: "" };
		this.sliders.set(spec.name, parts);

		this.listen(range, "input", () => {
			const v = fromPosition(spec, Number(range.value));
			number.value = String(v);
			parts.shown = number.value;
			range.setAttribute("aria-valuetext", fmt(v));
			this.schedule(parts, v);
			this.opts.onLive?.(spec.name, v);
		});
		this.listen(range, "change", () => {
			const v = fromPosition(spec, Number(range.value));
			if (parts.pendingValue === null && this.current(spec) === v) return;
			this.schedule(parts, v);
			this.flushSlider(parts);
		});
		const commitNumber = () => {
			const c = acceptValue(spec, number.value);
			if (c === null) {
				this.syncSlider(parts, true);
				return;
			}
			this.cancel(parts);
			number.value = String(c);
			parts.shown = number.value;
			range.value = String(toPosition(spec, c));
			range.setAttribute("aria-valuetext", fmt(c));
			this.opts.onLive?.(spec.name, c);
			this.commit(spec.name, c);
		};
		this.listen(number, "change", commitNumber);
		this.onEnter(number, commitNumber);
		for (const e of [range, number]) {
			this.listen(e, "focus", () => this.opts.onFocus?.(spec.name, true));
			this.listen(e, "blur", () => this.opts.onFocus?.(spec.name, false));
		}
		row.append(label, range, number);
		return row;
	}

	/** The model's value of a number hyperparameter, or the spec's default while it has none. */
	private current(spec: NumberParam): number {
		const v = this.opts.model.get(spec.name);
		return typeof v === "number" && Number.isFinite(v) ? v : spec.default;
	}

	private schedule(parts: SliderParts, v: number): void {
		parts.pendingValue = v;
		if (parts.timer !== null) clearTimeout(parts.timer);
		parts.timer = setTimeout(() => this.flushSlider(parts), this.opts.debounceMs ?? DEBOUNCE_MS);
	}

	private cancel(parts: SliderParts): void {
		if (parts.timer !== null) clearTimeout(parts.timer);
		parts.timer = null;
		parts.pendingValue = null;
	}

	private flushSlider(parts: SliderParts): void {
		const v = parts.pendingValue;
		this.cancel(parts);
		if (v !== null) this.commit(parts.spec.name, v);
	}

	/** Write a trait now (if it changed). */
	commit<K extends HparamName>(trait: K, value: KanTraits[K]): void {
		const model = this.opts.model;
		if (model.get(trait) === value) return;
		model.set(trait, value);
		model.save_changes();
	}

	/** Write every pending debounced value now. */
	flush(): void {
		for (const p of this.sliders.values()) this.flushSlider(p);
	}

	/** The value a slider shows (pending drag value first, else the model's); null: no such slider. */
	value(trait: HparamName): number | null {
		const p = this.sliders.get(trait);
		if (!p) return null;
		return p.pendingValue ?? this.current(p.spec);
	}

	private syncSlider(p: SliderParts, force = false): void {
		if (!force && p.pendingValue !== null) return; // the person is dragging it
		const v = this.current(p.spec);
		p.range.value = String(toPosition(p.spec, v));
		p.range.setAttribute("aria-valuetext", fmt(v));
		// leave the number box alone only while the person is typing in it (focused and edited)
		const doc = p.number.ownerDocument;
		const typing = doc.activeElement === p.number && p.number.value !== p.shown;
		if (force || !typing) {
			p.number.value = String(v);
			p.shown = p.number.value;
		}
	}

	/** The non-slider inputs from the model; a focused number box is left alone unless `force`. */
	private syncFields(force = false, trait?: HparamName): void {
		const m = this.opts.model;
		for (const f of this.fields) {
			if (trait && f.spec.name !== trait) continue;
			if (f.spec.kind === "choice") {
				const v = m.get(f.spec.name);
				if (f.spec.options.includes(v)) f.input.value = v;
				if (f.spec.name === "sym_lib") this.presetTitle?.();
			} else if (force || f.input.ownerDocument.activeElement !== f.input) {
				const v = m.get(f.spec.name);
				if (typeof v === "number") f.input.value = String(v);
			}
		}
	}

	/** Show the model's values (one trait, or all). */
	sync(trait?: HparamName): void {
		for (const p of this.sliders.values()) if (!trait || p.spec.name === trait) this.syncSlider(p);
		this.syncFields(false, trait);
	}

	/** Train/Pause and Undo/Redo follow the kernel's status. */
	setStatus(s: Status): void {
		this.running = s.running;
		const train = this.buttons.train;
		train.textContent = s.running ? "Pause" : "Train";
		train.classList.toggle("kan-running", s.running);
		this.buttons.undo.disabled = !s.can_undo;
		this.buttons.redo.disabled = !s.can_redo;
		const best = this.buttons.back_to_best;
		best.disabled = !s.can_back_to_best;
		best.title = s.best_step !== null
			? `restore the model of step ${s.best_step}, the best validation loss (undoable)`
			: "restore the model of the best validation step (undoable)";
	}

	dispose(): void {
		this.flush();
		for (const c of this.cleanups) c();
		this.cleanups = [];
	}
}
