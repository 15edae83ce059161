"""Shape-regression checks: snapshot a model, re-check snapshots, check the whole zoo.

The CLI (``archscope snapshot``, ``archscope check``) and the pytest plugin call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archscope.errors import ArchscopeError, UsageError
from archscope.fileio import write_atomic
from archscope.snapshot import files
from archscope.snapshot.diff import Diff, compare


@dataclass
class CheckResult:
    """One snapshot file or zoo model: ``unchanged``, ``changed``, ``updated``, ``failed`` or ``ok``."""

    name: str
    source: str  # the snapshot file, or "zoo"
    status: str
    diff: Diff | None = None
    problems: list[str] = field(default_factory=list)
    detail: str = ""  # what was checked, for a passing result

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "updated", "ok")


def take(target: str, input_size: Any = None, batch: int = 1, convention: str = "torchvision") -> dict[str, Any]:
    """A snapshot of ``target`` (zoo name, spec file or import path)."""
    from archscope.api import trace
    from archscope.builder.load import resolve

    resolved = resolve(target)
    t = trace(target, input_size=input_size, batch=batch, convention=convention)
    return files.make(t, resolved.kind, target)


def write(snapshot: dict[str, Any], output: str | Path) -> Path:
    """Write into directory ``output`` (named by model and input) or to the ``.json`` file ``output``."""
    out = Path(output)
    if out.suffix != ".json":
        if not out.is_dir():
            raise UsageError(f"cannot write the snapshot into {str(out)!r}: no such directory")
        out = out / files.filename(snapshot["name"], snapshot["input"], snapshot["batch"])
    write_atomic(out, files.dumps(snapshot))
    return out


def snapshot_paths(directories: Iterable[str | Path]) -> list[Path]:
    paths: list[Path] = []
    for d in directories:
        p = Path(d)
        if p.is_file():
            paths.append(p)
        elif p.is_dir():
            paths += sorted(p.glob("*.json"))
        else:
            raise UsageError(f"{str(p)!r} is neither a snapshot file nor a directory")
    if not paths:
        raise UsageError(f"no snapshots (*.json) in {', '.join(map(str, directories))}: "
                         "write some with 'archscope snapshot MODEL -o DIR'")
    return paths


def recheck(path: Path, old: dict[str, Any], update: bool = False) -> CheckResult:
    """Retrace the model a snapshot names and compare; with ``update``, rewrite what changed."""
    name = path.name
    try:
        new = take(old["model"]["target"], input_size=tuple(old["input"]), batch=old["batch"],
                   convention=old["convention"])
    except ArchscopeError as exc:
        return CheckResult(name, str(path), "failed", problems=[" ".join(str(exc).split())])
    diff = compare(old, new)
    if diff.empty:
        return CheckResult(name, str(path), "unchanged", diff)
    if update:
        write_atomic(path, files.dumps(new))
        return CheckResult(name, str(path), "updated", diff)
    return CheckResult(name, str(path), "changed", diff)


def check_snapshots(directories: Iterable[str | Path], update: bool = False,
                    progress: Callable[[str], None] | None = None) -> list[CheckResult]:
    paths = snapshot_paths(list(directories))
    snapshots = [(p, files.load(p)) for p in paths]  # every file is read before any work
    results = []
    for path, old in snapshots:
        if progress:
            progress(path.name)
        results.append(recheck(path, old, update))
    return results


def check_zoo_model(name: str) -> CheckResult:
    """Documented shapes, and published parameters and MACs where torchvision publishes them."""
    from archscope import zoo
    from archscope.api import trace
    from archscope.spec.layout import layout

    entry = zoo.get(name)
    t = trace(name)
    problems = [f"{layer}: expected {c.expect}, traced {'×'.join(map(str, c.actual))}"
                + (f" (source: {c.expect.source})" if c.expect.source else "")
                for layer, c in t.mismatches]
    ref = entry.reference
    if ref is not None:
        lay = layout(entry.spec())
        excluded = sum(s.params for s in lay.sites if s.module and not s.node.CONTAINER
                       and s.module.split(".")[0] in entry.published_excludes)
        if lay.params - excluded != ref.params:
            problems.append(f"params {lay.params - excluded:,} != published {ref.params:,}")
        if ref.gmacs is not None and round(t.totals.macs / 1e9, 3) != ref.gmacs:
            problems.append(f"GMACs {t.totals.macs / 1e9:.3f} != published {ref.gmacs}")
    status = "ok" if not problems else "failed"
    detail = f"{len(t.checks)} shapes" + (", params and MACs vs torchvision" if ref else "")
    return CheckResult(name, "zoo", status, problems=problems, detail=detail)


def check_zoo(progress: Callable[[str], None] | None = None) -> list[CheckResult]:
    from archscope import zoo

    results = []
    for name in zoo.names():
        if progress:
            progress(name)
        results.append(check_zoo_model(name))
    return results
