"""The compiled B-spline kernel (kan_widget/ckernel.py, csrc/basis.c): bit-identical to the
torch path on random inputs and at the edges (inputs exactly on knots, outside the grid, k=1..3,
several grid sizes, every column-count class of torch's sum), through a whole training run, and
the torch path when there is no compiler, the build fails or KAN_WIDGET_NO_CKERNEL is set."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from kan_widget import KAN, ckernel, splines

DTYPES = (torch.float32, torch.float64)


def need_kernel() -> None:
    if not ckernel.available():
        pytest.skip("no C compiler here: the torch path is tested by the fallback tests")


def need_sum(dtype) -> int:
    """The vector width that reproduces torch's sum on this machine (found by the probe)."""
    need_kernel()
    ks = ckernel._kernels_for(dtype)
    assert ks is not None
    vec = ks.vec[dtype]
    if vec is None:
        pytest.skip("torch sums in an order the kernel does not know here: the torch path")
    return vec


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to the bit (NaN where the other has NaN, the same payload not required)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan = a.isnan()
    if not torch.equal(nan, b.isnan()):
        return False
    ints = torch.int32 if a.dtype == torch.float32 else torch.int64
    return torch.equal(a[~nan].view(ints), b[~nan].view(ints))


def inputs(grid: torch.Tensor, B: int, g: torch.Generator) -> torch.Tensor:
    """[B, n_in]: uniform over and beyond the grid, with knots hit exactly (the first, the
    last, interior ones), far outside, +-0, NaN and +-inf."""
    n_in, n_knots = grid.shape
    lo, hi = float(grid.min()), float(grid.max())
    x = torch.rand(B, n_in, generator=g, dtype=grid.dtype) * (hi - lo) * 1.4 + lo - 0.2 * (hi - lo)
    m = min(B, n_knots)
    x[:m] = grid[:, :m].t()
    if B > n_knots + 4:
        x[n_knots] = lo - 1e3
        x[n_knots + 1] = hi + 1e3
        x[n_knots + 2] = 0.0
        x[n_knots + 3] = -0.0
    if B > n_knots + 7:  # NaN and infinities: NaN out where torch gives NaN
        x[n_knots + 4] = float("nan")
        x[n_knots + 5] = float("inf")
        x[n_knots + 6] = -float("inf")
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("G", [1, 3, 5, 20])
def test_basis_bitwise(dtype, k, G):
    need_kernel()
    g = torch.Generator().manual_seed(G * 10 + k)
    cases = ((1, 1, (-1, 1)), (3, 37, (-1, 1)), (7, 300, (-2.5, 0.3)), (2, 1001, (0, 1)))
    for n_in, B, span in cases:
        grid = splines.uniform_grid(n_in, G, k, span, dtype=dtype)
        grid = grid + 0.1 * torch.rand(grid.shape, generator=g, dtype=dtype).cumsum(1)  # uneven
        kn = splines.knots_of(grid, k)
        assert kn.packed is not None
        xt = inputs(grid, B, g).t().contiguous().unsqueeze(1)
        ref = splines.recursion_torch(xt, kn)
        got = ckernel.basis(xt, kn, None, None, None, True)
        assert got is not None
        assert same_bits(ref[0], got[0]) and same_bits(ref[1], got[1]), (n_in, B)
        assert same_bits(splines.recursion(xt, kn)[0], ref[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_basis_strided_outputs_and_chunks(dtype):
    """Into column chunks of a feature tensor's strided view (as the fused layer writes), with
    a scratch, and the temporaries' destinations when no outputs are given."""
    need_kernel()
    g = torch.Generator().manual_seed(3)
    n_in, G, k, B = 5, 4, 3, 700
    grid = splines.uniform_grid(n_in, G, k, (-1, 1), dtype=dtype)
    kn = splines.knots_of(grid, k)
    xt = inputs(grid, B, g).t().contiguous().unsqueeze(1)
    n_f = G + k + 1
    f_ref, f_got = torch.full((2, n_in, n_f, B), 7.0, dtype=dtype)
    for c in (slice(0, 256), slice(256, 600), slice(600, 700)):
        p_ref = torch.empty(n_in, n_f, c.stop - c.start, dtype=dtype)
        p_got = torch.empty_like(p_ref)
        splines.recursion_torch(xt[..., c], kn, f_ref[:, 1:, c], p_ref)
        ckernel.basis(xt[..., c], kn, f_got[:, 1:, c], p_got, None, True)
        assert same_bits(p_ref, p_got)
    assert same_bits(f_ref, f_got)  # column 0 untouched by both
    x_rows = inputs(grid, B, g)  # [B, in]: its transpose's batch is strided, as in basis_t
    got = ckernel.basis(x_rows.t().unsqueeze(1), kn, None, None, None, True)
    ref = splines.recursion_torch(x_rows.t().unsqueeze(1), kn)
    assert got is not None and same_bits(got[0], ref[0]) and same_bits(got[1], ref[1])
    sc = splines.Scratch(xt, n_in * (G + 2 * k + 1) * B)
    v, p = ckernel.basis(xt, kn, None, None, sc, False)  # type: ignore[misc]
    assert p is None and same_bits(v, splines.recursion_torch(xt, kn)[0])


def deriv_case(n_in, G, k, B, dtype, g):
    kn = splines.knots_of(splines.uniform_grid(n_in, G, k, (-1, 1), dtype=dtype), k)
    n_b = G + k + 1
    # heavy-tailed magnitudes of both signs: a sum in any other order rounds differently
    prev = torch.randn(n_in, n_b, B, generator=g, dtype=dtype).mul_(6).exp_()
    gf = torch.randn(n_in, n_b, B, generator=g, dtype=dtype).mul_(4)
    return kn, prev, gf[:, 1:]  # the gradient as the layer passes it: a strided view


@pytest.fixture
def one_thread():
    """One thread, as in a training step (torch's sum then never splits the columns)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [2, 6, 15, 16, 17, 40, 70])
def test_deriv_bitwise(dtype, K, one_thread):
    """Every column count torch's sum treats differently (fewer than a vector, whole groups of
    four vectors, single vectors, a scalar tail) and sums long enough for its cascade levels."""
    vec = need_sum(dtype)
    g = torch.Generator().manual_seed(K)
    k = 3 if K > 3 else 1
    for B in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 262, 1000):
        kn, prev, gr = deriv_case(2, K - k, k, B, dtype, g)
        ref = splines.deriv_grad_torch(prev, kn, gr)
        got = ckernel.deriv_grad(prev, kn, gr)
        if got is None:  # one column with a sum of a vector or more: torch's inner sum
            assert B == 1 and K >= vec
            got = splines.basis_deriv_grad(prev, kn, gr)
        assert same_bits(ref, got), (K, B)


def test_deriv_long_cascade(one_thread):
    """A sum over more than 256 basis functions: torch's cascade flushes its second level."""
    need_sum(torch.float32)
    g = torch.Generator().manual_seed(0)
    kn, prev, gr = deriv_case(1, 270, 3, 70, torch.float32, g)
    got = ckernel.deriv_grad(prev, kn, gr)
    assert got is not None and same_bits(splines.deriv_grad_torch(prev, kn, gr), got)


def test_deriv_under_threads():
    """With several threads torch may split a large sum's columns over them; the kernel leaves
    those to torch, so the result is the same as torch's either way."""
    need_kernel()
    g = torch.Generator().manual_seed(1)
    kn, prev, gr = deriv_case(40, 3, 3, 1000, torch.float32, g)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = splines.deriv_grad_torch(prev, kn, gr)
        b = splines.basis_deriv_grad(prev, kn, gr)
    finally:
        torch.set_num_threads(before)
    assert same_bits(a, b)


def fit_state(dtype, width, B, opt, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, width[0], generator=g, dtype=dtype) * 2 - 1
    y = torch.sin(3 * x[:, :1]) + x[:, -1:] ** 2
    data = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    model = KAN(width=width, grid=3, k=3, seed=seed, dtype=dtype)
    model.fit(data, opt=opt, steps=4, lamb=0.01, update_grid=True, grid_update_num=2)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "dtype,width,B,opt",
    [
        (torch.float32, [2, 5, 1], 200, "LBFGS"),
        (torch.float64, [2, 5, 1], 200, "LBFGS"),
        (torch.float32, [3, 40, 1], 2000, "Adam"),  # a hidden layer in several chunks
    ],
)
def test_training_identical(dtype, width, B, opt):
    """A fit (penalty, grid updates) gives the same parameters to the bit either way (the
    basis kernel's claim: the compiled magnitudes and penalty, which round differently, are
    held off here; tests/test_cstats.py checks them)."""
    need_kernel()
    stats_before = ckernel.use_stats(False)
    try:
        with_kernel = fit_state(dtype, width, B, opt)
        before = ckernel.use(False)
        try:
            torch_path = fit_state(dtype, width, B, opt)
        finally:
            ckernel.use(before)
    finally:
        ckernel.use_stats(stats_before)
    assert with_kernel.keys() == torch_path.keys()
    for name, v in with_kernel.items():
        assert (
            same_bits(v, torch_path[name])
            if v.is_floating_point()
            else torch.equal(v, torch_path[name])
        ), name


