"""The ``archscope`` command. Domain errors become exit codes here and only here.

Exit codes: 0 success; 1 model error (a spec that is invalid, an import that fails,
an input the architecture cannot take, an expectation that does not match);
2 usage error (unknown model, malformed option, unwritable path); 3 internal error.
"""

from __future__ import annotations

import functools
import sys
import textwrap
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from archscope import __version__
from archscope.errors import ArchscopeError

F = TypeVar("F", bound=Callable[..., Any])
_STATE = {"debug": False}


def guarded(command: F) -> F:
    """Turn archscope's errors into a one-paragraph message and an exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except ArchscopeError as exc:
            if _STATE["debug"]:
                raise
            _report(exc)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:  # noqa: BLE001 (a bug: say so, without a traceback)
            if _STATE["debug"]:
                raise
            _say(f"internal error: {type(exc).__name__}: {exc}. Run 'archscope --debug ...' "
                 "for the traceback, and please report it.")
            raise typer.Exit(3) from None

    return run  # type: ignore[return-value]


def _report(exc: ArchscopeError) -> None:
    partial = getattr(exc, "partial", None)
    if partial:
        from archscope.report.partial import render_partial

        sys.stderr.write(render_partial(partial))
    _say(str(exc))


def _say(message: str) -> None:
    """One paragraph on stderr: wrapped at 100 columns on a terminal, one line otherwise (grep, CI logs)."""
    text = f"archscope: error: {' '.join(message.split())}"
    if sys.stderr.isatty():
        text = textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)
    sys.stderr.write(text + "\n")


app = typer.Typer(
    name="archscope",
    help="Understand a convolutional network: per-layer shapes, parameters, checks against "
         "the shapes its documents annotate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="markdown",  # docstring paragraphs are re-wrapped to the terminal
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
) -> None:
    _STATE["debug"] = debug


def _register_commands() -> None:
    from archscope.cli import check, diff, graph, list_cmd, sizes, snapshot, summary

    commands: list[tuple[str, Callable[..., Any], str]] = [
        ("summary", summary.summary, "Per-layer output shapes, parameters, MACs and memory, with expected-shape "
                                     "checks."),
        ("list", list_cmd.list_models, "The zoo: name, family, parameters, reference input, paper."),
        ("snapshot", snapshot.snapshot, "Write a JSON snapshot of every layer's shape, parameters and MACs."),
        ("check", check.check, "Compare snapshots with the models now (or check the zoo); exit 1 on a change."),
        ("graph", graph.graph, "Draw the dataflow with Graphviz: joins as nodes, shapes on the edges."),
        ("diff", diff.diff, "Compare two architectures layer by layer."),
        ("sizes", sizes.sizes, "The smallest input a model takes, and the layer that sets it."),
    ]
    for name, command, short in commands:
        app.command(name, short_help=short)(guarded(command))


_register_commands()


def main() -> None:
    import gc
    import warnings

    # torch warns at import when NumPy is not installed; archscope never hands it an array
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
    # No automatic garbage collection in this short-lived process: after torch's import every
    # collection of the oldest generation walks the million objects torch made, 0.2 s of a
    # traced summary (resnet50 --traced 1.64 -> 1.42 s, import torch alone 1.39 s). What a
    # trace leaves for the collector is small: `sizes` of densenet201, 94 traces, peaks at
    # 292 MiB with it off and 291 MiB with it on (bench/RESULTS.md).
    gc.disable()
    try:
        app()
    finally:
        # The process ends here, its output written and closed. Without this, the
        # interpreter's last garbage collections walk every object torch made (0.25-0.3 s
        # after a trace, a sixth of the command); frozen, they are freed without that walk.
        gc.freeze()
