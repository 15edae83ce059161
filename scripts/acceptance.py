"""Acceptance run: archscope on every torchvision model and many timm and transformers models.

What it checks, for every model (the catalogue and how each is built and fed are in
``scripts/acceptance_models.py``):

1. ``archscope.trace("acceptance_models:<key>", <inputs>)`` does not raise. archscope
   builds the model itself (meta device first, the CPU when the model cannot run on
   meta); the device it used (``t.device``) and its notes are recorded.
2. A dataflow graph, ``with recording() as flow: trace(..., analytic=False)`` then
   ``archscope.report.dot.render_dot(flow.graph(t))``, gives DOT text (the ``dot``
   program is not run).
3. ``t.totals.params`` equals the model's unique parameter elements (each shared tensor
   once), and ``t.totals.macs`` equals ``torch.utils.flop_counter.FlopCounterMode``'s
   total // 2 on the same inputs, on the device archscope used (eval mode,
   ``torch.no_grad()``, the attention fast path off as archscope has it while tracing).
   The reference model is built again, seeded as archscope's was, on that device (on
   meta, so big models such as vit_h_14 and regnet_y_128gf allocate nothing). Where the
   MACs differ the aten ops FlopCounterMode counted are reported beside archscope's
   MACs per category and its uncounted ops. FlopCounterMode has no formulas for quantized
   ops, so a ``quantize=True`` model's MACs are compared with its float twin's
   (``quantize=False``, same inputs); its parameters (packed weights are no
   ``nn.Parameter``) with the quantized model's own.
4. Inputs: torchvision by category (classification 3×224×224, inception_v3 299; video
   3×16×112×112, mvit_v1_b, mvit_v2_s and s3d 3×16×224×224; optical flow two 3×128×128;
   segmentation ``input_size=(3, 224, 224)``; detection ``input_data=([image 3×320×320],)``;
   quantization builders with ``quantize=False`` and ``quantize=True``). timm and
   transformers models are fed nothing: archscope must read timm's
   ``pretrained_cfg["input_size"]`` and transformers' ``main_input_name`` and config
   itself, and ``t.inputs.source`` must say so (timm: the shape must equal
   ``pretrained_cfg["input_size"]``); the reference is fed zeros of the shapes and dtypes
   archscope reports.

5. With ``--training`` (off by default; a second, smaller pass, by default over
   ``TRAINING_SPREAD``): ``archscope.trace(<same target and inputs>,
   training=archscope.Training())`` must not raise, and ``t.step.step_macs`` must equal
   ``FlopCounterMode``'s total // 2 over the forward pass and ``backward()`` of the sum of
   the floating outputs that require grad (found with archscope's own output walk,
   ``archscope.builder.inputs.tensors_in``), of the model built again the same way on the
   device the training trace used, in train mode, fed the same inputs (that need no
   gradient, as archscope's). The forward and backward halves are compared too; the
   saved bytes, the peak and the seconds of the training trace beside the forward-only
   one are reported. What cannot train without labels (torchvision detection: targets)
   or at all (quantized models) is skipped with its reason in the report.

Each model runs in a try/except under a time limit (``--limit-seconds``, SIGALRM), so a
failure or a hang is recorded and the run goes on; one progress line per model is
printed. The Markdown report (table, per-family summary, details of every failure and
MAC difference) goes to ``--out``; ``--json`` keeps the raw results.

Exit code: 1 if any model raised in archscope (trace, graph or training trace), timed
out, or has parameters that differ; MAC differences are reported, and fail the run only with
``--strict-macs``. 0 otherwise.

How it is run. It needs torchvision, timm and transformers, which archscope's own test
environment does not have, so it runs in a virtualenv of its own (not part of
``.ci/run``), offline (nothing is downloaded)::

    python3 -m venv /tmp/tvenv && . /tmp/tvenv/bin/activate
    pip install torch torchvision timm transformers && pip install -e .
    python scripts/acceptance.py                       # everything, report in /tmp/acceptance-results.md
    python scripts/acceptance.py --family timm --out /tmp/timm.md
    python scripts/acceptance.py --only resnet50 'vit_*' --limit-seconds 120
    python scripts/acceptance.py --training --out /tmp/acc-training.md   # TRAINING_SPREAD, with the step
    python scripts/acceptance.py --training --only tv_resnet50 'timm_vit_*'
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # acceptance_models, importable by name so archscope finds the builders

import acceptance_models  # noqa: E402
import torch  # noqa: E402
from acceptance_models import Case  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archscope  # noqa: E402
from archscope.analysis.fields import recording_fields  # noqa: E402
from archscope.builder.inputs import tensors_in  # noqa: E402
from archscope.errors import ShapeError  # noqa: E402
from archscope.report.dot import render_dot  # noqa: E402
from archscope.report.footer import notes  # noqa: E402
from archscope.report.units import nbytes  # noqa: E402
from archscope.tracer.dataflow import recording  # noqa: E402

FAMILIES = ("torchvision", "timm", "transformers")
FAMILY_PREFIX = {"torchvision": "tv", "timm": "timm", "transformers": "hf"}  # of the case keys

# What ``--training`` runs when ``--only`` is not given: quick models of every kind (case
# keys, see ``acceptance_models``; names such as efficientnet_b0 are in torchvision and timm).
TRAINING_SPREAD = (
    "tv_resnet50", "tv_vit_b_16", "tv_swin_t", "tv_convnext_tiny", "tv_mobilenet_v3_large", "tv_efficientnet_b0",
    "tv_regnet_y_400mf", "tv_densenet121", "tv_inception_v3", "tv_googlenet", "tv_squeezenet1_0",
    "tv_shufflenet_v2_x1_0", "tv_maxvit_t", "tv_r3d_18", "tv_raft_small", "tv_deeplabv3_mobilenet_v3_large",
    "tv_fasterrcnn_mobilenet_v3_large_320_fpn",  # skipped, with its reason: detection trains on targets
    "timm_vit_tiny_patch16_224", "timm_convnextv2_atto", "timm_efficientnet_b0", "timm_levit_128s",
    "timm_mobilevit_xxs", "timm_coatnet_pico_rw_224", "timm_swinv2_tiny_window8_256",
    "hf_BertModel", "hf_GPT2LMHeadModel__tied_embeddings_", "hf_LlamaModel", "hf_T5EncoderModel", "hf_ViTModel",
    "hf_Wav2Vec2Model",
)


class ModelTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so no ``except Exception`` on the way swallows it."""


