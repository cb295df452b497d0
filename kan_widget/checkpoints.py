"""pykan's model versions (``'0.0'``, ``'0.1'``, ... and ``model.rewind('0.1')``), kept in memory.

With ``KAN(auto_save=True)`` (the default, as pykan's) every call that changes a model (``fit``,
``prune``, ``refine``, ``fix_symbolic``, ``auto_symbolic``, ``remove_edge``, ...) records a copy of
the model's state as the next version, named as pykan names it: ``'{round}.{state_id}'``. The
constructor records ``'0.0'``; each logged call adds one to ``state_id``; a ``rewind`` starts a new
round, so the rewound model continues as ``'{round+1}.{id}'``. A model and the models derived
from it (``prune``, ``refine`` and ``copy`` return new models) share one :class:`History`, as
pykan's share one checkpoint folder.

Differences from pykan 0.2.8 (see docs/PYKAN_DIFFERENCES.md):

- versions live in memory, at most :data:`MAX_VERSIONS` of them per lineage (the oldest are
  dropped first). Nothing is written to disk unless ``ckpt_path`` is passed to the constructor
  explicitly, then each version is also a safetensors file ``{ckpt_path}/{version}.safetensors``
  and the log is ``{ckpt_path}/history.txt``;
- nothing is printed; ``model.history()`` returns pykan's ``history.txt`` lines;
- the version a call logs holds the model *after* the call (pykan's ``refine`` logs the model
  before refining, and its ``rewind`` saves the current model under the rewound name);
- a second ``rewind`` opens a new round rather than reusing ``round + 1`` of the saved version.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import KAN

__all__ = ["MAX_VERSIONS", "History", "checkout", "ensure", "inherit", "log", "rewind", "start"]

MAX_VERSIONS = 50
"""Versions kept in memory per lineage; older ones are dropped (and can no longer be rewound
to). Each is a full copy of the model's tensors."""


class History:
    """The versions of one lineage of models: ``name -> model.checkpoint()``, oldest first, and
    pykan's ``history.txt`` lines. ``disk`` is the folder each version is also written to, or
    ``None`` (the default: memory only)."""

    def __init__(self, disk: str | None = None, max_versions: int = MAX_VERSIONS):
        self.versions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.lines: list[str] = []
        self.dropped: list[str] = []
        self.disk = disk
        self.max_versions = max_versions
        self.max_round = 0

    def add(self, name: str, model: KAN, line: str | None = None) -> None:
        """Record ``model``'s current state as version ``name`` (and write it, with ``disk``)."""
        if line is not None:
            self.lines.append(line)
        self.versions[name] = model.checkpoint()
        self.versions.move_to_end(name)
        while len(self.versions) > self.max_versions:
            old, _ = self.versions.popitem(last=False)
            self.dropped.append(old)
        if self.disk is not None:
            os.makedirs(self.disk, exist_ok=True)
            model.save(os.path.join(self.disk, f"{name}.safetensors"))
            with open(os.path.join(self.disk, "history.txt"), "w") as f:
                f.write("".join(ln + "\n" for ln in self.lines))

    def get(self, name: str) -> dict[str, Any]:
        """The state of version ``name``; a clear ``ValueError`` for a name that does not exist."""
        if not isinstance(name, str):
            raise TypeError(f"a version name is a string such as '0.1'; got {name!r}")
        if name in self.versions:
            return self.versions[name]
        known = ", ".join(repr(v) for v in self.versions) or "none"
        if name in self.dropped:
            raise ValueError(
                f"version {name!r} was dropped: only the last {self.max_versions} versions are "
                f"kept in memory. Versions that exist: {known}"
            )
        raise ValueError(
            f"no model version {name!r}; versions that exist: {known}. Version names are "
            "'{round}.{state_id}' as logged by fit, prune, fix_symbolic, ... (model.history())"
        )


def ensure(model: KAN) -> History:
    """``model``'s lineage, a new one (at ``'0.0'``, nothing recorded) if it has none."""
    h = model.__dict__.get("_history")
    if h is None:  # a model made from tensors (load, _build): a lineage of its own
        h = History()
        model.__dict__["_history"] = h
        model.__dict__.setdefault("round", 0)
        model.__dict__.setdefault("state_id", 0)
    return h


def start(model: KAN, write: bool) -> None:
    """A new lineage for a freshly constructed ``model``; records ``'0.0'`` when ``auto_save``.
    ``write``: ``ckpt_path`` was given explicitly, so versions are also written there."""
    h = History(model.config.ckpt_path if write else None)
    model.__dict__["_history"] = h
    model.__dict__["round"] = 0
    model.__dict__["state_id"] = 0
    if model.config.auto_save:
        h.lines.append("### Round 0 ###")
        h.add("0.0", model, "init => 0.0")


def inherit(new: KAN, old: KAN) -> KAN:
    """``new`` (a model derived from ``old``) joins ``old``'s lineage at its version."""
    new.__dict__["_history"] = ensure(old)
    new.__dict__["round"] = old.__dict__.get("round", 0)
    new.__dict__["state_id"] = old.__dict__.get("state_id", 0)
    return new


def log(model: KAN, method: str) -> None:
    """pykan's ``log_history``: with ``auto_save``, ``model`` becomes the next version of its
    round, and that version records the state after ``method``."""
    if not model.config.auto_save:
        return
    h = ensure(model)
    r, s = model.__dict__["round"], model.__dict__["state_id"]
    model.__dict__["state_id"] = s + 1
    h.add(f"{r}.{s + 1}", model, f"{r}.{s} => {method} => {r}.{s + 1}")


def checkout(model: KAN, model_id: str) -> KAN:
    """A copy of version ``model_id`` of ``model``'s lineage; nothing is logged."""
    state = ensure(model).get(model_id)
    new = model.copy()
    new.restore(state)
    inherit(new, model)
    r, s = model_id.split(".")
    new.__dict__["round"], new.__dict__["state_id"] = int(r), int(s)
    return new


def rewind(model: KAN, model_id: str) -> KAN:
    """pykan's ``rewind``: a copy of version ``model_id`` that starts a new round, so that its
    next logged call is ``'{new round}.{id + 1}'``; recorded as ``'{new round}.{id}'``."""
    h = ensure(model)
    new = checkout(model, model_id)
    h.max_round = max(h.max_round, *(int(v.split(".")[0]) for v in h.versions)) + 1
    sid = new.__dict__["state_id"]
    new.__dict__["round"] = h.max_round
    if model.config.auto_save:
        h.lines.append(f"### Round {h.max_round} ###")
        h.add(f"{h.max_round}.{sid}", new, f"rewind to {model_id} => {h.max_round}.{sid}")
    return new
