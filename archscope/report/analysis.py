"""Rendering the analyses: symbolic shapes and receptive fields in the summary, and sizes.

A summary with ``--symbolic`` and/or ``--receptive-field`` is rendered by the summary's
own renderers (one per format: :mod:`archscope.report.table`,
:mod:`archscope.report.machine`) with :func:`analysis_additions` as their ``extra``: the
output shape written as a formula of N, H, W (``--symbolic``; CSV adds ``symbolic_shape``
and ``symbolic_macs`` columns) and/or three more columns, receptive field, jump and start
(``--receptive-field``). JSON keeps schema ``archscope.summary/2`` and adds keys:
per layer ``symbolic_shape``, ``symbolic_macs`` (the layer's ``macs_total`` as a formula)
and ``receptive_field`` (``{"global", "size": [h, w], "jump": [h, w], "start": [h, w],
"gated"}``); at the top ``symbolic`` (``input``, ``output``, ``macs``, ``macs_terms``,
``activation_bytes``, ``activation_terms``; a term is ``{"coef", "factors": [{"axis",
"c", "m"}]}`` meaning coef × Π ⌊(axis + c)/m⌋, times N) and ``receptive_field_convention``.

``archscope sizes`` is rendered by :func:`render_sizes` (text) and :func:`sizes_json`
(schema ``archscope.sizes/1``); :func:`why_not` is the clause a too-small input's error
gets. The analyses (:mod:`archscope.analysis`) compute; the wording is all here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

from archscope import __version__
from archscope.analysis.probe import ProbedSizes
from archscope.analysis.receptive import Field
from archscope.analysis.sizes import SizeReport, Verdict
from archscope.analysis.symbolic import Agree, Fixed, Floor, Limit, Poly, SymbolicModel
from archscope.report import units
from archscope.report.columns import Additions, Column
from archscope.spec.inputs import DTYPE_BYTES, FLOAT_DTYPES, fmt_shape
from archscope.tracer.records import LayerRecord, Trace

if TYPE_CHECKING:
    from archscope.analysis.fields import FieldRecorder
    from archscope.analysis.symbolic_trace import Dim, TracedSymbolic

RF_CONVENTION = ("receptive field size r, jump j (effective stride) and start (centre of the first output "
                 "position's field, input pixel i centred at i) by r' = r + (k-1)·d·j, j' = j·s, "
                 "start' = start + ((k-1)/2·d - p)·j; branches joined by concat or add: the union of their "
                 "fields (the largest branch field when they are centred alike); adaptive pooling and "
                 "linear layers: global; * = also scaled by a global statistic (squeeze-excitation)")


FieldOf = Callable[[LayerRecord], Field | None]  # a layer call's receptive field; None: not known


def spec_fields(fields: dict[str, Field]) -> FieldOf:
    """The lookup of a spec's fields (:func:`archscope.analysis.receptive.by_module`), by module."""
    return lambda r: fields.get(r.name)


def module_fields(recorder: FieldRecorder) -> tuple[FieldOf, str | None]:
    """The lookup of the fields a module's traced pass gave (per call), and the line that
    says where they are unknown, if anywhere (:mod:`archscope.analysis.fields`)."""
    calls = recorder.calls
    note = None
    if not recorder.started:
        note = ("Receptive fields: none: no input is an image (a floating-point N×C×H×W tensor), which is where "
                "a field starts; the columns show ?")
    elif recorder.stopped is not None:
        op, module = recorder.stopped
        where = f"in {module}" if module else "in the model's own forward"
        note = (f"Receptive fields: unknown after {op} ({where}): archscope has no rule for how it moves "
                "positions; the layers that depend on it show ?")
    return (lambda r: calls.get((r.name, r.call))), note


