"""The trace of a spec, computed from its layout: no torch, no forward pass.

For a zoo model or a spec file in eval mode under the default (torchvision) convention,
every number the hook tracer reports follows from the spec: output shapes from the
layout, parameters and buffers from the layer fields, MACs from the conv and linear
formulas, memory from shapes and the dtype. Computing them directly answers in
milliseconds without importing torch (the tracer needs ~1.5 s of imports and warm-up
before the first meta operator runs). tests/test_analytic.py checks, for every zoo
model, that this trace and the hook tracer's give identical JSON reports.

Anything this module does not model (training mode, other conventions, an input the
layout cannot place) returns ``None`` and the caller runs the hook tracer, which also
produces the detailed error for inputs a model cannot take.
"""

from __future__ import annotations

import math

from archscope.errors import SpecError
from archscope.spec import nodes as sn
from archscope.spec.inputs import DTYPE_BYTES, Inputs
from archscope.spec.layout import Layout, Site, layout, pair
from archscope.tracer.records import LayerRecord, Shape, Totals, Trace, add_inclusive_macs, check_expectations

CONVENTION = "torchvision"
DESCRIPTION = ("MACs: multiply-accumulates of conv, linear, matmul and attention; batch norm, activations, "
               "pooling and adds not counted (torchvision's published GFLOPS are these MACs)")
_INT64_BYTES = 8  # BatchNorm's num_batches_tracked

# What the builder (archscope.builder.from_spec) makes of each leaf: the module's type name.
_ACTIVATION_TYPES = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "hardswish": "Hardswish",
                     "hardsigmoid": "Hardsigmoid", "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU"}


def _leaf_type(node: sn.Node, in_shape: Shape) -> str:
    if isinstance(node, sn.Norm):
        return "BatchNorm2d" if len(in_shape) == 3 else "BatchNorm1d"
    if isinstance(node, sn.Act):
        return _ACTIVATION_TYPES[node.fn]
    if isinstance(node, sn.Pool):
        return "MaxPool2d" if node.mode == "max" else "AvgPool2d"
    if isinstance(node, sn.AdaptivePool):
        return "AdaptiveAvgPool2d" if node.mode == "avg" else "AdaptiveMaxPool2d"
    return {sn.Conv: "Conv2d", sn.Linear: "Linear", sn.Flatten: "Flatten", sn.Dropout: "Dropout",
            sn.StochasticDepth: "StochasticDepth", sn.Identity: "Identity"}[type(node)]


