"""Two architectures side by side: load, align layer by layer, compare. Pure data, no printing.

Either side is a zoo name, a spec file, an import path or a snapshot file
(``archscope.snapshot/1``, made by ``archscope snapshot``). Layers are aligned first by
identical qualified names (a :class:`difflib.SequenceMatcher` over the names keeps model
order), then the leftovers between two name matches by structure (a second matcher over
their ``(type, depth)``); what is still unpaired is added or removed. Per aligned pair,
the type, the layer attributes (kernel, stride, padding, dilation, groups, channels,
bias; :func:`attributes`), the output shapes, the parameters and the MACs are compared.

Only leaf layers by default; with ``depth`` every module down to that depth, a
container's parameters and MACs being those of its whole subtree.

With ``training`` (a :class:`~archscope.tracer.training.Training`) both models are traced
for a training step, and the step's totals (:data:`TRAINING`) are compared beside the
forward ones; a snapshot side has them when it was taken with ``--training``. They are
compared only when both sides have a step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archscope.errors import UsageError
from archscope.snapshot.files import STEP_TOTALS, inputs_of
from archscope.spec.inputs import Inputs, from_sizes, signature

if TYPE_CHECKING:  # torch only for import-path targets
    from torch import nn

    from archscope.builder.load import Target
    from archscope.spec.nodes import Model
    from archscope.tracer.records import Trace
    from archscope.tracer.training import Training

Shape = tuple[int, ...]
# Compared attributes, in the order they are reported. "in"/"width": input and output
# channels (features, for a linear layer); "output": an adaptive pool's output size.
ATTRIBUTES = ("in", "width", "kernel", "stride", "padding", "dilation", "groups", "bias", "output")
# A training step's totals, compared when both sides have one, in the order they are reported:
# those a snapshot taken with --training records.
TRAINING = STEP_TOTALS


@dataclass
class Layer:
    name: str  # qualified module name, "" for the root
    type: str
    depth: int
    call: int
    leaf: bool
    output_shapes: list[Shape]
    params: int  # a leaf's own; a container's whole subtree
    macs: int
    attrs: dict[str, Any] | None = None  # None: not known (a snapshot records none)

    @property
    def key(self) -> str:
        name = self.name or "(model)"
        return name if self.call == 1 else f"{name} (call {self.call})"


@dataclass
class Side:
    """One of the two models, as traced (or as its snapshot recorded it)."""

    target: str  # what the user typed
    name: str
    kind: str  # "zoo", "spec", "import" or "snapshot"
    inputs: Inputs
    batch: int
    convention: str
    mode: str
    params: int
    macs: int
    layers: list[Layer]  # every module call, the root first
    step: dict[str, int] | None = None  # a training step's totals (TRAINING), None: a forward pass only
    training: str = ""  # the step priced, in words ("adam, bf16"); "" with no step

    @property
    def input_text(self) -> str:
        """``1×3×224×224 float32``: what it was fed, compared by shapes and dtypes."""
        return signature(self.inputs, self.batch)

    @property
    def has_attributes(self) -> bool:
        return self.kind != "snapshot"

    @property
    def leaves(self) -> int:
        return sum(1 for x in self.layers if x.leaf)


@dataclass(frozen=True)
class FieldChange:
    field: str  # "type", an attribute of ATTRIBUTES, "out", "params" or "macs"
    old: Any
    new: Any


@dataclass
class Row:
    a: Layer | None
    b: Layer | None
    aligned_by: str  # "name", "structure" or "" (added, removed)
    changes: list[FieldChange] = field(default_factory=list)
    inside: int = 0  # a container (with ``depth``): leaf layers inside it that differ

    @property
    def status(self) -> str:
        if self.a is None:
            return "added"
        if self.b is None:
            return "removed"
        return "changed" if self.changes else "same"


@dataclass
class ModelDiff:
    a: Side
    b: Side
    rows: list[Row]
    depth: int | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    def aligned(self, how: str) -> int:
        return sum(1 for r in self.rows if r.aligned_by == how)

    @property
    def totals(self) -> list[tuple[str, int, int]]:
        """(what, a, b): parameters, MACs, leaf layers."""
        return [("params", self.a.params, self.b.params), ("macs", self.a.macs, self.b.macs),
                ("layers", self.a.leaves, self.b.leaves)]

    @property
    def training_totals(self) -> list[tuple[str, int, int]]:
        """(what, a, b) of :data:`TRAINING`, when both sides priced a training step; else none."""
        if self.a.step is None or self.b.step is None:
            return []
        return [(what, self.a.step[what], self.b.step[what]) for what in TRAINING]

    def summary(self) -> str:
        """``112 layers differ, 0 added, 0 removed; 161 aligned (161 by name)``."""
        changed, added, removed = self.count("changed"), self.count("added"), self.count("removed")
        by_name, by_structure = self.aligned("name"), self.aligned("structure")
        how = f"{by_name} by name" + (f", {by_structure} by structure" if by_structure else "")
        layers = "layer differs" if changed == 1 else "layers differ"
        return (f"{changed} {layers}, {added} added, {removed} removed; "
                f"{by_name + by_structure} aligned ({how})")


# ---------------------------------------------------------------- loading


def read_snapshot(text: str) -> dict[str, Any] | None:
    """The snapshot ``text`` names, or None when it names no snapshot file (a ``.json``
    spec, a zoo name...). A file that claims to be a snapshot but is not a valid one raises
    :class:`~archscope.snapshot.files.CorruptSnapshotError` (exit code 2)."""
    path = Path(text)
    if not text.endswith(".json") or not path.is_file():
        return None
    from archscope.fileio import read_limited
    from archscope.snapshot import files

    try:
        content = read_limited(path, files.MAX_SNAPSHOT_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None  # the spec loader says why it cannot be read
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, RecursionError):  # a truncated or broken snapshot, or spec file
        claims = '"archscope.snapshot/' in content[:500]
    else:
        claims = isinstance(data, dict) and str(data.get("schema", "")).startswith("archscope.snapshot")
    return files.load(path) if claims else None


def attributes(target: str, input_shape: Shape | None = None) -> dict[str, dict[str, Any]]:
    """Per qualified module name, its attributes (kernel, stride, groups, channels...).

    From the spec layout for zoo names and spec files, from the built module (on the meta
    device) for import paths; empty for a snapshot file, which records none.
    """
    if read_snapshot(target) is not None:
        return {}
    from archscope.builder.load import resolve

    resolved = resolve(target)
    if resolved.spec is not None:
        return spec_attributes(resolved.spec, input_shape)
    return module_attributes(resolved.module("meta"))


def spec_attributes(spec: Model, input_shape: Shape | None = None) -> dict[str, dict[str, Any]]:
    from archscope.spec.nodes import AdaptivePool, Conv, Linear, Pool
    from archscope.spec.sites import layout, pair

    result: dict[str, dict[str, Any]] = {}
    for site in layout(spec, input_shape).sites:
        node = site.node
        if site.module is None:
            continue
        if isinstance(node, Conv):
            result[site.module] = {
                "in": site.in_shape[0], "width": node.out, "kernel": pair(node.kernel),
                "stride": pair(node.stride), "padding": pair(node.padding), "dilation": pair(node.dilation),
                "groups": node.groups, "bias": node.bias}
        elif isinstance(node, Linear):
            result[site.module] = {"in": site.in_shape[-1], "width": node.out, "bias": node.bias}
        elif isinstance(node, Pool):
            result[site.module] = {"kernel": pair(node.kernel),
                                   "stride": pair(node.kernel if node.stride is None else node.stride),
                                   "padding": pair(node.padding)}
        elif isinstance(node, AdaptivePool):
            result[site.module] = {"output": pair(node.output)}
    return result


def module_attributes(module: nn.Module) -> dict[str, dict[str, Any]]:
    from torch import nn

    result: dict[str, dict[str, Any]] = {}
    for name, m in module.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            result[name] = {
                "in": m.in_channels, "width": m.out_channels, "kernel": _dims(m.kernel_size),
                "stride": _dims(m.stride), "padding": _dims(m.padding), "dilation": _dims(m.dilation),
                "groups": m.groups, "bias": m.bias is not None}
        elif isinstance(m, nn.Linear):
            result[name] = {"in": m.in_features, "width": m.out_features, "bias": m.bias is not None}
        elif isinstance(m, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
            result[name] = {"kernel": _dims(m.kernel_size), "stride": _dims(m.stride or m.kernel_size),
                            "padding": _dims(m.padding)}
        elif isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
            result[name] = {"output": _dims(m.output_size)}
    return result


def _dims(value: Any) -> Any:
    """``3`` and ``(3, 3)`` alike as ``(3, 3)``, so a spec and a module compare equal."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return value  # "same", None


