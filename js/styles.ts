/**
 * The widget's CSS. Injected by `render` as a <style> inside each widget's root (so
 * `kan_widget/static/widget.js` is the only file the Python side loads, and no `_css` is needed).
 * Every rule is scoped under `.kan-widget`; colours follow JupyterLab's theme variables where set.
 * The diagram itself is styled with SVG attributes, so its exports need no CSS.
 */
import { BOX_ZOOM } from "./draw_svg";

export const CSS = `
.kan-widget {
	--kan-border: var(--jp-border-color2, #dee2e6);
	--kan-fg: var(--jp-ui-font-color1, #212529);
	--kan-fg2: var(--jp-ui-font-color2, #5c636a);
	--kan-bg: var(--jp-layout-color1, #ffffff);
	--kan-bg2: var(--jp-layout-color2, #f1f3f5);
	font: 13px/1.4 var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif);
	color: var(--kan-fg);
	display: flex;
	flex-direction: column;
	gap: 6px;
	max-width: 100%;
	box-sizing: border-box;
}
.kan-widget *, .kan-widget *::before, .kan-widget *::after { box-sizing: border-box; }
.kan-widget [hidden] { display: none !important; }
.kan-widget .kan-toolbar { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }
.kan-widget .kan-group { display: inline-flex; gap: 4px; align-items: center; }
.kan-widget button {
	font: inherit; color: inherit; cursor: pointer;
	padding: 3px 10px; border: 1px solid var(--jp-border-color1, #adb5bd); border-radius: 4px;
	background: var(--kan-bg);
}
.kan-widget button:hover:not(:disabled) { background: var(--kan-bg2); }
.kan-widget button:disabled { opacity: 0.45; cursor: default; }
.kan-widget button:focus-visible, .kan-widget input:focus-visible, .kan-widget select:focus-visible {
	outline: 2px solid #1c7ed6; outline-offset: 1px;
}
.kan-widget .kan-btn-train { min-width: 5.5em; font-weight: 600; color: #fff; background: #2f9e44; border-color: #2b8a3e; }
.kan-widget .kan-btn-train:hover:not(:disabled) { background: #2b8a3e; }
.kan-widget .kan-btn-train.kan-running { background: #e8590c; border-color: #d9480f; }
.kan-widget .kan-btn-train.kan-running:hover:not(:disabled) { background: #d9480f; }
.kan-widget input, .kan-widget select { font: inherit; color: inherit; background: var(--kan-bg); }
.kan-widget input[type="number"], .kan-widget select {
	border: 1px solid var(--jp-border-color1, #adb5bd); border-radius: 3px; padding: 1px 4px;
}
.kan-widget .kan-grid { width: 4.5em; }
.kan-widget .kan-status { font-family: var(--jp-code-font-family, ui-monospace, monospace); font-size: 12px; color: var(--kan-fg2); }
.kan-widget .kan-status.kan-running { color: var(--kan-fg); }
.kan-widget .kan-theta-hist { flex: none; vertical-align: middle; }
.kan-widget .kan-notes { display: flex; flex-direction: column; gap: 2px; font-size: 12px; }
.kan-widget .kan-note-warn { color: #a61e4d; font-weight: 600; }
.kan-widget .kan-note-info { color: var(--kan-fg2); }
.kan-widget .kan-error {
	display: flex; gap: 8px; align-items: flex-start; white-space: pre-wrap;
	padding: 4px 8px; border: 1px solid #fa5252; border-radius: 4px; background: #fff5f5; color: #c92a2a;
}
.kan-widget .kan-close {
	margin-left: auto; padding: 0 6px; border: none; background: transparent; font-size: 16px; line-height: 1.2;
}
.kan-widget .kan-main { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.kan-widget .kan-diagram-col { flex: 1 1 520px; min-width: 320px; display: flex; flex-direction: column; gap: 4px; }
.kan-widget .kan-diagram-wrap {
	position: relative; width: 100%; overflow: hidden; background: #fff;
	border: 1px solid var(--kan-border); border-radius: 4px;
}
.kan-widget .kan-diagram { display: block; max-width: 100%; height: auto; }
.kan-widget svg.kan-diagram .kan-edge { cursor: pointer; }
.kan-widget svg.kan-diagram path.kan-edge:hover { stroke-width: 2.6; }
.kan-widget svg.kan-diagram g.kan-edge:hover .kan-curve { stroke-width: 2.6; }
/* boxes: the hovered edge's plot grows to read its shape (draw_svg raises it above the rest) */
.kan-widget svg.kan-diagram[data-mode="boxes"] g.kan-edge:hover { opacity: 1; }
.kan-widget svg.kan-diagram[data-mode="boxes"] g.kan-edge:hover .kan-box,
.kan-widget svg.kan-diagram[data-mode="boxes"] g.kan-edge:hover .kan-curve {
	/* draw_svg sets the shift that keeps the enlarged box inside the diagram */
	transform: translate(var(--kan-dx, 0px), var(--kan-dy, 0px)) scale(${BOX_ZOOM});
	transform-box: fill-box; transform-origin: center;
	vector-effect: non-scaling-stroke;
}
.kan-widget svg.kan-diagram[data-mode="boxes"] g.kan-edge:hover .kan-box { stroke-width: 1.2; }
/* canvas and inline drawings: the hovered edge, enlarged on an overlay (edge_zoom.ts) */
.kan-widget .kan-edge-zoom {
	position: absolute; left: 0; top: 0; z-index: 5; pointer-events: none; max-width: 100%; height: auto;
}
.kan-widget .kan-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 11px; color: var(--kan-fg2); }
.kan-widget .kan-legend i { display: inline-block; width: 18px; height: 0; margin-right: 4px; vertical-align: middle; border-top: 2px solid; }
.kan-widget .kan-preview, .kan-widget .kan-input-preview { font-size: 12px; color: #b35c00; }
.kan-widget .kan-features { position: absolute; inset: 0; pointer-events: none; }
.kan-widget .kan-feature-bar { position: absolute; height: 4px; background: #1c7ed6; border-radius: 1px; }
.kan-widget .kan-feature-bar.kan-feature-drop { background: #f08c00; outline: 1px dashed #f08c00; outline-offset: 1px; }
.kan-widget .kan-formula-box { width: 16em; }
.kan-widget .kan-part-legend { font-size: 11px; color: var(--kan-fg2); }
.kan-widget .kan-side { flex: 0 1 370px; min-width: 280px; display: flex; flex-direction: column; gap: 8px; }
.kan-widget .kan-inspector, .kan-widget .kan-formula {
	padding: 6px 8px; border: 1px solid var(--kan-border); border-radius: 4px; background: var(--kan-bg);
}
.kan-widget .kan-inspector-head { display: flex; align-items: center; gap: 6px; }
.kan-widget .kan-inspector-facts { font-size: 12px; color: var(--kan-fg2); margin: 2px 0 4px; }
.kan-widget .kan-inspector-plot { display: block; max-width: 100%; height: auto; }
.kan-widget .kan-unfix { margin: 4px 0; }
.kan-widget .kan-candidates { width: 100%; border-collapse: collapse; font-size: 12px; margin-top: 4px; }
.kan-widget .kan-candidates th, .kan-widget .kan-candidates td { text-align: left; padding: 2px 4px; border-bottom: 1px solid var(--kan-border); }
.kan-widget .kan-candidates button { padding: 1px 6px; }
.kan-widget .kan-formula-math {
	overflow-x: auto; overflow-y: hidden; min-height: 1.5em; padding-bottom: 4px; font-size: 16px;
	/* scroll shadows: the edge where more formula hides gets a soft shadow */
	background:
		linear-gradient(to right, var(--kan-bg) 30%, transparent) left / 24px 100% no-repeat local,
		linear-gradient(to left, var(--kan-bg) 30%, transparent) right / 24px 100% no-repeat local,
		radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, 0.2), transparent) left / 12px 100% no-repeat scroll,
		radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, 0.2), transparent) right / 12px 100% no-repeat scroll;
}
/* a wide display formula must overflow to the right only: centred, its left part could not be scrolled to */
.kan-widget .kan-formula-math .katex-display, .kan-widget .kan-formula-math .katex { display: block; margin: 0.3em 0; }
.kan-widget .kan-formula-math math { display: block; width: max-content; min-width: 100%; }
/* an always visible scrollbar (overlay scrollbars hide until hovered) */
.kan-widget .kan-formula-math::-webkit-scrollbar { height: 8px; }
.kan-widget .kan-formula-math::-webkit-scrollbar-track { background: var(--kan-bg2); border-radius: 4px; }
.kan-widget .kan-formula-math::-webkit-scrollbar-thumb { background: #adb5bd; border-radius: 4px; }
.kan-widget .kan-formula-math::-webkit-scrollbar-thumb:hover { background: #868e96; }
@supports not selector(::-webkit-scrollbar) {
	.kan-widget .kan-formula-math { scrollbar-width: thin; scrollbar-color: #adb5bd var(--kan-bg2); }
}
.kan-widget .kan-formula-bar { display: flex; gap: 6px; align-items: center; }
.kan-widget .kan-copy-feedback { font-size: 12px; color: var(--kan-fg2); }
.kan-widget .kan-copy-manual { width: 100%; min-height: 4em; margin-top: 4px; font-family: var(--jp-code-font-family, monospace); }
.kan-widget .kan-hint { margin: 2px 0; font-size: 12px; color: var(--kan-fg2); }
.kan-widget .kan-controls {
	display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 4px 18px; align-items: center;
}
.kan-widget .kan-slider, .kan-widget .kan-field { display: flex; align-items: center; gap: 6px; }
.kan-widget .kan-label { min-width: 6.5em; white-space: nowrap; }
.kan-widget input[type="range"] { flex: 1 1 auto; min-width: 80px; }
.kan-widget .kan-num, .kan-widget .kan-lr, .kan-widget .kan-steps, .kan-widget .kan-batch { width: 6.5em; }
.kan-widget .kan-r2_threshold, .kan-widget .kan-weight_simple { width: 6.5em; }
/* a slider's label has a fixed width and wraps ("θ input threshold" on two lines) rather than
   run under its slider; the slider gives way first */
.kan-widget .kan-slider .kan-label { flex: none; width: 6.5em; white-space: normal; line-height: 1.15; }
.kan-widget .kan-slider input[type="range"] { flex: 1 1 60px; min-width: 60px; }
/* theta's row holds the score histogram too: label, slider and number on the first line, the
   histogram on its own line under the slider (the ::after is the line break) */
.kan-widget .kan-slider-theta { flex-wrap: wrap; }
.kan-widget .kan-slider-theta::after { content: ""; flex-basis: 100%; height: 0; order: 5; }
.kan-widget .kan-slider-theta .kan-theta-hist { order: 10; margin-left: calc(6.5em + 6px); }
.kan-widget .kan-class { display: flex; flex-direction: column; gap: 4px; }
.kan-widget .kan-class-title { font-weight: 600; color: var(--kan-fg2); }
.kan-widget .kan-boundary { border: 1px solid var(--kan-border); border-radius: 3px; }
.kan-widget .kan-class-toggles { display: flex; gap: 12px; color: var(--kan-fg2); }
.kan-widget .kan-confusion table { border-collapse: collapse; margin: 4px 0; font-variant-numeric: tabular-nums; }
.kan-widget .kan-confusion caption { text-align: left; color: var(--kan-fg2); }
.kan-widget .kan-confusion th, .kan-widget .kan-confusion td { padding: 2px 8px; text-align: right; border: 1px solid var(--kan-border); }
/* node pictures, over the diagram's nodes (node_pics.ts): hover enlarges one */
.kan-widget .kan-node-pics { position: absolute; inset: 0; pointer-events: none; }
.kan-widget .kan-node-pic {
	position: absolute; box-sizing: border-box; pointer-events: auto; image-rendering: auto;
	border: 1px solid #343a40; border-radius: 2px; background: #fff;
	transition: transform 0.1s; transform-origin: center;
}
.kan-widget .kan-node-pic:hover { transform: scale(4); z-index: 10; box-shadow: 0 2px 8px rgba(0,0,0,0.3); }
/* hover cards on edges and nodes (cards.ts) */
.kan-widget .kan-card {
	position: absolute; z-index: 20; pointer-events: none; max-width: 280px; padding: 4px 8px;
	font-size: 12px; background: rgba(255,255,255,0.97); color: var(--kan-fg, #212529);
	border: 1px solid var(--kan-border); border-radius: 4px; box-shadow: 0 2px 8px rgba(0,0,0,0.18);
}
.kan-widget .kan-card-title { font-weight: 600; margin-bottom: 2px; }
.kan-widget .kan-card table { border-collapse: collapse; }
.kan-widget .kan-card th { text-align: left; font-weight: normal; color: var(--kan-fg2); padding: 0 8px 0 0; white-space: nowrap; }
.kan-widget .kan-card td { font-variant-numeric: tabular-nums; white-space: nowrap; }
`;
