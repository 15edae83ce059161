"""What a training step is asked to cost: the optimizer, the frozen parameters, mixed precision.

Torch-free, like :mod:`archscope.tracer.conventions`: the command line builds its
choices from these tables, and :mod:`archscope.tracer.backward` runs the step they
describe. Every byte a step keeps besides the activations is a multiple of the
parameters' bytes, so an optimizer is the number of parameter-sized tensors it keeps
(its state) and the number it makes at once while it steps (PyTorch's ``foreach``
implementation, the default on GPUs; measured in tests/test_training.py).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archscope.errors import UsageError, echo


@dataclass(frozen=True)
class Optimizer:
    name: str
    state: int  # parameter-sized tensors kept per trainable parameter, from one step to the next
    temporaries: int  # parameter-sized tensors made at once inside ``step()`` (foreach)
    keeps: str  # what the state is, in words


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("none", 0, 0, "no optimizer: weights and gradients only"),
    Optimizer("sgd", 0, 0, "SGD without momentum keeps nothing"),
    Optimizer("sgd-momentum", 1, 0, "SGD with momentum keeps a momentum buffer per parameter"),
    Optimizer("adam", 2, 1, "Adam keeps exp_avg and exp_avg_sq per parameter (and a step count)"),
    Optimizer("adamw", 2, 1, "AdamW keeps exp_avg and exp_avg_sq per parameter (and a step count)"),
)}

AMP_MODES: dict[str, str] = {
    "bf16": "bfloat16",
    "fp16": "float16",
}


@dataclass(frozen=True)
class Training:
    """A training step to price: forward, backward on the sum of the outputs, and ``optimizer``'s step.

    ``freeze``: shell-style patterns (``backbone.*``) over parameter and module names;
    what they match gets no gradient, like ``requires_grad=False`` in the model itself.
    ``amp``: ``bf16`` or ``fp16`` autocast (weights, gradients and optimizer state stay
    float32; matmuls and convolutions run, and save their inputs, in the low precision).
    ``checkpoint``: patterns over module names whose activations are recomputed in the
    backward pass instead of kept (``torch.utils.checkpoint``).
    """

    optimizer: str = "sgd"
    freeze: Sequence[str] = ()
    amp: str | None = None
    checkpoint: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {echo(self.optimizer)}: use one of {', '.join(OPTIMIZERS)}")
        if self.amp is not None and self.amp not in AMP_MODES:
            raise UsageError(f"unknown --amp mode {echo(self.amp)}: use one of {', '.join(AMP_MODES)}")
        for what in ("freeze", "checkpoint"):
            value = getattr(self, what)
            if isinstance(value, str):
                object.__setattr__(self, what, (value,))
            elif not all(isinstance(p, str) and p for p in value):
                raise UsageError(f"{what} takes name patterns such as 'backbone.*', got {echo(value)}")
            object.__setattr__(self, what, tuple(getattr(self, what)))

    @property
    def rules(self) -> Optimizer:
        return OPTIMIZERS[self.optimizer]


def matching(patterns: Iterable[str], names: Sequence[str], what: str) -> set[str]:
    """The ``names`` that a pattern matches, itself or as a module above them (``layer1``
    matches ``layer1.0.conv1.weight``); a usage error for a pattern that matches none."""
    found: set[str] = set()
    for pattern in patterns:
        hits = {n for n in names if fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatchcase(n, pattern + ".*")}
        if not hits:
            some = ", ".join(names[:4]) + (", …" if len(names) > 4 else "")
            raise UsageError(f"{what} pattern {echo(pattern)} matches no name in the model ({some})")
        found |= hits
    return found
