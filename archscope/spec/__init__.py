"""Architectures as data: the node vocabulary, shape expectations, layout, (de)serialisation.

Nothing in this package imports torch.
"""

from archscope.spec.expect import Check, Expect
from archscope.spec.layout import Layout, Site, layout
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
from archscope.spec.templates import TEMPLATES, table, template

__all__ = [
    "Act", "AdaptivePool", "Aux", "Check", "Concat", "Conv", "Dense", "Dropout", "Expect",
    "Flatten", "Gate", "Identity", "Layout", "Linear", "Model", "Node", "Norm", "Pool",
    "Residual", "Seq", "Site", "StochasticDepth", "TEMPLATES", "dump_file", "from_dict",
    "layout", "load_file", "table", "template", "to_dict",
]