def test_declines_what_it_cannot_run():
    need_kernel()
    kn = splines.knots_of(splines.uniform_grid(2, 3, 3, (-1, 1), dtype=torch.float32), 3)
    xt = torch.rand(2, 1, 10)
    assert ckernel.basis(xt.double(), kn, None, None, None, True) is None  # dtype mismatch
    out = torch.empty(2, 10, 6).transpose(1, 2)  # [2, 6, 10], batch not contiguous
    assert ckernel.basis(xt, kn, out, None, None, True) is None
    x = xt.clone().requires_grad_()
    assert ckernel.basis(x, kn, None, None, None, True) is None  # autograd records the ops
    with torch.no_grad():
        assert ckernel.basis(x, kn, None, None, None, True) is not None
    assert ckernel.basis(xt[:1], kn, None, None, None, True) is None  # broadcast: torch's
    p, gr = torch.rand(2, 7, 10), torch.rand(2, 6, 10)
    assert ckernel.deriv_grad(p[:, :6], kn, gr[:, :5]) is None  # rows not the knots' count
    assert ckernel.deriv_grad(p[:1], kn, gr[:1]) is None
    kn0 = splines.knots_of(splines.uniform_grid(2, 3, 0, (-1, 1), dtype=torch.float32), 0)
    assert ckernel.basis(xt, kn0, None, None, None, True) is None  # k = 0
    assert splines.recursion(xt, kn0)[0].shape == (2, 3, 10)


