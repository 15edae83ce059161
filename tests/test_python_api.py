"""The Python API for scripts and notebooks: ``archscope.summary``, how a ``Trace`` shows
itself (``repr``, ``str``, ``_repr_html_``), ``to_pandas``, and the HTML table's contract."""

from __future__ import annotations

import io
import runpy
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from torch import nn
from typer.testing import CliRunner

import archscope
import archscope.api
from archscope.cli.main import app
from archscope.errors import UsageError
from archscope.report import units
from archscope.report.footer import footer_lines
from archscope.report.html import TABLE_CSS, table_html
from archscope.report.machine import render_csv
from archscope.report.rows import visible
from archscope.report.training import training_additions
from archscope.tracer.records import Trace

ROOT = Path(__file__).resolve().parent.parent
NET = "docs/examples/mynet.py:Net"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("COLUMNS", raising=False)  # text is drawn as to a pipe, as CliRunner's CLI draws it


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


# --- repr and str --------------------------------------------------------------------------------


def test_repr_is_one_short_line_with_the_model_and_its_numbers() -> None:
    t = archscope.trace("resnet50")
    text = repr(t)
    assert "\n" not in text and len(text) < 200
    assert text == ("<Trace resnet50: 25,557,032 params, 4.09G MACs, input 1×3×224×224 float32, "
                    f"{sum(1 for r in t.layers if r.is_leaf)} layers, on spec>")
    module = repr(archscope.trace(nn.Linear(20, 10), input_size=(20,), batch=4))
    assert module == "<Trace Linear: 210 params, 800 MACs, input 4×20 float32, 1 layer, on meta>"


def test_repr_says_a_mismatch_and_a_training_step_and_stays_short(tmp_path: Path) -> None:
    bad = (ROOT / "docs" / "examples" / "tiny.yaml").read_text().replace('expect: "N×96×16×16"',
                                                                         'expect: "N×97×16×16"')
    (tmp_path / "bad.yaml").write_text(bad)
    assert repr(archscope.trace(str(tmp_path / "bad.yaml"))).endswith(", on spec, 1 MISMATCH>")
    step = repr(archscope.trace(NET, input_size=32, training=archscope.Training()))
    assert step.endswith("on meta, train mode, training step>")
    many = nn.ModuleDict({"a": nn.Linear(4, 4)})
    many.forward = lambda **kw: sum(many["a"](v) for v in kw.values())  # type: ignore[method-assign]
    wide = repr(archscope.trace(many, input_size={f"input_number_{i}": (4,) for i in range(12)}))
    assert len(wide) < 200 and "…" in wide


def test_str_is_what_the_cli_prints() -> None:
    assert str(archscope.trace("resnet18")) == _cli("summary", "resnet18")
    assert str(archscope.trace("inception_v3", input_size="299", batch=2)) == _cli(
        "summary", "inception_v3", "--input", "299", "--batch", "2")


def test_str_of_a_training_step_has_its_columns_and_lines_as_the_cli() -> None:
    t = archscope.trace(NET, input_size="32", training=archscope.Training(optimizer="adamw"))
    assert str(t) == _cli("summary", NET, "--input", "32", "--training", "--optimizer", "adamw")
    assert "W-grad MACs" in str(t) and "Peak memory:" in str(t)


def test_str_fits_a_terminal_and_is_whole_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    t = archscope.trace("resnet18")
    monkeypatch.setenv("COLUMNS", "90")
    whole = str(t)  # stdout is no terminal here: whole, as the CLI writes to a pipe
    assert any("┃ Type " in line for line in whole.splitlines()) and max(len(line) for line in whole.splitlines()) > 90
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert max(len(line) for line in str(t).splitlines()) <= 90


# --- summary --------------------------------------------------------------------------------------


def test_summary_prints_the_cli_table_and_returns_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    t = archscope.summary("resnet18", input_size="3x224x224")
    assert isinstance(t, Trace) and t.totals.params == 11_689_512
    assert capsys.readouterr().out == _cli("summary", "resnet18", "--input", "3x224x224")
    archscope.summary("resnet50", depth=1, flops=True, by_type=True)
    assert capsys.readouterr().out == _cli("summary", "resnet50", "--depth", "1", "--flops", "--by-type")


