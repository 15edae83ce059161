"""``archscope graph``: the dataflow drawn from what actually ran, folded, collapsed, rendered.

Golden DOT files live in tests/golden/graph/; rewrite them on purpose only, with
``ARCHSCOPE_UPDATE_GOLDEN=1 python -m pytest tests/test_graph.py``.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from archscope import zoo
from archscope.api import trace
from archscope.cli.main import app
from archscope.report.dot import choose_depth, fold, render_dot
from archscope.tracer.dataflow import recording
from archscope.tracer.flow import JOINS, FlowGraph, FlowNode, inside, module_depth

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "graph"
STAGES = "tests/golden/graph/stages.yaml"
TINY = "docs/examples/tiny.yaml"
MYNET = "docs/examples/mynet.py:build_net"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (CI installs it)")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@functools.cache
def flow_of(target: str, input_size: str | None = None) -> FlowGraph:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with recording() as flow:
            result = trace(target, input_size=input_size, analytic=False)
    finally:
        os.chdir(cwd)
    return flow.graph(result)


def module_flow(model: nn.Module, input_size: str) -> FlowGraph:
    with recording() as flow:
        result = trace(model, input_size=input_size)
    return flow.graph(result)


def joins(graph: FlowGraph, category: str, scope: str | None = None) -> list[FlowNode]:
    return [n for n in graph.nodes if n.category == category and (scope is None or n.scope == scope)]


def leaves_block(graph: FlowGraph, node: FlowNode, block: str) -> bool:
    by_id = {n.id: n for n in graph.nodes}
    return any(by_id[e.dst].kind == "output" or not inside(by_id[e.dst].scope, block)
               for e in graph.outputs_of(node.id))


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["graph", *args])
    return result.exit_code, result.stdout, result.output


# ---------------------------------------------------------------- DOT text helpers

_NODE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[\w./#]+) \[(.*)\]$')
_EDGE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[\w./#]+) -> ("(?:[^"\\]|\\.)*"|[\w./#]+) \[label="([^"]*)"\]$')


def parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Node id -> attribute text, and (src, dst, label) edges, of DOT written by render_dot."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        if m := _EDGE.match(line):
            edges.append((m.group(1).strip('"'), m.group(2).strip('"'), m.group(3)))
        elif (m := _NODE.match(line)) and m.group(1) not in ("graph", "node", "edge"):
            nodes[m.group(1).strip('"')] = m.group(2)
    return nodes, edges


def join_labels(nodes: dict[str, str]) -> list[str]:
    return [m.group(1) for a in nodes.values() if (m := re.match(r"label=(add|cat|mul) ", a))]


# ---------------------------------------------------------------- golden DOT text

GOLDEN_CASES = {
    "tiny": [TINY],  # the depth chosen by itself: 1 of 3
    "tiny_every_layer": [TINY, "--depth", "3"],
    "mynet": [MYNET, "--input", "3x32x32"],
    "stages": [STAGES],
    "stages_expand_depth2_lr": [STAGES, "--expand", "--depth", "2", "--rankdir", "LR"],
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_dot(case: str) -> None:
    code, text, output = run_cli(*GOLDEN_CASES[case])
    assert code == 0, output
    path = GOLDEN / f"{case}.dot"
    if os.environ.get("ARCHSCOPE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: rewrite it on purpose (see module docstring)"
    # invariants: every edge joins declared nodes; the drawn joins are the traced ones not folded away
    nodes, edges = parse_dot(text)
    assert edges and all(src in nodes and dst in nodes for src, dst, _ in edges)
    args = GOLDEN_CASES[case]
    graph = flow_of(args[0], args[args.index("--input") + 1] if "--input" in args else None)
    folding = fold(graph) if "--expand" not in args else None
    depth = (int(args[args.index("--depth") + 1]) if "--depth" in args
             else 99 if "--expand" in args else choose_depth(graph) or 99)
    drawn = [n for n in graph.nodes if n.category in JOINS and module_depth(n.scope) < depth
             and (folding is None or folding.resolve(n.id) == n.id)]
    assert len(join_labels(nodes)) == len(drawn)


def test_dot_is_byte_identical_across_runs_and_processes() -> None:
    first = render_dot(flow_of(STAGES), depth="auto")  # what the command draws by default
    again = render_dot(flow_of.__wrapped__(STAGES), depth="auto")  # a fresh trace: new tensors, new ids
    assert first == again
    other = subprocess.run([sys.executable, "-m", "archscope", "graph", STAGES], cwd=ROOT, capture_output=True,
                           check=True)
    assert other.stdout.decode("utf-8") == first == (GOLDEN / "stages.dot").read_text(encoding="utf-8")


# ---------------------------------------------------------------- structure of the zoo


def test_resnet50_has_16_residual_joins_each_with_its_shortcut() -> None:
    graph = flow_of("resnet50")
    adds = joins(graph, "add")
    assert len(adds) == 16
    for add in adds:
        block = add.scope
        assert re.fullmatch(r"layer[1-4]\.\d+", block)
        srcs = {e.src: e.shape for e in graph.inputs_of(add.id)}
        assert len(srcs) == 2 and len(set(srcs.values())) == 1
        assert f"{block}.bn3" in srcs  # the body
        (shortcut,) = set(srcs) - {f"{block}.bn3"}
        assert shortcut == f"{block}.downsample.1" or not shortcut.startswith(block + ".")  # projection or identity
        assert [e.dst for e in graph.outputs_of(add.id)] == [f"{block}.relu"]
    # nothing that runs inside a layer (conv2d, batch_norm) is a node of its own
    assert {n.type for n in graph.nodes if n.kind == "op"} == {"add"}
    nodes, _ = parse_dot(render_dot(graph, fold_blocks=False))
    assert join_labels(nodes).count("add") == 16


def test_resnet50_folds_repeated_bottlenecks_unless_expanded() -> None:
    graph = flow_of("resnet50")
    folded = render_dot(graph)
    for title in ("layer1.1–2: Bottleneck ×2", "layer2.1–3: Bottleneck ×3", "layer3.1–5: Bottleneck ×5",
                  "layer4.1–2: Bottleneck ×2"):
        assert f'label="{title}"' in folded
    assert join_labels(parse_dot(folded)[0]).count("add") == 8  # block 0 and the folded run, per stage
    assert "×" not in "".join(re.findall(r'label="([^"]*Bottleneck[^"]*)"', render_dot(graph, fold_blocks=False)))
    # the folded run's output edge carries the shape of the run's last block
    _, edges = parse_dot(folded)
    assert ("layer3.1.relu", "layer4.0.conv1", "N×1024×14×14") in edges


def test_depth_collapses_modules_into_nodes() -> None:
    graph = flow_of("resnet50")
    nodes, edges = parse_dot(render_dot(graph, depth=1))
    assert {"layer1", "layer2", "layer3", "layer4", "conv1", "fc"} <= set(nodes)
    assert "box3d" in nodes["layer3"] and "layer3: Sequential" in nodes["layer3"]
    assert not join_labels(nodes) and "cluster" not in render_dot(graph, depth=1)
    assert ("layer2", "layer3", "N×512×28×28") in edges
    nodes, _ = parse_dot(render_dot(graph, depth=2))
    assert 'label="1–5: Bottleneck ×5' in nodes["layer3.1"] and "layer3.2" not in nodes
    assert "layer3.1" not in parse_dot(render_dot(graph, depth=2, fold_blocks=False))[0]["layer3.2"]


def _check_inception_block(graph: FlowGraph, block: str, nested: int) -> None:
    cats = joins(graph, "concat", scope=block)
    outer = [c for c in cats if leaves_block(graph, c, block)]
    assert len(outer) == 1, block
    branches = graph.inputs_of(outer[0].id)
    assert len(branches) in (3, 4), block
    out_channels = graph.outputs_of(outer[0].id)[0].shape[1]
    assert sum(e.shape[1] for e in branches) == out_channels
    if graph.modules[block].type == "InceptionE":  # the nested split: 2-way concats feed the outer one
        inner = [c for c in cats if c is not outer[0]]
        assert len(inner) == nested and all(len(graph.inputs_of(c.id)) == 2 for c in inner)
        assert {e.src for e in branches} >= {c.id for c in inner}


def test_every_inception_v3_mixed_block_has_3_or_4_branches_into_one_concat() -> None:
    graph = flow_of("inception_v3")
    mixed = [m for m in graph.modules if m.startswith("Mixed_") and "." not in m]
    assert len(mixed) == 11
    for block in mixed:
        _check_inception_block(graph, block, nested=2)
    assert sum(graph.modules[m].type == "InceptionE" for m in mixed) == 2
    assert graph.not_run == ["AuxLogits"]


def test_inception_block_with_nested_split_from_a_small_spec() -> None:
    graph = flow_of(TINY)  # its "mixed" block is an InceptionE: 3 branches, the second split again
    _check_inception_block(graph, "mixed", nested=1)
    assert len(graph.inputs_of("mixed/cat#2")) == 3


def test_densenet121_has_58_dense_concatenations() -> None:
    graph = flow_of("densenet121")
    cats = joins(graph, "concat")
    assert len(cats) == 58
    for cat in cats:
        (skip, new) = graph.inputs_of(cat.id)  # x and the layer's output, in that order
        assert new.shape[1] == 32 and skip.shape[2:] == new.shape[2:]
        assert graph.outputs_of(cat.id)[0].shape[1] == skip.shape[1] + 32
    folded = render_dot(graph)
    for n, block in ((6, 1), (12, 2), (24, 3), (16, 4)):
        assert f"features.denseblock{block}.denselayer1–denselayer{n}: _DenseLayer + cat ×{n}" in folded


def test_dense_concatenations_fold_from_a_small_spec() -> None:
    graph = flow_of(STAGES)
    cats = joins(graph, "concat", scope="denseblock")
    assert len(cats) == 3
    assert [graph.outputs_of(c.id)[0].shape[1] for c in cats] == [40, 48, 56]
    nodes, edges = parse_dot(render_dot(graph))
    assert "denseblock/cat" in nodes and "denseblock/cat#2" not in nodes
    assert 'label="denseblock.denselayer1–denselayer3: DenseLayer + cat ×3"' in render_dot(graph)
    assert ("denseblock/cat", "reduce", "N×56×16×16") in edges  # the last unit's output


def test_efficientnet_b0_has_a_gate_in_every_block_and_skips_where_shapes_allow() -> None:
    graph = flow_of("efficientnet_b0")
    muls, adds = joins(graph, "multiply"), joins(graph, "add")
    assert len(muls) == 16 and len(adds) == 9
    for mul in muls:
        features, gate = (e.shape for e in graph.inputs_of(mul.id))
        assert gate == (*features[:2], 1, 1)
    for add in adds:
        body, identity = graph.inputs_of(add.id)
        assert body.shape == identity.shape and not identity.src.startswith(add.scope + ".")


def test_gate_and_skip_from_a_small_spec() -> None:
    graph = flow_of(STAGES)
    assert len(joins(graph, "multiply")) == 3 and len(joins(graph, "add")) == 4 + 3
    mul = joins(graph, "multiply")[0]
    assert [(e.src, e.shape) for e in graph.inputs_of(mul.id)] == [("stage.0.dw", (1, 64, 16, 16)),
                                                                   ("stage.0.se.gate", (1, 64, 1, 1))]
    text = render_dot(graph)
    assert 'label="stage.0–2: MBConv ×3"' in text and 'label="stage.0.se: Gate"' in text
    # two identical convs on one branch of an Inception-like block are not folded
    assert "b3_1–" not in text and '"mixed.b3_2.0"' in text


# ---------------------------------------------------------------- user models: traced, not read from a spec


def test_user_model_with_a_branch_is_drawn_from_tracing() -> None:
    graph = flow_of(MYNET, "3x32x32")
    srcs = {n.id: sorted(e.src for e in graph.inputs_of(n.id)) for n in graph.nodes}
    assert srcs["/cat"] == ["left", "right.1"]
    assert srcs["/add"] == ["/cat", "stem.2"]  # the residual add around both branches
    assert srcs["left"] == srcs["right.0"] == ["stem.2"]
    assert srcs["/mean"] == ["pool"] and srcs["head"] == ["/mean"]
    assert sum(n.params for n in graph.nodes) == graph.params


class Branchy(nn.Module):
    """Functional ops between modules, a module called twice, in-place ops."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.a(x)) * torch.sigmoid(self.b(x))
        y += 1
        z = torch.cat([self.act(y), self.b(x)], 1).contiguous()
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(z, 1), 1))


