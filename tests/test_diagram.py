"""``archscope.graph`` and its Diagram: one call gives the trace and the DOT, which renders,
saves and shows itself (with or without Graphviz's dot); defaults that fit a screen, a
legend that does not push the graph down, branches in code order, SVG ids for scripts."""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import archscope.api
from archscope.cli.main import app
from archscope.errors import UsageError
from archscope.report import diagram as diagram_module
from archscope.report.diagram import Diagram, DotNotInstalledError, dot_missing
from archscope.report.dot import (
    LEGEND_COLUMNS,
    MAX_NODES,
    MAX_RANKS,
    SCREEN,
    build_view,
    choose_depth,
    draw,
    fold,
    longest_path,
    render_dot,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = "docs/examples/tiny.yaml"
STAGES = "tests/golden/graph/stages.yaml"
MYNET = "docs/examples/mynet.py:build_net"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (CI installs it)")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@functools.cache
def diagram(target: str, input_size: str | None = None, **options: Any) -> Diagram:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return archscope.api.graph(target, input_size, **options)
    finally:
        os.chdir(cwd)


def no_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **kw: None if name == "dot" else real(name, *a, **kw))


def node_lines(source: str) -> dict[str, str]:
    """DOT node name -> its attribute text."""
    out = {}
    for m in re.finditer(r'^\t+("(?:[^"\\]|\\.)*"|[\w./#]+) \[(.*)\]$', source, re.M):
        out[m.group(1).strip('"')] = m.group(2)
    return out


def attr(text: str, name: str) -> str | None:
    m = re.search(rf'(?:^| ){name}=("(?:[^"\\]|\\.)*"|[^ \]]+)', text)
    return m.group(1).strip('"') if m else None


def order_edges(source: str) -> list[tuple[str, str]]:
    return [(a.strip('"'), b.strip('"')) for a, b in re.findall(
        r'^\t("(?:[^"\\]|\\.)*"|[\w./#]+) -> ("(?:[^"\\]|\\.)*"|[\w./#]+) \[style=invis minlen=0 class=order\]$',
        source, re.M)]


def plain_x(source: str) -> dict[str, float]:
    """Where dot puts every node: name -> x (inches)."""
    import graphviz

    text = graphviz.Source(source).pipe(format="plain", engine="dot").decode("utf-8")
    out = {}
    for line in text.splitlines():
        if line.startswith("node "):
            m = re.match(r'node ("(?:[^"\\]|\\.)*"|\S+) ([\d.]+) ', line)
            assert m
            out[m.group(1).strip('"')] = float(m.group(2))
    return out


# ---------------------------------------------------------------- one call: the trace and the DOT


def test_graph_returns_a_diagram_with_the_trace_and_the_dot() -> None:
    g = diagram(MYNET, "3x32x32")
    assert isinstance(g, Diagram) and g.model == "build_net"
    assert g.trace is not None and g.trace.totals.params == 9_380  # the run drawn
    assert g.dataflow is not None and {n.id for n in g.dataflow.nodes} >= {"/cat", "/add", "left", "right.0"}
    assert g.source.startswith("digraph build_net {") and str(g) == g.source
    assert g.source == (ROOT / "tests" / "golden" / "graph" / "mynet.dot").read_text(encoding="utf-8")  # the CLI's
    assert g.depth is None and g.full_depth == 2 and g.nodes == 13  # small: every layer
    assert re.fullmatch(r"<Diagram build_net: 13 nodes, every layer, dot (available|not installed)>", repr(g))


def test_node_ids_and_classes_name_the_module_each_node_stands_for() -> None:
    g = diagram(MYNET, "3x32x32")
    nodes = node_lines(g.source)
    assert attr(nodes["stem.0"], "id") == "layer:stem.0" and attr(nodes["stem.0"], "class") == "layer conv"
    assert attr(nodes["/cat"], "id") == "op:/cat" and attr(nodes["/cat"], "class") == "op concat"
    assert attr(nodes["/input"], "id") == "io:/input" and attr(nodes["/input"], "class") == "io input"
    assert attr(nodes["/output"], "class") == "io output"
    assert attr(nodes["/legend"], "id") == "legend"
    assert g.modules["layer:stem.0"] == "stem.0" and g.modules["op:/cat"] == "" and g.modules["io:/input"] == ""
    assert len(g.modules) == g.nodes
    assert 'id="cluster:stem" class=module' in g.source


