"""The summary table at any width: nothing cut at 60, 80, 120 or 200 columns, columns dropped
by priority and named in the footer, pipes and files at full width (issue 16, point 5)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

import archscope
from archscope.cli import output
from archscope.cli.main import app
from archscope.report import units
from archscope.report.columns import NONE, Additions, merged
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.report.table import SummaryTable, render_table
from archscope.tracer.records import LayerRecord, Trace

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (60, 80, 120, 200)
CORE = ("Layer", "Output shape", "Params", "MACs")


@cache
def case(name: str) -> tuple[Trace, Additions, int | None]:
    from archscope.analysis.receptive import by_module
    from archscope.analysis.symbolic import symbolic
    from archscope.api import spec_of
    from archscope.report.analysis import analysis_additions, spec_fields
    from archscope.report.training import training_additions

    if name == "resnet50":
        return archscope.trace("resnet50"), NONE, 3
    if name == "inception_v3":
        return archscope.trace("inception_v3", input_size=(3, 299, 299)), NONE, 3
    if name == "efficientnet_v2_l":  # deep names: the core alone is 61 columns wide
        return archscope.trace("efficientnet_v2_l"), NONE, None
    if name == "resnet18 training":
        t = archscope.trace("resnet18", training=archscope.Training())
        return t, training_additions(t, 3), 3
    if name == "resnet50 everything":  # --symbolic --receptive-field --training
        t = archscope.trace("resnet50", train=True, training=archscope.Training())
        spec = spec_of("resnet50", "--symbolic")
        extra = merged(analysis_additions(t, symbolic(spec), spec_fields(by_module(spec, True)), True),
                       training_additions(t, 3))
        return t, extra, 3
    if name == "mismatch":
        spec = (ROOT / "docs" / "examples" / "tiny.yaml").read_text().replace('expect: "N×96×16×16"',
                                                                             'expect: "N×97×16×16"')
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"archscope-widths-{os.getpid()}.yaml"
        path.write_text(spec)
        try:
            return archscope.trace(str(path), batch=3), NONE, 3
        finally:
            path.unlink()
    raise AssertionError(name)


CASES = ("resnet50", "inception_v3", "efficientnet_v2_l", "resnet18 training", "resnet50 everything", "mismatch")


def draw(renderable: object, width: int) -> list[str]:
    buf = io.StringIO()
    Console(width=width, file=buf, no_color=True, highlight=False).print(renderable, crop=False)
    return buf.getvalue().splitlines()


def expected_cells(trace: Trace, extra: Additions, depth: int | None, rec: LayerRecord) -> dict[str, str]:
    """Every column's text for ``rec``, from the record (without the Layer indentation)."""
    params = shown_params(rec, depth)
    cells = {"Layer": (rec.name.rsplit(".", 1)[-1] if rec.depth else ROOT_LABEL)
             + (f" (call {rec.call})" if rec.call > 1 else ""),
             "Type": rec.type if rec.depth else "",
             "Output shape": ((extra.shape(rec) if extra.shape else units.shapes(rec.output_shapes))
                              if rec.depth else ""),
             "Params": "(shared)" if rec.call > 1 else units.count(params) if params else "—",
             "MACs": units.cost(shown_macs(rec, depth)),
             "Output mem": units.nbytes(rec.output_bytes) if rec.depth else ""}
    cells.update({c.head: c.cell(rec) if rec.depth else "" for c in extra.shown})
    return cells


def heads(trace: Trace, extra: Additions) -> list[str]:
    return ["Layer", "Type", "Output shape", "Params", "MACs", "Output mem", *(c.head for c in extra.shown),
            *(["Expected"] if trace.checks else [])]


def not_shown(lines: list[str], width: int) -> list[str]:
    text = " ".join(" ".join(lines).split())
    found = re.search(rf"{width} columns: (.*?) not shown", text)
    return found.group(1).split(", ") if found else []


def _styled(renderable: object, width: int) -> list[tuple[str, str]]:
    """Every character drawn, with the style it is drawn in (a terminal's, colours on)."""
    console = Console(width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      highlight=False)
    return [(ch, str(seg.style or "")) for seg in console.render(renderable, console.options) for ch in seg.text]


