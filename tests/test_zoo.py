"""Every zoo model against independent references: torchvision's published parameter
counts, state_dict key/shape fixtures and numeric outputs generated with torchvision
(tests/fixtures/torchvision/README.md says how), and the documents' shapes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from torchvision_procedure import PROCEDURE, deterministic_fill, functional_input  # tests/, on pytest's path

from archscope import zoo
from archscope.builder import resolve
from archscope.spec import layout
from archscope.spec.inputs import single_input
from archscope.tracer.hooks import trace_module

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "torchvision"
SHARED_REFERENCE = ROOT.parent / "shared" / "reference" / "torchvision.json"
PACKAGED_REFERENCE = ROOT / "archscope" / "zoo" / "torchvision_reference.json"
REFERENCE = json.loads(PACKAGED_REFERENCE.read_text())["models"]
WITH_REFERENCE = [n for n in zoo.names() if n in REFERENCE]


def _fixture(name: str) -> dict:
    path = FIXTURES / f"{name}.json"
    assert path.exists(), f"no torchvision fixture for {name}: regenerate (tests/fixtures/torchvision/README.md)"
    return json.loads(path.read_text())


def test_packaged_reference_is_the_shared_one() -> None:
    if not SHARED_REFERENCE.exists():
        pytest.skip("../shared/reference/torchvision.json is not beside this checkout")
    assert json.loads(SHARED_REFERENCE.read_text()) == json.loads(PACKAGED_REFERENCE.read_text())


def test_registry_lists_in_natural_order_and_rejects_duplicates() -> None:
    names = zoo.names()
    assert names.index("resnet50") < names.index("resnet101") < names.index("resnet152")
    with pytest.raises(ValueError, match="twice"):
        zoo.registry.register("resnet50", family="x", paper="x", arxiv="x", make=lambda: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_params_equal_published_counts(name: str) -> None:
    spec = zoo.get(name).spec()
    lay = layout(spec)
    expected = REFERENCE[name]["num_params"]
    # googlenet's published count excludes its aux heads, inception_v3's includes AuxLogits (see the notes)
    excluded = zoo.get(name).published_excludes
    assert bool(excluded) == ("excludes" in REFERENCE[name].get("note", ""))
    assert lay.params - sum(s.params for s in lay.sites if s.module and s.module.split(".")[0] in excluded) == expected
    with torch.device("meta"):
        module = resolve(name).module("meta")
    assert sum(p.numel() for p in module.parameters()) == lay.params


@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_state_dict_keys_and_shapes_equal_torchvision(name: str) -> None:
    fixture = _fixture(name)["state_dict"]
    ours = {k: list(v.shape) for k, v in resolve(name).module("meta").state_dict().items()}
    assert ours == fixture  # same keys, same shapes: a torchvision checkpoint loads with strict=True
    # Same order too, except that torchvision registers GoogLeNet's aux heads last while the
    # spec places them where they tap the dataflow.
    aux = zoo.get(name).published_excludes
    assert [k for k in ours if k.split(".")[0] not in aux] == [k for k in fixture if k.split(".")[0] not in aux]


@pytest.mark.parametrize("name", ["resnet18", "inception_v3", "densenet121", "efficientnet_b0"])
def test_a_build_on_meta_is_the_cpu_build_without_its_data_or_initialisation(name: str) -> None:
    """On meta the layers are made without ``reset_parameters()`` (builder/from_spec.py's
    ``make``): the same modules, tensors, dtypes and flags as on the CPU, where they are
    initialised as torch's constructors do."""
    meta, cpu = resolve(name).module("meta"), resolve(name).module("cpu")
    assert repr(meta) == repr(cpu)

    def tensors(m: torch.nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype, bool, bool]]:
        return [(k, tuple(t.shape), t.dtype, t.requires_grad, isinstance(t, torch.nn.Parameter))
                for k, t in [*m.named_parameters(), *m.named_buffers()]]

    assert tensors(meta) == tensors(cpu)
    assert all(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert all("reset_parameters" not in vars(m) for m in meta.modules())  # the skip was this build's only
    convs = [m for m in cpu.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in cpu.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(c.weight.abs().sum() > 0 for c in convs)  # kaiming-uniform, not left empty
    assert all(bool((n.weight == 1).all() and (n.running_var == 1).all() and (n.running_mean == 0).all())
               for n in norms)


@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_module_outputs_equal_torchvision(name: str) -> None:
    """Every module torchvision also has produces the same shape at the reference input."""
    fixture = _fixture(name)
    theirs = {k: tuple(v) for k, v in fixture["module_outputs"].items()}
    target = resolve(name)
    trace = trace_module(target.module("meta"), single_input(target.spec.input), batch=1)  # type: ignore[union-attr]
    ours = {r.name: r.output_shape for r in trace.layers if r.call == 1}
    shared = set(ours) & set(theirs)
    assert len(shared) >= 0.8 * len(theirs)
    assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}


@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_outputs_equal_torchvision_numerically(name: str) -> None:
    """Same weights in, same logits out: the rebuilt model computes torchvision's function."""
    fixture = _fixture(name)
    check = fixture["functional_check"]
    model = resolve(name).module("cpu").eval()
    assert check["procedure"] == PROCEDURE  # the fixture was made with the fill below
    deterministic_fill(model, list(fixture["state_dict"]))
    s = check["input_size"]
    x = functional_input(s)
    sums: dict[str, float] = {}

    def record(name: str, out: torch.Tensor) -> None:  # a hook that returns None keeps the output
        sums.setdefault(name, float(out.double().abs().sum()))

    handles = [m.register_forward_hook(lambda _m, _i, out, name=n: record(name, out))
               for n, m in model.named_modules() if n in check["stage_abs_sums"]]
    with torch.no_grad():
        y = model(x)
    for h in handles:
        h.remove()
    # every stage computes the same values (the logits alone are close to the classifier's bias)
    assert len(sums) == len(check["stage_abs_sums"]) > 0
    for stage, value in check["stage_abs_sums"].items():
        assert math.isclose(sums[stage], value, rel_tol=2e-5, abs_tol=1e-6), stage
    expected = torch.tensor(check["output_first8"])
    assert torch.allclose(y[0, :8], expected, rtol=1e-3, atol=1e-4 * float(expected.abs().max()) + 1e-6)
    assert math.isclose(float(y.abs().sum()), check["output_abs_sum"], rel_tol=1e-3)


@pytest.mark.parametrize("name", zoo.names())
@pytest.mark.parametrize("batch", [1, 3])
def test_every_expectation_holds_at_the_reference_input(name: str, batch: int) -> None:
    target = resolve(name)
    spec = target.spec
    assert spec is not None
    expectations = layout(spec).expectations()
    trace = trace_module(target.module("meta"), single_input(spec.input), batch=batch, expectations=expectations,
                         reference_input=spec.input)
    assert len(trace.checks) + len(trace.unchecked) == len(expectations) > 0
    assert trace.mismatches == []
    if trace.unchecked:  # expectations inside auxiliary heads: those run only in training
        # (batch >= 2: BatchNorm in training needs more than one value per channel)
        trace = trace_module(target.module("meta"), single_input(spec.input), batch=max(batch, 2), train=True,
                             expectations=expectations, reference_input=spec.input)
        assert (len(trace.checks), trace.unchecked, trace.mismatches) == (len(expectations), [], [])


@pytest.mark.parametrize("name", zoo.names())
def test_layout_shapes_agree_with_the_traced_module(name: str) -> None:
    """The pure-Python layout and torch agree on every module's output shape."""
    target = resolve(name)
    spec = target.spec
    assert spec is not None
    lay = layout(spec)
    trace = trace_module(target.module("meta"), single_input(spec.input), batch=2)
    traced = {r.name: r.output_shape for r in trace.layers if r.call == 1}
    for site in lay.sites:
        if site.module and site.module in traced:
            assert traced[site.module] == (2, *site.out_shape), site.module


def test_a_wrong_expectation_is_reported_as_a_mismatch() -> None:
    from dataclasses import replace

    from archscope.spec import Expect

    spec = zoo.get("resnet18").spec()
    layers = list(spec.layers)
    layers[5] = replace(layers[5], expect=Expect.parse("N×999×28×28"))  # layer2 really has 128 channels
    wrong = replace(spec, layers=tuple(layers))
    from archscope.builder import build_spec

    module = build_spec(wrong, device="meta")
    trace = trace_module(module, single_input(wrong.input), expectations=layout(wrong).expectations(),
                         reference_input=wrong.input)
    assert [(n, c.actual) for n, c in trace.mismatches] == [("layer2", (1, 128, 28, 28))]


SEED_LENET = """
(conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
(conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))
(max_pool_1): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
(max_pool_2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
(fc1): Linear(in_features=400, out_features=120, bias=True)
(fc2): Linear(in_features=120, out_features=84, bias=True)
(fc3): Linear(in_features=84, out_features=10, bias=True)
"""  # printed by seed 004_2c8779ce8a55b821.txt, lines 37-43


def test_lenet5_is_the_seed_documents_model() -> None:
    model = resolve("lenet5").module("cpu").eval()
    printed = dict(re.findall(r"\((\w+)\): (.+)", SEED_LENET))
    ours = {name: repr(m) for name, m in model.named_children()}
    assert {k: ours[k] for k in printed} == printed
    assert set(ours) - set(printed) == {"relu1", "relu2", "flatten"}  # parameter-free, see lenet.py
    with torch.no_grad():
        assert tuple(model(torch.rand(1, 1, 32, 32)).shape) == (1, 10)  # "torch.Size([1, 10])"
