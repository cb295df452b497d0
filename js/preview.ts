/**
 * Theta preview: what Prune would remove, decided in the browser with the rule of Python's
 * kan_widget/pruning.py `plan_prune(scores, masks, node_th=theta, edge_th=theta)`:
 *
 * - node score: inputs use their max outgoing edge score, outputs their max incoming score,
 *   hidden nodes min(max incoming, max outgoing);
 * - a hidden node is kept iff its score > theta; if a hidden layer would lose every node, its
 *   strongest node (first on ties) is kept; inputs and outputs are never removed;
 * - an edge is kept iff it is present (mask 1), both its ends are kept, and its score > theta.
 *
 * - multiplication nodes (`subs`, see decode.ts `Structure.subs`): edges end on a node's
 *   operands; its incoming score is the largest over all of them, and an edge ending on an
 *   operand is kept only with its node.
 *
 * Comparisons are done in float32 like torch's (a float32 tensor against a Python float).
 * Pure: no DOM.
 */

export interface PrunePlan {
	/** per node column, 1 = kept */
	nodes: Uint8Array[];
	/** per layer `[in*out]`, 1 = kept */
	edges: Uint8Array[];
	/** hidden nodes that would go */
	removedNodes: number;
	/** edges present now (mask 1) that would go */
	removedEdges: number;
}

/** Node scores per column from per-layer edge scores `[in*out]` (Python's `_node_scores`). */
export function nodeScores(width: number[], scores: Float32Array[], subs?: Int32Array[]): Float32Array[] {
	const L = width.length - 1;
	const out: Float32Array[] = [];
	for (let c = 0; c <= L; c++) {
		const n = width[c];
		const incoming = new Float32Array(n).fill(-Infinity);
		const outgoing = new Float32Array(n).fill(-Infinity);
		if (c > 0) {
			const s = scores[c - 1];
			const nIn = width[c - 1];
			const sub = subs?.[c];
			const nSub = sub ? sub.length : n;
			for (let k = 0; k < nIn; k++) {
				const row = k * nSub;
				for (let q = 0; q < nSub; q++) {
					const i = sub ? sub[q] : q;
					if (s[row + q] > incoming[i] || Number.isNaN(s[row + q])) incoming[i] = s[row + q];
				}
			}
		}
		if (c < L) {
			const s = scores[c];
			const nOut = subs ? subs[c + 1].length : width[c + 1];
			for (let i = 0; i < n; i++) {
				let m = -Infinity;
				for (let j = 0; j < nOut; j++) {
					const v = s[i * nOut + j];
					if (v > m || Number.isNaN(v)) m = v;
				}
				outgoing[i] = m;
			}
		}
		const ns = new Float32Array(n);
		for (let i = 0; i < n; i++) {
			if (c === 0) ns[i] = outgoing[i];
			else if (c === L) ns[i] = incoming[i];
			else ns[i] = Number.isNaN(incoming[i]) || Number.isNaN(outgoing[i]) ? NaN : Math.min(incoming[i], outgoing[i]);
		}
		out.push(ns);
	}
	return out;
}

/**
 * Which nodes and edges survive `nodeTh` / `edgeTh` (`edgeTh` null: no edge threshold, only
 * presence and kept ends, like `plan_prune(..., edge_th=None)`).
 */
export function planPrune(
	width: number[],
	scores: Float32Array[],
	masks: Uint8Array[],
	nodeTh: number,
	edgeTh: number | null = nodeTh,
	subs?: Int32Array[],
): PrunePlan {
	const L = width.length - 1;
	const th = Math.fround(nodeTh);
	const eth = edgeTh === null ? null : Math.fround(edgeTh);
	const ns = nodeScores(width, scores, subs);
	const nodes: Uint8Array[] = [];
	let removedNodes = 0;
	for (let c = 0; c <= L; c++) {
		const n = width[c];
		const keep = new Uint8Array(n);
		if (c === 0 || c === L) {
			keep.fill(1);
		} else {
			let any = false;
			for (let i = 0; i < n; i++) {
				if (ns[c][i] > th) {
					keep[i] = 1;
					any = true;
				}
			}
			if (!any) keep[argmax(ns[c])] = 1; // never cut the network in two
			for (let i = 0; i < n; i++) if (!keep[i]) removedNodes++;
		}
		nodes.push(keep);
	}
	const edges: Uint8Array[] = [];
	let removedEdges = 0;
	for (let l = 0; l < L; l++) {
		const nIn = width[l];
		const sub = subs?.[l + 1];
		const nOut = sub ? sub.length : width[l + 1];
		const s = scores[l];
		const m = masks[l];
		const e = new Uint8Array(nIn * nOut);
		for (let i = 0; i < nIn; i++) {
			for (let j = 0; j < nOut; j++) {
				const k = i * nOut + j;
				const present = m[k] > 0;
				const end = sub ? sub[j] : j;
				const kept = present && nodes[l][i] === 1 && nodes[l + 1][end] === 1 && (eth === null || s[k] > eth);
				e[k] = kept ? 1 : 0;
				if (present && !kept) removedEdges++;
			}
		}
		edges.push(e);
	}
	return { nodes, edges, removedNodes, removedEdges };
}

/** Index of the largest value, first on ties; NaN counts as largest (torch.argmax's rule). */
export function argmax(a: Float32Array): number {
	let best = 0;
	for (let i = 0; i < a.length; i++) {
		if (Number.isNaN(a[i])) return i;
		if (a[i] > a[best]) best = i;
	}
	return best;
}

/** The `.kan-preview` sentence. */
export function previewText(plan: PrunePlan | null): string {
	if (!plan) return "Prune preview: waiting for edge scores";
	const nn = plan.removedNodes;
	const ne = plan.removedEdges;
	return `Prune would remove ${nn} node${nn === 1 ? "" : "s"}, ${ne} edge${ne === 1 ? "" : "s"}`;
}
