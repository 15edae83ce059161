"""Spec nodes become torch modules here, and user-named models are resolved here.

``resolve`` needs no torch (a zoo name or spec file resolves to its spec); ``build_spec``
imports torch, on first use.
"""

from __future__ import annotations

from typing import Any

from archscope.builder.load import Target, resolve

__all__ = ["Target", "build_spec", "resolve"]


def __getattr__(name: str) -> Any:
    if name == "build_spec":
        from archscope.builder.from_spec import build_spec

        return build_spec
    raise AttributeError(f"module 'archscope.builder' has no attribute {name!r}")
