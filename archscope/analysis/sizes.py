"""Which input sizes a model takes, and the layer that decides it. Pure Python, no torch.

From the symbolic walk (:mod:`archscope.analysis.symbolic`) every conv and pool gives a
least input: its window must fit, ``x + 2p ≥ d(k−1) + 1``, and its input ``x`` is
``⌊(X + c)/m⌋`` of the model's input axis X, which is at least t exactly when
``X ≥ t·m − c``. The smallest input is the largest of these bounds, and the *limiting
layer* is the first layer (in execution order) that sets it: at one pixel less it is
the layer that fails. Sizes are monotone along the way, so every larger input fits the
windows too.

Two more things can refuse an input: a linear layer after a flatten is built for the
reference input's features (LeNet-5's ``fc1`` for 16×5×5 = 400), so only the sizes that
give exactly those features work (a :class:`~archscope.analysis.symbolic.Fixed` term,
monotone in the size: an interval); and branches that are added or concatenated must
agree in size (:class:`~archscope.analysis.symbolic.Agree`: no zoo model has one that
depends on the size).

Auxiliary heads run only in training; the eval-mode bounds leave them out and the
training-mode bounds are reported separately when they differ (Inception v3).

This module computes; the sentences about the sizes (``archscope sizes``, the clause a
too-small input's error gets) are written by :mod:`archscope.report.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archscope.analysis.symbolic import Agree, Fixed, Limit, SymbolicModel, symbolic
from archscope.spec.nodes import Model


@dataclass(frozen=True)
class Bound:
    """The smallest size along one axis and the layer that sets it."""

    axis: str
    least: int
    limit: Limit | None  # None: nothing needs more than one pixel
    module: str | None  # the limiting layer's module name


@dataclass(frozen=True)
class Verdict:
    """Whether an input works; if not, the first constraint it breaks, at which module, and
    what the input gives there: the features (:class:`Fixed`) or the branches' sizes (:class:`Agree`)."""

    ok: bool
    module: str | None = None
    broken: Limit | Fixed | Agree | None = None
    got: tuple[int, ...] = ()


@dataclass
class SizeReport:
    model: str
    channels: int
    reference: tuple[int, int]
    train: bool  # bounds for training mode (auxiliary heads run)
    h: Bound
    w: Bound
    fixed: list[tuple[Fixed, str | None]] = field(default_factory=list)  # (constraint, module)
    agree: list[tuple[Agree, str | None]] = field(default_factory=list)
    square: tuple[int, int | None] = (1, None)  # the square sizes that work: [lo, hi], hi None: no end
    training: SizeReport | None = None  # the training-mode report, when it differs
    examples: list[tuple[int, int, Verdict]] = field(default_factory=list)
    sym: SymbolicModel | None = field(default=None, repr=False)

    @property
    def least(self) -> tuple[int, int, int]:
        """The smallest input (C, H, W) that works."""
        lo = self.square[0]
        return (self.channels, max(self.h.least, lo), max(self.w.least, lo)) if self.fixed else \
            (self.channels, self.h.least, self.w.least)

    @property
    def unbounded(self) -> bool:
        """Every input at least :attr:`least` along both axes works."""
        return not self.fixed and not self.agree

    def check(self, h: int, w: int) -> Verdict:
        """Does an input of H×W work (in this report's mode)? If not, which layer refuses it."""
        assert self.sym is not None
        return _verdict(self.sym, h, w, self.train)


def _names(sym: SymbolicModel) -> dict[str, str | None]:
    return {s.path: s.module for s in sym.sites}


def _verdict(sym: SymbolicModel, h: int, w: int, train: bool) -> Verdict:
    names = _names(sym)
    for lim in sym.limits:  # in execution order: the first that fails is where a forward pass breaks
        if lim.training_only and not train:
            continue
        size = h if lim.axis == "H" else w
        if size < lim.least:
            return Verdict(False, names.get(lim.path), lim)
    for fx in sym.fixed:
        if (train or not fx.training_only) and fx.term.at(h, w) != fx.value:
            return Verdict(False, names.get(fx.path), fx, (fx.term.at(h, w),))
    for ag in sym.agree:
        if (train or not ag.training_only) and ag.a.at(h, w) != ag.b.at(h, w):
            return Verdict(False, names.get(ag.path), ag, (ag.a.at(h, w), ag.b.at(h, w)))
    return Verdict(True)


