"""DenseNet and EfficientNet against numbers computed here from the papers' definitions,
independently of the zoo code: DenseNet-264 (not in torchvision, so not in
tests/test_zoo.py's fixtures) by an analytic parameter formula and the stage shapes of
the paper's Table 1, and EfficientNet's compound scaling from the published multipliers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import archscope
from archscope import zoo
from archscope.builder import resolve
from archscope.spec import layout
from archscope.spec.nodes import Seq

REFERENCE = json.loads((Path(__file__).resolve().parent.parent / "archscope" / "zoo"
                        / "torchvision_reference.json").read_text())["models"]

# ---------------------------------------------------------------- DenseNet


def densenet_params(growth: int, blocks: tuple[int, ...], init: int, bn_size: int = 4,
                    classes: int = 1000) -> int:
    """DenseNet-BC parameters: convs have no bias, a BN has 2 per channel, compression 0.5."""
    def bn(c: int) -> int:
        return 2 * c

    total = 3 * init * 7 * 7 + bn(init)  # conv0, norm0
    c = init
    for i, n in enumerate(blocks):
        for j in range(n):
            c_in, mid = c + j * growth, bn_size * growth
            total += bn(c_in) + c_in * mid + bn(mid) + mid * growth * 3 * 3
        c += n * growth
        if i < len(blocks) - 1:
            total += bn(c) + c * (c // 2)  # transition: BN, 1×1 conv (the pool has none)
            c //= 2
    return total + bn(c) + c * classes + classes  # norm5, classifier


@pytest.mark.parametrize(("name", "growth", "blocks", "init"), [
    ("densenet121", 32, (6, 12, 24, 16), 64),
    ("densenet161", 48, (6, 12, 36, 24), 96),
    ("densenet169", 32, (6, 12, 32, 32), 64),
    ("densenet201", 32, (6, 12, 48, 32), 64),
])
def test_densenet_formula_reproduces_torchvisions_published_counts(
        name: str, growth: int, blocks: tuple[int, ...], init: int) -> None:
    """The formula is right where a published number exists, so it can vouch for DenseNet-264."""
    assert densenet_params(growth, blocks, init) == REFERENCE[name]["num_params"]


def test_densenet264_params_equal_the_analytic_formula() -> None:
    expected = densenet_params(32, (6, 12, 64, 48), 64)
    assert expected == 33_337_704
    assert layout(zoo.get("densenet264").spec()).params == expected
    module = resolve("densenet264").module("meta")
    assert sum(p.numel() for p in module.parameters()) == expected


def test_densenet264_stage_shapes_follow_table1() -> None:
    # channels: 64 + 6·32 = 256 → 128 → 128 + 12·32 = 512 → 256 → 256 + 64·32 = 2304
    #           → 1152 → 1152 + 48·32 = 2688; sizes as Table 1 prints them.
    expected = {
        "features.conv0": (2, 64, 112, 112), "features.pool0": (2, 64, 56, 56),
        "features.denseblock1": (2, 256, 56, 56), "features.transition1": (2, 128, 28, 28),
        "features.denseblock2": (2, 512, 28, 28), "features.transition2": (2, 256, 14, 14),
        "features.denseblock3": (2, 2304, 14, 14), "features.transition3": (2, 1152, 7, 7),
        "features.denseblock4": (2, 2688, 7, 7), "features.norm5": (2, 2688, 7, 7),
        "classifier": (2, 1000),
        # a dense layer's module returns only its k new maps; its bottleneck has 4k
        "features.denseblock3.denselayer64": (2, 32, 14, 14),
        "features.denseblock3.denselayer64.conv1": (2, 128, 14, 14),
        "features.denseblock3.denselayer64.norm1": (2, 2304 - 32, 14, 14),
    }
    trace = archscope.trace("densenet264", batch=2)
    shapes = {r.name: r.output_shape for r in trace.layers}
    assert {k: shapes.get(k) for k in expected} == expected
    assert sum(r.name.startswith("features.denseblock3.denselayer") and r.name.count(".") == 2
               for r in trace.layers) == 64
    assert len(trace.checks) == 11 and trace.mismatches == []


# ---------------------------------------------------------------- EfficientNet

# The EfficientNet paper's Table 1 (B0): output channels of stages 1-9, layers of 2-8.
B0_CHANNELS = (32, 16, 24, 40, 80, 112, 192, 320, 1280)
B0_LAYERS = (1, 2, 2, 3, 3, 4, 1)
# (width, depth) multipliers: the official implementation's efficientnet_params, as torchvision.
MULTIPLIERS = {"b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4),
               "b4": (1.4, 1.8), "b5": (1.6, 2.2), "b6": (1.8, 2.6), "b7": (2.0, 3.1)}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """The reference implementation's round_filters: nearest multiple of 8, never < 90%."""
    scaled = channels * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * scaled else new


