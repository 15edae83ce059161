"""``archscope snapshot MODEL -o DIR``: record a model's architecture for ``archscope check``."""

from __future__ import annotations

from typing import Annotated

import typer

from archscope.cli.options import (
    AmpOption,
    BatchDimOption,
    BatchOption,
    CheckpointOption,
    DeviceOption,
    FreezeOption,
    InputOption,
    InputsFromOption,
    ModelArgument,
    OptimizerOption,
    TrainingFlag,
    fed,
    model_files,
    training_of,
)


def snapshot(
    model: ModelArgument,
    input: InputOption = None,
    inputs_from: InputsFromOption = None,
    batch: BatchOption = 1,
    batch_dim: BatchDimOption = 0,
    device: DeviceOption = None,
    training: TrainingFlag = False,
    optimizer: OptimizerOption = None,
    amp: AmpOption = None,
    freeze: FreezeOption = None,
    checkpoint: CheckpointOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="A directory (made if missing; the file is "
                                                               "named MODEL@INPUTS.json, e.g. "
                                                               "resnet50@3x224x224.json) or a .json file.")] = ".",
) -> None:
    """Write a deterministic JSON snapshot of every layer's output shape, parameters and MACs.

    Commit it; 'archscope check DIR' then fails when the architecture changes.
    With --training (or --optimizer, --amp, --freeze, --checkpoint) it records a training
    step too (backward MACs and saved bytes per layer, gradients, optimizer state, peak), in a
    file named MODEL@INPUTS.training-OPTIMIZER.json, and check retraces that step.
    No snapshot is written of a model that contradicts its expected shapes (exit 1). See docs/ci.md.
    """
    from archscope.fileio import check_writable
    from archscope.snapshot.check import take, write

    reads = model_files(model, inputs_from)
    if output.endswith(".json"):
        check_writable(output, reads)  # before the trace
    step = training_of(training, optimizer, amp, freeze, checkpoint)
    path = write(take(model, batch=batch, device=device, training=step, **fed(input, inputs_from, batch_dim)),
                 output, reads)
    typer.echo(f"wrote {path}")
