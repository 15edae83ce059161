"""A small U-Net, as a user writes one: ``archscope sizes docs/examples/unet.py:UNet --input 3x64x64``.

Two poolings, then two upsamplings, each concatenated with the skip of the same level:
the sizes agree, and the forward pass runs, exactly when the side is a multiple of 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class UNet(nn.Module):
    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, padding=1)
        self.mid = nn.Conv2d(8, 8, 3, padding=1)
        self.up1 = nn.Conv2d(16, 8, 3, padding=1)
        self.up2 = nn.Conv2d(16, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.stem(x)
        x2 = self.down(F.max_pool2d(x1, 2))
        x3 = self.mid(F.max_pool2d(x2, 2))
        u = self.up1(torch.cat([F.interpolate(x3, scale_factor=2.0), x2], 1))
        return self.up2(torch.cat([F.interpolate(u, scale_factor=2.0), x1], 1))
