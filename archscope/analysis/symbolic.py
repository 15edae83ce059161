"""Symbolic shapes: every output shape, and the MACs and activations, as formulas of N, H, W.

Derived from the spec by propagation, not by pattern: every conv and pool size formula
``⌊(x + 2p − d(k−1) − 1)/s⌋ + 1`` is ``⌊(x + a)/s⌋`` with ``a = 2p − d(k−1) − 1 + s``,
and since ``⌊(⌊(X + c)/m⌋ + a)/s⌋ = ⌊(X + c + a·m)/(m·s)⌋`` for integers, a chain of
them on an input axis ``X`` (H or W) is always one :class:`Floor` ``⌊(X + c)/m⌋``.
A ceil-mode pool counts the windows that start before ``x + p`` (torch drops a last
window that would start in the right padding), which is
``min(⌈(x + 2p − k)/s⌉ + 1, ⌈(x + p)/s⌉) = ⌊(x + min(2p − k + 2s − 1, p + s − 1))/s⌋``:
the same form. Adaptive pooling and linear layers give constants.

A dimension is a :class:`Term` (``coef · Floor · Floor ...``: a flatten multiplies its
dimensions); MACs and activation elements are :class:`Poly`, a sum of terms, each times N.
The walk also collects what the input must satisfy (:class:`Limit`, :class:`Fixed`,
:class:`Agree`), from which :mod:`archscope.analysis.sizes` derives the valid sizes.
Pure Python, no torch; tests/test_analysis.py checks every zoo model against the
layout and the computed trace at five input sizes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from archscope.errors import SpecError
from archscope.spec import nodes as sn
from archscope.spec.fold import SiteFold
from archscope.spec.sites import layout

AXES = ("H", "W")
ORDER = ("N", "T", "H", "W", "L")  # how factors are written: N·H·W, then any other axis by name


class SymbolicError(SpecError):
    """A spec this analysis cannot express (e.g. a conv on a flattened dimension)."""


# ---------------------------------------------------------------- algebra


@dataclass(frozen=True)
class Floor:
    """``⌊(X + c)/m⌋`` of the input axis ``X`` (``"H"``, ``"W"``; a traced module's also ``"N"``,
    ``"L"``, ...: :mod:`archscope.analysis.symbolic_trace`); ``m ≥ 1``.

    The pair (c, m) is unique for the function, so equal floors are equal functions.
    """

    axis: str
    c: int = 0
    m: int = 1

    def at(self, x: int) -> int:
        return (x + self.c) // self.m

    def then(self, a: int, s: int) -> Floor:
        """``⌊(self + a)/s⌋``, composed."""
        return Floor(self.axis, self.c + a * self.m, self.m * s)

    def least_input(self, t: int) -> int:
        """The smallest X with ``self.at(X) ≥ t``."""
        return t * self.m - self.c

    @property
    def key(self) -> tuple[int, str, int, int]:
        return (ORDER.index(self.axis) if self.axis in ORDER else len(ORDER), self.axis, self.m, self.c)

    def __str__(self) -> str:
        x, c, m = self.axis, self.c, self.m
        if m == 1:
            return x if c == 0 else f"({x}{c:+d})"
        if c == 0:
            return f"⌊{x}/{m}⌋"
        if c == m - 1:
            return f"⌈{x}/{m}⌉"
        return f"⌊({x}{c:+d})/{m}⌋"


Factors = tuple[Floor, ...]


@dataclass(frozen=True)
class Term:
    """``coef × Π factors``: one dimension, or one term of a sum."""

    coef: int
    factors: Factors = ()

    @staticmethod
    def of(value: int | Floor) -> Term:
        return Term(value) if isinstance(value, int) else Term(1, (value,))

    @property
    def constant(self) -> bool:
        return not self.factors

    @property
    def floor(self) -> Floor | None:
        """The single floor this dimension is, if it is one (coefficient 1)."""
        return self.factors[0] if self.coef == 1 and len(self.factors) == 1 else None

    def at(self, h: int, w: int) -> int:
        return self.value({"H": h, "W": w})

    def value(self, sizes: Mapping[str, int]) -> int:
        """The dimension at the input axes' ``sizes`` (by name)."""
        return self.coef * math.prod(f.at(sizes[f.axis]) for f in self.factors)

    def __mul__(self, other: Term) -> Term:
        return Term(self.coef * other.coef, tuple(sorted(self.factors + other.factors, key=lambda f: f.key)))

    def __str__(self) -> str:
        return _term_text(self.coef, self.factors, commas=False)


