"""Pure functions from a trace to text: rich table, JSON, CSV, Markdown, an HTML report.

``FORMATS`` maps each ``--format`` name to its renderer; registering a name twice raises.
A renderer is the only one of its format: what an analysis adds (``summary --symbolic``,
``--receptive-field``) it takes as ``extra`` (:mod:`archscope.report.columns`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archscope.report.html.page import render_html
from archscope.report.machine import render_csv, render_json, render_markdown
from archscope.report.table import render_table

Renderer = Callable[..., Any]
FORMATS: dict[str, Renderer] = {}


def register_format(name: str, renderer: Renderer) -> None:
    if name in FORMATS:
        raise ValueError(f"output format {name!r} is registered twice")
    FORMATS[name] = renderer


register_format("table", render_table)
register_format("json", render_json)
register_format("csv", render_csv)
register_format("markdown", render_markdown)
register_format("html", render_html)  # also takes the dataflow (``flow=``): the report's diagram

__all__ = ["FORMATS", "register_format", "render_csv", "render_html", "render_json", "render_markdown",
           "render_table"]
