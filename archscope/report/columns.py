"""What a summary adds to its standard columns, as data every format's renderer reads.

Each ``--format`` has one renderer (:func:`archscope.report.table.render_table`,
:func:`archscope.report.machine.render_json`, ``render_csv``, ``render_markdown``), and an
analysis (``summary --symbolic``, ``--receptive-field``: :mod:`archscope.report.analysis`)
or a training step (``summary --training``: :mod:`archscope.report.training`) adds to it an
:class:`Additions`: columns, an output-shape text, footer lines and JSON keys; several
combine with :func:`merged`. A new column is one :class:`Column`; a new format is one
renderer that reads them.

Where the additions go, per format:

- table and markdown: the columns with a ``head``, after the standard ones and before
  ``Expected``; ``shape`` replaces the output-shape text; ``lines`` follow the footer;
- csv: every column but those marked ``machine=False`` (a table's formatted view of values
  the other columns carry raw), under its ``key``, after the standard ones (so the standard
  columns come first, in their order, with or without analyses);
- json: per layer, the columns with a ``data`` function, under their ``key``, after the
  standard keys; ``data`` are added at the top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archscope.tracer.records import LayerRecord


@dataclass(frozen=True)
class Column:
    """One more per-layer value: ``key`` names it in CSV and JSON, ``head`` in the table and
    Markdown (empty: not shown there), ``cell`` is its text and ``data`` its JSON value (None:
    not in the JSON; several columns can be one JSON value, as a receptive field is).
    ``machine=False``: the table and Markdown only, not a CSV column either."""

    key: str
    cell: Callable[[LayerRecord], str]
    head: str = ""
    data: Callable[[LayerRecord], Any] | None = None
    machine: bool = True


@dataclass(frozen=True)
class Additions:
    """What the analyses add to a summary (nothing by default: the standard summary)."""

    columns: Sequence[Column] = ()
    shape: Callable[[LayerRecord], str] | None = None  # the output-shape text in the table and Markdown
    lines: Sequence[str] = ()  # under the footer (table, Markdown)
    data: Mapping[str, Any] = field(default_factory=dict)  # top-level JSON keys

    @property
    def shown(self) -> list[Column]:
        """The columns of the table and the Markdown."""
        return [c for c in self.columns if c.head]

    @property
    def csv(self) -> list[Column]:
        """The columns of the CSV."""
        return [c for c in self.columns if c.machine]


NONE = Additions()


def merged(first: Additions, second: Additions) -> Additions:
    """Both additions: ``first``'s columns, lines and keys, then ``second``'s; the output-shape
    text of whichever has one (``first``'s if both)."""
    return Additions([*first.columns, *second.columns], first.shape or second.shape,
                     [*first.lines, *second.lines], {**first.data, **second.data})
