"""``archscope sizes MODEL``: which input sizes a model takes, and the layer that decides."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archscope.cli.options import OutputOption
from archscope.report.analysis import SIZES_FORMATS

if TYPE_CHECKING:  # the members are the renderers' names, which mypy cannot see
    SizesFormat = Any
else:
    SizesFormat = Enum("SizesFormat", {k: k for k in SIZES_FORMATS}, type=str)  # archscope.report.analysis


def sizes(
    model: Annotated[str, typer.Argument(help="A zoo name (see 'archscope list') or a spec file (.yaml, .yml, "
                                              ".json).", show_default=False)],
    train: Annotated[bool, typer.Option("--train", help="Sizes for training mode (auxiliary heads run).")] = False,
    fmt: Annotated[SizesFormat, typer.Option("--format", "-f", help="Output format.")] = SizesFormat.text,
    output: OutputOption = None,
) -> None:
    """Show the smallest input the model takes, the layer that sets it, whether every larger
    input works (a classifier built for a fixed size does not), and a few examples.

    Derived from the spec, without torch: see docs/analysis.md.
    """
    from archscope.analysis.sizes import analyse_sizes
    from archscope.api import spec_of
    from archscope.cli.options import model_files
    from archscope.cli.output import emit
    from archscope.fileio import check_writable

    if output:
        check_writable(output, reads=model_files(model))
    report = analyse_sizes(spec_of(model, "sizes"), train=train)
    emit(SIZES_FORMATS[fmt.value](report), output)
