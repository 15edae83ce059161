"""Specs to and from plain dicts, JSON and YAML, with field paths in every error.

A node is a mapping with a ``type`` (``{"type": "conv", "out": 64, "kernel": 7}``);
a plain list stands for an unnamed ``seq``; ``{"type": "block", "template": ...}``
expands a registered block template. ``to_dict`` writes only fields that differ
from their defaults, so files stay short; ``from_dict(to_dict(m)) == m``.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import functools
import json
import types
import typing
from pathlib import Path
from typing import Any

from archscope.errors import MAX_ECHO, SpecError, UsageError, cut, echo
from archscope.fileio import read_limited
from archscope.spec.expect import Expect, ExpectSyntaxError
from archscope.spec.nodes import NODE_TYPES, Model, Node, Seq

SCHEMA_VERSION = 1
_MODEL_KEYS = {"archscope_spec", "name", "input", "label", "layers"}

# Limits on what a spec file may hold (docs/guarantees.md): far above any real architecture
# (DenseNet-264 has ~1,000 nodes nested 6 deep), low enough that a hostile file fails fast.
MAX_FILE_BYTES = 32 * 2**20
MAX_DEPTH = 64  # nested lists and mappings
MAX_NODES = 200_000
MAX_ALIASES = 10_000  # YAML *alias uses (a "billion laughs" file expands exponentially)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """A node class's field types, worked out once (``get_type_hints`` is slow)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


# ---------------------------------------------------------------- to dict


def to_dict(model: Model) -> dict[str, Any]:
    out: dict[str, Any] = {"archscope_spec": SCHEMA_VERSION, "name": model.name,
                           "input": list(model.input)}
    if model.label:
        out["label"] = model.label
    out["layers"] = [node_to_dict(n) for n in model.layers]
    return out


def node_to_dict(node: Node) -> Any:
    if isinstance(node, Seq) and node.name is None and node.expect is None and node.label is None:
        return [node_to_dict(n) for n in node.layers]
    out: dict[str, Any] = {"type": node.TYPE}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        out[f.name] = _value_to_plain(value)
    return out


def _value_to_plain(value: Any) -> Any:
    if isinstance(value, Node):
        return node_to_dict(value)
    if isinstance(value, Expect):
        return {"shape": str(value), "source": value.source} if value.source else str(value)
    if isinstance(value, tuple):
        return [_value_to_plain(v) for v in value]
    return value


# ---------------------------------------------------------------- from dict


def from_dict(data: Any) -> Model:
    """Read a model mapping; raise :class:`SpecError` naming the field path on any fault."""
    if not isinstance(data, dict):
        raise SpecError("", f"a spec must be a mapping with name, input and layers; got {_kind(data)}")
    _reject_unknown(data, _MODEL_KEYS, "")
    version = data.get("archscope_spec", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SpecError("archscope_spec", f"this archscope reads spec format {SCHEMA_VERSION}, "
                                          f"the file says {echo(version)}")
    for key in ("name", "input", "layers"):
        if key not in data:
            raise SpecError("", f"missing required field {key!r}")
    name = _convert(data["name"], str, "name")
    shape = data["input"]
    if isinstance(shape, int):
        shape = [shape]
    if (not isinstance(shape, list) or len(shape) != 3
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)):
        raise SpecError("input", f"expected [channels, height, width] of positive ints, got {echo(shape)}")
    layers = data["layers"]
    if not isinstance(layers, list):
        raise SpecError("layers", f"expected a list of nodes, got {_kind(layers)}")
    return Model(name=name, input=tuple(shape), label=data.get("label"),
                 layers=tuple(node_from_dict(n, f"layers[{i}]") for i, n in enumerate(layers)))


