"""The ways real models trip a tracer up, one small model each (tests/real_models/), each
checked as a user meets it: ``archscope.trace`` from Python, ``archscope summary`` and
``archscope graph -f dot`` on the command line.

1. an ``__init__`` that needs data (``.item()``, ``.tolist()`` on a tensor built under
   ``torch.device("meta")``) and 2. a ``forward`` that depends on the data (``nonzero``,
   ``.item()``, boolean masks): traced on the CPU by themselves, with a note saying why;
   ``--device meta`` an error naming ``--device cpu``;
3. containers that are never called (a ModuleList or Sequential that ``forward`` loops
   over) and 5. a head called part by part: drawn as clusters, never "not run";
4. ``FloatFunctional.add_relu`` and ``.cat``: the joins are drawn;
6. several inputs and outputs, a dict output labelled by key;
7. TorchScript, pruned, lazy, uncopyable and self-copying instances: they work or give a
   one-paragraph error (exit 1 or 2), never an internal error, and are never modified;
8. a model that calls ``sys.exit``: a model error (exit 1).

Numbers come from closed formulas: ``Linear(a, b)`` on N×a is N·a·b MACs and a·b + b
parameters; ``Conv2d(c, k, s)`` with an H×W output N·H·W·k·c·s² MACs and k·c·s² + k.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from real_models import kinds
from torch import nn
from typer.testing import CliRunner

import archscope
from archscope.cli.main import app
from archscope.errors import ArchscopeError
from archscope.report.dot import render_dot
from archscope.report.footer import notes
from archscope.tracer.dataflow import recording
from archscope.tracer.flow import FlowGraph
from archscope.tracer.records import Trace

ROOT = Path(__file__).resolve().parent.parent
KINDS = "tests/real_models/kinds.py"
SCRIPTED = "tests/real_models/scripted.py"
EXITS_ON_IMPORT = "tests/real_models/exits_on_import.py:Net"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def linear(a: int, b: int) -> tuple[int, int]:
    """(MACs a sample, params) of ``Linear(a, b)``."""
    return a * b, a * b + b


# ---------------------------------------------------------------- helpers: the CLI as a user sees it


@dataclass
class Run:
    code: int
    out: str
    err: str
    exception: BaseException | None


def cli(*args: str) -> Run:
    result = CliRunner().invoke(app, list(args))
    return Run(result.exit_code, result.stdout, result.stderr, result.exception)


def assert_no_traceback(run: Run) -> None:
    """CliRunner turns an exception that escapes the command into exit 1: that is a traceback."""
    assert run.exception is None or isinstance(run.exception, SystemExit), repr(run.exception)
    assert "Traceback" not in run.out + run.err
    assert "internal error" not in run.err


def assert_ok(run: Run) -> None:
    assert_no_traceback(run)
    assert run.code == 0, run.err


def assert_one_paragraph_error(run: Run, codes: tuple[int, ...] = (1,)) -> str:
    """Exit ``codes``, nothing on stdout, and one ``archscope: error:`` line, the last; its text."""
    assert_no_traceback(run)
    assert run.code in codes, (run.code, run.err)
    assert run.out == ""
    lines = run.err.rstrip("\n").splitlines()
    assert [i for i, line in enumerate(lines) if line.startswith("archscope: error:")] == [len(lines) - 1], run.err
    return lines[-1]


def assert_api_error(exc: BaseException, codes: tuple[int, ...] = (1,)) -> str:
    assert isinstance(exc, ArchscopeError), f"{type(exc).__name__}: {exc}"
    assert exc.exit_code in codes
    text = str(exc)
    assert "\n" not in text.strip() and "Traceback" not in text
    return text


def footer_value(out: str, key: str) -> str:
    """``Total MACs: 19.5K (19,456)`` -> ``19.5K (19,456)``."""
    found = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith(f"{key}:")]
    assert len(found) == 1, out
    return found[0]


def assert_totals(out: str, macs: int, params: int) -> None:
    assert footer_value(out, "Total MACs").endswith(f"({macs:,})"), out
    assert footer_value(out, "Total params").endswith(f"({params:,})"), out


def table_rows(out: str) -> list[list[str]]:
    """The cells of the table's body rows (Layer, Type, Output shape, Params, MACs, Output mem)."""
    return [[c.strip() for c in line.strip().strip("│").split("│")] for line in out.splitlines()
            if line.startswith("│")]


