"""Domain errors shared by every layer. No torch here.

Each error carries the exit code the CLI turns it into (only ``cli.main`` does):
2 for usage errors (what the user typed), 1 for model errors (what the model does).
"""

from __future__ import annotations

from typing import Any


class ArchscopeError(Exception):
    """Base class: a message fit to show a user as one paragraph, and an exit code."""

    exit_code = 1


class UsageError(ArchscopeError):
    """Unknown model name, malformed option value, missing or unwritable file."""

    exit_code = 2


class SpecError(ArchscopeError):
    """A spec that is not valid, with the path of the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path}: {message}" if path else message)


class ModelLoadError(ArchscopeError):
    """A user's model could not be imported or constructed."""


class ShapeError(ArchscopeError):
    """The input does not fit the architecture (too small, wrong channel count...), or the
    forward pass failed. ``partial`` holds the records of the layers that ran before (the CLI
    shows them); ``cpu_bytes`` what a CPU run would need at least (weights, buffers, inputs
    and twice the largest output seen), for the decision to fall back to the CPU; ``layer``
    the failing layer's name and type (None: the model's own forward code) and ``reason``
    torch's first line, for what reads them (``archscope sizes``)."""

    def __init__(self, message: str, partial: list[Any] | None = None, cpu_bytes: int = 0,
                 layer: tuple[str, str] | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.partial = partial or []
        self.cpu_bytes = cpu_bytes
        self.layer = layer
        self.reason = reason


class ExpectationError(ArchscopeError):
    """A model whose traced shapes contradict its ``expect`` annotations (exit code 1)."""


# What user code (an import, a factory, a forward) may raise that becomes a model error:
# SystemExit too, since a model that calls sys.exit() has failed, archscope has not finished.
# KeyboardInterrupt stays the user's.
USER_CODE_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit)


MAX_ECHO = 60  # characters of a user's text repeated in a message


def echo(value: Any) -> str:
    """A user's value as a message shows it: text quoted, anything else as its repr, cut to a
    readable length (a 99,999-number input is not echoed whole; nor are characters that
    repr escapes, ``\\U0001f600`` for one, allowed to make it ten times longer)."""
    if not isinstance(value, str):
        return cut(repr(value))
    shown = repr(cut(value))
    return shown if len(shown) <= MAX_ECHO + 3 else cut(shown)  # + the quotes and the "…"


def cut(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters, then ``…``."""
    return text if len(text) <= limit else text[:limit] + "…"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``TypeError: what it says`` on one line, cut to ``limit``; a SystemExit as what it was."""
    if isinstance(exc, SystemExit):
        return f"the model's code called sys.exit({echo(exc.code)})"
    text = cut(" ".join(str(exc).split()), limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
