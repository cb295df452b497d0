/**
 * The hovered edge, enlarged, where the diagram has no element per edge to enlarge: on the canvas
 * renderer (big networks, boxes or inline) and in inline mode (lines from node to node). The SVG
 * boxes grow by CSS instead (styles.ts, draw_svg's `BOX_ZOOM`). An overlay canvas, the size of
 * the diagram and never in the pointer's way, shows the edge itself drawn strong (to find it in
 * a tangle of thousands) and its curve in a box: the edge's box `BOX_ZOOM` times larger in boxes
 * mode, as the SVG does, or a `ZOOM_W` x `ZOOM_H` box just above the middle of an inline edge
 * (below where there is no room), moved only as far as needed to stay inside the diagram. One edge per hover: a few hundred points,
 * however big the network (the diagram itself is not redrawn).
 */
import { BOX_ZOOM, zoomShift } from "./draw_svg";
import { boxConnectors, edgeCurve, type Layout, plotInBox, T0, T1 } from "./layout";
import { BACKGROUND, COLORS, edgeClass, NODE_STROKE, type Scene } from "./scene";

/** the enlarged box of an inline edge (layout px) */
export const ZOOM_W = 132;
export const ZOOM_H = 84;

/**
 * The enlarged box `[x, y, w, h]` (layout px) of edge (l, i, j): boxes mode, its box grown
 * `BOX_ZOOM` times about its centre; inline mode, `ZOOM_W` x `ZOOM_H` centred over the middle of
 * the edge's plot, just clear of it (above, else below). Either moved (zoomShift) to stay inside
 * the diagram.
 */
export function zoomRect(lay: Layout, l: number, i: number, j: number): [number, number, number, number] {
	if (lay.mode === "boxes" && lay.boxes) {
		const b = lay.boxes[l];
		const k = 4 * (i * lay.outDims[l] + j);
		const [x, y, w, h] = [b[k], b[k + 1], b[k + 2], b[k + 3]];
		const [dx, dy] = zoomShift(x, y, w, h, BOX_ZOOM, lay.width, lay.height);
		const W = w * BOX_ZOOM;
		const H = h * BOX_ZOOM;
		return [x + w / 2 - W / 2 + dx, y + h / 2 - H / 2 + dy, W, H];
	}
	const t = (T0 + T1) / 2;
	const cx = lay.colX[l] + (lay.subX[l + 1][j] - lay.colX[l]) * t;
	const cy = lay.nodeY[l][i] + (lay.subY[l + 1][j] - lay.nodeY[l][i]) * t;
	const x = cx - ZOOM_W / 2;
	// above the plot's band, so the edge stays in sight (the hover card sits below the
	// pointer); below it where there is no room above
	const gap = lay.amp + 6;
	const y = cy - gap - ZOOM_H >= 1 ? cy - gap - ZOOM_H : cy + gap;
	const [dx, dy] = zoomShift(x, y, ZOOM_W, ZOOM_H, 1, lay.width, lay.height);
	return [x + dx, y + dy, ZOOM_W, ZOOM_H];
}

export class EdgeZoom {
	readonly element: HTMLCanvasElement;
	/** what is drawn now (edge, draw count): a pointer moving along one edge redraws nothing */
	private key = "";
	private buf = new Float32Array(0);
	/** drawings made (tests and the browser test read it as `data-zoom-draws`) */
	draws = 0;

	constructor(doc: Document) {
		const c = doc.createElement("canvas");
		c.className = "kan-edge-zoom";
		c.setAttribute("aria-hidden", "true"); // the hover card says the same in words
		c.hidden = true;
		this.element = c;
	}