def test_functions_between_modules_are_nodes_and_a_module_called_twice_is_two() -> None:
    graph = module_flow(Branchy(), "3x16x16")
    assert [(n.id, n.category) for n in graph.nodes] == [
        ("/input", "io"), ("a", "conv"), ("/relu", "function"), ("b", "conv"), ("/sigmoid", "function"),
        ("/mul", "multiply"), ("/add", "add"), ("act", "activation"), ("b#2", "conv"), ("/cat", "concat"),
        ("/adaptive_avg_pool2d", "function"), ("/flatten", "function"), ("fc", "linear"), ("/output", "io")]
    srcs = {n.id: [e.src for e in graph.inputs_of(n.id)] for n in graph.nodes}
    assert srcs["/mul"] == ["/relu", "/sigmoid"] and srcs["/add"] == ["/mul"]  # y += 1: the constant is no node
    assert srcs["act"] == ["/add"] and srcs["/cat"] == ["act", "b#2"]  # the in-place ReLU produced what cat took
    assert srcs["b"] == srcs["b#2"] == ["/input"]
    by_id = {n.id: n for n in graph.nodes}
    assert by_id["b"].params == 32 and by_id["b#2"].params == 0  # counted once


def test_every_join_adds_up() -> None:
    """Invariant of every traced graph: a concat's channels are its inputs', an add's inputs agree."""
    graphs = [flow_of(TINY), flow_of(STAGES), flow_of("resnet50"), flow_of(MYNET, "3x32x32")]
    graphs += [flow_of(m) for m in ("inception_v3", "densenet121", "efficientnet_b0")]
    for graph in graphs:
        for node in (n for n in graph.nodes if n.category in JOINS):
            ins = [e.shape for e in graph.inputs_of(node.id)]
            out = graph.outputs_of(node.id)[0].shape
            if node.category == "concat":
                assert sum(s[1] for s in ins) == out[1] and all(s[2:] == out[2:] for s in ins)
            elif node.category == "add":
                assert all(s == out for s in ins)
            else:
                assert ins[0] == out


