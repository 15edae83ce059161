"""ResNet, ResNeXt and Wide ResNet, as torchvision builds them.

Papers: "Deep Residual Learning for Image Recognition", He et al., arXiv:1512.03385;
"Aggregated Residual Transformations for Deep Neural Networks" (ResNeXt), Xie et al.,
arXiv:1611.05431; "Wide Residual Networks", Zagoruyko & Komodakis, arXiv:1605.07146.

# NOTE: torchvision puts a bottleneck's stride on the 3×3 conv (conv2), not on the
# first 1×1 as the paper does ("ResNet v1.5"); the templates below follow torchvision,
# so checkpoints load and the published parameter and MAC counts match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from archscope.spec.nodes import Act, AdaptivePool, Conv, Flatten, Linear, Model, Node, Norm, Pool, Residual, Seq
from archscope.spec.templates import TEMPLATES, template
from archscope.zoo.registry import E, register

TABLE1 = "ResNet paper (arXiv:1512.03385) Table 1, output size"


@template("resnet.basic")
def basic_block(*, planes: int, stride: int = 1, downsample: bool = False,
                name: str | None = None, expect: object = None) -> Node:
    """Two 3×3 convs; output channels = planes."""
    return Residual(name=name, label="BasicBlock", expect=expect, body=(  # type: ignore[arg-type]
        Conv(name="conv1", out=planes, kernel=3, stride=stride, padding=1, bias=False),
        Norm(name="bn1"), Act(name="relu1", inplace=True),
        Conv(name="conv2", out=planes, kernel=3, padding=1, bias=False),
        Norm(name="bn2"),
    ), shortcut=_projection(planes, stride) if downsample else None, post=Act(name="relu", inplace=True))


@template("resnet.bottleneck")
def bottleneck(*, planes: int, stride: int = 1, downsample: bool = False, groups: int = 1,
               width_per_group: int = 64, name: str | None = None, expect: object = None) -> Node:
    """1×1 reduce, 3×3 (grouped for ResNeXt), 1×1 expand to 4 × planes."""
    width = int(planes * (width_per_group / 64.0)) * groups
    return Residual(name=name, label="Bottleneck", expect=expect, body=(  # type: ignore[arg-type]
        Conv(name="conv1", out=width, kernel=1, bias=False), Norm(name="bn1"),
        Act(name="relu1", inplace=True),
        Conv(name="conv2", out=width, kernel=3, stride=stride, padding=1, groups=groups, bias=False),
        Norm(name="bn2"), Act(name="relu2", inplace=True),
        Conv(name="conv3", out=planes * 4, kernel=1, bias=False), Norm(name="bn3"),
    ), shortcut=_projection(planes * 4, stride) if downsample else None,
        post=Act(name="relu", inplace=True))


def _projection(out: int, stride: int) -> Node:
    return Seq(name="downsample", layers=(Conv(out=out, kernel=1, stride=stride, bias=False), Norm()))


EXPANSION = {"resnet.basic": 1, "resnet.bottleneck": 4}  # output channels per plane (torchvision's .expansion)


@dataclass(frozen=True)
class Variant:
    family: str  # the paper: "resnet", "resnext" or "wide_resnet"
    block: str  # a block template above
    depths: tuple[int, int, int, int]  # blocks per stage (conv2_x .. conv5_x)
    widths: dict[str, int] = field(default_factory=dict)  # the template's groups and width_per_group


_RESNEXT, _WIDE = "resnext", "wide_resnet"
VARIANTS = {
    "resnet18": Variant("resnet", "resnet.basic", (2, 2, 2, 2)),
    "resnet34": Variant("resnet", "resnet.basic", (3, 4, 6, 3)),
    "resnet50": Variant("resnet", "resnet.bottleneck", (3, 4, 6, 3)),
    "resnet101": Variant("resnet", "resnet.bottleneck", (3, 4, 23, 3)),
    "resnet152": Variant("resnet", "resnet.bottleneck", (3, 8, 36, 3)),
    "resnext50_32x4d": Variant(_RESNEXT, "resnet.bottleneck", (3, 4, 6, 3), {"groups": 32, "width_per_group": 4}),
    "resnext101_32x8d": Variant(_RESNEXT, "resnet.bottleneck", (3, 4, 23, 3), {"groups": 32, "width_per_group": 8}),
    "resnext101_64x4d": Variant(_RESNEXT, "resnet.bottleneck", (3, 4, 23, 3), {"groups": 64, "width_per_group": 4}),
    "wide_resnet50_2": Variant(_WIDE, "resnet.bottleneck", (3, 4, 6, 3), {"width_per_group": 128}),
    "wide_resnet101_2": Variant(_WIDE, "resnet.bottleneck", (3, 4, 23, 3), {"width_per_group": 128}),
}

# Table 1 of the paper: stage, planes, stride, output size at 224.
STAGES = (("layer1", 64, 1, 56), ("layer2", 128, 2, 28), ("layer3", 256, 2, 14), ("layer4", 512, 2, 7))


def resnet(name: str) -> Model:
    v = VARIANTS[name]
    make_block, expansion = TEMPLATES[v.block], EXPANSION[v.block]
    layers: list[Node] = [
        Conv(name="conv1", out=64, kernel=7, stride=2, padding=3, bias=False,
             expect=E("N×64×112×112", f"{TABLE1} of conv1")),
        Norm(name="bn1"), Act(name="relu", inplace=True),
        Pool(name="maxpool", mode="max", kernel=3, stride=2, padding=1,
             expect=E("N×64×56×56", f"{TABLE1} of conv2_x (after the 3×3 max pool)")),
    ]
    channels = 64
    for (stage, planes, stride, size), depth in zip(STAGES, v.depths, strict=True):
        blocks = []
        for i in range(depth):
            s = stride if i == 0 else 1
            down = s != 1 or channels != planes * expansion
            blocks.append(make_block(name=str(i), planes=planes, stride=s, downsample=down, **v.widths))
            channels = planes * expansion
        conv_x = f"conv{int(stage[-1]) + 1}_x"
        layers.append(Seq(name=stage, layers=tuple(blocks),
                          expect=E(f"N×{channels}×{size}×{size}", f"{TABLE1} of {conv_x}")))
    layers += [
        AdaptivePool(name="avgpool", mode="avg", output=(1, 1)),
        Flatten(name="flatten"),
        Linear(name="fc", out=1000, expect=E("N×1000", f"{TABLE1}: 1000-d fc")),
    ]
    return Model(name=name, input=(3, 224, 224), label="ResNet", layers=tuple(layers))


_PAPERS = {
    "resnet": ("Deep Residual Learning for Image Recognition", "1512.03385"),
    "resnext": ("Aggregated Residual Transformations for Deep Neural Networks", "1611.05431"),
    "wide_resnet": ("Wide Residual Networks", "1605.07146"),
}

for _name, _v in VARIANTS.items():
    _paper, _arxiv = _PAPERS[_v.family]
    register(_name, family=_v.family, paper=_paper, arxiv=_arxiv, make=partial(resnet, _name))
