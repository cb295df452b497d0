/**
 * KANWidget front end: `render` builds the view from the synced traits alone, wires model events
 * to the modules, and returns a disposer. Nothing lives at module level: each view is independent.
 * Protocol: docs/WIDGET_PROTOCOL.md.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { Controls, type ModelLike } from "./controls";
import {
	asF32, asU8, decodeCurves, decodePoints, decodeState, expectedSizes, type Inspector, type NetState,
	parseFormula, parseInspector, parseStatus, splitEdges, type Status,
} from "./decode";
import { Diagram } from "./diagram";
import { FormulaPanel } from "./formula";
import { InspectorPanel } from "./inspector";
import { planPrune, type PrunePlan, previewText } from "./preview";
import { COLORS, type Level, type Scene } from "./scene";
import { StatusView } from "./status";
import type { HparamName } from "./protocol";
import { CSS } from "./styles";

/** The synced traits (docs/WIDGET_PROTOCOL.md). */
export interface KanTraits {
	lamb: number;
	lamb_l1: number;
	lamb_entropy: number;
	theta: number;
	beta: number;
	steps: number;
	opt: string;
	lr: number;
	structure: Record<string, unknown>;
	curves: DataView | null;
	scores: DataView | null;
	masks: DataView | null;
	status: Record<string, unknown>;
	formula: Record<string, unknown>;
	inspector: Record<string, unknown>;
	inspector_points: DataView | null;
	[key: string]: unknown;
}

/** How long after the last theta change the preview marks stay on the diagram. */
export const PREVIEW_HOLD_MS = 3000;

function sameMasks(a: Uint8Array[], b: Uint8Array[]): boolean {
	if (a.length !== b.length) return false;
	for (let l = 0; l < a.length; l++) {
		const x = a[l];
		const y = b[l];
		if (x.length !== y.length) return false;
		for (let k = 0; k < x.length; k++) if ((x[k] > 0) !== (y[k] > 0)) return false;
	}
	return true;
}

function nodeName(st: NetState, c: number, i: number): string {
	const L = st.structure.layers.length;
	if (c === 0) return st.structure.in_vars[i] ?? `x${i + 1}`;
	if (c === L) return st.structure.out_vars[i] ?? `y${i + 1}`;
	return `node (${c}, ${i})`;
}

