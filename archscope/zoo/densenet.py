"""DenseNet-121/161/169/201 as torchvision builds them, and the paper's DenseNet-264.

Paper: "Densely Connected Convolutional Networks", Huang et al., arXiv:1608.06993.
All variants are DenseNet-BC: each dense layer is BN-ReLU-Conv(1×1, bn_size·k)-BN-ReLU-
Conv(3×3, k) with its k new feature maps concatenated to its input; each transition
halves the channels (compression 0.5) with a 1×1 conv and a 2×2 average pool.

# NOTE: DenseNet-264 (growth 32, blocks 6/12/64/48) is in the paper's Table 1 but not
# in torchvision, so it has no published parameter count; tests/test_zoo_families.py
# checks it against an analytic formula. DenseNet-161 (k=48, 96 initial features) is
# in torchvision but not in Table 1; its output sizes are Table 1's, its channels
# follow from its configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from archscope.spec.expect import Expect
from archscope.spec.nodes import Act, AdaptivePool, Conv, Dense, Flatten, Linear, Model, Node, Norm, Pool, Seq
from archscope.spec.templates import template
from archscope.zoo.registry import E, register

TABLE1 = "DenseNet paper (arXiv:1608.06993) Table 1, output size"


@template("densenet.layer")
def dense_layer(*, growth: int, bn_size: int = 4, name: str | None = None) -> Node:
    """``cat([x, layer(x)])``; the named module (torchvision's ``_DenseLayer``) returns only
    the ``growth`` new feature maps, the concatenation belongs to the enclosing block."""
    return Dense(body=(Seq(name=name, label="_DenseLayer", layers=(
        Norm(name="norm1"), Act(name="relu1", inplace=True),
        Conv(name="conv1", out=bn_size * growth, kernel=1, bias=False),
        Norm(name="norm2"), Act(name="relu2", inplace=True),
        Conv(name="conv2", out=growth, kernel=3, padding=1, bias=False),
    )),))


@template("densenet.transition")
def transition(*, out: int, name: str | None = None, expect: Expect | None = None) -> Node:
    """BN-ReLU-Conv(1×1) to ``out`` channels, then a 2×2 average pool with stride 2."""
    return Seq(name=name, label="_Transition", expect=expect, layers=(
        Norm(name="norm"), Act(name="relu", inplace=True),
        Conv(name="conv", out=out, kernel=1, bias=False),
        Pool(name="pool", mode="avg", kernel=2, stride=2),
    ))


@dataclass(frozen=True)
class Variant:
    growth: int  # k, new feature maps per dense layer
    blocks: tuple[int, int, int, int]  # dense layers in dense blocks (1)..(4)
    init: int  # output channels of conv0
    bn_size: int = 4  # the 1×1 bottleneck conv has bn_size·k channels


VARIANTS = {
    "densenet121": Variant(growth=32, blocks=(6, 12, 24, 16), init=64),
    "densenet161": Variant(growth=48, blocks=(6, 12, 36, 24), init=96),
    "densenet169": Variant(growth=32, blocks=(6, 12, 32, 32), init=64),
    "densenet201": Variant(growth=32, blocks=(6, 12, 48, 32), init=64),
    "densenet264": Variant(growth=32, blocks=(6, 12, 64, 48), init=64),  # paper only
}

# Table 1's output size of dense blocks (1)..(4) at 224×224; transition (i) halves it.
BLOCK_SIZES = (56, 28, 14, 7)


def densenet(name: str) -> Model:
    v = VARIANTS[name]
    features: list[Node] = [
        Conv(name="conv0", out=v.init, kernel=7, stride=2, padding=3, bias=False,
             expect=E(f"N×{v.init}×112×112", f"{TABLE1} of Convolution (7×7 conv, stride 2)")),
        Norm(name="norm0"), Act(name="relu0", inplace=True),
        Pool(name="pool0", mode="max", kernel=3, stride=2, padding=1,
             expect=E(f"N×{v.init}×56×56", f"{TABLE1} of Pooling (3×3 max pool, stride 2)")),
    ]
    channels = v.init
    for i, (depth, size) in enumerate(zip(v.blocks, BLOCK_SIZES, strict=True), 1):
        grown = channels + depth * v.growth
        features.append(Seq(name=f"denseblock{i}", label="_DenseBlock", layers=tuple(
            dense_layer(name=f"denselayer{j}", growth=v.growth, bn_size=v.bn_size)
            for j in range(1, depth + 1)),
            expect=E(f"N×{grown}×{size}×{size}",
                     f"{TABLE1} of dense block ({i}); channels {channels} + {depth}×{v.growth}")))
        channels = grown
        if i < len(v.blocks):
            channels //= 2  # compression θ = 0.5
            features.append(transition(name=f"transition{i}", out=channels, expect=E(
                f"N×{channels}×{size // 2}×{size // 2}",
                f"{TABLE1} of transition layer ({i}); channels {grown}/2 (compression 0.5)")))
    features.append(Norm(name="norm5"))
    # NOTE: torchvision's forward applies F.relu, adaptive_avg_pool2d and flatten between
    # features and classifier; here they are parameter-free leaves of their own.
    return Model(name=name, input=(3, 224, 224), label="DenseNet", layers=(
        Seq(name="features", layers=tuple(features)),
        Act(name="relu", inplace=True),
        AdaptivePool(name="avgpool", mode="avg", output=(1, 1),
                     expect=E(f"N×{channels}×1×1", f"{TABLE1} of Classification Layer (7×7 global average pool)")),
        Flatten(name="flatten"),
        Linear(name="classifier", out=1000,
               expect=E("N×1000", f"{TABLE1} of Classification Layer (1000D fully-connected)")),
    ))


for _name in VARIANTS:
    register(_name, family="densenet", paper="Densely Connected Convolutional Networks",
             arxiv="1608.06993", make=partial(densenet, _name))
