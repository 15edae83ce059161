"""Spec nodes become torch modules here, and user-named models are resolved here."""

from archscope.build.builder import build_spec
from archscope.build.load import Target, resolve

__all__ = ["Target", "build_spec", "resolve"]
