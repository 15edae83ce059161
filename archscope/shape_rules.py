"""The outputs of the commonest operators on the meta device, computed without torch's Python kernels.

On the meta device torch runs a Python function for most operators: it replaces the C++
meta kernels of convolution, batch norm, pooling, matmul, layer norm, softmax and every
elementwise operator by its decompositions (``torch/_meta_registrations.py``,
``activate_meta``). The first of them imports ``torch.fx.experimental.symbolic_shapes``
and sympy (about 0.2 s, more than a whole ResNet-50 trace), and each call costs tens of
microseconds of Python (bench/RESULTS.md). Every tool that runs a model on meta pays both.

The rules answer during the trace (the operator counter,
:class:`archscope.tracer.counting.OpCounter`, asks :func:`run` before running an operator)
and while a model is built on meta (:class:`Building`, around its ``__init__``: the
factories and fills of its initialisation).

A rule here gives what torch's kernel gives (the output's shape, strides and dtype; the
input itself for an in-place operator) for the arguments a model commonly passes, and
``None`` for anything else: a tensor that is not a plain meta tensor (a FakeTensor of the
symbolic pass, a CPU tensor, a subclass), a layout or dtype off the common path, an
argument torch would refuse. On ``None`` torch's own kernel runs, so an edge case costs
time, never a wrong shape or a different error message.

tests/test_shape_rules.py checks every rule against torch's kernel (shape, every stride,
dtype, aliasing) on the arguments it takes and the ones it must decline, and every
operator a rule answers while the zoo and the user corpus are built and traced (eval,
train, a training step); tests/test_shape_rules_real.py the same on the acceptance run's
torchvision, timm and transformers models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
_PLAIN = (Tensor, nn.Parameter)
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_NUMBERS = (*_FLOATS, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
_STATS = (torch.float32, torch.float64)  # batch/layer norm's saved statistics stay in these types
RULES: dict[Any, Callable[..., Any]] = {}


def run(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The output of ``func(*args, **kwargs)`` by archscope's rule, or None where there is
    none or it does not apply (then torch's kernel must run). Called inside a dispatch mode:
    with another mode still on the stack (a user's FlopCounterMode around the trace) torch's
    kernel runs, so that the mode sees the operator and not the rule's ``empty``."""
    rule = RULES.get(func)
    if rule is None or torch._C._len_torch_dispatch_stack():
        return None
    return rule(*args, **kwargs)


