"""``archscope sizes MODEL``: which input sizes a model takes, and the layer that decides."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archscope.cli.options import InputOption, OutputOption
from archscope.report.analysis import SIZES_FORMATS

if TYPE_CHECKING:  # the members are the renderers' names, which mypy cannot see
    SizesFormat = Any
else:
    SizesFormat = Enum("SizesFormat", {k: k for k in SIZES_FORMATS}, type=str)  # archscope.report.analysis


def sizes(
    model: Annotated[str, typer.Argument(help="A zoo name (see 'archscope list'), a spec file (.yaml, .yml, "
                                              ".json), package.module:attr or path/to/file.py:attr.",
                                         show_default=False)],
    input: InputOption = None,
    train: Annotated[bool, typer.Option("--train", help="Sizes for training mode (auxiliary heads run).")] = False,
    fmt: Annotated[SizesFormat, typer.Option("--format", "-f", help="Output format.")] = SizesFormat.text,
    output: OutputOption = None,
) -> None:
    """Show the smallest input the model takes, the layer that sets it, which larger inputs
    work (all, an interval for a classifier built for one size, multiples of a stride),
    and a few examples.

    A zoo model or spec file: derived from the spec, without torch. Any other model: found
    by tracing it on the meta device at the sizes a search picks of its one input (an
    image's H and W, a sequence's length), around --input or what the model declares.
    See docs/analysis.md.
    """
    from archscope.api import sizes as sizes_of
    from archscope.cli.options import model_files
    from archscope.cli.output import emit, progress
    from archscope.fileio import check_writable

    if output:
        check_writable(output, reads=model_files(model))
    with progress("archscope: tracing input sizes on the meta device", "sizes") as step:
        report = sizes_of(model, input, train=train, progress=step)
    emit(SIZES_FORMATS[fmt.value](report), output)
