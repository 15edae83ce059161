"""Rendering a training step (``summary --training``): what :class:`~archscope.tracer.records.StepCost`
and the per-layer backward fields add to a summary, as :class:`~archscope.report.columns.Additions`.

Per format (:mod:`archscope.report.columns` says where additions go):

- table and Markdown: ``In-grad MACs`` and ``W-grad MACs`` (``FLOPs`` with ``--flops``: the
  input- and weight-gradient MACs) and ``Saved`` (bytes autograd saved for backward), folded
  like ``MACs`` (:func:`archscope.report.rows.shown`): a row at the
  depth limit, or a leaf, shows its whole subtree, an expanded container its own operators,
  so each column sums to the total; then footer lines with the step's MACs, its memory and
  the peak of each phase;
- CSV: ``grad_input_macs``, ``grad_weight_macs``, ``saved_bytes`` (the call's own operators)
  and their ``_total`` (the call and every call inside it), like ``macs`` and ``macs_total``;
- JSON: the same six keys per layer, and at the top ``training``: every field of the
  step's :class:`~archscope.tracer.records.StepCost` (``optimizer``, ``amp``, ``frozen``,
  ``checkpointed``, ``forward_macs``, ``grad_input_macs``, ``grad_weight_macs``,
  ``recompute_macs``, ``weight_bytes``, ``grad_bytes``, ``optimizer_bytes``,
  ``step_temporary_bytes``, ``saved_bytes``, ``peaks`` {phase: bytes}, ``not_counted``
  {aten op: calls}), with ``backward_macs``, ``step_macs``, ``peak_phase``, ``peak_bytes``,
  ``optimizer_keeps`` (what its state is) and ``not_estimated`` (what the bytes leave out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from archscope.report import units
from archscope.report.columns import Additions, Column
from archscope.report.rows import shown
from archscope.tracer.records import LayerRecord, StepCost, Trace
from archscope.tracer.training import AMP_MODES, OPTIMIZERS

NOT_ESTIMATED = ("allocator rounding and fragmentation, library workspaces (cuDNN's and cuBLAS's), the CUDA "
                 "context; and the backward pass is that of the sum of the outputs, not of a loss (a loss "
                 "adds its own small cost)")
PER_LAYER = ("grad_input_macs", "grad_weight_macs", "saved_bytes")  # each with a ``_total``


def training_additions(trace: Trace, depth: int | None = None, flops: bool = False) -> Additions:
    """What the training step of ``trace`` adds to its summary (``depth`` and ``flops`` as the
    table is drawn: they decide the folded cells); nothing for a forward-only trace."""
    step = trace.step
    if step is None:
        return Additions()
    unit = "FLOPs" if flops else "MACs"
    columns = [
        Column("input_grad", lambda r: units.cost(shown(r, "grad_input_macs", depth), flops), f"In-grad {unit}",
               machine=False),
        Column("weight_grad", lambda r: units.cost(shown(r, "grad_weight_macs", depth), flops), f"W-grad {unit}",
               machine=False),
        Column("saved", lambda r: _bytes(shown(r, "saved_bytes", depth)), "Saved", machine=False),
    ]
    for key in (*PER_LAYER, *(k + "_total" for k in PER_LAYER)):
        columns.append(Column(key, _text(key), data=_number(key)))
    return Additions(columns, lines=training_lines(trace, flops), data={"training": training_data(step)})


def _text(key: str) -> Callable[[LayerRecord], str]:
    return lambda r: str(getattr(r, key))


def _number(key: str) -> Callable[[LayerRecord], Any]:
    return lambda r: getattr(r, key)


def _bytes(n: int) -> str:
    return units.nbytes(n) if n else "—"


def _macs(n: int, flops: bool) -> str:
    return f"{units.short(2 * n)} FLOPs" if flops else f"{units.short(n)} MACs"


def training_lines(trace: Trace, flops: bool = False) -> list[str]:
    """The footer lines of a training step (table, Markdown)."""
    step = trace.step
    assert step is not None
    rules = OPTIMIZERS[step.optimizer]
    amp = f"autocast to {AMP_MODES[step.amp]} ({step.amp})" if step.amp else "no autocast"
    scale = 2 if flops else 1
    parts = [f"input gradients {units.short(scale * step.grad_input_macs)}",
             f"weight gradients {units.short(scale * step.grad_weight_macs)}"]
    if step.recompute_macs or step.checkpointed:
        parts.append(f"recompute {units.short(scale * step.recompute_macs)}")
    ratio = f" ({step.step_macs / step.forward_macs:.2f} × forward)" if step.forward_macs else ""
    temporaries = (f"; its step makes {rules.temporaries} parameter-sized "
                   f"{'temporary' if rules.temporaries == 1 else 'temporaries'} at once (PyTorch's foreach "
                   "implementation)" if rules.temporaries else "")
    lines = [
        f"Training step ({step.optimizer}, {amp}, {trace.dtype} weights): forward {_macs(step.forward_macs, flops)}, "
        f"backward {_macs(step.backward_macs, flops)} ({', '.join(parts)}), step {_macs(step.step_macs, flops)}"
        f"{ratio}",
        f"Optimizer {step.optimizer}: {rules.keeps}{temporaries}",
        f"Training memory: weights {units.nbytes(step.weight_bytes)} (parameters and buffers), gradients "
        f"{units.nbytes(step.grad_bytes)}, optimizer state {units.nbytes(step.optimizer_bytes)}, "
        f"optimizer step temporaries {units.nbytes(step.step_temporary_bytes)}",
        f"Saved for backward: {units.nbytes(step.saved_bytes)}, measured (the tensors autograd kept, each storage "
        "once; the 'forward activations' above count every leaf layer's output instead)",
    ]
    if step.peaks:
        phase, _ = step.peak
        lines.append("Peak memory: " + ", ".join(f"{p} {units.nbytes(b)}" for p, b in step.peaks.items())
                     + f"; the highest is the {phase}'s (weights, buffers and optimizer state throughout, "
                       "plus every tensor alive then)")
    if step.frozen:
        lines.append(f"Frozen: {units.count(step.frozen)} params (no gradient, no optimizer state)")
    if step.checkpointed:
        some = ", ".join(step.checkpointed[:4]) + (f" and {len(step.checkpointed) - 4} more"
                                                   if len(step.checkpointed) > 4 else "")
        lines.append(f"Checkpointed (recomputed in backward, activations not kept): {some}")
    if step.not_counted:
        lines.append("not counted in backward (no counting rule): " + ", ".join(
            f"{op} ({n} call{'s' if n > 1 else ''})" for op, n in step.not_counted.items()))
    lines.append(f"Not in the training estimate: {NOT_ESTIMATED}")
    return lines


def training_data(step: StepCost) -> dict[str, Any]:
    """The JSON ``training`` object: every field of ``step``, and what follows from them."""
    phase, peak = step.peak
    data = asdict(step)
    data.update(backward_macs=step.backward_macs, step_macs=step.step_macs, peak_phase=phase, peak_bytes=peak,
                optimizer_keeps=OPTIMIZERS[step.optimizer].keeps, not_estimated=NOT_ESTIMATED)
    return data
