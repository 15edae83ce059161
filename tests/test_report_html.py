"""The HTML report as a file (docs/report.md): self-contained, complete, escaped, and honest
without Graphviz. What a browser shows of it is tests/browser/test_report.py's business."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from torch import nn
from typer.testing import CliRunner

import archscope
from archscope.cli.main import app
from archscope.report.diagram import Diagram
from archscope.report.dot import fold
from archscope.report.html.page import report_html
from archscope.tracer.dataflow import recording

runner = CliRunner()
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the diagram needs Graphviz's dot")


class Page(HTMLParser):
    """What the page holds: its tags with attributes, the scripts' text, the templates."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def data(self) -> dict:
        (text,) = [t for a, t in self.scripts if a.get("id") == "as-data"]
        return json.loads(text)

    def rows(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "tr" and "data-name" in a]


def _traced(target: object, **kwargs: object) -> tuple[archscope.api.Trace, object]:
    with recording() as flow:
        t = archscope.trace(target, analytic=False, **kwargs)
    return t, flow.graph(t)


@needs_dot
def test_summary_writes_one_self_contained_page(tmp_path: Path) -> None:
    out = tmp_path / "r50.html"
    result = runner.invoke(app, ["summary", "resnet50", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # nothing from the network
    assert not any(a.get("src") for t, a in page.tags if t in ("script", "img", "link", "iframe"))
    trace = archscope.trace("resnet50", analytic=False)
    assert [r["data-name"] for r in page.rows()] == [r.name for r in trace.layers]
    data = page.data()
    runs = fold(_traced("resnet50")[1]).runs
    assert set(data["runs"]) == set(runs) == {"layer1.1", "layer2.1", "layer3.1", "layer4.1"}
    assert set(data["variants"]) == {"", "*", *runs}  # folded, each run alone open, all open
    templates = re.findall(r'<template id="as-variant-(\d+)">(.*?)</template>', text, re.S)
    assert sorted(int(i) for i, _ in templates) == sorted(data["variants"].values())
    assert all(svg.lstrip().startswith("<svg") for _, svg in templates)
    assert data["layers"]["layer1.0.conv2"]["out"] == "1×64×56×56"
    assert data["nodes"]["layer1.1.conv1"]["stands"] == "layer1.1–2: Bottleneck ×2"


def test_without_dot_the_page_has_the_table_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    out = tmp_path / "r18.html"
    result = runner.invoke(app, ["summary", "resnet18", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "no diagram, only the table" in result.stderr and "apt-get install graphviz" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert "<template id=" not in text and "not installed" in text
    assert len(Page(text).rows()) == len(archscope.trace("resnet18").layers)


def test_the_format_follows_the_suffix_and_goes_to_stdout_too() -> None:
    result = runner.invoke(app, ["summary", "lenet5", "-f", "html"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>") and 'data-name="conv1"' in result.stdout


HOSTILE = ["</script><script>alert(1)</script>", "<b>", 'a:b"\\%41']  # a DOT port, a quote, a backslash, a percent


def _hostile_page() -> tuple[str, Page]:
    model = nn.Sequential()
    model.add_module(HOSTILE[0], nn.Linear(4, 4))
    for name in HOSTILE[1:]:
        model.add_module(name, nn.ReLU())
    trace, flow = _traced(model, input_size=(4,))
    text = report_html(trace, flow)
    return text, Page(text)


def test_names_from_user_code_cannot_break_out_of_the_page() -> None:
    text, page = _hostile_page()
    assert len(page.scripts) == 2  # the data and the report's own script; nothing injected
    assert "<script>alert" not in text
    assert [r["data-name"] for r in page.rows()][1:] == HOSTILE
    assert set(HOSTILE) <= set(page.data()["layers"])


@needs_dot
def test_names_from_user_code_are_laid_out_in_the_page_s_diagram() -> None:
    """Graphviz lays them out (they used to be a DOT syntax error); without dot the page has
    no diagram, and says so (above)."""
    text, page = _hostile_page()
    assert len(page.scripts) == 2 and "<script>alert" not in text
    assert set(HOSTILE) <= set(page.data()["nodes"])


@needs_dot
def test_a_diagram_saves_as_the_interactive_page(tmp_path: Path) -> None:
    g = archscope.graph("resnet18")
    path = g.save(tmp_path / "r18.htm")
    data = Page(path.read_text(encoding="utf-8")).data()
    assert data["depth"] == g.depth and "layer1.0" in data["layers"]
    with pytest.raises(archscope.errors.UsageError, match="needs the run"):
        Diagram(g.source, "resnet18").html()


@needs_dot
def test_graph_html_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    result = runner.invoke(app, ["graph", "inception_v3", "--input", "299", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = Page(out.read_text(encoding="utf-8"))
    assert page.data()["runs"] == {} or all(k in page.data()["variants"] for k in page.data()["runs"])
    assert any(a.get("data-name") == "Mixed_5b" for a in page.rows())
