"""Which records a report shows at a depth, and what each row's count cells mean.

A row at the depth limit, or a leaf, shows the parameters (and MACs) of its whole
subtree; an expanded container shows only its own, so each column sums to the total.
A repeated call of a module shows no parameters (counted on its first call) but its
own MACs (every call costs). The root is shown only when its own forward code ran
counted operators outside any submodule.
"""

from __future__ import annotations

from archscope.spec.inputs import fmt_shape
from archscope.tracer.records import LayerRecord, Trace

ROOT_LABEL = "(model's own forward)"


def visible(trace: Trace, depth: int | None) -> list[LayerRecord]:
    """Records down to ``depth`` (None: all); the root only if it ran counted operators itself."""
    return [r for r in trace.layers
            if (r.depth >= 1 and (depth is None or r.depth <= depth)) or (r.depth == 0 and r.macs)]


def shown(rec: LayerRecord, field: str, depth: int | None) -> int:
    """``field`` of the row (``macs``, ``saved_bytes``...): its subtree's ``field_total`` when the
    row is folded (a leaf, or at the depth limit; never the root), so each column sums to the total."""
    folded = rec.is_leaf or (depth is not None and rec.depth >= depth)
    return getattr(rec, field + "_total") if folded and rec.depth else getattr(rec, field)


def shown_params(rec: LayerRecord, depth: int | None) -> int:
    if rec.call > 1:
        return 0
    return shown(rec, "params", depth)


def shown_macs(rec: LayerRecord, depth: int | None) -> int:
    return shown(rec, "macs", depth)


def check_summary(trace: Trace) -> str | None:
    """``expected shapes: 31 checked, 31 match`` (None when the model has no expectations)."""
    checks = trace.checks
    if not checks and not trace.unchecked:
        return None
    bad = len(trace.mismatches)
    channels_only = sum(1 for _, c in checks if c.status == "channels match")
    line = f"expected shapes: {len(checks)} checked, {len(checks) - bad} match"
    if bad:
        line += f", {bad} MISMATCH"
    if channels_only:
        line += (f" ({channels_only} on batch and channels only: spatial sizes are documented "
                 f"for the reference input {fmt_shape(trace.reference_input or (), None)})")
    if trace.unchecked:
        line += (f"; {len(trace.unchecked)} not checked: their layers did not run "
                 f"({'an auxiliary head runs only with --train' if trace.mode == 'eval' else 'not called'})")
    return line
