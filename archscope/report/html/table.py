"""The summary table as HTML: what :func:`archscope.report.table.render_table` shows, cell for
cell (the same columns, texts from :mod:`archscope.report.units`, the same footer lines), for
``Trace._repr_html_`` in notebooks and, interactive, for the HTML report page.

Everything from the model (layer names, types, shapes, footer lines) is escaped. The markup::

    <div class="archscope">
      <style>TABLE_CSS</style>                       (unless css=False)
      <table class="as-table">
        <caption>MODEL</caption>
        <thead><tr><th>Layer</th><th>Type</th><th class="as-num">Output shape</th>...</tr></thead>
        <tbody>
          <tr data-name="layer1.0" data-depth="2" data-leaf="0" data-check="match" [class="as-mismatch"] [hidden]>
            <td class="as-layer" style="padding-left:…" title="layer1.0">[<span class="as-toggle">▾</span>]
                <span class="as-name">0</span></td>
            <td class="as-type">Bottleneck</td> <td class="as-num">…</td> …
            <td class="as-check as-ok">✓ N×256×56×56</td>
          </tr>
        </tbody>
      </table>
      <div class="as-footer"><div>Input: …</div>…</div>
    </div>

Every ``<tr>`` of the body has ``data-name`` (the qualified module name, ``""`` for the root
row), ``data-depth``, ``data-leaf`` (``"1"``/``"0"``) and ``data-check`` (the check's status,
``match``, ``channels match`` or ``mismatch``, or ``""``), and the class ``as-mismatch`` when
its expected shape does not match. The Expected cell's class says the status: ``as-ok``,
``as-partial`` (channels only), ``as-bad``.

``interactive=False`` (notebooks): the rows of :func:`archscope.report.rows.visible` at
``depth``, as the text table. ``interactive=True`` (the report page, whose JavaScript folds
and unfolds): a row per record, the root's included; those the text table would not show
(deeper than ``depth``, or a root that ran nothing itself) have the ``hidden`` attribute.
Each count cell of a non-leaf row below the root (Params, MACs, and the added columns whose
text changes with folding, :func:`archscope.report.rows.shown`: the training step's) has
``data-folded`` (its text when the row is folded: its whole subtree) and ``data-open`` (when
its children are shown: its own); its content is the text at ``depth``. Such a row's Layer
cell starts with ``<span class="as-toggle">`` (``▸`` folded at ``depth``, ``▾`` open; the
root row has none: it is never folded).
"""

from __future__ import annotations

from dataclasses import replace
from html import escape

from archscope.report import units
from archscope.report.columns import NONE, Additions, Column
from archscope.report.footer import footer_lines
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.spec.expect import Check
from archscope.tracer.records import LayerRecord, Trace

_MARK = {"match": ("✓", "as-ok"), "channels match": ("~", "as-partial"), "mismatch": ("✗", "as-bad")}
_MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"

TABLE_CSS = f"""\
.archscope {{ font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
  font-size: 13px; line-height: 1.35; color: inherit; margin: .2em 0 .6em 0; }}
.archscope .as-table {{ border-collapse: collapse; border: none; margin: 0; font-size: inherit;
  table-layout: auto; width: auto; }}
.archscope .as-table caption {{ caption-side: top; text-align: left; font-weight: 600; font-size: 1.1em;
  padding: .2em .6em .35em .6em; }}
.archscope .as-table th {{ text-align: left; font-weight: 600; white-space: nowrap; padding: .3em .6em;
  border: none; border-bottom: 1px solid rgba(128, 128, 128, .55); background: none; vertical-align: bottom; }}
.archscope .as-table td {{ text-align: left; white-space: nowrap; padding: .14em .6em; border: none;
  vertical-align: baseline; background: none; }}
.archscope .as-table th.as-num, .archscope .as-table td.as-num {{ text-align: right; }}
.archscope .as-table td.as-num, .archscope .as-table td.as-check {{ font-family: {_MONO};
  font-size: .95em; font-variant-numeric: tabular-nums; }}
.archscope .as-table tbody tr:nth-child(odd) {{ background: transparent; }}
.archscope .as-table tbody tr:nth-child(even) {{ background: rgba(128, 128, 128, .08); }}
.archscope .as-table tbody tr:hover {{ background: rgba(66, 133, 244, .13); }}
.archscope .as-table tr[data-leaf="0"] .as-name {{ font-weight: 600; }}
.archscope .as-table .as-type {{ color: #1098ad; }}
.archscope .as-table .as-toggle {{ display: inline-block; width: 1em; margin-left: -1em; cursor: pointer;
  color: rgba(128, 128, 128, .9); user-select: none; }}
.archscope .as-table .as-ok {{ color: #2f9e44; }}
.archscope .as-table .as-partial {{ color: #b07d00; }}
.archscope .as-table .as-bad {{ color: #d6336c; font-weight: 600; }}
.archscope .as-table tr.as-mismatch td {{ color: #c92a2a; }}
.archscope .as-table tbody tr.as-mismatch {{ background: rgba(224, 49, 49, .10); }}
.archscope .as-footer {{ font-family: {_MONO}; font-size: 12px; white-space: pre-wrap; margin: .5em 0 0 .6em;
  opacity: .9; }}
"""

_INDENT_EM = 1.3  # padding per depth level, in em