def load(target: str, input_size: Any = None, batch: int = 1, convention: str = "torchvision",
         training: Training | None = None) -> Side:
    """Trace ``target`` (or read its snapshot). ``input_size`` as for :func:`archscope.api.trace`;
    None means the model's reference input (or the inputs it declares). ``training``: trace
    a training step too (a snapshot has what it was taken with)."""
    snapshot = read_snapshot(target)
    if snapshot is not None:
        return _snapshot_side(target, snapshot)
    from archscope.api import trace
    from archscope.builder.load import resolve

    resolved = resolve(target)
    if resolved.spec is None:  # an import path: build once, read its attributes, trace it
        module = resolved.module("meta")
        t = trace(module, input_size=input_size, batch=batch, convention=convention, training=training)
        attrs = module_attributes(module)
    else:
        t = trace(target, input_size=input_size, batch=batch, convention=convention, training=training)
        attrs = spec_attributes(resolved.spec, tuple(t.input))
    side = _trace_side(target, resolved, t, attrs)
    if training is not None and t.step is not None:
        from archscope.snapshot.files import request, step_totals, training_text

        side.step, side.training = step_totals(t.step), training_text(request(training))
    return side


def _trace_side(text: str, resolved: Target, t: Trace, attrs: dict[str, dict[str, Any]]) -> Side:
    layers = [Layer(r.name, r.type, r.depth, r.call, r.is_leaf, list(r.output_shapes), r.params_total,
                    r.macs_total, attrs.get(r.name, {})) for r in t.layers]
    return Side(text, resolved.name, resolved.kind, t.inputs, t.batch, t.convention, t.mode,
                t.totals.params, t.totals.macs, layers)


