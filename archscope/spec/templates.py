"""Block templates and family tables. No torch here.

A template is a function with keyword-only arguments that returns a spec node
(``template("resnet.bottleneck")``). Zoo modules register their families'
blocks here, so a user's YAML file can use them too:
``{"type": "block", "template": "resnet.bottleneck", "mid": 64, "out": 256}``.

:func:`table` turns a paper-style table into nodes: one row a block, columns
named once, the way the papers print them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from archscope.spec.nodes import Node

TEMPLATES: dict[str, Callable[..., Node]] = {}

F = TypeVar("F", bound=Callable[..., Node])


def template(name: str) -> Callable[[F], F]:
    """Register a block template under ``name``; registering a name twice raises."""

    def register(fn: F) -> F:
        if name in TEMPLATES:
            raise ValueError(f"block template {name!r} is registered twice")
        TEMPLATES[name] = fn
        return fn

    return register


def table(columns: str, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Name the columns of a paper-style table once: each row becomes a dict.

    >>> table("expand kernel stride out depth", [(1, 3, 1, 16, 1)])
    [{'expand': 1, 'kernel': 3, 'stride': 1, 'out': 16, 'depth': 1}]
    """
    names = columns.split()
    out = []
    for row in rows:
        if len(row) != len(names):
            raise ValueError(f"row {row!r} has {len(row)} values for {len(names)} columns {names}")
        out.append(dict(zip(names, row, strict=True)))
    return out
