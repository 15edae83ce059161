"""What a trace produces: plain data, no formatting (that lives in ``archscope.report``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archscope.spec.expect import Check, Expect
from archscope.spec.inputs import Inputs

if TYPE_CHECKING:
    from archscope.report.columns import Additions

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
    # a training step (``Trace.step``): backward MACs run for this call's own operators, split into those
    # that make the gradient of an input (of this call's operators) and of a parameter, and the bytes
    # autograd saved for backward here (each storage once); ``*_total`` include the calls inside it
    grad_input_macs: int = 0
    grad_weight_macs: int = 0
    saved_bytes: int = 0
    grad_input_macs_total: int = 0
    grad_weight_macs_total: int = 0
    saved_bytes_total: int = 0

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
class StepCost:
    """One training step: forward, backward of the sum of the outputs, the optimizer's step.

    Bytes of the whole step; ``peaks`` is the most held at once in each phase (``forward``,
    ``backward``, ``optimizer step``): weights, buffers and optimizer state throughout,
    plus every tensor alive then (inputs, activations, saved tensors, gradients).
    """

    optimizer: str
    amp: str | None = None
    frozen: int = 0  # parameters (elements) frozen by the request's patterns
    checkpointed: list[str] = field(default_factory=list)
    forward_macs: int = 0
    grad_input_macs: int = 0
    grad_weight_macs: int = 0
    recompute_macs: int = 0  # forward operators run again in backward (checkpointed modules)
    weight_bytes: int = 0  # parameters and buffers, as the model holds them
    grad_bytes: int = 0  # one gradient per trainable parameter
    optimizer_bytes: int = 0  # the optimizer's state
    step_temporary_bytes: int = 0  # what the optimizer's step makes at once
    saved_bytes: int = 0  # what autograd kept for backward, each storage once
    peaks: dict[str, int] = field(default_factory=dict)
    not_counted: dict[str, int] = field(default_factory=dict)  # backward aten op -> calls with no rule

    @property
    def backward_macs(self) -> int:
        return self.grad_input_macs + self.grad_weight_macs + self.recompute_macs

    @property
    def step_macs(self) -> int:
        return self.forward_macs + self.backward_macs

    @property
    def peak(self) -> tuple[str, int]:
        """The phase with the highest peak, and that peak."""
        return max(self.peaks.items(), key=lambda kv: kv[1]) if self.peaks else ("", 0)


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
    step: StepCost | None = None  # a training step's cost (``trace(..., training=...)``)

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

    # How a trace shows itself (``print(t)``, a notebook, ``repr``): the report renderers,
    # imported when called (the tracer does not depend on archscope.report).

    def __repr__(self) -> str:
        """One line: ``<Trace resnet50: 25,557,032 params, 4.09G MACs, input 1×3×224×224 float32,
        70 layers, on spec>`` (layers: the calls of modules without children)."""
        from archscope.report import units
        from archscope.spec.inputs import signature

        fed = signature(self.inputs, self.batch)
        if len(fed) > 60:
            fed = fed[:59] + "…"
        layers = sum(1 for r in self.layers if r.is_leaf)
        extra = f", {self.mode} mode" if self.mode != "eval" else ""
        extra += ", training step" if self.step is not None else ""
        extra += f", {len(self.mismatches)} MISMATCH" if self.mismatches else ""
        return (f"<Trace {self.model}: {units.count(self.totals.params)} params, {units.short(self.totals.macs)} "
                f"MACs, input{'s' if len(self.inputs.leaves()) > 1 else ''} {fed}, {layers} "
                f"layer{'' if layers == 1 else 's'}, on {self.device}{extra}>")

    def __str__(self) -> str:
        """The summary table (depth 3) as ``archscope summary`` prints it: fitted to the terminal
        (or ``COLUMNS``) when stdout is one, else whole (:mod:`archscope.report.console`)."""
        from archscope.report.console import text
        from archscope.report.table import render_table

        return text(render_table(self, 3, extra=self._additions(3)))

    def _repr_html_(self) -> str:
        """The summary table in HTML, for Jupyter: the rows, marks and footer of :meth:`__str__`."""
        from archscope.report.html.table import table_html

        return table_html(self, 3, extra=self._additions(3))

    def to_pandas(self, depth: int | None = None) -> Any:
        """The layers as a ``pandas.DataFrame``: the rows and columns of ``archscope summary -f csv``
        (every layer, or down to ``depth``; a training step's six columns too), numbers as ints."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        from archscope.report.machine import csv_header, csv_records, csv_row

        extra = self._additions(depth)
        return pd.DataFrame([csv_row(r, extra, typed=True) for r in csv_records(self, depth)],
                            columns=csv_header(extra))

    def _additions(self, depth: int | None, flops: bool = False) -> Additions:
        """What every report of this trace adds to the standard summary: its training step's."""
        from archscope.report.columns import NONE
        from archscope.report.training import training_additions

        return training_additions(self, depth, flops) if self.step is not None else NONE


INCLUSIVE = ("macs", "grad_input_macs", "grad_weight_macs", "saved_bytes")  # each has a ``_total``


def add_inclusive_macs(records: list[LayerRecord]) -> None:
    """``macs_total`` (and the other :data:`INCLUSIVE` totals): each call's own plus everything
    called inside it (records in call order)."""
    for rec in reversed(records):
        for name in INCLUSIVE:
            total = getattr(rec, name + "_total") + getattr(rec, name)
            setattr(rec, name + "_total", total)
            if rec.parent is not None:
                parent = records[rec.parent]
                setattr(parent, name + "_total", getattr(parent, name + "_total") + total)


def check_expectations(trace: Trace, expectations: Mapping[str, Expect]) -> None:
    """Attach each expectation to the first call of its module; list those that never ran."""
    at_reference = trace.reference_input is not None and tuple(trace.input) == trace.reference_input
    for rec in trace.layers:
        expect = expectations.get(rec.name)
        if expect is not None and rec.call == 1 and rec.output_shape is not None:
            rec.check = expect.check(rec.output_shape, trace.batch, at_reference)
    ran = {rec.name for rec in trace.layers}
    trace.unchecked = [name for name in expectations if name not in ran]