# ---------------------------------------------------------------- checks, styles, options


def test_mismatched_expectations_are_red_and_the_diagram_is_still_written(tmp_path: Path) -> None:
    spec = tmp_path / "wrong.yaml"
    spec.write_text("name: wrong\ninput: [3, 16, 16]\nlayers:\n"
                    '  - {type: conv, name: conv, out: 8, kernel: 3, padding: 1, expect: "N×9×16×16"}\n'
                    '  - {type: block, template: resnet.basic, name: block, planes: 8, expect: "N×8×8×8"}\n')
    out = tmp_path / "wrong.dot"
    code, _, output = run_cli(str(spec), "-o", str(out))
    assert code == 1 and "2 expected shape(s) of wrong do not match" in " ".join(output.split())
    nodes, _ = parse_dot(out.read_text(encoding="utf-8"))
    assert "expected N×9×16×16, got N×8×16×16" in nodes["conv"] and 'color="#d62728"' in nodes["conv"]
    assert 'color="#d62728"' not in nodes["block.conv1"]
    text = out.read_text(encoding="utf-8")
    block = text.split('subgraph cluster_block {')[1].splitlines()[1]
    assert 'color="#d62728"' in block and "expected N×8×8×8, got N×8×16×16" in block
    assert "expected shape does not match" in nodes["/legend"]


