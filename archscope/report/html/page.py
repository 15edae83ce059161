"""One self-contained HTML report: the summary table, the dataflow diagram, the checks.

The file needs nothing but a browser: the styles (``report.css`` and the table's
``TABLE_CSS``), the script (``report.js``, hand-written, no library) and the diagram's SVG
are all inside it, and it loads nothing from the network. What it shows:

- a header with the model, its input, totals, the convention and the expected-shape checks;
- the table of :func:`archscope.report.html.table.table_html` (every layer, folded at
  ``depth``; rows open and close, a depth bar, a filter by layer name);
- the diagram, laid out by Graphviz's ``dot`` once per fold state: every repeated run
  folded, each run alone expanded, and everything expanded. Clicking a folded run's frame
  shows the layout with that run expanded (one run open at a time); clicking a row
  highlights its node (expanding the run that hides it) and clicking a node selects its
  row; hovering a node shows its shapes, parameters and MACs.

Without ``dot`` the report holds the table and says why the diagram is missing.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from archscope.report import units
from archscope.report.columns import NONE, Additions
from archscope.report.footer import cost_line
from archscope.report.html.table import TABLE_CSS, table_html
from archscope.report.rows import check_summary, shown_macs, shown_params
from archscope.spec.inputs import describe_all, fmt_shape
from archscope.tracer.flow import FlowGraph
from archscope.tracer.records import Trace

HERE = Path(__file__).parent
MAX_VARIANTS = 24  # runs expanded one at a time up to this many; beyond, folded and all-expanded only


def report_html(trace: Trace, flow: FlowGraph | None = None, *, depth: int | None = 3, flops: bool = False,
                by_type: bool = False, extra: Additions = NONE, graph_depth: int | None = None,
                focus: str = "table") -> str:
    """The report page of ``trace``, with the diagram of ``flow`` (None: no diagram; say so).
    ``by_type`` adds the MACs per operator type under the table; ``focus="graph"`` gives the
    diagram the wider pane (``archscope graph -o x.html``)."""
    table = table_html(trace, depth, flops, extra, interactive=True, css=False)
    if by_type:
        table += _by_type(trace, flops)
    max_depth = max((r.depth for r in trace.layers), default=1)
    variants, runs, nodes, missing = _diagram(flow, graph_depth) if flow is not None else ({}, {}, {}, "")
    if flow is None:
        missing = "no diagram: this report was written without the dataflow"
    data = {
        "depth": min(depth or max_depth, max_depth),
        "cost": "FLOPs" if flops else "MACs",
        "layers": _layers(trace, flops),
        "nodes": nodes,
        "runs": runs,
        "variants": {key: i for i, key in enumerate(variants)},
    }
    templates = "".join(f'<template id="as-variant-{i}">{svg}</template>' for i, svg in enumerate(variants.values()))
    graph = "" if variants else f'<div class="as-none">{html.escape(missing)}</div>'
    depth_buttons = "".join(f'<button type="button" data-depth="{d}">{d}</button>' for d in range(1, max_depth + 1))
    left = "38%" if focus == "graph" else "56%"
    return _PAGE.format(
        title=html.escape(f"{trace.model} · archscope"),
        css=TABLE_CSS + (HERE / "report.css").read_text(encoding="utf-8"),
        left=left,
        model=html.escape(trace.model),
        subtitle=html.escape(_subtitle(trace)),
        chips="".join(_chips(trace, flops)),
        depths=depth_buttons,
        table=table,
        graph=graph,
        fold_button="" if not runs else '<button type="button" id="as-unfold">Expand repeats</button>',
        templates=templates,
        data=_json(data),
        js=(HERE / "report.js").read_text(encoding="utf-8"),
        convention=html.escape(f"Convention ({trace.convention}): {trace.convention_text}"),
    )


def render_html(trace: Trace, depth: int | None = 3, flops: bool = False, by_type: bool = False, *,
                extra: Additions = NONE, flow: FlowGraph | None = None) -> str:
    """The ``html`` format of ``archscope summary`` (:data:`archscope.report.FORMATS`)."""
    return report_html(trace, flow, depth=depth, flops=flops, by_type=by_type, extra=extra)


def _by_type(trace: Trace, flops: bool) -> str:
    """MACs (or FLOPs) per operator category, as :func:`archscope.report.table.render_by_type`."""
    total = trace.totals.macs or 1
    rows = "".join(f'<tr><td>{html.escape(category)}</td><td class="as-num">{units.count(2 * macs if flops else macs)}'
                   f'</td><td class="as-num">{100 * macs / total:.1f}%</td></tr>'
                   for category, macs in trace.macs_by_category.items())
    return (f'<div class="archscope"><table class="as-table as-by-type"><thead><tr><th>Operator type</th>'
            f'<th class="as-num">{"FLOPs" if flops else "MACs"}</th><th class="as-num">Share</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def _subtitle(trace: Trace) -> str:
    how = "computed from the spec" if trace.device == "spec" else f"traced on {trace.device}"
    return f"{describe_all(trace.inputs, trace.batch)} · parameters {trace.dtype} · {trace.mode} mode · {how}"


def _chips(trace: Trace, flops: bool) -> list[str]:
    t = trace.totals
    chips = [("params", f"{units.short(t.params)} ({units.count(t.params)})"),
             ("FLOPs" if flops else "MACs", cost_line(trace, flops).split(": ", 1)[1]),
             ("activations", units.nbytes(t.activation_bytes)),
             ("weights", units.nbytes(t.param_bytes)),
             ("output", units.shapes(trace.output_shapes))]
    out = [f'<span class="as-chip"><b>{html.escape(k)}</b> {html.escape(v)}</span>' for k, v in chips]
    checks = check_summary(trace)
    if checks:
        bad = bool(trace.mismatches)
        out.append(f'<span class="as-chip {"as-bad" if bad else "as-ok"}" id="as-checks">{html.escape(checks)}</span>')
    return out


def _layers(trace: Trace, flops: bool) -> dict[str, dict[str, str]]:
    """What a diagram node's tooltip says of its layer (its first call, whole subtree), by name."""
    out: dict[str, dict[str, str]] = {}
    for rec in trace.layers:
        if rec.depth == 0 or rec.name in out:
            continue
        params = shown_params(rec, rec.depth)
        out[rec.name] = {"type": rec.type, "out": units.shapes(rec.output_shapes),
                         "params": units.count(params) if params else "—",
                         "macs": units.cost(shown_macs(rec, rec.depth), flops),
                         "check": rec.check.describe() if rec.check is not None else ""}
    return out