def cell_number(text: str) -> int:
    return 0 if text in ("—", "") else int(text.replace(",", ""))


# ---------------------------------------------------------------- helpers: DOT as written by render_dot

_ID = r'"(?:[^"\\]|\\.)*"|[\w.#/]+'
_NODE = re.compile(rf"^\t*({_ID}) \[(.*)\]$")
_EDGE = re.compile(rf"^\t*({_ID}) -> ({_ID}) \[label=({_ID}|[^\]]+)\]$")
_LABEL = re.compile(rf'(?:^| )label=({_ID}|[^ \]]+)')
_CLUSTER = re.compile(rf"^\t*subgraph ({_ID}) \{{$")


def _unquote(text: str) -> str:
    return text[1:-1] if text.startswith('"') else text


@dataclass
class Dot:
    title: str
    nodes: dict[str, str]  # id -> label
    edges: list[tuple[str, str, str]]  # (src, dst, label)
    clusters: dict[str, tuple[str, list[str]]]  # module -> (label, the node ids directly or deeper inside)

    def into(self, prefix: str) -> list[tuple[str, str, str]]:
        return [e for e in self.edges if e[1].startswith(prefix)]

    def outputs(self) -> list[str]:
        return [n for n in self.nodes if n.startswith("/output")]


def parse_dot(text: str) -> Dot:
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    clusters: dict[str, tuple[str, list[str]]] = {}
    open_: list[str] = []
    title = ""
    for line in text.splitlines():
        if m := _CLUSTER.match(line):
            open_.append(_unquote(m.group(1)).removeprefix("cluster_"))
            clusters[open_[-1]] = ("", [])
        elif line.strip() == "}" and open_:
            open_.pop()
        elif open_ and line.strip().startswith(("color=", "label=")) and "->" not in line:
            label = _LABEL.search(line)
            clusters[open_[-1]] = (_unquote(label.group(1)) if label else "", clusters[open_[-1]][1])
        elif m := _EDGE.match(line):
            edges.append((_unquote(m.group(1)), _unquote(m.group(2)), _unquote(m.group(3))))
        elif (m := _NODE.match(line)) and m.group(1) not in ("graph", "node", "edge", '"/legend"'):
            label = _LABEL.search(m.group(2))
            node = _unquote(m.group(1))
            nodes[node] = _unquote(label.group(1)) if label else node
            for c in open_:
                clusters[c][1].append(node)
        elif line.strip().startswith("graph ["):
            label = _LABEL.search(line.strip()[len("graph ["):])
            title = _unquote(label.group(1)) if label else ""
    return Dot(title, nodes, edges, clusters)


def graph_cli(*args: str) -> tuple[Run, Dot]:
    run = cli("graph", *args, "-f", "dot")
    assert_ok(run)
    return run, parse_dot(run.out)


def traced_graph(target: Any, **kwargs: Any) -> tuple[Trace, FlowGraph]:
    with recording() as flow:
        t = archscope.trace(target, **kwargs)
    return t, flow.graph(t)


def output_edge_shapes(graph: FlowGraph) -> Counter[tuple[int, ...]]:
    outputs = {n.id for n in graph.nodes if n.kind == "output"}
    return Counter(e.shape for e in graph.edges if e.dst in outputs)


# ================================================================ 1 & 2. models that need data


@dataclass(frozen=True)
class NeedsData:
    attr: str
    make: Callable[[], nn.Module]  # the class or factory, for an instance
    features: int  # per-sample input
    out: int
    macs: int  # a sample
    params: int
    stage: str  # "init" (construction needs data) or "forward"


NEEDS_DATA = [
    NeedsData("ItemInInit", kinds.ItemInInit, 8, 4, *linear(8, 4), "init"),
    NeedsData("TolistInInit", kinds.TolistInInit, 8, 4, linear(8, 6)[0] + linear(6, 4)[0],
              linear(8, 6)[1] + linear(6, 4)[1], "init"),
    NeedsData("build_item_in_init", kinds.build_item_in_init, 8, 4, *linear(8, 4), "init"),
    NeedsData("NonzeroForward", kinds.NonzeroForward, 6, 3, *linear(6, 3), "forward"),
    NeedsData("ItemForward", kinds.ItemForward, 6, 3, *linear(6, 3), "forward"),
    NeedsData("MaskForward", kinds.MaskForward, 6, 3, *linear(6, 3), "forward"),
]
BY_ATTR = {case.attr: case for case in NEEDS_DATA}
needs_data = pytest.mark.parametrize("case", NEEDS_DATA, ids=[c.attr for c in NEEDS_DATA])


