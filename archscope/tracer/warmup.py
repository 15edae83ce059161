"""Spare the command line torch's lazy import of ``torch._dynamo`` (about 1 s).

The first meta-device ``add``, ``relu`` or ``cat``, and the first call of any
``TorchDispatchMode`` (the operator counter is one), go through functions that torch
wraps with ``torch._compile._disable_dynamo``. Each wrapper imports ``torch._dynamo`` on
its first call, only to mark its function "do not compile". A tracing run never compiles
anything, so in the ``archscope`` process the mark can be given up front (the function
itself, as if dynamo had already looked) and the import never happens: the hook tracer
then costs about 0.5 s instead of 1.5 s for ResNet-50 (bench/RESULTS.md).

This changes what torch.compile would do later in the same process, so only the command
line allows it (:func:`allow`); a program that imports archscope as a library keeps
torch's behaviour. Anything unexpected in torch's internals makes it a no-op: it is an
optimisation, never a requirement. tests/test_analytic.py checks the traced numbers are
the same with it.
"""

from __future__ import annotations

import sys

_STATE = {"allowed": False, "done": False}


def allow() -> None:
    """Let :func:`skip_dynamo_import` act in this process (the CLI calls this)."""
    _STATE["allowed"] = True


def skip_dynamo_import() -> None:
    """Pre-mark torch's ``_disable_dynamo`` wrappers, once, if allowed and still useful."""
    if not _STATE["allowed"] or _STATE["done"] or "torch._dynamo" in sys.modules:
        return
    _STATE["done"] = True
    try:
        _premark()
    except Exception:  # noqa: BLE001,S110 (torch internals moved: keep torch's own behaviour)
        pass


def _premark() -> None:
    import gc

    import torch._decomp  # noqa: F401  (the modules whose wrappers a meta forward pass calls)
    import torch._meta_registrations  # noqa: F401
    import torch._prims  # noqa: F401
    import torch._refs  # noqa: F401
    import torch._refs.nn.functional  # noqa: F401
    from torch._compile import _disable_dynamo

    import archscope.tracer.counting  # noqa: F401  (OpCounter.__torch_dispatch__ is wrapped too)

    wrapper_code = _disable_dynamo(lambda: None).__code__
    if "fn" not in wrapper_code.co_freevars:
        return
    slot = wrapper_code.co_freevars.index("fn")
    wrappers = [obj for obj in gc.get_objects()
                if type(obj).__name__ == "function" and obj.__code__ is wrapper_code]
    for wrapper in wrappers:
        fn = wrapper.__closure__[slot].cell_contents
        if getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn
