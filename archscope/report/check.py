"""Reports of ``archscope check``: a diff table, GitHub annotations, JSON, JUnit XML."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archscope.check import CheckResult
from archscope.report import units
from archscope.snapshot.diff import Change

_STYLE = {"unchanged": "green", "ok": "green", "updated": "yellow", "changed": "bold red", "failed": "bold red"}


def _value(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field == "output_shapes":
        return units.shapes(value)
    if field == "input":
        return "×".join(map(str, value))
    return units.count(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def lines_of(result: CheckResult) -> list[str]:
    """Plain-text detail lines of one result (for annotations, JUnit and JSON)."""
    out = list(result.problems)
    d = result.diff
    if d is None:
        return out
    out += [f"{c.field} {_value(c.field, c.old)} → {_value(c.field, c.new)}" for c in d.setup]
    out += [f"{c.layer}: {c.field} {_value(c.field, c.old)} → {_value(c.field, c.new)}" for c in d.changed]
    out += [f"added layer {n}" for n in d.added] + [f"removed layer {n}" for n in d.removed]
    out += [f"total {c.field} {_value(c.field, c.old)} → {_value(c.field, c.new)}" for c in d.totals]
    return out


def verdict(results: Sequence[CheckResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    bad = sum(1 for r in results if not r.ok)
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    head = "FAILED" if bad else "passed"
    return f"archscope check {head}: {len(results)} checked ({parts})"


def render_table(results: Sequence[CheckResult], **_: Any) -> RenderableType:
    parts: list[RenderableType] = []
    summary = Table(title="archscope check", title_justify="left")
    summary.add_column("Model")
    summary.add_column("Source")
    summary.add_column("Status")
    summary.add_column("Detail")
    for r in results:
        detail = "; ".join(r.problems) if r.problems else r.detail
        if r.diff is not None and not r.diff.empty:
            detail = (f"{len(r.diff.changed_layers())} layers changed, {len(r.diff.added)} added, "
                      f"{len(r.diff.removed)} removed")
        summary.add_row(r.name, r.source, Text(r.status, style=_STYLE[r.status]), detail)
    parts.append(summary)
    for r in results:
        if r.diff is not None and not r.diff.empty:
            parts.append(_diff_table(r))
    parts.append(Text(verdict(results), style="bold red" if any(not r.ok for r in results) else "bold green"))
    return Group(*parts)


def _diff_table(r: CheckResult) -> Table:
    assert r.diff is not None
    t = Table(title=f"{r.source}: {r.status}", title_justify="left")
    t.add_column("Layer")
    t.add_column("Field")
    t.add_column("Old", justify="right")
    t.add_column("New", justify="right")
    rows: list[Change] = r.diff.setup + r.diff.changed
    for c in rows:
        t.add_row(c.layer or "(snapshot)", c.field, _value(c.field, c.old), _value(c.field, c.new))
    for n in r.diff.added:
        t.add_row(n, "added", "", "", style="green")
    for n in r.diff.removed:
        t.add_row(n, "removed", "", "", style="red")
    for c in r.diff.totals:
        t.add_row("(totals)", c.field, _value(c.field, c.old), _value(c.field, c.new), style="bold")
    return t


def render_github(results: Sequence[CheckResult], **_: Any) -> str:
    """GitHub Actions workflow commands: one ::error per problem, ::notice for updates."""
    out = []
    for r in results:
        if r.ok and r.status != "updated":
            continue
        level = "notice" if r.status == "updated" else "error"
        where = f" file={r.source}," if r.source != "zoo" else " "
        for line in lines_of(r) or [r.status]:
            out.append(f"::{level}{where}title=archscope {r.name}::{_escape(line)}")
    out.append(verdict(results))
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_json(results: Sequence[CheckResult], **_: Any) -> str:
    data = {"schema": "archscope.check/1", "ok": all(r.ok for r in results), "verdict": verdict(results),
            "results": [{"name": r.name, "source": r.source, "status": r.status, "ok": r.ok,
                         "problems": r.problems,
                         "changed_layers": r.diff.changed_layers() if r.diff else [],
                         "changes": [c.__dict__ for c in r.diff.changed] if r.diff else [],
                         "added": r.diff.added if r.diff else [], "removed": r.diff.removed if r.diff else [],
                         "totals": [c.__dict__ for c in r.diff.totals] if r.diff else []}
                        for r in results]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_junit(results: Sequence[CheckResult]) -> str:
    suite = ET.Element("testsuite", name="archscope", tests=str(len(results)),
                       failures=str(sum(1 for r in results if not r.ok)))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"archscope.{r.source}", name=r.name)
        if not r.ok:
            failure = ET.SubElement(case, "failure", message=f"{r.name}: {r.status}")
            failure.text = "\n".join(lines_of(r))
    return ET.tostring(suite, encoding="unicode") + "\n"


CHECK_FORMATS = {"table": render_table, "github": render_github, "json": render_json}
