/**
 * Canvas renderer for large networks (thousands of edges, e.g. [64,64,64,10]). Immediate mode:
 * every update redraws the frame. Edges are batched by colour and by opacity quantised to
 * ALPHA_LEVELS steps, so a frame costs a few dozen stroke() calls rather than one per edge, and
 * each plot uses about one sample of phi per 3 px.
 */
import { boxConnectors, edgeCurve, edgeLabelPos, type Layout } from "./layout";
import { plotSamples, SvgRenderer } from "./draw_svg";
import {
	BACKGROUND, COLORS, DOOMED, edgeAlpha, edgeClass, NODE_FILL, NODE_STROKE, nodeDoomed, type Renderer, type Scene,
	TEXT,
} from "./scene";

export const ALPHA_LEVELS = 24;
/** edges fainter than half an opacity step would round to nothing: they are not drawn */
export const MIN_ALPHA = 0.5 / ALPHA_LEVELS;
/** above this many symbolic edges their names are not written */
const MAX_SYM_LABELS = 60;
const FONT = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif";

export class CanvasRenderer implements Renderer {
	readonly kind = "canvas";
	readonly element: HTMLCanvasElement;
	private buf = new Float32Array(0);
	private keys = new Int32Array(0);
	private dpr = 1;

	constructor(doc: Document = document) {
		this.element = doc.createElement("canvas");
		this.element.className = "kan-diagram";
		this.element.setAttribute("data-renderer", "canvas");
		this.element.setAttribute("role", "img");
	}

	build(scene: Scene, lay: Layout): void {
		const c = this.element;
		const view = c.ownerDocument.defaultView;
		this.dpr = Math.min(2, Math.max(1, view?.devicePixelRatio || 1));
		c.width = Math.round(lay.width * this.dpr);
		c.height = Math.round(lay.height * this.dpr);
		c.style.width = `${lay.width}px`;
		c.style.height = `${lay.height}px`;
		c.setAttribute("data-mode", lay.mode);
		c.setAttribute("aria-label", `KAN diagram, width [${scene.state.structure.width.join(", ")}]`);
		this.draw(scene, lay);
	}

	/** Immediate mode: every level redraws the whole frame. */
	update(scene: Scene, lay: Layout): void {
		const c = this.element;
		c.width = c.width; // drop the previous frame's recorded drawing and state
		this.draw(scene, lay);
	}

	private context(): CanvasRenderingContext2D | null {
		try {
			return this.element.getContext("2d");
		} catch {
			return null;
		}
	}

