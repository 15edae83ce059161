"""What a model is fed: the ``--input`` grammar, the input model, no silent reinterpretation,
inputs models declare, the meta-to-CPU fallback, recurrent layers counted by formula, and
version-1 snapshots that still check. (The corpus of user models is tests/test_inputs_corpus.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import archscope
from archscope.cli.main import app
from archscope.errors import ArchscopeError, ModelLoadError, ShapeError, UsageError
from archscope.report.footer import notes
from archscope.snapshot import files
from archscope.spec.inputs import Input, Inputs, from_json, from_sizes, parse_input, signature, to_json

ROOT = Path(__file__).resolve().parent.parent
CORPUS = "tests/user_corpus.py"
V1 = ROOT / "tests" / "fixtures" / "snapshot_v1"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


# ---------------------------------------------------------------- the grammar


@pytest.mark.parametrize(("text", "name", "shape", "dtype"), [
    ("20", None, (20,), None),
    ("1x16000", None, (1, 16000), None),
    ("3×224×224", None, (3, 224, 224), None),
    ("128:int64", None, (128,), "int64"),
    ("input_ids=128:int64", "input_ids", (128,), "int64"),
    ("attention_mask=128:bool", "attention_mask", (128,), "bool"),
    ("x=3x8x32x32:torch.float16", "x", (3, 8, 32, 32), "float16"),
    ("ids=7:long", "ids", (7,), "int64"),
])
def test_input_text(text: str, name: str | None, shape: tuple[int, ...], dtype: str | None) -> None:
    typed = parse_input(text)
    assert (typed.name, typed.shape, typed.dtype) == (name, shape, dtype)


@pytest.mark.parametrize(("text", "words"), [
    ("²²⁴", "cannot read input size"),  # str.isdigit() accepts these, int() does not
    ("①", "cannot read input size"),
    ("3x0x224", "positive integer"),
    ("-3", "cannot read input size"),
    ("128:int65", "unknown input dtype 'int65'"),
    ("1ids=128", "is not an argument name"),
    ("", "cannot read input size"),
    ("1x" * 20 + "1", "at most 8"),
    ("100000x100000x100000x100000", "more than any machine can hold"),
    ("9" * 5000, "…"),  # echoed cut, not whole
])
def test_bad_input_text_is_a_usage_error_naming_it(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        parse_input(text)
    assert words in str(info.value) and len(str(info.value)) < 600


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_input_text_is_an_input_or_a_usage_error(text: str) -> None:
    try:
        typed = parse_input(text)
    except UsageError:
        return
    assert all(isinstance(d, int) and d > 0 for d in typed.shape)


def test_image_forms_only_for_image_models() -> None:
    assert from_sizes("224", image_channels=3)[0].args[0].shape == (3, 224, 224)  # type: ignore[union-attr]
    assert from_sizes("32x48", image_channels=1)[0].args[0].shape == (1, 32, 48)  # type: ignore[union-attr]
    inputs, batch = from_sizes("8x3x224x224", image_channels=3)
    assert inputs.args[0].shape == (3, 224, 224) and batch == 8  # type: ignore[union-attr]
    assert from_sizes("224")[0].args[0].shape == (224,)  # type: ignore[union-attr]
    assert from_sizes("8x3x224x224")[0].args[0].shape == (8, 3, 224, 224)  # type: ignore[union-attr]


def test_sizes_positional_keyword_dtypes_and_errors() -> None:
    inputs, _ = from_sizes([(16,), (16,)], dtypes=["int64", "bool"], names=["ids", "mask"])
    assert [(x.name, x.shape, x.dtype) for x in inputs.leaves()] == [("ids", (16,), "int64"), ("mask", (16,), "bool")]
    inputs, _ = from_sizes({"input_ids": (128,), "attention_mask": "128:bool"}, dtypes={"input_ids": "int64"})
    assert [(x.name, x.dtype) for x in inputs.leaves()] == [("input_ids", "int64"), ("attention_mask", "bool")]
    assert set(inputs.kwargs) == {"input_ids", "attention_mask"} and not inputs.args
    assert from_sizes([])[0].leaves() == []
    for bad, words in [(True, "input_size must be"), ((3.7, 224, 224), "positive integers"), ((-1, 4), "positive"),
                       ([], None), ("x=3", None)]:
        if words is None:
            continue
        with pytest.raises(UsageError, match=words):
            from_sizes(bad)
    with pytest.raises(UsageError, match="positional inputs come before keyword"):
        from_sizes(["x=3", "4"])
    with pytest.raises(UsageError, match="given twice"):
        from_sizes(["x=3", "x=4"])
    with pytest.raises(UsageError, match="dtypes has 1 entries for 2"):
        from_sizes([(3,), (4,)], dtypes=["int64"])
    with pytest.raises(UsageError, match="batch_dim 3 is past"):
        from_sizes((3, 4), batch_dim=3)


_leaf = st.builds(Input, name=st.from_regex(r"[a-z]{1,5}", fullmatch=True),
                  shape=st.lists(st.integers(1, 9), max_size=3).map(tuple),
                  dtype=st.sampled_from(["float32", "int64", "bool"]), batch_dim=st.sampled_from([0, None]))
_tree = st.recursive(_leaf, lambda c: st.lists(c, max_size=3) | st.lists(c, max_size=3).map(tuple)
                     | st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), c, max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.lists(_tree, max_size=3), st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), _tree, max_size=2),
       st.integers(1, 5))
def test_inputs_json_round_trip(args: list, kwargs: dict, batch: int) -> None:  # type: ignore[type-arg]
    inputs = Inputs(tuple(args), kwargs)
    data = json.loads(json.dumps(to_json(inputs, batch)))
    back = from_json(data, batch)
    assert back.args == inputs.args and dict(back.kwargs) == dict(inputs.kwargs)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3)))
def test_any_json_is_inputs_or_a_value_error(data: object) -> None:
    try:
        from_json(data, 1)
    except ValueError:
        pass


# ---------------------------------------------------------------- no silent reinterpretation


def test_a_linear_layer_fed_what_was_written() -> None:
    t = archscope.trace(nn.Linear(2, 5), input_size=(1, 2))
    assert t.totals.macs == 10 and t.output_shapes == [(1, 1, 5)]  # N×1×2: one sample of a 1×2 matrix
    t = archscope.trace(nn.Linear(2, 5), input_size=(2,), batch=3)
    assert t.totals.macs == 30 and t.output_shapes == [(3, 5)]


def test_mlp_on_the_command_line_is_n_by_20_and_the_footer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("summary", f"{CORPUS}:MLP", "--input", "20")
    assert code == 0 and "Input: x 1×20 float32 (--input)" in out and "Output: 1×10" in out
    code, out = run("summary", "docs/examples/mynet.py:Net", "--input", "32")  # a Conv2d(3, ...) first: an image
    assert code == 0 and "Input: x 1×3×32×32 float32 (--input)" in out


def test_an_input_that_does_not_fit_names_the_layer_and_what_the_first_layer_takes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("summary", f"{CORPUS}:MLP", "--input", "3x20x21")
    assert code == 1
    text = " ".join(out.split())
    assert "cannot run on input x 1×3×20×21 float32" in text and "fc1 (Linear)" in text
    assert "its first layer, fc1 (Linear), takes N×…×20 float" in text


def test_no_input_given_says_what_to_pass() -> None:
    with pytest.raises(UsageError, match="states no input size.*takes N×1×L float"):
        archscope.trace(nn.Sequential(nn.Conv1d(1, 4, 3)))


def test_json_report_records_inputs_by_name_shape_dtype_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("summary", f"{CORPUS}:TokenEncoder", "--input", "12:int64", "--input",
                    "src_key_padding_mask=12:bool", "--batch", "2", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "archscope.summary/2" and data["input_source"] == "--input"
    assert data["inputs"] == {"args": [{"name": "ids", "shape": [2, 12], "dtype": "int64", "batch_dim": 0}],
                              "kwargs": {"src_key_padding_mask": {"name": "src_key_padding_mask", "shape": [2, 12],
                                                                  "dtype": "bool", "batch_dim": 0}}}


def test_batch_dim_puts_the_batch_where_the_model_wants_it() -> None:
    gru = nn.GRU(20, 8)  # sequence first: L×N×F
    t = archscope.trace(gru, input_size=(7, 20), batch=4, batch_dim=1)
    assert t.layers[0].input_shapes == [(7, 4, 20)] and t.output_shapes[0] == (7, 4, 8)


# ---------------------------------------------------------------- inputs a model declares, real tensors


class Declares(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * scale

    def example_inputs(self) -> tuple[tuple[torch.Tensor], dict[str, torch.Tensor]]:
        return (torch.zeros(3, 6),), {"scale": torch.ones(3, 2)}


def test_example_inputs_are_picked_up_and_said() -> None:
    t = archscope.trace(Declares())
    assert t.inputs.source == "the model's example_inputs" and t.batch == 3
    assert [(x.name, x.shape) for x in t.inputs.leaves()] == [("x", (6,)), ("scale", (2,))]
    assert t.totals.macs == 3 * 6 * 2


def test_input_data_shapes_taken_data_never_copied() -> None:
    seen: list[torch.Tensor] = []

    class Keep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return self.fc(x)

    data = torch.randn(5, 4)
    t = archscope.trace(Keep(), input_data=data, device="cpu")
    assert seen[-1] is data and t.batch == 5  # the user's tensor itself, on the CPU
    archscope.trace(Keep(), input_data=data)
    assert seen[-1].device.type == "meta" and seen[-1].shape == data.shape


def test_a_forward_with_no_argument_gets_none() -> None:
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(4, 3))
            self.fc = nn.Linear(3, 2)

        def forward(self) -> torch.Tensor:
            return self.fc(self.w)

    t = archscope.trace(Constant())
    assert t.inputs.leaves() == [] and t.totals.macs == 4 * 3 * 2


# ---------------------------------------------------------------- models that cannot run on meta


class NeedsData(nn.Module):
    """A forward whose shapes depend on the values: nonzero."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.nonzero(x[:, 0] >= 0).flatten()
        return self.fc(x[keep])