def test_a_second_call_collapsed_modules_and_folded_runs_have_their_own_ids() -> None:
    graph = diagram("resnet50").dataflow
    assert graph is not None
    at2 = draw(graph, depth=2)
    nodes = node_lines(at2.source)
    assert attr(nodes["layer3.0"], "id") == "module:layer3.0" and attr(nodes["layer3.0"], "class") == "module"
    assert attr(nodes["layer3.1"], "class") == "module folded"  # "1–5: Bottleneck ×5"
    assert at2.modules["module:layer3.1"] == "layer3.1"
    assert attr(node_lines(draw(graph, depth=1).source)["layer3"], "class") == "module"  # holds a run, is none
    full = draw(graph, depth=None)
    assert 'id="run:layer3.1..layer3.5" class=run' in full.source  # the folded run's cluster
    assert 'id="cluster:layer3.0" class=module' in full.source
    nodes = node_lines(full.source)
    assert attr(nodes["layer3.1.conv1"], "class") == "layer conv folded"
    assert attr(nodes["layer3.0.conv1"], "class") == "layer conv"
    assert attr(nodes["layer3.1/add"], "id") == "op:layer3.1/add" and full.modules["op:layer3.1/add"] == "layer3.1"
    dense = diagram("densenet121").dataflow
    assert dense is not None
    assert ('id="run:features.denseblock1.denselayer1..features.denseblock1.denselayer6" class=run'
            in render_dot(dense))
    twice = archscope.api.graph(TwiceNet(), "3x8x8")
    assert {"layer:conv", "layer:conv#2"} <= set(twice.modules) and twice.modules["layer:conv#2"] == "conv"


class TwiceNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


def test_ids_are_stable_across_runs() -> None:
    assert archscope.api.graph(MYNET, "3x32x32").source == diagram(MYNET, "3x32x32").source


def test_mismatch_is_a_class_of_the_red_node_and_cluster(tmp_path: Path) -> None:
    spec = tmp_path / "wrong.yaml"
    spec.write_text("name: wrong\ninput: [3, 16, 16]\nlayers:\n"
                    '  - {type: conv, name: conv, out: 8, kernel: 3, padding: 1, expect: "N×9×16×16"}\n'
                    '  - {type: block, template: resnet.basic, name: block, planes: 8, expect: "N×8×8×8"}\n')
    g = archscope.api.graph(str(spec), depth=None)  # drawn, never raised
    assert g.trace is not None and len(g.trace.mismatches) == 2
    assert attr(node_lines(g.source)["conv"], "class") == "layer conv mismatch"
    assert 'id="cluster:block" class="module mismatch"' in g.source


# ---------------------------------------------------------------- layout: legend, code order, depth


