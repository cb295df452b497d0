/**
 * KANPlayground's data and shape panel (kan_widget/widget/playground.py): it only draws the
 * settings and writes the traits the user changes; the kernel checks them, draws the data and
 * rebuilds the model (a refused value comes back as the old one, with `error` saying why).
 * `hide` (lesson mode) hides named parts. Pure helpers (labels, the shape's edits) are tested
 * in playground.test.ts.
 */
import type { RenderProps } from "@anywidget/types";

export interface PanelTraits {
	data: string;
	formula: string;
	noise: number;
	train_ratio: number;
	n_samples: number;
	data_seed: number;
	hidden: number[];
	grid: number;
	k: number;
	seed: number;
	hide: string[];
	error: string;
	message: string;
	options: { datasets?: string[]; classification?: string[]; toy?: Record<string, string>; max_layers?: number; max_nodes?: number };
}

type PanelModel = {
	get<K extends keyof PanelTraits>(k: K): PanelTraits[K];
	set<K extends keyof PanelTraits>(k: K, v: PanelTraits[K]): void;
	save_changes(): void;
	send(msg: { type: "regenerate" }): void;
	on(ev: string, fn: () => void): void;
	off(ev: string, fn: () => void): void;
};

const NAMES: Record<string, string> = {
	circle: "circle", xor: "XOR", gauss: "two Gaussians", spiral: "spiral", plane: "plane (regression)",
	multi_gauss: "multi-Gaussian (regression)", formula: "typed formula",
};

/** The label of a data set in the menu ("toy: x*y" for the KAN paper's toy functions). */
export function dataLabel(name: string, toy: Record<string, string> = {}): string {
	if (name in toy) return `KAN paper: ${toy[name]}`;
	return NAMES[name] ?? name;
}

/** The hidden layer sizes after a shape edit, within the limits; the same array when refused. */
export function editShape(hidden: number[], edit: { kind: "add_layer" | "remove_layer" } | { kind: "add_node" | "remove_node"; layer: number }, maxLayers = 4, maxNodes = 8): number[] {
	const h = [...hidden];
	if (edit.kind === "add_layer") return h.length < maxLayers ? [...h, h.length ? h[h.length - 1] : 2] : hidden;
	if (edit.kind === "remove_layer") return h.length > 0 ? h.slice(0, -1) : hidden;
	if (!("layer" in edit)) return hidden;
	const l = edit.layer;
	if (l < 0 || l >= h.length) return hidden;
	const n = h[l] + (edit.kind === "add_node" ? 1 : -1);
	if (n < 1 || n > maxNodes) return hidden;
	h[l] = n;
	return h;
}

/** "[2, 5, 5, 1]": the KAN's width for the hidden sizes (two inputs, one output). */
export const widthText = (hidden: number[]) => `[${[2, ...hidden, 1].join(", ")}]`;

