"""Snapshot files: made from a trace, named by model and input, written byte-identically.

Schema ``archscope.snapshot/1``::

    {"schema": "archscope.snapshot/1",
     "model": {"kind": "zoo"|"spec"|"import"|"module", "target": str},   # how to rebuild it
     "name": str, "input": [C, H, W], "batch": int, "mode": "eval", "convention": str,
     "totals": {"params", "trainable_params", "macs"},
     "layers": [{"name", "type", "call", "output_shapes", "params", "macs"}, ...]}

Per layer, ``params`` and ``macs`` are the module's own (not its children's), so a
change shows up at the layer that changed. Spec files and ``file.py`` paths are
stored as given and resolved from the directory ``archscope check`` runs in (your
project root). No timestamps or versions: the same architecture gives the same bytes.
Kind ``module`` is a snapshot the pytest plugin took of an ``nn.Module`` instance: its
target (``package.module:Class``) only says what it was; only that test can re-check it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from archscope.errors import UsageError
from archscope.tracer.records import Trace

SCHEMA = "archscope.snapshot/1"
_KEYS = ("schema", "model", "name", "input", "batch", "mode", "convention", "totals", "layers")
_LAYER_KEYS = ("name", "type", "call", "output_shapes", "params", "macs")


class CorruptSnapshotError(UsageError):
    """A snapshot file that cannot be read: exit code 2, with the file and the reason."""


def make(trace: Trace, kind: str, target: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "model": {"kind": kind, "target": target},
        "name": trace.model,
        "input": list(trace.input),
        "batch": trace.batch,
        "mode": trace.mode,
        "convention": trace.convention,
        "totals": {"params": trace.totals.params, "trainable_params": trace.totals.trainable_params,
                   "macs": trace.totals.macs},
        "layers": [{"name": r.name, "type": r.type, "call": r.call,
                    "output_shapes": [list(s) for s in r.output_shapes], "params": r.params, "macs": r.macs}
                   for r in trace.layers],
    }


def filename(name: str, input_shape: list[int] | tuple[int, ...], batch: int) -> str:
    """``build_net@3x224x224.json`` (``@8x3x224x224`` when the batch is not 1)."""
    dims = ([batch] if batch != 1 else []) + list(input_shape)
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".") or "model"
    return f"{safe}@{'x'.join(str(d) for d in dims)}.json"


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
        text = path.read_text(encoding="utf-8")
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
    problem = _problem(data)
    if problem:
        raise CorruptSnapshotError(f"snapshot {str(path)!r} is not an archscope snapshot: {problem}")
    return dict(data)


KINDS = ("zoo", "spec", "import", "module")


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _problem(data: Any) -> str | None:
    """What makes ``data`` not a snapshot this archscope can check, or None."""
    if not isinstance(data, dict):
        return "the file holds no JSON object"
    if data.get("schema") != SCHEMA:
        return f"schema is {data.get('schema')!r}, this archscope reads {SCHEMA!r}"
    missing = [k for k in _KEYS if k not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    model = data["model"]
    if not isinstance(model, dict) or not isinstance(model.get("target"), str) or not model["target"]:
        return "model.target is missing"
    if model.get("kind") not in KINDS:
        return f"model.kind is {model.get('kind')!r}, expected one of {', '.join(KINDS)}"
    if not isinstance(data["name"], str):
        return "name must be a string"
    if not (isinstance(data["input"], list) and len(data["input"]) == 3 and all(_is_int(d, 1) for d in data["input"])):
        return f"input must be [C, H, W] (positive integers), got {data['input']!r}"
    if not _is_int(data["batch"], 1):
        return f"batch must be a positive integer, got {data['batch']!r}"
    if not isinstance(data["mode"], str) or not isinstance(data["convention"], str):
        return "mode and convention must be strings"
    totals = data["totals"]
    if not isinstance(totals, dict) or not all(_is_int(totals.get(k)) for k in ("params", "trainable_params", "macs")):
        return "totals must hold params, trainable_params and macs (integers)"
    layers = data["layers"]
    if not isinstance(layers, list):
        return "layers must be a list"
    for i, layer in enumerate(layers):
        problem = _layer_problem(layer)
        if problem:
            return f"layers[{i}]: {problem}"
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
        return f"call must be a positive integer, got {layer['call']!r}"
    shapes = layer["output_shapes"]
    if not (isinstance(shapes, list) and all(isinstance(s, list) and all(_is_int(d) for d in s) for s in shapes)):
        return f"output_shapes must be a list of shapes (lists of integers), got {shapes!r}"
    if not _is_int(layer["params"]) or not _is_int(layer["macs"]):
        return "params and macs must be non-negative integers"
    return None
