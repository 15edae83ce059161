"""HTML renderings of a trace: the summary table (:mod:`archscope.report.html.table`), shown
inline by ``Trace._repr_html_`` in notebooks and, interactive, in the full HTML report."""

from __future__ import annotations

from archscope.report.html.table import TABLE_CSS, table_html

__all__ = ["TABLE_CSS", "table_html"]
