"""Inception v3, as torchvision builds it.

Paper: "Rethinking the Inception Architecture for Computer Vision", Szegedy et al.,
arXiv:1512.00567. The expected shapes are the ``# N x C x H x W`` comments of the
Inception v3 code in the seed document 004_2c8779ce8a55b821.txt (torchvision's code),
at the reference input 299×299.

# NOTE: the branch pools (average 3×3/1 padded, or max 3×3/2) are functional calls in
# torchvision; here they are named pool leaves without parameters, so state_dict keys
# are unchanged. The AuxLogits head taps Mixed_6e and runs only in training.
"""

from __future__ import annotations

from archscope.spec.expect import Expect
from archscope.spec.nodes import AdaptivePool, Aux, Concat, Dropout, Flatten, Linear, Model, Node, Pool, Seq
from archscope.spec.templates import template
from archscope.zoo.googlenet import basic_conv as bc
from archscope.zoo.registry import E, register

SEED = "seed 004_2c8779ce8a55b821.txt, Inception3._forward comment"
SEED_AUX = "seed 004_2c8779ce8a55b821.txt, InceptionAux.forward comment"


def _avg_pool_branch(out: int) -> Node:
    return Seq(layers=(Pool(name="pool", mode="avg", kernel=3, stride=1, padding=1), bc(name="branch_pool", out=out,
                                                                                        kernel=1)))


@template("inception.a")
def inception_a(*, name: str, pool_features: int, expect: Expect | None = None) -> Node:
    """35×35 grid: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1."""
    return Concat(name=name, label="InceptionA", expect=expect, branches=(
        bc(name="branch1x1", out=64, kernel=1),
        Seq(layers=(bc(name="branch5x5_1", out=48, kernel=1),
                    bc(name="branch5x5_2", out=64, kernel=5, padding=2))),
        Seq(layers=(bc(name="branch3x3dbl_1", out=64, kernel=1),
                    bc(name="branch3x3dbl_2", out=96, kernel=3, padding=1),
                    bc(name="branch3x3dbl_3", out=96, kernel=3, padding=1))),
        _avg_pool_branch(pool_features),
    ))


@template("inception.b")
def inception_b(*, name: str, expect: Expect | None = None) -> Node:
    """Grid reduction 35→17: 3×3/2 | 1×1→3×3→3×3/2 | max pool 3×3/2."""
    return Concat(name=name, label="InceptionB", expect=expect, branches=(
        bc(name="branch3x3", out=384, kernel=3, stride=2),
        Seq(layers=(bc(name="branch3x3dbl_1", out=64, kernel=1),
                    bc(name="branch3x3dbl_2", out=96, kernel=3, padding=1),
                    bc(name="branch3x3dbl_3", out=96, kernel=3, stride=2))),
        Pool(name="branch_pool", mode="max", kernel=3, stride=2),
    ))


@template("inception.c")
def inception_c(*, name: str, channels_7x7: int, expect: Expect | None = None) -> Node:
    """17×17 grid with factorised 7×7 convs (1×7 and 7×1)."""
    c7 = channels_7x7
    row, col = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
    return Concat(name=name, label="InceptionC", expect=expect, branches=(
        bc(name="branch1x1", out=192, kernel=1),
        Seq(layers=(bc(name="branch7x7_1", out=c7, kernel=1),
                    bc(name="branch7x7_2", out=c7, **row),  # type: ignore[arg-type]
                    bc(name="branch7x7_3", out=192, **col))),  # type: ignore[arg-type]
        Seq(layers=(bc(name="branch7x7dbl_1", out=c7, kernel=1),
                    bc(name="branch7x7dbl_2", out=c7, **col),  # type: ignore[arg-type]
                    bc(name="branch7x7dbl_3", out=c7, **row),  # type: ignore[arg-type]
                    bc(name="branch7x7dbl_4", out=c7, **col),  # type: ignore[arg-type]
                    bc(name="branch7x7dbl_5", out=192, **row))),  # type: ignore[arg-type]
        _avg_pool_branch(192),
    ))


@template("inception.d")
def inception_d(*, name: str, expect: Expect | None = None) -> Node:
    """Grid reduction 17→8: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool 3×3/2."""
    return Concat(name=name, label="InceptionD", expect=expect, branches=(
        Seq(layers=(bc(name="branch3x3_1", out=192, kernel=1),
                    bc(name="branch3x3_2", out=320, kernel=3, stride=2))),
        Seq(layers=(bc(name="branch7x7x3_1", out=192, kernel=1),
                    bc(name="branch7x7x3_2", out=192, kernel=(1, 7), padding=(0, 3)),
                    bc(name="branch7x7x3_3", out=192, kernel=(7, 1), padding=(3, 0)),
                    bc(name="branch7x7x3_4", out=192, kernel=3, stride=2))),
        Pool(name="branch_pool", mode="max", kernel=3, stride=2),
    ))


