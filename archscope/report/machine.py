"""Machine-readable reports: JSON (schema below), CSV and Markdown.

JSON schema ``archscope.summary/2``::

    {"schema": "archscope.summary/2", "archscope": "<version>",
     "model": str, "inputs": INPUTS, "input_source": str, "batch": int, "device": str,
     "mode": "eval"|"train", "dtype": str, "output_shapes": [[...]],
     "totals": {"params", "trainable_params", "non_trainable_params", "buffers",
                "param_bytes", "buffer_bytes", "macs", "activation_bytes"},
     "convention": str, "convention_text": str,
     "macs_by_category": {category: macs}, "not_counted": {"aten.op": calls},
     "expectations": {"checked", "matched", "mismatched"},
     "not_run": [{"name", "params"}], "unchecked": [str], "notes": [str],
     "layers": [{"name", "type", "depth", "call", "input_shapes", "output_shape",
                 "output_shapes", "params", "params_total", "trainable_params", "buffers",
                 "macs", "macs_total", "output_bytes", "tied", "expected", "check"}]}

``params`` of a layer is what the module itself owns (each tensor counted once in
the model, on the first call), so the layers' ``params`` sum to ``totals.params``
minus the modules in ``not_run``. ``macs`` of a layer are those of operators run
directly in that call (not in its submodules), so all layers' ``macs``, the root
(``name: ""``) included, sum to ``totals.macs``; ``macs_total`` includes submodules.
MACs are multiply-accumulates under ``convention``; FLOPs would be 2 × MACs.
Without ``--depth`` every layer is listed, the root first.

``INPUTS`` is what the model was fed, as one forward call takes it:
``{"args": [TREE, ...], "kwargs": {name: TREE}}``, where a TREE is one tensor
``{"name", "shape" (as fed, batch included), "dtype", "batch_dim" (null: no batch
dimension)}``, a list of TREEs (a JSON array), a tuple ``{"tuple": [...]}`` or a dict
``{"dict": {...}}`` (:func:`archscope.spec.inputs.to_json`). ``input_source`` says where
the inputs came from (``--input``, ``the reference input``, ``the model's example_inputs``...).
``dtype`` is the parameters' type. Version 1 had ``"input": [C, H, W]`` instead.

A training step (``summary --training``, ``trace(..., training=...)``) adds, in the same
schema (the keys are absent otherwise): per layer ``grad_input_macs``, ``grad_weight_macs``
and ``saved_bytes`` (backward MACs of the call's own operators, for the gradients of
inputs and of parameters, and the bytes autograd saved for backward there, each storage
once), each with a ``_total`` that includes the calls inside it (like ``macs_total``); the
layers' own values sum to the ``training`` totals. At the top ``training``: ``{"optimizer",
"amp" (null: none), "frozen" (parameters), "checkpointed" [module], "forward_macs",
"grad_input_macs", "grad_weight_macs", "recompute_macs", "backward_macs", "step_macs",
"weight_bytes", "grad_bytes", "optimizer_bytes", "step_temporary_bytes", "saved_bytes",
"peaks": {"forward"|"backward"|"optimizer step": bytes}, "peak_phase", "peak_bytes",
"not_counted": {"aten.op": calls}, "optimizer_keeps", "not_estimated"}``
(:mod:`archscope.report.training`). CSV adds the per-layer columns: the three own values, then
the three ``_total``.

Each renderer takes ``extra`` (:class:`archscope.report.columns.Additions`): the columns,
keys and lines an analysis adds (``summary --symbolic``, ``--receptive-field``: see
:mod:`archscope.report.analysis`), after the standard ones.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from archscope import __version__
from archscope.report import units
from archscope.report.columns import NONE, Additions
from archscope.report.footer import footer_lines, notes
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.spec.inputs import to_json as inputs_json
from archscope.tracer.records import LayerRecord, Trace

SCHEMA = "archscope.summary/2"


def to_json_data(trace: Trace, depth: int | None = None, extra: Additions = NONE, **_: Any) -> dict[str, Any]:
    t = trace.totals
    checks = trace.checks
    data = {
        "schema": SCHEMA, "archscope": __version__, "model": trace.model,
        "inputs": inputs_json(trace.inputs, trace.batch), "input_source": trace.inputs.source,
        "batch": trace.batch, "device": trace.device,
        "mode": trace.mode, "dtype": trace.dtype,
        "output_shapes": [list(s) for s in trace.output_shapes],
        "totals": {"params": t.params, "trainable_params": t.trainable_params,
                   "non_trainable_params": t.non_trainable_params, "buffers": t.buffers,
                   "param_bytes": t.param_bytes, "buffer_bytes": t.buffer_bytes, "macs": t.macs,
                   "activation_bytes": t.activation_bytes},
        "convention": trace.convention, "convention_text": trace.convention_text,
        "macs_by_category": trace.macs_by_category, "not_counted": trace.not_counted,
        "expectations": {"checked": len(checks), "matched": len(checks) - len(trace.mismatches),
                         "mismatched": len(trace.mismatches)},
        "not_run": [{"name": n, "params": p} for n, p in trace.not_run],
        "unchecked": trace.unchecked,
        "notes": notes(trace),
        "layers": [_layer(r, extra) for r in (trace.layers if depth is None else visible(trace, depth))],
    }
    data.update(extra.data)
    return data


def _layer(r: LayerRecord, extra: Additions) -> dict[str, Any]:
    layer = {
        "name": r.name, "type": r.type, "depth": r.depth, "call": r.call,
        "input_shapes": [list(s) for s in r.input_shapes],
        "output_shape": list(r.output_shape) if r.output_shape is not None else None,
        "output_shapes": [list(s) for s in r.output_shapes],
        "params": r.params, "params_total": r.params_total, "trainable_params": r.trainable_params,
        "buffers": r.buffers, "macs": r.macs, "macs_total": r.macs_total, "output_bytes": r.output_bytes,
        "tied": r.tied,
        "expected": str(r.check.expect) if r.check else None,
        "check": r.check.status if r.check else None,
    }
    layer.update({c.key: c.data(r) for c in extra.columns if c.data is not None})
    return layer


def render_json(trace: Trace, depth: int | None = None, extra: Additions = NONE, **_: Any) -> str:
    return json.dumps(to_json_data(trace, depth, extra), indent=2, ensure_ascii=False) + "\n"


CSV_COLUMNS = ("name", "type", "depth", "call", "output_shape", "params", "params_total", "macs", "macs_total",
               "output_bytes", "expected", "check")


def csv_header(extra: Additions = NONE) -> list[str]:
    """The CSV's column names: the standard ones, then ``extra``'s."""
    return [*CSV_COLUMNS, *(c.key for c in extra.csv)]


def csv_row(r: LayerRecord, extra: Additions = NONE, typed: bool = False) -> list[Any]:
    """One layer's CSV values, under :func:`csv_header`'s names (numbers as ints). ``typed``:
    an added column with a ``data`` function gives that value, not its text (for a DataFrame)."""
    added = [c.data(r) if typed and c.data is not None else c.cell(r) for c in extra.csv]
    return [r.name, r.type, r.depth, r.call, units.shapes(r.output_shapes), r.params, r.params_total, r.macs,
            r.macs_total, r.output_bytes, str(r.check.expect) if r.check else "", r.check.status if r.check else "",
            *added]


def csv_records(trace: Trace, depth: int | None = None) -> list[LayerRecord]:
    """The layers of the CSV: every one, or those down to ``depth``."""
    return trace.layers if depth is None else visible(trace, depth)


def render_csv(trace: Trace, depth: int | None = None, extra: Additions = NONE, **_: Any) -> str:
    """Every layer (down to ``depth``), the standard columns first, then ``extra``'s."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_header(extra))
    for r in csv_records(trace, depth):
        writer.writerow(csv_row(r, extra))
    return buf.getvalue()