class Building(TorchDispatchMode):
    """The rules applied to every operator while a model is built on meta: its initialisation
    (``normal_``, ``uniform_``, ``trunc_normal_``'s ``erfinv_`` and ``clamp_``, ...) fills
    tensors that hold no data, and torch's Python kernels for them import sympy."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # as OpCounter's: no torch._dynamo import to mark it
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = run(func, args, kwargs)
        return func(*args, **kwargs) if out is None else out


def _rule(*ops: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in ops:
            RULES[op] = fn
        return fn
    return register


def _meta(t: Any, dtypes: tuple[torch.dtype, ...] = _FLOATS) -> bool:
    """A plain meta tensor (not a FakeTensor, not a subclass) of one of ``dtypes``."""
    return type(t) in _PLAIN and t.is_meta and t.dtype in dtypes


def _standard(t: Any, dtypes: tuple[torch.dtype, ...] = _FLOATS) -> bool:
    """A plain meta tensor with a contiguous tensor's strides on every dimension, size-1 ones
    too, and no empty dimension. The rules for batch norm and ``cat`` take only such inputs,
    on which torch's steps keep that layout; on another (a permuted tensor, a slice with a
    large stride on a size-1 dimension) they follow its strides, so the rules leave it to torch."""
    if not _meta(t, dtypes):
        return False
    step = 1
    for size, stride in zip(reversed(t.shape), reversed(t.stride()), strict=True):
        if size < 1 or stride != step:
            return False
        step *= size
    return True


def _elementwise(shape: Sequence[int], dtype: torch.dtype, *operands: Any) -> Tensor | None:
    """The output of an elementwise operator on ``operands`` (meta tensors and Python
    numbers), laid out as torch lays it out: its prims allocate
    ``empty_permuted(shape, perm)`` with the permutation of
    ``torch._prims_common.compute_elementwise_output_logical_to_physical_perm``, of which this
    is a copy for plain sizes. None for an empty dimension."""
    if min(shape, default=1) < 1:
        return None
    ndim = len(shape)
    tensors = [t.expand(shape) if tuple(t.shape) != tuple(shape) else t for t in operands if isinstance(t, Tensor)]
    contiguous = all(t.is_contiguous() for t in tensors)
    channels_last = ndim == 4 and all(t.is_contiguous(memory_format=torch.channels_last) for t in tensors)
    if ndim < 2 or (contiguous and not channels_last):
        return _empty(shape, dtype)
    if channels_last and not contiguous:
        return _empty(shape, dtype, channels_last=True)
    strides = [t.stride() for t in tensors]

    def swap(a: int, b: int) -> int:
        for stride in strides:
            if stride[a] == 0 or stride[b] == 0:
                continue
            if stride[a] == stride[b]:
                if shape[b] >= shape[a]:
                    continue
                return 1
            return -1 if stride[b] >= stride[a] else 1
        return 0

    perm = list(reversed(range(ndim)))  # innermost first, sorted by insertion as torch does
    for i in range(1, ndim):
        dim1 = i
        for dim0 in reversed(range(i)):
            order = swap(perm[dim0], perm[dim1])
            if order > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif order < 0:
                break
    return torch.empty_permuted(shape, list(reversed(perm)), dtype=dtype, device="meta")


def _empty(shape: Sequence[int], dtype: torch.dtype, channels_last: bool = False) -> Tensor:
    if channels_last:
        return torch.empty(shape, dtype=dtype, device="meta", memory_format=torch.channels_last)
    return torch.empty(shape, dtype=dtype, device="meta")


def _channels_last_like(t: Tensor) -> bool:
    """torch's ``suggest_memory_format(t) == channels_last`` for a 4-d tensor (the C++
    ``is_channels_last_strides_2d`` test, which the pooling kernels follow)."""
    shape, strides = t.shape, t.stride()
    if t.dim() != 4 or strides[1] == 0:
        return False
    low = 0
    for d in (1, 3, 2, 0):
        if shape[d] == 0 or strides[d] < low:
            return False
        if d == 0 and low == strides[1]:
            return False
        low = strides[d] * shape[d]
    return True


def _rewritten(t: Any) -> bool:
    """An input whose output torch lays out as a contiguous tensor's: a standard one, or one
    that is not contiguous at all, which layer norm, softmax and mean make contiguous first.
    (A tensor that is ``is_contiguous()`` with odd strides on size-1 dimensions is kept as it
    is, and its strides flow through to the output: left to torch.)"""
    return _meta(t) and min(t.shape, default=1) >= 1 and (_standard(t) or not t.is_contiguous())


def _in_range(dims: Sequence[int], ndim: int) -> bool:
    return all(-ndim <= d < ndim for d in dims)


def _broadcast(*shapes: Sequence[int]) -> tuple[int, ...] | None:
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


# ---- elementwise --------------------------------------------------------------------------


@_rule(aten.relu.default, aten.silu.default, aten.sigmoid.default, aten.tanh.default, aten.gelu.default,
       aten.hardswish.default, aten.hardsigmoid.default, aten.hardtanh.default, aten.leaky_relu.default,
       aten.elu.default, aten.exp.default, aten.neg.default, aten.sqrt.default, aten.rsqrt.default,
       aten.softplus.default, aten.mish.default)
def _unary(self: Any, *args: Any, **kwargs: Any) -> Tensor | None:
    return _elementwise(self.shape, self.dtype, self) if _meta(self) else None


@_rule(aten.normal_.default, aten.uniform_.default, aten.zero_.default, aten.fill_.Scalar, aten.erfinv_.default,
       aten.clamp_.default, aten.exponential_.default, aten.bernoulli_.float, aten.random_.default,
       aten.log_normal_.default, aten.cauchy_.default)
def _fill_(self: Any, *args: Any, **kwargs: Any) -> Tensor | None:
    """Initialisation on meta: the tensor itself, when every other argument is a number (or
    absent, a generator, a dtype)."""
    if not _meta(self, _NUMBERS) or any(isinstance(a, Tensor) for a in (*args, *kwargs.values())):
        return None
    return self


@_rule(aten.relu_.default, aten.silu_.default, aten.sigmoid_.default, aten.tanh_.default,
       aten.hardswish_.default, aten.hardsigmoid_.default, aten.hardtanh_.default, aten.leaky_relu_.default,
       aten.elu_.default, aten.mish_.default)
def _unary_(self: Any, *args: Any, **kwargs: Any) -> Tensor | None:
    return self if _meta(self) else None


def _result(self: Any, other: Any, dtypes: tuple[torch.dtype, ...],
            alpha: Any = 1) -> tuple[tuple[int, ...], torch.dtype] | None:
    """The broadcast shape and result dtype of a binary operator on a meta tensor and another
    (or a Python number), when the result is one of ``dtypes`` and torch takes them."""
    if not _meta(self, _NUMBERS):
        return None
    if isinstance(other, Tensor):
        if not _meta(other, _NUMBERS):
            return None
        shape = _broadcast(self.shape, other.shape)
    elif isinstance(other, (int, float)) and not isinstance(other, bool):
        shape = tuple(self.shape)
    else:
        return None
    dtype = torch.result_type(self, other)
    if isinstance(alpha, float) and not dtype.is_floating_point:  # torch refuses a fractional alpha there
        return None
    return (shape, dtype) if shape is not None and dtype in dtypes else None


_DIVISIONS = (aten.div.Tensor, aten.div.Scalar, aten.div_.Tensor, aten.div_.Scalar)  # true division: floats only


@_rule(aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar)
def _binary(self: Any, other: Any, alpha: Any = 1, *, dtypes: tuple[torch.dtype, ...] = _NUMBERS) -> Tensor | None:
    found = _result(self, other, dtypes, alpha)
    return _elementwise(*found, self, other) if found is not None else None


@_rule(*_DIVISIONS[:2])
def _divide(self: Any, other: Any, *, rounding_mode: Any = None) -> Tensor | None:
    return _binary(self, other, dtypes=_FLOATS) if rounding_mode is None else None


@_rule(aten.add_.Tensor, aten.sub_.Tensor, aten.mul_.Tensor, aten.add_.Scalar, aten.sub_.Scalar, aten.mul_.Scalar)
def _binary_(self: Any, other: Any, alpha: Any = 1, *, dtypes: tuple[torch.dtype, ...] = _NUMBERS) -> Tensor | None:
    found = _result(self, other, dtypes, alpha)
    if found is None or found[0] != tuple(self.shape) or not torch.can_cast(found[1], self.dtype):
        return None
    return self


@_rule(*_DIVISIONS[2:])
def _divide_(self: Any, other: Any, *, rounding_mode: Any = None) -> Tensor | None:
    return _binary_(self, other, dtypes=_FLOATS) if rounding_mode is None else None


# ---- factories: zeros, ones, ranges on meta -----------------------------------------------


def _factory(size: Any, dtype: Any, layout: Any, device: Any, pin_memory: Any,
             like: Any = None) -> Tensor | None:
    """A new contiguous meta tensor (``like``: the tensor whose device and dtype a ``new_*``
    call inherits), or None off the plain case (a sparse layout, pinned memory, another device)."""
    where = device if device is not None else (like.device if isinstance(like, Tensor) else None)
    if where is None or torch.device(where).type != "meta" or layout not in (None, torch.strided) or pin_memory:
        return None
    if like is not None and type(like) not in _PLAIN:
        return None
    if not all(isinstance(n, int) and n >= 0 for n in size):
        return None
    return _empty(size, dtype if dtype is not None else (like.dtype if like is not None else torch.get_default_dtype()))


@_rule(aten.zeros.default, aten.ones.default)
def _zeros(size: Sequence[int], *, dtype: Any = None, layout: Any = None, device: Any = None,
           pin_memory: Any = None) -> Tensor | None:
    return _factory(size, dtype, layout, device, pin_memory)


@_rule(aten.full.default)
def _full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, layout: Any = None, device: Any = None,
          pin_memory: Any = None) -> Tensor | None:
    if dtype is None:  # torch infers it from the value
        if not isinstance(fill_value, (bool, int, float)):
            return None
        dtype = torch.bool if isinstance(fill_value, bool) else torch.int64 if isinstance(fill_value, int) else None
    return _factory(size, dtype, layout, device, pin_memory)


@_rule(aten.new_zeros.default, aten.new_ones.default, aten.new_empty.default)
def _new(self: Any, size: Sequence[int], *, dtype: Any = None, layout: Any = None, device: Any = None,
         pin_memory: Any = None) -> Tensor | None:
    return _factory(size, dtype, layout, device, pin_memory, like=self)


@_rule(aten.scalar_tensor.default)
def _scalar_tensor(s: Any, *, dtype: Any = None, layout: Any = None, device: Any = None,
                   pin_memory: Any = None) -> Tensor | None:
    return _factory((), dtype, layout, device, pin_memory) if isinstance(s, (bool, int, float)) else None


@_rule(aten.arange.default, aten.arange.start, aten.arange.start_step)
def _arange(*bounds: Any, dtype: Any = None, layout: Any = None, device: Any = None,
            pin_memory: Any = None) -> Tensor | None:
    start, end, step = (0, bounds[0], 1) if len(bounds) == 1 else (*bounds, 1)[:3]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 2 ** 52
               for v in (start, end, step)) or step == 0:
        return None
    if (end - start) * step < 0:  # torch refuses bounds inconsistent with the step's sign
        return None
    if dtype is None:
        dtype = torch.int64 if all(isinstance(v, int) for v in (start, end, step)) else None
    return _factory((math.ceil((end - start) / step),), dtype, layout, device, pin_memory)


# ---- reductions, softmax, normalisation -----------------------------------------------------


@_rule(aten.mean.dim)
def _mean(self: Any, dim: Any, keepdim: bool = False, *, dtype: Any = None) -> Tensor | None:
    if (not _rewritten(self) or dtype not in (None, self.dtype) or not self.dim()
            or not _in_range(dim or (), self.dim())):
        return None
    dims = {d % self.dim() for d in dim} if dim else set(range(self.dim()))
    if dim and len(dims) != len(dim):
        return None
    shape = [1 if i in dims else s for i, s in enumerate(self.shape) if keepdim or i not in dims]
    return _empty(shape, self.dtype)


def _along(self: Any, dim: int) -> Tensor | None:
    """The output of softmax along ``dim``: the input's shape, laid out contiguously."""
    ok = _rewritten(self) and self.dim() and _in_range((dim,), self.dim())
    return _empty(self.shape, self.dtype) if ok else None


