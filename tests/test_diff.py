"""``archscope diff``: two architectures aligned layer by layer, from zoo names, spec files,
import paths and snapshot files; docs/diff.md shows what it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope.analysis.diff import FieldChange, Layer, ModelDiff, align, attributes, diff_targets, module_attributes
from archscope.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "diff.md").read_text(encoding="utf-8")
MYNET = str(ROOT / "docs" / "examples" / "mynet.py")
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def by_field(changes: list[FieldChange]) -> dict[str, tuple[object, object]]:
    return {c.field: (c.old, c.new) for c in changes}


@pytest.fixture(scope="module")
def resnets() -> ModelDiff:
    return diff_targets("resnet50", "resnext50_32x4d")


def test_resnet50_vs_resnext50_every_bottleneck_widens_and_groups_its_3x3(resnets: ModelDiff) -> None:
    rows = {r.a.name: r for r in resnets.rows if r.a is not None}
    assert all(r.aligned_by == "name" and r.a is not None and r.b is not None and r.a.name == r.b.name
               for r in resnets.rows)
    stages = {1: (3, 64), 2: (4, 128), 3: (6, 256), 4: (3, 512)}  # blocks, resnet50's inner width
    blocks = [(f"layer{s}.{i}", w) for s, (n, w) in stages.items() for i in range(n)]
    assert len(blocks) == 16
    for block, width in blocks:
        conv1, conv2 = by_field(rows[f"{block}.conv1"].changes), by_field(rows[f"{block}.conv2"].changes)
        assert conv1["width"] == (width, 2 * width), block  # ResNeXt's 32×4d: twice the inner width
        assert conv2["width"] == (width, 2 * width) and conv2["in"] == (width, 2 * width), block
        assert conv2["groups"] == (1, 32), block
        assert "kernel" not in conv2 and "stride" not in conv2, block
        assert "groups" not in conv1 and "groups" not in by_field(rows[f"{block}.conv3"].changes), block
    assert resnets.totals[0] == ("params", 25_557_032, 25_028_904)
    assert (resnets.count("changed"), resnets.count("added"), resnets.count("removed")) == (112, 0, 0)
    assert resnets.notes == []


def test_cli_resnet_diff_table_and_markdown() -> None:
    code, out, err = run("diff", "resnet50", "resnext50_32x4d")
    assert code == 0, err
    assert "groups 1 → 32" in out and "width 64 → 128" in out
    assert "25,557,032" in out and "25,028,904" in out and "0.979×" in out
    assert "112 layers differ, 0 added, 0 removed; 159 aligned (159 by name)" in out
    code, md, _ = run("diff", "resnet50", "resnext50_32x4d", "--format", "markdown")
    assert code == 0
    assert md.count("groups 1 → 32") == 16
    assert "| Params | 25,557,032 (25.6M) | 25,028,904 (25M) | 0.979× |" in md


def _doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)


def test_doc_example_is_what_archscope_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    example = DOC.split("## Example", 1)[1]
    command = re.search(r"```bash\narchscope (.*?)\n```", example).group(1)  # type: ignore[union-attr]
    printed, excerpt = _doc_blocks("markdown")
    code, out, err = run(*command.split())
    assert code == 0, err
    assert out == printed
    code, out, _ = run("diff", "resnet50", "resnext50_32x4d", "--format", "markdown")
    assert code == 0 and excerpt in out
    assert "\n" + excerpt.splitlines()[0] in out.split("|---|---|--:|--:|--:|--:|", 1)[1][:200]  # the first rows


def test_doc_commands_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    commands = [line.split("#")[0].split() for line in _doc_blocks("bash")[0].splitlines()]
    assert len(commands) == 5
    for cmd in commands:
        code, _, err = run(*cmd[1:])
        assert code == 0, (cmd, err)


V1 = """archscope_spec: 1
name: small
input: [3, 32, 32]
layers:
  - {type: conv, name: conv1, out: 16, kernel: 3, padding: 1}
  - {type: act, name: relu1}
  - {type: conv, name: conv2, out: 32, kernel: 3, stride: 2, padding: 1}
  - {type: act, name: relu2}
  - {type: adaptive_pool, name: pool, output: 1}
  - {type: flatten, name: flatten}
  - {type: linear, name: fc, out: 10}