def test_the_legend_sits_on_the_last_rank_not_the_first() -> None:
    source = diagram(MYNET, "3x32x32").source
    m = re.search(r'\t\{\n\t\trank=max\n\t\t"/legend" \[label=<<TABLE', source)
    assert m, "the legend is in a rank=max subgraph"
    assert source.index('"/legend"') > source.index('"/output"')
    assert "legend" not in source.split("\n", 2)[1]  # nothing of it in the title
    no_legend = archscope.api.graph(MYNET, "3x32x32", legend=False).source
    assert "/legend" not in no_legend and "rank=max" not in no_legend
    lr = archscope.api.graph(MYNET, "3x32x32", rankdir="LR").source
    entries = lr.count("<TR>") - 1  # one entry a row in LR, under the heading
    columns = LEGEND_COLUMNS["TB"]  # a short strip in TB
    assert source.count("<TR>") == 1 + -(-entries // columns) and entries > columns


@needs_dot
def test_the_legend_does_not_push_the_first_node_down() -> None:
    g = diagram(MYNET, "3x32x32")
    y = _plain_y(g.source)
    assert y["/legend"] < y["head"]  # at the bottom (y grows upwards in dot's plain output)
    assert y["/input"] == max(v for k, v in y.items())  # the first node is the top one


def _plain_y(source: str) -> dict[str, float]:
    import graphviz

    text = graphviz.Source(source).pipe(format="plain", engine="dot").decode("utf-8")
    return {m.group(1).strip('"'): float(m.group(2)) for m in
            re.finditer(r'^node ("(?:[^"\\]|\\.)*"|\S+) [\d.]+ ([\d.]+) ', text, re.M)}


def test_branches_are_chained_in_call_order() -> None:
    source = diagram(TINY, depth=None).source
    hints = order_edges(source)
    assert ("mixed.b1", "mixed.b3_1") in hints and ("mixed.b3_1", "mixed.pool") in hints  # InceptionE-like block
    assert ("mixed.b3_2a", "mixed.b3_2b") in hints  # its nested split
    assert ("res.conv1", "res.downsample.0") in hints  # body left, projection right
    assert all(b != "res/add" for _, b in hints)  # the add depends on the body: no hint
    inception = diagram("inception_v3", "299", depth=2)
    hints = order_edges(inception.source)
    for block in ("Mixed_5b", "Mixed_6e"):
        first = [b for a, b in hints if a == f"{block}.branch1x1"]
        assert first and first[0].startswith(f"{block}.branch")


@needs_dot
def test_inception_branches_are_drawn_left_to_right_in_code_order() -> None:
    """Each concat's inputs, in the order the code passes them, come out left to right."""
    for source in (diagram("inception_v3", "299", depth=2).source, diagram(TINY, depth=None).source):
        x = plain_x(source)
        edges = re.findall(r'^\t("(?:[^"\\]|\\.)*"|[\w./#]+) -> ("(?:[^"\\]|\\.)*"|[\w./#]+) \[label=', source, re.M)
        cats = [n for n, a in node_lines(source).items()  # the Inception blocks' (a DenseNet's takes a skip)
                if a.startswith("label=cat ") and n.lower().startswith("mixed")]
        assert cats
        for cat in cats:
            xs = [x[a.strip('"')] for a, b in edges if b.strip('"') == cat]
            assert xs == sorted(xs), cat


@pytest.mark.parametrize(("model", "size", "depth"), [
    ("resnet50", None, 2), ("inception_v3", "299", 1), ("densenet121", None, 2), ("efficientnet_b0", None, 2),
    ("vgg16", None, 1), (TINY, None, 1), (MYNET, "3x32x32", None)])
def test_the_default_depth_fits_a_screen(model: str, size: str | None, depth: int | None) -> None:
    g = diagram(model, size)
    assert g.depth == depth
    assert g.dataflow is not None
    view = build_view(g.dataflow, g.depth, fold(g.dataflow))
    assert len(view.nodes) == g.nodes <= MAX_NODES
    assert longest_path(view) <= MAX_RANKS or g.depth == 1
    if depth is not None:
        assert f"depth {depth} of {g.full_depth}: --depth {g.full_depth} draws every layer" in g.source
        deeper = build_view(g.dataflow, depth + 1, fold(g.dataflow))  # one deeper would not fit
        assert len(deeper.nodes) > MAX_NODES or longest_path(deeper) > MAX_RANKS
    else:
        assert "draws every layer" not in g.source


@needs_dot
@pytest.mark.parametrize(("model", "size"), [("googlenet", None), ("resnet50", None), ("inception_v3", "299")])
def test_the_default_picture_is_scaled_down_to_one_screen(model: str, size: str | None) -> None:
    """googlenet at depth 1 is 1196 px tall at its natural size: the default picture is
    scaled down to 14×10.4 inches; a depth asked for is drawn at 100%, taller."""
    def points(svg: str) -> tuple[float, float]:
        m = re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg)
        assert m
        return float(m.group(1)), float(m.group(2))

    g = diagram(model, size)
    assert f'size="{SCREEN}"' in g.source.split("\n")[1]
    width, height = points(g.svg())
    assert width <= 14 * 72 + 1 and height <= 10.4 * 72 + 1
    assert height > 10.4 * 72 - 2  # these three are taller than a screen, so they were scaled
    natural = archscope.api.graph(model, size, depth=g.depth)
    assert " size=" not in natural.source.split("\n")[1]
    assert points(natural.svg())[1] > 10.4 * 72 + 40


def test_depth_and_expand_given_are_drawn_as_given() -> None:
    graph = diagram("resnet50").dataflow
    assert graph is not None
    assert choose_depth(graph) == 2
    assert draw(graph, depth=3).depth == 3 and "depth 3 of 4" in render_dot(graph, depth=3)
    assert draw(graph, depth=4).depth is None and "draws every layer" not in render_dot(graph, depth=4)
    expanded = archscope.api.graph("resnet18", expand=True)
    assert expanded.depth is None and "BasicBlock ×" not in expanded.source  # every layer, every block
    assert archscope.api.graph("resnet18", expand=True, depth=1).depth == 1
    with pytest.raises(ValueError, match="depth"):
        draw(graph, depth=0)


