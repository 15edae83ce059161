"""``archscope snapshot MODEL -o DIR``: record a model's architecture for ``archscope check``."""

from __future__ import annotations

from typing import Annotated

import typer

from archscope.cli.summary import INPUT_HELP, MODEL_HELP


def snapshot(
    model: Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)],
    input: Annotated[str | None, typer.Option("--input", "-i", help=INPUT_HELP, show_default=False)] = None,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size (N).")] = 1,
    output: Annotated[str, typer.Option("--output", "-o", help="A directory (made if missing; the file is "
                                                               "named MODEL@CxHxW.json) or a .json file.")] = ".",
) -> None:
    """Write a deterministic JSON snapshot of every layer's output shape, parameters and MACs.

    Commit it; 'archscope check DIR' then fails when the architecture changes.
    No snapshot is written of a model that contradicts its expected shapes (exit 1). See docs/ci.md.
    """
    from archscope.check import take, write

    path = write(take(model, input_size=input, batch=batch), output)
    typer.echo(f"wrote {path}")
