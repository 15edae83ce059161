"""Hostile files: every limit archscope sets on what it reads is a clear error, fast (docs/guarantees.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope.cli.main import app
from archscope.spec import serialize


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def billion_laughs() -> str:
    """A YAML "billion laughs": 9 levels of 9 aliases each, 9⁹ strings when expanded."""
    text, prev = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n', "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return "name: x\ninput: [3, 8, 8]\nlayers: []\n" + text


CASES = {
    "self-referencing anchor": ("x.yaml", "name: x\ninput: [3, 8, 8]\nlayers: &a [*a]\n",
                                "refers to a node that contains"),
    "200 levels of YAML": ("x.yaml", "name: x\ninput: [3, 8, 8]\nlayers: " + "[" * 200 + "]" * 200 + "\n",
                           "nested more than 64 levels"),
    "5,000 levels of JSON": ("x.json", '{"name": "x", "input": [3, 8, 8], "layers": ' + "[" * 5000 + "]" * 5000 + "}",
                             "nested more than 64 levels"),
    "billion laughs": ("x.yaml", billion_laughs(), "more than 200,000 nodes"),
    "not UTF-8": ("x.yaml", b"\xff\xfename: x\n", "not UTF-8 text (byte 0)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_spec_files_are_a_clear_error_fast(case: str, tmp_path: Path) -> None:
    name, text, words = CASES[case]
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    start = time.perf_counter()
    code, out = run("summary", str(path))
    assert time.perf_counter() - start < 20  # a limit, not a hang (generous: a loaded CI machine)
    assert code == 1 and words in out and "Traceback" not in out, out


def test_a_file_over_the_size_limit_is_refused_reading_no_more_than_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serialize, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"name": "x", "input": [3, 8, 8], "layers": [{"type": "act", "fn": "relu"}] * 20}))
    code, out = run("summary", str(path))
    assert code == 1 and "a spec may have at most 100 bytes" in out
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(2**40)  # a sparse terabyte: reading it whole would take hours and all memory
    started = time.perf_counter()
    code, out = run("summary", str(huge))
    assert code == 1 and "a spec may have at most 100 bytes" in out and time.perf_counter() - started < 10


def test_a_snapshot_over_the_size_limit_is_corrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archscope.snapshot import files

    code, _ = run("snapshot", "lenet5", "-o", str(tmp_path))
    assert code == 0
    (path,) = tmp_path.glob("*.json")
    monkeypatch.setattr(files, "MAX_SNAPSHOT_BYTES", path.stat().st_size - 1)
    code, out = run("check", str(tmp_path))
    assert code == 2 and path.name in out and f"more than {path.stat().st_size - 1:,} bytes" in out
    monkeypatch.setattr(files, "MAX_SNAPSHOT_BYTES", path.stat().st_size)
    assert run("check", str(tmp_path))[0] == 0


def test_a_large_legitimate_spec_is_read(tmp_path: Path) -> None:
    layers = [{"type": "conv", "out": 8, "kernel": 3, "padding": 1}, {"type": "act", "fn": "relu"}] * 5000
    path = tmp_path / "deep_net.json"
    path.write_text(json.dumps({"name": "deep_net", "input": [8, 8, 8], "layers": layers}))
    code, out = run("summary", str(path), "-f", "csv")
    assert code == 0 and out.count(",Conv2d,") == 5000
