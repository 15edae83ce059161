"""What a model is fed: named inputs with a shape, a batch position and a dtype. No torch.

One value type carries a model's inputs from the command line or the Python API
through the tracer into every record, report, snapshot and diagram:

- :class:`Input` is one tensor: a ``name`` (the keyword, or the label of a positional
  argument), its shape *per sample* (without the batch), the position ``batch_dim`` where
  the batch is inserted (None: a tensor with no batch dimension, fed as written) and a
  ``dtype`` (None: floating point of the model's ``--dtype``).
- :class:`Inputs` is what one forward call takes: positional arguments and keyword
  arguments, each an :class:`Input` or a nested tuple, list or dict of them (``(x, (h0,
  c0))``, ``{"image": ..., "meta": ...}``, a list of images).

The words follow torchinfo's (``input_size``, ``input_data``, ``dtypes``, ``batch_dim``),
so its users can switch; unlike torchinfo, a shape is per sample and ``--batch`` says N.

Text forms, as ``--input`` takes them (:func:`parse_input`)::

    20                       N×20, float
    3x16x112x112             N×3×16×112×112
    128:int64                token ids, N×128
    input_ids=128:int64      the keyword argument input_ids
    attention_mask=128:bool

The short image forms (``224``, ``224x224``; ``1x3x224x224`` with its batch) mean an
image only for a model known to take one (:func:`image_forms`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

from archscope.errors import UsageError, echo

# Every dtype an input or a parameter may have, with its size in bytes. The first four
# are floating point: the ones ``--dtype`` (the parameters' type) takes.
DTYPE_BYTES: dict[str, int] = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8,
}
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
_ALIASES = {"float": "float32", "half": "float16", "double": "float64", "long": "int64", "int": "int32",
            "fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64"}

MAX_DIMS = 8  # more is a typo, not a model input
MAX_ELEMENTS = 2**48  # per input: beyond what any machine holds, even on meta storage sizes overflow

Shape = tuple[int, ...]
Tree = Union["Input", tuple["Tree", ...], list["Tree"], dict[str, "Tree"]]

FORMS = ("[NAME=]SHAPE[:DTYPE], SHAPE per sample as numbers joined by x (20, 1x16000, 3x224x224), e.g. "
         "--input 128:int64 or --input attention_mask=128:bool; for an image model also 224 (square) or "
         "224x224 (H×W)")


@dataclass(frozen=True)
class Input:
    """One tensor a model takes. ``shape`` is per sample; ``batch_dim`` is where the batch goes."""

    name: str
    shape: Shape
    dtype: str | None = None  # None: the model's floating-point dtype
    batch_dim: int | None = 0
    value: Any = field(default=None, compare=False, repr=False)  # the user's own tensor, never copied

    def full_shape(self, batch: int) -> Shape:
        if self.batch_dim is None:
            return self.shape
        return (*self.shape[:self.batch_dim], batch, *self.shape[self.batch_dim:])

    def nbytes(self, batch: int) -> int:
        return math.prod(self.full_shape(batch)) * DTYPE_BYTES.get(self.dtype or "float32", 4)


@dataclass(frozen=True)
class Inputs:
    """Positional and keyword arguments of one forward call, as trees of :class:`Input`."""

    args: tuple[Tree, ...] = ()
    kwargs: Mapping[str, Tree] = field(default_factory=dict)
    source: str = ""  # where they came from: "--input", "the reference input", "example_inputs", ...

    def leaves(self) -> list[Input]:
        """Every input tensor, positional first, in order."""
        return [leaf for tree in (*self.args, *self.kwargs.values()) for leaf in _leaves(tree)]

    def map(self, fn: Any) -> Inputs:
        """The same structure with every leaf replaced by ``fn(leaf)``."""
        return Inputs(tuple(_map(t, fn) for t in self.args), {k: _map(t, fn) for k, t in self.kwargs.items()},
                      self.source)

    def with_dtype(self, dtype: str) -> Inputs:
        """Leaves of no stated dtype take ``dtype`` (the model's floating-point type)."""
        return self.map(lambda leaf: leaf if leaf.dtype else replace(leaf, dtype=dtype))

    @property
    def image(self) -> Shape | None:
        """(C, H, W) when the model is fed one float image, batch first; None otherwise."""
        leaves = self.leaves()
        if (len(leaves) == 1 and len(self.args) == 1 and leaves[0].batch_dim == 0 and len(leaves[0].shape) == 3
                and (leaves[0].dtype or "float32") in FLOAT_DTYPES):
            return leaves[0].shape
        return None


def single_input(shape: Sequence[int], source: str = "") -> Inputs:
    """One float tensor of per-sample ``shape``, batch first: what the zoo and spec files take
    (an image, ``(C, H, W)``)."""
    return Inputs((Input("x", tuple(shape)),), source=source)


def _leaves(tree: Tree) -> Iterator[Input]:
    if isinstance(tree, Input):
        yield tree
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    else:
        for v in tree:
            yield from _leaves(v)


def _map(tree: Tree, fn: Any) -> Tree:
    if isinstance(tree, Input):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: _map(v, fn) for k, v in tree.items()}
    mapped = [_map(v, fn) for v in tree]
    return tuple(mapped) if isinstance(tree, tuple) else mapped


