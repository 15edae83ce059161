"""Inputs meet modules: what a module takes, example inputs it declares, tensors to feed it.

:mod:`archscope.spec.inputs` says what inputs are (no torch); this module looks at a
built ``nn.Module`` to tell what it takes, and makes the tensors:

- :func:`first_layer` and :func:`expects`: the first layer that fixes the input's shape
  (a convolution, a linear layer, an embedding, a recurrent layer), and what it takes, in
  words (``N×3×H×W float``); a 2-D convolution makes the short image forms valid;
- :func:`declared`: inputs a model states itself: an ``example_inputs`` attribute or
  method (tensors or shapes), timm's ``pretrained_cfg["input_size"]``;
- :func:`from_data`: real tensors (``input_data``, ``--inputs-from``) as :class:`Inputs`,
  shapes and dtypes taken, data never copied;
- :func:`materialise`: the args and kwargs of one forward call, zeros of each input's
  shape and dtype on the device (zeros are valid token ids and masks); the user's own
  tensors where they were given and the device is theirs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from archscope.errors import USER_CODE_ERRORS, ShapeError, UsageError, echo
from archscope.spec.inputs import Input, Inputs, Tree, check_shape, describe, dtype_name, fmt_shape

# Layers that fix what the model's input looks like, and the words for it. First match wins.
_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _conv_words(m: Any) -> str:
    rank = len(m.kernel_size)
    dims = {1: "L", 2: "H×W", 3: "D×H×W"}.get(rank, "…")
    return f"N×{m.in_channels}×{dims} float"


def _rnn_words(m: Any) -> str:
    return f"{'N×L' if m.batch_first else 'L×N'}×{m.input_size} float"


from torch.ao.nn import quantized as _quantized  # noqa: E402  (torch imports it anyway)

CONVS: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, _quantized.modules.conv._ConvNd)
CONVS_2D: tuple[type[nn.Module], ...] = (nn.Conv2d, _quantized.Conv2d)

EXPECTS: tuple[tuple[type[nn.Module] | tuple[type[nn.Module], ...], Any], ...] = (
    (CONVS, _conv_words),
    ((nn.Linear, _quantized.Linear), lambda m: f"N×…×{m.in_features} float (last dimension {m.in_features})"),
    (nn.Bilinear, lambda m: f"two inputs N×…×{m.in1_features} and N×…×{m.in2_features} float"),
    (nn.Embedding, lambda m: f"integer ids N×L (int64, values below {m.num_embeddings})"),
    (nn.EmbeddingBag, lambda m: f"integer ids (int64, values below {m.num_embeddings})"),
    (nn.RNNBase, _rnn_words),
    (nn.MultiheadAttention, lambda m: f"query, key and value of {m.embed_dim} features "
                                      f"({'N×L' if m.batch_first else 'L×N'}×{m.embed_dim} float)"),
    (nn.LayerNorm, lambda m: f"{fmt_shape(('…', *m.normalized_shape))} float"),
)


def first_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The first module, in definition order, of a kind that fixes the input's shape."""
    for name, module in model.named_modules():
        if any(isinstance(module, kind) for kind, _ in EXPECTS):
            return name, module
    return None


def expects(model: nn.Module) -> str | None:
    """``its first layer, stem.0 (Conv2d), takes N×3×H×W float``, or None."""
    found = first_layer(model)
    if found is None:
        return None
    name, module = found
    words = next(describe(module) for kind, describe in EXPECTS if isinstance(module, kind))
    return f"its first layer, {name or 'the model'} ({module._get_name()}), takes {words}"


def image_channels(model: nn.Module) -> int | None:
    """The channels of the image a model takes, when its first layer is a 2-D convolution."""
    found = first_layer(model)
    conv: Any = found[1] if found is not None and isinstance(found[1], CONVS_2D) else None
    return int(conv.in_channels) if conv is not None else None


def forward_parameters(model: nn.Module) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return None


def forward_names(model: nn.Module) -> list[str]:
    """Names of forward's positional parameters (labels for positional inputs)."""
    params = forward_parameters(model) or []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def takes_no_input(model: nn.Module) -> bool:
    """Whether forward can be called with no arguments at all."""
    params = forward_parameters(model)
    if params is None:
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


# ---------------------------------------------------------------- inputs a model declares


