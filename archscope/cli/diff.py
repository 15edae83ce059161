"""``archscope diff A B``: two architectures side by side, layer by layer."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archscope.cli.options import (
    INPUT_HELP,
    MODEL_HELP,
    AmpOption,
    CheckpointOption,
    FreezeOption,
    OptimizerOption,
    OutputOption,
    TrainingFlag,
    training_of,
)
from archscope.report.diff import FORMATS

SIDE_HELP = MODEL_HELP + " Or a snapshot file made by 'archscope snapshot' (.json)."


if TYPE_CHECKING:  # the members are the renderers' names, which mypy cannot see
    DiffFormat = Any
else:
    DiffFormat = Enum("DiffFormat", {k: k for k in FORMATS}, type=str)  # archscope.report.diff's renderers


def diff(
    a: Annotated[str, typer.Argument(metavar="A", help=SIDE_HELP, show_default=False)],
    b: Annotated[str, typer.Argument(metavar="B", help="The model to compare with A, named as A is.",
                                     show_default=False)],
    input: Annotated[list[str] | None, typer.Option(
        "--input", "-i", show_default=False,
        help=INPUT_HELP + " The same inputs for both models; by default each model's own, and a model "
                          "without one (an import path) takes the other's.")] = None,
    depth: Annotated[int | None, typer.Option(
        "--depth", "-d", min=1, show_default=False,
        help="Compare every module down to this depth (containers with their subtree's params and "
             "MACs). Default: leaf layers only.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show the layers that are the same too.")] = False,
    training: TrainingFlag = False,
    optimizer: OptimizerOption = None,
    amp: AmpOption = None,
    freeze: FreezeOption = None,
    checkpoint: CheckpointOption = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format; markdown is fit for a "
                                                                   "pull-request comment.")] = DiffFormat.table,
    output: OutputOption = None,
) -> None:
    """Align two architectures layer by layer (by name where names match, by structure where
    they do not) and show what differs: type, kernel, stride, groups, channels, output shape,
    params, MACs; then the totals side by side with ratios.

    A and B may be zoo names, spec files, import paths or snapshot files: two versions of a model compare too.

    With --training (or --optimizer, --amp, --freeze, --checkpoint) both models price the
    same training step, and its totals are compared too: backward and step MACs, saved
    activations, peak memory, gradients, optimizer state. --freeze and --checkpoint
    patterns must match names in both models.

    Exit code 0 whether or not they differ. See docs/diff.md.
    """
    from archscope.analysis.diff import diff_targets
    from archscope.cli.options import model_files
    from archscope.cli.output import emit
    from archscope.fileio import check_writable
    from archscope.report.diff import FORMATS

    if output:
        check_writable(output, reads=model_files(a, b))
    step = training_of(training, optimizer, amp, freeze, checkpoint)
    result = diff_targets(a, b, input_size=input or None, depth=depth, training=step)
    emit(FORMATS[fmt.value](result, show_all=show_all), output)
