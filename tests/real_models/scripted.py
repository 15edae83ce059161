"""TorchScript instances of a small MLP, Linear(8, 6), ReLU, Linear(6, 4) (72 MACs a sample,
82 params); targets of tests/test_real_models.py. Scripting and tracing run once, on import."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 6)
        self.fc2 = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; models in the wild still use it
    warnings.simplefilter("ignore", DeprecationWarning)
    SCRIPTED = torch.jit.script(Small().eval())
    TRACED = torch.jit.trace(Small().eval(), torch.zeros(1, 8))