def analysis_additions(trace: Trace, symbolic: SymbolicModel | TracedSymbolic | None = None,
                       fields: FieldOf | None = None, train: bool = False, fields_note: str | None = None,
                       symbolic_note: str | None = None) -> Additions:
    """What ``--symbolic`` (``symbolic``, from a spec or a traced pass; ``symbolic_note``
    why there are none) and ``--receptive-field`` (``fields``, a lookup by
    layer call; ``fields_note`` a line on where they are unknown) add to the summary of
    ``trace``, for any format's renderer."""
    columns: list[Column] = []
    lines: list[str] = []
    data: dict[str, Any] = {}
    formulas = None if symbolic is None else _Formulas(symbolic, train) if isinstance(symbolic, SymbolicModel) \
        else _TracedFormulas(symbolic)
    if formulas is not None:
        columns += [Column("symbolic_shape", formulas.shape, data=formulas.shape),
                    Column("symbolic_macs", lambda r: formulas.macs(r) or "", data=formulas.macs)]
        lines += formulas.lines(trace)
        data["symbolic"] = formulas.data(trace)
    elif symbolic_note:
        lines.append(f"Symbolic shapes: none: {symbolic_note}")
        data["symbolic"] = {"none": symbolic_note}
    if fields is not None:
        def cell(text: Callable[[Field], str]) -> Callable[[LayerRecord], str]:
            return lambda r: text(f) if (f := fields(r)) else "?"

        columns += [Column("receptive_field", cell(rf_size), "RF",
                           data=lambda r: f.as_data() if (f := fields(r)) else None),
                    Column("jump", cell(rf_jump), "Jump"), Column("start", cell(rf_start), "Start")]
        lines.append(f"Receptive field: {RF_CONVENTION}")
        if fields_note:
            lines.append(fields_note)
        data["receptive_field_convention"] = RF_CONVENTION
    return Additions(columns, formulas.shape if formulas else None, lines, data)


class _Model(NamedTuple):
    """The model's formulas as a summary states them: the input, the sizes the numbers above
    are for, the output, the MACs and activation elements per sample, and what else to say."""

    input: str
    numbers: str
    output: str
    macs: Dim
    activations: Dim
    notes: list[str]


class _Formulas:
    """Each layer's symbolic output shape and MACs, and the model's formulas, from the spec
    (:class:`~archscope.analysis.symbolic.SymbolicModel`)."""

    def __init__(self, symbolic: SymbolicModel, train: bool) -> None:
        self.symbolic, self.train = symbolic, train
        self.shapes = {n: fmt_shape(s.out_shape) for n, s in symbolic.modules(train).items()}
        self._macs: dict[str, Poly] | None = None

    def shape(self, rec: LayerRecord) -> str:
        """The symbolic output shape (the traced one when the spec has no such module)."""
        return self.shapes.get(rec.name) or units.shapes(rec.output_shapes)

    def macs(self, rec: LayerRecord) -> str | None:
        """The layer's ``macs_total`` as a formula (computed when first asked)."""
        if self._macs is None:
            self._macs = self.symbolic.subtree_macs(self.train)
        poly = self._macs.get(rec.name)
        return poly.text() if poly is not None else None

    def model(self, trace: Trace) -> _Model:
        sym = self.symbolic
        h, w = trace.input[1:] if len(trace.input) == 3 else (0, 0)
        return _Model(fmt_shape(sym.input), f"N={trace.batch}, H={h}, W={w}", fmt_shape(sym.output),
                      sym.macs(self.train), sym.activations(self.train), [])

    def lines(self, trace: Trace) -> list[str]:
        m, nbytes = self.model(trace), DTYPE_BYTES.get(trace.dtype, 4)
        numbers = f" (numbers above: {m.numbers})" if m.numbers else ""
        return [f"Symbolic input: {m.input}{numbers}", f"Symbolic output: {m.output}",
                f"Symbolic MACs: {_formula(m.macs)}",
                f"Symbolic forward activations ({trace.dtype}): {_formula(m.activations, f'{nbytes}·N')} bytes",
                *m.notes]

    def data(self, trace: Trace) -> dict[str, Any]:
        m, nbytes = self.model(trace), DTYPE_BYTES.get(trace.dtype, 4)
        return {"input": m.input, "output": m.output, "macs": _formula(m.macs), "macs_terms": _terms(m.macs),
                "activation_bytes": _formula(m.activations, f"{nbytes}·N"), "activation_terms": _terms(m.activations),
                "bytes_per_element": nbytes, "notes": m.notes, **self.more()}

    def more(self) -> dict[str, Any]:
        return {}