def _alarm(signum: int, frame: Any) -> None:
    raise ModelTimeout


@dataclass
class Result:
    family: str
    category: str
    name: str
    status: str = "ok"  # ok, error (archscope raised), timeout
    stage: str = ""  # where it failed: trace, graph, reference
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    inputs: str = ""
    input_source: str = ""
    source_ok: bool | None = None
    device: str = ""
    notes: list[str] = field(default_factory=list)
    params: int | None = None
    params_ref: int | None = None
    macs: int | None = None
    macs_ref: int | None = None
    graph_ok: bool | None = None
    graph_error: str = ""
    graph_chars: int = 0
    fields_known: int | None = None  # module calls with a receptive field (the graph pass records them)
    fields_stop: str = ""  # the operator (and module) after which fields are unknown
    ref_error: str = ""
    ref_ops: dict[str, int] = field(default_factory=dict)  # aten op -> MACs (FlopCounterMode flops / 2)
    macs_by_category: dict[str, int] = field(default_factory=dict)
    not_counted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    trace_seconds: float = 0.0  # the forward-only archscope.trace
    # --training: the training step (t.step) against FlopCounterMode over forward + backward
    train: str = ""  # "" not asked; ok, error (archscope raised), timeout, skipped
    train_error: str = ""
    train_traceback: str = ""
    train_device: str = ""
    train_seconds: float = 0.0  # the archscope.trace(..., training=Training())
    step_forward: int | None = None
    step_grad_input: int | None = None
    step_grad_weight: int | None = None
    step_macs: int | None = None
    step_forward_ref: int | None = None
    step_macs_ref: int | None = None
    saved_bytes: int | None = None
    peaks: dict[str, int] = field(default_factory=dict)
    step_not_counted: dict[str, int] = field(default_factory=dict)
    train_ref_error: str = ""
    train_notes: list[str] = field(default_factory=list)
    grouped_excess: int = 0  # MACs of step_macs_ref that are FlopCounterMode's grouped-conv weight-gradient excess
    train_ref_forward_ops: dict[str, int] = field(default_factory=dict)  # aten op -> MACs, forward pass
    train_ref_backward_ops: dict[str, int] = field(default_factory=dict)  # aten op -> MACs, backward pass

    @property
    def params_ok(self) -> bool | None:
        return None if self.params is None or self.params_ref is None else self.params == self.params_ref

    @property
    def macs_ok(self) -> bool | None:
        if self.macs is None or self.macs_ref is None:
            return None
        if self.macs == self.macs_ref == 0 and self.not_counted:
            return None  # nothing counted on either side: not a check (quantized ops)
        return self.macs == self.macs_ref

    @property
    def step_match(self) -> str | None:
        """``exact``: step MACs equal FlopCounterMode÷2; ``grouped``: they equal it once its
        grouped-convolution weight-gradient excess is taken off (see GroupedConvBackward);
        ``differs``; None when not compared."""
        if self.step_macs is None or self.step_macs_ref is None:
            return None
        if self.step_macs == self.step_macs_ref:
            return "exact"
        if self.grouped_excess and self.step_macs == self.step_macs_ref - self.grouped_excess:
            return "grouped"
        return "differs"

    @property
    def step_ok(self) -> bool | None:
        """The step MACs agree with the reference (exactly, or but for FlopCounterMode's grouped-conv excess)."""
        return None if self.step_match is None else self.step_match != "differs"

    @property
    def backward(self) -> int | None:
        return None if self.step_macs is None or self.step_forward is None else self.step_macs - self.step_forward

    @property
    def backward_ref(self) -> int | None:
        return (None if self.step_macs_ref is None or self.step_forward_ref is None
                else self.step_macs_ref - self.step_forward_ref)

    @property
    def train_ok(self) -> bool:
        """The training check passed, or was not asked for, or was skipped for a stated reason."""
        return self.train in ("", "skipped") or (self.train == "ok" and self.step_ok is True)

    @property
    def forward_ok(self) -> bool:
        """Every check of the forward-only pass passed."""
        return (self.status == "ok" and self.params_ok is True and self.macs_ok is True and self.graph_ok is True
                and self.source_ok is not False)

    @property
    def all_ok(self) -> bool:
        return self.forward_ok and self.train_ok

    @property
    def fails(self) -> bool:
        """Fails the run: archscope raised or hung, or the parameters differ."""
        return (self.status != "ok" or self.graph_ok is False or self.params_ok is False
                or self.train in ("error", "timeout"))