@_rule(aten._softmax.default, aten._log_softmax.default)
def _softmax(self: Any, dim: int, half_to_float: bool) -> Tensor | None:
    return None if half_to_float else _along(self, dim)


@_rule(aten._safe_softmax.default)
def _safe_softmax(self: Any, dim: int, dtype: Any = None) -> Tensor | None:
    return _along(self, dim) if dtype in (None, self.dtype) else None


@_rule(aten.native_batch_norm.default)
def _batch_norm(input: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, training: bool,
                momentum: float, eps: float) -> tuple[Tensor, Tensor, Tensor] | None:
    if not _standard(input) or input.dtype not in _STATS or input.dim() < 2:
        return None
    channels = input.shape[1]
    for t in (weight, bias, running_mean, running_var):
        if t is not None and not (_meta(t) and t.dtype == input.dtype and tuple(t.shape) == (channels,)):
            return None
    if running_mean is None or running_var is None:
        if not training or running_mean is not running_var:
            return None
    if not training:  # torch's decomposition hands back the running mean itself off the CPU
        return _empty(input.shape, input.dtype), running_mean, _empty((channels,), input.dtype)
    return _empty(input.shape, input.dtype), _empty((channels,), input.dtype), _empty((channels,), input.dtype)


@_rule(aten.native_layer_norm.default)
def _layer_norm(input: Any, normalized_shape: Sequence[int], weight: Any, bias: Any,
                eps: float) -> tuple[Tensor, Tensor, Tensor] | None:
    axis = input.dim() - len(normalized_shape) if _rewritten(input) else -1
    if axis < 0 or input.dtype not in _STATS or tuple(input.shape[axis:]) != tuple(normalized_shape):
        return None
    for t in (weight, bias):
        if t is not None and not (_meta(t) and t.dtype == input.dtype and tuple(t.shape) == tuple(normalized_shape)):
            return None
    stats = (*input.shape[:axis], *[1] * len(normalized_shape))
    return _empty(input.shape, input.dtype), _empty(stats, input.dtype), _empty(stats, input.dtype)


