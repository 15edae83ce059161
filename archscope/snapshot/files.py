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
from archscope.tracer.records import Trace

SCHEMA = "archscope.snapshot/2"
LEGACY = "archscope.snapshot/1"
_KEYS = ("schema", "model", "name", "inputs", "batch", "mode", "convention", "totals", "layers")
_LAYER_KEYS = ("name", "type", "call", "output_shapes", "params", "macs")
MAX_SNAPSHOT_BYTES = 64 * 2**20  # a 10,000-layer model's snapshot has ~3 MiB


class CorruptSnapshotError(UsageError):
    """A snapshot file that cannot be read: exit code 2, with the file and the reason."""


def make(trace: Trace, kind: str, target: str) -> dict[str, Any]:
    return {
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


def filename(snapshot: dict[str, Any]) -> str:
    """``build_net@3x224x224.json`` (``@8x3x224x224`` when the batch is not 1;
    ``TinyGPT@128-int64.json``, ``bert@input_ids=128-int64+attention_mask=128-bool.json``)."""
    label = file_label(inputs_of(snapshot), snapshot["batch"])
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", snapshot["name"]).lstrip(".")[:80] or "model"
    return f"{safe}@{re.sub(r'[^A-Za-z0-9._+=-]', '_', label)[:120]}.json"


def inputs_of(snapshot: dict[str, Any]) -> Inputs:
    """What the snapshot's model was fed (a validated snapshot)."""
    return from_json(snapshot["inputs"], snapshot["batch"])


def dumps(snapshot: dict[str, Any]) -> str:
    """Deterministic text: header fields indented, one line per layer (readable diffs)."""
    lines = ["{"]
    for key in _KEYS[:-1]:
        lines.append(f" {json.dumps(key)}: {json.dumps(snapshot[key], ensure_ascii=False)},")
    layers = [f"  {json.dumps({k: layer[k] for k in _LAYER_KEYS}, ensure_ascii=False)}"
              for layer in snapshot["layers"]]
    lines.append(' "layers": [' + ("\n" + ",\n".join(layers) + "\n " if layers else "") + "]")
    lines.append("}")
    return "\n".join(lines) + "\n"


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
    return None
