/**
 * What one frame of the diagram shows, the per-edge style rules both renderers share, and the
 * interface both implement. Pure: no DOM.
 */
import type { NetState } from "./decode";
import type { Layout } from "./layout";
import type { PrunePlan } from "./preview";

export interface Scene {
	state: NetState;
	/** opacity = tanh(beta * A) */
	beta: number;
	/** theta preview marks (null: not previewing) */
	plan: PrunePlan | null;
	/** the inspected edge */
	selected: [number, number, number] | null;
}

/**
 * How much of a drawing a change invalidates: "style" (beta, preview, selection: opacity and
 * colour), "curves" (a training tick: the plots too), "rebuild" (structure, size: everything).
 */
export type Level = "style" | "curves" | "rebuild";
export const RANK: Record<Level, number> = { style: 1, curves: 2, rebuild: 3 };
const BY_RANK: Level[] = ["style", "style", "curves", "rebuild"];

/** The stronger of two levels (a pending redraw must cover both). */
export function stronger(a: Level | null, b: Level): Level {
	return a !== null && RANK[a] > RANK[b] ? a : b;
}

/** The level of a rank (0 counts as "style"). */
export const levelOf = (rank: number): Level => BY_RANK[Math.max(0, Math.min(3, rank))];

/** A diagram renderer (SVG or canvas): draws a Scene laid out by a Layout into `element`. */
export interface Renderer {
	readonly kind: "svg" | "canvas";
	readonly element: SVGSVGElement | HTMLCanvasElement;
	/** draw everything anew (after a structural change or a resize) */
	build(scene: Scene, lay: Layout): void;
	/** redraw what `level` invalidates, on the layout of the last build */
	update(scene: Scene, lay: Layout, level: Exclude<Level, "rebuild">): void;
	/** standalone SVG text of `scene` */
	svgText(scene: Scene, lay: Layout): string;
	/** PNG of `scene` */
	pngBlob(scene: Scene, lay: Layout): Promise<Blob | null>;
	dispose(): void;
}

/** Edge colour classes, in the order of COLORS. */
export const SPLINE = 0;
export const SYMBOLIC = 1;
export const DOOMED = 2;
export const SELECTED = 3;
/** a spline edge of a partly symbolic network: Symbolify left it (no function fitted well) */
export const KEPT = 4;
export const COLORS = ["#1f2933", "#d6336c", "#f08c00", "#1c7ed6", "#0ca678"];
export const COLOR_NAMES = ["spline", "symbolic", "doomed", "selected", "kept-spline"];

const symbolicSeen = new WeakMap<object, boolean>();
/** Does the network have any symbolic edge? (cached per decoded state) */
export function anySymbolic(state: NetState): boolean {
	let v = symbolicSeen.get(state.sym);
	if (v === undefined) {
		v = state.sym.some((layer) => layer.some((name) => name !== null));
		symbolicSeen.set(state.sym, v);
	}
	return v;
}
export const NODE_FILL = "#ffffff";
export const NODE_STROKE = "#343a40";
export const TEXT = "#212529";
export const BACKGROUND = "#ffffff";
/** least opacity of an edge marked by the preview, so faded edges that would go still show */
export const DOOMED_MIN_ALPHA = 0.3;

/** tanh(beta * A), the opacity of an edge of importance A. */
export function opacity(beta: number, score: number): number {
	if (!Number.isFinite(score) || score <= 0) return 0;
	return Math.tanh(beta * score);
}

/** Colour class of edge k = i*out + j of layer l. */
export function edgeClass(scene: Scene, l: number, i: number, j: number, k: number): number {
	const s = scene.selected;
	if (s && s[0] === l && s[1] === i && s[2] === j) return SELECTED;
	if (scene.plan && scene.plan.edges[l][k] === 0) return DOOMED;
	if (scene.state.sym[l][k] !== null) return SYMBOLIC;
	return anySymbolic(scene.state) ? KEPT : SPLINE;
}

/** Drawn opacity of an edge: tanh(beta*A) (1 while no scores have arrived), raised when doomed. */
export function edgeAlpha(scene: Scene, l: number, k: number, cls: number): number {
	const sc = scene.state.scores;
	const a = sc ? opacity(scene.beta, sc[l][k]) : 1;
	if (cls === DOOMED) return Math.max(a, DOOMED_MIN_ALPHA);
	if (cls === SELECTED) return Math.max(a, 0.6);
	return a;
}

/** Is node i of column c marked by the preview? */
export function nodeDoomed(scene: Scene, c: number, i: number): boolean {
	return !!scene.plan && scene.plan.nodes[c][i] === 0;
}

/** Number of present edges. */
export function presentEdges(state: NetState): number {
	let n = 0;
	for (const m of state.masks) for (let k = 0; k < m.length; k++) if (m[k] > 0) n++;
	return n;
}
