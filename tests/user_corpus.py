"""A corpus of small user models of every kind, with the inputs a user would give archscope.

Plain PyTorch, no archscope import: one ``nn.Module`` class per kind of model a user
brings (an MLP, 1-D and 3-D convolutions, LSTM/GRU/RNN with batch first, sequence first
and explicit states, a transformer encoder over token ids with a padding mask, dict,
list, keyword-only and two-tensor inputs, no input at all, frozen layers, tied weights, a
detection model that batches a list of differently sized images itself, tuple, dict and
list-of-dict outputs). Each is small enough to run for real on CPU in milliseconds.

:data:`CASES` describes how each model is fed, three ways that must agree:

- ``cli``: the extra arguments of ``archscope summary tests/user_corpus.py:TARGET`` in
  archscope's input grammar (``--input [NAME=]SHAPE[:DTYPE]`` per sample with the batch
  inserted at ``--batch-dim``, or ``--inputs-from tests/user_corpus.py:example_inputs_*``
  for nested structures);
- ``api``: keyword arguments of ``archscope.trace`` (``input_size``, ``dtypes``,
  ``batch_dim`` or ``input_data``);
- ``example(batch)``: real CPU tensors ``(args, kwargs)`` for a real forward pass.

with the expected output shapes and, from closed formulas, the MACs at batch 2
(conv, linear, matmul and attention multiply-accumulates, biases not counted; for RNNs
``gates × (input × hidden + hidden × hidden)`` per layer, direction, time step and
sample). :func:`flop_counter_macs` and :func:`unique_params` are the independent
references the tests compare archscope with. ``tests/test_inputs_corpus.py`` uses it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

Shape = tuple[int, ...]
Example = tuple[tuple[Any, ...], dict[str, Any]]  # (args, kwargs) of one forward call
HERE = "tests/user_corpus.py"  # as the command line names this file, from the repository root


# ---------------------------------------------------------------- plain tensors and images


class MLP(nn.Module):
    """N×20 → Linear(20, 64) → ReLU → Linear(64, 10)."""

    def __init__(self, in_features: int = 20, hidden: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class AudioNet(nn.Module):
    """Raw audio N×1×16000: strided Conv1d front end, max pool, Conv1d, global average, linear head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, 80, stride=16), nn.ReLU(), nn.MaxPool1d(4),  # 16000 → 996 → 249
            nn.Conv1d(8, 16, 3, stride=2), nn.ReLU(),  # 249 → 124
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(16, classes)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(wave)), 1))


