"""Which input sizes any ``nn.Module`` takes, found by tracing it on the meta device.

:mod:`archscope.analysis.sizes` reasons over a spec. A module without one is *probed*:
its forward pass runs on the meta device (no memory, a few milliseconds to a tenth of a
second a size) at the sizes the search picks, and a size is valid when the pass runs.
What varies is the size axes (:func:`size_axes`) of the model's first input that has
them: H and W of an image (C×H×W, or the last two of C×T×H×W), the length L of token
ids, of a waveform or of a sequence of features (L×F, or C×L before a 1-D convolution);
inputs of the same shape vary with it (``input_ids`` and ``attention_mask``), any other
stays as given.

1. The reference input (``--input``, what the model declares, or for an image model that
   declares nothing the first of 224, 448 and 896 that runs) must run.
2. The smallest side (every axis at it), and the smallest of each axis with the others at
   the reference, are found by bisection, assuming that a size that runs has every
   larger one run too.
3. That assumption is then tested on a window of consecutive sides from the smallest,
   twice the model's total stride plus two long, at least 8 (the stride: the reference
   over the smallest size a layer outputs along the axes, as a power of two up to 32).
   Every one runs: *every size from there up*, unless twice, four or eight times the
   reference fails, and then *an interval* whose end a bisection finds (a classifier
   built for one size range, a position table). A run, then only failures: *an
   interval* inside the window. A pattern that repeats: *multiples* (a U-Net's skips must agree), and the
   search steps down by the period from the bisection's answer to the true smallest.
   None of these: *some sizes*, listed.
4. The limiting layer is where the pass at one less than the smallest breaks, with
   torch's reason: the same check as the spec path's, by running instead of reasoning.
   The examples (one below, the smallest, one above, the ends of an interval, the
   reference and twice it, a size off the reference) are traced too.

This module computes; the text is :mod:`archscope.report.analysis`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from archscope.analysis.sizes import least_true
from archscope.errors import ShapeError, UsageError
from archscope.spec.inputs import FLOAT_DTYPES, MAX_ELEMENTS, fmt_shape

if TYPE_CHECKING:
    from torch import nn

    from archscope.builder.load import Target
    from archscope.spec.inputs import Input, Inputs

CHOSEN = (224, 448, 896)  # reference sides tried, in order, for an image model that states no size
MAX_STRIDE = 32  # the largest period the window looks for (five halvings, a U-Net's usual depth)
MIN_WINDOW = 8

Size = tuple[int, ...]  # one value per size axis


@dataclass(frozen=True)
class Probe:
    """One traced size: whether it ran, and if not, the layer that broke and torch's reason."""

    size: Size
    ok: bool
    layer: tuple[str, str] | None = None  # (name, type); None: the model's own forward code
    reason: str = ""

    @property
    def where(self) -> str:
        """``at layer2.0.conv1 (Conv2d): <torch's reason>``, or ``in the model's own forward code: ...``."""
        place = f"at {self.layer[0]} ({self.layer[1]})" if self.layer else "in the model's own forward code"
        return f"{place}: {self.reason}" if self.reason else place


@dataclass(frozen=True)
class AxisBound:
    """The smallest size along one axis (the others at the reference), and the probe one below."""

    axis: str
    least: int
    below: Probe | None  # None: the least is 1


@dataclass(frozen=True)
class Rule:
    """Which sides run, from :attr:`ProbedSizes.least` up: ``kind`` is ``"from"`` (every
    one), ``"interval"`` (``least`` to ``hi``), ``"multiple"`` (those ≡ ``residue`` mod
    ``period``) or ``"some"`` (``sizes``, the ones the window found)."""

    kind: str
    hi: int | None = None
    period: int | None = None
    residue: int | None = None
    sizes: tuple[int, ...] = ()


