/**
 * The diagram controller: picks SVG or canvas by size, keeps the layout, batches changes into one
 * draw per animation frame (rebuild on structural change, re-plot on a tick, restyle on beta or
 * preview), redraws when the output is re-attached or resized, turns clicks into edges, and
 * exports SVG / PNG. Beside each input node it keeps a bar of the input's attribution score, an
 * HTML overlay on both renderers, orange while the input-threshold preview marks it as dropped.
 *
 * For two-input models each node holds its picture (node_pics.ts: the node's value over the input
 * square, hover to enlarge), and every edge and node has a hover card (cards.ts).
 *
 * After each draw it sets `data-renderer`, `data-draw-ms` and `data-draw-count` on its wrapper and
 * dispatches a `kan-draw` event ({ms, level, renderer, edges}) there (used by bench/bench_draw.py).
 */
import { barFractions } from "./attribution";
import { edgeCard, HoverCard, nodeCard } from "./cards";
import { CanvasRenderer } from "./draw_canvas";
import { EdgeZoom } from "./edge_zoom";
import { SvgRenderer } from "./draw_svg";
import { computeLayout, edgeAt, type Layout } from "./layout";
import { columnOffsets, NODE_PIC_PX, type NodePicData, NodePictures, picsFit } from "./node_pics";
import { edgeAlpha, edgeClass, type Level, levelOf, presentEdges, RANK, type Renderer, type Scene } from "./scene";

/** Above this many present edges the diagram is drawn on a canvas. */
export const SVG_MAX_EDGES = 800;

export type RendererKind = Renderer["kind"];

export function chooseRenderer(present: number, max = SVG_MAX_EDGES): RendererKind {
	return present > max ? "canvas" : "svg";
}

export interface DiagramOptions {
	onEdge?: (l: number, i: number, j: number) => void;
	raf?: (cb: () => void) => unknown;
	cancelRaf?: (id: unknown) => void;
	svgMaxEdges?: number;
}

const DEFAULT_WIDTH = 760;
/** the longest feature-score bar, in layout px */
export const BAR_MAX = 26;

/** The input bars: each input's score, and (while previewing) 1 = kept per input. */
export interface FeatureBars {
	scores: number[];
	keep: Uint8Array | null;
}

export class Diagram {
	readonly wrap: HTMLElement;
	private opts: DiagramOptions;
	private renderer: Renderer | null = null;
	private layout: Layout | null = null;
	private scene: Scene | null = null;
	private pending = 0;
	private cancelFrame: (() => void) | null = null;
	private observers: { disconnect(): void }[] = [];
	private lastWidth = 0;
	private disposed = false;
	private features: FeatureBars | null = null;
	private bars: HTMLElement | null = null;
	private pics: NodePicData | null = null;
	/** whether the current layout was made for node pictures (bigger nodes) */
	private picLayout = false;
	private picsDirty = false;
	private picView: NodePictures;
	private card: HoverCard;
	/** the hovered edge enlarged, where no SVG box grows by CSS (canvas, inline mode) */
	private zoom: EdgeZoom;
	/** the pointer's last move over the diagram (null once it left): its card is kept current */
	private lastMove: MouseEvent | null = null;
	draws = 0;

	constructor(wrap: HTMLElement, opts: DiagramOptions = {}) {
		this.wrap = wrap;
		this.opts = opts;
		wrap.addEventListener("click", this.onClick);
		wrap.addEventListener("mousemove", this.onMove);
		wrap.addEventListener("mouseleave", this.onLeave);
		this.picView = new NodePictures(wrap.ownerDocument);
		this.card = new HoverCard(wrap.ownerDocument);
		this.zoom = new EdgeZoom(wrap.ownerDocument);
		const view = wrap.ownerDocument.defaultView as (Window & typeof globalThis) | null;
		if (view && typeof view.ResizeObserver === "function") {
			const ro = new view.ResizeObserver(() => {
				const w = wrap.clientWidth;
				if (w > 0 && Math.abs(w - this.lastWidth) > 2) this.invalidate("rebuild");
			});
			ro.observe(wrap);
			this.observers.push(ro);
		}
		if (view && typeof view.IntersectionObserver === "function") {
			// outputs scrolled away may be detached and come back blank: redraw on return
			// (the first report only records the state: no redraw for merely being shown)
			let visible = true;
			const io = new view.IntersectionObserver((entries) => {
				const now = entries[entries.length - 1].isIntersecting;
				if (now && !visible && this.draws > 0) this.invalidate("rebuild");
				visible = now;
			});
			io.observe(wrap);
			this.observers.push(io);
		}
	}

