// Redraw benchmark of a classification widget, run inside a real browser page
// (bench/bench_redraw.py drives it with Playwright and headless Chromium). The states are a real
// KANWidget's traits (a [2,5,5,2] model on the spiral, captured in Python between training steps);
// a "tick" pushes what one live push of the kernel carries (curves, scores, masks, status,
// class_grid, class_nodes) into a fake model and times:
//   redraw:     from the trait change to the end of the frame that shows the new decision-boundary
//               background and node pictures (the boundary draws on change; the diagram and the
//               pictures in the next animation frame; "paint" waits for that frame's rendering)
//   throughput: ticks pushed back to back, each after the previous one was painted, for `seconds`
//   10 Hz:      ticks every 100 ms (the kernel's push interval) for `seconds`: redraws done per
//               second, the longest gap between animation frames, long tasks (>= 50 ms)

import { mount as mountWidget, nextFrame, stats } from "./bench_harness.mjs";

function b64ToView(s) {
	const bin = atob(s);
	const a = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
	return new DataView(a.buffer);
}

/** Python's bytes arrive as {"__b64": "..."}: decode them into DataViews as Jupyter does. */
function decode(traits) {
	const out = {};
	for (const [k, v] of Object.entries(traits)) out[k] = v && typeof v === "object" && "__b64" in v ? b64ToView(v.__b64) : v;
	return out;
}

const TICK = ["curves", "scores", "masks", "status", "class_grid", "class_nodes"];

/** Mount the widget on `states[0]`; resolves with {model, el, wrap, dispose} after the first frame. */
export async function mount(widget, states, containerWidth = 1100) {
	const m = await mountWidget(widget, decode(states[0]), { width: containerWidth });
	await nextFrame(); // node pictures paint a frame after the diagram
	return m;
}

export async function run(widget, states, { reps = 30, seconds = 3, containerWidth = 1100 } = {}) {
	const { model, el, wrap, dispose } = await mount(widget, states, containerWidth);
	const ticks = states.map((s) => {
		const d = decode(s);
		return Object.fromEntries(TICK.map((k) => [k, d[k]]));
	});
	const boundary = el.querySelector("canvas.kan-boundary");
	const pics = () => Number(wrap.dataset.picPaints ?? 0);
	const drawsOf = () => Number(boundary?.dataset.draws ?? 0);
	// one tick, resolved at the end of the frame that shows it (all of it drawn)
	const tick = (r) => new Promise((resolve) => {
		const p0 = pics();
		const b0 = drawsOf();
		let sync = 0;
		wrap.addEventListener("kan-draw", (ev) => {
			const ch = new MessageChannel();
			ch.port1.onmessage = () => resolve({
				total: performance.now() - t0, sync, diagram: ev.detail.ms,
				pictures: pics() - p0, boundary: drawsOf() - b0,
			});
			ch.port2.postMessage(0);
		}, { once: true });
		const t0 = performance.now();
		model.push(ticks[r % ticks.length]);
		sync = performance.now() - t0; // the boundary and the status line draw on change
	});
	const total = [];
	const sync = [];
	const diagram = [];
	let missing = 0;
	for (let r = 0; r < reps; r++) {
		await nextFrame();
		const d = await tick(r + 1);
		total.push(d.total);
		sync.push(d.sync);
		diagram.push(d.diagram);
		if (d.pictures < 1 || d.boundary < 1) missing++;
	}
	// back to back: how many full redraws a second the page can do
	let n = 0;
	const t0 = performance.now();
	while (performance.now() - t0 < seconds * 1000) {
		await tick(n + 1);
		n++;
	}
	const perSecond = n / ((performance.now() - t0) / 1000);
	// at the kernel's pace (every 100 ms): redraws done, frame gaps, long tasks
	const long = [];
	const po = typeof PerformanceObserver === "function" ? new PerformanceObserver((l) => {
		for (const e of l.getEntries()) long.push(e.duration);
	}) : null;
	try {
		po?.observe({ type: "longtask", buffered: false });
	} catch {
		/* no long-task support */
	}
	const gaps = [];
	let running = true;
	let last = performance.now();
	const loop = (t) => {
		gaps.push(t - last);
		last = t;
		if (running) requestAnimationFrame(loop);
	};
	requestAnimationFrame(loop);
	const p0 = pics();
	const b0 = drawsOf();
	const s0 = performance.now();
	let k = 0;
	await new Promise((resolve) => {
		const id = setInterval(() => {
			model.push(ticks[k++ % ticks.length]);
			if (performance.now() - s0 >= seconds * 1000) {
				clearInterval(id);
				resolve();
			}
		}, 100);
	});
	await nextFrame();
	await nextFrame();
	running = false;
	po?.disconnect();
	const el10 = (performance.now() - s0) / 1000;
	const paced = {
		pushes_per_s: k / el10,
		pictures_per_s: (pics() - p0) / el10,
		boundary_per_s: (drawsOf() - b0) / el10,
		max_frame_gap: Math.max(...gaps.slice(1)),
		long_tasks: long.length,
	};
	const picCount = el.querySelectorAll("canvas.kan-node-pic").length;
	dispose();
	globalThis.__kanDispose = null;
	return {
		redraw: stats(total), sync: stats(sync), diagram: stats(diagram), missing, per_second: perSecond, paced,
		node_pictures: picCount,
	};
}
