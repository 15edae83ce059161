"""Rendering the analyses: symbolic shapes and receptive fields in the summary, and sizes.

The summary renderers here are the ones of :mod:`archscope.report.table` and
:mod:`archscope.report.machine` with the output shape written as a formula of N, H, W
(``--symbolic``) and/or three more columns, receptive field, jump and start
(``--receptive-field``). JSON keeps schema ``archscope.summary/2`` and adds keys:
per layer ``symbolic_shape``, ``symbolic_macs`` (the layer's ``macs_total`` as a formula)
and ``receptive_field`` (``{"global", "size": [h, w], "jump": [h, w], "start": [h, w],
"gated"}``); at the top ``symbolic`` (``input``, ``output``, ``macs``, ``macs_terms``,
``activation_bytes``, ``activation_terms``; a term is ``{"coef", "factors": [{"axis",
"c", "m"}]}`` meaning coef × Π ⌊(axis + c)/m⌋, times N) and ``receptive_field_convention``.

``archscope sizes`` is rendered by :func:`render_sizes` (text) and :func:`sizes_json`
(schema ``archscope.sizes/1``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType

from archscope import __version__
from archscope.analysis.receptive import Field
from archscope.analysis.sizes import SizeReport, accepted_text, least_input_text
from archscope.analysis.symbolic import Poly, SymbolicModel, shape_text
from archscope.report import units
from archscope.report.footer import footer_lines
from archscope.report.machine import to_json_data
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.report.table import render_table
from archscope.spec.inputs import DTYPE_BYTES
from archscope.tracer.records import LayerRecord, Trace

RF_CONVENTION = ("receptive field size r, jump j (effective stride) and start (centre of the first output "
                 "position's field, input pixel i centred at i) by r' = r + (k-1)·d·j, j' = j·s, "
                 "start' = start + ((k-1)/2·d - p)·j; branches joined by concat or add: the union of their "
                 "fields (the largest branch field when they are centred alike); adaptive pooling and "
                 "linear layers: global; * = also scaled by a global statistic (squeeze-excitation)")


@dataclass
class Extras:
    """What the analyses add to a summary: symbolic shapes and MACs, receptive fields."""

    symbolic: SymbolicModel | None = None
    fields: dict[str, Field] | None = None
    train: bool = False

    def __post_init__(self) -> None:
        sym = self.symbolic
        self.shapes = {n: shape_text(s.out_shape) for n, s in sym.modules(self.train).items()} if sym else {}
        self._macs: dict[str, Poly] | None = None

    @property
    def macs(self) -> dict[str, Poly]:
        if self._macs is None:
            self._macs = self.symbolic.subtree_macs(self.train) if self.symbolic else {}
        return self._macs

    def shape(self, rec: LayerRecord) -> str:
        """The symbolic output shape (the traced one when the spec has no such module)."""
        return self.shapes.get(rec.name) or units.shapes(rec.output_shapes)

    def rf_cells(self, rec: LayerRecord) -> list[str]:
        f = (self.fields or {}).get(rec.name)
        return [f.size_text(), f.jump_text(), f.start_text()] if f else ["?", "?", "?"]

    def lines(self, trace: Trace) -> list[str]:
        out: list[str] = []
        sym = self.symbolic
        if sym is not None:
            nbytes = DTYPE_BYTES.get(trace.dtype, 4)
            h, w = trace.input[1:] if len(trace.input) == 3 else (0, 0)
            out += [f"Symbolic input: {shape_text(sym.input)} (numbers above: N={trace.batch}, H={h}, W={w})",
                    f"Symbolic output: {shape_text(sym.output)}",
                    f"Symbolic MACs: {sym.macs(self.train).text()}",
                    f"Symbolic forward activations ({trace.dtype}): "
                    f"{sym.activations(self.train).text(f'{nbytes}·N')} bytes"]
        if self.fields is not None:
            out.append(f"Receptive field: {RF_CONVENTION}")
        return out


def render_summary(fmt: str, trace: Trace, extras: Extras, depth: int | None = 3, flops: bool = False,
                   by_type: bool = False) -> Any:
    """The summary in ``fmt`` (table, json, csv, markdown) with the analyses' columns."""
    renderers: dict[str, Callable[..., Any]] = {"table": _table, "json": _json, "csv": _csv,
                                                 "markdown": _markdown}
    return renderers[fmt](trace, extras, depth=depth, flops=flops, by_type=by_type)


def _table(trace: Trace, extras: Extras, depth: int | None = 3, flops: bool = False,
           by_type: bool = False) -> RenderableType:
    rf = extras.fields is not None
    return render_table(trace, depth, flops, by_type, shape=extras.shape if extras.symbolic else None,
                        columns=("RF", "Jump", "Start") if rf else (), cells=extras.rf_cells if rf else None,
                        lines=extras.lines(trace))


def summary_json_data(trace: Trace, extras: Extras, depth: int | None = None) -> dict[str, Any]:
    data = to_json_data(trace, depth)
    records = {r.name: r for r in trace.layers}
    for layer in data["layers"]:
        rec = records[layer["name"]]
        if extras.symbolic is not None:
            layer["symbolic_shape"] = extras.shape(rec)
            poly = extras.macs.get(rec.name)
            layer["symbolic_macs"] = poly.text() if poly is not None else None
        if extras.fields is not None:
            f = extras.fields.get(rec.name)
            layer["receptive_field"] = f.as_data() if f else None
    sym = extras.symbolic
    if sym is not None:
        nbytes = DTYPE_BYTES.get(trace.dtype, 4)
        macs, act = sym.macs(extras.train), sym.activations(extras.train)
        data["symbolic"] = {"input": shape_text(sym.input), "output": shape_text(sym.output),
                            "macs": macs.text(), "macs_terms": macs.as_data(),
                            "activation_bytes": f"{act.text(f'{nbytes}·N')}",
                            "activation_terms": act.as_data(), "bytes_per_element": nbytes}
    if extras.fields is not None:
        data["receptive_field_convention"] = RF_CONVENTION
    return data


