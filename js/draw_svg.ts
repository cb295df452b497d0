/**
 * SVG renderer (small and medium networks). `build` creates one element per present edge, node
 * and label; `update` only rewrites what changed each tick: path data, opacity and colour
 * (TensorFlow Playground's approach). All styling is presentation attributes, so the serialized
 * SVG is a standalone file.
 */
import { boxConnectors, edgeCurve, edgeLabelPos, type Layout, T0, T1 } from "./layout";
import {
	BACKGROUND, COLOR_NAMES, COLORS, DOOMED, edgeAlpha, edgeClass, type Level, NODE_FILL, NODE_STROKE, nodeDoomed,
	type Renderer, type Scene, TEXT,
} from "./scene";

export const SVGNS = "http://www.w3.org/2000/svg";

const r1 = (v: number) => Math.round(v * 10) / 10;

/** "M x,y L x,y x,y ..." for `count` points of `buf`. */
export function pathData(buf: Float32Array, count: number): string {
	if (count === 0) return "";
	let s = `M${r1(buf[0])},${r1(buf[1])}L`;
	for (let p = 1; p < count; p++) {
		s += `${r1(buf[2 * p])},${r1(buf[2 * p + 1])}`;
		if (p + 1 < count) s += " ";
	}
	return s;
}

/** How many samples of phi to draw for a plot `px` pixels long (about one per 3 px). */
export function samplesFor(px: number, n: number, perPx = 1 / 3): number {
	return Math.max(2, Math.min(n, Math.ceil(px * perPx) + 1));
}

/** Samples per edge for a layout: full resolution in boxes, about one per 3 px inline. */
export function plotSamples(lay: Layout, l: number, n: number, perPx?: number): number {
	if (lay.mode === "boxes" && lay.boxes) return n;
	const dx = lay.colX[l + 1] - lay.colX[l];
	return samplesFor((T1 - T0) * dx * 1.05, n, perPx);
}

function el<K extends keyof SVGElementTagNameMap>(
	doc: Document, tag: K, attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
	const e = doc.createElementNS(SVGNS, tag);
	for (const k in attrs) e.setAttribute(k, String(attrs[k]));
	return e;
}

/** how many times a hovered edge's box grows (boxes mode; styles.ts scales by it) */
export const BOX_ZOOM = 2.4;

/**
 * The shift `[dx, dy]` (layout px) that keeps box (`x`, `y`, `w`, `h`), enlarged `zoom` times
 * about its centre, inside the diagram `[0, W] x [0, H]` with `pad` px to spare: moved
 * down, left or right only as far as needed (0 where it fits), so a top-row edge's enlarged
 * curve is not cut off by the diagram's edge. A box larger than the diagram keeps its top-left
 * corner in view.
 */
export function zoomShift(x: number, y: number, w: number, h: number, zoom: number, W: number, H: number, pad = 1): [number, number] {
	const axis = (lo: number, side: number, bound: number): number => {
		const grown = side * zoom;
		const start = lo + side / 2 - grown / 2;
		let d = 0;
		if (start + grown > bound - pad) d = bound - pad - (start + grown);
		if (start + d < pad) d = pad - start;
		return d;
	};
	return [axis(x, w, W), axis(y, h, H)];
}

export class SvgRenderer implements Renderer {
	readonly kind = "svg";
	readonly element: SVGSVGElement;
	private doc: Document;
	/** per present edge: layer, i, j, k */
	private idx = new Int32Array(0);
	private edgeEls: SVGElement[] = [];
	/** boxes mode: each edge's connector lines, parallel to edgeEls (else empty) */
	private connEls: SVGPathElement[] = [];
	private curveEls: SVGPathElement[] = [];
	private symText: (SVGTextElement | null)[] = [];
	private lastOpacity: string[] = [];
	private lastClass: Int8Array = new Int8Array(0);
	private nodeEls: (SVGElement | null)[][] = [];
	private nodeDoomedNow: Uint8Array[] = [];
	private buf = new Float32Array(0);

	constructor(doc: Document = document) {
		this.doc = doc;
		this.element = el(doc, "svg", {});
	}

