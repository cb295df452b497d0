/**
 * Input attribution in the browser: the bars beside the input nodes (each input's score, pykan's
 * `feature_score`, from the `feature_scores` trait) and the input-threshold preview, which marks
 * the inputs Python's `prune_input(threshold)` would drop: an input is kept iff its score >
 * threshold (compared in float32, as torch compares a float32 tensor with a Python float).
 * Pure: no DOM.
 */

/** The `feature_scores` trait: one number per input; NaN where Python sent null (not finite). */
export function parseFeatures(raw: unknown): number[] {
	if (!Array.isArray(raw)) return [];
	return raw.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : NaN));
}

export interface InputPlan {
	/** per input, 1 = kept */
	keep: Uint8Array;
	kept: number;
	dropped: number;
}

/** What Prune inputs would do at `theta`; null without scores. */
export function inputPlan(scores: number[], theta: number): InputPlan | null {
	if (scores.length === 0) return null;
	const th = Math.fround(theta);
	const keep = new Uint8Array(scores.length);
	let kept = 0;
	for (let i = 0; i < scores.length; i++) {
		// NaN > th is false: an input with no honest score would be dropped, and says so below
		if (Math.fround(scores[i]) > th) {
			keep[i] = 1;
			kept++;
		}
	}
	return { keep, kept, dropped: scores.length - kept };
}

/** The line under the diagram for the input preview. */
export function inputPreviewText(plan: InputPlan | null, names: string[]): string {
	if (!plan) return "";
	if (plan.kept === 0) return "Prune inputs: every input scores at most the threshold (lower it)";
	if (plan.dropped === 0) return "Prune inputs would keep every input";
	const dropped: string[] = [];
	for (let i = 0; i < plan.keep.length; i++) if (!plan.keep[i]) dropped.push(names[i] ?? `x_${i + 1}`);
	return `Prune inputs would drop ${dropped.join(", ")}`;
}

/** Each bar's length as a fraction of the longest (0 for a score that is not finite). */
export function barFractions(scores: number[]): number[] {
	let max = 0;
	for (const s of scores) if (Number.isFinite(s) && s > max) max = s;
	return scores.map((s) => (Number.isFinite(s) && s > 0 && max > 0 ? s / max : 0));
}
