/**
 * Choosing theta by eye: the distribution of node and edge scores (log10) with the cut at theta,
 * drawn beside the theta slider, and, when Prune would remove nothing, the smallest theta that
 * would remove something ("θ ≥ 0.023 would remove node (1, 3)"). The removal rule is preview.ts's
 * (Python's plan_prune): a hidden node goes when its score <= theta, unless it is the last one of
 * its layer; a present edge goes when its score <= theta.
 */
import { fmt } from "./controls";
import { nodeScores } from "./preview";

export interface ScoreSets {
	/** log10 of the scores of hidden nodes (score > 0) */
	nodes: number[];
	/** log10 of the scores of present edges (score > 0) */
	edges: number[];
	/** how many nodes / edges score 0 (or less): below every theta > 0 */
	zeros: number;
}

/** The scores a theta is compared with, as log10 values. */
export function scoreSets(
	width: number[], scores: Float32Array[], masks: Uint8Array[], subs?: Int32Array[],
): ScoreSets {
	const out: ScoreSets = { nodes: [], edges: [], zeros: 0 };
	const ns = nodeScores(width, scores, subs);
	for (let c = 1; c < width.length - 1; c++) {
		for (const v of ns[c]) {
			if (v > 0) out.nodes.push(Math.log10(v));
			else if (!Number.isNaN(v)) out.zeros++;
		}
	}
	scores.forEach((s, l) => {
		for (let k = 0; k < s.length; k++) {
			if (!(masks[l][k] > 0)) continue;
			if (s[k] > 0) out.edges.push(Math.log10(s[k]));
			else if (!Number.isNaN(s[k])) out.zeros++;
		}
	});
	return out;
}

/** Counts of `values` in `n` equal bins over [lo, hi] (values outside go to the end bins). */
export function binCounts(values: number[], lo: number, hi: number, n: number): number[] {
	const counts = new Array<number>(n).fill(0);
	for (const v of values) {
		if (!Number.isFinite(v)) continue;
		const b = Math.floor(((v - lo) / (hi - lo)) * n);
		counts[Math.min(n - 1, Math.max(0, b))]++;
	}
	return counts;
}

/**
 * The smallest number of 2 significant digits that is >= v in float32, as torch compares a
 * float32 score with theta (so that theta = it removes a score of v).
 */
export function ceil2(v: number): number {
	if (!(v > 0) || !Number.isFinite(v)) return v;
	const p = 10 ** (Math.floor(Math.log10(v)) - 1);
	const near = Number(v.toPrecision(2));
	return Math.fround(near) >= Math.fround(v) ? near : Number((near + p).toPrecision(2));
}

export interface NextCut {
	/** the smallest theta (2 significant digits, rounded up) that removes it */
	theta: number;
	kind: "node" | "edge";
	/** node: [column, index]; edge: [layer, in, out] */
	at: number[];
}

/**
 * What the next theta above `theta` would remove first: the hidden node or present edge with the
 * smallest score above theta (a node that is the last survivor of its layer never goes); null if
 * nothing can go.
 */
export function nextCut(
	width: number[], scores: Float32Array[], masks: Uint8Array[], theta: number, subs?: Int32Array[],
): NextCut | null {
	const th = Math.fround(theta);
	let best: { score: number; kind: "node" | "edge"; at: number[] } | null = null;
	const consider = (score: number, kind: "node" | "edge", at: number[]) => {
		if (score > th && Number.isFinite(score) && (best === null || score < best.score)) best = { score, kind, at };
	};
	const ns = nodeScores(width, scores, subs);
	for (let c = 1; c < width.length - 1; c++) {
		const alive = Array.from(ns[c]).filter((v) => v > th).length;
		if (alive < 2) continue; // the last node of a layer is kept whatever theta is
		ns[c].forEach((v, i) => consider(v, "node", [c, i]));
	}
	for (let l = 0; l < scores.length; l++) {
		const nOut = subs ? subs[l + 1].length : width[l + 1];
		for (let k = 0; k < scores[l].length; k++) {
			if (masks[l][k] > 0) consider(scores[l][k], "edge", [l, Math.floor(k / nOut), k % nOut]);
		}
	}
	if (best === null) return null;
	const b: { score: number; kind: "node" | "edge"; at: number[] } = best;
	return { theta: ceil2(b.score), kind: b.kind, at: b.at };
}

