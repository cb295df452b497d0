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
``update_grid`` outside a training step has no :class:`ThreadChoice`, so it is one block with
``par=False``: its input check and its large products (the forward between layers) on one
thread too (inside a step the step's choice holds). On [10,32,32,1] B=10000 both had run at 2
threads: the other thread spent ~50 ms of CPU per call (mostly spinning) and the call 170-180
ms of process CPU; in the block 0 and 88-106 ms, the same knots and coefficients to the bit
(measured under load ~5, where no timing is quiet). ``refine`` still checks its input and runs
its products at the caller's count.

Nested blocks are one block: an inner :class:`OneThread` (the fused layer inside a step) keeps
the outermost block's caller count for :meth:`OneThread.mm`, and only the outermost block
restores it. The count is only ever lowered, never raised above what the caller set.

Whether the large products gain from the caller's threads depends on the load, not on sizes
alone: with the cores free two threads win, with another process on a core a product at two
threads waits for a descheduled worker and the spinning worker steals the main thread's core.
Measured in one process, alternated, 2 threads, load ~6 (a shared 2-core machine), Adam steps
with products at 2 threads against all on one: [64,64,64,10] B=1024 470 vs 181 ms,
[10,32,32,1] B=10000 430 vs 228 ms, [4,100,100,100,1] B=1000 297 vs 154 ms; quiet, the same
products at 2 threads made the steps faster. So a repeated block (a training step) takes a
:class:`ThreadChoice`: it times the block both ways, per large product, keeps the faster, and
re-tries the other now and then (the load changes). A block with no large product is never
timed and runs as before. Outside a training step (a caller's own loop of forward and
``backward()``, the wide benchmark's) there is no step to time, so :func:`free_block` times
the caller's loop: the period between two forwards of the same fused layer (the first one
seen anchors it) is one iteration, run with the large products on the caller's threads or on
one as the anchor's :class:`ThreadChoice` says. Timing smaller blocks does not work: per
product, or per fused forward and per backward, both ways timed about equal while the loop
at 2 threads was 3x slower than on one (wide case under load: 411-468 ms a step choosing per
block, 509-567 at 2 threads, 141-179 on one, measured): the cost is the spinning workers'
theft of the main thread's core after the products and the pool's wake-ups in the ops around
them, which only a whole step's time sees.

Outside a step the engine's other ops in such a loop are one-thread blocks too: the layers'
weights and their gradient past ATen's grain (``fused.LayerWeights``: ``[100, 7, 100]`` and
up; ``coef``'s gradient made in its own layout, which autograd otherwise copied into at the
caller's count) and the spline penalty forward and backward (MKL's ``log2`` runs an OpenMP
region whatever its size). At 2 threads each woke the pool, the idle worker then spun ~8 ms
(18 ms of CPU an iteration), and under load each wake-up waited for a descheduled worker:
wide case, load ~9-10 on 2 cores, median 746 -> 237 ms an iteration as found and 958 -> 336
ms with one core busy, process CPU 178 -> 45 ms (1 thread: ~40; ``bench/ab_wide.py``,
measured). The caller's own ops (their loss) keep their count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

import torch

__all__ = [
    "ATEN_GRAIN",
    "PAR_FLOPS",
    "OneThread",
    "ThreadChoice",
    "caller_threads",
    "choice_for",
    "free_block",
    "thread_local_counts",
]

PAR_FLOPS = 1 << 24
ATEN_GRAIN = 1 << 15  # at::internal::GRAIN_SIZE: smaller elementwise ops run on the calling thread
_openmp: bool | None = None  # ATen's parallel backend is OpenMP (decided on first use)


class _Open(threading.local):
    """Per OS thread, while a :class:`OneThread` block is open: the caller's count (``n``,
    ``None``: no block open), the count large products may use (``mm_n``: ``n``, or 1 when
    the block's :class:`ThreadChoice` said so), and how many large products ran (``large``)."""

    n: int | None = None
    mm_n: int = 1
    large: int = 0


_open = _Open()