# --- the torch path: no compiler, a failed build, the switch -------------------------------


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """The module as in a new process (nothing loaded yet), its cache in a temporary folder."""
    monkeypatch.setattr(ckernel, "_tried", False)
    monkeypatch.setattr(ckernel, "_state", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(ckernel.ENV_OFF, raising=False)
    return tmp_path


def check_torch_path() -> None:
    """Nothing compiled is used: knots carry no packed constants, results are torch's."""
    assert not ckernel.available()
    grid = splines.uniform_grid(3, 4, 3, (-1, 1), dtype=torch.float32)
    kn = splines.knots_of(grid, 3)
    assert kn.packed is None
    xt = torch.rand(3, 1, 50).mul_(2).sub_(1)
    assert ckernel.basis(xt, kn, None, None, None, True) is None
    v, p = splines.recursion(xt, kn)
    ref = splines.recursion_torch(xt, kn)
    assert torch.equal(v, ref[0]) and p is not None and torch.equal(p, ref[1])
    gr = torch.randn(3, 7, 50)
    assert torch.equal(splines.basis_deriv_grad(p, kn, gr), splines.deriv_grad_torch(p, kn, gr))


def test_no_compiler_torch_path(fresh, monkeypatch, caplog):
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    with caplog.at_level("DEBUG", logger="kan_widget.ckernel"):
        check_torch_path()
    assert any("no C compiler" in r.message for r in caplog.records)
    assert not (fresh / "kan_widget").exists()


def test_failed_build_torch_path(fresh, monkeypatch):
    false = shutil.which("false")
    if false is None:
        pytest.skip("no 'false' program to stand for a broken compiler")
    monkeypatch.setenv("CC", false)
    check_torch_path()
    assert list((fresh / "kan_widget").iterdir()) == []  # no half-written library left


def test_switched_off_torch_path(fresh, monkeypatch):
    monkeypatch.setenv(ckernel.ENV_OFF, "1")
    check_torch_path()


def test_build_into_user_cache(fresh, monkeypatch):
    """Built into $XDG_CACHE_HOME/kan_widget (never the working directory), then reused."""
    if shutil.which(os.environ.get("CC") or "cc") is None:
        pytest.skip("no C compiler")
    cwd = set(os.listdir("."))
    assert ckernel.available()
    built = list((fresh / "kan_widget").iterdir())
    assert len(built) == 1 and built[0].suffix == ".so"
    assert set(os.listdir(".")) == cwd
    mtime = built[0].stat().st_mtime_ns
    monkeypatch.setattr(ckernel, "_tried", False)
    monkeypatch.setattr(ckernel, "_state", None)
    assert ckernel.available()
    assert built[0].stat().st_mtime_ns == mtime  # loaded from the cache, not rebuilt


def test_damaged_library_torch_path_then_rebuilt(fresh, monkeypatch):
    """A damaged library in the cache: the torch path, and the file goes, so the next process
    builds it anew."""
    cc = ckernel._compiler()
    if cc is None:
        pytest.skip("no C compiler")
    lib = ckernel._lib_path(cc, ckernel._flags())  # in the fresh cache: never loaded here
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"not a library")
    check_torch_path()
    assert not lib.exists()
    monkeypatch.setattr(ckernel, "_tried", False)
    assert ckernel.available() and lib.exists()


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeated_knots_bitwise(dtype):
    """Zero-width spans (repeated knots: the reciprocal is 0 there) in the basis and its
    derivative."""
    need_kernel()
    g = torch.Generator().manual_seed(5)
    row = [-1.0, -1.0, -1.0, -1.0, -0.2, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]
    grid = torch.tensor([row, [v * 2 for v in row]], dtype=dtype)
    kn = splines.knots_of(grid, 3)
    xt = inputs(grid, 200, g).t().contiguous().unsqueeze(1)
    ref, got = splines.recursion_torch(xt, kn), ckernel.basis(xt, kn, None, None, None, True)
    assert got is not None and same_bits(ref[0], got[0]) and same_bits(ref[1], got[1])
    p = ref[1].nan_to_num()
    gr = torch.randn(2, p.shape[1] - 1, 200, generator=g, dtype=dtype)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert same_bits(splines.deriv_grad_torch(p, kn, gr), splines.basis_deriv_grad(p, kn, gr))
    finally:
        torch.set_num_threads(before)
