"""Snapshot files: made from a trace, named by model and input, written byte-identically.

Schema ``archscope.snapshot/2``::

    {"schema": "archscope.snapshot/2",
     "model": {"kind": "zoo"|"spec"|"import"|"module", "target": str},   # how to rebuild it
     "name": str, "inputs": INPUTS, "batch": int, "mode": "eval", "convention": str,
     "totals": {"params", "trainable_params", "macs"},
     "layers": [{"name", "type", "call", "output_shapes", "params", "macs"}, ...]}

Per layer, ``params`` and ``macs`` are the module's own (not its children's), so a
change shows up at the layer that changed. Spec files and ``file.py`` paths are
stored as given and resolved from the directory ``archscope check`` runs in (your
project root). No timestamps or versions: the same architecture gives the same bytes.
Kind ``module`` is a snapshot the pytest plugin took of an ``nn.Module`` instance: its
target (``package.module:Class``) only says what it was; only that test can re-check it.

A snapshot taken with ``--training`` (``take(..., training=Training(...))``) records a
training step too, in optional keys that a snapshot without them simply lacks (those still
load and check as before): a header key ``"training": {"optimizer", "amp" (null: none),
"freeze": [pattern], "checkpoint": [pattern]}`` after ``convention`` (what ``check``
retraces, compared as part of the setup), the totals :data:`STEP_TOTALS`
(``backward_macs``, ``step_macs``, ``saved_bytes``, ``peak_bytes``, ``grad_bytes``,
``optimizer_bytes``) and per layer :data:`STEP_LAYER_KEYS` (``grad_input_macs``,
``grad_weight_macs``, ``saved_bytes``: the call's own, like ``macs``). Its file is named
with the step (``resnet18@3x224x224.training-adam.json``), beside a forward snapshot's.

``INPUTS`` is what the model is fed, in the form of the summary JSON
(:func:`archscope.spec.inputs.to_json`): ``check`` feeds the same shapes and dtypes again
(zeros). Version 1 (``"input": [C, H, W]``, one float image) still loads and checks; the
labels of positional inputs are not compared (renaming forward's parameter is no change).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from archscope.errors import UsageError, cut, echo
from archscope.fileio import read_limited
from archscope.spec.inputs import Inputs, file_label, from_json, from_legacy
from archscope.spec.inputs import to_json as inputs_json
from archscope.tracer.records import StepCost, Trace
from archscope.tracer.training import AMP_MODES, OPTIMIZERS, Training

SCHEMA = "archscope.snapshot/2"
LEGACY = "archscope.snapshot/1"
_KEYS = ("schema", "model", "name", "inputs", "batch", "mode", "convention", "totals", "layers")
_LAYER_KEYS = ("name", "type", "call", "output_shapes", "params", "macs")
STEP_TOTALS = ("backward_macs", "step_macs", "saved_bytes", "peak_bytes", "grad_bytes", "optimizer_bytes")
STEP_LAYER_KEYS = ("grad_input_macs", "grad_weight_macs", "saved_bytes")
MAX_SNAPSHOT_BYTES = 64 * 2**20  # a 10,000-layer model's snapshot has ~3 MiB


class CorruptSnapshotError(UsageError):
    """A snapshot file that cannot be read: exit code 2, with the file and the reason."""


def make(trace: Trace, kind: str, target: str, training: Training | None = None) -> dict[str, Any]:
    """The snapshot of ``trace``; with ``training`` (the request ``trace`` was made with), its
    training step too."""
    snapshot: dict[str, Any] = {
        "schema": SCHEMA,
        "model": {"kind": kind, "target": target},
        "name": trace.model,
        "inputs": inputs_json(trace.inputs, trace.batch),
        "batch": trace.batch,
        "mode": trace.mode,
        "convention": trace.convention,
        "totals": {"params": trace.totals.params, "trainable_params": trace.totals.trainable_params,
                   "macs": trace.totals.macs},
        "layers": [{"name": r.name, "type": r.type, "call": r.call,
                    "output_shapes": [list(s) for s in r.output_shapes], "params": r.params, "macs": r.macs}
                   for r in trace.layers],
    }
    if training is not None and trace.step is not None:
        snapshot["training"] = request(training)
        snapshot["totals"].update(step_totals(trace.step))
        for layer, r in zip(snapshot["layers"], trace.layers, strict=True):
            layer.update({k: getattr(r, k) for k in STEP_LAYER_KEYS})
    return snapshot


def request(training: Training) -> dict[str, Any]:
    """A training request as a snapshot records it."""
    return {"optimizer": training.optimizer, "amp": training.amp, "freeze": list(training.freeze),
            "checkpoint": list(training.checkpoint)}


def training_of(snapshot: dict[str, Any]) -> Training | None:
    """The training step a (validated) snapshot was taken with, or None."""
    data = snapshot.get("training")
    if data is None:
        return None
    return Training(optimizer=data["optimizer"], amp=data["amp"], freeze=tuple(data["freeze"]),
                    checkpoint=tuple(data["checkpoint"]))


def training_text(data: dict[str, Any] | None) -> str:
    """``adam, bf16, freeze backbone.*, checkpoint layer3``; ``none`` without a step."""
    if data is None:
        return "none"
    parts = [data["optimizer"], *([data["amp"]] if data.get("amp") else [])]
    parts += [f"freeze {p}" for p in data.get("freeze", ())] + [f"checkpoint {p}" for p in data.get("checkpoint", ())]
    return ", ".join(parts)


def step_totals(step: StepCost) -> dict[str, int]:
    """The totals of :data:`STEP_TOTALS` of a training step."""
    return {"backward_macs": step.backward_macs, "step_macs": step.step_macs, "saved_bytes": step.saved_bytes,
            "peak_bytes": step.peak[1], "grad_bytes": step.grad_bytes, "optimizer_bytes": step.optimizer_bytes}


def filename(snapshot: dict[str, Any]) -> str:
    """``build_net@3x224x224.json`` (``@8x3x224x224`` when the batch is not 1;
    ``TinyGPT@128-int64.json``, ``bert@input_ids=128-int64+attention_mask=128-bool.json``)."""
    label = file_label(inputs_of(snapshot), snapshot["batch"])
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", snapshot["name"]).lstrip(".")[:80] or "model"
    step = snapshot.get("training")
    suffix = "" if step is None else ".training-" + "-".join([step["optimizer"], *filter(None, [step["amp"]])])
    return f"{safe}@{re.sub(r'[^A-Za-z0-9._+=-]', '_', label)[:120]}{suffix}.json"


def inputs_of(snapshot: dict[str, Any]) -> Inputs:
    """What the snapshot's model was fed (a validated snapshot)."""
    return from_json(snapshot["inputs"], snapshot["batch"])


