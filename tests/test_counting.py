"""MACs against formulas computed here, torchvision's published GMACs, and fvcore itself."""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archscope
from archscope import zoo
from archscope.builder import resolve
from archscope.errors import UsageError
from archscope.report.footer import notes
from archscope.spec.inputs import FLOAT_DTYPES, single_input
from archscope.tracer.conventions import CONVENTIONS, Convention, addmm_macs, elementwise, register_convention
from archscope.tracer.hooks import trace_module

REFERENCE = json.loads((Path(__file__).resolve().parent.parent / "archscope" / "zoo" /
                        "torchvision_reference.json").read_text())["models"]


def macs(model: nn.Module, shape: tuple[int, ...], batch: int = 1, convention: str = "torchvision",
         device: str = "meta") -> int:
    return trace_module(model.to(device), single_input(shape), batch=batch, convention=convention).totals.macs


# ---------------------------------------------------------------- analytic formulas


@pytest.mark.parametrize("cin,cout,k,s,p,d,g,size", [
    (3, 64, 7, 2, 3, 1, 1, 224), (32, 64, 3, 1, 1, 2, 1, 31), (64, 64, 3, 2, 1, 1, 32, 56),
    (96, 96, 5, 1, 2, 1, 96, 17), (8, 16, 1, 1, 0, 1, 4, 9)])