def _as_rich_draws_it(table: SummaryTable, layout: object) -> object:
    """The same columns and cells in rich's own ``Table`` (what SummaryTable drew before it
    drew its table itself)."""
    from rich.table import Table
    from rich.text import Text

    drawn = Table(title=Text(table.trace.model), title_justify="left")
    for column in layout.columns:  # type: ignore[attr-defined]
        if layout.compact:  # type: ignore[attr-defined]
            drawn.add_column(column.head, justify=column.justify, style=column.style, width=column.width(True),
                             overflow="fold")
        else:
            drawn.add_column(column.head, justify=column.justify, style=column.style)
    for i, style in enumerate(table.row_styles):
        cells = [c.shown(layout.compact)[i] for c in layout.columns]  # type: ignore[attr-defined]
        drawn.add_row(*[c if isinstance(c, Text) else Text(c) for c in cells], style=style)
    return drawn


@pytest.mark.parametrize("name", CASES)
def test_the_table_is_drawn_as_rich_s_table_draws_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SummaryTable draws its lines itself (ten times faster than rich's Table): the same
    characters in the same styles as rich's Table of the same cells, at every width (full,
    compact, narrowed, drawn wider than the width), with failed checks' red rows, the
    Expected column's marks and the added columns of the analyses and of training."""
    trace, extra, depth = case(name)
    natural = SummaryTable(trace, depth, extra=extra).layout(None).width
    for width in (*WIDTHS, natural, natural - 1):
        ours = _styled(render_table(trace, depth=depth, extra=extra), width)
        with monkeypatch.context() as m:
            m.setattr(SummaryTable, "_table", _as_rich_draws_it)
            theirs = _styled(render_table(trace, depth=depth, extra=extra), width)
        assert "".join(c for c, _ in ours) == "".join(c for c, _ in theirs), width
        assert ours == theirs, width


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", CASES)
def test_nothing_is_cut_and_the_footer_names_what_is_not_shown(name: str, width: int) -> None:
    trace, extra, depth = case(name)
    table = render_table(trace, depth=depth, extra=extra)
    lines = draw(table, width)
    text = "\n".join(lines)
    assert "…" not in text
    needs = table.layout(width).width if isinstance(table, SummaryTable) else width
    if needs > width:  # only when the core columns alone do not fit: drawn whole, and said
        assert max(map(cell_len, lines)) == needs
        assert f"{width} columns: " in text and f"the table still needs {needs}" in " ".join(text.split())
    else:
        assert max(map(cell_len, lines)) <= width
    dropped = not_shown(lines, width)
    every = heads(trace, extra)
    assert not set(CORE) & set(dropped) and set(dropped) <= set(every)
    kept = [h for h in every if h not in dropped]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    records = visible(trace, depth)
    assert len(rows) == len(records)  # one line a layer: no cell wrapped
    for rec, row in zip(records, rows, strict=True):
        assert len(row) == len(kept)
        want = expected_cells(trace, extra, depth, rec)
        for head, cell in zip(kept, row, strict=True):
            if head == "Expected":
                check = rec.check
                assert cell == "" if check is None else cell in (f"{'✓'} {check.expect}", "✓") \
                    if check.status == "match" else cell.endswith(f" {check.expect}"), (head, cell)
            else:
                assert cell == want[head], (name, width, head, cell, want[head])
    if width == 200 and name in ("resnet50", "inception_v3", "mismatch", "resnet18 training"):
        assert dropped == [] and "columns:" not in text  # the full table
    if dropped:
        assert "a wider terminal, a pipe or -o FILE shows every column" in " ".join(text.split())


def test_at_80_columns_resnet50_loses_only_its_type_column_and_keeps_whole_shapes() -> None:
    trace, _, _ = case("resnet50")
    lines = draw(render_table(trace), 80)
    assert not_shown(lines, 80) == ["Type"]
    assert "│ conv1        │ 1×64×112×112 │     9,408 │  118M │   3.06 MiB │ ✓        │" in lines
    assert "│   downsample │  1×256×56×56 │    16,896 │ 51.4M │   3.06 MiB │          │" in lines


def test_at_80_columns_inception_keeps_its_layer_names_whole() -> None:
    trace, _, _ = case("inception_v3")
    text = "\n".join(draw(render_table(trace), 80))
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_4a_3x3", "Mixed_5b", "1×192×71×71", "1×2048×8×8"):
        assert name in text


def test_a_failed_check_keeps_its_expected_shape_longer_than_output_memory() -> None:
    trace, _, _ = case("mismatch")
    table = render_table(trace)
    assert isinstance(table, SummaryTable)
    widths = [w for w in range(40, 120) if "Expected" in [c.head for c in table.layout(w).columns]
              and "Output mem" not in [c.head for c in table.layout(w).columns]]
    assert widths, "Expected is kept where Output mem is not"
    assert "✗ N×97×16×16" in "\n".join(draw(table, widths[0]))


