"""Formula to network: pykan's ``kanpiler`` (KAN 2.0 §3.2), at pykan's path ``kan.compiler``.

``kanpiler([x, y], exp(sin(pi*x) + y**2))`` returns a KAN whose edges are the formula's own
functions (symbolic edges ``c*f(a*x+b)+d``), so it computes the formula before any training and
can then be trained, pruned or inspected like any other model.

How the expression becomes layers (our own construction, pykan's result):
- every sub-expression is peeled of its affine part: ``3*sin(2*x+1) - 4`` is the function ``sin``
  with inner scale/shift ``(2, 1)`` and outer ``(3, -4)``, which are exactly an edge's
  ``(a, b, c, d)``; a sum node holds a sum of such terms;
- a node sits at the layer given by its depth from the output (the output is the last layer),
  and an input variable met above the first layer reaches it through a chain of identity edges
  (one chain per variable and layer, shared);
- edges the formula does not use are removed (masked), as pykan's are fixed to ``'0'``.
- a product of non-constant factors is a multiplication node (:mod:`kan_widget.nodes`) whose
  operands are the factors, each a sum of edges like any node (``exp(x*y) + x*z``: a layer of
  two multiplication nodes under a sum).
A string is parsed by sympy's parser with only sympy's functions and the given variables in
scope (``^`` is a power, as in pykan's notation); no Python is run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch

__all__ = ["expr2kan", "kanpiler", "parse_formula", "sf2kan"]

# sympy's unary functions and the library names they become (kan_widget.symbolic.SYMBOLIC_LIB)
_UNARY: dict[Any, str] = {
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.tanh: "tanh",
    sympy.asin: "arcsin",
    sympy.acos: "arccos",
    sympy.atan: "arctan",
    sympy.atanh: "arctanh",
    sympy.Abs: "abs",
    sympy.sign: "sgn",
}
_POWERS: dict[Any, str] = {
    **{sympy.Integer(n): f"x^{n}" for n in range(2, 6)},
    **{sympy.Integer(-n): f"1/x^{n}" for n in range(2, 6)},
    sympy.Integer(-1): "1/x",
    sympy.Rational(1, 2): "x^0.5",
    sympy.Rational(-1, 2): "1/x^0.5",
    sympy.Rational(3, 2): "x^1.5",
}
# what a typed formula may name: sympy's functions above, constants, and the variables
_PARSE_NAMES: tuple[str, ...] = ("exp", "log", "sin", "cos", "tan", "tanh", "asin", "acos")
_PARSE_NAMES += ("atan", "atanh", "Abs", "sign", "sqrt", "pi", "E")
_PARSE_NAMES += ("Integer", "Float", "Rational", "Symbol")  # what the parser's output calls
_PARSE_ALIASES = {"abs": sympy.Abs, "arcsin": sympy.asin, "arccos": sympy.acos}
_PARSE_ALIASES |= {"arctan": sympy.atan, "arctanh": sympy.atanh, "sgn": sympy.sign}
MAX_FORMULA_CHARS = 2000
# the functions a typed formula may call, as the error messages list them
_UNARY_NAMES = {"exp", "log", "sin", "cos", "tan", "tanh", "asin", "acos", "atan", "atanh"}
_UNARY_NAMES |= {"abs", "sign", "sqrt"}


def parse_formula(text: str, variables: Sequence[Any] | None = None) -> sympy.Expr:
    """A formula typed as text (``"exp(sin(pi*x) + y^2)"``) as a sympy expression. Only
    sympy's functions of the library, ``pi``, ``E`` and names of variables are in scope."""
    from tokenize import TokenError

    from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"the formula must be a non-empty string; got {text!r}")
    if len(text) > MAX_FORMULA_CHARS or "__" in text or any(c in text for c in "[]{};:'\"\\"):
        raise ValueError(
            f"{text[:60]!r} is not a formula: use numbers, variables, + - * / ^ ( ) and "
            f"functions such as {', '.join(sorted(_UNARY_NAMES))}"
        )
    called = set(re.findall(r"([A-Za-z_]\w*)\s*\(", text))
    unknown = sorted(called - set(_PARSE_NAMES) - set(_PARSE_ALIASES))
    if unknown:
        raise ValueError(
            f"unknown function {unknown[0]!r} in {text!r}: kanpiler knows "
            f"{', '.join(sorted(_UNARY_NAMES | set(_PARSE_ALIASES)))}"
        )
    scope: dict[str, Any] = {"__builtins__": {}}
    scope |= {n: getattr(sympy, n) for n in _PARSE_NAMES} | _PARSE_ALIASES
    local: dict[str, Any] = {}
    for v in variables or []:
        s = v if isinstance(v, sympy.Symbol) else sympy.Symbol(str(v))
        local[s.name] = s
    transformations = (*standard_transformations, convert_xor)  # "2x" stays an error
    try:
        expr = parse_expr(
            text, local_dict=local, global_dict=scope, transformations=transformations
        )
    except (SyntaxError, TypeError, NameError, ValueError, AttributeError, TokenError) as e:
        raise ValueError(f"cannot read the formula {text!r}: {e}") from None
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"{text!r} is not an expression (got {type(expr).__name__})")
    return expr