def test_conv_macs_formula(cin: int, cout: int, k: int, s: int, p: int, d: int, g: int, size: int) -> None:
    conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g)
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    expected = 2 * cout * out * out * (cin // g) * k * k  # batch 2, bias not counted
    assert macs(conv, (cin, size, size), batch=2) == expected


def test_linear_on_2d_and_3d_inputs() -> None:
    assert macs(nn.Linear(100, 30), (100,), batch=4) == 4 * 100 * 30
    assert macs(nn.Linear(100, 30, bias=False), (7, 100), batch=4) == 4 * 7 * 100 * 30


class Functional(nn.Module):
    """Matmul, einsum, F.linear and F.conv2d in forward code: invisible to module hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.empty(16, 8))
        self.k = nn.Parameter(torch.empty(4, 3, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: N×3×10×8
        y = F.conv2d(x, self.k, padding=1)  # N×4×10×8
        y = y @ self.w.t()  # N×4×10×16
        y = torch.einsum("nchw,nchv->nwv", y, y)  # N×16×16
        return F.linear(y, self.w.t())  # N×16×8


def test_functional_ops_in_user_forward_code_are_counted() -> None:
    n = 2
    expected = (n * 4 * 10 * 8 * 3 * 9  # conv
                + n * 4 * 10 * 8 * 16  # matmul
                + n * 16 * 16 * (4 * 10)  # einsum: contract c and h
                + n * 16 * 16 * 8)  # F.linear
    t = trace_module(Functional().to("meta"), single_input((3, 10, 8)), batch=n)
    assert t.totals.macs == expected
    root = t.layers[0]
    assert root.name == "" and root.macs == expected  # charged to the module that ran them


def test_scaled_dot_product_attention_and_multihead_attention() -> None:
    class Sdpa(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # N×H×L×E
            return F.scaled_dot_product_attention(x, x, x)

    n, h, length, e = 2, 4, 10, 8
    assert macs(Sdpa(), (h, length, e), batch=n) == n * h * length * length * (e + e)
    assert macs(Sdpa(), (h, length, e), batch=n, device="cpu") == n * h * length * length * (e + e)

    mha = nn.MultiheadAttention(32, 4, batch_first=True)

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = mha

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    d = 32
    projections = 2 * length * d * 3 * d + 2 * length * d * d  # in_proj (q, k, v) and out_proj
    attention = 2 * 4 * length * length * (d // 4) * 2
    assert macs(SelfAttention(), (length, d), batch=2) == projections + attention


def test_transformer_block_from_functional_ops() -> None:
    class Block(nn.Module):
        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.qkv = nn.Parameter(torch.empty(3 * d, d))
            self.proj = nn.Linear(d, d)
            self.mlp1 = nn.Linear(d, 4 * d)
            self.mlp2 = nn.Linear(4 * d, d)
            self.norm = nn.LayerNorm(d)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, length, d = x.shape
            q, k, v = F.linear(self.norm(x), self.qkv).chunk(3, dim=-1)
            q, k, v = (t.view(n, length, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads)
            y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, d)
            x = x + self.proj(y)
            return x + self.mlp2(F.gelu(self.mlp1(x)))

    n, length, d, heads = 3, 12, 64, 8
    hand = (n * length * d * 3 * d  # qkv
            + n * heads * length * length * (d // heads) * 2  # scores and weighted sum
            + n * length * d * d  # proj
            + 2 * n * length * d * 4 * d)  # mlp
    t = trace_module(Block(d, heads).to("meta"), single_input((length, d)), batch=n)
    assert t.totals.macs == hand
    assert set(t.macs_by_category) == {"linear", "matmul"}


def test_an_operator_without_a_rule_is_listed_not_silently_zero() -> None:
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.fft2(x).real + torch.cumprod(x, 1)

    t = trace_module(Odd(), single_input((3, 4, 4)))
    assert "aten.cumprod" in t.not_counted
    assert any(op.startswith("aten._fft") for op in t.not_counted)


# ---------------------------------------------------------------- batch, tied weights, repeats


@pytest.mark.parametrize("name", ["resnet18", "vgg11_bn", "lenet5"])
def test_batch_scaling_is_exact(name: str) -> None:
    target = resolve(name)
    one = trace_module(target.module("meta"), single_input(target.spec.input), batch=1).totals.macs  # type: ignore[union-attr]
    eight = trace_module(target.module("meta"), single_input(target.spec.input), batch=8).totals.macs  # type: ignore[union-attr]
    assert eight == 8 * one


def test_modules_called_twice_cost_twice_and_tied_weights_count_once() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(20, 20)
            self.dec = nn.Linear(20, 20)
            self.dec.weight = self.enc.weight  # tied

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dec(self.enc(self.enc(x)))

    t = trace_module(Twice(), single_input((20,)), batch=5)
    assert t.totals.macs == 3 * 5 * 20 * 20
    assert t.totals.params == 20 * 20 + 20 + 20  # one weight, two biases
    calls = [(r.name, r.call, r.params, r.macs) for r in t.layers if r.depth == 1]
    assert calls == [("enc", 1, 420, 2000), ("enc", 2, 0, 2000), ("dec", 1, 20, 2000)]
    assert any("tied" in n for n in notes(t)) and any("more than once" in n for n in notes(t))


def test_per_layer_macs_sum_to_the_total_and_nest() -> None:
    t = archscope.trace("resnet50")
    assert sum(r.macs for r in t.layers) == t.totals.macs
    layer1 = next(r for r in t.layers if r.name == "layer1")
    assert layer1.macs_total == sum(r.macs_total for r in t.layers if r.name.startswith("layer1.") and r.depth == 2)


# ---------------------------------------------------------------- published numbers and fvcore


@pytest.mark.parametrize("name", [n for n in zoo.names() if n in REFERENCE])
def test_zoo_macs_reproduce_torchvisions_published_gmacs(name: str) -> None:
    t = archscope.trace(name)  # reference input, batch 1, eval mode, meta device
    assert round(t.totals.macs / 1e9, 3) == REFERENCE[name]["gmacs"]
    assert t.not_counted == {}


@pytest.mark.parametrize("name,size", [("resnet18", 64), ("vgg11_bn", 64), ("alexnet", 96), ("lenet5", 32),
                                       ("resnext50_32x4d", 64), ("wide_resnet50_2", 48), ("googlenet", 64),
                                       ("inception_v3", 80), ("densenet121", 64), ("efficientnet_b0", 64),
                                       ("efficientnet_v2_s", 64)])
def test_fvcore_convention_reproduces_fvcore(name: str, size: int) -> None:
    fvcore = pytest.importorskip("fvcore.nn")
    target = resolve(name)
    channels = target.spec.input[0]  # type: ignore[union-attr]
    model = target.module("cpu").eval()
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore.FlopCountAnalysis(model, torch.zeros(1, channels, size, size))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        expected = analysis.total()
    logging.disable(logging.NOTSET)
    assert macs(target.module("meta"), (channels, size, size), convention="fvcore") == expected


def test_train_mode_counts_what_runs_in_training() -> None:
    spec_path = Path(__file__).resolve().parent.parent / "docs" / "examples" / "tiny.yaml"
    eval_t = archscope.trace(str(spec_path), device="cpu")
    train_t = archscope.trace(str(spec_path), device="cpu", train=True)
    aux_fc = 128 * 10  # the aux head's linear layer runs only in training
    assert train_t.totals.macs - eval_t.totals.macs == aux_fc
    assert train_t.mode == "train" and [n for n, _ in eval_t.not_run] == ["aux"]


# ---------------------------------------------------------------- classes by isinstance, conventions by registry


class MyLinear(nn.Linear):
    """A user's subclass: still a linear layer."""


class MyPool(nn.AdaptiveAvgPool2d):
    """A user's subclass: still an adaptive average pool."""


def test_a_subclass_of_linear_is_counted_as_linear() -> None:
    base = archscope.trace(nn.Sequential(nn.Linear(20, 30)), input_size=(20,))
    sub = archscope.trace(nn.Sequential(MyLinear(20, 30)), input_size=(20,))
    assert base.macs_by_category == {"linear": 20 * 30}
    assert sub.macs_by_category == base.macs_by_category and sub.totals.macs == base.totals.macs


def test_a_subclass_of_adaptive_avg_pool_is_priced_as_the_pool_under_fvcore() -> None:
    base = archscope.trace(nn.AdaptiveAvgPool2d(1), input_size=(1, 16, 16), convention="fvcore")
    sub = archscope.trace(MyPool(1), input_size=(1, 16, 16), convention="fvcore")
    assert base.totals.macs == 16 * 16  # fvcore: 1 per input element
    assert sub.totals.macs == base.totals.macs and sub.macs_by_category == base.macs_by_category == {"pool": 256}


def test_a_packed_sequence_and_a_subclass_of_it_cost_what_the_tensor_costs() -> None:
    from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

    class MyPacked(PackedSequence):
        pass

    class Packed(nn.Module):
        def __init__(self, wrap: type[PackedSequence] | None) -> None:
            super().__init__()
            self.wrap = wrap
            self.lstm = nn.LSTM(8, 16, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: N×T×8, every sequence of length T
            if self.wrap is None:
                return self.lstm(x)[0]
            packed = pack_padded_sequence(x, [x.shape[1]] * x.shape[0], batch_first=True)
            return self.lstm(self.wrap(*packed))[0].data

    n = 3
    plain = trace_module(Packed(None), single_input((5, 8)), batch=n).totals.macs
    assert plain == n * 5 * 4 * (8 * 16 + 16 * 16)  # per step and sample: 4 gates × (in × H + H × H)
    assert trace_module(Packed(PackedSequence), single_input((5, 8)), batch=n).totals.macs == plain
    assert trace_module(Packed(MyPacked), single_input((5, 8)), batch=n).totals.macs == plain


@pytest.fixture
def doubled() -> Iterator[Convention]:
    """A convention of its own, registered for one test and removed after it."""
    rules = register_convention(Convention(
        name="test-counting-doubled", description="addmm twice, 3 per activation output, nothing else",
        handles={"addmm": lambda args, kwargs, out: 2 * addmm_macs(args, kwargs, out)},
        by_category={"activation": elementwise(3)}))
    try:
        yield rules
    finally:
        CONVENTIONS.pop(rules.name, None)


def test_a_registered_convention_is_accepted_and_prices_by_its_handles(doubled: Convention) -> None:
    model = nn.Sequential(nn.Linear(20, 30), nn.ReLU())
    t = archscope.trace(model, input_size=(20,), batch=2, convention=doubled.name)
    assert t.convention == doubled.name and t.convention_text == doubled.description
    assert t.macs_by_category == {"linear": 2 * (2 * 20 * 30), "activation": 3 * 2 * 30}
    assert doubled.name in archscope.api.CONVENTIONS
    with pytest.raises(UsageError, match=f"use one of torchvision, fvcore, full, {doubled.name}"):
        archscope.trace(model, input_size=(20,), convention="no-such-convention")


def test_the_command_lines_choices_are_the_registries_keys() -> None:
    from typer.testing import CliRunner

    from archscope.cli import check, diff, sizes, summary
    from archscope.cli.main import app
    from archscope.report import FORMATS
    from archscope.report.analysis import SIZES_FORMATS
    from archscope.report.diff import FORMATS as DIFF_FORMATS
    from archscope.snapshot.report import CHECK_FORMATS

    assert [m.value for m in summary.Convention] == list(CONVENTIONS) == ["torchvision", "fvcore", "full"]
    assert [m.value for m in summary.Dtype] == list(FLOAT_DTYPES)
    assert [m.value for m in summary.Format] == list(FORMATS)
    from archscope.report import renderer, table

    assert renderer("table") is table.render_table and all(callable(renderer(name)) for name in FORMATS)
    assert [m.value for m in diff.DiffFormat] == list(DIFF_FORMATS)
    assert [m.value for m in check.CheckFormat] == list(CHECK_FORMATS)
    assert [m.value for m in sizes.SizesFormat] == list(SIZES_FORMATS) == ["text", "json"]

    def shown(command: str, option: str) -> list[str]:  # the choices --help shows for the option
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"}).stdout
        found = re.search(rf"{option}\s+(?:-\w\s+)?<([^>]+)>", out)
        assert found, out
        return found.group(1).split("|")

    assert shown("summary", "--convention") == list(CONVENTIONS)
    assert shown("summary", "--dtype") == list(FLOAT_DTYPES)
    assert shown("summary", "--format") == list(FORMATS)
    assert shown("diff", "--format") == list(DIFF_FORMATS)
    assert shown("check", "--format") == list(CHECK_FORMATS)
    assert shown("sizes", "--format") == list(SIZES_FORMATS)


def test_the_conventions_table_imports_no_torch() -> None:
    probe = ("import sys; import archscope.tracer.conventions, archscope.tracer.analytic, archscope.api; "
             "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", probe], check=True)
