/**
 * The status line (`.kan-status`), the notes under it (`.kan-notes`: warnings about the current
 * model and Symbolify's before/after) and the dismissable error banner (`.kan-error`).
 */
import { closeButton, fmt } from "./controls";
import type { Status } from "./decode";

/** A loss with its R² where known: "12.3 (R² 0.95)". */
const withR2 = (loss: number | null, r2: number | null) => (r2 === null ? fmt(loss) : `${fmt(loss)} (R² ${fmt(r2)})`);

/** "trained on 282 rows, validated on 71, tested on 89" (empty before any rows are known). */
export function rowsText(s: Status): string {
	if (s.n_train <= 0) return "";
	const parts = [`trained on ${s.n_train} rows`];
	if (s.n_val > 0) parts.push(`validated on ${s.n_val}`);
	if (s.n_test > 0) parts.push(`tested on ${s.n_test}`);
	return parts.join(", ");
}

/** A percentage with one decimal: "97.8%" ("–" when unknown). */
export const pct = (v: number | null) => (v === null ? "–" : `${(100 * v).toFixed(1)}%`);

export function statusText(s: Status): string {
	const parts = [
		s.busy ? `${s.busy}…` : s.running ? "running" : "paused",
		`step ${s.step}`,
	];
	if (s.problem === "classification") {
		// accuracy first: it is what a classifier is judged by; the loss is the cross-entropy
		parts.push(`train acc ${pct(s.train_acc)}`);
		if (s.n_val > 0) parts.push(`val acc ${pct(s.val_acc)}`);
		parts.push(`test acc ${pct(s.test_acc)}`, `cross-entropy ${fmt(s.train_loss)} / ${fmt(s.test_loss)} (train / test)`);
	} else {
		parts.push(`train loss ${withR2(s.train_loss, s.train_r2)}`);
		if (s.n_val > 0) parts.push(`val loss ${withR2(s.val_loss, s.val_r2)}`);
		parts.push(`test loss ${withR2(s.test_loss, s.test_r2)}`);
	}
	if (s.reg !== null) parts.push(`reg ${fmt(s.reg)}`);
	if (s.steps_per_s !== null) parts.push(`${fmt(s.steps_per_s)} steps/s`);
	parts.push(`${s.n_edge} edges`, `${s.n_params} params`);
	const rows = rowsText(s);
	if (rows) parts.push(rows);
	if (s.message) parts.push(s.message);
	return parts.join(" · ");
}

/**
 * Symbolify's before/after line, or null when the current model is not Symbolify's result (or
 * trained on from it). Once training has moved on, it names the step its numbers are of: the
 * status line above holds the current model's.
 */
export function symbolifyText(s: Status): string | null {
	const y = s.symbolify;
	if (!y) return null;
	const kept = y.kept === 1 ? "1 edge kept as a spline" : `${y.kept} edges kept as splines`;
	const when = y.step === null || y.step === s.step ? "Symbolify" : `Symbolify at step ${y.step} (its numbers; the line above shows the model now)`;
	return (
		`${when}: test loss ${fmt(y.before.test_loss)} → ${fmt(y.after.test_loss)}, ` +
		`train loss ${fmt(y.before.train_loss)} → ${fmt(y.after.train_loss)}; ` +
		`${y.fixed} fixed (r² ≥ ${fmt(y.r2_threshold)}), ${kept}`
	);
}

export class StatusView {
	readonly line: HTMLElement;
	readonly error: HTMLElement;
	/** warnings (`.kan-note-warn`) and Symbolify's before/after (`.kan-note-info`) */
	readonly notes: HTMLElement;
	private notesKey = "";
	private errorText: HTMLElement;
	private dismissed: string | null = null;
	private current: string | null = null;

	constructor(doc: Document) {
		this.line = doc.createElement("div");
		this.line.className = "kan-status";
		this.line.setAttribute("role", "status");
		this.line.setAttribute("aria-live", "off"); // updates 10 times a second: do not chatter
		this.error = doc.createElement("div");
		this.error.className = "kan-error";
		this.error.setAttribute("role", "alert");
		this.error.hidden = true;
		this.errorText = doc.createElement("span");
		this.errorText.className = "kan-error-text";
		const dismiss = closeButton(doc, "Dismiss error", () => {
			this.dismissed = this.current;
			this.error.hidden = true;
		});
		this.error.append(this.errorText, dismiss);
		this.notes = doc.createElement("div");
		this.notes.className = "kan-notes";
		this.notes.setAttribute("aria-live", "polite");
		this.notes.hidden = true;
	}

	private updateNotes(s: Status): void {
		const info = symbolifyText(s);
		const key = JSON.stringify([s.notes, info]);
		if (key === this.notesKey) return; // ticks come 10 times a second: touch the DOM on change
		this.notesKey = key;
		const doc = this.notes.ownerDocument;
		const lines: HTMLElement[] = [];
		for (const n of s.notes) {
			const d = doc.createElement("div");
			d.className = "kan-note kan-note-warn";
			d.textContent = `⚠ ${n}`;
			lines.push(d);
		}
		if (info) {
			const d = doc.createElement("div");
			d.className = "kan-note kan-note-info";
			d.textContent = info;
			lines.push(d);
		}
		this.notes.replaceChildren(...lines);
		this.notes.hidden = lines.length === 0;
	}

	update(s: Status): void {
		this.line.textContent = statusText(s);
		this.line.classList.toggle("kan-running", s.running);
		this.line.classList.toggle("kan-busy", s.busy !== null);
		this.line.setAttribute("aria-busy", s.busy !== null ? "true" : "false");
		this.updateNotes(s);
		this.showError(s.error);
	}

	/** Show `error` (null hides it); kernel errors come from status, download errors from here. */
	showError(error: string | null): void {
		if (error !== this.current) {
			// a new (or cleared) error: forget an earlier dismissal
			if (error === null) this.dismissed = null;
			this.current = error;
		}
		this.errorText.textContent = error ?? "";
		this.error.hidden = error === null || error === this.dismissed;
	}
}
