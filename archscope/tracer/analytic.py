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
from archscope.spec.sites import Layout, Site, layout
from archscope.tracer.conventions import TORCHVISION
from archscope.tracer.records import LayerRecord, Shape, Totals, Trace, add_inclusive_macs, check_expectations

CONVENTION, DESCRIPTION = TORCHVISION.name, TORCHVISION.description  # the numbers of the default convention
_INT64_BYTES = 8  # BatchNorm's num_batches_tracked

def _leaf_macs(node: sn.Node, site: Site, batch: int) -> tuple[str, int]:
    """(category, MACs) of one call at ``batch``: conv and linear, bias not counted."""
    if isinstance(node, sn.Conv):
        h, w = node.windows()
        return "conv", batch * math.prod(site.out_shape) * (site.in_shape[0] // node.groups) * h.kernel * w.kernel
    if isinstance(node, sn.Linear):
        return "linear", batch * math.prod(site.out_shape) * site.in_shape[-1]
    return "", 0


def _buffers(node: sn.Node, in_shape: Shape) -> tuple[int, int]:
    """(floating elements, int64 elements) of the module's own buffers."""
    return (2 * in_shape[0], 1) if isinstance(node, sn.Norm) else (0, 0)


def _container_type(node: sn.Node) -> str:
    """What the builder makes of a named container: its label, an nn.Sequential, or a Block named by its type."""
    label = getattr(node, "label", None)
    return label or ("Sequential" if isinstance(node, sn.Seq) and node.is_sequential else type(node).__name__)


def _records(lay: Layout, reference: Layout, batch: int, nbytes: int) -> tuple[list[LayerRecord], dict[str, int],
                                                                              list[tuple[str, int]]]:
    """The eval-mode records, one per module in call order (the layout's sites are in that order):
    the layout at this input for shapes, at the reference input for parameters."""
    out = (batch, *lay.output)
    records = [LayerRecord(name="", type=lay.model.label or "Network", depth=0, input_shapes=[(batch, *lay.input)],
                           output_shapes=[out], is_leaf=False, params_total=reference.params,
                           output_bytes=math.prod(out) * nbytes)]
    index = {"": 0}  # module name -> its record
    subtree = _subtree_params(reference)
    by_category: dict[str, int] = {}
    not_run: list[tuple[str, int]] = []
    for site in lay.sites[1:]:
        if site.module is None:  # an unnamed container: its children belong to the enclosing module
            continue
        if site.training_only:  # an auxiliary head does not run in eval mode: its outermost modules are listed
            if not lay.site_of(site.parent).training_only:
                not_run.append((site.module, subtree[site.module]))
            continue
        node, shape = site.node, (batch, *site.out_shape)
        rec = LayerRecord(name=site.module, type=_container_type(node) if node.CONTAINER
                          else node.module_type(len(site.in_shape)), depth=site.depth,
                          input_shapes=[(batch, *site.in_shape)], output_shapes=[shape], is_leaf=not node.CONTAINER,
                          parent=index[site.parent], params_total=subtree[site.module],
                          output_bytes=math.prod(shape) * nbytes)
        index[site.module] = len(records)
        records.append(rec)
        if not node.CONTAINER:
            rec.params = rec.trainable_params = reference.site(site.path).params
            rec.buffers = sum(_buffers(node, site.in_shape))
            category, rec.macs = _leaf_macs(node, site, batch)
            if rec.macs:
                by_category[category] = by_category.get(category, 0) + rec.macs
    return records, by_category, not_run


def _subtree_params(lay: Layout) -> dict[str, int]:
    """Each module's parameters, its submodules' included."""
    totals = {s.module: 0 for s in lay.sites if s.module is not None}
    for s in lay.sites:
        if s.module and s.params:
            name = s.module
            while name:
                totals[name] += s.params
                name = name.rpartition(".")[0]
    return totals


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
    records, by_category, not_run = _records(lay, reference, batch, nbytes)
    output = records[0].output_shapes[0]
    add_inclusive_macs(records)
    floating = sum(_buffers(s.node, s.in_shape)[0] for s in reference.sites if not s.node.CONTAINER)
    counters = sum(_buffers(s.node, s.in_shape)[1] for s in reference.sites if not s.node.CONTAINER)
    totals = Totals(params=reference.params, trainable_params=reference.params, buffers=floating + counters,
                    param_bytes=reference.params * nbytes,
                    buffer_bytes=floating * nbytes + counters * _INT64_BYTES,
                    macs=sum(r.macs for r in records),
                    activation_bytes=sum(r.output_bytes for r in records if r.is_leaf))
    trace = Trace(model=name, inputs=inputs, batch=batch, device="spec", mode="eval", dtype=dtype,
                  layers=records, totals=totals, output_shapes=[output], reference_input=tuple(model.input),
                  not_run=not_run, convention=CONVENTION, convention_text=DESCRIPTION,
                  macs_by_category=dict(sorted(by_category.items(), key=lambda kv: -kv[1])))
    check_expectations(trace, reference.expectations())
    return trace