def node_from_dict(data: Any, path: str) -> Node:
    if isinstance(data, list):
        return Seq(layers=tuple(node_from_dict(n, f"{path}[{i}]") for i, n in enumerate(data)))
    if not isinstance(data, dict):
        raise SpecError(path, f"expected a node (a mapping with 'type') or a list, got {_kind(data)}")
    type_name = data.get("type")
    if type_name == "block":
        return _expand_block(data, path)
    cls = NODE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        known = ", ".join(sorted(NODE_TYPES) + ["block"])
        raise SpecError(f"{path}.type", f"unknown node type {echo(type_name)}{_did_you_mean(type_name, NODE_TYPES)}"
                                        f"; known types: {known}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(data, set(fields) | {"type"}, path)
    kwargs = {}
    for fname, f in fields.items():
        if fname in data:
            kwargs[fname] = _convert(data[fname], hints[fname], f"{path}.{fname}")
        elif f.default is dataclasses.MISSING:
            raise SpecError(path, f"a {type_name} node needs the field {fname!r}")
    return cls(**kwargs)


def _expand_block(data: dict[str, Any], path: str) -> Node:
    from archscope.spec.templates import TEMPLATES  # the registry; zoo modules fill it

    args = {k: v for k, v in data.items() if k not in ("type", "template")}
    name = data.get("template")
    if name not in TEMPLATES:
        raise SpecError(f"{path}.template", f"unknown block template {echo(name)}"
                                            f"{_did_you_mean(name, TEMPLATES)}; known: "
                                            f"{', '.join(sorted(TEMPLATES))}")
    if "expect" in args:
        args["expect"] = _convert(args["expect"], Expect | None, f"{path}.expect")
    try:
        return TEMPLATES[name](**args)
    except TypeError as exc:
        raise SpecError(path, f"block template {name!r}: {cut(str(exc), 300)}") from None


def _convert(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against a field's type hint and convert lists to tuples."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(hint)
        if value is None and type(None) in arms:
            return None
        real = [a for a in arms if a is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own, more precise message
            return _convert(value, real[0], path)
        for arm in real:
            try:
                return _convert(value, arm, path)
            except SpecError:
                continue
        raise SpecError(path, f"expected {_describe(hint)}, got {echo(value)}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise SpecError(path, f"expected {_describe(hint)}, got {echo(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise SpecError(path, f"expected {_describe(hint)}, got {echo(value)}")
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if hint is Node:
        return node_from_dict(value, path)
    if hint is Expect:
        return _expect(value, path)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise SpecError(path, f"expected {_describe(hint)}, got {echo(value)}")


def _expect(value: Any, path: str) -> Expect:
    try:
        if isinstance(value, str):
            return Expect.parse(value)
        if isinstance(value, dict) and isinstance(value.get("shape"), str):
            _reject_unknown(value, {"shape", "source"}, path)
            return Expect.parse(value["shape"], str(value.get("source", "")))
    except ExpectSyntaxError as exc:
        raise SpecError(path, str(exc)) from None
    raise SpecError(path, f"expected a shape like 'N×64×56×56', got {echo(value)}")


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return "pair of ints" if args == (int, int) else f"a list of {len(args)} values"
    return {type(None): "null", Node: "node", Expect: "shape"}.get(hint, getattr(hint, "__name__", str(hint)))


def _reject_unknown(data: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in data:
        if key not in allowed:
            where = f"{path}.{cut(str(key))}" if path else cut(str(key))
            raise SpecError(where, f"unknown field{_did_you_mean(key, allowed)}; "
                                   f"allowed here: {', '.join(sorted(allowed))}")


def _did_you_mean(word: Any, options: Any) -> str:
    if len(str(word)) > MAX_ECHO:  # no name is that long, and difflib is quadratic in it
        return ""
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {echo(value)}"


# ---------------------------------------------------------------- files


def load_file(path: str | Path) -> Model:
    """Read a ``.json``, ``.yaml`` or ``.yml`` spec file, within the limits above."""
    p = Path(path)
    try:
        raw = read_limited(p, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise UsageError(f"spec file {str(p)!r} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise SpecError("", f"{p}: a spec may have at most {MAX_FILE_BYTES:,} bytes") from None
        raise UsageError(f"cannot read spec file {str(p)!r}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError("", f"{p}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    data = _parse(text, p)
    _check_shape_of(data, p)
    try:
        return from_dict(data)
    except SpecError as exc:
        raise SpecError(exc.path, f"{exc.detail} (in {p})") from None
    except RecursionError:
        raise SpecError("", f"{p}: nodes nested too deep to read") from None


def _parse(text: str, p: Path) -> Any:
    if p.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError("", f"{p}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        except RecursionError:
            raise SpecError("", f"{p}: nested more than {MAX_DEPTH} levels deep") from None
    import yaml

    try:
        return yaml.load(text, Loader=_limited_loader())  # noqa: S506 (a SafeLoader, with limits)
    except yaml.YAMLError as exc:
        raise SpecError("", f"{p}: not valid YAML: {' '.join(str(exc).split())[:300]}") from None
    except RecursionError:
        raise SpecError("", f"{p}: nested more than {MAX_DEPTH} levels deep") from None


@functools.cache
def _limited_loader() -> type:
    """yaml's SafeLoader (no tags that run code), with a depth limit, a limit on alias uses,
    and no alias to a node that contains it (``layers: &a [*a]``)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.depth = self.aliases = 0
            self.open: set[str] = set()  # anchors of the nodes being composed

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise yaml.YAMLError(f"more than {MAX_ALIASES:,} aliases (*name): a spec does not need them")
                if event.anchor in self.open:
                    raise yaml.YAMLError(f"the alias *{event.anchor} refers to a node that contains it")
            anchor = getattr(self.peek_event(), "anchor", None)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
            if anchor:
                self.open.add(anchor)
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
                self.open.discard(anchor)

    return Loader


def _check_shape_of(data: Any, p: Path) -> None:
    """Depth and node count, counted without recursion (aliases expanded as they are used)."""
    stack, count = [(data, 0)], 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError("", f"{p}: nested more than {MAX_DEPTH} levels deep")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            count += 1
            if count > MAX_NODES * 4:  # every node is a mapping of a few values
                raise SpecError("", f"{p}: more than {MAX_NODES:,} nodes; archscope reads at most that many")
            stack.append((child, depth + 1))


def dump_file(model: Model, path: str | Path) -> str:
    """The text of ``model`` as a spec file of ``path``'s kind (JSON or YAML)."""
    data = to_dict(model)
    if str(path).endswith(".json"):
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
