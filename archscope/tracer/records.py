"""What a trace produces: plain data, no formatting (that lives in ``archscope.report``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from archscope.spec.expect import Check, Expect
from archscope.spec.inputs import Inputs

Shape = tuple[int, ...]


@dataclass
class LayerRecord:
    """One call of one module. A module called twice has two records (``call`` 1 and 2);
    its parameters are counted on the first only."""

    name: str  # qualified module name; "" is the root
    type: str
    depth: int  # 0 for the root
    call: int = 1
    input_shapes: list[Shape] = field(default_factory=list)
    output_shapes: list[Shape] = field(default_factory=list)
    params: int = 0  # the module's own parameters, each tensor counted once in the model
    trainable_params: int = 0
    params_total: int = 0  # own + descendants', each tensor once
    buffers: int = 0  # elements of the module's own buffers
    is_leaf: bool = True
    tied: list[str] = field(default_factory=list)  # "weight = encoder.weight"
    check: Check | None = None
    parent: int | None = None  # index of the enclosing call's record
    macs: int = 0  # counted by operators run directly in this call (not in child modules)
    macs_total: int = 0  # this call and every call inside it
    output_bytes: int = 0
    called: bool = True  # False: a container never called itself (a ModuleList looped over), whose layers ran

    @property
    def output_shape(self) -> Shape | None:
        return self.output_shapes[0] if self.output_shapes else None


@dataclass
class Totals:
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    macs: int = 0
    activation_bytes: int = 0  # outputs of every leaf-module call, as kept for a backward pass

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params


@dataclass
class Trace:
    """Everything one forward pass showed about a model."""

    model: str
    inputs: Inputs  # what was fed, by name, per-sample shape, batch position and dtype; and from where
    batch: int
    device: str
    mode: str  # "eval" or "train"
    dtype: str
    layers: list[LayerRecord]
    totals: Totals
    output_shapes: list[Shape] = field(default_factory=list)
    reference_input: Shape | None = None
    not_run: list[tuple[str, int]] = field(default_factory=list)  # (module, params) never called
    unchecked: list[str] = field(default_factory=list)  # expectations on modules that never ran
    tied: list[tuple[str, str]] = field(default_factory=list)  # (parameter, the one it is): counted once
    called_again: list[str] = field(default_factory=list)  # modules called more than once ("" the model)
    cpu_reason: str = ""  # why it was traced on the CPU: it cannot run on the meta device
    convention: str = ""
    convention_text: str = ""
    macs_by_category: dict[str, int] = field(default_factory=dict)
    not_counted: dict[str, int] = field(default_factory=dict)  # aten op -> calls with no counting rule

    @property
    def input(self) -> Shape:
        """The per-sample shape of the model's only input (``(C, H, W)`` for an image); ``()`` when
        it takes several or none. For the spec analyses, whose models take one image."""
        leaves = self.inputs.leaves()
        return leaves[0].shape if len(leaves) == 1 else ()

    @property
    def checks(self) -> list[tuple[str, Check]]:
        return [(r.name, r.check) for r in self.layers if r.check is not None]

    @property
    def mismatches(self) -> list[tuple[str, Check]]:
        return [(n, c) for n, c in self.checks if not c.ok]


def add_inclusive_macs(records: list[LayerRecord]) -> None:
    """``macs_total``: each call's own MACs plus everything called inside it (records in call order)."""
    for rec in reversed(records):
        rec.macs_total += rec.macs
        if rec.parent is not None:
            records[rec.parent].macs_total += rec.macs_total


def check_expectations(trace: Trace, expectations: Mapping[str, Expect]) -> None:
    """Attach each expectation to the first call of its module; list those that never ran."""
    at_reference = trace.reference_input is not None and tuple(trace.input) == trace.reference_input
    for rec in trace.layers:
        expect = expectations.get(rec.name)
        if expect is not None and rec.call == 1 and rec.output_shape is not None:
            rec.check = expect.check(rec.output_shape, trace.batch, at_reference)
    ran = {rec.name for rec in trace.layers}
    trace.unchecked = [name for name in expectations if name not in ran]
