"""A compiled kernel for the B-spline basis recursion and its input derivative (csrc/basis.c),
and for the fused layer's moments, magnitudes and the spline penalty (csrc/stats.c, at the end).

Pure torch cannot fuse the recursion: each level is several full-size elementwise ops over
``[in, K, B]`` with their memory traffic, and on small models each op costs microseconds of
dispatch. The C kernel does the same IEEE operations in the same order on the same dtype, one
input and one block of columns at a time in cache, so its results are bit-identical to the
torch path's (``splines.recursion``, ``splines.basis_deriv_grad``); a probe on first use per
dtype checks that against torch itself and keeps the torch path where they differ.

Built on first use with the system's C compiler (``$CC`` or ``cc``; plain C, no torch headers,
well under a second) into a per-user cache (``$XDG_CACHE_HOME/kan_widget`` or
``~/.cache/kan_widget``), keyed by a hash of the source, the compiler and the flags, written
atomically (a build goes to a temporary file that is renamed into place, so two processes may
build at once). No compiler, a failed build or ``KAN_WIDGET_NO_CKERNEL=1``: the torch path, with
one debug log line. Only float32/float64 CPU tensors take the kernel, their outputs contiguous
along the batch, each input with its own knot vector; anything else (CUDA, other strides,
broadcasting, autograd recording) keeps the torch path. Where torch runs its AVX2 or AVX-512
kernels the library is built with AVX2 (the CPU has it).

The kernel runs on the calling thread: the fused layer's elementwise work runs on one thread
anyway (kan_widget/threads.py), and the derivative's sum matches torch's one-thread order, so
where torch would split that sum over threads it keeps the torch path.
"""

from __future__ import annotations

import array
import ctypes
import hashlib
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = [
    "ENV_OFF",
    "ENV_STATS_OFF",
    "available",
    "basis",
    "deriv_grad",
    "gram_backward",
    "moments",
    "pack",
    "penalty",
    "stats_backward",
    "stats_forward",
    "use",
    "use_stats",
]

_log = logging.getLogger(__name__)

ENV_OFF = "KAN_WIDGET_NO_CKERNEL"
# the magnitudes and the penalty only (csrc/stats.c, not bit-identical to torch): off, the
# basis kernel still runs and every result is the torch path's to the bit
ENV_STATS_OFF = "KAN_WIDGET_NO_CSTATS"
SOURCE = Path(__file__).with_name("csrc") / "basis.c"
# basis.c includes these: part of the library's cache key
INCLUDED = (Path(__file__).with_name("csrc") / "stats.c",)
# no FMA contraction, no fast-math: each product and sum rounded as torch rounds it; -O3 for the
# loops' vectorisation (-O2 left them scalar: slower than torch, measured)
FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-std=c99")
ABI = 3
# ATen parallelises a reduction of at least this many elements (at::internal::GRAIN_SIZE)
_GRAIN = 32768


