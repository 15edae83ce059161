"""Spare a tracing run torch's lazy import of ``torch._dynamo`` (1.0–1.6 s), without
changing what torch.compile does.

What triggers it: torch wraps some functions in ``torch._compile._disable_dynamo``, whose
wrapper imports ``torch._dynamo`` on its first call only to mark the function "do not
compile" (``torch._dynamo.disable``). A forward pass on the meta device calls two kinds:

- ``TorchDispatchMode.__torch_dispatch__`` of every mode subclass: the operator counter
  opts out at its root, with torch's documented switch
  (:meth:`archscope.tracer.counting.OpCounter._should_skip_dynamo`);
- the Python meta kernels of ``torch._refs`` (``add``, ``mul``, ``relu``, ``where``, ...:
  torch registers them as the Meta kernels of those aten operators, wrapped by
  ``elementwise_type_promotion_wrapper``). They are torch's own and run whatever archscope
  does, so :func:`skip_import` gives each of them its mark up front: a function that
  calls the kernel directly while ``torch._dynamo`` is not imported (nothing can be
  compiling then, so there is nothing to disable) and, once it is, asks
  ``torch._dynamo.disable`` exactly as torch's wrapper would have. torch.compile later in
  the same process therefore behaves as it always did, and the library gets the saving as
  well as the command line.

A training step with ``--checkpoint`` still imports it: torch's non-reentrant activation
checkpointing reads ``torch._dynamo.config`` itself.

The functions are found through torch's decomposition tables (every Python Meta kernel is
one) and the functions of those modules, following ``__wrapped__`` and closures: no walk over the
garbage collector's objects. Anything unexpected in torch's internals makes this a no-op:
it is an optimisation, never a requirement (the import then happens as before).
``tests/test_user_models.py`` checks that a trace of every kind of model leaves
``torch._dynamo`` unimported and that its numbers do not change.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

_STATE = {"done": False}
_MODULES = ("torch._refs", "torch._prims", "torch._decomp", "torch._meta_registrations")  # the meta kernels' homes


def skip_import() -> None:
    """Give torch's meta kernels their dynamo mark, once, while ``torch._dynamo`` is not imported."""
    if _STATE["done"] or "torch._dynamo" in sys.modules:
        return
    _STATE["done"] = True
    try:
        _premark()
    except Exception:  # noqa: BLE001,S110 (torch internals moved: keep torch's own behaviour)
        pass


def _premark() -> None:
    import torch._decomp
    import torch._meta_registrations  # noqa: F401  (registers the Meta kernels into the tables)
    import torch._refs.nn.functional  # noqa: F401
    import torch._refs.special  # noqa: F401
    from torch._compile import _disable_dynamo

    code = _disable_dynamo(lambda: None).__code__
    if not {"fn", "recursive"} <= set(code.co_freevars):
        return
    fn_slot, recursive_slot = code.co_freevars.index("fn"), code.co_freevars.index("recursive")
    roots: list[Any] = [f for table in torch._decomp.global_decomposition_table.values() for f in table.values()]
    roots += [f for name, module in list(sys.modules.items()) if name.startswith(_MODULES) and module is not None
              for f in vars(module).values() if isinstance(f, types.FunctionType)]
    for wrapper in _reachable(roots):
        if wrapper.__code__ is code and wrapper.__closure__ is not None:
            fn = wrapper.__closure__[fn_slot].cell_contents
            if getattr(fn, "__dynamo_disable", None) is None:
                fn.__dynamo_disable = _disabled_when_compiling(fn, wrapper.__closure__[recursive_slot].cell_contents)


def _reachable(roots: list[Any]) -> Iterator[types.FunctionType]:
    """Every function reachable from ``roots`` through ``__wrapped__`` and closure cells."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        f = stack.pop()
        if not isinstance(f, types.FunctionType) or id(f) in seen:
            continue
        seen.add(id(f))
        yield f
        stack.append(getattr(f, "__wrapped__", None))
        for cell in f.__closure__ or ():
            try:
                stack.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue


def _disabled_when_compiling(fn: Callable[..., Any], recursive: bool) -> Callable[..., Any]:
    """``fn`` itself while ``torch._dynamo`` is not imported; afterwards what torch's
    ``_disable_dynamo`` wrapper would have made of it (and that, from then on)."""
    def mark(*args: Any, **kwargs: Any) -> Any:
        dynamo = sys.modules.get("torch._dynamo")
        disable = getattr(dynamo, "disable", None)
        if disable is None:  # not imported (or still importing): nothing is being compiled
            return fn(*args, **kwargs)
        disabled = disable(fn, recursive, wrapping=False)
        fn.__dynamo_disable = disabled  # type: ignore[attr-defined]
        return disabled(*args, **kwargs)
    return mark
