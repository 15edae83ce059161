"""Every example in the README and docs runs, and says what the docs say it does."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from archscope.cli.main import app
from archscope.spec.inputs import single_input

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SPEC_DOC = (ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8")


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _commands(text: str) -> list[str]:
    lines = [line.split("#")[0].strip() for block in _blocks(text, "bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("archscope ")]


@pytest.fixture
def in_tmp_with_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the corpus of user models the docs use
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", _commands(README))
def test_readme_commands_run(command: str, in_tmp_with_docs: Path) -> None:
    if command.startswith("archscope graph") and not command.endswith(".dot") and shutil.which("dot") is None:
        pytest.skip("rendering needs Graphviz's dot (CI installs it)")
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    if "-o" in shlex.split(command):
        assert (in_tmp_with_docs / shlex.split(command)[-1]).stat().st_size > 0


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in _blocks(quick, "bash")]
    assert len(commands) == 2
    assert "archscope summary" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_python_example_runs() -> None:
    (code,) = [b for b in _blocks(README, "python") if "archscope.build(" in b]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    t = namespace["t"]
    assert t.totals.params == 25_557_032 and t.batch == 2  # type: ignore[attr-defined]


def _runnable(code: str) -> str:
    """``code`` without its ``to_pandas`` lines when pandas is not installed (they are run where it is)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return "\n".join(line for line in code.splitlines() if "to_pandas(" not in line)
    return code


def test_readme_notebook_example_runs_and_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    section = README.split("## From Python and notebooks", 1)[1].split("\n## ", 1)[0]
    (code,) = _blocks(section, "python")
    namespace: dict[str, object] = {}
    exec(compile(_runnable(code), "README.md", "exec"), namespace)  # noqa: S102
    t = namespace["t"]
    out = capsys.readouterr().out
    assert out.startswith("resnet18") and out.count("Total params: 11,689,512 (11.7M)") == 2  # summary, print(t)
    assert len(repr(t)) < 200 and "docs/python-api.md" in section
    assert "✓" in t._repr_html_()  # type: ignore[attr-defined]


PYTHON_API_DOC = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")


