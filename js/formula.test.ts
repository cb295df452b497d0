// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { copyText, FormulaPanel, renderLatex } from "./formula";

afterEach(() => {
	vi.unstubAllGlobals();
	vi.restoreAllMocks();
});

describe("renderLatex", () => {
	it("typesets to MathML only (no KaTeX HTML that would need its CSS and fonts)", () => {
		const html = renderLatex("e^{\\sin(\\pi x) + y^{2}}");
		expect(html).toContain("<math");
		expect(html).toContain("<annotation encoding=\"application/x-tex\">");
		expect(html).not.toContain("katex-html");
	});

	it("never throws on bad LaTeX", () => {
		expect(() => renderLatex("\\frac{")).not.toThrow();
	});
});

describe("FormulaPanel", () => {
	it("shows a hint until there is a formula, then MathML", () => {
		const p = new FormulaPanel(document);
		document.body.replaceChildren(p.element);
		expect(p.element.classList.contains("kan-formula")).toBe(true);
		expect(p.element.textContent).toContain("Symbolify");
		expect(p.copyLatex.disabled).toBe(true);
		p.update({ latex: "x^{2} + \\sin{\\left(y \\right)}", text: "x**2 + sin(y)", complete: true });
		expect(p.element.querySelector(".kan-formula-math math")).not.toBeNull();
		expect(p.copyLatex.disabled).toBe(false);
		const names = [...p.element.querySelectorAll("button")].map((b) => b.textContent);
		expect(names).toEqual(["Copy LaTeX", "Copy Python"]);
		p.update({ latex: "x", text: "x", complete: false });
		expect(p.element.textContent).toContain("Partial");
	});

	it("copies with navigator.clipboard", async () => {
		const writeText = vi.fn().mockResolvedValue(undefined);
		Object.defineProperty(window.navigator, "clipboard", { value: { writeText }, configurable: true });
		const p = new FormulaPanel(document);
		document.body.replaceChildren(p.element);
		p.update({ latex: "x^{2}", text: "x**2", complete: true });
		expect(await p.copy("latex")).toBe(true);
		expect(writeText).toHaveBeenLastCalledWith("x^{2}");
		p.copyPython.click();
		await Promise.resolve();
		expect(writeText).toHaveBeenLastCalledWith("x**2");
		expect(p.feedback.textContent).toMatch(/Copied/);
		Object.defineProperty(window.navigator, "clipboard", { value: undefined, configurable: true });
		p.dispose();
	});

	it("falls back to execCommand, then to a selectable text box", async () => {
		Object.defineProperty(window.navigator, "clipboard", { value: undefined, configurable: true });
		const exec = vi.fn().mockReturnValue(true);
		(document as unknown as { execCommand: unknown }).execCommand = exec;
		expect(await copyText("abc", document)).toBe(true);
		expect(exec).toHaveBeenCalledWith("copy");
		expect(document.querySelector("textarea:not(.kan-copy-manual)")).toBeNull(); // the helper textarea is gone

		exec.mockReturnValue(false);
		const p = new FormulaPanel(document);
		document.body.replaceChildren(p.element);
		p.update({ latex: "y", text: "y", complete: true });
		expect(await p.copy("text")).toBe(false);
		expect(p.manual.hidden).toBe(false);
		expect(p.manual.value).toBe("y");
		expect(p.feedback.textContent).toMatch(/failed/);
		p.dispose();
	});
});