def test_summary_of_a_module_and_a_training_step_and_every_layer(capsys: pytest.CaptureFixture[str]) -> None:
    net = runpy.run_path(str(ROOT / "docs" / "examples" / "mynet.py"))["Net"]()
    t = archscope.summary(net, input_size="32", training=archscope.Training(), depth=None)
    assert t.step is not None
    out = capsys.readouterr().out
    assert out == _cli("summary", NET, "--input", "32", "--training", "--depth", "100")
    assert "In-grad MACs" in out and "Training step (sgd" in out


def test_summary_writes_to_a_file_and_refuses_a_bad_depth() -> None:
    buf = io.StringIO()
    t = archscope.summary("lenet5", file=buf)
    assert buf.getvalue() == _cli("summary", "lenet5") and t.model == "lenet5"
    with pytest.raises(UsageError, match="depth must be a positive integer"):
        archscope.summary("lenet5", depth=0)


# --- HTML -----------------------------------------------------------------------------------------


class _Tree(HTMLParser):
    """Checks that every tag closes in order; collects each element with its attributes and text."""

    VOID = {"br", "meta", "img", "hr", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.root_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, dict(attrs), [])
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1][0] == tag, (tag, [e[0] for e in self.stack])
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element[2].append(data)

    def of(self, tag: str, cls: str | None = None) -> list[tuple[str, dict[str, str | None], list[str]]]:
        return [e for e in self.elements
                if e[0] == tag and (cls is None or cls in (e[1].get("class") or "").split())]


def _parse(text: str) -> _Tree:
    tree = _Tree()
    tree.feed(text)
    tree.close()
    assert not tree.stack, [e[0] for e in tree.stack]
    return tree


def _rows(tree: _Tree) -> list[tuple[str, dict[str, str | None], list[str]]]:
    body = tree.of("tbody")
    assert len(body) == 1
    return [e for e in tree.of("tr") if "data-name" in e[1]]


def _cells(text: str) -> list[list[tuple[dict[str, str | None], str]]]:
    """Each body row's cells: (attributes, text)."""
    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.rows: list[list[tuple[dict[str, str | None], str]]] = []
            self.cell: list[str] | None = None
            self.attrs: dict[str, str | None] = {}
            self.in_body = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "tbody":
                self.in_body = True
            elif tag == "tr" and self.in_body:
                self.rows.append([])
            elif tag == "td" and self.in_body:
                self.cell, self.attrs = [], dict(attrs)

        def handle_endtag(self, tag: str) -> None:
            if tag == "tbody":
                self.in_body = False
            elif tag == "td" and self.cell is not None:
                self.rows[-1].append((self.attrs, "".join(self.cell)))
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(text)
    return parser.rows


def test_repr_html_is_the_text_table_in_html() -> None:
    t = archscope.trace("resnet50")
    page = t._repr_html_()
    tree = _parse(page)
    assert len(tree.of("table", "as-table")) == 1 and len(tree.of("thead")) == 1
    assert "".join(tree.of("style")[0][2]).strip() == TABLE_CSS.strip()
    heads = ["".join(e[2]) for e in tree.of("th")]
    assert heads == ["Layer", "Type", "Output shape", "Params", "MACs", "Output mem", "Expected"]
    rows = _rows(tree)
    shown = visible(t, 3)
    assert [r[1]["data-name"] for r in rows] == [r.name for r in shown]
    assert all("hidden" not in r[1] for r in rows) and not tree.of("span", "as-toggle")
    assert "data-folded" not in page
    marks = tree.of("td", "as-check")
    checked = [rec for rec in shown if rec.check]
    assert len([m for m in marks if "".join(m[2])]) == len(checked) == 7  # conv1, maxpool, 4 stages, fc
    assert all("".join(m[2]).startswith("✓ N×") for m in marks if "".join(m[2]))
    assert all("as-ok" in (m[1]["class"] or "") for m in marks if "".join(m[2]))
    assert [r[1]["data-check"] for r in rows] == [rec.check.status if rec.check else "" for rec in shown]
    footer = tree.of("div", "as-footer")
    assert len(footer) == 1
    lines = ["".join(e[2]) for e in tree.elements[tree.elements.index(footer[0]) + 1:] if e[0] == "div"]
    assert lines == footer_lines(t)
    assert "Total params: 25,557,032 (25.6M)" in lines and "Total MACs: 4.09G (4,089,184,256)" in lines
    assert any(line.startswith("Convention (torchvision): MACs: multiply-accumulates") for line in lines)
    assert any(line.startswith("expected shapes: ") and line.endswith(" match") for line in lines)