class VideoNet(nn.Module):
    """Video clips N×3×8×32×32 (C×T×H×W): two Conv3d, a 3-D max pool, global average, linear head."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),  # 8×32×32 → 4×16×16
            nn.Conv3d(8, 16, 3, stride=2, padding=1), nn.ReLU(),  # → 2×8×8
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(16, classes)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(clip)), 1))


# ---------------------------------------------------------------- recurrent


class LSTMNet(nn.Module):
    """Batch-first 2-layer LSTM over N×L×20, the last time step into a linear head; takes ``x`` only."""

    def __init__(self, input_size: int, hidden: int, num_layers: int, classes: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def build_lstm() -> LSTMNet:
    """LSTMNet(20 → 32, 2 layers, 10 classes)."""
    return LSTMNet(20, 32, 2, 10)


class LSTMWithState(nn.Module):
    """Batch-first LSTM fed ``(x, (h0, c0))``, returning ``(logits, (h_n, c_n))``.

    ``x`` is N×L×20 but ``h0`` and ``c0`` are num_layers×N×hidden: their batch is dim 1,
    not dim 0, even with ``batch_first=True``. Three layers, so no state dim equals the test batch 2.
    """

    def __init__(self, input_size: int = 20, hidden: int = 24, num_layers: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        out, (h, c) = self.lstm(x, state)
        return self.head(out[:, -1]), (h, c)


class SeqFirstGRU(nn.Module):
    """Sequence-first GRU (``batch_first=False``): input L×N×20, the batch is dim 1."""

    def __init__(self, input_size: int = 20, hidden: int = 24, classes: int = 10) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[-1])


class BiRNN(nn.Module):
    """A plain bidirectional tanh ``nn.RNN`` (batch first, N×L×16), both directions into a linear head."""

    def __init__(self, input_size: int = 16, hidden: int = 12, classes: int = 4) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


# ---------------------------------------------------------------- attention over token ids


class TokenEncoder(nn.Module):
    """Token ids (int64, N×L) → Embedding → 2-layer ``nn.TransformerEncoder`` (batch first, d_model 32,
    4 heads) with a keyword ``src_key_padding_mask`` (bool, N×L, True = padding) → first token → linear head.
    """

    def __init__(self, vocab: int = 100, d_model: int = 32, nhead: int = 4, num_layers: int = 2,
                 classes: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers)
        self.head = nn.Linear(d_model, classes)

    def forward(self, ids: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.encoder(self.embed(ids), src_key_padding_mask=src_key_padding_mask)
        return self.head(x[:, 0])


# ---------------------------------------------------------------- structured and unusual inputs


class DictInput(nn.Module):
    """``forward(batch)`` with one dict ``{"image": N×3×32×32, "meta": N×5}``: a conv branch and a linear
    branch, concatenated into a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.meta = nn.Linear(5, 8)
        self.head = nn.Linear(16, 3)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        image = torch.flatten(self.conv(batch["image"]), 1)
        return self.head(torch.cat([image, self.meta(batch["meta"])], 1))


class ListInput(nn.Module):
    """``forward(xs)`` with one list of three tensors N×4, N×6, N×10: one Linear each, summed, a head."""

    widths = (4, 6, 10)

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(w, 8) for w in self.widths)
        self.head = nn.Linear(8, 3)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        parts = [proj(x) for proj, x in zip(self.proj, xs, strict=True)]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return self.head(F.relu(total))


class KeywordOnly(nn.Module):
    """``forward(x, *, scale)``: x N×20, a keyword-only ``scale`` N×1 multiplying the hidden features."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)) * scale)


class TwoTensorMatmul(nn.Module):
    """``forward(x, y)``: x N×6×16 and y N×16×8, each through a linear projection, then ``x @ y`` (N×6×8)."""

    def __init__(self) -> None:
        super().__init__()
        self.px = nn.Linear(16, 16)
        self.py = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.px(x) @ self.py(y)


class NoInput(nn.Module):
    """``forward()`` takes nothing: a learned 4×16 latent through a Linear(16, 8); the output has no batch."""

    def __init__(self) -> None:
        super().__init__()
        self.latent = nn.Parameter(torch.randn(4, 16))
        self.proj = nn.Linear(16, 8)

    def forward(self) -> torch.Tensor:
        return self.proj(self.latent)


class FrozenBackbone(nn.Module):
    """A conv backbone with ``requires_grad=False`` (fine-tuning) and a trainable head; N×3×16×16."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.backbone.requires_grad_(False)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.backbone(x), 1))


class TiedLM(nn.Module):
    """A tiny language model whose output projection *is* the embedding matrix (tied weights):
    ids int64 N×L → Embedding(50, 16) → Linear(16, 16) + tanh → decoder (weight = embedding weight) → N×L×50."""

    def __init__(self, vocab: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.decoder = nn.Linear(dim, vocab, bias=False)
        self.decoder.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.tanh(self.mix(self.embed(ids))))


