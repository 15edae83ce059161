"""Options shared by the commands, defined once: the model argument, what it is fed, batch,
device, output, a training step. A command declares ``input: InputOption = None`` and hands
the values to :func:`fed`, which turns them into the keyword arguments of
:func:`archscope.api.trace`; the training options go to :func:`training_of`, which makes
its ``training=``.

``--optimizer``, ``--amp``, ``--freeze`` and ``--checkpoint`` describe a training step, so
each implies ``--training``: ``archscope summary resnet50 --optimizer adamw`` prices an
AdamW step, as it would with ``--training`` given too.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archscope.tracer.training import AMP_MODES, OPTIMIZERS

if TYPE_CHECKING:  # the members are the registries' keys, which mypy cannot see
    from archscope.tracer.training import Training

    OptimizerName = Any
    AmpMode = Any
else:  # the choices, in the registries' order (archscope.tracer.training)
    OptimizerName = Enum("OptimizerName", {k: k for k in OPTIMIZERS}, type=str)
    AmpMode = Enum("AmpMode", {k: k for k in AMP_MODES}, type=str)

MODEL_HELP = ("A zoo name (see 'archscope list'), a spec file (.yaml, .yml, .json), "
              "package.module:attr or path/to/file.py:attr (an nn.Module, a class, or a "
              "function returning one, callable with no arguments).")
INPUT_HELP = ("What the model is fed, per sample: [NAME=]SHAPE[:DTYPE], repeatable, one per forward argument "
              "(NAME= for a keyword argument). SHAPE is numbers joined by x, the batch not included: 20, "
              "1x16000, 3x224x224; DTYPE float32 (default), float16, bfloat16, float64, int64, int32, int16, "
              "int8, uint8, bool, complex64. For an image model also 224 (square) or 224x224 (H×W), and "
              "1x3x224x224 with the batch. Default: the model's reference input or the inputs it declares "
              "(example_inputs). See docs/inputs.md.")
INPUTS_FROM_HELP = ("A function (or attribute), package.module:attr or path/to/file.py:attr, that returns example "
                    "inputs: a tensor, a tuple or list of positional arguments, a dict of keyword arguments, or "
                    "(args, kwargs); tensors or torch.Size shapes. For nested inputs such as (x, (h0, c0)).")
BATCH_DIM_HELP = "Where the batch goes in every input's shape (1 for sequence-first models: L×N×F)."
DEVICE_HELP = ("meta traces shapes without allocating memory; cpu runs the model for real. Default: meta, and cpu "
               "(said in the output) for a model that cannot run on meta.")

TRAINING_HELP = ("Price a training step, not only a forward pass: the forward in training mode, the backward "
                 "of the sum of the outputs (input- and weight-gradient MACs per layer, what autograd saves "
                 "for it), gradients, optimizer state and the peak memory of each phase. Implied by "
                 "--optimizer, --amp, --freeze and --checkpoint.")
OPTIMIZER_HELP = ("The optimizer whose state and step are priced (implies --training): "
                  + "; ".join(f"{o.name}: {o.keeps}" for o in OPTIMIZERS.values()) + ". Default: sgd.")
AMP_HELP = ("Mixed precision (implies --training): autocast to "
            + " or ".join(f"{v} ({k})" for k, v in AMP_MODES.items())
            + "; weights, gradients and optimizer state stay float32. Default: none.")
FREEZE_HELP = ("Freeze the parameters and modules whose names match this shell-style pattern (backbone.*, "
               "layer1): they get no gradient and no optimizer state. Repeatable; a pattern that matches no "
               "name is an error. Implies --training.")
CHECKPOINT_HELP = ("Activation checkpointing (torch.utils.checkpoint) of the modules whose names match this "
                   "pattern: their activations are recomputed in backward instead of kept. Repeatable; "
                   "implies --training.")

ModelArgument = Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)]
InputOption = Annotated[list[str] | None, typer.Option("--input", "-i", help=INPUT_HELP, show_default=False)]
InputsFromOption = Annotated[str | None, typer.Option("--inputs-from", help=INPUTS_FROM_HELP,
                                                      show_default=False)]
BatchOption = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size (N).")]
BatchDimOption = Annotated[int, typer.Option("--batch-dim", min=0, help=BATCH_DIM_HELP)]
DeviceOption = Annotated[str | None, typer.Option("--device", help=DEVICE_HELP, show_default=False)]
OutputOption = Annotated[str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout "
                                                                         "(atomically).", show_default=False)]
TrainingFlag = Annotated[bool, typer.Option("--training", help=TRAINING_HELP)]
OptimizerOption = Annotated[OptimizerName | None, typer.Option("--optimizer", help=OPTIMIZER_HELP,
                                                               show_default=False)]
AmpOption = Annotated[AmpMode | None, typer.Option("--amp", help=AMP_HELP, show_default=False)]
FreezeOption = Annotated[list[str] | None, typer.Option("--freeze", metavar="PATTERN", help=FREEZE_HELP,
                                                        show_default=False)]
CheckpointOption = Annotated[list[str] | None, typer.Option("--checkpoint", metavar="PATTERN",
                                                            help=CHECKPOINT_HELP, show_default=False)]


def training_of(training: bool, optimizer: Any = None, amp: Any = None, freeze: Sequence[str] | None = None,
                checkpoint: Sequence[str] | None = None) -> Training | None:
    """The :class:`~archscope.tracer.training.Training` the training options ask for, or None
    (no option given: a forward pass only). Any of ``optimizer``, ``amp``, ``freeze`` and
    ``checkpoint`` implies ``training``; the optimizer defaults to sgd."""
    if not (training or optimizer is not None or amp is not None or freeze or checkpoint):
        return None
    from archscope.tracer.training import Training

    return Training(optimizer=_value(optimizer) or "sgd", freeze=tuple(freeze or ()), amp=_value(amp),
                    checkpoint=tuple(checkpoint or ()))


def _value(choice: Any) -> str | None:
    """An option's choice as its text (an Enum member from typer, a string from Python)."""
    return None if choice is None else str(getattr(choice, "value", choice))


def fed(input: list[str] | None, inputs_from: str | None, batch_dim: int) -> dict[str, Any]:
    """The keyword arguments of :func:`archscope.api.trace` that say what the model is fed."""
    return {"input_size": input or None, "inputs_from": inputs_from, "batch_dim": batch_dim}


def model_files(*models: str | None) -> list[str]:
    """The files a command reads for its models (spec files, ``file.py`` of import paths): an
    output must not be one of them."""
    from archscope.snapshot.files import kind_of

    files = []
    for model in models:
        if not model:
            continue
        if kind_of(model) == "spec" or model.endswith(".json"):
            files.append(model)
        elif kind_of(model) == "import" and model.rpartition(":")[0].endswith(".py"):
            files.append(model.rpartition(":")[0])
    return files