@needs_data
def test_a_model_that_needs_data_is_traced_on_cpu_with_a_note_api(case: NeedsData) -> None:
    t = archscope.trace(f"{KINDS}:{case.attr}", input_size=(case.features,), batch=2)
    assert t.device == "cpu"
    assert notes(t) and notes(t)[0].startswith("traced on cpu"), notes(t)
    assert "cannot run on the meta device" in notes(t)[0] and "--device meta" in notes(t)[0]
    assert (t.totals.macs, t.totals.params, t.output_shapes) == (2 * case.macs, case.params, [(2, case.out)])


@needs_data
def test_an_instance_that_needs_data_api(case: NeedsData) -> None:
    """An instance is copied, not built again: an __init__ that needs data ran already, so it
    stays on meta; a forward that needs data falls back to the CPU."""
    t = archscope.trace(case.make(), input_size=(case.features,), batch=3)
    assert t.device == ("meta" if case.stage == "init" else "cpu")
    assert (t.totals.macs, t.totals.params) == (3 * case.macs, case.params)
    if case.stage == "forward":
        assert notes(t)[0].startswith("traced on cpu")


@needs_data
def test_a_model_that_needs_data_on_meta_is_an_error_naming_device_cpu_api(case: NeedsData) -> None:
    with pytest.raises(ArchscopeError) as info:
        archscope.trace(f"{KINDS}:{case.attr}", input_size=(case.features,), device="meta")
    text = assert_api_error(info.value)
    assert "--device cpu" in text and "meta" in text


@needs_data
def test_summary_of_a_model_that_needs_data_says_cpu(case: NeedsData) -> None:
    run = cli("summary", f"{KINDS}:{case.attr}", "--input", str(case.features), "--batch", "2")
    assert_ok(run)
    assert_totals(run.out, 2 * case.macs, case.params)
    assert footer_value(run.out, "Output") == f"2×{case.out}"
    assert "traced on cpu" in footer_value(run.out, "Input")
    assert "traced on cpu: the model cannot run on the meta device" in run.out


@needs_data
@pytest.mark.parametrize("command", ["summary", "graph"])
def test_device_meta_on_a_model_that_needs_data_is_one_paragraph_naming_device_cpu(case: NeedsData,
                                                                                   command: str) -> None:
    extra = ["-f", "dot"] if command == "graph" else []
    run = cli(command, f"{KINDS}:{case.attr}", "--input", str(case.features), "--device", "meta", *extra)
    text = assert_one_paragraph_error(run)
    assert "--device cpu" in text and "meta device" in text


@needs_data
def test_graph_of_a_model_that_needs_data_draws_its_layers(case: NeedsData) -> None:
    """The meta attempt fails part-way; the CPU pass that follows is the one drawn, whole."""
    t, graph = traced_graph(f"{KINDS}:{case.attr}", input_size=(case.features,), batch=2)
    assert t.device == "cpu"
    names = {n.name for n in graph.nodes if n.kind == "module"}
    assert names == {name for name, m in case.make().named_modules() if name and not m._modules}
    assert output_edge_shapes(graph) == Counter({(2, case.out): 1})
    run, dot = graph_cli(f"{KINDS}:{case.attr}", "--input", str(case.features), "--batch", "2")
    assert names <= set(dot.nodes) and not any(n.startswith("/Linear") for n in dot.nodes)
    assert [e[2] for e in dot.into("/output")] == [f"N×{case.out}"]
    assert f"· {case.params} params · {2 * case.macs} MACs" in dot.title


