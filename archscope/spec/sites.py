"""Lay a spec out: module names, shapes and parameter counts, in pure Python.

This is the one place that decides module names (so ``state_dict`` keys), and the
one place that knows the shape arithmetic of every node type. The builder asks it
for each leaf's input shape; ``archscope list`` asks it for parameter counts
without importing torch; expectations are keyed by the module names it assigns.

Shapes here exclude the batch dimension: ``(C, H, W)`` or ``(F,)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from archscope.errors import SpecError
from archscope.spec.expect import Expect
from archscope.spec.fold import SiteFold, branch_path
from archscope.spec.inputs import fmt_shape as _fmt  # N×64×56×56: a shape without its batch
from archscope.spec.nodes import (
    ACTIVATIONS,
    JOINS,
    Act,
    AdaptivePool,
    Branch,
    Conv,
    Dropout,
    Flatten,
    Identity,
    Linear,
    Model,
    Node,
    Norm,
    Pool,
    StochasticDepth,
    Window,
    pair,
)

Shape = tuple[int, ...]
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass
class Site:
    """One node placed in the model: where it lives and what flows through it."""

    path: str  # spec path, e.g. "layers[3].branches[1].layers[0]"
    node: Node
    module: str | None  # qualified module name; None for an inlined container
    parent: str  # qualified name of the enclosing module ("" is the root)
    depth: int  # module depth (root children are 1)
    in_shape: Shape
    out_shape: Shape = ()
    params: int = 0  # parameters the leaf itself owns
    training_only: bool = False  # inside an auxiliary head (which runs only in training)


@dataclass
class Layout:
    model: Model
    input: Shape
    sites: list[Site] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(s.params for s in self.sites)

    @property
    def output(self) -> Shape:
        return self.sites[0].out_shape

    def site(self, path: str) -> Site:
        return self._by_path[path]

    def site_of(self, module: str) -> Site:
        """The site of the module of qualified name ``module`` ("" is the root)."""
        return self._by_module[module]

    def expectations(self) -> dict[str, Expect]:
        """Expected output shapes keyed by qualified module name."""
        return {s.module: s.node.expect for s in self.sites if s.module is not None and s.node.expect}

    def __post_init__(self) -> None:
        self._by_path: dict[str, Site] = {}
        self._by_module: dict[str, Site] = {}


class _Namespace:
    """The children of one module: explicit names must be unique, unnamed leaves get indices."""

    def __init__(self, qualname: str, depth: int) -> None:
        self.qualname = qualname
        self.depth = depth
        self.taken: set[str] = set()

    def claim(self, name: str | None, path: str) -> str:
        local = str(len(self.taken)) if name is None else name
        if not _NAME.match(local):
            raise SpecError(path + ".name", f"{local!r} is not a valid module name (letters, digits, _)")
        if local in self.taken:
            where = self.qualname or "the model's top level"
            raise SpecError(path + ".name", f"name {local!r} is used twice in {where}")
        self.taken.add(local)
        return local if not self.qualname else f"{self.qualname}.{local}"


def layout(model: Model, input_shape: Shape | None = None) -> Layout:
    """Place every node of ``model`` for an input of ``input_shape`` (default: reference)."""
    shape = tuple(input_shape or model.input)
    result = Layout(model, shape)
    root = Site("", model.root(), "", "", 0, shape)
    result.sites.append(root)
    root.out_shape = _Place(result).body(model.root(), "", shape)
    result._by_path = {s.path: s for s in result.sites}
    result._by_module = {s.module: s for s in result.sites if s.module is not None}
    return result


class _Place(SiteFold[Shape, Site]):
    """The layout's fold: a site per node, module names by namespace, shapes and parameters."""

    def __init__(self, result: Layout) -> None:
        super().__init__()
        self.result = result
        self.spaces = [_Namespace("", 0)]

    def site(self, node: Node, path: str, x: Shape) -> Site:
        ns = self.spaces[-1]
        if node.CONTAINER and node.name is None:
            if node.expect is not None:
                raise SpecError(path + ".expect", "an expected shape needs a named node (give it a name)")
            site = Site(path, node, None, ns.qualname, ns.depth, x)
            self.spaces.append(ns)
        else:
            site = Site(path, node, ns.claim(node.name, path), ns.qualname, ns.depth + 1, x)
            if node.CONTAINER:
                assert site.module is not None
                self.spaces.append(_Namespace(site.module, ns.depth + 1))
            else:
                _check_values(node, path)
        site.training_only = self.in_head
        self.result.sites.append(site)
        return site

    def close(self, node: Node, site: Site, y: Shape) -> None:
        site.out_shape = y
        if node.CONTAINER:
            self.spaces.pop()

    def leaf(self, node: Node, path: str, x: Shape) -> Shape:
        out, self.open[-1].params = LEAF_RULES[type(node)](node, path, x)
        return out

    def join(self, node: Node, path: str, x: Shape, how: str, outs: list[tuple[Branch, Shape]]) -> Shape:
        return JOIN_RULES[how](node, path, outs)


