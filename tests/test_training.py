"""A training step's cost (``trace(..., training=Training(...))``), against what torch measures.

References, each on the same model and input:

- backward MACs: ``torch.utils.flop_counter.FlopCounterMode`` over forward + backward
  (FLOPs // 2), and closed formulas on single layers;
- saved activations: ``torch.autograd.graph.saved_tensors_hooks`` on a real CPU run,
  each storage once, parameters and buffers left out;
- the peak: PyTorch's memory tracker (``torch.distributed._tools.mem_tracker.MemTracker``)
  over a real CPU training step, the second one (the first makes the optimizer's state),
  optimizers with ``foreach=True`` as on GPUs; within :data:`PEAK_TOLERANCE`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

import archscope
from archscope import Training
from archscope.errors import ShapeError, UsageError
from archscope.tracer.training import OPTIMIZERS

PEAK_TOLERANCE = 0.05  # the estimate is within 5% of the measured peak (docs/training.md)


# ---------------------------------------------------------------- models


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Dropout(0.1), nn.Linear(256, 256), nn.LayerNorm(256),
                         nn.ReLU(), nn.Linear(256, 10))


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10))


class Encoder(nn.Module):
    """Attention, layer norm, a residual: torch's own transformer layer and a head."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(1))


class Attention(nn.Module):
    """Fused attention called directly, and a matmul the model writes itself."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)
        self.out = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(x.shape[0], x.shape[1], 3, 4, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(x.shape)
        return self.out(y) @ self.out.weight


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


class UnusedHead(nn.Module):
    """A head that this forward pass does not call: no gradient, so no optimizer state."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()
        self.aux = nn.Linear(256, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def resnet18() -> nn.Module:
    return archscope.build("resnet18")


# ---------------------------------------------------------------- references


def reference_macs(make: Callable[[], nn.Module], shape: tuple[int, ...], batch: int,
                   frozen: tuple[str, ...] = ()) -> int:
    """FlopCounterMode's forward + backward FLOPs // 2 on meta, in train mode."""
    model = make().to("meta").train()
    for name, p in model.named_parameters():
        p.requires_grad_(not name.startswith(frozen) if frozen else True)
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(batch, *shape, device="meta")).sum().backward()
    return counter.get_total_flops() // 2


class _NoHook:
    def remove(self) -> None:
        pass


def measured_step(make: Callable[[], nn.Module], shape: tuple[int, ...], batch: int, optimizer: str = "sgd",
                  frozen: tuple[str, ...] = (), amp: bool = False, checkpointed: tuple[str, ...] = (),
                  monkeypatch: Any = None) -> tuple[int, int]:
    """(saved bytes, peak bytes) of a real CPU training step."""
    from torch.distributed._tools.mem_tracker import MemTracker

    torch.manual_seed(0)
    model = make().train()
    for name, p in model.named_parameters():
        if frozen and name.startswith(frozen):
            p.requires_grad_(False)
    for name in checkpointed:
        module = model.get_submodule(name)
        module.forward = (lambda f: lambda *a: checkpoint(f, *a, use_reentrant=False))(module.forward)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = {"sgd": lambda: torch.optim.SGD(params, lr=0.1),
           "sgd-momentum": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9, foreach=True),
           "adam": lambda: torch.optim.Adam(params, foreach=True),
           "adamw": lambda: torch.optim.AdamW(params, foreach=True)}[optimizer]()
    if monkeypatch is not None:  # the memory tracker hooks every parameter, frozen ones too (it cannot)
        for hook in ("register_hook", "register_post_accumulate_grad_hook"):
            real = getattr(torch.Tensor, hook)
            monkeypatch.setattr(torch.Tensor, hook, lambda self, fn, real=real: real(self, fn) if self.requires_grad
                                else _NoHook())
    held = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in held:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.randn(batch, *shape)
    for _ in range(2):
        saved.clear()
        tracker = MemTracker()
        tracker.track_external(model, opt)
        with tracker:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
                    torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                out = model(x)
            out.sum().backward()
            opt.step()
            opt.zero_grad()
            del out
    peak = max(v["Total"] for v in tracker.get_tracker_snapshot("peak").values())
    return sum(saved.values()), peak


