"""Where rich output goes, and how wide: one rule for ``archscope summary``, ``archscope.summary()``
and ``print(trace)``.

A terminal is as wide as it says (rich reads it, or ``COLUMNS``), and the summary table fits
itself to it (:class:`archscope.report.table.SummaryTable`). Anything else — a pipe, a file,
a notebook — gets every table whole, at its natural width, whatever ``COLUMNS`` says; prose
there wraps at :data:`PROSE_WIDTH` columns, or at the widest table's width if wider.
"""

from __future__ import annotations

import io
import shutil
import sys
from typing import IO, Any

from rich.console import Console, Group
from rich.measure import Measurement
from rich.text import Text

PROSE_WIDTH = 160  # where a pipe's and a file's prose wraps (their tables are as wide as they need)


def write(content: Any, file: IO[str] | None = None, *, terminal: bool | None = None) -> None:
    """Print ``content`` (a rich renderable) to ``file`` (default stdout) by the rule above;
    ``terminal`` overrides whether ``file`` is one."""
    console = Console(file=file, highlight=False)
    if terminal is False or (terminal is None and not console.is_terminal):
        console = Console(file=file, width=full_width(content), highlight=False)
    console.print(content, crop=False)  # a table wider than the terminal (it says so) stays whole


def text(content: Any) -> str:
    """``content`` as plain text, as wide as stdout would show it: the terminal's width when
    stdout is one, else whole."""
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else full_width(content)
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False).print(content, crop=False)
    return buf.getvalue()


def full_width(content: Any) -> int:
    """The width that draws every table in ``content`` whole: the widest's natural width, at
    least :data:`PROSE_WIDTH`."""
    return max(PROSE_WIDTH, _table_width(content))


def _table_width(content: Any) -> int:
    if isinstance(content, (str, Text)):
        return 0
    if isinstance(content, Group):
        return max((_table_width(r) for r in content.renderables), default=0)
    probe = Console(width=100_000, file=io.StringIO())
    return Measurement.get(probe, probe.options, content).maximum