def test_nodes_show_type_kernel_stride_groups_params_and_a_legend() -> None:
    nodes, edges = parse_dot(render_dot(flow_of(STAGES)))
    # one line a node: a rank costs height (docs/graph.md, Size)
    assert 'label="dw: Conv2d · 3×3, groups 64 · 576 params"' in nodes["stage.0.dw"]
    assert 'label="conv1: Conv2d · 3×3, stride 2 · 4.61K params"' in nodes["layer1.0.conv1"]
    assert 'fillcolor="#9ecae1"' in nodes["stem"] and "shape=ellipse" in nodes["stage.0/add"]
    legend = nodes["/legend"]
    for entry in ("convolution", "normalisation", "activation", "pooling", "linear", "add (join)",
                  "concat (join)", "multiply (join)", "input / output"):
        assert entry in legend
    assert "dropout" not in legend  # only what is drawn
    assert ("/input", "stem", "N×3×32×32") in edges


def test_rankdir_batch_and_unknown_rankdir() -> None:
    code, text, _ = run_cli(TINY, "--rankdir", "LR", "--batch", "4")
    assert code == 0 and "rankdir=LR" in text and "N×32×32×32" in text  # the batch is drawn as N
    code, _, output = run_cli(TINY, "--rankdir", "XY")
    assert code == 2 and "XY" in output


