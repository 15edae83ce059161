"""The one place where spec nodes become ``torch.nn`` modules.

Module names come from :func:`archscope.spec.layout` (so ``state_dict`` keys are
torchvision's), input channels and features from the shapes it infers at the
model's reference input. Leaf builders live in a registry keyed by node class.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from archscope.builder.modules import (
    Add,
    AuxHead,
    Block,
    Call,
    Cat,
    Chain,
    DenseCat,
    Mul,
    Network,
    Step,
    StochasticDepth,
)
from archscope.spec import nodes as sn
from archscope.spec.layout import Layout, Shape, layout, pair

LeafBuilder = Callable[[sn.Node, Shape], nn.Module]
LEAF_BUILDERS: dict[type[sn.Node], LeafBuilder] = {}


def leaf_builder(cls: type[sn.Node]) -> Callable[[LeafBuilder], LeafBuilder]:
    def register(fn: LeafBuilder) -> LeafBuilder:
        if cls in LEAF_BUILDERS:
            raise ValueError(f"two builders for {cls.__name__}")
        LEAF_BUILDERS[cls] = fn
        return fn

    return register


def build_spec(model: sn.Model, lay: Layout | None = None) -> Network:
    """Build ``model`` as a :class:`Network` (call under ``torch.device("meta")`` for no memory)."""
    lay = lay or layout(model)
    children: dict[str, nn.Module] = {}
    plan = _steps(model.root(), "", lay, children)
    has_aux = any(isinstance(s.node, sn.Aux) for s in lay.sites)
    net = Network(model.label or "Network", children, plan, has_aux)
    net.spec = model  # type: ignore[assignment]  # lets the tracer find expectations
    return net


def _steps(node: sn.Node, path: str, lay: Layout, children: dict[str, nn.Module]) -> Step:
    """The plan of a container whose children register in ``children``."""

    def sub(child: sn.Node, suffix: str) -> Step:
        return _child(child, f"{path}{suffix}" if path else suffix.lstrip("."), lay, children)

    if isinstance(node, sn.Seq):
        return Chain([sub(n, f".layers[{i}]") for i, n in enumerate(node.layers)])
    if isinstance(node, sn.Concat):
        return Cat([sub(n, f".branches[{i}]") for i, n in enumerate(node.branches)])
    body = Chain([sub(n, f".body[{i}]") for i, n in enumerate(getattr(node, "body", ()))])
    if isinstance(node, sn.Residual):
        shortcut = sub(node.shortcut, ".shortcut") if node.shortcut is not None else None
        post = sub(node.post, ".post") if node.post is not None else None
        return Add(body, shortcut, post)
    if isinstance(node, sn.Dense):
        return DenseCat(body)
    if isinstance(node, sn.Gate):
        return Mul(body)
    if isinstance(node, sn.Aux):
        return body  # what the head computes; _child makes it run only in training
    raise TypeError(f"no plan for container {type(node).__name__}")


def _child(node: sn.Node, path: str, lay: Layout, children: dict[str, nn.Module]) -> Step:
    site = lay.site(path)
    if site.module is None:  # unnamed container: inline into the enclosing block
        step = _steps(node, path, lay, children)
    else:
        local = site.module.rsplit(".", 1)[-1]
        children[local] = _module(node, path, lay)
        step = Call(local)
    # NOTE: an auxiliary head is not even called in eval mode (as torchvision's AuxLogits),
    # so the tracer reports the whole head as "not run".
    return AuxHead(step) if isinstance(node, sn.Aux) else step


def _module(node: sn.Node, path: str, lay: Layout) -> nn.Module:
    if not node.CONTAINER:
        return LEAF_BUILDERS[type(node)](node, lay.site(path).in_shape)
    inner: dict[str, nn.Module] = {}
    plan = _steps(node, path, lay, inner)
    label = getattr(node, "label", None)
    if isinstance(node, sn.Seq) and label is None and all(isinstance(s, Call) for s in plan.steps):  # type: ignore[attr-defined]
        return nn.Sequential(OrderedDict(inner))
    return Block(label or type(node).__name__, inner, plan)


# ---------------------------------------------------------------- leaves


@leaf_builder(sn.Conv)
def _conv(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Conv)
    return nn.Conv2d(shape[0], node.out, pair(node.kernel), stride=pair(node.stride),
                     padding=pair(node.padding), dilation=pair(node.dilation),
                     groups=node.groups, bias=node.bias)


@leaf_builder(sn.Norm)
def _norm(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Norm)
    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return cls(shape[0], eps=node.eps, momentum=node.momentum, affine=node.affine)


_ACTIVATIONS: dict[str, Callable[[bool], nn.Module]] = {
    "relu": lambda inplace: nn.ReLU(inplace=inplace),
    "relu6": lambda inplace: nn.ReLU6(inplace=inplace),
    "silu": lambda inplace: nn.SiLU(inplace=inplace),
    "hardswish": lambda inplace: nn.Hardswish(inplace=inplace),
    "hardsigmoid": lambda inplace: nn.Hardsigmoid(inplace=inplace),
    "sigmoid": lambda inplace: nn.Sigmoid(),
    "tanh": lambda inplace: nn.Tanh(),
    "gelu": lambda inplace: nn.GELU(),
}


@leaf_builder(sn.Act)
def _act(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Act)
    return _ACTIVATIONS[node.fn](node.inplace)


@leaf_builder(sn.Pool)
def _pool(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Pool)
    k, p = pair(node.kernel), pair(node.padding)
    s = pair(node.stride) if node.stride is not None else k
    if node.mode == "max":
        return nn.MaxPool2d(_scalar(k), _scalar(s), _scalar(p), ceil_mode=node.ceil_mode)
    return nn.AvgPool2d(_scalar(k), _scalar(s), _scalar(p), ceil_mode=node.ceil_mode,
                        count_include_pad=node.count_include_pad)


def _scalar(v: tuple[int, int]) -> int | tuple[int, int]:
    """Square sizes as one int, so reprs read like torchvision's (``kernel_size=3``)."""
    return v[0] if v[0] == v[1] else v


@leaf_builder(sn.AdaptivePool)
def _adaptive(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.AdaptivePool)
    out = node.output
    cls = nn.AdaptiveAvgPool2d if node.mode == "avg" else nn.AdaptiveMaxPool2d
    return cls(out if isinstance(out, int) else tuple(out))


@leaf_builder(sn.Linear)
def _linear(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Linear)
    return nn.Linear(shape[-1], node.out, bias=node.bias)


@leaf_builder(sn.Flatten)
def _flatten(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Flatten)
    return nn.Flatten(node.start_dim)


@leaf_builder(sn.Dropout)
def _dropout(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.Dropout)
    return nn.Dropout(node.p, inplace=node.inplace)


@leaf_builder(sn.StochasticDepth)
def _stochastic_depth(node: sn.Node, shape: Shape) -> nn.Module:
    assert isinstance(node, sn.StochasticDepth)
    return StochasticDepth(node.p)


@leaf_builder(sn.Identity)
def _identity(node: sn.Node, shape: Shape) -> nn.Module:
    return nn.Identity()
