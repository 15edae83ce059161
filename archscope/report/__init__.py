"""Pure functions from a trace to text: rich table, JSON, CSV, Markdown, an HTML report.

``FORMATS`` maps each ``--format`` name to where its renderer lives ("module:function",
as the command line's ``COMMANDS`` do); :func:`renderer` imports it when it is used, so
a table never imports the HTML page and ``from archscope.report import units`` imports
no renderer at all. A renderer is the only one of its format: what an analysis adds
(``summary --symbolic``, ``--receptive-field``) it takes as ``extra``
(:mod:`archscope.report.columns`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archscope.report.html.page import render_html
    from archscope.report.machine import render_csv, render_json, render_markdown
    from archscope.report.table import render_table

Renderer = Callable[..., Any]
FORMATS: dict[str, str] = {
    "table": "archscope.report.table:render_table",
    "json": "archscope.report.machine:render_json",
    "csv": "archscope.report.machine:render_csv",
    "markdown": "archscope.report.machine:render_markdown",
    "html": "archscope.report.html.page:render_html",  # also takes the dataflow (``flow=``): the report's diagram
}


def renderer(name: str) -> Renderer:
    """The renderer of the format ``name`` (a key of :data:`FORMATS`)."""
    module, _, function = FORMATS[name].partition(":")
    found: Renderer = getattr(importlib.import_module(module), function)
    return found


def __getattr__(name: str) -> Any:  # ``from archscope.report import render_json``, imported on first use
    for format, where in FORMATS.items():
        if where.endswith(f":{name}"):
            return renderer(format)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORMATS", "render_csv", "render_html", "render_json", "render_markdown", "render_table", "renderer"]
