/**
 * Hover cards on the diagram's edges and nodes (both widgets, both renderers): what the synced
 * state already says about the thing under the pointer. An edge: its function (symbolic name or
 * spline), the range its input takes on the data and the range of phi there, its importance
 * score. A node: its kind, its importance score (the rule of `nodeScores`, Python's
 * `node_scores_of`), the range of its value on the data (from the curves' x rows; an output's
 * from its picture over the input square when there is one). Pure text here (vitest);
 * `HoverCard` only shows it.
 */
import type { NetState } from "./decode";
import { nodeScores } from "./preview";

export interface Card {
	title: string;
	rows: [string, string][];
}

/** 3 significant digits, "not finite" for NaN and infinities. */
export function num3(v: number): string {
	if (!Number.isFinite(v)) return "not finite";
	if (v === 0) return "0";
	const a = Math.abs(v);
	if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(3)));
	return v.toExponential(2).replace("e+", "e");
}

/** "lo … hi" of `a` ("not finite" if any value is not; null when empty). */
export function rangeText(a: Float32Array): string | null {
	if (a.length === 0) return null;
	let lo = Infinity;
	let hi = -Infinity;
	for (let p = 0; p < a.length; p++) {
		const v = a[p];
		if (!Number.isFinite(v)) return "not finite";
		if (v < lo) lo = v;
		if (v > hi) hi = v;
	}
	return `${num3(lo)} … ${num3(hi)}`;
}

/** Display name of node i of column c. */
export function nodeLabel(state: NetState, c: number, i: number): string {
	const s = state.structure;
	const L = s.layers.length;
	if (c === 0) return s.in_vars[i] ?? `x${i + 1}`;
	if (c === L) return s.out_vars[i] ?? `y${i + 1}`;
	return `node (${c}, ${i})`;
}

/** The card of edge (l, i, j), or null if the structure has no such edge. */
export function edgeCard(state: NetState, l: number, i: number, j: number): Card | null {
	const layer = state.structure.layers[l];
	if (!layer || i < 0 || j < 0 || i >= layer.in || j >= layer.out) return null;
	const k = i * layer.out + j;
	const sub = state.structure.subs[l + 1];
	const to = nodeLabel(state, l + 1, sub ? sub[j] : j);
	const rows: [string, string][] = [];
	const present = state.masks[l][k] > 0;
	const name = state.sym[l][k];
	rows.push(["function", !present ? "removed" : name !== null ? name : "spline"]);
	const n = state.structure.n_points;
	if (state.curves && present) {
		const c = state.curves[l];
		const x = rangeText(c.xs.subarray(i * n, (i + 1) * n));
		const y = rangeText(c.ys.subarray(k * n, (k + 1) * n));
		if (x) rows.push(["input range", x]);
		if (y) rows.push(["φ range", y]);
	}
	rows.push(["importance", state.scores ? num3(state.scores[l][k]) : "not scored yet"]);
	return { title: `edge (${l}, ${i}, ${j}): ${nodeLabel(state, l, i)} → ${to}`, rows };
}

/**
 * The card of node i of column c, or null if there is none. `picture`: the node's values over
 * the input square, when the model has two inputs (the only range an output node has).
 */
export function nodeCard(state: NetState, c: number, i: number, picture?: Float32Array | null): Card | null {
	const s = state.structure;
	if (c < 0 || c >= s.width.length || i < 0 || i >= s.width[c]) return null;
	const L = s.layers.length;
	const rows: [string, string][] = [];
	rows.push(["kind", c === 0 ? "input" : s.mult[c][i] ? "multiplication" : c === L ? "output (sum)" : "sum"]);
	if (state.scores) {
		const ns = nodeScores(s.width, state.scores, s.subs);
		rows.push(["importance", num3(ns[c][i])]);
	} else {
		rows.push(["importance", "not scored yet"]);
	}
	const n = s.n_points;
	if (c < L && state.curves) {
		const r = rangeText(state.curves[c].xs.subarray(i * n, (i + 1) * n));
		if (r) rows.push(["value range (data)", r]);
	}
	if (picture && picture.length > 0) {
		const r = rangeText(picture);
		if (r) rows.push(["value range (input square)", r]);
	}
	// pykan's node map, where the model has one (a node step): node = scale * n + bias
	if (c > 0) {
		for (const [label, map] of [["node scale", s.node_scale], ["node bias", s.node_bias]] as const) {
			const v = map?.[c - 1]?.[i];
			if (v !== undefined) rows.push([label, v === null ? "not finite" : num3(v)]);
		}
	}
	return { title: nodeLabel(state, c, i), rows };
}

/** The floating card: positioned beside the pointer inside the diagram's wrapper. */
export class HoverCard {
	readonly element: HTMLElement;
	private doc: Document;
	private shownKey = "";

	constructor(doc: Document) {
		this.doc = doc;
		this.element = doc.createElement("div");
		this.element.className = "kan-card";
		this.element.setAttribute("role", "tooltip");
		this.element.hidden = true;
	}

	/** Show `card` (`key` names what it is about: the DOM is rewritten only when it changes)
	 * with its top left at (x, y) px of the wrapper, kept inside `maxW` x `maxH`. */
	show(card: Card, key: string, x: number, y: number, maxW: number, maxH: number): void {
		const el = this.element;
		if (key !== this.shownKey) {
			this.shownKey = key;
			const doc = this.doc;
			const head = doc.createElement("div");
			head.className = "kan-card-title";
			head.textContent = card.title;
			const table = doc.createElement("table");
			for (const [k, v] of card.rows) {
				const tr = doc.createElement("tr");
				const th = doc.createElement("th");
				th.textContent = k;
				const td = doc.createElement("td");
				td.textContent = v;
				tr.append(th, td);
				table.append(tr);
			}
			el.replaceChildren(head, table);
			el.dataset.key = key;
		}
		el.hidden = false;
		const w = el.offsetWidth || 200;
		const h = el.offsetHeight || 80;
		// beside the pointer, flipped to the other side near the right or bottom edge
		const left = x + 14 + w > maxW ? Math.max(0, x - 14 - w) : x + 14;
		const top = y + 14 + h > maxH ? Math.max(0, y - 14 - h) : y + 14;
		el.style.left = `${left}px`;
		el.style.top = `${top}px`;
	}

	hide(): void {
		this.element.hidden = true;
		this.shownKey = "";
		delete this.element.dataset.key;
	}
}
