"""A user's own model, as archscope sees it: ``archscope summary docs/examples/mynet.py:Net --input 32``.

Two branches joined by a concatenation and a residual add, written as plain PyTorch.
"""

from __future__ import annotations

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.left = nn.Conv2d(32, 16, 1)
        self.right = nn.Sequential(nn.Conv2d(32, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.cat([self.left(x), self.right(x)], 1) + x
        x = self.pool(x).mean((2, 3))
        return self.head(x)


def build_net() -> nn.Module:
    return Net(num_classes=100)