/** The hint shown after "Prune would remove 0 nodes, 0 edges". */
export function nextCutText(cut: NextCut | null): string {
	if (!cut) return "no theta removes anything more";
	return `θ ≥ ${fmt(cut.theta)} would remove ${cut.kind} (${cut.at.join(", ")})`;
}

const SVG = "http://www.w3.org/2000/svg";
export const HIST_W = 180;
export const HIST_H = 34;
const BINS = 30;

/**
 * The little strip beside the theta slider: stacked histogram of log10 edge scores (grey) and node
 * scores (orange) over the slider's range [lo, hi] (10^lo .. 10^hi), and a red line at theta.
 */
export class ThetaHistogram {
	readonly element: SVGSVGElement;
	private bars: SVGGElement;
	private cut: SVGLineElement;
	private label: SVGTitleElement;

	constructor(
		doc: Document,
		private lo: number,
		private hi: number,
	) {
		const svg = doc.createElementNS(SVG, "svg");
		svg.setAttribute("class", "kan-theta-hist");
		svg.setAttribute("width", String(HIST_W));
		svg.setAttribute("height", String(HIST_H));
		svg.setAttribute("viewBox", `0 0 ${HIST_W} ${HIST_H}`);
		svg.setAttribute("role", "img");
		this.label = doc.createElementNS(SVG, "title");
		svg.append(this.label);
		this.bars = doc.createElementNS(SVG, "g");
		svg.append(this.bars);
		const axis = doc.createElementNS(SVG, "line");
		Object.entries({ x1: "0", x2: String(HIST_W), y1: String(HIST_H - 0.5), y2: String(HIST_H - 0.5), stroke: "#adb5bd" })
			.forEach(([k, v]) => axis.setAttribute(k, v));
		svg.append(axis);
		this.cut = doc.createElementNS(SVG, "line");
		Object.entries({ y1: "0", y2: String(HIST_H), stroke: "#e03131", "stroke-width": "1.5", class: "kan-theta-cut" })
			.forEach(([k, v]) => this.cut.setAttribute(k, v));
		svg.append(this.cut);
		this.element = svg;
	}

	/** x of log10 value v */
	x(v: number): number {
		const t = (v - this.lo) / (this.hi - this.lo);
		return Math.min(HIST_W, Math.max(0, t * HIST_W));
	}

	update(sets: ScoreSets | null, theta: number): void {
		const doc = this.element.ownerDocument;
		const parts: SVGRectElement[] = [];
		if (sets) {
			const e = binCounts(sets.edges, this.lo, this.hi, BINS);
			const n = binCounts(sets.nodes, this.lo, this.hi, BINS);
			e[0] += sets.zeros;
			const top = Math.max(1, ...e.map((v, b) => v + n[b]));
			const bw = HIST_W / BINS;
			for (let b = 0; b < BINS; b++) {
				let y = HIST_H - 1;
				for (const [count, color, kind] of [[e[b], "#868e96", "edge"], [n[b], "#f08c00", "node"]] as const) {
					if (!count) continue;
					const h = Math.max(1, ((HIST_H - 2) * count) / top);
					y -= h;
					const r = doc.createElementNS(SVG, "rect");
					Object.entries({ x: (b * bw + 0.5).toFixed(1), y: y.toFixed(1), width: (bw - 1).toFixed(1), height: h.toFixed(1), fill: color, "data-kind": kind })
						.forEach(([k, v]) => r.setAttribute(k, v));
					parts.push(r);
				}
			}
			this.label.textContent =
				`log scores: ${sets.edges.length} edges (grey), ${sets.nodes.length} hidden nodes (orange); ` +
				`red line: θ = ${fmt(theta)}`;
		} else {
			this.label.textContent = "scores not yet known";
		}
		this.bars.replaceChildren(...parts);
		const cx = theta > 0 ? this.x(Math.log10(theta)) : 0;
		this.cut.setAttribute("x1", cx.toFixed(1));
		this.cut.setAttribute("x2", cx.toFixed(1));
	}
}
