"""Run pykan 0.2.8's own tutorials on kan_widget, as a pykan user would: every import of the
``kan`` package rewritten to ``kan_widget`` (``from kan import *``, ``from kan.utils import ...``),
nothing else changed. With ``--engine kan`` the same notebooks run on pykan itself, side by side.

The tutorials are not part of this repository: point ``--pykan`` at a checkout (or bare git
directory) of KindXiaoming/pykan. Each notebook runs in a fresh kernel in its own temporary
directory (pykan writes checkpoints and figures into the working directory), with matplotlib's
Agg backend and a time limit per notebook.

    PYTHONPATH=. .venv/bin/python bench/pykan_tutorials.py --pykan /path/to/pykan [--engine kan]
        [--only hellokan API_1] [--timeout 900] [--json out.json] [--set issue|more|all]
    PYTHONPATH=. .venv/bin/python bench/pykan_tutorials.py --pykan X --compare ours.json pykan.json

Every fit's last values (``train_loss``, ``test_loss``, ``reg``, metrics such as
``train_acc``) and every ``symbolic_formula`` are recorded as the notebook runs (a first cell
wraps the engine's methods; see ``_RECORDER``); ``--compare`` prints the last of them per
tutorial for both engines side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The 24 tutorials of the issue: hellokan, docs/API_demo, docs/Example (without the two knot
# examples, whose data is not in the repository, and the phase transition, which needs it
# too), and two of docs/Interp.
TUTORIALS = [
    "hellokan.ipynb",
    *[
        f"docs/API_demo/API_{n}.ipynb"
        for n in (
            "1_indexing",
            "2_plotting",
            "3_extract_activations",
            "4_initialization",
            "5_grid",
            "6_training_hyperparameter",
            "7_pruning",
            "8_regularization",
            "9_video",
            "10_device",
            "11_create_dataset",
            "12_checkpoint_save_load_model",
        )
    ],
    *[
        f"docs/Example/Example_{n}.ipynb"
        for n in (
            "1_function_fitting",
            "3_deep_formula",
            "4_classfication",
            "5_special_functions",
            "6_PDE_interpretation",
            "7_PDE_accuracy",
            "8_continual_learning",
            "9_singularity",
            "10_relativity-addition",
            "11_encouraing_linear",
            "12_unsupervised_learning",
        )
    ],
    "docs/Interp/Interp_9_different_plotting_metrics.ipynb",
    "docs/Interp/Interp_10_hessian.ipynb",
]

# pykan's other notebooks ("we will also run pykan tutorials not named here"), without
# Interp_1-4 (multiplication nodes, kanpiler, attribution: another issue's) and the notebooks
# whose data is not in the repository (Example_13-15, Community_2).
MORE = [
    *[
        f"docs/Interp/Interp_{n}.ipynb"
        for n in (
            "5_test_symmetry",
            "6_test_symmetry_NN",
            "8_adding_auxillary_variables",
            "10A_swap",
            "10B_swap",
            "11_sparse_init",
        )
    ],
    *[
        f"docs/Physics/Physics_{n}.ipynb"
        for n in (
            "1_Lagrangian",
            "2A_conservation_law",
            "2B_conservation_law_2D",
            "3_blackhole",
            "4A_constitutive_laws_P11",
            "4B_constitutive_laws_P12_with_prior",
            "4C_constitutive_laws_P12_without_prior",
        )
    ],
    "docs/Community/Community_1_physics_informed_kan.ipynb",
    "docs/intro.ipynb",
]
ALL = TUTORIALS + MORE

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_IMPORT = re.compile(r"^(\s*)(from|import)\s+kan(\b|\.)", re.M)


def rewrite(source: str) -> str:
    """Imports of ``kan`` (and ``kan.utils``...) rewritten to ``kan_widget``."""
    return _IMPORT.sub(lambda m: f"{m.group(1)}{m.group(2)} kan_widget{m.group(3)}", source)


def read_notebook(pykan: Path, rel: str) -> dict:
    if (pykan / rel).exists():
        return json.loads((pykan / rel).read_text())
    out = subprocess.run(
        ["git", f"--git-dir={pykan}", "show", f"HEAD:{rel}"], capture_output=True, check=True
    ).stdout
    return json.loads(out)


# A first cell added to every notebook: it wraps the engine's ``fit`` and ``symbolic_formula``
# so that each call's headline (the last value of every per-step list of the fit result: losses,
# accuracies; the formula's text) is appended to ``headlines.jsonl`` in the notebook's folder,
# for both engines alike, and read back even when a later cell fails.
_RECORDER = """
import json as _hl_json
def _hl_write(kind, value):
    with open("headlines.jsonl", "a") as _f:
        _f.write(_hl_json.dumps([kind, value]) + "\\n")
