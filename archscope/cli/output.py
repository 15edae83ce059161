"""The one stdout sink: print to the terminal or write a file atomically."""

from __future__ import annotations

import io
import sys
from typing import Any

from rich.console import Console

from archscope.fileio import write_atomic


def emit(content: Any, output: str | None) -> None:
    """Print ``content`` (text or a rich renderable) to stdout, or write it to ``output``."""
    if isinstance(content, str):
        if output:
            write_atomic(output, content)
        else:
            sys.stdout.write(content)
        return
    if output:
        buf = io.StringIO()
        Console(file=buf, width=160, no_color=True, highlight=False).print(content)
        write_atomic(output, buf.getvalue())
    else:
        width = None if sys.stdout.isatty() else 160
        Console(width=width, highlight=False).print(content)