def _diagram(flow: FlowGraph, depth: int | None) -> tuple[dict[str, str], dict[str, Any], dict[str, Any], str]:
    """The SVG of each fold state ("" folded, a run's key: that run expanded, "*": everything),
    the runs, what each node's tooltip says, and why there is no diagram ("" when there is)."""
    from archscope.report.diagram import Diagram, dot_missing
    from archscope.report.dot import fold, render_dot

    reason = dot_missing()
    if reason:
        return {}, {}, {}, reason
    folding = fold(flow)
    runs = {key: {"title": run.title(), "units": [name for unit in run.units for kind, name in unit[:1]]}
            for key, run in folding.runs.items()}
    states: list[tuple[str, Any]] = [("", True)]
    if runs:
        if len(runs) <= MAX_VARIANTS:
            states += [(key, frozenset([key])) for key in runs]
        states.append(("*", False))
    variants: dict[str, str] = {}
    for key, how in states:
        text = (render_dot(flow, depth=depth, fold_blocks=how) if isinstance(how, bool)
                else render_dot(flow, depth=depth, open_runs=how))
        variants[key] = _inline(Diagram(text, flow.model).pipe("svg").decode("utf-8"))
    return variants, runs, _nodes(flow, folding), ""


def _nodes(flow: FlowGraph, folding: Any) -> dict[str, dict[str, Any]]:
    """Per node id: its layer's name (and which call), type and the shapes in and out."""
    ins: dict[str, list[str]] = {}
    outs: dict[str, list[str]] = {}
    for e in flow.edges:
        shape = fmt_shape(e.shape, None)
        ins.setdefault(e.dst, []).append(shape)
        if shape not in outs.setdefault(e.src, []):
            outs[e.src].append(shape)
    out: dict[str, dict[str, Any]] = {}
    for node in flow.nodes:
        name = node.name if node.kind == "module" else ""
        call = int(node.id.rpartition("#")[2]) if "#" in node.id else 1
        out[node.id] = {"name": name, "call": call, "type": node.type, "ins": ins.get(node.id, []),
                        "outs": outs.get(node.id, [])}
        stands = [run.title() for key, run in folding.runs.items() if folding.member.get(node.id, {}).get(key) == 0]
        if stands:
            out[node.id]["stands"] = stands[0]
    for name, module in flow.modules.items():  # a module collapsed into one node, at a depth
        if name and name not in out:
            out[name] = {"name": name, "call": 1, "type": module.type, "ins": [], "outs": []}
    return out


def _inline(svg: str) -> str:
    """Graphviz's SVG without its XML prolog and doctype, to sit inside the page."""
    return re.sub(r"^.*?(?=<svg)", "", svg, flags=re.S)


def _json(data: Any) -> str:
    """JSON safe inside a <script> element: no ``<`` at all, so nothing can close it (``</script>``)
    or switch the parser's state (``<!--``)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="archscope">
<title>{title}</title>
<style>{css}</style>
</head>
<body style="--as-left: {left}">
<header>
<h1>{model} <small>{subtitle}</small></h1>
<div class="as-chips">{chips}</div>
</header>
<main>
<section id="as-left">
<div class="as-bar">
<input id="as-filter" type="search" placeholder="Filter layers by name" aria-label="Filter layers by name">
<span id="as-depths"><span class="as-muted">depth</span>{depths}</span>
<span id="as-count" class="as-muted"></span>
</div>
<div class="as-scroll">{table}</div>
</section>
<section id="as-right">
<div class="as-bar">
<button type="button" id="as-fit" title="Fit the diagram to the pane's width">Fit</button>
<button type="button" id="as-out" title="Zoom out">−</button>
<span id="as-zoom" class="as-muted">100%</span>
<button type="button" id="as-in" title="Zoom in">+</button>
{fold_button}
<span id="as-status"></span>
</div>
<div class="as-scroll" id="as-graph">{graph}</div>
</section>
</main>
<footer>{convention} · written by archscope; this file needs no network</footer>
<div id="as-tip" hidden></div>
{templates}
<script type="application/json" id="as-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""