def test_open_runs_expands_only_those_runs() -> None:
    graph = diagram("resnet50").dataflow
    assert graph is not None
    text = render_dot(graph, open_runs={"layer3.1"})
    assert "layer3.1–5: Bottleneck ×5" not in text and '"layer3.5.conv1"' in text
    assert "layer2.1–3: Bottleneck ×3" in text and '"layer2.2.conv1"' not in text


def test_size_option_and_bad_values() -> None:
    g = archscope.api.graph(MYNET, "3x32x32", size="8,10")
    assert 'size="8,10"' in g.source.split("\n")[1]
    assert 'size="8,10!"' in archscope.api.graph(MYNET, "3x32x32", size=(8, "10!")).source
    assert "size=6" in archscope.api.graph(MYNET, "3x32x32", size=6).source.split("\n")[1]
    for bad in ({"size": "big"}, {"size": "0,3"}, {"depth": 0}, {"depth": "deep"}, {"rankdir": "XY"},
                {"dpi": 0}, {"dpi": True}):
        with pytest.raises(UsageError):
            archscope.api.graph("no_such_model_is_traced", **bad)  # refused before the model is looked up
    with pytest.raises(TypeError, match="legend"):
        archscope.api.graph(MYNET, "3x32x32", legend="no")


# ---------------------------------------------------------------- rendering, saving, showing


@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf", ".dot", ".gv"])
def test_save_takes_the_format_from_the_suffix(suffix: str, tmp_path: Path) -> None:
    g = diagram(MYNET, "3x32x32")
    path = g.save(tmp_path / f"net{suffix}")
    data = path.read_bytes()
    magic = {".svg": b"<?xml", ".png": b"\x89PNG", ".pdf": b"%PDF-", ".dot": b"digraph", ".gv": b"digraph"}[suffix]
    assert data.startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"net{suffix}"]  # written atomically: nothing else left


def test_save_dot_needs_no_graphviz_and_unknown_suffixes_are_refused(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    no_dot(monkeypatch)
    g = diagram(MYNET, "3x32x32")
    g.save(tmp_path / "net.gv")
    assert (tmp_path / "net.gv").read_text(encoding="utf-8") == g.source
    g.save(tmp_path / "net.txt", format="dot")
    with pytest.raises(UsageError, match="suffix"):
        g.save(tmp_path / "net.jpeg")
    with pytest.raises(UsageError, match="format"):
        g.save(tmp_path / "net.svg", format="jpeg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.gv", "net.txt"]


@needs_dot
def test_svg_nodes_and_clusters_carry_the_ids_and_classes() -> None:
    g = diagram("resnet50", depth=None)
    svg = ET.fromstring(g.svg())
    groups = {e.get("id"): e.get("class") for e in svg.iter(f"{SVG}g")}
    assert groups["layer:layer1.0.conv1"] == "node layer conv"
    assert groups["op:layer1.0/add"] == "node op add"
    assert groups["layer:layer1.1.conv1"] == "node layer conv folded"
    assert groups["run:layer1.1..layer1.2"] == "cluster run"
    assert groups["cluster:layer1.0"] == "cluster module"
    assert groups["legend"] == "node"
    assert all(k in groups for k in g.modules)  # every node id is in the SVG
    edges = re.findall(r" -> .* \[label=", g.source)
    assert list(groups.values()).count("edge") == len(edges)  # the ordering hints draw nothing


@needs_dot
def test_png_dpi_scales_the_picture(tmp_path: Path) -> None:
    small = archscope.api.graph(MYNET, "3x32x32").pipe("png")
    big = archscope.api.graph(MYNET, "3x32x32", dpi=192).pipe("png")
    (w1, h1), (w2, h2) = (struct.unpack(">II", p[16:24]) for p in (small, big))
    assert abs(w2 - 2 * w1) <= 2 and abs(h2 - 2 * h1) <= 2
    fitted = archscope.api.graph(MYNET, "3x32x32", size="3,3").pipe("png")
    assert max(struct.unpack(">II", fitted[16:24])) <= 3 * 96 + 2  # 3 inches at 96 dpi


@needs_dot
def test_notebook_shows_the_svg() -> None:
    g = diagram(MYNET, "3x32x32")
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert "<svg" in bundle["image/svg+xml"] and 'id="layer:stem.0"' in bundle["image/svg+xml"]
    assert bundle["text/plain"] == repr(g) and "dot available" in repr(g)
    assert dot_missing() == ""


def test_without_dot_the_notebook_shows_the_source_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    no_dot(monkeypatch)
    g = Diagram(diagram(MYNET, "3x32x32").source, "build_net")  # nothing rendered yet
    bundle = g._repr_mimebundle_()
    assert "image/svg+xml" not in bundle
    text = bundle["text/plain"]
    assert text.startswith("Graphviz's dot is not installed: showing the DOT source; install")
    for install in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert install in text
    assert text.endswith(g.source)
    assert "<pre>digraph build_net {" in bundle["text/html"] and "&gt;" in bundle["text/html"]  # escaped
    assert "dot not installed" in repr(g)
    assert "not installed" in dot_missing()
    with pytest.raises(DotNotInstalledError, match="'dot' program is not installed"):
        g.pipe("svg")
    with pytest.raises(DotNotInstalledError, match=r"render it with 'dot -Tpng .*net\.dot -o .*net\.png'"):
        g.save(tmp_path / "net.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.dot"]  # the source, next to the picture asked for
    assert g.pipe("dot") == g.source.encode("utf-8")


def test_a_failing_dot_is_shown_as_source_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: str, kind: str, output: str | None = None, dpi: float | None = None) -> bytes:
        raise diagram_module.ArchscopeError("Graphviz's dot could not render the diagram: syntax error")

    monkeypatch.setattr(diagram_module, "render", broken)
    monkeypatch.setattr(diagram_module, "dot_available", lambda: True)
    g = Diagram("digraph x {}", "x")
    bundle = g._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Graphviz's dot could not render the diagram: syntax error")


