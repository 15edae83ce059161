"""Tracing a module: per-layer records from one (meta-device) forward pass.

``archscope.tracer.records`` is plain data and imports no torch, so reporters can use
it cheaply; the tracer itself is ``archscope.tracer.hooks``.
"""

from archscope.tracer.records import LayerRecord, Totals, Trace

__all__ = ["LayerRecord", "Totals", "Trace"]
