"""A training step of a model nobody here wrote: torchvision's ViT-B/16, through its import path.

``archscope.trace("torchvision.models:vit_b_16", training=archscope.Training())`` must price
the step as ``torch.utils.flop_counter.FlopCounterMode`` counts it (FLOPs ÷ 2): the same
model built on the meta device, in train mode, forward on a 1×3×224×224 image (which needs
no gradient) and ``backward()`` of the sum of its output. Runs only where torchvision is
importable (``scripts/acceptance.py --training`` does the same on many more models).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archscope
from archscope.tracer.records import Trace

torchvision = pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def traced() -> Trace:
    return archscope.trace("torchvision.models:vit_b_16", input_size=(3, 224, 224), training=archscope.Training())


def reference() -> tuple[int, int, dict[str, int]]:
    """FlopCounterMode's forward MACs, its forward + backward MACs and its backward MACs per aten op."""
    with torch.device("meta"):
        model = torchvision.models.vit_b_16()
    model.train()
    image = torch.zeros(1, 3, 224, 224, device="meta")
    with FlopCounterMode(display=False) as counter:
        out = model(image)
        forward = dict(counter.get_flop_counts()["Global"])
        out.sum().backward()
        total = dict(counter.get_flop_counts()["Global"])
    backward = {str(op): (n - forward.get(op, 0)) // 2 for op, n in total.items() if n != forward.get(op, 0)}
    return sum(forward.values()) // 2, sum(total.values()) // 2, backward


def test_vit_b_16_step_macs_equal_flop_counter_mode(traced: Trace) -> None:
    assert traced.device == "meta" and traced.mode == "train"
    step = traced.step
    assert step is not None
    forward, total, backward = reference()
    assert step.forward_macs == forward == traced.totals.macs
    assert step.step_macs == total, (step, backward)
    assert step.backward_macs == total - forward
    assert step.recompute_macs == 0 and not step.not_counted


def test_vit_b_16_per_layer_gradients(traced: Trace) -> None:
    """Closed forms: the patch embedding's input is the image, which needs no gradient, so it
    has a weight gradient only (as many MACs as its forward); the head, Linear(768, 1000) on
    the class token, both (768·1000 each)."""
    layers = {r.name: r for r in traced.layers}
    conv = layers["conv_proj"]
    assert conv.macs == 768 * 3 * 16 * 16 * 14 * 14
    assert (conv.grad_input_macs, conv.grad_weight_macs) == (0, conv.macs)
    head = layers["heads.head"]
    assert (head.grad_input_macs, head.grad_weight_macs) == (768 * 1000, 768 * 1000)
    root = layers[""]
    assert root.grad_input_macs_total == traced.step.grad_input_macs
    assert root.grad_weight_macs_total == traced.step.grad_weight_macs
    assert 0 < traced.step.saved_bytes < traced.step.peak[1]