class _TracedFormulas(_Formulas):
    """The same, from a module's pass with symbolic sizes
    (:class:`~archscope.analysis.symbolic_trace.TracedSymbolic`): per layer call."""

    def __init__(self, traced: TracedSymbolic) -> None:  # not the spec's __init__: nothing of it applies
        self.traced = traced

    def shape(self, rec: LayerRecord) -> str:
        from archscope.analysis.symbolic_trace import shape_text

        shape = self.traced.shape(rec)
        return shape_text(shape) if shape is not None else units.shapes(rec.output_shapes)

    def macs(self, rec: LayerRecord) -> str | None:
        from archscope.analysis.symbolic_trace import per_sample

        dim = self.traced.macs_of.get((rec.name, rec.call))
        return _formula(per_sample(dim) or dim) if dim is not None else None

    def more(self) -> dict[str, Any]:
        """Every condition, in JSON: ``{"requires": "H = 224", "layer": "patch_embed", "type": ...}``."""
        return {"requires": [{"requires": f.requires, "layer": f.layer[0] if f.layer else None,
                              "type": f.layer[1] if f.layer else None, "where": f.where or None}
                             for f in self.traced.fixed],
                "data_dependent": [{"size": size, "layer": layer[0], "type": layer[1]}
                                   for size, layer in self.traced.data]}

    def model(self, trace: Trace) -> _Model:
        from archscope.analysis.symbolic_trace import per_sample, place, shape_text

        t = self.traced
        given = ", ".join(f"{name} {shape_text(shape)} {dtype}" if len(t.inputs) > 1 else shape_text(shape)
                          for name, shape, dtype in t.inputs)
        shown = t.sizes_of([leaf.full_shape(trace.batch) for leaf in trace.inputs.leaves()])
        at = ", ".join(f"{n}={v}" for n, v in shown.items())
        ran = f" (the pass with symbolic sizes ran at {', '.join(f'{n}={v}' for n, v in t.traced_at.items())})"
        plain = [f for f in t.fixed if f.plain]
        notes = [f"Symbolic formulas hold where {f.text}"
                 + (ran if any(f.requires.startswith(f"{a} = ") and shown.get(a, t.traced_at[a]) != t.traced_at[a]
                               for a in f.axes) else "") for f in plain]
        if len(plain) < len(t.fixed):
            layers = ", ".join(dict.fromkeys(place(f.layer) for f in t.fixed if not f.plain))
            notes.append(f"Symbolic formulas also hold only where {len(t.fixed) - len(plain)} more conditions "
                         f"torch records in its own terms do, in {layers} (JSON: symbolic.requires)")
        notes += [f"Symbolic sizes: {size} depends on the data, from {place(layer)}" for size, layer in t.data]
        return _Model(given, at, ", ".join(shape_text(s) for s in t.output), per_sample(t.macs) or t.macs,
                      per_sample(t.activations) or t.activations, notes)


def _formula(dim: Dim, times: str = "N") -> str:
    """A count per sample as ``N·(…)`` (``times`` the factor: ``N``, ``4·N`` for bytes); a
    count with N among its factors (not proportional to N) times the rest of ``times``,
    ``4·(2,368·N·L + 64·L)``; torch's own expression likewise."""
    scale = times.removesuffix("N").removesuffix("·")
    if isinstance(dim, str):
        return f"{scale}·({dim})" if scale else dim
    poly = Poly.of(dim)
    return poly.text(scale if any(Floor("N") in f for f in poly.terms) else times)


def _terms(dim: Dim) -> list[dict[str, object]] | None:
    return Poly.of(dim).as_data() if not isinstance(dim, str) else None


# ---------------------------------------------------------------- receptive fields


def rf_size(f: Field) -> str:
    """``7``, ``159×255`` (H×W, when they differ), ``global``; ``7*`` when gated."""
    if f.h is None or f.w is None:
        return "global"
    return _per_axis(f.h.r, f.w.r) + ("*" if f.gated else "")


def rf_jump(f: Field) -> str:
    """``16`` (or H×W); ``—`` for a global field."""
    return "—" if f.h is None or f.w is None else _per_axis(f.h.j, f.w.j)