@dataclass
class ProbedSizes:
    model: str
    shape: tuple[int, ...]  # the reference input, per sample
    positions: tuple[int, ...]  # where the size axes are in ``shape``
    axes: tuple[str, ...]  # their names: ("H", "W"), ("L",)
    dtype: str
    chosen: bool  # the reference was chosen here (the model states no input size)
    train: bool
    least: int  # the smallest side (every axis at it) that runs
    bounds: tuple[AxisBound, ...]  # per axis
    rule: Rule
    window: tuple[int, int]  # the consecutive sides tried: [first, last]
    varied: tuple[str, ...] = ()  # the inputs whose size axes vary (together); any other stays as given
    examples: list[Probe] = field(default_factory=list)
    probes: int = 0

    @property
    def reference(self) -> Size:
        return tuple(self.shape[p] for p in self.positions)

    def at(self, size: Size) -> tuple[int, ...]:
        """The per-sample input shape with the size axes at ``size``."""
        return _placed(self.shape, self.positions, size)

    def side(self, s: int) -> Size:
        return (s,) * len(self.axes)

    def check(self, *size: int) -> Probe:
        """A probe already made (every example is one)."""
        return next(p for p in self.examples if p.size == size)


class _Prober:
    """Traces one module, built once on meta, fed the reference inputs with the one input's
    size axes changed; every size once."""

    def __init__(self, resolved: Target, module: nn.Module, inputs: Inputs, first: Input, positions: tuple[int, ...],
                 train: bool) -> None:
        from archscope.tracer.hooks import trace_module

        self.resolved, self.module, self.inputs, self.positions, self.train = resolved, module, inputs, positions, train
        self.first = first
        self.trace_module = trace_module
        self.seen: dict[Size, Probe] = {}
        self.last_trace: Any = None

    def fits(self, size: Size) -> bool:
        """Whether archscope can make the input at all (:data:`~archscope.spec.inputs.MAX_ELEMENTS`)."""
        leaf = self.first
        return math.prod(leaf.shape) // math.prod(leaf.shape[p] for p in self.positions) * math.prod(size) \
            <= MAX_ELEMENTS

    def __call__(self, size: Size) -> Probe:
        if size in self.seen:
            return self.seen[size]

        try:
            inputs = self.inputs.map(lambda leaf: replace(leaf, shape=_placed(leaf.shape, self.positions, size))
                                     if shares_axes(leaf, self.first) else leaf)
            self.last_trace = self.trace_module(self.module, inputs,
                                                batch=2 if self.train else 1, name=self.resolved.name,
                                                train=self.train)
            probe = Probe(size, True)
        except ShapeError as exc:
            probe = Probe(size, False, exc.layer, exc.reason)
        self.seen[size] = probe
        return probe


