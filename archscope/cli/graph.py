"""``archscope graph MODEL``: the dataflow diagram of one forward pass (DOT, SVG, PNG, PDF)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from archscope.cli.options import (
    BatchDimOption,
    BatchOption,
    DeviceOption,
    InputOption,
    InputsFromOption,
    ModelArgument,
    fed,
)


class GraphFormat(str, Enum):
    svg = "svg"
    png = "png"
    pdf = "pdf"
    dot = "dot"
    html = "html"


class Rankdir(str, Enum):
    TB = "TB"
    LR = "LR"


def graph(
    model: ModelArgument,
    output: Annotated[str | None, typer.Option("--output", "-o", show_default=False,
                                               help="Write the diagram to this file (.svg, .png, .pdf, .dot; "
                                                    ".html: an interactive page with the layer table, "
                                                    "docs/report.md). Default: print the DOT text to "
                                                    "stdout.")] = None,
    input: InputOption = None,
    inputs_from: InputsFromOption = None,
    batch: BatchOption = 1,
    batch_dim: BatchDimOption = 0,
    device: DeviceOption = None,
    depth: Annotated[int | None, typer.Option("--depth", "-d", min=1, show_default=False,
                                              help="Expand modules down to this depth; deeper modules are "
                                                   "drawn as one node. Default: the deepest that keeps the "
                                                   "picture about one screen (the title says which depth "
                                                   "draws every layer); every layer with --expand.")] = None,
    expand: Annotated[bool, typer.Option("--expand", help="Draw every block; by default a run of identical "
                                                          "consecutive blocks is drawn once, as "
                                                          "'Bottleneck ×5'.")] = False,
    rankdir: Annotated[Rankdir, typer.Option("--rankdir", help="Direction of the flow: TB (top to bottom) or "
                                                               "LR (left to right).")] = Rankdir.TB,
    fmt: Annotated[GraphFormat | None, typer.Option("--format", "-f", show_default=False,
                                                    help="Output format; default: from the suffix of "
                                                         "--output, DOT text without --output.")] = None,
    size: Annotated[str | None, typer.Option("--size", show_default=False,
                                             help="Largest size in inches, WIDTH,HEIGHT (Graphviz's size): "
                                                  "a bigger diagram is scaled down to fit; 'W,H!' scales a "
                                                  "smaller one up. Default: the natural size; with the "
                                                  "default depth at most 14,10.4 (1344x1000 px at 96 dpi).")] = None,
    dpi: Annotated[float | None, typer.Option("--dpi", min=1, max=2400, show_default=False,
                                              help="Resolution of a PNG, dots per inch (default 96: one "
                                                   "point of text is 1.33 pixels).")] = None,
    legend: Annotated[bool, typer.Option("--legend/--no-legend", help="Draw the colour key beside the "
                                                                      "output.")] = True,
) -> None:
    """Draw the dataflow of one forward pass: every layer and every join (add, concat,
    multiply) as a node, edges labelled with tensor shapes, stages and blocks as clusters,
    layers coloured by type; an expected shape that does not match is drawn in red.

    SVG, PNG and PDF need Graphviz's 'dot' program; the same model always gives the same DOT text.

    Exit code 1 when an expected shape does not match (the diagram is still written in full).
    """
    from archscope.api import graph as draw_graph
    from archscope.api import require_expectations
    from archscope.cli.options import model_files
    from archscope.cli.output import emit
    from archscope.errors import UsageError
    from archscope.fileio import check_writable
    from archscope.report.diagram import dot_missing
    from archscope.report.footer import cpu_note

    if output:
        check_writable(output, reads=model_files(model, inputs_from))
    kind = _format(output, fmt)
    if dpi is not None and kind != "png":
        raise UsageError(f"--dpi sets a PNG's resolution, and this diagram is {kind.upper()}: write a .png, or "
                         "leave --dpi out (an SVG or PDF scales without losing detail)")
    diagram = draw_graph(model, batch=batch, device=device, depth="auto" if depth is None else depth, expand=expand,
                         rankdir=rankdir.value, legend=legend, size=size, dpi=dpi,
                         **fed(input, inputs_from, batch_dim))
    result = diagram.trace
    assert result is not None
    if result.cpu_reason:  # the diagram is the same; where it came from is said
        typer.echo(f"archscope: note: {cpu_note(result)}", err=True)
    if kind in ("dot", "html"):
        emit(diagram.pipe(kind).decode("utf-8"), output)
        if kind == "html" and dot_missing():
            typer.echo(f"archscope: note: the page has no diagram, only the table: {dot_missing()}", err=True)
    elif output:
        diagram.save(output, kind)
    else:
        emit(diagram.pipe(kind).decode("utf-8"), None)
    require_expectations(result, "they are drawn in red")


def _format(output: str | None, fmt: GraphFormat | None) -> str:
    from archscope.errors import UsageError
    from archscope.report.diagram import format_of

    if fmt is not None:
        kind = fmt.value
    elif output is None:
        kind = "dot"
    else:
        kind = format_of(output)
    if output is None and kind in ("png", "pdf"):
        raise UsageError(f"{kind.upper()} is binary: write it to a file with -o FILE")
    return kind