def test_python_api_doc_examples_run_in_order(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Every python block but the diagram's, in one namespace as in a notebook, from the repository's root."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("COLUMNS", raising=False)
    blocks = [b for b in _blocks(PYTHON_API_DOC, "python") if "archscope.graph(" not in b]
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    traces = []
    for code in blocks:
        exec(compile(_runnable(code), "docs/python-api.md", "exec"), namespace)  # noqa: S102
        traces.append(namespace["t"])
    documented = re.search(r"# (<Trace resnet50: .*?), \.\.\.>", PYTHON_API_DOC).group(1)  # type: ignore[union-attr]
    assert repr(traces[2]).startswith(documented)
    assert traces[-1].step is not None  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert "by operator type" in out and "FLOPs" in out and "In-grad MACs" in out
    documented_error = re.search(r"raises `ImportError: (.*?)`", PYTHON_API_DOC).group(1)  # type: ignore[union-attr]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=re.escape(documented_error)):
        traces[0].to_pandas()  # type: ignore[attr-defined]


def test_python_api_doc_graph_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import archscope.api

    if not hasattr(archscope.api, "graph"):
        pytest.skip("archscope.api.graph is not there yet")
    if shutil.which("dot") is None:
        pytest.skip("drawing needs Graphviz's dot (CI installs it)")
    monkeypatch.chdir(ROOT)
    (code,) = [b for b in _blocks(PYTHON_API_DOC, "python") if "archscope.graph(" in b]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/python-api.md", "exec"), namespace)  # noqa: S102
    assert namespace["g"] is not None
    assert "](graph.md)" in PYTHON_API_DOC.split("## `archscope.graph`", 1)[1]  # the details are there


def test_spec_doc_example_is_the_example_file_and_traces(in_tmp_with_docs: Path) -> None:
    block = next(b for b in _blocks(SPEC_DOC, "yaml") if "layers:" in b)
    assert block == (ROOT / "docs" / "examples" / "tiny.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(block)["name"] == "tiny_inception_resnet"
    result = CliRunner().invoke(app, ["summary", "docs/examples/tiny.yaml"])
    assert result.exit_code == 0, result.output
    assert "expected shapes: 5 checked, 5 match" in result.output  # "checks its five expected shapes"
    assert "not run in eval mode: aux (1,290 params" in result.output
    train = CliRunner().invoke(app, ["summary", "docs/examples/tiny.yaml", "--train", "--device", "cpu"])
    assert train.exit_code == 0, train.output
    assert "Output: 1×10, 1×10" in train.output  # the auxiliary head's output follows the main one


def test_spec_doc_error_example_is_what_archscope_says(in_tmp_with_docs: Path) -> None:
    (in_tmp_with_docs / "my_net.yaml").write_text(
        "name: n\ninput: [3, 32, 32]\nlayers:\n" + "  - {type: conv, out: 8, kernel: 3}\n" * 3
        + "  - {type: conv, out: 8, kernel: x}\n")
    result = CliRunner().invoke(app, ["summary", "my_net.yaml"])
    documented = re.search(r"archscope: error: (.*)", SPEC_DOC).group(1)  # type: ignore[union-attr]
    assert result.exit_code == 1
    assert documented in " ".join(result.output.split())


def _counted(module: object, shape: tuple[int, ...], convention: str = "torchvision", batch: int = 1) -> int:
    from archscope.tracer.hooks import trace_module

    return trace_module(module, single_input(shape), batch=batch, convention=convention).totals.macs  # type: ignore[arg-type]


def test_counting_doc_worked_examples() -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    doc = (ROOT / "docs" / "counting.md").read_text(encoding="utf-8")
    documented = [int(n.replace(",", "")) for n in re.findall(r"\*\*([\d,]+)\*\*", doc)]

    class MatMul(nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return a @ torch.zeros(8, 32, 10, device=a.device)

    class Attention(nn.Module):
        def forward(self, q: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(q, q, q)

    measured = [
        _counted(nn.Conv2d(64, 128, 3, stride=2, padding=1, groups=2).to("meta"), (64, 56, 56)),
        _counted(nn.Linear(2048, 1000).to("meta"), (2048,)),
        _counted(MatMul(), (16, 32), batch=8),
        _counted(Attention(), (4, 10, 8), batch=2),
        _counted(nn.BatchNorm2d(64).to("meta"), (64, 56, 56), "fvcore"),
        _counted(nn.AdaptiveAvgPool2d(1), (2048, 7, 7), "fvcore"),
        _counted(nn.LSTM(20, 30, num_layers=2, batch_first=True).to("meta"), (7, 20), batch=4),
    ]
    assert measured == documented
    assert _counted(nn.BatchNorm2d(64).to("meta"), (64, 56, 56)) == 0


INPUTS_DOC = (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8")


def _table_examples(doc: str) -> list[tuple[str, str]]:
    """(command, what the footer says was fed) from the rows of docs/inputs.md's table."""
    rows = re.findall(r"^\| [^|]+ \| `(archscope [^`]+)` \| `([^`]+)` \|$", doc, re.M)
    return [(command, fed) for command, fed in rows]


@pytest.mark.parametrize(("command", "fed"), _table_examples(INPUTS_DOC))
def test_inputs_doc_table_commands_feed_what_it_says(command: str, fed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    footer = " ".join(line for line in result.output.splitlines() if line.startswith("Input"))
    for part in fed.split(", "):
        assert part in footer, (part, footer)


def test_inputs_doc_has_its_examples() -> None:
    assert len(_table_examples(INPUTS_DOC)) >= 6


def test_inputs_doc_commands_and_error_are_what_archscope_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for command in _commands(INPUTS_DOC):
        result = CliRunner().invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    documented = " ".join(re.search(r"```\n(archscope: error: MLP.*?)```", INPUTS_DOC, re.S).group(1).split())  # type: ignore[union-attr]
    result = CliRunner().invoke(app, ["summary", "tests/user_corpus.py:MLP", "--input", "3x20x21"])
    assert result.exit_code == 1 and documented in " ".join(result.output.split())


def test_inputs_doc_python_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    (code,) = _blocks(INPUTS_DOC, "python")
    exec(compile(code, "docs/inputs.md", "exec"), {})  # noqa: S102


def test_training_doc_worked_example_is_what_archscope_counts() -> None:
    doc = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    example = doc.split("## A worked example", 1)[1]
    namespace: dict[str, object] = {}
    exec(compile(_blocks(example, "python")[0], "docs/training.md", "exec"), namespace)  # noqa: S102
    step = namespace["t"].step  # type: ignore[attr-defined]
    rows = {cells[0]: int(cells[-1].replace(",", "")) for line in example.splitlines()
            if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])[-1][:1].isdigit()}
    assert rows == {
        "forward MACs": step.forward_macs, "input-gradient MACs": step.grad_input_macs,
        "weight-gradient MACs": step.grad_weight_macs, "step MACs": step.step_macs,
        "weights": step.weight_bytes, "gradients": step.grad_bytes, "optimizer state": step.optimizer_bytes,
        "step temporaries": step.step_temporary_bytes, "saved for backward": step.saved_bytes,
        "forward peak": step.peaks["forward"], "optimizer-step peak": step.peaks["optimizer step"],
    }
