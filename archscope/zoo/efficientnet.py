"""EfficientNet-B0..B7 and EfficientNetV2-S/M/L, as torchvision builds them.

Papers: "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
Tan & Le, arXiv:1905.11946; "EfficientNetV2: Smaller Models and Faster Training",
Tan & Le, arXiv:2104.00298.

B0 is the paper's Table 1; B1..B7 scale its widths by ``width`` (rounded to a multiple
of 8 by :func:`make_divisible`) and its layer counts by ``depth`` (rounded up). Where
torchvision differs from or adds to the papers, it is followed (so checkpoints load):

# NOTE: stochastic depth: the EfficientNet paper only says "survival probability 0.8";
# torchvision drops residual branch ``b`` (counting from 0 over the whole network) with
# p = 0.2 · b / (number of blocks), growing linearly with depth, in "row" mode.
# NOTE: batch norm: torchvision uses torch's defaults (eps 1e-5, momentum 0.1) for
# B0..B4 and eps 1e-3, momentum 0.01 (the TensorFlow values) for B5..B7 and eps 1e-3
# for V2; the squeeze-excitation width is a quarter of the block's *input* channels.
# NOTE: V2-M and V2-L are not tabulated in the V2 paper (only V2-S, Table 4); their
# stages are torchvision's, from the official implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

from archscope.spec.expect import Expect
from archscope.spec.nodes import (
    Act,
    AdaptivePool,
    Conv,
    Dropout,
    Flatten,
    Gate,
    Linear,
    Model,
    Node,
    Norm,
    Residual,
    Seq,
    StochasticDepth,
)
from archscope.spec.templates import table, template
from archscope.zoo.registry import E, register

TABLE1 = "EfficientNet paper (arXiv:1905.11946) Table 1"
TABLE4 = "EfficientNetV2 paper (arXiv:2104.00298) Table 4 (EfficientNetV2-S)"
STOCHASTIC_DEPTH = 0.2  # torchvision's stochastic_depth_prob, for the last block


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: the nearest multiple of ``divisor`` (at least
    ``divisor``), moved up one step if rounding lost more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# ---------------------------------------------------------------- blocks


def _conv_bn(out: int, kernel: int, norm: Norm, stride: int = 1, groups: int = 1,
             act: bool = True) -> Node:
    """torchvision's Conv2dNormActivation: conv ("same" padding, no bias), BN, SiLU."""
    layers: tuple[Node, ...] = (
        Conv(out=out, kernel=kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups,
             bias=False), norm)
    if act:
        layers += (Act(fn="silu", inplace=True),)
    return Seq(label="Conv2dNormActivation", layers=layers)


def _squeeze_excitation(channels: int, squeeze: int) -> Node:
    """``x · sigmoid(fc2(silu(fc1(avgpool(x)))))``, the fcs as 1×1 convs."""
    return Gate(label="SqueezeExcitation", body=(
        AdaptivePool(name="avgpool", mode="avg", output=1),
        Conv(name="fc1", out=squeeze, kernel=1),
        Act(name="activation", fn="silu", inplace=True),
        Conv(name="fc2", out=channels, kernel=1),
        Act(name="scale_activation", fn="sigmoid"),
    ))


def _block(label: str, layers: list[Node], *, inp: int, out: int, stride: int, sd_prob: float,
           name: str | None, expect: Expect | None) -> Node:
    """Number the layers of ``block`` (an nn.Sequential in torchvision); add the input back
    through stochastic depth only when the shape is unchanged."""
    block = Seq(name="block", layers=tuple(replace(n, name=str(i)) for i, n in enumerate(layers)))
    if stride == 1 and inp == out:
        return Residual(name=name, label=label, expect=expect,
                        body=(block, StochasticDepth(name="stochastic_depth", p=sd_prob)))
    # NOTE: torchvision's block also owns a StochasticDepth module here but never calls it;
    # it has no parameters, so it is left out.
    return Seq(name=name, label=label, expect=expect, layers=(block,))


