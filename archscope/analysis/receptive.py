"""Receptive fields: per layer, the field size, jump (effective stride) and start. No torch.

The standard recurrence, per axis, for a conv or pool of kernel k, stride s, padding p
and dilation d applied to a field (r, j, start)::

    r'     = r + (k − 1)·d·j
    j'     = j·s
    start' = start + ((k − 1)/2·d − p)·j

starting from the input pixel (r = 1, j = 1, start = 0). ``start`` is the centre of the
first output position's field in input pixel coordinates, pixel i's centre being at i:
it can be fractional (a 2×2 pool) or negative (the centre lies in the padding).
Layers that keep positions (norm, activation, dropout, 1×1 pooling...) keep the field;
a flatten keeps it too (each feature is still one position's value).

Adaptive pooling and linear layers see the whole input: their field is *global*.

Branches (concat, residual add, dense concat): an output position depends on the union
of its branches' fields, which are centred at ``start + i·j`` of each branch; the field
reported is that union: r = max right edge − min left edge + 1, start its centre. When
the branches are centred alike (every zoo model), this is simply the largest field over
the branches. The jumps of joined branches agree in a valid model (their sizes do); the
largest is kept if not. An identity shortcut contributes the input's own field.

Gates (squeeze-excitation, ``x · body(x)``) multiply by per-channel weights computed
from a global pool: the output depends on the whole input, but the spatial field of
``x`` is what varies with position. The field of ``x`` is reported, flagged ``gated``
(shown as ``*``): "also scaled by a statistic of the whole input".
Auxiliary heads get their own fields; the model goes on with the head's input.

The fields' text (``7``, ``159×255``, ``global``, ``7*``) is written by
:mod:`archscope.report.analysis`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from archscope.spec import nodes as sn
from archscope.spec.fold import SiteFold
from archscope.spec.nodes import Window
from archscope.spec.sites import layout


@dataclass(frozen=True)
class Axis:
    """The field along one axis: size r, jump j, start (centre of the first position)."""

    r: int
    j: int
    start: Fraction

    @property
    def left(self) -> Fraction:
        return self.start - Fraction(self.r - 1, 2)

    @property
    def right(self) -> Fraction:
        return self.start + Fraction(self.r - 1, 2)

    def slide(self, w: Window) -> Axis:
        k, d = w.kernel, w.dilation
        return Axis(self.r + (k - 1) * d * self.j, self.j * w.stride,
                    self.start + (Fraction(k - 1, 2) * d - w.padding) * self.j)


INPUT_AXIS = Axis(1, 1, Fraction(0))


@dataclass(frozen=True)
class Field:
    """The receptive field of one layer's output: per axis, or global."""

    h: Axis | None  # None: global (the whole input)
    w: Axis | None
    gated: bool = False  # also scaled by a statistic of the whole input (squeeze-excitation)

    @property
    def is_global(self) -> bool:
        return self.h is None or self.w is None

    def as_data(self) -> dict[str, object]:
        if self.h is None or self.w is None:
            return {"global": True, "size": None, "jump": None, "start": None, "gated": self.gated}
        return {"global": False, "size": [self.h.r, self.w.r], "jump": [self.h.j, self.w.j],
                "start": [_json(self.h.start), _json(self.w.start)], "gated": self.gated}


def _json(x: Fraction) -> int | float:
    return x.numerator if x.denominator == 1 else float(x)


def _union(a: Axis, b: Axis) -> Axis:
    left, right = min(a.left, b.left), max(a.right, b.right)
    return Axis(int(right - left) + 1, max(a.j, b.j), (left + right) / 2)


def union(fields: list[Field]) -> Field:
    """The field of an output that depends on every one of ``fields`` (a join of branches)."""
    if any(f.is_global for f in fields):
        return Field(None, None, any(f.gated for f in fields))
    h, w = fields[0].h, fields[0].w
    assert h is not None and w is not None
    for f in fields[1:]:
        assert f.h is not None and f.w is not None
        h, w = _union(h, f.h), _union(w, f.w)
    return Field(h, w, any(f.gated for f in fields))


@dataclass
class RFSite:
    path: str
    module: str | None
    node: sn.Node
    field: Field
    training_only: bool = False


def receptive_fields(model: sn.Model) -> list[RFSite]:
    """The receptive field of every node's output, in execution order (the root first)."""
    names = {s.path: s.module for s in layout(model).sites}
    sites: list[RFSite] = []
    root = RFSite("", "", model.root(), Field(INPUT_AXIS, INPUT_AXIS))
    sites.append(root)
    root.field = _Fields(names, sites).body(model.root(), "", root.field)
    return sites


def by_module(model: sn.Model, train: bool = False) -> dict[str, Field]:
    """Each module's output field by qualified name (auxiliary heads only with ``train``)."""
    return {s.module: s.field for s in receptive_fields(model)
            if s.module is not None and (train or not s.training_only)}


class _Fields(SiteFold[Field, RFSite]):
    """The fold of receptive fields: a site per node."""

    def __init__(self, names: dict[str, str | None], sites: list[RFSite]) -> None:
        super().__init__()
        self.names, self.sites = names, sites

    def site(self, node: sn.Node, path: str, x: Field) -> RFSite:
        self.sites.append(RFSite(path, self.names.get(path), node, x, self.in_head))
        return self.sites[-1]

    def close(self, node: sn.Node, site: RFSite, y: Field) -> None:
        site.field = y

    def join(self, node: sn.Container, path: str, x: Field, how: str, outs: list[tuple[sn.Branch, Field]]) -> Field:
        fields = [f for _, f in outs]
        if how == "one":
            return fields[0]
        if how == "mul" and all(f.is_global for f in fields[1:]):  # scaled by statistics of the whole input
            return replace(fields[0], gated=True)
        return union(fields)  # an output depends on every branch

    def leaf(self, node: sn.Node, path: str, f: Field) -> Field:
        if isinstance(node, (sn.AdaptivePool, sn.Linear)):
            return Field(None, None, f.gated)
        if f.h is None or f.w is None:
            return f
        if isinstance(node, (sn.Conv, sn.Pool)):
            wh, ww = node.windows()
            return Field(f.h.slide(wh), f.w.slide(ww), f.gated)
        return f  # norm, activation, dropout, stochastic depth, identity, flatten
