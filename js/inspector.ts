/**
 * The edge inspector panel (`.kan-inspector`): a larger plot of phi for the inspected edge with
 * the training inputs on it, its importance, and the top symbolic candidates with `Fix <name>`
 * buttons (or `Unfix` for a symbolic edge), and `Remove edge`. A spline edge's two terms, the
 * base function's (SiLU) and the spline's, are drawn beside their sum phi (pykan issue #567),
 * as the kernel computed them at the inspected points.
 */
import type { EdgeParts, Inspector } from "./decode";
import { closeButton, fmt } from "./controls";
import { SVGNS } from "./draw_svg";
import { COLORS } from "./scene";

export interface InspectorData {
	info: Inspector | null;
	/** x and phi(x) at training inputs (`inspector_points`) */
	points: { x: Float32Array; y: Float32Array };
	/** the edge's current curve from `curves` (x row and phi row), if known */
	curve: { x: Float32Array; y: Float32Array } | null;
	/** names of the edge's two ends */
	from: string;
	to: string;
}

export interface InspectorOptions {
	onFix: (l: number, i: number, j: number, name: string) => void;
	onUnfix: (l: number, i: number, j: number) => void;
	onRemove?: (l: number, i: number, j: number) => void;
}

/** Colours of the parts' lines: base function (SiLU) and spline. */
export const PART_COLORS = { base: "#2b8a3e", spline: "#7048e8" };

/** The parts' polylines `[x, y]` at the points' x (sorted), skipping non-finite values. */
export function partLines(points: { x: Float32Array }, parts: EdgeParts | null): { base: [number, number][]; spline: [number, number][] } | null {
	if (!parts || parts.base.length !== points.x.length || points.x.length < 2) return null;
	const line = (ys: Float32Array) => {
		const out: [number, number][] = [];
		for (let p = 0; p < ys.length; p++) if (Number.isFinite(points.x[p]) && Number.isFinite(ys[p])) out.push([points.x[p], ys[p]]);
		return out;
	};
	return { base: line(parts.base), spline: line(parts.spline) };
}

export const PLOT_W = 340;
export const PLOT_H = 200;

function svgEl(doc: Document, tag: string, attrs: Record<string, string | number>): SVGElement {
	const e = doc.createElementNS(SVGNS, tag) as SVGElement;
	for (const k in attrs) e.setAttribute(k, String(attrs[k]));
	return e;
}

function extent(arrays: Float32Array[]): [number, number] {
	let lo = Infinity;
	let hi = -Infinity;
	for (const a of arrays) {
		for (let p = 0; p < a.length; p++) {
			const v = a[p];
			if (!Number.isFinite(v)) continue;
			if (v < lo) lo = v;
			if (v > hi) hi = v;
		}
	}
	if (!(hi >= lo)) return [0, 1];
	if (hi - lo < 1e-12) return [lo - 0.5, hi + 0.5];
	const pad = (hi - lo) * 0.06;
	return [lo - pad, hi + pad];
}