def step_of(make: Callable[[], nn.Module], shape: tuple[int, ...], batch: int, **training: Any) -> Any:
    torch.manual_seed(0)
    return archscope.trace(make(), [shape], batch=batch, training=Training(**training))


# ---------------------------------------------------------------- backward MACs


@pytest.mark.parametrize(("make", "shape", "batch"), [
    (mlp, (64,), 8), (cnn, (3, 16, 16), 4), (Encoder, (10, 64), 4), (Attention, (12, 32), 3),
    (Recurrent, (7, 16), 5), (resnet18, (3, 64, 64), 2),
], ids=["linear", "conv", "transformer", "attention+matmul", "lstm", "zoo-resnet18"])
def test_step_macs_equal_flop_counter_forward_and_backward(make: Callable[[], nn.Module], shape: tuple[int, ...],
                                                           batch: int) -> None:
    t = step_of(make, shape, batch)
    assert t.step.step_macs == reference_macs(make, shape, batch)
    assert t.step.forward_macs == t.totals.macs
    assert sum(r.grad_input_macs for r in t.layers) == t.step.grad_input_macs
    assert sum(r.grad_weight_macs for r in t.layers) == t.step.grad_weight_macs
    root = t.layers[0]
    assert (root.grad_input_macs_total, root.grad_weight_macs_total) == (t.step.grad_input_macs,
                                                                        t.step.grad_weight_macs)


def test_frozen_backbone_macs_equal_flop_counter() -> None:
    frozen = ("conv1", "bn1", "layer1", "layer2")
    t = step_of(resnet18, (3, 64, 64), 2, freeze=[f + "*" for f in frozen])
    assert t.step.step_macs == reference_macs(resnet18, (3, 64, 64), 2, frozen)
    assert t.step.frozen == sum(p.numel() for n, p in resnet18().named_parameters() if n.startswith(frozen))
    for rec in t.layers:  # no weight gradient, and (nothing before needs one) no input gradient
        if rec.name.startswith(frozen):
            assert rec.grad_weight_macs == rec.grad_input_macs == 0, rec.name


def test_a_linear_layers_backward_is_twice_its_forward_and_once_when_first() -> None:
    n, a, b, c = 6, 20, 30, 40
    t = archscope.trace(nn.Sequential(nn.Linear(a, b), nn.Linear(b, c)), [(a,)], batch=n, training=Training())
    first, second = t.layers[1], t.layers[2]
    assert first.macs == n * a * b and second.macs == n * b * c
    assert (first.grad_input_macs, first.grad_weight_macs) == (0, n * a * b)  # its input needs no gradient
    assert (second.grad_input_macs, second.grad_weight_macs) == (n * b * c, n * b * c)
    assert t.step.backward_macs == 2 * n * b * c + n * a * b


def test_a_frozen_layer_still_passes_the_gradient_on() -> None:
    n, a, b, c = 4, 8, 16, 12
    t = archscope.trace(nn.Sequential(nn.Linear(a, b), nn.Linear(b, c)), [(a,)], batch=n,
                        training=Training(freeze=["1"]))
    first, second = t.layers[1], t.layers[2]
    assert (second.grad_input_macs, second.grad_weight_macs) == (n * b * c, 0)
    assert (first.grad_input_macs, first.grad_weight_macs) == (0, n * a * b)
    assert t.step.frozen == b * c + c


def test_a_convolutions_gradients_each_cost_its_forward() -> None:
    n, cin, cout, k, h = 2, 3, 8, 3, 10
    t = archscope.trace(nn.Sequential(nn.Conv2d(cin, cout, k), nn.Conv2d(cout, cout, k)), [(cin, h, h)], batch=n,
                        training=Training())
    first, second = t.layers[1], t.layers[2]
    assert first.macs == n * cout * cin * k * k * (h - 2) ** 2
    assert (first.grad_input_macs, first.grad_weight_macs) == (0, first.macs)
    assert (second.grad_input_macs, second.grad_weight_macs) == (second.macs, second.macs)


