// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { parseStatus } from "./decode";
import { rowsText, StatusView, statusText, symbolifyText } from "./status";

const honest = {
	step: 100, train_loss: 17.6, val_loss: 212, test_loss: 104.4, train_r2: 0.946, val_r2: -5.8, test_r2: -0.677,
	n_edge: 55, n_params: 700, n_train: 282, n_val: 71, n_test: 89,
	notes: ["overfitting: validation loss rising since step 1"], best_step: 1, can_back_to_best: true,
};

describe("status line", () => {
	it("shows every split's loss with its R², and the rows of each split", () => {
		const t = statusText(parseStatus(honest));
		expect(t).toBe(
			"paused · step 100 · train loss 17.6 (R² 0.946) · val loss 212 (R² -5.8) · test loss 104 (R² -0.677) · " +
				"55 edges · 700 params · trained on 282 rows, validated on 71, tested on 89",
		);
		const plain = parseStatus({ train_loss: 1, test_loss: 2, n_train: 10, n_test: 5 });
		expect(statusText(plain)).toBe("paused · step 0 · train loss 1 · test loss 2 · 0 edges · 0 params · trained on 10 rows, tested on 5");
		expect(rowsText(parseStatus({}))).toBe("");
	});

	it("says what Symbolify changed", () => {
		const s = parseStatus({
			symbolify: { before: { train_loss: 1, test_loss: 1.1 }, after: { train_loss: 1.5, test_loss: 1.6 }, fixed: 7, kept: 1, r2_threshold: 0.99 },
		});
		expect(symbolifyText(s)).toBe(
			"Symbolify: test loss 1.1 → 1.6, train loss 1 → 1.5; 7 fixed (r² ≥ 0.99), 1 edge kept as a spline",
		);
		expect(symbolifyText(parseStatus({}))).toBeNull();
		// trained on since (keep_best may have gone back to a step of that run): says when
		const later = parseStatus({ step: 65, symbolify: { ...(s.symbolify as object), step: 5 } });
		expect(symbolifyText(later)).toBe(
			"Symbolify at step 5 (its numbers; the line above shows the model now): test loss 1.1 → 1.6, train loss 1 → 1.5; 7 fixed (r² ≥ 0.99), 1 edge kept as a spline",
		);
		expect(symbolifyText(parseStatus({ step: 5, symbolify: { ...(s.symbolify as object), step: 5 } }))).toMatch(/^Symbolify: test/);
		expect(parseStatus({ symbolify: { step: -1 } }).symbolify?.step).toBeNull();
	});

	it("shows the notes as warnings, and hides them when there are none", () => {
		const v = new StatusView(document);
		v.update(parseStatus(honest));
		expect(v.notes.hidden).toBe(false);
		const warn = [...v.notes.querySelectorAll(".kan-note-warn")].map((e) => e.textContent);
		expect(warn).toEqual(["⚠ overfitting: validation loss rising since step 1"]);
		const first = v.notes.firstChild;
		v.update(parseStatus(honest)); // the same notes: the DOM is left alone
		expect(v.notes.firstChild).toBe(first);
		v.update(parseStatus({ ...honest, notes: [] }));
		expect(v.notes.hidden).toBe(true);
		expect(parseStatus({ notes: ["a", 3, ""] }).notes).toEqual(["a"]);
	});
});
