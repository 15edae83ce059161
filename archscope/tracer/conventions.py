"""The counting conventions: operator categories, MAC formulas, and which categories count.

Every aten operator belongs to one *category* (conv, linear, matmul, attention, norm,
activation, pool, elementwise, reduction, dropout, free); a *convention* says which
categories count and how much. A formula ("handle") reads only the shapes of an
operator's arguments and output, so this table imports no torch: it is the one registry
of conventions that the API, the command line and snapshot files read cheaply, and
:class:`archscope.tracer.counting.OpCounter` applies it to the operators that run.

Costs are MACs (one multiply-accumulate = 1). FLOPs are derived as 2 × MACs where
shown. See docs/counting.md for a worked example per operator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A handle prices one operator from its arguments and output: MACs, or one figure per output
# for an operator that makes several gradients at once (``convolution_backward``).
Handle = Callable[[tuple[Any, ...], dict[str, Any], Any], "int | tuple[int, ...]"]


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(t.shape)


def _numel(t: Any) -> int:
    return math.prod(t.shape)


# ---------------------------------------------------------------- cost formulas (MACs)


def conv_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """Every output element takes C_in/groups × kernel MACs (bias not counted)."""
    weight = args[1]
    transposed = bool(args[6]) if len(args) > 6 else False
    if transposed:  # each input element is spread over C_out/groups × kernel outputs
        return _numel(args[0]) * math.prod(_shape(weight)[1:])
    return _numel(out) * math.prod(_shape(weight)[1:])


def _unpacked(packed: Any, kind: str) -> Any:
    """The float weight inside a quantized op's packed parameters (``quantized::conv2d``)."""
    import torch

    return getattr(torch.ops.quantized, f"{kind}_unpack")(packed)[0]


def packed_conv_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """A quantized convolution: as :func:`conv_macs`, the weight read from its packed parameters."""
    rank = len(_shape(out)) - 2
    return _numel(out) * math.prod(_shape(_unpacked(args[1], f"conv{rank}d"))[1:])


def packed_linear_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _numel(out) * _shape(_unpacked(args[1], "linear"))[1]


def conv_backward_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, ...]:
    """``convolution_backward``: each gradient it is asked for (``output_mask``: input,
    weight, bias) costs the forward convolution's MACs; the bias gradient is a sum, not counted."""
    grad_output, x, weight = args[0], args[1], args[2]
    transposed = bool(args[7]) if len(args) > 7 else False
    mask = args[10] if len(args) > 10 else kwargs.get("output_mask", (True, True, True))
    forward = (_numel(x) if transposed else _numel(grad_output)) * math.prod(_shape(weight)[1:])
    return (forward if mask[0] else 0, forward if mask[1] else 0, 0)


def sdpa_backward_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """A fused attention's backward, as ``FlopCounterMode`` counts it: the scores recomputed
    (L×S×E), then the gradients of the probabilities (L×S×Ev), V (S×L×Ev), Q (L×S×E) and K (S×L×E)."""
    q, k, v = args[1], args[2], args[3]
    *batch, length, e = _shape(q)
    source = _shape(k)[-2]
    return math.prod(batch) * length * source * (3 * e + 2 * _shape(v)[-1])


def symbolic(size: Any) -> bool:
    """Whether a size or cost is a ``torch.SymInt`` (a pass fed symbolic sizes:
    :mod:`archscope.analysis.symbolic_trace`), told by name: this table imports no torch."""
    return type(size).__name__ == "SymInt"


def _inner(a: Any, b: Any) -> Any:
    """The contracted size, which both operands have: the one that is a number, when one is
    a symbol (a linear layer's weight is built for a size)."""
    return b if symbolic(a) and not symbolic(b) else a


def mm_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    a, b = args[0], args[1]
    return _shape(a)[0] * _inner(_shape(a)[1], _shape(b)[0]) * _shape(b)[1]


def addmm_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return mm_macs(args[1:], kwargs, out)  # the added bias is not counted


def bmm_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    b, m, k = _shape(args[0])
    return b * m * _inner(k, _shape(args[1])[1]) * _shape(args[1])[2]


