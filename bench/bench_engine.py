"""Engine benchmark: kan-widget against pykan 0.2.8, side by side in one run.

    .venv/bin/python bench/bench_engine.py                 # full run (~5 min on 2 cores)
    .venv/bin/python bench/bench_engine.py --quick         # fewer repetitions (~2 min)
    .venv/bin/python bench/bench_engine.py --no-pykan      # ours only (targets not checked)
    .venv/bin/python bench/bench_engine.py --device cuda   # both engines on the GPU
    .venv/bin/python bench/bench_engine.py --no-busy       # skip the busy-machine column
    .venv/bin/python bench/bench_engine.py --shapes 4-16-16-1   # rows of these widths only

What is measured (float32, ``torch.set_num_threads(--threads)``, default 2):

- ``fit`` step: per-step wall time of ``fit(opt="Adam", lamb=0.01, update_grid=False, lr=1e-3)``,
  ours and pykan's (pykan's ``fit`` switches its symbolic branch off while no edge is symbolic,
  its best case). Both evaluate the test set (same size as the train set) after every step. Each
  engine's ``fit`` stamps the clock after every step (our ``callback``, pykan's ``metrics``); the
  figure is the median interval, so set-up, the first step of each call (optimiser state) and our
  final scoring pass are excluded. The two engines run alternately, ``reps`` calls each.
  MultKAN rows (multiplication nodes, ``width=[4, [16, 8], [16, 8], 1]``, pykan's
  ``mult_arity=2``) are timed the same way (``--shapes 4-16x8-16x8-1`` names them).
- MLP floor: ``nn.Linear`` + SiLU stack of the same widths (node counts for MultKAN rows), one
  Adam step plus the test forward.
- ``update_grid``: ours ``model.update_grid(x)`` vs pykan ``update_grid_from_samples(x)``.
- peak memory: one subprocess per (engine, shape). After model and data exist and one warm-up
  ``fit`` call (so kernel code pages and lazily started thread pools are already resident),
  gradients are dropped, free heap is returned (``malloc_trim``), the kernel's peak-RSS counter is
  reset (``/proc/self/clear_refs`` = 5) and a ``fit`` call of 3 steps runs; the figure is peak
  RSS during that call minus RSS before it: activations kept for backward, gradients, optimiser
  state and temporaries, i.e. what training took from the OS. On CUDA it is
  ``torch.cuda.max_memory_allocated`` above the starting allocation instead.
- wide case: forward + backward of MSE + 0.01 * regulariser, [4,100,100,100,1], B=1000, G=3.
- ops per LBFGS closure, [2,5,1] B=1000: aten ops dispatched (forward + penalty + backward)
  counted with a ``TorchDispatchMode``, inside the engines' own closures: a step's first closure
  (ours computes the input layer's features there) and, for ours, the steady state (the step's
  next closure, as the other ~24 evaluations of an L-BFGS step; ``tests/test_speed_ops.py``
  pins its bound). Counts do not depend on the CPU or its load.
- ms per LBFGS closure, ours only (info): [2,5,1] with the regulariser and [2,1,1] without,
  B=1000, timed inside ``Trainer``'s LBFGS steps (the symbolic pipeline's small fits).
- tape (info): CPU ms (``time.process_time``) and aten ops per LBFGS closure of the objectives
  the trainer's tape took over from autograd (symbolic edges, classification's cross-entropy),
  each also forced through autograd, the two alternating step by step.

Busy machine (``--no-busy`` skips it): every timed row (fit steps, ``update_grid``, the wide case,
the LBFGS closures) is measured again while a second process keeps one core busy (a Python loop,
:class:`BusyCore`, started and stopped by the benchmark: killed when its block ends, on Ctrl-C
too, and it exits by itself if the benchmark dies). Quiet and busy phases alternate within each
row, ours and pykan side by side in both, so load changes hit both columns alike. The second
table prints quiet and busy medians, busy/quiet per engine and our speed-up under load. Targets:
busy/quiet at most ``BUSY_TARGET`` for every row of ours, and at least 5x pykan's steps/s under
load on the three larger ``fit`` shapes.

Timings on a shared machine are noisy: only ratios measured in the same run mean anything; the load
average is printed with the table.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import itertools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

FIT_CASES = [
    ([2, 5, 1], 1000),
    ([4, 16, 16, 1], 1000),
    ([10, 32, 32, 1], 10000),
    ([64, 64, 64, 10], 1024),
]
MULT_CASES = [([2, [5, 2], 1], 1000), ([4, [16, 8], [16, 8], 1], 1000)]
GRID_CASES = [([4, 16, 16, 1], 1000), ([10, 32, 32, 1], 10000)]
WIDE = ([4, 100, 100, 100, 1], 1000)
LAMB = 0.01
LR = 1e-3
METRIC = "edge_forward_spline_n"
FIT_TARGET = {(2, 5, 1): 2.0, (2, (5, 2), 1): 2.0}  # least speed-up over pykan; others 5x
UPDATE_GRID_TARGET = 10.0
WIDE_AIM_MS = 20.0
OPS_BOUND = 240  # tests/test_speed_ops.py: the steady-state closure's pinned bound
BUSY_TARGET = 1.3  # ours: busy time / quiet time, every timed row
BUSY_FIT_TARGET = 5.0  # speed-up over pykan under load, fit rows but [2, 5, 1]


# ------------------------------------------------------------------------------------------ utils
def key(width) -> tuple:
    """A width as a hashable key: ``[2, [5, 2], 1]`` -> ``(2, (5, 2), 1)``."""
    return tuple(tuple(w) if isinstance(w, (list, tuple)) else w for w in width)


def node_counts(width) -> list[int]:
    """Nodes per layer (a multiplication layer ``[n_sum, n_mult]`` has ``n_sum + n_mult``)."""
    return [sum(w) if isinstance(w, (list, tuple)) else w for w in width]


def have_pykan() -> bool:
    try:
        import kan  # noqa: F401
    except Exception:
        return False
    return True


@contextlib.contextmanager
def pykan_sandbox():
    """pykan writes ./model, ./figures, copy_temp_* and a tqdm bar: run it in a scratch directory
    with stderr captured."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="kan-bench-") as d:
        os.chdir(d)
        try:
            with (
                contextlib.redirect_stderr(io.StringIO()),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                yield
        finally:
            os.chdir(old)


# runs in the child: spin, and stop once the parent is gone (even if it was killed outright)
_SPIN = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(200000):
        pass
"""


class BusyCore(contextlib.AbstractContextManager):
    """A second process that keeps one core busy while the block runs (``busy=False``: does
    nothing). The child is killed when the block ends, however it ends (Ctrl-C included)."""

    def __init__(self, busy: bool = True):
        self.busy = busy
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        if self.busy:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL, close_fds=True
            )
            time.sleep(0.3)  # interpreter start-up: spinning from here on
            if self.proc.poll() is not None:
                raise RuntimeError("the busy-core process exited at once")
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        return None


def phases(cfg) -> tuple[bool, ...]:
    """The load phases of each repetition: quiet, then (unless ``--no-busy``) one core busy."""
    return (False,) if cfg.no_busy else (False, True)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_data(width, batch, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    n_in, n_out = width[0], width[-1]
    w = torch.randn(n_in, n_out, generator=g) * (2.0 / math.sqrt(n_in))

    def f(x):
        return torch.sin(x @ w) + 0.1 * (x**2).sum(1, keepdim=True)

    x = torch.rand(batch, n_in, generator=g) * 2 - 1
    xt = torch.rand(batch, n_in, generator=g) * 2 - 1
    d = {"train_input": x, "train_label": f(x), "test_input": xt, "test_label": f(xt)}
    return {k: v.to(device) for k, v in d.items()}


def ours_model(width, device, grid=3):
    from kan_widget import KAN

    return KAN(width, grid=grid, k=3, seed=0, device=device)


def pykan_model(width, device, grid=3):
    import kan

    with pykan_sandbox():
        state = torch.get_rng_state()
        width = [list(w) if isinstance(w, (list, tuple)) else w for w in width]  # pykan edits it
        model = kan.KAN(width=width, grid=grid, k=3, seed=0, auto_save=False, device=device)
        torch.set_rng_state(state)  # pykan reseeds the global RNG
    return model


def ours_fit_intervals(model, data, steps, device) -> list[float]:
    stamps: list[float] = []

    def cb(step, metrics):
        sync(device)
        stamps.append(time.perf_counter())

    model.fit(data, opt="Adam", steps=steps, lr=LR, lamb=LAMB, update_grid=False, callback=cb)
    return [b - a for a, b in itertools.pairwise(stamps)]


def pykan_fit_intervals(model, data, steps, device) -> list[float]:
    stamps: list[float] = []

    def stamp():
        sync(device)
        stamps.append(time.perf_counter())
        return torch.zeros(())

    with pykan_sandbox():
        model.fit(
            data, opt="Adam", steps=steps, lr=LR, lamb=LAMB, update_grid=False, metrics=[stamp]
        )
    return [b - a for a, b in itertools.pairwise(stamps)]


def mlp_step_time(width, data, steps, device) -> float:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(node_counts(width)):
        layers += [nn.Linear(a, b), nn.SiLU()]
    mlp = nn.Sequential(*layers[:-1]).to(device)
    opt = torch.optim.Adam(mlp.parameters(), lr=LR)
    x, y = data["train_input"], data["train_label"]
    xt, yt = data["test_input"], data["test_label"]
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = ((mlp(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            float(((mlp(xt) - yt) ** 2).mean())
        sync(device)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def med_ms(xs) -> float:
    return 1e3 * statistics.median(xs) if xs else float("nan")


def min_ms(xs) -> float:
    return 1e3 * min(xs) if xs else float("nan")


def _times(t_ours: dict, t_pk: dict) -> dict:
    """Row fields from ``{busy: [seconds]}`` of each engine: quiet medians and bests, busy
    medians (nan where not measured)."""
    return {
        "ours_ms": med_ms(t_ours[False]),
        "pykan_ms": med_ms(t_pk[False]),
        "ours_min": min_ms(t_ours[False]),
        "pykan_min": min_ms(t_pk[False]),
        "ours_busy_ms": med_ms(t_ours[True]),
        "pykan_busy_ms": med_ms(t_pk[True]),
    }


def _busy_note(row: dict) -> str:
    if row["ours_busy_ms"] != row["ours_busy_ms"]:
        return ""
    return (
        f"; one core busy: ours {row['ours_busy_ms']:.2f} ms, pykan {row['pykan_busy_ms']:.2f} ms"
    )


# ------------------------------------------------------------------------------------- sections
def chosen(cfg, cases):
    """The cases whose width ``--shapes`` names (all without it)."""
    if not cfg.shapes:
        return cases
    keep = {
        tuple(tuple(int(u) for u in v.split("x")) if "x" in v else int(v) for v in w.split("-"))
        for w in cfg.shapes.split(",")
    }
    return [(w, b) for w, b in cases if key(w) in keep]


def bench_fit(cfg, use_pykan: bool, cases=FIT_CASES) -> list[dict]:
    rows = []
    for width, batch in chosen(cfg, cases):
        big = batch * sum(a * b for a, b in itertools.pairwise(node_counts(width))) > 5e6
        steps = (4 if big else 8) if cfg.quick else (6 if big else 21)
        reps = 2 if cfg.quick else 3
        data = make_data(width, batch, cfg.device)
        ours = ours_model(width, cfg.device)
        ours_fit_intervals(ours, data, 2, cfg.device)  # warm-up
        pk = None
        if use_pykan:
            pk = pykan_model(width, cfg.device)
            pykan_fit_intervals(pk, data, 2, cfg.device)
        t_ours: dict[bool, list[float]] = {False: [], True: []}
        t_pk: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(reps):  # alternate, so load changes hit both engines alike
            for busy in phases(cfg):
                with BusyCore(busy):
                    t_ours[busy] += ours_fit_intervals(ours, data, steps, cfg.device)
                    if pk is not None:
                        t_pk[busy] += pykan_fit_intervals(pk, data, steps, cfg.device)
        floor = mlp_step_time(width, data, 10 if cfg.quick else 30, cfg.device)
        rows.append(
            {
                "width": width,
                "batch": batch,
                "mlp_ms": 1e3 * floor,
                "n": (len(t_ours[False]), len(t_pk[False])),
                **_times(t_ours, t_pk),
            }
        )
        print(
            f"  fit {width} B={batch}: ours {rows[-1]['ours_ms']:.2f} ms, "
            f"pykan {rows[-1]['pykan_ms']:.2f} ms, MLP {1e3 * floor:.2f} ms" + _busy_note(rows[-1]),
            file=sys.stderr,
        )
        del ours, pk, data
        gc.collect()
    return rows


def bench_update_grid(cfg, use_pykan: bool) -> list[dict]:
    rows = []
    for width, batch in chosen(cfg, GRID_CASES):
        reps = 2 if cfg.quick else 4
        data = make_data(width, batch, cfg.device)
        x = data["train_input"]
        ours = ours_model(width, cfg.device)
        pk = pykan_model(width, cfg.device) if use_pykan else None
        t_ours: dict[bool, list[float]] = {False: [], True: []}
        t_pk: dict[bool, list[float]] = {False: [], True: []}
        for i in range(reps + 1):
            for busy in phases(cfg):
                with BusyCore(busy):
                    sync(cfg.device)
                    t0 = time.perf_counter()
                    ours.update_grid(x)
                    sync(cfg.device)
                    if i:
                        t_ours[busy].append(time.perf_counter() - t0)
                    if pk is not None:
                        with pykan_sandbox():
                            t0 = time.perf_counter()
                            pk.update_grid_from_samples(x)
                            sync(cfg.device)
                        if i:
                            t_pk[busy].append(time.perf_counter() - t0)
        rows.append({"width": width, "batch": batch, **_times(t_ours, t_pk)})
        print(
            f"  update_grid {width} B={batch}: ours {rows[-1]['ours_ms']:.1f} ms, "
            f"pykan {rows[-1]['pykan_ms']:.1f} ms" + _busy_note(rows[-1]),
            file=sys.stderr,
        )
    return rows


def wide_loss(model, x, y):
    """The wide row's objective (MSE + LAMB x the penalty) by the fused forward with edge
    statistics: the one step every wide-case benchmark times."""
    from kan_widget.regularizer import edge_penalty

    pred, stats = model.forward_stats(x, METRIC)
    reg = edge_penalty([s.value for s in stats], METRIC, 1.0, 2.0)
    return ((pred - y) ** 2).mean() + LAMB * reg


def wide_setup(device: str = "cpu"):
    """The wide case as every wide-case benchmark times it: ``(model, x, y, step)``, ``step()``
    clearing the gradients, then :func:`wide_loss` and its backward; returns the loss."""
    width, batch = WIDE
    data = make_data(width, batch, device)
    x, y = data["train_input"], data["train_label"]
    model = ours_model(width, device)

    def step():
        model.zero_grad(set_to_none=True)
        loss = wide_loss(model, x, y)
        loss.backward()
        return loss

    return model, x, y, step


def bench_wide(cfg, use_pykan: bool) -> dict:
    width, batch = WIDE
    reps = 5 if cfg.quick else 15
    _, x, y, step = wide_setup(cfg.device)

    def step_ours():
        step()
        sync(cfg.device)

    pk = None
    if use_pykan:
        pk = pykan_model(width, cfg.device)
        pk.symbolic_enabled = False  # as pykan's fit does while no edge is symbolic

    def step_pk():
        pk.zero_grad(set_to_none=True)
        pred = pk(x)
        reg = pk.reg(METRIC, 1.0, 2.0, 0.0, 0.0)
        (((pred - y) ** 2).mean() + LAMB * reg).backward()
        sync(cfg.device)

    t_ours: dict[bool, list[float]] = {False: [], True: []}
    t_pk: dict[bool, list[float]] = {False: [], True: []}
    # a phase each with pykan (its steps are long); ours alone: the phases alternate in three
    # rounds, so a drifting load hits both columns alike (and the thread choice meets the
    # change of load three times, as a user's loop would)
    rounds = 1 if pk is not None else 3
    for busy in phases(cfg) * rounds:
        with BusyCore(busy):
            for i in range(max(reps // rounds, 3) + 1):
                t0 = time.perf_counter()
                step_ours()
                if i:
                    t_ours[busy].append(time.perf_counter() - t0)
                if pk is not None and (i < 4 or not cfg.quick):
                    t0 = time.perf_counter()
                    step_pk()
                    if i:
                        t_pk[busy].append(time.perf_counter() - t0)
    row = {"width": width, "batch": batch, **_times(t_ours, t_pk)}
    print(
        f"  wide {width} B={batch}: ours {row['ours_ms']:.1f} ms, pykan {row['pykan_ms']:.1f} ms"
        + _busy_note(row),
        file=sys.stderr,
    )
    return row


class OpCounter:
    """Counts aten ops dispatched while active (forward and backward alike)."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counts: Counter = Counter()

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counts[func.overloadpacket.__name__] += 1
                return func(*args, **(kwargs or {}))

        self.counts, self._mode = counts, _Mode()

    def __enter__(self):
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def count_closure_ops(cfg, use_pykan: bool) -> dict:
    """Ops of one LBFGS closure, taken from inside each engine's own ``fit``/``Trainer``: the
    optimiser's ``step`` is replaced by one that calls the closure once under the counter."""
    from kan_widget.training import Trainer

    width, batch = [2, 5, 1], 1000
    data = make_data(width, batch, cfg.device)
    ours = ours_model(width, cfg.device)
    trainer = Trainer(ours, data, opt="LBFGS", lamb=LAMB, update_grid=False)
    ours_counter, steady_counter = OpCounter(), OpCounter()

    def one_closure(closure, start=None):
        with ours_counter:
            closure()
        with steady_counter:  # the input layer's features are reused from here on
            return closure()

    trainer._optimizer.step = one_closure
    trainer.step()
    out = {
        "ours": ours_counter.total,
        "ours_steady": steady_counter.total,
        "ours_top": steady_counter.counts.most_common(12),
        "pykan": None,
        "pykan_top": None,
    }
    if use_pykan:
        import kan  # noqa: F401  (kan.MultKAN is the class; the module is in sys.modules)

        mk = sys.modules["kan.MultKAN"]
        pk = pykan_model(width, cfg.device)
        pk_counter = OpCounter()

        class OneClosure:
            def __init__(self, params, **kw):
                self.params = list(params)

            def zero_grad(self):
                for p in self.params:
                    p.grad = None

            def step(self, closure):
                with pk_counter:
                    return closure()

        real = mk.LBFGS
        mk.LBFGS = OneClosure
        try:
            with pykan_sandbox():
                pk.fit(data, opt="LBFGS", steps=1, lamb=LAMB, update_grid=False)
        finally:
            mk.LBFGS = real
        out["pykan"], out["pykan_top"] = pk_counter.total, pk_counter.counts.most_common(12)
    return out


def time_closures(cfg) -> list[dict]:
    """ms per LBFGS closure of our ``Trainer`` (forward, penalty, backward), B=1000: what the
    symbolic pipeline's small-model fits spend their time in; [2,5,1] with the regulariser,
    [2,1,1] without."""
    from kan_widget.training import Trainer

    rows = []
    for width, lamb in (([2, 5, 1], LAMB), ([2, 1, 1], 0.0)):
        data = make_data(width, 1000, cfg.device)
        trainer = Trainer(
            ours_model(width, cfg.device), data, opt="LBFGS", lamb=lamb, update_grid=False
        )
        times: list[float] = []
        real = trainer._optimizer.step

        def timed_step(closure, start=None, real=real, times=times):
            def timed():
                t0 = time.perf_counter()
                loss = closure()
                sync(cfg.device)
                times.append(time.perf_counter() - t0)
                return loss

            return real(timed, start=start)

        trainer._optimizer.step = timed_step
        for _ in range(5 if cfg.quick else 15):
            trainer.step()
        n_quiet = len(times)
        if not cfg.no_busy:  # the same number of steps again, one core busy
            with BusyCore():
                for _ in range(5 if cfg.quick else 15):
                    trainer.step()
        quiet, busy_times = times[20:n_quiet], times[n_quiet + 20 :]
        rows.append(
            {
                "width": width,
                "lamb": lamb,
                "ms": med_ms(quiet),
                "min": min_ms(times[:n_quiet]),
                "busy_ms": med_ms(busy_times),
                "n": len(times),
            }
        )
        print(
            f"  LBFGS closure {width} lamb={lamb}: {rows[-1]['ms']:.2f} ms "
            f"(best {rows[-1]['min']:.2f}; one core busy {rows[-1]['busy_ms']:.2f})",
            file=sys.stderr,
        )
    return rows


def _tape_cases(device):
    """(name, model, data, lamb) of the objectives the tape took over from autograd: symbolic
    edges (kan_widget/symtape.py) and classification's cross-entropy."""
    from kan_widget import KAN

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1000, 2, generator=g) * 2 - 1).to(device)
    y = torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)
    reg = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    cls = ((x[:, 0] > 0).long() + (x[:, 1] > 0.3).long()) % 3
    clf = {"train_input": x, "train_label": cls, "test_input": x, "test_label": cls}

    def all_symbolic():
        m = KAN([2, 1, 1], grid=5, k=3, seed=0, device=device)
        p = torch.tensor([[3.14, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
        m.layers[0].set_symbolic([0, 1], [0, 0], ["sin", "x^2"], p)
        m.layers[1].set_symbolic([0], [0], ["exp"])
        return m

    def partly_symbolic():
        m = KAN([2, 5, 1], grid=5, k=3, seed=0, device=device)
        m.layers[0].set_symbolic([0, 1, 1], [0, 0, 3], ["sin", "x^2", "x"])
        m.layers[1].set_symbolic([0], [0], ["exp"])
        return m

    return [
        ("all edges symbolic, [2, 1, 1], λ=0", all_symbolic, reg, 0.0),
        ("4 of 15 edges symbolic, [2, 5, 1], λ=0.01", partly_symbolic, reg, LAMB),
        (
            "3-class cross-entropy, [2, 5, 3], λ=0.01",
            lambda: KAN([2, 5, 3], grid=5, k=3, seed=0, device=device),
            clf,
            LAMB,
        ),
    ]


def time_tape(cfg) -> list[dict]:
    """CPU ms and aten ops per LBFGS closure on the trainer's tape and through autograd (the
    path these objectives took before), alternating the two paths step by step."""
    import kan_widget.training as training
    from kan_widget.training import Trainer

    rows = []
    real_ok = training.tape_ok
    for name, make, data, lamb in _tape_cases(cfg.device):
        res = {}
        trainers = {}
        for tape in (True, False):
            training.tape_ok = real_ok if tape else (lambda *a: False)
            try:
                tr = Trainer(make(), data, opt="LBFGS", lamb=lamb, update_grid=False)
                counter = OpCounter()
                real = tr._optimizer.step
                times: list[float] = []

                def timed_step(closure, start=None, real=real, times=times, counter=counter):
                    def timed():
                        t0 = time.process_time()
                        loss = closure()
                        sync(cfg.device)
                        times.append(time.process_time() - t0)
                        return loss

                    if not counter.total:
                        closure()
                        with counter:  # a steady closure
                            closure()
                    return real(timed, start=start)

                tr._optimizer.step = timed_step
                trainers[tape] = (tr, times, counter)
            finally:
                training.tape_ok = real_ok
        for _ in range(3 if cfg.quick else 8):
            for tape in (True, False):
                training.tape_ok = real_ok if tape else (lambda *a: False)
                try:
                    trainers[tape][0].step()
                finally:
                    training.tape_ok = real_ok
        for tape, (_, times, counter) in trainers.items():
            res[tape] = (med_ms(times), counter.total)
        rows.append(
            {
                "name": name,
                "tape_ms": res[True][0],
                "tape_ops": res[True][1],
                "autograd_ms": res[False][0],
                "autograd_ops": res[False][1],
            }
        )
        print(
            f"  tape {name}: {res[True][0]:.2f} ms ({res[True][1]} ops) vs autograd "
            f"{res[False][0]:.2f} ms ({res[False][1]} ops)",
            file=sys.stderr,
        )
    return rows


def render_tape(rows) -> str:
    lines = [
        "| LBFGS closure, B=1000 (CPU time) | tape | autograd | autograd / tape |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {_fmt_ms(r['tape_ms'])} ({r['tape_ops']} ops) | "
            f"{_fmt_ms(r['autograd_ms'])} ({r['autograd_ops']} ops) | "
            f"{_x(r['autograd_ms'] / r['tape_ms'])} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- memory
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def mem_child(engine: str, width, batch, steps, device, threads) -> dict:
    """Run in a fresh process: peak memory of ``steps`` fit steps above the state before."""
    torch.set_num_threads(threads)
    data = make_data(width, batch, device)
    model = ours_model(width, device) if engine == "ours" else pykan_model(width, device)
    # warm-up call: code pages of the kernels used and lazily initialised libraries (thread pools,
    # MKL buffers) become resident here, not during the measurement (they are not training memory)
    run = ours_fit_intervals if engine == "ours" else pykan_fit_intervals
    run(model, data, 2, device)
    for p in model.parameters():
        p.grad = None
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
            f.write("5")
        base = _rss_kib("VmRSS") * 1024
    run(model, data, steps, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _rss_kib("VmHWM") * 1024
    return {"engine": engine, "peak_bytes": peak - base}


def bench_memory(cfg, use_pykan: bool) -> list[dict]:
    rows = []
    engines = ["ours", "pykan"] if use_pykan else ["ours"]
    for width, batch in chosen(cfg, FIT_CASES):
        row = {"width": width, "batch": batch, "ours_mib": float("nan"), "pykan_mib": float("nan")}
        for engine in engines:
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--_mem-child",
                engine,
                "--_width",
                ",".join(map(str, width)),
                "--_batch",
                str(batch),
                "--device",
                cfg.device,
                "--threads",
                str(cfg.threads),
            ]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
            if res.returncode != 0 or not lines:
                print(
                    f"  memory child failed ({engine} {width}): {res.stderr[-500:]}",
                    file=sys.stderr,
                )
                continue
            row[f"{engine}_mib"] = json.loads(lines[-1])["peak_bytes"] / 2**20
        print(
            f"  memory {width} B={batch}: ours {row['ours_mib']:.1f} MiB, "
            f"pykan {row['pykan_mib']:.1f} MiB",
            file=sys.stderr,
        )
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------- table
def _w(width, batch) -> str:
    return f"{width} B={batch}"


def _fmt_ms(v) -> str:
    if v != v:
        return "–"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def _mib(v) -> str:
    return "–" if v != v else f"{v:.1f} MiB"


def _x(v, suffix="") -> str:
    return "–" if v != v else f"{v:.1f}x{suffix}"


def _verdict(ok) -> str:
    return "–" if ok is None else ("PASS" if ok else "FAIL")


def render(fit_rows, grid_rows, mem_rows, wide, ops, use_pykan, closures=()) -> tuple[str, bool]:
    lines = [
        "| case | ours | pykan 0.2.8 | ratio | ratio of best | MLP floor | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def best(r):
        return r["pykan_min"] / r["ours_min"] if use_pykan else float("nan")

    all_ok = True
    for r in fit_rows:
        need = FIT_TARGET.get(key(r["width"]), 5.0)
        ratio = r["pykan_ms"] / r["ours_ms"] if use_pykan else float("nan")
        ok = None if not use_pykan else ratio >= need
        all_ok &= ok is not False
        lines.append(
            f"| fit Adam step, λ=0.01, {_w(r['width'], r['batch'])} | {_fmt_ms(r['ours_ms'])} | "
            f"{_fmt_ms(r['pykan_ms'])} | {_x(ratio, ' steps/s')} | {_x(best(r))} | "
            f"{_fmt_ms(r['mlp_ms'])} "
            f"({r['ours_ms'] / r['mlp_ms']:.1f}x) | ≥ {need:g}x | {_verdict(ok)} |"
        )
    for r in grid_rows:
        ratio = r["pykan_ms"] / r["ours_ms"] if use_pykan else float("nan")
        ok = None if not use_pykan else ratio >= UPDATE_GRID_TARGET
        all_ok &= ok is not False
        lines.append(
            f"| update_grid, {_w(r['width'], r['batch'])} | {_fmt_ms(r['ours_ms'])} | "
            f"{_fmt_ms(r['pykan_ms'])} | {_x(ratio, ' faster')} | {_x(best(r))} | | "
            f"≥ {UPDATE_GRID_TARGET:g}x | "
            f"{_verdict(ok)} |"
        )
    for r in mem_rows:
        ratio = r["ours_mib"] / r["pykan_mib"] if use_pykan else float("nan")
        ok = None if not (use_pykan and ratio == ratio) else ratio <= 1.0
        all_ok &= ok is not False
        lines.append(
            f"| peak memory of fit steps, {_w(r['width'], r['batch'])} | {_mib(r['ours_mib'])} "
            f"| {_mib(r['pykan_mib'])} | {'–' if ratio != ratio else f'{ratio:.2f}x'} | | | "
            f"≤ 1x (pykan) | {_verdict(ok)} |"
        )
    ratio = wide["pykan_ms"] / wide["ours_ms"] if use_pykan else float("nan")
    ok = wide["ours_ms"] <= WIDE_AIM_MS
    aim = "–" if wide["ours_ms"] != wide["ours_ms"] else ("met" if ok else "missed")
    lines.append(
        f"| fwd+bwd with regulariser, {_w(wide['width'], wide['batch'])}, G=3 | "
        f"{_fmt_ms(wide['ours_ms'])} (best {_fmt_ms(wide['ours_min'])}) | "
        f"{_fmt_ms(wide['pykan_ms'])} | {_x(ratio)} | {_x(best(wide))} | | "
        f"~{WIDE_AIM_MS:g} ms (aim) | {aim} |"
    )
    pk_ops = ops["pykan"] if ops["pykan"] is not None else "–"
    lines.append(
        f"| aten ops per LBFGS closure, [2, 5, 1] B=1000 | {ops['ours']} | {pk_ops} | "
        f"| | | (info) | |"
    )
    lines.append(
        f"| aten ops per LBFGS closure, [2, 5, 1] B=1000, steady state | "
        f"{ops.get('ours_steady', '–')} | | | | | ≤ {OPS_BOUND} (test) | |"
    )
    for r in closures:
        lines.append(
            f"| ms per LBFGS closure (ours), {_w(r['width'], 1000)}, λ={r['lamb']:g} | "
            f"{_fmt_ms(r['ms'])} (best {_fmt_ms(r['min'])}) | | | | | (info) | |"
        )
    return "\n".join(lines), all_ok


def render_busy(fit_rows, grid_rows, wide, closures, use_pykan) -> tuple[str, bool]:
    lines = [
        "| case | ours quiet | ours busy | busy/quiet | pykan quiet | pykan busy | busy/quiet "
        "| speed-up under load | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    all_ok = True

    def line(name, r, need_speedup=None):
        nonlocal all_ok
        ours_r = r["ours_busy_ms"] / r["ours_ms"]
        pk_r = r["pykan_busy_ms"] / r["pykan_ms"] if use_pykan else float("nan")
        up = r["pykan_busy_ms"] / r["ours_busy_ms"] if use_pykan else float("nan")
        ok = None if ours_r != ours_r else ours_r <= BUSY_TARGET
        target = f"ours ≤ {BUSY_TARGET:g}x"
        if need_speedup is not None:
            target += f", ≥ {need_speedup:g}x pykan"
            if use_pykan and ok is not None:
                ok = ok and up >= need_speedup
        all_ok &= ok is not False
        lines.append(
            f"| {name} | {_fmt_ms(r['ours_ms'])} | {_fmt_ms(r['ours_busy_ms'])} | {_x(ours_r)} | "
            f"{_fmt_ms(r['pykan_ms'])} | {_fmt_ms(r['pykan_busy_ms'])} | {_x(pk_r)} | "
            f"{_x(up)} | {target} | {_verdict(ok)} |"
        )

    for r in fit_rows:
        small = key(r["width"]) in FIT_TARGET
        line(
            f"fit Adam step, {_w(r['width'], r['batch'])}",
            r,
            None if small else BUSY_FIT_TARGET,
        )
    for r in grid_rows:
        line(f"update_grid, {_w(r['width'], r['batch'])}", r)
    if wide["ours_busy_ms"] == wide["ours_busy_ms"]:
        line(f"fwd+bwd with regulariser, {_w(wide['width'], wide['batch'])}", wide)
    for r in closures:
        c = {
            "ours_ms": r["ms"],
            "ours_busy_ms": r["busy_ms"],
            "pykan_ms": float("nan"),
            "pykan_busy_ms": float("nan"),
        }
        line(f"ms per LBFGS closure (ours), {_w(r['width'], 1000)}, λ={r['lamb']:g}", c)
    return "\n".join(lines), all_ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--no-pykan", action="store_true", help="do not run pykan")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--no-busy", action="store_true", help="skip the runs with one core kept busy")
    ap.add_argument(
        "--shapes",
        default="",
        help="comma list of widths (e.g. 4-16-16-1,2-5-1): only these fit/update_grid/memory rows",
    )
    ap.add_argument(
        "--skip",
        default="",
        help="comma list of sections to skip: fit,mult,grid,memory,wide,ops,closure,tape",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--_mem-child", dest="mem_child", help=argparse.SUPPRESS)
    ap.add_argument("--_width", dest="child_width", help=argparse.SUPPRESS)
    ap.add_argument("--_batch", dest="child_batch", type=int, help=argparse.SUPPRESS)
    cfg = ap.parse_args(argv)

    if cfg.mem_child:
        width = [int(v) for v in cfg.child_width.split(",")]
        print(
            json.dumps(mem_child(cfg.mem_child, width, cfg.child_batch, 3, cfg.device, cfg.threads))
        )
        return 0

    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda: CUDA is not available", file=sys.stderr)
        return 2
    torch.set_num_threads(cfg.threads)
    use_pykan = not cfg.no_pykan and have_pykan()
    if not cfg.no_pykan and not use_pykan:
        print("pykan is not importable: running ours only", file=sys.stderr)
    skip = set(filter(None, cfg.skip.split(",")))
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    fit_rows = bench_fit(cfg, use_pykan) if "fit" not in skip else []
    fit_rows += bench_fit(cfg, use_pykan, MULT_CASES) if "mult" not in skip else []
    grid_rows = bench_update_grid(cfg, use_pykan) if "grid" not in skip else []
    mem_rows = bench_memory(cfg, use_pykan) if "memory" not in skip else []
    wide = (
        bench_wide(cfg, use_pykan)
        if "wide" not in skip
        else {
            "width": WIDE[0],
            "batch": WIDE[1],
            **_times({False: [], True: []}, {False: [], True: []}),
        }
    )
    ops = (
        count_closure_ops(cfg, use_pykan)
        if "ops" not in skip
        else {"ours": "–", "pykan": None, "ours_top": [], "pykan_top": None}
    )
    closures = time_closures(cfg) if "closure" not in skip else []
    tape_rows = time_tape(cfg) if "tape" not in skip else []
    table, ok = render(fit_rows, grid_rows, mem_rows, wide, ops, use_pykan, closures)
    busy_table, busy_ok = (
        ("", True) if cfg.no_busy else render_busy(fit_rows, grid_rows, wide, closures, use_pykan)
    )
    ok &= busy_ok
    load1 = os.getloadavg()

    dev = cfg.device if cfg.device != "cpu" else f"cpu ({os.cpu_count()} cores)"
    print(
        f"\nkan-widget engine vs pykan 0.2.8 — torch {torch.__version__}, {dev}, float32, "
        f"{cfg.threads} threads{', quick' if cfg.quick else ''}; load average "
        f"{load0[0]:.1f} -> {load1[0]:.1f}; {time.perf_counter() - t0:.0f} s\n"
    )
    print(table)
    print(
        "\nTimes are medians; ratio: pykan time / ours (steps/s speed-up), judged on medians; "
        "ratio of best: the same with each engine's fastest step (less sensitive to other "
        "processes); memory: ours / pykan. MLP floor: a SiLU MLP of the same widths, Adam step "
        "+ test forward (ours / MLP in brackets)."
    )
    print(
        "Memory: peak RSS growth during a 3-step fit call after a warm-up call, one fresh "
        "process per case (see the module doc)."
    )
    if tape_rows:
        print(
            "\nObjectives that trained through autograd before (symbolic edges, "
            "classification), ours on the tape and through autograd, alternated:\n"
        )
        print(render_tape(tape_rows))
    if busy_table:
        print(
            "\nWith one core kept busy by another process (quiet and busy phases alternate "
            "within each row; busy/quiet: median step time under load over the quiet median):\n"
        )
        print(busy_table)
    if ops["ours_top"]:
        print(
            "\nops per steady-state closure, ours, by kind: "
            + ", ".join(f"{n} {c}" for n, c in ops["ours_top"])
        )
    if ops.get("pykan_top"):
        print(
            "ops per closure, pykan, by kind: " + ", ".join(f"{n} {c}" for n, c in ops["pykan_top"])
        )
    if load1[0] > (os.cpu_count() or 1):
        print(
            f"\nWARNING: load average {load1[0]:.1f} on {os.cpu_count()} cores: other "
            "processes shared the CPU; absolute times are inflated (ratios less so)."
        )
    return 1 if (cfg.check and not ok) else 0


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds, so a running BusyCore block kills its child


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())