# ------------------------------------------------------------------ the expression tree
def _affine(expr: sympy.Expr) -> tuple[sympy.Expr, float, float]:
    """``expr = scale*core + bias`` with ``core`` free of a numeric factor or term."""
    scale, bias = sympy.Integer(1), sympy.Integer(0)
    while True:
        if isinstance(expr, sympy.Add):
            num = [a for a in expr.args if a.is_number]
            if not num:
                break
            bias += scale * sympy.Add(*num)
            expr = sympy.Add(*[a for a in expr.args if not a.is_number])
        elif isinstance(expr, sympy.Mul):
            num = [a for a in expr.args if a.is_number]
            if not num:
                break
            scale *= sympy.Mul(*num)
            expr = sympy.Mul(*[a for a in expr.args if not a.is_number])
        else:
            break
    return expr, _real(scale, expr), _real(bias, expr)


def _real(v: sympy.Expr, where: sympy.Expr) -> float:
    c = complex(sympy.N(v))
    if c.imag != 0 or not math.isfinite(c.real):
        raise ValueError(f"the constant {v} (next to {where}) is not a finite real number")
    return c.real


@dataclass
class _Edge:
    fun: str
    params: tuple[float, float, float, float]  # (a, b, c, d): c*fun(a*x + b) + d
    child: _Node
    operand: int = 0  # which factor of a multiplication node the edge adds into


@dataclass
class _Node:
    var: int | None = None  # an input variable's column, for a leaf
    edges: list[_Edge] = field(default_factory=list)
    layer: int = -1
    arity: int = 0  # 0: a sum node; else a multiplication node of this many factors


def _unary(core: sympy.Expr) -> tuple[str, sympy.Expr]:
    """``core = fun(arg)``: the library name and the argument, or a clear error."""
    if isinstance(core, sympy.Pow):
        base, ex = core.args
        if base.is_number and not ex.is_number:  # 2**x = exp(log(2)*x)
            return "exp", sympy.log(base) * ex
        name = _POWERS.get(ex)
        if name is None:
            raise ValueError(
                f"{core}: the power {ex} is not in the library (powers "
                f"{', '.join(str(p) for p in _POWERS)}); rewrite it or use fix_symbolic"
            )
        return name, base
    fn = _UNARY.get(core.func)
    if fn is None or len(core.args) != 1:
        raise ValueError(
            f"unknown function {core.func} in {core}: kanpiler knows "
            f"{', '.join(sorted({*_UNARY.values(), 'sqrt', 'x^n', '1/x^n'}))}"
        )
    return fn, core.args[0]


