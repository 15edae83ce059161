"""The spec language: parsing, validation with field paths, layout arithmetic, round trips."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from archscope import zoo
from archscope.errors import SpecError
from archscope.spec import (
    Act,
    AdaptivePool,
    Aux,
    Concat,
    Conv,
    Dense,
    Expect,
    Flatten,
    Gate,
    Linear,
    Model,
    Norm,
    Pool,
    Residual,
    Seq,
    dump_file,
    from_dict,
    layout,
    load_file,
    to_dict,
)
from archscope.spec.expect import ExpectSyntaxError
from archscope.spec.nodes import Branch, Container, Node, Wiring

# ---------------------------------------------------------------- expectations


@pytest.mark.parametrize("text", ["N×768×17×17", "N x 768 x 17 x 17", "Nx768x17x17", "N * 768 * 17 * 17",
                                  "N x 768 x 17 x 17 (Mixed_6e)"])
def test_expect_accepts_the_documents_notations(text: str) -> None:
    assert Expect.parse(text).dims == ("N", 768, 17, 17)
    assert str(Expect.parse(text)) == "N×768×17×17"


@pytest.mark.parametrize("text", ["", "N××3", "N×a×3", "N×-1", "(N×3)", "N×3 (a) (b)"])
def test_expect_rejects_malformed_shapes(text: str) -> None:
    with pytest.raises(ExpectSyntaxError):
        Expect.parse(text)


def test_expect_n_is_any_batch_and_spatial_sizes_only_at_reference() -> None:
    e = Expect.parse("N×768×17×17")
    assert e.check((5, 768, 17, 17), batch=5, at_reference=True).status == "match"
    assert e.check((5, 768, 17, 17), batch=4, at_reference=True).status == "mismatch"
    assert e.check((5, 768, 16, 17), batch=5, at_reference=True).status == "mismatch"
    assert e.check((5, 768, 9, 9), batch=5, at_reference=False).status == "channels match"
    assert e.check((5, 769, 9, 9), batch=5, at_reference=False).status == "mismatch"
    assert Expect.parse("N×1000").check((2, 1000), batch=2, at_reference=False).status == "match"


# ---------------------------------------------------------------- layout arithmetic


def _conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return math.floor((size + 2 * p - d * (k - 1) - 1) / s + 1)


@pytest.mark.parametrize("k,s,p,d,g", [(3, 1, 1, 1, 1), (7, 2, 3, 1, 1), (3, 2, 1, 2, 4),
                                       (1, 1, 0, 1, 8), (5, 3, 0, 1, 2)])
def test_conv_shape_and_params_follow_the_formulas(k: int, s: int, p: int, d: int, g: int) -> None:
    m = Model(name="t", input=(16, 33, 31), layers=(Conv(name="c", out=24, kernel=k, stride=s, padding=p,
                                                         dilation=d, groups=g),))
    site = layout(m).site("layers[0]")
    assert site.out_shape == (24, _conv_out(33, k, s, p, d), _conv_out(31, k, s, p, d))
    assert site.params == 24 * (16 // g) * k * k + 24


def test_rectangular_kernels_and_padding() -> None:
    m = Model(name="t", input=(8, 17, 17), layers=(Conv(out=8, kernel=(1, 7), padding=(0, 3)),))
    assert layout(m).output == (8, 17, 17)
    assert layout(m).params == 8 * 8 * 7 + 8


@pytest.mark.parametrize("size,k,s,p,ceil,expected", [(147, 3, 2, 0, False, 73), (112, 3, 2, 1, False, 56),
                                                       (55, 3, 2, 0, True, 27), (56, 3, 2, 0, True, 28),
                                                       (5, 2, 2, 0, True, 3)])
def test_pool_output_sizes_match_torch_rules(size: int, k: int, s: int, p: int, ceil: bool, expected: int) -> None:
    m = Model(name="t", input=(4, size, size), layers=(Pool(kernel=k, stride=s, padding=p, ceil_mode=ceil),))
    assert layout(m).output == (4, expected, expected)


def test_linear_and_flatten_and_norm_params() -> None:
    m = Model(name="t", input=(16, 5, 5), layers=(Norm(), Flatten(), Linear(out=120), Linear(out=10, bias=False)))
    lay = layout(m)
    assert lay.output == (10,)
    assert lay.params == 2 * 16 + 400 * 120 + 120 + 120 * 10


def test_containers_compose_shapes() -> None:
    inception_e_like = Concat(name="mix", branches=(
        Conv(name="b1", out=8, kernel=1),
        Seq(layers=(Conv(name="b3_1", out=6, kernel=1),
                    Concat(branches=(Conv(name="b3_2a", out=4, kernel=(1, 3), padding=(0, 1)),
                                     Conv(name="b3_2b", out=4, kernel=(3, 1), padding=(1, 0)))))),
        Seq(layers=(Pool(name="pool", mode="avg", kernel=3, stride=1, padding=1), Conv(name="bp", out=2, kernel=1))),
    ))
    m = Model(name="t", input=(16, 9, 9), layers=(
        inception_e_like,
        Residual(name="res", body=(Conv(name="c1", out=32, kernel=3, stride=2, padding=1),),
                 shortcut=Seq(name="downsample", layers=(Conv(out=32, kernel=1, stride=2),)), post=Act(name="relu")),
        Dense(name="dense", body=(Conv(name="conv", out=8, kernel=3, padding=1),)),
        Gate(name="se", body=(AdaptivePool(output=1), Conv(name="fc1", out=4, kernel=1), Act(fn="silu"),
                              Conv(name="fc2", out=40, kernel=1), Act(fn="sigmoid"))),
        Aux(name="aux", body=(AdaptivePool(output=1), Flatten(), Linear(name="fc", out=3))),
    ))
    lay = layout(m)
    assert lay.site("layers[0]").out_shape == (8 + 4 + 4 + 2, 9, 9)
    assert lay.site("layers[1]").out_shape == (32, 5, 5)
    assert lay.site("layers[2]").out_shape == (40, 5, 5)
    assert lay.output == (40, 5, 5)  # gate and aux pass their input through
    names = {s.module for s in lay.sites if s.module}
    # the nested, unnamed branches register in the block, as torchvision's InceptionE does
    assert {"mix.b1", "mix.b3_1", "mix.b3_2a", "mix.b3_2b", "mix.pool", "mix.bp"} <= names
    assert {"res.downsample.0", "se.0", "se.fc1", "se.2", "aux.fc"} <= names


# ---------------------------------------------------------------- validation


def _spec(layers: list[object]) -> dict[str, object]:
    return {"name": "t", "input": [3, 32, 32], "layers": layers}


@pytest.mark.parametrize("layers,path,words", [
    ([{"type": "conv", "out": 8, "kernel": 3}] * 3 + [{"type": "conv", "out": 8, "kernel": "x"}],
     "layers[3].kernel", "expected int or pair of ints, got 'x'"),
    ([{"type": "conv", "out": 8, "kernal": 3}], "layers[0].kernal", "did you mean 'kernel'"),
    ([{"type": "conv", "kernel": 3}], "layers[0]", "needs the field 'out'"),
    ([{"type": "convv", "out": 8, "kernel": 3}], "layers[0].type", "did you mean 'conv'"),
    ([{"type": "seq", "name": "s", "layers": [{"type": "act", "fn": "relu", "inplace": "yes"}]}],
     "layers[0].layers[0].inplace", "expected bool"),
    ([{"type": "conv", "out": 8, "kernel": 3, "expect": "N×8×a"}], "layers[0].expect", "neither a number nor N"),
])
def test_from_dict_errors_name_the_field(layers: list[object], path: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        from_dict(_spec(layers))
    assert info.value.path == path
    assert words in str(info.value)
    assert str(info.value).startswith(path)


@pytest.mark.parametrize("model,path,words", [
    (Model(name="t", input=(3, 8, 8), layers=(Conv(name="a", out=4, kernel=1), Conv(name="a", out=4, kernel=1))),
     "layers[1].name", "used twice"),
    (Model(name="t", input=(3, 8, 8), layers=(Conv(out=4, kernel=1, groups=2),)), "layers[0].groups", "must divide"),
    (Model(name="t", input=(3, 8, 8), layers=(Conv(out=4, kernel=0),)), "layers[0].kernel", "positive"),
    (Model(name="t", input=(3, 8, 8), layers=(Act(fn="swish"),)), "layers[0].fn", "one of"),
    (Model(name="t", input=(3, 8, 8), layers=(Conv(out=4, kernel=9),)), "layers[0]", "too small"),
    (Model(name="t", input=(3, 8, 8), layers=(Residual(name="r", body=(Conv(name="c", out=4, kernel=1),)),)),
     "layers[0]", "shapes differ"),
    (Model(name="t", input=(3, 8, 8), layers=(Concat(branches=(Conv(name="a", out=4, kernel=3),
                                                               Conv(name="b", out=4, kernel=1))),)),
     "layers[0].branches[1]", "cannot be concatenated"),
    (Model(name="t", input=(3, 8, 8), layers=(Seq(layers=(Conv(out=4, kernel=1),), expect=Expect.parse("N×4×8×8")),)),
     "layers[0].expect", "named node"),
])
def test_layout_errors_name_the_node(model: Model, path: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        layout(model)
    assert info.value.path == path
    assert words in str(info.value)


def test_blocks_from_templates_expand_in_files() -> None:
    data = _spec([{"type": "conv", "name": "stem", "out": 64, "kernel": 3, "padding": 1},
                  {"type": "block", "template": "resnet.basic", "name": "b", "planes": 64}])
    m = from_dict(data)
    assert layout(m).output == (64, 32, 32)
    with pytest.raises(SpecError, match="unknown block template"):
        from_dict(_spec([{"type": "block", "template": "resnet.basik"}]))
    with pytest.raises(SpecError, match="unexpected keyword"):
        from_dict(_spec([{"type": "block", "template": "resnet.basic", "planes": 64, "wat": 1}]))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_spec_round_trips_through_dict_json_and_yaml(name: str, tmp_path: object) -> None:
    spec = zoo.get(name).spec()
    assert from_dict(to_dict(spec)) == spec
    assert from_dict(json.loads(json.dumps(to_dict(spec)))) == spec
    for suffix in (".json", ".yaml"):
        path = tmp_path / f"{name}{suffix}"  # type: ignore[operator]
        path.write_text(dump_file(spec, path), encoding="utf-8")
        assert load_file(path) == spec


def test_spec_and_zoo_never_import_torch() -> None:
    code = ("import sys, archscope.spec, archscope.zoo, archscope.report.zoo\n"
            "[z.spec() for z in archscope.zoo.REGISTRY.values()]\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- one fold, every reading


@dataclass(frozen=True, kw_only=True)
class _SumOfBranches(Container):
    """A container this codebase does not have: the sum of parallel branches (as in a
    multi-branch RepVGG block). It is defined by its wiring alone."""

    TYPE: ClassVar[str] = "sum_of_branches"
    branches: tuple[Node, ...]

    def wiring(self) -> Wiring:
        return Wiring("add", tuple(Branch(f"branch {i}", ((f".branches[{i}]", n),))
                                   for i, n in enumerate(self.branches)))


def test_a_new_container_type_is_its_wiring_and_every_reading_follows() -> None:
    torch = pytest.importorskip("torch")
    from archscope.analysis.receptive import by_module
    from archscope.analysis.symbolic import shape_at, symbolic
    from archscope.builder.from_spec import build_spec
    from archscope.report.analysis import rf_size

    block = _SumOfBranches(name="rep", branches=(
        Seq(name="a", layers=(Conv(out=8, kernel=3, padding=1, bias=False), Norm())),
        Seq(name="b", layers=(Conv(out=8, kernel=1, bias=False), Norm())),
        Norm(name="c")))
    model = Model(name="t", input=(8, 12, 10), layers=(block, Act()))
    lay = layout(model)
    assert lay.site_of("rep").out_shape == (8, 12, 10)
    assert lay.params == 8 * 8 * 9 + 16 + 8 * 8 + 16 + 16
    net = build_spec(model)
    assert [k for k in net.state_dict() if k.endswith("weight")] == [
        "rep.a.0.weight", "rep.a.1.weight", "rep.b.0.weight", "rep.b.1.weight", "rep.c.weight"]
    x = torch.randn(2, 8, 12, 10)
    with torch.no_grad():
        net.eval()
        want = torch.relu(net.rep.a(x) + net.rep.b(x) + net.rep.c(x))
        assert torch.equal(net(x), want)
    sym = symbolic(model)
    assert shape_at(sym.modules()["rep"].out_shape, 30, 20) == (8, 30, 20)
    assert sym.macs().at(12, 10) == 12 * 10 * 8 * (8 * 9 + 8)
    assert rf_size(by_module(model)["rep"]) == "3"  # the union of a 3×3 and two 1×1 fields


def test_a_join_of_unequal_branches_names_the_branches() -> None:
    model = Model(name="t", input=(3, 8, 8), layers=(
        _SumOfBranches(name="rep", branches=(Conv(name="a", out=4, kernel=1), Conv(name="b", out=5, kernel=1))),))
    with pytest.raises(SpecError, match=r"add of branch 0 N×4×8×8 and branch 1 N×5×8×8: shapes differ"):
        layout(model)


def test_every_leaf_type_is_built_as_the_module_type_the_computed_trace_reports() -> None:
    torch = pytest.importorskip("torch")
    from archscope.builder.from_spec import LEAF_BUILDERS, make
    from archscope.spec.nodes import ACTIVATIONS, NODE_TYPES, Dropout, Identity, StochasticDepth

    leaves = [Conv(out=4, kernel=1), Norm(), Pool(kernel=2), Pool(mode="avg", kernel=2), AdaptivePool(),
              AdaptivePool(mode="max"), Linear(out=3), Flatten(), Dropout(), StochasticDepth(p=0.1), Identity(),
              *(Act(fn=fn) for fn in ACTIVATIONS)]
    assert {type(n) for n in leaves} == {c for c in NODE_TYPES.values() if not c.CONTAINER} == set(LEAF_BUILDERS)
    for node in leaves:
        shape = (4, 6, 6) if not isinstance(node, Linear) else (7,)
        for device in (torch.device("meta"), torch.device("cpu")):
            built = make(LEAF_BUILDERS[type(node)](node, shape), device)
            assert type(built).__name__ == node.module_type(len(shape)), node
            assert all(t.device == device for t in (*built.parameters(), *built.buffers())), (node, device)
    assert make(LEAF_BUILDERS[Norm](Norm(), (4,)), torch.device("meta")).__class__.__name__ == "BatchNorm1d"
    assert Norm().module_type(1) == "BatchNorm1d"


def test_the_package_gives_every_name_of_its_submodules_on_first_use() -> None:
    """``archscope.spec`` imports its submodules when a name is asked for (a module the user
    brings never needs the vocabulary); each name is its submodule's own object, and
    ``layout`` stays the function though ``archscope.spec.sites`` is imported."""
    import archscope.spec as package
    from archscope.spec import sites

    for name in package.__all__:
        home = package._HOME[name]
        assert getattr(package, name) is getattr(sys.modules[f"archscope.spec.{home}"], name), name
    assert set(package._HOME) == set(package.__all__) and set(package.__all__) <= set(dir(package))
    assert package.layout is sites.layout and callable(package.layout)
    with pytest.raises(AttributeError, match="no attribute 'Conv2d'"):
        package.Conv2d  # noqa: B018
    probe = ("import sys, archscope.spec.inputs, archscope.spec.expect; "
             "assert 'archscope.spec.nodes' not in sys.modules; from archscope.spec import Conv; "
             "assert 'archscope.spec.nodes' in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True)