	/** Show edge `edge` of `scene` enlarged on layout `lay`; `key` names what is drawn. */
	show(scene: Scene, lay: Layout, edge: [number, number, number], key: string): void {
		const c = this.element;
		c.hidden = false;
		if (key === this.key) return;
		this.key = key;
		const [l, i, j] = edge;
		const rect = zoomRect(lay, l, i, j);
		c.setAttribute("data-zoom-edge", edge.join(","));
		c.setAttribute("data-zoom-rect", rect.map((v) => Math.round(v)).join(","));
		const view = c.ownerDocument.defaultView;
		const dpr = Math.min(2, Math.max(1, view?.devicePixelRatio || 1));
		const pw = Math.round(lay.width * dpr);
		const ph = Math.round(lay.height * dpr);
		if (c.width !== pw || c.height !== ph) {
			c.width = pw;
			c.height = ph;
			c.style.width = `${lay.width}px`;
			c.style.height = `${lay.height}px`;
		}
		let ctx: CanvasRenderingContext2D | null = null;
		try {
			ctx = c.getContext("2d");
		} catch {
			ctx = null; // no 2d context (jsdom): the attributes above still say what is shown
		}
		this.draws++;
		c.dataset.zoomDraws = String(this.draws);
		if (!ctx) return;
		ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		ctx.clearRect(0, 0, lay.width, lay.height);
		const st = scene.state;
		const n = st.structure.n_points;
		const nOut = st.structure.layers[l].out;
		const k = i * nOut + j;
		const colour = COLORS[edgeClass(scene, l, i, j, k)];
		const ys = st.curves ? st.curves[l].ys : null;
		if (this.buf.length < 2 * (n + 2)) this.buf = new Float32Array(2 * (n + 2));
		const buf = this.buf;
		ctx.lineJoin = "round";
		ctx.lineCap = "round";
		ctx.globalAlpha = 1;
		// the edge where it is, strong on a white halo (it must stand out of thousands of its
		// colour): node to node (boxes: its connectors and its box)
		ctx.beginPath();
		const cnt = edgeCurve(lay, l, i, j, ys, n, n, buf);
		ctx.moveTo(buf[0], buf[1]);
		for (let s = 1; s < cnt; s++) ctx.lineTo(buf[2 * s], buf[2 * s + 1]);
		if (lay.mode === "boxes" && lay.boxes) {
			const cn = boxConnectors(lay, l, i, j);
			ctx.moveTo(cn[0], cn[1]);
			ctx.lineTo(cn[2], cn[3]);
			ctx.moveTo(cn[4], cn[5]);
			ctx.lineTo(cn[6], cn[7]);
		}
		ctx.strokeStyle = BACKGROUND;
		ctx.lineWidth = 6;
		ctx.stroke();
		ctx.strokeStyle = colour;
		ctx.lineWidth = 2.5;
		ctx.stroke();
		// its curve, enlarged, every sample
		const [x, y, w, h] = rect;
		ctx.save();
		ctx.shadowColor = "rgba(0, 0, 0, 0.25)";
		ctx.shadowBlur = 6;
		ctx.shadowOffsetY = 1;
		ctx.fillStyle = BACKGROUND;
		ctx.fillRect(x, y, w, h);
		ctx.restore();
		ctx.strokeStyle = NODE_STROKE;
		ctx.lineWidth = 1;
		ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
		const m = plotInBox(ys, k * n, n, x, y, w, h, n, buf);
		ctx.strokeStyle = colour;
		ctx.lineWidth = 2;
		ctx.beginPath();
		ctx.moveTo(buf[0], buf[1]);
		for (let s = 1; s < m; s++) ctx.lineTo(buf[2 * s], buf[2 * s + 1]);
		ctx.stroke();
		const name = st.sym[l][k];
		if (name !== null) {
			// a symbolic edge's function, in the box (the hover card has the rest)
			ctx.font = "11px system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif";
			ctx.fillStyle = COLORS[1];
			ctx.textAlign = "left";
			ctx.textBaseline = "top";
			ctx.fillText(name, x + 4, y + 3, w - 8);
		}
	}

	hide(): void {
		const c = this.element;
		if (c.hidden) return;
		c.hidden = true;
		c.removeAttribute("data-zoom-edge");
		c.removeAttribute("data-zoom-rect");
		this.key = "";
	}

	dispose(): void {
		this.element.remove();
	}
}
