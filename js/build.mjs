// Bundle the front end: js/widget.ts -> kan_widget/static/widget.js (ESM, minified, KaTeX inside),
// and KANPlayground's panel: js/playground.ts -> kan_widget/static/playground.js.
// The CSS is part of the JS (js/styles.ts, injected per view), so there is no widget.css.
//   node js/build.mjs            one build
//   node js/build.mjs --watch    rebuild on every change (npm run dev; pair with ANYWIDGET_HMR=1)
import * as esbuild from "esbuild";
import { stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "kan_widget", "static");
const outfiles = ["widget.js", "playground.js"].map((f) => join(outdir, f));
const watch = process.argv.includes("--watch");

/** @type {esbuild.BuildOptions} */
const options = {
	entryPoints: [join(root, "js", "widget.ts"), join(root, "js", "playground.ts")],
	outdir,
	bundle: true,
	format: "esm",
	target: ["es2020"],
	minify: true,
	// where the page has loaded RequireJS (classic notebook, some other hosts) a global `define`
	// with `.amd` exists; a bundled UMD dependency would then register itself as an AMD module
	// instead of returning its exports, and the import would come back empty
	define: { "define.amd": "false" },
	sourcemap: watch ? "inline" : false,
	legalComments: "none",
	logLevel: "warning",
};

const report = {
	name: "report",
	setup(build) {
		build.onEnd(async (result) => {
			if (result.errors.length) return;
			for (const outfile of outfiles) {
				const { size } = await stat(outfile);
				console.log(`built ${relative(root, outfile)} (${(size / 1024).toFixed(1)} KiB)`);
			}
		});
	},
};

if (watch) {
	const ctx = await esbuild.context({ ...options, plugins: [report] });
	await ctx.watch();
	console.log("watching js/ for changes (Ctrl+C to stop)");
} else {
	await esbuild.build({ ...options, plugins: [report] });
}