def _hl_wrap(cls):
    fit, formula = getattr(cls, "fit", None), getattr(cls, "symbolic_formula", None)
    if fit is not None:
        def _fit(self, *a, **k):
            res = fit(self, *a, **k)
            rec = {}
            for key, v in (res.items() if isinstance(res, dict) else ()):
                try:
                    rec[key] = float(v[-1])
                except Exception:
                    pass
            _hl_write("fit", rec)
            return res
        cls.fit = _fit
    if formula is not None:
        def _formula(self, *a, **k):
            res = formula(self, *a, **k)
            try:
                _hl_write("formula", [str(e) for e in res[0]])
            except Exception:
                pass
            return res
        cls.symbolic_formula = _formula
for _hl_mod, _hl_names in __HL_CLASSES__:
    try:
        _m = __import__(_hl_mod, fromlist=["_"])
    except Exception:
        continue
    for _n in _hl_names:
        if hasattr(_m, _n):
            _hl_wrap(getattr(_m, _n))
del _hl_mod, _hl_names
"""
_CLASSES = {
    "kan_widget": [("kan_widget.model", ["KAN"]), ("kan_widget.MLP", ["MLP"])],
    "kan": [("kan.MultKAN", ["MultKAN"]), ("kan.MLP", ["MLP"])],
}


def run_one(nb_json: dict, engine: str, timeout: float) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.reads(json.dumps(nb_json), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            if engine == "kan_widget":
                cell.source = rewrite(cell.source)
    recorder = _RECORDER.replace("__HL_CLASSES__", repr(_CLASSES[engine]))
    nb.cells.insert(0, nbformat.v4.new_code_cell(recorder))
    repo = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pykan-tut-") as tmp:
        env_path = os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])
        os.environ["PYTHONPATH"] = env_path
        os.environ["MPLBACKEND"] = "Agg"
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        result = {"ok": True, "error": None, "cell": None}
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError) as e:
            lines = [_ANSI.sub("", ln) for ln in str(e).splitlines() if ln.strip("- \t")]
            if isinstance(e, CellTimeoutError):
                lines = [f"cell timed out ({timeout:.0f} s; --timeout)"]
            result = {"ok": False, "error": lines[-1][:300] if lines else repr(e), "cell": None}
            for idx, cell in enumerate(nb.cells):
                if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                    result["cell"] = idx - 1  # the notebook's own index (recorder first)
                    break
        except Exception as e:  # a kernel that died, a timeout of the whole notebook
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300], "cell": None}
        heads = Path(tmp) / "headlines.jsonl"
        result["headlines"] = (
            [json.loads(ln) for ln in heads.read_text().splitlines() if ln.strip()]
            if heads.exists()
            else []
        )
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["last_text"] = _last_text(nb)
    result["texts"] = _texts(nb)
    return result


def _texts(nb) -> list[list]:
    """Every code cell's plain-text outputs, ``[cell index, text]`` in order (for headlines)."""
    out = []
    for idx, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            text = o.get("text") or o.get("data", {}).get("text/plain")
            if text:
                out.append([idx, "".join(text)[-4000:]])
    return out


def _last_text(nb) -> str:
    """The last plain-text output: usually the tutorial's headline (a loss, a formula)."""
    for cell in reversed(nb.cells):
        for o in reversed(cell.get("outputs", [])):
            text = o.get("text") or o.get("data", {}).get("text/plain")
            if text:
                return "".join(text)[-200:]
    return ""


_FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def _round_floats(text: str, digits: int = 4) -> str:
    return _FLOAT.sub(lambda m: f"{float(m.group()):.{digits}g}", text)