	build(scene: Scene, lay: Layout): void {
		const doc = this.doc;
		const svg = this.element;
		const { structure, masks, sym } = scene.state;
		// build off-document: thousands of insertions and attribute writes into a live SVG each
		// invalidate style and layout; one re-insertion at the end costs one
		const parent = svg.parentNode;
		const next = svg.nextSibling;
		svg.remove();
		svg.replaceChildren();
		svg.setAttribute("class", "kan-diagram");
		svg.setAttribute("data-renderer", "svg");
		svg.setAttribute("data-mode", lay.mode);
		svg.setAttribute("width", String(lay.width));
		svg.setAttribute("height", String(lay.height));
		svg.setAttribute("viewBox", `0 0 ${lay.width} ${lay.height}`);
		svg.setAttribute("role", "img");
		svg.setAttribute("aria-label", `KAN diagram, width [${structure.width.join(", ")}]`);
		svg.setAttribute("font-family", "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif");
		svg.append(el(doc, "rect", { x: 0, y: 0, width: lay.width, height: lay.height, fill: BACKGROUND }));

		const L = structure.layers.length;
		const edges = el(doc, "g", {
			class: "kan-edges", fill: "none", "stroke-linejoin": "round", "stroke-linecap": "round",
		});
		const labels = el(doc, "g", { class: "kan-sym-labels", "font-size": 10, "text-anchor": "middle" });
		const idx: number[] = [];
		this.edgeEls = [];
		this.connEls = [];
		this.curveEls = [];
		this.symText = [];
		const frag = doc.createDocumentFragment();
		const connFrag = doc.createDocumentFragment();
		const boxes = lay.mode === "boxes" && lay.boxes !== null;
		for (let l = 0; l < L; l++) {
			const { in: nIn, out: nOut } = structure.layers[l];
			for (let i = 0; i < nIn; i++) {
				for (let j = 0; j < nOut; j++) {
					const k = i * nOut + j;
					if (!(masks[l][k] > 0)) continue;
					idx.push(l, i, j, k);
					const key = `${l},${i},${j}`;
					let edgeEl: SVGElement;
					let curve: SVGPathElement;
					if (boxes) {
						const g = el(doc, "g", { class: "kan-edge", "data-edge": key });
						const c = boxConnectors(lay, l, i, j);
						const b = lay.boxes![l];
						// connectors go in a group under every box: a line never crosses a plot
						const conn = el(doc, "path", {
							class: "kan-conn", "stroke-width": 1, "data-conn": key,
							d: `M${r1(c[0])},${r1(c[1])}L${r1(c[2])},${r1(c[3])}M${r1(c[4])},${r1(c[5])}L${r1(c[6])},${r1(c[7])}`,
						});
						connFrag.append(conn);
						this.connEls.push(conn);
						g.append(
							el(doc, "rect", {
								class: "kan-box", x: r1(b[4 * k]), y: r1(b[4 * k + 1]), width: r1(b[4 * k + 2]),
								height: r1(b[4 * k + 3]), rx: 2, fill: BACKGROUND, "stroke-width": 0.8,
							}),
						);
						curve = el(doc, "path", { class: "kan-curve", "stroke-width": 1.6 });
						g.append(curve);
						edgeEl = g;
					} else {
						curve = el(doc, "path", { class: "kan-edge", "data-edge": key, "stroke-width": 1.3 });
						edgeEl = curve;
					}
					frag.append(edgeEl);
					this.edgeEls.push(edgeEl);
					this.curveEls.push(curve);
					const name = sym[l][k];
					if (boxes) {
						// every box names its edge on hover; the label under it only where it fits
						const title = el(doc, "title", {});
						const from = structure.in_vars[i] ?? `x${i + 1}`;
						title.textContent = `edge (${key})${l === 0 ? ` from ${from}` : ""}${name !== null ? `: ${name}` : ""}`;
						edgeEl.prepend(title);
					}
					const fits = !boxes || (lay.boxLabels[l] && (name ?? "").length * 5.6 <= lay.boxPitch[l]);
					if (name !== null && fits) {
						const [x, y] = edgeLabelPos(lay, l, i, j);
						const t = el(doc, "text", { x: r1(x), y: r1(y), fill: COLORS[1], stroke: "none", "data-sym": key });
						t.textContent = name;
						if (boxes) edgeEl.append(t);
						else labels.append(t);
						this.symText.push(boxes ? null : t);
					} else {
						this.symText.push(null);
					}
				}
			}
		}
		edges.append(frag);
		if (boxes) {
			const conns = el(doc, "g", {
				class: "kan-conns", fill: "none", "stroke-linecap": "round", "pointer-events": "none",
			});
			conns.append(connFrag);
			svg.append(conns);
			// the hovered box is enlarged by CSS (styles.ts); drawn last, nothing covers it, and
			// shifted (--kan-dx/--kan-dy) to stay inside the diagram
			edges.addEventListener("mouseover", (ev) => {
				const t = ev.target as Element | null;
				const g = t && typeof t.closest === "function" ? t.closest("g.kan-edge") : null;
				if (!g || g.parentNode !== edges) return;
				if (g !== edges.lastElementChild) edges.append(g);
				const box = g.querySelector("rect.kan-box");
				if (!box) return;
				const n = (a: string) => Number(box.getAttribute(a));
				const [dx, dy] = zoomShift(n("x"), n("y"), n("width"), n("height"), BOX_ZOOM, lay.width, lay.height);
				const style = (g as SVGElement).style;
				style.setProperty("--kan-dx", `${r1(dx)}px`);
				style.setProperty("--kan-dy", `${r1(dy)}px`);
			});
		}
		svg.append(edges, labels);
		this.idx = Int32Array.from(idx);
		this.lastOpacity = new Array(this.edgeEls.length).fill("");
		this.lastClass = new Int8Array(this.edgeEls.length).fill(-1);

		// nodes
		const nodes = el(doc, "g", { class: "kan-nodes", fill: NODE_FILL, stroke: NODE_STROKE, "stroke-width": 1.2 });
		this.nodeEls = [];
		this.nodeDoomedNow = [];
		const R = lay.nodeR;
		for (let c = 0; c <= L; c++) {
			const row: (SVGElement | null)[] = [];
			// a multiplication node's operands: a dot each, joined to the node (their edges end there)
			let links = "";
			lay.subNode[c].forEach((i, q) => {
				if (!lay.mult[c][i] || !lay.alive[c][i]) return;
				links += `M${r1(lay.subX[c][q])},${r1(lay.subY[c][q])}L${r1(lay.colX[c] - R)},${r1(lay.nodeY[c][i])}`;
				nodes.append(el(doc, "circle", {
					class: "kan-operand", cx: r1(lay.subX[c][q]), cy: r1(lay.subY[c][q]), r: r1(Math.max(1, R * 0.35)),
					fill: NODE_STROKE, stroke: "none",
				}));
			});
			if (links) nodes.append(el(doc, "path", { class: "kan-operand-links", d: links, fill: "none" }));
			for (let i = 0; i < structure.width[c]; i++) {
				if (!lay.alive[c][i]) {
					row.push(null);
					continue;
				}
				const x = lay.colX[c];
				const y = lay.nodeY[c][i];
				let node: SVGElement;
				if (lay.mult[c][i]) {
					// a square holding a times sign: a product, not a sum
					node = el(doc, "g", { class: "kan-node kan-mult", "data-node": `${c},${i}` });
					node.append(
						el(doc, "rect", { x: r1(x - R), y: r1(y - R), width: r1(2 * R), height: r1(2 * R) }),
						el(doc, "path", {
							d: `M${r1(x - R * 0.5)},${r1(y - R * 0.5)}L${r1(x + R * 0.5)},${r1(y + R * 0.5)}`
								+ `M${r1(x - R * 0.5)},${r1(y + R * 0.5)}L${r1(x + R * 0.5)},${r1(y - R * 0.5)}`,
							fill: "none",
						}),
					);
				} else {
					node = el(doc, "circle", { class: "kan-node", "data-node": `${c},${i}`, cx: r1(x), cy: r1(y), r: r1(R) });
				}
				// names that did not fit beside the nodes are still there on hover
				const nodeName = c === 0 ? structure.in_vars[i] : c === L ? structure.out_vars[i] : null;
				if (nodeName) {
					const title = el(doc, "title", {});
					title.textContent = nodeName;
					node.append(title);
				}
				nodes.append(node);
				row.push(node);
			}
			this.nodeEls.push(row);
			this.nodeDoomedNow.push(new Uint8Array(structure.width[c]));
		}
		svg.append(nodes);

		// input and output names
		const names = el(doc, "g", { class: "kan-names", fill: TEXT });
		const [fIn, fOut] = lay.labelFont;
		const addNames = (c: number, list: string[], font: number, anchor: string, dx: number) => {
			if (font <= 0) return;
			list.forEach((name, i) => {
				const t = el(doc, "text", {
					x: r1(lay.colX[c] + dx), y: r1(lay.nodeY[c][i] + font * 0.35), "font-size": font, "text-anchor": anchor,
				});
				t.textContent = name;
				names.append(t);
			});
		};
		addNames(0, structure.in_vars, fIn, "end", -(lay.nodeR + 5));
		addNames(L, structure.out_vars, fOut, "start", lay.nodeR + 5);
		svg.append(names);
		this.update(scene, lay, "curves");
		if (parent) parent.insertBefore(svg, next);
	}

