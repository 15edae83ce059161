"""The dataflow of one forward pass: plain data, no torch (``archscope.report.dot`` draws it).

Nodes are what ran: every call of a leaf module (a module with no children), every
function applied to tensors between modules (``add``, ``cat``, ``mul``, ``flatten``...),
and the model's inputs and outputs. An edge is one tensor going from the node that
produced it to a node that consumed it. Container modules (stages, blocks) are not
nodes; they are the ``scope`` chain of the nodes inside them and are drawn as clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archscope.spec.expect import Check
from archscope.spec.inputs import Inputs

Shape = tuple[int, ...]

# Join categories: functions that combine tensors.
JOINS = ("add", "concat", "multiply")


@dataclass
class FlowNode:
    """One node. ``id`` is derived from module paths and per-scope counters, never from
    object identity, so the same model always gives the same ids."""

    id: str
    kind: str  # "input", "output", "module" (one leaf module call) or "op" (a function between modules)
    type: str  # module type ("Conv2d", "Bottleneck") or function name ("add", "cat")
    category: str  # conv, norm, activation, pool, linear, dropout, reshape, add, concat, multiply, ...
    scope: str  # qualified name of the innermost enclosing module ("" is the root)
    name: str = ""  # qualified module name of a module node; the label of an input node
    attrs: dict[str, object] = field(default_factory=dict)  # kernel, stride, groups, p, output...
    params: int = 0
    check: Check | None = None

    @property
    def local(self) -> str:
        """The module's own name inside its parent (``conv1`` for ``layer1.0.conv1``)."""
        return self.name.rsplit(".", 1)[-1]


@dataclass
class FlowEdge:
    src: str
    dst: str
    shape: Shape  # with the batch dimension first


@dataclass
class FlowModule:
    """A container module that ran: drawn as a cluster, or as one node when collapsed."""

    name: str
    type: str
    params: int  # its whole subtree's, each tensor once
    check: Check | None = None

    @property
    def depth(self) -> int:
        return module_depth(self.name)


@dataclass
class FlowGraph:
    model: str
    inputs: Inputs  # what the model was fed
    batch: int
    nodes: list[FlowNode]
    edges: list[FlowEdge]
    modules: dict[str, FlowModule]  # containers by qualified name, in call order; "" is the root
    params: int = 0
    macs: int = 0
    not_run: list[str] = field(default_factory=list)  # modules that never ran (an aux head in eval)

    def inputs_of(self, node_id: str) -> list[FlowEdge]:
        return [e for e in self.edges if e.dst == node_id]

    def outputs_of(self, node_id: str) -> list[FlowEdge]:
        return [e for e in self.edges if e.src == node_id]


def module_depth(name: str) -> int:
    return name.count(".") + 1 if name else 0


def inside(scope: str, module: str) -> bool:
    """Whether a node with this ``scope`` lies in ``module`` (the root holds everything)."""
    return not module or scope == module or scope.startswith(module + ".")