@pytest.mark.parametrize("attr", ["ItemInInit", "MaskForward"])
def test_graph_says_it_traced_on_cpu(attr: str) -> None:
    """The README: 'A model that cannot run on the meta device is traced on the CPU, and the
    output says so' -- the diagram's title or a note on stderr."""
    case = BY_ATTR[attr]
    run, dot = graph_cli(f"{KINDS}:{attr}", "--input", str(case.features))
    assert "cpu" in dot.title or "traced on cpu" in run.err


# ================================================================ 3 & 5. containers never called, a head in parts


@dataclass(frozen=True)
class Uncalled:
    attr: str
    make: Callable[[], nn.Module]
    leaves: tuple[str, ...]  # in call order
    containers: tuple[str, ...]  # never called, each drawn as a cluster
    macs: int  # a sample
    params: int


_LIST = (linear(8, 16)[0] + linear(16, 4)[0], linear(8, 16)[1] + linear(16, 4)[1])
UNCALLED = [
    Uncalled("LoopOverModuleList", kinds.LoopOverModuleList, ("layers.0", "layers.1", "layers.2"), ("layers",),
             *_LIST),
    Uncalled("LoopOverSequential", kinds.LoopOverSequential, ("layers.0", "layers.1", "layers.2"), ("layers",),
             *_LIST),
    Uncalled("LoopOverNestedList", kinds.LoopOverNestedList, ("stages.0.0", "stages.0.1", "stages.1.0", "stages.1.1"),
             ("stages", "stages.0", "stages.1"), linear(8, 8)[0] + linear(8, 4)[0], linear(8, 8)[1] + linear(8, 4)[1]),
    Uncalled("PartwiseHead", kinds.PartwiseHead, ("body", "head.fc1", "head.fc2"), ("head",),
             linear(8, 16)[0] + linear(16, 8)[0] + linear(8, 3)[0],
             linear(8, 16)[1] + linear(16, 8)[1] + linear(8, 3)[1]),
]
uncalled = pytest.mark.parametrize("case", UNCALLED, ids=[c.attr for c in UNCALLED])


@uncalled
def test_layers_of_an_uncalled_container_are_traced_api(case: Uncalled) -> None:
    t = archscope.trace(case.make(), input_size=(8,), batch=3)
    assert (t.totals.macs, t.totals.params) == (3 * case.macs, case.params)
    assert [r.name for r in t.layers if r.is_leaf] == list(case.leaves)


@uncalled
def test_summary_of_an_uncalled_container(case: Uncalled) -> None:
    run = cli("summary", f"{KINDS}:{case.attr}", "--input", "8", "--batch", "3")
    assert_ok(run)
    assert_totals(run.out, 3 * case.macs, case.params)
    assert all(leaf.rpartition(".")[2] in {r[0] for r in table_rows(run.out)} for leaf in case.leaves)


def assert_nothing_said_not_run(target: str, make: Callable[[], nn.Module], size: tuple[int, ...], where: str) -> None:
    """Modules whose code ran (their layers, their methods) are not 'not run', wherever it is said."""
    if where == "api":
        t, graph = traced_graph(make(), input_size=size)
        assert t.not_run == [] and graph.not_run == []
        return
    args = ["--input", "x".join(map(str, size))] + (["-f", "dot"] if where == "graph" else [])
    run = cli(where, target, *args)
    assert_ok(run)
    assert "not run" not in run.out


@uncalled
@pytest.mark.parametrize("where", ["api", "summary", "graph"])
def test_an_uncalled_container_whose_layers_ran_is_not_said_not_run(case: Uncalled, where: str) -> None:
    assert_nothing_said_not_run(f"{KINDS}:{case.attr}", case.make, (8,), where)


@uncalled
def test_summary_at_depth_1_shows_the_uncalled_container_and_sums_to_the_totals(case: Uncalled) -> None:
    """rows.py: 'each column sums to the total'. The container is the depth-1 row of its layers."""
    run = cli("summary", f"{KINDS}:{case.attr}", "--input", "8", "--depth", "1")
    assert_ok(run)
    rows = table_rows(run.out)
    assert {r[0] for r in rows} >= {c for c in case.containers if "." not in c}, rows
    assert sum(cell_number(r[3]) for r in rows) == case.params
    assert sum(cell_number(r[4]) for r in rows) == case.macs


