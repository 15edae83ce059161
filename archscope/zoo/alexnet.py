"""AlexNet, torchvision's variant.

Paper: "One weird trick for parallelizing convolutional neural networks", Krizhevsky,
arXiv:1404.5997 (the single-GPU variant torchvision implements; the 2012 original has
96/256 channels and LRN, as the seed document's code does).
"""

from __future__ import annotations

from archscope.spec.nodes import Act, AdaptivePool, Conv, Dropout, Flatten, Linear, Model, Pool, Seq
from archscope.zoo.registry import E, register


def alexnet() -> Model:
    relu = Act(inplace=True)
    return Model(name="alexnet", input=(3, 224, 224), label="AlexNet", layers=(
        Seq(name="features", layers=(
            Conv(out=64, kernel=11, stride=4, padding=2), relu,
            Pool(mode="max", kernel=3, stride=2),
            Conv(out=192, kernel=5, padding=2), relu,
            Pool(mode="max", kernel=3, stride=2),
            Conv(out=384, kernel=3, padding=1), relu,
            Conv(out=256, kernel=3, padding=1), relu,
            Conv(out=256, kernel=3, padding=1), relu,
            Pool(mode="max", kernel=3, stride=2),
        )),
        AdaptivePool(name="avgpool", mode="avg", output=(6, 6),
                     expect=E("N×256×6×6", "seed 004 (AlexNet): fc1 = nn.Linear(256*6*6, 4096)")),
        Flatten(name="flatten"),
        Seq(name="classifier", expect=E("N×1000", "seed 004 (AlexNet): printed torch.Size([1, 1000])"),
            layers=(
                Dropout(p=0.5), Linear(out=4096), relu,
                Dropout(p=0.5), Linear(out=4096), relu,
                Linear(out=1000),
            )),
    ))


register("alexnet", family="alexnet", make=alexnet, arxiv="1404.5997",
         paper="One weird trick for parallelizing convolutional neural networks")