@template("efficientnet.mbconv")
def mbconv(*, inp: int, out: int, expand: int, kernel: int, stride: int = 1, sd_prob: float = 0.0,
           eps: float = 1e-5, momentum: float = 0.1, name: str | None = None,
           expect: Expect | None = None) -> Node:
    """Inverted residual: 1×1 expand (absent when expand is 1), depthwise k×k,
    squeeze-excitation, 1×1 project (no activation)."""
    norm = Norm(eps=eps, momentum=momentum)
    mid = make_divisible(inp * expand)
    layers = [_conv_bn(mid, 1, norm)] if mid != inp else []
    layers += [_conv_bn(mid, kernel, norm, stride=stride, groups=mid),
               _squeeze_excitation(mid, max(1, inp // 4)),
               _conv_bn(out, 1, norm, act=False)]
    return _block("MBConv", layers, inp=inp, out=out, stride=stride, sd_prob=sd_prob, name=name,
                  expect=expect)


@template("efficientnet.fused_mbconv")
def fused_mbconv(*, inp: int, out: int, expand: int, kernel: int, stride: int = 1,
                 sd_prob: float = 0.0, eps: float = 1e-3, momentum: float = 0.1,
                 name: str | None = None, expect: Expect | None = None) -> Node:
    """EfficientNetV2's Fused-MBConv: one k×k conv replaces expand + depthwise; no SE."""
    norm = Norm(eps=eps, momentum=momentum)
    mid = make_divisible(inp * expand)
    if mid == inp:
        layers = [_conv_bn(out, kernel, norm, stride=stride)]
    else:
        layers = [_conv_bn(mid, kernel, norm, stride=stride), _conv_bn(out, 1, norm, act=False)]
    return _block("FusedMBConv", layers, inp=inp, out=out, stride=stride, sd_prob=sd_prob,
                  name=name, expect=expect)


BLOCKS = {"mbconv": mbconv, "fused": fused_mbconv}


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Stage:
    """One row of the papers' architecture tables."""

    stage: int  # the paper's stage number
    operator: str  # "conv" (conv-BN-SiLU), "mbconv" or "fused" (Fused-MBConv)
    expand: int  # expansion ratio: "MBConv6" expands 6×
    kernel: int
    stride: int  # of the stage's first layer
    channels: int  # output channels
    layers: int
    resolution: int = 0  # input resolution as tabulated (Table 1, B0 at 224); 0: not given


def stages(columns: str, rows: list[tuple[object, ...]]) -> tuple[Stage, ...]:
    return tuple(Stage(**row) for row in table(columns, rows))


# Table 1 of the EfficientNet paper: EfficientNet-B0. Its "Resolution" column is each
# stage's INPUT resolution; the stride is where the next row's resolution halves.
B0 = stages("stage operator expand kernel stride resolution channels layers", [
    (1, "conv", 1, 3, 2, 224, 32, 1),  # Conv3x3
    (2, "mbconv", 1, 3, 1, 112, 16, 1),  # MBConv1, k3x3
    (3, "mbconv", 6, 3, 2, 112, 24, 2),  # MBConv6, k3x3
    (4, "mbconv", 6, 5, 2, 56, 40, 2),  # MBConv6, k5x5
    (5, "mbconv", 6, 3, 2, 28, 80, 3),  # MBConv6, k3x3
    (6, "mbconv", 6, 5, 1, 14, 112, 3),  # MBConv6, k5x5
    (7, "mbconv", 6, 5, 2, 14, 192, 4),  # MBConv6, k5x5
    (8, "mbconv", 6, 3, 1, 7, 320, 1),  # MBConv6, k3x3
    (9, "conv", 1, 1, 1, 7, 1280, 1),  # Conv1x1 (& Pooling & FC)
])

# Table 4 of the EfficientNetV2 paper: EfficientNetV2-S (SE 0.25 on every MBConv).
V2_S = stages("stage operator expand kernel stride channels layers", [
    (0, "conv", 1, 3, 2, 24, 1),
    (1, "fused", 1, 3, 1, 24, 2),
    (2, "fused", 4, 3, 2, 48, 4),
    (3, "fused", 4, 3, 2, 64, 4),
    (4, "mbconv", 4, 3, 2, 128, 6),
    (5, "mbconv", 6, 3, 1, 160, 9),
    (6, "mbconv", 6, 3, 2, 256, 15),
    (7, "conv", 1, 1, 1, 1280, 1),
])
# V2-M and V2-L as torchvision has them (the paper does not tabulate them).
V2_M = stages("stage operator expand kernel stride channels layers", [
    (0, "conv", 1, 3, 2, 24, 1),
    (1, "fused", 1, 3, 1, 24, 3),
    (2, "fused", 4, 3, 2, 48, 5),
    (3, "fused", 4, 3, 2, 80, 5),
    (4, "mbconv", 4, 3, 2, 160, 7),
    (5, "mbconv", 6, 3, 1, 176, 14),
    (6, "mbconv", 6, 3, 2, 304, 18),
    (7, "mbconv", 6, 3, 1, 512, 5),
    (8, "conv", 1, 1, 1, 1280, 1),
])
V2_L = stages("stage operator expand kernel stride channels layers", [
    (0, "conv", 1, 3, 2, 32, 1),
    (1, "fused", 1, 3, 1, 32, 4),
    (2, "fused", 4, 3, 2, 64, 7),
    (3, "fused", 4, 3, 2, 96, 7),
    (4, "mbconv", 4, 3, 2, 192, 10),
    (5, "mbconv", 6, 3, 1, 224, 19),
    (6, "mbconv", 6, 3, 2, 384, 25),
    (7, "mbconv", 6, 3, 1, 640, 7),
    (8, "conv", 1, 1, 1, 1280, 1),
])
TORCHVISION_V2 = "torchvision's _efficientnet_conf (not tabulated in arXiv:2104.00298)"


@dataclass(frozen=True)
class Variant:
    stages: tuple[Stage, ...]
    source: str  # where the table comes from
    input: int  # torchvision's evaluation crop size
    dropout: float  # before the classifier
    width: float = 1.0  # channel multiplier (the paper's w)
    depth: float = 1.0  # layer multiplier (the paper's d)
    eps: float = 1e-5
    momentum: float = 0.1


_B = partial(Variant, B0, TABLE1)
_B_TF = partial(_B, eps=1e-3, momentum=0.01)
_V2 = partial(Variant, eps=1e-3)
VARIANTS = {
    "efficientnet_b0": _B(input=224, dropout=0.2, width=1.0, depth=1.0),
    "efficientnet_b1": _B(input=240, dropout=0.2, width=1.0, depth=1.1),
    "efficientnet_b2": _B(input=288, dropout=0.3, width=1.1, depth=1.2),
    "efficientnet_b3": _B(input=300, dropout=0.3, width=1.2, depth=1.4),
    "efficientnet_b4": _B(input=380, dropout=0.4, width=1.4, depth=1.8),
    "efficientnet_b5": _B_TF(input=456, dropout=0.4, width=1.6, depth=2.2),
    "efficientnet_b6": _B_TF(input=528, dropout=0.5, width=1.8, depth=2.6),
    "efficientnet_b7": _B_TF(input=600, dropout=0.5, width=2.0, depth=3.1),
    "efficientnet_v2_s": _V2(V2_S, TABLE4, input=384, dropout=0.2),
    "efficientnet_v2_m": _V2(V2_M, TORCHVISION_V2, input=480, dropout=0.3),
    "efficientnet_v2_l": _V2(V2_L, TORCHVISION_V2, input=480, dropout=0.4),
}


# ---------------------------------------------------------------- model


def _expect(v: Variant, row: Stage, channels: int, size: int) -> Expect:
    """The stage's output shape: B0's straight from Table 1 (whose Resolution column is a
    stage's input, so the output is the next row's), others scaled from their table."""
    if row.resolution and v.input == v.stages[0].resolution and v.width == 1.0:
        size = row.resolution // row.stride
        return E(f"N×{row.channels}×{size}×{size}",
                 f"{v.source}, stage {row.stage}: {row.channels} channels; output {size}×{size} = the "
                 f"stage's INPUT resolution as tabulated, {row.resolution}, over its stride {row.stride}")
    scaled = f" × width {v.width} to a multiple of 8" if v.width != 1.0 else ""
    return E(f"N×{channels}×{size}×{size}",
             f"{v.source}, stage {row.stage}: {row.channels} channels{scaled}; output {size}×{size} "
             f"= the {v.input} input over the strides so far, rounded up ('same' padding)")


def efficientnet(name: str) -> Model:
    v = VARIANTS[name]
    norm = Norm(eps=v.eps, momentum=v.momentum)
    stem, *body, head = v.stages
    repeats = [math.ceil(s.layers * v.depth) for s in body]
    channels, size = make_divisible(stem.channels * v.width), -(-v.input // stem.stride)
    features = [replace(_conv_bn(channels, stem.kernel, norm, stride=stem.stride), name="0",
                        expect=_expect(v, stem, channels, size))]
    block_id = 0
    for i, (row, n) in enumerate(zip(body, repeats, strict=True), 1):
        out = make_divisible(row.channels * v.width)
        blocks = []
        for j in range(n):
            blocks.append(BLOCKS[row.operator](
                name=str(j), inp=channels if j == 0 else out, out=out, expand=row.expand,
                kernel=row.kernel, stride=row.stride if j == 0 else 1, eps=v.eps, momentum=v.momentum,
                sd_prob=STOCHASTIC_DEPTH * block_id / sum(repeats)))
            block_id += 1
        channels, size = out, -(-size // row.stride)
        features.append(Seq(name=str(i), layers=tuple(blocks), expect=_expect(v, row, out, size)))
    # NOTE: torchvision gives the B-series head 4 × the last stage's channels; that equals
    # Table 1's 1280 scaled by make_divisible at every published width.
    channels = make_divisible(head.channels * v.width)
    features.append(replace(_conv_bn(channels, head.kernel, norm), name=str(len(features)),
                            expect=_expect(v, head, channels, size)))
    return Model(name=name, input=(3, v.input, v.input), label="EfficientNet", layers=(
        Seq(name="features", layers=tuple(features)),
        AdaptivePool(name="avgpool", mode="avg", output=1),
        Flatten(name="flatten"),
        Seq(name="classifier", expect=E("N×1000", f"{v.source}: FC to ImageNet's 1000 classes"),
            layers=(Dropout(p=v.dropout, inplace=True), Linear(out=1000))),
    ))


for _name in VARIANTS:
    _v2 = _name.startswith("efficientnet_v2")
    register(_name, family="efficientnet", make=partial(efficientnet, _name),
             paper=("EfficientNetV2: Smaller Models and Faster Training" if _v2 else
                    "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"),
             arxiv="2104.00298" if _v2 else "1905.11946")
