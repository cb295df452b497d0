/**
 * View-only state: what this one view shows beyond the synced traits (which edge is selected,
 * whether the theta preview is showing and its plan, the redraw owed while buffers are torn).
 * Never sent to the kernel, never shared between views. No DOM.
 */
import type { InputPlan } from "./attribution";
import type { NetState } from "./decode";
import type { PrunePlan } from "./preview";
import { type Level, type Scene, stronger } from "./scene";

export type Edge = [number, number, number];

/** How long after the last theta change the preview marks stay on the diagram. */
export const PREVIEW_HOLD_MS = 3000;
/** ... and after theta's slider or number box loses focus. */
export const BLUR_HOLD_MS = 400;

export interface StoreOptions {
	/** the preview's hold ran out: the marks should go */
	onPreviewEnd: () => void;
	now?: () => number;
	setTimer?: (fn: () => void, ms: number) => unknown;
	clearTimer?: (id: unknown) => void;
}

export class ViewStore {
	/** the edge drawn as inspected (may name an edge a newer structure lacks) */
	selected: Edge | null = null;
	/** what Prune would remove at the current theta; null until scores arrive */
	plan: PrunePlan | null = null;
	/** what Prune inputs would drop at the current input threshold; null without scores */
	inputPlan: InputPlan | null = null;
	private previewUntil = 0;
	private thetaFocused = false;
	private inputUntil = 0;
	private inputFocused = false;
	private timer: unknown = null;
	private owed: Level | null = null;
	private opts: StoreOptions;
	private now: () => number;

	constructor(opts: StoreOptions) {
		this.opts = opts;
		this.now = opts.now ?? Date.now;
	}

	/** Theta moved: show the preview marks for PREVIEW_HOLD_MS. */
	thetaMoved(): void {
		this.previewUntil = this.now() + PREVIEW_HOLD_MS;
		this.arm();
	}

	/** Theta's inputs gained or lost focus: marks show while focused, and briefly after. */
	thetaFocus(focused: boolean): void {
		this.thetaFocused = focused;
		if (!focused) this.previewUntil = Math.max(this.previewUntil, this.now() + BLUR_HOLD_MS);
		this.arm();
	}

	/** Are the preview marks showing now? */
	previewing(): boolean {
		return this.thetaFocused || this.now() < this.previewUntil;
	}

	/** The input threshold moved: mark the inputs Prune inputs would drop, as theta does. */
	inputMoved(): void {
		this.inputUntil = this.now() + PREVIEW_HOLD_MS;
		this.arm();
	}

	/** The input threshold's inputs gained or lost focus. */
	inputFocus(focused: boolean): void {
		this.inputFocused = focused;
		if (!focused) this.inputUntil = Math.max(this.inputUntil, this.now() + BLUR_HOLD_MS);
		this.arm();
	}

	/** Are the input preview marks showing now? */
	inputPreviewing(): boolean {
		return this.inputFocused || this.now() < this.inputUntil;
	}

	/** Per input, 1 = kept, while the input preview shows; else null (no marks). */
	inputMarks(): Uint8Array | null {
		return this.inputPreviewing() && this.inputPlan ? this.inputPlan.keep : null;
	}

	private clear(): void {
		if (this.timer === null) return;
		if (this.opts.clearTimer) this.opts.clearTimer(this.timer);
		else clearTimeout(this.timer as ReturnType<typeof setTimeout>);
		this.timer = null;
	}

	private arm(): void {
		const set = this.opts.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
		this.clear();
		// the next hold to run out (theta's or the input threshold's); then the one after it
		const now = this.now();
		const ends = [this.previewUntil, this.inputUntil].filter((t) => t > now);
		if (ends.length > 0) {
			this.timer = set(() => {
				this.timer = null;
				this.opts.onPreviewEnd();
				this.arm();
			}, Math.min(...ends) - now + 20);
		}
	}

	/**
	 * The redraw to do now for a change of `level`, raised to any redraw skipped before; null when
	 * the buffers are `torn` and a picture is already up (the redraw is owed until they match).
	 */
	redraw(level: Level, torn: boolean, drawn: boolean): Level | null {
		const todo = stronger(this.owed, level);
		if (torn && drawn) {
			this.owed = todo;
			return null;
		}
		this.owed = null;
		return todo;
	}

	/** What the diagram shows: `net` at opacity `beta`, the preview marks, the selection. */
	scene(net: NetState | null, beta: number): Scene | null {
		if (!net) return null;
		const s = this.selected;
		const layers = net.structure.layers;
		const sel = s && s[0] < layers.length && s[1] < layers[s[0]].in && s[2] < layers[s[0]].out ? s : null;
		return { state: net, beta, plan: this.previewing() ? this.plan : null, selected: sel };
	}

	dispose(): void {
		this.clear();
	}
}
