"""Every shape rule checked against torch's kernel while a model is traced (tests/test_shape_rules.py,
tests/test_shape_rules_real.py): :func:`checked` wraps :func:`archscope.shape_rules.run` so that,
where a rule gives an output, torch's kernel runs too and the two are compared (shape, every
stride, dtype, and for an in-place operator that the input itself comes back); the trace goes on
with torch's output."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from torch import Tensor

from archscope import shape_rules


def layout(value: Any) -> Any:
    if isinstance(value, Tensor):
        return tuple(value.shape), value.stride(), value.dtype
    if isinstance(value, (tuple, list)):
        return tuple(layout(v) for v in value)
    return value


def same(func: Any, args: tuple[Any, ...], mine: Any, theirs: Any) -> bool:
    """The rule's output is torch's: the same layout, and the same tensor where torch hands back an input."""
    if layout(mine) != layout(theirs):
        return False
    pairs = zip(mine, theirs, strict=True) if isinstance(theirs, tuple) else [(mine, theirs)]
    return all((m is t) == any(t is a for a in args) for m, t in pairs)


class Checked:
    def __init__(self) -> None:
        self.used: Counter[str] = Counter()
        self.wrong: list[str] = []


@contextmanager
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checked]:
    seen = Checked()
    rule_for = shape_rules.run

    def run(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        mine = rule_for(func, args, kwargs)
        if mine is None:
            return None
        theirs = func(*args, **kwargs)
        seen.used[str(func)] += 1
        if not same(func, args, mine, theirs):
            seen.wrong.append(f"{func}: rule {layout(mine)}, torch {layout(theirs)}")
        return theirs

    with monkeypatch.context() as patch:
        patch.setattr(shape_rules, "run", run)
        yield seen