# ---------------------------------------------------------------- reading what users type

_SEP = re.compile(r"\s*[×xX,*]\s*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ASCII digits only ('²²⁴' and '①' pass str.isdigit() but int() refuses them), and few of
# them (int() refuses 4,300 digits).
_DIGITS = re.compile(r"[0-9]{1,15}")


def dtype_name(text: str, what: str = "dtype") -> str:
    """A dtype's canonical name (``int64``; ``torch.int64`` and ``long`` too), or a usage error."""
    name = str(text).strip().removeprefix("torch.")
    name = _ALIASES.get(name, name)
    if name not in DTYPE_BYTES:
        raise UsageError(f"unknown {what} {echo(text)}: use one of {', '.join(DTYPE_BYTES)}")
    return name


def parse_shape(text: str, what: str = "input size") -> Shape:
    """``3x224x224`` as (3, 224, 224): positive integers joined by x (or ×, comma)."""
    parts = _SEP.split(text.strip())
    if not text.strip() or not all(_DIGITS.fullmatch(p) and int(p) > 0 for p in parts):
        raise UsageError(f"cannot read {what} {echo(text)}: write {FORMS}; every number must be a "
                         "positive integer")
    return check_shape(tuple(int(p) for p in parts), what)


def check_shape(dims: Sequence[Any], what: str = "input size") -> Shape:
    """``dims`` as a shape, or a usage error naming ``what``: positive integers, a sane count and size."""
    if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence):
        raise UsageError(f"{what} must be a sequence of positive integers, got {echo(dims)}")
    bad = [d for d in dims if isinstance(d, bool) or not isinstance(d, int) or d < 1]
    if bad:
        raise UsageError(f"{what} must hold positive integers, got {echo(tuple(dims))}")
    if len(dims) > MAX_DIMS:
        raise UsageError(f"{what} has {len(dims)} dimensions; archscope takes at most {MAX_DIMS}")
    if math.prod(dims) > MAX_ELEMENTS:
        raise UsageError(f"{what} {echo('x'.join(map(str, dims)))} has {math.prod(dims):.3g} elements, "
                         f"more than any machine can hold (limit {MAX_ELEMENTS:.3g})")
    return tuple(int(d) for d in dims)


@dataclass(frozen=True)
class Typed:
    """One ``--input`` as typed: an optional keyword name, a per-sample shape, an optional dtype."""

    shape: Shape
    name: str | None = None
    dtype: str | None = None


def parse_input(text: str) -> Typed:
    """``[NAME=]SHAPE[:DTYPE]``: ``20``, ``128:int64``, ``attention_mask=128:bool``."""
    raw = str(text).strip()
    name = None
    if "=" in raw:
        name, _, raw = raw.partition("=")
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise UsageError(f"cannot read input {echo(text)}: {echo(name)} is not an argument name (write "
                             f"{FORMS})")
    shape_text, _, dtype = raw.partition(":")
    return Typed(parse_shape(shape_text), name, dtype_name(dtype, "input dtype") if dtype else None)


# ---------------------------------------------------------------- from what the API and the CLI take


