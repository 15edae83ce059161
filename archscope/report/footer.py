"""The lines under every human-readable report: totals, cost and its convention, checks, notes."""

from __future__ import annotations

from archscope.report import units
from archscope.report.rows import check_summary
from archscope.spec.inputs import describe_all
from archscope.tracer.records import Trace


def footer_lines(trace: Trace, flops: bool = False) -> list[str]:
    t = trace.totals
    how = "computed from the spec, no forward pass" if trace.device == "spec" else f"traced on {trace.device}"
    inputs = trace.inputs
    lines = [
        f"{'Input' if len(inputs.leaves()) == 1 else 'Inputs'}: {describe_all(inputs, trace.batch)}"
        f"{' (' + inputs.source + ')' if inputs.source else ''}; parameters {trace.dtype}, {trace.mode} mode, {how}",
        f"Output: {units.shapes(trace.output_shapes)}",
        f"Total params: {units.count(t.params)} ({units.short(t.params)})",
        f"Trainable params: {units.count(t.trainable_params)}",
        f"Non-trainable params: {units.count(t.non_trainable_params)}",
        f"Buffers: {units.count(t.buffers)} elements",
        cost_line(trace, flops),
        f"Convention ({trace.convention}): {trace.convention_text}; {trace.mode} mode",
        f"Memory ({trace.dtype}): params {units.nbytes(t.param_bytes)}, buffers {units.nbytes(t.buffer_bytes)}, "
        f"forward activations {units.nbytes(t.activation_bytes)} (outputs of every leaf layer"
        f"{'; what backward keeps is measured below, under Saved for backward' if trace.step else ''})",
    ]
    if trace.not_counted:
        lines.append("not counted (no counting rule): " + ", ".join(
            f"{op} ({n} call{'s' if n > 1 else ''})" for op, n in trace.not_counted.items()))
    for name, params in trace.not_run:
        lines.append(f"not run in {trace.mode} mode: {name} ({units.count(params)} params, "
                     "included in the totals)")
    lines += notes(trace)
    summary = check_summary(trace)
    if summary:
        lines.append(summary)
    lines += [f"  mismatch at {name}: {check.describe()}" for name, check in trace.mismatches]
    return lines


def cost_line(trace: Trace, flops: bool) -> str:
    macs = trace.totals.macs
    if flops:
        return f"Total FLOPs: {units.short(2 * macs)} ({units.count(2 * macs)}; FLOPs = 2 × MACs)"
    return f"Total MACs: {units.short(macs)} ({units.count(macs)})"


def notes(trace: Trace) -> list[str]:
    """What a reader should know about how the numbers came about: where the model ran,
    weights shared between modules, modules called more than once."""
    out = [cpu_note(trace)] if trace.cpu_reason else []
    out += list(dict.fromkeys(f"tied weights: {p} is {owner} (counted once)" for p, owner in trace.tied))
    again = [name or "the model" for name in trace.called_again]
    if again:
        some = ", ".join(again[:3]) + (f" and {len(again) - 3} more" if len(again) > 3 else "")
        out.append(f"{some} {'is' if len(again) == 1 else 'are'} called more than once: "
                   "parameters are counted once, every call is shown")
    return out


def cpu_note(trace: Trace) -> str:
    return (f"traced on cpu: the model cannot run on the meta device ({trace.cpu_reason}); "
            "--device meta makes that an error")
