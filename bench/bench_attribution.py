"""Issue 16's attribution target: a function of 6 inputs of which 3 are noise columns;
``prune_input`` (pykan's default threshold 1e-2) should keep exactly the 3 that matter in at
least 9 of 10 seeds. Prints the count, the kept inputs per seed and each run's feature scores.

    PYTHONPATH=. .venv/bin/python bench/bench_attribution.py [--seeds 10] [--steps 50]
"""

from __future__ import annotations

import argparse
import time

import torch

from kan_widget import KAN, create_dataset


def f(x: torch.Tensor) -> torch.Tensor:
    # inputs 0, 2 and 4 matter; 1, 3 and 5 are noise columns the label never reads
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [2]] ** 2) + 0.5 * x[:, [4]]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--lamb", type=float, default=0.01)
    p.add_argument("--threshold", type=float, default=1e-2)
    args = p.parse_args()
    torch.set_num_threads(1)
    want = [0, 2, 4]
    hits = 0
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        ds = create_dataset(f, n_var=6, train_num=1000, test_num=1000, seed=seed)
        model = KAN([6, 5, 1], grid=5, k=3, seed=seed)
        model.fit(ds, opt="LBFGS", steps=args.steps, lamb=args.lamb)
        scores = model.feature_score
        kept = model.prune_input(args.threshold).input_id.tolist()
        hits += kept == want
        print(
            f"seed {seed}: kept {kept} {'ok' if kept == want else 'WRONG'}  feature scores "
            + " ".join(f"{float(s):.2e}" for s in scores)
        )
    print(
        f"prune_input keeps exactly inputs {want}: {hits} of {args.seeds} seeds "
        f"({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