# ---------------------------------------------------------------- helpers


def _need_rank(shape: Shape, rank: int, path: str, what: str) -> None:
    if len(shape) != rank:
        dims = "C×H×W" if rank == 3 else f"{rank}-d"
        raise SpecError(path, f"{what} needs a {dims} input, got {_fmt(shape)}")


def _spatial(path: str, what: str, size: int, w: Window) -> int:
    span = size + 2 * w.padding - w.dilation * (w.kernel - 1) - 1
    out = (-(-span // w.stride) if w.ceil else span // w.stride) + 1
    if w.ceil and (out - 1) * w.stride >= size + w.padding:
        out -= 1
    if (span < 0 and not w.ceil) or out < 1:  # torch lets a ceil-mode window hang over a small input
        raise SpecError(path, f"{what} of kernel {w.kernel} cannot slide over a size of {size} "
                              f"(padding {w.padding}): the input is too small")
    return out


_POSITIVE = ("out", "kernel", "stride", "groups", "dilation", "output")
_CHOICES: dict[str, tuple[str, ...]] = {"fn": tuple(ACTIVATIONS), "mode": ("max", "avg")}


def _check_values(node: Node, path: str) -> None:
    for f in _POSITIVE:
        v = getattr(node, f, None)
        vals = v if isinstance(v, tuple) else (v,)
        if v is not None and any(not isinstance(x, int) or x < 1 for x in vals):
            raise SpecError(f"{path}.{f}", f"must be a positive integer, got {v!r}")
    for f, choices in _CHOICES.items():
        v = getattr(node, f, None)
        if v is not None and v not in choices:
            raise SpecError(f"{path}.{f}", f"must be one of {', '.join(choices)}; got {v!r}")
    p = getattr(node, "p", None)
    if p is not None and not 0.0 <= p <= 1.0:
        raise SpecError(f"{path}.p", f"must be between 0 and 1, got {p!r}")
    padding = getattr(node, "padding", 0)
    if any(x < 0 for x in pair(padding)):
        raise SpecError(f"{path}.padding", f"must not be negative, got {padding!r}")


# ---------------------------------------------------------------- leaf rules


LeafRule = Callable[[Node, str, Shape], tuple[Shape, int]]
LEAF_RULES: dict[type[Node], LeafRule] = {}


def leaf_rule(cls: type[Node]) -> Callable[[LeafRule], LeafRule]:
    def register(fn: LeafRule) -> LeafRule:
        if cls in LEAF_RULES:
            raise ValueError(f"two shape rules for {cls.__name__}")
        LEAF_RULES[cls] = fn
        return fn

    return register


@leaf_rule(Conv)
def _conv(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, Conv)
    _need_rank(shape, 3, path, "conv")
    c, h, w = shape
    if c % node.groups or node.out % node.groups:
        raise SpecError(path + ".groups", f"groups={node.groups} must divide both the input "
                                          f"channels ({c}) and out ({node.out})")
    wh, ww = node.windows()
    params = node.out * (c // node.groups) * wh.kernel * ww.kernel + (node.out if node.bias else 0)
    return (node.out, _spatial(path, "conv", h, wh), _spatial(path, "conv", w, ww)), params


@leaf_rule(Pool)
def _pool(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, Pool)
    _need_rank(shape, 3, path, f"{node.mode} pool")
    c, h, w = shape
    wh, ww = node.windows()
    if wh.padding > wh.kernel // 2 or ww.padding > ww.kernel // 2:
        raise SpecError(path + ".padding", "padding must be at most half the kernel size")
    what = f"{node.mode} pool"
    return (c, _spatial(path, what, h, wh), _spatial(path, what, w, ww)), 0


@leaf_rule(AdaptivePool)
def _adaptive(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, AdaptivePool)
    _need_rank(shape, 3, path, "adaptive pool")
    return (shape[0], *pair(node.output)), 0


@leaf_rule(Linear)
def _linear(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, Linear)
    if not shape:
        raise SpecError(path, "linear needs an input with a feature dimension")
    return (*shape[:-1], node.out), shape[-1] * node.out + (node.out if node.bias else 0)


@leaf_rule(Norm)
def _norm(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, Norm)
    if len(shape) not in (1, 2, 3):
        raise SpecError(path, f"batch norm needs a C, C×L or C×H×W input, got {_fmt(shape)}")
    return shape, 2 * shape[0] if node.affine else 0


@leaf_rule(Flatten)
def _flatten(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, Flatten)
    k = node.start_dim - 1
    if not 0 <= k < max(len(shape), 1):
        raise SpecError(path + ".start_dim", f"start_dim {node.start_dim} is out of range "
                                             f"for {_fmt(shape)}")
    return (*shape[:k], math.prod(shape[k:])), 0


def _same(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    return shape, 0


for _cls in (Act, Dropout, StochasticDepth, Identity):
    leaf_rule(_cls)(_same)


# ---------------------------------------------------------------- join rules


JoinRule = Callable[[Node, str, list[tuple[Branch, Shape]]], Shape]


def _one(node: Node, path: str, outs: list[tuple[Branch, Shape]]) -> Shape:
    return outs[0][1]


def _concat(node: Node, path: str, outs: list[tuple[Branch, Shape]]) -> Shape:
    if not outs:
        raise SpecError(path, f"a {node.TYPE} needs at least one branch")
    (first, s0), *rest = outs
    for branch, o in rest:
        if len(o) != len(s0) or o[1:] != s0[1:]:
            raise SpecError(branch_path(path, branch), f"{branch.label} output {_fmt(o)} cannot be concatenated with "
                                                       f"{first.label} output {_fmt(s0)} (only channels may differ)")
    return (sum(o[0] for _, o in outs), *s0[1:])


def _add(node: Node, path: str, outs: list[tuple[Branch, Shape]]) -> Shape:
    if len({o for _, o in outs}) > 1:
        raise SpecError(path, f"{node.TYPE} add of " + " and ".join(f"{b.label} {_fmt(o)}" for b, o in outs)
                        + ": shapes differ (add a projection shortcut)")
    return outs[0][1]


def _mul(node: Node, path: str, outs: list[tuple[Branch, Shape]]) -> Shape:
    (first, s0), *rest = outs
    for branch, o in rest:
        if len(o) != len(s0) or any(a not in (1, b) for a, b in zip(o, s0, strict=True)):
            raise SpecError(path, f"{branch.label} output {_fmt(o)} does not broadcast over the {first.label} "
                                  f"{_fmt(s0)}")
    return s0


JOIN_RULES: dict[str, JoinRule] = {"one": _one, "concat": _concat, "add": _add, "mul": _mul}
assert set(JOIN_RULES) == set(JOINS)
