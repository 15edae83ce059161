"""archscope's output rules for the commonest operators on meta (archscope/shape_rules.py)
give exactly what torch's own kernels give, decline everything else, and keep the hook
tracer's path free of sympy.

Three kinds of checks: each rule on the arguments it takes (its output against torch's:
shape, every stride, dtype, the input itself for an in-place operator) and on arguments it
must leave to torch (a layout it does not model, a size torch refuses: torch's error message
is what a user sees); whole traces of zoo models and of the user corpus with every rule
checked against torch's kernel as it runs (tests/shape_rule_check.py); and a fresh process
that traces a model without importing sympy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archscope
from archscope import shape_rules
from tests import user_corpus
from tests.shape_rule_check import checked, layout, same

aten = torch.ops.aten


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _taken() -> list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]]:
    x = meta(2, 8, 9, 9)
    seq = meta(2, 5, 16)
    w = meta(4, 8, 3, 3)
    sliced = meta(1, 3, 32)[:, :1]  # is_contiguous(), but a large stride on its size-1 dimension
    heads = meta(1, 12, 4, 8).transpose(1, 2)  # attention's heads moved: torch reorders by strides
    return [
        ("relu of a slice with an odd size-1 stride", aten.relu.default, (sliced,), {}),
        ("a slice (a class token) plus a number", aten.add.Tensor, (sliced, 1.0), {}),
        ("a permuted tensor times a number", aten.mul.Scalar, (heads, 0.5), {}),
        ("a permuted tensor plus a contiguous one", aten.add.Tensor, (heads, meta(1, 4, 12, 8)), {}),
        ("an expanded tensor plus a channels-last one", aten.add.Tensor,
         (meta(8, 1, 1).expand(2, 8, 9, 9), x.to(memory_format=torch.channels_last)), {}),
        ("a channels-last tensor and a broadcast bias", aten.mul.Tensor,
         (x.to(memory_format=torch.channels_last), meta(8, 1, 1)), {}),
        ("a 5-d tensor, channels last 3d", aten.sigmoid.default,
         (meta(1, 3, 4, 5, 6).to(memory_format=torch.channels_last_3d),), {}),
        ("relu", aten.relu.default, (x,), {}),
        ("gelu tanh", aten.gelu.default, (seq,), {"approximate": "tanh"}),
        ("hardtanh", aten.hardtanh.default, (x, 0.0, 6.0), {}),
        ("relu_ in place", aten.relu_.default, (meta(2, 8, 9, 9),), {}),
        ("normal_ initialising a weight", aten.normal_.default, (meta(100, 16), 0.0, 0.02), {}),
        ("uniform_ initialising a weight", aten.uniform_.default, (meta(4, 8, 3, 3), -0.1, 0.1), {}),
        ("clamp_ of trunc_normal_", aten.clamp_.default, (meta(16), -2.0, 2.0), {}),
        ("fill_ of an int buffer", aten.fill_.Scalar, (meta(3, dtype=torch.int64), 0), {}),
        ("zeros: a batch norm's running mean", aten.zeros.default, ([8],), {"device": torch.device("meta")}),
        ("ones in float16", aten.ones.default, ([2, 3],), {"dtype": torch.float16, "device": "meta"}),
        ("full of an int", aten.full.default, ([2, 2], 7), {"device": "meta"}),
        ("full of a bool", aten.full.default, ([2, 2], True), {"device": "meta"}),
        ("full of a float", aten.full.default, ([2], 0.5), {"device": "meta"}),
        ("new_zeros", aten.new_zeros.default, (meta(2, dtype=torch.int32), [3, 4]), {}),
        ("new_empty of another dtype", aten.new_empty.default, (meta(2), [5]), {"dtype": torch.bool}),
        ("scalar_tensor", aten.scalar_tensor.default, (3,), {"device": "meta"}),
        ("arange of an int", aten.arange.default, (10,), {"device": "meta"}),
        ("arange with a float step", aten.arange.start_step, (0, 1, 0.3), {"device": "meta"}),
        ("arange down", aten.arange.start_step, (10, 0, -3), {"device": "meta"}),
        ("arange of nothing", aten.arange.start, (4, 4), {"device": "meta"}),
        ("arange in float16", aten.arange.start, (0, 7), {"dtype": torch.float16, "device": "meta"}),
        ("silu_ on a channels-last tensor", aten.silu_.default,
         (meta(2, 8, 9, 9).to(memory_format=torch.channels_last),), {}),
        ("add broadcast", aten.add.Tensor, (x, meta(8, 1, 1)), {}),
        ("add alpha", aten.add.Tensor, (x, x), {"alpha": 2}),
        ("mul by a number", aten.mul.Tensor, (x, 0.5), {}),
        ("mul of int ids by a float", aten.mul.Tensor, (meta(2, 5, dtype=torch.int64), 0.5), {}),
        ("add of ints", aten.add.Tensor, (meta(2, 5, dtype=torch.int64), 1), {}),
        ("sub scalar overload", aten.sub.Scalar, (x, 1), {}),
        ("add scalar overload, alpha positional", aten.add.Scalar, (x, 1, 2), {}),
        ("float16 and float32 promote", aten.mul.Tensor, (meta(3, 4, dtype=torch.float16), meta(3, 4)), {}),
        ("div", aten.div.Tensor, (x, meta(2, 8, 1, 1)), {}),
        ("add_ in place, broadcast other", aten.add_.Tensor, (meta(2, 8, 9, 9), meta(9)), {}),
        ("int counter += 1", aten.add_.Tensor, (meta(dtype=torch.int64), 1), {}),
        ("div_ by a number", aten.div_.Scalar, (meta(2, 3), 2.0), {}),
        ("mean over H, W keepdim", aten.mean.dim, (x, [2, 3], True), {}),
        ("mean over the last dim", aten.mean.dim, (seq, [-1]), {}),
        ("softmax", aten._softmax.default, (seq, -1, False), {}),
        ("log_softmax", aten._log_softmax.default, (seq, 1, False), {}),
        ("safe softmax", aten._safe_softmax.default, (seq, -1), {}),
        ("batch norm eval", aten.native_batch_norm.default,
         (x, meta(8), meta(8), meta(8), meta(8), False, 0.1, 1e-5), {}),
        ("batch norm train", aten.native_batch_norm.default,
         (x, meta(8), meta(8), meta(8), meta(8), True, 0.1, 1e-5), {}),
        ("batch norm, no running stats", aten.native_batch_norm.default,
         (x, None, None, None, None, True, 0.1, 1e-5), {}),
        ("layer norm", aten.native_layer_norm.default, (seq, [16], meta(16), meta(16), 1e-5), {}),
        ("layer norm of channels moved last (ConvNeXt)", aten.native_layer_norm.default,
         (meta(1, 16, 7, 7).permute(0, 2, 3, 1), [16], meta(16), meta(16), 1e-6), {}),
        ("softmax over a transposed tensor", aten._softmax.default, (seq.transpose(1, 2), -1, False), {}),
        ("mean of a channels-last tensor", aten.mean.dim, (x.to(memory_format=torch.channels_last), [2, 3], True), {}),
        ("layer norm over two dims, no affine", aten.native_layer_norm.default, (seq, [5, 16], None, None, 1e-5), {}),
        ("mm", aten.mm.default, (meta(3, 4), meta(4, 6)), {}),
        ("addmm with a transposed weight", aten.addmm.default, (meta(6), meta(3, 4), meta(6, 4).t()), {}),
        ("bmm", aten.bmm.default, (meta(2, 3, 4), meta(2, 4, 5)), {}),
        ("embedding", aten.embedding.default, (meta(100, 16), meta(2, 5, dtype=torch.int64)), {}),
        ("_unsafe_view", aten._unsafe_view.default, (seq, [10, 16]), {}),
        ("cat", aten.cat.default, ([x, meta(2, 3, 9, 9)], 1), {}),
        ("conv", aten.convolution.default, (x, w, meta(4), [2, 2], [1, 1], [1, 1], False, [0, 0], 1), {}),
        ("grouped dilated conv", aten.convolution.default,
         (x, meta(8, 2, 3, 3), None, [1, 1], [2, 2], [2, 2], False, [0, 0], 4), {}),
        ("conv1d", aten.convolution.default, (meta(2, 1, 100), meta(4, 1, 5), None, [2], [0], [1], False, [0], 1), {}),
        ("conv3d", aten.convolution.default,
         (meta(1, 3, 4, 8, 8), meta(5, 3, 3, 3, 3), None, [1, 1, 1], [1, 1, 1], [1, 1, 1], False, [0, 0, 0], 1), {}),
        ("transposed conv", aten.convolution.default,
         (x, meta(8, 4, 2, 2), None, [2, 2], [0, 0], [1, 1], True, [1, 1], 1), {}),
        ("conv on a channels-last input", aten.convolution.default,
         (x.to(memory_format=torch.channels_last), w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {}),
        ("max pool", aten.max_pool2d_with_indices.default, (x, [3, 3], [2, 2], [1, 1]), {}),
        ("max pool ceil mode", aten.max_pool2d_with_indices.default, (x, [2, 2], [2, 2], [0, 0], [1, 1], True), {}),
        ("max pool, channels last", aten.max_pool2d_with_indices.default,
         (x.to(memory_format=torch.channels_last), [2, 2]), {}),
        ("avg pool", aten.avg_pool2d.default, (x, [3, 3], [1, 1], [1, 1], False, False), {}),
        ("adaptive avg pool", aten._adaptive_avg_pool2d.default, (x, [1, 1]), {}),
        ("adaptive avg pool of an unbatched input", aten._adaptive_avg_pool2d.default, (meta(8, 9, 9), [3, 3]), {}),
    ]


def _declined() -> list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]]:
    x = meta(2, 8, 9, 9)
    return [
        ("a CPU tensor", aten.relu.default, (torch.zeros(2, 3),), {}),
        ("zeros on the CPU", aten.zeros.default, ([3],), {}),
        ("zeros pinned", aten.zeros.default, ([3],), {"device": "meta", "pin_memory": True}),
        ("arange against its step", aten.arange.start_step, (0, 10, -1), {"device": "meta"}),
        ("arange of step 0", aten.arange.start_step, (0, 10, 0), {"device": "meta"}),
        ("normal_ with a tensor of means", aten.normal_.default, (meta(3), meta(3)), {}),
        ("shapes that do not broadcast", aten.add.Tensor, (meta(2, 3), meta(4)), {}),
        ("in place into a smaller tensor", aten.add_.Tensor, (meta(3), meta(2, 3)), {}),
        ("int in place by a float", aten.add_.Tensor, (meta(3, dtype=torch.int64), 0.5), {}),
        ("fractional alpha on ints", aten.add.Tensor, (meta(3, dtype=torch.int64), meta(3, dtype=torch.int64)),
         {"alpha": 0.5}),
        ("floor division", aten.div.Tensor, (x, x), {"rounding_mode": "floor"}),
        ("true division of ints", aten.div.Tensor, (meta(3, dtype=torch.int64), 2), {}),
        ("bools", aten.add.Tensor, (meta(3, dtype=torch.bool), meta(3, dtype=torch.bool)), {}),
        ("a dim out of range", aten.mean.dim, (x, [4]), {}),
        ("softmax of half to float", aten._softmax.default, (meta(2, 3, dtype=torch.float16), -1, True), {}),
        ("layer norm of a slice with an odd size-1 stride", aten.native_layer_norm.default,
         (meta(1, 3, 32)[:, :1], [32], None, None, 1e-5), {}),
        ("layer norm of the wrong width", aten.native_layer_norm.default, (meta(2, 5, 16), [8], None, None, 1e-5), {}),
        ("layer norm in float16 (its statistics' type)", aten.native_layer_norm.default,
         (meta(2, 16, dtype=torch.float16), [16], None, None, 1e-5), {}),
        ("mm of mismatched sizes", aten.mm.default, (meta(3, 4), meta(5, 6)), {}),
        ("mixed dtypes in a matmul", aten.mm.default, (meta(3, 4), meta(4, 6, dtype=torch.float16)), {}),
        ("cat of mismatched sizes", aten.cat.default, ([meta(2, 3), meta(3, 3)], 1), {}),
        ("cat with a legacy empty tensor", aten.cat.default, ([meta(0), x], 0), {}),
        ("cat of channels-last tensors", aten.cat.default,
         ([x.to(memory_format=torch.channels_last)] * 2, 1), {}),
        ("a kernel larger than the input", aten.convolution.default,
         (meta(1, 8, 2, 2), meta(4, 8, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {}),
        ("channels that do not match", aten.convolution.default,
         (x, meta(4, 3, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), {}),
        ("padding over half the pool", aten.max_pool2d_with_indices.default, (x, [2, 2], [2, 2], [2, 2]), {}),
        ("a pool larger than the input", aten.avg_pool2d.default, (meta(1, 1, 2, 2), [3, 3]), {}),
    ]


@pytest.mark.parametrize("what, op, args, kwargs", _taken(), ids=[c[0] for c in _taken()])
def test_a_rule_gives_torch_s_output(what: str, op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    mine = shape_rules.RULES[op](*args, **kwargs)
    assert mine is not None, f"{what}: the rule declined"
    theirs = op(*args, **kwargs)
    assert layout(mine) == layout(theirs)
    assert same(op, args, mine, theirs), "in place: the input itself comes back"


@pytest.mark.parametrize("what, op, args, kwargs", _declined(), ids=[c[0] for c in _declined()])
def test_a_rule_leaves_to_torch_what_it_does_not_model(what: str, op: Any, args: tuple[Any, ...],
                                                       kwargs: dict[str, Any]) -> None:
    assert shape_rules.RULES[op](*args, **kwargs) is None


def test_inside_another_dispatch_mode_torch_s_kernel_runs() -> None:
    """A user's own mode around the trace (here FlopCounterMode) sees the model's operators,
    not the rules' ``empty``: it counts what it counts on a plain forward."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    with FlopCounterMode(display=False) as plain:
        model.to("meta")(meta(2, 3, 32, 32))
    with FlopCounterMode(display=False) as around:
        trace = archscope.trace(model, input_size=(3, 32, 32), batch=2)
    assert around.get_total_flops() == plain.get_total_flops() == 2 * trace.totals.macs


