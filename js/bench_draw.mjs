// Draw-time benchmark, run inside a real browser page (bench/bench_draw.py drives it with
// Playwright and headless Chromium). It renders the built widget (kan_widget/static/widget.js)
// with a fake model holding a synthetic state, then times:
//   rebuild: a structural change (new `structure` version): layout + every element / pixel anew
//   tick:    a training tick (new `curves` and `scores`): re-plot and restyle in place
// For each draw it records the widget's own draw time (the `kan-draw` event's `ms`) and that time
// plus forcing the browser to finish the work: style + layout for SVG (getBoundingClientRect),
// rasterisation for canvas (getImageData); "paint" goes on to the end of the browser's rendering
// update for that frame (style, layout, paint, commit). "frame" is from the trait change to the
// next animation frame after the draw (includes waiting for the frame clock).

import { mount, nextFrame, stats } from "./bench_harness.mjs";

/** Small deterministic PRNG. */
function rng(seed) {
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

/** Protocol traits for a network of `width` with `n` points per curve. */
export function synthTraits(width, n = 100, seed = 1, version = 1) {
	const r = rng(seed);
	const layers = [];
	let nCurves = 0;
	let nEdges = 0;
	for (let l = 0; l + 1 < width.length; l++) {
		nCurves += width[l] * n + width[l] * width[l + 1] * n;
		nEdges += width[l] * width[l + 1];
	}
	const curves = new Float32Array(nCurves);
	const scores = new Float32Array(nEdges);
	const masks = new Uint8Array(nEdges).fill(1);
	let c = 0;
	let e = 0;
	for (let l = 0; l + 1 < width.length; l++) {
		const nIn = width[l];
		const nOut = width[l + 1];
		const sym = [];
		for (let i = 0; i < nIn; i++) for (let p = 0; p < n; p++) curves[c++] = -1 + (2 * p) / (n - 1);
		for (let i = 0; i < nIn; i++) {
			for (let j = 0; j < nOut; j++) {
				const a = r() * 2 - 1;
				const f = 1 + r() * 4;
				const ph = r() * 6;
				for (let p = 0; p < n; p++) curves[c++] = a * Math.sin(f * (-1 + (2 * p) / (n - 1)) + ph);
				// importances spread like a trained net's: a few strong, many weak
				scores[e++] = 0.6 * r() ** 3;
				if (r() < 0.02) sym.push([i, j, "sin"]);
			}
		}
		layers.push({ in: nIn, out: nOut, sym });
	}
	const dv = (a) => new DataView(a.buffer, a.byteOffset, a.byteLength);
	return {
		structure: {
			version,
			width,
			n_points: n,
			layers,
			in_vars: Array.from({ length: width[0] }, (_, i) => `x${i + 1}`),
			out_vars: Array.from({ length: width[width.length - 1] }, (_, i) => `y${i + 1}`),
		},
		curves: dv(curves),
		scores: dv(scores),
		masks: dv(masks),
	};
}

/**
 * Time drawing a `width` network with the widget module `widget` ({render}). `spec` is the widget's
 * `spec` trait (a KANWidget's `spec`); without it the view has no hyperparameter inputs.
 * Returns {width, edges, renderer, mode, rebuild: {draw, total, paint, frame}, tick: {...}} in ms.
 */
export async function benchWidth(widget, width, { n = 100, reps = 15, containerWidth = 960, spec = {} } = {}) {
	// a few precomputed ticks so generating data is not timed
	const ticks = [2, 3, 4].map((s) => synthTraits(width, n, s, 1));
	const state = {
		lamb: 0.01, lamb_l1: 1, lamb_entropy: 2, theta: 0.01, beta: 3, steps: 50, opt: "LBFGS", lr: 1, spec,
		...synthTraits(width, n, 1, 1),
		status: { running: true, step: 1, n_edge: 0, n_params: 0, message: "", error: null },
		formula: {}, inspector: {}, inspector_points: null,
	};
	const { model, wrap, dispose, first } = await mount(widget, state, { width: containerWidth });

	// The draw runs inside a requestAnimationFrame callback. A message posted from there arrives
	// once the browser has finished that frame's rendering update (style, layout, paint, commit).
	const once = () => new Promise((resolve) => {
		wrap.addEventListener("kan-draw", (ev) => {
			const t = performance.now();
			const target = wrap.querySelector(".kan-diagram");
			if (target instanceof HTMLCanvasElement) target.getContext("2d").getImageData(0, 0, 1, 1);
			else target.getBoundingClientRect();
			const force = performance.now() - t;
			const ch = new MessageChannel();
			ch.port1.onmessage = () => resolve({ ...ev.detail, force, paint: performance.now() - t });
			ch.port2.postMessage(0);
		}, { once: true });
	});

	const out = { width, edges: first.edges, renderer: first.renderer, mode: wrap.querySelector(".kan-diagram").getAttribute("data-mode") };
	for (const kind of (globalThis.__order ?? ["rebuild", "tick"])) {
		const draw = [];
		const total = [];
		const paint = [];
		const frame = [];
		for (let r = 0; r < reps; r++) {
			await nextFrame();
			const done = once();
			const t0 = performance.now();
			if (kind === "rebuild") {
				const s = model.get("structure");
				model.push({ structure: { ...s, version: s.version + 1 } });
			} else {
				const t = ticks[r % ticks.length];
				model.push({ curves: t.curves, scores: t.scores });
			}
			const d = await done;
			const f = await nextFrame();
			if (d.level !== (kind === "rebuild" ? "rebuild" : "curves")) throw new Error(`expected a ${kind}, got ${d.level}`);
			draw.push(d.ms);
			total.push(d.ms + d.force);
			paint.push(d.ms + d.paint);
			frame.push(f - t0);
		}
		out[kind] = { draw: stats(draw), total: stats(total), paint: stats(paint), frame: stats(frame) };
	}
	dispose();
	globalThis.__kanDispose = null;
	return out;
}

/** Benchmark every width in turn. */
export async function run(widget, widths, opts = {}) {
	const results = [];
	for (const w of widths) results.push(await benchWidth(widget, w, opts));
	return results;
}

/**
 * Render one synthetic state and leave it on the page (for screenshots); `extra` overrides traits
 * (e.g. a formula or an inspector); `spec` as for benchWidth. Resolves after the first draw.
 */
export async function show(widget, width, { n = 100, containerWidth = 960, spec = {}, extra = {} } = {}) {
	const state = {
		lamb: 0.01, lamb_l1: 1, lamb_entropy: 2, theta: 0.01, beta: 3, steps: 50, opt: "LBFGS", lr: 1, spec,
		...synthTraits(width, n, 1, 1),
		status: {
			running: false, step: 120, train_loss: 0.0123, test_loss: 0.0156, reg: 1.7, steps_per_s: 24.5,
			n_edge: 0, n_params: 0, message: "", error: null, can_undo: true, can_redo: false,
		},
		formula: {}, inspector: {}, inspector_points: null,
		...extra,
	};
	await mount(widget, state, { width: containerWidth + 400, padding: "8px" });
}
