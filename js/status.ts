/**
 * The status line (`.kan-status`) and the dismissable error banner (`.kan-error`).
 */
import { closeButton, fmt } from "./controls";
import type { Status } from "./decode";

export function statusText(s: Status): string {
	const parts = [
		s.busy ? `${s.busy}…` : s.running ? "running" : "paused",
		`step ${s.step}`,
		`train loss ${fmt(s.train_loss)}`,
		`test loss ${fmt(s.test_loss)}`,
	];
	if (s.reg !== null) parts.push(`reg ${fmt(s.reg)}`);
	if (s.steps_per_s !== null) parts.push(`${fmt(s.steps_per_s)} steps/s`);
	parts.push(`${s.n_edge} edges`, `${s.n_params} params`);
	if (s.message) parts.push(s.message);
	return parts.join(" · ");
}

export class StatusView {
	readonly line: HTMLElement;
	readonly error: HTMLElement;
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
	}

	update(s: Status): void {
		this.line.textContent = statusText(s);
		this.line.classList.toggle("kan-running", s.running);
		this.line.classList.toggle("kan-busy", s.busy !== null);
		this.line.setAttribute("aria-busy", s.busy !== null ? "true" : "false");
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