class TinyDetector(nn.Module):
    """Detection style, like torchvision's detection models: ``forward(images)`` takes a *list* of 3×H×W
    images of different sizes (no batch dim), pads them into one N×3×H×W batch (the largest height and width,
    rounded up to a multiple of 16), runs a conv backbone and returns one dict per image:
    ``{"boxes": 1×4 (pixels), "scores": num_classes}``."""

    size_divisible = 16

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.cls = nn.Linear(16, num_classes)
        self.box = nn.Linear(16, 4)

    def batch_images(self, images: list[torch.Tensor]) -> torch.Tensor:
        d = self.size_divisible
        height = math.ceil(max(img.shape[-2] for img in images) / d) * d
        width = math.ceil(max(img.shape[-1] for img in images) / d) * d
        batched = images[0].new_zeros((len(images), images[0].shape[0], height, width))
        for img, slot in zip(images, batched, strict=True):
            slot[:, : img.shape[-2], : img.shape[-1]].copy_(img)
        return batched

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        features = torch.flatten(self.pool(self.backbone(self.batch_images(images))), 1)
        scores = self.cls(features).softmax(-1)
        boxes = self.box(features).sigmoid()
        results = []
        for i, img in enumerate(images):
            height, width = img.shape[-2:]
            size = boxes.new_tensor([width, height, width, height])
            results.append({"boxes": boxes[i : i + 1] * size, "scores": scores[i]})
        return results


# ---------------------------------------------------------------- structured outputs


class TwoHeads(nn.Module):
    """Multi-output: a shared trunk on N×20 and two heads, returning the tuple ``(logits N×10, value N×1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(20, 32), nn.ReLU())
        self.policy = nn.Linear(32, 10)
        self.value = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.policy(h), self.value(h)


class DictOutput(nn.Module):
    """Dict output: N×3×16×16 → conv features → ``{"logits": N×10, "features": N×8}``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = torch.flatten(self.features(x), 1)
        return {"logits": self.head(features), "features": features}


# ---------------------------------------------------------------- example inputs (real CPU tensors)

SEQ = 7  # time steps of the LSTM and GRU examples
TOKENS = 12  # tokens of the transformer and tied-weight examples


def _one(*shape: int) -> Callable[[int], Example]:
    """One float tensor argument of per-sample ``shape`` with the batch first."""
    return lambda n: ((torch.randn(n, *shape),), {})


def _lstm_state(n: int) -> Example:
    layers, hidden = 3, 24
    return (torch.randn(n, 5, 20), (torch.zeros(layers, n, hidden), torch.zeros(layers, n, hidden))), {}


def _token_inputs(n: int) -> dict[str, torch.Tensor]:
    mask = torch.zeros(n, TOKENS, dtype=torch.bool)
    mask[1:, 9:] = True  # the second and later sequences are padded after 9 tokens; the first token never is
    return {"ids": torch.randint(0, 100, (n, TOKENS)), "src_key_padding_mask": mask}


def _transformer(n: int) -> Example:
    inputs = _token_inputs(n)
    return (inputs["ids"],), {"src_key_padding_mask": inputs["src_key_padding_mask"]}


def _transformer_kwargs(n: int) -> Example:
    return (), _token_inputs(n)


def _dict_input(n: int) -> Example:
    return ({"image": torch.randn(n, 3, 32, 32), "meta": torch.randn(n, 5)},), {}


def _list_input(n: int) -> Example:
    return ([torch.randn(n, w) for w in ListInput.widths],), {}


def _keyword_only(n: int) -> Example:
    return (torch.randn(n, 20),), {"scale": torch.rand(n, 1)}


def _matmul(n: int) -> Example:
    return (torch.randn(n, 6, 16), torch.randn(n, 16, 8)), {}


def _no_input(n: int) -> Example:
    return (), {}


def _ids(n: int) -> Example:
    return (torch.randint(0, 50, (n, TOKENS)),), {}


def image_sizes(n: int) -> list[tuple[int, int]]:
    """(H, W) of the detection example's images: 28×36, 34×32, 40×28, then again."""
    return [(28 + 6 * (i % 3), 36 - 4 * (i % 3)) for i in range(n)]


def _detection(n: int) -> Example:
    return ([torch.rand(3, h, w) for h, w in image_sizes(n)],), {}