@pytest.mark.parametrize("groups", [2, 8])
def test_a_grouped_convolutions_weight_gradient_costs_its_forward(groups: int) -> None:
    # FlopCounterMode (torch 2.13) counts a grouped convolution's weight gradient ``groups``
    # times over; fixed upstream in pytorch/pytorch#183405. The forward's MACs are the reference.
    n, c, h = 2, 8, 6
    t = archscope.trace(nn.Sequential(nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 3, groups=groups)), [(c, h, h)],
                        batch=n, training=Training())
    grouped = t.layers[2]
    assert grouped.macs == n * c * (c // groups) * 9 * (h - 2) ** 2
    assert (grouped.grad_input_macs, grouped.grad_weight_macs) == (grouped.macs, grouped.macs)


def test_checkpointed_modules_recompute_their_forward() -> None:
    plain = step_of(resnet18, (3, 64, 64), 2)
    blocks = ("layer1", "layer2", "layer3", "layer4")
    t = step_of(resnet18, (3, 64, 64), 2, checkpoint=list(blocks))
    assert t.step.checkpointed == list(blocks)
    in_blocks = sum(r.macs_total for r in t.layers if r.name in blocks)
    assert t.step.recompute_macs == in_blocks
    assert t.step.backward_macs == plain.step.backward_macs + in_blocks
    assert t.step.saved_bytes < plain.step.saved_bytes / 2


# ---------------------------------------------------------------- memory


CASES = {  # name: (model, per-sample shape, batch, Training keywords, measured_step keywords)
    "mlp": (mlp, (64,), 32, {}, {}),
    "mlp-adamw": (mlp, (64,), 32, {"optimizer": "adamw"}, {"optimizer": "adamw"}),
    "cnn-momentum": (cnn, (3, 32, 32), 8, {"optimizer": "sgd-momentum"}, {"optimizer": "sgd-momentum"}),
    "resnet18": (resnet18, (3, 64, 64), 4, {}, {}),
    "resnet18-frozen-backbone": (resnet18, (3, 64, 64), 4, {"freeze": ["conv1", "bn1", "layer1", "layer2"]},
                                 {"frozen": ("conv1", "bn1", "layer1", "layer2")}),
    "resnet18-bf16": (resnet18, (3, 64, 64), 4, {"amp": "bf16"}, {"amp": True}),
    "resnet18-checkpointed": (resnet18, (3, 64, 64), 4, {"checkpoint": ["layer1", "layer2", "layer3", "layer4"]},
                              {"checkpointed": ("layer1", "layer2", "layer3", "layer4")}),
    "transformer-adam": (Encoder, (10, 64), 8, {"optimizer": "adam"}, {"optimizer": "adam"}),
    "unused-head-adam": (UnusedHead, (64,), 16, {"optimizer": "adam"}, {"optimizer": "adam"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_saved_bytes_and_peak_against_a_real_cpu_step(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make, shape, batch, ours, theirs = CASES[case]
    t = step_of(make, shape, batch, **ours)
    saved, peak = measured_step(make, shape, batch, monkeypatch=monkeypatch, **theirs)
    assert t.step.saved_bytes == saved
    assert abs(t.step.peak[1] - peak) <= PEAK_TOLERANCE * peak, (t.step.peaks, peak)
    assert sum(r.saved_bytes for r in t.layers) == t.step.saved_bytes


def test_optimizer_state_is_what_each_optimizer_keeps() -> None:
    trainable = sum(p.numel() for p in mlp().parameters()) * 4
    for name, rules in OPTIMIZERS.items():
        s = step_of(mlp, (64,), 4, optimizer=name).step
        assert s.grad_bytes == trainable
        assert s.optimizer_bytes == rules.state * trainable
        assert s.step_temporary_bytes == rules.temporaries * trainable
    assert step_of(mlp, (64,), 4, optimizer="adam").step.peak[0] == "optimizer step"


def test_parameters_the_forward_does_not_use_get_no_gradient_and_no_state() -> None:
    s = step_of(UnusedHead, (64,), 4, optimizer="adam").step
    used = sum(p.numel() for p in mlp().parameters()) * 4
    assert s.grad_bytes == used and s.optimizer_bytes == 2 * used
    assert s.weight_bytes == used + (256 * 1000 + 1000) * 4


def test_activation_and_compute_terms_are_linear_in_batch() -> None:
    one, two, four = (step_of(cnn, (3, 16, 16), n).step for n in (1, 2, 4))
    for field in ("forward_macs", "grad_input_macs", "grad_weight_macs"):
        assert getattr(four, field) == 4 * getattr(one, field), field
    # saved: linear, plus batch norm's per-channel mean and inverse std (2 × 16 float32)
    assert four.saved_bytes - two.saved_bytes == 2 * (two.saved_bytes - one.saved_bytes)
    assert one.saved_bytes - (two.saved_bytes - one.saved_bytes) == 2 * 16 * 4
    for field in ("weight_bytes", "grad_bytes", "optimizer_bytes"):
        assert getattr(four, field) == getattr(one, field), field


def test_amp_keeps_float32_weights_and_state_and_halves_activations() -> None:
    full, half = step_of(cnn, (3, 32, 32), 8, optimizer="adam"), step_of(cnn, (3, 32, 32), 8, optimizer="adam",
                                                                         amp="bf16")
    assert half.step.weight_bytes == full.step.weight_bytes
    assert half.step.optimizer_bytes == full.step.optimizer_bytes
    assert half.step.grad_bytes == full.step.grad_bytes
    assert half.step.saved_bytes < 0.75 * full.step.saved_bytes
    # the weight gradients made in bf16 and cast back to float32 are still weight gradients
    assert (half.step.grad_input_macs, half.step.grad_weight_macs) == (full.step.grad_input_macs,
                                                                       full.step.grad_weight_macs)


def test_amp_and_checkpointing_together_recompute_under_autocast() -> None:
    both = step_of(resnet18, (3, 64, 64), 2, amp="bf16", checkpoint=["layer1"])
    plain = step_of(resnet18, (3, 64, 64), 2)
    assert both.step.recompute_macs == next(r.macs_total for r in both.layers if r.name == "layer1")
    assert both.step.grad_weight_macs == plain.step.grad_weight_macs


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"optimizer": "lamb"}, "unknown optimizer 'lamb': use one of none, sgd"),
    ({"amp": "fp8"}, "unknown --amp mode 'fp8'"),
    ({"freeze": [3]}, "freeze takes name patterns"),
])
def test_unknown_choices_are_usage_errors(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        Training(**kwargs)


def test_patterns_that_match_nothing_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"--freeze pattern 'backbone\.\*' matches no name in the model \(0\.weight"):
        step_of(mlp, (64,), 2, freeze=["backbone.*"])
    with pytest.raises(UsageError, match="--checkpoint pattern 'blocks' matches no name"):
        step_of(mlp, (64,), 2, checkpoint=["blocks"])


def test_nothing_to_train_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="nothing to train: the model has no trainable parameters"):
        archscope.trace(nn.ReLU(), [(4,)], training=Training())
    with pytest.raises(UsageError, match=r"--freeze matched all 2,570"):
        step_of(lambda: nn.Sequential(nn.Linear(256, 10)), (256,), 2, freeze=["*"])