def test_html_cells_are_the_text_tables_cells() -> None:
    for t in (archscope.trace("resnet18"), archscope.trace(NET, input_size="32", training=archscope.Training())):
        html_rows = [[text for _, text in row] for row in _cells(t._repr_html_())]
        text_rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in str(t).splitlines()
                     if line.startswith("│")]
        assert html_rows == text_rows and len(html_rows) == len(visible(t, 3))


def test_a_mismatch_is_a_red_row_with_a_cross(tmp_path: Path) -> None:
    bad = (ROOT / "docs" / "examples" / "tiny.yaml").read_text().replace('expect: "N×96×16×16"',
                                                                         'expect: "N×97×16×16"')
    (tmp_path / "bad.yaml").write_text(bad)
    t = archscope.trace(str(tmp_path / "bad.yaml"))
    tree = _parse(t._repr_html_())
    red = [r for r in _rows(tree) if "as-mismatch" in (r[1].get("class") or "")]
    assert [r[1]["data-name"] for r in red] == ["res"] and red[0][1]["data-check"] == "mismatch"
    assert ["".join(m[2]) for m in tree.of("td", "as-bad")] == ["✗ N×97×16×16"]
    assert any("".join(e[2]) == "  mismatch at res: expected N×97×16×16, traced 1×96×16×16"
               for e in tree.of("div"))


class _Evil(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.add_module("<script>alert('x')</script>", nn.Linear(2, 2))
        self.add_module('q"uote&amp', type("Bad<b>Type</b>", (nn.ReLU,), {})())

    def forward(self, x: Any) -> Any:
        for child in self.children():
            x = child(x)
        return x


def test_html_escapes_what_user_code_names() -> None:
    t = archscope.trace(_Evil(), input_size=(2,))
    for page in (t._repr_html_(), table_html(t, interactive=True)):
        tree = _parse(page)
        assert {e[0] for e in tree.elements} <= {"div", "style", "table", "caption", "thead", "tbody", "tr", "th",
                                                 "td", "span"}
        rows = _rows(tree)
        assert [r[1]["data-name"] for r in rows if r[1]["data-name"]] == ["<script>alert('x')</script>",
                                                                          'q"uote&amp']
        texts = ["".join(e[2]) for e in tree.of("td")]
        assert "<script>alert('x')</script>" in texts and "Bad<b>Type</b>" in texts and 'q"uote&amp' in texts
        assert "<script>" not in page and "<b>" not in page


# --- the interactive table ------------------------------------------------------------------------


def _number(text: str | None) -> int:
    assert text is not None
    return 0 if text in ("—", "(shared)", "") else int(text.replace(",", ""))


def test_interactive_has_every_record_the_deeper_hidden_and_folding_texts() -> None:
    t = archscope.trace("resnet50")
    page = table_html(t, depth=2, interactive=True)
    tree = _parse(page)
    rows = _rows(tree)
    assert [r[1]["data-name"] for r in rows] == [r.name for r in t.layers]
    assert [r[1]["data-depth"] for r in rows] == [str(r.depth) for r in t.layers]
    assert [r[1]["data-leaf"] for r in rows] == [str(int(r.is_leaf)) for r in t.layers]
    on_view = {id(r) for r in visible(t, 2)}
    assert ["hidden" in r[1] for r in rows] == [id(r) not in on_view for r in t.layers]
    assert rows[0][1]["data-name"] == "" and "hidden" in rows[0][1]  # resnet50's own forward runs nothing
    cells = _cells(page)
    toggles = tree.of("span", "as-toggle")
    folding = [rec for rec in t.layers if not rec.is_leaf and rec.depth]
    assert len(toggles) == len(folding)
    assert ["".join(s[2]) for s in toggles] == ["▸" if rec.depth >= 2 else "▾" for rec in folding]
    for rec, row in zip(t.layers, cells, strict=True):
        params, macs = row[3][0], row[4][0]
        if rec in folding:
            assert _number(params["data-folded"]) == rec.params_total
            assert _number(params["data-open"]) == rec.params
            assert macs["data-folded"] == units.cost(rec.macs_total) and macs["data-open"] == units.cost(rec.macs)
            assert row[3][1] == (params["data-folded"] if rec.depth >= 2 else params["data-open"])
        else:
            assert "data-folded" not in params and "data-open" not in macs
    # the columns sum to the total at any folding: all open, or all folded at depth 1
    all_open = sum(_number(row[3][0].get("data-open", row[3][1])) for row in cells)
    at_one = sum(_number(row[3][0].get("data-folded", row[3][1])) for rec, row in zip(t.layers, cells, strict=True)
                 if rec.depth == 1) + t.layers[0].params
    assert all_open == at_one == t.totals.params
    assert not tree.of("span", "as-toggle")[0][1].get("hidden")


def test_interactive_folds_the_training_columns_and_the_notebook_table_does_not() -> None:
    t = archscope.trace(NET, input_size=32, training=archscope.Training())
    extra = training_additions(t, 1)
    page = table_html(t, 1, extra=extra, interactive=True)
    heads = ["".join(e[2]) for e in _parse(page).of("th")]
    assert heads[-3:] == ["In-grad MACs", "W-grad MACs", "Saved"]
    for rec, row in zip(t.layers, _cells(page), strict=True):
        saved = row[8][0]
        if not rec.is_leaf and rec.depth:
            assert saved["data-folded"] == (units.nbytes(rec.saved_bytes_total) if rec.saved_bytes_total else "—")
            assert saved["data-open"] == (units.nbytes(rec.saved_bytes) if rec.saved_bytes else "—")
            assert row[8][1] == saved["data-folded"]  # folded at depth 1
            assert row[7][0]["data-folded"] == units.cost(rec.grad_weight_macs_total)
        else:
            assert "data-folded" not in saved
    assert "data-folded" not in table_html(t, 1, extra=extra) and "hidden" not in table_html(t, 1, extra=extra)
    assert "<style>" not in table_html(t, css=False) and 'class="archscope"' in table_html(t, css=False)


# --- to_pandas ------------------------------------------------------------------------------------


def test_to_pandas_is_the_csv_export() -> None:
    pytest.importorskip("pandas")
    t = archscope.trace("resnet18")
    df = t.to_pandas()
    assert df.to_csv(index=False, lineterminator="\n") == render_csv(t) == _cli("summary", "resnet18", "-f", "csv")
    assert df.params_total.dtype.kind == "i" and int(df.params.sum()) == t.totals.params
    assert len(t.to_pandas(depth=2)) == len(visible(t, 2))
    step = archscope.trace(NET, input_size=32, training=archscope.Training())
    frame = step.to_pandas()
    assert frame.to_csv(index=False, lineterminator="\n") == _cli("summary", NET, "--input", "32", "--training",
                                                                  "-f", "csv")
    assert frame.saved_bytes.dtype.kind == "i" and int(frame.saved_bytes.sum()) == step.step.saved_bytes  # type: ignore[union-attr]


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"^to_pandas needs pandas: pip install pandas$"):
        archscope.trace("lenet5").to_pandas()


