/**
 * Where nodes and edges go. Pure geometry, no DOM.
 *
 * Layers run left to right: inputs in the first column (names on the left), outputs in the last
 * (names on the right). Two ways to draw an edge's function phi:
 * - "boxes" (pykan's look, up to a few hundred edges per layer): each present edge gets its own
 *   plot box in the band between its two columns, the boxes of a layer in a grid of sub-columns
 *   chosen to make them as large as the band allows (kan_widget/layout.py's rule for the static
 *   plot), never overlapping, in pykan's order (edge (i, j) at i*out + j, filled row by row
 *   from the top, so each input's boxes stay together level with it); lines run from the input node to
 *   the box and on to the output. A symbolic name is written under its box where the row gap
 *   leaves room (`boxLabels`), else only on hover.
 * - "inline" (any size): the edge is a line from node to node whose middle part is the plot of
 *   phi (x along the line, phi across it), so thousands of edges stay drawable.
 * Every curve is normalised to its own min..max, like pykan's plots; importance is opacity.
 *
 * Multiplication nodes (pykan's MultKAN, `Structure.subs`): edges end on subnodes. A sum node is
 * its own subnode; a multiplication node's operands are points in a short column just left of
 * it, where their edges end (`subX`, `subY`), each joined to the node.
 */

export type Mode = "boxes" | "inline";

export interface Layout {
	width: number;
	height: number;
	mode: Mode;
	/** the network's width, e.g. [2, 5, 1] */
	dims: number[];
	/** x of each node column */
	colX: number[];
	/** y of each node, per column */
	nodeY: Float32Array[];
	/** vertical distance between neighbouring nodes, per column */
	spacing: number[];
	nodeR: number;
	/** per column, 1 = drawn (hidden nodes with no present edge in or out are gone) */
	alive: Uint8Array[];
	/** per layer, the edges' end count (subnodes of the next column; `dims[l + 1]` without products) */
	outDims: number[];
	/** per column, where each subnode's edges end, and the node it belongs to */
	subX: Float32Array[];
	subY: Float32Array[];
	subNode: Int32Array[];
	/** per column, 1 = a multiplication node */
	mult: Uint8Array[];
	/** boxes mode: per layer `[x, y, w, h]` per edge (NaN for absent edges); else null */
	boxes: Float32Array[] | null;
	/** boxes mode: per layer, the horizontal pitch of its grid (px) and whether the gap under
	 * each box has room for a symbolic name */
	boxPitch: number[];
	boxLabels: boolean[];
	/** inline mode: how far (px) the curve swings across the line at most */
	amp: number;
	/** font size (px) of the input / output names, 0 = too crowded to label */
	labelFont: [number, number];
	top: number;
	bottom: number;
}

export interface LayoutOptions {
	/** available width in px */
	width: number;
	/** force a mode; default: boxes when they fit */
	mode?: Mode | "auto";
	/** names, only used to reserve margins */
	inVars?: string[];
	outVars?: string[];
	/** per column, the node each subnode belongs to (`Structure.subs`); default: the identity */
	subs?: Int32Array[];
	/** side (px) of a picture drawn in every node (node heatmaps); nodes grow to hold it where
	 * the spacing allows, and the name margins with them */
	nodePic?: number;
}

export const MAX_HEIGHT = 560;
const PAD = 16;
/** Least box height (px) for a layer to be drawn as boxes; smaller, every layer goes inline. */
export const MIN_BOX = 14;
const BOX_MAX_H = 44;
const BOX_MAX_W = 84;
const BOX_ASPECT = 1.7; // widest box over its height
const BAND_USE = 0.72; // share of a band's width the grid may take (the rest: the fan of lines)
const LABEL_GAP = 11; // px under a box needed to write its symbolic name

export interface BoxGrid {
	cols: number;
	rows: number;
	/** pitch (px) of the grid's slots */
	px: number;
	py: number;
	/** box size (px) */
	w: number;
	h: number;
}

/**
 * The grid for `m` boxes in a band `bandW` x `innerH` px: the number of sub-columns that makes
 * the smaller box side largest (fewest columns on a tie).
 */
