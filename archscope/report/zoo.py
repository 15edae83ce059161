"""The zoo listing as a rich table (parameters from the spec layout, no torch)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from archscope.report import units
from archscope.spec.inputs import fmt_shape
from archscope.spec.sites import layout
from archscope.zoo.registry import ZooEntry


def render_zoo(entries: Sequence[ZooEntry]) -> Table:
    table = Table(title=f"archscope zoo ({len(entries)} models)", title_justify="left")
    table.add_column("Name")
    table.add_column("Family")
    table.add_column("Params", justify="right")
    table.add_column("Input", justify="right")
    table.add_column("Paper")
    for e in entries:
        spec = e.spec()
        paper = f"{e.paper} (arXiv:{e.arxiv})" if e.arxiv else e.paper
        table.add_row(e.name, e.family, units.count(layout(spec).params),
                      fmt_shape(spec.input, None), paper)
    return table
