"""What flowed where: tensor tracking during the hook tracer's forward pass.

One construction for every model, zoo or user's: the graph is what actually ran, not
what a spec says. Two things watch the pass that :func:`archscope.tracer.hooks.trace_module`
runs:

- global module hooks: each call of a *leaf* module (no children) becomes a node; its
  input tensors are looked up by object to find the nodes that produced them, and its
  outputs are registered as its own;
- a ``TorchFunctionMode``: a torch function applied to tracked tensors while a
  *container* module is running (``out + identity``, ``torch.cat``, ``x * gate``,
  ``torch.flatten``, ``F.relu`` in user code) becomes a node of its own. Functions that
  run inside a leaf module (a conv's own ``conv2d``) are not nodes.

# NOTE: tensors are matched by object identity (``id()``) while they are alive (the
# recorder holds a reference, so an id is never reused during the pass); ids never reach
# the output: node ids come from module paths and per-scope counters. An in-place
# function or module (``out += identity``, ``ReLU(inplace=True)``) makes its node the
# tensor's new producer, which is the dataflow as it happened.
#
# NOTE: global hooks (``register_module_forward_pre_hook``) rather than hooks on one
# model: they see the module that ``archscope.api.trace`` builds, so the graph comes from
# the very pass that checks the expectations, with no second forward. A top-level call
# made while a model is being constructed (a shape probe in a user's ``__init__``) is
# forgotten: each new top-level call starts the recording again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn
from torch.nn.modules import module as torch_module
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.pooling import _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd, _AvgPoolNd, _MaxPoolNd
from torch.overrides import TorchFunctionMode

from archscope.builder.inputs import tensors_in
from archscope.builder.modules import StochasticDepth
from archscope.tracer.flow import FlowEdge, FlowGraph, FlowModule, FlowNode
from archscope.tracer.records import Trace

# Layer categories (colours in the diagram), by module type: first match wins.
CATEGORIES: tuple[tuple[tuple[type[nn.Module], ...], str], ...] = (
    ((_ConvNd,), "conv"),
    ((_NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm), "norm"),
    ((nn.ReLU, nn.ReLU6, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh,
      nn.LeakyReLU, nn.ELU, nn.PReLU, nn.Mish, nn.Softmax, nn.LogSoftmax), "activation"),
    ((_MaxPoolNd, _AvgPoolNd, _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd), "pool"),
    ((nn.Linear, nn.Bilinear), "linear"),
    ((_DropoutNd, StochasticDepth), "dropout"),
    ((nn.Flatten, nn.Unflatten), "reshape"),
    ((nn.Identity,), "identity"),
)

# Key attributes shown on a node, by module type.
ATTRIBUTES: tuple[tuple[tuple[type[nn.Module], ...], Callable[[Any], dict[str, object]]], ...] = (
    ((_ConvNd,), lambda m: {"kernel": m.kernel_size, "stride": m.stride, "groups": m.groups,
                            "dilation": m.dilation}),
    ((_MaxPoolNd, _AvgPoolNd), lambda m: {"kernel": m.kernel_size, "stride": m.stride}),
    ((_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd), lambda m: {"output": m.output_size}),
    ((_DropoutNd, StochasticDepth), lambda m: {"p": m.p}),
)

# Functions that join tensors, by (normalised) name.
JOIN_FUNCTIONS = {"add": "add", "sub": "add", "cat": "concat", "concat": "concat", "concatenate": "concat",
                  "stack": "concat", "mul": "multiply"}
_BINARY = {"add", "sub", "mul", "truediv", "floordiv", "matmul", "pow", "and", "or", "xor", "mod"}


def category_of(module: nn.Module) -> str:
    for types, category in CATEGORIES:
        if isinstance(module, types):
            return category
    return "layer"


def attributes_of(module: nn.Module) -> dict[str, object]:
    for types, get in ATTRIBUTES:
        if isinstance(module, types):
            return get(module)
    return {}


def function_name(func: Any) -> tuple[str, bool]:
    """``(name, in_place)``: ``Tensor.__iadd__`` and ``add_`` are ``("add", True)``."""
    name = getattr(func, "__name__", type(func).__name__)
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name[:1] in ("i", "r") and name[1:] in _BINARY:
            return name[1:], name[0] == "i"
        return name, False
    if name.endswith("_") and not name.startswith("_"):
        return name.rstrip("_"), True
    return name, False


def tensors(value: Any) -> list[Tensor]:
    """Tensors inside tensors, tuples, lists and dicts, in order."""
    return [t for _, t in tensors_in(value)]


@dataclass
class _Call:
    name: str
    leaf: bool
    node: str | None  # the node of a leaf call


class DataflowRecorder(TorchFunctionMode):
    """Records nodes and edges of the forward pass run while it is active (see :func:`recording`)."""

    def __init__(self) -> None:
        super().__init__()
        self.announced: list[tuple[str, Tensor]] = []  # (label, tensor) of the inputs of the next pass
        self._start(None)

    def announce(self, inputs: list[tuple[str, Tensor]]) -> None:
        """The inputs of the forward pass about to run, labelled (``ids: 1×128 int64``): one
        input node each, keyword arguments included (module hooks see positional ones only).
        A pass that failed (on meta, before the CPU run) left calls open: they are dropped."""
        self.announced = inputs
        self.stack.clear()

    def _start(self, root: nn.Module | None) -> None:
        self.names: dict[int, str] = {id(m): n for n, m in root.named_modules()} if root is not None else {}
        self.stack: list[_Call] = []
        self.producer: dict[int, tuple[Tensor, str]] = {}  # id(tensor) -> (tensor kept alive, node id)
        self.nodes: list[FlowNode] = []
        self.edges: list[FlowEdge] = []
        self.counts: Counter[str] = Counter()
        self.module_call: dict[str, tuple[str, int]] = {}  # node id -> (module name, call number)

    # ------------------------------------------------------------ module hooks

    def _input(self, t: Tensor, label: str) -> None:
        if id(t) not in self.producer:
            node = self._node("/input", "input", "input", "io", "", name=label)
            self.producer[id(t)] = (t, node.id)

    def pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self.stack and self.stack[-1].leaf:  # a module run by a leaf's own code: part of the leaf
            self.stack.append(_Call("", True, None))
            return
        if not self.stack:  # a new top-level call: the model's forward pass
            self._start(module)
            for label, t in self.announced:
                self._input(t, label)
            for t in tensors(args):
                self._input(t, "input")
        name: str | None = self.names.get(id(module))
        outer = self.stack[-1].name if self.stack else ""
        if module._modules:
            self.stack.append(_Call(outer if name is None else name, False, None))
            return
        scope = outer if name is None else name.rpartition(".")[0]
        base = f"{scope}/{module._get_name()}" if name is None else name or "/model"  # unregistered or root
        node = self._node(base, "module", module._get_name(), category_of(module), scope, name=name or "",
                          attrs=attributes_of(module))
        if name is not None:
            self.module_call[node.id] = (name, self.counts[base])
        self._consume(node.id, tensors(args))
        self.stack.append(_Call(name or "", True, node.id))

    def post(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.stack:
            return
        call = self.stack.pop()
        if call.node is not None:
            self._produce(output, call.node)
        if not self.stack:
            outputs = tensors_in(output, "" if isinstance(output, dict) else "output")
            for label, t in outputs:  # one node per output tensor, a dict's by key
                node = self._node("/output", "output", "output", "io", "", name=label if len(outputs) > 1 else "")
                self._consume(node.id, [t])

    # ------------------------------------------------------------ functions between modules

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.stack and not self.stack[-1].leaf:
            self._function(func, (args, kwargs), out)
        return out

    def _function(self, func: Any, args: Any, out: Any) -> None:
        results = tensors(out)
        if not results:
            return
        inputs = [t for t in tensors(args) if id(t) in self.producer]
        if not inputs:
            return
        name, in_place = function_name(func)
        if not in_place and all(any(r is t for t in inputs) for r in results):
            return  # returned its input unchanged (``x.contiguous()``): no new data
        scope = self.stack[-1].name
        node = self._node(f"{scope}/{name}", "op", name, JOIN_FUNCTIONS.get(name, "function"), scope)
        self._consume(node.id, inputs)
        self._produce(results, node.id)

    # ------------------------------------------------------------ bookkeeping

    def _node(self, base: str, kind: str, type_: str, category: str, scope: str, **fields: Any) -> FlowNode:
        self.counts[base] += 1
        n = self.counts[base]
        node = FlowNode(id=base if n == 1 else f"{base}#{n}", kind=kind, type=type_, category=category,
                        scope=scope, **fields)
        self.nodes.append(node)
        return node

    def _consume(self, node_id: str, tensors: list[Tensor]) -> None:
        for t in tensors:
            src = self.producer.get(id(t))
            if src is not None:
                self.edges.append(FlowEdge(src[1], node_id, tuple(t.shape)))

    def _produce(self, output: Any, node_id: str) -> None:
        for t in tensors(output):
            self.producer[id(t)] = (t, node_id)

    # ------------------------------------------------------------ result

    def graph(self, trace: Trace) -> FlowGraph:
        """The recorded dataflow, with parameters and expectation checks from ``trace``."""
        if not self.nodes:
            raise RuntimeError("no forward pass was recorded: trace with analytic=False inside recording()")
        records = {(r.name, r.call): r for r in trace.layers}
        for node in self.nodes:
            rec = records.get(self.module_call.get(node.id, ("", 0)))
            if rec is not None:
                node.params, node.check = rec.params, rec.check
        modules = {r.name: FlowModule(r.name, r.type, r.params_total, r.check)
                   for r in trace.layers if not r.is_leaf and r.call == 1}
        return FlowGraph(model=trace.model, inputs=trace.inputs, batch=trace.batch, nodes=self.nodes,
                         edges=self.edges, modules=modules, params=trace.totals.params,
                         macs=trace.totals.macs, not_run=[name for name, _ in trace.not_run])


@contextmanager
def recording() -> Iterator[DataflowRecorder]:
    """Record the dataflow of the forward pass run inside the ``with`` block::

        with recording() as flow:
            t = archscope.api.trace("resnet50", analytic=False)
        graph = flow.graph(t)
    """
    from archscope.tracer.hooks import INPUT_OBSERVERS

    recorder = DataflowRecorder()
    handles = [torch_module.register_module_forward_pre_hook(recorder.pre),
               torch_module.register_module_forward_hook(recorder.post)]
    INPUT_OBSERVERS.append(recorder.announce)
    try:
        with recorder:
            yield recorder
    finally:
        INPUT_OBSERVERS.remove(recorder.announce)
        for h in handles:
            h.remove()
