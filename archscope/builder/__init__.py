"""Spec nodes become torch modules here, and user-named models are resolved here."""

from archscope.builder.from_spec import build_spec
from archscope.builder.load import Target, resolve

__all__ = ["Target", "build_spec", "resolve"]