def table_html(trace: Trace, depth: int | None = 3, flops: bool = False, extra: Additions = NONE, *,
               interactive: bool = False, css: bool = True) -> str:
    """The summary table of ``trace`` as an HTML fragment (the module's docstring gives the
    markup): ``depth``, ``flops`` and ``extra`` as :func:`archscope.report.table.render_table`
    takes them (``extra`` made for this ``depth``, as the CLI makes it); ``css=False`` leaves
    out the ``<style>`` block (:data:`TABLE_CSS`), for a page that includes it once."""
    has_checks = bool(trace.checks)
    columns = extra.shown
    heads = [("Layer", ""), ("Type", ""), ("Output shape", "as-num"), ("Params", "as-num"),
             ("FLOPs" if flops else "MACs", "as-num"), ("Output mem", "as-num"),
             *((c.head, "as-num") for c in columns)]
    if has_checks:
        heads.append(("Expected", ""))
    out = ['<div class="archscope">']
    if css:
        out.append(f"<style>\n{TABLE_CSS}</style>")
    out.append('<table class="as-table">')
    out.append(f"<caption>{escape(trace.model)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th{_cls(c)}>{escape(h)}</th>" for h, c in heads) + "</tr></thead>")
    out.append("<tbody>")
    shown_rows = visible(trace, depth)
    if interactive:
        on_view = {id(r) for r in shown_rows}
        folding = [c for c in columns if _folds(c, trace.layers)]
        out += [_row(rec, depth, flops, extra, has_checks, folding, hidden=id(rec) not in on_view)
                for rec in trace.layers]
    else:
        out += [_row(rec, depth, flops, extra, has_checks, None) for rec in shown_rows]
    out.append("</tbody>")
    out.append("</table>")
    lines = [*footer_lines(trace, flops), *extra.lines]
    out.append('<div class="as-footer">' + "".join(f"<div>{escape(line)}</div>" for line in lines) + "</div>")
    out.append("</div>")
    return "\n".join(out) + "\n"


def _row(rec: LayerRecord, depth: int | None, flops: bool, extra: Additions, has_checks: bool,
         folding: list[Column] | None, hidden: bool = False) -> str:
    """One ``<tr>``; ``folding`` (interactive only) are the added columns that change with folding."""
    folds = folding is not None and not rec.is_leaf and rec.depth > 0  # a row the page folds and unfolds
    attrs = (f' data-name="{escape(rec.name)}" data-depth="{rec.depth}" data-leaf="{int(rec.is_leaf)}"'
             f' data-check="{escape(rec.check.status) if rec.check else ""}"')
    if rec.check is not None and not rec.check.ok:
        attrs += ' class="as-mismatch"'
    if hidden:
        attrs += " hidden"
    label = rec.name.rsplit(".", 1)[-1] if rec.depth else ROOT_LABEL
    if rec.call > 1:
        label += f" (call {rec.call})"
    toggle = ""
    if folds:
        folded = depth is not None and rec.depth >= depth
        toggle = (f'<span class="as-toggle" aria-expanded="{"false" if folded else "true"}">'
                  f'{"▸" if folded else "▾"}</span>')
    pad = 0.6 + _INDENT_EM * max(rec.depth - 1, 0) + (1 if folding is not None and rec.depth else 0)  # a toggle's room
    title = f' title="{escape(rec.name)}"' if rec.name else ""
    shape = (extra.shape(rec) if extra.shape else units.shapes(rec.output_shapes)) if rec.depth else ""
    cells = [f'<td class="as-layer" style="padding-left:{pad:g}em"{title}>{toggle}'
             f'<span class="as-name">{escape(label)}</span></td>',
             f'<td class="as-type">{escape(rec.type) if rec.depth else ""}</td>',
             _num(shape),
             _num(_params(rec, shown_params(rec, depth)),
                  _pair(folds, _params(rec, rec.params_total), _params(rec, rec.params))),
             _num(units.cost(shown_macs(rec, depth), flops),
                  _pair(folds, units.cost(rec.macs_total, flops), units.cost(rec.macs, flops))),
             _num(units.nbytes(rec.output_bytes) if rec.depth else "")]
    for column in extra.shown:
        pair = (column.cell(_folded(rec)), column.cell(_opened(rec))) if folds and column in (folding or ()) else None
        cells.append(_num(column.cell(rec) if rec.depth else "", pair))
    if has_checks:
        cells.append(_expected(rec.check))
    return f"<tr{attrs}>" + "".join(cells) + "</tr>"


def _params(rec: LayerRecord, n: int) -> str:
    """A Params cell, as the text table writes it: a repeated call's are its first call's."""
    return "(shared)" if rec.call > 1 else units.count(n) if n else "—"


def _pair(folds: bool, folded: str, opened: str) -> tuple[str, str] | None:
    return (folded, opened) if folds else None


def _folded(rec: LayerRecord) -> LayerRecord:
    """``rec`` as a cell sees it when its row is folded: a leaf (its subtree's totals, :func:`shown`)."""
    return replace(rec, is_leaf=True)


def _opened(rec: LayerRecord) -> LayerRecord:
    """``rec`` as a cell sees it when its children are shown: like the root, never folded (its own)."""
    return replace(rec, is_leaf=False, depth=0)


def _folds(column: Column, records: list[LayerRecord]) -> bool:
    """Whether ``column``'s text changes with folding (a per-subtree value, as MACs are)."""
    return any(column.cell(_folded(r)) != column.cell(_opened(r)) for r in records if not r.is_leaf and r.depth)


def _num(text: str, pair: tuple[str, str] | None = None) -> str:
    data = f' data-folded="{escape(pair[0])}" data-open="{escape(pair[1])}"' if pair is not None else ""
    return f'<td class="as-num"{data}>{escape(text)}</td>'


def _cls(name: str) -> str:
    return f' class="{name}"' if name else ""


def _expected(check: Check | None) -> str:
    if check is None:
        return '<td class="as-check"></td>'
    mark, cls = _MARK[check.status]
    return f'<td class="as-check {cls}" title="{escape(check.describe())}">{mark} {escape(str(check.expect))}</td>'
