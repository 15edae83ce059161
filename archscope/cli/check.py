"""``archscope check [DIR...] [--zoo]``: fail CI when an architecture changes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archscope.snapshot.report import CHECK_FORMATS

if TYPE_CHECKING:  # the members are the renderers' names, which mypy cannot see
    CheckFormat = Any
else:
    CheckFormat = Enum("CheckFormat", {k: k for k in CHECK_FORMATS}, type=str)  # archscope.snapshot.report's renderers


def check(
    paths: Annotated[list[str] | None, typer.Argument(help="Snapshot directories or files.",
                                                     show_default=False)] = None,
    zoo: Annotated[bool, typer.Option("--zoo", help="Check every zoo model's documented shapes and "
                                                    "published parameters and MACs.")] = False,
    update: Annotated[bool, typer.Option("--update", help="Accept the new architecture: rewrite the "
                                                          "snapshots that changed (atomically).")] = False,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="table, github (Actions annotations) "
                                                                    "or json.")] = CheckFormat.table,
    junit_xml: Annotated[str | None, typer.Option("--junit-xml", help="Also write a JUnit XML report here.",
                                                  show_default=False)] = None,
) -> None:
    """Retrace each snapshot's model and compare output shapes, parameters and MACs per layer.

    Exit 0 when nothing changed, 1 on any change or expected-shape mismatch,
    2 on usage errors (missing directory, unreadable or corrupt snapshot). See docs/ci.md.
    """
    from archscope import zoo as zoo_models
    from archscope.cli.output import emit
    from archscope.errors import UsageError
    from archscope.fileio import check_writable, write_atomic
    from archscope.snapshot.check import check_snapshots, check_zoo, snapshot_paths
    from archscope.snapshot.report import CHECK_FORMATS, render_junit

    if not paths and not zoo:
        raise UsageError("nothing to check: give snapshot directories or files, or --zoo")
    found = snapshot_paths(paths) if paths else []
    if junit_xml:
        check_writable(junit_xml, reads=found)
    results = []
    total = len(found) + (len(zoo_models.names()) if zoo else 0)
    with _progress(total) as advance:
        if found:
            results += check_snapshots(found, update=update, progress=advance)
        if zoo:
            results += check_zoo(progress=advance)
    emit(CHECK_FORMATS[fmt.value](results), None)
    if junit_xml:
        write_atomic(junit_xml, render_junit(results))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


class _progress:  # noqa: N801 (used as a context manager)
    """A progress bar on a terminal (stderr); silent otherwise. Call it with each item's name
    as its work starts."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __enter__(self) -> Callable[[str], None]:
        if not sys.stderr.isatty():
            return lambda name: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.description}"),
                                 console=Console(stderr=True), transient=True)
        self.progress.start()
        task = self.progress.add_task("", total=self.total)
        done = [-1]

        def advance(name: str) -> None:
            done[0] += 1
            self.progress.update(task, description=name, completed=done[0])

        return advance

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "progress"):
            self.progress.stop()