# ---- matrix products, embeddings ------------------------------------------------------------


def _same_dtype(*ts: Any) -> bool:
    return all(_meta(t) for t in ts) and len({t.dtype for t in ts}) == 1


@_rule(aten.mm.default)
def _mm(self: Any, mat2: Any) -> Tensor | None:
    if not _same_dtype(self, mat2) or self.dim() != 2 or mat2.dim() != 2 or self.shape[1] != mat2.shape[0]:
        return None
    return _empty((self.shape[0], mat2.shape[1]), self.dtype)


@_rule(aten.addmm.default)
def _addmm(bias: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor | None:
    out = _mm(mat1, mat2)
    if out is None or not _same_dtype(bias, mat1) or _broadcast(bias.shape, out.shape) != tuple(out.shape):
        return None
    return out


@_rule(aten.bmm.default)
def _bmm(self: Any, mat2: Any) -> Tensor | None:
    if (not _same_dtype(self, mat2) or self.dim() != 3 or mat2.dim() != 3 or self.shape[0] != mat2.shape[0]
            or self.shape[2] != mat2.shape[1]):
        return None
    return _empty((self.shape[0], self.shape[1], mat2.shape[2]), self.dtype)


@_rule(aten.embedding.default)
def _embedding(weight: Any, indices: Any, *args: Any, **kwargs: Any) -> Tensor | None:
    if (not _meta(weight) or weight.dim() != 2 or type(indices) not in _PLAIN or not indices.is_meta
            or indices.dtype not in (torch.int64, torch.int32)):
        return None
    return _empty((*indices.shape, weight.shape[1]), weight.dtype)


@_rule(aten._unsafe_view.default)
def _unsafe_view(self: Any, size: Sequence[int]) -> Tensor | None:
    return aten.view.default(self, size) if _meta(self) and self.is_contiguous() else None


@_rule(aten.cat.default)
def _cat(tensors: Sequence[Any], dim: int = 0) -> Tensor | None:
    parts = list(tensors)  # a legacy empty tensor, shape (0,), which torch skips, is left to torch
    if not parts or not all(_standard(t) for t in parts):
        return None
    first = parts[0]
    if (not first.dim() or not _in_range((dim,), first.dim()) or len({t.dtype for t in parts}) != 1
            or any(_channels_last_like(t) for t in parts)):
        return None
    dim %= first.dim()
    rest = [tuple(s for i, s in enumerate(t.shape) if i != dim) for t in parts]
    if any(t.dim() != first.dim() for t in parts) or len(set(rest)) != 1:
        return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in parts)
    return _empty(shape, first.dtype)


