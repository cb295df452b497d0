/**
 * Test helpers (not shipped): a fake anywidget model and synthetic protocol states.
 */
import { afterEach, beforeEach, vi } from "vitest";
import { render } from "./widget";
import { SPEC } from "./fixtures/spec";
import type { HparamName, KanTraits, TraitName } from "./protocol";

export type Handler = (...a: unknown[]) => void;

/**
 * In-memory stand-in for the anywidget model: get/set/on/off/save_changes/send. Its state is
 * loose on purpose (tests feed malformed traits); `get` is typed like the real model's.
 */
export function fakeModel(state: Record<string, unknown>) {
	const handlers = new Map<string, Set<Handler>>();
	const model = {
		state,
		get: <K extends TraitName>(k: K) => state[k] as KanTraits[K],
		set: vi.fn(<K extends HparamName>(k: K, v: KanTraits[K]) => {
			const changed = state[k] !== v;
			state[k] = v;
			if (changed) for (const h of [...(handlers.get(`change:${k}`) ?? [])]) h();
		}),
		on: (ev: string, cb: Handler) => {
			if (!handlers.has(ev)) handlers.set(ev, new Set());
			handlers.get(ev)!.add(cb);
		},
		off: (ev: string, cb: Handler) => handlers.get(ev)?.delete(cb),
		save_changes: vi.fn(),
		send: vi.fn(),
		/** as if Python changed traits: set without save_changes, then fire change events */
		push(values: Record<string, unknown>) {
			Object.assign(state, values);
			for (const k of Object.keys(values)) for (const h of [...(handlers.get(`change:${k}`) ?? [])]) h();
		},
		handlers,
		listenerCount: () => [...handlers.values()].reduce((a, s) => a + s.size, 0),
	};
	return model;
}

export type FakeModel = ReturnType<typeof fakeModel>;

/** Small deterministic PRNG. */
export function rng(seed: number): () => number {
	let s = seed >>> 0 || 1;
	return () => {
		s ^= s << 13;
		s >>>= 0;
		s ^= s >>> 17;
		s ^= s << 5;
		s >>>= 0;
		return s / 4294967296;
	};
}

export interface SynthOptions {
	n?: number;
	seed?: number;
	/** layer -> [i, j, name] symbolic edges */
	sym?: [number, number, number, string][];
	/** fraction of edges masked out */
	masked?: number;
	scores?: number[][];
}

const dv = (a: Float32Array | Uint8Array) => new DataView(a.buffer, a.byteOffset, a.byteLength);

/** A full set of protocol traits for a network of `width`. */
export function synthTraits(width: number[], opts: SynthOptions = {}): Record<string, unknown> {
	const n = opts.n ?? 20;
	const r = rng(opts.seed ?? 1);
	const layers = [];
	const curves: number[] = [];
	const scores: number[] = [];
	const masks: number[] = [];
	for (let l = 0; l + 1 < width.length; l++) {
		const nIn = width[l];
		const nOut = width[l + 1];
		const sym = (opts.sym ?? []).filter((s) => s[0] === l).map((s) => [s[1], s[2], s[3]]);
		layers.push({ in: nIn, out: nOut, sym });
		for (let i = 0; i < nIn; i++) for (let p = 0; p < n; p++) curves.push(-1 + (2 * p) / (n - 1));
		for (let i = 0; i < nIn; i++) {
			for (let j = 0; j < nOut; j++) {
				const a = r() * 2 - 1;
				const f = 1 + r() * 3;
				for (let p = 0; p < n; p++) curves.push(a * Math.sin(f * (-1 + (2 * p) / (n - 1))));
			}
		}
		for (let k = 0; k < nIn * nOut; k++) {
			const present = r() >= (opts.masked ?? 0);
			masks.push(present ? 1 : 0);
			scores.push(present ? (opts.scores ? opts.scores[l][k] : r() * 0.5) : 0);
		}
	}
	return {
		structure: {
			version: 1, width, n_points: n, layers,
			in_vars: Array.from({ length: width[0] }, (_, i) => `x${i + 1}`),
			out_vars: Array.from({ length: width[width.length - 1] }, (_, i) => `y${i + 1}`),
		},
		curves: dv(Float32Array.from(curves)),
		scores: dv(Float32Array.from(scores)),
		masks: dv(Uint8Array.from(masks)),
	};
}

/** Every trait a fresh KANWidget has, plus a synthetic network. */
export function widgetState(width: number[], opts: SynthOptions = {}): Record<string, unknown> {
	return {
		lamb: 0.01, lamb_l1: 1, lamb_entropy: 2, theta: 0.01, input_theta: 0.01, beta: 3, steps: 50, opt: "LBFGS", lr: 1,
		r2_threshold: 0.99, weight_simple: 0.8, sym_lib: "all",
		spec: SPEC,
		...synthTraits(width, opts),
		status: {
			running: false, step: 0, train_loss: null, test_loss: null, reg: null, steps_per_s: null,
			n_edge: 0, n_params: 0, message: "", error: null, can_undo: false, can_redo: false,
		},
		feature_scores: [],
		formula: {},
		inspector: {},
		inspector_points: null,
	};
}

/** Run pending animation frames (jsdom has no real rendering loop). */
export async function frames(): Promise<void> {
	await vi.advanceTimersByTimeAsync(50);
}

/** Render the widget into a fresh element on a fake model of `width` (plus `extra` traits). */
export async function mount(width: number[] = [2, 5, 1], extra: Record<string, unknown> = {}) {
	const model = fakeModel({ ...widgetState(width, { n: 16 }), ...extra });
	const el = document.createElement("div");
	document.body.replaceChildren(el);
	const dispose = render({ model: model as never, el });
	await frames();
	return { model, el, dispose, q: <T extends Element = HTMLElement>(s: string) => el.querySelector(s) as T | null };
}

/** Fake timers, and animation frames on them (jsdom's requestAnimationFrame only exists with
 * pretendToBeVisual): call once at the top of a test file. */
export function useFakeFrames(): void {
	beforeEach(() => {
		vi.useFakeTimers();
		vi.stubGlobal("requestAnimationFrame", (cb: FrameRequestCallback) => setTimeout(() => cb(0), 16) as unknown as number);
		vi.stubGlobal("cancelAnimationFrame", (id: number) => clearTimeout(id));
	});
	afterEach(() => {
		vi.useRealTimers();
		vi.unstubAllGlobals();
	});
}
