/**
 * The formula panel (`.kan-formula`): `formula.latex` typeset by the bundled KaTeX as MathML (no
 * CSS or fonts needed, works offline), with "Copy LaTeX" and "Copy Python" buttons.
 */
import katex from "katex";
import type { Formula } from "./decode";

/** MathML markup for `latex` (errors are shown in red by KaTeX, never thrown). */
export function renderLatex(latex: string): string {
	return katex.renderToString(latex, {
		output: "mathml",
		displayMode: true,
		throwOnError: false,
		strict: "ignore",
		trust: false,
	});
}

/**
 * Copy `text` to the clipboard: the async Clipboard API, else a hidden textarea and
 * `execCommand("copy")` (older browsers, non-secure origins). Resolves to whether it worked.
 */
export async function copyText(text: string, doc: Document = document): Promise<boolean> {
	const nav = doc.defaultView?.navigator;
	try {
		if (nav?.clipboard && typeof nav.clipboard.writeText === "function") {
			await nav.clipboard.writeText(text);
			return true;
		}
	} catch {
		// denied or not a secure context: fall through
	}
	const ta = doc.createElement("textarea");
	ta.value = text;
	ta.setAttribute("readonly", "");
	ta.style.position = "fixed";
	ta.style.top = "0";
	ta.style.left = "0";
	ta.style.opacity = "0";
	(doc.body ?? doc.documentElement).append(ta);
	let ok = false;
	try {
		ta.select();
		ok = typeof doc.execCommand === "function" && doc.execCommand("copy");
	} catch {
		ok = false;
	}
	ta.remove();
	return ok;
}

export class FormulaPanel {
	readonly element: HTMLElement;
	readonly math: HTMLElement;
	readonly copyLatex: HTMLButtonElement;
	readonly copyPython: HTMLButtonElement;
	readonly feedback: HTMLElement;
	/** shown only when copying failed, so the text can be selected by hand */
	readonly manual: HTMLTextAreaElement;
	private formula: Formula = { latex: "", text: "", complete: false };
	private timer: ReturnType<typeof setTimeout> | null = null;

	constructor(doc: Document) {
		const root = doc.createElement("section");
		root.className = "kan-formula";
		root.setAttribute("aria-label", "formula");
		this.element = root;
		this.math = doc.createElement("div");
		this.math.className = "kan-formula-math";
		// a long formula scrolls sideways: focusable, so keys scroll it too (and Lab's shortcuts
		// do not take the arrow keys)
		this.math.tabIndex = 0;
		this.math.setAttribute("role", "region");
		this.math.setAttribute("aria-label", "formula, scrolls sideways when wide");
		this.math.setAttribute("data-lm-suppress-shortcuts", "true");
		const bar = doc.createElement("div");
		bar.className = "kan-formula-bar";
		const mk = (text: string, what: "latex" | "text") => {
			const b = doc.createElement("button");
			b.type = "button";
			b.className = "kan-btn";
			b.textContent = text;
			b.setAttribute("data-lm-suppress-shortcuts", "true");
			b.addEventListener("click", () => void this.copy(what));
			return b;
		};
		this.copyLatex = mk("Copy LaTeX", "latex");
		this.copyPython = mk("Copy Python", "text");
		this.feedback = doc.createElement("span");
		this.feedback.className = "kan-copy-feedback";
		this.feedback.setAttribute("role", "status");
		this.manual = doc.createElement("textarea");
		this.manual.className = "kan-copy-manual";
		this.manual.readOnly = true;
		this.manual.hidden = true;
		this.manual.setAttribute("aria-label", "formula text to copy");
		this.manual.setAttribute("data-lm-suppress-shortcuts", "true");
		bar.append(this.copyLatex, this.copyPython, this.feedback);
		root.append(this.math, bar, this.manual);
		this.update(this.formula);
	}

	update(f: Formula): void {
		this.formula = f;
		const doc = this.element.ownerDocument;
		if (!f.latex) {
			this.math.replaceChildren();
			const p = doc.createElement("p");
			p.className = "kan-hint";
			p.textContent = "No formula yet: train, prune, then press Symbolify.";
			this.math.append(p);
		} else {
			this.math.innerHTML = renderLatex(f.latex);
			if (!f.complete) {
				const note = doc.createElement("p");
				note.className = "kan-hint";
				note.textContent = "Partial: some edges are still splines (shown as functions to fit).";
				this.math.append(note);
			}
		}
		this.copyLatex.disabled = !f.latex;
		this.copyPython.disabled = !f.text;
	}

	async copy(what: "latex" | "text"): Promise<boolean> {
		const text = what === "latex" ? this.formula.latex : this.formula.text;
		const ok = await copyText(text, this.element.ownerDocument);
		this.feedback.textContent = ok ? `Copied ${what === "latex" ? "LaTeX" : "Python"}` : "Copy failed: select the text below";
		this.manual.hidden = ok;
		if (!ok) {
			this.manual.value = text;
			this.manual.select();
		}
		if (this.timer !== null) clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			this.feedback.textContent = "";
		}, 2500);
		return ok;
	}

	dispose(): void {
		if (this.timer !== null) clearTimeout(this.timer);
	}
}