def dumps(snapshot: dict[str, Any]) -> str:
    """Deterministic text: header fields indented, one line per layer (readable diffs)."""
    lines = ["{"]
    for key in _header(snapshot):
        lines.append(f" {json.dumps(key)}: {json.dumps(snapshot[key], ensure_ascii=False)},")
    keys = _LAYER_KEYS + STEP_LAYER_KEYS
    layers = [f"  {json.dumps({k: layer[k] for k in keys if k in layer}, ensure_ascii=False)}"
              for layer in snapshot["layers"]]
    lines.append(' "layers": [' + ("\n" + ",\n".join(layers) + "\n " if layers else "") + "]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _header(snapshot: dict[str, Any]) -> list[str]:
    """The header keys in their order: ``training``, if there is one, after ``convention``."""
    keys = list(_KEYS[:-1])
    if snapshot.get("training") is not None:
        keys.insert(keys.index("convention") + 1, "training")
    return keys


def load(path: Path) -> dict[str, Any]:
    """Read and validate a snapshot; a bad file raises :class:`CorruptSnapshotError` naming it."""
    try:
        text = read_limited(path, MAX_SNAPSHOT_BYTES).decode("utf-8")
    except OSError as exc:
        raise CorruptSnapshotError(f"cannot read snapshot {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CorruptSnapshotError(f"snapshot {str(path)!r} is not UTF-8 text (byte {exc.start}): restore it "
                                   "from version control or rewrite it with 'archscope snapshot'") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptSnapshotError(f"snapshot {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                                   "it may be truncated: restore it from version control or rewrite it "
                                   "with 'archscope snapshot'") from None
    except RecursionError:
        raise CorruptSnapshotError(f"snapshot {str(path)!r} is not an archscope snapshot: its JSON is nested "
                                   "too deep to read") from None
    if isinstance(data, dict) and data.get("schema") == LEGACY:
        data = _upgrade(data)
    problem = _problem(data)
    if problem:
        raise CorruptSnapshotError(f"snapshot {str(path)!r} is not an archscope snapshot: {problem}")
    return dict(data)


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 snapshot in version 2's form: its ``[C, H, W]`` is one float image."""
    shape = data.get("input")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(d, 1) for d in shape)) or not _is_int(
            data.get("batch"), 1):
        return data  # _problem says what is wrong
    out = {k: v for k, v in data.items() if k != "input"}
    out["schema"], out["inputs"] = SCHEMA, inputs_json(from_legacy(shape), data["batch"])
    return out


KINDS = ("zoo", "spec", "import", "module")


