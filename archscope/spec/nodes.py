"""The spec vocabulary: frozen, keyword-only dataclasses. No torch here.

An architecture is a tree of nodes. *Leaves* become one ``torch.nn`` module each
(conv, norm, act, pool, adaptive_pool, linear, flatten, dropout,
stochastic_depth, identity). *Containers* wire their children together:

========== ===========================================================
``seq``        ``x -> f_n(...f_1(x))``
``concat``     ``x -> cat([b_1(x), ..., b_k(x)], dim=1)`` (Inception)
``residual``   ``x -> post(body(x) + shortcut(x))`` (ResNet, MBConv)
``dense``      ``x -> cat([x, body(x)], dim=1)`` (DenseNet)
``gate``       ``x -> x * body(x)`` (squeeze-excitation; body ends in a sigmoid)
``aux``        ``x -> x``; in training ``body(x)`` is also returned as an
               auxiliary output (Inception's AuxLogits)
========== ===========================================================

Naming is what makes ``state_dict`` keys come out as torchvision's: a *named*
container is a module of its own; an *unnamed* container is inlined, its
children registering in the enclosing module (torchvision's InceptionA keeps
``branch5x5_1`` and ``branch5x5_2`` side by side, with no module per branch).
An unnamed leaf takes its position in the enclosing module as its name, as
``nn.Sequential`` does. See :mod:`archscope.spec.layout`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, TypeVar

from archscope.spec.expect import Expect

IntPair = int | tuple[int, int]

NODE_TYPES: dict[str, type[Node]] = {}

N = TypeVar("N", bound="type[Node]")


def node_type(type_name: str) -> Callable[[N], N]:
    """Register a node class under its ``type`` string (the key used in dicts/YAML)."""

    def register(cls: N) -> N:
        if type_name in NODE_TYPES:
            raise ValueError(f"node type {type_name!r} is registered twice")
        cls.TYPE = type_name
        NODE_TYPES[type_name] = cls
        return cls

    return register


@dataclass(frozen=True, kw_only=True)
class Node:
    """Fields every node has: an optional module name and an expected output shape."""

    TYPE: ClassVar[str] = ""
    CONTAINER: ClassVar[bool] = False

    name: str | None = None
    expect: Expect | None = None

    def children(self) -> list[tuple[str, Node]]:
        """(field path suffix, child) pairs in execution order; empty for leaves."""
        return []


@dataclass(frozen=True, kw_only=True)
class Container(Node):
    """A node with children. ``label`` names the built module's type (``Bottleneck``)."""

    CONTAINER: ClassVar[bool] = True
    label: str | None = None


# ---------------------------------------------------------------- leaves


@node_type("conv")
@dataclass(frozen=True, kw_only=True)
class Conv(Node):
    """2-D convolution; input channels are inferred from the incoming shape."""

    out: int
    kernel: IntPair
    stride: IntPair = 1
    padding: IntPair = 0
    dilation: IntPair = 1
    groups: int = 1
    bias: bool = True


@node_type("norm")
@dataclass(frozen=True, kw_only=True)
class Norm(Node):
    """Batch normalisation over the channel dimension (``BatchNorm2d``/``1d`` by rank)."""

    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True


ACTIVATIONS = ("relu", "relu6", "silu", "sigmoid", "tanh", "gelu", "hardswish", "hardsigmoid")


@node_type("act")
@dataclass(frozen=True, kw_only=True)
class Act(Node):
    """Elementwise activation, one of :data:`ACTIVATIONS`."""

    fn: str = "relu"
    inplace: bool = False


@node_type("pool")
@dataclass(frozen=True, kw_only=True)
class Pool(Node):
    """Max or average pooling; ``stride`` defaults to ``kernel`` as in torch."""

    mode: str = "max"
    kernel: IntPair
    stride: IntPair | None = None
    padding: IntPair = 0
    ceil_mode: bool = False
    count_include_pad: bool = True


@node_type("adaptive_pool")
@dataclass(frozen=True, kw_only=True)
class AdaptivePool(Node):
    """Adaptive max or average pooling to a fixed ``output`` size."""

    mode: str = "avg"
    output: IntPair = 1


