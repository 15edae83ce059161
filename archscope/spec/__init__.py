"""Architectures as data: the node vocabulary, shape expectations, layout, (de)serialisation.

Nothing in this package imports torch. Its names are imported on first use
(``from archscope.spec import Conv`` works as usual): a model a user brings is no spec
and never needs the vocabulary, whose dataclasses take 12–25 ms to create, while
importing :mod:`archscope.spec.inputs` or :mod:`archscope.spec.expect` alone runs this
file first. (The layout lives in :mod:`archscope.spec.sites`, not in a submodule named
``layout``: importing a submodule sets the package's attribute of its name, which would
hide the function ``layout``.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archscope.spec.expect import Check, Expect
    from archscope.spec.nodes import (
        Act,
        AdaptivePool,
        Aux,
        Concat,
        Conv,
        Dense,
        Dropout,
        Flatten,
        Gate,
        Identity,
        Linear,
        Model,
        Node,
        Norm,
        Pool,
        Residual,
        Seq,
        StochasticDepth,
    )
    from archscope.spec.serialize import dump_file, from_dict, load_file, to_dict
    from archscope.spec.sites import Layout, Site, layout
    from archscope.spec.templates import TEMPLATES, table, template

_HOMES = {  # each submodule and the names it gives the package
    "expect": ("Check", "Expect"),
    "nodes": ("Act", "AdaptivePool", "Aux", "Concat", "Conv", "Dense", "Dropout", "Flatten", "Gate", "Identity",
              "Linear", "Model", "Node", "Norm", "Pool", "Residual", "Seq", "StochasticDepth"),
    "serialize": ("dump_file", "from_dict", "load_file", "to_dict"),
    "sites": ("Layout", "Site", "layout"),
    "templates": ("TEMPLATES", "table", "template"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
__all__ = [
    "Act", "AdaptivePool", "Aux", "Check", "Concat", "Conv", "Dense", "Dropout", "Expect",
    "Flatten", "Gate", "Identity", "Layout", "Linear", "Model", "Node", "Norm", "Pool",
    "Residual", "Seq", "Site", "StochasticDepth", "TEMPLATES", "dump_file", "from_dict",
    "layout", "load_file", "table", "template", "to_dict",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # asked once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
