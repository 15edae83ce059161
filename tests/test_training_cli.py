"""A training step everywhere the forward numbers go (issue 15): ``summary --training`` in every
format, ``diff --training``, training snapshots, and the options' usage errors. The numbers
are compared with :func:`archscope.trace`'s ``StepCost`` and with parameter counts computed
here, not with the report's own output."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
from archscope.cli.main import app
from archscope.cli.options import training_of
from archscope.report import units
from archscope.report.columns import Additions, Column, merged
from archscope.snapshot import files
from archscope.tracer.records import StepCost, Trace
from archscope.tracer.training import OPTIMIZERS, Training

ROOT = Path(__file__).resolve().parent.parent
MODEL = ("resnet18", "--input", "64")
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def traced(training: Training) -> Trace:
    return archscope.trace("resnet18", input_size=64, training=training)


def step_of(training: Training) -> StepCost:
    step = traced(training).step
    assert step is not None
    return step


def summary_json(*options: str) -> dict:
    code, out, err = run("summary", *MODEL, *options, "-f", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def table_head(out: str) -> list[str]:
    head = next(line for line in out.splitlines() if "Layer" in line and "┃" in line)
    return [w.strip() for w in head.strip("┃").split("┃")]


# ---------------------------------------------------------------- options


def test_training_of_is_none_without_options_and_implied_by_any_of_them() -> None:
    assert training_of(False) is None
    assert training_of(False, None, None, [], []) is None
    assert training_of(True) == Training()
    assert training_of(False, optimizer="adam") == Training(optimizer="adam")
    assert training_of(False, amp="bf16") == Training(amp="bf16")
    assert training_of(False, freeze=["layer1.*"]) == Training(freeze=("layer1.*",))
    assert training_of(False, checkpoint=["layer2"]) == Training(checkpoint=("layer2",))


def test_optimizer_choices_are_the_registry() -> None:
    code, out, _ = run("summary", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for name in OPTIMIZERS:
        assert name in flat
    assert "--training" in flat and "--freeze" in flat and "--checkpoint" in flat and "--amp" in flat


def test_a_bad_optimizer_exits_2_naming_the_choices_without_a_traceback() -> None:
    result = runner.invoke(app, ["summary", *MODEL, "--training", "--optimizer", "lion"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    flat = " ".join(result.output.replace("│", " ").split())
    assert "'lion' is not one of" in flat and "'adamw'" in flat


def test_a_freeze_pattern_that_matches_nothing_exits_2_with_one_paragraph() -> None:
    code, out, err = run("summary", *MODEL, "--freeze", "nomatch")
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("archscope: error: --freeze pattern 'nomatch' matches no name in the model")


# ---------------------------------------------------------------- summary: table and markdown


def test_summary_table_has_the_backward_columns_and_the_training_footer() -> None:
    code, out, err = run("summary", *MODEL, "--training")
    assert code == 0, err
    assert table_head(out)[-4:] == ["In-grad MACs", "W-grad MACs", "Saved", "Expected"]
    step = step_of(Training())
    flat = " ".join(out.split())
    assert "train mode" in flat
    assert f"Training step (sgd, no autocast, float32 weights): forward {units.short(step.forward_macs)} MACs" in flat
    assert f"backward {units.short(step.backward_macs)} MACs" in flat
    assert f"step {units.short(step.step_macs)} MACs" in flat
    assert f"Optimizer sgd: {OPTIMIZERS['sgd'].keeps}" in flat
    phase, _ = step.peak
    assert "Peak memory: " + ", ".join(f"{p} {units.nbytes(b)}" for p, b in step.peaks.items()) in flat
    assert f"the highest is the {phase}'s" in flat
    assert f"Saved for backward: {units.nbytes(step.saved_bytes)}, measured" in flat
    assert "allocator rounding and fragmentation" in flat and "CUDA context" in flat and "sum of the outputs" in flat
    assert "measured below" in flat  # the forward-activations line points at the measured number


def test_summary_without_training_has_no_training_columns_keys_or_lines() -> None:
    code, out, _ = run("summary", *MODEL)
    assert code == 0
    assert "In-grad MACs" not in out and "Training step" not in out and "measured below" not in out
    data = json.loads(run("summary", *MODEL, "-f", "json")[1])
    assert "training" not in data and "grad_input_macs" not in data["layers"][0]


def test_markdown_folds_the_backward_columns_at_the_depth_and_flops_doubles_them() -> None:
    t = traced(Training())
    layer1 = next(r for r in t.layers if r.name == "layer1")
    fc = next(r for r in t.layers if r.name == "fc")

    def rows(*options: str) -> dict[str, list[str]]:
        code, out, _ = run("summary", *MODEL, "--training", "--depth", "1", "-f", "markdown", *options)
        assert code == 0
        table = [line[2:-2].split(" | ") for line in out.splitlines() if line.startswith("| ")]
        return {r[0].strip("`"): r for r in table}

    macs, flops = rows(), rows("--flops")
    head = macs["Layer"]
    assert head[-4:] == ["In-grad MACs", "W-grad MACs", "Saved", "Expected"]
    assert flops["Layer"][-4:-2] == ["In-grad FLOPs", "W-grad FLOPs"]
    ins, ws, saved = head.index("In-grad MACs"), head.index("W-grad MACs"), head.index("Saved")
    assert layer1.grad_input_macs_total and layer1.grad_input_macs == 0  # no operators of its own: its subtree's
    assert macs["layer1"][ins] == units.short(layer1.grad_input_macs_total)
    assert macs["layer1"][ws] == units.short(layer1.grad_weight_macs_total)
    assert macs["layer1"][saved] == units.nbytes(layer1.saved_bytes_total)
    assert flops["layer1"][ins] == units.short(2 * layer1.grad_input_macs_total)
    assert flops["fc"][ws] == units.short(2 * fc.grad_weight_macs)
    assert macs["layer1"][saved] == flops["layer1"][saved]  # bytes are not doubled


# ---------------------------------------------------------------- summary: json and csv


def test_json_training_object_is_the_step_cost_and_the_layers_sum_to_it() -> None:
    data = summary_json("--training")
    step = step_of(Training())
    training = data["training"]
    assert {k: training[k] for k in asdict(step)} == json.loads(json.dumps(asdict(step)))
    assert training["backward_macs"] == step.backward_macs == step.grad_input_macs + step.grad_weight_macs
    assert training["step_macs"] == step.step_macs == step.forward_macs + step.backward_macs
    assert (training["peak_phase"], training["peak_bytes"]) == step.peak
    assert training["peak_bytes"] == max(step.peaks.values())
    assert training["optimizer_keeps"] == OPTIMIZERS["sgd"].keeps
    layers = data["layers"]
    for key in ("grad_input_macs", "grad_weight_macs", "saved_bytes"):
        assert sum(layer[key] for layer in layers) == training[key] > 0
        assert layers[0]["name"] == "" and layers[0][key + "_total"] == training[key]
    assert data["mode"] == "train" and training["forward_macs"] == data["totals"]["macs"]
    # the standard keys come first, unchanged: the same as a --train summary's
    plain = summary_json("--train")
    assert list(data) == [*plain, "training"]
    for a, b in zip(plain["layers"], layers, strict=True):
        assert list(b) == [*a, "grad_input_macs", "grad_weight_macs", "saved_bytes", "grad_input_macs_total",
                           "grad_weight_macs_total", "saved_bytes_total"]
        assert {k: b[k] for k in a} == a


def test_csv_has_the_plain_columns_then_the_per_layer_training_columns() -> None:
    def table(*options: str) -> list[list[str]]:
        code, out, _ = run("summary", *MODEL, *options, "-f", "csv")
        assert code == 0
        return list(csv.reader(io.StringIO(out)))

    plain, more = table("--train"), table("--training")
    added = ["grad_input_macs", "grad_weight_macs", "saved_bytes", "grad_input_macs_total",
             "grad_weight_macs_total", "saved_bytes_total"]
    assert more[0] == plain[0] + added  # no formatted "In-grad MACs", "W-grad MACs" or "Saved" column
    assert [row[:len(plain[0])] for row in more] == plain
    t = traced(Training())
    assert [[int(v) for v in row[len(plain[0]):]] for row in more[1:]] == [
        [getattr(r, k) for k in added] for r in t.layers]


def test_adam_keeps_two_parameter_sized_tensors_and_implies_training() -> None:
    data = summary_json("--optimizer", "adam")  # no --training: --optimizer implies it
    t = traced(Training())
    trainable_bytes = 4 * t.totals.trainable_params  # float32
    assert data["training"]["optimizer"] == "adam"
    assert data["training"]["optimizer_bytes"] == 2 * trainable_bytes
    assert data["training"]["step_temporary_bytes"] == trainable_bytes
    assert data["training"]["grad_bytes"] == trainable_bytes
    assert summary_json("--training")["training"]["optimizer_bytes"] == 0  # sgd keeps nothing


def test_freezing_layer1_drops_its_gradients() -> None:
    t = traced(Training())
    layer1_params = next(r for r in t.layers if r.name == "layer1").params_total
    assert layer1_params == 147_968  # two BasicBlocks of 64 channels: 4 × 3·3·64·64 + 8 × 2·64
    whole, frozen = summary_json("--training"), summary_json("--training", "--freeze", "layer1.*")
    assert whole["training"]["grad_bytes"] - frozen["training"]["grad_bytes"] == 4 * layer1_params
    assert frozen["training"]["frozen"] == layer1_params
    assert frozen["totals"]["trainable_params"] == whole["totals"]["trainable_params"] - layer1_params
    code, out, _ = run("summary", *MODEL, "--freeze", "layer1.*")
    assert code == 0 and f"Frozen: {units.count(layer1_params)} params" in " ".join(out.split())


def test_analyses_and_training_combine() -> None:
    data = summary_json("--training", "--receptive-field")
    assert "training" in data and "receptive_field_convention" in data
    assert {"receptive_field", "grad_input_macs"} <= set(data["layers"][1])
    code, out, _ = run("summary", *MODEL, "--training", "--receptive-field")
    assert code == 0 and table_head(out)[-7:] == ["RF", "Jump", "Start", "In-grad MACs", "W-grad MACs", "Saved",
                                                      "Expected"]


def test_merged_additions_keep_both_in_order() -> None:
    a = Additions([Column("x", str, "X")], None, ["a"], {"a": 1})
    b = Additions([Column("y", str, "Y", machine=False)], str, ["b"], {"b": 2})
    both = merged(a, b)
    assert [c.key for c in both.columns] == ["x", "y"] and [c.key for c in both.csv] == ["x"]
    assert both.shape is str and list(both.lines) == ["a", "b"] and both.data == {"a": 1, "b": 2}


# ---------------------------------------------------------------- diff


def test_diff_with_training_shows_the_training_totals_side_by_side() -> None:
    code, out, err = run("diff", "resnet18", "resnet34", "--input", "64", "--training")
    assert code == 0, err
    for label in ("Backward MACs", "Step MACs", "Saved for backward", "Peak memory", "Gradients", "Optimizer state"):
        assert label in out
    assert "training step: sgd" in out
    code, plain, _ = run("diff", "resnet18", "resnet34", "--input", "64")
    assert code == 0 and "Backward MACs" not in plain and "training" not in plain
    data = json.loads(run("diff", "resnet18", "resnet34", "--input", "64", "--optimizer", "adam", "-f", "json")[1])
    a = step_of(Training(optimizer="adam"))
    b = archscope.trace("resnet34", input_size=64, training=Training(optimizer="adam")).step
    assert b is not None
    totals = data["training"]["totals"]
    assert data["training"]["a"] == data["training"]["b"] == "adam"
    assert totals["backward_macs"] == {"a": a.backward_macs, "b": b.backward_macs,
                                       "ratio": round(b.backward_macs / a.backward_macs, 6)}
    assert totals["step_macs"]["b"] == b.step_macs and totals["saved_bytes"]["a"] == a.saved_bytes
    assert totals["peak_bytes"]["b"] == b.peak[1] and totals["optimizer_bytes"]["a"] == a.optimizer_bytes
    assert "training" not in json.loads(run("diff", "resnet18", "resnet34", "--input", "64", "-f", "json")[1])


# ---------------------------------------------------------------- snapshots


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_old_snapshot_without_training_fields_still_checks(in_tmp: Path) -> None:
    Path("arch").mkdir()
    old = ROOT / "tests" / "arch" / "lenet5@1x32x32.json"
    shutil.copy(old, "arch/")
    assert "training" not in old.read_text() and "grad_input_macs" not in old.read_text()
    result = runner.invoke(app, ["check", "arch/"])
    assert result.exit_code == 0, result.output
    assert "1 unchanged" in result.output
    # and a forward snapshot written now is still that form, byte for byte
    assert run("snapshot", "lenet5", "-o", "new/")[0] == 0
    assert Path("new/lenet5@1x32x32.json").read_text() == old.read_text()


def test_a_training_snapshot_records_the_step_checks_and_fails_on_a_change(in_tmp: Path) -> None:
    code, out, err = run("snapshot", *MODEL, "--optimizer", "adam", "-o", "arch/")
    assert code == 0, err
    path = Path("arch/resnet18@3x64x64.training-adam.json")
    assert out.strip() == f"wrote {path}"
    snap = files.load(path)
    step = step_of(Training(optimizer="adam"))
    assert snap["training"] == {"optimizer": "adam", "amp": None, "freeze": [], "checkpoint": []}
    assert snap["totals"]["backward_macs"] == step.backward_macs and snap["totals"]["peak_bytes"] == step.peak[1]
    assert sum(x["saved_bytes"] for x in snap["layers"]) == step.saved_bytes
    assert runner.invoke(app, ["check", "arch/"]).exit_code == 0
    # a changed backward number is a change, named by layer and field
    text = path.read_text()
    conv1 = next(line for line in text.splitlines() if '"name": "conv1"' in line)
    path.write_text(text.replace(conv1, conv1.replace('"saved_bytes": ', '"saved_bytes": 1')))
    result = runner.invoke(app, ["check", "arch/", "-f", "json"])
    assert result.exit_code == 1
    (changed,) = json.loads(result.stdout)["results"]
    conv1_saved = next(r for r in traced(Training(optimizer="adam")).layers if r.name == "conv1").saved_bytes
    assert changed["changes"] == [{"layer": "conv1", "field": "saved_bytes", "old": int(f"1{conv1_saved}"),
                                   "new": conv1_saved}]


def test_a_training_snapshot_with_a_bad_training_field_is_corrupt(in_tmp: Path) -> None:
    assert run("snapshot", *MODEL, "--training", "-o", "snap.json")[0] == 0
    text = Path("snap.json").read_text()
    Path("snap.json").write_text(text.replace('"optimizer": "sgd"', '"optimizer": "lion"'))
    code, _, err = run("check", "snap.json")
    assert code == 2 and "training.optimizer is 'lion'" in " ".join(err.split())


def test_diff_of_a_training_snapshot_prices_the_same_step_on_the_other_side(in_tmp: Path) -> None:
    assert run("snapshot", *MODEL, "--optimizer", "adam", "-o", "arch/")[0] == 0
    code, out, err = run("diff", "arch/resnet18@3x64x64.training-adam.json", "resnet18", "--input", "64")
    assert code == 0, err
    assert "training step: adam" in out and "Optimizer state" in out
    data = json.loads(run("diff", "arch/resnet18@3x64x64.training-adam.json", "resnet18", "--input", "64",
                          "-f", "json")[1])
    assert all(v["a"] == v["b"] for v in data["training"]["totals"].values())


@pytest.mark.parametrize("option", [("--checkpoint", "layer1"), ("--amp", "bf16")])
def test_checkpoint_and_amp_reach_the_trace(option: tuple[str, str]) -> None:
    data = summary_json(*option)
    request = Training(checkpoint=("layer1",)) if option[0] == "--checkpoint" else Training(amp="bf16")
    step = step_of(request)
    assert data["training"] == json.loads(json.dumps({**data["training"], **asdict(step)}))
    code, out, _ = run("summary", *MODEL, *option)
    flat = " ".join(out.split())
    assert code == 0
    if request.amp:
        assert "autocast to bfloat16 (bf16)" in flat
    else:
        assert step.checkpointed == ["layer1"] and step.recompute_macs > 0
        assert "Checkpointed (recomputed in backward, activations not kept): layer1" in flat
        assert f"recompute {units.short(step.recompute_macs)}" in flat
