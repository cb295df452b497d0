"""The canonical example's seed statistic, and how far each seed sits from its thresholds.

pykan's tutorial: ``exp(sin(pi*x) + y^2)``, [2,5,1], grid=3, k=3, 50 LBFGS steps with lamb=0.01
on 1000 training points (dataset seed 0), then ``prune(node_th=1e-2)``. A seed counts when its
test RMSE is below 0.05 *and* pruning leaves [2,1,1]. The figure printed first is the one the
issue asks for ("k of 10 seeds"); it used to be pinned by a test, but it depends on float32
round-off (MKL takes different code paths on different CPUs), so it lives here.

For each seed the table shows the margins: RMSE / 0.05, the largest hidden node score and the
second largest (both against node_th=1e-2). ``--variants`` reruns the ten seeds as "another
machine" would: two intra-op threads instead of one, the training inputs perturbed by 1e-7
relative (two draws), the initial parameters perturbed by 1e-7 relative (two draws); then prints,
per seed, the spread of the RMSE over the variants. (One intra-op thread or two give the same
bits here: the engine runs small work on one thread.)

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_canonical.py [--seeds 10] [--variants]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from kan_widget import KAN, create_dataset

RMSE_BOUND = 0.05
NODE_TH = 1e-2


def canonical(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def dataset(data_perturb: float = 0.0, draw: int = 0) -> dict:
    data = create_dataset(canonical, n_var=2, train_num=1000, test_num=1000, seed=0)
    if data_perturb:
        g = torch.Generator().manual_seed(1000 + draw)
        x = data["train_input"]
        data["train_input"] = x * (1 + data_perturb * torch.randn(x.shape, generator=g))
    return data


def run_seed(seed: int, data: dict, init_perturb: float = 0.0, draw: int = 0) -> dict:
    model = KAN([2, 5, 1], grid=3, k=3, seed=seed)
    if init_perturb:
        g = torch.Generator().manual_seed(2000 + 100 * draw + seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + init_perturb * torch.randn(p.shape, generator=g, dtype=p.dtype))
    hist = model.fit(data, opt="LBFGS", steps=50, lamb=0.01)
    rmse = hist["test_loss"][-1]
    width = model.prune(node_th=NODE_TH).width
    scores = sorted(model.node_scores[1].tolist(), reverse=True)
    ok = math.isfinite(rmse) and rmse < RMSE_BOUND and width == [2, 1, 1]
    return {"rmse": rmse, "width": width, "scores": scores, "ok": ok}


def run_all(
    seeds: int,
    threads: int,
    data_perturb: float = 0.0,
    draw: int = 0,
    init_perturb: float = 0.0,
    verbose: bool = True,
) -> list[dict]:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = dataset(data_perturb, draw)
        rows = []
        for seed in range(seeds):
            r = run_seed(seed, data, init_perturb, draw)
            rows.append(r)
            if verbose:
                s = r["scores"]
                print(
                    f"  seed {seed}: RMSE {r['rmse']:.4f} ({r['rmse'] / RMSE_BOUND:.2f} of the "
                    f"bound)  width {r['width']}  node scores: largest {s[0]:.3f} "
                    f"({s[0] / NODE_TH:.0f}x th), 2nd {s[1]:.2e} ({s[1] / NODE_TH:.2f}x th)"
                    f"{'' if r['ok'] else '  <- misses'}",
                    flush=True,
                )
        return rows
    finally:
        torch.set_num_threads(old)


def summary(rows: list[dict]) -> str:
    n = len(rows)
    ok = sum(r["ok"] for r in rows)
    pruned = sum(r["width"] == [2, 1, 1] for r in rows)
    rmse = [r["rmse"] for r in rows]
    second = max(r["scores"][1] for r in rows)
    return (
        f"{ok} of {n} seeds reach RMSE<{RMSE_BOUND} and [2,1,1]; [2,1,1] in {pruned} of {n}; "
        f"RMSE max {max(rmse):.4f}, median {sorted(rmse)[n // 2]:.4f}; largest 2nd node "
        f"score {second:.2e} (th {NODE_TH})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (the test uses 1)")
    ap.add_argument(
        "--variants",
        action="store_true",
        help="also 2 threads, data and init perturbed by 1e-7 (another machine)",
    )
    args = ap.parse_args()
    start = time.perf_counter()
    runs = {f"{args.threads} thread(s)": dict(threads=args.threads)}
    if args.variants:
        runs.update(
            {
                "2 threads": dict(threads=2),
                "inputs x (1 + 1e-7 N), draw 0": dict(threads=args.threads, data_perturb=1e-7),
                "inputs x (1 + 1e-7 N), draw 1": dict(
                    threads=args.threads, data_perturb=1e-7, draw=1
                ),
                "init x (1 + 1e-7 N), draw 0": dict(threads=args.threads, init_perturb=1e-7),
                "init x (1 + 1e-7 N), draw 1": dict(
                    threads=args.threads, init_perturb=1e-7, draw=1
                ),
            }
        )
    results = {}
    for name, kw in runs.items():
        print(f"{name}:", flush=True)
        results[name] = run_all(args.seeds, **kw)
        print(f"  -> {summary(results[name])}", flush=True)
    if args.variants:
        print("per seed over the variants: RMSE min-max, [2,1,1] count, counted")
        for seed in range(args.seeds):
            col = [rows[seed] for rows in results.values()]
            rm = [r["rmse"] for r in col]
            print(
                f"  seed {seed}: {min(rm):.4f}-{max(rm):.4f}  "
                f"[2,1,1] {sum(r['width'] == [2, 1, 1] for r in col)}/{len(col)}  "
                f"counted {sum(r['ok'] for r in col)}/{len(col)}"
            )
        every = sum(all(rows[s]["ok"] for rows in results.values()) for s in range(args.seeds))
        print(f"seeds counted in every variant: {every} of {args.seeds}")
    print(f"{(time.perf_counter() - start):.0f} s")


if __name__ == "__main__":
    main()