/** The plot of phi: the curve as a line, the training inputs as dots. */
export function plotPhi(
	doc: Document, curve: InspectorData["curve"], points: InspectorData["points"], parts: EdgeParts | null = null,
): SVGElement {
	const svg = svgEl(doc, "svg", {
		class: "kan-inspector-plot", width: PLOT_W, height: PLOT_H, viewBox: `0 0 ${PLOT_W} ${PLOT_H}`,
		role: "img", "aria-label": "plot of phi", "font-size": 10,
	});
	const m = { l: 46, r: 10, t: 10, b: 26 };
	const lines = partLines(points, parts);
	const xs = [points.x, ...(curve ? [curve.x] : [])];
	const ys = [points.y, ...(curve ? [curve.y] : []), ...(lines && parts ? [parts.base, parts.spline] : [])];
	const [x0, x1] = extent(xs);
	const [y0, y1] = extent(ys);
	const sx = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (PLOT_W - m.l - m.r);
	const sy = (v: number) => PLOT_H - m.b - ((v - y0) / (y1 - y0)) * (PLOT_H - m.t - m.b);
	svg.append(svgEl(doc, "rect", {
		x: m.l, y: m.t, width: PLOT_W - m.l - m.r, height: PLOT_H - m.t - m.b, fill: "#fff", stroke: "#adb5bd",
	}));
	const tick = (x: number, y: number, text: string, anchor: string) => {
		const t = svgEl(doc, "text", { x, y, "text-anchor": anchor, fill: "#495057" });
		t.textContent = text;
		svg.append(t);
	};
	tick(m.l, PLOT_H - 10, fmt(x0), "start");
	tick(PLOT_W - m.r, PLOT_H - 10, fmt(x1), "end");
	tick((m.l + PLOT_W - m.r) / 2, PLOT_H - 10, "x", "middle");
	tick(m.l - 4, m.t + 8, fmt(y1), "end");
	tick(m.l - 4, PLOT_H - m.b, fmt(y0), "end");
	tick(m.l - 4, (PLOT_H - m.b + m.t) / 2, "φ(x)", "end");
	if (points.x.length > 0) {
		let d = "";
		for (let p = 0; p < points.x.length; p++) {
			if (!Number.isFinite(points.x[p]) || !Number.isFinite(points.y[p])) continue;
			d += `M${sx(points.x[p]).toFixed(1)},${sy(points.y[p]).toFixed(1)}h0`;
		}
		svg.append(svgEl(doc, "path", {
			class: "kan-inspector-points", d, stroke: "#868e96", "stroke-width": 4, "stroke-linecap": "round", "stroke-opacity": 0.7,
		}));
	}
	if (lines) {
		for (const key of ["base", "spline"] as const) {
			const d = lines[key].map(([x, y], p) => `${p ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
			svg.append(svgEl(doc, "path", {
				class: `kan-inspector-part kan-part-${key}`, d, fill: "none", stroke: PART_COLORS[key], "stroke-width": 1.5,
				"stroke-dasharray": key === "base" ? "5 3" : "2 2",
			}));
		}
	}
	if (curve && curve.x.length > 1) {
		let d = "";
		for (let p = 0; p < curve.x.length; p++) {
			d += `${p ? "L" : "M"}${sx(curve.x[p]).toFixed(1)},${sy(curve.y[p]).toFixed(1)}`;
		}
		svg.append(svgEl(doc, "path", {
			class: "kan-inspector-curve", d, fill: "none", stroke: COLORS[3], "stroke-width": 2,
		}));
	}
	return svg;
}

export class InspectorPanel {
	readonly element: HTMLElement;
	private opts: InspectorOptions;
	private closedFor: string | null = null;
	private lastKey: string | null = null;
	private lastInfo: Inspector | null | undefined = undefined;
	private lastPoints: InspectorData["points"] | null = null;
	private plot: SVGElement | null = null;

	constructor(doc: Document, opts: InspectorOptions) {
		this.opts = opts;
		this.element = doc.createElement("section");
		this.element.className = "kan-inspector";
		this.element.setAttribute("aria-label", "edge inspector");
		this.update({ info: null, points: { x: new Float32Array(0), y: new Float32Array(0) }, curve: null, from: "", to: "" });
	}

	/**
	 * Show `data`. When only the curve changed (a training tick) just the plot is replaced, so a
	 * Fix button is never swapped out under the pointer.
	 */
	update(data: InspectorData): void {
		const doc = this.element.ownerDocument;
		const root = this.element;
		const info = data.info;
		if (info && info === this.lastInfo && data.points === this.lastPoints && this.plot) {
			const plot = plotPhi(doc, data.curve, data.points, info.parts);
			this.plot.replaceWith(plot);
			this.plot = plot;
			return;
		}
		this.lastInfo = info;
		this.lastPoints = data.points;
		this.plot = null;
		const key = info ? `${info.edge.join(",")}|${info.symbolic}|${info.candidates.map((c) => c.name).join(",")}` : null;
		if (key !== this.lastKey) this.closedFor = null; // a new inspection opens the panel again
		this.lastKey = key;
		root.replaceChildren();
		if (!info) {
			root.hidden = false;
			root.dataset.edge = "";
			const p = doc.createElement("p");
			p.className = "kan-hint";
			p.textContent = "Click an edge to inspect it.";
			root.append(p);
			return;
		}
		root.hidden = this.closedFor === key;
		const [l, i, j] = info.edge;
		root.dataset.edge = `${l},${i},${j}`;

		const head = doc.createElement("div");
		head.className = "kan-inspector-head";
		const title = doc.createElement("strong");
		title.textContent = `Edge (${l}, ${i}, ${j}): ${data.from} → ${data.to}`;
		const close = closeButton(doc, "Close inspector", () => {
			this.closedFor = key;
			root.hidden = true;
		});
		head.append(title, close);

		const facts = doc.createElement("div");
		facts.className = "kan-inspector-facts";
		facts.textContent = `importance ${fmt(info.score)} · ${info.symbolic ? `symbolic: ${info.symbolic}` : "spline"}`
			+ ` · ${info.points} points`;

		this.plot = plotPhi(doc, data.curve, data.points, info.parts);
		root.append(head, facts, this.plot);
		if (info.parts) {
			const key = doc.createElement("div");
			key.className = "kan-part-legend";
			const name = info.parts.baseFun === "silu" ? "SiLU" : info.parts.baseFun;
			const items: [string, string, string][] = [
				[COLORS[3], "solid", "φ = sum"], [PART_COLORS.base, "dashed", `${name} part`], [PART_COLORS.spline, "dotted", "spline part"],
			];
			for (const [color, style, text] of items) {
				const s = doc.createElement("span");
				s.style.marginRight = "10px";
				const sw = doc.createElement("i");
				Object.assign(sw.style, { display: "inline-block", width: "16px", borderTop: `2px ${style} ${color}`, marginRight: "3px", verticalAlign: "middle" });
				s.append(sw, doc.createTextNode(text));
				key.append(s);
			}
			root.append(key);
		}
		if (this.opts.onRemove) {
			const onRemove = this.opts.onRemove;
			const remove = doc.createElement("button");
			remove.type = "button";
			remove.className = "kan-btn kan-remove-edge";
			remove.textContent = "Remove edge";
			remove.title = "remove this edge (pykan's remove_edge; undoable)";
			remove.setAttribute("data-lm-suppress-shortcuts", "true");
			remove.addEventListener("click", () => onRemove(l, i, j));
			root.append(remove);
		}

		if (info.symbolic) {
			const unfix = doc.createElement("button");
			unfix.type = "button";
			unfix.className = "kan-btn kan-unfix";
			unfix.textContent = "Unfix";
			unfix.setAttribute("data-lm-suppress-shortcuts", "true");
			unfix.addEventListener("click", () => this.opts.onUnfix(l, i, j));
			root.append(unfix);
		}
		if (info.candidates.length > 0) {
			const table = doc.createElement("table");
			table.className = "kan-candidates";
			const thead = doc.createElement("thead");
			const hr = doc.createElement("tr");
			for (const h of ["function", "r²", "complexity", ""]) {
				const th = doc.createElement("th");
				th.textContent = h;
				th.scope = "col";
				hr.append(th);
			}
			thead.append(hr);
			const tbody = doc.createElement("tbody");
			for (const c of info.candidates) {
				const tr = doc.createElement("tr");
				tr.className = "kan-candidate";
				const cells = [c.name, Number.isFinite(c.r2) ? c.r2.toFixed(4) : "–", Number.isFinite(c.complexity) ? String(c.complexity) : "–"];
				for (const text of cells) {
					const td = doc.createElement("td");
					td.textContent = text;
					tr.append(td);
				}
				const td = doc.createElement("td");
				const fix = doc.createElement("button");
				fix.type = "button";
				fix.className = "kan-btn kan-fix";
				fix.textContent = `Fix ${c.name}`;
				fix.setAttribute("data-lm-suppress-shortcuts", "true");
				fix.addEventListener("click", () => this.opts.onFix(l, i, j, c.name));
				td.append(fix);
				tr.append(td);
				tbody.append(tr);
			}
			table.append(thead, tbody);
			root.append(table);
		}
	}
}