export function boxGrid(m: number, bandW: number, innerH: number): BoxGrid {
	let best: BoxGrid = { cols: 1, rows: 1, px: 0, py: 0, w: 0, h: 0 };
	let bestSide = -1;
	const n = Math.max(1, m);
	for (let cols = 1; cols <= n; cols++) {
		const rows = Math.ceil(n / cols);
		if (cols > 1 && Math.ceil(n / (cols - 1)) === rows) continue; // same rows, narrower
		const py = innerH / rows;
		const px = (bandW * BAND_USE) / cols;
		const h = Math.min(py * 0.78, BOX_MAX_H);
		const w = Math.min(px * 0.86, h * BOX_ASPECT, BOX_MAX_W);
		const side = Math.min(w, h);
		if (side > bestSide + 0.25) {
			bestSide = side;
			best = { cols, rows, px, py, w, h };
		}
		if (px * 0.86 < h) break; // more columns only narrow the boxes further
	}
	return best;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** Hidden nodes are drawn only if some present edge comes in (to any operand) and some goes out. */
export function aliveNodes(dims: number[], masks: Uint8Array[] | null, subs?: Int32Array[]): Uint8Array[] {
	const L = dims.length - 1;
	const alive: Uint8Array[] = [];
	for (let c = 0; c <= L; c++) {
		const a = new Uint8Array(dims[c]);
		if (c === 0 || c === L || !masks) {
			a.fill(1);
		} else {
			const inM = masks[c - 1];
			const outM = masks[c];
			const n = dims[c];
			const nPrev = dims[c - 1];
			const sub = subs?.[c];
			const nSub = sub ? sub.length : n;
			const nNext = subs ? subs[c + 1].length : dims[c + 1];
			const hasIn = new Uint8Array(n);
			for (let k = 0; k < nPrev; k++) {
				for (let q = 0; q < nSub; q++) if (inM[k * nSub + q] > 0) hasIn[sub ? sub[q] : q] = 1;
			}
			for (let i = 0; i < n; i++) {
				let hasOut = false;
				for (let j = 0; j < nNext && !hasOut; j++) hasOut = outM[i * nNext + j] > 0;
				a[i] = hasIn[i] && hasOut ? 1 : 0;
			}
		}
		alive.push(a);
	}
	return alive;
}

function presentCount(m: Uint8Array | undefined, n: number): number {
	if (!m) return n;
	let c = 0;
	for (let k = 0; k < m.length; k++) if (m[k] > 0) c++;
	return c;
}

const labelWidth = (names: string[] | undefined) =>
	names && names.length ? clamp(Math.max(...names.map((s) => s.length)) * 7 + 14, 24, 130) : 24;

export function computeLayout(dims: number[], masks: Uint8Array[] | null, opts: LayoutOptions): Layout {
	const L = dims.length - 1;
	const width = Math.max(320, Math.round(opts.width));
	const maxNodes = Math.max(...dims);
	const subNode = opts.subs ?? dims.map((n) => Int32Array.from({ length: n }, (_, i) => i));
	const outDims = subNode.slice(1).map((s) => s.length);
	const present = dims.slice(0, -1).map((n, l) => presentCount(masks?.[l], n * outDims[l]));
	const maxPresent = Math.max(0, ...present);
	// a node picture makes the nodes (and so the gap to their names) larger than the usual 7 px
	const picR = opts.nodePic && opts.nodePic > 0 ? opts.nodePic / 2 : 0;
	const extra = Math.max(0, picR - 7);
	const left = labelWidth(opts.inVars) + extra;
	const right = labelWidth(opts.outVars) + extra;
	const bandW = (width - left - right) / Math.max(1, L);

	// boxes: one column of boxes while they fit at 32 px a row, then the full height for a grid
	const boxesH = clamp(Math.max(maxPresent * 32, maxNodes * 26) + 2 * PAD, 220, MAX_HEIGHT);
	const grids = present.map((m) => boxGrid(m, bandW, boxesH - 2 * PAD));
	const boxesFit = bandW >= 90 && grids.every((g) => Math.min(g.w, g.h) >= MIN_BOX);
	const mode: Mode = opts.mode && opts.mode !== "auto" ? opts.mode : boxesFit ? "boxes" : "inline";
	const height = mode === "boxes" ? boxesH : clamp(maxNodes * 26 + 2 * PAD, 180, MAX_HEIGHT);
	const top = PAD;
	const bottom = height - PAD;
	const innerH = bottom - top;

	const colX: number[] = [];
	for (let c = 0; c <= L; c++) colX.push(left + c * bandW);
	const nodeY: Float32Array[] = [];
	const spacing: number[] = [];
	for (let c = 0; c <= L; c++) {
		const n = dims[c];
		const sp = Math.min(innerH / n, 64);
		const ys = new Float32Array(n);
		for (let i = 0; i < n; i++) ys[i] = top + innerH / 2 + (i - (n - 1) / 2) * sp;
		nodeY.push(ys);
		spacing.push(sp);
	}
	const minSp = Math.min(...spacing);
	// with pictures: as large as asked, but never more than 45% of the spacing (neighbours apart)
	const nodeR = picR > 0 ? Math.max(clamp(minSp * 0.3, 1.5, 7), Math.min(picR, minSp * 0.45)) : clamp(minSp * 0.3, 1.5, 7);

	// subnodes: a multiplication node's operands in a short column left of it
	const mult: Uint8Array[] = [];
	const subX: Float32Array[] = [];
	const subY: Float32Array[] = [];
	for (let c = 0; c <= L; c++) {
		const sub = subNode[c];
		const count = new Int32Array(dims[c]);
		for (const i of sub) count[i]++;
		const mk = new Uint8Array(dims[c]);
		for (let i = 0; i < dims[c]; i++) mk[i] = count[i] > 1 ? 1 : 0;
		const xs = new Float32Array(sub.length);
		const ys = new Float32Array(sub.length);
		const seen = new Int32Array(dims[c]);
		for (let q = 0; q < sub.length; q++) {
			const i = sub[q];
			xs[q] = colX[c] - (mk[i] ? 3 * nodeR : 0);
			ys[q] = nodeY[c][i] + (mk[i] ? (seen[i]++ - (count[i] - 1) / 2) * Math.min(2.4 * nodeR, spacing[c] / count[i]) : 0);
		}
		mult.push(mk);
		subX.push(xs);
		subY.push(ys);
	}

	let boxes: Float32Array[] | null = null;
	const boxPitch: number[] = [];
	const boxLabels: boolean[] = [];
	if (mode === "boxes") {
		boxes = [];
		for (let l = 0; l < L; l++) {
			const nIn = dims[l];
			const nOut = outDims[l];
			const b = new Float32Array(4 * nIn * nOut).fill(NaN);
			const g = boxGrid(present[l], bandW, innerH);
			// a single column keeps the old spacing (one row per edge, labels under the boxes)
			const bw = g.cols === 1 ? Math.min(bandW * 0.42, g.h * BOX_ASPECT, BOX_MAX_W) : g.w;
			const x0 = (colX[l] + colX[l + 1]) / 2 - (g.cols * g.px) / 2;
			let idx = 0;
			for (let k = 0; k < nIn * nOut; k++) {
				if (masks && !(masks[l][k] > 0)) continue;
				const row = Math.floor(idx / g.cols);
				const col = idx - row * g.cols;
				b[4 * k] = x0 + g.px * (col + 0.5) - bw / 2;
				b[4 * k + 1] = top + g.py * (row + 0.5) - g.h / 2;
				b[4 * k + 2] = bw;
				b[4 * k + 3] = g.h;
				idx++;
			}
			boxes.push(b);
			boxPitch.push(g.cols === 1 ? bandW : g.px);
			boxLabels.push(g.py - g.h >= LABEL_GAP);
		}
	}

	const labelFont = (sp: number) => (sp >= 9 ? Math.min(12, Math.floor(sp * 0.85)) : 0);
	return {
		width,
		height,
		mode,
		dims: dims.slice(),
		colX,
		nodeY,
		spacing,
		nodeR,
		alive: aliveNodes(dims, masks, opts.subs),
		outDims,
		subX,
		subY,
		subNode,
		mult,
		boxes,
		boxPitch,
		boxLabels,
		amp: clamp(minSp * 0.42, 3, 12),
		labelFont: [labelFont(spacing[0]), labelFont(spacing[L])],
		top,
		bottom,
	};
}

/** Fraction of an inline edge (from its input end) where the plot of phi starts and ends. */
export const T0 = 0.3;
export const T1 = 0.7;

/**
 * The polyline of edge (l, i, j) in px, written into `out` as x, y pairs; returns the number of
 * points. `ys` holds the curves of layer l (`[in, out, n]`), or null for a flat line. At most
 * `maxPts` samples of phi are used (evenly picked). Inline mode: from the input node through the
 * plot to the output node. Boxes mode: the plot inside the edge's box.
 */
export function edgeCurve(
	lay: Layout, l: number, i: number, j: number, ys: Float32Array | null, n: number,
	maxPts: number, out: Float32Array,
): number {
	const nOut = lay.outDims[l];
	const k = i * nOut + j;
	const off = k * n;
	if (lay.mode === "boxes" && lay.boxes) {
		const b = lay.boxes[l];
		return plotInBox(ys, off, n, b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3], maxPts, out);
	}
	const { lo, scale, flat } = valueRange(ys, off, n);
	const m = Math.max(2, Math.min(n, maxPts));
	const step = n > 1 ? (n - 1) / (m - 1) : 0;
	let w = 0;
	const ax = lay.colX[l];
	const ay = lay.nodeY[l][i];
	const bx = lay.subX[l + 1][j];
	const by = lay.subY[l + 1][j];
	const dx = bx - ax;
	const dy = by - ay;
	const len = Math.hypot(dx, dy) || 1;
	// normal pointing "up" on screen when the edge runs left to right
	const nx = dy / len;
	const ny = -dx / len;
	const amp = lay.amp;
	out[w++] = ax;
	out[w++] = ay;
	for (let q = 0; q < m; q++) {
		const t = T0 + ((T1 - T0) * q) / (m - 1);
		const yn = flat ? 0 : (ys![off + Math.round(q * step)] - lo) * scale - 1;
		out[w++] = ax + dx * t + nx * amp * yn;
		out[w++] = ay + dy * t + ny * amp * yn;
	}
	out[w++] = bx;
	out[w++] = by;
	return m + 2;
}