# What --inputs-from names: real tensors at batch 2, in the forms archscope's grammar reads.
# A tuple is positional arguments, so one dict or one list argument is wrapped in a 1-tuple:
# returned bare, a dict would be read as keyword arguments and a list as several positional ones.


def example_inputs_lstm_state() -> tuple[Any, ...]:
    """``(x, (h0, c0))``: positional arguments, the second a tuple of two states (batch at dim 1)."""
    return _lstm_state(2)[0]


def example_inputs_transformer() -> dict[str, torch.Tensor]:
    """A dict: keyword arguments ``ids`` and ``src_key_padding_mask``."""
    return _token_inputs(2)


def example_inputs_dict_input() -> Example:
    """The explicit pair form ``(args, kwargs)``: one positional argument, a dict of two tensors."""
    return _dict_input(2)


def example_inputs_list_input() -> tuple[Any, ...]:
    """One positional argument, a list of three tensors (a 1-tuple: a bare list would be three arguments)."""
    return _list_input(2)[0]


def example_inputs_detection() -> tuple[Any, ...]:
    """One positional argument, a list of two unbatched images of different sizes."""
    return _detection(2)[0]


def example_inputs_mlp_size() -> torch.Size:
    """A shape, not a tensor: one float32 argument of shape 2×20 (the batch included, as with tensors)."""
    return torch.Size([2, 20])


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One model and the ways to feed it; expected numbers at batch 2."""

    name: str  # short id
    target: str  # attribute of this module: a class or a factory needing no arguments
    cli: tuple[str, ...]  # extra arguments after `archscope summary tests/user_corpus.py:TARGET`
    api: Mapping[str, Any] = field(hash=False, compare=False)  # keyword arguments of archscope.trace
    example: Callable[[int], Example] = field(hash=False, compare=False)  # batch → real (args, kwargs)
    output_shapes: tuple[Shape, ...] = ()  # at batch 2, in the order tensors appear in the output
    macs: int | None = None  # closed formula at batch 2 (conv/linear/matmul/attention/RNN gates)
    inputs: int = 1  # input tensors fed (leaves of nested structures): one input node each in a graph
    note: str = ""

    @property
    def cli_target(self) -> str:
        return f"{HERE}:{self.target}"

    @property
    def inputs_from(self) -> bool:
        """Fed by ``--inputs-from`` (tensors with their batch) rather than per-sample ``--input`` shapes."""
        return "--inputs-from" in self.cli

    def build(self) -> nn.Module:
        """A fresh CPU instance, eval mode, seeded."""
        torch.manual_seed(0)
        return globals()[self.target]().eval()


def _from(func: str) -> tuple[str, str]:
    return ("--inputs-from", f"{HERE}:{func}")


def _lstm_macs(inp: int, hidden: int, layers: int, steps: int, batch: int, gates: int = 4,
               directions: int = 1) -> int:
    """gates × (in × hidden + hidden × hidden) per layer, direction, step and sample; later layers read
    the previous layer's output (hidden × directions features)."""
    total = 0
    for layer in range(layers):
        width = inp if layer == 0 else hidden * directions
        total += directions * gates * (width * hidden + hidden * hidden)
    return total * steps * batch


def _encoder_layer_macs(batch: int, tokens: int, d: int, ff: int) -> int:
    """in-projection (3d), attention (Q·Kᵀ and weights·V), out-projection and the two feed-forward linears."""
    attention = batch * tokens * tokens * (d + d)  # heads × (d/heads) = d
    return batch * tokens * (3 * d * d + d * d + 2 * d * ff) + attention


_TRANSFORMER_MACS = 2 * _encoder_layer_macs(2, TOKENS, 32, 64) + 2 * 32 * 5
_DETECTION_MACS = (
    2 * (8 * 24 * 24 * 27 + 16 * 12 * 12 * 72)  # two images padded to 48×48 (34×36 rounded up to 16s)
    + 2 * (16 * 4 + 16 * 4)  # class and box heads
)

