"""Rendering a :class:`~archscope.analysis.diff.ModelDiff`: rich table, Markdown (a pull-request
comment), JSON. Pure functions; only the rows that differ unless ``show_all``.

JSON schema ``archscope.diff/1``::

    {"schema": "archscope.diff/1", "archscope": "<version>", "depth": int|null,
     "a": {"target", "name", "kind", "inputs", "batch", "convention"}, "b": {...},
     "summary": {"changed", "added", "removed", "same", "aligned_by_name", "aligned_by_structure"},
     "totals": {"params"|"macs"|"layers": {"a", "b", "ratio"}},
     "notes": [str],
     "layers": [{"a": name|null, "b": name|null, "status": "changed"|"added"|"removed"|"same",
                 "aligned_by": "name"|"structure"|"", "type": [a, b], "output_shapes": [a, b],
                 "params": [a, b], "macs": [a, b], "changes": [{"field", "a", "b"}]}]}

A side that has no such layer has ``null`` in these pairs. ``ratio`` is b / a.

With ``--training`` (either side traced for, or a snapshot taken with, a training step), a
top-level ``"training": {"a": str|null, "b": str|null, "totals": {"backward_macs"|"step_macs"|
"saved_bytes"|"peak_bytes"|"grad_bytes"|"optimizer_bytes": {"a", "b", "ratio"}}}`` says
which step each side priced (``"adam, bf16"``) and, when both did, compares its totals
(bytes for the ``_bytes``); the table and Markdown add those rows under the totals.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from archscope import __version__
from archscope.analysis.diff import FieldChange, Layer, ModelDiff, Row, Side
from archscope.report import units
from archscope.report.table import narrow_notes
from archscope.spec.inputs import fmt_shape
from archscope.spec.inputs import to_json as inputs_json

SCHEMA = "archscope.diff/1"
_STYLE = {"added": "green", "removed": "red"}
_TOTALS = {"params": "Params", "macs": "MACs", "layers": "Leaf layers"}
_TRAINING = {"backward_macs": "Backward MACs", "step_macs": "Step MACs (fwd + bwd)",
             "saved_bytes": "Saved for backward", "peak_bytes": "Peak memory", "grad_bytes": "Gradients",
             "optimizer_bytes": "Optimizer state"}


def rows(diff: ModelDiff, show_all: bool = False) -> list[Row]:
    return [r for r in diff.rows if show_all or r.status != "same"]


def layer_label(row: Row) -> str:
    """The name, or ``a → b`` when the two names differ."""
    names = [x.key for x in (row.a, row.b) if x is not None]
    return names[0] if len(set(names)) == 1 else " → ".join(names)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (tuple, list)):
        return str(v[0]) if len(set(v)) == 1 else fmt_shape(v, None)
    return str(v)


def change_text(c: FieldChange) -> str:
    if c.field == "out":
        return f"out {units.shapes(c.old)} → {units.shapes(c.new)}"
    return f"{c.field} {_value(c.old)} → {_value(c.new)}"


def what_changed(row: Row) -> str:
    """``width 64 → 128, groups 1 → 32, out 1×64×56×56 → 1×128×56×56``."""
    if row.a is None or row.b is None:
        layer = row.a or row.b
        assert layer is not None
        return f"{row.status}: {layer.type} {units.shapes(layer.output_shapes)}"
    said = [change_text(c) for c in row.changes if c.field not in ("params", "macs")]
    if row.inside:
        said.append(f"{row.inside} {'layer' if row.inside == 1 else 'layers'} inside differ")
    if said:
        return ", ".join(said)
    counts = [{"params": "params", "macs": "MACs"}[c.field] for c in row.changes]
    return f"{' and '.join(counts)} only" if counts else "same"


def _params(layer: Layer | None) -> str:
    return "" if layer is None else units.count(layer.params) if layer.params else "—"


def _macs(layer: Layer | None) -> str:
    return "" if layer is None else units.cost(layer.macs)


def ratio(a: int, b: int) -> str:
    """``0.979×``; two significant figures below 0.01 (``0.0001×``), not ``0.000×``."""
    if not a:
        return "—"
    r = b / a
    return f"{r:.3f}×" if r >= 0.01 or r == 0 else f"{r:.2g}×"


def _total(what: str, n: int) -> str:
    if what.endswith("_bytes"):
        return units.nbytes(n)
    return units.count(n) if what == "layers" or n < 1000 else f"{units.count(n)} ({units.short(n)})"


def _totals(diff: ModelDiff) -> list[tuple[str, str, int, int]]:
    """(what, label, a, b): the forward totals, then a training step's (when both sides have one)."""
    return ([(w, _TOTALS[w], a, b) for w, a, b in diff.totals]
            + [(w, _TRAINING[w], a, b) for w, a, b in diff.training_totals])


