"""The one stdout sink: print to the terminal or write a file atomically."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archscope.fileio import write_atomic
from archscope.report import console

# What an --output file's suffix says its format is, when --format is not given
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown", ".txt": "table",
                  ".html": "html", ".htm": "html"}


def format_for(given: Any, output: str | None, default: str = "table") -> str:
    """The format to write: ``--format`` when given (it wins), else the one ``output``'s suffix
    names (``-o r50.json`` writes JSON), else ``default``."""
    if given is not None:
        return str(getattr(given, "value", given))
    return SUFFIX_FORMATS.get(Path(output).suffix.lower(), default) if output else default


def emit(content: Any, output: str | None) -> None:
    """Print ``content`` (text or a rich renderable) to stdout, or write it to ``output``; how
    wide: :mod:`archscope.report.console` (a terminal's width, else every table whole)."""
    if isinstance(content, str):
        if output:
            write_atomic(output, content)
        else:
            sys.stdout.write(content)
        return
    if output:
        buf = io.StringIO()
        console.write(content, buf, terminal=False)
        write_atomic(output, buf.getvalue())
    else:
        console.write(content, terminal=is_terminal())


def is_terminal() -> bool:
    return sys.stdout.isatty()


@contextmanager
def progress(what: str, unit: str) -> Iterator[Callable[[int], None] | None]:
    """A transient status line on a terminal's stderr while long work runs, updated with a
    count (``what: 12 sizes so far``); nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status(what) as status:
        yield lambda n: status.update(f"{what}: {n} {unit} so far")