def from_sizes(input_size: Any, dtypes: Any = None, batch_dim: int | None = 0,
               image_channels: int | None = None, names: Sequence[str] = ()) -> tuple[Inputs, int | None]:
    """Inputs from ``input_size`` (and ``dtypes``), and a batch when the size carries one.

    ``input_size`` is one shape (``20``, ``(3, 224, 224)``, ``"128:int64"``), a list of
    them (several positional inputs, or ``--input`` given several times) or a dict of
    keyword inputs. ``image_channels`` is set for a model known to take an image: then a
    lone ``224`` or ``224x224`` is a square or H×W image of that many channels and a
    4-dimensional size is N×C×H×W. ``names`` label the positional inputs (forward's
    parameter names).
    """
    if isinstance(input_size, (list, tuple)) and not input_size:
        return Inputs(source="input_size"), None  # a forward that takes nothing
    typed = _typed_list(input_size)
    if isinstance(dtypes, Mapping):  # by name: {"input_ids": "int64"}
        unknown = set(dtypes) - {t.name for t in typed}
        if unknown:
            raise UsageError(f"dtypes names {', '.join(map(repr, sorted(map(str, unknown))))}, which input_size "
                             "does not")
        dtypes = [dtypes.get(t.name) for t in typed]
    kinds = _dtype_list(dtypes, len(typed))
    typed = [t if k is None else replace(t, dtype=k) for t, k in zip(typed, kinds, strict=True)]
    if batch_dim is not None and (isinstance(batch_dim, bool) or not isinstance(batch_dim, int) or batch_dim < 0):
        raise UsageError(f"batch_dim must be a non-negative integer or None, got {echo(batch_dim)}")
    batch = None
    if image_channels is not None and len(typed) == 1 and typed[0].name is None and batch_dim == 0:
        shape, batch = image_forms(typed[0].shape, image_channels)
        typed = [replace(typed[0], shape=shape)]
    args: list[Tree] = []
    kwargs: dict[str, Tree] = {}
    for t in typed:
        if batch_dim is not None and batch_dim > len(t.shape):
            raise UsageError(f"batch_dim {batch_dim} is past the last dimension of input "
                             f"{'x'.join(map(str, t.shape))} (at most {len(t.shape)})")
        if t.name is not None:
            if t.name in kwargs:
                raise UsageError(f"input {echo(t.name)} is given twice")
            kwargs[t.name] = Input(t.name, t.shape, t.dtype, batch_dim)
        else:
            if kwargs:
                raise UsageError("positional inputs come before keyword inputs (NAME=SHAPE): put the unnamed "
                                 "--input first")
            positional = sum(t.name is None for t in typed)
            label = names[len(args)] if len(args) < len(names) else "x" if positional == 1 else f"input{len(args)}"
            args.append(Input(label, t.shape, t.dtype, batch_dim))
    return Inputs(tuple(args), kwargs, "input_size"), batch


def image_forms(shape: Shape, channels: int) -> tuple[Shape, int | None]:
    """An image model's short forms: 224 → (C, 224, 224), 224x224 → (C, H, W), N×C×H×W → batch."""
    if len(shape) == 1:
        return (channels, shape[0], shape[0]), None
    if len(shape) == 2:
        return (channels, *shape), None
    if len(shape) == 4:
        return shape[1:], shape[0]
    return shape, None


def _typed_list(input_size: Any) -> list[Typed]:
    if isinstance(input_size, bool):
        raise UsageError(f"input_size must be a shape, a list of shapes or a dict of them, got {echo(input_size)}")
    if isinstance(input_size, (str, int)):
        return [_typed(input_size)]
    if isinstance(input_size, Mapping):
        out = []
        for name, size in input_size.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise UsageError(f"input_size keys must be argument names, got {echo(name)}")
            out.append(replace(_typed(size), name=name))
        return out
    if isinstance(input_size, Sequence) and input_size and all(
            isinstance(d, int) and not isinstance(d, bool) for d in input_size):
        return [Typed(check_shape(input_size))]  # one shape: (3, 224, 224)
    if isinstance(input_size, Sequence) and input_size:
        return [_typed(s) for s in input_size]
    raise UsageError(f"input_size must be a shape such as (3, 224, 224), a list of shapes or a dict of them, "
                     f"got {echo(input_size)}")


def _typed(size: Any) -> Typed:
    if isinstance(size, str):
        return parse_input(size)
    if isinstance(size, int) and not isinstance(size, bool):
        return Typed(check_shape((size,)))
    return Typed(check_shape(size))


def _dtype_list(dtypes: Any, n: int) -> list[str | None]:
    if dtypes is None:
        return [None] * n
    if isinstance(dtypes, str) or not isinstance(dtypes, Sequence):
        return [dtype_name(str(dtypes), "dtypes entry")] * n
    if len(dtypes) != n:
        raise UsageError(f"dtypes has {len(dtypes)} entries for {n} input(s): give one per input")
    return [None if d is None else dtype_name(str(d), "dtypes entry") for d in dtypes]


# ---------------------------------------------------------------- as text and as JSON


def fmt_shape(shape: Sequence[object], batch: object | None = "N") -> str:
    """``N×3×224×224``: the one way a shape is written (or with a number for the batch;
    ``batch=None`` for a full shape, ``1×64×112×112``). Dimensions are written with
    ``str``, so symbolic ones (``⌈H/2⌉``) and window sizes (``3×3``) are written alike."""
    dims = shape if batch is None else (batch, *shape)
    return "×".join(str(d) for d in dims)