@template("inception.e")
def inception_e(*, name: str, expect: Expect | None = None) -> Node:
    """8×8 grid with expanded filter banks: two branches split again into 1×3 and 3×1."""
    def split(prefix: str) -> Node:
        return Concat(branches=(bc(name=f"{prefix}a", out=384, kernel=(1, 3), padding=(0, 1)),
                                bc(name=f"{prefix}b", out=384, kernel=(3, 1), padding=(1, 0))))

    return Concat(name=name, label="InceptionE", expect=expect, branches=(
        bc(name="branch1x1", out=320, kernel=1),
        Seq(layers=(bc(name="branch3x3_1", out=384, kernel=1), split("branch3x3_2"))),
        Seq(layers=(bc(name="branch3x3dbl_1", out=448, kernel=1),
                    bc(name="branch3x3dbl_2", out=384, kernel=3, padding=1), split("branch3x3dbl_3"))),
        _avg_pool_branch(192),
    ))


@template("inception.aux")
def inception_aux(*, name: str) -> Node:
    """Training-only classifier on the 17×17 grid: avg pool 5×5/3, 1×1 conv, 5×5 conv, fc."""
    return Aux(name=name, label="InceptionAux", body=(
        Pool(name="pool", mode="avg", kernel=5, stride=3, expect=E("N×768×5×5", SEED_AUX)),
        bc(name="conv0", out=128, kernel=1, expect=E("N×128×5×5", SEED_AUX)),
        bc(name="conv1", out=768, kernel=5, expect=E("N×768×1×1", SEED_AUX)),
        AdaptivePool(name="avgpool", mode="avg", output=1, expect=E("N×768×1×1", SEED_AUX)),
        Flatten(name="flatten", expect=E("N×768", SEED_AUX)),
        Linear(name="fc", out=1000, expect=E("N×1000", SEED_AUX)),
    ))


def inception_v3() -> Model:
    def e(shape: str) -> Expect:
        return E(shape, SEED)

    return Model(name="inception_v3", input=(3, 299, 299), label="Inception3", layers=(
        bc(name="Conv2d_1a_3x3", out=32, kernel=3, stride=2, expect=e("N x 32 x 149 x 149")),
        bc(name="Conv2d_2a_3x3", out=32, kernel=3, expect=e("N x 32 x 147 x 147")),
        bc(name="Conv2d_2b_3x3", out=64, kernel=3, padding=1, expect=e("N x 64 x 147 x 147")),
        Pool(name="maxpool1", mode="max", kernel=3, stride=2, expect=e("N x 64 x 73 x 73")),
        bc(name="Conv2d_3b_1x1", out=80, kernel=1, expect=e("N x 80 x 73 x 73")),
        bc(name="Conv2d_4a_3x3", out=192, kernel=3, expect=e("N x 192 x 71 x 71")),
        Pool(name="maxpool2", mode="max", kernel=3, stride=2, expect=e("N x 192 x 35 x 35")),
        inception_a(name="Mixed_5b", pool_features=32, expect=e("N x 256 x 35 x 35")),
        inception_a(name="Mixed_5c", pool_features=64, expect=e("N x 288 x 35 x 35")),
        inception_a(name="Mixed_5d", pool_features=64, expect=e("N x 288 x 35 x 35")),
        inception_b(name="Mixed_6a", expect=e("N x 768 x 17 x 17")),
        inception_c(name="Mixed_6b", channels_7x7=128, expect=e("N x 768 x 17 x 17")),
        inception_c(name="Mixed_6c", channels_7x7=160, expect=e("N x 768 x 17 x 17")),
        inception_c(name="Mixed_6d", channels_7x7=160, expect=e("N x 768 x 17 x 17")),
        inception_c(name="Mixed_6e", channels_7x7=192, expect=e("N x 768 x 17 x 17")),
        inception_aux(name="AuxLogits"),
        inception_d(name="Mixed_7a", expect=e("N x 1280 x 8 x 8")),
        inception_e(name="Mixed_7b", expect=e("N x 2048 x 8 x 8")),
        inception_e(name="Mixed_7c", expect=e("N x 2048 x 8 x 8")),
        AdaptivePool(name="avgpool", mode="avg", output=1, expect=e("N x 2048 x 1 x 1")),
        Dropout(name="dropout", p=0.5, expect=e("N x 2048 x 1 x 1")),
        Flatten(name="flatten", expect=e("N x 2048")),
        Linear(name="fc", out=1000, expect=e("N x 1000 (num_classes)")),
    ))


register("inception_v3", family="inception", paper="Rethinking the Inception Architecture for Computer Vision",
         arxiv="1512.00567", make=inception_v3)
