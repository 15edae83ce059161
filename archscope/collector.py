"""The cyclic garbage collector, paused while archscope builds and traces a model.

After ``import torch`` a process holds some 170,000 objects the collector tracks; each
collection of the oldest generation walks them all (60–80 ms here), and building and
tracing a large model allocates enough to set one off: a fifth of the first
``archscope.trace()`` of densenet201 or efficientnet_b7. The work makes little cyclic
garbage (the objects it drops are freed by their reference counts), so automatic
collection is paused, as ``timeit`` pauses it, and restored as it was found, also when
the model raises. Nested pauses restore nothing early. The command line goes further and
turns collection off for its whole short process (:func:`archscope.cli.main.main`).

Torch-free, so that the library's front door (:mod:`archscope.api`) can use it as a
decorator without importing torch.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Automatic garbage collection off for the ``with`` block (or the decorated call)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
