"""A/B of the fused layer (kan_widget/fused.py) against another git revision's, in one process.

Both versions of ``SplineLayer`` run interleaved (ABBA order) on the same model, one thread, so
a shared, busy machine's load hits both alike; the figure is the ratio of the medians of CPU
time (``time.process_time``) per forward + backward with the penalty, and the minor page faults
per step. First prints how far the two versions' loss and gradients are apart.

    PYTHONPATH=. .venv/bin/python bench/ab_fused.py [--ref main] [--width 4,100,100,100,1]
        [--batch 1000] [--reps 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import subprocess
import time

import torch

import kan_widget.layer as layer_mod
from kan_widget import KAN
from kan_widget.regularizer import edge_penalty

METRIC = "edge_forward_spline_n"


def load_ref(ref: str):
    src = subprocess.run(
        ["git", "show", f"{ref}:kan_widget/fused.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("kan_widget.fused_ref", loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "kan_widget"
    exec(compile(src, f"{ref}:fused.py", "exec"), mod.__dict__)  # our own file at a git revision
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="main")
    ap.add_argument("--width", default="4,100,100,100,1")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    width = [int(v) for v in args.width.split(",")]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, width[0], generator=g) * 2 - 1
    y = torch.randn(args.batch, width[-1], generator=g)
    model = KAN(width=width, grid=3, k=3, seed=0)
    ways = {"ref": load_ref(args.ref).SplineLayer, "this": layer_mod.SplineLayer}

    def step():
        model.zero_grad(set_to_none=True)
        pred, stats = model.forward_stats(x, METRIC)
        reg = edge_penalty([s.value for s in stats], METRIC, 1.0, 2.0)
        loss = ((pred - y) ** 2).mean() + 0.01 * reg
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    out = {}
    for name, cls in ways.items():
        layer_mod.SplineLayer = cls
        out[name] = step()
    (la, ga), (lb, gb) = out["ref"], out["this"]
    rel = max(float((a - b).norm() / a.norm().clamp_min(1e-30)) for a, b in zip(ga, gb))
    print(f"loss rel diff {float((la - lb).abs() / la.abs()):.2e}, max gradient rel diff {rel:.2e}")
    cpu: dict[str, list[float]] = {n: [] for n in ways}
    faults: dict[str, list[int]] = {n: [] for n in ways}
    for i in range(args.reps):
        for name in ("ref", "this") if i % 2 == 0 else ("this", "ref"):
            layer_mod.SplineLayer = ways[name]
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
            step()
            t1, f1 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            cpu[name].append(t1 - t0)
            faults[name].append(f1 - f0)
    layer_mod.SplineLayer = ways["this"]
    a, b = statistics.median(cpu["ref"]), statistics.median(cpu["this"])
    print(
        f"{width} B={args.batch}, 1 thread, CPU ms median: {args.ref} {a * 1e3:.1f}, "
        f"this tree {b * 1e3:.1f} (x{b / a:.3f}); minor page faults a step: "
        f"{statistics.median(faults['ref']):.0f} -> {statistics.median(faults['this']):.0f}"
    )


if __name__ == "__main__":
    main()
