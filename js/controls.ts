/**
 * The buttons and hyperparameter inputs. Each slider is a range input (positions 0..POSITIONS,
 * on a log scale where that fits) next to an editable number input holding the value itself.
 * Drags are debounced: the value is shown and handed to `onLive` at once (theta preview, beta
 * opacity), and written to the model (`model.set` + `save_changes`) DEBOUNCE_MS after the last
 * move, or at once when the drag ends. Commands go out with `model.send`.
 */
import type { Status } from "./decode";

/** The slice of the anywidget model the controls use. */
export interface ModelLike {
	get(key: string): unknown;
	set(key: string, value: unknown): void;
	save_changes(): void;
	send(content: unknown): void;
}

export type Scale = "log0" | "log" | "linear";

export interface SliderSpec {
	trait: string;
	label: string;
	scale: Scale;
	/** smallest non-zero value for log0 (0 is position 0), else the smallest value */
	min: number;
	max: number;
	/** linear: rounding step */
	step?: number;
	fallback: number;
}

export const POSITIONS = 1000;
export const DEBOUNCE_MS = 200;

export const SLIDERS: SliderSpec[] = [
	{ trait: "lamb", label: "lambda", scale: "log0", min: 1e-5, max: 1, fallback: 0.01 },
	{ trait: "lamb_l1", label: "mu1", scale: "linear", min: 0, max: 10, step: 0.01, fallback: 1 },
	{ trait: "lamb_entropy", label: "mu2", scale: "linear", min: 0, max: 10, step: 0.01, fallback: 2 },
	{ trait: "theta", label: "theta", scale: "log0", min: 1e-5, max: 1, fallback: 0.01 },
	{ trait: "beta", label: "beta", scale: "log", min: 0.1, max: 100, fallback: 3 },
];

/** Round to 3 significant digits (what a slider position can mean anyway). */
const sig3 = (v: number) => (v === 0 ? 0 : Number(v.toPrecision(3)));

/** Value at slider position `pos` (0..POSITIONS). */
export function fromPosition(spec: SliderSpec, pos: number): number {
	const p = Math.min(POSITIONS, Math.max(0, Math.round(pos)));
	const lo = Math.log10(spec.min);
	const hi = Math.log10(spec.max);
	switch (spec.scale) {
		case "log0":
			if (p === 0) return 0;
			return sig3(10 ** (lo + ((hi - lo) * (p - 1)) / (POSITIONS - 1)));
		case "log":
			return sig3(10 ** (lo + ((hi - lo) * p) / POSITIONS));
		default: {
			const step = spec.step ?? (spec.max - spec.min) / POSITIONS;
			const v = spec.min + ((spec.max - spec.min) * p) / POSITIONS;
			return Number((Math.round(v / step) * step).toFixed(10));
		}
	}
}

/** Nearest slider position for `value` (values outside the range go to the ends). */
export function toPosition(spec: SliderSpec, value: number): number {
	if (!Number.isFinite(value)) return 0;
	const lo = Math.log10(spec.min);
	const hi = Math.log10(spec.max);
	const clampP = (p: number) => Math.min(POSITIONS, Math.max(0, Math.round(p)));
	switch (spec.scale) {
		case "log0":
			if (value <= 0) return 0;
			return Math.max(1, clampP(1 + ((Math.log10(value) - lo) / (hi - lo)) * (POSITIONS - 1)));
		case "log":
			if (value <= 0) return 0;
			return clampP(((Math.log10(value) - lo) / (hi - lo)) * POSITIONS);
		default:
			return clampP(((value - spec.min) / (spec.max - spec.min)) * POSITIONS);
	}
}

/** Clamp a typed value into the slider's range (0 allowed for log0). */
export function clampValue(spec: SliderSpec, v: number): number {
	const lo = spec.scale === "log0" ? 0 : spec.min;
	return Math.min(spec.max, Math.max(lo, v));
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
	onLive?: (trait: string, value: number) => void;
	/** a theta/beta control gained or lost focus */
	onFocus?: (trait: string, focused: boolean) => void;
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
	spec: SliderSpec;
	range: HTMLInputElement;
	number: HTMLInputElement;
	timer: ReturnType<typeof setTimeout> | null;
	pendingValue: number | null;
	/** what was last written into the number box (to tell typing from a stale display) */
	shown: string;
}

