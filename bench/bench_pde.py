"""A physics-informed loss through the model, as pykan's Example_6_PDE_interpretation builds it:
the Laplacian of ``KAN([2,2,1], grid=5)`` by two nested ``batch_jacobian`` calls on 441 interior
points, differentiated once more in the parameters. Prints the loss (equal for both engines: the
second derivative is not the old silent 0) and the time of one such closure, ours and pykan's.

    PYTHONPATH=. .venv/bin/python bench/bench_pde.py [--threads 1] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
from torch import autograd


def batch_jacobian(func, x, create_graph=False):
    def summed(x):
        return func(x).sum(dim=0)

    return autograd.functional.jacobian(summed, x, create_graph=create_graph).permute(1, 0, 2)


def closure_time(model, x, reps: int) -> tuple[float, float]:
    def source(x):
        return -2 * torch.pi**2 * torch.sin(torch.pi * x[:, [0]]) * torch.sin(torch.pi * x[:, [1]])

    def closure():
        for p in model.parameters():
            p.grad = None

        def d1(x):
            return batch_jacobian(model, x, create_graph=True)[:, 0, :]

        d2 = batch_jacobian(d1, x, create_graph=True)
        lap = torch.sum(torch.diagonal(d2, dim1=1, dim2=2), dim=1, keepdim=True)
        loss = torch.mean((lap - source(x)) ** 2)
        loss.backward()
        return float(loss.detach())

    loss = closure()
    t0 = time.perf_counter()
    for _ in range(reps):
        closure()
    return loss, (time.perf_counter() - t0) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.rand(441, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1

    from kan_widget import KAN

    loss, ms = closure_time(KAN([2, 2, 1], grid=5, k=3, seed=1), x, args.reps)
    print(f"kan_widget  loss {loss:.6f}  closure {ms:8.1f} ms")
    try:
        import kan
    except ImportError:
        print("pykan not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:  # pykan writes files where it runs
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            model = kan.KAN(width=[2, 2, 1], grid=5, k=3, seed=1, auto_save=False)
            loss, ms = closure_time(model, x, args.reps)
        finally:
            os.chdir(cwd)
    print(f"pykan 0.2.8 loss {loss:.6f}  closure {ms:8.1f} ms")


if __name__ == "__main__":
    main()