ZOO = ["lenet5", "alexnet", "vgg11_bn", "googlenet", "inception_v3", "resnet50", "resnext50_32x4d",
       "densenet121", "efficientnet_b0"]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_traces_with_every_rule_checked_against_torch(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eval, train mode and a training step (backward included): every operator a rule
    answers is also run by torch, and the two agree."""
    with checked(monkeypatch) as seen:
        archscope.trace(name, analytic=False, batch=2)
        archscope.trace(name, analytic=False, batch=2, train=True)
        archscope.trace(name, batch=2, training=archscope.Training())
    assert not seen.wrong, seen.wrong[:5]
    assert seen.used["aten.convolution.default"] > 0


@pytest.mark.parametrize("case", user_corpus.CASES, ids=lambda c: c.name)
def test_user_corpus_traces_with_every_rule_checked_against_torch(case: user_corpus.Case,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    batch = {"batch": 2} if "input_size" in case.api else {}  # input_data carries its batch
    with checked(monkeypatch) as seen:
        archscope.trace(case.build(), **case.api, **batch)
        archscope.trace(case.build(), **case.api, **batch, training=archscope.Training())
    assert not seen.wrong, seen.wrong[:5]


def test_a_trace_in_a_fresh_process_imports_no_sympy() -> None:
    """The point of the rules: torch's Python meta kernels import sympy (0.2 s) on their first
    call. ResNet-50 and a token model traced through the Python API, and the command line's
    traced summaries of a zoo model and of an import path (built on meta: its embedding's
    ``normal_``), leave it unimported."""
    code = (
        "import sys, archscope\n"
        "archscope.trace('resnet50', analytic=False)\n"
        "from tests import user_corpus\n"
        "archscope.trace(user_corpus.TokenEncoder(), input_size=(12,), dtypes='int64')\n"
        "from archscope.cli.main import app\n"
        "try:\n"
        "    app(['summary', 'googlenet', '--traced'], standalone_mode=False)\n"
        "finally:\n"
        "    print('sympy' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "False"