def test_format_follows_the_suffix_and_format_overrides_it(tmp_path: Path) -> None:
    code, _, output = run_cli(TINY, "-o", str(tmp_path / "g.dot"))
    assert code == 0, output
    assert (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph tiny_inception_resnet {")
    code, _, _ = run_cli(TINY, "-o", str(tmp_path / "g.svg"), "--format", "dot")
    assert code == 0 and (tmp_path / "g.svg").read_text(encoding="utf-8").startswith("digraph")
    code, _, output = run_cli(TINY, "-o", str(tmp_path / "g.txt"))
    assert code == 2 and "--format" in output and not (tmp_path / "g.txt").exists()
    code, _, output = run_cli(TINY, "--format", "png")
    assert code == 2 and "-o FILE" in output


@needs_dot
def test_svg_png_and_pdf_are_rendered(tmp_path: Path) -> None:
    code, _, output = run_cli(TINY, "--depth", "3", "-o", str(tmp_path / "g.svg"))
    assert code == 0, output
    svg = ET.parse(tmp_path / "g.svg").getroot()
    titles = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {"mixed/cat", "mixed/cat#2", "res/add", "dense/cat", "se/mul", "stem"} <= titles
    nodes, _ = parse_dot(run_cli(TINY, "--depth", "3")[1])
    drawn = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class", "").split()[:1] == ["node"]]
    assert len(drawn) == len(nodes)
    assert run_cli(TINY, "-o", str(tmp_path / "g.png"))[0] == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_cli(TINY, "-o", str(tmp_path / "g.pdf"))[0] == 0
    assert (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pdf", "g.png", "g.svg"]  # no temporary files left


def test_without_dot_the_source_is_written_next_to_the_file_and_install_is_explained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    code, _, output = run_cli(TINY, "-o", str(tmp_path / "net.svg"))
    message = " ".join(output.split())
    assert code == 1
    assert "'dot' program is not installed" in message
    for install in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert install in message
    assert not (tmp_path / "net.svg").exists()
    assert (tmp_path / "net.dot").read_text(encoding="utf-8") == (GOLDEN / "tiny.dot").read_text(encoding="utf-8")
    assert f"dot-Tsvg{tmp_path / 'net.dot'}-o{tmp_path / 'net.svg'}" in re.sub(r"\s+", "", output)
    code, _, _ = run_cli(TINY, "-o", str(tmp_path / "only.dot"))  # DOT text needs no Graphviz
    assert code == 0


def test_unwritable_output_is_a_clear_error_and_no_file(tmp_path: Path) -> None:
    code, _, output = run_cli(TINY, "-o", str(tmp_path / "missing" / "g.svg"))
    assert code == 2 and "does not exist" in output
    code, _, output = run_cli(TINY, "-o", str(tmp_path))
    assert code == 2 and "is a directory" in output
    code, _, output = run_cli("lenet5", "--input", "8", "-o", str(tmp_path / "small.svg"))  # the model breaks
    assert code == 1 and "cannot run on input" in output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        code, _, output = run_cli(TINY, "-o", str(tmp_path / "g.svg"))
    finally:
        tmp_path.chmod(0o700)
    assert code == 2 and "permission denied" in output and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- docs and speed

DOC = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
DOC_COMMANDS = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", DOC, re.S)
                for line in block.splitlines() if line.startswith("archscope graph")]


@pytest.mark.parametrize("command", DOC_COMMANDS)
def test_docs_examples_run(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = shlex.split(command)[1:]  # graph MODEL ...
    if args[1].isidentifier() and args[1] not in zoo.names():
        pytest.skip(f"{args[1]} is not in the zoo yet")
    out = args[args.index("-o") + 1] if "-o" in args else None
    if out and not out.endswith(".dot") and not HAS_DOT:
        pytest.skip("Graphviz's dot is not installed")
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    if out:
        assert (tmp_path / out).stat().st_size > 0


@needs_dot
@pytest.mark.skipif(not os.environ.get("ARCHSCOPE_SLOW_TESTS"), reason="set ARCHSCOPE_SLOW_TESTS=1 (about 15 s)")
@pytest.mark.parametrize("model", ["densenet201", "efficientnet_b7"])
def test_big_models_fully_expanded_render_to_svg_within_10_s(model: str, tmp_path: Path) -> None:
    if model not in zoo.names():
        pytest.skip(f"{model} is not in the zoo yet")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archscope", "graph", model, "--expand", "-o", str(tmp_path / "g.svg")],
                   check=True, capture_output=True)
    assert time.perf_counter() - start < 10