def describe(leaf: Input, batch: int) -> str:
    """``input_ids 1×128 int64``."""
    return f"{leaf.name} {fmt_shape(leaf.full_shape(batch), None)} {leaf.dtype or 'float32'}"


def describe_all(inputs: Inputs, batch: int) -> str:
    leaves = inputs.leaves()
    return ", ".join(describe(leaf, batch) for leaf in leaves) if leaves else "no input"


def signature(inputs: Inputs, batch: int) -> str:
    """What inputs compare by: shapes and dtypes, and the names of keyword inputs only
    (``1×3×224×224 float32``; a positional input's label is forward's parameter name, and
    renaming that changes no architecture)."""
    parts = [describe(leaf, batch) if leaf.name in inputs.kwargs else describe(leaf, batch).partition(" ")[2]
             for leaf in inputs.leaves()]
    return ", ".join(parts) or "no input"


def file_label(inputs: Inputs, batch: int) -> str:
    """``3x224x224`` (a float input at batch 1), ``8x3x224x224``, ``128-int64+128-bool``."""
    parts = []
    for leaf in inputs.leaves():
        dims = leaf.shape if batch == 1 else leaf.full_shape(batch)
        text = "x".join(map(str, dims)) or "scalar"
        if leaf.dtype and leaf.dtype not in FLOAT_DTYPES:
            text += f"-{leaf.dtype}"
        parts.append(f"{leaf.name}={text}" if leaf.name in inputs.kwargs else text)
    return "+".join(parts) or "noinput"


def to_json(inputs: Inputs, batch: int) -> dict[str, Any]:
    """``{"args": [tree...], "kwargs": {name: tree}}``; a leaf is ``{"name", "shape", "dtype",
    "batch_dim"}`` with the shape as fed (batch included), a tuple ``{"tuple": [...]}``, a dict
    ``{"dict": {...}}``, a list a JSON array."""
    return {"args": [_tree_json(t, batch) for t in inputs.args],
            "kwargs": {k: _tree_json(t, batch) for k, t in inputs.kwargs.items()}}


def _tree_json(tree: Tree, batch: int) -> Any:
    if isinstance(tree, Input):
        return {"name": tree.name, "shape": list(tree.full_shape(batch)), "dtype": tree.dtype or "float32",
                "batch_dim": tree.batch_dim}
    if isinstance(tree, dict):
        return {"dict": {k: _tree_json(v, batch) for k, v in tree.items()}}
    items = [_tree_json(v, batch) for v in tree]
    return {"tuple": items} if isinstance(tree, tuple) else items


MAX_JSON_DEPTH = 32


def from_json(data: Any, batch: int, source: str = "snapshot") -> Inputs:
    """The inverse of :func:`to_json`; a ValueError says what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("args"), list) or not isinstance(
            data.get("kwargs"), dict):
        raise ValueError("inputs must be an object with args (a list) and kwargs (an object)")
    return Inputs(tuple(_tree_from(t, batch, 0) for t in data["args"]),
                  {str(k): _tree_from(t, batch, 0) for k, t in data["kwargs"].items()}, source)


def _tree_from(data: Any, batch: int, depth: int) -> Tree:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"inputs are nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(data, list):
        return [_tree_from(v, batch, depth + 1) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"an input must be an object or a list, got {echo(data)}")
    if "tuple" in data and isinstance(data["tuple"], list):
        return tuple(_tree_from(v, batch, depth + 1) for v in data["tuple"])
    if "dict" in data and isinstance(data["dict"], dict):
        return {str(k): _tree_from(v, batch, depth + 1) for k, v in data["dict"].items()}
    name, shape, dtype, bdim = data.get("name"), data.get("shape"), data.get("dtype"), data.get("batch_dim")
    if not isinstance(name, str) or not isinstance(shape, list) or not isinstance(dtype, str):
        raise ValueError("an input needs name (string), shape (list) and dtype (string)")
    try:
        full = check_shape(shape, f"input {name!r}") if shape else ()
        dtype = dtype_name(dtype)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    if bdim is None:
        return Input(name, full, dtype, None)
    if isinstance(bdim, bool) or not isinstance(bdim, int) or not 0 <= bdim < len(full) or full[bdim] != batch:
        raise ValueError(f"input {name!r}: batch_dim {bdim!r} does not hold the batch {batch} in shape {shape}")
    return Input(name, full[:bdim] + full[bdim + 1:], dtype, bdim)


def from_legacy(shape: Sequence[int]) -> Inputs:
    """The ``[C, H, W]`` of a version-1 snapshot: one float image, batch first."""
    return single_input(tuple(shape), "snapshot")
