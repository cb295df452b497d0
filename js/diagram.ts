/**
 * The diagram controller: picks SVG or canvas by size, keeps the layout, batches changes into one
 * draw per animation frame (rebuild on structural change, re-plot on a tick, restyle on beta or
 * preview), redraws when the output is re-attached or resized, turns clicks into edges, and
 * exports SVG / PNG. Beside each input node it keeps a bar of the input's attribution score, an
 * HTML overlay on both renderers, orange while the input-threshold preview marks it as dropped.
 *
 * After each draw it sets `data-renderer`, `data-draw-ms` and `data-draw-count` on its wrapper and
 * dispatches a `kan-draw` event ({ms, level, renderer, edges}) there (used by bench/bench_draw.py).
 */
import { barFractions } from "./attribution";
import { CanvasRenderer } from "./draw_canvas";
import { SvgRenderer } from "./draw_svg";
import { computeLayout, edgeAt, type Layout } from "./layout";
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
	draws = 0;

	constructor(wrap: HTMLElement, opts: DiagramOptions = {}) {
		this.wrap = wrap;
		this.opts = opts;
		wrap.addEventListener("click", this.onClick);
		wrap.addEventListener("mousemove", this.onMove);
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
		const er = el.getBoundingClientRect();
		const wr = this.wrap.getBoundingClientRect();
		const k = er.width > 0 ? er.width / lay.width : 1;
		const x0 = er.left - wr.left - this.wrap.clientLeft;
		const y0 = er.top - wr.top - this.wrap.clientTop;
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
		if (this.cancelFrame !== null) return;
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
		if (this.disposed || this.pending === 0) return;
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
		const ms = performance.now() - t0;
		this.draws++;
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
		this.layout = computeLayout(st.structure.width, st.masks, {
			width,
			inVars: st.structure.in_vars,
			outVars: st.structure.out_vars,
			subs: st.structure.subs,
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

	private onMove = (ev: MouseEvent) => {
		// SVG edges get their pointer cursor from CSS; a canvas needs hit-testing
		if (this.renderer?.kind !== "canvas") return;
		const edge = this.edgeAtClient(ev.clientX, ev.clientY);
		this.renderer.element.style.cursor = edge ? "pointer" : "default";
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
		this.renderer?.dispose();
		this.renderer = null;
		this.bars?.remove();
		this.bars = null;
	}
}