# ---- convolution and pooling ----------------------------------------------------------------


def _each(value: Any, n: int) -> list[int] | None:
    """An int or a list of one or ``n`` ints as ``n`` ints (None when it is anything else)."""
    values = [value] if isinstance(value, int) else list(value)
    if len(values) == 1:
        values *= n
    return values if len(values) == n and all(isinstance(v, int) for v in values) else None


@_rule(aten.convolution.default)
def _convolution(input: Any, weight: Any, bias: Any, stride: Sequence[int], padding: Sequence[int],
                 dilation: Sequence[int], transposed: bool, output_padding: Sequence[int],
                 groups: int) -> Tensor | None:
    if not _same_dtype(input, weight) or input.dim() != weight.dim() or input.dim() < 3 or groups < 1:
        return None
    n = input.dim() - 2
    s, p, d, op = _each(stride, n), _each(padding, n), _each(dilation, n), _each(output_padding, n)
    if s is None or p is None or d is None or op is None or min(s) < 1 or min(d) < 1 or min(p) < 0:
        return None
    if transposed:
        channels = weight.shape[1] * groups
        ok = input.shape[1] == weight.shape[0] and all(o < max(si, di) for o, si, di in zip(op, s, d, strict=True))
        sizes = [(i - 1) * si - 2 * pi + di * (k - 1) + oi + 1
                 for i, k, si, pi, di, oi in zip(input.shape[2:], weight.shape[2:], s, p, d, op, strict=True)]
    else:
        channels = weight.shape[0]
        ok = input.shape[1] == weight.shape[1] * groups and channels % groups == 0 and not any(op)
        sizes = [(i + 2 * pi - di * (k - 1) - 1) // si + 1
                 for i, k, si, pi, di in zip(input.shape[2:], weight.shape[2:], s, p, d, strict=True)]
    if not ok or min(sizes) < 1 or min(input.shape) < 1 or (bias is not None and not (
            _same_dtype(bias, input) and tuple(bias.shape) == (channels,))):
        return None
    return _empty((input.shape[0], channels, *sizes), input.dtype)


