"""pykan's Example_10 (relativistic velocity addition) as its notebook runs it, printing the final
Adam fit's trajectory: where the last value of the tutorial comes from.

    PYTHONPATH=. .venv/bin/python bench/pykan_example10.py [--engine kan] [--float64]

The notebook: ``KAN([2,1,1], grid=10)``, LBFGS 20 steps, ``arctanh`` fixed on both first-layer
edges, LBFGS 20 steps, ``tanh`` fixed on the last edge, then ``Adam(lr=1e-3)`` for 2000 steps
with ``singularity_avoiding=True``. Printed: the train RMSE before Adam, its minimum (and the
step), its last value, and every 100th value. pykan runs in a temporary directory (it writes
files) with ``auto_save=False``.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="kan_widget", choices=("kan_widget", "kan"))
    ap.add_argument("--float64", action="store_true", help="torch.set_default_dtype(float64)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.float64:
        torch.set_default_dtype(torch.float64)
    os.chdir(tempfile.mkdtemp(prefix="example10-"))
    if args.engine == "kan":
        from kan import KAN, create_dataset
    else:
        from kan_widget import KAN, create_dataset  # type: ignore[no-redef]
    model = KAN(width=[2, 1, 1], grid=10, k=3, auto_save=False)
    data = create_dataset(
        lambda x: (x[:, [0]] + x[:, [1]]) / (1 + x[:, [0]] * x[:, [1]]),
        n_var=2,
        ranges=[-0.9, 0.9],
    )
    model.fit(data, opt="LBFGS", steps=20, log=10**6)
    model.fix_symbolic(0, 0, 0, "arctanh", verbose=False)
    model.fix_symbolic(0, 1, 0, "arctanh", verbose=False)
    model.fit(data, opt="LBFGS", steps=20, update_grid=False, log=10**6)
    model.fix_symbolic(1, 0, 0, "tanh", verbose=False)
    hist = model.fit(
        data,
        opt="Adam",
        lr=1e-3,
        steps=2000,
        update_grid=False,
        singularity_avoiding=True,
        log=10**6,
    )
    tl = [float(v) for v in hist["train_loss"]]
    best = min(range(len(tl)), key=tl.__getitem__)
    dtype = "float64" if args.float64 else "float32"
    head = f"{args.engine} {dtype}: Adam first {tl[0]:.3g}, min {tl[best]:.3g} at step {best}"
    print(f"{head}, last {tl[-1]:.3g} (test {float(hist['test_loss'][-1]):.3g})")
    print("every 100th:", " ".join(f"{tl[i]:.2g}" for i in range(0, len(tl), 100)))


if __name__ == "__main__":
    main()