def headline(res: dict | None, n_fit: int | None = None) -> dict:
    """A tutorial's headline: fit number ``n_fit``'s last values (default the last fit;
    losses as RMSE, accuracies, ...), the number of fits, and the last formula (numbers to 4
    significant digits)."""
    if res is None:
        return {}
    fits = [v for kind, v in res.get("headlines", []) if kind == "fit"]
    formulas = [v for kind, v in res.get("headlines", []) if kind == "formula"]
    out: dict = {"n_fit": len(fits)}
    if fits:
        at = len(fits) if n_fit is None else n_fit
        out["fit_no"] = at
        out.update({k: v for k, v in fits[at - 1].items() if k != "stopped"})
    if formulas:
        out["formula"] = " ; ".join(_round_floats(f) for f in formulas[-1])
    out.update(_bar_values(res.get("texts", [])))
    return out


_PAIR = re.compile(r"([A-Za-z][\w ]*?): ([-+]?\d+\.\d+e[-+]\d+)")


def _bar_values(texts: list) -> dict:
    """The last values a tutorial's own progress bar printed (``pde loss: 1.2e-01 | l2: ...``,
    as Example_6/7 train with their own loops); pykan's fit bar is left out (``fit`` records
    those for both engines)."""
    for _, text in reversed(texts):
        for segment in reversed(re.split(r"[\r\n]", text)):
            pairs = dict(_PAIR.findall(segment))
            if pairs and not {"train_loss", "test_loss"} & set(pairs):
                return {f"bar {k.strip()}": float(v) for k, v in pairs.items()}
    return {}


def compare(ours: dict, theirs: dict) -> str:
    """Per tutorial: ran to the end (ours / pykan), then each headline value side by side."""
    lines = []
    for rel in [t for t in ALL if t in ours or t in theirs]:
        a, b = ours.get(rel), theirs.get(rel)

        def ran(r):
            return "-" if r is None else ("ok" if r["ok"] else f"FAIL@{r['cell']}")

        lines.append(f"{Path(rel).stem}: runs {ran(a)} / {ran(b)}")
        # where one engine stopped early, compare the last fit both reached
        na, nb = headline(a).get("n_fit", 0), headline(b).get("n_fit", 0)
        common = min(na, nb) or None
        ha, hb = headline(a, common if na else None), headline(b, common if nb else None)
        for key in [k for k in ha if k != "formula"] + [
            k for k in hb if k not in ha and k != "formula"
        ]:
            va, vb = ha.get(key), hb.get(key)
            fa = "-" if va is None else f"{va:.4g}"
            fb = "-" if vb is None else f"{vb:.4g}"
            lines.append(f"    {key:>14}: {fa:>12} / {fb:<12}")
        if "formula" in ha or "formula" in hb:
            lines.append(f"    formula ours : {ha.get('formula', '-')[:300]}")
            lines.append(f"    formula pykan: {hb.get('formula', '-')[:300]}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pykan", required=True, type=Path, help="pykan checkout or git dir")
    ap.add_argument("--engine", default="kan_widget", choices=("kan_widget", "kan"))
    ap.add_argument("--only", nargs="*", help="substrings of tutorial paths to run")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per cell")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument(
        "--set",
        default="issue",
        choices=("issue", "more", "all"),
        help="the issue's 24 tutorials, the other notebooks of pykan's docs, or both",
    )
    ap.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("OURS_JSON", "PYKAN_JSON"),
        help="print two --json results side by side (headline values per tutorial); no runs",
    )
    args = ap.parse_args()
    if args.compare:
        ours, theirs = (json.loads(p.read_text()) for p in args.compare)
        print(compare(ours, theirs))
        return 0
    pool = {"issue": TUTORIALS, "more": MORE, "all": ALL}[args.set]
    todo = [t for t in pool if not args.only or any(s in t for s in args.only)]
    results = {}
    for rel in todo:
        res = run_one(read_notebook(args.pykan, rel), args.engine, args.timeout)
        results[rel] = res
        mark = "ok  " if res["ok"] else "FAIL"
        detail = "" if res["ok"] else f"  cell {res['cell']}: {res['error']}"
        print(f"{mark} {res['seconds']:7.1f}s  {rel}{detail}", flush=True)
        if args.json:  # after every notebook: a long run that is stopped keeps what it did
            args.json.write_text(json.dumps(results, indent=1))
    n_ok = sum(r["ok"] for r in results.values())
    print(f"{args.engine}: {n_ok} of {len(results)} tutorials ran to the end")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
