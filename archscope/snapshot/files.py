"""Snapshot files: made from a trace, named by model and input, written byte-identically.

Schema ``archscope.snapshot/1``::

    {"schema": "archscope.snapshot/1",
     "model": {"kind": "zoo"|"spec"|"import", "target": str},   # how to rebuild it
     "name": str, "input": [C, H, W], "batch": int, "mode": "eval", "convention": str,
     "totals": {"params", "trainable_params", "macs"},
     "layers": [{"name", "type", "call", "output_shapes", "params", "macs"}, ...]}

Per layer, ``params`` and ``macs`` are the module's own (not its children's), so a
change shows up at the layer that changed. Spec files and ``file.py`` paths are
stored as given and resolved from the directory ``archscope check`` runs in (your
project root). No timestamps or versions: the same architecture gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archscope.errors import UsageError
from archscope.tracer.records import Trace

SCHEMA = "archscope.snapshot/1"
_KEYS = ("schema", "model", "name", "input", "batch", "mode", "convention", "totals", "layers")


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
    return f"{name}@{'x'.join(str(d) for d in dims)}.json"


def dumps(snapshot: dict[str, Any]) -> str:
    """Deterministic text: header fields indented, one line per layer (readable diffs)."""
    head = {k: v for k, v in snapshot.items() if k != "layers"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    layers = [f"  {json.dumps(layer, ensure_ascii=False)}" for layer in snapshot["layers"]]
    lines.append(' "layers": [')
    lines.append(",\n".join(layers))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load(path: Path) -> dict[str, Any]:
    """Read and validate a snapshot; a bad file raises :class:`CorruptSnapshotError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorruptSnapshotError(f"cannot read snapshot {str(path)!r}: {exc.strerror}") from None
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


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the file holds no JSON object"
    if data.get("schema") != SCHEMA:
        return f"schema is {data.get('schema')!r}, this archscope reads {SCHEMA!r}"
    missing = [k for k in _KEYS if k not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    model = data["model"]
    if not isinstance(model, dict) or not isinstance(model.get("target"), str):
        return "model.target is missing"
    if not isinstance(data["layers"], list) or not all(isinstance(x, dict) and "name" in x for x in data["layers"]):
        return "layers must be a list of objects with a name"
    return None
