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
from typing import Annotated, Any, NoReturn, TypeVar

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archscope {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for errors.")] = False,
) -> None:
    _STATE["debug"] = debug


# name, "module:function" under archscope.cli, the line `archscope --help` shows
COMMANDS: list[tuple[str, str, str]] = [
    ("summary", "summary:summary", "Per-layer output shapes, parameters, MACs and memory, with expected-shape "
                                   "checks."),
    ("list", "list_cmd:list_models", "The zoo: name, family, parameters, reference input, paper."),
    ("snapshot", "snapshot:snapshot", "Write a JSON snapshot of every layer's shape, parameters and MACs."),
    ("check", "check:check", "Compare snapshots with the models now (or check the zoo); exit 1 on a change."),
    ("graph", "graph:graph", "Draw the dataflow with Graphviz: joins as nodes, shapes on the edges."),
    ("diff", "diff:diff", "Compare two architectures layer by layer."),
    ("sizes", "sizes:sizes", "The smallest input a model takes, and the layer that sets it."),
]


def make_app(only: str | None = None) -> typer.Typer:
    """The command line, with every command, or with ``only`` that one. A command's module
    imports what its options offer (the renderers of its formats, the analyses behind
    them): loading only the command a run names spares the others', 0.1 s."""
    import importlib

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
    app.callback()(_root)
    for name, where, short in COMMANDS:
        if only in (None, name):
            module, function = where.split(":")
            command = getattr(importlib.import_module(f"archscope.cli.{module}"), function)
            app.command(name, short_help=short)(guarded(command))
    return app


def __getattr__(name: str) -> Any:
    """``app``, the whole command line (tests, documentation), made on first use."""
    if name == "app":
        globals()["app"] = app = make_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_word(argv: list[str]) -> str | None:
    """The command ``argv`` runs (its first word that is not an option: the root's options
    take no value), if it is one of :data:`COMMANDS`."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if any(word == name for name, _, _ in COMMANDS) else None


def main() -> None:
    """The command line on ``sys.argv``, in this process (a test's driver runs it so, many
    times): only the command it names is loaded (:func:`make_app`); ends with ``SystemExit``."""
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
    make_app(_command_word(sys.argv[1:]))()


def run() -> None:
    """The ``archscope`` program (its console script, ``python -m archscope``): :func:`main`,
    which ends with ``SystemExit`` as typer's apps do, then the process's end."""
    try:
        main()
    except SystemExit as exc:  # how typer ends every command, an error's exit code included
        if exc.code is None or isinstance(exc.code, int):
            _end(exc.code or 0)
        raise


def _end(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: its output is written and closed,
    and freeing the million objects torch made one by one, then its modules, takes 0.2 s
    even with them frozen out of the last garbage collections (0.5-0.8 s unfrozen), a
    tenth of a traced summary. What the teardown does that matters here is done first: the
    functions registered with :mod:`atexit` (logging's flush among them) run, and the
    standard streams are flushed; a stream that cannot be (a closed pipe) gives Python's
    own exit code for it, 120."""
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)