class _Kernels:
    """The loaded library's entry points per dtype (each takes one int64 array of arguments),
    and per dtype, once probed (``probed``): whether the basis reproduces torch (``ok_basis``)
    and the vector width that reproduces torch's sum (``vec``; None: the derivative keeps the
    torch path)."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        self.basis_fn: dict[torch.dtype, Callable[[int], int]] = {}
        self.deriv_fn: dict[torch.dtype, Callable[[int], int]] = {}
        for dtype, sfx in ((torch.float32, "f32"), (torch.float64, "f64")):
            for table, name in ((self.basis_fn, "basis"), (self.deriv_fn, "deriv")):
                fn = getattr(lib, f"kw_{name}_a_{sfx}")
                fn.argtypes, fn.restype = [ctypes.c_void_p], ctypes.c_int
                table[dtype] = fn
        self.stats_fn: dict[str, dict[torch.dtype, Callable[[int], int]]] = {}
        for name in ("penalty", "stats_fwd", "stats_bwd", "moments", "gram_bwd"):
            self.stats_fn[name] = {}
            for dtype, sfx in ((torch.float32, "f32"), (torch.float64, "f64")):
                fn = getattr(lib, f"kw_{name}_a_{sfx}")
                fn.argtypes, fn.restype = [ctypes.c_void_p], ctypes.c_int
                self.stats_fn[name][dtype] = fn
        self.probed: set[torch.dtype] = set()
        self.ok_basis: dict[torch.dtype, bool] = {}
        self.vec: dict[torch.dtype, int | None] = {}


_state: _Kernels | None = None
_tried = False
_enabled = True
_stats_enabled = os.environ.get(ENV_STATS_OFF, "") in ("", "0")
_lock = threading.Lock()


def use(flag: bool) -> bool:
    """Turn the kernel on or off for this process (benchmarks' A/B, tests of the torch path);
    returns the previous setting. Off, every call takes the torch path."""
    global _enabled
    before, _enabled = _enabled, bool(flag)
    return before


def use_stats(flag: bool) -> bool:
    """Turn the compiled magnitudes and penalty (:func:`stats_forward`, :func:`stats_backward`,
    :func:`penalty`) on or off for this process; returns the previous setting. Off (or
    ``KAN_WIDGET_NO_CSTATS=1``), they take the torch path: results bit-identical to torch."""
    global _stats_enabled
    before, _stats_enabled = _stats_enabled, bool(flag)
    return before


def available() -> bool:
    """Whether the kernel is built and loaded (building it on first call) and turned on."""
    return _enabled and _kernels() is not None


def _kernels() -> _Kernels | None:
    if _tried:
        return _state
    with _lock:
        if not _tried:
            _load()
    return _state


def _load() -> None:
    global _state, _tried
    try:
        if os.environ.get(ENV_OFF, "") not in ("", "0"):
            _log.debug("kan_widget C kernel off (%s is set): torch path", ENV_OFF)
            return
        path = _build()
        if path is None:
            return
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            path.unlink(missing_ok=True)  # a damaged file: the next process builds it anew
            raise
        if lib.kw_abi_version() != ABI:
            _log.debug("kan_widget C kernel %s has another ABI: torch path", path)
            return
        _state = _Kernels(lib)
    except Exception as e:  # a kernel that fails to load is a slower run, never an error
        _log.debug("kan_widget C kernel unavailable (%s): torch path", e)
    finally:
        _tried = True


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kan_widget"


def _flags() -> tuple[str, ...]:
    """FLAGS, and AVX2 where torch itself runs its AVX2 or AVX-512 kernels (so the CPU has it):
    the basis 1.2-1.7x faster than with SSE2 (measured). The flags are part of the cache key."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    if x86 and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        return (*FLAGS, "-mavx2")
    return FLAGS


def _lib_path(cc: str, flags: tuple[str, ...]) -> Path:
    """Where the library built by ``cc`` with ``flags`` lives in the cache: named by a hash of
    the source, the compiler (its path, size and time) and the flags, so a new source or
    compiler builds anew."""
    real = os.path.realpath(cc)
    st = os.stat(real)
    h = hashlib.sha256(SOURCE.read_bytes())
    for inc in INCLUDED:
        h.update(inc.read_bytes())
    for part in (real, str(st.st_size), str(st.st_mtime_ns), " ".join(flags)):
        h.update(part.encode() + b"\0")
    h.update(f"{sys.platform} {platform.machine()}".encode())
    return _cache_dir() / f"basis-{h.hexdigest()[:20]}.so"


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC") or "cc")


def _build() -> Path | None:
    """The library's path in the cache, compiled there first if absent; None (logged) when
    there is no compiler or the build fails."""
    if os.name == "nt":
        _log.debug("kan_widget C kernel: not built on Windows: torch path")
        return None
    cc = _compiler()
    if cc is None:
        _log.debug("kan_widget C kernel: no C compiler (cc) found: torch path")
        return None
    flags = _flags()
    path = _lib_path(cc, flags)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".basis-", suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        r = subprocess.run(
            [cc, *flags, "-o", tmp, str(SOURCE), "-lm"], capture_output=True, text=True, timeout=120
        )
        if r.returncode != 0:
            _log.debug("kan_widget C kernel: build failed (%s): torch path", r.stderr.strip())
            return None
        os.replace(tmp, path)  # atomic: another process sees no file or a whole one
        return path
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def pack(
    knots: torch.Tensor,
    inv: list[torch.Tensor],
    shift: list[torch.Tensor],
    dinv: torch.Tensor | None,
) -> torch.Tensor | None:
    """The knot constants in the kernel's layout, ``[2k+2, n_in, n_knots]``: the knots, each
    level's ``inv`` and ``shift``, then ``dinv`` (zero-padded rows); copies of torch's own
    values, so the kernel multiplies by the same reciprocals. None where the kernel cannot run
    (not built, not a CPU float32/float64 grid)."""
    if (
        knots.device.type != "cpu"
        or knots.dtype not in (torch.float32, torch.float64)
        or _kernels() is None
    ):
        return None
    n_in, n_knots, k = knots.shape[0], knots.shape[1], len(inv)
    with torch.no_grad():
        pk = knots.new_zeros(2 * k + 2, n_in, n_knots)
        pk[0] = knots[..., 0]
        for p in range(1, k + 1):
            pk[2 * p - 1, :, : n_knots - p] = inv[p - 1][..., 0]
            pk[2 * p, :, : n_knots - p] = shift[p - 1][..., 0]
        if dinv is not None:
            pk[2 * k + 1, :, : n_knots - k] = dinv[..., 0]
    return pk


def _probe(ks: _Kernels, dtype: torch.dtype) -> None:
    """Check the kernel against torch's own path on this machine, once per dtype: the basis
    (knots hit exactly, inputs outside the grid, k = 1..3) and the derivative's sum, whose
    order follows ATen's vector width; the first width that reproduces torch at every probed
    size is kept (None: none did, and the derivative keeps the torch path)."""
    from . import splines

    try:
        g = torch.Generator().manual_seed(1234)
        ok = True
        for n_in, G, k, B in ((3, 5, 3, 300), (2, 3, 1, 37), (1, 7, 2, 5), (4, 2, 3, 9)):
            kn = splines.knots_of(splines.uniform_grid(n_in, G, k, (-1, 1), dtype=dtype), k)
            x = torch.rand(B, n_in, generator=g, dtype=dtype) * 3 - 1.5
            m = min(B, kn.knots.shape[1])
            x[:m, 0] = kn.knots[0, :m, 0]  # exactly on knots
            xt = x.t().contiguous().unsqueeze(1)
            ref = splines.recursion_torch(xt, kn)
            got = _run_basis(ks, xt, kn, None, None, None, True)
            ok = ok and all(torch.equal(a, b) for a, b in zip(ref, got))
        ks.ok_basis[dtype] = ok
        ks.vec[dtype] = None
        caps = {"AVX512": 64, "AVX2": 32}
        widths = [caps.get(torch.backends.cpu.get_cpu_capability(), 32), 32, 16, 64]
        for vbytes in dict.fromkeys(widths):
            vec = vbytes // torch.empty((), dtype=dtype).element_size()
            if _deriv_matches(ks, dtype, vec, g):
                ks.vec[dtype] = vec
                break
        if not ok or ks.vec[dtype] is None:
            _log.debug(
                "kan_widget C kernel differs from torch for %s (basis %s, sum %s): torch path",
                dtype,
                ok,
                ks.vec[dtype],
            )
    except Exception as e:
        ks.ok_basis[dtype], ks.vec[dtype] = False, None
        _log.debug("kan_widget C kernel probe failed for %s (%s): torch path", dtype, e)
    finally:
        ks.probed.add(dtype)


def _deriv_matches(ks: _Kernels, dtype: torch.dtype, vec: int, g: torch.Generator) -> bool:
    from . import splines

    for n_in, G, k in ((2, 3, 3), (1, 14, 3), (3, 20, 2)):
        kn = splines.knots_of(splines.uniform_grid(n_in, G, k, (-1, 1), dtype=dtype), k)
        n_b = kn.knots.shape[1] - k
        for B in (1, 2, 3, 5, 7, vec - 1, vec, 4 * vec - 1, 4 * vec + 3, 9 * vec + 5):
            # heavy-tailed values of both signs: any other order of the sum rounds differently
            prev = torch.randn(n_in, n_b, B, generator=g, dtype=dtype).mul_(8).exp_()
            gr = torch.randn(n_in, n_b - 1, B, generator=g, dtype=dtype).mul_(6)
            ref = splines.deriv_grad_torch(prev, kn, gr)
            got = _run_deriv(ks, prev, kn, gr, vec)
            if got is not None and not torch.equal(ref, got):
                return False
    return True


def _kernels_for(dtype: torch.dtype) -> _Kernels | None:
    ks = _state if _tried else _kernels()
    if ks is not None and dtype not in ks.probed:
        with _lock:
            if dtype not in ks.probed:
                _probe(ks, dtype)
    return ks


def _call(fn: Callable[[int], int], args: tuple[int, ...]) -> None:
    # one int64 array: ctypes converts each argument for ~0.3 us (measured)
    buf = array.array("q", args)
    if fn(buf.buffer_info()[0]) != 0:
        raise MemoryError("the B-spline kernel could not allocate its work buffer")


def basis(
    xt: torch.Tensor,
    kn,
    out: torch.Tensor | None,
    prev_out: torch.Tensor | None,
    scratch,
    need_prev: bool,
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """``splines.recursion`` by the kernel (same arguments, same results to the bit), or None
    where it cannot run (then the caller takes the torch path). The checks are kept cheap: on
    a small model they run ~50 times an L-BFGS step."""
    pk = kn.packed
    if pk is None or not _enabled or not xt.is_cpu or not kn.inv:  # k = 0: nothing to fuse
        return None
    dtype = xt.dtype
    if pk.dtype is not dtype or (xt.requires_grad and torch.is_grad_enabled()):
        return None  # the torch path records the graph the caller asked for
    ks = _kernels_for(dtype)
    if ks is None or not ks.ok_basis[dtype]:
        return None
    for t in (out, prev_out):  # the inputs may be strided (the kernel gathers them)
        if t is not None and (t.dtype is not dtype or not t.is_cpu or t.stride()[2] != 1):
            return None
    return _run_basis(ks, xt, kn, out, prev_out, scratch, need_prev)


def _run_basis(ks, xt, kn, out, prev_out, scratch, need_prev):
    n_in, one, B = xt.shape
    n_kn, n_knots, _ = kn.knots.shape
    if n_kn != n_in or one != 1:
        return None  # torch broadcasts (or raises); the kernel reads one knot vector an input
    k = len(kn.inv)
    shape = (n_in, n_knots - 1 - k, B)
    if out is None:
        out = xt.new_empty(shape) if scratch is None else scratch.get(0, shape)
    prev = prev_out
    if prev is None and need_prev:
        pshape = (n_in, n_knots - k, B)
        prev = xt.new_empty(pshape) if scratch is None else scratch.get(1, pshape)
    if out.shape != shape or (prev is not None and prev.shape != (n_in, n_knots - k, B)):
        raise ValueError(f"basis outputs of shapes {tuple(out.shape)}, not {shape}")
    sx, so = xt.stride(), out.stride()
    sp = (0, 0) if prev is None else prev.stride()
    _call(
        ks.basis_fn[xt.dtype],
        (
            xt.data_ptr(),
            sx[0],
            sx[2],
            n_in,
            B,
            kn.packed.data_ptr(),
            n_knots,
            k,
            out.data_ptr(),
            so[0],
            so[1],
            0 if prev is None else prev.data_ptr(),
            sp[0],
            sp[1],
        ),
    )
    return out, prev


def deriv_grad(prev: torch.Tensor, kn, grad_out: torch.Tensor) -> torch.Tensor | None:
    """``splines.basis_deriv_grad`` by the kernel (the same bits), or None where it cannot run
    or torch would sum in another order (several threads; one column with a long sum)."""
    pk = kn.packed
    if pk is None or not _enabled or not prev.is_cpu:
        return None
    dtype = prev.dtype
    if pk.dtype is not dtype or grad_out.dtype is not dtype:
        return None
    if torch.is_grad_enabled() and (prev.requires_grad or grad_out.requires_grad):
        return None
    ks = _kernels_for(dtype)
    if ks is None:
        return None
    vec = ks.vec[dtype]
    if vec is None:
        return None
    n_in, n_b, B = prev.shape
    if n_in * (n_b - 1) * B >= _GRAIN and torch.get_num_threads() > 1:
        return None  # torch's sum would split the columns over threads
    return _run_deriv(ks, prev, kn, grad_out, vec)


def _run_deriv(ks, prev, kn, grad_out, vec) -> torch.Tensor | None:
    n_in, n_b, B = prev.shape
    if not grad_out.is_cpu or grad_out.shape != (n_in, n_b - 1, B) or B == 0 or n_b < 2:
        return None
    n_kn, n_knots, _ = kn.knots.shape
    if n_kn != n_in or n_knots - len(kn.inv) != n_b:
        return None  # torch broadcasts (or raises); the kernel reads one knot vector an input
    sp, sg = prev.stride(), grad_out.stride()
    if B > 1 and (sp[2] != 1 or sg[2] != 1):
        return None
    if B == 1 and n_b - 1 >= vec:
        return None  # torch sums one column by its vectorised inner sum
    out = prev.new_empty(n_in, B)
    _call(
        ks.deriv_fn[prev.dtype],
        (
            prev.data_ptr(),
            sp[0],
            sp[1],
            kn.packed.data_ptr(),
            n_knots,
            len(kn.inv),
            grad_out.data_ptr(),
            sg[0],
            sg[1],
            out.data_ptr(),
            B,
            n_in,
            B,
            vec,
        ),
    )
    return out


# --- the magnitudes and the penalty (csrc/stats.c) ------------------------------------------
#
# Small models are bound by per-op dispatch: these replace ~110 torch operations of a [2,5,1]
# L-BFGS closure (the penalty alone: 65 ops, ~230 us) by three calls. Not bit-identical to the
# torch path (sums in float64 in loop order); tests/test_cstats.py checks values and gradients
# against the torch path and autograd.

_FLOATS = (torch.float32, torch.float64)


def _stats_kernels() -> _Kernels | None:
    if not (_enabled and _stats_enabled):
        return None
    return _state if _tried else _kernels()


def _call_stats(fn: Callable[[int], int], args: list[int]) -> None:
    buf = array.array("q", args)
    if fn(buf.buffer_info()[0]) != 0:
        raise MemoryError("the penalty kernel could not allocate its work buffer")


def penalty(
    values: list[torch.Tensor], lamb_l1: float, lamb_entropy: float
) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
    """``regularizer.spline_penalty`` in one call: the penalty over all layers (a 0-d tensor of
    the magnitudes' dtype) and its gradient in each layer's magnitudes (new contiguous
    tensors); None where the kernel cannot run (then the caller takes the torch path)."""
    ks = _stats_kernels()
    if ks is None or not values:
        return None
    dtype = values[0].dtype
    rec = torch.is_grad_enabled()
    for a in values:
        if a.dtype is not dtype or dtype not in _FLOATS or not a.is_cpu or a.dim() != 2:
            return None
        if rec and a.requires_grad:
            return None  # autograd records the torch path's graph (create_graph)
    lambs = array.array("d", (float(lamb_l1), float(lamb_entropy)))
    total = values[0].new_empty(())
    grads = [torch.empty(a.shape, dtype=dtype) for a in values]
    args = [lambs.buffer_info()[0], total.data_ptr(), len(values)]
    for a, g in zip(values, grads, strict=True):
        args += [a.data_ptr(), a.shape[0], a.shape[1], a.stride(0), a.stride(1), g.data_ptr()]
    _call_stats(ks.stats_fn["penalty"][dtype], args)
    return total, grads


def _f64_cpu(t: torch.Tensor, shape: tuple[int, ...], flat: bool = False) -> bool:
    """Whether ``t`` is a dense float64 CPU tensor of ``shape`` (``flat``: of that many
    elements, any shape), as the stats kernels read it."""
    if t.dtype is not torch.float64 or not t.is_cpu or not t.is_contiguous():
        return False
    return t.numel() == math.prod(shape) if flat else tuple(t.shape) == shape


def _weights_ok(w: torch.Tensor) -> bool:
    """Whether the stats kernels take ``w [in, nf, out]`` (float32/64 on the CPU, any strides:
    they are passed along)."""
    return w.dtype in _FLOATS and w.is_cpu and w.dim() == 3


def stats_forward(
    cov: torch.Tensor, w: torch.Tensor, B: int, x_den: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The fused layer's magnitudes from the features' float64 Gram matrix ``cov [in, nf, nf]``
    and the weights ``w [in, nf, out]``: ``(cw, std, value)`` with ``cw = cov w / (B-1)``
    (float64), ``std = sqrt(max(w^T cw, 1e-30))`` (float64) and ``value = std`` (``/ x_den``
    for the ``"n"`` metric) in ``w``'s dtype; None where the kernel cannot run."""
    ks = _stats_kernels()
    if ks is None or not _weights_ok(w):
        return None
    n_in, nf, n_out = w.shape
    if not _f64_cpu(cov, (n_in, nf, nf)):
        return None
    if x_den is not None:
        if not _f64_cpu(x_den, (n_in,), flat=True):
            return None
    cw = cov.new_empty(n_in, nf, n_out)
    std = cov.new_empty(n_in, n_out)
    value = w.new_empty(n_in, n_out)
    sw = w.stride()
    _call_stats(
        ks.stats_fn["stats_fwd"][w.dtype],
        [
            cov.data_ptr(),
            w.data_ptr(),
            sw[0],
            sw[1],
            sw[2],
            n_in,
            nf,
            n_out,
            B,
            0 if x_den is None else x_den.data_ptr(),
            cw.data_ptr(),
            std.data_ptr(),
            value.data_ptr(),
        ],
    )
    return cw, std, value


def stats_backward(
    gval: torch.Tensor,
    std: torch.Tensor,
    cw: torch.Tensor,
    w: torch.Tensor,
    B: int,
    x_rden: torch.Tensor | None,
    need_x: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None] | None:
    """The magnitudes' backward for :func:`stats_forward`'s outputs: ``(gw, M, g_xstd)``, the
    weights' gradient (``w``'s dtype), and when ``need_x`` the float64 ``M [in, nf, nf]`` whose
    product with the centred features is the features' gradient, and (``"n"`` metric) the
    gradient in the inputs' std ``[in, 1]``; None where the kernel cannot run."""
    ks = _stats_kernels()
    if ks is None or not _weights_ok(w):
        return None
    if gval.dtype is not w.dtype or not gval.is_cpu:
        return None
    n_in, nf, n_out = w.shape
    # the C code reads these as dense float64 of exactly these shapes: anything else (a
    # direct caller's mistake; fused.py always passes stats_forward's own outputs) declines
    if gval.shape != (n_in, n_out) or not _f64_cpu(std, (n_in, n_out)):
        return None
    if not _f64_cpu(cw, (n_in, nf, n_out)):
        return None
    if x_rden is not None and not _f64_cpu(x_rden, (n_in,), flat=True):
        return None
    gw = w.new_empty(n_in, nf, n_out)
    M = cw.new_empty(n_in, nf, nf) if need_x else None
    g_xstd = cw.new_empty(n_in, 1) if need_x and x_rden is not None else None
    sg, sw = gval.stride(), w.stride()
    _call_stats(
        ks.stats_fn["stats_bwd"][w.dtype],
        [
            gval.data_ptr(),
            sg[0],
            sg[1],
            std.data_ptr(),
            cw.data_ptr(),
            w.data_ptr(),
            sw[0],
            sw[1],
            sw[2],
            n_in,
            nf,
            n_out,
            B,
            0 if x_rden is None else x_rden.data_ptr(),
            gw.data_ptr(),
            0 if M is None else M.data_ptr(),
            0 if g_xstd is None else g_xstd.data_ptr(),
        ],
    )
    return gw, M, g_xstd


def moments(f: torch.Tensor, x0: torch.Tensor | None) -> tuple[torch.Tensor, ...] | None:
    """The fused layer's float64 moments of features ``f [in, nf, B]`` (one chunk) in one
    call: ``(fc, mean [in, nf, 1], cov)``, and with the inputs ``x0 [in, B]`` (the ``"n"``
    metric) also ``(xc, x_std, x_std64, x_den, x_rden)`` as ``fused.Moments`` holds them;
    None where the kernel cannot run."""
    ks = _stats_kernels()
    if ks is None or f.dtype not in _FLOATS or not f.is_cpu or not f.is_contiguous():
        return None
    n_in, nf, B = f.shape
    if x0 is not None and (
        x0.dtype is not f.dtype or not x0.is_cpu or x0.shape != (n_in, B) or x0.stride(1) != 1
    ):
        return None
    d = torch.float64
    fc = torch.empty(n_in, nf, B, dtype=d)
    mean = torch.empty(n_in, nf, 1, dtype=d)
    cov = torch.empty(n_in, nf, nf, dtype=d)
    args = [f.data_ptr(), n_in, nf, B, fc.data_ptr(), mean.data_ptr(), cov.data_ptr()]
    if x0 is None:
        _call_stats(ks.stats_fn["moments"][f.dtype], [*args, 0, 0, 0, 0, 0, 0, 0])
        return fc, mean, cov
    xc = f.new_empty(n_in, B)
    x_std = f.new_empty(n_in, 1)
    x_std64, x_den, x_rden = (torch.empty(n_in, 1, dtype=d) for _ in range(3))
    args += [x0.data_ptr(), x0.stride(0), xc.data_ptr(), x_std.data_ptr()]
    args += [x_std64.data_ptr(), x_den.data_ptr(), x_rden.data_ptr()]
    _call_stats(ks.stats_fn["moments"][f.dtype], args)
    return fc, mean, cov, xc, x_std, x_std64, x_den, x_rden


def gram_backward(M: torch.Tensor, fc: torch.Tensor, gf: torch.Tensor) -> torch.Tensor | None:
    """``gf += (M @ fc).to(gf.dtype)`` for the Gram matrix's part of the features' gradient,
    in one call: ``gf`` itself, or None where the kernel cannot run (nothing written then)."""
    ks = _stats_kernels()
    if ks is None:
        return None
    n_in, nf, B = fc.shape
    if not (_f64_cpu(fc, (n_in, nf, B)) and _f64_cpu(M, (n_in, nf, nf))):
        return None
    if gf.dtype not in _FLOATS or gf.shape != (n_in, nf, B):
        return None
    if not (gf.is_contiguous() and gf.is_cpu):
        return None
    _call_stats(
        ks.stats_fn["gram_bwd"][gf.dtype],
        [M.data_ptr(), fc.data_ptr(), gf.data_ptr(), n_in, nf, B],
    )
    return gf
