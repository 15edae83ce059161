"""Tracing a module: per-layer records from one (meta-device) forward pass."""

from archscope.trace.records import LayerRecord, Totals, Trace
from archscope.trace.tracer import shapes_of, trace_module

__all__ = ["LayerRecord", "Totals", "Trace", "shapes_of", "trace_module"]
