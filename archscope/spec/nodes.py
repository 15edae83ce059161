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
``nn.Sequential`` does. See :mod:`archscope.spec.sites`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from archscope.spec.expect import Expect

IntPair = int | tuple[int, int]


def pair(v: IntPair) -> tuple[int, int]:
    """``3`` → ``(3, 3)``; a pair as it is: (height, width)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class Window:
    """A sliding window (a conv's or a pool's) along one axis."""

    kernel: int
    stride: int
    padding: int
    dilation: int = 1
    ceil: bool = False

    def __str__(self) -> str:
        return (f"kernel {self.kernel}, stride {self.stride}, padding {self.padding}"
                + (f", dilation {self.dilation}" if self.dilation > 1 else "") + (", ceil mode" if self.ceil else ""))

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

    def module_type(self, rank: int) -> str:
        """The ``torch.nn`` class a leaf becomes on an input of ``rank`` dimensions (batch not
        counted): the builder makes it, the computed trace reports it."""
        return type(self).__name__


Chain = tuple[tuple[str, "Node"], ...]  # (field path suffix, child) pairs, run one after the other


@dataclass(frozen=True)
class Branch:
    """One path from a container's input to its join: a chain of children (none: the input)."""

    label: str  # how messages name it: "body", "shortcut", "input", "branch 2"
    chain: Chain


@dataclass(frozen=True)
class Wiring:
    """How a container connects its children, the one description every reading of a spec
    (layout, builder, symbolic shapes, receptive fields) folds over (:mod:`archscope.spec.fold`).

    Each of ``branches`` runs on the container's input; ``join`` combines their outputs:
    ``one`` (a single branch, as it is), ``concat`` (along channels: only channels may
    differ), ``add`` (equal shapes) or ``mul`` (the others broadcast over the first);
    ``post`` runs on the result. With ``passthrough`` the enclosing chain goes on with the
    container's input (an auxiliary head, whose output leaves the model another way)."""

    join: str
    branches: tuple[Branch, ...]
    post: Chain = ()
    passthrough: bool = False

    def children(self) -> list[tuple[str, Node]]:
        return [kid for b in self.branches for kid in b.chain] + list(self.post)


JOINS = ("one", "concat", "add", "mul")


def child_path(path: str, suffix: str) -> str:
    """``layers[2]`` + ``.body[0]`` → ``layers[2].body[0]`` (the root's path is empty)."""
    return path + suffix if path else suffix.lstrip(".")


def _chain(field_name: str, nodes: tuple[Node, ...]) -> Chain:
    return tuple((f".{field_name}[{i}]", n) for i, n in enumerate(nodes))


@dataclass(frozen=True, kw_only=True)
class Container(Node):
    """A node with children. ``label`` names the built module's type (``Bottleneck``)."""

    CONTAINER: ClassVar[bool] = True
    label: str | None = None

    def wiring(self) -> Wiring:
        raise NotImplementedError

    def children(self) -> list[tuple[str, Node]]:
        return self.wiring().children()


# ---------------------------------------------------------------- leaves


@node_type("conv")
@dataclass(frozen=True, kw_only=True)
class Conv(Node):
    """2-D convolution; input channels are inferred from the incoming shape."""

    def module_type(self, rank: int) -> str:
        return "Conv2d"

    out: int
    kernel: IntPair
    stride: IntPair = 1
    padding: IntPair = 0
    dilation: IntPair = 1
    groups: int = 1
    bias: bool = True

    def windows(self) -> tuple[Window, Window]:
        """(height, width) windows."""
        return _windows(self.kernel, self.stride, self.padding, self.dilation, False)


@node_type("norm")
@dataclass(frozen=True, kw_only=True)
class Norm(Node):
    """Batch normalisation over the channel dimension (``BatchNorm2d``/``1d`` by rank)."""

    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True

    def module_type(self, rank: int) -> str:
        return "BatchNorm2d" if rank == 3 else "BatchNorm1d"


ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
               "gelu": "GELU", "hardswish": "Hardswish", "hardsigmoid": "Hardsigmoid"}  # fn -> module


