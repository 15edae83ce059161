"""The rich, tree-indented summary table."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archscope.report import units
from archscope.report.footer import footer_lines
from archscope.report.rows import shown_params, visible
from archscope.spec.expect import Check
from archscope.tracer.records import Trace

_MARK = {"match": ("✓", "green"), "channels match": ("~", "yellow"), "mismatch": ("✗", "bold red")}


def render_table(trace: Trace, depth: int | None = 3) -> RenderableType:
    has_checks = bool(trace.checks)
    table = Table(title=f"{trace.model}", title_justify="left", show_lines=False)
    table.add_column("Layer")
    table.add_column("Type", style="cyan")
    table.add_column("Output shape", justify="right")
    table.add_column("Params", justify="right")
    if has_checks:
        table.add_column("Expected")
    for rec in visible(trace, depth):
        label = "  " * (rec.depth - 1) + (rec.name.rsplit(".", 1)[-1] or rec.name)
        if rec.call > 1:
            label += f" (call {rec.call})"
        params = shown_params(rec, depth)
        cells: list[Text | str] = [label, rec.type, units.shapes(rec.output_shapes),
                                   "(shared)" if rec.call > 1 else units.count(params) if params else "—"]
        if has_checks:
            cells.append(_expected(rec.check))
        table.add_row(*cells, style="red" if rec.check and not rec.check.ok else None)
    footer = Text("\n".join(footer_lines(trace)))
    return Group(table, footer)


def _expected(check: Check | None) -> Text:
    if check is None:
        return Text("")
    mark, style = _MARK[check.status]
    return Text(f"{mark} {check.expect}", style=style)
