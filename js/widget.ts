/**
 * KANWidget front end: `render` builds one view from the synced traits alone, wires the model's
 * change events to the parts, and returns a disposer. The decoded synced state lives in
 * synced.ts, this view's own state in store.ts; nothing lives at module level, so each view is
 * independent. Protocol: docs/WIDGET_PROTOCOL.md, typed in protocol.ts.
 */
import type { RenderProps } from "@anywidget/types";
import { ClassPanel } from "./boundary";
import { inputPlan, inputPreviewText, parseFeatures } from "./attribution";
import { Controls } from "./controls";
import { asF32, parseClassInfo } from "./decode";
import { Diagram } from "./diagram";
import { FormulaPanel } from "./formula";
import { InspectorPanel } from "./inspector";
import { planPrune, previewText } from "./preview";
import type { KanModel, KanTraits, TraitName } from "./protocol";
import { COLORS, type Level } from "./scene";
import { StatusView } from "./status";
import { ViewStore } from "./store";
import { CSS } from "./styles";
import { SyncedState } from "./synced";
import { nextCut, nextCutText, scoreSets, ThetaHistogram } from "./theta_hist";

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

/** The legend under the diagram: one swatch per edge colour, and what opacity means. */
function legend(doc: Document): HTMLElement {
	const el = doc.createElement("div");
	el.className = "kan-legend";
	const items: [string, string, boolean][] = [
		[COLORS[0], "spline edge", false], [COLORS[1], "symbolic edge", false],
		[COLORS[2], "would be pruned (theta / input threshold preview)", true], [COLORS[3], "inspected", false],
		[COLORS[4], "spline kept by Symbolify (no good fit)", false],
	];
	for (const [color, text, dashed] of items) {
		const s = doc.createElement("span");
		const sw = doc.createElement("i");
		sw.style.borderTopColor = color;
		if (dashed) sw.style.borderTopStyle = "dashed";
		s.append(sw, doc.createTextNode(text));
		el.append(s);
	}
	const note = doc.createElement("span");
	note.textContent = "opacity = tanh(β·importance); bar under an input = its attribution score; click an edge to inspect it";
	el.append(note);
	return el;
}