/**
 * The range of the `n` values of `ys` from `off` as `lo` and the `scale` that maps it onto
 * [0, 2]; `flat` (scale 0) when `ys` is null, constant or not finite.
 */
function valueRange(
	ys: Float32Array | null, off: number, n: number,
): { lo: number; scale: number; flat: boolean } {
	let lo = Infinity;
	let hi = -Infinity;
	if (ys) {
		for (let p = 0; p < n; p++) {
			const v = ys[off + p];
			if (v < lo) lo = v;
			if (v > hi) hi = v;
		}
	}
	const flat = !ys || !(hi - lo > 1e-12) || !Number.isFinite(hi - lo);
	return { lo, scale: flat ? 0 : 2 / (hi - lo), flat };
}

/**
 * The plot of the `n` values of `ys` from `off` (one edge's phi), scaled to fill box (`bx`, `by`,
 * `bw`, `bh`) less a small margin, as x, y pairs in `out`; returns the number of points (at most
 * `maxPts`, evenly picked). `ys` null, flat or not finite: a level line through the middle.
 * Boxes mode's plots and the enlarged hover box (edge_zoom.ts) both draw with it.
 */
export function plotInBox(
	ys: Float32Array | null, off: number, n: number, bx: number, by: number, bw: number, bh: number,
	maxPts: number, out: Float32Array,
): number {
	const { lo, scale, flat } = valueRange(ys, off, n);
	const m = Math.max(2, Math.min(n, maxPts));
	const step = n > 1 ? (n - 1) / (m - 1) : 0;
	const pad = Math.min(4, bw * 0.1);
	const cy = by + bh / 2;
	const half = bh / 2 - pad;
	let w = 0;
	for (let q = 0; q < m; q++) {
		const yn = flat ? 0 : (ys![off + Math.round(q * step)] - lo) * scale - 1;
		out[w++] = bx + pad + ((bw - 2 * pad) * q) / (m - 1);
		out[w++] = cy - half * yn;
	}
	return m;
}

