"""The deterministic weight fill and input of the torchvision fixtures' functional check.

One definition for both sides: scripts/make_torchvision_fixtures.py (run beside
torchvision, in its own venv) fills torchvision's model with it, tests/test_zoo.py fills
archscope's rebuilt model. Needs only torch.
"""

from __future__ import annotations

import math

import torch

PROCEDURE = (
    "state_dict in order, key index k: running_var=1, running_mean=0, keys ending in 'bias'=0.01, "
    "num_batches_tracked untouched, every other tensor t = sin(arange(numel)*0.37 + k) / sqrt(numel/shape[0]) "
    "(float64, then float32; 1-D tensors divide by 1); input x = sin(arange(3*S*S)*0.05) reshaped to 1x3xSxS; "
    "eval mode, torch.no_grad()"
)


def deterministic_fill(model: torch.nn.Module, order: list[str] | None = None) -> None:
    """Fill ``model``'s state as PROCEDURE says; ``order`` is the key order the index k follows
    (torchvision's, from the fixture; default: the model's own)."""
    state = model.state_dict()
    with torch.no_grad():
        for k, key in enumerate(order or list(state)):
            t = state[key]
            if key.endswith("num_batches_tracked"):
                continue
            if key.endswith("running_var"):
                t.fill_(1.0)
            elif key.endswith("running_mean"):
                t.fill_(0.0)
            elif key.endswith("bias"):
                t.fill_(0.01)
            else:
                fan_in = t.numel() // t.shape[0] if t.dim() >= 2 else 1
                values = torch.sin(torch.arange(t.numel(), dtype=torch.float64) * 0.37 + k)
                t.copy_((values.reshape(t.shape) * (1.0 / math.sqrt(fan_in))).float())


def functional_input(size: int) -> torch.Tensor:
    """The 1×3×size×size input of PROCEDURE."""
    return torch.sin(torch.arange(3 * size * size, dtype=torch.float64) * 0.05).reshape(1, 3, size, size).float()
