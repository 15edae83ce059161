# PENDING (issue 13): not collected by pytest until its 21 known failures are fixed; rename to test_bad_input.py then.
"""Bad input and faults: nothing a user types or keeps on disk crashes archscope, hangs it,
runs code it should not, or damages a file (docs/guarantees.md lists each promise and the test
that checks it).

Every failing case ends with the documented exit code (2 usage, 1 model; 3 is a bug), one
``archscope: error: ...`` paragraph on one line (stderr is not a terminal), no traceback, and
every file it was handed byte-identical afterwards. The groups are the issue's:

1. internal errors: odd digits, sizes too large for torch, allocation failures on the CPU,
   files that are not UTF-8, instances that cannot be copied, odd or unwritable ``-o`` paths;
2. recursion and hangs: deep nesting, YAML anchors, huge specs, files that never end (a FIFO,
   ``/dev/zero``);
3. exit codes that lie: user code's ``SystemExit`` is a model error (exit 1), named as such;
4. files damaged: outputs that are inputs, symlinks, Graphviz's missing ``dot``, named pipes;
5. ``check`` runs no code for a snapshot of kind zoo or spec;
6. corrupt snapshots (a layer listed twice, an unknown convention) are exit 2;
7. messages far too long: what is echoed is cut;
8. the Python API: wrong types are ``ArchscopeError``, ``TypeError`` or ``ValueError`` naming
   the argument (``test_api_front_door``);
9. the pytest plugin: the same one-paragraph message, no traceback (``test_plugin_*``);
10. one line per paragraph when not on a terminal (asserted for every case).

``CASES`` is the corpus, one row per case. Rows marked ``PROC`` run as a real process
(``python -m archscope``), with a time limit and an address-space limit, so a hang or a
memory blow-up fails the case instead of blocking or killing the run; they are the cases
that need one (exit codes of user code, hostile files, allocations, real paths). Rows marked
``CLI`` run in this process through typer's ``CliRunner`` (fast: torch is imported once).
Beside the corpus: hypothesis properties of the ``--input`` parser, spec loading and snapshot
loading, and a SIGKILL during ``check --update``.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch  # noqa: F401  (imported before pytester's inline runs, which restore sys.modules)
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_limits import billion_laughs  # tests/, on pytest's path
from torch import nn
from typer.testing import CliRunner

import archscope
import archscope.api
import archscope.snapshot.check
import archscope.snapshot.report  # noqa: F401  (imported before pytester's inline runs)
from archscope.analysis.sizes import analyse_sizes
from archscope.cli.main import app
from archscope.errors import MAX_ECHO, ArchscopeError
from archscope.fileio import MAX_NAME, TMP_SUFFIX
from archscope.snapshot import files
from archscope.snapshot.compare import compare
from archscope.spec import inputs as spec_inputs
from archscope.spec import serialize
from archscope.spec.inputs import DTYPE_BYTES, MAX_DIMS, MAX_ELEMENTS, parse_input
from archscope.spec.nodes import Model

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "tests" / "arch"
LENET = ARCH / "lenet5@1x32x32.json"
KINDS = str(ROOT / "tests" / "real_models" / "kinds.py")
EXITS_ON_IMPORT = str(ROOT / "tests" / "real_models" / "exits_on_import.py")
GUARANTEES = ROOT / "docs" / "guarantees.md"

TIMEOUT = 60.0  # seconds a case may take (importing torch alone takes ~5 s)
MEMORY = 8 * 2**30  # address space of a PROC case: a blow-up is a MemoryError, not the OOM killer
SMALL_MEMORY = 2 * 2**30  # for the cases that read a file that never ends (no torch import)
MAX_LINE = 1000  # characters of the one error line: a message, not a dump
PID_MAX = 2**22  # Linux's largest pid_max: a pid above it is never a running process

PROC, CLI = "proc", "cli"
COMMANDS = ("summary", "graph", "snapshot", "check", "diff", "sizes", "list")
LONG_NAME = "a" * 300  # a file name of 300 bytes (most file systems take 255)
NINES = "9" * 99_999  # one number of 99,999 digits


# ================================================================ the files a case is handed


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Fifo:
    pass


def _lenet(mutate: Callable[[dict[str, Any]], Any] | None = None) -> str:
    data = json.loads(LENET.read_text(encoding="utf-8"))
    if mutate is not None:
        mutate(data)
    return json.dumps(data)


def _stale(data: dict[str, Any]) -> None:
    """A snapshot that ``check --update`` must rewrite: one layer's parameters differ."""
    data["totals"]["params"] += 1
    data["layers"][1]["params"] += 1


def _spec(layers: Any, **top: Any) -> str:
    return json.dumps({"name": "x", "input": [3, 8, 8], "layers": layers, **top})


def _residual_chain(depth: int) -> Any:
    node: Any = {"type": "conv", "out": 3, "kernel": 1}
    for _ in range(depth):
        node = {"type": "residual", "body": [node]}
    return [node]


HUGE_PY = '''\
from torch import nn


class Huge(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 10**12, 3)  # 10^12 output channels: 108 TB of weights

    def forward(self, x):
        return self.conv(x)
'''
EVIL_PY = '''\
from pathlib import Path

Path("EXECUTED").write_text("this file was run")
raise SystemExit(7)
'''
EXITS_PY = '''\
import sys

from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)


sys.exit(0)  # exit status 0 on import: the worst case, a silent success
'''


def _tiny_json() -> str:
    return json.dumps(yaml.safe_load((ROOT / "docs" / "examples" / "tiny.yaml").read_text(encoding="utf-8")))


def _import_snapshot(data: dict[str, Any]) -> None:
    data["model"] = {"kind": "import", "target": "exits.py:Net"}
    data["name"] = "Net"