def declared(model: nn.Module) -> tuple[Inputs, int | None] | None:
    """Inputs the model states, and their batch: ``example_inputs`` (attribute or method), or
    timm's ``pretrained_cfg["input_size"]``; None when it states none."""
    example = getattr(model, "example_inputs", None)
    if example is not None:
        if callable(example):
            try:
                example = example()
            except USER_CODE_ERRORS as exc:  # noqa: BLE001 (user code)
                raise UsageError(f"the model's example_inputs() failed: {type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:300]}") from None
        return from_example(example, "the model's example_inputs", model)
    cfg = getattr(model, "pretrained_cfg", None)
    size = cfg.get("input_size") if isinstance(cfg, Mapping) else None
    if isinstance(size, (tuple, list)) and len(size) == 3 and all(isinstance(d, int) for d in size):
        return Inputs((Input("x", tuple(size)),), source="timm's pretrained_cfg input_size"), None
    return _transformers_inputs(model)


MAX_TOKENS = 512  # a transformers model's declared sequence length is capped here (GPT-2 allows 1024)


def _transformers_inputs(model: nn.Module) -> tuple[Inputs, int | None] | None:
    """A transformers model's ``main_input_name`` at the sizes its config gives: token ids
    of ``max_position_embeddings`` (at most 512), images of ``image_size`` (224 when the
    config has none), Whisper's log-mel features (``num_mel_bins`` × 2 ``max_source_positions``), one second of
    16 kHz audio. (Its ``dummy_inputs`` are 3×5 token ids whatever the model takes.)"""
    name, config = getattr(model, "main_input_name", None), getattr(model, "config", None)
    if not isinstance(name, str) or config is None:
        return None
    if name == "input_ids":
        positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        length = min(int(positions), MAX_TOKENS) if isinstance(positions, int) else 128
        leaf, how = Input(name, (length,), "int64"), f"{length} tokens"
    elif name == "pixel_values":
        size = getattr(config, "image_size", None)
        side = size if isinstance(size, int) else 224  # convolutional configs (ResNet, ConvNeXt) state none
        channels = int(getattr(config, "num_channels", 3))
        leaf = Input(name, (channels, side, side))
        how = f"a {side}×{side} image" + ("" if isinstance(size, int) else " (224: the config states no image_size)")
    elif name == "input_features" and isinstance(getattr(config, "num_mel_bins", None), int):
        frames = 2 * int(getattr(config, "max_source_positions", 1500))  # Whisper: 30 s of log-mel frames
        leaf, how = Input(name, (config.num_mel_bins, frames)), f"{config.num_mel_bins} mel bins × {frames} frames"
    elif name == "input_values":
        leaf, how = Input(name, (16000,)), "one second of 16 kHz audio"
    else:
        return None
    return Inputs(kwargs={name: leaf}, source=f"transformers' main_input_name {name}: {how}, from its config"), None


