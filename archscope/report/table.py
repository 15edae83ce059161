"""The rich, tree-indented summary table."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archscope.report import units
from archscope.report.columns import NONE, Additions
from archscope.report.footer import footer_lines
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.spec.expect import Check
from archscope.tracer.records import Trace

_MARK = {"match": ("✓", "green"), "channels match": ("~", "yellow"), "mismatch": ("✗", "bold red")}


def render_table(trace: Trace, depth: int | None = 3, flops: bool = False, by_type: bool = False, *,
                 extra: Additions = NONE) -> RenderableType:
    """The summary table, with ``extra``'s columns (before Expected), output-shape text and
    footer lines (:mod:`archscope.report.columns`); the root row, if shown, has no shape
    and no added cells."""
    has_checks = bool(trace.checks)
    columns = extra.shown
    table = Table(title=f"{trace.model}", title_justify="left")
    table.add_column("Layer")
    table.add_column("Type", style="cyan")
    table.add_column("Output shape", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("FLOPs" if flops else "MACs", justify="right")
    table.add_column("Output mem", justify="right")
    for column in columns:
        table.add_column(column.head, justify="right")
    if has_checks:
        table.add_column("Expected")
    for rec in visible(trace, depth):
        label = "  " * (rec.depth - 1) + (rec.name.rsplit(".", 1)[-1] if rec.depth else ROOT_LABEL)
        if rec.call > 1:
            label += f" (call {rec.call})"
        params = shown_params(rec, depth)
        shown = (extra.shape(rec) if extra.shape else units.shapes(rec.output_shapes)) if rec.depth else ""
        row: list[Text | str] = [
            label, rec.type if rec.depth else "", shown,
            "(shared)" if rec.call > 1 else units.count(params) if params else "—",
            units.cost(shown_macs(rec, depth), flops), units.nbytes(rec.output_bytes) if rec.depth else ""]
        row += [c.cell(rec) if rec.depth else "" for c in columns]
        if has_checks:
            row.append(_expected(rec.check))
        table.add_row(*row, style="red" if rec.check and not rec.check.ok else None)
    parts: list[RenderableType] = [table]
    if by_type:
        parts.append(render_by_type(trace, flops))
    parts.append(Text("\n".join([*footer_lines(trace, flops), *extra.lines])))
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