@node_type("linear")
@dataclass(frozen=True, kw_only=True)
class Linear(Node):
    """Fully connected layer on the last dimension; input features are inferred."""

    out: int
    bias: bool = True


@node_type("flatten")
@dataclass(frozen=True, kw_only=True)
class Flatten(Node):
    """Flatten from ``start_dim`` (1 keeps the batch dimension)."""

    start_dim: int = 1


@node_type("dropout")
@dataclass(frozen=True, kw_only=True)
class Dropout(Node):
    """Elementwise dropout."""

    p: float = 0.5
    inplace: bool = False


@node_type("stochastic_depth")
@dataclass(frozen=True, kw_only=True)
class StochasticDepth(Node):
    """Drops whole samples of a residual branch in training ("row" mode), as torchvision's."""

    p: float


@node_type("identity")
@dataclass(frozen=True, kw_only=True)
class Identity(Node):
    """Passes its input through; a named placeholder."""


# ---------------------------------------------------------------- containers


@node_type("seq")
@dataclass(frozen=True, kw_only=True)
class Seq(Container):
    layers: tuple[Node, ...]

    def children(self) -> list[tuple[str, Node]]:
        return [(f".layers[{i}]", n) for i, n in enumerate(self.layers)]


@node_type("concat")
@dataclass(frozen=True, kw_only=True)
class Concat(Container):
    """Parallel branches on the same input, concatenated along channels."""

    branches: tuple[Node, ...]

    def children(self) -> list[tuple[str, Node]]:
        return [(f".branches[{i}]", n) for i, n in enumerate(self.branches)]


@node_type("residual")
@dataclass(frozen=True, kw_only=True)
class Residual(Container):
    """``post(body(x) + shortcut(x))``; no shortcut means identity, no post means none."""

    body: tuple[Node, ...]
    shortcut: Node | None = None
    post: Node | None = None

    def children(self) -> list[tuple[str, Node]]:
        out = [(f".body[{i}]", n) for i, n in enumerate(self.body)]
        if self.shortcut is not None:
            out.append((".shortcut", self.shortcut))
        if self.post is not None:
            out.append((".post", self.post))
        return out


@node_type("dense")
@dataclass(frozen=True, kw_only=True)
class Dense(Container):
    """``cat([x, body(x)], dim=1)``: one DenseNet layer."""

    body: tuple[Node, ...]

    def children(self) -> list[tuple[str, Node]]:
        return [(f".body[{i}]", n) for i, n in enumerate(self.body)]


@node_type("gate")
@dataclass(frozen=True, kw_only=True)
class Gate(Container):
    """``x * body(x)``: squeeze-excitation when body is pool, fc, act, fc, sigmoid."""

    body: tuple[Node, ...]

    def children(self) -> list[tuple[str, Node]]:
        return [(f".body[{i}]", n) for i, n in enumerate(self.body)]


@node_type("aux")
@dataclass(frozen=True, kw_only=True)
class Aux(Container):
    """An auxiliary head: runs only in training, passes its input on unchanged."""

    body: tuple[Node, ...]

    def children(self) -> list[tuple[str, Node]]:
        return [(f".body[{i}]", n) for i, n in enumerate(self.body)]


# ---------------------------------------------------------------- model


@dataclass(frozen=True, kw_only=True)
class Model:
    """A whole architecture: its layers and the reference input (C, H, W) they are built for.

    Linear layers after a flatten take their input size from the reference input, so
    the reference input is part of the architecture, as it is in the papers.
    """

    name: str
    input: tuple[int, int, int]
    layers: tuple[Node, ...]
    label: str | None = None

    def root(self) -> Seq:
        """The model as one unnamed sequence (the root module's namespace)."""
        return Seq(layers=self.layers, label=self.label)


def leaf_fields(node: Node) -> dict[str, object]:
    """The node's own fields other than name/expect (for display and serialisation)."""
    skip = {"name", "expect", "label"}
    return {f.name: getattr(node, f.name) for f in fields(node) if f.name not in skip}
