"""The spec-computed trace (no torch) and the hook tracer (meta forward pass) agree on
every number of every zoo model: the JSON reports are identical but for the device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archscope import api, zoo
from archscope.builder import resolve
from archscope.report import render_json
from archscope.spec.inputs import single_input
from archscope.spec.sites import layout
from archscope.tracer.analytic import analytic_trace
from archscope.tracer.conventions import CONVENTIONS
from archscope.tracer.hooks import trace_module

ROOT = Path(__file__).resolve().parent.parent


def _both(target: str, shape: tuple[int, int, int] | None, batch: int) -> tuple[dict, dict]:
    resolved = resolve(target)
    spec = resolved.spec
    assert spec is not None
    shape = shape or spec.input
    expectations = layout(spec).expectations()
    computed = analytic_trace(spec, single_input(shape), batch=batch, name=spec.name)
    assert computed is not None
    traced = trace_module(resolved.module("meta"), single_input(shape), batch=batch, name=spec.name,
                          expectations=expectations, reference_input=spec.input)
    a, b = json.loads(render_json(computed)), json.loads(render_json(traced))
    assert (a.pop("device"), b.pop("device")) == ("spec", "meta")
    return a, b


@pytest.mark.parametrize("name", zoo.names())
def test_computed_equals_traced_at_the_reference_input(name: str) -> None:
    computed, traced = _both(name, None, 1)
    assert computed["layers"] == traced["layers"]
    assert computed == traced


@pytest.mark.parametrize("name", [n for n in zoo.names() if n not in ("lenet5", "inception_v3")])
def test_computed_equals_traced_at_another_input_and_batch(name: str) -> None:
    computed, traced = _both(name, (3, 193, 161), 3)
    assert computed == traced


def test_user_spec_file_computed_equals_traced() -> None:
    computed, traced = _both(str(ROOT / "docs" / "examples" / "tiny.yaml"), None, 2)
    assert computed == traced


def test_inputs_the_layout_cannot_place_fall_back_to_the_tracer() -> None:
    spec = zoo.get("lenet5").spec()
    assert analytic_trace(spec, single_input((1, 64, 64))) is None  # fc1 is built for 16×5×5 features
    assert analytic_trace(zoo.get("alexnet").spec(), single_input((3, 32, 32))) is None  # too small
    t = api.trace("inception_v3", input_size=97)  # the eval path runs; the aux head would not fit
    assert t.device == "meta" and t.output_shapes == [(1, 1000)]


def test_other_modes_and_conventions_are_traced() -> None:
    assert api.trace("resnet18").device == "spec"
    assert api.trace("resnet18", analytic=False).device == "meta"
    assert api.trace("resnet18", convention="fvcore").device == "meta"
    assert api.trace("resnet18", train=True, batch=2).device == "meta"
    assert set(api.CONVENTIONS) == set(CONVENTIONS)


def test_a_zoo_summary_does_not_import_torch() -> None:
    probe = ("import sys; from archscope.api import trace; t = trace('resnet50', input_size=600, batch=16); "
             "assert 'torch' not in sys.modules, 'torch was imported'; print(t.output_shapes)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[(16, 1000)]"
