"""Domain errors shared by every layer. No torch here.

Each error carries the exit code the CLI turns it into (only ``cli.main`` does):
2 for usage errors (what the user typed), 1 for model errors (what the model does).
"""

from __future__ import annotations


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
    """The input does not fit the architecture (too small, wrong channel count...)."""