CASES: list[Case] = [
    Case("mlp", "MLP", ("--input", "20"), {"input_size": (20,)}, _one(20),
         ((2, 10),), 2 * (20 * 64 + 64 * 10)),
    Case("mlp_size", "MLP", _from("example_inputs_mlp_size"), {"input_size": (20,)}, _one(20),
         ((2, 10),), 2 * (20 * 64 + 64 * 10), note="--inputs-from returning a torch.Size, not a tensor"),
    Case("audio_conv1d", "AudioNet", ("--input", "1x16000"), {"input_size": (1, 16000)}, _one(1, 16000),
         ((2, 10),), 2 * (8 * 996 * 80 + 16 * 124 * 8 * 3 + 16 * 10)),
    Case("video_conv3d", "VideoNet", ("--input", "3x8x32x32"), {"input_size": (3, 8, 32, 32)},
         _one(3, 8, 32, 32), ((2, 5),), 2 * (8 * 8 * 32 * 32 * 3 * 27 + 16 * 2 * 8 * 8 * 8 * 27 + 16 * 5)),
    Case("lstm", "build_lstm", ("--input", f"{SEQ}x20"), {"input_size": (SEQ, 20)}, _one(SEQ, 20),
         ((2, 10),), _lstm_macs(20, 32, 2, SEQ, 2) + 2 * 32 * 10),
    Case("lstm_state", "LSTMWithState", _from("example_inputs_lstm_state"),
         {"input_data": example_inputs_lstm_state()}, _lstm_state,
         ((2, 10), (3, 2, 24), (3, 2, 24)), _lstm_macs(20, 24, 3, 5, 2) + 2 * 24 * 10, inputs=3,
         note="h0/c0 are num_layers×N×hidden: batch at dim 1 while x has it at dim 0"),
    Case("gru_seq_first", "SeqFirstGRU", ("--input", f"{SEQ}x20", "--batch-dim", "1"),
         {"input_size": (SEQ, 20), "batch_dim": 1}, lambda n: ((torch.randn(SEQ, n, 20),), {}),
         ((2, 10),), _lstm_macs(20, 24, 1, SEQ, 2, gates=3) + 2 * 24 * 10),
    Case("rnn_bidirectional", "BiRNN", ("--input", "9x16"), {"input_size": (9, 16)}, _one(9, 16),
         ((2, 4),), _lstm_macs(16, 12, 1, 9, 2, gates=1, directions=2) + 2 * 24 * 4),
    Case("transformer", "TokenEncoder",
         ("--input", f"{TOKENS}:int64", "--input", f"src_key_padding_mask={TOKENS}:bool"),
         {"input_size": {"ids": (TOKENS,), "src_key_padding_mask": (TOKENS,)}, "dtypes": ["int64", "bool"]},
         _transformer, ((2, 5),), _TRANSFORMER_MACS, inputs=2,
         note="the CLI mixes a positional ids with a keyword mask; input_size (a dict) names both"),
    Case("transformer_kwargs", "TokenEncoder", _from("example_inputs_transformer"),
         {"input_data": example_inputs_transformer()}, _transformer_kwargs, ((2, 5),), _TRANSFORMER_MACS,
         inputs=2, note="--inputs-from returning a dict: keyword arguments"),
    Case("dict_input", "DictInput", _from("example_inputs_dict_input"),
         {"input_data": example_inputs_dict_input()[0]}, _dict_input,
         ((2, 3),), 2 * (8 * 16 * 16 * 27 + 5 * 8 + 16 * 3), inputs=2,
         note="one dict argument: a 1-tuple in input_data, the (args, kwargs) pair in --inputs-from"),
    Case("list_input", "ListInput", _from("example_inputs_list_input"),
         {"input_data": example_inputs_list_input()}, _list_input,
         ((2, 3),), 2 * (4 * 8 + 6 * 8 + 10 * 8 + 8 * 3), inputs=3),
    Case("keyword_only", "KeywordOnly", ("--input", "20", "--input", "scale=1"),
         {"input_size": {"x": (20,), "scale": (1,)}}, _keyword_only,
         ((2, 10),), 2 * (20 * 32 + 32 * 10), inputs=2),
    Case("matmul", "TwoTensorMatmul", ("--input", "6x16", "--input", "16x8"),
         {"input_size": [(6, 16), (16, 8)]}, _matmul,
         ((2, 6, 8),), 2 * (6 * 16 * 16 + 16 * 8 * 8 + 6 * 16 * 8), inputs=2),
    Case("no_input", "NoInput", (), {}, _no_input, ((4, 8),), 4 * 16 * 8, inputs=0,
         note="forward() takes nothing; the output has no batch dimension"),
    Case("frozen", "FrozenBackbone", ("--input", "3x16x16"), {"input_size": (3, 16, 16)}, _one(3, 16, 16),
         ((2, 10),), 2 * (8 * 16 * 16 * 27 + 16 * 8 * 8 * 72 + 16 * 10)),
    Case("tied", "TiedLM", ("--input", f"{TOKENS}:int64"), {"input_size": (TOKENS,), "dtypes": "int64"}, _ids,
         ((2, TOKENS, 50),), 2 * TOKENS * (16 * 16 + 16 * 50)),
    Case("detection", "TinyDetector", _from("example_inputs_detection"),
         {"input_data": example_inputs_detection()}, _detection,
         ((1, 4), (4,), (1, 4), (4,)), _DETECTION_MACS, inputs=2,
         note="a list of unbatched 3×H×W images of different sizes; the model pads them into a batch"),
    Case("multi_output", "TwoHeads", ("--input", "20"), {"input_size": (20,)}, _one(20),
         ((2, 10), (2, 1)), 2 * (20 * 32 + 32 * 10 + 32 * 1)),
    Case("dict_output", "DictOutput", ("--input", "3x16x16"), {"input_size": (3, 16, 16)}, _one(3, 16, 16),
         ((2, 10), (2, 8)), 2 * (8 * 16 * 16 * 27 + 8 * 10)),
]