@uncalled
def test_graph_draws_the_layers_of_an_uncalled_container_in_its_cluster(case: Uncalled) -> None:
    _, graph = traced_graph(case.make(), input_size=(8,))
    assert [n.name for n in graph.nodes if n.kind == "module"] == list(case.leaves)
    assert set(case.containers) <= set(graph.modules)
    run, dot = graph_cli(f"{KINDS}:{case.attr}", "--input", "8")
    assert set(case.leaves) <= set(dot.nodes)
    for container in case.containers:
        label, inside = dot.clusters[container]
        assert label.startswith(f"{container}: ")
        assert {leaf for leaf in case.leaves if leaf.startswith(container + ".")} == set(inside)
    # one chain from the input to the output through every layer, in order
    chain = [e for e in dot.edges if e[0] in case.leaves or e[1] in case.leaves]
    assert [e[1] for e in chain if e[1] in case.leaves] == list(case.leaves)
    assert len(dot.into("/output")) == 1 and dot.into("/output")[0][0] == case.leaves[-1]


# ================================================================ 4. FloatFunctional

QUANT_MACS = 2 * (8 * 8 * 4 * 4 * 3 * 3) + 8 * 8 * 2 * 8  # conv1, conv2 (4→4, 3×3), head (8→2, 1×1) on 8×8
QUANT_PARAMS = 2 * (4 * 4 * 9 + 4) + (8 * 2 + 2)


def test_float_functional_block_is_traced_api() -> None:
    t = archscope.trace(kinds.QuantReadyNet(), input_size=(4, 8, 8), batch=2)
    assert (t.totals.macs, t.totals.params, t.output_shapes) == (2 * QUANT_MACS, QUANT_PARAMS, [(2, 2, 8, 8)])


@pytest.mark.parametrize("where", ["api", "summary", "graph"])
def test_float_functionals_whose_methods_ran_are_not_said_not_run(where: str) -> None:
    assert_nothing_said_not_run(f"{KINDS}:QuantReadyNet", kinds.QuantReadyNet, (4, 8, 8), where)


def test_float_functional_joins_are_in_the_graph_api() -> None:
    _, graph = traced_graph(kinds.QuantReadyNet(), input_size=(4, 8, 8), batch=2)
    by_id = {n.id: n for n in graph.nodes}
    adds = [n for n in graph.nodes if n.category == "add"]
    cats = [n for n in graph.nodes if n.category == "concat"]
    assert len(adds) == 1 and len(cats) == 1, [(n.id, n.category) for n in graph.nodes]
    add_in = {by_id[e.src].kind if by_id[e.src].kind == "input" else by_id[e.src].name
              for e in graph.inputs_of(adds[0].id)}
    assert add_in == {"block.conv2", "input"}  # the residual: the block's branch and its input
    assert [e.shape for e in graph.inputs_of(cats[0].id)] == [(2, 4, 8, 8), (2, 4, 8, 8)]
    assert any(by_id[e.src].kind == "input" for e in graph.inputs_of(cats[0].id))
    assert [e.shape for e in graph.outputs_of(cats[0].id)] == [(2, 8, 8, 8)]


def test_summary_of_a_float_functional_block() -> None:
    run = cli("summary", f"{KINDS}:QuantReadyNet", "--input", "4x8x8", "--batch", "2")
    assert_ok(run)
    assert_totals(run.out, 2 * QUANT_MACS, QUANT_PARAMS)
    assert footer_value(run.out, "Output") == "2×2×8×8"


def test_graph_of_a_float_functional_block_draws_add_and_cat() -> None:
    _, dot = graph_cli(f"{KINDS}:QuantReadyNet", "--input", "4x8x8")
    labels = Counter(dot.nodes.values())
    assert labels["add"] == 1 and labels["cat"] == 1, labels
    add = next(n for n, label in dot.nodes.items() if label == "add")
    cat = next(n for n, label in dot.nodes.items() if label == "cat")
    assert sorted(e[0] for e in dot.into(add)) == ["/input", "block.conv2"]
    assert [e[2] for e in dot.into(cat)] == ["N×4×8×8", "N×4×8×8"]
    assert [e[2] for e in dot.edges if e[0] == cat] == ["N×8×8×8"]


# ================================================================ 6. several inputs, several outputs