# ---------------------------------------------------------------- inputs

def _full_shape(leaf: Any, batch: int) -> tuple[int, ...]:
    shape = tuple(leaf.shape)
    if leaf.batch_dim is None:
        return shape
    return shape[:leaf.batch_dim] + (batch,) + shape[leaf.batch_dim:]


def describe_inputs(t: Any) -> str:
    """Each tensor fed (its full shape, dtype), and the batch archscope took when it is not 1."""
    parts = [f"{leaf.name} {'×'.join(map(str, _full_shape(leaf, t.batch))) or 'scalar'} {leaf.dtype or 'float32'}"
             for leaf in t.inputs.leaves()]
    return (", ".join(parts) or "(none)") + (f" [batch {t.batch}]" if t.batch != 1 else "")


def rebuild_inputs(t: Any, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Zeros of every input archscope reports (shape per sample, batch at batch_dim, dtype),
    in the same structure (positional and keyword, nested tuples, lists, dicts)."""

    def make(tree: Any) -> Any:
        if hasattr(tree, "shape") and hasattr(tree, "batch_dim"):
            return torch.zeros(_full_shape(tree, t.batch), dtype=getattr(torch, tree.dtype or "float32"),
                               device=device)
        if isinstance(tree, dict):
            return {k: make(v) for k, v in tree.items()}
        items = [make(v) for v in tree]
        return tuple(items) if isinstance(tree, tuple) else items

    return tuple(make(a) for a in t.inputs.args), {k: make(v) for k, v in t.inputs.kwargs.items()}


def reference_inputs(given: dict[str, Any], t: Any, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """What the reference is fed: the same as archscope. Shapes given: zeros (archscope feeds
    zeros), at archscope's batch. Tensors given: the tensors themselves on the CPU, zeros like them on meta.
    Nothing given: zeros of what archscope reports it fed."""
    if "input_size" in given:
        sizes = given["input_size"]
        sizes = sizes if isinstance(sizes, list) else [sizes]
        return tuple(torch.zeros((t.batch, *s), device=device) for s in sizes), {}
    if "input_data" in given:
        def move(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return v if device.type == "cpu" else torch.zeros_like(v, device=device)
            if isinstance(v, dict):
                return {k: move(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return type(v)(move(x) for x in v)
            return v

        data = given["input_data"]
        if isinstance(data, dict):
            return (), move(data)
        return tuple(move(data)) if isinstance(data, (list, tuple)) else (move(data),), {}
    return rebuild_inputs(t, device)


def unique_params(model: torch.nn.Module) -> int:
    seen: dict[int, torch.Tensor] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen.setdefault(id(p), p)
    return sum(p.numel() for p in seen.values())


# ---------------------------------------------------------------- one model

def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _short_tb(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(lines)[-4000:]


def run_case(case: Case, limit: int, training: bool = False) -> Result:
    r = Result(case.family, case.category, case.name)
    target = f"acceptance_models:{case.key}"
    start = time.perf_counter()
    signal.alarm(limit)
    stage = "trace"
    try:
        given = case.trace_kwargs()
        t = archscope.trace(target, **given)
        r.trace_seconds = time.perf_counter() - start
        r.device, r.notes = str(t.device), notes(t)
        r.inputs, r.input_source = describe_inputs(t), t.inputs.source
        r.params, r.macs = t.totals.params, t.totals.macs
        r.macs_by_category, r.not_counted = dict(t.macs_by_category), dict(t.not_counted)
        if case.expect_source is not None:
            r.source_ok = case.expect_source in t.inputs.source

        stage = "graph"
        try:
            with recording() as flow, recording_fields() as fields:
                t2 = archscope.trace(target, **case.trace_kwargs(), analytic=False)
            dot = render_dot(flow.graph(t2))
            if fields.started:
                r.fields_known = sum(f is not None for f in fields.calls.values())
                r.fields_stop = " in ".join(filter(None, fields.stopped or ()))
            r.graph_ok = isinstance(dot, str) and dot.lstrip().startswith(("digraph", "strict digraph"))
            r.graph_chars = len(dot)
            if not r.graph_ok:
                r.graph_error = f"render_dot returned {dot[:80]!r}"
            del flow, t2, dot
        except ModelTimeout:
            raise
        except Exception as exc:  # noqa: BLE001
            r.graph_ok, r.graph_error = False, _one_line(exc)
            r.traceback = _short_tb(exc)

        stage = "reference"
        try:
            device = torch.device(t.device)
            with torch.device(device):
                model = case.build()
            model.eval()
            r.params_ref = unique_params(model)
            # FlopCounterMode's module tracker asserts on tensors that require grad but have no
            # grad_fn under no_grad (timm cait, pit); the counts do not depend on it
            model.requires_grad_(False)
            if case.family == "timm" and r.source_ok:
                want = tuple(model.pretrained_cfg["input_size"])
                got = t.inputs.leaves()[0].shape if t.inputs.leaves() else ()
                if tuple(got) != want:
                    r.source_ok = False
                    r.notes.append(f"acceptance: fed {got}, pretrained_cfg input_size is {want}")
            if case.family == "transformers" and r.source_ok:
                names = [leaf.name for leaf in t.inputs.leaves()]
                if names != [model.main_input_name]:
                    r.source_ok = False
                    r.notes.append(f"acceptance: fed {names}, main_input_name is {model.main_input_name}")
            args, kwargs = reference_inputs(given, t, device)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(*args, **kwargs)
            r.macs_ref = counter.get_total_flops() // 2
            r.ref_ops = {str(op): int(n) // 2 for op, n in counter.get_flop_counts().get("Global", {}).items()}
            del model, counter
            float_reference = case.extra.get("float_reference")
            if float_reference is not None:  # a quantized model: its float twin is counted instead
                with torch.device(device):
                    twin = float_reference()
                twin.eval().requires_grad_(False)
                with torch.no_grad(), FlopCounterMode(display=False) as counter:
                    twin(*args, **kwargs)
                r.notes.append(f"acceptance: FlopCounterMode counts {r.macs_ref:,} MACs on the quantized model "
                               "(it has no formulas for quantized ops), so the reference is the float model "
                               f"(quantize=False, {unique_params(twin):,} parameters; the quantized one's weights "
                               "are packed, not nn.Parameters)")
                r.macs_ref = counter.get_total_flops() // 2
                r.ref_ops = {str(op): int(n) // 2 for op, n in counter.get_flop_counts().get("Global", {}).items()}
                del twin, counter
            del args, kwargs
        except ModelTimeout:
            raise
        except Exception as exc:  # noqa: BLE001
            r.ref_error = _one_line(exc)[:1000]
            if not r.traceback:
                r.traceback = _short_tb(exc)
    except ModelTimeout:
        r.status, r.stage = "timeout", stage
        r.error = f"no result after {limit} s (stage {stage})"
    except Exception as exc:  # noqa: BLE001
        if stage == "trace":
            r.status, r.stage = "error", stage
            r.error, r.error_type = _one_line(exc), type(exc).__name__
            r.traceback = _short_tb(exc)
        else:  # an error of this script, not of archscope
            r.ref_error = _one_line(exc)[:1000]
            r.traceback = _short_tb(exc)
    finally:
        signal.alarm(0)
        r.seconds = time.perf_counter() - start
        gc.collect()
    if training:
        run_training(case, r, limit)
        r.seconds = time.perf_counter() - start
    return r


def cannot_train(case: Case) -> str:
    """Why ``case`` is not traced for a training step (it needs labels, or has no gradients), or ""."""
    if case.category == "detection":
        return ("torchvision detection models in train mode need targets (boxes and labels for every image) and "
                "return a dict of losses; archscope feeds inputs only, no targets")
    if case.extra.get("builder_kwargs", {}).get("quantize"):
        return "a quantized model (packed int8 weights, no float nn.Parameters) has no gradients to train"
    return ""


def step_loss(out: Any) -> torch.Tensor | None:
    """The sum of every floating output that needs a gradient, as archscope's backward has it."""
    heads = [t for _, t in tensors_in(out) if t.grad_fn is not None and t.is_floating_point()]
    if not heads:
        return None
    return heads[0].sum() if len(heads) == 1 else torch.stack([t.sum() for t in heads]).sum()


class GroupedConvBackward:
    """FlopCounterMode's ``aten.convolution_backward`` formula, unchanged, as a custom mapping
    that also adds up how much of it is FlopCounterMode's grouped-convolution excess: its
    weight-gradient term ignores ``groups`` (the input-gradient term does not, the weight's
    shape carries them), so a grouped convolution's weight gradient is counted ``groups``
    times (a depthwise one ``channels`` times). ``excess`` is in FLOPs."""

    _get_raw = True  # FlopCounterMode passes the tensors, not their shapes

    def __init__(self) -> None:
        from torch.utils import flop_counter

        self.formula = flop_counter.conv_backward_flop  # registered shape-wrapped: takes tensors and out_val
        self.conv_flop_count = flop_counter.conv_flop_count
        self.excess = 0

    def __call__(self, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
        flops = self.formula(*args, out_val=out_val, **kwargs)
        grad_out, x, _w, _bias, _stride, _padding, _dilation, transposed, _op, groups, mask = args[:11]
        if groups > 1 and mask[1] and out_val is not None and out_val[1] is not None:
            def t(shape: Any) -> list[int]:
                return [shape[1], shape[0], *shape[2:]]

            gw = list(out_val[1].shape)
            pair = (grad_out.shape, x.shape) if transposed else (x.shape, grad_out.shape)
            counted = self.conv_flop_count(t(pair[0]), t(pair[1]), t(gw), transposed=False)
            self.excess += counted - counted // groups
        return flops


def _global_ops(counter: FlopCounterMode) -> dict[str, int]:
    return {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}


BATCH_ONE_NORM = "Expected more than 1 value per channel when training"


def run_training(case: Case, r: Result, limit: int) -> None:
    """The training check (``--training``), under its own time limit: archscope's training trace,
    then the reference (FlopCounterMode over forward and backward, train mode)."""
    reason = cannot_train(case)
    if reason:
        r.train, r.train_error = "skipped", reason
        return
    if r.status != "ok":
        r.train, r.train_error = "skipped", f"the forward-only trace did not succeed ({r.status} in {r.stage})"
        return
    target = f"acceptance_models:{case.key}"
    stage = "trace"
    start = time.perf_counter()
    signal.alarm(limit)
    try:
        given = case.trace_kwargs()
        try:
            t = archscope.trace(target, **given, training=archscope.Training())
        except ShapeError as exc:
            if BATCH_ONE_NORM not in str(exc):
                raise
            # a norm layer that cannot train on one sample (BatchNorm on 1×C): the model's own limit
            r.train_notes.append(f"batch 1 cannot train: archscope says {_one_line(exc)[:400]!r}; traced at batch 2")
            given["batch"] = 2
            start = time.perf_counter()  # the seconds of the trace that gave the result
            t = archscope.trace(target, **given, training=archscope.Training())
        r.train_seconds = time.perf_counter() - start
        r.train, r.train_device = "ok", str(t.device)
        r.train_notes += [n[:300] for n in notes(t) if n.startswith("traced on cpu")]
        step = t.step
        r.step_forward, r.step_grad_input, r.step_grad_weight = (step.forward_macs, step.grad_input_macs,
                                                                 step.grad_weight_macs)
        r.step_macs, r.saved_bytes, r.peaks = step.step_macs, step.saved_bytes, dict(step.peaks)
        r.step_not_counted = dict(step.not_counted)

        stage = "reference"
        device = torch.device(t.device)
        with torch.device(device):
            model = case.build()
        model.train()
        args, kwargs = reference_inputs(given, t, device)
        grouped = GroupedConvBackward()
        with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: grouped}) as counter:
            out = model(*args, **kwargs)
            forward = _global_ops(counter)
            r.step_forward_ref = counter.get_total_flops() // 2
            loss = step_loss(out)
            if loss is None:
                raise RuntimeError("no floating output of the reference model needs a gradient")
            loss.backward()
        r.step_macs_ref = counter.get_total_flops() // 2
        r.grouped_excess = grouped.excess // 2
        total = _global_ops(counter)
        r.train_ref_forward_ops = {op: n // 2 for op, n in forward.items()}
        r.train_ref_backward_ops = {op: (n - forward.get(op, 0)) // 2 for op, n in total.items()
                                    if n - forward.get(op, 0)}
        del model, out, loss, counter, args, kwargs, t
    except ModelTimeout:
        r.train, r.train_error = "timeout", f"no result after {limit} s (training {stage})"
    except Exception as exc:  # noqa: BLE001
        if stage == "trace":
            r.train, r.train_error = "error", _one_line(exc)
            r.train_traceback = _short_tb(exc)
        else:  # an error of this script, not of archscope
            r.train_ref_error = _one_line(exc)[:1000]
            r.train_traceback = _short_tb(exc)
    finally:
        signal.alarm(0)
        if not r.train_seconds and r.train != "skipped":
            r.train_seconds = time.perf_counter() - start
        gc.collect()


# ---------------------------------------------------------------- report

SDPA_REF_OPS = ("scaled_dot_product", "flash_attention", "efficient_attention", "flex_attention")


def likely_cause(r: Result) -> str:
    """A first reading of a MAC difference, from archscope's categories and the reference's ops."""
    if r.macs is None or r.macs_ref is None:
        return ""
    if r.macs == r.macs_ref == 0 and r.not_counted:
        return ("0 MACs on both sides: none of the ops that ran is counted by either (archscope lists them as "
                f"not counted: {', '.join(sorted(r.not_counted))})")
    if r.macs == r.macs_ref:
        return ""
    diff = r.macs - r.macs_ref
    attention = r.macs_by_category.get("attention", 0)
    ref_sdpa = any(k in op for op in r.ref_ops for k in SDPA_REF_OPS)
    if attention and diff == attention and not ref_sdpa:
        return ("the difference is exactly archscope's attention MACs, and FlopCounterMode counted no attention "
                "op: it has no formula for the SDPA kernel that ran (on the CPU "
                "aten._scaled_dot_product_flash_attention_for_cpu)")
    for cat, n in r.macs_by_category.items():
        if n == diff:
            return f"the difference is exactly archscope's {cat!r} MACs ({n:,})"
    for op, n in r.ref_ops.items():
        if n == -diff:
            return f"the difference is exactly FlopCounterMode's {op} ({n:,} MACs), which archscope does not count"
    return ""


def likely_step_cause(r: Result) -> str:
    """A first reading of a training-step MAC difference: which half, and an op that accounts for it."""
    if r.step_match == "grouped":
        return (f"the difference ({r.step_macs - r.step_macs_ref:+,}) is exactly FlopCounterMode's grouped-"
                f"convolution excess ({r.grouped_excess:,} MACs): its aten.convolution_backward formula counts the "
                "weight gradient of a convolution with groups=g as if it were dense, g times too much (a depthwise "
                "one C times); archscope counts N·C_out·(C_in/g)·k·Ho·Wo")
    if r.step_ok is not False:
        return ""
    parts = []
    fwd = (r.step_forward or 0) - (r.step_forward_ref or 0)
    bwd = (r.backward or 0) - (r.backward_ref or 0)
    if fwd:
        parts.append(f"forward differs by {fwd:+,}")
    if bwd:
        parts.append(f"backward differs by {bwd:+,}")
    for half, diff, ops in (("forward", fwd, r.train_ref_forward_ops), ("backward", bwd, r.train_ref_backward_ops)):
        for op, n in ops.items():
            if diff and n == -diff:
                parts.append(f"the {half} difference is exactly FlopCounterMode's {op} ({n:,}), which archscope "
                             "does not count")
    if r.step_not_counted and bwd < 0:
        parts.append(f"archscope's backward ops with no rule: {', '.join(sorted(r.step_not_counted))}")
    return "; ".join(parts)


def _train_note(r: Result) -> str:
    bits = []
    if r.train in ("error", "timeout", "skipped"):
        bits.append(f"{r.train}: {r.train_error[:300]}")
    if r.train_ref_error:
        bits.append(f"reference: {r.train_ref_error[:200]}")
    bits += [n[:300] for n in r.train_notes]
    if r.step_match == "grouped":
        bits.append("equal once FlopCounterMode's grouped-convolution weight-gradient excess is taken off (its "
                    "aten.convolution_backward formula ignores groups)")
    elif r.step_match == "differs" and r.step_macs_ref:
        bits.append(f"step MACs ×{r.step_macs / r.step_macs_ref:.4f}")
        bits.append(likely_step_cause(r)[:300])
    return "; ".join(b for b in bits if b)


def _pair(ours: int | None, ref: int | None) -> str:
    if ours is None:
        return "–"
    if ref is None:
        return f"{ours:,} / –"
    return f"{ours:,} / {ref:,} {_mark(ours == ref)}"


def training_markdown(results: list[Result]) -> list[str]:
    rs = [r for r in results if r.train]
    if not rs:
        return []
    ran = [r for r in rs if r.train != "skipped"]
    train_s, fwd_s = sum(r.train_seconds for r in ran), sum(r.trace_seconds for r in ran)
    lines = ["", "## Training step (--training)", "",
             f"{len(rs)} models: {sum(r.train == 'ok' and r.step_match == 'exact' for r in rs)} step MACs equal, "
             f"{sum(r.step_match == 'grouped' for r in rs)} equal once FlopCounterMode's grouped-convolution "
             "excess is taken off (✓ (groups)), "
             f"{sum(r.step_ok is False for r in rs)} differ, {sum(r.train == 'error' for r in rs)} training-trace "
             f"errors, {sum(r.train == 'timeout' for r in rs)} timeouts, {sum(bool(r.train_ref_error) for r in rs)} "
             f"reference errors, {sum(r.train == 'skipped' for r in rs)} skipped (reason given). "
             f"Training traces took {train_s:.1f} s in all, the forward-only traces of the same models {fwd_s:.1f} s.",
             "",
             "Reference: FlopCounterMode÷2 over forward + `backward()` of the sum of the floating outputs, train "
             "mode, same device, same inputs. Backward = grad-input + grad-weight (+ recompute). FlopCounterMode's "
             "`aten.convolution_backward` formula ignores `groups` in the weight gradient (it counts a grouped "
             "convolution's weight gradient as dense: ×groups, a depthwise one ×channels); the script adds up that "
             "excess beside the count, and a model whose step MACs equal the reference less the excess is marked "
             "✓ (groups).", "",
             "| family | model | device | ok? | step MACs archscope / reference | forward | backward "
             "(grad-input + grad-weight) | saved | peak (phase) | s training / forward-only | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        fam = r.family if r.family != "torchvision" else f"torchvision/{r.category}"
        ok = ("skipped" if r.train == "skipped" else "✓ (groups)" if r.train == "ok" and r.step_match == "grouped"
              else _mark(r.train == "ok" and r.step_ok is True))
        bwd = _pair(r.backward, r.backward_ref)
        if r.step_grad_input is not None:
            bwd += f" ({r.step_grad_input:,} + {r.step_grad_weight:,})"
        phase, peak = max(r.peaks.items(), key=lambda kv: kv[1]) if r.peaks else ("", 0)
        secs = f"{r.train_seconds:.1f} / {r.trace_seconds:.1f}" if r.train != "skipped" else "–"
        step = _pair(r.step_macs, r.step_macs_ref)
        if r.step_match == "grouped":
            step += f" (−{r.grouped_excess:,} grouped-conv excess = {r.step_macs_ref - r.grouped_excess:,} ✓)"
        fwd = _pair(r.step_forward, r.step_forward_ref)
        lines.append(f"| {fam} | {_cell(r.name)} | {r.train_device or '–'} | {ok} | {step} | {fwd} | {bwd} | "
                     f"{nbytes(r.saved_bytes) if r.saved_bytes is not None else '–'} | "
                     f"{f'{nbytes(peak)} ({phase})' if phase else '–'} | {secs} | {_cell(_train_note(r))} |")
    bad = [r for r in rs if r.train != "skipped" and (not r.train_ok or r.step_match == "grouped")
           or r.train_ref_error]
    if bad:
        lines += ["", "### Training step: details", ""]
    for r in bad:
        lines += [f"#### {r.family}: {r.name}", ""]
        if r.train in ("error", "timeout"):
            lines += [f"- **{r.train}** in the training trace: `{r.train_error}`"]
        if r.train_ref_error:
            lines += [f"- reference: `{r.train_ref_error}`"]
        if r.step_match in ("differs", "grouped"):
            lines += [f"- step MACs: archscope {r.step_macs:,}, FlopCounterMode÷2 {r.step_macs_ref:,} "
                      f"(difference {r.step_macs - r.step_macs_ref:+,}); forward {r.step_forward:,} vs "
                      f"{r.step_forward_ref:,}; backward {r.backward:,} vs {r.backward_ref:,} (archscope grad-input "
                      f"{r.step_grad_input:,}, grad-weight {r.step_grad_weight:,})",
                      f"  - FlopCounterMode forward ops (MACs): {json.dumps(r.train_ref_forward_ops)}",
                      f"  - FlopCounterMode backward ops (MACs): {json.dumps(r.train_ref_backward_ops)}",
                      f"  - archscope backward ops with no rule: {json.dumps(r.step_not_counted)}",
                      f"  - FlopCounterMode's grouped-convolution weight-gradient excess: {r.grouped_excess:,} MACs"]
        cause = likely_step_cause(r)
        if cause:
            lines += [f"- likely cause: {cause}"]
        if r.train_traceback:
            lines += ["", "<details><summary>traceback</summary>", "", "```", r.train_traceback.strip()[-3000:],
                      "```", "", "</details>"]
        lines.append("")
    return lines


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "–"}[ok]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _note(r: Result) -> str:
    bits = []
    if r.status != "ok":
        bits.append(f"{r.status} ({r.stage}): {r.error[:200]}")
    if r.graph_error:
        bits.append(f"graph: {r.graph_error[:160]}")
    if r.ref_error:
        bits.append(f"reference: {r.ref_error[:160]}")
    if r.source_ok is False:
        bits.append(f"input source ✗: {r.input_source!r}")
    if r.params_ok is False:
        bits.append(f"params {r.params:,} vs {r.params_ref:,}")
    if r.macs_ok is False and r.macs_ref:
        bits.append(f"MACs ×{r.macs / r.macs_ref:.4f}")
    cause = likely_cause(r)
    if cause and r.macs_ok is not True:
        bits.append(cause[:200])
    bits += [n[len("acceptance: "):][:160] for n in r.notes if n.startswith("acceptance: ")]
    cpu = [n for n in r.notes if n.startswith("traced on cpu")]
    if cpu:
        bits.append(cpu[0][:200])
    return "; ".join(bits)


def source_state() -> str:
    """The commit of the archscope tree and whether archscope/ has uncommitted changes."""
    import subprocess

    root = Path(archscope.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--short", "archscope"], capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "git state unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {head or '?'}" + (f", uncommitted changes in {', '.join(changed)}" if changed else "")


STATE = ""


def markdown(results: list[Result], total_seconds: float, argv: list[str]) -> str:
    lines = ["# archscope acceptance run", "",
             f"`{' '.join(['python scripts/acceptance.py', *argv])}`", "",
             f"torch {torch.__version__}, archscope from {Path(archscope.__file__).parent} ({STATE}); "
             f"total {total_seconds:.0f} s ({total_seconds / 60:.1f} min).", "", "## Summary", ""]
    for fam in FAMILIES:
        rs = [r for r in results if r.family == fam]
        if not rs:
            continue
        lines.append(f"- **{fam}**: {len(rs)} models, {sum(r.all_ok for r in rs)} all-ok; "
                     f"{sum(r.status == 'error' for r in rs)} trace errors, {sum(r.status == 'timeout' for r in rs)} "
                     f"timeouts, {sum(r.graph_ok is False for r in rs)} graph errors, "
                     f"{sum(r.params_ok is False for r in rs)} params differ, {sum(r.macs_ok is False for r in rs)} "
                     f"MACs differ, {sum(bool(r.ref_error) for r in rs)} reference errors, "
                     f"{sum(r.device == 'cpu' for r in rs)} traced on cpu")
        if fam == "torchvision":
            for cat in sorted({r.category for r in rs}):
                cs = [r for r in rs if r.category == cat]
                lines.append(f"  - {cat}: {len(cs)} models, {sum(r.all_ok for r in cs)} all-ok")
    imaged = [r for r in results if r.fields_known is not None]
    stops: dict[str, int] = {}
    for r in imaged:
        if r.fields_stop:
            op = r.fields_stop.split(" in ")[0]
            stops[op] = stops.get(op, 0) + 1
    lines += ["", f"Receptive fields (recorded in the graph pass): {len(imaged)} models fed an image, "
              f"{sum(not r.fields_stop for r in imaged)} with every field known; unknown after "
              + (", ".join(f"{op} ({n})" for op, n in sorted(stops.items(), key=lambda kv: -kv[1])) or "nothing")]
    lines += ["", "## Models", "",
              "| family | model | inputs (as archscope reported them) | device | params ok? | "
              "MACs archscope / FlopCounterMode÷2 | graph ok? | s | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        fam = r.family if r.family != "torchvision" else f"torchvision/{r.category}"
        macs = (f"{r.macs:,} / {r.macs_ref:,} {_mark(r.macs_ok)}" if r.macs is not None and r.macs_ref is not None
                else f"{r.macs:,} / – " if r.macs is not None else "–")
        inputs = f"{r.inputs} ({r.input_source})" if r.inputs else ""
        lines.append(f"| {fam} | {_cell(r.name)} | {_cell(inputs)} | {r.device or '–'} | {_mark(r.params_ok)} | "
                     f"{macs} | {_mark(r.graph_ok)} | {r.seconds:.1f} | {_cell(_note(r))} |")
    lines += training_markdown(results)
    bad = [r for r in results if not r.forward_ok]  # the training step's own details are above
    if bad:
        lines += ["", "## Details", ""]
    for r in bad:
        lines += [f"### {r.family}: {r.name}", ""]
        if r.status != "ok":
            lines += [f"- **{r.status}** in {r.stage}: `{r.error}`"]
        if r.graph_error:
            lines += [f"- graph: `{r.graph_error}`"]
        if r.ref_error:
            lines += [f"- reference: `{r.ref_error}`"]
        if r.source_ok is False:
            lines += [f"- input source: `{r.input_source}`"]
        if r.params_ok is False:
            lines += [f"- params: archscope {r.params:,}, model {r.params_ref:,} "
                      f"(difference {r.params - r.params_ref:+,})"]
        if r.macs_ok is False:
            lines += [f"- MACs: archscope {r.macs:,}, FlopCounterMode÷2 {r.macs_ref:,} "
                      f"(difference {r.macs - r.macs_ref:+,})",
                      f"  - FlopCounterMode ops (MACs): {json.dumps(r.ref_ops)}",
                      f"  - archscope by category: {json.dumps(r.macs_by_category)}",
                      f"  - archscope not counted: {json.dumps(r.not_counted)}"]
        cause = likely_cause(r)
        if cause:
            lines += [f"- likely cause: {cause}"]
        if r.notes:
            lines += [f"- notes: {' | '.join(r.notes)[:1500]}"]
        if r.traceback and r.status != "ok":
            lines += ["", "<details><summary>traceback</summary>", "", "```", r.traceback.strip()[-3000:], "```",
                      "", "</details>"]
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="models by name (globs allowed, e.g. 'vit_*')")
    p.add_argument("--family", choices=FAMILIES, action="append", help="one family (may be repeated)")
    p.add_argument("--out", default="/tmp/acceptance-results.md", help="the Markdown report")
    p.add_argument("--json", default=None, help="the raw results as JSON (default: --out with .json)")
    p.add_argument("--limit-seconds", type=int, default=300, help="per-model time limit (default 300)")
    p.add_argument("--strict-macs", action="store_true", help="a MAC difference fails the run too")
    p.add_argument("--training", action="store_true",
                   help="also trace a training step (archscope.Training()) and check its MACs against "
                        "FlopCounterMode over forward + backward; without --only, the models of TRAINING_SPREAD")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    args = p.parse_args(raw)

    warnings.filterwarnings("ignore")
    torch.backends.mha.set_fastpath_enabled(False)
    cases = acceptance_models.all_cases(args.family)
    if args.only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.name, pat) or fnmatch.fnmatchcase(c.key, pat)
                                         for pat in args.only)]
    elif args.training:
        keys = {c.key: c for c in cases}
        unknown = [k for k in TRAINING_SPREAD if k not in keys and (args.family is None or k.split("_")[0] in
                                                                       {FAMILY_PREFIX[f] for f in args.family})]
        if unknown:
            print(f"TRAINING_SPREAD names no such case: {', '.join(unknown)}", file=sys.stderr)
            return 2
        cases = [keys[k] for k in TRAINING_SPREAD if k in keys]
    if args.list:
        for c in cases:
            print(f"{c.family}\t{c.category}\t{c.name}")
        return 0
    if not cases:
        print("no model matches", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, _alarm)
    global STATE
    STATE = source_state()
    print(f"archscope {STATE}", flush=True)
    out = Path(args.out)
    js = Path(args.json) if args.json else out.with_suffix(".json")
    results: list[Result] = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases, 1):
        r = run_case(case, args.limit_seconds, training=args.training)
        results.append(r)
        state = r.status if r.status != "ok" else ("all-ok" if r.all_ok else "differs")
        step = ""
        if r.train:
            step = (f" step {r.train}" if r.train != "ok" else f" step {_mark(r.step_ok)}") + \
                (f" ({r.train_seconds:.1f}s vs forward {r.trace_seconds:.1f}s)" if r.train != "skipped" else "")
        print(f"[{i}/{len(cases)}] {case.family}/{case.name}: {state} device={r.device or '-'} "
              f"params {_mark(r.params_ok)} macs {_mark(r.macs_ok)} graph {_mark(r.graph_ok)}{step} {r.seconds:.1f}s"
              + (f" | {_note(r)[:240]}" if not r.all_ok and _note(r) else "")
              + (f" | step: {_train_note(r)[:240]}" if _train_note(r) else ""), flush=True)
        if i % 10 == 0 or i == len(cases):  # keep a partial report in case the run is stopped
            total = time.perf_counter() - t0
            out.write_text(markdown(results, total, raw), encoding="utf-8")
            js.write_text(json.dumps([asdict(x) | {"params_ok": x.params_ok, "macs_ok": x.macs_ok,
                                                   "step_ok": x.step_ok, "all_ok": x.all_ok} for x in results],
                                     indent=1),
                          encoding="utf-8")
    total = time.perf_counter() - t0
    for fam in FAMILIES:
        rs = [r for r in results if r.family == fam]
        if rs:
            print(f"{fam}: {len(rs)} models, {sum(r.all_ok for r in rs)} all-ok, "
                  f"{sum(r.fails for r in rs)} failing, {sum(r.macs_ok is False for r in rs)} MACs differ"
                  + (f", {sum(r.step_ok is False for r in rs)} step MACs differ, "
                     f"{sum(r.train == 'skipped' for r in rs)} not trained (skipped)" if args.training else ""))
    print(f"total {total:.0f} s; report {out}, raw {js}")
    failing = any(r.fails for r in results) or (args.strict_macs and any(r.macs_ok is False or r.step_ok is False
                                                                         for r in results))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
