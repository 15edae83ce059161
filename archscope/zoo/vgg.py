"""VGG-11/13/16/19, with and without batch norm, as torchvision builds them.

Paper: "Very Deep Convolutional Networks for Large-Scale Image Recognition",
Simonyan & Zisserman, arXiv:1409.1556. The table below is the paper's Table 1
(configurations A, B, D, E): 3×3 convolutions per stage, each stage ending in a
2×2 max pool.
"""

from __future__ import annotations

from functools import partial

from archscope.spec.nodes import Act, AdaptivePool, Conv, Dropout, Flatten, Linear, Model, Node, Norm, Pool, Seq
from archscope.zoo.registry import E, register

# Table 1 of the paper: output channels of each 3×3 conv, one list per stage.
STAGES = {
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],  # A
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],  # B
    "vgg16": [[64, 64], [128, 128], [256] * 3, [512] * 3, [512] * 3],  # D
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],  # E
}
SEED = "seed 004 (VGG16)"


def vgg(depth_name: str, batch_norm: bool) -> Model:
    # NOTE: features is one flat nn.Sequential, as in torchvision, so its state_dict
    # keys are features.0, features.2, ... (features.0, .1 (bn), ... with batch norm).
    features: list[Node] = []
    for stage in STAGES[depth_name]:
        for channels in stage:
            features.append(Conv(out=channels, kernel=3, padding=1))
            if batch_norm:
                features.append(Norm())
            features.append(Act(inplace=True))
        features.append(Pool(mode="max", kernel=2, stride=2))
    name = depth_name + ("_bn" if batch_norm else "")
    shape_src = f"{SEED}: classifier starts with nn.Linear(512*7*7, 4096)"
    return Model(name=name, input=(3, 224, 224), label="VGG", layers=(
        Seq(name="features", layers=tuple(features)),
        AdaptivePool(name="avgpool", mode="avg", output=(7, 7), expect=E("N×512×7×7", shape_src)),
        Flatten(name="flatten"),
        Seq(name="classifier", expect=E("N×1000", f"{SEED}: printed torch.Size([1, 1000])"), layers=(
            Linear(out=4096), Act(inplace=True), Dropout(p=0.5),
            Linear(out=4096), Act(inplace=True), Dropout(p=0.5),
            Linear(out=1000),
        )),
    ))


for _depth in STAGES:
    for _bn in (False, True):
        register(_depth + ("_bn" if _bn else ""), family="vgg", make=partial(vgg, _depth, _bn),
                 arxiv="1409.1556",
                 paper="Very Deep Convolutional Networks for Large-Scale Image Recognition")