def _term_text(coef: int, factors: Factors, commas: bool) -> str:
    number = f"{coef:,}" if commas else str(coef)
    if not factors:
        return number
    powers = Counter(str(f) for f in factors)  # L·L is written L²
    return "·".join(([number] if coef != 1 else []) + [f + _superscript(n) for f, n in powers.items()])


def _superscript(n: int) -> str:
    return "" if n == 1 else str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def product(terms: Iterable[Term]) -> Term:
    out = Term(1)
    for t in terms:
        out = out * t
    return out


@dataclass
class Poly:
    """A sum of terms, grouped by their factors in order of first appearance."""

    terms: dict[Factors, int] = field(default_factory=dict)

    @staticmethod
    def of(value: Term | Poly) -> Poly:
        """A term as a one-term sum (a sum as it is)."""
        return value if isinstance(value, Poly) else Poly({value.factors: value.coef} if value.coef else {})

    def add(self, term: Term, times: int = 1) -> None:
        if term.coef:
            self.terms[term.factors] = self.terms.get(term.factors, 0) + term.coef * times

    def extend(self, other: Poly) -> None:
        for factors, coef in other.terms.items():
            self.add(Term(coef, factors))

    def at(self, h: int, w: int) -> int:
        return self.value({"H": h, "W": w})

    def value(self, sizes: Mapping[str, int]) -> int:
        return sum(Term(c, f).value(sizes) for f, c in self.terms.items())

    def text(self, times: str = "N", commas: bool = True) -> str:
        """``N·(9,408·⌈H/2⌉·⌈W/2⌉ + 2,048,000)``; ``0`` when empty; a negative term (a
        traced remainder) after a minus, ``H − 4·⌊H/4⌋``."""
        ordered = sorted(self.terms.items(), key=lambda fc: (not fc[0], [f.key for f in fc[0]]))
        signed = [(c < 0, _term_text(abs(c), f, commas)) for f, c in ordered if c]
        if not signed:
            return "0"
        body = ("-" if signed[0][0] else "") + signed[0][1] + \
            "".join(f" {'−' if minus else '+'} {part}" for minus, part in signed[1:])
        if not times:
            return body
        return f"{times}·{body}" if len(signed) == 1 else f"{times}·({body})"

    def as_data(self) -> list[dict[str, object]]:
        """``[{"coef": 9408, "factors": [{"axis": "H", "c": 1, "m": 2}, ...]}, ...]``."""
        return [{"coef": c, "factors": [{"axis": x.axis, "c": x.c, "m": x.m} for x in f]}
                for f, c in self.terms.items() if c]


Shape = tuple[Term, ...]  # without the batch dimension


def shape_at(shape: Shape, h: int, w: int) -> tuple[int, ...]:
    return tuple(d.at(h, w) for d in shape)


# ---------------------------------------------------------------- constraints


@dataclass(frozen=True)
class Limit:
    """The layer at ``path`` needs ``axis`` of the model input to be at least ``least``."""

    path: str
    axis: str
    least: int
    training_only: bool
    reason: str  # "a 3×3 conv (padding 0) needs an input of at least 3"


@dataclass(frozen=True)
class Fixed:
    """The linear layer at ``path`` is built for ``value`` features: ``term`` must equal it."""

    path: str
    term: Term
    value: int
    training_only: bool


