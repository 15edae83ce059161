"""Symbolic shapes, valid input sizes and receptive fields (archscope/analysis, docs/analysis.md)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope import api, zoo
from archscope.analysis.receptive import by_module, receptive_fields
from archscope.analysis.sizes import analyse_sizes
from archscope.analysis.symbolic import Fixed, Floor, Limit, shape_at, symbolic
from archscope.cli.main import app
from archscope.errors import ShapeError, SpecError
from archscope.report.analysis import least_input_text, rf_jump, rf_size, rf_start, verdict_reason, why_not
from archscope.spec import nodes as sn
from archscope.spec.inputs import fmt_shape, single_input
from archscope.spec.sites import layout
from archscope.tracer.analytic import analytic_trace

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")


def _sizes(spec: sn.Model) -> list[tuple[int, int, int]]:
    """Five (H, W, batch), square and not, that the layout places."""
    if spec.name == "lenet5":  # fc1 takes only 32..35 (see sizes)
        return [(32, 32, 1), (33, 35, 2), (35, 32, 3), (34, 34, 1), (32, 33, 4)]
    h, w = spec.input[1:]
    small = max(h // 2, analyse_sizes(spec, train=True).least[1]) + 5  # the layout places auxiliary heads too
    return [(h, w, 1), (h + 1, w + 3, 2), (h + 17, w, 3), (small, 2 * w, 1), (2 * h + 7, w + 41, 2)]


# ---------------------------------------------------------------- symbolic shapes


@pytest.mark.parametrize("name", zoo.names())
def test_symbolic_shapes_macs_and_memory_agree_with_traces_at_five_sizes(name: str) -> None:
    spec = zoo.get(name).spec()
    sym = symbolic(spec)
    modules = sym.modules()
    all_modules = sym.modules(train=True)
    for h, w, n in _sizes(spec):
        lay = layout(spec, (spec.input[0], h, w))  # every site, auxiliary heads included
        for site in lay.sites:
            if site.module is not None:
                assert shape_at(all_modules[site.module].out_shape, h, w) == site.out_shape, (site.module, h, w)
        trace = analytic_trace(spec, single_input((spec.input[0], h, w)), batch=n)
        assert trace is not None
        for rec in trace.layers:
            assert (n, *shape_at(modules[rec.name].out_shape, h, w)) == rec.output_shape, (rec.name, h, w)
        assert n * sym.macs().at(h, w) == trace.totals.macs
        assert 4 * n * sym.activations().at(h, w) == trace.totals.activation_bytes


def test_symbolic_shapes_read_as_expressions() -> None:
    sym = symbolic(zoo.get("resnet50").spec()).modules()
    assert fmt_shape(sym["conv1"].out_shape) == "N×64×⌈H/2⌉×⌈W/2⌉"
    assert fmt_shape(sym["maxpool"].out_shape) == "N×64×⌈H/4⌉×⌈W/4⌉"
    assert fmt_shape(sym["layer4"].out_shape) == "N×2048×⌈H/32⌉×⌈W/32⌉"
    assert fmt_shape(sym["fc"].out_shape) == "N×1000"
    lenet = symbolic(zoo.get("lenet5").spec()).modules()
    assert fmt_shape(lenet["conv1"].out_shape) == "N×6×(H-4)×(W-4)"
    assert fmt_shape(lenet["flatten"].out_shape) == "N×16·⌊(H-12)/4⌋·⌊(W-12)/4⌋"
    vgg = symbolic(zoo.get("vgg16").spec()).modules()
    assert fmt_shape(vgg["features.0"].out_shape) == "N×64×H×W"
    assert fmt_shape(vgg["features.4"].out_shape) == "N×64×⌊H/2⌋×⌊W/2⌋"
    assert [str(f) for f in (Floor("H", 0, 1), Floor("H", 3), Floor("W", 0, 8), Floor("H", 7, 8),
                             Floor("W", -3, 2))] == ["H", "(H+3)", "⌊W/8⌋", "⌈H/8⌉", "⌊(W-3)/2⌋"]


@pytest.mark.parametrize("kernel,stride,padding", [(k, s, p) for k in (1, 2, 3, 5) for s in (1, 2, 3)
                                                   for p in range(k // 2 + 1)])
def test_ceil_mode_pooling_formula_matches_the_layout_and_torch_rule(kernel: int, stride: int, padding: int) -> None:
    model = sn.Model(name="p", input=(1, 40, 40), layers=(
        sn.Pool(kernel=kernel, stride=stride, padding=padding, ceil_mode=True),
        sn.Pool(kernel=kernel, stride=stride, padding=padding, ceil_mode=True)))
    sym = symbolic(model)
    for x in range(1, 60):
        h = x
        for _ in range(2):  # torch's pooling_output_shape (floor division, then drop a window in the padding)
            out = (h + 2 * padding - (kernel - 1) - 1 + stride - 1) // stride + 1
            if (out - 1) * stride >= h + padding:
                out -= 1
            h = out if h >= 1 else 0
        lays_out = sym.output[1].at(x, x)
        if h >= 1 and all(lim.least <= x for lim in sym.limits):
            assert lays_out == h, x
        else:
            assert any(lim.least > x for lim in sym.limits), x
        try:
            assert layout(model, (1, x, x)).output[1] == lays_out
        except SpecError:
            pass  # the layout refuses windows that overhang the input, torch takes them in ceil mode


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("name", zoo.names())
def test_the_smallest_input_traces_and_one_less_fails_at_the_stated_layer(name: str) -> None:
    report = analyse_sizes(zoo.get(name).spec())
    c, h, w = report.least
    trace = api.trace(name, input_size=(c, h, w))
    assert trace.output_shapes
    if h == 1 and w == 1:
        assert report.h.limit is None and report.w.limit is None
        return
    below = report.check(h - 1, w - 1)
    assert not below.ok and below.module
    with pytest.raises(ShapeError, match=f"at layer {re.escape(below.module)} \\("):
        api.trace(name, input_size=(c, h - 1, w - 1))
    if report.unbounded:  # one axis short is enough; larger inputs work
        assert report.h.module is not None
        with pytest.raises(ShapeError, match=f"at layer {re.escape(report.h.module)} \\("):
            api.trace(name, input_size=(c, h - 1, w))
        assert api.trace(name, input_size=(c, h + 13, w + 100)).output_shapes


def test_minimum_sizes_agree_with_torchvision_where_it_is_right() -> None:
    for name in zoo.names():
        ref = zoo.get(name).reference
        if ref is None or ref.min_size is None:
            continue
        least = analyse_sizes(zoo.get(name).spec()).least
        if name.startswith("efficientnet_v2"):  # torchvision documents 33; every size works
            assert least == (3, 1, 1) and ref.min_size == 33
            assert api.trace(name, input_size=1, analytic=False).output_shapes == [(1, 1000)]
        else:
            assert least == (3, ref.min_size, ref.min_size), name


def test_lenet_takes_only_the_sizes_its_classifier_is_built_for() -> None:
    report = analyse_sizes(zoo.get("lenet5").spec())
    assert report.square == (32, 35) and not report.unbounded
    assert least_input_text(report) == "1×32×32 to 1×35×35"
    for size in (32, 35):
        assert api.trace("lenet5", input_size=size).output_shapes == [(1, 10)]
    for size in (31, 36):
        assert report.check(size, size).module == "fc1"
        with pytest.raises(ShapeError, match="at layer fc1"):
            api.trace("lenet5", input_size=size)


def test_inception_needs_more_in_training_for_its_auxiliary_head() -> None:
    report = analyse_sizes(zoo.get("inception_v3").spec())
    assert report.least == (3, 75, 75) and report.h.module == "Mixed_7a.branch3x3_2.conv"
    assert report.training is not None and report.training.least == (3, 299, 299)
    assert report.training.h.module == "AuxLogits.conv1.conv"
    # batch 2: in training a batch norm needs more than one value per channel, and the head's is 1×1
    assert api.trace("inception_v3", input_size=299, batch=2, train=True).output_shapes == [(2, 1000), (2, 1000)]
    with pytest.raises(ShapeError, match="at layer AuxLogits.conv1.conv"):
        api.trace("inception_v3", input_size=298, batch=2, train=True)
    sym, traced = symbolic(zoo.get("inception_v3").spec()), api.trace("inception_v3", input_size=320, batch=2,
                                                                     train=True)
    assert 2 * sym.macs(train=True).at(320, 320) == traced.totals.macs  # the head's MACs count in training
    assert 8 * sym.activations(train=True).at(320, 320) == traced.totals.activation_bytes


@pytest.mark.parametrize("args,message", [
    (["inception_v3", "--input", "74"], "the smallest input it takes is 3×75×75"),
    (["alexnet", "--input", "62x70"], "the smallest input it takes is 3×63×63"),
    (["inception_v3", "--input", "298", "--train"], "the smallest input it takes in training mode is 3×299×299"),
    (["lenet5", "--input", "36"], "it takes only square inputs from 1×32×32 to 1×35×35 (fc1:"),
])
def test_summary_below_the_minimum_states_the_minimum(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["summary", *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_sizes_command_text_and_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sizes", "alexnet"])
    assert result.exit_code == 0, result.output
    assert "alexnet: smallest input 3×63×63" in result.output
    assert "set by features.12" in result.output
    out = tmp_path / "s.json"
    result = CliRunner().invoke(app, ["sizes", "lenet5", "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["schema"] == "archscope.sizes/1"
    assert data["least_input"] == [1, 32, 32] and data["square_range"] == [32, 35]
    assert data["all_larger_work"] is False and data["fixed_features"][0]["layer"] == "fc1"
    assert [e["ok"] for e in data["examples"]][:2] == [False, True]


def test_sizes_of_a_spec_file() -> None:
    result = CliRunner().invoke(app, ["sizes", str(ROOT / "docs" / "examples" / "tiny.yaml")])
    assert result.exit_code == 0, result.output
    assert "smallest input" in result.output


# ---------------------------------------------------------------- receptive fields


def _standard(layers: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Hand-rolled r and j for (kernel, stride, padding) layers."""
    r, j, out = 1, 1, []
    for k, s, _ in layers:
        r, j = r + (k - 1) * j, j * s
        out.append((r, j))
    return out


