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
from archscope.spec.nodes import (
    ACTIVATIONS,
    Act,
    AdaptivePool,
    Aux,
    Concat,
    Conv,
    Dense,
    Dropout,
    Flatten,
    Gate,
    Identity,
    Linear,
    Model,
    Node,
    Norm,
    Pool,
    Residual,
    Seq,
    StochasticDepth,
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

    def expectations(self) -> dict[str, Expect]:
        """Expected output shapes keyed by qualified module name."""
        return {s.module: s.node.expect for s in self.sites if s.module is not None and s.node.expect}

    def __post_init__(self) -> None:
        self._by_path: dict[str, Site] = {}


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


Place = Callable[[Node, str, Shape], Shape]


def layout(model: Model, input_shape: Shape | None = None) -> Layout:
    """Place every node of ``model`` for an input of ``input_shape`` (default: reference)."""
    shape = tuple(input_shape or model.input)
    result = Layout(model, shape)
    root = _Namespace("", 0)
    result.sites.append(Site("", model.root(), "", "", 0, shape))
    out = _place_children(model.root(), "", shape, root, result)
    result.sites[0].out_shape = out
    result._by_path = {s.path: s for s in result.sites}
    return result


def _place(node: Node, path: str, shape: Shape, ns: _Namespace, result: Layout) -> Shape:
    if node.CONTAINER and node.name is None:
        if node.expect is not None:
            raise SpecError(path + ".expect", "an expected shape needs a named node (give it a name)")
        site = Site(path, node, None, ns.qualname, ns.depth, shape)
        result.sites.append(site)
        site.out_shape = _place_children(node, path, shape, ns, result)
        return shape if isinstance(node, Aux) else site.out_shape
    qual = ns.claim(node.name, path)
    site = Site(path, node, qual, ns.qualname, ns.depth + 1, shape)
    result.sites.append(site)
    if node.CONTAINER:
        site.out_shape = _place_children(node, path, shape, _Namespace(qual, ns.depth + 1), result)
    else:
        _check_values(node, path)
        rule = LEAF_RULES[type(node)]
        site.out_shape, site.params = rule(node, path, shape)
    return shape if isinstance(node, Aux) else site.out_shape


def _place_children(node: Node, path: str, shape: Shape, ns: _Namespace, result: Layout) -> Shape:
    def place(child: Node, suffix: str, s: Shape) -> Shape:
        return _place(child, path + suffix if path else suffix.lstrip("."), s, ns, result)

    return CONTAINER_RULES[type(node)](node, path, shape, place)


# ---------------------------------------------------------------- helpers


def pair(v: int | tuple[int, int] | None) -> tuple[int, int]:
    if v is None:
        raise ValueError("pair(None)")
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _need_rank(shape: Shape, rank: int, path: str, what: str) -> None:
    if len(shape) != rank:
        dims = "C×H×W" if rank == 3 else f"{rank}-d"
        raise SpecError(path, f"{what} needs a {dims} input, got {_fmt(shape)}")


def _fmt(shape: Shape) -> str:
    return "N×" + "×".join(str(d) for d in shape) if shape else "N"


def _spatial(path: str, what: str, size: int, kernel: int, stride: int, pad: int,
             dilation: int = 1, ceil: bool = False) -> int:
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    if (span < 0 and not ceil) or out < 1:  # torch lets a ceil-mode window hang over a small input
        raise SpecError(path, f"{what} of kernel {kernel} cannot slide over a size of {size} "
                              f"(padding {pad}): the input is too small")
    return out


_POSITIVE = ("out", "kernel", "stride", "groups", "dilation", "output")
_CHOICES: dict[str, tuple[str, ...]] = {"fn": ACTIVATIONS, "mode": ("max", "avg")}


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
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(v) for v in (node.kernel, node.stride,
                                                                 node.padding, node.dilation))
    oh = _spatial(path, "conv", h, kh, sh, ph, dh)
    ow = _spatial(path, "conv", w, kw, sw, pw, dw)
    params = node.out * (c // node.groups) * kh * kw + (node.out if node.bias else 0)
    return (node.out, oh, ow), params


@leaf_rule(Pool)
def _pool(node: Node, path: str, shape: Shape) -> tuple[Shape, int]:
    assert isinstance(node, Pool)
    _need_rank(shape, 3, path, f"{node.mode} pool")
    c, h, w = shape
    (kh, kw), (ph, pw) = pair(node.kernel), pair(node.padding)
    sh, sw = pair(node.stride if node.stride is not None else node.kernel)
    if ph > kh // 2 or pw > kw // 2:
        raise SpecError(path + ".padding", "padding must be at most half the kernel size")
    what = f"{node.mode} pool"
    return (c, _spatial(path, what, h, kh, sh, ph, ceil=node.ceil_mode),
            _spatial(path, what, w, kw, sw, pw, ceil=node.ceil_mode)), 0


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


# ---------------------------------------------------------------- container rules


ContainerRule = Callable[[Node, str, Shape, Place], Shape]


def _chain(nodes: tuple[Node, ...], field_name: str, shape: Shape, place: Place) -> Shape:
    for i, n in enumerate(nodes):
        shape = place(n, f".{field_name}[{i}]", shape)
    return shape


def _seq(node: Node, path: str, shape: Shape, place: Place) -> Shape:
    assert isinstance(node, Seq)
    return _chain(node.layers, "layers", shape, place)


def _concat(node: Node, path: str, shape: Shape, place: Place) -> Shape:
    assert isinstance(node, Concat)
    if not node.branches:
        raise SpecError(path + ".branches", "a concat needs at least one branch")
    outs = [place(b, f".branches[{i}]", shape) for i, b in enumerate(node.branches)]
    for i, o in enumerate(outs[1:], 1):
        if len(o) != len(outs[0]) or o[1:] != outs[0][1:]:
            raise SpecError(f"{path}.branches[{i}]".lstrip("."),
                            f"branch output {_fmt(o)} cannot be concatenated with "
                            f"{_fmt(outs[0])} (only channels may differ)")
    return (sum(o[0] for o in outs), *outs[0][1:])


def _residual(node: Node, path: str, shape: Shape, place: Place) -> Shape:
    assert isinstance(node, Residual)
    y = _chain(node.body, "body", shape, place)
    s = place(node.shortcut, ".shortcut", shape) if node.shortcut is not None else shape
    if y != s:
        raise SpecError(path, f"residual add of body {_fmt(y)} and shortcut {_fmt(s)}: "
                              "shapes differ (add a projection shortcut)")
    return place(node.post, ".post", y) if node.post is not None else y


def _dense(node: Node, path: str, shape: Shape, place: Place) -> Shape:
    assert isinstance(node, Dense)
    y = _chain(node.body, "body", shape, place)
    if len(y) != len(shape) or y[1:] != shape[1:]:
        raise SpecError(path, f"dense concat of input {_fmt(shape)} and body {_fmt(y)}: "
                              "only channels may differ")
    return (shape[0] + y[0], *shape[1:])


def _gate(node: Node, path: str, shape: Shape, place: Place) -> Shape:
    assert isinstance(node, Gate)
    y = _chain(node.body, "body", shape, place)
    if len(y) != len(shape) or any(a not in (1, b) for a, b in zip(y, shape, strict=True)):
        raise SpecError(path, f"gate output {_fmt(y)} does not broadcast over its input {_fmt(shape)}")
    return shape


def _aux(node: Node, path: str, shape: Shape, place: Place) -> Shape:
    """The head's own output; the enclosing chain goes on with the head's input (see _place)."""
    assert isinstance(node, Aux)
    return _chain(node.body, "body", shape, place)


CONTAINER_RULES: dict[type[Node], ContainerRule] = {
    Seq: _seq, Concat: _concat, Residual: _residual, Dense: _dense, Gate: _gate, Aux: _aux,
}