def probe_sizes(resolved: Target, input_size: Any = None, train: bool = False,
                progress: Callable[[int], None] | None = None) -> ProbedSizes:
    """The input sizes the model of ``resolved`` takes, found by tracing (module docstring)."""
    from archscope.api import inputs_for, meta_unsupported

    try:
        module = built_on_meta(resolved)
        try:
            chosen: tuple[int, ...] = ()
            inputs = inputs_for(resolved, input_size, module=module)[0]
        except UsageError:  # no size given or declared: an image model starts from 224 (or larger)
            from archscope.builder.inputs import image_channels

            c = image_channels(module)
            if input_size is not None or c is None:
                raise
            inputs, chosen = inputs_for(resolved, [f"{c}x224x224"], module=module)[0], CHOSEN
        leaf = _first(resolved, inputs, module)
        inputs = inputs.with_dtype(leaf.dtype or "float32")
        leaf = next(x for x in inputs.leaves() if x.name == leaf.name)  # as retyped
        named = size_axes(leaf, module)
        positions, axes = tuple(named), tuple(named.values())
        prober = _Prober(resolved, module, inputs, leaf, positions, train)
        ref: Size = tuple(leaf.shape[p] for p in positions)
        for side in chosen:
            if prober((side,) * len(axes)).ok:
                ref = (side,) * len(axes)
                break
        first = prober(ref)
    except Exception as exc:  # noqa: BLE001 (built or run on meta at all: the only place that can say why)
        reason = meta_unsupported(exc)
        if reason is None:
            raise
        raise UsageError(f"sizes traces {resolved.name} on the meta device at many sizes, and it cannot run there "
                         f"({reason})") from exc
    shape = _placed(leaf.shape, positions, ref)
    if not first.ok:
        tried = " or ".join(fmt_shape(_placed(shape, positions, (s,) * len(axes)), None) for s in chosen) \
            if chosen else fmt_shape(shape, None)
        raise ShapeError(f"{resolved.name} does not run at {'the inputs tried' if chosen else 'its reference input'} "
                         f"{tried} (it breaks {first.where}): give one it takes with --input")

    def ok(size: Size) -> bool:
        probe = prober(size)
        if progress is not None:
            progress(len(prober.seen))
        return probe.ok

    n = len(axes)

    def side_ok(s: int) -> bool:
        return ok((s,) * n)

    stride = _stride(prober.last_trace, leaf, positions, ref)  # the reference's trace, the last one so far
    top = max(ref)
    least = least_true(side_ok, 1, top)
    width = max(MIN_WINDOW, 2 * stride + 2)
    while width > 1 and not prober.fits((least + width - 1,) * n):
        width //= 2
    window = [side_ok(least + i) for i in range(width)]
    rule, least = _rule(window, least, side_ok)
    if rule.kind == "from":  # a longer interval? its end, if twice, four or eight times the reference fails
        good = top
        for big in (2 * top, 4 * top, 8 * top):
            if not prober.fits((big,) * n):
                break
            if not side_ok(big):
                rule = Rule("interval", hi=_last(side_ok, good, big))
                break
            good = big
    bounds = tuple(_axis(axes[i], i, ok, ref, rule, prober) for i in range(n))
    report = ProbedSizes(resolved.name, shape, positions, axes, leaf.dtype or "float32", bool(chosen), train,
                         least, bounds, rule, (least, least + width - 1),
                         tuple(x.name for x in inputs.leaves() if shares_axes(x, leaf)))
    report.examples = [prober(size) for size in _examples(report) if prober.fits(size)]
    report.probes = len(prober.seen)
    return report


def _placed(shape: tuple[int, ...], positions: tuple[int, ...], size: Size) -> tuple[int, ...]:
    """``shape`` with the size axes at ``positions`` set to ``size``."""
    placed = list(shape)
    for p, s in zip(positions, size, strict=True):
        placed[p] = s
    return tuple(placed)


def built_on_meta(resolved: Target) -> nn.Module:
    """The module on meta: built there, or built on the CPU and moved when its constructor
    needs data (torchvision's RegNets read a tensor they compute)."""
    from archscope.api import meta_unsupported
    from archscope.errors import ModelLoadError

    try:
        return resolved.module("meta")
    except ModelLoadError as exc:
        if meta_unsupported(exc) is None:
            raise
        return resolved.module("cpu").to("meta")


def _first(resolved: Target, inputs: Inputs, module: nn.Module) -> Input:
    """The first input with size axes (:func:`size_axes`): it and every input of its shape
    (:func:`shares_axes`: ``input_ids`` and ``attention_mask``) are varied together, any
    other input stays as given."""
    leaves = inputs.leaves()
    found = next((leaf for leaf in leaves if size_axes(leaf, module)), None)
    if found is None:
        fed = ", ".join(f"{leaf.name} {fmt_shape(leaf.shape, None)} {leaf.dtype or 'float32'}"
                        for leaf in leaves) or "nothing"
        raise UsageError(f"sizes varies the size axes of an input (an image's H and W, a sequence's length); "
                         f"{resolved.name} is fed {fed}, which has no axis it knows to vary. Give an input with "
                         "--input (3x224x224, 128:int64)")
    return found


def shares_axes(leaf: Input, first: Input) -> bool:
    """Whether ``leaf`` varies with ``first``, the input whose size axes are varied: it is
    that input, or one of the same per-sample shape and batch dimension."""
    return leaf is first or (leaf.shape == first.shape and leaf.batch_dim == first.batch_dim)