	get rendererKind(): RendererKind | null {
		return this.renderer?.kind ?? null;
	}

	get currentLayout(): Layout | null {
		return this.layout;
	}

	/** Replace the scene and schedule a draw of at least `level`. */
	setScene(scene: Scene | null, level: Level): void {
		this.scene = scene;
		this.invalidate(level);
	}

	/**
	 * Show node pictures (null: none). Pictures that fit the network are painted in the next
	 * frame; when they start or stop fitting, the layout changes (bigger nodes): a rebuild.
	 */
	setNodePictures(p: NodePicData | null): void {
		this.pics = p;
		const fits = picsFit(p, this.scene?.state.structure.width ?? []);
		if (fits !== this.picLayout) {
			this.invalidate("rebuild");
		} else if (fits) {
			this.picsDirty = true;
			this.requestFrame();
		}
	}

	/** How the drawing sits in the wrapper: its origin (px) and its scale (max-width). */
	private frame(lay: Layout, el: Element): { x0: number; y0: number; k: number } {
		const er = el.getBoundingClientRect();
		const wr = this.wrap.getBoundingClientRect();
		return {
			x0: er.left - wr.left - this.wrap.clientLeft,
			y0: er.top - wr.top - this.wrap.clientTop,
			k: er.width > 0 ? er.width / lay.width : 1,
		};
	}

	/** Paint (if due) and place the node pictures; remove them when they do not fit. */
	private drawPics(placeToo: boolean): void {
		const lay = this.layout;
		const el = this.renderer?.element;
		const width = this.scene?.state.structure.width ?? [];
		if (!lay || !el || !this.picLayout || !picsFit(this.pics, width)) {
			this.picView.clear();
			return;
		}
		if (this.picView.element.parentNode !== this.wrap) this.wrap.append(this.picView.element);
		if (this.picsDirty || placeToo) this.picView.paint(this.pics, width);
		this.picsDirty = false;
		if (placeToo) {
			const f = this.frame(lay, el);
			this.picView.place(lay, f.x0, f.y0, f.k);
		}
		this.wrap.dataset.picPaints = String(this.picView.paints);
	}

	/** Show the input bars (null: none); placed now and after every draw. */
	setFeatures(f: FeatureBars | null): void {
		this.features = f;
		this.placeBars();
	}

	private placeBars(): void {
		const f = this.features;
		const lay = this.layout;
		const el = this.renderer?.element;
		const n = lay ? lay.dims[0] : 0;
		if (!f || !lay || !el || f.scores.length !== n) {
			this.bars?.remove();
			this.bars = null;
			return;
		}
		const doc = this.wrap.ownerDocument;
		if (!this.bars) {
			this.bars = doc.createElement("div");
			this.bars.className = "kan-features";
		}
		if (this.bars.parentNode !== this.wrap) this.wrap.append(this.bars);
		const box = this.bars;
		while (box.children.length > n) box.lastElementChild?.remove();
		while (box.children.length < n) box.append(doc.createElement("div"));
		// the drawing may be scaled (max-width) and offset inside the wrapper
		const { x0, y0, k } = this.frame(lay, el);
		const frac = barFractions(f.scores);
		for (let i = 0; i < n; i++) {
			const bar = box.children[i] as HTMLElement;
			const drop = f.keep !== null && f.keep[i] === 0;
			bar.className = drop ? "kan-feature-bar kan-feature-drop" : "kan-feature-bar";
			bar.dataset.input = String(i);
			bar.dataset.drop = drop ? "1" : "0";
			const s = f.scores[i];
			const name = this.scene?.state.structure.in_vars[i] ?? `input ${i}`;
			bar.title = `${name}: attribution score ${Number.isFinite(s) ? s.toPrecision(3) : "not finite"}`
				+ (drop ? " (Prune inputs would drop it)" : "");
			Object.assign(bar.style, {
				left: `${x0 + (lay.colX[0] - lay.nodeR) * k}px`,
				top: `${y0 + (lay.nodeY[0][i] + lay.nodeR + 2) * k}px`,
				width: `${Math.max(1, frac[i] * BAR_MAX * k)}px`,
			});
		}
	}

