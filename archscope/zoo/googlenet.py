"""GoogLeNet (Inception v1), as torchvision builds it.

Paper: "Going Deeper with Convolutions", Szegedy et al., arXiv:1409.4842.

# NOTE: torchvision differs from the paper in ways a checkpoint depends on, and this
# spec follows torchvision: every conv is conv + BatchNorm (eps 0.001) + ReLU
# (``BasicConv2d``); the "5×5" branch uses a 3×3 kernel (a known torchvision quirk,
# kept for weight compatibility); max pools use ceil_mode; the aux heads pool
# adaptively to 4×4 (the paper: 5×5 average pool, stride 3, which gives 4×4 at 224).
# torchvision's published parameter count leaves the two aux heads out.
"""

from __future__ import annotations

from archscope.spec.expect import Expect
from archscope.spec.nodes import (
    Act,
    AdaptivePool,
    Aux,
    Concat,
    Conv,
    Dropout,
    Flatten,
    IntPair,
    Linear,
    Model,
    Node,
    Norm,
    Pool,
    Seq,
)
from archscope.spec.templates import template
from archscope.zoo.registry import E, register

TABLE1 = "GoogLeNet paper (arXiv:1409.4842) Table 1, output size"
AUX_TEXT = "GoogLeNet paper (arXiv:1409.4842) section 5, auxiliary classifier"


@template("basic_conv")
def basic_conv(*, name: str, out: int, kernel: IntPair, stride: IntPair = 1, padding: IntPair = 0,
               expect: Expect | None = None) -> Node:
    """torchvision's ``BasicConv2d`` (GoogLeNet, Inception v3): conv, BatchNorm (eps 0.001), ReLU."""
    return Seq(name=name, label="BasicConv2d", expect=expect, layers=(
        Conv(name="conv", out=out, kernel=kernel, stride=stride, padding=padding, bias=False),
        Norm(name="bn", eps=0.001),
        Act(name="relu", inplace=True),
    ))


@template("googlenet.inception")
def inception(*, name: str, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
              pool_proj: int, expect: Expect | None = None) -> Node:
    """Four parallel branches concatenated: 1×1; 1×1→3×3; 1×1→"5×5"; 3×3 max pool→1×1."""
    return Concat(name=name, label="Inception", expect=expect, branches=(
        basic_conv(name="branch1", out=ch1x1, kernel=1),
        Seq(name="branch2", layers=(basic_conv(name="0", out=ch3x3red, kernel=1),
                                    basic_conv(name="1", out=ch3x3, kernel=3, padding=1))),
        Seq(name="branch3", layers=(basic_conv(name="0", out=ch5x5red, kernel=1),
                                    basic_conv(name="1", out=ch5x5, kernel=3, padding=1))),
        Seq(name="branch4", layers=(Pool(name="0", mode="max", kernel=3, stride=1, padding=1, ceil_mode=True),
                                    basic_conv(name="1", out=pool_proj, kernel=1))),
    ))


@template("googlenet.aux")
def aux_head(*, name: str, channels: int) -> Node:
    """Average pool to 4×4, 1×1 conv to 128, fc 1024, ReLU, dropout 0.7, fc 1000 (training only)."""
    return Aux(name=name, label="InceptionAux", body=(
        AdaptivePool(name="pool", mode="avg", output=4,
                     expect=E(f"N×{channels}×4×4", f"{AUX_TEXT}: 4×4×{channels} after the average pool")),
        basic_conv(name="conv", out=128, kernel=1),
        Flatten(name="flatten"),
        Linear(name="fc1", out=1024, expect=E("N×1024", f"{AUX_TEXT}: fully connected layer with 1024 units")),
        Act(name="relu", inplace=True),
        Dropout(name="dropout", p=0.7),
        Linear(name="fc2", out=1000, expect=E("N×1000", f"{AUX_TEXT}: linear layer, 1000 classes")),
    ))


# Table 1: name, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj, output channels × size at 224.
INCEPTIONS = (
    ("inception3a", 64, 96, 128, 16, 32, 32, 256, 28),
    ("inception3b", 128, 128, 192, 32, 96, 64, 480, 28),
    ("inception4a", 192, 96, 208, 16, 48, 64, 512, 14),
    ("inception4b", 160, 112, 224, 24, 64, 64, 512, 14),
    ("inception4c", 128, 128, 256, 24, 64, 64, 512, 14),
    ("inception4d", 112, 144, 288, 32, 64, 64, 528, 14),
    ("inception4e", 256, 160, 320, 32, 128, 128, 832, 14),
    ("inception5a", 256, 160, 320, 32, 128, 128, 832, 7),
    ("inception5b", 384, 192, 384, 48, 128, 128, 1024, 7),
)
# Where the stem's max pools, and the aux heads (after 4a and 4d), sit between the blocks.
POOL_BEFORE = {"inception4a": ("maxpool3", 480, 14), "inception5a": ("maxpool4", 832, 7)}
AUX_AFTER = {"inception4a": ("aux1", 512), "inception4d": ("aux2", 528)}


def googlenet() -> Model:
    layers: list[Node] = [
        basic_conv(name="conv1", out=64, kernel=7, stride=2, padding=3,
                   expect=E("N×64×112×112", f"{TABLE1} of conv 7×7/2")),
        Pool(name="maxpool1", mode="max", kernel=3, stride=2, ceil_mode=True,
             expect=E("N×64×56×56", f"{TABLE1} of max pool 3×3/2")),
        basic_conv(name="conv2", out=64, kernel=1),
        basic_conv(name="conv3", out=192, kernel=3, padding=1,
                   expect=E("N×192×56×56", f"{TABLE1} of conv 3×3/1")),
        Pool(name="maxpool2", mode="max", kernel=3, stride=2, ceil_mode=True,
             expect=E("N×192×28×28", f"{TABLE1} of max pool 3×3/2")),
    ]
    for name, c1, r3, c3, r5, c5, proj, out, size in INCEPTIONS:
        if name in POOL_BEFORE:
            pool, channels, after = POOL_BEFORE[name]
            layers.append(Pool(name=pool, mode="max", kernel=3 if pool == "maxpool3" else 2, stride=2,
                               ceil_mode=True, expect=E(f"N×{channels}×{after}×{after}",
                                                        f"{TABLE1} of max pool")))
        layers.append(inception(name=name, ch1x1=c1, ch3x3red=r3, ch3x3=c3, ch5x5red=r5, ch5x5=c5,
                                pool_proj=proj, expect=E(f"N×{out}×{size}×{size}",
                                                         f"{TABLE1} of inception ({name[-2:]})")))
        if name in AUX_AFTER:
            layers.append(aux_head(name=AUX_AFTER[name][0], channels=AUX_AFTER[name][1]))
    layers += [
        AdaptivePool(name="avgpool", mode="avg", output=1,
                     expect=E("N×1024×1×1", f"{TABLE1} of avg pool 7×7/1")),
        Flatten(name="flatten"),
        Dropout(name="dropout", p=0.2),
        Linear(name="fc", out=1000, expect=E("N×1000", f"{TABLE1} of linear")),
    ]
    return Model(name="googlenet", input=(3, 224, 224), label="GoogLeNet", layers=tuple(layers))


register("googlenet", family="googlenet", paper="Going Deeper with Convolutions", arxiv="1409.4842",
         make=googlenet, published_excludes=("aux1", "aux2"))