def baddbmm_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return bmm_macs(args[1:], kwargs, out)


def sdpa_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """Fused attention: Q·Kᵀ (L×S×E) and attention·V (L×S×Ev) per batch and head."""
    q, k, v = args[0], args[1], args[2]
    *batch, length, e = _shape(q)
    source = _shape(k)[-2]
    return math.prod(batch) * length * source * (e + _shape(v)[-1])


def elementwise(scale: int) -> Handle:
    def cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
        first = out[0] if isinstance(out, (tuple, list)) else out
        return scale * _numel(first)

    return cost


def input_elements(scale: int) -> Handle:
    def cost(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
        return scale * _numel(args[0])

    return cost


def _batch_norm_fvcore(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # fvcore's batchnorm_flop_jit: eval numel × (2 if affine else 1); training numel × (5 or 4)
    affine = args[1] is not None
    training = _batch_norm_training(args)
    return _numel(args[0]) * ((5 if affine else 4) if training else (2 if affine else 1))


def _batch_norm_training(args: tuple[Any, ...]) -> bool:
    for a in args[5:6]:
        if isinstance(a, bool):
            return a
    return False


def recurrent_cost(module: Any, x: Any) -> dict[str, int]:
    """An LSTM, GRU or RNN layer's cost on input ``x`` (a tensor or a PackedSequence), by formula.

    Per time step, sample, layer and direction: ``gates × (in × H + H_r × H)`` MACs of
    matmuls (gates: 4 LSTM, 3 GRU, 1 RNN; ``in`` is the input size for the first layer,
    ``H_out × directions`` above it; ``H_r`` is ``proj_size`` when set, else ``H``), plus
    ``proj_size × H`` for an LSTM's projection; biases not counted, as for a linear layer.
    Activations (one per gate element, and the cell's ``tanh``) and the elementwise state
    updates are counted separately, for the ``full`` convention.
    """
    # a PackedSequence (or a subclass) is a named tuple of ``data`` and ``batch_sizes``:
    # recognised by its fields, so this table needs no torch
    data = x.data if isinstance(x, tuple) and hasattr(x, "batch_sizes") and hasattr(x, "data") else x
    if data is None or not hasattr(data, "shape"):
        return {}
    steps = _numel(data) // module.input_size  # time steps × samples
    gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    hidden, proj = module.hidden_size, getattr(module, "proj_size", 0)
    out = proj or hidden
    directions = 2 if module.bidirectional else 1
    macs = activations = elementwise = 0
    for layer in range(module.num_layers):
        size_in = module.input_size if layer == 0 else out * directions
        macs += gates * (size_in * hidden + out * hidden) + proj * hidden
        activations += {4: 5, 3: 3}.get(gates, 1) * hidden  # sigmoid/tanh per gate; LSTM's tanh(c)
        elementwise += {4: 4, 3: 5}.get(gates, 0) * hidden  # f*c + i*g, o*tanh(c); GRU's r*, (1-z)*, z*
    scale = steps * directions
    return {"matmul": macs * scale, "activation": activations * scale, "elementwise": elementwise * scale}


# ---------------------------------------------------------------- the operator table

CATEGORIES: dict[str, str] = {}  # aten packet name (other namespaces: "quantized::conv2d") -> category
MAC_HANDLES: dict[str, Handle] = {}  # aten packet name -> MACs of the conv/linear/matmul/attention kind


def _ops(category: str, *names: str, handle: Handle | None = None) -> None:
    for name in names:
        if name in CATEGORIES:
            raise ValueError(f"operator {name} is in two categories")
        CATEGORIES[name] = category
        if handle is not None:
            MAC_HANDLES[name] = handle


_ops("conv", "convolution", "_convolution", "conv2d", "cudnn_convolution", "mkldnn_convolution",
     "_slow_conv2d_forward", "convolution_overrideable", "thnn_conv2d", handle=conv_macs)
_ops("matmul", "mm", handle=mm_macs)
_ops("matmul", "addmm", handle=addmm_macs)
_ops("matmul", "bmm", handle=bmm_macs)
_ops("matmul", "baddbmm", handle=baddbmm_macs)
_ops("conv", "convolution_backward", handle=conv_backward_macs)
_ops("attention", "_scaled_dot_product_flash_attention_for_cpu_backward",
     "_scaled_dot_product_flash_attention_backward", "_scaled_dot_product_efficient_attention_backward",
     "_scaled_dot_product_cudnn_attention_backward", handle=sdpa_backward_macs)
_ops("attention", "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
     "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
     "_scaled_dot_product_fused_attention_overrideable", handle=sdpa_macs)
_ops("norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
     "native_layer_norm", "native_group_norm", "batch_norm", "layer_norm", "group_norm", "_batch_norm_with_update",
     "_batch_norm_no_update")
_ops("activation", "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "silu", "silu_", "sigmoid", "sigmoid_",
     "tanh", "tanh_", "gelu", "gelu_", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "leaky_relu",
     "leaky_relu_", "elu", "elu_", "_softmax", "_safe_softmax", "_log_softmax", "softmax", "threshold")
_ops("pool", "max_pool2d_with_indices", "max_pool2d", "avg_pool2d", "_adaptive_avg_pool2d", "adaptive_max_pool2d",
     "max_pool1d", "avg_pool1d", "max_pool3d_with_indices", "avg_pool3d", "_adaptive_avg_pool3d",
     "upsample_nearest2d", "upsample_bilinear2d", "_upsample_nearest_exact2d", "_upsample_bilinear2d_aa",
     "grid_sampler_2d")
_ops("elementwise", "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "addcmul", "addcdiv", "neg",
     "exp", "log", "sqrt", "rsqrt", "pow", "reciprocal", "clamp", "clamp_", "clamp_min", "clamp_max", "abs",
     "maximum", "minimum", "where", "sin", "cos", "erf", "lerp")
_ops("reduction", "mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "norm",
     "linalg_vector_norm", "argmax", "argmin", "cumsum", "logsumexp")
_ops("dropout", "native_dropout", "dropout", "bernoulli", "bernoulli_", "feature_dropout")
# the backward pass's own operators (a training step): one per output element under ``full``
_ops("norm", "native_batch_norm_backward", "native_layer_norm_backward", "native_group_norm_backward",
     "batch_norm_backward")
_ops("activation", "threshold_backward", "gelu_backward", "silu_backward", "hardswish_backward",
     "hardsigmoid_backward", "sigmoid_backward", "tanh_backward", "hardtanh_backward", "leaky_relu_backward",
     "elu_backward", "_softmax_backward_data", "_log_softmax_backward_data")
_ops("pool", "max_pool2d_with_indices_backward", "avg_pool2d_backward", "_adaptive_avg_pool2d_backward",
     "adaptive_max_pool2d_backward", "max_pool3d_with_indices_backward", "avg_pool3d_backward",
     "_adaptive_avg_pool3d_backward", "upsample_nearest2d_backward", "upsample_bilinear2d_backward",
     "grid_sampler_2d_backward")
_ops("dropout", "native_dropout_backward")
_ops("elementwise", "embedding_dense_backward", "index_add", "index_add_", "scatter_add", "scatter_add_",
     "index_put", "index_put_", "_index_put_impl_", "masked_scatter", "sgn", "sign", "rsub")
_ops("free", "select_backward", "slice_backward", "as_strided_scatter", "select_scatter", "slice_scatter",
     "new_empty_strided", "_unsafe_index_put", "expand_copy", "squeeze_copy", "unsqueeze_copy")
_ops("conv", *(f"quantized::conv{n}d{relu}" for n in (1, 2, 3) for relu in ("", "_relu")), handle=packed_conv_macs)
_ops("linear", "quantized::linear", "quantized::linear_relu", "quantized::linear_dynamic", handle=packed_linear_macs)
_ops("elementwise", "quantized::add", "quantized::add_relu", "quantized::mul", "quantized::mul_relu",
     "quantized::add_scalar", "quantized::mul_scalar")
_ops("pool", "quantized_max_pool2d", "quantized_max_pool1d")
_ops("activation", "quantized::hardswish", "quantized::sigmoid", "quantized::relu6", "quantized::leaky_relu",
     "quantized::elu", "quantized::celu", "quantized::threshold")
_ops("free", "quantize_per_tensor", "quantize_per_channel", "dequantize", "quantized::cat",
     "_make_per_tensor_quantized_tensor", "int_repr", "q_scale", "q_zero_point")
_ops("free", "view", "_unsafe_view", "reshape", "expand", "permute", "transpose", "t", "select", "slice",
     "unsqueeze", "squeeze", "cat", "stack", "split", "split_with_sizes", "chunk", "narrow", "clone",
     "contiguous", "copy_", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like",
     "full", "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "detach", "alias", "as_strided",
     "flatten", "unflatten", "_to_copy", "lift_fresh", "unbind", "constant_pad_nd", "fill_", "zero_",
     "arange", "index_select", "index", "gather", "roll", "repeat", "_reshape_alias", "view_as_real",
     "scalar_tensor", "_local_scalar_dense", "sym_size", "sym_stride", "sym_numel", "is_same_size",
     "masked_fill", "masked_fill_", "eq", "ne", "lt", "gt", "le", "ge", "logical_not", "logical_and",
     "bitwise_not", "_assert_tensor_metadata", "resize_", "set_", "detach_", "split_copy", "pixel_shuffle",
     # filling weights (a lazy layer initialised by its first call), not computing
     "uniform_", "normal_", "random_", "exponential_", "kaiming_uniform_")


# ---------------------------------------------------------------- conventions


@dataclass(frozen=True)
class Convention:
    """Which categories count, and the handles that price them (MACs or, for fvcore, its 'flops')."""

    name: str
    description: str
    handles: dict[str, Handle] = field(default_factory=dict)
    by_category: dict[str, Handle] = field(default_factory=dict)

    def handle_for(self, op: str, category: str) -> Handle | None:
        return self.handles.get(op) or self.by_category.get(category)

    def counts(self, category: str) -> bool:
        """Whether a cost of ``category`` worked out by formula (a recurrent layer's) counts here."""
        return category in ("conv", "linear", "matmul", "attention") or category in self.by_category


CONVENTIONS: dict[str, Convention] = {}


def register_convention(c: Convention) -> Convention:
    if c.name in CONVENTIONS:
        raise ValueError(f"counting convention {c.name!r} is registered twice")
    CONVENTIONS[c.name] = c
    return c


_MATMUL_LIKE = dict(MAC_HANDLES)

TORCHVISION = register_convention(Convention(
    name="torchvision",
    # archscope.tracer.analytic computes the same numbers from a spec, and says so in these words
    description="MACs: multiply-accumulates of conv, linear, matmul and attention; batch norm, activations, "
                "pooling and adds not counted (torchvision's published GFLOPS are these MACs)",
    handles=_MATMUL_LIKE,
))

FVCORE = register_convention(Convention(
    name="fvcore",
    description="fvcore's FlopCountAnalysis: one fused multiply-add as one flop for conv, linear and matmul, "
                "plus batch norm (2 per element in eval when affine), adaptive average pooling (1 per input "
                "element) and upsampling; activations, max pooling and adds not counted",
    handles={**_MATMUL_LIKE,
             **dict.fromkeys(["native_batch_norm", "_native_batch_norm_legit",
                              "_native_batch_norm_legit_no_training", "_batch_norm_with_update",
                              "_batch_norm_no_update"], _batch_norm_fvcore),
             "native_layer_norm": input_elements(5), "native_group_norm": input_elements(5),
             "_adaptive_avg_pool2d": input_elements(1),
             "upsample_nearest2d": elementwise(1), "upsample_bilinear2d": elementwise(4)},
))

FULL = register_convention(Convention(
    name="full",
    description="MACs of conv, linear, matmul and attention, plus one operation per output element of "
                "normalisation, activations, pooling, elementwise ops and reductions",
    handles=_MATMUL_LIKE,
    by_category={c: elementwise(1) for c in ("norm", "activation", "pool", "elementwise")}
    | {"reduction": input_elements(1)},
))
