"""Shape-regression checks: snapshot a model, re-check snapshots, check the whole zoo.

The CLI (``archscope snapshot``, ``archscope check``) and the pytest plugin call these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archscope.errors import ArchscopeError, ExpectationError, UsageError
from archscope.fileio import write_atomic
from archscope.snapshot import files
from archscope.snapshot.compare import SnapshotDiff, compare


@dataclass
class CheckResult:
    """One snapshot file or zoo model: ``unchanged``, ``changed``, ``updated``, ``written`` (a new
    snapshot, pytest plugin), ``skipped`` (a snapshot of an ``nn.Module`` instance, which only its
    test can rebuild), ``failed`` (model error, expected-shape mismatch) or ``ok`` (zoo)."""

    name: str
    source: str  # the snapshot file, or "zoo"
    status: str
    diff: SnapshotDiff | None = None
    problems: list[str] = field(default_factory=list)
    detail: str = ""  # what was checked, for a passing result

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "updated", "written", "skipped", "ok")


def take_checked(target: Any, input_size: Any = None, batch: int = 1, convention: str = "torchvision",
                 **inputs: Any) -> tuple[dict[str, Any], list[str]]:
    """A snapshot of ``target`` (zoo name, spec file, import path or ``nn.Module``), and its
    expected-shape mismatches (the ``expect`` annotations of zoo models and spec files).
    ``inputs``: ``input_data``, ``dtypes``, ``batch_dim``, ``inputs_from``, ``device``,
    ``training``, as :func:`archscope.api.trace` takes them (with ``training``, the
    snapshot records the training step too)."""
    from archscope.api import trace

    t = trace(target, input_size=input_size, batch=batch, convention=convention, **inputs)
    if isinstance(target, str):
        kind, text = files.kind_of(target), target
    else:  # an nn.Module instance (pytest plugin): recorded, but only its test can rebuild it
        cls = type(target)
        kind, text = "module", f"{cls.__module__}:{cls.__qualname__}"
    snapshot = files.make(t, kind, text, inputs.get("training"))
    return snapshot, [f"{layer}: {c.describe()}" for layer, c in t.mismatches]


def take(target: Any, input_size: Any = None, batch: int = 1, convention: str = "torchvision",
         **inputs: Any) -> dict[str, Any]:
    """A snapshot of ``target``; raises :class:`ExpectationError` if its expected shapes do not match."""
    snapshot, mismatches = take_checked(target, input_size, batch, convention, **inputs)
    if mismatches:
        raise ExpectationError(f"{snapshot['name']} does not match its expected shapes, so no snapshot was "
                               f"written: {'; '.join(mismatches)}")
    return snapshot


def write(snapshot: dict[str, Any], output: str | Path, reads: Iterable[str | Path] = ()) -> Path:
    """Write into directory ``output`` (named by model and input; made if missing) or to the
    ``.json`` file ``output``, which may not be one of the files the command ``reads``."""
    out = Path(output)
    if out.suffix != ".json":
        if out.exists() and not out.is_dir():
            raise UsageError(f"cannot write the snapshot into {str(out)!r}: it is a file, not a directory "
                             "(name a directory, or a .json file)")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot make the directory {str(out)!r}: {exc.strerror or exc}") from None
        out = out / files.filename(snapshot)
    write_atomic(out, files.dumps(snapshot), reads)
    return out


def snapshot_paths(directories: Iterable[str | Path]) -> list[Path]:
    """The snapshot files named or held (``*.json``, not recursive) by ``directories``, each once."""
    directories = list(directories)
    paths: list[Path] = []
    for d in directories:
        p = Path(d)
        if p.is_file():
            paths.append(p)
        elif p.is_dir():
            paths += sorted(p.glob("*.json"))
        else:
            raise UsageError(f"{str(d)!r} is neither a snapshot file nor a directory")
    if not paths:
        raise UsageError(f"no snapshots (*.json) in {', '.join(map(str, directories))}: "
                         "write some with 'archscope snapshot MODEL -o DIR'")
    return list(dict.fromkeys(paths))


def compare_snapshot(path: Path, old: dict[str, Any] | None, new: dict[str, Any], problems: list[str],
                     update: bool = False, name: str | None = None) -> CheckResult:
    """``old`` (read from ``path``; None if there is none yet) against a fresh ``new``. With
    ``update``, write ``new`` when it differs, unless its expected shapes do not match."""
    name = name or path.name
    if old is None:
        if update and not problems:
            write_atomic(path, files.dumps(new))
            return CheckResult(name, str(path), "written", detail="new snapshot")
        return CheckResult(name, str(path), "failed", problems=problems + [f"no snapshot {str(path)!r} yet"])
    diff = compare(old, new)
    if problems:
        return CheckResult(name, str(path), "failed", diff, problems)
    if diff.empty:
        detail = f"{len(new['layers'])} layers"
        if diff.reordered is not None:  # same layers, another call order: canonical bytes on --update
            if update:
                write_atomic(path, files.dumps(new))
                return CheckResult(name, str(path), "updated", diff, detail=f"{detail}, new call order")
            detail += (f"; called in another order (first at {diff.reordered.new}, was {diff.reordered.old}): "
                       "not a change; --update rewrites the snapshot")
        return CheckResult(name, str(path), "unchanged", diff, detail=detail)
    if update:
        write_atomic(path, files.dumps(new))
        return CheckResult(name, str(path), "updated", diff)
    return CheckResult(name, str(path), "changed", diff)


def recheck(path: Path, old: dict[str, Any], update: bool = False) -> CheckResult:
    """Retrace the model a snapshot names and compare; with ``update``, rewrite what changed."""
    model = old["model"]
    if model["kind"] == "module":
        return CheckResult(path.name, str(path), "skipped", detail=(
            f"taken by the pytest plugin from an nn.Module instance ({model['target']}): its test checks it"))
    try:
        new, problems = take_checked(model["target"], input_size=files.inputs_of(old), batch=old["batch"],
                                     convention=old["convention"], training=files.training_of(old))
    except ArchscopeError as exc:
        return CheckResult(path.name, str(path), "failed", problems=[" ".join(str(exc).split())])
    return compare_snapshot(path, old, new, problems, update)


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
    from archscope.spec.sites import layout

    entry = zoo.get(name)
    t = trace(name)
    problems = [f"{layer}: {c.describe()}" for layer, c in t.mismatches]
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
