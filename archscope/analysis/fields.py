"""Receptive fields of any ``nn.Module``, from the operators its forward pass runs.

:mod:`archscope.analysis.receptive` folds a spec; a module a user brings has none, so
here the field travels with the tensors instead. A dispatch mode (:class:`FieldRecorder`)
sees every aten operator of the traced forward pass, on the meta device, with its
arguments, and gives each output tensor a *state*: its receptive field
(:class:`~archscope.analysis.receptive.Field`, by the same recurrence and the same
conventions) and, per dimension, whether it runs along the input's H or W axis, along
positions no longer on a grid (``P``: tokens after a flatten, a concatenation along
space), or along no position at all (batch, channels). Module hooks then read the state
of each module's output. Functional calls count like modules (``F.max_pool2d`` in
torchvision's Inception), and so does user code between modules.

Operators, by what they do to positions:

- **windows** (convolution, max and average pooling): the recurrence, per grid axis;
  padding operators (``F.pad``) shift the start;
- **mixing all positions** (adaptive pooling, a reduction, softmax or a matmul over a
  positional dimension, attention): the field becomes *global*;
- **joins** (elementwise operators on several tensors, ``cat`` along channels): the union
  of the inputs' fields; a tensor broadcast over positions that has a global field *gates*
  the other (``x · scale``, squeeze-excitation) when it multiplies, and makes it global
  otherwise, exactly as in the spec fold;
- **per position** (activations, norms, dropout, copies, a matmul over channels as in
  ConvNeXt's MLP): the field is kept; views, permutes, flattens and slices move the
  per-dimension axes with the data (a flatten of N, H, W followed by a view back restores
  them);
- anything else that changes a positional tensor's shape (upsampling, pixel shuffle,
  transposed convolutions, ``unfold``): the field is *unknown* from there on, and
  :attr:`FieldRecorder.stopped` names the operator and the layer it ran in (a report
  shows ``?`` for those layers and says why).

Normalisation statistics are not part of a field, as in the spec fold (a batch norm in
training averages over the batch and the whole map, which would make every field global).
Only an image input (a floating-point ``N×C×H×W`` tensor) starts a field; a model fed
token ids or sequences has none, which :attr:`FieldRecorder.started` tells.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules import module as torch_module
from torch.utils._python_dispatch import TorchDispatchMode

from archscope.analysis.receptive import INPUT_AXIS, Axis, Field, union
from archscope.builder.inputs import tensors_in
from archscope.spec.nodes import Window

GLOBAL = Field(None, None)
Axes = tuple[Any, ...]  # per dimension: "H", "W", "P", None, or a merged tuple of (label, size) pairs


@dataclass(frozen=True)
class _State:
    field: Field | None  # None: unknown (an operator archscope has no rule for ran before)
    axes: Axes

    def positional(self, dim: int) -> bool:
        return _has_position(self.axes[dim])


def _has_position(label: Any) -> bool:
    if isinstance(label, tuple):
        return any(_has_position(a) for a, _ in label)
    return label is not None


WINDOWS = {"convolution", "max_pool2d_with_indices", "max_pool2d", "avg_pool2d"}
PADS = {"constant_pad_nd", "reflection_pad2d", "replication_pad2d"}
ADAPTIVE = {"_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_avg_pool3d",
            "adaptive_avg_pool3d", "adaptive_max_pool3d", "adaptive_avg_pool1d", "adaptive_max_pool1d"}
REDUCTIONS = {**dict.fromkeys(("mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean",
                                "prod", "logsumexp", "any", "all", "argmax", "argmin"), 1),
              "norm": 2, "linalg_vector_norm": 2}  # name -> index of the dim argument
ALONG_DIM = {"_softmax", "softmax", "_log_softmax", "log_softmax", "cumsum", "cumprod", "sort", "topk",
             "cummax", "cummin", "logcumsumexp"}
ATTENTION = {"_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
             "scaled_dot_product_attention", "_scaled_dot_product_attention_math"}
MATMULS = {"mm": 0, "bmm": 0, "addmm": 1, "baddbmm": 1, "matmul": 0}  # name -> index of the left factor
VIEWS = {"view", "_unsafe_view", "reshape", "_reshape_alias", "view_copy"}
GATES = {"mul", "div"}  # an elementwise op where a global, broadcast operand scales the other
SPLITS = {"split", "split_with_sizes", "unsafe_split", "chunk", "unbind", "unsafe_split_with_sizes"}
FRESH = {"zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "new_zeros", "new_ones",
         "new_empty", "new_full", "new_empty_strided", "empty_strided", "scalar_tensor"}  # values not read


class FieldRecorder(TorchDispatchMode):
    """The receptive field of every module call's output in the forward pass run while
    active (see :func:`recording_fields`): :attr:`calls` by (qualified name, call number,
    from 1, as the trace's records number them); None where it is unknown."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[int, tuple[Tensor, _State]] = {}  # id(tensor) -> (tensor kept alive, state)
        self.calls: dict[tuple[str, int], Field | None] = {}
        self.names: dict[int, str] = {}
        self.counts: dict[str, int] = {}
        self.stack: list[tuple[str, int]] = []
        self.stopped: tuple[str, str] | None = None  # (operator, module) where fields became unknown
        self.started = False  # an image input was fed
        self.finished = False  # the forward pass returned (a training step's backward is not followed)

    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # as OpCounter: never compiled, so no dynamo import
        return False

    # ------------------------------------------------------------ inputs and modules

    def announce(self, inputs: list[tuple[str, Tensor]]) -> None:
        """The inputs of the pass about to run: an image input's field starts at one pixel."""
        self.states.clear()
        self.calls.clear()
        self.counts.clear()
        self.stack.clear()
        self.stopped, self.started, self.finished = None, False, False
        for _, t in inputs:
            if isinstance(t, Tensor) and t.dim() == 4 and t.is_floating_point():
                self.states[id(t)] = (t, _State(Field(INPUT_AXIS, INPUT_AXIS), (None, None, "H", "W")))
                self.started = True

    @property
    def by_module(self) -> dict[str, Field | None]:
        """Each module's field at its first call, by qualified name."""
        return {name: field for (name, call), field in self.calls.items() if call == 1}

    def pre(self, module: nn.Module, args: Any) -> None:
        if not self.stack:
            self.names = {id(m): n for n, m in module.named_modules()}
        name = self.names.get(id(module), "")
        self.counts[name] = self.counts.get(name, 0) + 1
        self.stack.append((name, self.counts[name]))

    def post(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.stack:
            return
        call = self.stack.pop()
        self.finished = not self.stack
        if not self.started:
            return
        for _, t in tensors_in(output):
            if id(t) in self.states:
                self.calls[call] = self.states[id(t)][1].field
                return

    # ------------------------------------------------------------ operators

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.started and not self.finished:
            name = func._overloadpacket.__name__
            namespace = getattr(func, "namespace", "aten")
            tracked = [(t, self.states[id(t)][1]) for _, t in tensors_in((args, list(kwargs.values())))
                       if id(t) in self.states]
            if tracked:
                outs = [t for _, t in tensors_in(out)]
                try:
                    state = self._rule(name.rstrip("_") if name.endswith("_") else name, args, kwargs, tracked, outs)
                except Exception:  # noqa: BLE001 (arguments not as the rule expects: unknown, never a failed trace)
                    state = None
                if state is None:
                    state = self._unknown(f"{namespace}.{name}", tracked, outs)
                for t in outs:
                    if t.dim() == len(state.axes):
                        self.states[id(t)] = (t, state)
        return out

    def _unknown(self, op: str, tracked: list[tuple[Tensor, _State]], outs: list[Tensor]) -> _State:
        """No rule for ``op``: what depends only on the whole input still does (an upsampled
        global pool, as in DeepLab's ASPP); anything else is unknown from here on."""
        rank = outs[0].dim() if outs else 0
        fields = _fields(tracked)
        x, sx = tracked[0]
        axes = sx.axes if x.dim() == rank else (None,) * rank  # where positions are, if it kept the rank
        if all(f is not None and f.is_global for f in fields):
            return _State(_global(tracked), axes)
        if self.stopped is None and any(f is not None for f in fields):
            self.stopped = (op, self.stack[-1][0] if self.stack else "")
        return _State(None, axes)

    def _rule(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
              tracked: list[tuple[Tensor, _State]], outs: list[Tensor]) -> _State | None:
        """The state of ``outs``, or None: no rule (the field becomes unknown)."""
        if not outs:
            return _State(None, ())
        out = outs[0]
        x, sx = tracked[0]
        if name in ADAPTIVE or name in ATTENTION:
            return _State(_global(tracked), sx.axes if out.dim() == x.dim() else (None,) * out.dim())
        if name in WINDOWS:
            return _window(name, args, kwargs, x, sx, out)
        if name in PADS:
            return _pad(name, args, sx, x)
        if name in REDUCTIONS:
            return _reduce(args, kwargs, REDUCTIONS[name], x, sx, out)
        if name in ALONG_DIM:
            dim = _arg(args, kwargs, 1, "dim", -1)
            return _State(GLOBAL if sx.positional(dim) else sx.field, sx.axes)
        if name in MATMULS:
            return _matmul(args[MATMULS[name]:], tracked, out)
        if name in VIEWS:
            return _State(sx.field, _view(x.shape, sx.axes, out.shape))
        if name in ("cat", "stack"):
            return _cat(name, args, kwargs, tracked, out)
        moved = _move(name, args, kwargs, x, sx, out)
        if moved is not None:
            return moved
        if name in FRESH:
            return _State(None, ())  # a new tensor of that shape: no field, and no stop
        if name in SPLITS:
            dim = int(_arg(args, kwargs, 1 if name == "unbind" else 2, "dim", 0)) % x.dim()
            if sx.positional(dim):
                return None
            kept = sx.axes if name != "unbind" else tuple(a for d, a in enumerate(sx.axes) if d != dim)
            return _State(sx.field, kept)
        if name == "native_layer_norm" and any(sx.positional(d) for d in range(x.dim() - len(args[1]), x.dim())):
            return _State(GLOBAL, sx.axes)  # statistics over positions: e.g. LayerNorm([C, H, W])
        return _elementwise(name, tracked, out)


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _pair(v: Any, default: int) -> tuple[int, int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return default, default
    if isinstance(v, int):
        return v, v
    v = [int(x) for x in v]
    return (v[0], v[0]) if len(v) == 1 else (v[-2], v[-1])


def _fields(tracked: list[tuple[Tensor, _State]]) -> list[Field | None]:
    return [st.field for _, st in tracked]


def _global(tracked: list[tuple[Tensor, _State]]) -> Field:
    return replace(GLOBAL, gated=any(f is not None and f.gated for f in _fields(tracked)))


def _union(fields: list[Field | None]) -> Field | None:
    if any(f is not None and f.is_global for f in fields):
        return replace(GLOBAL, gated=any(f is not None and f.gated for f in fields))
    if any(f is None for f in fields):
        return None
    return union([f for f in fields if f is not None])


def _grid(sx: _State, x: Tensor) -> bool:
    return x.dim() == 4 and sx.axes[2:] == ("H", "W")


def _window(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], x: Tensor, sx: _State,
            out: Tensor) -> _State | None:
    if sx.field is not None and sx.field.is_global:
        return _State(sx.field, sx.axes)
    if not _grid(sx, x):
        return None if any(sx.positional(d) for d in range(x.dim())) else _State(sx.field, sx.axes)
    if sx.field is None:
        return None
    if name == "convolution":
        if _arg(args, kwargs, 6, "transposed", False):
            return None
        kernel = tuple(args[1].shape[-2:])
        stride, padding, dilation = (_pair(_arg(args, kwargs, i, n, None), d) for i, n, d in
                                     ((3, "stride", 1), (4, "padding", 0), (5, "dilation", 1)))
    else:
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", None), 1)
        stride = _pair(_arg(args, kwargs, 2, "stride", None), 0)
        stride = tuple(s or k for s, k in zip(stride, kernel, strict=True))  # type: ignore[assignment]
        padding = _pair(_arg(args, kwargs, 3, "padding", 0), 0)
        dilation = _pair(_arg(args, kwargs, 4, "dilation", 1), 1) if "max" in name else (1, 1)
    h, w = sx.field.h, sx.field.w
    assert h is not None and w is not None
    windows = [Window(kernel[i], stride[i], padding[i], dilation[i]) for i in (0, 1)]
    return _State(Field(h.slide(windows[0]), w.slide(windows[1]), sx.field.gated), sx.axes)


def _pad(name: str, args: tuple[Any, ...], sx: _State, x: Tensor) -> _State | None:
    pad = [int(p) for p in args[1]]
    if sx.field is None or sx.field.is_global:
        return _State(sx.field, sx.axes)
    lefts: dict[int, int] = {x.dim() - 1 - i // 2: pad[i] for i in range(0, len(pad), 2)}  # last dim first
    if any(p and sx.positional(d) and sx.axes[d] not in ("H", "W") for d, p in lefts.items()):
        return None
    h, w = sx.field.h, sx.field.w
    assert h is not None and w is not None
    h = _shift(h, lefts.get(x.dim() - 2, 0) if sx.axes[-2] == "H" else 0)
    w = _shift(w, lefts.get(x.dim() - 1, 0) if sx.axes[-1] == "W" else 0)
    return _State(Field(h, w, sx.field.gated), sx.axes)


def _shift(a: Axis, left: int) -> Axis:
    return Axis(a.r, a.j, a.start - left * a.j)


def _dims(value: Any, rank: int) -> list[int]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return list(range(rank))
    values = [value] if isinstance(value, int) else list(value)
    return [int(d) % rank for d in values]


def _reduce(args: tuple[Any, ...], kwargs: dict[str, Any], at: int, x: Tensor, sx: _State, out: Tensor) -> _State:
    dims = _dims(_arg(args, kwargs, at, "dim", None), x.dim())
    field = _global([(x, sx)]) if any(sx.positional(d) for d in dims) else sx.field
    if out.dim() == x.dim():  # keepdim
        return _State(field, sx.axes)
    return _State(field, tuple(a for d, a in enumerate(sx.axes) if d not in dims)[:out.dim()])


def _matmul(factors: tuple[Any, ...], tracked: list[tuple[Tensor, _State]], out: Tensor) -> _State | None:
    states = {id(t): st for t, st in tracked}
    a, b = factors[0], factors[1]
    sa, sb = states.get(id(a)), states.get(id(b))
    if (sa is not None and sa.positional(a.dim() - 1)) or (sb is not None and sb.positional(b.dim() - 2)):
        return _State(_global(tracked), (None,) * out.dim())  # a sum over positions
    left = sa.axes[:-1] if sa is not None else (None,) * (a.dim() - 1)
    right = (sb.axes[-1],) if sb is not None else (None,)
    axes = (left + right)[-out.dim():]
    return _State(_union(_fields(tracked)), (None,) * (out.dim() - len(axes)) + axes)


def _cat(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], tracked: list[tuple[Tensor, _State]],
         out: Tensor) -> _State:
    dim = int(_arg(args, kwargs, 1, "dim", 0))
    x, sx = tracked[0]
    field = _union(_fields(tracked))
    if name == "stack":
        axes = list(sx.axes)
        axes.insert(dim % out.dim(), None)
        return _State(field, tuple(axes))
    axes = list(sx.axes)
    d = dim % x.dim()
    if any(st.positional(d) for _, st in tracked):  # joined along space: positions, no longer a grid
        axes[d] = "P"
    return _State(field, tuple(axes))


def _move(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], x: Tensor, sx: _State,
          out: Tensor) -> _State | None:
    """Operators that move, drop or add dimensions without mixing positions."""
    axes = list(sx.axes)
    if name == "permute":
        return _State(sx.field, tuple(axes[int(d) % x.dim()] for d in args[1]))
    if name in ("transpose", "swapaxes"):
        a, b = int(args[1]) % x.dim(), int(args[2]) % x.dim()
        axes[a], axes[b] = axes[b], axes[a]
        return _State(sx.field, tuple(axes))
    if name == "t":
        return _State(sx.field, tuple(reversed(axes)))
    if name == "unsqueeze":
        axes.insert(int(args[1]) % (x.dim() + 1), None)
        return _State(sx.field, tuple(axes))
    if name == "squeeze":
        dims = _dims(args[1] if len(args) > 1 else None, x.dim()) if x.dim() else []
        return _State(sx.field, tuple(a for d, a in enumerate(axes) if not (d in dims and x.shape[d] == 1)))
    if name == "select":
        d = int(args[1]) % x.dim()
        return _State(sx.field, tuple(a for i, a in enumerate(axes) if i != d))
    if name in ("slice", "narrow"):
        return _State(_sliced(name, args, x, sx), tuple(axes))
    if name in ("expand", "repeat", "expand_copy"):
        return _State(sx.field, (None,) * (out.dim() - x.dim()) + tuple(axes))
    if name in ("_to_copy", "clone", "detach", "alias", "contiguous", "copy", "lift_fresh", "_conj", "view_as"):
        return _State(sx.field, tuple(axes)) if out.shape == x.shape else None
    return None


def _sliced(name: str, args: tuple[Any, ...], x: Tensor, sx: _State) -> Field | None:
    """A slice along a grid axis starts later (and steps further); along others it keeps the field."""
    d = int(args[1]) % x.dim() if len(args) > 1 else 0
    if sx.field is None or sx.field.is_global or sx.axes[d] not in ("H", "W"):
        return sx.field
    size = x.shape[d]
    begin = args[2] if len(args) > 2 and args[2] is not None else 0
    step = int(args[4]) if name == "slice" and len(args) > 4 else 1
    begin = int(begin) + (size if begin < 0 else 0)
    axis = sx.field.h if sx.axes[d] == "H" else sx.field.w
    assert axis is not None
    moved = Axis(axis.r, axis.j * step, axis.start + max(begin, 0) * axis.j)
    return replace(sx.field, h=moved) if sx.axes[d] == "H" else replace(sx.field, w=moved)


def _view(shape: torch.Size, axes: Axes, out: torch.Size) -> Axes:
    """The axes of ``out`` after a view of ``shape``: a dimension kept whole keeps its label;
    merged ones carry their (label, size) pairs, so a view back restores them."""
    result: list[Any] = []
    i = j = 0
    while i < len(shape) or j < len(out):
        gi, gj = [i], [j]
        pi = shape[i] if i < len(shape) else 1
        pj = out[j] if j < len(out) else 1
        i, j = i + 1, j + 1
        while pi != pj:
            if pi < pj and i < len(shape):
                pi *= shape[i]
                gi.append(i)
                i += 1
            elif j < len(out):
                pj *= out[j]
                gj.append(j)
                j += 1
            else:
                break
        while i < len(shape) and shape[i] == 1 and (j >= len(out) or out[j] != 1):  # size-1 stragglers
            gi.append(i)
            i += 1
        source = [(axes[k], shape[k]) for k in gi if k < len(shape)]
        flat = [pair for label, size in source for pair in (label if isinstance(label, tuple) else ((label, size),))]
        targets = [k for k in gj if k < len(out)]
        if len(targets) == 1:
            kept = [p for p in flat if not (p[0] is None and p[1] == 1)]
            result.append(kept[0][0] if len(kept) == 1 else tuple(kept) if _has_position(tuple(flat)) else None)
            continue
        sizes = [out[k] for k in targets]
        unfolded = [p for p in flat if p[1] != 1]
        if [s for s in sizes if s != 1] == [s for _, s in unfolded]:  # a view back: labels return
            it = iter(unfolded)
            result += [next(it)[0] if s != 1 else None for s in sizes]
        else:
            result += ["P" if _has_position(tuple(flat)) else None for _ in sizes]
    return tuple(result[:len(out)])


def _elementwise(name: str, tracked: list[tuple[Tensor, _State]], out: Tensor) -> _State | None:
    """An operator whose tracked inputs broadcast to its output: per position, a join."""
    shaped = [(t, st) for t, st in tracked if t.dim() <= out.dim() and
              all(a in (b, 1) for a, b in zip(reversed(t.shape), reversed(out.shape), strict=False))]
    if len(shaped) != len(tracked):
        return None
    whole = [(t, st) for t, st in shaped if t.shape == out.shape]
    base = whole[0][1] if whole else None
    if base is None:
        return None if any(st.field is not None for _, st in shaped) else _State(None, (None,) * out.dim())
    fields: list[Field | None] = []
    gated = False
    for t, st in shaped:
        spread = st.field is not None and st.field.is_global and t.shape != out.shape  # broadcast over positions
        if spread and name in GATES:
            gated = True
        else:
            fields.append(st.field)
    field = _union(fields)
    if field is not None and gated:
        field = replace(field, gated=True)
    return _State(field, base.axes)


@contextmanager
def recording_fields() -> Iterator[FieldRecorder]:
    """Record the receptive field of every module's output in the forward pass run inside::

        with recording_fields() as rf:
            archscope.api.trace(module, input_size=(3, 224, 224), analytic=False)
        rf.by_module["layer4"]
    """
    from archscope.tracer.hooks import INPUT_OBSERVERS

    recorder = FieldRecorder()
    handles = [torch_module.register_module_forward_pre_hook(recorder.pre),
               torch_module.register_module_forward_hook(recorder.post)]
    INPUT_OBSERVERS.append(recorder.announce)
    try:
        with recorder:
            yield recorder
    finally:
        INPUT_OBSERVERS.remove(recorder.announce)
        for h in handles:
            h.remove()