def _bound(sym: SymbolicModel, axis: str, train: bool) -> Bound:
    limits = [lim for lim in sym.limits if lim.axis == axis and (train or not lim.training_only)]
    if not limits:
        return Bound(axis, 1, None, None)
    least = max(lim.least for lim in limits)
    if least <= 1:
        return Bound(axis, 1, None, None)
    first = next(lim for lim in limits if lim.least == least)
    return Bound(axis, least, first, _names(sym).get(first.path))


def _square_range(sym: SymbolicModel, train: bool, lo: int) -> tuple[int, int | None]:
    """[lo, hi] of the square sizes meeting every fixed feature count (each term is
    non-decreasing in the size, so the set is an interval); hi None means no upper end."""
    hi: int | None = None
    for fx in sym.fixed:
        if fx.training_only and not train:
            continue
        at = fx.term.at
        first = _first(lambda s: at(s, s) >= fx.value, lo)  # noqa: B023 (used at once)
        last = _first(lambda s: at(s, s) > fx.value, first) - 1  # noqa: B023
        if at(first, first) != fx.value:
            return (first, first - 1)  # empty: the term skips the value
        lo, hi = max(lo, first), last if hi is None else min(hi, last)
    return lo, hi


def _first(pred: Callable[[int], bool], lo: int) -> int:
    """The least s ≥ lo with pred(s), pred monotone (False…True); by doubling then bisection."""
    step, hi = 1, lo
    while not pred(hi):
        lo, hi, step = hi + 1, hi + step, step * 2
        if hi > 1 << 40:
            raise ValueError("no size satisfies the constraint")
    return least_true(pred, lo, hi)


def least_true(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """The least s in [lo, hi] with pred(s), pred(hi) being True and pred monotone
    (False…True): bisection. archscope.analysis.probe uses it on traced passes."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def analyse_sizes(model: Model, train: bool = False, _sym: SymbolicModel | None = None) -> SizeReport:
    """The input sizes ``model`` takes in eval mode (and in training mode, when they differ)."""
    sym = _sym or symbolic(model)
    names = _names(sym)
    h, w = _bound(sym, "H", train), _bound(sym, "W", train)
    report = SizeReport(model.name, model.input[0], (model.input[1], model.input[2]), train, h, w, sym=sym,
                        fixed=[(f, names.get(f.path)) for f in sym.fixed if train or not f.training_only],
                        agree=[(a, names.get(a.path)) for a in sym.agree if train or not a.training_only])
    report.square = _square_range(sym, train, max(h.least, w.least))
    aux = [x.training_only for x in sym.limits] + [x.training_only for x in sym.fixed] + \
        [x.training_only for x in sym.agree]
    if not train and any(aux):
        training = analyse_sizes(model, True, sym)
        if (training.least, training.square) != (report.least, report.square):
            report.training = training
    report.examples = _examples(report)
    return report


def _examples(report: SizeReport) -> list[tuple[int, int, Verdict]]:
    """A few square sizes around the bounds, the reference, and one non-square."""
    lo, hi = report.square
    least = max(report.h.least, report.w.least, lo)
    ref_h, ref_w = report.reference
    sizes = [least - 1, least, least + 1] if least > 1 else [1, 2]
    if hi is not None:
        sizes += [hi, hi + 1]
    sizes += [ref_h, 2 * ref_h]
    seen: list[tuple[int, int]] = []
    for s in sizes:
        if s >= 1 and (s, s) not in seen:
            seen.append((s, s))
    if report.unbounded and (ref_h, ref_w + 37) not in seen:
        seen.append((ref_h, ref_w + 37))
    seen.sort()
    return [(h, w, report.check(h, w)) for h, w in seen]

