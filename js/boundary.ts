/**
 * A classification's picture, as TensorFlow Playground draws it: for two inputs the class
 * probability as the background over the input square (the kernel computes the grid, `class_grid`;
 * this file only colours it), the training points on top, the test points and "discretize output"
 * on toggles; for other input counts a confusion matrix per split (the node pictures are drawn in
 * the diagram's nodes, node_pics.ts, coloured by `nodePixels`). The colouring and geometry are
 * pure functions (vitest); `ClassPanel` puts them on a canvas.
 */
import type { ClassInfo } from "./decode";
import { asF32 } from "./decode";

/** Class colours: TF Playground's orange and blue first, then distinct hues. */
export const CLASS_COLORS: [number, number, number][] = [
	[245, 147, 34], [8, 119, 189], [47, 158, 68], [174, 62, 201], [224, 49, 49],
	[102, 168, 15], [240, 140, 0], [12, 166, 120], [132, 94, 247], [134, 142, 150],
];
const WHITE = [255, 255, 255];
/** how far the background goes from white towards a class colour at probability 1 */
const BG_STRENGTH = 0.65;

export const classColor = (k: number): [number, number, number] => CLASS_COLORS[((k % CLASS_COLORS.length) + CLASS_COLORS.length) % CLASS_COLORS.length];

/**
 * RGBA pixels `[grid*grid*4]` of the background, top row first (the highest second input), for
 * probabilities `probs [grid*grid, classes]` whose row r is the r-th second-input value from the
 * bottom. Each cell takes the colour of its most likely class, from white at chance (1/classes)
 * to full strength at certainty; with `discretize`, full strength wherever a class wins.
 * Returns null when `probs` does not hold `grid*grid*classes` numbers.
 */
export function boundaryPixels(probs: Float32Array, grid: number, classes: number, discretize: boolean): Uint8ClampedArray<ArrayBuffer> | null {
	if (grid <= 0 || classes < 2 || probs.length !== grid * grid * classes) return null;
	const out = new Uint8ClampedArray(grid * grid * 4);
	const chance = 1 / classes;
	for (let r = 0; r < grid; r++) {
		const top = grid - 1 - r; // canvas rows run downwards, the input upwards
		for (let c = 0; c < grid; c++) {
			const cell = r * grid + c;
			let best = 0;
			let pmax = -1;
			for (let k = 0; k < classes; k++) {
				const p = probs[cell * classes + k];
				if (p > pmax) {
					pmax = p;
					best = k;
				}
			}
			let t = discretize ? 1 : (pmax - chance) / (1 - chance);
			t = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * BG_STRENGTH;
			const col = classColor(best);
			const o = (top * grid + c) * 4;
			for (let i = 0; i < 3; i++) out[o + i] = Math.round(WHITE[i] * (1 - t) + col[i] * t);
			out[o + 3] = 255;
		}
	}
	return out;
}

/**
 * RGBA pixels `[g*g*4]` of one node's picture (TF Playground's neuron thumbnails): `values`
 * (g*g numbers, rows from the bottom) on a diverging scale, orange below 0, white at 0, blue
 * above, scaled per node so every node's pattern shows: by the 90th percentile of |value|
 * (clamped beyond), not the maximum, since a confident logit's few huge values would leave the
 * rest of its picture white.
 */
export function nodePixels(values: Float32Array, g: number): Uint8ClampedArray<ArrayBuffer> | null {
	if (g <= 0 || values.length !== g * g) return null;
	const mags = Array.from(values, Math.abs).sort((a, b) => a - b);
	const m = mags[Math.floor(0.9 * (mags.length - 1))] || mags[mags.length - 1] || 0;
	const out = new Uint8ClampedArray(g * g * 4);
	const [neg, pos] = [classColor(0), classColor(1)];
	for (let r = 0; r < g; r++) {
		for (let c = 0; c < g; c++) {
			const v = m > 0 ? values[r * g + c] / m : 0;
			const col = v < 0 ? neg : pos;
			const t = Math.min(1, Math.abs(v));
			const o = ((g - 1 - r) * g + c) * 4;
			for (let i = 0; i < 3; i++) out[o + i] = Math.round(WHITE[i] * (1 - t) + col[i] * t);
			out[o + 3] = 255;
		}
	}
	return out;
}

