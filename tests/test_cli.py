"""The command line as a user meets it: the issue's commands, and bad input that must give
one clear paragraph, a nonzero exit code and no output file, never a traceback."""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope import __version__
from archscope.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version_from_the_console_script_and_python_m() -> None:
    assert run("--version")[:2] == (0, f"archscope {__version__}\n")
    out = subprocess.run([sys.executable, "-m", "archscope", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout == f"archscope {__version__}\n"


def test_summary_resnet50_defaults_to_the_reference_input_and_checks_its_shapes() -> None:
    code, out, _ = run("summary", "resnet50")
    assert code == 0
    assert "Input: x 1×3×224×224 float32" in out and "Output: 1×1000" in out
    assert "Total params: 25,557,032" in out  # torchvision's published count
    assert "Total MACs: 4.09G (4,089,184,256)" in out  # torchvision's 4.089 GMACs
    assert "expected shapes: 7 checked, 7 match" in out


def test_summary_batch_and_depth() -> None:
    code, out, _ = run("summary", "vgg16_bn", "--input", "224", "--batch", "8", "--depth", "2")
    assert code == 0
    assert "Input: x 8×3×224×224 float32" in out and "Output: 8×1000" in out
    assert "│   43 " in out  # depth 2 shows the layers inside `features`, indented
    assert "8×512×7×7" in out


def test_summary_lenet5_is_the_seed_documents_network() -> None:
    code, out, _ = run("summary", "lenet5")
    assert code == 0
    assert "Input: x 1×1×32×32 float32" in out and "Output: 1×10" in out  # the seed prints torch.Size([1, 10])
    assert "Total params: 61,706" in out  # 156 + 2,416 + 48,120 + 10,164 + 850


def test_summary_json_is_machine_readable() -> None:
    code, out, _ = run("summary", "resnet50", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["params"] == 25_557_032
    assert data["layers"][-1]["output_shape"] == [1, 1000]


def test_summary_writes_a_file_with_output(tmp_path: Path) -> None:
    path = tmp_path / "r18.json"
    assert run("summary", "resnet18", "-f", "json", "-o", str(path))[0] == 0
    assert json.loads(path.read_text())["totals"]["params"] == 11_689_512


def test_summary_of_a_user_spec_file_and_user_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, _ = run("summary", str(EXAMPLES / "tiny.yaml"))
    assert code == 0 and "expected shapes: 5 checked, 5 match" in out
    code, out, _ = run("summary", f"{EXAMPLES / 'mynet.py'}:Net", "--input", "32")
    assert code == 0 and "Output: 1×10" in out
    # package.module:attr, importable from the working directory as with `python -m`
    pkg = tmp_path / "clipkg"  # a name no other test imports: sys.modules outlives the test
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text((EXAMPLES / "mynet.py").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        code, out, _ = run("summary", "clipkg.models:build_net", "--input", "3x64x64")
    finally:
        for name in [m for m in sys.modules if m == "clipkg" or m.startswith("clipkg.")]:
            del sys.modules[name]
    assert code == 0 and "Input: x 1×3×64×64 float32" in out and "Output: 1×100" in out


BAD = [
    # (arguments, exit code, words the message must contain)
    (["summary", "resnet5O"], 2, ["unknown model 'resnet5O'", "Did you mean", "resnet50"]),
    (["summary", "resnet50", "--input", "abc"], 2, ["cannot read input size 'abc'"]),
    (["summary", "resnet50", "--input", "3x0x224"], 2, ["cannot read input size"]),
    (["summary", "alexnet", "--input", "32"], 1, ["alexnet cannot run on input x 1×3×32×32 float32", "features.12"]),
    (["summary", "resnet50", "--device", "cuda"], 2, ["device 'cuda' is not usable"]),
    (["summary", "resnet50", "--device", "tpu9"], 2, ["unknown device 'tpu9'"]),
    (["summary", "nosuchpkg.models:Net"], 1, ["cannot import 'nosuchpkg.models'"]),
    (["summary", f"{EXAMPLES / 'mynet.py'}:Nope"], 1, ["has no attribute 'Nope'"]),
    (["summary", "missing.yaml"], 2, ["missing.yaml"]),
]


@pytest.mark.parametrize(("args", "code", "words"), BAD, ids=[" ".join(b[0][:3]) for b in BAD])
def test_bad_input_is_one_clear_paragraph_and_an_exit_code(args: list[str], code: int, words: list[str]) -> None:
    got, out, err = run(*args)
    assert got == code, err
    assert "Traceback" not in out + err
    message = err[err.index("archscope: error:"):]
    assert "\n\n" not in message.strip()  # one paragraph
    flat = " ".join(message.split())
    for word in words:
        assert word in flat


@pytest.mark.parametrize(("text", "reason"), [
    ("name: [", "not valid YAML"),
    ("name: x\ninput: [3, 8, 8]\nlayers:\n  - {type: conv, out: 4}\n",
     "layers[0]: a conv node needs the field 'kernel'"),
    ("name: x\ninput: [3, 8, 8]\nlayers:\n  - {type: convv, out: 4, kernel: 3}\n", "convv"),
])
def test_broken_spec_files_name_the_file_and_the_field(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    code, out, err = run("summary", str(path))
    assert code == 1 and "Traceback" not in err
    flat = " ".join(err.split())
    assert reason in flat and "net.yaml" in flat


def test_unwritable_output_fails_before_tracing_and_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "missing_dir" / "out.json"
    code, _, err = run("summary", "resnet18", "-f", "json", "-o", str(target))
    assert code == 2 and "does not exist" in err
    assert not target.parent.exists()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    code, _, err = run("summary", "resnet18", "-f", "json", "-o", str(a_file / "out.json"))
    assert code == 2 and "Traceback" not in err and a_file.read_text() == "keep"


def test_a_failing_run_leaves_no_half_written_output(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    code, _, _ = run("summary", "alexnet", "--input", "32", "-f", "json", "-o", str(path))
    assert code == 1 and not path.exists() and list(tmp_path.iterdir()) == []


# what `archscope summary` must not import: the other commands' modules, and what costs a
# tenth of a second or more while serving no summary (pydantic: typer 0.29's option parsing)
NOT_FOR_SUMMARY = ("archscope.cli.check", "archscope.cli.diff", "archscope.cli.sizes", "archscope.snapshot.report",
                   "archscope.analysis.diff", "archscope.analysis.probe", "pydantic", "sympy", "torch._dynamo")
# what a table of a module the user brings needs neither: the spec vocabulary, the HTML page
NOT_FOR_A_MODULE = (*NOT_FOR_SUMMARY, "archscope.spec.nodes", "archscope.spec.sites", "archscope.report.html.page")
PROGRAM = ("import atexit, sys\n"
           "from archscope.cli.main import run\n"
           "watched = set(sys.argv[1].split(','))\n"
           "atexit.register(lambda: print(sorted(watched & set(sys.modules))))\n"
           "sys.argv = ['archscope', *sys.argv[2:]]\n"
           "run()\n")


def test_the_program_loads_only_its_command_and_ends_with_its_exit_code(tmp_path: Path) -> None:
    """``run()``, the console script's entry point, ends the process itself (no interpreter
    teardown): its output is complete, atexit functions have run (this one prints what was
    imported), the exit code is the command's, and only the named command was loaded."""
    out = tmp_path / "r.json"

    def program(*args: str, watched: tuple[str, ...] = NOT_FOR_SUMMARY) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", PROGRAM, ",".join(watched), *args],
                              capture_output=True, text=True, cwd=ROOT)

    done = program("summary", "resnet50", "--traced", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert json.loads(out.read_text())["totals"]["params"] == 25_557_032
    done = program("summary", "tests/user_corpus.py:TokenEncoder", "--input", "128:int64", watched=NOT_FOR_A_MODULE)
    assert done.returncode == 0, done.stderr
    assert "TokenEncoder" in done.stdout and done.stdout.strip().endswith("[]")
    done = program("summary", "resnet50", "--input", "3x0x0")
    assert done.returncode == 2 and "archscope: error:" in done.stderr and done.stdout.strip() == "[]"
    done = program("sizes", "resnet50")  # the check sees what it watches: this command loads its own
    assert done.returncode == 0 and "smallest input" in done.stdout
    assert "'archscope.cli.sizes'" in done.stdout and "'archscope.cli.check'" not in done.stdout


def test_list_shows_the_zoo_without_importing_torch() -> None:
    code, out, _ = run("list", "resnet*")
    assert code == 0 and "resnet50" in out and "25,557,032" in out and "1512.03385" in out
    probe = ("import sys; from archscope.cli.list_cmd import list_models; "
             "import archscope.zoo; archscope.zoo.names(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_a_wrong_expected_shape_is_a_mismatch_with_layer_expected_and_traced(tmp_path: Path) -> None:
    spec = (EXAMPLES / "tiny.yaml").read_text().replace('expect: "N×96×16×16"', 'expect: "N×97×16×16"')
    assert 'N×97×16×16' in spec
    (tmp_path / "wrong.yaml").write_text(spec)
    code, out, err = run("summary", str(tmp_path / "wrong.yaml"), "--batch", "3")
    assert code == 1
    assert "expected shapes: 5 checked, 4 match, 1 MISMATCH" in out
    assert "mismatch at res: expected N×97×16×16, traced 3×96×16×16" in out
    assert "expected shape(s) of tiny_inception_resnet do not match (first: res)" in " ".join(err.split())


# ---------------------------------------------------------------- one renderer per format


def _csv(*args: str) -> list[list[str]]:
    code, out, _ = run("summary", *args, "-f", "csv")
    assert code == 0, out
    return list(csv.reader(io.StringIO(out)))


def _markdown_rows(*args: str) -> list[list[str]]:
    code, out, _ = run("summary", *args, "-f", "markdown")
    assert code == 0, out
    return [line[2:-2].split(" | ") for line in out.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize(("option", "added"), [("--symbolic", ["symbolic_shape", "symbolic_macs"]),
                                               ("--receptive-field", ["receptive_field", "jump", "start"])])
def test_summary_csv_with_an_analysis_has_every_plain_column_then_its_own(option: str, added: list[str]) -> None:
    plain, more = _csv("resnet18"), _csv("resnet18", option)
    assert plain[0][-2:] == ["expected", "check"]
    assert more[0] == plain[0] + added  # expected and check included
    assert [row[:len(plain[0])] for row in more] == plain  # the same values, expectations included
    assert sum(row[plain[0].index("check")] == "match" for row in more) == 7


@pytest.mark.parametrize(("option", "added"), [("--symbolic", []), ("--receptive-field", ["RF", "Jump", "Start"])])
def test_summary_markdown_with_an_analysis_keeps_the_expected_column(option: str, added: list[str]) -> None:
    plain, more = _markdown_rows("resnet18"), _markdown_rows("resnet18", option)
    assert plain[0][-1] == "Expected"
    assert more[0] == plain[0][:-1] + added + ["Expected"]
    assert [row[-1] for row in more] == [row[-1] for row in plain]  # ✓ N×64×112×112 ...
    assert sum(row[-1].startswith("✓ N×") for row in more) == 7


def test_summary_table_and_json_with_analyses_keep_the_plain_columns_and_keys() -> None:
    code, out, _ = run("summary", "resnet18", "--symbolic", "--receptive-field")
    assert code == 0
    head = next(line for line in out.splitlines() if "Layer" in line)
    assert [w.strip() for w in head.strip("┃").split("┃")][-4:] == ["RF", "Jump", "Start", "Expected"]
    assert "✓ N×64×112×112" in out
    plain = json.loads(run("summary", "resnet18", "-f", "json")[1])
    more = json.loads(run("summary", "resnet18", "-f", "json", "--symbolic", "--receptive-field")[1])
    assert list(more) == [*plain, "symbolic", "receptive_field_convention"]
    for a, b in zip(plain["layers"], more["layers"], strict=True):
        assert list(b) == [*a, "symbolic_shape", "symbolic_macs", "receptive_field"]
        assert {k: b[k] for k in a} == a


ELSEWHERE: dict[str, int] = {}  # inline shape joins allowed outside fmt_shape: none


def test_shapes_are_written_by_one_function() -> None:
    from archscope.analysis import symbolic
    from archscope.report import units
    from archscope.spec import inputs, sites

    joins = {}
    for path in sorted((ROOT / "archscope").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found = re.findall(r"""["']×["']\.join""", text)
        if found:
            joins[path.relative_to(ROOT).as_posix()] = len(found)
        if path.parent.name in ("spec", "analysis", "report"):
            assert not re.search(r"\}×\{", text), f"{path}: a shape written inline; use spec.inputs.fmt_shape"
    assert joins.pop("archscope/spec/inputs.py") == 1
    assert '"×".join' in inspect.getsource(inputs.fmt_shape)
    assert all(joins.get(f, 0) <= n for f, n in ELSEWHERE.items()) and set(joins) <= set(ELSEWHERE), joins
    assert sites._fmt is inputs.fmt_shape
    assert not hasattr(units, "shape") and not hasattr(symbolic, "shape_text")


@pytest.mark.parametrize(("name", "given", "starts"), [
    ("l.json", None, '{\n  "schema": "archscope.summary/2"'), ("l.csv", None, "name,type,depth,call,"),
    ("l.md", None, "### lenet5"), ("l.markdown", None, "### lenet5"), ("l.txt", None, "lenet5"),
    ("l.out", None, "lenet5"), ("L.JSON", None, "{"), ("l.json", "table", "lenet5"), ("l.txt", "csv", "name,"),
])
def test_summary_output_format_follows_the_suffix_unless_format_is_given(tmp_path: Path, name: str,
                                                                         given: str | None, starts: str) -> None:
    out = tmp_path / name
    code, _, err = run("summary", "lenet5", "-o", str(out), *(["-f", given] if given else []))
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert text.startswith(starts), text[:80]
    if starts == "lenet5":
        assert "┏" in text  # the box-drawn table
    if name.lower().endswith(".json") and given is None:
        assert json.loads(text)["model"] == "lenet5"