def _snapshot_side(text: str, snap: dict[str, Any]) -> Side:
    records = snap["layers"]
    names = {r["name"] for r in records}
    parents = {n.rsplit(".", 1)[0] if "." in n else "" for n in names if n}
    params: dict[str, int] = {}
    macs: dict[str, int] = {}
    for r in records:  # a container's counts are its subtree's
        parts = r["name"].split(".") if r["name"] else []
        for i in range(len(parts) + 1):
            prefix = ".".join(parts[:i])
            params[prefix] = params.get(prefix, 0) + r["params"]
            macs[prefix] = macs.get(prefix, 0) + r["macs"]
    layers = []
    for r in records:
        name = r["name"]
        leaf = name not in parents  # the root too, in a model with no submodules
        layers.append(Layer(name, r["type"], name.count(".") + 1 if name else 0, r["call"], leaf,
                            [tuple(s) for s in r["output_shapes"]],
                            r["params"] if leaf else params[name], r["macs"] if leaf else macs[name], None))
    totals = snap["totals"]
    side = Side(text, snap["name"], "snapshot", inputs_of(snap), snap["batch"], snap["convention"],
                snap["mode"], totals["params"], totals["macs"], layers)
    if snap.get("training") is not None and all(k in totals for k in TRAINING):
        from archscope.snapshot.files import training_text

        side.step = {k: totals[k] for k in TRAINING}
        side.training = training_text(snap["training"])
    return side


def diff_targets(a: str, b: str, input_size: Any = None, depth: int | None = None,
                 training: Training | None = None) -> ModelDiff:
    """Load both models and compare them. ``input_size`` (``--input`` texts) applies to both;
    by default each model has its reference input, or, lacking one, the other model's input.
    ``training``: price a training step of both too; without it, a model is traced for the
    step a snapshot on the other side was taken with, if any."""
    snaps = {t: read_snapshot(t) for t in (a, b)}
    for text, snap in snaps.items():
        if snap is not None and input_size is not None:
            fed = inputs_of(snap)
            image = fed.image
            asked, batch = from_sizes(input_size, image_channels=image[0] if image else None)
            if signature(asked, batch or 1) != signature(fed, snap["batch"]):
                raise UsageError(f"{text!r} is a snapshot taken at input {signature(fed, snap['batch'])}: --input "
                                 "cannot change it; drop --input or take a new snapshot with 'archscope snapshot "
                                 "--input'")
    snapshot = next((s for s in snaps.values() if s is not None), None)
    convention = snapshot["convention"] if snapshot is not None else "torchvision"
    batch = snapshot["batch"] if snapshot is not None else 1
    if training is None and snapshot is not None and snapshot.get("training") is not None:
        from archscope.snapshot.files import training_of

        training = training_of(snapshot)

    def side(text: str, other: Side | None) -> Side:
        size: Any = input_size
        if size is None and other is not None and not _has_reference(text):
            return load(text, other.inputs, other.batch, convention, training)
        return load(text, size, batch if size is None else 1, convention, training)

    # A model with no reference input (an import path) takes the other's input.
    if _has_reference(a) or not _has_reference(b):
        side_a = side(a, None)
        side_b = side(b, side_a)
    else:
        side_b = side(b, None)
        side_a = side(a, side_b)
    return compare(side_a, side_b, depth)


def _has_reference(text: str) -> bool:
    if read_snapshot(text) is not None:
        return True
    from archscope.snapshot.files import kind_of

    return kind_of(text) != "import"


# ---------------------------------------------------------------- alignment and comparison


def shown(side: Side, depth: int | None) -> list[Layer]:
    """Leaf layers (None), or every module from depth 1 to ``depth``."""
    if depth is None:
        return [x for x in side.layers if x.leaf]
    return [x for x in side.layers if 1 <= x.depth <= depth or (x.depth == 0 and x.leaf)]