/** Boxes mode: the two connector segments of edge (l, i, j): node -> box, box -> node. */
export function boxConnectors(lay: Layout, l: number, i: number, j: number): number[] {
	const k = i * lay.outDims[l] + j;
	const b = lay.boxes![l];
	const midY = b[4 * k + 1] + b[4 * k + 3] / 2;
	return [
		lay.colX[l], lay.nodeY[l][i], b[4 * k], midY,
		b[4 * k] + b[4 * k + 2], midY, lay.subX[l + 1][j], lay.subY[l + 1][j],
	];
}

/** Middle of an edge's plot (for a symbolic name). */
export function edgeLabelPos(lay: Layout, l: number, i: number, j: number): [number, number] {
	if (lay.mode === "boxes" && lay.boxes) {
		const k = i * lay.outDims[l] + j;
		const b = lay.boxes[l];
		return [b[4 * k] + b[4 * k + 2] / 2, b[4 * k + 1] + b[4 * k + 3] + 9];
	}
	const t = (T0 + T1) / 2;
	return [
		lay.colX[l] + (lay.subX[l + 1][j] - lay.colX[l]) * t,
		lay.nodeY[l][i] + (lay.subY[l + 1][j] - lay.nodeY[l][i]) * t - lay.amp - 3,
	];
}

function segDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
	const dx = bx - ax;
	const dy = by - ay;
	const d2 = dx * dx + dy * dy;
	const t = d2 > 0 ? clamp(((px - ax) * dx + (py - ay) * dy) / d2, 0, 1) : 0;
	return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/**
 * The edge under point (x, y), or null. Among edges near enough, the nearest wins, with a bias
 * towards visible (opaque) ones; `alpha(l, k)` gives an edge's opacity (default 1).
 */
export function edgeAt(
	lay: Layout, masks: Uint8Array[] | null, x: number, y: number,
	alpha: (l: number, k: number) => number = () => 1,
): [number, number, number] | null {
	const L = lay.dims.length - 1;
	let best: [number, number, number] | null = null;
	let bestCost = Infinity;
	const tol = lay.mode === "boxes" ? 4 : lay.amp + 3;
	for (let l = 0; l < L; l++) {
		if (x < lay.colX[l] - tol || x > lay.colX[l + 1] + tol) continue;
		const nIn = lay.dims[l];
		const nOut = lay.outDims[l];
		for (let i = 0; i < nIn; i++) {
			for (let j = 0; j < nOut; j++) {
				const k = i * nOut + j;
				if (masks && !(masks[l][k] > 0)) continue;
				let d: number;
				if (lay.mode === "boxes" && lay.boxes) {
					const b = lay.boxes[l];
					if (x >= b[4 * k] - 2 && x <= b[4 * k] + b[4 * k + 2] + 2
						&& y >= b[4 * k + 1] - 2 && y <= b[4 * k + 1] + b[4 * k + 3] + 2) {
						d = 0;
					} else {
						const c = boxConnectors(lay, l, i, j);
						d = Math.min(segDist(x, y, c[0], c[1], c[2], c[3]), segDist(x, y, c[4], c[5], c[6], c[7]));
					}
				} else {
					d = segDist(x, y, lay.colX[l], lay.nodeY[l][i], lay.subX[l + 1][j], lay.subY[l + 1][j]);
				}
				if (d > tol) continue;
				const cost = d + (1 - clamp(alpha(l, k), 0, 1)) * tol;
				if (cost < bestCost) {
					bestCost = cost;
					best = [l, i, j];
				}
			}
		}
	}
	return best;
}