export interface ClassPoints {
	x: Float32Array;
	y: Float32Array;
	cls: Int32Array;
	/** 0 train, 1 test */
	split: Uint8Array;
}

/** `class_points` decoded (float32 rows [x, y, class, split]); empty when malformed. */
export function decodeClassPoints(v: unknown): ClassPoints {
	const f = asF32(v);
	const n = f.length % 4 === 0 ? f.length / 4 : 0;
	const out: ClassPoints = { x: new Float32Array(n), y: new Float32Array(n), cls: new Int32Array(n), split: new Uint8Array(n) };
	for (let i = 0; i < n; i++) {
		out.x[i] = f[4 * i];
		out.y[i] = f[4 * i + 1];
		out.cls[i] = Math.round(f[4 * i + 2]);
		out.split[i] = f[4 * i + 3] > 0.5 ? 1 : 0;
	}
	return out;
}

/** Canvas position of input point (x, y) on a `size` px square showing `info`'s input square. */
export function toCanvas(x: number, y: number, info: Pick<ClassInfo, "lo" | "hi">, size: number): [number, number] {
	const [x0, y0] = info.lo;
	const [x1, y1] = info.hi;
	const u = (x - x0) / (x1 - x0 || 1);
	const v = (y - y0) / (y1 - y0 || 1);
	return [u * size, (1 - v) * size];
}

/** Accuracy of a confusion matrix `m[true][predicted]` (null when it counts no rows). */
export function confusionAccuracy(m: number[][]): number | null {
	let right = 0;
	let all = 0;
	m.forEach((row, i) => row.forEach((v, j) => {
		all += v;
		if (i === j) right += v;
	}));
	return all > 0 ? right / all : null;
}

export class ClassPanel {
	readonly element: HTMLElement;
	private canvas: HTMLCanvasElement;
	private small: HTMLCanvasElement | null = null;
	private title: HTMLElement;
	private matrix: HTMLElement;
	private showTest: HTMLInputElement;
	private discretize: HTMLInputElement;
	private info: ClassInfo | null = null;
	private probs: Float32Array = new Float32Array(0);
	private points: ClassPoints = decodeClassPoints(null);
	private doc: Document;
	readonly size = 240;
	/** how many times the boundary was drawn (tests, and the redraw benchmark) */
	draws = 0;

	constructor(doc: Document, opts: { onToggle?: () => void } = {}) {
		this.doc = doc;
		this.element = doc.createElement("div");
		this.element.className = "kan-class";
		this.element.hidden = true;
		this.title = doc.createElement("div");
		this.title.className = "kan-class-title";
		this.canvas = doc.createElement("canvas");
		this.canvas.className = "kan-boundary";
		this.canvas.setAttribute("role", "img");
		this.canvas.setAttribute("aria-label", "decision boundary");
		this.canvas.style.width = `${this.size}px`;
		this.canvas.style.height = `${this.size}px`;
		const toggles = doc.createElement("div");
		toggles.className = "kan-class-toggles";
		const box = (label: string, checked: boolean) => {
			const l = doc.createElement("label");
			const i = doc.createElement("input");
			i.type = "checkbox";
			i.checked = checked;
			i.setAttribute("aria-label", label);
			i.addEventListener("change", () => {
				this.draw();
				opts.onToggle?.();
			});
			l.append(i, doc.createTextNode(` ${label}`));
			toggles.append(l);
			return i;
		};
		this.showTest = box("show test data", false);
		this.discretize = box("discretize output", false);
		this.matrix = doc.createElement("div");
		this.matrix.className = "kan-confusion";
		this.element.append(this.title, this.canvas, toggles, this.matrix);
	}

	/** The view toggles, for a playground that saves them. */
	get toggles(): { show_test: boolean; discretize: boolean } {
		return { show_test: this.showTest.checked, discretize: this.discretize.checked };
	}

	setToggles(t: { show_test?: boolean; discretize?: boolean }): void {
		if (t.show_test !== undefined) this.showTest.checked = t.show_test;
		if (t.discretize !== undefined) this.discretize.checked = t.discretize;
		this.draw();
	}

	update(info: ClassInfo | null, grid: unknown, points: unknown): void {
		this.info = info;
		this.probs = asF32(grid);
		this.points = decodeClassPoints(points);
		this.draw();
	}

