"""kan_widget.hypothesis against closed forms and pykan 0.2.8's kan.hypothesis.

The module is imported as ``H`` (its functions are named ``test_*``, as pykan's: imported by
name, pytest would collect them)."""

from __future__ import annotations

import matplotlib
import pytest
import sympy
import torch

import kan_widget.hypothesis as H

matplotlib.use("Agg")


def _x(n: int, rows: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(rows, n, generator=g) * 2 - 1


def f_add(x):  # x0*x1 + x2*x3: additive in [[0,1],[2,3]]
    return x[:, [0]] * x[:, [1]] + x[:, [2]] * x[:, [3]]


def f_mul(x):  # (x0+x1)(x2+x3)(x4+x5)
    return (x[:, [0]] + x[:, [1]]) * (x[:, [2]] + x[:, [3]]) * (x[:, [4]] + x[:, [5]])


def f_sin_mul(x):
    return torch.sin(f_mul(x))


def f_tree(x):  # ((x0²+x1²)² + (x2²+x3²)²)² + x4²
    inner = (x[:, [0]] ** 2 + x[:, [1]] ** 2) ** 2 + (x[:, [2]] ** 2 + x[:, [3]] ** 2) ** 2
    return inner**2 + x[:, [4]] ** 2


def _partition(groups) -> set[frozenset[int]]:
    return {frozenset(int(i) for i in g) for g in groups}


def test_detect_separability_closed_forms():
    r = H.detect_separability(f_add, _x(4), mode="add")
    assert r["n_groups"] == 2 and r["groups"] == [[0, 1], [2, 3]] and r["labels"] == [0, 0, 1, 1]
    assert r["hessian"].shape == (4, 4)
    # d2(x0 x1)/dx0 dx1 = 1, scaled by std ~ 1/sqrt(3) each: median 1/3
    assert abs(float(r["hessian"][0, 1]) - 1 / 3) < 0.1 and float(r["hessian"][0, 2]) < 1e-6
    r = H.detect_separability(f_mul, _x(6), mode="mul")
    assert r["groups"] == [[0, 1], [2, 3], [4, 5]]
    assert H.detect_separability(f_mul, _x(6), mode="add")["n_groups"] == 1


def test_linear_function_is_fully_separable():
    # zero Hessian: pykan divides 0 by 0 and fails with KeyError; every input is its own group
    r = H.detect_separability(lambda x: x.sum(1, keepdim=True), _x(3), mode="add")
    assert r["n_groups"] == 3


def test_separability_and_symmetry_closed_forms():
    x = _x(6)
    assert bool(H.test_separability(f_add, _x(4), [[0, 1], [2, 3]], mode="add"))
    assert not bool(H.test_separability(f_add, _x(4), [[0, 2], [1, 3]], mode="add"))
    assert bool(H.test_separability(f_mul, x, [[0, 1], [2, 3], [4, 5]], mode="mul"))
    assert not bool(H.test_separability(f_mul, x, [[0, 1], [2, 4], [3, 5]], mode="mul"))
    assert bool(H.test_general_separability(f_sin_mul, x, [[0, 1], [2, 3], [4, 5]]))
    assert bool(H.test_symmetry(f_mul, x, [0, 1])) and not bool(H.test_symmetry(f_mul, x, [0, 2]))
    assert bool(H.test_symmetry(f_mul, x, [])) and bool(H.test_symmetry(f_mul, x, list(range(6))))
    dep = H.get_dependence(f_mul, x, [0, 1])
    assert dep.shape == (2, 4) and float(dep.max()) < 1e-4


def test_molecule_and_tree_nodes():
    x = _x(5)
    m = H.get_molecule(f_tree, x, verbose=False)
    assert m == [
        [[0], [1], [2], [3], [4]],
        [[0, 1], [2, 3], [4]],
        [[0, 1, 2, 3], [4]],
        [[0, 1, 2, 3, 4]],
    ]
    arities, props = H.get_tree_node(f_tree, x, m, sep_th=1e-1, skip_test=False)
    assert arities == [[2, 2, 1], [2, 1], [2]]
    assert props == [["GS", "GS", "Id"], ["GS", "Id"], ["Add"]]


def test_symmetry_var_cosine():
    a, b, c = sympy.symbols("a b c")
    x = _x(3) * 0.9 + 1.0  # keep c away from 0
    f = lambda x: x[:, [0]] * torch.sqrt(1 + (x[:, [1]] / x[:, [2]]) ** 2)  # noqa: E731
    cos = H.test_symmetry_var(f, x, [a, b, c], b / c)
    assert cos.shape == (64,) and float(cos.min()) > 1 - 1e-4
    assert float((H.test_symmetry_var(f, x, [a, b, c], b * c) > 0.9).float().mean()) < 0.9
    cos = H.test_symmetry_var(f, x, [a, b, c], sympy.sqrt(b**2 / c**2 + 1))  # torch sqrt
    assert float(cos.min()) > 1 - 1e-4


def test_plot_tree_and_model_tree_draw_without_files(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from kan_widget import KAN

    monkeypatch.chdir(tmp_path)
    H.plot_tree(f_tree, _x(5), style="tree")
    H.plot_tree(f_tree, _x(5), in_var=["a", "b", "c", "d", "e"], style="box")
    model = KAN(width=[2, 3, 1], grid=3, k=3, seed=0)
    with pytest.raises(ValueError, match="pass x"):
        model.tree()
    model(_x(2, rows=16))
    model.tree(sym_th=1e-2, sep_th=5e-1)
    plt.close("all")
    assert list(tmp_path.iterdir()) == []


def test_bad_input_errors():
    with pytest.raises(ValueError, match="mode must be"):
        H.detect_separability(f_add, _x(4), mode="sum")
    with pytest.raises(TypeError, match="2-D torch tensor"):
        H.test_symmetry(f_add, [[0.0, 1.0]], [0])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        H.test_separability(f_add, _x(4), [[0, 7]])
    with pytest.raises(ValueError, match="twice"):
        H.test_separability(f_add, _x(4), [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="bias"):  # log|x0 * 0| = -inf everywhere
        H.detect_separability(lambda x: x[:, [0]] * 0, _x(2), mode="mul")
    with pytest.raises(ValueError, match="n_clusters"):
        H.detect_separability(f_add, _x(4), n_clusters=9)
    a, b, z = sympy.symbols("a b z")
    with pytest.raises(ValueError, match="not among input_vars"):
        H.test_symmetry_var(f_add, _x(4), [a, b], a * z)
    with pytest.raises(ValueError, match="style"):
        H.plot_tree(f_tree, _x(5), style="ring")


CASES = [
    (f_add, 4, "add"),
    (f_mul, 6, "mul"),
    (f_mul, 6, "add"),
    (f_tree, 5, "add"),
]


@pytest.mark.parametrize("f,n,mode", CASES)
def test_parity_with_pykan(f, n, mode, tmp_path, monkeypatch):
    pytest.importorskip("kan")
    P = pytest.importorskip("kan.hypothesis")
    monkeypatch.chdir(tmp_path)
    x = _x(n, seed=n)
    ours, theirs = H.detect_separability(f, x, mode=mode), P.detect_separability(f, x, mode=mode)
    assert ours["n_groups"] == theirs["n_groups"]
    assert _partition(ours["groups"]) == _partition(theirs["groups"])
    torch.testing.assert_close(ours["hessian"], theirs["hessian"], rtol=1e-4, atol=1e-6)
    for groups in ([[0, 1]], [[0, 1], [2, 3]], [[0, 2], [1, 3]]):
        for m in ("add", "mul"):
            assert bool(H.test_separability(f, x, groups, mode=m)) == bool(
                P.test_separability(f, x, groups, mode=m)
            )
    for group in ([0, 1], [0, 2], [2, 3]):
        assert bool(H.test_symmetry(f, x, group)) == bool(P.test_symmetry(f, x, group))
        torch.testing.assert_close(
            H.get_dependence(f, x, group), P.get_dependence(f, x, group), rtol=1e-3, atol=1e-6
        )
    m = H.get_molecule(f, x, verbose=False)
    assert m == P.get_molecule(f, x, verbose=False)
    assert H.get_tree_node(f, x, m, skip_test=False) == P.get_tree_node(f, x, m, skip_test=False)
    gs = [[0, 1], [2, 3]]
    assert bool(H.test_general_separability(f, x, gs)) == bool(
        P.test_general_separability(f, x, gs)
    )
    a, b, c = sympy.symbols("a b c")
    for sv in (a + b, a * b, a / (c + 2)):
        torch.testing.assert_close(
            H.test_symmetry_var(f, x, [a, b, c], sv),
            P.test_symmetry_var(f, x, [a, b, c], sv),
            rtol=1e-4,
            atol=1e-6,
        )


def test_pykan_import_lines_are_rewritten_and_work():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "pykan_tutorials.py"
    spec = importlib.util.spec_from_file_location("pykan_tutorials", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    src = "from kan.hypothesis import *\nfrom kan.hypothesis import plot_tree"
    out = mod.rewrite(src)
    assert out == "from kan_widget.hypothesis import *\nfrom kan_widget.hypothesis import plot_tree"
    scope: dict = {}
    exec(out, scope)
    assert {"detect_separability", "test_symmetry_var", "plot_tree"} <= scope.keys()
