"""The rich, tree-indented summary table, fitted to the width it is drawn at."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from archscope.report import units
from archscope.report.columns import NONE, Additions
from archscope.report.footer import footer_lines
from archscope.report.rows import ROOT_LABEL, shown_macs, shown_params, visible
from archscope.spec.expect import Check
from archscope.tracer.records import Trace

_MARK = {"match": ("✓", "green"), "channels match": ("~", "yellow"), "mismatch": ("✗", "bold red")}


def render_table(trace: Trace, depth: int | None = 3, flops: bool = False, by_type: bool = False, *,
                 extra: Additions = NONE) -> RenderableType:
    """The summary table, with ``extra``'s columns (before Expected), output-shape text and
    footer lines (:mod:`archscope.report.columns`); the root row, if shown, has no shape
    and no added cells. It fits itself to the width it is drawn at (:class:`SummaryTable`)."""
    return SummaryTable(trace, depth, flops, by_type, extra)


@dataclass(eq=False)
class _Column:
    head: str
    cells: Sequence[Text | str]
    justify: JustifyMethod = "right"
    style: str | None = None
    drop: int | None = None  # None: a core column, never dropped; else the lower, the sooner
    compact: Sequence[Text | str] | None = None  # the cells' lossless short form, used when narrow

    def __post_init__(self) -> None:
        self._widths: dict[bool, int] = {}

    def shown(self, compact: bool) -> Sequence[Text | str]:
        """The cells as drawn: their short form in a compact table, where there is one."""
        return self.compact if compact and self.compact is not None else self.cells

    def width(self, compact: bool) -> int:
        """The cells' widest, and the header's: on one line, or (compact) its longest word."""
        if compact not in self._widths:
            head = max(map(cell_len, self.head.split())) if compact else cell_len(self.head)
            self._widths[compact] = max([head, *(cell_len(c) if isinstance(c, str) else c.cell_len
                                                 for c in self.shown(compact))])
        return self._widths[compact]


@dataclass
class _Layout:
    columns: list[_Column]
    compact: bool
    dropped: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:  # a box line between and around the columns, one space of padding each side
        return sum(c.width(self.compact) for c in self.columns) + 3 * len(self.columns) + 1


class SummaryTable:
    """The summary table and its footer, drawn to fit the width rich gives it
    (``options.max_width``: the terminal's, a notebook's, or a file's), so that no layer
    name, shape or number is ever cut, ellipsised or folded:

    1. the full table when it fits (a pipe and ``-o FILE`` always get it: their width is
       the table's natural width, :mod:`archscope.report.console`);
    2. else a compact one, lossless: the Layer column indents one space a level instead of
       two, headers wrap at their spaces, and Expected shows ``✓`` alone where the shape
       matched (the output shape beside it is the expected one; ``~`` and ``✗`` keep theirs);
    3. else the compact core columns and, from the most wanted to the least, each other
       column that still fits: the added columns (training, receptive field) in their order,
       Expected when a check failed (the row is red and the footer names the mismatch), Output
       mem, Expected when every check matched (the footer counts them), and last Type (the
       layer's name says it in most models, and it is the widest); a narrow column can fit
       where a wider, more wanted one did not. A footer line names the columns not shown;
    4. Layer, Output shape, Params and MACs are never dropped: when even they do not fit,
       the table is drawn wider than the width, whole (a terminal then wraps its lines),
       and the footer says so (print it with ``crop=False``, as the CLI does: a console that
       crops, as ``rich.print`` does, would cut it at the width). Folding a name or a shape
       across lines would cut it too.

    Its measure (``rich.measure.Measurement``) is from the compact core to the full table,
    so ``Measurement.get(...).maximum`` is the width a pipe or a file needs."""

    def __init__(self, trace: Trace, depth: int | None = 3, flops: bool = False, by_type: bool = False,
                 extra: Additions = NONE) -> None:
        self.trace, self.flops, self.by_type, self.extra = trace, flops, by_type, extra
        records = visible(trace, depth)
        self.row_styles = ["red" if r.check and not r.check.ok else None for r in records]
        labels = [_label(r.depth, r.name, r.call, 2) for r in records]
        short = [_label(r.depth, r.name, r.call, 1) for r in records]
        shapes = [(extra.shape(r) if extra.shape else units.shapes(r.output_shapes)) if r.depth else ""
                  for r in records]
        params = ["(shared)" if r.call > 1 else units.count(p) if (p := shown_params(r, depth)) else "—"
                  for r in records]
        all_matched = all(c.ok for _, c in trace.checks)
        self.columns = [
            _Column("Layer", list(labels), "left", drop=None, compact=list(short)),
            _Column("Type", [r.type if r.depth else "" for r in records], "left", "cyan", drop=0),
            _Column("Output shape", list(shapes)),
            _Column("Params", params),
            _Column("FLOPs" if flops else "MACs", [units.cost(shown_macs(r, depth), flops) for r in records]),
            _Column("Output mem", [units.nbytes(r.output_bytes) if r.depth else "" for r in records], drop=2),
        ]
        shown = extra.shown
        for i, column in enumerate(shown):
            self.columns.append(_Column(column.head, [column.cell(r) if r.depth else "" for r in records],
                                        drop=4 + len(shown) - i))
        if trace.checks:
            self.columns.append(_Column("Expected", [_expected(r.check) for r in records], "left",
                                        drop=1 if all_matched else 3,
                                        compact=[_expected(r.check, short=True) for r in records]))

    # ------------------------------------------------------------ rich protocol

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """From the core columns, compact, to the full table (the footer's prose wraps to either)."""
        return Measurement(self.layout(0).width, self.layout(None).width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        layout = self.layout(width)
        table = self._table(layout)
        notes = narrow_notes(width, layout.dropped, layout.width)
        if layout.width > width:
            options = options.update_width(layout.width)
        parts: list[RenderableType] = [table]
        if self.by_type:
            parts.append(render_by_type(self.trace, self.flops))
        parts.append(Text("\n".join([*notes, *footer_lines(self.trace, self.flops), *self.extra.lines])))
        yield from console.render(Group(*parts), options)

    # ------------------------------------------------------------ choosing the columns

    def layout(self, width: int | None) -> _Layout:
        """What is drawn at ``width`` (None: unlimited, the full table; 0: the core alone): the
        full table if it fits, else the compact core and, by priority, each droppable column
        that still fits (a narrow one can fit where a wider, more wanted one did not)."""
        full = _Layout(list(self.columns), compact=False)
        if width is None or full.width <= width:
            return full
        kept = [c for c in self.columns if c.drop is None]
        for column in sorted(self._droppable(), key=lambda c: -(c.drop or 0)):
            trial = [c for c in self.columns if c in kept or c is column]
            if _Layout(trial, compact=True).width <= width:
                kept = trial
        return _Layout(kept, compact=True, dropped=[c.head for c in self._droppable() if c not in kept])

    def _droppable(self) -> list[_Column]:
        return [c for c in self.columns if c.drop is not None]

    def _table(self, layout: _Layout) -> _Drawn:
        return _Drawn(self.trace.model, layout, self.row_styles)


class _Drawn:
    """The table as rich's ``Table`` (its default heavy-headed box) draws it, character for
    character and style for style (tests/test_widths.py compares the two: full, compact and
    narrowed, with failed checks and the analyses' and training's columns), except that a
    title wider than the table is not folded: every column's width is known here and no
    cell is ever wrapped, so each body line is one pass over its cells, where ``Table``
    measures, wraps and pads every cell through the whole renderer, 0.13 s of a summary of
    ResNet-50 and 0.30 s of Inception v3's, ten times what this takes."""

    def __init__(self, title: str, layout: _Layout, row_styles: Sequence[str | None]) -> None:
        self.title, self.layout, self.row_styles = title, layout, row_styles

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        compact, columns = self.layout.compact, self.layout.columns
        widths = [c.width(compact) for c in columns]
        spans = [w + 2 for w in widths]  # with their padding
        box = HEAVY_HEAD.substitute(options, safe=console.safe_box)
        border, new_line = Style.null(), Segment.line()
        yield Segment(self.title + " " * max(self.layout.width - cell_len(self.title), 0))
        yield new_line
        yield Segment(box.get_top(spans), border)
        yield new_line
        header = console.get_style("table.header")
        heads = [Text(c.head).wrap(console, w, justify=c.justify) for c, w in zip(columns, widths, strict=True)]
        height = max(len(lines) for lines in heads)
        for line in range(height):
            texts = [lines[at] if (at := line - (height - len(lines))) >= 0 else Text(" " * w)  # at the bottom
                     for lines, w in zip(heads, widths, strict=True)]
            cells = [_cell(console, t, w, c.justify, header) for t, w, c in zip(texts, widths, columns, strict=True)]
            yield from _line(cells, box.head_left, box.head_vertical, box.head_right, border)
        yield Segment(box.get_row(spans, "head"), border)
        yield new_line
        styles = [console.get_style(c.style or "") for c in columns]
        shown = [c.shown(compact) for c in columns]
        for i, row_style in enumerate(self.row_styles):
            row = console.get_style(row_style) if row_style else Style.null()
            yield from _line([_cell(console, cells[i], w, c.justify, style + row)
                              for cells, w, c, style in zip(shown, widths, columns, styles, strict=True)],
                             box.mid_left, box.mid_vertical, box.mid_right, border)
        yield Segment(box.get_bottom(spans), border)
        yield new_line


def _line(cells: Sequence[Iterator[Segment]], left: str, between: str, right: str, border: Style) -> Iterator[Segment]:
    """One line of the table: its cells between the box's edges and dividers."""
    yield Segment(left, border)
    for i, cell in enumerate(cells):
        yield from cell
        yield Segment(between if i < len(cells) - 1 else right, border)
    yield Segment.line()


def narrow_notes(width: int, dropped: Sequence[str], needs: int) -> list[str]:
    """The lines under a table fitted to ``width`` columns (:class:`SummaryTable`, the diff's
    layer table): which columns it left out, and whether it is still ``needs`` wide."""
    notes = [f"{width} columns: {', '.join(dropped)} not shown"] if dropped else []
    if needs > width:
        notes.append(f"{width} columns: the table still needs {needs}: drawn whole, wider than that")
    if notes:
        notes[-1] += "; a wider terminal, a pipe or -o FILE shows every column"
    return notes


def _cell(console: Console, cell: Text | str, width: int, justify: JustifyMethod,
          style: Style) -> Iterator[Segment]:
    """One cell, its padding of a space each side included: the padding in ``style``, the
    text and the spaces that justify it in the text's own style over that (a str is never
    read as markup: a layer may be named ``[red]``), its spans' over those."""
    if isinstance(cell, str):
        own, parts, used = style, [Segment(cell, style)], cell_len(cell)
    else:
        own = style + console.get_style(cell.style) if cell.style else style
        parts = [Segment(seg.text, own + seg.style if seg.style else own) for seg in cell.render(console) if seg.text]
        used = cell.cell_len
    fill = Segment(" " * (width - used), own)
    yield Segment(" ", style)
    if justify == "right":
        yield fill
    yield from parts
    if justify != "right":
        yield fill
    yield Segment(" ", style)


def _label(depth: int, name: str, call: int, indent: int) -> str:
    label = " " * indent * (depth - 1) + (name.rsplit(".", 1)[-1] if depth else ROOT_LABEL)
    return label + f" (call {call})" if call > 1 else label


def render_by_type(trace: Trace, flops: bool = False) -> Table:
    """MACs (or FLOPs) per operator category, largest first."""
    table = Table(title="by operator type", title_justify="left")
    table.add_column("Operator type")
    table.add_column("FLOPs" if flops else "MACs", justify="right")
    table.add_column("Share", justify="right")
    total = trace.totals.macs or 1
    for category, macs in trace.macs_by_category.items():
        table.add_row(category, units.count(2 * macs if flops else macs), f"{100 * macs / total:.1f}%")
    return table


def _expected(check: Check | None, short: bool = False) -> Text:
    if check is None:
        return Text("")
    mark, style = _MARK[check.status]
    return Text(mark if short and check.status == "match" else f"{mark} {check.expect}", style=style)