	invalidate(level: Level): void {
		if (this.disposed) return;
		this.pending = Math.max(this.pending, RANK[level]);
		this.requestFrame();
	}

	/** One flush in the next animation frame (at most one pending). */
	private requestFrame(): void {
		if (this.disposed || this.cancelFrame !== null) return;
		const run = () => {
			this.cancelFrame = null;
			this.flush();
		};
		const { raf, cancelRaf } = this.opts;
		const view = this.wrap.ownerDocument.defaultView;
		if (raf) {
			const id = raf(run);
			this.cancelFrame = () => cancelRaf?.(id);
		} else if (view && typeof view.requestAnimationFrame === "function") {
			const id = view.requestAnimationFrame(run);
			this.cancelFrame = () => view.cancelAnimationFrame(id);
		} else {
			const id = setTimeout(run, 16);
			this.cancelFrame = () => clearTimeout(id);
		}
	}

	/** Draw now whatever is pending. */
	flush(): void {
		if (this.disposed) return;
		if (this.pending === 0) {
			if (this.picsDirty) {
				this.drawPics(false); // a tick of the pictures alone
				this.refreshCard();
			}
			return;
		}
		const level = this.pending;
		this.pending = 0;
		const scene = this.scene;
		if (!scene) {
			this.renderer?.dispose();
			this.renderer = null;
			this.layout = null;
			this.placeBars();
			return;
		}
		const t0 = performance.now();
		let done = levelOf(level);
		if (done === "rebuild" || !this.renderer || !this.layout) {
			this.rebuild(scene);
			done = "rebuild";
		} else {
			this.renderer.update(scene, this.layout, done);
		}
		this.placeBars();
		this.drawPics(done === "rebuild");
		const ms = performance.now() - t0;
		this.draws++;
		this.refreshCard(); // after the count: the card's key names the draw
		const w = this.wrap;
		const kind = this.rendererKind;
		w.dataset.renderer = kind ?? "";
		w.dataset.drawMs = ms.toFixed(2);
		w.dataset.drawCount = String(this.draws);
		const Ev = w.ownerDocument.defaultView?.CustomEvent ?? CustomEvent;
		w.dispatchEvent(new Ev("kan-draw", {
			detail: { ms, level: done, renderer: kind, edges: presentEdges(scene.state) },
		}));
	}

	private rebuild(scene: Scene): Renderer {
		const st = scene.state;
		const measured = this.wrap.clientWidth;
		const width = measured > 0 ? measured : this.lastWidth || DEFAULT_WIDTH;
		this.lastWidth = width;
		this.picLayout = picsFit(this.pics, st.structure.width);
		this.layout = computeLayout(st.structure.width, st.masks, {
			width,
			inVars: st.structure.in_vars,
			outVars: st.structure.out_vars,
			subs: st.structure.subs,
			nodePic: this.picLayout ? NODE_PIC_PX : 0,
		});
		const kind = chooseRenderer(presentEdges(st), this.opts.svgMaxEdges);
		let r = this.renderer;
		if (!r || r.kind !== kind) {
			r?.dispose();
			const doc = this.wrap.ownerDocument;
			r = kind === "svg" ? new SvgRenderer(doc) : new CanvasRenderer(doc);
			this.renderer = r;
			this.wrap.append(r.element);
		}
		r.build(scene, this.layout);
		return r;
	}