export class Controls {
	readonly toolbar: HTMLElement;
	readonly panel: HTMLElement;
	readonly buttons: Record<string, HTMLButtonElement> = {};
	readonly grid: HTMLInputElement;
	readonly steps: HTMLInputElement;
	readonly optimizer: HTMLSelectElement;
	readonly lr: HTMLInputElement;
	private sliders = new Map<string, SliderParts>();
	private opts: ControlsOptions;
	private running = false;
	private cleanups: (() => void)[] = [];

	constructor(doc: Document, opts: ControlsOptions) {
		this.opts = opts;
		const model = opts.model;

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
		const send = (type: string, extra: Record<string, unknown> = {}) => () => model.send({ type, ...extra });
		const g1 = group();
		add("train", "Train", () => model.send({ type: this.running ? "pause" : "train" }), g1);
		add("step", "Step", send("step"), g1);
		add("reset", "Reset", send("reset"), g1);
		const g2 = group();
		add("prune", "Prune", send("prune"), g2);
		add("refine", "Refine", () => {
			const g = this.gridValue();
			this.grid.value = String(g);
			model.send({ type: "refine", grid: g });
		}, g2);
		this.grid = suppress(doc.createElement("input"));
		Object.assign(this.grid, { type: "number", min: "1", max: "1000", step: "1", value: "10", className: "kan-grid" });
		this.grid.setAttribute("aria-label", "grid");
		this.grid.title = "grid intervals for Refine";
		g2.append(this.grid);
		add("symbolify", "Symbolify", send("symbolify"), g2);
		const g3 = group();
		add("undo", "Undo", send("undo"), g3);
		add("redo", "Redo", send("redo"), g3);
		this.buttons.undo.disabled = true;
		this.buttons.redo.disabled = true;
		const g4 = group();
		add("svg", "Download SVG", () => opts.onDownload?.("svg"), g4);
		add("png", "Download PNG", () => opts.onDownload?.("png"), g4);

		// ---- hyperparameters
		const panel = doc.createElement("div");
		panel.className = "kan-controls";
		this.panel = panel;
		for (const spec of SLIDERS) panel.append(this.slider(doc, spec));

		const field = (label: string, input: HTMLElement) => {
			const wrap = doc.createElement("label");
			wrap.className = "kan-field";
			const span = doc.createElement("span");
			span.className = "kan-label";
			span.textContent = label;
			wrap.append(span, input);
			panel.append(wrap);
		};
		this.steps = suppress(doc.createElement("input"));
		Object.assign(this.steps, { type: "number", min: "1", max: "100000", step: "1", className: "kan-steps" });
		this.steps.setAttribute("aria-label", "steps");
		field("steps", this.steps);
		const commitSteps = () => {
			const v = Math.round(Number(this.steps.value));
			if (this.steps.value.trim() === "" || !Number.isFinite(v)) return this.syncOthers(true);
			this.commit("steps", Math.min(100000, Math.max(1, v)));
			this.syncOthers(true);
		};
		this.listen(this.steps, "change", commitSteps);
		this.onEnter(this.steps, commitSteps);

		this.optimizer = suppress(doc.createElement("select"));
		this.optimizer.className = "kan-opt";
		this.optimizer.setAttribute("aria-label", "optimizer");
		for (const o of ["LBFGS", "Adam"]) {
			const opt = doc.createElement("option");
			opt.value = o;
			opt.textContent = o;
			this.optimizer.append(opt);
		}
		field("optimizer", this.optimizer);
		this.listen(this.optimizer, "change", () => {
			this.commit("opt", this.optimizer.value);
			this.syncOthers(true);
		});

		this.lr = suppress(doc.createElement("input"));
		Object.assign(this.lr, { type: "number", min: "0", max: "10", step: "any", className: "kan-lr" });
		this.lr.setAttribute("aria-label", "learning rate");
		field("learning rate", this.lr);
		const commitLr = () => {
			const v = Number(this.lr.value);
			if (this.lr.value.trim() === "" || !Number.isFinite(v) || v <= 0) return this.syncOthers(true);
			this.commit("lr", Math.min(10, v));
			this.syncOthers(true);
		};
		this.listen(this.lr, "change", commitLr);
		this.onEnter(this.lr, commitLr);

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
		return Number.isFinite(v) && v >= 1 ? Math.min(1000, v) : 10;
	}