class _Tree:
    """The formula as nodes and edges, before layers are assigned."""

    def __init__(self, variables: Sequence[sympy.Symbol]):
        self.variables = list(variables)
        self.leaves: dict[int, _Node] = {}

    def node(self, core: sympy.Expr) -> _Node:
        """The node computing ``core`` (no affine part left)."""
        if isinstance(core, sympy.Symbol):
            if core not in self.variables:
                raise ValueError(
                    f"{core} is not one of the input variables {self.variables}; name it in "
                    "input_variables"
                )
            col = self.variables.index(core)
            return self.leaves.setdefault(col, _Node(var=col))
        if isinstance(core, sympy.Mul):  # a multiplication node: one operand per factor
            edges = []
            for o, factor in enumerate(core.args):
                for e in self.sum_edges(factor):
                    e.operand = o
                    edges.append(e)
            return _Node(edges=edges, arity=len(core.args))
        terms = core.args if isinstance(core, sympy.Add) else (core,)
        return _Node(edges=[self.edge(t) for t in terms])

    def sum_edges(self, expr: sympy.Expr) -> list[_Edge]:
        """Edges whose sum is exactly ``expr`` (its affine part folded into their c and d)."""
        core, c, d = _affine(expr)
        if core.is_number:
            raise ValueError(f"{expr} is a constant: there is no edge to build")
        terms = core.args if isinstance(core, sympy.Add) else (core,)
        edges = [self.edge(t) for t in terms]
        for e in edges:
            a_, b_, c_, d_ = e.params
            e.params = (a_, b_, c_ * c, d_ * c)
        first = edges[0]
        first.params = (*first.params[:3], first.params[3] + d)
        return edges

    def edge(self, term: sympy.Expr) -> _Edge:
        """The edge computing ``term`` = ``c*fun(a*inner + b) + d`` of a node's sum."""
        core, c, d = _affine(term)
        if isinstance(core, (sympy.Symbol, sympy.Add, sympy.Mul)):
            return _Edge("x", (1.0, 0.0, c, d), self.node(core))
        fun, arg = _unary(core)
        inner, a, b = _affine(arg)
        if inner.is_number:
            raise ValueError(f"{term} has a constant argument; simplify the formula")
        return _Edge(fun, (a, b, c, d), self.node(inner))


def _depths(root: _Node) -> dict[int, int]:
    """Every hidden node's depth below the output (the output is 0)."""
    depth: dict[int, int] = {}

    def walk(n: _Node, d: int) -> None:
        if n.var is None:
            depth[id(n)] = d
            for e in n.edges:
                walk(e.child, d + 1)

    walk(root, 0)
    return depth


class _Collision(Exception):
    """Two terms of one node read the same input: a KAN has one edge per pair of nodes."""


def kanpiler(
    input_variables: Sequence[Any],
    expr: Any,
    grid: int = 5,
    k: int = 3,
    auto_save: bool = False,
    **options: Any,
):
    """pykan's ``kanpiler(input_variables, expr, grid=5, k=3)``: a KAN computing ``expr`` (a
    sympy expression, or a string such as ``"exp(sin(pi*x) + y^2)"``) of ``input_variables``
    (sympy symbols or names, in the column order of the model's inputs). Further keywords are
    :class:`~kan_widget.KAN`'s options. The inputs keep the variables' names in
    ``symbolic_formula()``. Products become multiplication nodes. Unknown functions and
    powers not in the library raise ``ValueError`` naming the sub-expression."""
    from .model import KAN

    if isinstance(input_variables, (str, sympy.Symbol)) or not isinstance(
        input_variables, Sequence
    ):
        raise TypeError(f"input_variables must be a list of symbols; got {input_variables!r}")
    variables = [
        v if isinstance(v, sympy.Symbol) else sympy.Symbol(str(v)) for v in input_variables
    ]
    if not variables or len(set(variables)) != len(variables):
        raise ValueError(f"input_variables must be distinct names; got {list(input_variables)}")
    if isinstance(expr, str):
        expr = parse_formula(expr, variables)
    if not isinstance(expr, sympy.Expr):
        raise TypeError(f"expr must be a sympy expression or a string; got {expr!r}")
    extra = sorted(str(s) for s in expr.free_symbols - set(variables))
    if extra:
        raise ValueError(f"the formula uses {extra}, which are not in input_variables {variables}")
    tree = _Tree(variables)
    root = _Node(edges=tree.sum_edges(expr))  # the output: a sum node
    depth = _depths(root)
    n_layers = max(depth.values()) + 1  # a node at depth d reads layer L - d - 1
    # sin(x) + x^2 as the first layer: the input x cannot feed one node twice; one more layer
    # lets each term read its own identity copy of x
    try:
        return _build(KAN, root, depth, n_layers, variables, (grid, k, auto_save, options))
    except _Collision:
        return _build(KAN, root, depth, n_layers + 1, variables, (grid, k, auto_save, options))