def test_vgg16_receptive_fields_by_the_standard_formula() -> None:
    fields = by_module(zoo.get("vgg16").spec())
    conv, pool = (3, 1, 1), (2, 2, 0)
    plan = [conv] * 2 + [pool] + [conv] * 2 + [pool] + ([conv] * 3 + [pool]) * 3
    expected = _standard(plan)
    convs_and_pools = [n for n, f in fields.items() if n.startswith("features.")
                       and zoo.get("vgg16").spec().layers[0].layers[int(n.split(".")[1])].TYPE  # type: ignore[attr-defined]
                       in ("conv", "pool")]
    assert [(fields[n].h.r, fields[n].h.j) for n in convs_and_pools] == expected  # type: ignore[union-attr]
    conv5_3, pool5 = fields["features.28"], fields["features.30"]
    assert (rf_size(conv5_3), rf_jump(conv5_3)) == ("196", "16")
    assert (rf_size(pool5), rf_jump(pool5), rf_start(pool5)) == ("212", "32", "15.5")
    assert fields["avgpool"].is_global and rf_size(fields["classifier"]) == "global"


def test_resnet50_stem_receptive_fields() -> None:
    fields = by_module(zoo.get("resnet50").spec())
    assert [(rf_size(fields[n]), rf_jump(fields[n]), rf_start(fields[n]))
            for n in ("conv1", "bn1", "relu", "maxpool")] == [("7", "2", "0")] * 3 + [("11", "4", "0")]
    assert rf_size(fields["layer1"]) == "35" and rf_size(fields["layer4"]) == "427"