@dataclass(frozen=True)
class MultiIO:
    attr: str
    make: Callable[[], nn.Module]
    inputs: tuple[tuple[str, int], ...]  # (name, features)
    outputs: tuple[int, ...]  # features of each output, in order
    keys: tuple[str, ...]  # a dict output's keys, in order
    macs: int
    params: int


_HEADS = (linear(8, 16)[0] + linear(16, 5)[0] + linear(16, 4)[0],
          linear(8, 16)[1] + linear(16, 5)[1] + linear(16, 4)[1])
_TWO = (linear(8, 4)[0] + linear(6, 4)[0], linear(8, 4)[1] + linear(6, 4)[1])
MULTI_IO = [
    MultiIO("TwoInputs", kinds.TwoInputs, (("a", 8), ("b", 6)), (4,), (), *_TWO),
    MultiIO("TwoOutputs", kinds.TwoOutputs, (("x", 8),), (5, 4), (), *_HEADS),
    MultiIO("DictOutput", kinds.DictOutput, (("x", 8),), (5, 4), ("logits", "boxes"), *_HEADS),
    MultiIO("TwoInTwoOut", kinds.TwoInTwoOut, (("a", 8), ("b", 6)), (4, 4), (), *_TWO),
]
multi_io = pytest.mark.parametrize("case", MULTI_IO, ids=[c.attr for c in MULTI_IO])


@multi_io
def test_multi_input_and_output_api(case: MultiIO) -> None:
    t, graph = traced_graph(case.make(), input_size=[(f,) for _, f in case.inputs], batch=2)
    assert (t.totals.macs, t.totals.params) == (2 * case.macs, case.params)
    assert t.output_shapes == [(2, f) for f in case.outputs]
    inputs = [n for n in graph.nodes if n.kind == "input"]
    assert [n.name for n in inputs] == [f"{name}: 2×{f} float32" for name, f in case.inputs]
    assert all(graph.outputs_of(n.id) for n in inputs), "every input feeds a layer"
    # every output tensor reaches the output, once
    assert output_edge_shapes(graph) == Counter((2, f) for f in case.outputs)


@multi_io
def test_summary_of_multi_input_and_output(case: MultiIO) -> None:
    args = [a for _, f in case.inputs for a in ("--input", str(f))]
    run = cli("summary", f"{KINDS}:{case.attr}", *args, "--batch", "2")
    assert_ok(run)
    assert_totals(run.out, 2 * case.macs, case.params)
    assert ", ".join(f"{name} 2×{f} float32" for name, f in case.inputs) in run.out
    assert footer_value(run.out, "Output").replace(" ", "").endswith(",".join(f"2×{f}" for f in case.outputs))


@multi_io
def test_graph_shows_every_input_and_every_output(case: MultiIO) -> None:
    args = [a for _, f in case.inputs for a in ("--input", str(f))]
    _, dot = graph_cli(f"{KINDS}:{case.attr}", *args)
    inputs = [label for n, label in dot.nodes.items() if n.startswith("/input")]
    assert inputs == [f"{name}: 1×{f} float32" for name, f in case.inputs]
    assert sorted(e[2] for e in dot.into("/output")) == sorted(f"N×{f}" for f in case.outputs)
    assert {e[1] for e in dot.into("/output")} == set(dot.outputs()), "every output node is fed"


def test_a_dict_output_is_labelled_by_key_in_the_graph() -> None:
    """Each key names its tensor on the diagram: on the output node or on the edge into it."""
    case = next(c for c in MULTI_IO if c.keys)

    def labels_by_shape(dot: Dot) -> dict[str, str]:
        return {e[2]: f"{dot.nodes[e[1]]} {e[2]}" for e in dot.into("/output")}

    _, graph = traced_graph(case.make(), input_size=(8,))
    _, dot = graph_cli(f"{KINDS}:{case.attr}", "--input", "8")
    for drawn in (parse_dot(render_dot(graph)), dot):
        labelled = labels_by_shape(drawn)
        for key, f in zip(case.keys, case.outputs, strict=True):
            assert key in labelled[f"N×{f}"], labelled


# ================================================================ 7. instances of unusual kinds


def _script() -> nn.Module:
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models in the wild still use it
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(kinds.Small().eval())


def _jit_trace() -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(kinds.Small().eval(), torch.zeros(1, 8))


def _lazy() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.Linear(6, 4))


