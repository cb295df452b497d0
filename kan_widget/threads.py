"""How many threads torch runs the engine's small operations on: one place for the rule.

ATen splits any op over 32K elements across its thread pool, and each split costs a wake-up of the
other threads (tens of microseconds, far more on a loaded machine) for tens of microseconds of
work per thread. The fused layer therefore runs its elementwise ops and small matmuls on the
calling thread (its elementwise work is chunked to ~2^18 floats per op, ``splines.chunks``,
whatever the layer's size); measured at 2 threads against splitting: [4,16,16,1] B=1000 Adam step
11.9 -> 9.9 ms, [10,32,32,1] B=10000 230 -> 130 ms. Matmuls of at least ``PAR_FLOPS`` use the
caller's threads (:meth:`OneThread.mm`). The batched symbolic fit is many medium-sized ops; with
two threads each ends in a thread barrier, and on a busy 2-core machine that barrier cost
milliseconds per op: 79 s instead of 5.9 s for 336 edges x 29 functions (measured).

A training step runs whole on one thread (``Trainer.step`` is one :class:`OneThread` block:
forward, backward, penalty, optimiser, test loss, grid update); only products of at least
``PAR_FLOPS`` use the caller's threads. Outside the fused layer, small ops still woke the pool:
MKL's vector functions (``sqrt`` in Adam, ``log2`` in the entropy penalty) run an OpenMP region
whatever their size, and OpenMP's workers spin-wait ~3 ms between regions, so on a loaded
machine one ``log2`` of 16 floats waited for a descheduled worker: [4,16,16,1] B=1000 Adam
step 217-268 ms at 2 threads against 31-54 ms at 1 (load average 11, measured). Switching the
count costs ~0.2 us a pair (``omp_set_num_threads``; the pool is not restarted), so the policy
is per step, and a user's callback between steps sees their own count.

Grid refits (``update_grid``, ``refine``, ``KANLayer.refit_grid``) are one block too: their sort,
float64 basis recursions, Gram products and small LAPACK solves each woke the pool and MKL's
threads, and with another process on one core ``update_grid`` on [4,16,16,1] B=1000 took 161 ms
against 11 ms quiet (in one run under load 1.7: 1267 ms at 2 threads, 43 ms in the block).

Nested blocks are one block: an inner :class:`OneThread` (the fused layer inside a step) keeps
the outermost block's caller count for :meth:`OneThread.mm`, and only the outermost block
restores it. The count is only ever lowered, never raised above what the caller set.
"""

from __future__ import annotations

import threading

import torch

__all__ = ["PAR_FLOPS", "OneThread", "caller_threads", "thread_local_counts"]

PAR_FLOPS = 1 << 24
_openmp: bool | None = None  # ATen's parallel backend is OpenMP (decided on first use)
# per OS thread: the caller's thread count while a OneThread block is open (None: none open)
_open = threading.local()


def caller_threads() -> int:
    """The thread count the caller chose: inside a :class:`OneThread` block, the count from
    before the outermost block; elsewhere ``torch.get_num_threads()``."""
    n = getattr(_open, "n", None)
    return torch.get_num_threads() if n is None else n


def thread_local_counts() -> bool:
    """Whether ``torch.set_num_threads`` is per calling thread: with the OpenMP backend (the
    official builds) it sets the thread's OpenMP and MKL counts; the native backend warns and
    ignores a change once its pool runs, and TBB's setting is process-wide, so there the engine
    leaves the thread count alone."""
    global _openmp
    if _openmp is None:
        _openmp = "parallel backend: OpenMP" in torch.__config__.parallel_info()
    return _openmp


class OneThread:
    """Context: the calling thread runs ATen ops on one thread; :meth:`mm` uses the caller's
    thread count for large products. ``torch.set_num_threads`` sets the calling thread's OpenMP
    and MKL counts (both thread-local), so other threads, a widget's training thread included,
    are unaffected, and the caller's setting is back when the block ends (or raises). Where the
    count is not thread-local (:func:`thread_local_counts`) nothing is changed."""

    __slots__ = ("n", "outermost")

    def __enter__(self):
        outer = getattr(_open, "n", None)
        self.outermost = outer is None
        if outer is not None:  # nested: the outermost block set one thread and restores
            self.n = outer
            return self
        self.n = torch.get_num_threads() if thread_local_counts() else 1
        _open.n = self.n
        if self.n > 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.outermost:
            _open.n = None
            if self.n > 1:
                torch.set_num_threads(self.n)

    def mm(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.n > 1 and 2 * a.shape[0] * a.shape[1] * b.shape[1] >= PAR_FLOPS:
            torch.set_num_threads(self.n)
            try:
                return a @ b
            finally:
                torch.set_num_threads(1)
        return a @ b