def _training_line(diff: ModelDiff) -> list[str]:
    a, b = diff.a.training, diff.b.training
    if not diff.training_totals:
        return []
    return [f"training step: {a}" if a == b else f"training steps: {a} (a), {b} (b)"]


def _input(side: Side) -> str:
    return side.input_text


def _title(diff: ModelDiff) -> str:
    a, b = diff.a, diff.b
    where = f"input {_input(a)}" if _input(a) == _input(b) else f"inputs {_input(a)} and {_input(b)}"
    depth = "leaf layers" if diff.depth is None else f"layers to depth {diff.depth}"
    return f"{a.target} (a) → {b.target} (b), {where}, {depth}"


def render_table(diff: ModelDiff, show_all: bool = False) -> RenderableType:
    totals = Table(title="totals", title_justify="left")
    totals.add_column("")
    totals.add_column(f"{diff.a.target} (a)", justify="right")
    totals.add_column(f"{diff.b.target} (b)", justify="right")
    totals.add_column("b / a", justify="right")
    for what, label, a, b in _totals(diff):
        totals.add_row(label, _total(what, a), _total(what, b), ratio(a, b))
    lines = [diff.summary(), *_training_line(diff)] + [f"note: {n}" for n in diff.notes]
    parts: list[RenderableType] = [LayerTable(diff, show_all)] if rows(diff, show_all) else []
    return Group(*parts, totals, Text("\n".join(lines)))


_NUMBERS = ("Params a", "Params b", "MACs a", "MACs b")
_NARROWER = (_NUMBERS, ("Params a", "Params b"), ())  # the number columns kept, ever narrower: MACs go first


class LayerTable:
    """The changed layers, fitted to the width rich gives it, as the summary table is
    (:class:`archscope.report.table.SummaryTable`): no layer name and no number is ever cut.
    What changed wraps at its words, down to its longest word; when that does not fit, a
    renamed layer's ``a → b`` takes two lines, then the MACs columns go, then the Params
    columns (a line under the table says so), and at last the table is drawn whole, wider
    than the width."""

    def __init__(self, diff: ModelDiff, show_all: bool = False) -> None:
        self.title = _title(diff)
        self.rows = rows(diff, show_all)
        self.cells = [[layer_label(r), what_changed(r), _params(r.a), _params(r.b), _macs(r.a), _macs(r.b)]
                      for r in self.rows]
        heads = ("Layer", "What changed", *_NUMBERS)
        self.natural = [max(cell_len(h), *(cell_len(c[i]) for c in self.cells)) for i, h in enumerate(heads)]
        self.two_line = max(cell_len(part) for c in self.cells for part in _two_lines(c[0]).split("\n"))
        self.narrowest_what = max(cell_len("changed"), *(cell_len(w) for c in self.cells for w in c[1].split()))

    def _fit(self, width: int) -> tuple[bool, tuple[str, ...], int]:
        """Whether names take two lines, the number columns kept, and the width of What changed."""
        what = min(self.narrowest_what, self.natural[1])
        tries = [(False, _NUMBERS)] + [(True, kept) for kept in _NARROWER]
        for two, kept in tries:
            room = width - self._width(two, kept, 0)
            if room >= what:
                return two, kept, min(room, self.natural[1])
        return True, (), what

    def _width(self, two: bool, kept: tuple[str, ...], what: int) -> int:
        numbers = sum(self.natural[2 + _NUMBERS.index(h)] for h in kept)
        return (self.two_line if two else self.natural[0]) + what + numbers + 3 * (2 + len(kept)) + 1

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        two, kept, what = self._fit(0)
        return Measurement(self._width(two, kept, what), self._width(False, _NUMBERS, self.natural[1]))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        two, kept, what = self._fit(width)
        table = Table(title=self.title, title_justify="left")
        table.add_column("Layer", width=self.two_line if two else self.natural[0], no_wrap=True)
        table.add_column("What changed", width=what, overflow="fold")
        for head in kept:
            table.add_column(head, justify="right", width=self.natural[2 + _NUMBERS.index(head)], no_wrap=True)
        for r, cells in zip(self.rows, self.cells, strict=True):
            shown = [_two_lines(cells[0]) if two else cells[0], cells[1]]
            shown += [cells[2 + _NUMBERS.index(h)] for h in kept]
            table.add_row(*map(Text, shown), style=_STYLE.get(r.status))
        drawn = self._width(two, kept, what)
        notes = narrow_notes(width, [h for h in _NUMBERS if h not in kept], drawn)
        parts: list[RenderableType] = [table, *([Text("\n".join(notes))] if notes else [])]
        if drawn > width:
            options = options.update_width(drawn)
        yield from console.render(Group(*parts), options)