	draw(scene: Scene, lay: Layout): void {
		const ctx = this.context();
		if (!ctx) return;
		const st = scene.state;
		const { structure, masks } = st;
		const n = structure.n_points;
		const L = structure.layers.length;
		ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
		ctx.globalAlpha = 1;
		ctx.fillStyle = BACKGROUND;
		ctx.fillRect(0, 0, lay.width, lay.height);

		// 1. bucket every visible edge by (colour, quantised opacity): counting sort
		let total = 0;
		for (const layer of structure.layers) total += layer.in * layer.out;
		if (this.keys.length < total) this.keys = new Int32Array(total);
		const keys = this.keys;
		const nb = COLORS.length * (ALPHA_LEVELS + 1);
		const counts = new Int32Array(nb + 1);
		let e = 0;
		for (let l = 0; l < L; l++) {
			const { in: nIn, out: nOut } = structure.layers[l];
			for (let i = 0; i < nIn; i++) {
				for (let j = 0; j < nOut; j++, e++) {
					const k = i * nOut + j;
					keys[e] = -1;
					if (!(masks[l][k] > 0)) continue;
					const cls = edgeClass(scene, l, i, j, k);
					const a = edgeAlpha(scene, l, k, cls);
					if (!(a >= MIN_ALPHA)) continue;
					const q = Math.max(1, Math.round(a * ALPHA_LEVELS));
					keys[e] = cls * (ALPHA_LEVELS + 1) + q;
					counts[keys[e] + 1]++;
				}
			}
		}
		for (let b = 0; b < nb; b++) counts[b + 1] += counts[b];
		const order = new Int32Array(counts[nb]);
		const fill = counts.slice(0, nb);
		for (let x = 0; x < total; x++) if (keys[x] >= 0) order[fill[keys[x]]++] = x;

		// flat edge index -> (l, i, j)
		const layerStart: number[] = [];
		let acc = 0;
		for (const layer of structure.layers) {
			layerStart.push(acc);
			acc += layer.in * layer.out;
		}
		const samples = structure.layers.map((_, l) => plotSamples(lay, l, n, 1 / 3));
		const need = 2 * (n + 2);
		if (this.buf.length < need) this.buf = new Float32Array(need);
		const buf = this.buf;
		const boxes = lay.mode === "boxes" && lay.boxes !== null;

		// 2. one path and one stroke per bucket
		ctx.lineJoin = "round";
		ctx.lineCap = "round";
		ctx.lineWidth = boxes ? 1.5 : 1;
		for (let b = 0; b < nb; b++) {
			const from = counts[b];
			const to = counts[b + 1];
			if (from === to) continue;
			const cls = Math.floor(b / (ALPHA_LEVELS + 1));
			const q = b % (ALPHA_LEVELS + 1);
			ctx.globalAlpha = q / ALPHA_LEVELS;
			ctx.strokeStyle = COLORS[cls];
			ctx.setLineDash(cls === DOOMED ? [4, 3] : []);
			ctx.beginPath();
			for (let p = from; p < to; p++) {
				const x = order[p];
				let l = L - 1;
				while (layerStart[l] > x) l--;
				const k = x - layerStart[l];
				const nOut = structure.layers[l].out;
				const i = Math.floor(k / nOut);
				const j = k - i * nOut;
				const ys = st.curves ? st.curves[l].ys : null;
				const cnt = edgeCurve(lay, l, i, j, ys, n, samples[l], buf);
				ctx.moveTo(buf[0], buf[1]);
				for (let s = 1; s < cnt; s++) ctx.lineTo(buf[2 * s], buf[2 * s + 1]);
				if (boxes) {
					const cn = boxConnectors(lay, l, i, j);
					ctx.moveTo(cn[0], cn[1]);
					ctx.lineTo(cn[2], cn[3]);
					ctx.moveTo(cn[4], cn[5]);
					ctx.lineTo(cn[6], cn[7]);
					const bx = lay.boxes![l];
					ctx.rect(bx[4 * k], bx[4 * k + 1], bx[4 * k + 2], bx[4 * k + 3]);
				}
			}
			ctx.stroke();
		}
		ctx.setLineDash([]);
		ctx.globalAlpha = 1;

		// 3. nodes: one path for normal ones, one for those the preview marks; a multiplication
		// node is a square with a times sign, its operands dots joined to it
		const r = lay.nodeR;
		ctx.beginPath();
		let anyMult = false;
		for (let c = 0; c <= L; c++) {
			lay.subNode[c].forEach((i, q) => {
				if (!lay.mult[c][i] || !lay.alive[c][i]) return;
				ctx.moveTo(lay.subX[c][q], lay.subY[c][q]);
				ctx.lineTo(lay.colX[c] - r, lay.nodeY[c][i]);
				ctx.moveTo(lay.subX[c][q] + r * 0.35, lay.subY[c][q]);
				ctx.arc(lay.subX[c][q], lay.subY[c][q], r * 0.35, 0, 2 * Math.PI);
				anyMult = true;
			});
		}
		if (anyMult) {
			ctx.strokeStyle = NODE_STROKE;
			ctx.lineWidth = 1;
			ctx.stroke();
		}
		for (const doomed of [false, true]) {
			ctx.beginPath();
			let any = false;
			for (let c = 0; c <= L; c++) {
				for (let i = 0; i < structure.width[c]; i++) {
					if (!lay.alive[c][i] || nodeDoomed(scene, c, i) !== doomed) continue;
					if (lay.mult[c][i]) ctx.rect(lay.colX[c] - r, lay.nodeY[c][i] - r, 2 * r, 2 * r);
					else {
						ctx.moveTo(lay.colX[c] + r, lay.nodeY[c][i]);
						ctx.arc(lay.colX[c], lay.nodeY[c][i], r, 0, 2 * Math.PI);
					}
					any = true;
				}
			}
			if (!any) continue;
			ctx.fillStyle = doomed ? COLORS[DOOMED] : NODE_FILL;
			ctx.strokeStyle = NODE_STROKE;
			ctx.lineWidth = 1;
			ctx.fill();
			ctx.stroke();
		}

		if (anyMult) {
			ctx.beginPath();
			const h = r * 0.5;
			for (let c = 0; c <= L; c++) {
				for (let i = 0; i < structure.width[c]; i++) {
					if (!lay.mult[c][i] || !lay.alive[c][i]) continue;
					const x = lay.colX[c];
					const y = lay.nodeY[c][i];
					ctx.moveTo(x - h, y - h);
					ctx.lineTo(x + h, y + h);
					ctx.moveTo(x - h, y + h);
					ctx.lineTo(x + h, y - h);
				}
			}
			ctx.strokeStyle = NODE_STROKE;
			ctx.lineWidth = 1;
			ctx.stroke();
		}

		// 4. names
		ctx.fillStyle = TEXT;
		ctx.textBaseline = "middle";
		const [fIn, fOut] = lay.labelFont;
		if (fIn > 0) {
			ctx.font = `${fIn}px ${FONT}`;
			ctx.textAlign = "right";
			structure.in_vars.forEach((s, i) => ctx.fillText(s, lay.colX[0] - r - 5, lay.nodeY[0][i]));
		}
		if (fOut > 0) {
			ctx.font = `${fOut}px ${FONT}`;
			ctx.textAlign = "left";
			structure.out_vars.forEach((s, i) => ctx.fillText(s, lay.colX[L] + r + 5, lay.nodeY[L][i]));
		}
		let nSym = 0;
		for (const layer of structure.layers) nSym += layer.sym.length;
		if (nSym > 0 && nSym <= MAX_SYM_LABELS) {
			ctx.font = `10px ${FONT}`;
			ctx.textAlign = "center";
			ctx.fillStyle = COLORS[1];
			structure.layers.forEach((layer, l) => {
				for (const [i, j, name] of layer.sym) {
					if (!(masks[l][i * layer.out + j] > 0)) continue;
					const [x, y] = edgeLabelPos(lay, l, i, j);
					ctx.fillText(name, x, y);
				}
			});
		}
	}

	/** The scene as SVG, built off-screen (a canvas holds no vectors to export). */
	svgText(scene: Scene, lay: Layout): string {
		const svg = new SvgRenderer(this.element.ownerDocument);
		svg.build(scene, lay);
		return svg.serialize();
	}

	/** PNG of the current frame. */
	pngBlob(): Promise<Blob | null> {
		return new Promise((resolve) => {
			try {
				this.element.toBlob((b) => resolve(b), "image/png");
			} catch {
				resolve(null);
			}
		});
	}

	dispose(): void {
		this.element.remove();
	}
}
