// What the in-browser benchmarks share (js/bench_draw.mjs, js/bench_redraw.mjs; served beside
// them by bench/bench_draw.py's `bench_modules()`): a fake anywidget model to render the built
// widget against, the frame clock and a timing summary. Plain JS so a page can import it as is.

/**
 * An anywidget model over `state` (trait name -> value). `push(values)` sets traits as the
 * kernel's sync does and fires their `change:<name>` handlers.
 */
export function fakeModel(state) {
	const handlers = new Map();
	return {
		get: (k) => state[k],
		set: (k, v) => {
			state[k] = v;
		},
		on: (ev, cb) => {
			if (!handlers.has(ev)) handlers.set(ev, new Set());
			handlers.get(ev).add(cb);
		},
		off: (ev, cb) => handlers.get(ev)?.delete(cb),
		save_changes: () => {},
		send: () => {},
		push(values) {
			Object.assign(state, values);
			for (const k of Object.keys(values)) for (const h of [...(handlers.get(`change:${k}`) ?? [])]) h();
		},
	};
}

/** Resolves at the next animation frame, with its time. */
export const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));

/** {median, p90, max, min, n} of the numbers `xs`. */
export function stats(xs) {
	const s = [...xs].sort((a, b) => a - b);
	const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
	return { median: q(0.5), p90: q(0.9), max: s[s.length - 1], min: s[0], n: s.length };
}

/**
 * Render `widget` ({render}) on a fake model of `state` in a fresh `width` px wide element (the
 * page's only content; the previous mount is disposed). Resolves after the first diagram draw
 * and the frame after it with {model, el, wrap, dispose, first} (`first`: that draw's
 * `kan-draw` detail: ms, level, renderer, edges).
 */
export async function mount(widget, state, { width = 960, padding = "" } = {}) {
	globalThis.__kanDispose?.();
	const el = document.createElement("div");
	el.style.width = `${width}px`;
	if (padding) el.style.padding = padding;
	document.body.replaceChildren(el);
	const model = fakeModel(state);
	const dispose = widget.render({ model, el });
	globalThis.__kanDispose = dispose;
	globalThis.__kanModel = model;
	const wrap = el.querySelector(".kan-diagram-wrap");
	// the diagram draws in an animation frame, after render returns: the listener is in time
	const first = await new Promise((resolve) => wrap.addEventListener("kan-draw", (ev) => resolve(ev.detail), { once: true }));
	await nextFrame();
	return { model, el, wrap, dispose, first };
}
