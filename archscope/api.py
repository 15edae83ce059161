"""The library's front door: resolve a model, trace it, check its expectations.

The CLI calls only these functions; so can anyone from Python.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from archscope.builder.load import Target, resolve
from archscope.errors import UsageError
from archscope.spec.layout import layout
from archscope.spec.sizes import parse_input
from archscope.tracer.analytic import DTYPE_BYTES, analytic_trace
from archscope.tracer.records import Trace

if TYPE_CHECKING:  # torch is imported only when a model is built or run: zoo summaries need none
    import torch
    from torch import nn


def build(name: str, device: str = "cpu") -> nn.Module:
    target = resolve(name)
    module = target.module(_device(device))
    return module.eval()


def input_shape(target: Target, input_size: Any) -> tuple[tuple[int, int, int], int | None]:
    """(C, H, W) and an optional batch from what the user gave, or the reference input."""
    ref = target.reference_input
    if input_size is None:
        if ref is None:
            raise UsageError(f"{target.text!r} has no reference input size: pass one with --input, "
                             "e.g. --input 3x224x224")
        return ref, None
    channels = ref[0] if ref else 3
    if isinstance(input_size, str):
        return parse_input(input_size, channels)
    if isinstance(input_size, int):
        return (channels, input_size, input_size), None
    dims = tuple(int(d) for d in input_size)
    if len(dims) == 2:
        return (channels, *dims), None
    if len(dims) == 3:
        return dims, None  # type: ignore[return-value]
    if len(dims) == 4:
        return dims[1:], dims[0]  # type: ignore[return-value]
    raise UsageError(f"input_size {input_size!r}: give H, (H, W), (C, H, W) or (N, C, H, W)")


DTYPES = tuple(DTYPE_BYTES)  # float32, float16, bfloat16, float64
CONVENTIONS = ("torchvision", "fvcore", "full")  # archscope.tracer.counting registers them


def trace(target: str | nn.Module, input_size: Any = None, batch: int = 1, device: str = "meta",
          train: bool = False, convention: str = "torchvision", dtype: str = "float32",
          analytic: bool = True) -> Trace:
    """Trace one forward pass: shapes, parameters, MACs and memory; expectations checked.

    ``target`` is a zoo name, a spec file, ``package.module:attr``, ``file.py:attr`` or an
    ``nn.Module`` (which is copied, never modified). ``device="meta"`` allocates no memory.
    ``convention`` names the counting rules (torchvision, fvcore, full); ``dtype`` the
    parameter and activation type used for memory. A zoo model or spec file in eval mode
    under the torchvision convention is computed from its spec without running torch
    (:mod:`archscope.tracer.analytic`, tested equal to the traced numbers); ``analytic=False``
    runs the hook tracer anyway.
    """
    if convention not in CONVENTIONS:
        raise UsageError(f"unknown counting convention {convention!r}: use one of {', '.join(CONVENTIONS)}")
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if isinstance(target, (str, os.PathLike)):
        resolved = resolve(str(target))
    else:
        resolved = Target(text=type(target).__name__, kind="module", name=type(target).__name__,
                          instance=target)
    shape, batch_in_size = input_shape(resolved, input_size)
    if batch_in_size is not None and batch not in (1, batch_in_size):
        raise UsageError(f"the input size gives batch {batch_in_size} but --batch is {batch}: give one")
    batch = batch_in_size or batch
    if batch < 1:
        raise UsageError(f"batch must be a positive integer, got {batch}")
    if analytic and resolved.spec is not None and device == "meta" and not train and convention == "torchvision":
        computed = analytic_trace(resolved.spec, shape, batch=batch, name=resolved.name, dtype=dtype)
        if computed is not None:
            return computed
    expectations = layout(resolved.spec).expectations() if resolved.spec is not None else {}
    import torch

    from archscope.tracer.hooks import trace_module

    module = resolved.module(_device(device))
    if dtype != "float32":
        module = module.to(getattr(torch, dtype))
    return trace_module(module, shape, batch=batch, name=resolved.name, expectations=expectations,
                        reference_input=resolved.reference_input, train=train, dtype=getattr(torch, dtype),
                        convention=convention)


def _device(device: str) -> torch.device:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}: use meta (no memory, the default), cpu or cuda") from None
    if dev.type not in ("meta", "cpu"):
        try:
            torch.empty(0, device=dev)
        except (RuntimeError, AssertionError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"device {device!r} is not usable here ({reason}); use meta (no memory, "
                             "the default) or cpu") from None
    return dev