def caller_threads() -> int:
    """The thread count the caller chose: inside a :class:`OneThread` block, the count from
    before the outermost block; elsewhere ``torch.get_num_threads()``."""
    n = _open.n
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
    thread count for large products (``par=False``: one thread for those too). ``torch.
    set_num_threads`` sets the calling thread's OpenMP and MKL counts (both thread-local), so
    other threads, a widget's training thread included, are unaffected, and the caller's setting
    is back when the block ends (or raises). Where the count is not thread-local
    (:func:`thread_local_counts`) nothing is changed. Nested blocks follow the outermost one
    (its count, its ``par``); after the outermost block, ``large`` is the number of products
    that passed ``PAR_FLOPS`` inside it."""

    __slots__ = ("large", "n", "outermost", "par")

    def __init__(self, par: bool = True):
        self.par = par
        self.large = 0

    def __enter__(self):
        outer = _open.n
        self.outermost = outer is None
        if outer is not None:  # nested: the outermost block set one thread and restores
            self.n = outer
            return self
        self.n = torch.get_num_threads() if thread_local_counts() else 1
        _open.n, _open.mm_n, _open.large = self.n, self.n if self.par else 1, 0
        if self.n > 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.outermost:
            self.large = _open.large
            _loop.large += self.large
            _open.n = None
            if self.n > 1:
                torch.set_num_threads(self.n)

    def mm(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.n > 1 and 2 * a.shape[0] * a.shape[1] * b.shape[1] >= PAR_FLOPS:
            _open.large += 1
            n = _open.mm_n
            if n > 1:
                torch.set_num_threads(n)
                try:
                    return a @ b
                finally:
                    torch.set_num_threads(1)
        return a @ b


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


class ThreadChoice:
    """Whether a repeated block's large products run on the caller's threads (``True``) or on
    one, decided by timing the block both ways.

    Use: ``par = choice.pick()``, run the block as ``OneThread(par)``, then ``choice.record(par,
    seconds, block.large)``. Times are per large product (an L-BFGS step runs a varying number
    of closures, each the same products), each way's estimate the median of its last
    ``WINDOW`` blocks. The first blocks alternate the two ways; then the faster one runs, and
    the other is tried again after ``gap`` blocks: the gap doubles (up to ``MAX_GAP``) while
    the other way stays slower, and a try that beats the estimate is followed at once by
    another, so a change of load switches the choice within a few blocks. Blocks without a
    large product are not recorded (the choice changes nothing there)."""

    WINDOW = 3
    MIN_GAP, MAX_GAP = 4, 32

    __slots__ = ("gap", "probe_in", "times")

    def __init__(self) -> None:
        self.times: tuple[list[float], list[float]] = ([], [])  # one thread, caller's threads
        self.gap = self.MIN_GAP
        self.probe_in = self.MIN_GAP

    def best(self) -> bool:
        """The way that is faster so far (``True``: the caller's threads; also before any
        block was timed both ways)."""
        one, par = self.times
        if not one or not par:
            return True
        return _median(par) <= _median(one)

    def pick(self) -> bool:
        one, par = self.times
        if len(one) < 2 or len(par) < 2:  # start: alternate, the caller's threads first
            return len(par) <= len(one)
        return self.best() if self.probe_in > 0 else not self.best()

    def record(self, par: bool, seconds: float, large: int) -> None:
        if large <= 0:
            return
        one, both = self.times
        started = len(one) >= 2 and len(both) >= 2
        before = self.best()
        arm = self.times[par]
        arm.append(seconds / large)
        del arm[: -self.WINDOW]
        if not started:
            return
        if par == before:  # the chosen way
            self.probe_in -= 1
            return
        # a try of the other way
        if self.best() != before:
            self.gap = self.MIN_GAP  # switched
            self.probe_in = self.gap
        elif seconds / large < _median(self.times[before]):
            self.probe_in = 0  # faster this time: try again at once
        else:
            self.gap = min(2 * self.gap, self.MAX_GAP)
            self.probe_in = self.gap


_choices: dict[Hashable, ThreadChoice] = {}
_choices_lock = threading.Lock()
_MAX_CHOICES = 64


def choice_for(key: Hashable) -> ThreadChoice:
    """The :class:`ThreadChoice` of the work ``key`` names (shapes, batch, optimiser), kept
    across calls so that each ``fit`` does not time both ways anew; at most ``_MAX_CHOICES``
    are kept (the oldest go first)."""
    with _choices_lock:
        c = _choices.pop(key, None)
        if c is None:
            c = ThreadChoice()
            if len(_choices) >= _MAX_CHOICES:
                del _choices[next(iter(_choices))]
        _choices[key] = c  # most recent last
        return c


class _Loop(threading.local):
    """Per OS thread, the caller's loop as :func:`free_block` sees it: the ``anchor`` key, when
    its last period began (``t``), the way that period runs (``par``), and the large products
    since (``large``)."""

    anchor: Hashable | None = None
    t: float = 0.0
    par: bool = True
    large: int = 0


_loop = _Loop()
LOOP_STALE_S = 5.0  # a longer gap between two anchors is a pause, not an iteration


def free_block(key: Hashable | None = None) -> OneThread:
    """The block for the fused layer's work outside a training step: inside an open block (a
    step: its own choice), with one thread asked for, or where counts are not per thread, a
    plain :class:`OneThread`; else one whose large products run as the caller's loop's
    :class:`ThreadChoice` says. ``key`` (a forward's shapes) marks a point of the loop: the
    first key seen (again after a pause of ``LOOP_STALE_S``) anchors it, and each return to
    the anchor ends one timed iteration and picks the way of the next; the other keys (the
    other layers, the backward: ``None``) run as the current iteration's way."""
    if _open.n is not None or torch.get_num_threads() < 2 or not thread_local_counts():
        return OneThread()
    lp = _loop
    if key is not None:
        now = time.perf_counter()
        stale = now - lp.t > LOOP_STALE_S
        if lp.anchor is None or (stale and key != lp.anchor):
            lp.anchor, lp.large = key, 0
            lp.t, lp.par = now, choice_for(("loop", key)).pick()
        elif key == lp.anchor:
            choice = choice_for(("loop", key))
            if not stale:
                choice.record(lp.par, now - lp.t, lp.large)
            lp.t, lp.par, lp.large = now, choice.pick(), 0
    return OneThread(lp.par)
