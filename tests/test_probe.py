"""Valid input sizes of any nn.Module, found by tracing it on the meta device
(archscope/analysis/probe.py): equal to the spec's reasoning on zoo modules traced as plain
modules, and the three rules (every size up, an interval, multiples) on user code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from typer.testing import CliRunner

import archscope
from archscope import zoo
from archscope.analysis.probe import probe_sizes
from archscope.analysis.sizes import analyse_sizes
from archscope.builder.load import Target
from archscope.cli.main import app
from archscope.errors import ShapeError, UsageError

ROOT = Path(__file__).resolve().parent.parent
MYNET = f"{ROOT / 'docs' / 'examples' / 'mynet.py'}:Net"
UNET = f"{ROOT / 'docs' / 'examples' / 'unet.py'}:UNet"


def target(module: nn.Module, name: str = "m") -> Target:
    return Target(name, "import", name, instance=module)


# four here; torchvision's own 36 zoo models in tests/test_analysis_real.py (CI's acceptance venv), and
# densenet264, which torchvision lacks, here (lenet5: test_lenet_s_fixed_classifier_gives_an_interval)
@pytest.mark.parametrize("name", ["alexnet", "vgg11", "googlenet", "inception_v3", "densenet264"])
def test_a_zoo_module_probed_without_its_spec_gets_the_spec_s_answer(name: str) -> None:
    """The zoo's modules, traced at the sizes the search picks: the smallest input and
    the layer that breaks one below are those the spec path reasons out."""
    spec = zoo.get(name).spec()
    probed, reasoned = probe_sizes(target(archscope.build(name, device="meta"), name), list(spec.input)), \
        analyse_sizes(spec)
    assert (spec.input[0], probed.least, probed.least) == reasoned.least
    assert probed.rule.kind == "from" and reasoned.unbounded
    for bound, want in zip(probed.bounds, (reasoned.h, reasoned.w), strict=True):
        assert bound.least == want.least and bound.below is not None and not bound.below.ok
        assert bound.below.layer is not None and bound.below.layer[0] == want.module
    with pytest.raises(ShapeError, match=f"at layer {want.module} "):
        archscope.trace(name, input_size=(spec.input[0], probed.least - 1, probed.least - 1), analytic=False)


def test_lenet_s_fixed_classifier_gives_an_interval() -> None:
    reasoned = analyse_sizes(zoo.get("lenet5").spec())
    probed = probe_sizes(target(archscope.build("lenet5", device="meta"), "lenet5"), [1, 32, 32])
    assert probed.rule.kind == "interval" and (probed.least, probed.rule.hi) == reasoned.square == (32, 35)
    assert probed.bounds[0].below is not None and probed.bounds[0].below.layer == ("fc1", "Linear")
    squares = [(p.size[0], p.ok) for p in probed.examples if p.size[0] == p.size[1]]
    assert squares[:4] == [(31, False), (32, True), (33, True), (35, True)]
    assert probed.check(36, 36).layer == ("fc1", "Linear")


def test_a_unet_takes_multiples_of_its_stride() -> None:
    from archscope.builder.load import load_object

    unet = load_object(UNET)()
    probed = archscope.sizes(unet, [3, 64, 64])  # the Python API, on the user's instance
    assert (probed.rule.kind, probed.rule.period, probed.rule.residue, probed.least) == ("multiple", 4, 0, 4)
    squares = {(p.size[0], p.ok) for p in probed.examples if p.size[0] == p.size[1]}
    assert squares >= {(3, False), (4, True), (5, False), (8, True)}
    for s in (4, 8, 12, 100):  # the rule, checked by tracing directly
        archscope.trace(unet, input_size=[3, s, s], analytic=False)
    for s in (6, 10, 99):
        with pytest.raises(ShapeError):
            archscope.trace(unet, input_size=[3, s, s], analytic=False)


def test_the_python_api_reasons_over_a_spec_and_refuses_an_input_size_there() -> None:
    assert archscope.sizes("alexnet").least == (3, 63, 63)  # a SizeReport, from the spec without torch
    with pytest.raises(UsageError, match="alexnet has its sizes from its spec"):
        archscope.sizes("alexnet", 224)


class PositionLM(nn.Module):
    """Token ids plus a learned position table of 64 rows: lengths 1 to 64."""

    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(100, 16)
        self.pos = nn.Parameter(torch.zeros(64, 16))
        self.head = nn.Linear(16, 100)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.tok(ids) + self.pos[: ids.shape[-1]])


def test_a_sequence_model_s_lengths_end_at_its_position_table() -> None:
    probed = archscope.sizes(PositionLM(), ["32:int64"])
    assert probed.axes == ("L",) and probed.dtype == "int64"
    assert (probed.least, probed.rule.kind, probed.rule.hi) == (1, "interval", 64)
    assert probed.check(64).ok and not probed.check(65).ok and probed.check(65).layer is None
    archscope.trace(PositionLM(), input_size=["64:int64"], analytic=False)
    with pytest.raises(ShapeError):
        archscope.trace(PositionLM(), input_size=["65:int64"], analytic=False)


def test_a_waveform_model_s_smallest_length_is_its_convolutions_reach() -> None:
    """wav2vec's stem, in short: a 400-sample window every 320, then a 3-wide convolution,
    which needs 3 frames, 400 + 2·320 = 1040 samples."""
    stem = nn.Sequential(nn.Conv1d(1, 8, 400, stride=320), nn.ReLU(), nn.Conv1d(8, 8, 3, stride=2))
    probed = archscope.sizes(stem, ["1x16000"])
    assert probed.axes == ("L",) and probed.positions == (1,)  # C×L: the first layer is a 1-D convolution
    assert (probed.least, probed.rule.kind) == (1040, "from")
    assert probed.bounds[0].below is not None and probed.bounds[0].below.layer == ("2", "Conv1d")


def test_a_model_fed_nothing_with_a_size_axis_is_refused_with_what_it_is_fed() -> None:
    lm = nn.Sequential(nn.Embedding(100, 16), nn.Linear(16, 100))
    with pytest.raises(UsageError, match=r"is fed input 16×4 int64, which has no axis it knows to vary"):
        probe_sizes(target(lm), ["16x4:int64"])


class _Masked(nn.Module):
    """An image and a mask of its shape, and a vector beside them (as a detector's or a
    masked model's forward takes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 5, stride=2)
        self.fc = nn.Linear(4 + 6, 2)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([self.conv(image * mask).mean((2, 3)), extra], 1))