# ---------------------------------------------------------------- independent references


def unique_params(model: nn.Module) -> int:
    """Parameter elements, each tensor counted once however many modules share it (tied weights)."""
    tensors = {id(p): p for _, p in model.named_parameters(remove_duplicate=False)}
    return sum(p.numel() for p in tensors.values())


def unique_trainable_params(model: nn.Module) -> int:
    """As :func:`unique_params`, only the tensors with ``requires_grad``."""
    tensors = {id(p): p for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    return sum(p.numel() for p in tensors.values())


@contextmanager
def unfused_kernels() -> Iterator[None]:
    """Switch off the fused CPU kernels that hide their matmuls from a dispatch mode, for one pass.

    ``FlopCounterMode`` has no formula for them (and torchinfo cannot size the nested tensors of
    the transformer fast path), so inside this block the model runs the plain operators they stand
    for: oneDNN RNN layers (``aten.mkldnn_rnn_layer``, which nn.LSTM/GRU/RNN call on CPU) become
    ``addmm`` per step, the ``nn.TransformerEncoder(Layer)`` fast path (nested tensors,
    ``aten._transformer_encoder_layer_fwd``) becomes linears and attention, and CPU flash attention
    (``aten._scaled_dot_product_flash_attention_for_cpu``) becomes the math backend's two ``bmm``.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH):
                yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def flop_counter_macs(model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """``torch.utils.flop_counter.FlopCounterMode`` total FLOPs // 2 of one eval forward under
    ``torch.no_grad()`` on CPU, inside :func:`unfused_kernels` (without it FlopCounterMode counts
    0 for an LSTM on CPU and misses a transformer's attention). The model's mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        with unfused_kernels(), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*args, **kwargs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