def _json(trace: Trace, extras: Extras, depth: int | None = None, **_: Any) -> str:
    return json.dumps(summary_json_data(trace, extras, depth), indent=2, ensure_ascii=False) + "\n"


def _csv(trace: Trace, extras: Extras, depth: int | None = None, **_: Any) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["name", "type", "depth", "call", "output_shape", "params", "params_total", "macs", "macs_total",
            "output_bytes"]
    head += ["symbolic_shape", "symbolic_macs"] if extras.symbolic else []
    head += ["receptive_field", "jump", "start"] if extras.fields is not None else []
    writer.writerow(head)
    for r in (trace.layers if depth is None else visible(trace, depth)):
        row: list[object] = [r.name, r.type, r.depth, r.call, units.shapes(r.output_shapes), r.params,
                             r.params_total, r.macs, r.macs_total, r.output_bytes]
        if extras.symbolic:
            poly = extras.macs.get(r.name)
            row += [extras.shape(r), poly.text() if poly is not None else ""]
        if extras.fields is not None:
            row += extras.rf_cells(r)
        writer.writerow(row)
    return buf.getvalue()


def _markdown(trace: Trace, extras: Extras, depth: int | None = 3, flops: bool = False, **_: Any) -> str:
    head = ["Layer", "Type", "Output shape", "Params", "FLOPs" if flops else "MACs"]
    align = ["---", "---", "---:", "---:", "---:"]
    if extras.fields is not None:
        head += ["RF", "Jump", "Start"]
        align += ["---:"] * 3
    lines = [f"### {trace.model}", "", "| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in visible(trace, depth):
        name = "&nbsp;&nbsp;" * (r.depth - 1) + f"`{r.name}`" if r.depth else ROOT_LABEL
        params = shown_params(r, depth)
        shape = extras.shape(r) if extras.symbolic else units.shapes(r.output_shapes)
        cells = [name, r.type, shape, units.count(params) if params else "—", units.cost(shown_macs(r, depth), flops)]
        if extras.fields is not None:
            cells += extras.rf_cells(r)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {line}" for line in footer_lines(trace, flops) + extras.lines(trace)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- sizes


def _bound_text(report: SizeReport, axis: str) -> str:
    b = report.h if axis == "H" else report.w
    if b.limit is None:
        return f"{axis} ≥ 1: no window needs more than one pixel"
    return f"{axis} ≥ {b.least}: set by {b.module}, a {b.limit.reason}"


def sizes_lines(report: SizeReport) -> list[str]:
    """The text of ``archscope sizes MODEL``."""
    c, h, w = report.least
    lines = [f"{report.model}: smallest input {c}×{h}×{w} (reference {c}×{report.reference[0]}×"
             f"{report.reference[1]})",
             f"  windows: {_bound_text(report, 'H')}", f"  windows: {_bound_text(report, 'W')}"]
    for fx, module in report.fixed:
        lines.append(f"  features: {module} is built for {fx.value:,} input features, which it gets "
                     f"only when {fx.term} = {fx.value:,}")
    for ag, module in report.agree:
        lines.append(f"  branches: {module} joins sizes {ag.a} and {ag.b}, which must be equal")
    lines.append(f"Takes: {accepted_text(report)}"
                 + (" (sizes only grow with the input, so every larger one fits every window)"
                    if report.unbounded else ""))
    if report.training is not None:
        t = report.training
        lines.append(f"In training mode (auxiliary heads run): {accepted_text(t)}; "
                     f"{_bound_text(t, 'H').split(': ', 1)[1]}")
    lines.append("Examples:")
    for eh, ew, verdict in report.examples:
        size = f"{report.channels}×{eh}×{ew}"
        lines.append(f"  {size:>14}  ok" if verdict.ok else f"  {size:>14}  fails at {verdict.module}: "
                                                              f"{verdict.reason}")
    return lines


def render_sizes(report: SizeReport) -> str:
    return "\n".join(sizes_lines(report)) + "\n"


def sizes_json_data(report: SizeReport) -> dict[str, Any]:
    def bound(b: Any) -> dict[str, Any]:
        return {"least": b.least, "layer": b.module, "reason": b.limit.reason if b.limit else None}

    def body(r: SizeReport) -> dict[str, Any]:
        lo, hi = r.square
        return {"least_input": list(r.least), "least_text": least_input_text(r), "takes": accepted_text(r),
                "all_larger_work": r.unbounded, "square_range": [lo, hi],
                "h": bound(r.h), "w": bound(r.w),
                "fixed_features": [{"layer": m, "features": f.value, "term": str(f.term)} for f, m in r.fixed],
                "branches_must_agree": [{"layer": m, "a": str(a.a), "b": str(a.b)} for a, m in r.agree]}

    data: dict[str, Any] = {"schema": "archscope.sizes/1", "archscope": __version__, "model": report.model,
                            "channels": report.channels, "reference": list(report.reference), **body(report)}
    data["training"] = body(report.training) if report.training is not None else None
    data["examples"] = [{"input": [report.channels, h, w], "ok": v.ok, "layer": v.module,
                         "reason": v.reason or None} for h, w, v in report.examples]
    return data


def sizes_json(report: SizeReport) -> str:
    return json.dumps(sizes_json_data(report), indent=2, ensure_ascii=False) + "\n"
