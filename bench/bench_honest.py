"""Honest numbers in the widget (issue 18) on scikit-learn's diabetes table, [10,5,1], LBFGS.

Prints what the widget's status shows after 100 steps: train/val/test RMSE and R², the notes, the
best validation step, and the test RMSE after "back to best"; then Prune and Symbolify at the
widget's r2 threshold (0.99) with the losses before/after. Figures only (no assertion).

    PYTHONPATH=$PWD .venv/bin/python bench/bench_honest.py [--steps 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import torch

from kan_widget import KAN
from kan_widget.widget import KANWidget


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.float32)[:, None]
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(args.seed))
    tr, te = perm[:353], perm[353:]
    ds = {"train_input": X[tr], "train_label": y[tr], "test_input": X[te], "test_label": y[te]}
    w = KANWidget(KAN(width=[10, 5, 1], seed=args.seed), ds)

    def show(what: str) -> None:
        s = w.status
        f = {k: s[k] for k in ("train_loss", "val_loss", "test_loss", "train_r2", "test_r2")}
        print(f"{what:>22}: " + ", ".join(f"{k} {v:.4g}" for k, v in f.items() if v is not None))
        for n in s["notes"]:
            print(f"{'':>24}note: {n}")

    print(f"rows: train {w.status['n_train']}, val {w.status['n_val']}, test {w.status['n_test']}")
    show("fresh model")
    t0 = time.perf_counter()
    w.train(args.steps, block=True)
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f} s")
    show(f"after {args.steps} steps")
    print(f"best validation step: {w.status['best_step']}")
    w.back_to_best()
    show("back to best")
    w.prune()
    print(w.status["message"])
    show("after prune")
    t0 = time.perf_counter()
    w.auto_symbolic()
    print(f"{w.status['message']} ({time.perf_counter() - t0:.1f} s)")
    print(f"symbolify: {w.status['symbolify']}")
    show("after symbolify")
    w.close()


if __name__ == "__main__":
    main()
