"""``archscope sizes MODEL``: which input sizes a model takes, and the layer that decides."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from archscope.errors import ShapeError
    from archscope.spec.nodes import Model


class SizesFormat(str, Enum):
    text = "text"
    json = "json"


def sizes(
    model: Annotated[str, typer.Argument(help="A zoo name (see 'archscope list') or a spec file (.yaml, .yml, "
                                              ".json).", show_default=False)],
    train: Annotated[bool, typer.Option("--train", help="Sizes for training mode (auxiliary heads run).")] = False,
    fmt: Annotated[SizesFormat, typer.Option("--format", "-f", help="Output format.")] = SizesFormat.text,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.",
                                               show_default=False)] = None,
) -> None:
    """Show the smallest input the model takes, the layer that sets it, whether every larger
    input works (a classifier built for a fixed size does not), and a few examples.

    Derived from the spec, without torch: see docs/analysis.md.
    """
    from archscope.analysis.sizes import analyse_sizes
    from archscope.cli.options import model_files
    from archscope.cli.output import emit
    from archscope.fileio import check_writable
    from archscope.report.analysis import render_sizes, sizes_json

    if output:
        check_writable(output, reads=model_files(model))
    report = analyse_sizes(spec_of(model, "sizes"), train=train)
    emit(sizes_json(report) if fmt is SizesFormat.json else render_sizes(report), output)


def spec_of(model: str, what: str) -> Model:
    """The spec behind a zoo name or spec file; a usage error for an import path."""
    from archscope.builder.load import resolve
    from archscope.errors import UsageError, echo
    from archscope.snapshot.files import kind_of

    if kind_of(model) == "import":  # refused before it is imported: this command runs no code
        raise UsageError(f"{what} needs a zoo model or a spec file, which it analyses without running "
                         f"the model; {echo(model)} is an import path")
    spec = resolve(model).spec
    assert spec is not None  # a zoo name or spec file always has one
    return spec


def with_least_input(exc: ShapeError, model: str, input_size: list[str] | None, train: bool) -> ShapeError:
    """``exc`` with the smallest input the model takes appended, when the input is too small
    (or outside the sizes a fixed classifier takes); ``exc`` itself otherwise."""
    from archscope.analysis.sizes import analyse_sizes
    from archscope.api import inputs_for
    from archscope.builder.load import resolve
    from archscope.errors import ArchscopeError, ShapeError
    from archscope.report.analysis import why_not

    try:
        target = resolve(model)
        if target.spec is None:
            return exc
        image = inputs_for(target, input_size or None)[0].image
        if image is None:
            return exc
        _, h, w = image
        report = analyse_sizes(target.spec, train=train)
        clause = why_not(report, h, w)
    except ArchscopeError:
        return exc
    if clause is None:
        return exc
    return ShapeError(f"{exc}; {clause}", exc.partial, exc.cpu_bytes)
