"""Receptive fields of any nn.Module, from its traced pass (archscope/analysis/fields.py):
equal to the spec fold on every zoo model, and the recurrence on user code of every kind."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from typer.testing import CliRunner

import archscope
from archscope import zoo
from archscope.analysis.fields import recording_fields
from archscope.analysis.receptive import Axis, Field, by_module
from archscope.cli.main import app
from archscope.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


def square(r: int, j: int, start: float = 0, gated: bool = False) -> Field:
    axis = Axis(r, j, Fraction(start))
    return Field(axis, axis, gated)


GLOBAL = Field(None, None)


def traced(module: nn.Module, size: tuple[int, ...] = (3, 32, 32), train: bool = False):  # noqa: ANN201
    with recording_fields() as rf:
        archscope.trace(module, input_size=list(size), analytic=False, train=train, batch=2 if train else 1)
    return rf


@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_module_gets_the_spec_fold_s_field(name: str) -> None:
    """The zoo's modules are torchvision's; traced as plain modules (no spec), each module
    call's field equals the spec fold's, in eval mode and in training (auxiliary heads)."""
    spec = zoo.get(name).spec()
    for train in (False, True):
        rf = traced(archscope.build(name, device="meta"), spec.input, train)
        want = {k: v for k, v in by_module(spec, train).items() if k}
        assert rf.stopped is None
        assert {k: rf.by_module.get(k) for k in want} == want


class Functional(nn.Module):
    """F.pad, a padless conv and F.max_pool2d: the fields of padding=1 and a module pool."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.conv(F.pad(x, (1, 1, 1, 1))), 2)


def test_functional_padding_and_pooling_follow_the_recurrence() -> None:
    rf = traced(Functional())
    # the padded map starts at pixel -1, so the padless conv's first window is centred at 0
    assert rf.by_module["conv"] == square(3, 1, 0)
    assert rf.by_module[""] == square(4, 2, Fraction(1, 2))
    same = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2))
    assert traced(same).by_module[""] == rf.by_module[""]


class Gated(nn.Module):
    """Squeeze-excitation written by hand, and a dilated, strided conv before it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, dilation=2, padding=2)
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        scale = torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))
        return x * scale


def test_a_global_scale_gates_the_field_and_dilation_widens_it() -> None:
    rf = traced(Gated())
    assert rf.by_module["conv"] == square(5, 2)  # r = 1 + (3-1)·2
    assert rf.by_module["fc"] == GLOBAL
    assert rf.by_module[""] == square(5, 2, gated=True)


class ChannelsLastMLP(nn.Module):
    """ConvNeXt's block: a depthwise conv, then Linear layers over channels in N×H×W×C."""

    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(3, 3, 7, padding=3, groups=3)
        self.norm = nn.LayerNorm(3)
        self.fc = nn.Linear(3, 12)
        self.conv = nn.Conv2d(12, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(self.norm(self.dw(x).permute(0, 2, 3, 1)))
        return self.conv(y.permute(0, 3, 1, 2))


def test_a_linear_over_channels_keeps_positions_and_a_view_back_restores_the_grid() -> None:
    rf = traced(ChannelsLastMLP())
    assert rf.by_module["dw"] == rf.by_module["norm"] == rf.by_module["fc"] == square(7, 1)
    assert rf.by_module["conv"] == square(9, 1)
    assert rf.stopped is None


class TinyViT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 8, stride=8)
        self.encoder = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.head(self.encoder(tokens).mean(1))


def test_attention_over_tokens_sees_the_whole_input() -> None:
    rf = traced(TinyViT())
    assert rf.by_module["patch"] == square(8, 8, 3.5)
    assert rf.by_module["encoder"] == GLOBAL
    assert rf.by_module["head"] == GLOBAL


class Upsampled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.up = nn.Upsample(scale_factor=2.0)
        self.out = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.up(self.down(x))
        pooled = F.interpolate(self.pool(y), size=y.shape[-2:])  # DeepLab's image pooling: still global
        return self.out(y), self.out(torch.cat([y, pooled], 1)[:, :4])


def test_an_operator_without_a_rule_makes_the_field_unknown_and_says_where() -> None:
    rf = traced(Upsampled())
    assert rf.by_module["down"] == square(3, 2)
    assert rf.by_module["up"] is None
    assert rf.calls[("pool", 1)] == GLOBAL  # its input's field is unknown, but it sees all of it anyway
    assert rf.calls[("out", 1)] is None
    assert rf.calls[("out", 2)] == GLOBAL  # joined with a global branch: every position sees everything
    assert rf.stopped == ("aten.upsample_nearest2d", "up")


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2, self.relu = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.relu(self.conv1(x)))[:, :, 1:, 2:])


def test_each_call_of_a_shared_module_has_its_own_field_and_a_slice_moves_the_start() -> None:
    rf = traced(Shared())
    assert rf.calls[("relu", 1)] == square(3, 1, 1)
    assert rf.calls[("relu", 2)] == Field(Axis(5, 1, Fraction(3)), Axis(5, 1, Fraction(4)))


def test_the_api_folds_a_spec_and_traces_a_module_and_refuses_token_ids() -> None:
    assert archscope.receptive_fields("vgg16") == by_module(zoo.get("vgg16").spec())
    fields = archscope.receptive_fields(archscope.build("vgg16", device="meta"), input_size=(3, 224, 224))
    assert rf_text(fields["features.28"]) == (196, 16, Fraction(15, 2))  # docs/analysis.md: 196 at conv5_3
    assert rf_text(fields["features.30"]) == (212, 32, Fraction(31, 2))
    with pytest.raises(UsageError, match="none of its inputs is an image"):
        archscope.receptive_fields(nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 2)), input_size=["7:int64"])


def rf_text(f: Field | None) -> tuple[int, int, Fraction]:
    assert f is not None and f.h is not None and f.h == f.w
    return f.h.r, f.h.j, f.h.start


def test_the_cli_gives_any_module_the_columns_and_says_what_it_cannot_know() -> None:
    runner = CliRunner()
    net = f"{ROOT / 'docs' / 'examples' / 'mynet.py'}:Net"
    done = runner.invoke(app, ["summary", net, "--input", "3x32x32", "--receptive-field", "-f", "json"])
    assert done.exit_code == 0, done.output
    layers = {(r["name"], r["call"]): r for r in json.loads(done.output)["layers"]}
    assert layers[("pool", 1)]["receptive_field"] == {"global": False, "size": [6, 6], "jump": [2, 2],
                                                      "start": [0.5, 0.5], "gated": False}
    assert layers[("head", 1)]["receptive_field"]["global"] is True
    corpus = f"{ROOT / 'tests' / 'user_corpus.py'}:TokenEncoder"
    done = runner.invoke(app, ["summary", corpus, "--input", "16:int64", "--receptive-field"])
    assert done.exit_code == 0, done.output
    assert "Receptive fields: none: no input is an image" in done.output
    unknown = f"{Path(__file__).resolve()}:Upsampled"
    done = runner.invoke(app, ["summary", unknown, "--input", "3x16x16", "--receptive-field"])
    assert "unknown after aten.upsample_nearest2d (in up)" in " ".join(done.output.split())


def test_a_training_step_s_backward_does_not_touch_the_fields() -> None:
    with recording_fields() as rf:
        archscope.trace(Gated(), input_size=[3, 32, 32], analytic=False, training=archscope.Training())
    assert rf.stopped is None and rf.by_module[""] == square(5, 2, gated=True)
