"""Units, in one place: counts (K/M/G), bytes (KiB/MiB/GiB), lists of shapes (one shape:
:func:`archscope.spec.inputs.fmt_shape`)."""

from __future__ import annotations

from collections.abc import Sequence

from archscope.spec.inputs import fmt_shape


def count(n: int | float) -> str:
    """Exact, with thousands separators: ``25,557,032``."""
    return f"{n:,}" if isinstance(n, int) else f"{n:,.0f}"


def short(n: int | float, unit: str = "") -> str:
    """Three significant figures with K/M/G/T: ``25.6M``, ``4.09G``."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.3g}{suffix}{unit}" if v < 1000 else f"{v:.0f}{suffix}{unit}"
    return f"{n:g}{unit}" if isinstance(n, float) else f"{n}{unit}"


def cost(macs: int, flops: bool = False) -> str:
    """A MACs cell, or FLOPs (= 2 × MACs) when asked: ``118M``; ``—`` for zero."""
    value = 2 * macs if flops else macs
    return short(value) if value else "—"


def nbytes(n: int) -> str:
    """Binary units: ``97.49 MiB``."""
    value = float(n)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or suffix == "GiB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.2f} {suffix}"
        value /= 1024
    raise AssertionError("unreachable")


def shapes(all_dims: Sequence[Sequence[int]]) -> str:
    """``1×64×112×112``, or ``1×10, 1×10`` for several outputs; ``—`` for none."""
    return ", ".join(fmt_shape(d, None) for d in all_dims) if all_dims else "—"