# name -> what it holds (computed when a case needs it)
FILES: dict[str, Callable[[], str | bytes | Link | Fifo]] = {
    "in.json": _tiny_json,
    "huge.yaml": lambda: "name: huge\ninput: [3, 8, 8]\nlayers:\n  - {type: conv, out: 1000000000000, kernel: 3}\n",
    "huge.py": lambda: HUGE_PY,
    "evil.py": lambda: EVIL_PY,
    "exits.py": lambda: EXITS_PY,
    "notutf8.yaml": lambda: b"\xff\xfename: x\n",
    "selfref.yaml": lambda: "name: x\ninput: [3, 8, 8]\nlayers: &a [*a]\n",
    "deep200.json": lambda: '{"name": "x", "input": [3, 8, 8], "layers": ' + "[" * 200 + "]" * 200 + "}",
    "res400.json": lambda: _spec(_residual_chain(400)),
    "res30.json": lambda: _spec(_residual_chain(30)),  # as deep as the depth limit lets residuals nest
    "lol.yaml": billion_laughs,
    "wide.json": lambda: _spec([{"type": "act", "fn": "relu"}] * 100_000),
    "fifo.yaml": Fifo,
    "zero.yaml": lambda: Link("/dev/zero"),
    "zero.json": lambda: Link("/dev/zero"),
    "out.fifo": Fifo,
    "g.dot": lambda: "my own diagram\n",
    "link.txt": lambda: Link("real/out.txt"),
    "real/out.txt": lambda: "old\n",
    "dangling.txt": lambda: Link("missing/out.txt"),
    "arch/lenet5@1x32x32.json": lambda: LENET.read_text(encoding="utf-8"),
    "arch-link/lenet5@1x32x32.json": lambda: Link("../real/lenet5.json"),
    "real/lenet5.json": lambda: _lenet(_stale),
    "arch-deep/x.json": lambda: _lenet()[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}",
    "deep.json": lambda: _lenet()[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}",
    "arch-fifo/x.json": Fifo,
    "arch-exits/Net@1x32x32.json": lambda: _lenet(_import_snapshot),
    "arch-lie/lie.json": lambda: _lenet(lambda d: d.update(model={"kind": "zoo", "target": "evil.py:build"})),
    "lie.json": lambda: _lenet(lambda d: d.update(model={"kind": "spec", "target": "evil.py:build"})),
    "dup.json": lambda: _lenet(lambda d: d["layers"].append(dict(d["layers"][1]))),
    "arch-double/double.json": lambda: _lenet(lambda d: d.update(layers=d["layers"] * 2)),
    "conv.json": lambda: _lenet(lambda d: d.update(convention="mine")),
    "arch-long/x.json": lambda: _lenet(lambda d: d["layers"][1].update(output_shapes="s" * 100_000)),
    "longkernel.json": lambda: _spec([{"type": "conv", "out": 4, "kernel": list(range(1, 100_000))}]),
    "longinput.json": lambda: json.dumps({"name": "x", "input": [3] * 99_999, "layers": []}),
    "longkey.json": lambda: _spec([{"type": "conv", "out": 4, "kernel": 3, "k" * 100_000: 1}]),
}