function download(doc: Document, parent: HTMLElement, blob: Blob, name: string): void {
	const url = URL.createObjectURL(blob);
	const a = doc.createElement("a");
	a.href = url;
	a.download = name;
	a.style.display = "none";
	parent.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function render({ model, el }: Pick<RenderProps<KanTraits>, "model" | "el">): () => void {
	const doc = el.ownerDocument;
	const m = model as AnyModel<KanTraits>;
	const get = (k: string): unknown => m.get(k);

	const root = doc.createElement("div");
	root.className = "kan-widget";
	const style = doc.createElement("style");
	style.textContent = CSS;

	// ---- state decoded from the traits
	let state: NetState | null = decodeState(get("structure"), get("curves"), get("scores"), get("masks"));
	let status: Status = parseStatus(get("status"));
	let inspectorInfo: Inspector | null = parseInspector(get("inspector"));
	let points = decodePoints(get("inspector_points"));
	let selected: [number, number, number] | null = inspectorInfo?.edge ?? null;
	let plan: PrunePlan | null = null;
	let previewUntil = 0;
	let thetaFocused = false;
	let previewTimer: ReturnType<typeof setTimeout> | null = null;

	// ---- parts
	const statusView = new StatusView(doc);
	const controls = new Controls(doc, {
		model: m as unknown as ModelLike,
		onLive: (trait) => {
			if (trait === "theta") {
				previewUntil = Date.now() + PREVIEW_HOLD_MS;
				armPreviewTimer();
				refreshPreview();
				redraw("style");
			} else if (trait === "beta") {
				redraw("style");
			}
		},
		onFocus: (trait, focused) => {
			if (trait !== "theta") return;
			thetaFocused = focused;
			if (!focused) previewUntil = Math.max(previewUntil, Date.now() + 400);
			armPreviewTimer();
			redraw("style");
		},
		onDownload: (kind) => void saveDiagram(kind),
	});
	const inspector = new InspectorPanel(doc, {
		onFix: (l, i, j, name) => m.send({ type: "fix", l, i, j, name }),
		onUnfix: (l, i, j) => m.send({ type: "unfix", l, i, j }),
	});
	const formula = new FormulaPanel(doc);
	const diagramWrap = doc.createElement("div");
	diagramWrap.className = "kan-diagram-wrap";
	const diagram = new Diagram(diagramWrap, {
		onEdge: (l, i, j) => {
			selected = [l, i, j];
			m.send({ type: "inspect", l, i, j });
			redraw("style");
		},
	});
	const preview = doc.createElement("div");
	preview.className = "kan-preview";
	preview.setAttribute("aria-live", "polite");
	const legend = doc.createElement("div");
	legend.className = "kan-legend";
	const legendItems: [string, string, boolean][] = [
		[COLORS[0], "spline edge", false], [COLORS[1], "symbolic edge", false],
		[COLORS[2], "would be pruned (theta preview)", true], [COLORS[3], "inspected", false],
	];
	for (const [color, text, dashed] of legendItems) {
		const s = doc.createElement("span");
		const sw = doc.createElement("i");
		sw.style.borderTopColor = color;
		if (dashed) sw.style.borderTopStyle = "dashed";
		s.append(sw, doc.createTextNode(text));
		legend.append(s);
	}
	const opacityNote = doc.createElement("span");
	opacityNote.textContent = "opacity = tanh(β·importance); click an edge to inspect it";
	legend.append(opacityNote);

	// ---- layout
	const main = doc.createElement("div");
	main.className = "kan-main";
	const col = doc.createElement("div");
	col.className = "kan-diagram-col";
	col.append(diagramWrap, legend, preview);
	const side = doc.createElement("div");
	side.className = "kan-side";
	side.append(inspector.element, formula.element);
	main.append(col, side);
	root.append(style, controls.toolbar, statusView.line, statusView.error, main, controls.panel);
	el.append(root);

	// ---- derived views
	const theta = () => controls.value("theta") ?? 0.01;
	const beta = () => controls.value("beta") ?? 3;
	const previewing = () => thetaFocused || Date.now() < previewUntil;

	function armPreviewTimer(): void {
		if (previewTimer !== null) clearTimeout(previewTimer);
		previewTimer = null;
		const wait = previewUntil - Date.now();
		if (wait > 0) {
			previewTimer = setTimeout(() => {
				previewTimer = null;
				redraw("style");
			}, wait + 20);
		}
	}

	function refreshPreview(): void {
		plan = state && state.scores ? planPrune(state.structure.width, state.scores, state.masks, theta()) : null;
		preview.textContent = previewText(plan);
	}

	function scene(): Scene | null {
		if (!state) return null;
		const sel = selected && selected[0] < state.structure.layers.length
			&& selected[1] < state.structure.layers[selected[0]].in
			&& selected[2] < state.structure.layers[selected[0]].out ? selected : null;
		return { state, beta: beta(), plan: previewing() ? plan : null, selected: sel };
	}

	/**
	 * True while a buffer does not match the structure (a structure change can arrive a message
	 * ahead of its curves): the last picture is kept rather than drawing half-updated data.
	 */
	function torn(): boolean {
		if (!state) return false;
		const want = expectedSizes(state.structure.width, state.structure.n_points);
		const len = (k: string) => {
			const v = get(k);
			return v && typeof v === "object" && "byteLength" in v ? (v as ArrayBufferView).byteLength : 0;
		};
		return (len("curves") > 0 && len("curves") !== want.curves)
			|| (len("scores") > 0 && len("scores") !== want.scores)
			|| (len("masks") > 0 && len("masks") !== want.masks);
	}

	let owed: Level | null = null; // the strongest redraw skipped while torn
	const RANK: Record<Level, number> = { style: 1, curves: 2, rebuild: 3 };
	function redraw(level: Level): void {
		const waiting = torn();
		diagramWrap.dataset.state = waiting ? "waiting" : "ok";
		if (owed && RANK[owed] > RANK[level]) level = owed;
		if (waiting && diagram.draws > 0) {
			owed = level;
			return;
		}
		owed = null;
		diagram.setScene(scene(), level);
	}

	function refreshInspector(): void {
		let curve = null;
		let from = "";
		let to = "";
		if (inspectorInfo && state) {
			const [l, i, j] = inspectorInfo.edge;
			const layer = state.structure.layers[l];
			if (layer && i < layer.in && j < layer.out) {
				from = nodeName(state, l, i);
				to = nodeName(state, l + 1, j);
				if (state.curves) {
					const n = state.structure.n_points;
					const c = state.curves[l];
					curve = { x: c.xs.subarray(i * n, (i + 1) * n), y: c.ys.subarray((i * layer.out + j) * n, (i * layer.out + j + 1) * n) };
				}
			}
		}
		inspector.update({ info: inspectorInfo, points, curve, from, to });
	}

	async function saveDiagram(kind: "svg" | "png"): Promise<void> {
		try {
			if (kind === "svg") {
				const text = diagram.svgText();
				if (!text) throw new Error("nothing to download yet");
				download(doc, root, new Blob([text], { type: "image/svg+xml" }), "kan.svg");
			} else {
				const blob = await diagram.pngBlob();
				if (!blob) throw new Error("could not render the PNG");
				download(doc, root, blob, "kan.png");
			}
		} catch (e) {
			statusView.showError(`Download ${kind.toUpperCase()} failed: ${e instanceof Error ? e.message : String(e)}`);
		}
	}

	// ---- model events
	const onStructure = () => {
		const prev = state;
		state = decodeState(get("structure"), get("curves"), get("scores"), get("masks"));
		if (prev && state && prev.structure.version !== state.structure.version) {
			// indices may mean other edges now; the kernel re-sends the inspector if it still applies
			selected = inspectorInfo?.edge ?? null;
		}
		refreshPreview();
		refreshInspector();
		redraw("rebuild");
	};
	const onMasks = () => {
		if (!state) return onStructure();
		const masks = splitEdges(asU8(get("masks")), state.structure.width);
		const next = masks ?? state.structure.layers.map((ly) => new Uint8Array(ly.in * ly.out).fill(1));
		const changed = !sameMasks(state.masks, next);
		state.masks = next;
		refreshPreview();
		redraw(changed ? "rebuild" : "style");
	};
	const onCurves = () => {
		if (!state) return onStructure();
		state.curves = decodeCurves(asF32(get("curves")), state.structure);
		if (inspectorInfo) refreshInspector();
		redraw("curves");
	};
	const onScores = () => {
		if (!state) return onStructure();
		state.scores = splitEdges(asF32(get("scores")), state.structure.width);
		refreshPreview();
		redraw("style");
	};
	const onStatus = () => {
		status = parseStatus(get("status"));
		statusView.update(status);
		controls.setStatus(status);
	};
	const onFormula = () => formula.update(parseFormula(get("formula")));
	const onInspector = () => {
		inspectorInfo = parseInspector(get("inspector"));
		if (inspectorInfo) selected = inspectorInfo.edge;
		refreshInspector();
		redraw("style");
	};
	const onPoints = () => {
		points = decodePoints(get("inspector_points"));
		refreshInspector();
	};
	const hparam = (trait: HparamName) => () => {
		controls.sync(trait);
		if (trait === "theta") refreshPreview();
		if (trait === "theta" || trait === "beta") redraw("style");
	};

	const handlers: [string, () => void][] = [
		["change:structure", onStructure],
		["change:masks", onMasks],
		["change:curves", onCurves],
		["change:scores", onScores],
		["change:status", onStatus],
		["change:formula", onFormula],
		["change:inspector", onInspector],
		["change:inspector_points", onPoints],
	];
	for (const { name } of controls.spec.params) handlers.push([`change:${name}`, hparam(name)]);
	for (const [ev, fn] of handlers) m.on(ev, fn);

	// ---- first frame from the synced traits alone
	onStatus();
	onFormula();
	refreshPreview();
	refreshInspector();
	redraw("rebuild");

	return () => {
		for (const [ev, fn] of handlers) m.off(ev, fn);
		if (previewTimer !== null) clearTimeout(previewTimer);
		controls.dispose();
		formula.dispose();
		diagram.dispose();
		root.remove();
	};
}

export default { render };