def test_the_full_table_at_200_columns_is_what_it_always_was() -> None:
    trace, _, _ = case("resnet50")
    lines = draw(render_table(trace), 200)
    assert lines[2] == ("┃ Layer          ┃ Type              ┃ Output shape ┃    Params ┃  MACs ┃ Output mem ┃ "
                        "Expected       ┃")
    assert "│ conv1          │ Conv2d            │ 1×64×112×112 │     9,408 │  118M │   3.06 MiB │ ✓ N×64×112×112 │" \
        in lines


# ---------------------------------------------------------------- the command line

runner = CliRunner()


def test_a_pipe_and_a_file_get_every_column_at_full_width_whatever_columns_says(tmp_path: Path) -> None:
    args = ["summary", "resnet50", "--training", "--receptive-field"]
    piped = runner.invoke(app, args, env={"COLUMNS": "60"})
    assert piped.exit_code == 0, piped.output
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "x.txt")]).exit_code == 0
    for text in (piped.stdout, (tmp_path / "x.txt").read_text()):
        lines = text.splitlines()
        head = next(line for line in lines if line.startswith("┃ Layer"))
        for column in ("Type", "Output shape", "Output mem", "RF", "Jump", "Start", "In-grad MACs", "W-grad MACs",
                       "Saved", "Expected"):
            assert f" {column} " in head
        assert cell_len(head) > 160  # wider than the old fixed width: nothing squeezed
        assert "…" not in text and "not shown" not in text


def test_a_terminal_of_80_columns_gets_a_table_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    result = runner.invoke(app, ["summary", "inception_v3", "--input", "299"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(cell_len, lines)) <= 80 and "…" not in result.stdout
    assert not_shown(lines, 80) == ["Type"]
    assert any(line.startswith("│ Conv2d_4a_3x3 ") for line in lines)


@pytest.mark.skipif(shutil.which("script") is None or shutil.which("archscope") is None,
                    reason="needs util-linux's script and the console script")
def test_a_real_terminal_honours_columns() -> None:
    env = {**os.environ, "COLUMNS": "60", "NO_COLOR": "1"}
    out = subprocess.run(["script", "-qc", "archscope summary resnet50", "/dev/null"], capture_output=True,
                         text=True, env=env, check=True, timeout=300).stdout
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in out.replace("\r", "").splitlines()]
    assert max(map(cell_len, lines)) <= 60 and "…" not in out
    assert not_shown(lines, 60) == ["Type", "Output mem", "Expected"]
    assert any(line.startswith("│ conv1 ") and "1×64×112×112" in line for line in lines)


def test_names_that_look_like_rich_markup_are_shown_as_written() -> None:
    from torch import nn

    model = nn.Sequential()
    model.add_module("[red]x", nn.Linear(4, 4))
    model.add_module("[bold]", nn.ReLU())
    text = str(archscope.trace(model, input_size=(4,)))
    assert "[red]x" in text and "[bold]" in text


# ---------------------------------------------------------------- archscope diff at any width

DIFFS = (("resnet50", "resnext50_32x4d"), ("densenet121", "densenet169"), ("inception_v3", "googlenet"))


@cache
def diff_case(a: str, b: str) -> object:
    from archscope.analysis.diff import diff_targets

    return diff_targets(a, b)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("a", "b"), DIFFS)
def test_diff_cuts_no_name_and_no_number_and_says_what_it_drops(a: str, b: str, width: int) -> None:
    from archscope.report.diff import layer_label, render_table, rows, what_changed

    diff = diff_case(a, b)
    lines = draw(render_table(diff), width)
    text = "\n".join(lines)
    assert "…" not in text
    dropped = not_shown(lines, width)
    assert set(dropped) <= {"Params a", "Params b", "MACs a", "MACs b"}
    if dropped:
        assert dropped[:2] == ["MACs a", "MACs b"] or dropped == ["Params a", "Params b", "MACs a", "MACs b"]
    needs = re.search(r"the table still needs (\d+)", " ".join(text.split()))
    assert max(map(cell_len, lines)) <= (int(needs.group(1)) if needs else width)
    body = [line for line in lines if line.startswith("│")]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in body]
    names = " ".join(c[0] for c in cells)  # a name in one cell, or an "a → b" over two lines
    said = " ".join(" ".join(c[1] for c in cells).split())
    for row in rows(diff):
        assert " ".join(layer_label(row).split()) in " ".join(names.split())
        assert what_changed(row) in said  # wrapped at its words, every word whole
    if width == 200 and a == "resnet50":
        assert dropped == [] and "columns:" not in text