def _pooled(size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    """torch's ``pooling_output_shape``."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool(input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
          ceil_mode: bool) -> tuple[list[int], bool] | None:
    """The output shape of a 2-d pool and whether it is channels-last, when torch takes the arguments."""
    if not _meta(input) or input.dim() not in (3, 4) or min(input.shape[-3:]) < 1:
        return None
    k, p, d = _each(kernel_size, 2), _each(padding, 2), _each(dilation, 2)
    s = _each(stride, 2) if len(stride) else k
    if k is None or p is None or d is None or s is None or min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        return None
    if any(pi > ((ki - 1) * di + 1) // 2 for ki, pi, di in zip(k, p, d, strict=True)):
        return None
    sizes = [_pooled(i, ki, pi, si, di, ceil_mode)
             for i, ki, pi, si, di in zip(input.shape[-2:], k, p, s, d, strict=True)]
    if min(sizes) < 1:
        return None
    channels_last = _channels_last_like(input)
    if not channels_last and not input.is_contiguous():
        return None
    return [*input.shape[:-2], *sizes], channels_last


@_rule(aten.max_pool2d_with_indices.default)
def _max_pool2d(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1,
                ceil_mode: bool = False) -> tuple[Tensor, Tensor] | None:
    found = _pool(input, kernel_size, stride, padding, dilation, ceil_mode)
    if found is None:
        return None
    shape, channels_last = found
    return _empty(shape, input.dtype, channels_last), _empty(shape, torch.int64, channels_last)


@_rule(aten.avg_pool2d.default)
def _avg_pool2d(input: Any, kernel_size: Any, stride: Any = (), padding: Any = 0, ceil_mode: bool = False,
                count_include_pad: bool = True, divisor_override: Any = None) -> Tensor | None:
    found = _pool(input, kernel_size, stride, padding, 1, ceil_mode) if divisor_override != 0 else None
    return _empty(found[0], input.dtype, found[1]) if found is not None else None


@_rule(aten._adaptive_avg_pool2d.default)
def _adaptive_avg_pool2d(self: Any, output_size: Sequence[int]) -> Tensor | None:
    size = _each(output_size, 2)
    if not _meta(self) or self.dim() not in (3, 4) or size is None or min(size) < 1 or min(self.shape[-3:]) < 1:
        return None
    channels_last = _channels_last_like(self)
    if not channels_last and not self.is_contiguous():
        return None
    return _empty([*self.shape[:-2], *size], self.dtype, channels_last)