def _stage_layout(name: str) -> tuple[list[int], list[int]]:
    """(output channels of features.0..N, blocks per stage) read off the spec's layout."""
    spec = zoo.get(name).spec()
    lay = layout(spec)
    features = spec.layers[0]
    assert isinstance(features, Seq)
    channels = [lay.site(f"layers[0].layers[{i}]").out_shape[0] for i in range(len(features.layers))]
    depths = [len(s.layers) for s in features.layers[1:-1] if isinstance(s, Seq)]
    return channels, depths


@pytest.mark.parametrize("variant", list(MULTIPLIERS))
def test_efficientnet_compound_scaling(variant: str) -> None:
    width, depth = MULTIPLIERS[variant]
    channels, depths = _stage_layout(f"efficientnet_{variant}")
    assert depths == [math.ceil(n * depth) for n in B0_LAYERS]
    assert channels == [round_filters(c, width) for c in B0_CHANNELS]


def test_efficientnet_b7_by_the_numbers() -> None:
    channels, depths = _stage_layout("efficientnet_b7")
    assert depths == [4, 7, 7, 10, 10, 13, 4]  # ceil(1·3.1), ceil(2·3.1), ... : 55 blocks
    assert channels == [64, 32, 48, 80, 160, 224, 384, 640, 2560]
    # torchvision's head rule (4 × the last stage) agrees with Table 1's 1280 scaled
    for width, _ in MULTIPLIERS.values():
        assert 4 * round_filters(320, width) == round_filters(1280, width)


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b4", "efficientnet_v2_s"])
def test_stochastic_depth_grows_linearly_over_all_blocks(name: str) -> None:
    """torchvision: block b of B (counted over the whole network) drops its residual branch
    with p = 0.2·b/B; only blocks whose output shape equals their input have one."""
    lay = layout(zoo.get(name).spec())
    stages = [s for s in lay.sites if s.parent == "features" and s.module not in ("features.0", None)][:-1]
    blocks = [s for s in lay.sites if s.parent in {st.module for st in stages}]
    expected = {str(s.module): 0.2 * b / len(blocks) for b, s in enumerate(blocks) if s.in_shape == s.out_shape}
    module = resolve(name).module("meta")
    probs = {k.removesuffix(".stochastic_depth"): m.p for k, m in module.named_modules()
             if k.endswith(".stochastic_depth")}
    assert len(blocks) == {"efficientnet_b0": 16, "efficientnet_b4": 32, "efficientnet_v2_s": 40}[name]
    assert probs.keys() == expected.keys()
    assert all(math.isclose(probs[k], expected[k], rel_tol=1e-12) for k in expected)


@pytest.mark.parametrize(("name", "eps", "momentum"), [
    ("densenet121", 1e-5, 0.1), ("efficientnet_b0", 1e-5, 0.1), ("efficientnet_b4", 1e-5, 0.1),
    ("efficientnet_b5", 1e-3, 0.01), ("efficientnet_b7", 1e-3, 0.01),
    ("efficientnet_v2_s", 1e-3, 0.1), ("efficientnet_v2_l", 1e-3, 0.1),
])
def test_batch_norm_settings_are_torchvisions(name: str, eps: float, momentum: float) -> None:
    """The numeric fixture check uses running_var = 1, where eps 1e-5 vs 1e-3 hides
    inside its tolerance, so the settings are checked here."""
    with torch.device("meta"):
        norms = [m for m in resolve(name).module("meta").modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and {(m.eps, m.momentum) for m in norms} == {(eps, momentum)}