def _leaf_macs(node: sn.Node, site: Site, batch: int) -> tuple[str, int]:
    """(category, MACs) of one call at ``batch``: conv and linear, bias not counted."""
    if isinstance(node, sn.Conv):
        kh, kw = pair(node.kernel)
        return "conv", batch * math.prod(site.out_shape) * (site.in_shape[0] // node.groups) * kh * kw
    if isinstance(node, sn.Linear):
        return "linear", batch * math.prod(site.out_shape) * site.in_shape[-1]
    return "", 0


def _buffers(node: sn.Node, in_shape: Shape) -> tuple[int, int]:
    """(floating elements, int64 elements) of the module's own buffers."""
    return (2 * in_shape[0], 1) if isinstance(node, sn.Norm) else (0, 0)


def _is_sequential(node: sn.Node) -> bool:
    """The builder makes an unlabelled Seq whose children are all modules an nn.Sequential."""
    return (isinstance(node, sn.Seq) and node.label is None
            and all(c.name is not None or not c.CONTAINER for c in node.layers)
            and not any(isinstance(c, sn.Aux) for c in node.layers))


class _Walk:
    """Emits records in call order, mirroring the builder's plan in eval mode."""

    def __init__(self, lay: Layout, reference: Layout, batch: int, nbytes: int) -> None:
        self.lay, self.reference, self.batch, self.nbytes = lay, reference, batch, nbytes
        self.records: list[LayerRecord] = []
        self.by_category: dict[str, int] = {}
        self.not_run: list[tuple[str, int]] = []
        self.stack: list[int] = []

    def subtree_params(self, module: str) -> int:
        prefix = module + "."
        return sum(s.params for s in self.reference.sites
                   if s.module and (s.module == module or s.module.startswith(prefix)))

    def node(self, node: sn.Node, path: str) -> None:
        site = self.lay.site(path)
        if isinstance(node, sn.Aux):  # an auxiliary head does not run in eval mode
            tops = [site] if site.module is not None else [
                s for s in self.lay.sites if s.path.startswith(path + ".") and s.module is not None
                and s.parent == site.parent]
            self.not_run += [(s.module, self.subtree_params(s.module)) for s in tops if s.module]
            return
        if site.module is None:  # an unnamed container: its children belong to the enclosing module
            self.children(node, path)
            return
        out = (self.batch, *site.out_shape)
        rec = LayerRecord(name=site.module, type="", depth=site.module.count(".") + 1,
                          input_shapes=[(self.batch, *site.in_shape)], output_shapes=[out],
                          is_leaf=not node.CONTAINER, parent=self.stack[-1] if self.stack else None,
                          output_bytes=math.prod(out) * self.nbytes)
        self.records.append(rec)
        if node.CONTAINER:
            rec.type = getattr(node, "label", None) or ("Sequential" if _is_sequential(node) else type(node).__name__)
            rec.params_total = self.subtree_params(site.module)
            self.stack.append(len(self.records) - 1)
            self.children(node, path)
            self.stack.pop()
            return
        rec.type = _leaf_type(node, site.in_shape)
        rec.params = rec.trainable_params = rec.params_total = self.reference.site(path).params
        rec.buffers = sum(_buffers(node, site.in_shape))
        category, macs = _leaf_macs(node, site, self.batch)
        if macs:
            rec.macs = macs
            self.by_category[category] = self.by_category.get(category, 0) + macs

    def children(self, node: sn.Node, path: str) -> None:
        for suffix, child in node.children():
            self.node(child, path + suffix if path else suffix.lstrip("."))


def _linear_inputs_fit(lay: Layout, reference: Layout) -> bool:
    """Linear layers are built for the reference input; another input must give them the same features."""
    return all(s.in_shape[-1] == reference.site(s.path).in_shape[-1]
               for s in lay.sites if isinstance(s.node, sn.Linear))


def analytic_trace(model: sn.Model, inputs: Inputs, *, batch: int = 1, name: str = "model",
                   dtype: str = "float32") -> Trace | None:
    """The eval-mode trace of ``model`` under the torchvision convention, its expected shapes
    checked, or ``None`` when the inputs are not one float image that can be placed (the hook
    tracer then reports why, layer by layer)."""
    input_shape = inputs.image
    if input_shape is None:
        return None
    inputs = inputs.with_dtype(dtype)
    reference = layout(model)
    try:
        lay = reference if tuple(input_shape) == tuple(model.input) else layout(model, tuple(input_shape))
    except SpecError:
        return None
    if not _linear_inputs_fit(lay, reference):
        return None
    nbytes = DTYPE_BYTES[dtype]
    walk = _Walk(lay, reference, batch, nbytes)
    output = (batch, *lay.output)
    root = LayerRecord(name="", type=model.label or "Network", depth=0,
                       input_shapes=[(batch, *lay.input)], output_shapes=[output], is_leaf=False,
                       params_total=reference.params, output_bytes=math.prod(output) * nbytes)
    walk.records.append(root)
    walk.stack.append(0)
    walk.children(model.root(), "")
    add_inclusive_macs(walk.records)
    floating = sum(_buffers(s.node, s.in_shape)[0] for s in reference.sites if not s.node.CONTAINER)
    counters = sum(_buffers(s.node, s.in_shape)[1] for s in reference.sites if not s.node.CONTAINER)
    totals = Totals(params=reference.params, trainable_params=reference.params, buffers=floating + counters,
                    param_bytes=reference.params * nbytes,
                    buffer_bytes=floating * nbytes + counters * _INT64_BYTES,
                    macs=sum(r.macs for r in walk.records),
                    activation_bytes=sum(r.output_bytes for r in walk.records if r.is_leaf))
    trace = Trace(model=name, inputs=inputs, batch=batch, device="spec", mode="eval", dtype=dtype,
                  layers=walk.records, totals=totals, output_shapes=[output], reference_input=tuple(model.input),
                  not_run=walk.not_run, convention=CONVENTION, convention_text=DESCRIPTION,
                  macs_by_category=dict(sorted(walk.by_category.items(), key=lambda kv: -kv[1])))
    check_expectations(trace, reference.expectations())
    return trace
