"""``archscope list [PATTERN]``: the zoo, without a forward pass or torch."""

from __future__ import annotations

from typing import Annotated

import typer


def list_models(
    pattern: Annotated[str | None, typer.Argument(help="Glob on names, e.g. 'resnet*'.",
                                                  show_default=False)] = None,
) -> None:
    """List the zoo: name, family, parameters, reference input and paper (no torch needed)."""
    from archscope import zoo
    from archscope.cli.output import emit
    from archscope.errors import UsageError, echo
    from archscope.report.zoo import render_zoo

    entries = [zoo.get(n) for n in zoo.names(pattern)]
    if not entries:
        raise UsageError(f"no zoo model matches {echo(pattern)}; 'archscope list' shows them all")
    emit(render_zoo(entries), None)
