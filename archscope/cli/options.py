"""Options shared by the commands, defined once: the model argument, what it is fed, batch,
device, output. A command declares ``input: InputOption = None`` and hands the values to
:func:`fed`, which turns them into the keyword arguments of :func:`archscope.api.trace`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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

ModelArgument = Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)]
InputOption = Annotated[list[str] | None, typer.Option("--input", "-i", help=INPUT_HELP, show_default=False)]
InputsFromOption = Annotated[str | None, typer.Option("--inputs-from", help=INPUTS_FROM_HELP,
                                                      show_default=False)]
BatchOption = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size (N).")]
BatchDimOption = Annotated[int, typer.Option("--batch-dim", min=0, help=BATCH_DIM_HELP)]
DeviceOption = Annotated[str | None, typer.Option("--device", help=DEVICE_HELP, show_default=False)]
OutputOption = Annotated[str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout "
                                                                         "(atomically).", show_default=False)]


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
