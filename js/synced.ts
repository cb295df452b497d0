/**
 * The synced state, decoded: what the traits Python writes mean right now (the network, status,
 * formula, inspector). Each `read*` re-reads one trait after its change event and says how much of
 * the diagram that invalidates. Nothing here is view state (see store.ts) and nothing touches the
 * DOM.
 */
import {
	asF32, asU8, decodeCurves, decodePoints, decodeState, expectedSizes, type Formula, type Inspector, type NetState,
	parseFormula, parseInspector, parseStatus, splitEdges, type Status,
} from "./decode";
import type { KanModel } from "./protocol";
import type { Level } from "./scene";

export type Points = { x: Float32Array; y: Float32Array };

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

const byteLength = (v: DataView | null | undefined): number => (v && typeof v.byteLength === "number" ? v.byteLength : 0);

export class SyncedState {
	/** structure with its curves, scores and masks; null until a valid structure arrives */
	net: NetState | null = null;
	status: Status;
	formula: Formula;
	/** null: no edge inspected (`inspector == {}`) */
	inspector: Inspector | null;
	points: Points;
	private model: Pick<KanModel, "get">;

	constructor(model: Pick<KanModel, "get">) {
		this.model = model;
		this.readStructure();
		this.status = parseStatus(model.get("status"));
		this.formula = parseFormula(model.get("formula"));
		this.inspector = parseInspector(model.get("inspector"));
		this.points = decodePoints(model.get("inspector_points"));
	}

	/** `structure` and the buffers decoded anew; true when the structure's version changed. */
	readStructure(): boolean {
		const m = this.model;
		const prev = this.net;
		this.net = decodeState(m.get("structure"), m.get("curves"), m.get("scores"), m.get("masks"));
		return !!prev && !!this.net && prev.structure.version !== this.net.structure.version;
	}

	/** `masks` changed: a rebuild if an edge came or went, else a restyle. */
	readMasks(): Level {
		const net = this.net;
		if (!net) return this.readStructure(), "rebuild";
		const masks = splitEdges(asU8(this.model.get("masks")), net.structure.width, net.structure.subs);
		const next = masks ?? net.structure.layers.map((ly) => new Uint8Array(ly.in * ly.out).fill(1));
		const changed = !sameMasks(net.masks, next);
		net.masks = next;
		return changed ? "rebuild" : "style";
	}

	readCurves(): Level {
		const net = this.net;
		if (!net) return this.readStructure(), "rebuild";
		net.curves = decodeCurves(asF32(this.model.get("curves")), net.structure);
		return "curves";
	}

	readScores(): Level {
		const net = this.net;
		if (!net) return this.readStructure(), "rebuild";
		net.scores = splitEdges(asF32(this.model.get("scores")), net.structure.width, net.structure.subs);
		return "style";
	}

	readStatus(): Status {
		return (this.status = parseStatus(this.model.get("status")));
	}

	readFormula(): Formula {
		return (this.formula = parseFormula(this.model.get("formula")));
	}

	readInspector(): Inspector | null {
		return (this.inspector = parseInspector(this.model.get("inspector")));
	}

	readPoints(): Points {
		return (this.points = decodePoints(this.model.get("inspector_points")));
	}

	/**
	 * True while a buffer does not match the structure (a structure change can arrive a message
	 * ahead of its curves): the last picture should be kept rather than drawing half-updated data.
	 */
	torn(): boolean {
		if (!this.net) return false;
		const want = expectedSizes(this.net.structure.width, this.net.structure.n_points, this.net.structure.subs);
		const m = this.model;
		const off = (len: number, expected: number) => len > 0 && len !== expected;
		return off(byteLength(m.get("curves")), want.curves)
			|| off(byteLength(m.get("scores")), want.scores)
			|| off(byteLength(m.get("masks")), want.masks);
	}

	/** Display name of node i of column c (inputs and outputs by their variable names). */
	nodeName(c: number, i: number): string {
		const s = this.net?.structure;
		if (!s) return "";
		const L = s.layers.length;
		if (c === 0) return s.in_vars[i] ?? `x${i + 1}`;
		if (c === L) return s.out_vars[i] ?? `y${i + 1}`;
		return `node (${c}, ${i})`;
	}

	/** Does edge (l, i, j) exist in the current structure? */
	hasEdge(l: number, i: number, j: number): boolean {
		const layer = this.net?.structure.layers[l];
		return !!layer && l >= 0 && i >= 0 && j >= 0 && i < layer.in && j < layer.out;
	}

	/** The curve of edge (l, i, j): its input's x row and its phi row; null while unknown. */
	edgeCurve(l: number, i: number, j: number): Points | null {
		const net = this.net;
		if (!net || !net.curves || !this.hasEdge(l, i, j)) return null;
		const n = net.structure.n_points;
		const out = net.structure.layers[l].out;
		const c = net.curves[l];
		const k = i * out + j;
		return { x: c.xs.subarray(i * n, (i + 1) * n), y: c.ys.subarray(k * n, (k + 1) * n) };
	}
}