"""
# conv2: kernel 5, groups 2, no bias; a norm added after it; relu2 renamed act2
V2 = V1.replace("{type: conv, name: conv2, out: 32, kernel: 3, stride: 2, padding: 1}",
                "{type: conv, name: conv2, out: 32, kernel: 5, stride: 2, padding: 2, groups: 2, bias: false}\n"
                "  - {type: norm, name: bn2}").replace("name: relu2", "name: act2")


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v1.yaml").write_text(V1)
    (tmp_path / "v2.yaml").write_text(V2)
    return tmp_path


def test_spec_file_against_its_modified_version(specs: Path) -> None:
    d = diff_targets("v1.yaml", "v2.yaml")
    rows = {(r.a.name if r.a else None, r.b.name if r.b else None): r for r in d.rows}
    assert by_field(rows["conv2", "conv2"].changes) == {
        "kernel": ((3, 3), (5, 5)), "padding": ((1, 1), (2, 2)), "groups": (1, 2), "bias": (True, False),
        "params": (4640, 6400), "macs": (1_179_648, 1_638_400)}
    assert rows[None, "bn2"].status == "added"
    assert rows["relu2", "act2"].aligned_by == "structure" and rows["relu2", "act2"].status == "same"
    assert d.summary() == "1 layer differs, 1 added, 0 removed; 7 aligned (6 by name, 1 by structure)"
    code, md, _ = run("diff", "v1.yaml", "v2.yaml", "-f", "markdown", "--all")
    assert code == 0
    assert "| `conv2` | kernel 3 → 5, padding 1 → 2, groups 1 → 2, bias yes → no | 4,640 | 6,400 |" in md
    assert "| `bn2` | added: BatchNorm2d 1×32×16×16 |" in md and "| `relu2 → act2` | same |" in md
    code, out, _ = run("diff", "v1.yaml", "v2.yaml", "-f", "json", "-o", "d.json")
    assert code == 0 and out == ""
    data = json.loads((specs / "d.json").read_text(encoding="utf-8"))
    assert data["schema"] == "archscope.diff/1" and data["summary"]["added"] == 1
    assert data["totals"]["params"] == {"a": 5418, "b": 7242, "ratio": round(7242 / 5418, 6)}
    assert [row["b"] for row in data["layers"]] == ["conv2", "bn2"]  # only the rows that differ


def test_snapshot_file_against_the_model_now(specs: Path) -> None:
    assert run("snapshot", "v1.yaml", "-o", "arch")[0] == 0
    snap = "arch/small@3x32x32.json"
    assert attributes(snap) == {}
    d = diff_targets(snap, "v2.yaml")
    (conv2,) = [r for r in d.rows if r.status == "changed"]
    assert by_field(conv2.changes) == {"params": (4640, 6400), "macs": (1_179_648, 1_638_400)}  # no attributes
    assert d.count("added") == 1 and d.a.kind == "snapshot"
    assert any("is a snapshot" in n and "not compared" in n for n in d.notes)
    assert diff_targets(snap, "v1.yaml").count("changed") == 0
    code, _, err = run("diff", snap, "v2.yaml", "--input", "64")
    assert code == 2 and "snapshot taken at input 1×3×32×32 float32" in err
    Path("broken.json").write_text(Path(snap).read_text(encoding="utf-8")[:300])
    code, _, err = run("diff", "broken.json", "v1.yaml")
    assert code == 2 and "may be truncated" in err and "Traceback" not in err


def test_committed_snapshots_compare_as_their_models() -> None:
    snaps = diff_targets(str(ROOT / "tests/arch/resnet50@3x224x224.json"),
                         str(ROOT / "tests/arch/resnext50_32x4d@3x224x224.json"))
    assert snaps.totals[:2] == [("params", 25_557_032, 25_028_904), ("macs", 4_089_184_256, 4_230_479_872)]
    assert snaps.count("changed") == 112 and snaps.a.leaves == 159
    same = diff_targets(str(ROOT / "tests/arch/resnet50@3x224x224.json"), "resnet50", depth=2)
    assert same.count("changed") == same.count("added") == same.count("removed") == 0


def test_import_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    d = diff_targets(f"{MYNET}:Net", f"{MYNET}:build_net", input_size="32")
    (head,) = [r for r in d.rows if r.status != "same"]
    assert head.a is not None and head.a.name == "head"
    assert by_field(head.changes) == {"width": (10, 100), "out": ([(1, 10)], [(1, 100)]), "params": (330, 3300),
                                      "macs": (320, 3200)}
    assert attributes(f"{MYNET}:Net")["stem.0"] == {"in": 3, "width": 32, "kernel": (3, 3), "stride": (1, 1),
                                                    "padding": (1, 1), "dilation": (1, 1), "groups": 1,
                                                    "bias": False}
    # a model with no reference input takes the other's
    assert diff_targets("resnet50", f"{MYNET}:Net").b.input_text == "1×3×224×224 float32"
    code, _, err = run("diff", f"{MYNET}:Net", f"{MYNET}:build_net")
    assert code == 2 and "states no input size: pass one with --input" in " ".join(err.split())


def test_spec_and_module_attributes_agree() -> None:
    from archscope.api import build

    assert attributes("resnet50") == module_attributes(build("resnet50", device="meta"))


def test_alignment_pairs_moved_layers_by_name_and_replaced_ones_by_place() -> None:
    def layers(*names: str) -> list[Layer]:
        return [Layer(n.split(":")[0], n.split(":")[1], 1, 1, True, [], 0, 0) for n in names]

    def pairs(a: list[Layer], b: list[Layer]) -> list[tuple[str | None, str | None, str]]:
        return [(r.a.name if r.a else None, r.b.name if r.b else None, r.aligned_by) for r in align(a, b)]

    assert pairs(layers("a:Conv", "b:ReLU", "c:Linear", "d:Flatten"),
                 layers("b:ReLU", "x:Conv", "a:Conv", "y:Linear", "d:Flatten")) == [
        ("b", "b", "name"), (None, "x", ""), ("a", "a", "name"), ("c", "y", "structure"), ("d", "d", "name")]
    assert pairs(layers("p:Conv", "q:Linear"), layers("p:Conv", "r:Flatten")) == [
        ("p", "p", "name"), ("q", "r", "structure")]  # one layer replaced by one: a changed type


@pytest.mark.parametrize(("args", "message"), [
    (("nope", "resnet50"), "unknown model 'nope'"),
    (("resnet50", "missing.yaml"), "spec file 'missing.yaml' does not exist"),
    (("resnet50", "resnet18", "--input", "abc"), "cannot read input size 'abc'"),
    (("resnet50", "resnet18", "-o", "no/such/dir/d.md"), "does not exist"),
    (("resnet50", "resnet18", "--format", "csv"), "Invalid value"),
])
def test_bad_input_exits_2_with_one_clear_message(args: tuple[str, ...], message: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("diff", *args)
    assert code == 2 and message in " ".join(err.split()) and "Traceback" not in err
    assert out == "" and list(tmp_path.iterdir()) == []