def test_asymmetric_kernels_and_gates() -> None:
    inception = by_module(zoo.get("inception_v3").spec())
    assert rf_size(inception["Mixed_6b.branch7x7_2"]) == "159×255"
    assert rf_size(inception["Mixed_6b"]) == "351"
    eff = by_module(zoo.get("efficientnet_b0").spec())
    assert rf_size(eff["features.0"]) == "3" and rf_size(eff["features.1"]) == "7*"


@pytest.mark.parametrize("name", zoo.names())
def test_joined_branches_are_centred_alike_so_the_union_is_the_largest_branch(name: str) -> None:
    sites = {s.path: s for s in receptive_fields(zoo.get(name).spec())}
    for path, site in sites.items():
        node = site.node
        if isinstance(node, sn.Concat):
            branches = [sites[f"{path}.branches[{i}]".lstrip(".")].field for i in range(len(node.branches))]
        elif isinstance(node, sn.Residual) and node.shortcut is not None and node.post is None:
            branches = [sites[f"{path}.body[{len(node.body) - 1}]"].field, sites[f"{path}.shortcut"].field]
        else:
            continue
        if site.field.is_global:
            continue
        assert site.field.h is not None
        assert len({b.h.start for b in branches if b.h}) == 1, path
        assert site.field.h.r == max(b.h.r for b in branches if b.h), path


