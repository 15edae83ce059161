"""Reports of ``archscope check``: a diff table, GitHub annotations, JSON, JUnit XML."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archscope.report import units
from archscope.snapshot.check import CheckResult
from archscope.snapshot.compare import LayerChange
from archscope.spec.inputs import fmt_shape

_STYLE = {"unchanged": "green", "ok": "green", "updated": "yellow", "written": "yellow", "skipped": "dim",
          "changed": "bold red", "failed": "bold red"}


def _value(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field == "output_shapes":
        return units.shapes(value)
    if field == "input":
        return fmt_shape(value, None)
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
    if d.reordered is not None and result.status == "updated":
        out.append(f"call order {d.reordered.old} → {d.reordered.new}")
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
        summary.add_row(r.name, r.source, Text(r.status, style=_STYLE[r.status]), _detail(r))
    parts.append(summary)
    for r in results:
        if r.diff is not None and not r.diff.empty:
            parts.append(Text(f"{r.source}: {r.status}", style="bold"))
            parts.append(_diff_table(r))
    parts.append(Text(verdict(results), style="bold red" if any(not r.ok for r in results) else "bold green"))
    return Group(*parts)


def _detail(r: CheckResult) -> str:
    parts = list(r.problems)
    if r.diff is not None and not r.diff.empty:
        d = r.diff
        what = [f"{len(d.changed_layers())} layers changed" if d.changed else "",
                f"{len(d.added)} added" if d.added else "", f"{len(d.removed)} removed" if d.removed else "",
                ", ".join(c.field for c in d.setup), "totals" if d.totals and not (d.changed or d.added
                                                                                   or d.removed) else ""]
        parts.append(", ".join(w for w in what if w))
    return "; ".join(parts) or r.detail


def _diff_table(r: CheckResult) -> Table:
    assert r.diff is not None
    t = Table()
    t.add_column("Layer")
    t.add_column("Field")
    t.add_column("Old", justify="right")
    t.add_column("New", justify="right")
    rows: list[LayerChange] = r.diff.setup + r.diff.changed
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
    """GitHub Actions workflow commands: one ``::error`` per failing snapshot or zoo model (its
    diff lines in the message), ``::notice`` for updated ones, then the verdict."""
    out = []
    for r in results:
        if r.ok and r.status not in ("updated", "written"):
            continue
        level = "error" if not r.ok else "notice"
        props = ([f"file={_escape_property(r.source)}"] if r.source != "zoo" else []) + [
            f"title={_escape_property(f'archscope: {r.name} {r.status}')}"]
        message = "\n".join(lines_of(r)) or r.status
        out.append(f"::{level} {','.join(props)}::{_escape(message)}")
    out.append(verdict(results))
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def render_json(results: Sequence[CheckResult], **_: Any) -> str:
    def changes(cs: list[LayerChange]) -> list[dict[str, Any]]:
        return [{"layer": c.layer, "field": c.field, "old": c.old, "new": c.new} for c in cs]

    data = {"schema": "archscope.check/1", "ok": all(r.ok for r in results), "verdict": verdict(results),
            "results": [{"name": r.name, "source": r.source, "status": r.status, "ok": r.ok,
                         "problems": r.problems, "detail": r.detail,
                         "reordered": changes([r.diff.reordered])[0] if r.diff and r.diff.reordered else None,
                         "setup": changes(r.diff.setup) if r.diff else [],
                         "changed_layers": r.diff.changed_layers() if r.diff else [],
                         "changes": changes(r.diff.changed) if r.diff else [],
                         "added": r.diff.added if r.diff else [], "removed": r.diff.removed if r.diff else [],
                         "totals": changes(r.diff.totals) if r.diff else []}
                        for r in results]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_junit(results: Sequence[CheckResult]) -> str:
    """One test case per snapshot file (named by its path) or zoo model; a failure per regression."""
    failures = str(sum(1 for r in results if not r.ok))
    root = ET.Element("testsuites", name="archscope check", tests=str(len(results)), failures=failures)
    skipped = str(sum(1 for r in results if r.status == "skipped"))
    suite = ET.SubElement(root, "testsuite", name="archscope", tests=str(len(results)), failures=failures,
                          errors="0", skipped=skipped)
    for r in results:
        zoo = r.source == "zoo"
        attrs = {"classname": "archscope.zoo" if zoo else "archscope.snapshots", "name": r.name if zoo else r.source}
        if not zoo:
            attrs["file"] = r.source
        case = ET.SubElement(suite, "testcase", attrs)
        if not r.ok:
            failure = ET.SubElement(case, "failure", message=f"{r.name}: {r.status}", type=r.status)
            failure.text = "\n".join(lines_of(r))
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.detail)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


CHECK_FORMATS = {"table": render_table, "github": render_github, "json": render_json}