def test_a_model_that_needs_data_is_traced_on_cpu_and_says_so() -> None:
    t = archscope.trace(NeedsData(), input_size=(4,), batch=2)
    assert t.device == "cpu" and t.totals.macs == 2 * 4 * 3
    assert "traced on cpu: the model cannot run on the meta device" in notes(t)[0]
    with pytest.raises(ShapeError, match="use --device cpu"):
        archscope.trace(NeedsData(), input_size=(4,), device="meta")


def test_a_cpu_fallback_that_cannot_fit_is_refused_before_it_starts() -> None:
    with pytest.raises(ModelLoadError, match=r"on the CPU it would need at least .* more than the .* available"):
        archscope.trace(NeedsData(), input_size=(4,), batch=2**40)  # 16 TiB of input alone


# ---------------------------------------------------------------- recurrent layers by formula


@pytest.mark.parametrize(("make", "gates"), [
    (lambda: nn.LSTM(20, 30, num_layers=2, batch_first=True), 4),
    (lambda: nn.GRU(20, 30, batch_first=True, bidirectional=True), 3),
    (lambda: nn.RNN(20, 30, batch_first=True), 1),
    (lambda: nn.LSTM(20, 30, batch_first=True, proj_size=10), 4),
])
def test_recurrent_layers_are_counted_by_formula_on_every_device(make: object, gates: int) -> None:
    module = make()  # type: ignore[operator]
    n, steps = 3, 7
    directions = 2 if module.bidirectional else 1
    out = module.proj_size or module.hidden_size
    expected = 0
    for layer in range(module.num_layers):
        size_in = 20 if layer == 0 else out * directions
        expected += gates * (size_in * 30 + out * 30) + module.proj_size * 30
    expected *= n * steps * directions
    meta = archscope.trace(module, input_size=(steps, 20), batch=n).totals.macs
    cpu = archscope.trace(module, input_size=(steps, 20), batch=n, device="cpu").totals.macs
    assert meta == cpu == expected
    with FlopCounterMode(display=False) as counter:  # on meta torch runs the cell loop: matmuls it can count
        module.to("meta")(torch.zeros(n, steps, 20, device="meta"))
    assert counter.get_total_flops() // 2 == expected


