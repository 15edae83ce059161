"""ViT-B/16 in plain torch (no torchvision in the bench's environment), for the training cases:
16×16 patches of a 224×224 image, 197 tokens of width 768, 12 pre-norm encoder layers, 12 heads."""

from __future__ import annotations

import torch
from torch import nn


class ViT(nn.Module):
    def __init__(self, image: int = 224, patch: int = 16, width: int = 768, layers: int = 12, heads: int = 12,
                 classes: int = 1000) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, width, patch, stride=patch)
        tokens = (image // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.zeros(1, tokens, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.encoder(x))[:, 0])


def vit_b_16() -> ViT:
    return ViT()