# --- the package ----------------------------------------------------------------------------------


def test_import_archscope_stays_light() -> None:
    probe = ("import sys, archscope; heavy = sorted({m.split('.')[0] for m in sys.modules} & "
             "{'torch', 'rich', 'pandas', 'typer', 'numpy'}); assert not heavy, heavy; "
             "assert callable(archscope.summary) and callable(archscope.graph); "
             "assert {'summary', 'graph', 'trace'} <= set(archscope.__all__)")
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=ROOT)


def test_graph_is_forwarded_to_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(archscope.api, "graph", lambda *a, **kw: calls.append((a, kw)) or "diagram", raising=False)
    assert archscope.graph("resnet18", (3, 64, 64), depth=2, expand=True) == "diagram"
    assert calls == [(("resnet18", (3, 64, 64)), {"depth": 2, "expand": True})]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_trace_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    """The library's entry points pause automatic collection while they build and run the
    model (archscope/collector.py) and restore it, whether the pass succeeds or the model
    breaks."""
    import gc

    seen: list[bool] = []

    class Watched(nn.Linear):
        def __init__(self) -> None:
            seen.append(gc.isenabled())  # while the model is built
            super().__init__(4, 2)

        def forward(self, x: Any) -> Any:
            seen.append(gc.isenabled())  # while it runs
            return super().forward(x)

    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        archscope.trace("resnet18", analytic=False)
        assert gc.isenabled() is enabled
        archscope.trace(Watched, input_size=(4,))
        assert seen == [False, False] and gc.isenabled() is enabled
        with pytest.raises(archscope.errors.ShapeError):
            archscope.trace(nn.Linear(4, 2), input_size=(5,))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