def _two_lines(label: str) -> str:
    """``a → b`` as ``a`` over ``→ b``."""
    return label.replace(" → ", "\n→ ")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: ModelDiff, show_all: bool = False) -> str:
    """A Markdown table fit for a pull-request comment."""
    out = [f"**archscope diff**: {_md(_title(diff))}", ""]
    shown = rows(diff, show_all)
    if shown:
        out += ["| Layer | What changed | Params a | Params b | MACs a | MACs b |",
                "|---|---|--:|--:|--:|--:|"]
        out += [f"| `{_md(layer_label(r))}` | {_md(what_changed(r))} | {_params(r.a)} | {_params(r.b)} "
                f"| {_macs(r.a)} | {_macs(r.b)} |" for r in shown]
        out.append("")
    out += [f"| | `{_md(diff.a.target)}` (a) | `{_md(diff.b.target)}` (b) | b / a |", "|---|--:|--:|--:|"]
    out += [f"| {label} | {_total(w, a)} | {_total(w, b)} | {ratio(a, b)} |" for w, label, a, b in _totals(diff)]
    out += ["", diff.summary() + "."]
    out += [f"- {_md(line)}" for line in _training_line(diff)]
    out += [f"- note: {_md(n)}" for n in diff.notes]
    return "\n".join(out) + "\n"


def _side(side: Side) -> dict[str, Any]:
    return {"target": side.target, "name": side.name, "kind": side.kind,
            "inputs": inputs_json(side.inputs, side.batch), "batch": side.batch, "convention": side.convention}


def _pair(row: Row, get: Callable[[Layer], Any]) -> list[Any]:
    return [None if x is None else get(x) for x in (row.a, row.b)]


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, (tuple, list)) else v


def _training_json(diff: ModelDiff) -> dict[str, Any]:
    if diff.a.step is None and diff.b.step is None:
        return {}
    return {"training": {
        "a": diff.a.training or None, "b": diff.b.training or None,
        "totals": {w: {"a": a, "b": b, "ratio": round(b / a, 6) if a else None} for w, a, b in diff.training_totals}}}


def to_json_data(diff: ModelDiff, show_all: bool = False) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "archscope": __version__, "depth": diff.depth,
        "a": _side(diff.a), "b": _side(diff.b),
        "summary": {"changed": diff.count("changed"), "added": diff.count("added"),
                    "removed": diff.count("removed"), "same": diff.count("same"),
                    "aligned_by_name": diff.aligned("name"), "aligned_by_structure": diff.aligned("structure")},
        "totals": {w: {"a": a, "b": b, "ratio": round(b / a, 6) if a else None} for w, a, b in diff.totals},
        "notes": diff.notes,
        "layers": [{"a": None if r.a is None else r.a.name, "b": None if r.b is None else r.b.name,
                    "status": r.status, "aligned_by": r.aligned_by, "type": _pair(r, lambda x: x.type),
                    "output_shapes": _pair(r, lambda x: _plain(x.output_shapes)),
                    "params": _pair(r, lambda x: x.params), "macs": _pair(r, lambda x: x.macs),
                    "changes": [{"field": c.field, "a": _plain(c.old), "b": _plain(c.new)} for c in r.changes]}
                   for r in rows(diff, show_all)],
        **_training_json(diff),
    }


def render_json(diff: ModelDiff, show_all: bool = False) -> str:
    return json.dumps(to_json_data(diff, show_all), indent=2, ensure_ascii=False) + "\n"


FORMATS: dict[str, Callable[..., Any]] = {"table": render_table, "markdown": render_markdown, "json": render_json}
