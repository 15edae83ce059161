"""pytest plugin: architecture snapshots in tests, the same as ``archscope check``.

Installed with archscope (entry point ``pytest11``), so every pytest session loads this
module: it imports nothing but pytest until a test uses the fixture.

    def test_net_architecture(archscope_snapshot):
        archscope_snapshot(build_net(), (3, 224, 224))

The first argument is an ``nn.Module``, a zoo name, a spec file or an import path; the
second the input size as :func:`archscope.trace` takes it (``(3, 224, 224)``, ``"128:int64"``,
a list of them, or ``input_data=`` real tensors; None for the reference input of a zoo
model or spec file, or the model's ``example_inputs``). Snapshots live in ``__archscope__/``
beside the test file (ini option ``archscope_snapshot_dir``, relative to the test file's
directory), named ``NAME@CxHxW.json`` as ``archscope snapshot`` names them.

A missing snapshot fails the test, as syrupy does: CI never passes on a snapshot nobody
committed. ``pytest --archscope-update`` writes missing snapshots and rewrites changed
ones (atomically), and the tests pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from archscope.snapshot.check import CheckResult

UPDATE_OPTION = "--archscope-update"
DIR_INI = "archscope_snapshot_dir"
_SESSION = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archscope", "architecture snapshots (archscope)")
    group.addoption(UPDATE_OPTION, action="store_true", default=False,
                    help="Write missing archscope snapshots and rewrite changed ones.")
    parser.addini(DIR_INI, default="__archscope__",
                  help="Directory of archscope snapshots, relative to each test file's directory "
                       "(default: __archscope__).")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SESSION] = {"used": {}, "written": [], "updated": []}


class SnapshotMismatchError(AssertionError):
    """Raised by :func:`assert_snapshot` outside pytest; the fixture turns it into a failure."""


def snapshot_path(snapshot: dict[str, Any], directory: str | Path) -> Path:
    from archscope.snapshot import files

    return Path(directory) / files.filename(snapshot)


def assert_snapshot(model: Any, input_size: Any, directory: str | Path, *, name: str | None = None,
                    batch: int = 1, update: bool = False,
                    seen: Callable[[Path, dict[str, Any]], None] | None = None, **inputs: Any) -> CheckResult:
    """Compare ``model`` with its snapshot in ``directory``; raise :class:`SnapshotMismatchError` with
    the ``archscope check`` diff table if it differs (or is missing), unless ``update``.
    ``seen(path, snapshot)`` is called before the comparison. ``inputs`` (``input_data``,
    ``dtypes``, ``batch_dim``) as :func:`archscope.trace` takes them."""
    from archscope.errors import echo
    from archscope.snapshot import files
    from archscope.snapshot.check import compare_snapshot, take_checked

    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be text, got {echo(name)}")
    new, problems = take_checked(model, input_size=input_size, batch=batch, **inputs)
    if name is not None:
        new["name"] = name
    path = snapshot_path(new, directory)
    if seen is not None:
        seen(path, new)
    old: dict[str, Any] | None = None
    if path.exists():
        try:
            old = files.load(path)
        except files.CorruptSnapshotError:
            if not update:
                raise
    elif update:
        path.parent.mkdir(parents=True, exist_ok=True)
    result = compare_snapshot(path, old, new, problems, update=update)
    if not result.ok:
        raise SnapshotMismatchError(render(result))
    return result


def render(result: CheckResult) -> str:
    """The diff table of ``archscope check``, as plain text, with what to do next."""
    import io

    from rich.console import Console

    from archscope.snapshot.report import render_table

    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, highlight=False, force_terminal=False).print(render_table([result]))
    text = buf.getvalue().rstrip()
    if result.status == "changed":
        text += f"\nIf the new architecture is intended, accept it with: pytest {UPDATE_OPTION}"
    elif result.diff is None and result.status == "failed" and not Path(result.source).exists():
        text += f"\nWrite it with: pytest {UPDATE_OPTION}"
    return text


@pytest.fixture
def archscope_snapshot(request: pytest.FixtureRequest) -> Callable[..., CheckResult]:
    """``archscope_snapshot(model_or_target, input_size=None, *, name=None, batch=1, input_data=None,
    dtypes=None, batch_dim=0)``: fail the test
    with the ``archscope check`` diff table when the architecture differs from its snapshot."""
    config = request.config
    update = bool(config.getoption(UPDATE_OPTION))
    directory = Path(request.path).parent / str(config.getini(DIR_INI))
    session = config.stash[_SESSION]
    nodeid = request.node.nodeid

    def seen(path: Path, snapshot: dict[str, Any]) -> None:
        from archscope.snapshot import files

        __tracebackhide__ = True
        other, text = session["used"].setdefault(str(path.resolve()), (nodeid, files.dumps(snapshot)))
        if other != nodeid and text != files.dumps(snapshot):
            pytest.fail(f"archscope: snapshot {path} is also used by {other}, for another architecture: "
                        "give one of them another name=...", pytrace=False)

    def check(model: Any, input_size: Any = None, *, name: str | None = None, batch: int = 1,
              **inputs: Any) -> CheckResult:
        from archscope.errors import ArchscopeError

        __tracebackhide__ = True
        failure = None
        try:
            result = assert_snapshot(model, input_size, _shortest(directory), name=name, batch=batch,
                                     update=update, seen=seen, **inputs)
        except SnapshotMismatchError as exc:
            failure = str(exc)
        except (ArchscopeError, TypeError, ValueError) as exc:  # the front door's own: user code's are ArchscopeErrors
            failure = f"archscope: {' '.join(str(exc).split())}"
        if failure is not None:  # outside the except blocks: no chained traceback in the report
            pytest.fail(failure, pytrace=False)
        if result.status in ("written", "updated"):
            session[result.status].append(result.source)
        return result

    return check


def _shortest(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it (shorter messages)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if not session or not (session["written"] or session["updated"]):
        return
    terminalreporter.section("archscope snapshots")
    for status in ("written", "updated"):
        for source in session[status]:
            terminalreporter.write_line(f"{status}: {source}")
    terminalreporter.write_line(f"{len(session['written'])} written, {len(session['updated'])} updated")