def test_a_backward_that_breaks_names_the_layer() -> None:
    class NoBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            return x.clone()

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("this layer has no backward")

    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return NoBackward.apply(x)

    model = nn.Sequential(nn.Linear(4, 4), Odd(), nn.Linear(4, 2))
    with pytest.raises(ShapeError, match=r"its backward pass breaks \(the last layer whose backward ran: 2, "
                                         r"Linear\): RuntimeError: this layer has no backward"):
        archscope.trace(model, [(4,)], training=Training())


def test_training_must_be_a_training() -> None:
    with pytest.raises(TypeError, match="training must be an archscope.Training"):
        archscope.trace(mlp(), [(64,)], training="adam")  # type: ignore[arg-type]


class _DataDependentBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * float(grad.abs().max().item() > 0)  # reads the data: no meta tensor can


class _Clipped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(_DataDependentBackward.apply(self.a(x)))


def test_a_backward_that_cannot_run_on_meta_runs_on_the_cpu_and_says_so() -> None:
    t = archscope.trace(_Clipped(), [(8,)], batch=4, training=Training())
    assert t.device == "cpu" and "meta" in t.cpu_reason
    assert (t.step.grad_input_macs, t.step.grad_weight_macs) == (4 * 8 * 2, 4 * 8 * 8 + 4 * 8 * 2)
    with pytest.raises(ShapeError, match=r"backward pass breaks .*cannot run on the meta device .*use --device cpu"):
        archscope.trace(_Clipped(), [(8,)], batch=4, device="meta", training=Training())
