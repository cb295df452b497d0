/**
 * Node pictures inside the diagram's nodes (TensorFlow Playground's neuron thumbnails): for a
 * two-input model the kernel sends every node's value over the input square (`class_nodes`,
 * float32 `[nodes, g*g]`, nodes column by column as `structure.width`); each node of the diagram
 * shows its own as a small heatmap, and hovering one enlarges it (CSS).
 *
 * The pictures are an HTML overlay over the renderer (like the input bars), so both renderers
 * (SVG, canvas) get them and the edges' drawing is untouched. A tick only repaints the pixels of
 * the g x g canvases (putImageData, scaled by CSS); a structural change places them anew.
 */
import { nodePixels } from "./boundary";
import type { Layout } from "./layout";

/** side (px, layout units) a node is given when it holds a picture */
export const NODE_PIC_PX = 30;

export interface NodePicData {
	/** cells per side of each picture */
	grid: number;
	/** `[nodes, grid*grid]`, nodes column by column as `width` */
	values: Float32Array;
}

/** Do `p`'s pictures match a network of `width` (one per node, `grid*grid` values each)? */
export function picsFit(p: NodePicData | null, width: number[]): p is NodePicData {
	if (!p || p.grid <= 0 || width.length === 0) return false;
	const total = width.reduce((a, b) => a + b, 0);
	return p.values.length === total * p.grid * p.grid;
}

/** Offset (in nodes) of column c's first node in the pictures' buffer. */
export function columnOffsets(width: number[]): number[] {
	const out: number[] = [];
	let o = 0;
	for (const n of width) {
		out.push(o);
		o += n;
	}
	return out;
}

/** The overlay: one small canvas per drawn node, kept while the network's width is. */
export class NodePictures {
	readonly element: HTMLElement;
	private doc: Document;
	private key = "";
	/** per column, per node */
	private canvases: HTMLCanvasElement[][] = [];
	/** how many times the pictures were painted (tests, the redraw benchmark) */
	paints = 0;

	constructor(doc: Document) {
		this.doc = doc;
		this.element = doc.createElement("div");
		this.element.className = "kan-node-pics";
	}

	/** (Re)create the canvases for `width` nodes of `grid` cells, unless they are already. */
	private ensure(width: number[], grid: number): void {
		const key = `${width.join(",")}:${grid}`;
		if (key === this.key) return;
		this.key = key;
		const doc = this.doc;
		this.canvases = width.map((n, c) => Array.from({ length: n }, (_, i) => {
			const cv = doc.createElement("canvas");
			cv.width = grid;
			cv.height = grid;
			cv.className = "kan-node-pic";
			// the hover card reads the node from here, as from the renderer's own node element
			cv.dataset.node = `${c},${i}`;
			return cv;
		}));
		this.element.replaceChildren(...this.canvases.flat());
	}

	/** Paint every node's picture (each on its own scale, see `nodePixels`). */
	paint(p: NodePicData, width: number[]): void {
		this.ensure(width, p.grid);
		const g = p.grid;
		const gg = g * g;
		let k = 0;
		for (const col of this.canvases) {
			for (const cv of col) {
				const px = nodePixels(p.values.subarray(k * gg, (k + 1) * gg), g);
				const ctx = cv.getContext("2d");
				if (px && ctx) ctx.putImageData(new ImageData(px, g, g), 0, 0);
				k++;
			}
		}
		this.paints++;
	}

	/**
	 * Put each picture over its node: `lay` in layout px, drawn scaled by `k` with its origin at
	 * (`x0`, `y0`) in the overlay's px. Nodes the layout does not draw get no picture.
	 */
	place(lay: Layout, x0: number, y0: number, k: number): void {
		const side = 2 * lay.nodeR * k;
		this.canvases.forEach((col, c) => col.forEach((cv, i) => {
			const drawn = c < lay.alive.length && i < lay.alive[c].length && lay.alive[c][i] === 1;
			cv.hidden = !drawn;
			if (!drawn) return;
			Object.assign(cv.style, {
				left: `${x0 + (lay.colX[c] - lay.nodeR) * k}px`,
				top: `${y0 + (lay.nodeY[c][i] - lay.nodeR) * k}px`,
				width: `${side}px`,
				height: `${side}px`,
			});
		}));
	}

	clear(): void {
		this.key = "";
		this.canvases = [];
		this.element.replaceChildren();
		this.element.remove();
	}
}
