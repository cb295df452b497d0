import { describe, expect, it, vi } from "vitest";
import { decodeState } from "./decode";
import { planPrune } from "./preview";
import { stronger } from "./scene";
import { BLUR_HOLD_MS, PREVIEW_HOLD_MS, ViewStore } from "./store";
import { SyncedState } from "./synced";
import { fakeModel, synthTraits, widgetState } from "./test_util";

/** A store on a hand-driven clock; `tick(ms)` runs the timers that fall due. */
function clocked() {
	let now = 1000;
	const timers = new Map<number, { at: number; fn: () => void }>();
	let id = 0;
	const onPreviewEnd = vi.fn();
	const store = new ViewStore({
		onPreviewEnd,
		now: () => now,
		setTimer: (fn, ms) => (timers.set(++id, { at: now + ms, fn }), id),
		clearTimer: (t) => timers.delete(t as number),
	});
	const tick = (ms: number) => {
		now += ms;
		for (const [k, t] of [...timers]) if (t.at <= now) (timers.delete(k), t.fn());
	};
	return { store, tick, onPreviewEnd, timers };
}

describe("ViewStore: theta preview", () => {
	it("shows the marks for PREVIEW_HOLD_MS after theta moves, then says so once", () => {
		const { store, tick, onPreviewEnd, timers } = clocked();
		expect(store.previewing()).toBe(false);
		store.thetaMoved();
		tick(PREVIEW_HOLD_MS / 2);
		store.thetaMoved(); // a second move extends the hold and re-arms one timer
		expect(timers.size).toBe(1);
		tick(PREVIEW_HOLD_MS - 10);
		expect(store.previewing()).toBe(true);
		expect(onPreviewEnd).not.toHaveBeenCalled();
		tick(40);
		expect(store.previewing()).toBe(false);
		expect(onPreviewEnd).toHaveBeenCalledTimes(1);
	});

	it("shows them while theta has focus, and briefly after", () => {
		const { store, tick, onPreviewEnd } = clocked();
		store.thetaFocus(true);
		tick(10 * PREVIEW_HOLD_MS);
		expect(store.previewing()).toBe(true);
		store.thetaFocus(false);
		expect(store.previewing()).toBe(true);
		tick(BLUR_HOLD_MS + 30);
		expect(store.previewing()).toBe(false);
		expect(onPreviewEnd).toHaveBeenCalledTimes(1);
	});

	it("dispose cancels the timer", () => {
		const { store, tick, onPreviewEnd, timers } = clocked();
		store.thetaMoved();
		store.dispose();
		expect(timers.size).toBe(0);
		tick(2 * PREVIEW_HOLD_MS);
		expect(onPreviewEnd).not.toHaveBeenCalled();
	});
});

describe("ViewStore: redraws and the scene", () => {
	it("owes a redraw while torn, then draws the strongest level owed", () => {
		const { store } = clocked();
		expect(store.redraw("style", true, false)).toBe("style"); // nothing drawn yet: draw anyway
		expect(store.redraw("rebuild", true, true)).toBeNull();
		expect(store.redraw("curves", true, true)).toBeNull();
		expect(store.redraw("style", false, true)).toBe("rebuild");
		expect(store.redraw("style", false, true)).toBe("style");
		expect(stronger(null, "curves")).toBe("curves");
		expect(stronger("curves", "style")).toBe("curves");
	});

	it("the scene carries the plan only while previewing, and only a selection that exists", () => {
		const { store } = clocked();
		const t = synthTraits([2, 3, 1]);
		const net = decodeState(t.structure, t.curves, t.scores, t.masks)!;
		expect(store.scene(null, 3)).toBeNull();
		store.plan = planPrune(net.structure.width, net.scores!, net.masks, 0.5);
		store.selected = [1, 2, 0];
		expect(store.scene(net, 3)).toMatchObject({ beta: 3, plan: null, selected: [1, 2, 0] });
		store.thetaMoved();
		expect(store.scene(net, 3)!.plan).toBe(store.plan);
		store.selected = [1, 3, 0]; // no hidden node 3 in [2, 3, 1]
		expect(store.scene(net, 3)!.selected).toBeNull();
		store.dispose();
	});
});

describe("SyncedState", () => {
	it("decodes the traits and says what each change invalidates", () => {
		const model = fakeModel(widgetState([2, 3, 1], { n: 8 }));
		const s = new SyncedState(model);
		expect(s.net!.structure.width).toEqual([2, 3, 1]);
		expect(s.status.step).toBe(0);
		expect(s.inspector).toBeNull();
		expect(s.readCurves()).toBe("curves");
		expect(s.readScores()).toBe("style");
		expect(s.readMasks()).toBe("style"); // same edges present
		const masks = new Uint8Array(9).fill(1);
		masks[0] = 0;
		model.push({ masks: new DataView(masks.buffer) });
		expect(s.readMasks()).toBe("rebuild");
		expect(s.net!.masks[0][0]).toBe(0);
		expect(s.readStructure()).toBe(false); // same version
		model.push({ structure: { ...(model.state.structure as object), version: 2 } });
		expect(s.readStructure()).toBe(true);
	});

	it("is torn while a buffer does not match the structure", () => {
		const model = fakeModel(widgetState([2, 3, 1], { n: 8 }));
		const s = new SyncedState(model);
		expect(s.torn()).toBe(false);
		const next = synthTraits([2, 2, 1], { n: 8 });
		model.push({ structure: next.structure });
		s.readStructure();
		expect(s.torn()).toBe(true);
		model.push({ curves: next.curves, scores: next.scores, masks: next.masks });
		expect(s.torn()).toBe(false);
	});

	it("names nodes and finds an edge's curve", () => {
		const model = fakeModel(widgetState([2, 3, 1], { n: 4 }));
		const s = new SyncedState(model);
		expect([s.nodeName(0, 1), s.nodeName(1, 2), s.nodeName(2, 0)]).toEqual(["x2", "node (1, 2)", "y1"]);
		expect(s.hasEdge(0, 1, 2)).toBe(true);
		expect(s.hasEdge(0, 2, 0)).toBe(false);
		const c = s.edgeCurve(0, 1, 2)!;
		expect(c.x.length).toBe(4);
		expect(Array.from(c.y)).toEqual(Array.from(s.net!.curves![0].ys.subarray(20, 24)));
		expect(s.edgeCurve(1, 3, 0)).toBeNull();
	});
});