	/** The edge at a client point, or null. */
	edgeAtClient(clientX: number, clientY: number): [number, number, number] | null {
		const lay = this.layout;
		const scene = this.scene;
		const target = this.renderer?.element;
		if (!lay || !scene || !target) return null;
		const rect = target.getBoundingClientRect();
		const sx = rect.width > 0 ? lay.width / rect.width : 1;
		const sy = rect.height > 0 ? lay.height / rect.height : 1;
		const x = (clientX - rect.left) * sx;
		const y = (clientY - rect.top) * sy;
		const nOut = (l: number) => scene.state.structure.layers[l].out;
		return edgeAt(lay, scene.state.masks, x, y, (l, k) => {
			const i = Math.floor(k / nOut(l));
			return edgeAlpha(scene, l, k, edgeClass(scene, l, i, k - i * nOut(l), k));
		});
	}

	private onClick = (ev: MouseEvent) => {
		const t = ev.target as Element | null;
		const hit = t && typeof t.closest === "function" ? t.closest("[data-edge]") : null;
		let edge: [number, number, number] | null = null;
		if (hit) {
			const v = (hit.getAttribute("data-edge") ?? "").split(",").map(Number);
			if (v.length === 3 && v.every(Number.isInteger)) edge = [v[0], v[1], v[2]];
		} else {
			edge = this.edgeAtClient(ev.clientX, ev.clientY);
		}
		if (edge) this.opts.onEdge?.(edge[0], edge[1], edge[2]);
	};

	/** The node at a client point (within its radius), or null. */
	nodeAtClient(clientX: number, clientY: number): [number, number] | null {
		const lay = this.layout;
		const target = this.renderer?.element;
		if (!lay || !target) return null;
		const rect = target.getBoundingClientRect();
		const k = rect.width > 0 ? rect.width / lay.width : 1;
		const x = (clientX - rect.left) / k;
		const y = (clientY - rect.top) / k;
		const r = lay.nodeR + 2;
		for (let c = 0; c < lay.colX.length; c++) {
			if (Math.abs(x - lay.colX[c]) > r) continue;
			const ys = lay.nodeY[c];
			for (let i = 0; i < ys.length; i++) if (lay.alive[c][i] && Math.abs(y - ys[i]) <= r) return [c, i];
		}
		return null;
	}

	/** What is under the pointer: a node or an edge (DOM first, then hit-testing). */
	private hitAt(ev: MouseEvent): { node: [number, number] } | { edge: [number, number, number] } | null {
		const ints = (v: string | null, n: number) => {
			const a = (v ?? "").split(",").map(Number);
			return a.length === n && a.every(Number.isInteger) ? a : null;
		};
		const tagged = (t: Element | null) => (t && typeof t.closest === "function" ? t.closest("[data-node],[data-edge]") : null);
		// the event's own target, else what is under the pointer now: raising a hovered box
		// (draw_svg's mouseover) re-inserts it, and the event then names its parent group
		const doc = this.wrap.ownerDocument;
		let el = tagged(ev.target as Element | null);
		if (!el && typeof doc.elementFromPoint === "function") el = tagged(doc.elementFromPoint(ev.clientX, ev.clientY));
		if (el) {
			const node = ints(el.getAttribute("data-node"), 2);
			if (node) return { node: [node[0], node[1]] };
			const edge = ints(el.getAttribute("data-edge"), 3);
			if (edge) return { edge: [edge[0], edge[1], edge[2]] };
		}
		const node = this.nodeAtClient(ev.clientX, ev.clientY);
		if (node) return { node };
		const edge = this.renderer?.kind === "canvas" ? this.edgeAtClient(ev.clientX, ev.clientY) : null;
		return edge ? { edge } : null;
	}