SMALL = (linear(8, 6)[0] + linear(6, 4)[0], linear(8, 6)[1] + linear(6, 4)[1])
# (id, CLI target, a fresh instance for the Python API; None: the CLI target's text)
UNUSUAL: list[tuple[str, str, Callable[[], nn.Module] | None]] = [
    ("jit_script", f"{SCRIPTED}:SCRIPTED", _script),
    ("jit_trace", f"{SCRIPTED}:TRACED", _jit_trace),
    ("pruned", f"{KINDS}:PRUNED", kinds.pruned_small),
    ("lazy_uninitialised", f"{KINDS}:LAZY", _lazy),
    ("lazy_initialised", f"{KINDS}:LAZY_INITIALISED", kinds.lazy_initialised),
    ("lazy_class", f"{KINDS}:LazySmall", None),  # built under the device: initialised by the traced forward
    ("holds_a_lock", f"{KINDS}:WITH_LOCK", kinds.WithLock),
    ("deepcopy_returns_self", f"{KINDS}:SELF_COPYING", kinds.SelfCopying),
]
unusual = pytest.mark.parametrize(("target", "make"), [(t, m) for _, t, m in UNUSUAL], ids=[i for i, _, _ in UNUSUAL])


def state_of(model: nn.Module) -> list[tuple[str, str, torch.dtype, str, torch.Tensor | None]]:
    """Every tensor of the state: name, type, dtype, device, a copy of its values (None while uninitialised)."""
    out = []
    for name, t in model.state_dict(keep_vars=True).items():
        lazy = isinstance(t, nn.parameter.UninitializedTensorMixin)
        out.append((name, type(t).__name__, t.dtype, t.device.type, None if lazy else t.detach().clone()))
    return out


def assert_same_state(before: list[Any], after: list[Any]) -> None:
    assert [s[:4] for s in before] == [s[:4] for s in after]
    assert all((a is None and b is None) or torch.equal(a, b) for (*_, a), (*_, b) in zip(before, after, strict=True))


@unusual
def test_an_unusual_instance_works_or_is_a_model_error_and_is_never_modified_api(
        target: str, make: Callable[[], nn.Module] | None) -> None:
    model = make() if make is not None else nn.Module()
    before = state_of(model)
    try:
        t = archscope.trace(model if make is not None else target, input_size=(8,), batch=2)
    except Exception as exc:  # noqa: BLE001 (what it is, is the assertion)
        assert_api_error(exc, (1, 2))
    else:
        assert (t.totals.macs, t.output_shapes) == (2 * SMALL[0], [(2, 4)])
        assert t.totals.params == SMALL[1]  # a pruned layer's weight_orig is its weight; its mask is a buffer
    assert_same_state(before, state_of(model))


@unusual
@pytest.mark.parametrize("command", ["summary", "graph"])
def test_an_unusual_instance_on_the_command_line_works_or_is_one_paragraph(
        target: str, make: Callable[[], nn.Module] | None, command: str) -> None:
    extra = ["-f", "dot"] if command == "graph" else []
    run = cli(command, target, "--input", "8", "--batch", "2", *extra)
    if run.code == 0:
        assert_ok(run)
        if command == "summary":
            assert_totals(run.out, 2 * SMALL[0], SMALL[1])
        else:
            dot = parse_dot(run.out)
            assert f"· {SMALL[1]} params · {2 * SMALL[0]} MACs" in dot.title
            assert [e[2] for e in dot.into("/output")] == ["N×4"]
    else:
        assert_one_paragraph_error(run, (1, 2))


def test_initialising_a_lazy_layer_is_not_an_uncounted_operator() -> None:
    """A lazy layer fills its weights during the first forward: that is not the model's
    computation, so no 'not counted: aten.uniform_' line."""
    t = archscope.trace(f"{KINDS}:LazySmall", input_size=(8,))
    assert (t.totals.macs, t.totals.params) == SMALL
    assert not [op for op in t.not_counted if "uniform" in op or "normal" in op], t.not_counted