# ---------------------------------------------------------------- summary options


def test_summary_json_carries_the_formulas_and_fields() -> None:
    result = CliRunner().invoke(app, ["summary", "resnet50", "--symbolic", "--receptive-field", "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["symbolic"]["output"] == "N×1000"
    assert data["symbolic"]["macs"].startswith("N·(9,408·⌈H/2⌉·⌈W/2⌉")
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["layer4"]["symbolic_shape"] == "N×2048×⌈H/32⌉×⌈W/32⌉"
    assert layers["conv1"]["symbolic_macs"] == "N·9,408·⌈H/2⌉·⌈W/2⌉"
    assert layers["maxpool"]["receptive_field"] == {"global": False, "size": [11, 11], "jump": [4, 4],
                                                    "start": [0, 0], "gated": False}
    terms = data["symbolic"]["macs_terms"]
    h, w = 193, 161
    value = sum(t["coef"] * _prod([(h if f["axis"] == "H" else w) + f["c"] for f in t["factors"]],
                                  [f["m"] for f in t["factors"]]) for t in terms)
    assert value == api.trace("resnet50", input_size=(3, h, w)).totals.macs


def _prod(nums: list[int], dens: list[int]) -> int:
    out = 1
    for n, d in zip(nums, dens, strict=True):
        out *= n // d
    return out


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_summary_options_in_other_formats(fmt: str) -> None:
    result = CliRunner().invoke(app, ["summary", "googlenet", "--symbolic", "--receptive-field", "-f", fmt,
                                      "--batch", "2", "--input", "3x200x250"])
    assert result.exit_code == 0, result.output
    assert "⌈H/2⌉" in result.output and "global" in result.output


# ---------------------------------------------------------------- the documentation


def _console_blocks(text: str) -> list[tuple[str, list[str]]]:
    blocks = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        first, *rest = block.splitlines()
        assert first.startswith("$ archscope ")
        blocks.append((first[2:], [line for line in rest if line.strip() and line.strip() != "..."]))
    return blocks


def test_docs_have_examples_of_all_three() -> None:
    commands = [c for c, _ in _console_blocks(DOC)]
    assert any("--symbolic" in c for c in commands)
    assert any(c.startswith("archscope sizes") for c in commands)
    assert any("--receptive-field" in c for c in commands)


@pytest.mark.parametrize("command,lines", _console_blocks(DOC), ids=lambda v: v if isinstance(v, str) else "")
def test_doc_example_output_is_what_archscope_prints(command: str, lines: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the examples name files as a user in the repository types them
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    said = " ".join(result.output.split())
    for line in lines:
        assert " ".join(line.split()) in said, line


def test_the_analyses_compute_and_the_report_writes_the_sentences() -> None:
    alexnet = analyse_sizes(zoo.get("alexnet").spec())
    verdict = alexnet.check(62, 70)
    assert (verdict.ok, verdict.module, verdict.got) == (False, "features.12", ())
    assert isinstance(verdict.broken, Limit) and verdict.broken.least == 63
    assert verdict_reason(verdict) == ("max pool (kernel 3, stride 2, padding 0) needs an input of at least 3 "
                                       "along H, which it gets from H ≥ 63")
    assert why_not(alexnet, 62, 70) == "the smallest input it takes is 3×63×63" and why_not(alexnet, 63, 63) is None
    lenet = analyse_sizes(zoo.get("lenet5").spec())
    verdict = lenet.check(36, 36)
    assert isinstance(verdict.broken, Fixed) and verdict.got == (576,)  # 16·6·6 features where fc1 takes 400
    assert why_not(lenet, 36, 36) == ("it takes only square inputs from 1×32×32 to 1×35×35 (fc1: it is built for "
                                      "400 input features (16·⌊(H-12)/4⌋·⌊(W-12)/4⌋), this input gives 576)")
    assert verdict_reason(lenet.check(32, 32)) == ""
    field = by_module(zoo.get("inception_v3").spec())["Mixed_6b.branch7x7_2"]
    assert (field.h.r, field.w.r) == (159, 255) and rf_size(field) == "159×255"  # type: ignore[union-attr]
