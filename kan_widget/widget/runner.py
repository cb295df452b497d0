"""Training on a background thread, one :class:`~kan_widget.training.Trainer` step at a time.

The kernel must stay responsive while a model trains (sliders, Pause, the next cell), so steps run
on a daemon thread. The rules that keep this safe:

- hyperparameters are read once per step from a snapshot taken under the owner's lock, because
  with comms on subshells (ipykernel 7, JupyterLab 4.4+) trait observers run concurrently;
- every step runs under ``model_lock``, so readers on other threads (inspect, refresh) never see a
  model half-way through an optimiser update;
- stopping is a ``threading.Event`` checked between steps (the Interrupt button cannot reach a
  thread), so a stop takes effect within one optimiser step;
- nothing is printed from the thread (output from threads can be lost, ipywidgets #4020);
  every exception ends up in ``last_error`` and is handed to ``on_end``.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from ..training import Diverged, Trainer, polish_frozen

__all__ = ["COMMAND_THREAD_NAME", "THREAD_NAME", "CommandQueue", "Runner", "describe_error"]

THREAD_NAME = "kan-widget-train"
# the shortest gap between live pushes: 20 a second at most, so a step of 50-100 ms pushes every
# step (TF Playground-like 10+ redraws a second); costly pushes widen the gap (publish.next_gap)
PUSH_INTERVAL_S = 0.05
COMMAND_THREAD_NAME = "kan-widget-command"


class Runner:
    """Owns at most one training thread and the :class:`Trainer` that persists across runs.

    The trainer is kept while the model object and optimiser stay the same, so LBFGS history and
    the grid-update schedule carry over between presses of Train, as in one long ``fit``; a new
    model (prune, refine, undo, ...) gets a fresh trainer, as pykan's next ``fit`` would.
    """

    def __init__(
        self,
        get_model: Callable[[], Any],
        data: dict,
        hparams: Callable[[], dict],
        on_step: Callable[[dict], None],
        push: Callable[[], float | None],
        on_end: Callable[[BaseException | None], None],
        push_interval: float = PUSH_INTERVAL_S,
        polish: int = 0,
    ):
        self._polish = int(polish)
        self._get_model = get_model
        self._data = data
        self._hparams = hparams
        self._on_step = on_step
        self._push = push
        self._on_end = on_end
        self.push_interval = push_interval
        self.model_lock = threading.RLock()
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trainer: Trainer | None = None
        self.last_error: BaseException | None = None
        self.steps_per_s: float | None = None

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def forget_trainer(self) -> None:
        """Drop the cached trainer (the model was replaced or restructured)."""
        self.trainer = None

    # ------------------------------------------------------------------ control
    def start(self, n_steps: int) -> bool:
        """Start ``n_steps`` steps on a new thread; ``False`` (and nothing started) if a run is
        already going."""
        with self._start_lock:
            if self.running:
                return False
            self._stop.clear()
            self.last_error = None
            self._thread = threading.Thread(
                target=self._run, args=(int(n_steps),), name=THREAD_NAME, daemon=True
            )
            self._thread.start()
            return True

    def stop(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Ask the thread to stop after its current step; with ``wait``, block until it has.
        Returns whether no run is going any more."""
        self._stop.set()
        if wait:
            return self.wait(timeout)
        return not self.running

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends (or ``timeout`` s pass); ``True`` if it has ended."""
        t = self._thread
        if t is None or t is threading.current_thread():
            return True
        t.join(timeout)
        return not t.is_alive()

    # ------------------------------------------------------------------ the thread
    def _trainer_for(self, model, hp: dict) -> Trainer:
        t = self.trainer
        problem = hp.get("problem")
        if t is None or t.model is not model or t.opt_name != hp["opt"] or t.problem != problem:
            # a changed optimiser alone keeps the step count, so grid updates are not redone
            done = t.steps_done if t is not None and t.model is model else 0
            t = Trainer(model, self._data, opt=hp["opt"], lr=hp["lr"], problem=problem)
            t.steps_done = done
            self.trainer = t
        t.lr = hp["lr"]
        t.lamb, t.lamb_l1, t.lamb_entropy = hp["lamb"], hp["lamb_l1"], hp["lamb_entropy"]
        t.batch = hp["batch"]  # checked by messages.check_hparam (-1 or a row count)
        return t

    def _run(self, n_steps: int) -> None:
        error: BaseException | None = None
        t0 = time.perf_counter()
        last_push = t0
        gap = self.push_interval
        done = 0
        # the run's last steps polish (training.polish_frozen): at most a fifth of the run
        polish_from = n_steps - min(self._polish, n_steps // 5)
        trainer: Trainer | None = None
        try:
            model = self._get_model()
            while done < n_steps and not self._stop.is_set():
                hp = self._hparams()
                with self.model_lock:
                    trainer = self._trainer_for(model, hp)
                    # a classification keeps its penalty: it bounds the logits (training.py)
                    if done >= polish_from and hp["lamb"] > 0 and trainer.problem == "regression":
                        if trainer.frozen is None:  # the edges below theta stay as they are
                            trainer.frozen = polish_frozen(model, float(hp["theta"]))
                        trainer.lamb = 0.0
                    metrics = trainer.step()
                done += 1
                now = time.perf_counter()
                self.steps_per_s = done / max(now - t0, 1e-9)
                self._on_step(metrics)
                if now - last_push >= gap:
                    last_push = now
                    # the pusher may ask for a longer gap (a big model's push is costly)
                    gap = max(self.push_interval, self._push() or 0.0)
        except BaseException as e:  # Diverged included: the trainer already rolled back
            error = e
        if trainer is not None and trainer.frozen is not None:
            with self.model_lock:  # the next run trains every edge again
                trainer.frozen = None
        self.last_error = error
        try:
            self._on_end(error)
        except BaseException as e:
            # the final flush itself failed: keep the first error, it explains more
            if self.last_error is None:
                self.last_error = e


class CommandQueue:
    """Runs front-end commands one after another, in arrival order, on a daemon thread.

    Symbolify, prune, refine, undo, ... can take seconds on a big network (sympy, symbolic fits);
    run in the comm handler they would hold up every later message, sliders and Pause included.
    Here the handler only enqueues and returns. ``run(item)`` must report its own errors (it
    should never raise; if it does, the exception is kept in ``last_error`` and the next item
    runs). The thread exists only while there is work, so an idle widget holds no thread.
    """

    def __init__(self, run: Callable[[Any], None], name: str = COMMAND_THREAD_NAME):
        self._run = run
        self._name = name
        self._cond = threading.Condition()
        self._pending: collections.deque = collections.deque()
        self._thread: threading.Thread | None = None
        self.current: Any = None
        self.last_error: BaseException | None = None

    @property
    def busy(self) -> bool:
        """Whether a command is running or waiting."""
        with self._cond:
            return self._thread is not None

    def submit(self, item: Any) -> None:
        with self._cond:
            self._pending.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()

    def discard(self, pred: Callable[[Any], bool] = lambda item: True) -> int:
        """Drop waiting commands for which ``pred`` is true; returns how many."""
        with self._cond:
            keep = [item for item in self._pending if not pred(item)]
            n = len(self._pending) - len(keep)
            self._pending = collections.deque(keep)
            return n

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted command has run; ``True`` if so (always ``True`` when
        called from a command itself, which would otherwise wait for itself)."""
        with self._cond:
            if self._thread is threading.current_thread():
                return True
            return self._cond.wait_for(lambda: self._thread is None, timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._thread = None
                    self.current = None
                    self._cond.notify_all()
                    return
                item = self.current = self._pending.popleft()
            try:
                self._run(item)
            except BaseException as e:  # nothing may kill the worker with commands waiting
                self.last_error = e


def describe_error(e: BaseException) -> str:
    """One line for ``status.error``."""
    if isinstance(e, Diverged):
        return str(e)
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__
