"""Does ``update_grid`` outside a training step use a second thread? Per call: wall time, process
CPU and the CPU time of the process's other threads (``/proc/self/task/*/schedstat``: OpenMP
workers, spinning or working), quiet and with one core kept busy (bench_engine.BusyCore),
alternating. The other threads' CPU does not depend on the load; times do.

    PYTHONPATH=. .venv/bin/python bench/bench_refit_threads.py [--width 10,32,32,1]
        [--batch 10000] [--reps 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import BusyCore, make_data, ours_model


def other_threads_ns() -> int:
    main = str(os.getpid())
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if tid == main:
            continue
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", default="10,32,32,1")
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    width = [int(v) for v in args.width.split(",")]
    data = make_data(width, args.batch, "cpu")
    x = data["train_input"]
    model = ours_model(width, "cpu")
    # a few training steps first, as in bench_engine (the thread pool is started)
    model.fit(data, opt="Adam", steps=3, update_grid=False, lamb=0.01)
    res: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for _ in range(args.reps):
        for busy in (False, True):
            with BusyCore(busy):
                w0, c0, t0 = other_threads_ns(), time.process_time(), time.perf_counter()
                model.update_grid(x)
                res[busy].append(
                    (time.perf_counter() - t0, time.process_time() - c0, other_threads_ns() - w0)
                )
    for busy, rows in res.items():
        wall, cpu, other = (statistics.median(r[i] for r in rows) for i in range(3))
        print(
            f"update_grid {width} B={args.batch} {'one core busy' if busy else 'quiet':>13}: "
            f"wall {1e3 * wall:.0f} ms, process CPU {1e3 * cpu:.0f} ms, other threads' CPU "
            f"{other / 1e6:.1f} ms"
        )
    print(
        f"(torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}, medians of "
        f"{args.reps})"
    )


if __name__ == "__main__":
    main()