def render_markdown(trace: Trace, depth: int | None = 3, flops: bool = False, extra: Additions = NONE,
                    **_: Any) -> str:
    """A Markdown table: ``extra``'s columns (with a head) after MACs and before Expected."""
    has_checks = bool(trace.checks)
    columns = extra.shown
    head = ["Layer", "Type", "Output shape", "Params", "FLOPs" if flops else "MACs", *(c.head for c in columns)]
    head += ["Expected"] if has_checks else []
    align = ["---", "---", "---:", "---:", "---:"] + ["---:"] * len(columns) + (["---"] if has_checks else [])
    lines = [f"### {trace.model}", "", "| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in visible(trace, depth):
        name = "&nbsp;&nbsp;" * (r.depth - 1) + f"`{r.name}`" if r.depth else ROOT_LABEL
        params = shown_params(r, depth)
        shape = extra.shape(r) if extra.shape else units.shapes(r.output_shapes)
        cells = [name, r.type, shape, units.count(params) if params else "—", units.cost(shown_macs(r, depth), flops),
                 *(c.cell(r) for c in columns)]
        if has_checks:
            cells.append(f"{'✓' if r.check.ok else '✗'} {r.check.expect}" if r.check else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {line}" for line in [*footer_lines(trace, flops), *extra.lines]]
    return "\n".join(lines) + "\n"