def kind_of(target: str) -> str:
    """``zoo``, ``spec`` or ``import``: the rules of :func:`archscope.builder.load.resolve`,
    without importing anything (a user's file is executed once, by the trace)."""
    from archscope.builder.load import SPEC_SUFFIXES

    if target.endswith(SPEC_SUFFIXES):
        return "spec"
    return "import" if ":" in target else "zoo"


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _problem(data: Any) -> str | None:
    """What makes ``data`` not a snapshot this archscope can check, or None."""
    if not isinstance(data, dict):
        return "the file holds no JSON object"
    if data.get("schema") == LEGACY:  # _upgrade left it: its input or batch is not what version 1 wrote
        return f"input must be [C, H, W] and batch a positive integer, got {echo(data.get('input'))}"
    if data.get("schema") != SCHEMA:
        return f"schema is {echo(data.get('schema'))}, this archscope reads {SCHEMA!r} (and {LEGACY!r})"
    missing = [k for k in _KEYS if k not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    model = data["model"]
    if not isinstance(model, dict) or not isinstance(model.get("target"), str) or not model["target"]:
        return "model.target is missing"
    if model.get("kind") not in KINDS:
        return f"model.kind is {echo(model.get('kind'))}, expected one of {', '.join(KINDS)}"
    if model["kind"] != "module" and kind_of(model["target"]) != model["kind"]:
        # zoo and spec snapshots never run code: a target that names code must say so
        actual = {"import": "an import path", "spec": "a spec file", "zoo": "a zoo name"}[kind_of(model["target"])]
        return f"model.kind is {model['kind']!r} but the target {echo(model['target'])} is {actual}"
    if not isinstance(data["name"], str):
        return "name must be a string"
    if not _is_int(data["batch"], 1):
        return f"batch must be a positive integer, got {echo(data['batch'])}"
    try:
        from_json(data["inputs"], data["batch"])
    except ValueError as exc:
        return f"inputs: {exc}"
    if not isinstance(data["mode"], str) or not isinstance(data["convention"], str):
        return "mode and convention must be strings"
    from archscope.tracer.conventions import CONVENTIONS

    if data["convention"] not in CONVENTIONS:
        return f"convention is {echo(data['convention'])}, expected one of {', '.join(CONVENTIONS)}"
    totals = data["totals"]
    if not isinstance(totals, dict) or not all(_is_int(totals.get(k)) for k in ("params", "trainable_params", "macs")):
        return "totals must hold params, trainable_params and macs (integers)"
    problem = _training_problem(data.get("training"), totals)
    if problem:
        return problem
    layers = data["layers"]
    if not isinstance(layers, list):
        return "layers must be a list"
    seen: set[tuple[str, int]] = set()
    for i, layer in enumerate(layers):
        problem = _layer_problem(layer)
        if problem:
            return f"layers[{i}]: {problem}"
        key = (layer["name"], layer["call"])
        if key in seen:
            return f"layers[{i}]: {cut(layer['name']) or '(model)'} call {layer['call']} is listed twice"
        seen.add(key)
    return None


def _layer_problem(layer: Any) -> str | None:
    if not isinstance(layer, dict):
        return "not an object"
    missing = [k for k in _LAYER_KEYS if k not in layer]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(layer["name"], str) or not isinstance(layer["type"], str):
        return "name and type must be strings"
    if not _is_int(layer["call"], 1):
        return f"call must be a positive integer, got {echo(layer['call'])}"
    shapes = layer["output_shapes"]
    if not (isinstance(shapes, list) and all(isinstance(s, list) and all(_is_int(d) for d in s) for s in shapes)):
        return f"output_shapes must be a list of shapes (lists of integers), got {echo(shapes)}"
    if not _is_int(layer["params"]) or not _is_int(layer["macs"]):
        return "params and macs must be non-negative integers"
    if not all(_is_int(layer[k]) for k in STEP_LAYER_KEYS if k in layer):
        return f"{', '.join(STEP_LAYER_KEYS)} must be non-negative integers"
    return None


def _training_problem(training: Any, totals: dict[str, Any]) -> str | None:
    """What is wrong with a snapshot's optional training step (its request and totals), or None."""
    if not all(_is_int(totals[k]) for k in STEP_TOTALS if k in totals):
        return f"totals: {', '.join(STEP_TOTALS)} must be non-negative integers"
    if training is None:
        return None
    if not isinstance(training, dict):
        return f"training must be an object, got {echo(training)}"
    if training.get("optimizer") not in OPTIMIZERS:
        return f"training.optimizer is {echo(training.get('optimizer'))}, expected one of {', '.join(OPTIMIZERS)}"
    if training.get("amp") is not None and training["amp"] not in AMP_MODES:
        return f"training.amp is {echo(training.get('amp'))}, expected null or one of {', '.join(AMP_MODES)}"
    for key in ("freeze", "checkpoint"):
        value = training.get(key)
        if not (isinstance(value, list) and all(isinstance(p, str) and p for p in value)):
            return f"training.{key} must be a list of name patterns, got {echo(value)}"
    missing = [k for k in STEP_TOTALS if k not in totals]
    if missing:
        return f"totals of a training snapshot must hold {', '.join(missing)}"
    return None