@dataclass(frozen=True)
class Agree:
    """Two branches joined at ``path`` must have equal spatial sizes: ``a == b``."""

    path: str
    a: Term
    b: Term
    training_only: bool


# ---------------------------------------------------------------- the walk


@dataclass
class SymSite:
    path: str
    node: sn.Node
    module: str | None
    in_shape: Shape
    out_shape: Shape = ()
    macs: Term = Term(0)  # the leaf's own MACs per sample (× N)
    training_only: bool = False  # inside an auxiliary head


@dataclass
class SymbolicModel:
    model: sn.Model
    sites: list[SymSite] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    fixed: list[Fixed] = field(default_factory=list)
    agree: list[Agree] = field(default_factory=list)

    @property
    def input(self) -> Shape:
        return (Term(self.model.input[0]), Term.of(Floor("H")), Term.of(Floor("W")))

    @property
    def output(self) -> Shape:
        return self.sites[0].out_shape

    def modules(self, train: bool = False) -> dict[str, SymSite]:
        """Sites that are modules, by qualified name ("" is the root)."""
        return {s.module: s for s in self.sites if s.module is not None and (train or not s.training_only)}

    def leaves(self, train: bool = False) -> list[SymSite]:
        return [s for s in self.sites if s.module is not None and not s.node.CONTAINER
                and (train or not s.training_only)]

    def macs(self, train: bool = False) -> Poly:
        """MACs per sample (multiply by N) of conv and linear layers, bias not counted."""
        out = Poly()
        for s in self.leaves(train):
            out.add(s.macs)
        return out

    def activations(self, train: bool = False) -> Poly:
        """Output elements per sample of every leaf layer (times N and the dtype's bytes)."""
        out = Poly()
        for s in self.leaves(train):
            out.add(product(s.out_shape))
        return out

    def subtree_macs(self, train: bool = False) -> dict[str, Poly]:
        """Each module's MACs including its submodules."""
        totals: dict[str, Poly] = {name: Poly() for name in self.modules(train)}
        for s in self.leaves(train):
            assert s.module is not None
            name = s.module
            while True:
                if name in totals:
                    totals[name].add(s.macs)
                if not name:
                    break
                name = name.rsplit(".", 1)[0] if "." in name else ""
        return totals


def symbolic(model: sn.Model) -> SymbolicModel:
    """Propagate N×C×H×W through ``model``: shapes, MACs and input constraints by site."""
    names = {s.path: s.module for s in layout(model).sites}
    result = SymbolicModel(model)
    root = SymSite("", model.root(), "", result.input)
    result.sites.append(root)
    root.out_shape = _Symbolic(result, names, (model.input[1], model.input[2])).body(model.root(), "", result.input)
    return result


