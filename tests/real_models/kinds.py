"""Small models, one per way real models trip a tracer up; targets of tests/test_real_models.py.

Plain PyTorch, no archscope import. The CLI names them ``tests/real_models/kinds.py:ATTR``
(classes and factories are built under ``torch.device("meta")``) and the tests import them
as ``real_models.kinds`` (tests/ is on sys.path under pytest). Every MAC count in the tests
follows from the layer sizes here: ``Linear(a, b)`` on N×a is N·a·b MACs,
``Conv2d(c, k, s)`` on an H×W output is N·H·W·k·c·s² MACs.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn.quantized import FloatFunctional
from torch.nn.utils import prune

# ---------------------------------------------------------------- 1. an __init__ that needs data


class ItemInInit(nn.Module):
    """``float(tensor[i])`` in ``__init__``: ``.item()`` on a meta tensor under ``torch.device("meta")``."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = float(torch.linspace(0, 1, 5)[1])  # 0.25
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale


class TolistInInit(nn.Module):
    """Widths copied out of a tensor (``.tolist()``) in ``__init__``."""

    def __init__(self) -> None:
        super().__init__()
        widths = torch.tensor([8, 6, 4]).tolist()
        self.fc1 = nn.Linear(widths[0], widths[1])
        self.fc2 = nn.Linear(widths[1], widths[2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def build_item_in_init() -> nn.Module:
    """A factory whose construction needs data too."""
    return ItemInInit()


# ---------------------------------------------------------------- 2. a forward that depends on the data


class NonzeroForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.nonzero(x[:, 0] >= 0).flatten()  # every row of zeros
        return self.fc(x[keep])


class ItemForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int((x[:, 0] >= 0).sum().item())  # every row of zeros
        return self.fc(x[:n])


class MaskForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[x[:, 0] >= 0])  # boolean mask: every row of zeros


# ---------------------------------------------------------------- 3. containers that are never called


class LoopOverModuleList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class LoopOverSequential(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class LoopOverNestedList(nn.Module):
    """A ModuleList of blocks, each a ModuleList itself, looped over twice over."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList([nn.ModuleList([nn.Linear(8, 8), nn.Tanh()]),
                                     nn.ModuleList([nn.Linear(8, 4), nn.Tanh()])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            for layer in stage:
                x = layer(x)
        return x


# ---------------------------------------------------------------- 4. FloatFunctional (quantization-ready blocks)


class QuantReadyBlock(nn.Module):
    """A residual block as quantization-ready code writes it: ``FloatFunctional.add_relu`` and
    ``.cat``, methods of a module whose ``forward`` is never called."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.skip_add = FloatFunctional()
        self.concat = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        r = self.skip_add.add_relu(y, x)
        return self.concat.cat([r, x], dim=1)


class QuantReadyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = QuantReadyBlock(4)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x))


# ---------------------------------------------------------------- 5. a head called part by part


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # never called by PartwiseHead
        return self.fc2(F.relu(self.fc1(x)))


class PartwiseHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 16)
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.body(x))
        x = self.head.fc1(x)
        return self.head.fc2(F.relu(x))


# ---------------------------------------------------------------- 6. several inputs, several outputs


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fa = nn.Linear(8, 4)
        self.fb = nn.Linear(6, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fa(a) + self.fb(b)


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Linear(8, 16)
        self.cls = nn.Linear(16, 5)
        self.box = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.trunk(x))
        return self.cls(h), torch.sigmoid(self.box(h))


class DictOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Linear(8, 16)
        self.cls = nn.Linear(16, 5)
        self.box = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.relu(self.trunk(x))
        return {"logits": self.cls(h), "boxes": self.box(h)}


class TwoInTwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fa = nn.Linear(8, 4)
        self.fb = nn.Linear(6, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fa(a), self.fb(b)


# ---------------------------------------------------------------- 7. instances of unusual kinds


class Small(nn.Module):
    """Linear(8, 6), ReLU, Linear(6, 4): 8·6 + 6·4 = 72 MACs a sample, 54 + 28 = 82 params."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 6)
        self.fc2 = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def pruned_small() -> nn.Module:
    model = Small()
    prune.l1_unstructured(model.fc1, "weight", 0.5)
    return model


PRUNED = pruned_small()
LAZY = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.Linear(6, 4))  # fc1's in_features unknown


def lazy_initialised() -> nn.Module:
    model = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.Linear(6, 4))
    model(torch.zeros(1, 8))
    return model


LAZY_INITIALISED = lazy_initialised()


class LazySmall(nn.Module):
    """A class (built under the target device) with a lazy first layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.LazyLinear(6)
        self.fc2 = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class WithLock(Small):
    """Holds a ``threading.Lock``: ``copy.deepcopy`` raises ``TypeError: cannot pickle '_thread.lock'``."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


class SelfCopying(Small):
    """``copy.deepcopy`` gives back the very same object (a singleton, a wrapper around a server...)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SelfCopying:
        return self


WITH_LOCK = WithLock()
SELF_COPYING = SelfCopying()


# ---------------------------------------------------------------- 8. a model that exits


class ExitsInForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise SystemExit(7)
