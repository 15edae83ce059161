"""Shape regressions (issue 6): ``archscope snapshot``, ``archscope check``, the pytest plugin,
the zoo snapshots in tests/arch/ and docs/ci.md."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import torch  # noqa: F401  (imported before pytester's inline runs, which restore sys.modules)
import yaml
from typer.testing import CliRunner, Result

import archscope.api  # noqa: F401  (likewise)
import archscope.snapshot.check
import archscope.snapshot.report  # noqa: F401
from archscope.cli.main import app
from archscope.snapshot import files

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "tests" / "arch"
CI_DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")

NET = '''\
from collections import OrderedDict

from torch import nn


def build_net():
    return nn.Sequential(OrderedDict(
        stem=nn.Conv2d(3, 16, 3, padding=1), stem_relu=nn.ReLU(),
        down=nn.Conv2d(16, {width}, 3, stride={stride}, padding=1), down_relu=nn.ReLU(),
        conv=nn.Conv2d({width}, 32, 3, padding=1), conv_relu=nn.ReLU(),
        pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(32, 10)))
'''
SNAP = "arch/build_net@3x32x32.json"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def write_net(width: int = 32, stride: int = 2) -> None:
    Path("net.py").write_text(NET.format(width=width, stride=stride))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user project in tmp_path: net.py, and arch/ with snapshots of it and of lenet5."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # net.py is rewritten within a second
    monkeypatch.setattr(sys, "path", list(sys.path))
    write_net()
    assert run("snapshot", "net.py:build_net", "--input", "3x32x32", "-o", "arch/").exit_code == 0
    assert run("snapshot", "lenet5", "-o", "arch").exit_code == 0
    return tmp_path


def changed_layers(result: Result) -> list[str]:
    report = json.loads(result.stdout)
    (changed,) = [r for r in report["results"] if r["status"] != "unchanged"]
    return changed["changed_layers"]  # type: ignore[no-any-return]


# --- snapshot ---------------------------------------------------------------------------

def test_snapshot_file_is_named_by_model_and_input_and_holds_every_layer(project: Path) -> None:
    assert sorted(p.name for p in (project / "arch").iterdir()) == ["build_net@3x32x32.json", "lenet5@1x32x32.json"]
    data = json.loads(Path(SNAP).read_text())
    assert data["schema"] == "archscope.snapshot/2"
    assert data["model"] == {"kind": "import", "target": "net.py:build_net"}
    assert data["inputs"] == {"args": [{"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32", "batch_dim": 0}],
                              "kwargs": {}}
    assert (data["name"], data["batch"], data["mode"]) == ("build_net", 1, "eval")
    names = [layer["name"] for layer in data["layers"]]
    assert names == ["", "stem", "stem_relu", "down", "down_relu", "conv", "conv_relu", "pool", "flat", "fc"]
    down = data["layers"][3]
    assert down == {"name": "down", "type": "Conv2d", "call": 1, "output_shapes": [[1, 32, 16, 16]],
                    "params": 16 * 9 * 32 + 32, "macs": 16 * 9 * 32 * 16 * 16}
    assert data["totals"]["params"] == sum(layer["params"] for layer in data["layers"])
    assert json.loads(Path("arch/lenet5@1x32x32.json").read_text())["model"] == {"kind": "zoo", "target": "lenet5"}


def test_snapshot_written_twice_is_byte_identical(project: Path) -> None:
    first = Path(SNAP).read_bytes()
    assert run("snapshot", "net.py:build_net", "--input", "3x32x32", "-o", "again.json").exit_code == 0
    assert Path("again.json").read_bytes() == first
    assert run("snapshot", "net.py:build_net", "--input", "3x32x32", "-o", "arch/").exit_code == 0
    assert Path(SNAP).read_bytes() == first
    assert first.endswith(b"]\n}\n") and b"\r" not in first


def test_snapshot_with_a_batch_is_named_with_it(project: Path) -> None:
    result = run("snapshot", "net.py:build_net", "--input", "3x32x32", "--batch", "4", "-o", "arch/")
    assert result.exit_code == 0, result.output
    data = json.loads(Path("arch/build_net@4x3x32x32.json").read_text())
    assert data["batch"] == 4 and data["layers"][-1]["output_shapes"] == [[4, 10]]
    assert run("check", "arch").exit_code == 0


def test_snapshot_of_an_import_path_needs_an_input(project: Path) -> None:
    result = run("snapshot", "net.py:build_net", "-o", "arch/")
    assert result.exit_code == 2 and "--input" in result.output


# --- check ------------------------------------------------------------------------------

def test_check_passes_when_nothing_changed(project: Path) -> None:
    result = run("check", "arch/")
    assert result.exit_code == 0, result.output
    assert "archscope check passed: 2 checked (2 unchanged)" in result.output


def test_changed_channel_count_names_that_layer_and_the_downstream_ones(project: Path) -> None:
    write_net(width=24)
    result = run("check", "arch/")
    assert result.exit_code == 1, result.output
    assert "archscope check FAILED: 2 checked (1 changed, 1 unchanged)" in result.output
    table = result.stdout.split(f"{SNAP}: changed", 1)[1]
    rows = [line.split("│")[1:5] for line in table.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["down", "output_shapes", "1×32×16×16", "1×24×16×16"],
        ["down", "params", "4,640", "3,480"],
        ["down", "macs", "1,179,648", "884,736"],
        ["down_relu", "output_shapes", "1×32×16×16", "1×24×16×16"],
        ["conv", "params", "9,248", "6,944"],
        ["conv", "macs", "2,359,296", "1,769,472"],
        ["(totals)", "params", "14,666", "11,202"],
        ["(totals)", "trainable_params", "14,666", "11,202"],
        ["(totals)", "macs", "3,981,632", "3,096,896"],
    ]
    assert changed_layers(run("check", "arch/", "--format", "json")) == ["down", "down_relu", "conv"]


def test_changed_stride_names_that_layer_and_the_downstream_ones(project: Path) -> None:
    write_net(stride=1)
    result = run("check", "arch/", "--format", "json")
    assert result.exit_code == 1, result.output
    # pool's output (1×32×1×1) and everything after it are unchanged; so is every parameter count
    assert changed_layers(result) == ["down", "down_relu", "conv", "conv_relu"]
    report = json.loads(result.stdout)
    (changed,) = [r for r in report["results"] if r["status"] == "changed"]
    assert {c["field"] for c in changed["changes"]} == {"output_shapes", "macs"}
    assert [t["field"] for t in changed["totals"]] == ["macs"]
    assert changed["source"] == SNAP and report["ok"] is False


def test_added_and_removed_layers_and_a_changed_type(project: Path, tmp_path: Path) -> None:
    Path("net.py").write_text(NET.format(width=32, stride=2).replace("stem_relu=nn.ReLU()", "stem_act=nn.GELU()"))
    result = run("check", "arch/", "--format", "json")
    assert result.exit_code == 1
    (changed,) = [r for r in json.loads(result.stdout)["results"] if r["status"] == "changed"]
    assert changed["added"] == ["stem_act"] and changed["removed"] == ["stem_relu"]
    assert changed["changes"] == [] and changed["totals"] == []
    Path("net.py").write_text(NET.format(width=32, stride=2).replace("stem_relu=nn.ReLU()", "stem_relu=nn.GELU()"))
    (changed,) = [r for r in json.loads(run("check", "arch/", "--format", "json").stdout)["results"]
                  if r["status"] == "changed"]
    assert changed["changes"] == [{"layer": "stem_relu", "field": "type", "old": "ReLU", "new": "GELU"}]


def test_update_rewrites_only_what_changed_then_check_passes(project: Path) -> None:
    lenet = Path("arch/lenet5@1x32x32.json")
    lenet_bytes, lenet_mtime = lenet.read_bytes(), lenet.stat().st_mtime_ns
    old = Path(SNAP).read_bytes()
    write_net(width=24)
    result = run("check", "arch/", "--update")
    assert result.exit_code == 0, result.output
    assert "archscope check passed: 2 checked (1 unchanged, 1 updated)" in result.output
    assert Path(SNAP).read_bytes() != old
    assert lenet.read_bytes() == lenet_bytes and lenet.stat().st_mtime_ns == lenet_mtime
    assert run("check", "arch/").exit_code == 0
    # what --update wrote is what a fresh snapshot writes
    assert run("snapshot", "net.py:build_net", "--input", "3x32x32", "-o", "fresh.json").exit_code == 0
    assert Path("fresh.json").read_bytes() == Path(SNAP).read_bytes()
    assert sorted(p.name for p in Path("arch").iterdir()) == ["build_net@3x32x32.json", "lenet5@1x32x32.json"]


def test_update_of_an_unchanged_snapshot_does_not_touch_it(project: Path) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path("arch").iterdir()}
    assert run("check", "arch/", "--update").exit_code == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path("arch").iterdir()} == before


def _fail_replace(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def replace(src: object, dst: object) -> None:
        raise error

    monkeypatch.setattr(os, "replace", replace)


def test_update_that_cannot_rename_leaves_the_old_snapshot_and_no_temporary_file(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = Path(SNAP).read_bytes()
    write_net(width=24)
    with monkeypatch.context() as patch:
        _fail_replace(patch, OSError(28, "No space left on device"))
        result = run("check", "arch/", "--update")
    assert result.exit_code == 2
    assert SNAP in result.output and "No space left on device" in result.output
    assert Path(SNAP).read_bytes() == old
    assert sorted(p.name for p in Path("arch").iterdir()) == ["build_net@3x32x32.json", "lenet5@1x32x32.json"]
    assert run("check", "arch/").exit_code == 1  # still the old snapshot, so still a change


def test_interrupted_update_never_leaves_a_truncated_snapshot(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = Path(SNAP).read_bytes()
    write_net(width=24)
    with monkeypatch.context() as patch:
        _fail_replace(patch, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            archscope.snapshot.check.check_snapshots(["arch"], update=True)
    assert Path(SNAP).read_bytes() == old
    assert sorted(p.name for p in Path("arch").glob("*.json")) == ["build_net@3x32x32.json", "lenet5@1x32x32.json"]
    assert run("check", "arch/").exit_code == 1


def test_interrupted_update_leaves_no_temporary_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_net(width=24)
    with monkeypatch.context() as patch:
        _fail_replace(patch, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            archscope.snapshot.check.check_snapshots(["arch"], update=True)
    assert sorted(p.name for p in Path("arch").iterdir()) == ["build_net@3x32x32.json", "lenet5@1x32x32.json"]


def test_a_model_that_no_longer_builds_fails_with_exit_1(project: Path) -> None:
    Path("net.py").write_text("raise ImportError('gone')\n")
    result = run("check", "arch/")
    assert result.exit_code == 1
    assert "failed" in result.output and "gone" in result.output


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: "", "not valid JSON"),
    (lambda text: "[1, 2]", "no JSON object"),
    (lambda text: text.replace("archscope.snapshot/2", "archscope.snapshot/9"), "schema is 'archscope.snapshot/9'"),
    (lambda text: text.replace('"totals"', '"total"'), "missing totals"),
    (lambda text: text.replace('"shape": [1, 3, 32, 32]', '"shape": "1x3x32x32"'), "inputs: an input needs"),
    (lambda text: text.replace('"batch_dim": 0', '"batch_dim": 3'), "batch_dim 3 does not hold the batch"),
    (lambda text: text.replace('"batch": 1', '"batch": 0'), "batch must be a positive integer"),
    (lambda text: text.replace('"kind": "import"', '"kind": "pip"'), "model.kind"),
    (lambda text: text.replace('"params": 448', '"params": "448"'), "layers[1]: params and macs"),
    (lambda text: text.replace('"output_shapes": [[1, 16, 32, 32]], ', '', 1), "layers[1]: missing output_shapes"),
    (lambda text: text.replace('"totals": {', '"totals": {"x": 1, "y": [], ').replace('"params": 14666', '"p": 1'),
     "totals must hold"),
], ids=["truncated", "empty", "array", "schema", "missing-key", "input", "batch-dim", "batch", "kind", "layer-type",
        "layer-key", "totals"])
def test_corrupt_snapshot_exits_2_naming_the_file_and_why(project: Path, mutate: object, reason: str) -> None:
    path = Path(SNAP)
    path.write_text(mutate(path.read_text()))  # type: ignore[operator]
    result = run("check", "arch/")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"snapshot '{SNAP}'" in message and reason in message
    assert result.stdout == ""  # nothing was checked: every file is read before any model is traced


def test_snapshot_that_is_not_utf8_exits_2(project: Path) -> None:
    Path(SNAP).write_bytes(b"\xff\xfe{")
    result = run("check", "arch/")
    assert result.exit_code == 2 and SNAP in result.output and "UTF-8" in result.output


@pytest.mark.parametrize(("args", "words"), [
    (["check", "missing/"], "'missing/' is neither a snapshot file nor a directory"),
    (["check", "empty"], "no snapshots (*.json) in empty"),
    (["check"], "nothing to check"),
    (["check", "arch", "--junit-xml", "nodir/report.xml"], "does not exist"),
    (["check", "arch", "--format", "xml"], "xml"),
])
def test_usage_errors_exit_2(project: Path, args: list[str], words: str) -> None:
    Path("empty").mkdir()
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())


def test_exit_codes_and_stderr_from_the_installed_command(project: Path) -> None:
    """The real process: exit codes, the error on stderr, nothing on stdout."""
    exe = Path(sys.executable).parent / "archscope"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "archscope"]
    ok = subprocess.run([*command, "check", "arch/"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "passed" in ok.stdout, ok.stderr
    Path(SNAP).write_text(Path(SNAP).read_text()[:100])
    bad = subprocess.run([*command, "check", "arch/"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith(f"archscope: error: snapshot '{SNAP}' is not valid JSON")


def test_format_github_annotates_the_changed_snapshot(project: Path) -> None:
    write_net(width=24)
    result = run("check", "arch/", "--format", "github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "archscope check FAILED: 2 checked (1 changed, 1 unchanged)"
    (annotation,) = lines[:-1]
    assert annotation.startswith(f"::error file={SNAP},title=archscope%3A build_net@3x32x32.json changed::")
    message = annotation.split("::", 2)[2].split("%0A")
    assert message[0] == "down: output_shapes 1×32×16×16 → 1×24×16×16"
    assert "total params 14,666 → 11,202" in message
    updated = run("check", "arch/", "--format", "github", "--update")
    assert updated.exit_code == 0 and updated.stdout.startswith(f"::notice file={SNAP},")


def test_format_github_is_only_the_verdict_when_nothing_changed(project: Path) -> None:
    result = run("check", "arch/", "--format", "github")
    assert result.exit_code == 0 and result.stdout == "archscope check passed: 2 checked (2 unchanged)\n"


def test_format_json_is_machine_readable(project: Path) -> None:
    write_net(width=24)
    result = run("check", "arch/", "--format", "json")
    report = json.loads(result.stdout)
    assert report["schema"] == "archscope.check/1" and report["ok"] is False
    by_status = {r["status"]: r for r in report["results"]}
    assert set(by_status) == {"changed", "unchanged"}
    change = by_status["changed"]["changes"][0]
    assert change == {"layer": "down", "field": "output_shapes", "old": [[1, 32, 16, 16]], "new": [[1, 24, 16, 16]]}
    assert by_status["unchanged"]["ok"] is True and by_status["unchanged"]["changes"] == []


def test_junit_xml_has_a_failure_for_the_changed_model(project: Path) -> None:
    write_net(width=24)
    Path("out").mkdir()
    result = run("check", "arch/", "--junit-xml", "out/junit.xml")
    assert result.exit_code == 1
    root = ET.parse("out/junit.xml").getroot()
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {SNAP, "arch/lenet5@1x32x32.json"}
    failure = cases[SNAP].find("failure")
    assert failure is not None and "changed" in (failure.get("message") or "")
    assert "down: output_shapes 1×32×16×16 → 1×24×16×16" in (failure.text or "")
    assert cases["arch/lenet5@1x32x32.json"].find("failure") is None
    assert run("check", "arch/", "--junit-xml", "out/junit.xml").exit_code == 1  # overwritten, still valid
    ET.parse("out/junit.xml")


SPEC = """\
archscope_spec: 1
name: tiny
input: [3, 32, 32]
layers:
  - {type: conv, name: stem, out: 8, kernel: 3, padding: 1, expect: "N×8×32×32"}
  - {type: act, name: relu, fn: relu}
  - {type: conv, name: down, out: 16, kernel: 3, stride: 2, padding: 1}
  - {type: conv, name: head, out: 10, kernel: 1}