export function render({ model, el }: Pick<RenderProps, "model" | "el">): () => void {
	const m = model as unknown as PanelModel;
	const doc = el.ownerDocument;
	const root = doc.createElement("div");
	root.className = "kan-playground";
	const style = doc.createElement("style");
	style.textContent = `
.kan-playground { font: 13px/1.4 var(--jp-ui-font-family, system-ui, sans-serif); display: flex; flex-wrap: wrap; gap: 8px 24px; padding: 4px 0; }
.kan-playground fieldset { border: 1px solid var(--jp-border-color2, #dee2e6); border-radius: 4px; padding: 4px 8px; display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }
.kan-playground legend { font-weight: 600; }
.kan-playground [hidden] { display: none !important; }
.kan-playground label { display: inline-flex; gap: 4px; align-items: center; }
.kan-playground input[type=number] { width: 5em; }
.kan-playground .kan-pg-formula input { width: 16em; font-family: var(--jp-code-font-family, monospace); }
.kan-playground .kan-pg-layer { display: inline-flex; gap: 2px; align-items: center; border: 1px dashed #adb5bd; border-radius: 3px; padding: 0 3px; }
.kan-playground .kan-pg-error { color: #c92a2a; flex-basis: 100%; }
.kan-playground .kan-pg-message { color: var(--jp-ui-font-color2, #5c636a); flex-basis: 100%; }
.kan-playground button { font: inherit; cursor: pointer; padding: 1px 8px; }
`;
	const cleanups: (() => void)[] = [];
	const listen = (t: EventTarget, ev: string, fn: () => void) => {
		t.addEventListener(ev, fn);
		cleanups.push(() => t.removeEventListener(ev, fn));
	};
	const write = <K extends keyof PanelTraits>(k: K, v: PanelTraits[K]) => {
		m.set(k, v);
		m.save_changes();
	};
	const parts: Record<string, HTMLElement> = {};
	const labelled = (name: string, text: string, input: HTMLElement) => {
		const l = doc.createElement("label");
		l.className = `kan-pg-${name}`;
		l.append(doc.createTextNode(text), input);
		parts[name] = l;
		return l;
	};

	// ---- data
	const data = doc.createElement("fieldset");
	const dl = doc.createElement("legend");
	dl.textContent = "Data";
	data.append(dl);
	parts.data = data;
	const select = doc.createElement("select");
	select.setAttribute("aria-label", "data set");
	listen(select, "change", () => write("data", select.value));
	data.append(labelled("dataset", "data ", select));
	const formula = doc.createElement("input");
	formula.type = "text";
	formula.setAttribute("aria-label", "formula");
	formula.placeholder = "e.g. x*y or exp(sin(pi*x) + y^2)";
	const useFormula = doc.createElement("button");
	useFormula.textContent = "Use formula";
	const sendFormula = () => write("formula", formula.value);
	listen(useFormula, "click", sendFormula);
	formula.addEventListener("keydown", (ev) => {
		if (ev.key === "Enter") sendFormula();
	});
	const fl = labelled("formula", "target f(x, y) = ", formula);
	fl.append(useFormula);
	data.append(fl);
	const range = (name: "noise" | "train_ratio", text: string, lo: number, hi: number, step: number) => {
		const i = doc.createElement("input");
		i.type = "range";
		i.min = String(lo);
		i.max = String(hi);
		i.step = String(step);
		i.setAttribute("aria-label", name === "noise" ? "noise" : "train ratio");
		const out = doc.createElement("span");
		listen(i, "input", () => {
			out.textContent = name === "noise" ? i.value : `${Math.round(100 * Number(i.value))}%`;
		});
		listen(i, "change", () => write(name, Number(i.value)));
		data.append(labelled(name, `${text} `, i));
		parts[name].append(out);
		return { i, out };
	};
	const noise = range("noise", "noise", 0, 0.5, 0.05);
	const ratio = range("train_ratio", "train:test", 0.1, 0.9, 0.1);
	const points = doc.createElement("input");
	points.type = "number";
	points.min = "20";
	points.max = "5000";
	points.setAttribute("aria-label", "points");
	listen(points, "change", () => write("n_samples", Math.round(Number(points.value))));
	data.append(labelled("n_samples", "points ", points));
	const regen = doc.createElement("button");
	regen.textContent = "Regenerate";
	regen.className = "kan-pg-regenerate";
	listen(regen, "click", () => m.send({ type: "regenerate" }));
	parts.regenerate = regen;
	data.append(regen);

	// ---- shape
	const shape = doc.createElement("fieldset");
	const sl = doc.createElement("legend");
	sl.textContent = "Shape";
	shape.append(sl);
	parts.shape = shape;
	const layers = doc.createElement("span");
	layers.className = "kan-pg-layers";
	parts.layers = layers;
	shape.append(layers);
	const num = (name: "grid" | "k" | "seed", lo: number, hi: number) => {
		const i = doc.createElement("input");
		i.type = "number";
		i.min = String(lo);
		i.max = String(hi);
		i.setAttribute("aria-label", name);
		listen(i, "change", () => write(name, Math.round(Number(i.value))));
		shape.append(labelled(name, `${name} `, i));
		return i;
	};
	const grid = num("grid", 1, 50);
	const k = num("k", 1, 5);
	const seed = num("seed", 0, 2 ** 31 - 1);

	const message = doc.createElement("div");
	message.className = "kan-pg-message";
	const error = doc.createElement("div");
	error.className = "kan-pg-error";
	error.setAttribute("role", "alert");
	root.append(style, data, shape, error, message);
	el.append(root);

	const button = (text: string, label: string, fn: () => void) => {
		const b = doc.createElement("button");
		b.textContent = text;
		b.setAttribute("aria-label", label);
		b.addEventListener("click", fn);
		return b;
	};
	function drawLayers(): void {
		const hidden = m.get("hidden") ?? [];
		const opts = m.get("options") ?? {};
		const edit = (e: Parameters<typeof editShape>[1]) => {
			const next = editShape(hidden, e, opts.max_layers, opts.max_nodes);
			if (next !== hidden) write("hidden", next);
		};
		const items: HTMLElement[] = [];
		const w = doc.createElement("span");
		w.textContent = `KAN ${widthText(hidden)} `;
		items.push(w);
		hidden.forEach((n, l) => {
			const box = doc.createElement("span");
			box.className = "kan-pg-layer";
			const t = doc.createElement("span");
			t.textContent = `${n}`;
			box.append(button("−", `remove a node from hidden layer ${l + 1}`, () => edit({ kind: "remove_node", layer: l })), t,
				button("+", `add a node to hidden layer ${l + 1}`, () => edit({ kind: "add_node", layer: l })));
			items.push(box);
		});
		items.push(button("+ layer", "add a hidden layer", () => edit({ kind: "add_layer" })));
		items.push(button("− layer", "remove a hidden layer", () => edit({ kind: "remove_layer" })));
		layers.replaceChildren(...items);
	}

	function sync(): void {
		const opts = m.get("options") ?? {};
		const names = opts.datasets ?? [];
		if (select.options.length !== names.length) {
			select.replaceChildren(...names.map((n) => {
				const o = doc.createElement("option");
				o.value = n;
				o.textContent = dataLabel(n, opts.toy);
				return o;
			}));
		}
		select.value = m.get("data");
		if (doc.activeElement !== formula) formula.value = m.get("formula");
		noise.i.value = String(m.get("noise"));
		noise.out.textContent = String(m.get("noise"));
		ratio.i.value = String(m.get("train_ratio"));
		ratio.out.textContent = `${Math.round(100 * m.get("train_ratio"))}%`;
		points.value = String(m.get("n_samples"));
		grid.value = String(m.get("grid"));
		k.value = String(m.get("k"));
		seed.value = String(m.get("seed"));
		drawLayers();
		error.textContent = m.get("error") ?? "";
		error.hidden = !m.get("error");
		message.textContent = m.get("message") ?? "";
		const hide = new Set(m.get("hide") ?? []);
		for (const [name, part] of Object.entries(parts)) part.hidden = hide.has(name);
	}

	const traits: (keyof PanelTraits)[] = ["data", "formula", "noise", "train_ratio", "n_samples", "hidden", "grid", "k", "seed", "hide", "error", "message", "options"];
	for (const t of traits) m.on(`change:${t}`, sync);
	sync();
	return () => {
		for (const t of traits) m.off(`change:${t}`, sync);
		for (const c of cleanups) c();
		root.remove();
	};
}

export default { render };
