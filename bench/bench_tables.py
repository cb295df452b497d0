"""Your own data, end to end: real tables through the widget's methods, and the scale example.

1. scikit-learn's diabetes table (10 columns, 442 rows, target 25-346), the first 80% of the rows
   train: ``KAN(width=[10, 5, 1], seed=0)`` with every other setting at its default, through
   ``KANWidget``: ``train(50)``, ``prune()``, ``train(50)``, ``auto_symbolic(r2_threshold=R2)``,
   ``train(20)`` (``R2=None``: the widget's r2 threshold control). Prints the test R² after
   each stage, the formula's test R² against the spline
   model's, the largest test prediction against the target's range and the formula's length.
   Targets (issue 18): test R² >= 0.50, formula within 0.03 of the spline model, no prediction
   outside twice the target's range, formula under 600 characters. Linear regression: 0.54
   (``--baseline`` prints it).
2. ``sqrt(1+x^2+y^2)`` (labels mean 1.28, std 0.17), ``100*exp(sin(pi*x)+y^2)+1000`` and the
   canonical ``exp(sin(pi*x)+y^2)``, [2,5,1] seed 0: the README's pipeline, 50 LBFGS steps with
   lamb=0.01, prune, 50 steps without the penalty: test RMSE as a fraction of the label std
   after each (target: under 1%), the width left, with the default ``normalize="auto"`` and with
   ``normalize=False`` (pykan's units).
3. More tables, the same pipeline as 1: linnerud (predict ``Weight`` from the three exercises,
   20 rows), wine (predict ``alcohol`` from the other 12 columns, 178 rows), scikit-learn's
   ``make_friedman1`` (10 inputs of which 5 matter, noise 1.0, 500 rows) and a synthetic table
   with a categorical column stored as integers (``group`` 0-3 shifts the response; 400 rows),
   and breast_cancer's ``mean concavity`` from its other nine ``mean ...`` columns (569 rows).
   ``--seeds N`` runs each table with seeds 0..N-1.

The widget's defaults at work: for a table (a dataset from ``create_dataset_from_data``)
``lamb`` 0.02, Symbolify's ``weight_simple`` 0.5 and no polish at the end of Train
(``TABLE_DEFAULTS`` in kan_widget/widget/messages.py; 0.01, 0.8 and ``polish=10``
otherwise: ``--widget polish=10`` compares it), ``theta``
0.01, ``keep_best=True`` (a run ending above its best validation loss installs the best step),
``early_stop=False``, Symbolify's r2 threshold 0.99 with the extrapolation guard
(kan_widget/symbolic/extrapolate.py), and prediction holding each scaled input within its
training range (``Scaling.clip`` in kan_widget/tables.py; the run prints the test rows past
it). ``--widget key=value`` compares other settings (e.g.
``--widget lamb=0.01 --widget keep_best=0``: the defaults before issue 18's last session); the
run ends with each table's formula test R2 per seed.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_tables.py [--only diabetes|scale|more]
[--seeds 5] [--widget KEY=VALUE ...] [--merge-corr 0.9]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from kan_widget import KAN, KANWidget, create_dataset
from kan_widget.tables import create_dataset_from_data

R2 = None  # None: the widget's r2 threshold control (an edge is fixed only where its best
# function's r^2 reaches it; the others stay splines, phi_l_i_j in the formula)
LIB = None  # the full library


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    p, t = pred.detach().double().flatten(), y.double().flatten()
    return float(1 - ((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum())


WIDGET_KW: dict = {}  # --widget key=value: the widget's settings to compare (default: none)
SUMMARY: dict[str, list[float]] = {}  # table -> the formula's test R2 per seed


MERGE_CORR: float | None = None  # --merge-corr C: the experiment of merge_duplicates below


def merge_duplicates(model, x: torch.Tensor, min_corr: float):
    """An experiment, not the widget's behaviour (issue 18, diabetes seed 4's 826-character
    formula): fold hidden nodes whose values on ``x`` correlate with another node's at
    ``|corr| >= min_corr`` into it (the weaker into the stronger, kan_widget.structure's
    ``merged_node``), one pair at a time. Measured (``--merge-corr 0.9``, seeds 2-4, under load):
    seed 4's two hidden nodes correlate at -0.948 and merge: test R2 right after Prune 0.551 ->
    0.260 (the fold is exact only for linear outgoing edges; nothing retrains it), after
    the next Train 0.536, formula 0.512 and under 600 characters (826 before); seeds 2 and 3
    (corr 0.005 and 0.74) unchanged. So it fixes the length but shows the user a much worse
    model after Prune unless Prune also retrains (prune_minimal does, 20 steps)."""
    from kan_widget.structure import merged_node

    while True:
        with torch.no_grad():
            acts = model.activations(x)
        for l in range(1, len(model.width_in) - 1):
            h = acts[l].double()
            if h.shape[1] < 2:
                continue
            c = torch.corrcoef(h.T).abs().fill_diagonal_(0.0)
            sc = model.node_scores[l]
            pairs = sorted(
                (float(c[i, j]), i, j)
                for i in range(h.shape[1])
                for j in range(h.shape[1])
                if c[i, j] >= min_corr and float(sc[i]) <= float(sc[j])
            )
            merged = merged_node(model, l, pairs[-1][1], pairs[-1][2]) if pairs else None
            if merged is not None:
                print(
                    f"  merged hidden node {pairs[-1][1]} into {pairs[-1][2]} (|corr| "
                    f"{pairs[-1][0]:.3f}): {model.width} -> {merged.width}"
                )
                model = merged
                break
        else:
            return model


def _prune_then_merge(w: KANWidget):
    new = w.prune()
    if MERGE_CORR is None:
        return
    merged = merge_duplicates(new, w._train_x, MERGE_CORR)
    if merged is not new:
        with w._changing(False):
            w._replace(merged, f"merged duplicate nodes -> {merged.width}")


def table_pipeline(name: str, d: dict, width: list[int], steps: int = 50, seed: int = 0) -> dict:
    model = KAN(width=width, seed=seed)
    w = KANWidget(model, d, **WIDGET_KW)  # the table's column names come with the dataset
    xt, yt = d["test_input"], d["test_label"]
    out: dict = {}
    t0 = time.perf_counter()
    w.train(steps, block=True)
    out["trained"] = r2(w.model(xt), yt)
    _prune_then_merge(w)
    out["pruned_width"] = w.model.width
    out["pruned"] = r2(w.model(xt), yt)
    w.train(steps, block=True)
    spline = w.model.copy()
    out["spline"] = r2(spline(xt), yt)
    # the same 20 further steps the formula gets, on the spline model (a fair comparison)
    spline.fit(d, steps=20, lamb=float(w.lamb))
    out["spline_20"] = r2(spline(xt), yt)
    w.auto_symbolic(r2_threshold=R2, lib=LIB)
    out["r2_threshold"] = R2 if R2 is not None else w.r2_threshold
    n_spline = sum(int(layer.numeric_mask().sum()) for layer in w.model.layers)
    w.train(20, block=True)
    out["symbolic"] = r2(w.model(xt), yt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t1 = time.perf_counter()
        (f,) = w.model.formula(digits=3)
        out["formula_s"] = time.perf_counter() - t1
    text = str(f)
    out["formula_len"] = len(text)
    out["formula"] = text
    out["formula_warnings"] = [str(c.message) for c in caught]
    out["spline_edges_left"] = n_spline
    out["edges"] = w.model.n_edge
    pred = w.model(xt).detach()
    lo, hi = float(d["train_label"].min()), float(d["train_label"].max())
    out["pred_range"] = (float(pred.min()), float(pred.max()))
    out["target_range"] = (lo, hi)
    span = hi - lo
    out["inside_2x"] = bool(pred.min() >= lo - span / 2 and pred.max() <= hi + span / 2)
    sc = w.model.scaling
    out["outside"] = sc.outside(xt) if sc is not None else {"rows": 0, "columns": {}}
    out["seconds"] = time.perf_counter() - t0
    w.close()
    print(
        f"{name}: width {width}, seed {seed}, {d['train_input'].shape[0]} train / "
        f"{xt.shape[0]} test rows"
    )
    print(
        f"  test R2: trained {out['trained']:.3f} | pruned to {out['pruned_width']} "
        f"{out['pruned']:.3f} | retrained (spline model) {out['spline']:.3f} | "
        f"after auto_symbolic(r2_threshold={out['r2_threshold']}) + 20 steps (the formula) "
        f"{out['symbolic']:.3f} "
        f"(the spline model after the same 20 steps: {out['spline_20']:.3f})"
    )
    print(
        f"  formula: {out['formula_len']} characters, {out['edges']} edges of which "
        f"{n_spline} left as splines (phi_l_i_j); built in {out['formula_s']:.2f} s"
        + (f"; {out['formula_warnings']}" if out["formula_warnings"] else "")
    )
    print(
        f"  test predictions {out['pred_range'][0]:.1f} .. {out['pred_range'][1]:.1f}; target "
        f"range {lo:g} .. {hi:g}; within twice the range: {out['inside_2x']}"
    )
    cols = out["outside"]["columns"].items()
    past = ", ".join(f"{c} {n} rows up to {f:.0%}" for c, (n, f) in cols)
    if past:
        held = "held at the range's edge" if out["outside"].get("clipped") else "not held"
        print(f"  test rows past the training range: {out['outside']['rows']} ({past}; {held})")
    print(f"  formula: {text[:400]}{' ...' if len(text) > 400 else ''}")
    print(f"  ({out['seconds']:.0f} s)")
    SUMMARY.setdefault(name, []).append(out["symbolic"])
    return out


def diabetes(baseline: bool, seeds: int = 1) -> None:
    from sklearn.datasets import load_diabetes

    df = load_diabetes(as_frame=True).frame
    d = create_dataset_from_data(df, "target", shuffle=False)
    if baseline:
        from sklearn.linear_model import LinearRegression

        lr = LinearRegression().fit(d["train_input"].numpy(), d["train_label"].numpy())
        pred = torch.from_numpy(lr.predict(d["test_input"].numpy()))
        print(f"diabetes: linear regression test R2 {r2(pred, d['test_label']):.3f}")
    for seed in range(seeds):
        _diabetes_targets(table_pipeline("diabetes", d, [10, 5, 1], seed=seed))


def _diabetes_targets(out: dict) -> None:
    ok = (
        out["symbolic"] >= 0.50,
        abs(out["symbolic"] - out["spline"]) <= 0.03,
        out["inside_2x"],
        out["formula_len"] < 600,
    )
    print(
        "  targets: R2>=0.50 {}, formula within 0.03 of the spline model it came from {}, "
        "predictions "
        "within twice the range {}, formula < 600 chars {}".format(*ok)
    )


def scale_examples() -> None:
    cases = {
        "sqrt(1+x^2+y^2)": lambda x: torch.sqrt(1 + x[:, [0]] ** 2 + x[:, [1]] ** 2),
        "100*exp(sin(pi x)+y^2)+1000": lambda x: (
            100 * torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2) + 1000
        ),
        "exp(sin(pi x)+y^2)": lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2),
    }
    for name, f in cases.items():
        d = create_dataset(f, n_var=2, train_num=1000, test_num=1000, seed=0)
        std = float(d["test_label"].std())
        for normalize in ("auto", False):
            model = KAN([2, 5, 1], seed=0, normalize=normalize)
            hist = model.fit(d, steps=50, lamb=0.01)
            before = hist["test_loss"][-1]
            pruned = model.prune()
            with torch.no_grad():
                cut = torch.sqrt(torch.mean((pruned(d["test_input"]) - d["test_label"]) ** 2))
            after = pruned.fit(d, steps=50)["test_loss"][-1]
            print(
                f"{name:>28} normalize={normalize!s:5}: test RMSE / label std ({std:.3g}): "
                f"{before / std:7.2%} after fit(lamb=0.01), {float(cut) / std:7.2%} right after "
                f"prune -> {pruned.width}, {after / std:7.2%} after fit(steps=50)"
            )
    sqrt_penalty_bias()
    widget_polish()


def sqrt_penalty_bias() -> None:
    """What limits ``sqrt(1+x^2+y^2)`` before pruning (issue 18's 1% target): the sparsity
    penalty's bias, not steps or grid. Prints the error after 50 steps (100 for one row) of
    ``fit(lamb)`` for lamb, steps, grid and the penalty's two parts (pykan's ``lamb_l1`` 1,
    ``lamb_entropy`` 2), beside the canonical example's. Measured (seed 0): sqrt 3.41% at the
    README's settings, 3.41% with 100 steps, 5.99% on grid 5, 1.60% without the entropy part,
    5.08% without the L1 part, 0.38% without a penalty; canonical 2.05%, 1.11% without entropy.
    The entropy part, pykan's default, penalises a node fed by two equal edges (x^2 and y^2
    here), so a symmetric function pays more. ``polish 10`` (``fit(polish=10)``: the last 10 of
    the 50 steps without the penalty, only the edges scoring >= 0.01 training): sqrt 0.09%,
    canonical 1.01%, both still pruning to [2,1,1] (:func:`widget_polish`)."""
    cases = {
        "sqrt(1+x^2+y^2)": lambda x: torch.sqrt(1 + x[:, [0]] ** 2 + x[:, [1]] ** 2),
        "exp(sin(pi x)+y^2)": lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2),
    }
    settings = (
        ("lamb 0.01", {}, 50, 3),
        ("100 steps", {}, 100, 3),
        ("grid 5", {}, 50, 5),
        ("no entropy part", {"lamb_entropy": 0.0}, 50, 3),
        ("no L1 part", {"lamb_l1": 0.0}, 50, 3),
        ("lamb 0.003", {"lamb": 0.003}, 50, 3),
        ("lamb 0", {"lamb": 0.0}, 50, 3),
        ("polish 10", {"polish": 10}, 50, 3),
    )
    for name, f in cases.items():
        d = create_dataset(f, n_var=2, train_num=1000, test_num=1000, seed=0)
        std = float(d["test_label"].std())
        got = []
        for label, kw, steps, grid in settings:
            model = KAN([2, 5, 1], seed=0, grid=grid)
            rmse = model.fit(d, steps=steps, **{"lamb": 0.01, **kw})["test_loss"][-1]
            got.append(f"{label} {rmse / std:.2%}")
        print(f"  {name} before pruning, test RMSE / label std: " + "; ".join(got))


def _rel_rmse(model, d: dict, std: float) -> float:
    with torch.no_grad():
        e = torch.sqrt(torch.mean((model(d["test_input"]) - d["test_label"]) ** 2))
    return float(e) / std


def widget_polish(seeds: int = 2) -> None:
    """Issue 18's sqrt target on the user's path: ``KANWidget(KAN(width=[2,5,1], seed=s), d)``,
    Train (defaults), Prune, Train; test RMSE / label std after each, with Train's polish
    (``KANWidget(polish=10)``, the default) and without (``polish=0``). Measured under load,
    seeds 0/1: sqrt 0.04%/0.03% trained, the same after pruning to [2,1,1], 0.02%/0.03%
    retrained (2.39%/3.04%, 2.39%/3.04%, 0.88%/0.88% without the polish); canonical
    1.16%/1.14% trained (1.99%/2.44% without)."""
    cases = {
        "sqrt(1+x^2+y^2)": lambda x: torch.sqrt(1 + x[:, [0]] ** 2 + x[:, [1]] ** 2),
        "exp(sin(pi x)+y^2)": lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2),
    }
    for name, f in cases.items():
        d = create_dataset(f, n_var=2, train_num=1000, test_num=1000, seed=0)
        std = float(d["test_label"].std())
        for polish in (10, 0):
            got = []
            for seed in range(seeds):
                w = KANWidget(KAN(width=[2, 5, 1], seed=seed), d, polish=polish)
                w.train(block=True)
                trained = _rel_rmse(w.model, d, std)
                w.prune()
                width, pruned = w.model.width, _rel_rmse(w.model, d, std)
                w.train(block=True)
                got.append(
                    f"{trained:.2%} -> {width} {pruned:.2%} -> {_rel_rmse(w.model, d, std):.2%}"
                )
                w.close()
            print(
                f"  widget {name} polish={polish}: Train, Prune, Train, test RMSE / label std "
                f"(seeds 0..{seeds - 1}): " + "; ".join(got)
            )


def categorical_table(n: int = 400, seed: int = 0):
    """A table whose ``group`` column (0-3) is a category stored as integers."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    dose = rng.uniform(0, 10, n)
    weight = rng.normal(50, 10, n)
    response = (
        np.array([0.0, 3.0, -2.0, 5.0])[group]
        + 0.5 * dose
        + 0.005 * (weight - 50) ** 2
        + rng.normal(0, 0.5, n)
    )
    return pd.DataFrame({"group": group, "dose": dose, "weight kg": weight, "response": response})


