"""The rich, tree-indented summary table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archscope.report import units
from archscope.report.footer import footer_lines
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.spec.expect import Check
from archscope.tracer.records import LayerRecord, Trace

_MARK = {"match": ("✓", "green"), "channels match": ("~", "yellow"), "mismatch": ("✗", "bold red")}


def render_table(trace: Trace, depth: int | None = 3, flops: bool = False, by_type: bool = False, *,
                 shape: Callable[[LayerRecord], str] | None = None, columns: Sequence[str] = (),
                 cells: Callable[[LayerRecord], list[str]] | None = None,
                 lines: Sequence[str] = ()) -> RenderableType:
    """The summary table; ``shape`` replaces the output-shape text, ``columns`` and ``cells``
    add columns (before Expected), ``lines`` go under the footer (see report/analysis.py)."""
    has_checks = bool(trace.checks)
    table = Table(title=f"{trace.model}", title_justify="left")
    table.add_column("Layer")
    table.add_column("Type", style="cyan")
    table.add_column("Output shape", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("FLOPs" if flops else "MACs", justify="right")
    table.add_column("Output mem", justify="right")
    for head in columns:
        table.add_column(head, justify="right")
    if has_checks:
        table.add_column("Expected")
    for rec in visible(trace, depth):
        label = "  " * (rec.depth - 1) + (rec.name.rsplit(".", 1)[-1] if rec.depth else ROOT_LABEL)
        if rec.call > 1:
            label += f" (call {rec.call})"
        params = shown_params(rec, depth)
        shown = (shape(rec) if shape else units.shapes(rec.output_shapes)) if rec.depth else ""
        row: list[Text | str] = [
            label, rec.type if rec.depth else "", shown,
            "(shared)" if rec.call > 1 else units.count(params) if params else "—",
            units.cost(shown_macs(rec, depth), flops), units.nbytes(rec.output_bytes) if rec.depth else ""]
        if columns:
            row += cells(rec) if cells and rec.depth else [""] * len(columns)
        if has_checks:
            row.append(_expected(rec.check))
        table.add_row(*row, style="red" if rec.check and not rec.check.ok else None)
    parts: list[RenderableType] = [table]
    if by_type:
        parts.append(render_by_type(trace, flops))
    parts.append(Text("\n".join([*footer_lines(trace, flops), *lines])))
    return Group(*parts)


def render_by_type(trace: Trace, flops: bool = False) -> Table:
    """MACs (or FLOPs) per operator category, largest first."""
    table = Table(title="by operator type", title_justify="left")
    table.add_column("Operator type")
    table.add_column("FLOPs" if flops else "MACs", justify="right")
    table.add_column("Share", justify="right")
    total = trace.totals.macs or 1
    for category, macs in trace.macs_by_category.items():
        table.add_row(category, units.count(2 * macs if flops else macs), f"{100 * macs / total:.1f}%")
    return table


def _expected(check: Check | None) -> Text:
    if check is None:
        return Text("")
    mark, style = _MARK[check.status]
    return Text(f"{mark} {check.expect}", style=style)