# ---------------------------------------------------------------- the command line


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["graph", *args])
    return result.exit_code, result.stdout, result.output


def test_cli_options_size_legend_and_dpi(tmp_path: Path) -> None:
    code, text, output = run_cli(MYNET, "--input", "3x32x32", "--size", "8,10", "--no-legend")
    assert code == 0, output
    assert 'size="8,10"' in text and "/legend" not in text
    code, _, output = run_cli(MYNET, "--input", "3x32x32", "--size", "huge")
    assert code == 2 and "width,height in inches" in " ".join(output.split())
    code, _, output = run_cli(MYNET, "--input", "3x32x32", "--dpi", "150", "-o", str(tmp_path / "g.svg"))
    assert code == 2 and "PNG" in output and not (tmp_path / "g.svg").exists()
    code, text, output = run_cli("resnet50")
    assert code == 0 and "depth 2 of 4: --depth 4 draws every layer" in text
    assert run_cli("resnet50", "--expand")[1].count("Bottleneck ×") == 0


@needs_dot
def test_cli_png_dpi(tmp_path: Path) -> None:
    code, _, output = run_cli(MYNET, "--input", "3x32x32", "--dpi", "48", "-o", str(tmp_path / "g.png"))
    assert code == 0, output
    width, _ = struct.unpack(">II", (tmp_path / "g.png").read_bytes()[16:24])
    code, _, output = run_cli(MYNET, "--input", "3x32x32", "-o", str(tmp_path / "g96.png"))
    assert code == 0, output
    width96, _ = struct.unpack(">II", (tmp_path / "g96.png").read_bytes()[16:24])
    assert abs(width - width96 / 2) <= 2  # half of the 96-dpi picture's width


def test_docs_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", doc.split("## From Python", 1)[1], re.S)[0]
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    monkeypatch.chdir(tmp_path)
    if not HAS_DOT:
        code = code.replace('g.save("net.svg")', 'g.save("net.dot")')
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/graph.md", "exec"), namespace)  # noqa: S102
    g, inc = namespace["g"], namespace["inc"]
    assert namespace["dot_text"] == g.source and namespace["t"] is g.trace
    assert (tmp_path / ("net.svg" if HAS_DOT else "net.dot")).stat().st_size > 0
    assert inc.depth == 2 and "rankdir=LR" in inc.source and "/legend" not in inc.source
    assert re.fullmatch(r"<Diagram build_net: 13 nodes, every layer, dot (available|not installed)>", repr(g))