class _Symbolic(SiteFold[Shape, SymSite]):
    """The fold of symbolic shapes: a site per node, with the constraints each layer sets."""

    def __init__(self, result: SymbolicModel, names: dict[str, str | None], ref: tuple[int, int]) -> None:
        super().__init__()
        self.result, self.names, self.ref = result, names, ref

    def site(self, node: sn.Node, path: str, x: Shape) -> SymSite:
        self.result.sites.append(SymSite(path, node, self.names.get(path), x, training_only=self.in_head))
        return self.result.sites[-1]

    def close(self, node: sn.Node, site: SymSite, y: Shape) -> None:
        site.out_shape = y

    def join(self, node: sn.Container, path: str, x: Shape, how: str, outs: list[tuple[sn.Branch, Shape]]) -> Shape:
        first = outs[0][1]
        if how == "concat":
            for _, o in outs[1:]:
                self.agree(path, first, o)
            return (_sum([o[0] for _, o in outs], path), *first[1:])
        if how == "add":
            for _, o in outs[1:]:
                self.agree(path, first, o, channels=True)
        return first  # one; add; mul (the others broadcast over the first)

    def agree(self, path: str, a: Shape, b: Shape, channels: bool = False) -> None:
        """Record that two branches must agree (they do for every size when their terms are equal)."""
        if len(a) != len(b):
            raise SymbolicError(path, "branches of different rank")
        for da, db in zip(a if channels else a[1:], b if channels else b[1:], strict=True):
            if da != db:
                self.result.agree.append(Agree(path, da, db, self.in_head))

    def leaf(self, node: sn.Node, path: str, shape: Shape) -> Shape:
        out, self.open[-1].macs = self._leaf(node, path, shape)
        return out

    def _leaf(self, node: sn.Node, path: str, shape: Shape) -> tuple[Shape, Term]:
        if isinstance(node, sn.Conv):
            c, h, w = self.rank3(shape, path)
            wh, ww = node.windows()
            out = (Term(node.out), self.slide(h, path, "conv", wh), self.slide(w, path, "conv", ww))
            return out, product(out) * Term(_const(c, path) // node.groups * wh.kernel * ww.kernel)
        if isinstance(node, sn.Pool):
            c, h, w = self.rank3(shape, path)
            wh, ww = node.windows()
            what = f"{node.mode} pool"
            return (c, self.slide(h, path, what, wh), self.slide(w, path, what, ww)), Term(0)
        if isinstance(node, sn.AdaptivePool):
            fixed_h, fixed_w = sn.pair(node.output)
            return (self.rank3(shape, path)[0], Term(fixed_h), Term(fixed_w)), Term(0)
        if isinstance(node, sn.Linear):
            if not shape:
                raise SymbolicError(path, "linear needs a feature dimension")
            features = shape[-1]
            if not features.constant:  # built for the reference input: that many features, always
                value = features.at(*self.ref)
                self.result.fixed.append(Fixed(path, features, value, self.in_head))
                features = Term(value)
            dims = (*shape[:-1], Term(node.out))
            return dims, product(dims) * features
        if isinstance(node, sn.Flatten):
            k = node.start_dim - 1
            return (*shape[:k], product(shape[k:])), Term(0)
        return shape, Term(0)  # norm, activation, dropout, stochastic depth, identity

    def rank3(self, shape: Shape, path: str) -> Shape:
        if len(shape) != 3:
            raise SymbolicError(path, "needs a C×H×W input")
        return shape

    def slide(self, dim: Term, path: str, what: str, win: sn.Window) -> Term:
        """Output size of a sliding window over ``dim``; records the least input it needs."""
        k, s, p, d = win.kernel, win.stride, win.padding, win.dilation
        if win.ceil:  # torch needs one window, which may overhang the input: x ≥ k − 2p − (s − 1)
            a, need = min(2 * p - k + 2 * s - 1, p + s - 1), k - 2 * p - s + 1
        else:  # the window must fit: the span x + 2p − d(k−1) − 1 must not be negative
            a, need = 2 * p - d * (k - 1) - 1 + s, d * (k - 1) + 1 - 2 * p
        axis = dim.floor.axis if dim.floor is not None else "its axis"
        reason = f"{what} ({win}) needs an input of at least {max(need, 1)} along {axis}"
        if dim.constant:
            x = dim.coef
            if x < need or x < 1:
                raise SymbolicError(path, f"{reason}, it always gets {x}")
            return Term((x + a) // s)
        f = dim.floor
        if f is None:
            raise SymbolicError(path, f"a {what} over the size {dim} is not supported")
        self.result.limits.append(Limit(path, f.axis, f.least_input(max(need, 1)), self.in_head, reason))
        return Term.of(f.then(a, s))


def _const(term: Term, path: str) -> int:
    if not term.constant:
        raise SymbolicError(path, f"channels must not depend on the input size, got {term}")
    return term.coef


def _sum(terms: list[Term], path: str) -> Term:
    return Term(sum(_const(t, path) for t in terms))
