"""``archscope graph MODEL``: the dataflow diagram of one forward pass (DOT, SVG, PNG, PDF)."""

from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path
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

INSTALL_GRAPHVIZ = ("Install Graphviz: 'sudo apt-get install graphviz' (Debian, Ubuntu), "
                    "'brew install graphviz' (macOS) or 'conda install -c conda-forge graphviz'.")


class GraphFormat(str, Enum):
    svg = "svg"
    png = "png"
    pdf = "pdf"
    dot = "dot"


class Rankdir(str, Enum):
    TB = "TB"
    LR = "LR"


SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def graph(
    model: ModelArgument,
    output: Annotated[str | None, typer.Option("--output", "-o", show_default=False,
                                               help="Write the diagram to this file (.svg, .png, .pdf, .dot). "
                                                    "Default: print the DOT text to stdout.")] = None,
    input: InputOption = None,
    inputs_from: InputsFromOption = None,
    batch: BatchOption = 1,
    batch_dim: BatchDimOption = 0,
    device: DeviceOption = None,
    depth: Annotated[int | None, typer.Option("--depth", "-d", min=1, show_default=False,
                                              help="Expand modules down to this depth; deeper modules are "
                                                   "drawn as one node. Default: every layer.")] = None,
    expand: Annotated[bool, typer.Option("--expand", help="Draw every block; by default a run of identical "
                                                          "consecutive blocks is drawn once, as "
                                                          "'Bottleneck ×5'.")] = False,
    rankdir: Annotated[Rankdir, typer.Option("--rankdir", help="Direction of the flow: TB (top to bottom) or "
                                                               "LR (left to right).")] = Rankdir.TB,
    fmt: Annotated[GraphFormat | None, typer.Option("--format", "-f", show_default=False,
                                                    help="Output format; default: from the suffix of "
                                                         "--output, DOT text without --output.")] = None,
) -> None:
    """Draw the dataflow of one forward pass: every layer and every join (add, concat,
    multiply) as a node, edges labelled with tensor shapes, stages and blocks as clusters,
    layers coloured by type; an expected shape that does not match is drawn in red.

    SVG, PNG and PDF need Graphviz's 'dot' program; the same model always gives the same DOT text.

    Exit code 1 when an expected shape does not match (the diagram is still written in full).
    """
    from archscope.api import require_expectations, trace
    from archscope.cli.options import model_files
    from archscope.cli.output import emit
    from archscope.fileio import check_writable, write_atomic
    from archscope.report.dot import render_dot
    from archscope.report.footer import cpu_note
    from archscope.tracer.dataflow import recording

    if output:
        check_writable(output, reads=model_files(model, inputs_from))
    kind = _format(output, fmt)
    with recording() as flow:
        result = trace(model, batch=batch, device=device, analytic=False,  # the spec shortcut has no dataflow
                       **fed(input, inputs_from, batch_dim))
    if result.cpu_reason:  # the diagram is the same; where it came from is said
        typer.echo(f"archscope: note: {cpu_note(result)}", err=True)
    text = render_dot(flow.graph(result), depth=depth, fold_blocks=not expand, rankdir=rankdir.value)
    if kind == "dot":
        emit(text, output)
    elif output:
        write_atomic(output, render(text, kind, output))
    else:
        emit(render(text, kind, None).decode("utf-8"), None)
    require_expectations(result, "they are drawn in red")


def _format(output: str | None, fmt: GraphFormat | None) -> str:
    from archscope.errors import UsageError

    if fmt is not None:
        kind = fmt.value
    elif output is None:
        kind = "dot"
    else:
        suffix = Path(output).suffix.lower()
        if suffix not in SUFFIXES:
            raise UsageError(f"cannot tell the format of {output!r} from its suffix: name it .svg, .png, .pdf "
                             "or .dot, or pass --format")
        kind = SUFFIXES[suffix]
    if output is None and kind in ("png", "pdf"):
        raise UsageError(f"{kind.upper()} is binary: write it to a file with -o FILE")
    return kind


def render(text: str, kind: str, output: str | None) -> bytes:
    """Lay out DOT ``text`` with Graphviz's ``dot``. Without it, the DOT source is written
    next to ``output`` and the error says how to install Graphviz."""
    import graphviz

    from archscope.errors import ArchscopeError

    try:
        if shutil.which("dot") is None:
            raise graphviz.ExecutableNotFound(["dot"])
        return graphviz.Source(text).pipe(format=kind, engine="dot")
    except graphviz.ExecutableNotFound:
        raise ArchscopeError(_no_dot(text, kind, output)) from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip() if isinstance(exc.stderr, bytes) else ""
        raise ArchscopeError(f"Graphviz's dot could not render the diagram: {detail or exc}") from None


def _no_dot(text: str, kind: str, output: str | None) -> str:
    from archscope.fileio import write_atomic

    message = f"Graphviz's 'dot' program is not installed (or not on PATH), so no {kind.upper()} was rendered."
    source = Path(output).with_suffix(".dot") if output is not None else None
    if source is None or source == Path(output or ""):
        return f"{message} Use --format dot for the DOT text. {INSTALL_GRAPHVIZ}"
    if source.exists():  # never replace a file the user did not name
        return (f"{message} The DOT source was not written: {str(source)!r} exists already; write it elsewhere "
                f"with --format dot -o FILE. {INSTALL_GRAPHVIZ}")
    write_atomic(source, text)
    return (f"{message} The DOT source is in {str(source)!r}; render it with 'dot -T{kind} {source} -o {output}'. "
            f"{INSTALL_GRAPHVIZ}")