def size_axes(leaf: Input, module: nn.Module) -> dict[int, str]:
    """Where the size axes are in one input's per-sample shape, by name: an image's last two
    (H, W); a sequence's length L: token ids or a waveform (L), a sequence of features
    (L×F), or channels × length (C×L) when the first layer is a 1-D convolution; none for
    anything else. The sizes probe and the symbolic pass (:mod:`archscope.analysis.symbolic_trace`)
    vary these."""
    dims, dtype = len(leaf.shape), leaf.dtype or "float32"
    floating = dtype in FLOAT_DTYPES
    if floating and dims >= 3:
        return {dims - 2: "H", dims - 1: "W"}
    if dims == 1:
        return {0: "L"}
    if floating and dims == 2:
        from torch import nn

        from archscope.builder.inputs import first_layer

        found = first_layer(module)
        conv = found is not None and isinstance(found[1], nn.Conv1d) and found[1].in_channels == leaf.shape[0]
        return {1: "L"} if conv else {0: "L"}
    return {}


def _stride(trace: Any, leaf: Input, positions: tuple[int, ...], ref: Size) -> int:
    """The model's total stride, about: the reference over the smallest size more than one
    that a layer outputs along the size axes (an output of the input's rank, or one more
    for an embedding's added feature axis), as the nearest power of two from 1 to
    :data:`MAX_STRIDE` (a period beyond it would need a window of hundreds of sizes)."""
    rank = len(leaf.shape) + (leaf.batch_dim is not None)
    at = [p + (leaf.batch_dim is not None and leaf.batch_dim <= p) for p in positions]
    smallest = min((shape[at[-1]] for r in trace.layers for shape in r.output_shapes
                    if len(shape) in (rank, rank + 1) and shape[at[-1]] > 1), default=ref[-1])
    return min(MAX_STRIDE, 1 << max(0, round(math.log2(max(1.0, ref[-1] / smallest)))))


def _last(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """The largest s in [lo, hi) with ok(s), ok(lo) being True and ok(hi) False."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _rule(window: list[bool], least: int, ok: Callable[[int], bool]) -> tuple[Rule, int]:
    """What the window of sides from ``least`` says, and the true smallest (for multiples)."""
    if all(window):
        return Rule("from"), least
    run = window.index(False)
    if not any(window[run:]):
        return Rule("interval", hi=least + run - 1), least
    for period in range(2, len(window) // 2 + 1):
        if all(window[i] == window[i + period] for i in range(len(window) - period)):
            residues = sorted({(least + i) % period for i in range(period) if window[i]})
            if len(residues) == 1:
                while least - period >= 1 and ok(least - period):
                    least -= period
                return Rule("multiple", period=period, residue=residues[0]), least
    return Rule("some", sizes=tuple(least + i for i, good in enumerate(window) if good)), least


def _axis(axis: str, i: int, ok: Callable[[Size], bool], ref: Size, rule: Rule, prober: _Prober) -> AxisBound:
    def at(s: int) -> Size:
        return ref[:i] + (s,) + ref[i + 1:]

    least = least_true(lambda s: ok(at(s)), 1, ref[i])
    if rule.kind == "multiple" and rule.period:
        while least - rule.period >= 1 and ok(at(least - rule.period)):
            least -= rule.period
    return AxisBound(axis, least, None if least == 1 else prober(at(least - 1)))


def _examples(report: ProbedSizes) -> list[Size]:
    """One below the smallest, the smallest and one above (every axis at it); the ends of an
    interval; the reference and twice it; a size off the reference for a model that takes
    every size."""
    least, ref, rule = report.least, report.reference, report.rule
    sides = [least - 1, least, least + 1]
    if rule.kind == "interval" and rule.hi is not None:
        sides += [rule.hi, rule.hi + 1]
    if rule.kind == "multiple" and rule.period:
        sides += [least + rule.period]
    sizes = {report.side(s) for s in sides if s >= 1} | {ref, tuple(2 * s for s in ref)}
    if rule.kind == "from":
        sizes.add(ref[:-1] + (ref[-1] + 37,))
    return sorted(sizes)