export function render({ model, el }: Pick<RenderProps<KanTraits>, "model" | "el">): () => void {
	const doc = el.ownerDocument;
	const m: KanModel = model;
	const synced = new SyncedState(m);
	const store = new ViewStore({ onPreviewEnd: () => redraw("style") });
	store.selected = synced.inspector?.edge ?? null;

	const root = doc.createElement("div");
	root.className = "kan-widget";
	const style = doc.createElement("style");
	style.textContent = CSS;

	// ---- parts
	const statusView = new StatusView(doc);
	const controls = new Controls(doc, {
		model: m,
		onLive: (trait) => {
			if (trait === "theta") {
				store.thetaMoved();
				refreshPreview();
				redraw("style");
			} else if (trait === "input_theta") {
				store.inputMoved();
				refreshInputPreview();
				redraw("style");
			} else if (trait === "beta") {
				redraw("style");
			}
		},
		onFocus: (trait, focused) => {
			if (trait === "theta") store.thetaFocus(focused);
			else if (trait === "input_theta") store.inputFocus(focused);
			else return;
			redraw("style");
		},
		onDownload: (kind) => void saveDiagram(kind),
	});
	const inspector = new InspectorPanel(doc, {
		onFix: (l, i, j, name) => m.send({ type: "fix", l, i, j, name }),
		onUnfix: (l, i, j) => m.send({ type: "unfix", l, i, j }),
		onRemove: (l, i, j) => m.send({ type: "remove_edge", l, i, j }),
	});
	const formula = new FormulaPanel(doc);
	const classPanel = new ClassPanel(doc);
	const diagramWrap = doc.createElement("div");
	diagramWrap.className = "kan-diagram-wrap";
	const diagram = new Diagram(diagramWrap, {
		onEdge: (l, i, j) => {
			store.selected = [l, i, j];
			m.send({ type: "inspect", l, i, j });
			redraw("style");
		},
	});
	const preview = doc.createElement("div");
	preview.className = "kan-preview";
	preview.setAttribute("aria-live", "polite");
	const inputPreview = doc.createElement("div");
	inputPreview.className = "kan-input-preview";
	inputPreview.setAttribute("aria-live", "polite");

	// ---- layout
	const main = doc.createElement("div");
	main.className = "kan-main";
	const col = doc.createElement("div");
	col.className = "kan-diagram-col";
	col.append(diagramWrap, legend(doc), preview, inputPreview);
	const side = doc.createElement("div");
	side.className = "kan-side";
	side.append(classPanel.element, inspector.element, formula.element);
	main.append(col, side);
	root.append(style, controls.toolbar, statusView.line, statusView.notes, statusView.error, main, controls.panel);
	el.append(root);

	// the distribution of scores beside the theta slider, over the slider's own range
	const thetaSpec = controls.spec.sliders.find((p) => p.name === "theta");
	const hist = thetaSpec ? new ThetaHistogram(doc, Math.log10(thetaSpec.slider.lo), Math.log10(thetaSpec.max)) : null;
	if (hist) controls.panel.querySelector(".kan-slider-theta")?.append(hist.element);

	// ---- derived views
	function refreshPreview(): void {
		const net = synced.net;
		const theta = controls.value("theta") ?? m.get("theta");
		store.plan = net && net.scores ? planPrune(net.structure.width, net.scores, net.masks, theta, theta, net.structure.subs) : null;
		let text = previewText(store.plan);
		if (net && net.scores && store.plan && store.plan.removedNodes + store.plan.removedEdges === 0) {
			text += `; ${nextCutText(nextCut(net.structure.width, net.scores, net.masks, theta, net.structure.subs))}`;
		}
		preview.textContent = text;
		hist?.update(net && net.scores ? scoreSets(net.structure.width, net.scores, net.masks, net.structure.subs) : null, theta);
	}

	/** What Prune inputs would drop at the input threshold (the bars turn orange while shown). */
	function refreshInputPreview(): void {
		const scores = parseFeatures(m.get("feature_scores"));
		const theta = controls.value("input_theta") ?? m.get("input_theta");
		const net = synced.net;
		const fits = net && scores.length === net.structure.width[0];
		store.inputPlan = fits && typeof theta === "number" ? inputPlan(scores, theta) : null;
		inputPreview.textContent = store.inputPreviewing() ? inputPreviewText(store.inputPlan, net?.structure.in_vars ?? []) : "";
	}

	function redraw(level: Level): void {
		const torn = synced.torn();
		diagramWrap.dataset.state = torn ? "waiting" : "ok";
		const todo = store.redraw(level, torn, diagram.draws > 0);
		if (todo) diagram.setScene(store.scene(synced.net, controls.value("beta") ?? m.get("beta")), todo);
		const scores = parseFeatures(m.get("feature_scores"));
		diagram.setFeatures(scores.length ? { scores, keep: store.inputMarks() } : null);
		if (!store.inputPreviewing()) inputPreview.textContent = "";
	}

	function refreshInspector(): void {
		const info = synced.inspector;
		let curve = null;
		let from = "";
		let to = "";
		if (info && synced.hasEdge(...info.edge)) {
			const [l, i, j] = info.edge;
			from = synced.nodeName(l, i);
			to = synced.nodeName(l + 1, j);
			curve = synced.edgeCurve(l, i, j);
		}
		inspector.update({ info, points: synced.points, curve, from, to });
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
		// indices may mean other edges now; the kernel re-sends the inspector if it still applies
		if (synced.readStructure()) store.selected = synced.inspector?.edge ?? null;
		refreshPreview();
		refreshInputPreview();
		refreshInspector();
		redraw("rebuild");
	};
	const onMasks = () => {
		if (!synced.net) return onStructure();
		const level = synced.readMasks();
		refreshPreview();
		redraw(level);
	};
	const onCurves = () => {
		if (!synced.net) return onStructure();
		const level = synced.readCurves();
		if (synced.inspector) refreshInspector();
		redraw(level);
	};
	const onScores = () => {
		if (!synced.net) return onStructure();
		const level = synced.readScores();
		refreshPreview();
		redraw(level);
	};
	const onFeatures = () => {
		refreshInputPreview();
		redraw("style");
	};
	const onStatus = () => {
		const status = synced.readStatus();
		statusView.update(status);
		controls.setStatus(status);
	};
	const onFormula = () => formula.update(synced.readFormula());
	const onInspector = () => {
		const info = synced.readInspector();
		if (info) store.selected = info.edge;
		refreshInspector();
		redraw("style");
	};
	const onPoints = () => {
		synced.readPoints();
		refreshInspector();
	};
	// node pictures (two inputs): drawn in the diagram's nodes, for the regression widget too
	let nodeGrid = 0;
	const onClassNodes = () => {
		const values = asF32(m.get("class_nodes"));
		diagram.setNodePictures(nodeGrid > 0 && values.length > 0 ? { grid: nodeGrid, values } : null);
	};
	const onClass = () => {
		const info = parseClassInfo(m.get("classify"));
		classPanel.update(info, m.get("class_grid"), m.get("class_points"));
		nodeGrid = info?.node_grid ?? 0;
		onClassNodes();
	};
	const onClassGrid = () => classPanel.setGrid(m.get("class_grid"));
	// lesson mode: the controls a notebook author hides (buttons and hyperparameters by name)
	const onHide = () => {
		const raw = (m as unknown as { get(k: string): unknown }).get("hide");
		const hide = new Set(Array.isArray(raw) ? raw.filter((v): v is string => typeof v === "string") : []);
		for (const [name, b] of Object.entries(controls.buttons)) b.hidden = hide.has(name);
		for (const p of controls.spec.params) {
			const el = controls.panel.querySelector(`.kan-${p.name}`)?.closest(".kan-field") ?? controls.panel.querySelector(`.kan-slider-${p.label}`);
			if (el instanceof HTMLElement) el.hidden = hide.has(p.name);
		}
	};

	const handlers: [TraitName, () => void][] = [
		["structure", onStructure],
		["masks", onMasks],
		["curves", onCurves],
		["scores", onScores],
		["feature_scores", onFeatures],
		["status", onStatus],
		["formula", onFormula],
		["inspector", onInspector],
		["inspector_points", onPoints],
		["classify", onClass],
		["class_grid", onClassGrid],
		["class_points", onClass],
		["class_nodes", onClassNodes],
		["hide", onHide],
	];
	for (const { name } of controls.spec.params) {
		handlers.push([name, () => {
			controls.sync(name);
			if (name === "theta") refreshPreview();
			if (name === "input_theta") refreshInputPreview();
			if (name === "theta" || name === "beta" || name === "input_theta") redraw("style");
		}]);
	}
	for (const [trait, fn] of handlers) m.on(`change:${trait}`, fn);

	// ---- first frame from the synced traits alone
	onStatus();
	onFormula();
	onClass();
	onHide();
	refreshPreview();
	refreshInputPreview();
	refreshInspector();
	redraw("rebuild");

	return () => {
		for (const [trait, fn] of handlers) m.off(`change:${trait}`, fn);
		store.dispose();
		controls.dispose();
		formula.dispose();
		diagram.dispose();
		root.remove();
	};
}

export default { render };
