"""Runtime modules for spec containers.

A named spec container becomes a :class:`Block`: its leaves (and named
sub-containers) are its registered children, and a small *plan* of steps says how
they are wired. An unnamed container becomes a step inside its enclosing block's
plan, so its children register in that block (torchvision's layout). Steps are
plain callables, not modules: they own no parameters and never show up in
``state_dict`` or ``named_modules``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

# Outputs of auxiliary heads during one forward pass of a training-mode model.
_AUX_OUTPUTS: contextvars.ContextVar[list[Tensor] | None] = contextvars.ContextVar(
    "archscope_aux_outputs", default=None)


class Step:
    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class Call(Step):
    """Run one child module of the block."""

    child: str

    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        return block._modules[self.child](x)  # type: ignore[misc]


@dataclass(frozen=True)
class Chain(Step):
    steps: Sequence[Step]

    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        for step in self.steps:
            x = step(block, x)
        return x


@dataclass(frozen=True)
class Cat(Step):
    """Branches on the same input, concatenated along channels."""

    branches: Sequence[Step]

    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        return torch.cat([b(block, x) for b in self.branches], 1)


@dataclass(frozen=True)
class Add(Step):
    """Branches on the same input, added in order (a residual's body first: torchvision's call order)."""

    branches: Sequence[Step]

    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        first, *rest = self.branches
        out = first(block, x)
        for b in rest:
            out = out + b(block, x)
        return out


@dataclass(frozen=True)
class Mul(Step):
    """Branches on the same input, multiplied in order: ``x * body(x)`` is a gate."""

    branches: Sequence[Step]

    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        first, *rest = self.branches
        out = first(block, x)
        for b in rest:
            out = out * b(block, x)
        return out


@dataclass(frozen=True)
class AuxHead(Step):
    """Runs ``body`` only in training and hands its output to the root :class:`Network`."""

    body: Step

    def __call__(self, block: nn.Module, x: Tensor) -> Tensor:
        outputs = _AUX_OUTPUTS.get()
        if block.training and outputs is not None:
            outputs.append(self.body(block, x))
        return x


class Block(nn.Module):
    """A spec container with a name: children registered flat, wired by ``plan``."""

    def __init__(self, label: str, children: dict[str, nn.Module], plan: Step) -> None:
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)
        self.plan = plan
        self.label = label

    def _get_name(self) -> str:  # what print(model) and the tracer show as the type
        return self.label

    def forward(self, x: Tensor) -> Tensor:
        return self.plan(self, x)


class Network(Block):
    """The root module of a built spec. In training, returns ``(output, *aux_outputs)``
    when the spec has auxiliary heads, in the order they ran."""

    def __init__(self, label: str, children: dict[str, nn.Module], plan: Step,
                 has_aux: bool) -> None:
        super().__init__(label, children, plan)
        self.has_aux = has_aux

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:  # type: ignore[override]
        if not (self.training and self.has_aux):
            return self.plan(self, x)
        outputs: list[Tensor] = []
        token = _AUX_OUTPUTS.set(outputs)
        try:
            y = self.plan(self, x)
        finally:
            _AUX_OUTPUTS.reset(token)
        return (y, *outputs)


class StochasticDepth(nn.Module):
    """Drops whole samples ("row" mode) in training; identity in eval (torchvision's op)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode=row"
