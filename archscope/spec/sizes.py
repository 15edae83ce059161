"""Reading input sizes as users type them: ``224``, ``224x224``, ``3x224x224``, ``1x3x224x224``."""

from __future__ import annotations

import re

from archscope.errors import UsageError

FORMS = "224 (square, the model's channels), 224x224 (H x W), 3x224x224 (C x H x W) or 1x3x224x224 (N x C x H x W)"
_SEP = re.compile(r"\s*[×xX,*]\s*")


def parse_input(text: str, channels: int = 3) -> tuple[tuple[int, int, int], int | None]:
    """Return ``((C, H, W), batch or None)``; ``channels`` fills in a missing C."""
    parts = _SEP.split(text.strip())
    if not text.strip() or not all(p.isdigit() and int(p) > 0 for p in parts) or len(parts) > 4:
        raise UsageError(f"cannot read input size {text!r}: write {FORMS}; every number must be a positive integer")
    dims = [int(p) for p in parts]
    if len(dims) == 1:
        return (channels, dims[0], dims[0]), None
    if len(dims) == 2:
        return (channels, dims[0], dims[1]), None
    if len(dims) == 3:
        return (dims[0], dims[1], dims[2]), None
    return (dims[1], dims[2], dims[3]), dims[0]


def fmt_shape(shape: tuple[int, ...], batch: str | int = "N") -> str:
    """``N×3×224×224`` (or with a number for the batch)."""
    return "×".join(str(d) for d in (batch, *shape))