	setGrid(grid: unknown): void {
		this.probs = asF32(grid);
		this.draw();
	}

	draw(): void {
		const info = this.info;
		const on = info !== null && info.problem === "classification";
		this.element.hidden = !on;
		if (!on || !info) return;
		const two = info.grid > 0;
		this.canvas.hidden = !two;
		(this.showTest.parentElement as HTMLElement).hidden = !two;
		(this.discretize.parentElement as HTMLElement).hidden = !two;
		this.title.textContent = two ? `decision boundary (${info.in_vars[0]} →, ${info.in_vars[1]} ↑)` : "confusion matrix (rows: true class, columns: predicted)";
		if (two) this.drawBoundary(info);
		this.drawMatrix(info);
	}

	private drawBoundary(info: ClassInfo): void {
		const ctx = this.canvas.getContext("2d");
		const px = boundaryPixels(this.probs, info.grid, info.classes, this.discretize.checked);
		if (!ctx) return; // no canvas (a test DOM): the pixels above are what would be drawn
		const ratio = this.doc.defaultView?.devicePixelRatio ?? 1;
		const side = Math.round(this.size * ratio);
		if (this.canvas.width !== side) {
			this.canvas.width = side;
			this.canvas.height = side;
		}
		ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
		ctx.clearRect(0, 0, this.size, this.size);
		if (px) {
			// the grid's pixels go on a grid-sized canvas (kept between draws), scaled up once
			const small = (this.small ??= this.doc.createElement("canvas"));
			if (small.width !== info.grid) {
				small.width = info.grid;
				small.height = info.grid;
			}
			const sctx = small.getContext("2d");
			if (sctx) {
				sctx.putImageData(new ImageData(px, info.grid, info.grid), 0, 0);
				ctx.imageSmoothingEnabled = !this.discretize.checked;
				ctx.drawImage(small, 0, 0, this.size, this.size);
			}
		} else {
			ctx.fillStyle = "#f1f3f5";
			ctx.fillRect(0, 0, this.size, this.size);
		}
		const p = this.points;
		const test = this.showTest.checked;
		for (let i = 0; i < p.x.length; i++) {
			if (p.split[i] === 1 && !test) continue;
			const [cx, cy] = toCanvas(p.x[i], p.y[i], info, this.size);
			const [r, g, b] = classColor(p.cls[i]);
			ctx.beginPath();
			ctx.arc(cx, cy, 3, 0, 2 * Math.PI);
			ctx.fillStyle = `rgb(${r},${g},${b})`;
			ctx.fill();
			ctx.lineWidth = 1;
			ctx.strokeStyle = p.split[i] === 1 ? "#000" : "#fff"; // test points: black rims, as TF
			ctx.stroke();
		}
		this.draws += 1;
		this.canvas.dataset.draws = String(this.draws);
	}

	private drawMatrix(info: ClassInfo): void {
		const conf = info.confusion;
		this.matrix.hidden = !conf;
		if (!conf) return;
		const doc = this.doc;
		const tables: HTMLElement[] = [];
		for (const [split, m] of Object.entries(conf)) {
			const t = doc.createElement("table");
			const cap = doc.createElement("caption");
			const acc = confusionAccuracy(m);
			cap.textContent = `${split}${acc === null ? "" : ` (accuracy ${(100 * acc).toFixed(1)}%)`}`;
			t.append(cap);
			const head = doc.createElement("tr");
			head.append(doc.createElement("th"));
			m.forEach((_, j) => {
				const th = doc.createElement("th");
				th.textContent = String(j);
				head.append(th);
			});
			t.append(head);
			const total = Math.max(1, ...m.map((row) => row.reduce((a, b) => a + b, 0)));
			m.forEach((row, i) => {
				const tr = doc.createElement("tr");
				const th = doc.createElement("th");
				th.textContent = String(i);
				tr.append(th);
				row.forEach((v, j) => {
					const td = doc.createElement("td");
					td.textContent = String(v);
					const [r, g, b] = i === j ? [47, 158, 68] : [224, 49, 49];
					td.style.background = `rgba(${r},${g},${b},${Math.min(0.6, v / total).toFixed(3)})`;
					tr.append(td);
				});
				t.append(tr);
			});
			tables.push(t);
		}
		this.matrix.replaceChildren(...tables);
	}
}