	private onMove = (ev: MouseEvent) => {
		this.lastMove = ev;
		this.cardFor(ev);
	};

	/** After a draw: the card under a resting pointer shows the new numbers, never stale ones. */
	private refreshCard(): void {
		if (this.lastMove && !this.card.element.hidden) this.cardFor(this.lastMove);
	}

	private cardFor(ev: MouseEvent): void {
		const hit = this.hitAt(ev);
		// SVG edges get their pointer cursor from CSS; a canvas needs hit-testing
		if (this.renderer?.kind === "canvas") this.renderer.element.style.cursor = hit && "edge" in hit ? "pointer" : "default";
		const state = this.scene?.state;
		let card = null;
		let key = "";
		if (state && hit && "node" in hit) {
			const [c, i] = hit.node;
			const p = this.pics;
			let pic: Float32Array | null = null;
			if (picsFit(p, state.structure.width)) {
				const gg = p.grid * p.grid;
				const at = columnOffsets(state.structure.width)[c] + i;
				pic = p.values.subarray(at * gg, (at + 1) * gg);
			}
			card = nodeCard(state, c, i, pic);
			key = `node:${c},${i}`;
		} else if (state && hit && "edge" in hit) {
			card = edgeCard(state, ...hit.edge);
			key = `edge:${hit.edge.join(",")}`;
		}
		this.zoomFor(card && hit && "edge" in hit ? hit.edge : null);
		if (!card) {
			this.card.hide();
			return;
		}
		if (this.card.element.parentNode !== this.wrap) this.wrap.append(this.card.element);
		const wr = this.wrap.getBoundingClientRect();
		// the numbers change every tick: rewrite the card when its subject or its state does
		this.card.show(card, `${key}:${this.draws}:${this.picView.paints}`, ev.clientX - wr.left, ev.clientY - wr.top, this.wrap.clientWidth, this.wrap.clientHeight);
	}

	/** Enlarge `edge` (null: none) where the drawing has no box that CSS enlarges. */
	private zoomFor(edge: [number, number, number] | null): void {
		const lay = this.layout;
		const scene = this.scene;
		const needed = this.renderer?.kind === "canvas" || lay?.mode === "inline";
		if (!edge || !lay || !scene || !needed) {
			this.zoom.hide();
			return;
		}
		if (this.zoom.element.parentNode !== this.wrap) this.wrap.append(this.zoom.element);
		// redrawn when the edge or the drawing changes (a tick while the pointer rests)
		this.zoom.show(scene, lay, edge, `${edge.join(",")}:${this.draws}`);
	}

	private onLeave = () => {
		this.lastMove = null;
		this.card.hide();
		this.zoom.hide();
	};

	/** Standalone SVG of the current scene (built off-screen when the canvas is in use). */
	svgText(): string | null {
		if (!this.scene || !this.layout || !this.renderer) return null;
		return this.renderer.svgText(this.scene, this.layout);
	}

	/** PNG of the current scene: the canvas itself, or the SVG drawn onto a canvas at 2x. */
	async pngBlob(): Promise<Blob | null> {
		if (!this.scene || !this.layout || !this.renderer) return null;
		return this.renderer.pngBlob(this.scene, this.layout);
	}

	dispose(): void {
		this.disposed = true;
		this.cancelFrame?.();
		this.cancelFrame = null;
		for (const o of this.observers) o.disconnect();
		this.observers = [];
		this.wrap.removeEventListener("click", this.onClick);
		this.wrap.removeEventListener("mousemove", this.onMove);
		this.wrap.removeEventListener("mouseleave", this.onLeave);
		this.picView.clear();
		this.card.element.remove();
		this.zoom.dispose();
		this.renderer?.dispose();
		this.renderer = null;
		this.bars?.remove();
		this.bars = null;
	}
}