def align(a: list[Layer], b: list[Layer]) -> list[Row]:
    """Rows in model order: pairs by name, then by structure between them; then added/removed."""
    rows: list[Row] = []
    names = SequenceMatcher(None, [x.key for x in a], [y.key for y in b], autojunk=False)
    for tag, i1, i2, j1, j2 in names.get_opcodes():
        if tag == "equal":
            rows.extend(Row(x, y, "name") for x, y in zip(a[i1:i2], b[j1:j2], strict=True))
        else:
            rows.extend(_by_structure(a[i1:i2], b[j1:j2]))
    return _pair_moved(rows)


def _by_structure(a: list[Layer], b: list[Layer]) -> list[Row]:
    rows: list[Row] = []
    shapes = SequenceMatcher(None, [(x.type, x.depth) for x in a], [(y.type, y.depth) for y in b], autojunk=False)
    for tag, i1, i2, j1, j2 in shapes.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):  # the same place: one layer changed
            rows.extend(Row(x, y, "structure") for x, y in zip(a[i1:i2], b[j1:j2], strict=True))
        else:
            rows.extend(Row(x, None, "") for x in a[i1:i2])
            rows.extend(Row(None, y, "") for y in b[j1:j2])
    return rows


def _pair_moved(rows: list[Row]) -> list[Row]:
    """A layer removed in one place and added under the same name in another was moved: one row,
    where it now is."""
    removed = {r.a.key: r.a for r in rows if r.a is not None and r.b is None}
    moved = {r.b.key for r in rows if r.a is None and r.b is not None and r.b.key in removed}
    result: list[Row] = []
    for r in rows:
        if r.a is not None and r.b is None and r.a.key in moved:
            continue
        if r.a is None and r.b is not None and r.b.key in moved:
            r.a, r.aligned_by = removed[r.b.key], "name"
        result.append(r)
    return result


def changes(x: Layer, y: Layer) -> list[FieldChange]:
    found = [FieldChange("type", x.type, y.type)] if x.type != y.type else []
    if x.attrs is not None and y.attrs is not None:
        found += [FieldChange(k, x.attrs[k], y.attrs[k]) for k in ATTRIBUTES
                  if k in x.attrs and k in y.attrs and x.attrs[k] != y.attrs[k]]
    if x.output_shapes != y.output_shapes:
        found.append(FieldChange("out", x.output_shapes, y.output_shapes))
    if x.params != y.params:
        found.append(FieldChange("params", x.params, y.params))
    if x.macs != y.macs:
        found.append(FieldChange("macs", x.macs, y.macs))
    return found


def compare(a: Side, b: Side, depth: int | None = None) -> ModelDiff:
    rows = _compared(shown(a, depth), shown(b, depth))
    if depth is not None:  # say how many leaf layers differ inside each container
        leaves = [r for r in _compared(shown(a, None), shown(b, None)) if r.status != "same"]
        for r in rows:
            if r.a is not None and r.b is not None and not (r.a.leaf and r.b.leaf):
                r.inside = sum(1 for x in leaves if _within(x.b, r.b) or (x.b is None and _within(x.a, r.a)))
    return ModelDiff(a, b, rows, depth, _notes(a, b))


def _compared(a: list[Layer], b: list[Layer]) -> list[Row]:
    rows = align(a, b)
    for r in rows:
        if r.a is not None and r.b is not None:
            r.changes = changes(r.a, r.b)
    return rows


def _within(layer: Layer | None, container: Layer) -> bool:
    return layer is not None and (not container.name or layer.name.startswith(container.name + "."))


def _notes(a: Side, b: Side) -> list[str]:
    notes = []
    for what in ("input_text", "batch", "convention", "mode"):
        va, vb = getattr(a, what), getattr(b, what)
        if va != vb:
            text_a, text_b = str(va), str(vb)
            what = what.removesuffix("_text")
            hint = " (--input sets one input for both)" if what == "input" and a.has_attributes and \
                b.has_attributes else ""
            notes.append(f"the {what}s differ: {text_a} for {a.target}, {text_b} for {b.target}{hint}")
    if (a.step is None) != (b.step is None):
        without = a if a.step is None else b
        notes.append(f"{without.target} has no training step (a snapshot taken without --training): "
                     "the training figures are not compared")
    elif a.training != b.training:
        notes.append(f"the training steps differ: {a.training} for {a.target}, {b.training} for {b.target}")
    snapshots = [s.target for s in (a, b) if not s.has_attributes]
    if snapshots:
        which = f"{snapshots[0]} is a snapshot: it records" if len(snapshots) == 1 else \
            f"{snapshots[0]} and {snapshots[1]} are snapshots: they record"
        notes.append(f"{which} types, output shapes, parameters and MACs, not kernel, stride, groups or "
                     "channels, so those are not compared")
    return notes