"""


def test_spec_file_target(project: Path) -> None:
    Path("tiny.yaml").write_text(SPEC)
    assert run("snapshot", "tiny.yaml", "-o", "arch/").exit_code == 0
    data = json.loads(Path("arch/tiny@3x32x32.json").read_text())
    assert data["model"] == {"kind": "spec", "target": "tiny.yaml"}
    assert run("check", "arch/tiny@3x32x32.json").exit_code == 0
    Path("tiny.yaml").write_text(SPEC.replace("out: 16", "out: 12"))
    result = run("check", "arch/tiny@3x32x32.json", "--format", "json")
    assert result.exit_code == 1 and changed_layers(result) == ["down", "head"]


def test_a_spec_contradicting_its_expect_annotations_fails_and_is_not_updated(project: Path) -> None:
    Path("tiny.yaml").write_text(SPEC)
    assert run("snapshot", "tiny.yaml", "-o", "arch/").exit_code == 0
    before = Path("arch/tiny@3x32x32.json").read_bytes()
    Path("tiny.yaml").write_text(SPEC.replace("out: 8, kernel: 3", "out: 6, kernel: 3"))
    result = run("check", "arch/", "--update")
    assert result.exit_code == 1
    assert "stem: expected N×8×32×32, traced 1×6×32×32" in " ".join(result.output.split())
    assert Path("arch/tiny@3x32x32.json").read_bytes() == before
    refused = run("snapshot", "tiny.yaml", "-o", "new/")
    assert refused.exit_code == 1 and "no snapshot was written" in refused.output
    assert not Path("new").exists()


def test_same_layers_in_another_call_order_pass_and_update_rewrites(project: Path) -> None:
    """Execution order is not architecture (e.g. a residual block calling its shortcut after its
    body): check passes and says so; --update rewrites the file as a fresh snapshot would."""
    fresh = Path(SNAP).read_bytes()
    data = json.loads(fresh)
    data["layers"][1], data["layers"][2] = data["layers"][2], data["layers"][1]
    Path(SNAP).write_text(files.dumps(data))
    result = run("check", "arch/", "--format", "json")
    assert result.exit_code == 0, result.output
    (r,) = [r for r in json.loads(result.stdout)["results"] if r["reordered"]]
    assert r["status"] == "unchanged" and "--update rewrites" in r["detail"]
    assert r["reordered"] == {"layer": "stem", "field": "call order", "old": "#2 stem_relu", "new": "#2 stem"}
    assert run("check", "arch/", "--update").exit_code == 0
    assert Path(SNAP).read_bytes() == fresh


# --- the zoo ----------------------------------------------------------------------------

def test_zoo_snapshots_in_tests_arch_are_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert sorted(p.name for p in ARCH.glob("*.json")), "tests/arch/ holds no snapshots"
    result = run("check", "tests/arch/")
    assert result.exit_code == 0, result.output
    for path in ARCH.glob("*.json"):
        data = files.load(path)
        assert data["model"]["kind"] == "zoo" and path.name == files.filename(data)
        assert path.read_text() == files.dumps(data)  # as archscope writes them
    assert sum(p.stat().st_size for p in ARCH.glob("*.json")) < 100_000


def test_zoo_snapshots_are_those_of_the_built_modules() -> None:
    """``check`` may compute zoo models from their specs (the analytic tracer): the snapshots
    must also be what the hook tracer records running the built nn.Module."""
    import inspect

    from archscope.api import trace

    hooks = {"analytic": False} if "analytic" in inspect.signature(trace).parameters else {}
    for path in sorted(ARCH.glob("*.json")):
        data = files.load(path)
        traced = trace(data["model"]["target"], input_size=files.inputs_of(data), **hooks)  # type: ignore[arg-type]
        assert files.dumps(files.make(traced, "zoo", data["model"]["target"])) == path.read_text(), path.name


def test_check_zoo_passes() -> None:
    result = run("check", "--zoo")
    assert result.exit_code == 0, result.output
    assert re.search(r"archscope check passed: \d+ checked \(\d+ ok\)", result.output)


def test_check_zoo_reports_a_published_count_that_does_not_match(monkeypatch: pytest.MonkeyPatch) -> None:
    from archscope import zoo
    from archscope.zoo import registry

    real = registry.torchvision_reference("alexnet")
    assert real is not None
    monkeypatch.setattr(zoo, "names", lambda pattern=None: ["lenet5", "alexnet"])
    wrong = registry.Reference(**{**real.__dict__, "params": 1})
    monkeypatch.setattr(registry, "torchvision_reference", lambda name: wrong if name == "alexnet" else None)
    result = run("check", "--zoo", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::error title=archscope%3A alexnet failed::params 61,100,840 != published 1",
        "archscope check FAILED: 2 checked (1 failed, 1 ok)"]


# --- the pytest plugin ------------------------------------------------------------------

PLUGIN_NET = '''\
from torch import nn


class Net(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.down = nn.Conv2d(16, width, 3, stride=2, padding=1)
        self.head = nn.Conv2d(width, 10, 1)

    def forward(self, x):
        return self.head(self.down(self.stem(x)))
'''
PLUGIN_TEST = '''\
from net import Net


def test_net(archscope_snapshot):
    archscope_snapshot(Net({width}), (3, 32, 32))
'''


@pytest.fixture(scope="module")
def warm_torch() -> None:
    """pytester's inline runs drop the modules imported during a run; torch's lazily imported
    operator libraries cannot be imported twice. Import them first, with one trace of each kind."""
    from torch import nn

    archscope.snapshot.check.take_checked("resnet50")
    archscope.snapshot.check.take_checked(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                               nn.Flatten(), nn.Linear(4, 2)), (3, 8, 8))


@pytest.fixture
def pytester(pytester: pytest.Pytester, warm_torch: None) -> pytest.Pytester:
    return pytester


@pytest.fixture
def plugin_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    pytester.makepyfile(net=PLUGIN_NET, test_arch=PLUGIN_TEST.format(width=32))
    return pytester


def test_plugin_fails_on_a_missing_snapshot_and_update_writes_it(plugin_project: pytest.Pytester) -> None:
    result = plugin_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no snapshot*__archscope__/Net@3x32x32.json* yet*",
                                 "*Write it with: pytest --archscope-update*"])
    assert not (plugin_project.path / "__archscope__").exists()
    result = plugin_project.runpytest("--archscope-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*archscope snapshots*", "written: *__archscope__/Net@3x32x32.json",
                                 "1 written, 0 updated"])
    snapshot = plugin_project.path / "__archscope__" / "Net@3x32x32.json"
    data = files.load(snapshot)
    assert data["model"] == {"kind": "module", "target": "net:Net"}
    assert [layer["name"] for layer in data["layers"]] == ["", "stem", "down", "head"]
    plugin_project.runpytest().assert_outcomes(passed=1)
    # archscope check cannot rebuild an instance: it skips the snapshot, and says so
    result = run("check", str(snapshot.parent), "--junit-xml", "junit.xml")
    assert result.exit_code == 0 and "1 checked (1 skipped)" in result.output
    assert ET.parse("junit.xml").getroot().find("testsuite/testcase/skipped") is not None


def test_plugin_fails_with_the_check_diff_table_and_update_accepts(plugin_project: pytest.Pytester) -> None:
    plugin_project.runpytest("--archscope-update").assert_outcomes(passed=1)
    snapshot = plugin_project.path / "__archscope__" / "Net@3x32x32.json"
    before = snapshot.read_bytes()
    plugin_project.makepyfile(test_arch=PLUGIN_TEST.format(width=24))
    result = plugin_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*Net@3x32x32.json*changed*2 layers changed*",
        "*│ down * │ output_shapes * │ 1×32×16×16 │ 1×24×16×16 │*",
        "*│ head * │ params * │*",
        "*archscope check FAILED: 1 checked (1 changed)*",
        "*accept it with: pytest --archscope-update*",
    ])
    assert "│ stem " not in result.stdout.str()
    assert snapshot.read_bytes() == before
    result = plugin_project.runpytest("--archscope-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["updated: *Net@3x32x32.json", "0 written, 1 updated"])
    plugin_project.runpytest().assert_outcomes(passed=1)


def test_plugin_snapshot_of_a_target_is_what_archscope_snapshot_writes(pytester: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(pytester.path)
    pytester.makepyfile(net=NET.format(width=32, stride=2), test_targets='''
def test_targets(archscope_snapshot):
    archscope_snapshot("net.py:build_net", "3x32x32")
    archscope_snapshot("lenet5", None, name="lenet")
''')
    pytester.makeini("[pytest]\narchscope_snapshot_dir = arch\n")
    pytester.runpytest("--archscope-update").assert_outcomes(passed=1)
    names = sorted(p.name for p in (pytester.path / "arch").iterdir())
    assert names == ["build_net@3x32x32.json", "lenet@1x32x32.json"]
    plugin_bytes = (pytester.path / "arch" / "build_net@3x32x32.json").read_bytes()
    assert run("snapshot", "net.py:build_net", "--input", "3x32x32", "-o", "cli/").exit_code == 0
    assert Path("cli/build_net@3x32x32.json").read_bytes() == plugin_bytes
    assert run("check", "arch").exit_code == 0  # the CLI checks what the plugin wrote


def test_plugin_two_tests_one_snapshot_name_different_models_fail(plugin_project: pytest.Pytester) -> None:
    plugin_project.makepyfile(test_arch='''
from net import Net

def test_a(archscope_snapshot):
    archscope_snapshot(Net(32), 32)

def test_b(archscope_snapshot):
    archscope_snapshot(Net(16), 32)

def test_c(archscope_snapshot):
    archscope_snapshot(Net(16), 32, name="Net16")
''')
    result = plugin_project.runpytest("--archscope-update")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*Net@3x32x32.json is also used by test_arch.py::test_a*name=*"])


def test_plugin_corrupt_snapshot_fails_naming_it_and_update_rewrites_it(plugin_project: pytest.Pytester) -> None:
    plugin_project.runpytest("--archscope-update").assert_outcomes(passed=1)
    snapshot = plugin_project.path / "__archscope__" / "Net@3x32x32.json"
    good = snapshot.read_bytes()
    snapshot.write_bytes(good[:50])
    result = plugin_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*archscope: snapshot*Net@3x32x32.json* is not valid JSON*"])
    plugin_project.runpytest("--archscope-update").assert_outcomes(passed=1)
    assert snapshot.read_bytes() == good


def test_plugin_option_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--archscope-update*", "*archscope_snapshot_dir*"])


def test_plugin_import_does_not_import_torch() -> None:
    code = "import sys, archscope.snapshot.pytest_plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- docs/ci.md -------------------------------------------------------------------------

def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", CI_DOC, re.S)


DOC_MODELS = '''\
from collections import OrderedDict

from torch import nn


def build_net():
    return nn.Sequential(OrderedDict(
        stem=nn.Conv2d(3, 16, 3, padding=1), relu=nn.ReLU(),
        pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(16, 10)))
'''


@pytest.fixture
def doc_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project docs/ci.md describes: mypkg/models.py:build_net."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "models.py").write_text(DOC_MODELS)
    yield tmp_path
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def test_ci_doc_commands_run_and_the_snapshot_is_the_documented_one(doc_project: Path) -> None:
    commands = [line.split(" #")[0].strip() for block in _blocks("bash") for line in block.splitlines()]
    commands = [c for c in commands if c.startswith("archscope ")]
    assert len(commands) >= 5
    for command in commands:
        result = run(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    written = Path("tests/arch/build_net@3x224x224.json").read_text().splitlines()
    (documented,) = [b for b in _blocks("json") if "archscope.snapshot/2" in b]
    for line in documented.splitlines():
        assert line.rstrip(",") in [w.rstrip(",") for w in written], line
    assert Path("archscope-junit.xml").exists()


def test_ci_doc_workflow_and_pre_commit_entries(doc_project: Path) -> None:
    workflow, pre_commit = (yaml.safe_load(b) for b in _blocks("yaml"))
    steps = workflow["jobs"]["architecture"]["steps"]
    assert [s.get("uses", "").split("@")[0] for s in steps if "uses" in s] == [
        "actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    (check,) = [s["run"] for s in steps if "archscope check" in s.get("run", "")]
    hook = pre_commit["repos"][0]["hooks"][0]
    assert pre_commit["repos"][0]["repo"] == "local"
    assert (hook["language"], hook["pass_filenames"]) == ("system", False)
    assert run("snapshot", "mypkg.models:build_net", "--input", "3x224x224", "-o", "tests/arch/").exit_code == 0
    for command in (check, hook["entry"]):
        result = run(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    upload = steps[-1]["with"]["path"]
    assert upload in check and ET.parse(upload).getroot().tag == "testsuites"


def test_ci_doc_pytest_example_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(pytester.path)
    pytester.mkpydir("mypkg")
    (pytester.path / "mypkg" / "models.py").write_text(DOC_MODELS)
    (example,) = _blocks("python")
    pytester.makepyfile(test_example=example)
    (update,) = [b.strip() for b in _blocks("bash") if b.strip().startswith("pytest")]
    try:
        pytester.runpytest().assert_outcomes(failed=2)  # no snapshots yet
        pytester.runpytest(*shlex.split(update)[1:]).assert_outcomes(passed=2)
        pytester.runpytest().assert_outcomes(passed=2)
        names = sorted(p.name for p in (pytester.path / "__archscope__").iterdir())
        assert names == ["build_net@3x224x224.json", "build_net@8x3x224x224.json", "resnet50@3x224x224.json"]
    finally:
        for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
            del sys.modules[name]


def test_ci_doc_says_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "archscope check --zoo" in ci and "archscope check tests/arch/" in ci
    for path in ARCH.glob("*.json"):
        assert path.name.split("@")[0] in CI_DOC.split("## Where this runs", 1)[1]


PLUGIN_LM = '''\
import torch
from torch import nn


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.head = nn.Linear(16, 100)

    def forward(self, ids, mask=None):
        return self.head(self.embed(ids))


def test_lm(archscope_snapshot):
    archscope_snapshot(LM(), ["12:int64", "mask=12:bool"])


def test_lm_data(archscope_snapshot):
    archscope_snapshot(LM(), input_data=(torch.zeros(2, 12, dtype=torch.int64),), name="lm_data")
'''


def test_plugin_takes_any_inputs_and_names_snapshots_by_them(pytester: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    pytester.makepyfile(test_lm=PLUGIN_LM)
    pytester.runpytest("--archscope-update").assert_outcomes(passed=2)
    names = sorted(p.name for p in (pytester.path / "__archscope__").iterdir())
    assert names == ["LM@12-int64+mask=12-bool.json", "lm_data@2x12-int64.json"]
    data = files.load(pytester.path / "__archscope__" / names[0])
    assert [leaf["dtype"] for leaf in data["inputs"]["args"]] + [data["inputs"]["kwargs"]["mask"]["dtype"]] == [
        "int64", "bool"]
    pytester.runpytest().assert_outcomes(passed=2)