@pytest.mark.parametrize("device", [None, "meta", "cpu"])
def test_an_instance_whose_deepcopy_returns_itself_is_never_modified_api(device: str | None) -> None:
    model = kinds.SelfCopying()
    before = state_of(model)
    t: Trace | None = None
    try:
        t = archscope.trace(model, input_size=(8,), dtype="float16", device=device)
    except Exception as exc:  # noqa: BLE001 (what it is, is the assertion)
        assert_api_error(exc, (1, 2))
    assert_same_state(before, state_of(model))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    if t is not None:
        assert t.dtype == "float16" and t.totals.macs == SMALL[0]
        assert t.device == (device or "meta"), "deepcopy gave the user's CPU instance back: it ran on that"


@pytest.mark.parametrize("command", ["summary", "graph"])
def test_an_instance_whose_deepcopy_returns_itself_is_never_modified_by_the_cli(
        command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Named by import path, archscope gets the very object this test holds (a fresh one)."""
    model = kinds.SelfCopying()
    monkeypatch.setattr(kinds, "SELF_COPYING", model)
    before = state_of(model)
    extra = ["--dtype", "float16"] if command == "summary" else ["-f", "dot"]  # graph has no --dtype
    run = cli(command, "real_models.kinds:SELF_COPYING", "--input", "8", *extra)
    if run.code:
        assert_one_paragraph_error(run, (1, 2))
    else:
        assert_ok(run)
    assert_same_state(before, state_of(model))


# ================================================================ 8. a model that exits


def test_a_forward_that_calls_sys_exit_is_a_model_error_api() -> None:
    with pytest.raises(ArchscopeError) as info:
        archscope.trace(kinds.ExitsInForward(), input_size=(8,))
    text = assert_api_error(info.value)
    assert "sys.exit(7)" in text or "SystemExit: 7" in text


def test_a_file_that_calls_sys_exit_on_import_is_a_model_error_api() -> None:
    with pytest.raises(ArchscopeError) as info:
        archscope.trace(EXITS_ON_IMPORT, input_size=(8,))
    text = assert_api_error(info.value)
    assert "exits_on_import.py" in text and ("sys.exit" in text or "SystemExit" in text)


@pytest.mark.parametrize("command", ["summary", "graph"])
@pytest.mark.parametrize(("target", "words"), [
    (f"{KINDS}:ExitsInForward", ("ExitsInForward", "sys.exit(7)")),
    (EXITS_ON_IMPORT, ("exits_on_import.py", "sys.exit")),
], ids=["in_forward", "on_import"])
def test_a_model_that_calls_sys_exit_exits_1_naming_it(command: str, target: str, words: tuple[str, ...]) -> None:
    extra = ["-f", "dot"] if command == "graph" else []
    text = assert_one_paragraph_error(cli(command, target, "--input", "8", *extra))
    assert all(w in text for w in words), text


class Quantized(nn.Module):
    """A quantized model as torchvision's quantize=True builds them: quantized conv and linear
    (packed weights the operator counter must unpack), FloatFunctional adds, quant/dequant."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = torch.ao.nn.quantized.Conv2d(3, 8, 3, padding=1)
        self.skip = torch.ao.nn.quantized.QFunctional()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = torch.ao.nn.quantized.Linear(8, 5)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)
        y = self.skip.add_relu(self.conv(x), self.conv(x))
        return torch.dequantize(self.fc(torch.flatten(self.pool(y), 1)))


def test_quantized_convolutions_and_linears_are_counted_from_their_packed_weights() -> None:
    t = archscope.trace(Quantized(), input_size=(3, 6, 6), batch=2)
    assert t.device == "cpu"  # quantized kernels have no meta implementation: the CPU, said in a note
    assert t.totals.macs == 2 * (2 * 8 * 6 * 6 * 3 * 3 * 3) + 2 * 8 * 5
    assert not t.not_counted, t.not_counted


class StrayCpuParameter(nn.Module):
    """A parameter made by a legacy constructor, which ignores ``torch.device("meta")`` (as
    transformers' Wav2Vec2 ``masked_spec_embed`` does): it must not push the trace to the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.stray = nn.Parameter(torch.Tensor(8).uniform_())
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_a_stray_cpu_parameter_does_not_force_the_cpu() -> None:
    t = archscope.trace(StrayCpuParameter, input_size=(8,), batch=2)
    assert t.device == "meta" and t.totals.macs == 2 * 8 * 8 and t.totals.params == 8 + 8 * 8 + 8
