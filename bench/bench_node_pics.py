"""The kernel's cost of a two-input regression's node pictures per push (issue 15): one forward
pass over the 48x48 input square (``ClassView.frame(model, probabilities=False)``), median of
50, one thread.

    PYTHONPATH=. .venv/bin/python bench/bench_node_pics.py
"""

from __future__ import annotations

import time

import torch

from kan_widget import KAN, create_dataset
from kan_widget.widget import classify as cv


def main() -> None:
    torch.set_num_threads(1)
    data = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=500, test_num=100)
    view = cv.ClassView(data, 1, ["x", "y"], classes=False)
    for width in ([2, 5, 1], [2, 5, 5, 1]):
        model = KAN(width, grid=5, seed=0)
        for _ in range(5):
            view.frame(model, probabilities=False)
        times = []
        for _ in range(50):
            t = time.perf_counter()
            view.frame(model, probabilities=False)
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"{width}: node pictures per push, median {1e3 * times[25]:.2f} ms")


if __name__ == "__main__":
    main()
