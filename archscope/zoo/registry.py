"""The zoo registry: name -> entry (family, paper, spec factory, reference numbers).

Registering a name twice raises. Names list in natural order (``resnet101`` after
``resnet50``). Nothing here imports torch, so ``archscope list`` stays instant.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from archscope.errors import UsageError, echo
from archscope.spec.expect import Expect
from archscope.spec.nodes import Model


@dataclass(frozen=True)
class Reference:
    """Published numbers for one model (from torchvision_reference.json, which says where they come from)."""

    params: int
    gmacs: float | None
    min_size: int | None  # the smallest square input torchvision's model takes


@dataclass(frozen=True)
class ZooEntry:
    name: str
    family: str
    paper: str  # "Title" (arXiv id)
    arxiv: str
    make: Callable[[], Model]
    published_excludes: tuple[str, ...] = ()  # top-level modules the published count leaves out

    def spec(self) -> Model:
        return _cached_spec(self.make)

    @property
    def reference(self) -> Reference | None:
        return torchvision_reference(self.name)


@cache
def _cached_spec(make: Callable[[], Model]) -> Model:
    return make()


REGISTRY: dict[str, ZooEntry] = {}


def register(name: str, *, family: str, paper: str, arxiv: str, make: Callable[[], Model],
             published_excludes: tuple[str, ...] = ()) -> None:
    if name in REGISTRY:
        raise ValueError(f"zoo model {name!r} is registered twice")
    REGISTRY[name] = ZooEntry(name, family, paper, arxiv, make, published_excludes)


def natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def names(pattern: str | None = None) -> list[str]:
    """Zoo names in natural order, optionally filtered by a glob (``resnet*``)."""
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a glob such as 'resnet*', got {echo(pattern)}")
    found = sorted(REGISTRY, key=natural_key)
    return [n for n in found if fnmatch.fnmatch(n, pattern)] if pattern else found


def get(name: str) -> ZooEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), list(REGISTRY), n=3, cutoff=0.5) if len(name) < 100 else []
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown model {echo(name)}: it is not in the zoo, not a spec file "
                         f"(.yaml, .yml, .json) and not an import path (package.module:attr or "
                         f"path/to/file.py:attr).{hint} 'archscope list' shows the zoo.") from None


@cache
def _reference_table() -> dict[str, Any]:
    text = resources.files("archscope.zoo").joinpath("torchvision_reference.json").read_text()
    return dict(json.loads(text))


def torchvision_reference(name: str) -> Reference | None:
    table = _reference_table()
    row = table["models"].get(name)
    if row is None:
        return None
    return Reference(params=row["num_params"], gmacs=row["gmacs"], min_size=row.get("min_size"))


def E(shape: str, source: str) -> Expect:  # noqa: N802 (reads like the documents' notation)
    """An expected shape with the document it comes from."""
    return Expect.parse(shape, source)