def more_tables(seeds: int = 1, only: str | None = None) -> None:
    from sklearn.datasets import load_breast_cancer, load_linnerud, load_wine, make_friedman1

    lin = load_linnerud(as_frame=True)
    wine = load_wine(as_frame=True).data
    cancer = load_breast_cancer(as_frame=True).data
    cancer = cancer[[c for c in cancer.columns if c.startswith("mean ")]]
    xf, yf = make_friedman1(n_samples=500, n_features=10, noise=1.0, random_state=0)
    tables = [
        (
            "linnerud (Weight from Chins, Situps, Jumps)",
            create_dataset_from_data(lin.data, lin.target[["Weight"]], seed=0),
            [3, 3, 1],
        ),
        (
            "wine (alcohol from the other 12 columns)",
            create_dataset_from_data(wine, "alcohol", seed=0),
            [12, 5, 1],
        ),
        (
            "breast_cancer (mean concavity from the other 9 mean columns)",
            create_dataset_from_data(cancer, "mean concavity", seed=0),
            [9, 5, 1],
        ),
        ("friedman1 (noise 1.0)", create_dataset_from_data(xf, yf, seed=0), [10, 5, 1]),
        (
            "categorical-as-int (group 0-3, dose, weight kg)",
            create_dataset_from_data(categorical_table(), "response", seed=0),
            [3, 5, 1],
        ),
    ]
    for name, d, width in tables:
        if only is not None and not name.startswith(only):
            continue
        for seed in range(seeds):
            table_pipeline(name, d, width, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("diabetes", "scale", "more"))
    ap.add_argument("--baseline", action="store_true", help="also print linear regression")
    ap.add_argument("--table", help="with --only more: the tables whose name starts with this")
    ap.add_argument("--seeds", type=int, default=1, help="model seeds 0..N-1 per table")
    ap.add_argument(
        "--widget",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a KANWidget setting for every table, e.g. --widget lamb=0.03 --widget keep_best=0",
    )
    ap.add_argument(
        "--merge-corr",
        type=float,
        help="experiment: after Prune, fold hidden nodes correlating at |corr| >= this",
    )
    args = ap.parse_args()
    global MERGE_CORR
    MERGE_CORR = args.merge_corr
    for kv in args.widget:
        key, _, value = kv.partition("=")
        if key in ("keep_best", "early_stop"):
            WIDGET_KW[key] = bool(int(value))
        else:
            WIDGET_KW[key] = int(value) if key == "polish" else float(value)
    torch.set_num_threads(1)
    np.set_printoptions(precision=3)
    if args.only in (None, "diabetes"):
        diabetes(args.baseline, args.seeds)
    if args.only in (None, "scale"):
        scale_examples()
    if args.only in (None, "more"):
        more_tables(args.seeds, args.table)
    if SUMMARY:
        print(f"formula test R2 per seed (widget settings {WIDGET_KW or 'default'}):")
        for name, vals in SUMMARY.items():
            got = " ".join(f"{v:.3f}" for v in vals)
            print(f"  {name[:40]:40s} {got}  (median {float(np.median(vals)):.3f})")


if __name__ == "__main__":
    main()
