"""Does the hidden-grid floor silence a young deep model? (issue 14)

The KAN paper's 4-variable function exp(0.5 (sin(pi (x1^2+x2^2)) + sin(pi (x3^2+x4^2)))) on
[4,5,5,1], ``create_dataset(seed=0)`` 1000/1000 rows, ``fit(steps=50, lamb=0.01)``: the final
train RMSE per seed, with the default ``grid_min_span`` and with pykan's rule (0). A figure
equal to the label std (0.581) means the penalty switched the whole model off; "floor lifted"
counts the fits where the step after a refit went constant and was redone without the floor
on the layer it had widened whole (``fit``'s ``history["floor_lifted"]``).

Why the 4-variable recovery still fails after this fit (traced, issue 14, main at 5132915, grid 5,
``bench_recovery`` data): not the fit but ``prune()``'s edge pass. Its ``edge_th=3e-2`` is an
absolute threshold on forward edge magnitudes, and this model's first layer is small-scale
(edges 0.02-0.05 wide), so the pruned model loses the function: seed 0 train RMSE 0.216 after
the fit, 0.577 after ``prune()`` (the label std is 0.581), 0.398 after the 50-step retrain;
with ``prune(edge_th=None)`` (same nodes, [4,4,2,1]) 0.216 and 0.114. Seed 2: 0.249, 0.548,
0.304 against 0.249 and 0.220. pykan's ``prune`` scores edges by backward attribution, which is
relative to the node an edge feeds (docs/PYKAN_DIFFERENCES.md, "scores for pruning").

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_floor.py [--seeds 3] [--grids 3,5]``.
"""

from __future__ import annotations

import argparse
import warnings

import torch

from kan_widget import KAN, create_dataset


def four_var(x: torch.Tensor) -> torch.Tensor:
    a = torch.sin(torch.pi * (x[:, [0]] ** 2 + x[:, [1]] ** 2))
    b = torch.sin(torch.pi * (x[:, [2]] ** 2 + x[:, [3]] ** 2))
    return torch.exp(0.5 * (a + b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--grids", default="3,5")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # fit's "penalty silenced the model" is the figure here
    data = create_dataset(four_var, n_var=4, train_num=1000, test_num=1000, seed=0)
    std = float(data["train_label"].std())
    print(f"label std {std:.4f} (a constant model's train RMSE)")
    for grid in (int(g) for g in args.grids.split(",")):
        for name, kw in (("default floor", {}), ("grid_min_span=0", {"grid_min_span": 0.0})):
            rmse, lifted = [], 0
            for seed in range(args.seeds):
                res = KAN([4, 5, 5, 1], grid=grid, seed=seed, **kw).fit(data, steps=50, lamb=0.01)
                rmse.append(float(res["train_loss"][-1]))
                lifted += bool(res["floor_lifted"])
            silent = sum(r > 0.95 * std for r in rmse)
            figs = " ".join(f"{r:.4f}" for r in rmse)
            print(
                f"grid {grid}  {name:16s} train RMSE {figs}  silenced {silent}/{len(rmse)}"
                f"  floor lifted {lifted}/{len(rmse)}"
            )


if __name__ == "__main__":
    main()
