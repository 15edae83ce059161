"""Counting multiply-accumulates at the operator level: the dispatch mode that applies a convention.

Module hooks cannot see ``torch.matmul`` or ``F.scaled_dot_product_attention`` called
inside a user's ``forward``; a dispatch mode sees every aten operator that runs,
on the meta device too. Each operator belongs to one *category* and each *convention*
says which categories count and how much: that table is
:mod:`archscope.tracer.conventions`, which imports no torch. An operator with no
category is never silently zero: it is collected and shown as ``not counted``.

Costs are MACs (one multiply-accumulate = 1). FLOPs are derived as 2 × MACs where
shown. See docs/counting.md for a worked example per operator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from archscope import shape_rules
from archscope.tracer.conventions import CATEGORIES, Convention, symbolic


class OpCounter(TorchDispatchMode):
    """Prices every aten operator that runs and hands the cost to ``on_cost``.

    ``on_cost(op, category, cost, out)`` is called for every operator the convention prices
    (``op`` its packet name, ``quantized::`` for other namespaces; ``cost`` MACs, or one figure
    per output, see :data:`~archscope.tracer.conventions.Handle`); operators with no
    category are tallied in ``not_counted``. ``context()`` returns the module running now
    (or None): a matmul inside an ``nn.Linear`` (or a subclass) is ``linear``, and the
    ``mean`` an ``nn.AdaptiveAvgPool2d`` (or a subclass) lowers to is that pool.
    """

    def __init__(self, convention: Convention, on_cost: Callable[[str, str, int | tuple[int, ...], Any], None],
                 context: Callable[[], nn.Module | None],
                 observe: Callable[[str, tuple[Any, ...], Any], None] | None = None) -> None:
        super().__init__()
        self.convention = convention
        self.on_cost = on_cost
        self.context = context  # the module running now (for linear vs matmul, pool vs mean)
        self.observe = observe  # sees every operator (packet name, arguments, output): a training step
        self.not_counted: Counter[str] = Counter()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No: torch would wrap ``__torch_dispatch__`` in ``torch._disable_dynamo``, whose first
        call imports ``torch._dynamo`` (about 1–2 s) only to mark the function "do not compile";
        this mode is never compiled (torch's documented opt-out, ``TorchDispatchMode._should_skip_dynamo``)."""
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = shape_rules.run(func, args, kwargs)
        if out is None:
            out = func(*args, **kwargs)
        op = func._overloadpacket.__name__
        if self.observe is not None:
            self.observe(op, args, out)
        namespace = getattr(func, "namespace", "aten")
        if namespace != "aten":
            op = f"{namespace}::{op}"
        category = CATEGORIES.get(op)
        if category is None:
            self.not_counted[op if namespace != "aten" else f"aten.{op}"] += 1
            return out
        module = self.context()
        if category == "matmul" and isinstance(module, nn.Linear):
            category = "linear"
        if op == "mean" and isinstance(module, nn.AdaptiveAvgPool2d):  # torch lowers AdaptiveAvgPool2d(1) to mean
            op, category = "_adaptive_avg_pool2d", "pool"
        handle = self.convention.handle_for(op, category)
        if handle is not None:
            cost = handle(args, kwargs, out)
            self.on_cost(op, category, tuple(map(_count, cost)) if isinstance(cost, tuple) else _count(cost), out)
        return out


def _count(cost: Any) -> Any:
    """A cost as a Python int, or as it is when it is a symbolic size (``torch.SymInt``, in a
    pass fed symbolic sizes: :mod:`archscope.analysis.symbolic_trace`), which ``int`` would
    fix to the size it was traced at."""
    return cost if symbolic(cost) else int(cost)