def rf_start(f: Field) -> str:
    """``15.5`` (or H×W); ``—`` for a global field."""
    if f.h is None or f.w is None:
        return "—"
    return _per_axis(_num(f.h.start), _num(f.w.start))


def _per_axis(h: object, w: object) -> str:
    return str(h) if h == w else fmt_shape((h, w), None)


def _num(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


# ---------------------------------------------------------------- sizes


def least_input_text(report: SizeReport) -> str:
    """``3×75×75`` or, for a model that takes a closed range, ``1×32×32 to 1×35×35``."""
    c, _, _ = report.least
    text = fmt_shape(report.least, None)
    lo, hi = report.square
    return f"{text} to {fmt_shape((c, hi, hi), None)}" if hi is not None and hi > lo else text


def accepted_text(report: SizeReport) -> str:
    """``every input from 3×75×75 up`` / ``only square inputs from 1×32×32 to 1×35×35``."""
    lo, hi = report.square
    if hi is None:
        return f"every input from {least_input_text(report)} up" if report.unbounded else \
            f"some inputs from {least_input_text(report)} up"
    if hi < lo:
        return "no input size"
    return f"only square inputs from {least_input_text(report)}" if hi > lo else \
        f"only the input {least_input_text(report)}"


def verdict_reason(verdict: Verdict) -> str:
    """Why an input fails at the verdict's module (empty when it works)."""
    broken, got = verdict.broken, verdict.got
    if isinstance(broken, Limit):
        return f"{broken.reason}, which it gets from {broken.axis} ≥ {broken.least}"
    if isinstance(broken, Fixed):
        return f"it is built for {broken.value:,} input features ({broken.term}), this input gives {got[0]:,}"
    if isinstance(broken, Agree):
        return f"its branches give sizes {got[0]} and {got[1]}"
    return ""


def why_not(report: SizeReport, h: int, w: int) -> str | None:
    """One clause for an error message about an input of H×W the model does not take."""
    verdict = report.check(h, w)
    if verdict.ok:
        return None
    mode = " in training mode" if report.train else ""
    if report.square[1] is not None:
        return f"it takes {accepted_text(report)}{mode} ({verdict.module}: {verdict_reason(verdict)})"
    return f"the smallest input it takes{mode} is {least_input_text(report)}"


def _bound_text(report: SizeReport, axis: str) -> str:
    b = report.h if axis == "H" else report.w
    if b.limit is None:
        return f"{axis} ≥ 1: no window needs more than one pixel"
    return f"{axis} ≥ {b.least}: set by {b.module}, a {b.limit.reason}"


def sizes_lines(report: SizeReport) -> list[str]:
    """The text of ``archscope sizes MODEL``."""
    lines = [f"{report.model}: smallest input {fmt_shape(report.least, None)} "
             f"(reference {fmt_shape((report.channels, *report.reference), None)})",
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
        size = fmt_shape((report.channels, eh, ew), None)
        lines.append(f"  {size:>14}  ok" if verdict.ok else f"  {size:>14}  fails at {verdict.module}: "
                                                              f"{verdict_reason(verdict)}")
    return lines


def render_sizes(report: SizeReport | ProbedSizes) -> str:
    lines = probed_lines(report) if isinstance(report, ProbedSizes) else sizes_lines(report)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- sizes of a module, probed


def _input(report: ProbedSizes, size: tuple[int, ...]) -> str:
    return fmt_shape(report.at(size), None)


def _side(report: ProbedSizes, s: int) -> str:
    return _input(report, report.side(s))


def _unit(report: ProbedSizes) -> tuple[str, str]:
    """What one side is called: ``square`` for an image, ``length`` for a sequence."""
    return ("square", "square inputs") if len(report.axes) == 2 else ("length", "lengths")


def probed_takes(report: ProbedSizes) -> str:
    """``every input from 3×75×75 up`` / ``square inputs whose side is a multiple of 4, from 3×4×4`` / ..."""
    rule, least, many = report.rule, report.least, _unit(report)[1]
    if rule.kind == "from":
        return f"every input from {_input(report, tuple(b.least for b in report.bounds))} up"
    if rule.kind == "interval" and rule.hi == least:
        return f"of the {many}, only {_side(report, least)}"
    if rule.kind == "interval":
        return f"only {many} from {_side(report, least)} to {_side(report, rule.hi or least)}"
    if rule.kind == "multiple":
        more = f"{rule.residue} more than " if rule.residue else ""
        return f"{many} whose side is {more}a multiple of {rule.period}, from {_side(report, least)}"
    return f"some {many}: " + ", ".join(str(s) for s in rule.sizes) + f" (of {report.window[0]} to " \
        f"{report.window[1]})"


def probed_lines(report: ProbedSizes) -> list[str]:
    """The text of ``archscope sizes`` for a module without a spec (probed on meta)."""
    mode = ", in training mode" if report.train else ""
    dtype = f" {report.dtype}" if report.dtype not in FLOAT_DTYPES else ""
    chosen = ", chosen: the model states no input size" if report.chosen else ""
    lines = [f"{report.model}: smallest input {_side(report, report.least)}{dtype} (reference "
             f"{_input(report, report.reference)}{dtype}{chosen}){mode}; found by tracing on the meta device at "
             f"{report.probes} sizes"]
    if len(report.varied) > 1:
        lines.append(f"  varied together: {', '.join(report.varied)} (inputs of one shape)")
    for b in report.bounds:
        others = ", ".join(f"{a} = {r}" for a, r in zip(report.axes, report.reference, strict=True) if a != b.axis)
        others = f" ({others})" if others else ""
        if b.below is None:
            lines.append(f"  {b.axis} ≥ 1{others}: every size runs")
        else:
            bound = f"{b.axis} ≥ {b.least}" if report.rule.kind == "from" else f"smallest {b.axis} {b.least}"
            lines.append(f"  {bound}{others}: at {b.least - 1} it breaks {b.below.where}")
    tried = f"every {_unit(report)[0]} from {report.window[0]} to {report.window[1]} was traced"
    lines.append(f"Takes: {probed_takes(report)} ({tried})")
    lines.append("Examples:")
    sizes = [_input(report, p.size) for p in report.examples]
    pad = max([14, *map(len, sizes)])
    for p, size in zip(report.examples, sizes, strict=True):
        lines.append(f"  {size:>{pad}}  ok" if p.ok else f"  {size:>{pad}}  fails {p.where}")
    return lines


def probed_json_data(report: ProbedSizes) -> dict[str, Any]:
    """Schema ``archscope.sizes/1`` as the spec path writes it (``least_input``, ``takes``,
    ``all_larger_work``, a bound per axis under its lower-case name: ``h``, ``w``, ``l``),
    with what the search found: ``axes``, ``rule``, ``window``, ``probes``."""
    rule = report.rule
    data: dict[str, Any] = {
        "schema": "archscope.sizes/1", "archscope": __version__, "model": report.model, "derived": "traced",
        "axes": list(report.axes), "varied": list(report.varied), "reference": list(report.shape),
        "reference_chosen": report.chosen,
        "dtype": report.dtype, "train": report.train, "least_input": list(report.at(report.side(report.least))),
        "takes": probed_takes(report), "all_larger_work": rule.kind == "from"}
    for b in report.bounds:
        below = b.below
        data[b.axis.lower()] = {"least": b.least, "layer": below.layer[0] if below and below.layer else None,
                                "reason": below.reason if below else None}
    data.update({
        "rule": {"kind": rule.kind, "hi": rule.hi, "period": rule.period, "residue": rule.residue,
                 "sizes": list(rule.sizes)},
        "window": list(report.window), "probes": report.probes,
        "examples": [{"input": list(report.at(p.size)), "ok": p.ok, "layer": p.layer[0] if p.layer else None,
                      "reason": p.reason or None} for p in report.examples]})
    return data


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
                         "reason": verdict_reason(v) or None} for h, w, v in report.examples]
    return data


def sizes_json(report: SizeReport | ProbedSizes) -> str:
    data = probed_json_data(report) if isinstance(report, ProbedSizes) else sizes_json_data(report)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


SIZES_FORMATS: dict[str, Callable[[SizeReport | ProbedSizes], str]] = {"text": render_sizes,
                                                                       "json": sizes_json}  # sizes --format
