"""Comparing two snapshots of one model: per layer, then totals. Pure data, no torch.

A training snapshot's optional fields (:mod:`archscope.snapshot.files`) are compared like the
others; a snapshot without them has none to compare, so it checks as it always did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archscope.snapshot.files import STEP_LAYER_KEYS, STEP_TOTALS, training_text

FIELDS = ("type", "output_shapes", "params", "macs", *STEP_LAYER_KEYS)
TOTALS = ("params", "trainable_params", "macs", *STEP_TOTALS)


@dataclass(frozen=True)
class LayerChange:
    layer: str  # "name" or "name (call 2)"
    field: str
    old: Any
    new: Any


@dataclass
class SnapshotDiff:
    changed: list[LayerChange] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    totals: list[LayerChange] = field(default_factory=list)
    setup: list[LayerChange] = field(default_factory=list)  # input, batch, convention or mode differ
    # The same layers, called in another order (the first difference). Not a change of the
    # architecture, so not in ``empty``; ``--update`` rewrites the snapshot in the new order.
    reordered: LayerChange | None = None

    @property
    def empty(self) -> bool:
        return not (self.changed or self.added or self.removed or self.totals or self.setup)

    def changed_layers(self) -> list[str]:
        """Changed layer names, in model order, each once."""
        return list(dict.fromkeys(c.layer for c in self.changed))


def _key(layer: dict[str, Any]) -> str:
    name = layer["name"] or "(model)"
    return name if layer.get("call", 1) == 1 else f"{name} (call {layer['call']})"


def _setup(snapshot: dict[str, Any], key: str) -> Any:
    """A setup field as compared; inputs by :func:`archscope.spec.inputs.signature`, a training
    step in words (``none`` for a snapshot without one)."""
    value = snapshot.get(key)
    if key == "training":
        return training_text(value)
    if key != "inputs" or value is None:
        return value
    from archscope.spec.inputs import from_json, signature

    return signature(from_json(value, snapshot["batch"]), snapshot["batch"])


def compare(old: dict[str, Any], new: dict[str, Any]) -> SnapshotDiff:
    diff = SnapshotDiff()
    for key in ("inputs", "batch", "convention", "mode", "training"):
        if _setup(old, key) != _setup(new, key):
            diff.setup.append(LayerChange("", key, _setup(old, key), _setup(new, key)))
    before = {_key(x): x for x in old["layers"]}
    after = {_key(x): x for x in new["layers"]}
    for name, layer in after.items():
        if name not in before:
            diff.added.append(name)
            continue
        for f in FIELDS:
            if before[name].get(f) != layer.get(f):
                diff.changed.append(LayerChange(name, f, before[name].get(f), layer.get(f)))
    diff.removed = [name for name in before if name not in after]
    kept_old = [k for k in before if k in after]
    kept_new = [k for k in after if k in before]
    if kept_old != kept_new:  # same layers, run in another order
        i = next(i for i, (a, b) in enumerate(zip(kept_old, kept_new, strict=True)) if a != b)
        diff.reordered = LayerChange(kept_new[i], "call order", f"#{i + 1} {kept_old[i]}", f"#{i + 1} {kept_new[i]}")
    for f in TOTALS:
        if old["totals"].get(f) != new["totals"].get(f):
            diff.totals.append(LayerChange("", f, old["totals"].get(f), new["totals"].get(f)))
    return diff
