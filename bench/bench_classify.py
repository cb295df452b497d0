"""Classification targets of issue 15 (figures printed, never asserted in tests).

1. TF Playground's sets through the playground's own data (``kan_widget.datasets.make_dataset``,
   1000 points, train:test 50%, so 500 training points), no noise, at most 100 L-BFGS steps and
   at most 30 edges: circle, XOR and two Gaussians should reach >= 99% test accuracy, spiral
   >= 97%. Two models: the playground's one-logit KAN [2, h, 1] (binary cross-entropy, detected
   from the class labels) and the engine with pykan's ``loss_fn=CrossEntropyLoss()`` on class
   indices, [2, 5, 2].
2. Noise 0.25: the KAN against a TF-Playground-style MLP (tanh, one logit) with about the same
   number of parameters, trained in torch (Adam, full batch); the target is "within 3 points".

    PYTHONPATH=. .venv/bin/python bench/bench_classify.py [--seeds 3] [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch

from kan_widget import KAN
from kan_widget.datasets import make_dataset

SETS = ("circle", "xor", "gauss", "spiral")
TARGET = {"circle": 0.99, "xor": 0.99, "gauss": 0.99, "spiral": 0.97}
# the playground's hidden layers per set (all at most 30 edges)
HIDDEN = {"circle": [5], "xor": [5], "gauss": [5], "spiral": [8]}


def kan_run(name: str, seed: int, noise: float, width: list[int], steps: int, ce: bool):
    d = make_dataset(name, n=1000, noise=noise, train_ratio=0.5, seed=seed)
    model = KAN(width=width, grid=5, k=3, seed=seed)
    t0 = time.perf_counter()
    kw = {"loss_fn": torch.nn.CrossEntropyLoss()} if ce else {}
    h = model.fit(d, opt="LBFGS", steps=steps, **kw)
    with torch.no_grad():
        acc = model.accuracy(d["test_input"], d["test_label"])
    best = max(h["test_acc"]) if h.get("test_acc") else acc
    return acc, best, model.n_edge, model.n_params, time.perf_counter() - t0, h["stopped"]


def mlp_run(name: str, seed: int, noise: float, n_params: int, steps: int = 2000):
    """A TF-Playground-style MLP (tanh hidden layer, one logit) with about ``n_params``
    parameters: hidden width h has 2h + h + h + 1 = 4h + 1 parameters."""
    d = make_dataset(name, n=1000, noise=noise, train_ratio=0.5, seed=seed)
    h = max(1, round((n_params - 1) / 4))
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    net = torch.nn.Sequential(torch.nn.Linear(2, h), torch.nn.Tanh(), torch.nn.Linear(h, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x, y = d["train_input"], d["train_label"].float().unsqueeze(1)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = (net(d["test_input"])[:, 0] > 0).long()
    n = sum(p.numel() for p in net.parameters())
    return float((pred == d["test_label"]).double().mean()), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="one seed, the playground model only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = range(1 if args.quick else args.seeds)
    print(f"no noise, 500 training points, <= {args.steps} LBFGS steps")
    variants = (
        [("playground", False)] if args.quick else [("playground", False), ("CE [2,5,2]", True)]
    )
    for label, ce in variants:
        for name in SETS:
            width = [2, 5, 2] if ce else [2, *HIDDEN[name], 1]
            runs = [kan_run(name, s, 0.0, width, args.steps, ce) for s in seeds]
            accs = [r[0] for r in runs]
            hits = sum(a >= TARGET[name] for a in accs)
            print(
                f"{label:11s} {name:7s} width {width} edges {runs[0][2]:2d}: test acc "
                f"{' '.join(f'{a:.3f}' for a in accs)} (target {TARGET[name]:.2f}: "
                f"{hits}/{len(accs)}), {sum(r[4] for r in runs) / len(runs):.1f} s/run"
                + (
                    f", stopped early: {sum(r[5] is not None for r in runs)}"
                    if any(r[5] for r in runs)
                    else ""
                )
            )
    print("noise 0.25: KAN (playground model) vs a tanh MLP of about the same parameter count")
    for name in SETS:
        width = [2, *HIDDEN[name], 1]
        k_acc, m_acc = [], []
        for s in seeds:
            acc, _, _, n_params, _, _ = kan_run(name, s, 0.25, width, args.steps, False)
            mlp, n_mlp = mlp_run(name, s, 0.25, n_params)
            k_acc.append(acc)
            m_acc.append(mlp)
        gap = 100 * (sum(k_acc) - sum(m_acc)) / len(k_acc)
        print(
            f"{name:7s} KAN {width} ({n_params} params) {sum(k_acc) / len(k_acc):.3f}  "
            f"MLP 2-{round((n_params - 1) / 4)}-1 ({n_mlp} params) {sum(m_acc) / len(m_acc):.3f}  "
            f"KAN - MLP {gap:+.1f} points (target >= -3)"
        )


if __name__ == "__main__":
    main()