def test_inputs_of_one_shape_are_varied_together_and_the_others_kept() -> None:
    """The image and its mask vary together (a 5-wide window: 5 pixels); the vector of 6
    stays as given (varied, the linear layer would refuse it)."""
    probed = probe_sizes(target(_Masked()), ["image=3x32x32", "mask=3x32x32", "extra=6"])
    assert probed.varied == ("image", "mask") and probed.axes == ("H", "W")
    assert (probed.least, probed.rule.kind) == (5, "from")
    assert probed.bounds[0].below is not None and probed.bounds[0].below.layer == ("conv", "Conv2d")
    result = CliRunner().invoke(app, ["sizes", f"{ROOT / 'tests' / 'test_probe.py'}:_Masked", "--input",
                                      "image=3x32x32", "--input", "mask=3x32x32", "--input", "extra=6"])
    assert result.exit_code == 0, result.output
    assert "varied together: image, mask (inputs of one shape)" in result.output


def test_a_model_that_fails_at_its_reference_says_so() -> None:
    with pytest.raises(ShapeError, match=r"does not run at its reference input 3×8×8 \(it breaks at 2 \(Linear\): "):
        probe_sizes(target(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2))), [3, 8, 8])


def test_sizes_command_on_an_import_path_text_json_and_a_chosen_reference(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sizes", MYNET, "--input", "3x64x64"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Net: smallest input 3×2×2 (reference 3×64×64); found by tracing")
    assert "H ≥ 2 (W = 64): at 1 it breaks at pool (MaxPool2d)" in result.output
    assert "Takes: every input from 3×2×2 up" in result.output
    out = tmp_path / "s.json"
    result = CliRunner().invoke(app, ["sizes", MYNET, "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["schema"] == "archscope.sizes/1" and data["derived"] == "traced"
    assert data["reference"] == [3, 224, 224] and data["reference_chosen"] is True  # mynet states no size
    assert data["axes"] == ["H", "W"]
    assert data["least_input"] == [3, 2, 2] and data["h"]["layer"] == "pool" and data["all_larger_work"] is True
    assert [e["ok"] for e in data["examples"]][:2] == [False, True]


@pytest.mark.parametrize("args,code,message", [
    (["lenet5", "--input", "32"], 2, "lenet5 has its sizes from its spec"),
    ([MYNET, "--input", "x=3x8x8", "--input", "y=3x8x8"], 1, "got an unexpected keyword argument 'y'"),
    ([MYNET, "--input", "3x1x1"], 1, "does not run at its reference input 3×1×1"),
])
def test_sizes_command_refuses_what_it_cannot_answer(args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["sizes", *args])
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())


class FixedHead(nn.Module):
    """A classifier built for at most 64×64 positions (a pad fills smaller ones, a check in
    forward refuses larger): sides 1 to 128, an interval longer than the window, so the
    search finds its end by bisection above."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, stride=2, padding=1)
        self.head = nn.Linear(2 * 64 * 64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.shape[-1] > 64 or y.shape[-2] > 64:
            raise ValueError(f"at most 64 positions a side, got {tuple(y.shape[-2:])}")
        return self.head(F.pad(y, (0, 64 - y.shape[-1], 0, 64 - y.shape[-2])).flatten(1))


def test_an_interval_longer_than_the_window_gets_its_end_by_bisection() -> None:
    probed = archscope.sizes(FixedHead(), [3, 100, 100])
    assert (probed.least, probed.rule.kind, probed.rule.hi) == (1, "interval", 128)  # ⌈128/2⌉ = 64, ⌈129/2⌉ = 65
    assert probed.check(128, 128).ok and not probed.check(129, 129).ok
    assert probed.check(129, 129).layer is None  # the model's own forward code raised
