"""pykan 0.2.8's ``kan.hypothesis``: tests of separability and symmetry of a function, read
from its input derivatives, and the tree of how its variables combine (``plot_tree``).

``model`` is anything callable on ``x [B, n]`` returning ``[B, 1]``: a KAN, an MLP, a lambda.
Every test is a median over the rows of ``x`` of a normalised derivative, so one row where the
function is singular does not decide it. Names, arguments and return shapes are pykan's; the
differences (no scikit-learn, clear errors instead of ``KeyError``/NaN) are listed in
docs/PYKAN_DIFFERENCES.md.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch

from .utils import batch_hessian, batch_jacobian

__all__ = [
    "batch_grad_normgrad",
    "detect_separability",
    "get_dependence",
    "get_molecule",
    "get_tree_node",
    "plot_tree",
    "test_general_separability",
    "test_separability",
    "test_symmetry",
    "test_symmetry_var",
]

Fn = Callable[[torch.Tensor], torch.Tensor]


def _check_x(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a 2-D torch tensor [B, n_var]; got {type(x).__name__}")
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(
            f"x must be [B, n_var] with B >= 2 rows (derivatives are normalised by each "
            f"column's std); got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor (it is differentiated); got {x.dtype}")
    return x


def _check_groups(groups: Sequence[Sequence[int]], n: int, name: str = "groups") -> None:
    seen: set[int] = set()
    for g in groups:
        for i in g:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
                raise ValueError(f"{name} holds {i!r}; indices must be ints in [0, {n})")
            if i in seen:
                raise ValueError(f"{name} {list(map(list, groups))} name variable {i} twice")
            seen.add(i)


def _others(n: int, group: Sequence[int]) -> list[int]:
    return sorted(set(range(n)) - set(group))


def _score_matrix(model: Fn, x: torch.Tensor, mode: str, bias: float) -> torch.Tensor:
    """Median over rows of ``|d2 g / dx_i dx_j| * std_i * std_j`` with ``g = f`` ('add') or
    ``g = log|f + bias|`` ('mul'): zero off a block means g is a sum over the blocks."""
    if mode == "add":
        g = model
    elif mode == "mul":

        def g(x: torch.Tensor) -> torch.Tensor:
            return torch.log(torch.abs(model(x) + bias))

    else:
        raise ValueError(f"mode must be 'add' or 'mul'; got {mode!r}")
    hessian = batch_hessian(g, x)
    bad = ~torch.isfinite(hessian).flatten(1).all(dim=1)
    if bool(bad.any()):
        hint = (
            " (mode='mul' takes log|f(x) + bias|: f + bias is zero there; pass a bias or drop "
            "those rows)"
            if mode == "mul"
            else " (f is not twice differentiable there; drop those rows)"
        )
        raise ValueError(
            f"the Hessian is not finite at {int(bad.sum())} of {x.shape[0]} rows of x{hint}"
        )
    std = torch.std(x, dim=0)
    normalised = hessian * std[None, :] * std[:, None]
    return torch.median(torch.abs(normalised), dim=0)[0]


def _complete_linkage(dist: torch.Tensor, n_clusters: int) -> list[int]:
    """Labels of complete-linkage clustering of a precomputed distance matrix (upper triangle
    read, as scikit-learn's). Ties merge the pair with the smallest indices; labels are numbered
    by each cluster's smallest member, so equal partitions give equal labels."""
    n = dist.shape[0]
    upper = torch.triu(dist, 1)
    d: list[list[float]] = (upper + upper.T).tolist()
    clusters: list[list[int]] = [[i] for i in range(n)]
    while len(clusters) > n_clusters:
        best: tuple[float, int, int] | None = None
        for a in range(len(clusters)):  # n_var clusters, not edges: a few dozen at most
            for b in range(a + 1, len(clusters)):
                link = max(d[i][j] for i in clusters[a] for j in clusters[b])
                if best is None or link < best[0]:
                    best = (link, a, b)
        assert best is not None
        _, a, b = best
        clusters[a] = sorted(clusters[a] + clusters[b])
        del clusters[b]
    clusters.sort(key=lambda c: c[0])
    labels = [0] * n
    for k, c in enumerate(clusters):
        for i in c:
            labels[i] = k
    return labels


def detect_separability(
    model: Fn,
    x: torch.Tensor,
    mode: str = "add",
    score_th: float = 1e-2,
    res_th: float = 1e-2,
    n_clusters: int | list[int] | None = None,
    bias: float = 0.0,
    verbose: bool = False,
) -> dict[str, Any]:
    """Find the finest grouping of the inputs in which ``model`` is additively ('add') or
    multiplicatively ('mul') separable. Returns pykan's dict: ``hessian`` (the score matrix
    ``[n, n]``), ``n_groups``, ``labels`` (one per input), ``groups`` (lists of inputs)."""
    x = _check_x(x)
    n = x.shape[1]
    score_mat = _score_matrix(model, x, mode, bias)
    results: dict[str, Any] = {"hessian": score_mat}
    dist_hard = (score_mat < score_th).float()  # 1 = no interaction: far apart

    if isinstance(n_clusters, bool):
        raise TypeError("n_clusters must be None, an int or a [low, high] list")
    if isinstance(n_clusters, int):
        lo, hi = n_clusters, n_clusters
    elif isinstance(n_clusters, list) and len(n_clusters) == 2:
        lo, hi = n_clusters
    elif n_clusters is None:
        lo, hi = 1, n
    else:
        raise TypeError(
            f"n_clusters must be None, an int or a [low, high] list; got {n_clusters!r}"
        )
    if not 1 <= lo <= hi <= n:
        raise ValueError(
            f"n_clusters must lie in [1, {n}] (the number of inputs); got {n_clusters!r}"
        )

    total = torch.sum(score_mat)
    for k in range(lo, hi + 1):
        labels = _complete_linkage(dist_hard, k)
        groups = [[i for i in range(n) if labels[i] == c] for c in range(k)]
        block = sum(float(score_mat[g][:, g].sum()) for g in groups)
        # an all-zero score matrix (a linear function) has nothing off any block: ratio 0,
        # where pykan divides 0 by 0 and fails with a KeyError
        ratio = (float(total) - block) / float(total) if float(total) > 0 else 0.0
        if verbose:
            print(f"n_group={k}, residual_ratio={ratio}")
        if ratio < res_th:  # the last (finest) passing grouping wins, as pykan's
            results["n_groups"] = k
            results["labels"] = labels
            results["groups"] = groups
    if "n_groups" not in results:
        raise ValueError(
            f"no grouping with n_clusters in [{lo}, {hi}] leaves a residual ratio below "
            f"res_th={res_th}; raise res_th or widen n_clusters (verbose=True prints the ratios)"
        )
    print(f"{mode} separability {'detected' if results['n_groups'] > 1 else 'not detected'}")
    return results


def batch_grad_normgrad(
    model: Fn, x: torch.Tensor, group: Sequence[int], create_graph: bool = False
) -> torch.Tensor:
    """``d (g_A / |g_A|) / d x_B`` row by row, ``[B, |A|, |B|]``, where ``g_A`` is the gradient
    of ``model`` on the inputs in ``group`` and ``B`` the other inputs."""
    group_a = list(group)
    group_b = _others(x.shape[1], group_a)

    def unit_grad_sum(x: torch.Tensor) -> torch.Tensor:
        g = batch_jacobian(model, x, create_graph=True)[:, group_a]
        return (g / (torch.norm(g, dim=1, keepdim=True) + 1e-6)).sum(dim=0)

    jac = torch.autograd.functional.jacobian(unit_grad_sum, x, create_graph=create_graph)
    return jac.permute(1, 0, 2)[:, :, group_b]


def get_dependence(model: Fn, x: torch.Tensor, group: Sequence[int]) -> torch.Tensor:
    """How much the direction of the gradient on ``group`` moves with the other inputs,
    ``[|group|, n - |group|]`` (median over rows, scaled by the inputs' std). Zero everywhere
    means ``model`` depends on ``group`` only through one combined variable."""
    x = _check_x(x)
    _check_groups([group], x.shape[1], "group")
    group_a = list(group)
    group_b = _others(x.shape[1], group_a)
    dep = batch_grad_normgrad(model, x, group_a)
    std = torch.std(x, dim=0)
    dep = dep * std[None, group_a, None] * std[None, None, group_b]
    return torch.median(torch.abs(dep), dim=0)[0]


def test_symmetry(
    model: Fn, x: torch.Tensor, group: Sequence[int], dependence_th: float = 1e-3
) -> torch.Tensor:
    """Whether ``model`` depends on the inputs in ``group`` only through one combination
    ``h(x_group)``: a 0-d bool tensor (True for an empty or full group)."""
    x = _check_x(x)
    _check_groups([group], x.shape[1], "group")
    if len(group) in (0, x.shape[1]):
        return torch.tensor(True)
    return torch.max(get_dependence(model, x, group)) < dependence_th


def test_separability(
    model: Fn,
    x: torch.Tensor,
    groups: Sequence[Sequence[int]],
    mode: str = "add",
    threshold: float = 1e-2,
    bias: float = 0,
) -> torch.Tensor:
    """Whether ``model`` is a sum ('add') or product ('mul') of functions of the given groups
    (the inputs in no group count as one more group): a 0-d bool tensor."""
    x = _check_x(x)
    _check_groups(groups, x.shape[1])
    score_mat = _score_matrix(model, x, mode, bias)
    ok = torch.tensor(True)
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            if len(groups[i]) and len(groups[j]):
                ok = ok & (torch.max(score_mat[list(groups[i])][:, list(groups[j])]) < threshold)
    inside = [k for g in groups for k in g]
    outside = _others(x.shape[1], inside)
    if inside and outside:
        ok = ok & (torch.max(score_mat[inside][:, outside]) < threshold)
    return ok


def test_general_separability(
    model: Fn, x: torch.Tensor, groups: Sequence[Sequence[int]], threshold: float = 1e-2
) -> torch.Tensor:
    """Whether ``model = F(g_1(x_group1), g_2(x_group2), ...)`` for some F: every ratio of
    partial derivatives across two groups must be multiplicatively separable. 0-d bool tensor."""
    x = _check_x(x)
    _check_groups(groups, x.shape[1])
    ok = torch.tensor(True)
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            for a in groups[i]:
                for b in groups[j]:

                    def ratio(x: torch.Tensor, a: int = a, b: int = b) -> torch.Tensor:
                        g = batch_jacobian(model, x, create_graph=True)
                        return g[:, [b]] / g[:, [a]]

                    ok = ok & test_separability(ratio, x, groups, mode="mul", threshold=threshold)
    return ok


def get_molecule(
    model: Fn, x: torch.Tensor, sym_th: float = 1e-3, verbose: bool = True
) -> list[list[list[int]]]:
    """How the inputs combine, bottom-up: level 0 is ``[[0], [1], ...]``; each next level joins
    neighbours that ``model`` sees only through one combined variable (``test_symmetry``);
    the last level holds every input. Same greedy order and result as pykan's."""
    x = _check_x(x)
    n = x.shape[1]
    atoms: list[list[int]] = [[i] for i in range(n)]
    levels: list[list[list[int]]] = [copy.deepcopy(atoms)]
    molecules: list[list[int]] = []
    already_full = False
    n_layer = 0
    last_n_molecule = n

    while True:
        pointer = 0
        current: list[int] = []
        taken: list[list[int]] = []
        n_atom = 0
        full = False
        while atoms:
            atom = atoms[pointer]
            if verbose:
                print(current)
                print(atom)
            if not current:
                full = False
                current += atom
                taken.append(atom)
                n_atom += 1
            elif len(current + atom) == n and not already_full and n_atom > 1 and n_layer > 0:
                # joining would make one molecule of every input: keep the last atom apart for
                # one more level, so the top of the tree has two children (pykan's rule)
                full = True
                already_full = True
            else:
                full = False
                if test_symmetry(model, x, current + atom, dependence_th=sym_th):
                    current += atom
                    taken.append(atom)
                    n_atom += 1
            pointer += 1
            if pointer == len(atoms) or full:
                molecules.append(current)
                if full:
                    molecules.append(atom)
                    taken.append(atom)
                for t in taken:
                    atoms.remove(t)
                current, taken, pointer = [], [], 0

        if len(molecules) == last_n_molecule:  # no progress: everything joins at the top
            levels.append([[i for m in molecules for i in m]])
            break
        levels.append(copy.deepcopy(molecules))
        last_n_molecule = len(molecules)
        if len(molecules) == 1:
            break
        atoms, molecules = molecules, []
        n_layer += 1

    # reorder each lower level as the concatenation of its parents' pieces, top-down
    for level in range(len(levels) - 1, 0, -1):
        ordered: list[list[int]] = []
        for mol in levels[level]:
            start = 0
            for end in range(1, len(mol) + 1):
                if mol[start:end] in levels[level - 1]:
                    ordered.append(mol[start:end])
                    start = end
        levels[level - 1] = ordered
    return levels


def get_tree_node(
    model: Fn,
    x: torch.Tensor,
    moleculess: list[list[list[int]]],
    sep_th: float = 1e-2,
    skip_test: bool = True,
) -> tuple[list[list[int]], list[list[str]]]:
    """Each tree node's arity and property ('Id', 'GS' general separable, 'Add', 'Mul' at the
    top, '' unknown), per level above the inputs: ``(arities, properties)``."""
    x = _check_x(x)
    arities: list[list[int]] = []
    properties: list[list[str]] = []
    depth = len(moleculess) - 1
    for level in range(depth):
        below = moleculess[level]
        arity_l: list[int] = []
        prop_l: list[str] = []
        for mol in moleculess[level + 1]:
            groups: list[list[int]] = []
            start = 0
            for end in range(1, len(mol) + 1):
                if mol[start:end] in below:
                    groups.append(mol[start:end])
                    start = end
            arity_l.append(len(groups))
            prop = ""
            if len(groups) == 1:
                prop = "Id"
            elif not skip_test:
                if test_general_separability(model, x, groups, threshold=sep_th):
                    prop = "GS"
                if level == depth - 1:
                    if test_separability(model, x, groups, mode="add", threshold=sep_th):
                        prop = "Add"
                    if test_separability(model, x, groups, mode="mul", threshold=sep_th):
                        prop = "Mul"
            prop_l.append(prop)
        arities.append(arity_l)
        properties.append(prop_l)
    return arities, properties


def plot_tree(
    model: Fn,
    x: torch.Tensor,
    in_var: Sequence[Any] | None = None,
    style: str = "tree",
    sym_th: float = 1e-3,
    sep_th: float = 1e-1,
    skip_sep_test: bool = False,
    verbose: bool = False,
) -> None:
    """Draw the tree of :func:`get_molecule` / :func:`get_tree_node` with matplotlib on the
    current figure (nothing is written to disk). ``in_var``: sympy symbols or names."""
    import matplotlib.pyplot as plt

    if style not in ("tree", "box"):
        raise ValueError(f"style must be 'tree' or 'box'; got {style!r}")
    x = _check_x(x)
    n = x.shape[1]
    if in_var is None:
        in_vars = [sympy.Symbol(f"x_{i}") for i in range(1, n + 1)]
    else:
        if len(in_var) != n:
            raise ValueError(f"in_var names {len(in_var)} variables; x has {n} columns")
        in_vars = [v if isinstance(v, sympy.Basic) else sympy.Symbol(str(v)) for v in in_var]
    moleculess = get_molecule(model, x, sym_th=sym_th, verbose=verbose)
    arities, properties = get_tree_node(
        model, x, moleculess, sep_th=sep_th, skip_test=skip_sep_test
    )

    def box(cx: float, cy: float, wx: float, wy: float) -> None:
        xs = [cx - wx / 2, cx + wx / 2, cx + wx / 2, cx - wx / 2, cx - wx / 2]
        ys = [cy + wy / 2, cy + wy / 2, cy - wy / 2, cy - wy / 2, cy + wy / 2]
        plt.plot(xs, ys, color="k")

    depth = len(moleculess)
    delta, a, b, y0 = 1 / n, 0.3, 0.15, 0.5
    width_y = 2 * b
    last_centers: list[float] = []
    for level in range(depth - 1):
        molecules = moleculess[level + 1]
        centers: list[float] = []
        acc_arity = 0
        start_id = 0
        for i, mol in enumerate(molecules):
            end_id = start_id + len(mol)
            cx = (start_id + (end_id - 1 - start_id) / 2) * delta + delta / 2
            cy = (level + 1 / 2) * y0
            width_x = (end_id - start_id - 1 + 2 * a) * delta
            prop = properties[level][i]
            if style == "box":
                box(cx, cy, width_x, width_y)
                plt.text(cx, cy, prop, fontsize=15, ha="center", va="center")
            else:
                if prop in ("GS", "Add", "Mul"):
                    arity = arities[level][i]
                    for j in range(arity):
                        x_from = (
                            (start_id + j) * delta + delta / 2
                            if level == 0
                            else last_centers[acc_arity + j]
                        )
                        plt.plot([x_from, cx], [cy - b, cy + b], color="blue")
                    acc_arity += arity
                    if prop != "GS":
                        symbol = "+" if prop == "Add" else "*"
                        plt.text(
                            cx, cy + b, symbol, ha="center", va="center", color="red", fontsize=40
                        )
                elif prop == "Id":
                    plt.plot([cx, cx], [cy - width_y / 2, cy + width_y / 2], color="black")
                else:
                    box(cx, cy, width_x, width_y)
            plt.plot([cx, cx], [cy + width_y / 2, cy + y0 - width_y / 2], color="k")
            centers.append(cx)
            start_id = end_id
        last_centers = centers

    for i in range(n):
        xi = (i + 1 / 2) * delta
        plt.plot([xi, xi], [0, y0 / 2 - width_y / 2], color="k")
        label = sympy.latex(in_vars[moleculess[0][i][0]])
        plt.text(xi, -0.05 * (depth - 1), f"${label}$", fontsize=20, ha="center")
    plt.xlim(0, 1)
    plt.axis("off")
    plt.show()


# sympy functions as torch functions, so the symmetry variable's gradient comes from autograd
_TORCH_FUNCS: dict[str, Any] = {
    name: getattr(torch, name)
    for name in ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "sign")
}
_TORCH_FUNCS.update(
    Abs=torch.abs, asin=torch.asin, acos=torch.acos, atan=torch.atan, atanh=torch.atanh
)