# ---------------------------------------------------------------- snapshots of version 1


def test_version_1_snapshots_still_load_and_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("check", str(V1))
    assert code == 0 and "2 unchanged" in " ".join(out.split())
    data = files.load(V1 / "lenet5@1x32x32.json")
    assert signature(files.inputs_of(data), 1) == "1×1×32×32 float32"
    copy = tmp_path / "resnet50@3x224x224.json"
    shutil.copy(V1 / copy.name, copy)
    code, out = run("diff", str(copy), "resnet50")
    assert code == 0 and "no differences" in out.lower() or "0 layers differ" in out
    assert json.loads(copy.read_text())["schema"] == "archscope.snapshot/1"  # read, never rewritten


def test_snapshot_of_token_inputs_is_named_by_them_and_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("snapshot", f"{CORPUS}:TokenEncoder", "--input", "12:int64", "--input",
                    "src_key_padding_mask=12:bool", "-o", str(tmp_path))
    assert code == 0, out
    (path,) = tmp_path.glob("*.json")
    assert path.name == "TokenEncoder@12-int64+src_key_padding_mask=12-bool.json"
    code, out = run("check", str(tmp_path))
    assert code == 0 and "unchanged" in out


def test_graph_has_one_labelled_input_node_per_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("graph", f"{CORPUS}:TokenEncoder", "--input", "12:int64", "--input",
                    "src_key_padding_mask=12:bool")
    assert code == 0, out
    assert '"/input" [label="ids: 1×12 int64"' in out
    assert '"/input#2" [label="src_key_padding_mask: 1×12 bool"' in out