	private slider(doc: Document, spec: SliderSpec): HTMLElement {
		const row = doc.createElement("div");
		row.className = `kan-slider kan-slider-${spec.label}`;
		const label = doc.createElement("span");
		label.className = "kan-label";
		label.textContent = spec.label === "lambda" ? "λ lambda" : spec.label === "theta" ? "θ theta"
			: spec.label === "beta" ? "β beta" : spec.label === "mu1" ? "μ1 mu1" : "μ2 mu2";
		label.setAttribute("aria-hidden", "true");
		const range = suppress(doc.createElement("input"));
		Object.assign(range, { type: "range", min: "0", max: String(POSITIONS), step: "1" });
		range.setAttribute("aria-label", spec.label);
		const number = suppress(doc.createElement("input"));
		Object.assign(number, { type: "number", step: "any", className: "kan-num" });
		number.min = String(spec.scale === "log0" ? 0 : spec.min);
		number.max = String(spec.max);
		number.setAttribute("aria-label", `${spec.label} value`);
		const parts: SliderParts = { spec, range, number, timer: null, pendingValue: null, shown: "" };
		this.sliders.set(spec.trait, parts);

		this.listen(range, "input", () => {
			const v = fromPosition(spec, Number(range.value));
			number.value = String(v);
			parts.shown = number.value;
			range.setAttribute("aria-valuetext", fmt(v));
			this.schedule(parts, v);
			this.opts.onLive?.(spec.trait, v);
		});
		this.listen(range, "change", () => {
			const v = fromPosition(spec, Number(range.value));
			if (parts.pendingValue === null && this.current(spec) === v) return;
			this.schedule(parts, v);
			this.flushSlider(parts);
		});
		const commitNumber = () => {
			const v = Number(number.value);
			if (number.value.trim() === "" || !Number.isFinite(v)) {
				this.syncSlider(parts, true);
				return;
			}
			const c = clampValue(spec, v);
			this.cancel(parts);
			number.value = String(c);
			parts.shown = number.value;
			range.value = String(toPosition(spec, c));
			range.setAttribute("aria-valuetext", fmt(c));
			this.opts.onLive?.(spec.trait, c);
			this.commit(spec.trait, c);
		};
		this.listen(number, "change", commitNumber);
		this.onEnter(number, commitNumber);
		for (const e of [range, number]) {
			this.listen(e, "focus", () => this.opts.onFocus?.(spec.trait, true));
			this.listen(e, "blur", () => this.opts.onFocus?.(spec.trait, false));
		}
		row.append(label, range, number);
		return row;
	}

	private current(spec: SliderSpec): number {
		const v = this.opts.model.get(spec.trait);
		return typeof v === "number" && Number.isFinite(v) ? v : spec.fallback;
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
		if (v !== null) this.commit(parts.spec.trait, v);
	}

	/** Write a trait now (if it changed). */
	commit(trait: string, value: unknown): void {
		const model = this.opts.model;
		if (model.get(trait) === value) return;
		model.set(trait, value);
		model.save_changes();
	}

	/** Write every pending debounced value now. */
	flush(): void {
		for (const p of this.sliders.values()) this.flushSlider(p);
	}

	/** The value a slider shows (pending drag value first, else the model's). */
	value(trait: string): number | null {
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

	/** steps, optimizer, learning rate from the model; a focused box is left alone unless `force`. */
	private syncOthers(force = false): void {
		const m = this.opts.model;
		const free = (e: HTMLElement) => force || e === this.optimizer || e.ownerDocument.activeElement !== e;
		const steps = m.get("steps");
		if (typeof steps === "number" && free(this.steps)) this.steps.value = String(steps);
		const opt = m.get("opt");
		if ((opt === "LBFGS" || opt === "Adam") && free(this.optimizer)) this.optimizer.value = opt;
		const lr = m.get("lr");
		if (typeof lr === "number" && free(this.lr)) this.lr.value = String(lr);
	}

	/** Show the model's values (one trait, or all). */
	sync(trait?: string): void {
		for (const p of this.sliders.values()) if (!trait || p.spec.trait === trait) this.syncSlider(p);
		if (!trait || trait === "steps" || trait === "opt" || trait === "lr") this.syncOthers();
	}

	/** Train/Pause and Undo/Redo follow the kernel's status. */
	setStatus(s: Status): void {
		this.running = s.running;
		const train = this.buttons.train;
		train.textContent = s.running ? "Pause" : "Train";
		train.classList.toggle("kan-running", s.running);
		this.buttons.undo.disabled = !s.can_undo;
		this.buttons.redo.disabled = !s.can_redo;
	}

	dispose(): void {
		this.flush();
		for (const c of this.cleanups) c();
		this.cleanups = [];
	}
}