def test_symmetry_var(
    model: Fn, x: torch.Tensor, input_vars: Sequence[sympy.Symbol], symmetry_var: sympy.Expr
) -> torch.Tensor:
    """Per row, ``|cos|`` of the angle between ``model``'s gradient and ``symmetry_var``'s
    gradient on the variables ``symmetry_var`` uses, ``[B]``; near 1 on most rows suggests
    ``model`` sees those variables only through ``symmetry_var``. Prints the share above 0.9."""
    x = _check_x(x)
    input_vars = list(input_vars)
    if len(input_vars) > x.shape[1]:
        raise ValueError(
            f"input_vars names {len(input_vars)} variables; x has {x.shape[1]} columns"
        )
    unknown = symmetry_var.free_symbols - set(input_vars)
    if unknown:
        raise ValueError(
            f"symmetry_var uses {sorted(map(str, unknown))}, not among input_vars {input_vars}"
        )
    idx = sorted(input_vars.index(s) for s in symmetry_var.free_symbols)
    if not idx:
        raise ValueError("symmetry_var is a constant; it must use some of input_vars")
    fn = sympy.lambdify(input_vars, symmetry_var, [_TORCH_FUNCS, "math"])

    def sym(x: torch.Tensor) -> torch.Tensor:
        return fn(*[x[:, [i]] for i in range(len(input_vars))])

    g_model = batch_jacobian(model, x)[:, idx]
    g_sym = batch_jacobian(sym, x)[:, idx]
    cossim = torch.abs(
        torch.sum(g_model * g_sym, dim=1) / (torch.norm(g_model, dim=1) * torch.norm(g_sym, dim=1))
    )
    nan = int(torch.isnan(cossim).sum())
    if nan:
        warnings.warn(
            f"{nan} of {len(cossim)} rows have a zero gradient (model or symmetry_var): their "
            "cosine is NaN and they count as below 0.9",
            stacklevel=2,
        )
    ratio = torch.sum(cossim > 0.9) / len(cossim)
    print(f"{100 * ratio}% data have more than 0.9 cosine similarity")
    print("suggesting symmetry" if ratio > 0.9 else "not suggesting symmetry")
    return cossim
