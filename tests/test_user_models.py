"""The user's own models: archscope agrees with torchinfo, runs on meta without touching
the user's instance, and reads the import forms the CLI accepts."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchinfo
from torch import nn

import archscope
from archscope.builder import resolve
from archscope.report import render_json
from archscope.report.footer import notes

ROOT = Path(__file__).resolve().parent.parent
MYNET = ROOT / "docs" / "examples" / "mynet.py"


class Branchy(nn.Module):
    """Branches, a concat, a residual add, a module called twice and functional ops."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.a = nn.Conv2d(16, 8, 1)
        self.b = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1, groups=2), nn.ReLU())
        self.act = nn.ReLU()
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.cat([self.a(x), self.b(x)], 1) + x
        x = self.act(self.act(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _torchinfo_shapes(model: nn.Module, size: tuple[int, ...]) -> tuple[dict[str, tuple[int, ...]], int]:
    names = {id(m): n for n, m in model.named_modules()}
    stats = torchinfo.summary(model, input_size=size, device="cpu", verbose=0, mode="eval")
    shapes = {names[id(info.module)]: tuple(info.output_size) for info in stats.summary_list
              if not info.is_recursive and names.get(id(info.module))}
    return shapes, stats.total_params


@pytest.mark.parametrize(("target", "size"), [
    (Branchy(), (2, 3, 32, 32)),
    ("resnet18", (2, 3, 64, 64)),
    ("vgg11_bn", (1, 3, 64, 64)),
    ("googlenet", (1, 3, 96, 96)),
    ("lenet5", (3, 1, 32, 32)),
])
def test_shapes_and_params_agree_with_torchinfo(target: nn.Module | str, size: tuple[int, ...]) -> None:
    model = target if isinstance(target, nn.Module) else resolve(target).module("cpu")
    theirs, total = _torchinfo_shapes(model.eval(), size)
    trace = archscope.trace(target, input_size=size[1:], batch=size[0])
    ours = {r.name: r.output_shape for r in trace.layers if r.call == 1 and r.name}
    assert len(theirs) > 5
    assert {k: ours[k] for k in theirs} == theirs
    # torchinfo counts the aux heads that never ran in eval too; so does archscope's total
    assert trace.totals.params == total


def test_user_instance_is_never_modified() -> None:
    model = Branchy().train()
    before = copy.deepcopy(model.state_dict())
    ids = [id(p) for p in model.parameters()]
    trace = archscope.trace(model, input_size=(3, 32, 32), batch=4)
    assert trace.device == "meta" and trace.output_shapes == [(4, 5)]
    assert model.training and all(m.training for m in model.modules())  # mode untouched
    assert [id(p) for p in model.parameters()] == ids
    after = model.state_dict()
    assert all(after[k].device.type == "cpu" and torch.equal(after[k], v) for k, v in before.items())
    # and no hook is left behind
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_module_called_twice_counts_params_once_and_shows_both_calls() -> None:
    trace = archscope.trace(Branchy(), input_size=(3, 32, 32))
    calls = [r for r in trace.layers if r.name == "act"]
    assert [r.call for r in calls] == [1, 2]
    assert trace.totals.params == sum(p.numel() for p in Branchy().parameters())
    assert any("act is called more than once" in n for n in notes(trace))


@pytest.mark.parametrize("text", [f"{MYNET}:Net", f"{MYNET}:build_net"])
def test_file_path_targets_build_classes_and_factories_on_meta(text: str) -> None:
    target = resolve(text)
    module = target.module("meta")
    assert all(p.device.type == "meta" for p in module.parameters())
    trace = archscope.trace(text, input_size=32)
    assert trace.output_shapes == [(1, 10 if text.endswith("Net") else 100)]


def test_any_input_size_and_batch_on_meta_costs_no_memory() -> None:
    trace = archscope.trace("resnet50", input_size=(3, 1024, 1024), batch=64)
    assert trace.output_shapes == [(64, 1000)]
    assert trace.layers[1].output_shape == (64, 64, 512, 512)


def test_a_trace_never_imports_dynamo_and_its_numbers_do_not_change() -> None:
    """archscope.dynamo spares torch's dynamo import (1–1.6 s) in the library as in
    the CLI, for every kind of model: spec, user module, transformer, LSTM, token ids, a
    training step, a module whose init runs on meta (TokenEncoder's normal_); the traces
    are the ones a process that imported dynamo gets."""
    cases = [(f"{MYNET}:Net", 32), ("resnet18", 64), ("efficientnet_b0", 96), ("inception_v3", 299)]
    probe = ("import json, sys; import archscope; from torch import nn; from archscope.api import trace; "
             "from archscope.report import render_json; "
             f"out = [json.loads(render_json(trace(t, input_size=s, analytic=False))) for t, s in {cases!r}]; "
             "trace(nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 2), "
             "input_size=(10, 64)); trace(nn.LSTM(16, 32, 2, batch_first=True), input_size=(10, 16)); "
             "trace(nn.Sequential(nn.Embedding(100, 16), nn.Linear(16, 4)), input_size=['7:int64']); "
             "trace('resnet18', training=archscope.Training(optimizer='adam', amp='bf16')); "
             f"trace({str(ROOT / 'tests' / 'user_corpus.py')!r} + ':TokenEncoder', input_size=['128:int64']); "
             "assert 'torch._dynamo' not in sys.modules, 'dynamo was imported'; print(json.dumps(out))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    import torch._dynamo  # noqa: F401  (this process: torch's own marks from here on)

    expected = [json.loads(render_json(archscope.trace(t, input_size=s, analytic=False))) for t, s in cases]
    assert json.loads(done.stdout) == expected


COMPILE_AFTER_TRACE = """
import sys, torch, archscope
from torch._compile import _disable_dynamo
archscope.trace("resnet18", analytic=False)
assert "torch._dynamo" not in sys.modules
code = _disable_dynamo(lambda: None).__code__
wrapper = torch._refs.add
while wrapper.__code__ is not code:
    wrapper = wrapper.__wrapped__
fn = wrapper.__closure__[code.co_freevars.index("fn")].cell_contents
assert fn.__dynamo_disable.__name__ == "mark"  # given up front
import torch._dynamo
torch._refs.add(torch.ones(2), torch.ones(2))
assert fn.__dynamo_disable.__name__ != "mark", fn.__dynamo_disable  # torch's own, from dynamo.disable
f = torch.compile(lambda x: torch.relu(x) + 1, backend="eager")
assert f(torch.ones(3)).tolist() == [2.0, 2.0, 2.0]
print("ok")
"""


def test_after_a_trace_torch_compile_still_disables_dynamo_where_torch_does() -> None:
    """The mark given up front hands over to ``torch._dynamo.disable`` once dynamo is imported."""
    done = subprocess.run([sys.executable, "-c", COMPILE_AFTER_TRACE], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