	/** Restyle in place: opacity and colour ("style"), and the plots too ("curves"). */
	update(scene: Scene, lay: Layout, level: Exclude<Level, "rebuild">): void {
		const curves = level === "curves";
		const st = scene.state;
		const n = st.structure.n_points;
		const idx = this.idx;
		const ne = this.edgeEls.length;
		if (curves) {
			const need = 2 * (n + 2);
			if (this.buf.length < need) this.buf = new Float32Array(need);
			const perLayer = st.structure.layers.map((_, l) => plotSamples(lay, l, n));
			for (let e = 0; e < ne; e++) {
				const l = idx[4 * e];
				const ys = st.curves ? st.curves[l].ys : null;
				const count = edgeCurve(lay, l, idx[4 * e + 1], idx[4 * e + 2], ys, n, perLayer[l], this.buf);
				this.curveEls[e].setAttribute("d", pathData(this.buf, count));
			}
		}
		for (let e = 0; e < ne; e++) {
			const l = idx[4 * e];
			const i = idx[4 * e + 1];
			const j = idx[4 * e + 2];
			const k = idx[4 * e + 3];
			const cls = edgeClass(scene, l, i, j, k);
			const op = edgeAlpha(scene, l, k, cls).toFixed(3);
			const edgeEl = this.edgeEls[e];
			const conn = this.connEls[e];
			if (op !== this.lastOpacity[e]) {
				edgeEl.setAttribute("opacity", op);
				conn?.setAttribute("opacity", (0.7 * Number(op)).toFixed(3));
				const t = this.symText[e];
				if (t) t.setAttribute("opacity", op);
				this.lastOpacity[e] = op;
			}
			if (cls !== this.lastClass[e]) {
				edgeEl.setAttribute("stroke", COLORS[cls]);
				edgeEl.setAttribute("data-kind", COLOR_NAMES[cls]);
				conn?.setAttribute("stroke", COLORS[cls]);
				if (cls === DOOMED) {
					edgeEl.setAttribute("stroke-dasharray", "4 3");
					conn?.setAttribute("stroke-dasharray", "4 3");
				} else {
					edgeEl.removeAttribute("stroke-dasharray");
					conn?.removeAttribute("stroke-dasharray");
				}
				this.lastClass[e] = cls;
			}
		}
		for (let c = 0; c < this.nodeEls.length; c++) {
			const row = this.nodeEls[c];
			const was = this.nodeDoomedNow[c];
			for (let i = 0; i < row.length; i++) {
				const circle = row[i];
				if (!circle) continue;
				const d = nodeDoomed(scene, c, i) ? 1 : 0;
				if (d !== was[i]) {
					if (d) {
						circle.setAttribute("fill", COLORS[DOOMED]);
						circle.setAttribute("data-kind", "doomed");
					} else {
						circle.removeAttribute("fill");
						circle.removeAttribute("data-kind");
					}
					was[i] = d;
				}
			}
		}
	}

	/** Standalone SVG text of what is drawn. */
	serialize(): string {
		const text = new XMLSerializer().serializeToString(this.element);
		return `<?xml version="1.0" encoding="UTF-8"?>\n${text}`;
	}

	/** What is drawn (the scene of the last build or update) as a standalone SVG. */
	svgText(): string {
		return this.serialize();
	}

	/** What is drawn, rasterised at 2x. */
	async pngBlob(_scene: Scene, lay: Layout): Promise<Blob | null> {
		const img = new Image();
		img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(this.serialize())}`;
		await img.decode();
		const scale = 2;
		const canvas = this.doc.createElement("canvas");
		canvas.width = lay.width * scale;
		canvas.height = lay.height * scale;
		const ctx = canvas.getContext("2d");
		if (!ctx) return null;
		ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
		return new Promise((resolve) => canvas.toBlob((b) => resolve(b), "image/png"));
	}

	dispose(): void {
		this.element.remove();
	}
}