@node_type("act")
@dataclass(frozen=True, kw_only=True)
class Act(Node):
    """Elementwise activation, one of :data:`ACTIVATIONS`."""

    fn: str = "relu"
    inplace: bool = False

    def module_type(self, rank: int) -> str:
        return ACTIVATIONS[self.fn]


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

    def module_type(self, rank: int) -> str:
        return "MaxPool2d" if self.mode == "max" else "AvgPool2d"

    def windows(self) -> tuple[Window, Window]:
        """(height, width) windows; the stride is the kernel's unless given, as in torch."""
        stride = self.stride if self.stride is not None else self.kernel
        return _windows(self.kernel, stride, self.padding, 1, self.ceil_mode)


def _windows(kernel: IntPair, stride: IntPair, padding: IntPair, dilation: IntPair,
             ceil: bool) -> tuple[Window, Window]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(v) for v in (kernel, stride, padding, dilation))
    return Window(kh, sh, ph, dh, ceil), Window(kw, sw, pw, dw, ceil)


@node_type("adaptive_pool")
@dataclass(frozen=True, kw_only=True)
class AdaptivePool(Node):
    """Adaptive max or average pooling to a fixed ``output`` size."""

    mode: str = "avg"
    output: IntPair = 1

    def module_type(self, rank: int) -> str:
        return "AdaptiveAvgPool2d" if self.mode == "avg" else "AdaptiveMaxPool2d"


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

    def wiring(self) -> Wiring:
        return Wiring("one", (Branch("layers", _chain("layers", self.layers)),))

    @property
    def is_sequential(self) -> bool:
        """Built as an ``nn.Sequential`` (unlabelled, every child a module of its own, no head)."""
        return (self.label is None and not any(isinstance(c, Aux) for c in self.layers)
                and all(c.name is not None or not c.CONTAINER for c in self.layers))


@node_type("concat")
@dataclass(frozen=True, kw_only=True)
class Concat(Container):
    """Parallel branches on the same input, concatenated along channels."""

    branches: tuple[Node, ...]

    def wiring(self) -> Wiring:
        return Wiring("concat", tuple(Branch(f"branch {i}", ((f".branches[{i}]", n),))
                                      for i, n in enumerate(self.branches)))


@node_type("residual")
@dataclass(frozen=True, kw_only=True)
class Residual(Container):
    """``post(body(x) + shortcut(x))``; no shortcut means identity, no post means none."""

    body: tuple[Node, ...]
    shortcut: Node | None = None
    post: Node | None = None

    def wiring(self) -> Wiring:
        shortcut = ((".shortcut", self.shortcut),) if self.shortcut is not None else ()
        return Wiring("add", (Branch("body", _chain("body", self.body)), Branch("shortcut", shortcut)),
                      post=((".post", self.post),) if self.post is not None else ())


@node_type("dense")
@dataclass(frozen=True, kw_only=True)
class Dense(Container):
    """``cat([x, body(x)], dim=1)``: one DenseNet layer."""

    body: tuple[Node, ...]

    def wiring(self) -> Wiring:
        return Wiring("concat", (Branch("input", ()), Branch("body", _chain("body", self.body))))


@node_type("gate")
@dataclass(frozen=True, kw_only=True)
class Gate(Container):
    """``x * body(x)``: squeeze-excitation when body is pool, fc, act, fc, sigmoid."""

    body: tuple[Node, ...]

    def wiring(self) -> Wiring:
        return Wiring("mul", (Branch("input", ()), Branch("body", _chain("body", self.body))))


@node_type("aux")
@dataclass(frozen=True, kw_only=True)
class Aux(Container):
    """An auxiliary head: runs only in training, passes its input on unchanged."""

    body: tuple[Node, ...]

    def wiring(self) -> Wiring:
        return Wiring("one", (Branch("body", _chain("body", self.body)),), passthrough=True)


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