def test_python_api_errors_are_archscope_errors() -> None:
    for kwargs in [dict(input_size=True), dict(input_size=(3.7, 224, 224)), dict(input_size=(2,), batch=2.5),
                   dict(input_size=(2,), batch="2"), dict(input_size=(2,), input_data=torch.zeros(1, 2)),
                   dict(input_data=object())]:
        with pytest.raises(ArchscopeError):
            archscope.trace(nn.Linear(2, 2), **kwargs)  # type: ignore[arg-type]


def test_python_m_archscope_takes_several_inputs() -> None:
    proc = subprocess.run([sys.executable, "-m", "archscope", "summary", f"{CORPUS}:TwoTensorMatmul", "--input",
                           "6x16", "--input", "16x8", "-f", "json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [leaf["shape"] for leaf in data["inputs"]["args"]] == [[1, 6, 16], [1, 16, 8]]


def test_graph_shows_every_output_and_dict_outputs_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("graph", f"{CORPUS}:DictOutput", "--input", "3x16x16")
    assert code == 0 and '"/output" [label=logits' in out and '"/output#2" [label=features' in out
    code, out = run("graph", f"{CORPUS}:TwoHeads", "--input", "20")
    assert code == 0 and '[label="output[0]"' in out and '[label="output[1]"' in out


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda d: d["model"].update(kind="zoo", target="evil.py:build"), "model.kind is 'zoo' but the target"),
    (lambda d: d["model"].update(kind="spec", target="os:system"), "model.kind is 'spec' but the target"),
    (lambda d: d.update(convention="mine"), "convention is 'mine'"),
    (lambda d: d["layers"].append(dict(d["layers"][1])), "is listed twice"),
    (lambda d: d.update(layers=d["layers"] * 2), "is listed twice"),
])
def test_a_snapshot_that_lies_is_corrupt_and_runs_nothing(tmp_path: Path, mutate: object, words: str) -> None:
    data = json.loads((ROOT / "tests" / "arch" / "lenet5@1x32x32.json").read_text())
    mutate(data)  # type: ignore[operator]
    (tmp_path / "evil.py").write_text("raise SystemExit('executed')\n")
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data))
    code, out = run("check", str(path))
    assert code == 2 and words in " ".join(out.split()) and "executed" not in out


# ---------------------------------------------------------------- files never damaged (issue 13, group 4)


def test_an_output_that_is_the_models_own_file_is_refused(tmp_path: Path) -> None:
    import yaml

    spec = tmp_path / "in.json"
    spec.write_text(json.dumps(yaml.safe_load((ROOT / "docs" / "examples" / "tiny.yaml").read_text())))
    before = spec.read_bytes()
    code, out = run("summary", str(spec), "-o", str(spec))
    assert code == 2 and "the model's own file" in out and spec.read_bytes() == before
    code, out = run("graph", f"{CORPUS}:MLP", "--input", "20", "-o", str(ROOT / CORPUS))
    assert code == 2 and "the model's own file" in out


def test_a_symlinked_output_stays_a_link_and_leftovers_of_killed_runs_are_removed(tmp_path: Path) -> None:
    from archscope.fileio import write_atomic

    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    dead = tmp_path / ".real.json.999999999.abcd.archscope-tmp"  # a pid that cannot be running
    dead.write_text("half")
    mine = tmp_path / f".real.json.{__import__('os').getpid()}.efgh.archscope-tmp"  # a live process's
    mine.write_text("in progress")
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert not dead.exists() and mine.exists()


def test_without_dot_an_existing_dot_file_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    (tmp_path / "g.dot").write_text("mine")
    code, out = run("graph", f"{CORPUS}:MLP", "--input", "20", "-o", str(tmp_path / "g.svg"))
    assert code == 1 and "exists already" in " ".join(out.split())
    assert (tmp_path / "g.dot").read_text() == "mine" and not (tmp_path / "g.svg").exists()


def test_the_front_door_names_wrong_targets() -> None:
    for target in (123, None, {"a": 1}):
        with pytest.raises(TypeError, match="trace\\(\\) takes a zoo name"):
            archscope.trace(target, 8)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="build\\(\\) takes a zoo name"):
        archscope.build(123)  # type: ignore[arg-type]
    assert archscope.trace(nn.Flatten, input_size=(3, 4)).output_shapes == [(1, 12)]  # a class is built
