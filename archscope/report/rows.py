"""Which records a report shows at a depth, and what each row's parameter cell means.

A row at the depth limit, or a leaf, shows the parameters of its whole subtree; an
expanded container shows only its own (so the column always sums to the total of
the modules that ran). A repeated call of a module shows none: they were counted
on its first call.
"""

from __future__ import annotations

from archscope.tracer.records import LayerRecord, Trace


def visible(trace: Trace, depth: int | None) -> list[LayerRecord]:
    """Records down to ``depth`` (None: all), without the root."""
    return [r for r in trace.layers if r.depth >= 1 and (depth is None or r.depth <= depth)]


def shown_params(rec: LayerRecord, depth: int | None) -> int:
    if rec.call > 1:
        return 0
    folded = rec.is_leaf or (depth is not None and rec.depth >= depth)
    return rec.params_total if folded else rec.params


def check_summary(trace: Trace) -> str | None:
    """``expected shapes: 31 checked, 31 match`` (None when the model has no expectations)."""
    checks = trace.checks
    if not checks:
        return None
    bad = len(trace.mismatches)
    channels_only = sum(1 for _, c in checks if c.status == "channels match")
    line = f"expected shapes: {len(checks)} checked, {len(checks) - bad} match"
    if bad:
        line += f", {bad} MISMATCH"
    if channels_only:
        line += (f" ({channels_only} on batch and channels only: spatial sizes are documented "
                 f"for the reference input {'×'.join(map(str, trace.reference_input or ()))})")
    return line