def from_example(value: Any, source: str, model: nn.Module | None = None,
                 batch_dim: int | None = 0) -> tuple[Inputs, int | None]:
    """Example inputs as a function or attribute returns them: a tensor (one argument), a
    tuple or list (positional arguments), a dict (keyword arguments) or a pair ``(args,
    kwargs)``; tensors, or shapes (``torch.Size``) of float inputs with their batch."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (tuple, list)) and isinstance(
            value[1], Mapping):
        args, kwargs = tuple(value[0]), dict(value[1])
    elif isinstance(value, Mapping):
        args, kwargs = (), dict(value)
    elif isinstance(value, (tuple, list)) and not _is_shape(value):
        args, kwargs = tuple(value), {}
    else:
        args, kwargs = (value,), {}
    names = forward_names(model) if model is not None else []
    return from_data(args, kwargs, source, names, batch_dim)


def from_data(args: tuple[Any, ...], kwargs: Mapping[str, Any], source: str, names: list[str] | None = None,
              batch_dim: int | None = 0) -> tuple[Inputs, int | None]:
    """Real tensors (or shapes) as :class:`Inputs` and the batch they hold.

    The batch is the size of ``batch_dim`` in the first tensor; every tensor whose
    ``batch_dim`` has that size is marked as batched there, the others (an LSTM's ``h0``,
    ``num_layers×N×H``) are fed as they are."""
    names = names or []
    leaves: list[tuple[str, Any]] = []

    def tree(value: Any, label: str, depth: int) -> Tree:
        if depth > 16:
            raise UsageError(f"{source}: inputs nested more than 16 levels deep")
        if isinstance(value, Tensor) or _is_shape(value):
            leaves.append((label, value))
            return Input(label, ())  # placeholder, replaced below
        if isinstance(value, Mapping):
            return {str(k): tree(v, f"{label}.{k}" if label else str(k), depth + 1) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            items = [tree(v, f"{label}[{i}]", depth + 1) for i, v in enumerate(value)]
            return tuple(items) if isinstance(value, tuple) else items
        raise UsageError(f"{source}: cannot feed a {type(value).__name__} ({echo(value)}) to the model: "
                         "inputs are tensors, shapes (torch.Size), or tuples, lists and dicts of them")

    arg_trees = tuple(tree(v, names[i] if i < len(names) else f"input{i}", 0) for i, v in enumerate(args))
    kw_trees = {str(k): tree(v, str(k), 0) for k, v in kwargs.items()}
    batch = _batch_of([v for _, v in leaves], batch_dim)
    made = iter([_leaf(label, v, batch, batch_dim) for label, v in leaves])
    inputs = Inputs(arg_trees, kw_trees, source).map(lambda _: next(made))
    return inputs, batch


def _is_shape(value: Any) -> bool:
    return isinstance(value, torch.Size)


def _dims(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in (value if _is_shape(value) else value.shape))


def _batch_of(values: list[Any], batch_dim: int | None) -> int | None:
    if batch_dim is None:
        return None
    for v in values:
        dims = _dims(v)
        if len(dims) > batch_dim:
            return dims[batch_dim]
    return None


def _leaf(label: str, value: Any, batch: int | None, batch_dim: int | None) -> Input:
    dims = _dims(value)
    dtype = "float32" if _is_shape(value) else dtype_name(str(value.dtype), f"dtype of input {label!r}")
    tensor = value if isinstance(value, Tensor) else None
    if batch is not None and batch_dim is not None and len(dims) > batch_dim and dims[batch_dim] == batch:
        return Input(label, dims[:batch_dim] + dims[batch_dim + 1:], dtype, batch_dim, tensor)
    return Input(label, dims, dtype, None, tensor)


# ---------------------------------------------------------------- tensors to feed


def materialise(inputs: Inputs, batch: int, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The args and kwargs of one forward call on ``device``."""
    made = inputs.map(lambda leaf: _tensor(leaf, batch, device))
    return tuple(made.args), dict(made.kwargs)


def _tensor(leaf: Input, batch: int, device: torch.device) -> Any:
    shape = leaf.full_shape(batch)
    value = leaf.value
    if isinstance(value, Tensor) and tuple(value.shape) == shape and value.device == device:
        return value  # the user's own data, as given (never copied)
    dtype = getattr(torch, leaf.dtype or "float32")
    if isinstance(value, Tensor) and tuple(value.shape) == shape and device.type != "meta":
        return value.to(device)
    size = check_shape(shape, f"input {leaf.name!r}") if shape else ()
    try:
        return torch.zeros(size, dtype=dtype, device=device)
    except (RuntimeError, MemoryError) as exc:  # the allocator's refusal, in torch's words
        raise ShapeError(f"input {describe(replace(leaf, dtype=dtype_name(str(dtype))), batch)} "
                         f"({math.prod(size) * dtype.itemsize:,} bytes) cannot be allocated on {device.type}: "
                         "not enough memory; use a smaller --batch or --input") from exc


def tensors_in(value: Any, label: str = "") -> list[tuple[str, Tensor]]:
    """(label, tensor) for every tensor inside tensors, tuples, lists and mappings, in order:
    ``[0]``, ``logits``, ``aux[1]`` (``label`` is the top level's; a bare tensor keeps it)."""
    if isinstance(value, Tensor):
        return [(label, value)]
    if isinstance(value, Mapping):
        return [x for k, v in value.items() for x in tensors_in(v, f"{label}.{k}" if label else str(k))]
    if isinstance(value, (tuple, list)):
        return [x for i, v in enumerate(value) for x in tensors_in(v, f"{label}[{i}]")]
    return []


def labelled(inputs: Inputs, args: tuple[Any, ...], kwargs: Mapping[str, Any], batch: int) -> list[tuple[str, Any]]:
    """(``x 1×20 float32``, tensor) for every input tensor fed, in order."""
    tensors = [t for _, t in tensors_in((args, list(kwargs.values())))]
    return [(f"{leaf.name}: {fmt_shape(leaf.full_shape(batch), None)} {leaf.dtype}", t)
            for leaf, t in zip(inputs.leaves(), tensors, strict=False)]


def with_batch(inputs: Inputs, batch: int, old: int | None) -> Inputs:
    """Inputs taken from data at batch ``old`` fed at ``batch``: the data is dropped (zeros fed)."""
    if old is None or batch == old:
        return inputs
    return inputs.map(lambda leaf: replace(leaf, value=None) if leaf.batch_dim is not None else leaf)
