"""Resolve what a user names (zoo name, spec file, import path) into a module to trace.

``package.module:attr`` and ``path/to/file.py:attr`` name an ``nn.Module`` instance,
a module class, or a function that returns a module, callable with no arguments.
Classes and functions are constructed under the target device (so on ``meta`` no
weight memory is ever allocated); an existing instance is never touched: it is
copied, to meta without copying its weights.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archscope.errors import USER_CODE_ERRORS, ModelLoadError, UsageError, one_line

if TYPE_CHECKING:  # torch is imported when a module is made, not to resolve a zoo name
    import torch
    from torch import nn

    from archscope.spec.nodes import Model

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Target:
    """A resolved model: where it came from and how to get a fresh module on a device."""

    text: str
    kind: str  # "zoo", "spec" or "import"
    name: str
    spec: Model | None = None
    factory: Callable[[], nn.Module] | None = None
    instance: nn.Module | None = None

    @property
    def reference_input(self) -> tuple[int, int, int] | None:
        return self.spec.input if self.spec is not None else None

    @property
    def image_channels(self) -> int | None:
        """The channels of a spec's image input; None for an import path (its module tells)."""
        return self.spec.input[0] if self.spec is not None else None

    def module(self, device: str | torch.device = "meta") -> nn.Module:
        """A fresh module on ``device``; the user's own instance is never modified."""
        import torch

        from archscope import dynamo

        dynamo.skip_import()  # before any torch work on the model: its init on meta (normal_) and its trace
        device = torch.device(device)
        if self.instance is not None:
            return _copy_to(self.instance, device)
        if self.spec is not None:
            from archscope.builder.from_spec import build_spec

            try:
                return build_spec(self.spec, device=device)
            except (RuntimeError, MemoryError, OverflowError) as exc:  # too large to allocate, on the CPU
                raise ModelLoadError(f"cannot build {self.name} on {device}: {one_line(exc, 200)}") from None
        from archscope.shape_rules import Building

        assert self.factory is not None
        with device, Building() if device.type == "meta" else nullcontext():
            module = _call_factory(self.factory, self.text)
        # NOTE: a tensor made by a legacy constructor (torch.Tensor(n), transformers' Wav2Vec2
        # masked_spec_embed) ignores the device context and lands on the CPU; moving the whole
        # module puts such strays where the rest is (on meta: no memory).
        return module.to(device)


def resolve(text: str) -> Target:
    """Turn the MODEL argument into a :class:`Target`."""
    if text.endswith(SPEC_SUFFIXES):
        import archscope.zoo  # noqa: F401  (block templates used by spec files)
        from archscope.spec.serialize import load_file

        model = load_file(text)
        return Target(text, "spec", model.name, spec=model)
    if ":" in text:
        return _resolve_import(text)
    from archscope import zoo

    entry = zoo.get(text)
    return Target(text, "zoo", entry.name, spec=entry.spec())


def load_object(text: str) -> Any:
    """The object ``package.module:attr`` or ``path/to/file.py:attr`` names (imported on first use)."""
    where, _, attr = text.rpartition(":")
    if not where or not attr:
        raise UsageError(f"cannot read import path {text!r}: write package.module:attr or path/to/file.py:attr")
    module = _import_file(where) if where.endswith(".py") else _import_module(where)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelLoadError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def call_user(fn: Callable[[], Any], text: str) -> Any:
    """``fn()`` for a function the user named, its failure a one-line model error."""
    _require_no_arguments(fn, text)
    try:
        return fn()
    except USER_CODE_ERRORS as exc:  # noqa: BLE001
        raise ModelLoadError(f"calling {text!r} failed: {one_line(exc)}") from exc


def _resolve_import(text: str) -> Target:
    obj = load_object(text)
    name = text.rpartition(":")[2].split(".")[-1]
    from torch import nn

    if isinstance(obj, nn.Module):
        return Target(text, "import", name, instance=obj)
    if callable(obj):
        _require_no_arguments(obj, text)
        return Target(text, "import", name, factory=obj)
    raise ModelLoadError(f"{text!r} is a {type(obj).__name__}, not an nn.Module, a module class "
                         "or a function that returns a module")


def _import_module(dotted: str) -> Any:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` does, so local packages import
    try:
        return importlib.import_module(dotted)
    except USER_CODE_ERRORS as exc:  # noqa: BLE001 (any failure of user code is reported in one line)
        raise ModelLoadError(f"cannot import {dotted!r}: {one_line(exc)}") from exc


def _import_file(path: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"file {path!r} does not exist")
    name = f"archscope_user_{p.stem}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except USER_CODE_ERRORS as exc:  # noqa: BLE001
        del sys.modules[name]
        raise ModelLoadError(f"cannot import {path!r}: {one_line(exc)}") from exc
    return module


def _require_no_arguments(fn: Callable[..., Any], text: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    required = [p.name for p in sig.parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:
        raise ModelLoadError(f"{text!r} needs arguments ({', '.join(required)}); point archscope at a "
                             "function or class that can be called with none, e.g. a small wrapper")


def _call_factory(factory: Callable[[], Any], text: str) -> nn.Module:
    module = call_user(factory, text)
    from torch import nn

    if not isinstance(module, nn.Module):
        raise ModelLoadError(f"{text!r} returned a {type(module).__name__}, not an nn.Module")
    return module


def _copy_to(module: nn.Module, device: torch.device) -> nn.Module:
    """A deep copy on ``device``, never the user's instance itself. To meta, tensors are never
    copied: parameters, buffers and plain tensor attributes (a pruned layer's ``weight``)
    become meta tensors of their shape, tied ones stay tied, uninitialised (lazy) ones stay
    uninitialised. A module that cannot be copied is a model error that says why."""

    memo: dict[int, Any] = {}
    if device.type == "meta":
        for t in _tensors_of(module):
            memo[id(t)] = _meta_like(t)
    try:
        copied = copy.deepcopy(module, memo)
        if copied is module:  # its own __deepcopy__ returned itself: copy around it
            copied = copy.copy(module)
            copied.__dict__ = copy.deepcopy(module.__dict__, memo)
    except USER_CODE_ERRORS as exc:  # noqa: BLE001 (a lock, an open file, a C object in an attribute)
        raise ModelLoadError(f"the {type(module).__name__} instance cannot be copied ({one_line(exc)}); archscope "
                             "traces a copy so that your instance is never modified: point it at the class or at "
                             "a function that builds the model (path/to/file.py:Class)") from exc
    own = {id(t) for t in _tensors_of(module)}
    if any(id(t) in own for t in _tensors_of(copied)):
        raise ModelLoadError(f"copying the {type(module).__name__} instance gives back some of its own tensors (a "
                             "__deepcopy__ that returns self?): archscope will not trace, and so might modify, your "
                             "instance; point it at the class or at a function that builds the model")
    return copied if device.type == "meta" else copied.to(device)


def _tensors_of(module: nn.Module) -> list[Any]:
    from torch import Tensor

    found = [*module.parameters(), *module.buffers()]
    found += [v for m in module.modules() for v in vars(m).values() if isinstance(v, Tensor)]
    return list({id(t): t for t in found}.values())


def _meta_like(t: Any) -> Any:
    import torch
    from torch import nn
    from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

    if isinstance(t, UninitializedParameter):
        return UninitializedParameter(requires_grad=t.requires_grad, device="meta")  # type: ignore[call-arg]
    if isinstance(t, UninitializedBuffer):
        return UninitializedBuffer(requires_grad=t.requires_grad, device="meta")  # type: ignore[call-arg]
    meta = torch.empty_like(t.detach(), device="meta")
    return nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