def _build(
    KAN: Any,
    root: _Node,
    depth: dict[int, int],
    n_layers: int,
    variables: list[sympy.Symbol],
    opts: tuple[int, int, bool, dict[str, Any]],
) -> Any:
    """The model: hidden nodes at layer ``n_layers - depth``; variables read above layer 0
    through chains of identity edges (one chain per variable and layer, one more where a node
    reads a variable in two terms)."""
    from .tables import Scaling

    grid, k, auto_save, options = opts
    layers: list[list[_Node]] = [[_Node(var=v) for v in range(len(variables))]]
    layers += [[] for _ in range(n_layers)]
    for n in _hidden(root):
        n.layer = n_layers - depth[id(n)]
        layers[n.layer].append(n)
    chains: dict[tuple[int, int, int], _Node] = {}

    def reach(var: int, layer: int, copy: int) -> _Node:
        if layer == 0:
            if copy:
                raise _Collision
            return layers[0][var]
        key = (var, layer, copy)
        if key not in chains:
            below = reach(var, layer - 1, 0)
            chains[key] = _Node(edges=[_Edge("x", (1.0, 0.0, 1.0, 0.0), below)], layer=layer)
            layers[layer].append(chains[key])
        return chains[key]

    # wiring: every edge reads the node one layer down (a variable through its chain)
    targets: list[list[tuple[_Node, _Edge, _Node]]] = [[] for _ in range(n_layers)]
    for layer_nodes in layers[:0:-1]:  # from the output down: chains appear below as needed
        for n in layer_nodes:
            uses: dict[tuple[int, int], int] = {}  # (operand, variable): terms reading it
            for e in n.edges:
                child = e.child
                if child.var is not None:
                    copy = uses.get((e.operand, child.var), 0)
                    uses[(e.operand, child.var)] = copy + 1
                    child = reach(child.var, n.layer - 1, copy)
                targets[n.layer - 1].append((child, e, n))
    # each layer: sum nodes, then multiplication nodes (kan_widget.nodes' layout); edges end on
    # subnodes: a sum node's own, or one per factor of a multiplication node
    for m, ls in enumerate(layers):
        layers[m] = [n for n in ls if not n.arity] + [n for n in ls if n.arity]
    index = [{id(n): i for i, n in enumerate(ls)} for ls in layers]
    sub: list[dict[int, int]] = []
    for ls in layers:
        first, at = {}, 0
        for n in ls:
            first[id(n)] = at
            at += max(1, n.arity)
        sub.append(first)
    arities = [[n.arity for n in ls if n.arity] for ls in layers]
    if any(arities):
        width: list[Any] = [
            [len(ls) - len(a), len(a)] if a else len(ls) for ls, a in zip(layers, arities)
        ]
        options = {"mult_arity": arities, **options}
    else:
        width = [len(ls) for ls in layers]
    model = KAN(width, **{"grid": grid, "k": k, "auto_save": auto_save, **options})
    with torch.no_grad():
        for l, layer in enumerate(model.layers):
            ii = [index[l][id(c)] for c, _, _ in targets[l]]
            jj = [sub[l + 1][id(n)] + e.operand for _, e, n in targets[l]]
            layer.mask.zero_()  # unused edges removed (pykan fixes them to '0')
            layer.set_symbolic(
                ii,
                jj,
                [e.fun for _, e, _ in targets[l]],
                torch.tensor([e.params for _, e, _ in targets[l]]),
            )
            layer.mask[torch.tensor(ii), torch.tensor(jj)] = 1.0
    model.scaling = Scaling.identity(len(variables), 1, in_vars=[v.name for v in variables])
    return model


def _hidden(root: _Node) -> list[_Node]:
    out, stack = [], [root]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(e.child for e in n.edges if e.child.var is None)
    return out


expr2kan = sf2kan = kanpiler
