"""archscope: understand a convolutional network's shapes, parameters and dataflow.

``import archscope`` is light: torch is imported on first use of :func:`build` or
:func:`trace` (and rich on that of :func:`summary`), so ``archscope --help`` and
``archscope list`` stay instant.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from archscope.tracer.training import Training

__version__ = "0.1.0"

if TYPE_CHECKING:
    from torch import nn

    from archscope.tracer.records import Trace


def build(name: str, device: str = "cpu") -> nn.Module:
    """Build a zoo model or a spec file as a ``torch.nn.Module`` (random init, eval mode)."""
    from archscope.api import build as _build

    return _build(name, device)


def trace(target: Any, input_size: Any = None, batch: int = 1, device: str | None = None,
          train: bool = False, convention: str = "torchvision", dtype: str = "float32",
          analytic: bool = True, *, input_data: Any = None, dtypes: Any = None, batch_dim: int | None = 0,
          inputs_from: str | None = None, training: Training | None = None) -> Trace:
    """Trace a zoo name, spec file, import path or ``nn.Module``; see :func:`archscope.api.trace`
    (keyword arguments ``input_data``, ``dtypes``, ``batch_dim``, ``inputs_from`` say what it is fed;
    ``training=archscope.Training(optimizer="adamw")`` prices a whole training step)."""
    from archscope.api import trace as _trace

    return _trace(target, input_size=input_size, batch=batch, device=device, train=train,
                  convention=convention, dtype=dtype, analytic=analytic, input_data=input_data, dtypes=dtypes,
                  batch_dim=batch_dim, inputs_from=inputs_from, training=training)


def summary(target: Any, input_size: Any = None, batch: int = 1, device: str | None = None,
            train: bool = False, convention: str = "torchvision", dtype: str = "float32",
            analytic: bool = True, *, input_data: Any = None, dtypes: Any = None, batch_dim: int | None = 0,
            inputs_from: str | None = None, training: Training | None = None, depth: int | None = 3,
            flops: bool = False, by_type: bool = False, file: IO[str] | None = None) -> Trace:
    """:func:`trace`, print the summary table as ``archscope summary`` does (``depth`` levels,
    ``flops``, ``by_type``; to ``file``, default stdout) and return the trace; see
    :func:`archscope.api.summary` and docs/python-api.md."""
    from archscope.api import summary as _summary

    return _summary(target, input_size=input_size, batch=batch, device=device, train=train,
                    convention=convention, dtype=dtype, analytic=analytic, input_data=input_data, dtypes=dtypes,
                    batch_dim=batch_dim, inputs_from=inputs_from, training=training, depth=depth, flops=flops,
                    by_type=by_type, file=file)


def graph(*args: Any, **kwargs: Any) -> Any:
    """The dataflow diagram of a model, an object a notebook shows inline: the arguments of
    :func:`archscope.api.graph` (a target, ``input_size``, ``batch``, ``device``, ``depth``,
    ``expand``...); docs/graph.md."""
    import importlib

    api = importlib.import_module("archscope.api")  # a ModuleType: its graph is typed where it is defined
    return api.graph(*args, **kwargs)


def receptive_fields(*args: Any, **kwargs: Any) -> Any:
    """Each module's receptive field by name: the arguments of :func:`archscope.api.receptive_fields`
    (a target and what it is fed, as for :func:`trace`); docs/analysis.md."""
    from archscope.api import receptive_fields as _fields

    return _fields(*args, **kwargs)


def sizes(*args: Any, **kwargs: Any) -> Any:
    """Which input sizes a model takes and the layer that limits them: the arguments of
    :func:`archscope.api.sizes` (a target, ``input_size``, ``train``); docs/analysis.md."""
    from archscope.api import sizes as _sizes

    return _sizes(*args, **kwargs)


def symbolic_shapes(*args: Any, **kwargs: Any) -> Any:
    """Output shapes, MACs and activations as formulas of the input's sizes: the arguments
    of :func:`archscope.api.symbolic_shapes` (a target and what it is fed); docs/analysis.md."""
    from archscope.api import symbolic_shapes as _symbolic

    return _symbolic(*args, **kwargs)


def list_models(pattern: str | None = None) -> list[str]:
    """Zoo model names in natural order, optionally filtered by a glob ``pattern``."""
    from archscope import zoo

    return zoo.names(pattern)


__all__ = ["Training", "__version__", "build", "graph", "list_models", "receptive_fields", "sizes", "summary",
           "symbolic_shapes", "trace"]