def make_files(root: Path, names: tuple[str, ...]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = FILES[name]()
        if isinstance(content, Link):
            path.symlink_to(content.target)
        elif isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def state(path: Path) -> Any:
    """What a path is, compared before and after: missing, a link (its target), a named pipe,
    a directory (its entries), a file (its bytes). Never opens a pipe or follows a link."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", os.readlink(path))
    if stat.S_ISFIFO(st.st_mode):
        return ("fifo",)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", sorted((p.name, state(p)) for p in path.iterdir()))
    if stat.S_ISREG(st.st_mode):
        return ("file", path.read_bytes())
    return ("other", stat.S_IFMT(st.st_mode))


# ================================================================ the corpus


@dataclass(frozen=True)
class Case:
    id: str
    group: int
    how: str  # PROC: a real process with limits; CLI: CliRunner, in this process
    argv: tuple[str, ...]
    code: int
    words: tuple[str, ...] = ()  # each must appear in stdout + stderr (whitespace-flattened)
    setup: tuple[str, ...] = ()  # FILES made in the case's directory
    keep: tuple[str, ...] = ()  # paths that must be the same afterwards (missing ones: still missing)
    written: tuple[str, ...] = ()  # paths that must be non-empty regular files afterwards (links followed)
    env: tuple[tuple[str, str], ...] = ()
    memory: int = MEMORY
    seconds: float = TIMEOUT

    @property
    def command(self) -> str:
        return self.argv[0]


NO_DOT = (("PATH", str(Path(sys.executable).parent)),)  # python's own bin/: no Graphviz there

CASES: list[Case] = [
    # ---- 1. internal errors
    Case("g1-superscript-digits", 1, PROC, ("summary", "resnet50", "--input", "²²⁴"), 2,
         ("cannot read input size", "'²²⁴'")),
    Case("g1-circled-digit", 1, CLI, ("snapshot", "lenet5", "--input", "①", "-o", "arch"), 2,
         ("cannot read input size", "'①'"), keep=("arch",)),
    Case("g1-too-large-for-torch", 1, PROC,
         ("summary", "resnet50", "--input", "100000x100000", "--batch", "1000000000", "--traced"), 2,
         ("more than any machine can hold",)),
    Case("g1-too-large-for-torch-graph", 1, CLI,
         ("graph", "lenet5", "--input", "100000x100000", "--batch", "1000000000"), 2,
         ("more than any machine can hold",)),
    Case("g1-cpu-conv-1e12-channels-spec", 1, PROC, ("summary", "huge.yaml", "--device", "cpu"), 1,
         ("huge", "allocate"), setup=("huge.yaml",), keep=("huge.yaml",)),
    Case("g1-cpu-conv-1e12-channels-import", 1, PROC,
         ("summary", "huge.py:Huge", "--input", "3x8x8", "--device", "cpu"), 1, ("huge.py:Huge", "allocate"),
         setup=("huge.py",), keep=("huge.py",)),
    Case("g1-cpu-input-too-large-to-allocate", 1, PROC,
         ("summary", "resnet50", "--input", "100000x100000", "--device", "cpu"), 1, ("resnet50", "memory")),
    Case("g1-spec-not-utf8-diff", 1, CLI, ("diff", "notutf8.yaml", "lenet5"), 1, ("not UTF-8",),
         setup=("notutf8.yaml",), keep=("notutf8.yaml",)),
    Case("g1-uncopyable-instance-snapshot", 1, CLI, ("snapshot", f"{KINDS}:WITH_LOCK", "--input", "8", "-o", "arch"),
         1, ("cannot be copied",), keep=("arch",)),
    Case("g1-output-in-proc", 1, PROC, ("summary", "lenet5", "-o", "/proc/x.txt"), 2, ("cannot write", "/proc/x.txt")),
    Case("g1-output-in-proc-graph", 1, CLI, ("graph", "lenet5", "-o", "/proc/x.svg"), 2, ("cannot write",)),
    Case("g1-output-name-300-bytes-sizes", 1, CLI, ("sizes", "lenet5", "-o", LONG_NAME + ".txt"), 2,
         ("longer than 255 bytes",)),
    Case("g1-output-name-300-bytes-snapshot", 1, CLI, ("snapshot", "lenet5", "-o", LONG_NAME + ".json"), 2,
         ("longer than 255 bytes",)),
    Case("g1-junit-name-300-bytes-check", 1, CLI, ("check", "arch", "--junit-xml", LONG_NAME + ".xml"), 2,
         ("longer than 255 bytes",), setup=("arch/lenet5@1x32x32.json",), keep=("arch",)),
    Case("g1-output-is-a-named-pipe", 1, PROC, ("summary", "lenet5", "-o", "out.fifo"), 2, ("cannot write", "out.fifo"),
         setup=("out.fifo",), keep=("out.fifo",)),
    # ---- 2. recursion and hangs
    Case("g2-json-200-levels", 2, PROC, ("summary", "deep200.json"), 1, ("nested more than 64 levels",),
         setup=("deep200.json",), keep=("deep200.json",)),
    Case("g2-yaml-self-referencing-anchor-diff", 2, CLI, ("diff", "selfref.yaml", "lenet5"), 1,
         ("refers to a node that contains it",), setup=("selfref.yaml",), keep=("selfref.yaml",)),
    Case("g2-residual-chain-400-deep", 2, PROC, ("summary", "res400.json"), 1, ("nested more than 64 levels",),
         setup=("res400.json",), keep=("res400.json",)),
    Case("g2-residual-chain-at-the-depth-limit-graph", 2, CLI, ("graph", "res30.json", "-f", "dot"), 0, ("digraph",),
         setup=("res30.json",), keep=("res30.json",)),
    Case("g2-residual-chain-at-the-depth-limit-sizes", 2, CLI, ("sizes", "res30.json"), 0, ("smallest input",),
         setup=("res30.json",), keep=("res30.json",)),
    Case("g2-snapshot-array-5000-deep-check", 2, PROC, ("check", "arch-deep"), 2, ("x.json",),
         setup=("arch-deep/x.json",), keep=("arch-deep",)),
    Case("g2-snapshot-array-5000-deep-diff", 2, CLI, ("diff", "deep.json", "lenet5"), 2, ("deep.json",),
         setup=("deep.json",), keep=("deep.json",)),
    Case("g2-yaml-billion-laughs", 2, PROC, ("summary", "lol.yaml"), 1, ("lol.yaml",),
         setup=("lol.yaml",), keep=("lol.yaml",)),
    Case("g2-spec-of-100000-layers", 2, PROC, ("summary", "wide.json", "-f", "csv"), 0, (",ReLU,",),
         setup=("wide.json",), keep=("wide.json",), seconds=30),
    Case("g2-spec-is-a-named-pipe", 2, PROC, ("summary", "fifo.yaml"), 2, ("fifo.yaml",),
         setup=("fifo.yaml",), keep=("fifo.yaml",), memory=SMALL_MEMORY, seconds=10),
    Case("g2-spec-is-dev-zero", 2, PROC, ("summary", "zero.yaml"), 2, ("zero.yaml",),
         setup=("zero.yaml",), keep=("zero.yaml",), memory=SMALL_MEMORY, seconds=10),
    Case("g2-snapshot-is-a-named-pipe-check", 2, PROC, ("check", "arch-fifo"), 2, ("x.json",),
         setup=("arch-fifo/x.json",), keep=("arch-fifo",), memory=SMALL_MEMORY, seconds=10),
    Case("g2-snapshot-is-dev-zero-diff", 2, PROC, ("diff", "zero.json", "lenet5"), 2, ("zero.json",),
         setup=("zero.json",), keep=("zero.json",), memory=SMALL_MEMORY, seconds=10),
    # ---- 3. exit codes that lie
    Case("g3-builtins-exit", 3, PROC, ("summary", "builtins:exit"), 1, ("builtins:exit", "sys.exit")),
    Case("g3-forward-raises-systemexit-7", 3, PROC, ("graph", f"{KINDS}:ExitsInForward", "--input", "8", "-f", "dot"),
         1, ("ExitsInForward", "sys.exit(7)")),
    Case("g3-module-exits-on-import-snapshot", 3, PROC,
         ("snapshot", f"{EXITS_ON_IMPORT}:Net", "--input", "8", "-o", "arch"), 1, ("exits_on_import.py", "sys.exit"),
         keep=("arch",)),
    Case("g3-module-exits-0-on-import-check", 3, PROC, ("check", "arch-exits"), 1, ("sys.exit", "failed"),
         setup=("exits.py", "arch-exits/Net@1x32x32.json"), keep=("arch-exits",)),
    Case("g3-inputs-from-exits", 3, CLI, ("summary", f"{KINDS}:Small", "--inputs-from", "builtins:exit"), 1,
         ("sys.exit",)),
    Case("g3-diff-side-exits", 3, CLI, ("diff", "builtins:exit", "lenet5"), 1, ("sys.exit",)),
    # ---- 4. files damaged
    Case("g4-snapshot-of-a-spec-onto-itself", 4, CLI, ("snapshot", "in.json", "-o", "in.json"), 2,
         ("in.json", "model's own file"), setup=("in.json",), keep=("in.json",)),
    Case("g4-diff-onto-its-own-input", 4, CLI, ("diff", "in.json", "lenet5", "-o", "in.json"), 2,
         ("model's own file",), setup=("in.json",), keep=("in.json",)),
    Case("g4-sizes-onto-its-own-input", 4, CLI, ("sizes", "in.json", "-o", "in.json"), 2,
         ("model's own file",), setup=("in.json",), keep=("in.json",)),
    Case("g4-junit-onto-a-snapshot-it-checks", 4, CLI,
         ("check", "arch", "--junit-xml", "arch/lenet5@1x32x32.json"), 2, ("cannot write", "lenet5@1x32x32.json"),
         setup=("arch/lenet5@1x32x32.json",), keep=("arch",)),
    Case("g4-no-graphviz-keeps-an-existing-dot", 4, PROC, ("graph", "lenet5", "-o", "g.svg"), 1,
         ("exists already", "Install Graphviz"), setup=("g.dot",), keep=("g.dot", "g.svg"), env=NO_DOT),
    Case("g4-output-through-a-symlink", 4, CLI, ("summary", "lenet5", "-o", "link.txt"), 0, (),
         setup=("link.txt", "real/out.txt"), keep=("link.txt",), written=("real/out.txt",)),
    Case("g4-output-through-a-dangling-symlink", 4, CLI, ("summary", "lenet5", "-o", "dangling.txt"), 2,
         ("cannot write",), setup=("dangling.txt",), keep=("dangling.txt", "missing")),
    Case("g4-update-through-a-symlinked-snapshot", 4, CLI, ("check", "arch-link", "--update"), 0, ("updated",),
         setup=("arch-link/lenet5@1x32x32.json", "real/lenet5.json"), keep=("arch-link",),
         written=("real/lenet5.json",)),
    # ---- 5. zoo and spec snapshots run no code
    Case("g5-zoo-kind-with-an-import-target-check", 5, PROC, ("check", "arch-lie"), 2, ("model.kind is 'zoo'",),
         setup=("evil.py", "arch-lie/lie.json"), keep=("EXECUTED", "arch-lie")),
    Case("g5-spec-kind-with-an-import-target-diff", 5, CLI, ("diff", "lie.json", "lenet5"), 2,
         ("model.kind is 'spec'",), setup=("evil.py", "lie.json"), keep=("EXECUTED", "lie.json")),
    # ---- 6. corrupt snapshots
    Case("g6-layer-repeated-diff", 6, CLI, ("diff", "dup.json", "lenet5"), 2, ("listed twice",),
         setup=("dup.json",), keep=("dup.json",)),
    Case("g6-layer-list-doubled-update-rewrites-nothing", 6, CLI, ("check", "arch-double", "--update"), 2,
         ("listed twice",), setup=("arch-double/double.json",), keep=("arch-double",)),
    Case("g6-unknown-convention-diff", 6, CLI, ("diff", "conv.json", "lenet5"), 2, ("convention is 'mine'",),
         setup=("conv.json",), keep=("conv.json",)),
    # ---- 7. messages far too long
    Case("g7-device-mps", 7, PROC, ("summary", "lenet5", "--device", "mps", "--traced"), 2, ("'mps'",)),
    # 99,999 numbers are too long for one argument of a process (128 KiB): CliRunner only
    Case("g7-input-of-99999-numbers", 7, CLI, ("summary", "resnet50", "--input", "x".join(["1"] * 99_999)), 2,
         ("at most 8",)),
    Case("g7-input-number-of-99999-digits", 7, CLI, ("snapshot", "lenet5", "--input", NINES, "-o", "arch"), 2,
         ("cannot read input size",), keep=("arch",)),
    Case("g7-spec-kernel-of-99999-numbers", 7, CLI, ("summary", "longkernel.json"), 1, ("kernel",),
         setup=("longkernel.json",), keep=("longkernel.json",)),
    Case("g7-spec-input-of-99999-numbers-sizes", 7, CLI, ("sizes", "longinput.json"), 1, ("input",),
         setup=("longinput.json",), keep=("longinput.json",)),
    Case("g7-spec-key-of-100000-characters-graph", 7, CLI, ("graph", "longkey.json"), 1, ("unknown field",),
         setup=("longkey.json",), keep=("longkey.json",)),
    Case("g7-snapshot-field-of-100000-characters-check", 7, CLI, ("check", "arch-long"), 2, ("output_shapes",),
         setup=("arch-long/x.json",), keep=("arch-long",)),
    Case("g7-list-pattern-of-100000-characters", 7, CLI, ("list", "x" * 100_000), 2, ("no zoo model matches",)),
    # ---- 10. one line per paragraph when not on a terminal (asserted for every case; these two have long messages)
    Case("g10-shape-error-after-a-partial-table", 10, PROC, ("summary", "alexnet", "--input", "32"), 1,
         ("alexnet cannot run on input", "features.12")),
    Case("g10-list-no-match", 10, PROC, ("list", "["), 2, ("no zoo model matches",)),
]


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


def _limits(memory: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _env(extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS")}
    env.update(PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(dict(extra))
    return env


def run_process(argv: tuple[str, ...] | list[str], cwd: Path, *, seconds: float = TIMEOUT, memory: int = MEMORY,
                env: tuple[tuple[str, str], ...] = ()) -> Outcome:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "archscope", *argv], cwd=cwd, env=_env(env),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds,
                              preexec_fn=_limits(memory))
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode("utf-8", "replace")[-500:]
        pytest.fail(f"archscope {' '.join(argv)[:200]} gave no answer in {seconds:.0f} s (a hang); stderr: {err}")
    return Outcome(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"),
                   time.perf_counter() - start)


def run_cli(argv: tuple[str, ...], env: tuple[tuple[str, str], ...] = ()) -> Outcome:
    start = time.perf_counter()
    result = CliRunner(env=dict(env) or None).invoke(app, list(argv))
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):  # escaped the command: a traceback for a user
        pytest.fail(f"archscope {' '.join(argv)[:200]} raised {type(exc).__name__}: {str(exc)[:300]}")
    return Outcome(result.exit_code, result.stdout, result.stderr, time.perf_counter() - start)


def assert_error_paragraph(err: str) -> str:
    """One ``archscope: error:`` line, the last one on stderr, at most MAX_LINE characters; its text."""
    lines = err.rstrip("\n").split("\n")
    at = [i for i, line in enumerate(lines) if line.startswith("archscope: error:")]
    assert at == [len(lines) - 1], f"not one error line at the end of stderr: {err[-800:]!r}"
    line = lines[-1]
    assert len(line) <= MAX_LINE, f"the error line has {len(line):,} characters: {line[:300]}…"
    return line


def assert_outcome(case: Case, got: Outcome) -> None:
    tail = got.err[-600:] if len(got.err) < 5000 else got.err[:300] + " … " + got.err[-300:]
    assert got.code == case.code, f"exit {got.code}, expected {case.code}; stderr: {tail}"
    assert "Traceback" not in got.out + got.err, tail
    assert "internal error" not in got.err, tail
    if got.code != 0 and not (case.command == "check" and got.code == 1):  # check's 1 is a report, not an error
        assert_error_paragraph(got.err)
    else:
        assert "archscope: error:" not in got.err, tail
    flat = " ".join((got.out + got.err).split())
    for word in case.words:
        assert word in flat, f"{word!r} not in the output: {flat[:600]}"
    assert got.seconds < case.seconds, f"took {got.seconds:.1f} s"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_corpus(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_files(tmp_path, case.setup)
    before = {name: state(tmp_path / name) for name in case.keep}
    if case.how == PROC:
        got = run_process(case.argv, tmp_path, seconds=case.seconds, memory=case.memory, env=case.env)
    else:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "path", list(sys.path))  # archscope puts the cwd on it for local imports
        monkeypatch.setattr(sys, "dont_write_bytecode", True)
        got = run_cli(case.argv, case.env)
    after = {name: state(tmp_path / name) for name in case.keep}
    changed = [name for name in case.keep if before[name] != after[name]]
    assert not changed, f"changed: {changed} ({[str(after[n])[:120] for n in changed]})"
    for name in case.written:
        path = (tmp_path / name).resolve()
        assert path.is_file() and path.stat().st_size > 0, f"{name} was not written"
    assert_outcome(case, got)


def test_the_corpus_covers_every_group_and_every_command() -> None:
    assert {c.group for c in CASES} >= {1, 2, 3, 4, 5, 6, 7, 10}  # 8 and 9: test_api_*, test_plugin_*
    assert {c.command for c in CASES} == set(COMMANDS)
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(name in FILES for c in CASES for name in c.setup)


# ================================================================ 8. the Python API's front door


def _linear() -> nn.Module:
    return nn.Linear(2, 2)


# (id, call, words that must appear: the argument's name, as a regular expression)
API_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("trace-int-target", lambda: archscope.trace(123, (3, 8, 8)), r"\btarget\b"),  # type: ignore[arg-type]
    ("trace-none-target", lambda: archscope.trace(None, 8), r"\btarget\b"),  # type: ignore[arg-type]
    ("trace-dict-target", lambda: archscope.trace({"a": 1}, 8), r"\btarget\b"),  # type: ignore[arg-type]
    ("build-int", lambda: archscope.build(123), r"build\(\)"),  # type: ignore[arg-type]
    ("build-none", lambda: archscope.build(None), r"build\(\)"),  # type: ignore[arg-type]
    ("build-an-instance", lambda: archscope.build(_linear()), r"build\(\)"),  # type: ignore[arg-type]
    ("class-instead-of-instance", lambda: archscope.trace(nn.Linear, input_size=(2,)), r"in_features"),
    ("negative-size", lambda: archscope.trace(_linear(), input_size=(-2,)), r"input[_ ]size.*-2"),
    ("negative-size-int", lambda: archscope.trace(_linear(), input_size=-2), r"input[_ ]size.*-2"),
    ("negative-size-zoo", lambda: archscope.trace("lenet5", input_size=(1, -32, 32)), r"input[_ ]size.*-32"),
    ("float-dims", lambda: archscope.trace(_linear(), input_size=(3.7, 224, 224)), r"input[_ ]size.*3\.7"),
    ("input-size-true", lambda: archscope.trace(_linear(), input_size=True), r"\binput_size\b"),
    ("input-size-float", lambda: archscope.trace(_linear(), input_size=2.0), r"\binput_size\b"),
    ("batch-text", lambda: archscope.trace(_linear(), input_size=(2,), batch="2"), r"\bbatch\b"),  # type: ignore[arg-type]
    ("batch-2.5", lambda: archscope.trace(_linear(), input_size=(2,), batch=2.5), r"\bbatch\b"),  # type: ignore[arg-type]
    ("batch-0", lambda: archscope.trace(_linear(), input_size=(2,), batch=0), r"\bbatch\b"),
    ("batch-true", lambda: archscope.trace(_linear(), input_size=(2,), batch=True), r"\bbatch\b"),
    ("dtype-of-an-input", lambda: archscope.trace(_linear(), input_size=(2,), dtype="int64"), r"\bdtype\b"),
    ("convention-none", lambda: archscope.trace(_linear(), input_size=(2,), convention=None),  # type: ignore[arg-type]
     r"convention"),
    ("device-int", lambda: archscope.trace(_linear(), input_size=(2,), device=1), r"device"),  # type: ignore[arg-type]
    ("batch-dim-negative", lambda: archscope.trace(_linear(), input_size=(2,), batch_dim=-1), r"\bbatch_dim\b"),
    ("input-data-object", lambda: archscope.trace(_linear(), input_data=object()), r"\binput_data\b"),
    # beyond the examples: the same front door, the other arguments
    ("inputs-from-int", lambda: archscope.trace(_linear(), inputs_from=5), r"\binputs_from\b"),  # type: ignore[arg-type]
    ("train-text", lambda: archscope.trace(_linear(), input_size=(2,), train="yes"), r"\btrain\b"),  # type: ignore[arg-type]
    ("analytic-text", lambda: archscope.trace("lenet5", analytic="no"), r"\banalytic\b"),  # type: ignore[arg-type]
    ("list-models-int", lambda: archscope.list_models(5), r"\bpattern\b"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "words"), [(c, w) for _, c, w in API_CASES], ids=[i for i, _, _ in API_CASES])
def test_api_front_door(call: Callable[[], Any], words: str) -> None:
    try:
        result = call()
    except (ArchscopeError, TypeError, ValueError) as exc:
        text = str(exc)
        assert "\n" not in text.strip() and "Traceback" not in text
        assert re.search(words, text), f"{type(exc).__name__}: {text[:300]} does not name the argument ({words})"
        assert len(text) <= MAX_LINE
    except Exception as exc:  # noqa: BLE001 (what it is, is the assertion)
        pytest.fail(f"a raw {type(exc).__name__}: {str(exc)[:300]}")
    else:
        pytest.fail(f"accepted: returned a {type(result).__name__}")


# ================================================================ 9. the pytest plugin


@pytest.fixture(scope="module")
def warm_torch() -> None:
    """pytester's inline runs drop the modules imported during a run; torch's lazily imported
    operator libraries cannot be imported twice. Import them first, with one trace of each kind
    (as tests/test_check.py does)."""
    archscope.snapshot.check.take_checked("resnet50")
    archscope.snapshot.check.take_checked(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                               nn.Flatten(), nn.Linear(4, 2)), (3, 8, 8))


@pytest.fixture
def pytester(pytester: pytest.Pytester, warm_torch: None, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return pytester


PLUGIN_NET = '''\
from torch import nn


def net(width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU())


'''


def _plugin_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())


# (id, the fixture's call in a test, the API call that raises the same error (None: none), words)
PLUGIN_CASES: list[tuple[str, str, Callable[[], Any] | None, tuple[str, ...]]] = [
    ("negative-size", "archscope_snapshot(net(), (3, -8, 8))",
     lambda: archscope.trace(_plugin_net(), (3, -8, 8)), ("-8",)),
    ("int-target", "archscope_snapshot(123, (3, 8, 8))", lambda: archscope.trace(123, (3, 8, 8)),  # type: ignore[arg-type]
     ("target",)),
    ("none-target", "archscope_snapshot(None, (3, 8, 8))", lambda: archscope.trace(None, (3, 8, 8)),  # type: ignore[arg-type]
     ("target",)),
    ("batch-text", "archscope_snapshot(net(), (3, 8, 8), batch='2')",
     lambda: archscope.trace(_plugin_net(), (3, 8, 8), batch="2"), ("batch",)),  # type: ignore[arg-type]
    ("name-not-text", "archscope_snapshot(net(), (3, 8, 8), name=5)", None, ("name",)),
]


def _archscope_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("archscope:")]


def assert_no_internal_traceback(text: str) -> None:
    assert "Traceback" not in text
    assert not re.search(r"archscope[/\\][\w/\\]+\.py:\d+", text), text[-2000:]  # a frame of archscope's own code
    assert not re.search(r"^E\s{3}", text, re.M), text[-2000:]  # pytest's exception lines


@pytest.mark.parametrize(("call", "same_as", "words"), [c[1:] for c in PLUGIN_CASES], ids=[c[0] for c in PLUGIN_CASES])
def test_plugin_bad_argument_fails_with_the_one_paragraph_message(
        pytester: pytest.Pytester, call: str, same_as: Callable[[], Any] | None, words: tuple[str, ...]) -> None:
    pytester.makepyfile(test_bad=PLUGIN_NET + f"def test_bad(archscope_snapshot):\n    {call}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert_no_internal_traceback(text)
    lines = _archscope_lines(text)
    assert len(lines) == 1, text[-2000:]
    if same_as is not None:
        with pytest.raises((ArchscopeError, TypeError, ValueError)) as info:
            same_as()
        assert lines[0] == f"archscope: {' '.join(str(info.value).split())}"  # what the CLI would say after 'error:'
    for word in words:
        assert word in lines[0], lines[0]


LONG_PLUGIN_NAME = "n" * 300


def test_plugin_over_long_name_is_a_valid_name_cut_in_the_file_name(pytester: pytest.Pytester) -> None:
    """A 300-character name is the snapshot's name; its file name is cut to fit (≤ 255 bytes):
    missing, the test fails with archscope's message (no OSError, no traceback); written with
    --archscope-update, it passes."""
    pytester.makepyfile(test_long=PLUGIN_NET + "def test_long(archscope_snapshot):\n"
                                               f"    archscope_snapshot(net(), (3, 8, 8), name={LONG_PLUGIN_NAME!r})\n")
    first = pytester.runpytest("-p", "no:cacheprovider")
    first.assert_outcomes(failed=1)
    assert_no_internal_traceback(first.stdout.str())
    assert "--archscope-update" in first.stdout.str() and "File name too long" not in first.stdout.str()
    pytester.runpytest("-p", "no:cacheprovider", "--archscope-update").assert_outcomes(passed=1)
    (written,) = (pytester.path / "__archscope__").iterdir()
    assert len(os.fsencode(written.name)) <= MAX_NAME
    assert files.load(written)["name"] == LONG_PLUGIN_NAME
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_plugin_two_over_long_names_cut_to_one_file_name_fail_in_one_paragraph(pytester: pytest.Pytester) -> None:
    a, b = "n" * 200 + "a", "n" * 200 + "b"  # the same first 80 characters: one file name
    pytester.makepyfile(test_two=PLUGIN_NET + "def test_a(archscope_snapshot):\n"
                                              f"    archscope_snapshot(net(4), (3, 8, 8), name={a!r})\n\n\n"
                                              "def test_b(archscope_snapshot):\n"
                                              f"    archscope_snapshot(net(8), (3, 8, 8), name={b!r})\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--archscope-update")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert_no_internal_traceback(text)
    (line,) = _archscope_lines(text)
    assert "is also used by" in line and "name=" in line


# ================================================================ properties (hypothesis)

_GRAMMAR = st.lists(st.sampled_from(["0", "1", "3", "20", "224", "9" * 16, "x", "×", "X", ",", "*", " ", ":", "=",
                                     "int64", "bool", "float16", "torch.", "long", "ids", "_", "-", "²", "①", "٣",
                                     "\n", "\x00", "\u200b", "ｘ", "e", "."]), max_size=30).map("".join)
_TEXT = st.text(max_size=200) | _GRAMMAR | st.builds(lambda n: "x".join(["7"] * n), st.integers(1, 5000))


@settings(max_examples=1500, deadline=None)
@given(_TEXT)
def test_any_input_text_is_a_typed_input_within_the_limits_or_a_one_line_usage_error(text: str) -> None:
    try:
        typed = parse_input(text)
    except ArchscopeError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) <= 3 * MAX_ECHO + len(spec_inputs.FORMS) + 200
        return
    assert 1 <= len(typed.shape) <= MAX_DIMS
    assert all(type(d) is int and d > 0 for d in typed.shape)
    total = 1
    for d in typed.shape:
        total *= d
    assert total <= MAX_ELEMENTS
    assert typed.dtype is None or typed.dtype in DTYPE_BYTES
    assert typed.name is None or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", typed.name)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


_SCALAR = (st.none() | st.booleans() | st.integers(-5, 300) | st.integers() | st.floats()
           | st.text(max_size=8) | st.sampled_from(["relu", "avg", "max", "N×3×8×8", "resnet.basic", "conv"]))
_KEY = st.sampled_from(["name", "input", "layers", "type", "out", "kernel", "stride", "padding", "groups", "body",
                        "branches", "shortcut", "post", "fn", "mode", "p", "expect", "template", "planes",
                        "archscope_spec", "label", "schema", "model", "kind", "target"]) | st.text(max_size=6)
_JSON = st.recursive(_SCALAR, lambda c: st.lists(c, max_size=4) | st.dictionaries(_KEY, c, max_size=5), max_leaves=30)

_SMALL = st.integers(-1, 9)
_SIZE = _SMALL | st.lists(_SMALL, min_size=1, max_size=3)
_LEAF = st.fixed_dictionaries(
    {"type": st.sampled_from(["conv", "norm", "act", "pool", "adaptive_pool", "linear", "flatten", "dropout",
                              "identity", "stochastic_depth", "block", "nope"])},
    optional={"out": st.integers(-1, 40), "kernel": _SIZE, "stride": _SIZE, "padding": _SIZE, "dilation": _SIZE,
              "groups": st.integers(-1, 5), "fn": st.sampled_from(["relu", "silu", "sigmoid", "nope"]),
              "mode": st.sampled_from(["max", "avg", "nope"]), "p": st.floats(-1, 2) | st.integers(-1, 2),
              "output": _SIZE, "start_dim": st.integers(-2, 5), "name": st.sampled_from(["a", "b", "fc", "", "a.b"]),
              "expect": st.sampled_from(["N×4×6×6", "N×x", "", "N×3×8×8"]), "bias": st.booleans() | _SCALAR,
              "template": st.sampled_from(["resnet.basic", "resnet.bottleneck", "nope"]),
              "planes": st.integers(-1, 16), "downsample": st.booleans()})
_NODE = st.recursive(_LEAF, lambda c: st.lists(c, max_size=3) | st.fixed_dictionaries(
    {"type": st.sampled_from(["seq", "concat", "residual", "dense", "gate", "aux"])},
    optional={"layers": st.lists(c, max_size=3), "branches": st.lists(c, max_size=3), "body": c,
              "shortcut": c, "post": c, "name": st.sampled_from(["blk", "a"])}), max_leaves=10)
_SPEC = st.fixed_dictionaries({"name": st.text(max_size=5) | _SCALAR,
                               "input": st.lists(st.integers(-1, 40), max_size=4) | _SCALAR,
                               "layers": st.lists(_NODE, max_size=5)}, optional={"archscope_spec": _SCALAR})


def _load_spec(path: Path) -> Model | None:
    try:
        model = serialize.load_file(path)
    except ArchscopeError:
        return None
    assert isinstance(model, Model)
    return model


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | _TEXT.map(str.encode), st.sampled_from([".json", ".yaml", ".yml"]))
def test_any_bytes_in_a_spec_file_are_a_model_or_an_archscope_error(scratch: Path, data: bytes, suffix: str) -> None:
    path = scratch / f"bytes{suffix}"
    path.write_bytes(data)
    _load_spec(path)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["!!python/object/apply:os.system ['touch PWNED']", "!!python/name:os.system", "&a [*a]",
                        "%YAML 1.1\n---\n", "--- !!binary AAAA", "? [a]\n: b\n", "<<: *x\n", "!!set {a, b}\n"]),
       _TEXT)
def test_yaml_tags_that_run_code_or_refer_to_themselves_are_refused(scratch: Path, head: str, tail: str) -> None:
    path = scratch / "tags.yaml"
    path.write_text(f"name: x\ninput: [3, 8, 8]\nlayers: {head}\n{tail}", encoding="utf-8")
    _load_spec(path)
    assert not (Path.cwd() / "PWNED").exists() and not (scratch / "PWNED").exists()


@settings(max_examples=400, deadline=None)
@given(_JSON | _SPEC, st.sampled_from([".json", ".yaml"]))
def test_any_structure_in_a_spec_file_is_a_model_or_an_archscope_error(scratch: Path, data: Any, suffix: str) -> None:
    path = scratch / f"structure{suffix}"
    text = json.dumps(data) if suffix == ".json" else yaml.safe_dump(data)
    path.write_text(text, encoding="utf-8")
    _load_spec(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SPEC)
def test_any_spec_that_loads_is_summarised_and_sized_or_an_archscope_error(scratch: Path, data: Any) -> None:
    """What ``archscope summary`` and ``archscope sizes`` do with a spec file that loads."""
    path = scratch / "net.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    model = _load_spec(path)
    if model is None:
        return
    for step in (lambda: archscope.trace(str(path)), lambda: analyse_sizes(model)):
        try:
            step()
        except ArchscopeError as exc:
            assert "\n" not in str(exc).strip()


def _snapshot_checks(path: Path) -> None:
    """``files.load``: a snapshot or a CorruptSnapshotError; what loads, ``check`` can use."""
    try:
        data = files.load(path)
    except ArchscopeError:
        return
    original = json.loads(LENET.read_text(encoding="utf-8"))
    files.filename(data)
    files.dumps(data)
    files.inputs_of(data)
    compare(data, original)
    compare(original, data)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=400) | _TEXT.map(str.encode) | _JSON.map(lambda d: json.dumps(d).encode()))
def test_any_bytes_or_structure_in_a_snapshot_are_a_snapshot_or_an_archscope_error(scratch: Path, data: bytes) -> None:
    path = scratch / "any.json"
    path.write_bytes(data)
    _snapshot_checks(path)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: dict keys and list indices."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


_LENET_DATA = json.loads(LENET.read_text(encoding="utf-8"))
_LENET_PATHS = _paths(_LENET_DATA)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(_LENET_PATHS), st.just(None) | _JSON | st.integers(-2, 2**63) | st.just("__delete__"))
def test_a_snapshot_with_one_field_replaced_is_a_snapshot_or_an_archscope_error(
        scratch: Path, where: tuple[Any, ...], value: Any) -> None:
    data = json.loads(json.dumps(_LENET_DATA))
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    if value == "__delete__":
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    path = scratch / "one_field.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    _snapshot_checks(path)


# ================================================================ SIGKILL during check --update


def test_sigkill_during_check_update_leaves_each_snapshot_old_or_new_and_the_next_update_cleans_up(
        tmp_path: Path) -> None:
    """Killed at random times, ``check --update`` leaves every snapshot byte-identical to the old
    or the new one (never truncated). Its temporary files (``.NAME.PID.XXXX.archscope-tmp``) may
    stay: a plain ``check`` reads only ``*.json``, so it is not disturbed by them (and, asked only
    to read, need not remove them); the next run that writes into the directory, the repeated
    ``check --update``, removes every one whose process is gone (docs/guarantees.md)."""
    arch = tmp_path / "arch"
    arch.mkdir()
    new = {p.name: p.read_bytes() for p in sorted(ARCH.glob("*.json"))}
    old = {}
    for name, data in new.items():
        snapshot = json.loads(data)
        _stale(snapshot)
        old[name] = files.dumps(snapshot).encode()

    def reset() -> None:
        for name, data in old.items():
            (arch / name).write_bytes(data)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "archscope", "check", "arch", "--update"], cwd=tmp_path,
                                env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=_limits(MEMORY))

    # The kills are timed against one whole run on this machine (0.2-1 s: the spec path does not
    # import torch), so that they fall throughout it, the writes at its end included.
    reset()
    began = time.perf_counter()
    assert start().wait(timeout=TIMEOUT) == 0
    whole = time.perf_counter() - began
    rng = random.Random(6)
    killed = 0
    for _ in range(8):
        reset()
        proc = start()
        time.sleep(rng.uniform(0.5, 1.0) * whole)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
        killed += proc.returncode == -signal.SIGKILL
        for name in new:
            assert (arch / name).read_bytes() in (old[name], new[name]), f"{name} is neither old nor new"
    assert killed, "no run was killed before it finished: the test tested nothing"

    # As a kill in the middle of a write leaves it: that file still old, its temporary file beside it.
    (arch / "lenet5@1x32x32.json").write_bytes(old["lenet5@1x32x32.json"])
    (arch / f".lenet5@1x32x32.json.{PID_MAX + 1}.abcd1234{TMP_SUFFIX}").write_bytes(new["lenet5@1x32x32.json"][:99])

    plain = run_process(("check", "arch"), tmp_path)
    stale = [name for name in new if (arch / name).read_bytes() != new[name]]
    assert plain.code == (1 if stale else 0), plain.err
    assert "Traceback" not in plain.out + plain.err and "archscope: error:" not in plain.err
    assert TMP_SUFFIX not in plain.out + plain.err  # temporary files are not snapshots

    again = run_process(("check", "arch", "--update"), tmp_path)
    assert again.code == 0, again.out + again.err
    assert {p.name: p.read_bytes() for p in arch.glob("*.json")} == new
    left = sorted(p.name for p in arch.iterdir() if p.name.endswith(TMP_SUFFIX))
    assert not left, f"temporary files left after the next --update: {left}"
    assert run_process(("check", "arch"), tmp_path).code == 0


# ================================================================ docs/guarantees.md


def test_guarantees_doc_names_tests_that_exist_and_the_limits_the_code_sets() -> None:
    doc = GUARANTEES.read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)", doc))
    assert len(named) >= 20
    for path, test in named:
        assert re.search(rf"^def {test}\b", (ROOT / path).read_text(encoding="utf-8"), re.M), f"{path}::{test}"
    for name in ("test_bad_input_corpus", "test_api_front_door", "test_sigkill_during_check_update_leaves_each_"
                 "snapshot_old_or_new_and_the_next_update_cleans_up"):
        assert name in doc
    rows = re.findall(r"^\| [^|]+ \| `([\w.]+)\.(\w+)` \| ([^|]+) \|", doc, re.M)
    assert len(rows) >= 9, rows
    import importlib

    for module, constant, written in rows:
        value = getattr(importlib.import_module(module), constant)
        assert written.strip().split(" ")[0].replace(",", "") == str(value), (module, constant, written, value)
