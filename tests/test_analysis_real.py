"""Receptive fields, valid input sizes and symbolic shapes of torchvision's own models,
through their import paths, equal the spec fold, the spec's reasoning and the spec's
formulas of the zoo model of the same name
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
from archscope.analysis.symbolic import Poly, Term, symbolic
from archscope.analysis.symbolic_trace import SymbolicError, TracedSymbolic, per_sample

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


@pytest.mark.parametrize("name", [n for n in zoo.names() if hasattr(torchvision.models, n)])
def test_torchvision_s_model_traced_symbolically_has_the_zoo_spec_s_formulas(name: str) -> None:
    """Traced with symbolic sizes through its import path (eval mode): every module both
    have (a shared one at its last call) has the spec's output shape and MACs, and the
    model the spec's MACs and output (activations differ: torchvision's functional layers
    output nothing a module hook sees)."""
    spec = zoo.get(name).spec()
    traced = archscope.symbolic_shapes(f"torchvision.models:{name}", input_size=[list(spec.input)])
    assert isinstance(traced, TracedSymbolic) and traced.fixed == [] and traced.data == []
    sym = symbolic(spec)
    modules, subtree = sym.modules(), sym.subtree_macs()
    last = {module: (shape, traced.macs_of[(module, call)]) for (module, call), shape in traced.layers.items()}
    common = [m for m in last if m in modules]
    assert len(common) >= len(last) // 2
    for module in common:
        shape, macs = last[module]
        assert tuple(shape[1:]) == modules[module].out_shape, module
        assert _terms(per_sample(macs)) == _terms(subtree[module]), module
    assert _terms(per_sample(traced.macs)) == _terms(sym.macs())
    assert tuple(traced.output[0][1:]) == sym.output


def _terms(dim: object) -> dict[object, int]:
    assert isinstance(dim, (Term, Poly)), dim
    return {f: c for f, c in Poly.of(dim).terms.items() if c}


def _acceptance_cases() -> list[object]:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import acceptance_models

    return acceptance_models.all_cases(["timm", "transformers"])


@pytest.mark.parametrize("case", _acceptance_cases(), ids=lambda c: c.name)  # type: ignore[attr-defined]
def test_a_timm_or_transformers_model_s_formulas_give_its_traced_numbers(case: object) -> None:
    """The acceptance run's timm and transformers models (scripts/acceptance_models.py),
    traced with symbolic sizes: every layer call's output shape and the total MACs,
    evaluated at the sizes the plain trace was fed, are the plain trace's numbers (a
    dimension torch writes in a form archscope has none for is skipped). A model whose pass
    takes longer than 30 s (torch's simplifier on windowed attention: MaxViT, MobileViTv2,
    GCViT, DaViT, Twins, Hiera, HaloNet, Sequencer) is skipped, saying so: the stage's time stays bounded."""
    target, fed = f"acceptance_models:{case.key}", case.trace_kwargs()  # type: ignore[attr-defined]
    try:
        traced = archscope.symbolic_shapes(target, time_limit=30, **fed)
    except SymbolicError as exc:
        if "stopped after" not in str(exc):
            raise
        pytest.skip(str(exc))
    assert isinstance(traced, TracedSymbolic)
    plain = archscope.trace(target, batch=traced.traced_at.get("N", 1), **fed)  # N as traced (2): fixed or not
    sizes = traced.traced_at | traced.sizes_of([leaf.full_shape(plain.batch) for leaf in plain.inputs.leaves()])
    compared = 0
    for rec in plain.layers:
        shape = traced.shape(rec)
        if shape is None or not rec.output_shapes or not all(isinstance(d, (Term, Poly)) for d in shape):
            continue
        assert tuple(d.value(sizes) for d in shape) == rec.output_shapes[0], rec.name  # type: ignore[union-attr]
        compared += 1
    assert compared >= len(plain.layers) // 2
    if isinstance(traced.macs, (Term, Poly)):
        assert traced.macs.value(sizes) == plain.totals.macs
