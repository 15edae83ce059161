"""What ran before a model broke, for the error message of a too-small input."""

from __future__ import annotations

from collections.abc import Sequence

from archscope.report import units
from archscope.tracer.records import LayerRecord

SHOWN = 12


def render_partial(records: Sequence[LayerRecord]) -> str:
    leaves = [r for r in records if r.is_leaf]
    lines = ["layers that ran before the failure:"]
    if len(leaves) > SHOWN:
        lines.append(f"  ... {len(leaves) - SHOWN} earlier layers")
    width = max((len(r.name) for r in leaves[-SHOWN:]), default=0)
    for r in leaves[-SHOWN:]:
        lines.append(f"  {r.name:<{width}}  {r.type:<18} -> {units.shapes(r.output_shapes)}")
    return "\n".join(lines) + "\n"
