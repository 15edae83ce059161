"""Expected output shapes, as the documents write them: ``N×768×17×17``.

``N`` stands for the batch and matches any batch size. ``×``, ``x``, ``X`` and ``*``
separate dimensions, with or without spaces (``N x 768 x 17 x 17``). A trailing remark
in parentheses, as in torchvision's ``# N x 1000 (num_classes)``, is ignored.
A check at the model's reference input compares every dimension; at any other input
only the batch and channel dimensions are compared and the spatial ones are reported
as not applicable (they legitimately change with the input size).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archscope.spec.inputs import fmt_shape

_SEP = re.compile(r"\s*[×xX*]\s*")
_REMARK = re.compile(r"\s*\([^()]*\)\s*$")
BATCH = "N"


class ExpectSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Expect:
    """An expected output shape; ``dims[0]`` is usually ``"N"`` (the batch)."""

    dims: tuple[int | str, ...]
    source: str = ""

    @classmethod
    def parse(cls, text: str, source: str = "") -> Expect:
        parts = _SEP.split(_REMARK.sub("", text).strip())
        if not text.strip() or any(not p for p in parts):
            raise ExpectSyntaxError(
                f"cannot read shape {text!r}: write dimensions separated by '×' or 'x', "
                "e.g. 'N×768×17×17'"
            )
        dims: list[int | str] = []
        for p in parts:
            if p.isdigit():
                dims.append(int(p))
            elif p == BATCH:
                dims.append(BATCH)
            else:
                raise ExpectSyntaxError(
                    f"cannot read shape {text!r}: {p!r} is neither a number nor N (the batch)"
                )
        return cls(tuple(dims), source)

    def __str__(self) -> str:
        return fmt_shape(self.dims, None)

    def check(self, shape: tuple[int, ...], batch: int, at_reference: bool) -> Check:
        """Compare a traced output shape (with batch) against this expectation."""
        want = tuple(batch if d == BATCH else d for d in self.dims)
        if len(want) != len(shape):
            return Check(self, shape, "mismatch")
        compared = len(want) if at_reference or len(want) <= 2 else 2
        if want[:compared] != tuple(shape[:compared]):
            return Check(self, shape, "mismatch")
        return Check(self, shape, "match" if compared == len(want) else "channels match")


@dataclass(frozen=True)
class Check:
    """The outcome of one expectation: ``match``, ``channels match`` or ``mismatch``."""

    expect: Expect
    actual: tuple[int, ...]
    status: str

    @property
    def ok(self) -> bool:
        return self.status != "mismatch"

    def describe(self) -> str:
        """``expected N×768×17×17, traced 1×768×16×16 (source: ...)``."""
        source = f" (source: {self.expect.source})" if self.expect.source else ""
        return f"expected {self.expect}, traced {fmt_shape(self.actual, None)}{source}"
