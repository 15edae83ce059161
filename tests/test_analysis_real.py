"""Receptive fields and valid input sizes of torchvision's own models, through their import
paths, equal the spec fold and the spec's reasoning of the zoo model of the same name
(docs/analysis.md). torchvision writes some layers
as functions (Inception's ``F.max_pool2d``, ResNet's one ``relu`` called three times, VGG's
``torch.flatten``): every module both have is compared, a shared one at its last call (the
spec's module of that name is the last of them). Runs only where torchvision is importable
(CI's acceptance venv, torch 2.14.1 + torchvision 0.29.1)."""

from __future__ import annotations

import pytest

import archscope
from archscope import zoo
from archscope.analysis.fields import recording_fields
from archscope.analysis.receptive import by_module
from archscope.analysis.sizes import analyse_sizes

torchvision = pytest.importorskip("torchvision")


@pytest.mark.parametrize("name", [n for n in zoo.names() if hasattr(torchvision.models, n)])
def test_torchvision_s_model_has_the_zoo_spec_s_fields(name: str) -> None:
    spec = zoo.get(name).spec()
    for train in (False, True):
        with recording_fields() as rf:
            archscope.trace(f"torchvision.models:{name}", input_size=[list(spec.input)], analytic=False,
                            train=train, batch=2 if train else 1)
        last = {module: field for (module, _), field in rf.calls.items()}  # in call order: the last call wins
        want = {k: v for k, v in by_module(spec, train).items() if k in last and k}
        assert len(want) >= len(last) // 2  # most of torchvision's modules are the spec's
        assert {k: last[k] for k in want} == want
        assert rf.stopped is None


@pytest.mark.parametrize("name", [n for n in zoo.names() if hasattr(torchvision.models, n)])
def test_torchvision_s_model_probed_has_the_zoo_spec_s_smallest_input(name: str) -> None:
    """Probed at the zoo's reference input: the smallest input and the layer that breaks one
    below are those the spec reasons out (eval mode)."""
    spec = zoo.get(name).spec()
    probed, reasoned = archscope.sizes(f"torchvision.models:{name}", list(spec.input)), analyse_sizes(spec)
    assert probed.at(probed.side(probed.least)) == reasoned.least
    assert (probed.rule.kind == "from") == reasoned.unbounded
    for bound, want in zip(probed.bounds, (reasoned.h, reasoned.w), strict=True):
        assert bound.least == want.least
        assert (bound.below.layer[0] if bound.below and bound.below.layer else None) == want.module
