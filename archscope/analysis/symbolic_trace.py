"""Symbolic shapes for any ``nn.Module``: the hook tracer run on tensors whose sizes are symbols.

:mod:`archscope.analysis.symbolic` derives the formulas from a spec. A module without one
is traced once, as :mod:`archscope.tracer.hooks` always does, but under torch's
``FakeTensorMode`` with a ``ShapeEnv`` (the machinery under ``torch.export``'s dynamic
shapes, without dynamo; with torch's Python dispatcher on, as there, so that operators
whose C++ kernels take only numbers, ``F.interpolate``'s, run their Python versions):
its inputs' size axes are symbols, N for the batch and the axes
:mod:`archscope.analysis.probe` varies (H and W of an image, L of a sequence), so every
operator's meta kernel computes its output size as a formula, and so do the counting
conventions (:mod:`archscope.tracer.conventions`), which read only shapes. Each symbol is
traced at the size the summary uses (the batch at least 2, since torch fixes sizes 0 and
1), so the formulas hold where that input does.

The formulas are torch's own, converted to the spec path's algebra (:class:`Floor`,
:class:`Term`, :class:`Poly`): a size ``⌊(X + c)/m⌋`` and products and sums of them, and
written as torch gives them where they are none of these (a maximum, a remainder). Inputs
that share a shape share their symbols (``input_ids`` and ``attention_mask``: N×L).

What the model requires of its sizes is recorded with the layer running then
(:class:`Requirement`): a symbol it fixes (``assert H == 224``, an ``int()`` of a size;
torch replaces the symbol by the traced value) and every equality torch guards on (a
concatenation's branches agree, a linear layer gets the features it is built for). The
formulas hold where all of them do. A size that depends on the data (``x[x > 0]``) is
``?1``, ``?2``, with the layer that first outputs it; a forward that reads a value
(``.item()``) cannot run with symbolic sizes: a :class:`SymbolicError` names the layer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archscope.analysis.symbolic import Floor, Poly, Term
from archscope.errors import USER_CODE_ERRORS, ArchscopeError, ShapeError
from archscope.spec.inputs import fmt_shape

if TYPE_CHECKING:
    from torch import nn

    from archscope.spec.inputs import Input, Inputs
    from archscope.tracer.records import LayerRecord

Dim = Term | Poly | str  # a size: a term, a sum of terms, or torch's own expression where neither


class SymbolicError(ArchscopeError):
    """The model cannot be traced with symbolic sizes (it reads its data, or torch refuses)."""


@dataclass(frozen=True)
class Requirement:
    """What the model requires of the symbols, found while it ran: ``H = 224`` (torch then
    replaced the symbol by the size), ``W = H``, ``16·⌊(H-12)/4⌋·⌊(W-12)/4⌋ = 400`` (a linear
    layer built for 400 features); in ``layer``."""

    requires: str
    layer: tuple[str, str] | None  # (name, type); None: the model's own forward code
    axes: tuple[str, ...] = field(default=(), compare=False)  # the symbols it is about
    plain: bool = field(default=True, compare=False)  # both sides are written in archscope's forms
    where: str = field(default="", compare=False)  # the model's source line that did it, when torch records one

    @property
    def trivial(self) -> bool:
        """``2 = 2``: a condition that holds whatever the sizes, once the others are applied."""
        lhs, _, rhs = self.requires.partition(" = ")
        return lhs == rhs

    @property
    def text(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"{self.requires} (required by {place(self.layer)}{at})"


@dataclass
class TracedSymbolic:
    """The formulas of one traced pass: per layer call, per input, and for the model."""

    model: str
    axes: tuple[str, ...]  # the symbols, in the order of the inputs: ("N", "H", "W")
    traced_at: dict[str, int]  # each symbol's size in the pass that derived the formulas
    inputs: list[tuple[str, tuple[Dim, ...], str]]  # (name, full shape, dtype)
    output: list[tuple[Dim, ...]]
    layers: dict[tuple[str, int], tuple[Dim, ...]] = field(default_factory=dict)  # (name, call) -> output shape
    macs_of: dict[tuple[str, int], Dim] = field(default_factory=dict)  # (name, call) -> macs_total
    macs: Dim = ""
    activations: Dim = ""  # output elements of every leaf layer (times the dtype's bytes)
    fixed: list[Requirement] = field(default_factory=list)
    data: list[tuple[str, tuple[str, str]]] = field(default_factory=list)  # (?1, the layer whose output has it)

    def shape(self, rec: LayerRecord) -> tuple[Dim, ...] | None:
        return self.layers.get((rec.name, rec.call))

    def sizes_of(self, shapes: list[tuple[int, ...]]) -> dict[str, int]:
        """Each symbol's size in inputs of these full shapes (the inputs' order)."""
        found: dict[str, int] = {}
        for (_, dims, _), shape in zip(self.inputs, shapes, strict=False):
            for d, size in zip(dims, shape, strict=False):
                if isinstance(d, Term) and d.floor is not None and d.floor == Floor(d.floor.axis):
                    found.setdefault(d.floor.axis, size)
        return {n: found[n] for n in self.axes if n in found}


SCALES = (1, 2, 4)  # the size axes traced at the input's sizes times these, until none is pinned to 1


class _OutOfTimeError(Exception):
    """Raised by a module hook when the time limit has passed; its text is the seconds taken."""


def symbolic_trace(module: nn.Module, inputs: Inputs, *, batch: int = 1, name: str = "model",
                   train: bool = False, dtype: str = "float32", convention: str = "torchvision",
                   time_limit: float | None = None,
                   progress: Callable[[int], None] | None = None) -> TracedSymbolic:
    """Trace ``module`` (on meta) fed ``inputs`` with symbolic sizes (module docstring).

    ``time_limit`` (seconds, None for none) stops the work, with a :class:`SymbolicError`
    (within an operator on the main thread, else at the first layer call after it);
    ``progress`` is called with the number of layer calls traced so far.

    Torch fixes a size it computes to be 1 (its meta kernels branch on it), so where the
    input's sizes make a layer output 1 along a size axis (Inception's auxiliary head at
    299), the size axes are traced at twice, then four times, the input's sizes: formulas
    that hold for sizes in general, not only at that one. The first pass that pins nothing
    to 1 is taken, else the first."""
    first: TracedSymbolic | None = None
    deadline = time.monotonic() + time_limit if time_limit is not None else math.inf
    for scale in SCALES:
        try:
            result = _symbolic_pass(module, inputs, batch, name, train, dtype, convention, scale, deadline,
                                    progress)
        except SymbolicError:
            if first is None:
                raise
            break
        first = first or result
        if not any(f.requires.endswith(" = 1") for f in result.fixed):
            return result
    assert first is not None
    return first


def _symbolic_pass(module: nn.Module, inputs: Inputs, batch: int, name: str, train: bool, dtype: str,
                   convention: str, scale: int, deadline: float,
                   progress: Callable[[int], None] | None) -> TracedSymbolic:
    import torch

    from archscope.tracer.hooks import trace_module

    try:
        from torch._dispatch.python import enable_python_dispatcher
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.symbolic_shapes import ShapeEnv
    except ImportError as exc:  # pragma: no cover (torch older than archscope supports)
        raise SymbolicError(f"symbolic shapes need torch's FakeTensorMode and ShapeEnv ({exc})") from exc
    env = ShapeEnv(duck_shape=False)  # equal sizes are not assumed the same symbol
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    hint = max(batch, 2)
    fed, symbols = _fed(inputs, hint, mode, module, scale)
    start = time.monotonic()
    with _alarm(deadline, start) as rang, _watching(module, env, set(symbols), deadline, start, progress) as fixed, \
            mode, enable_python_dispatcher():
        try:
            traced = trace_module(module, inputs, batch=hint, name=name, train=train,
                                  dtype=getattr(torch, dtype), convention=convention, feed=fed)
        except USER_CODE_ERRORS as exc:  # noqa: BLE001 (torch's own refusal, e.g. a symbolic size it cannot handle)
            # the timer's exception, unless torch caught it on the way and failed differently after
            late = _out_of_time(exc) or (rang[0] if rang else None)
            layer = exc.layer if isinstance(exc, ShapeError) else None
            if late is not None:
                raise _stopped(late, place(layer)) from exc
            if isinstance(exc, ShapeError):
                raise SymbolicError(_named(_refusal(exc), symbols)) from exc
            raise SymbolicError(_named(f"{name} cannot be traced with symbolic sizes: {type(exc).__name__}: "
                                       f"{' '.join(str(exc).split())[:300]}", symbols)) from exc
    if rang:  # torch caught the timer's exception and went on: what it computed after that is not trusted
        raise _stopped(rang[0], "the end of the pass")
    at = {n: _hint(env, s) for s, n in sorted(symbols.items(), key=lambda sn: Floor(sn[1]).key)}
    data = _data_dependent(traced.layers, symbols)  # named in symbols too, after the axes
    # a formula torch writes in no form of archscope's is tried again with what the model requires put in
    # (⌊H/⌈H/2⌉⌋ = 2: MobileViT's patches); a requirement is written as it is
    conv = _Converter(env, symbols, {f.lhs: f.rhs for f in fixed if f.rhs.is_Integer and not f.lhs.is_Symbol})
    as_is = _Converter(env, symbols)
    result = TracedSymbolic(
        name, tuple(at), at,
        [(leaf.name, conv.shape(t.shape), leaf.dtype or "float32") for leaf, t in _leaf_tensors(inputs, fed)],
        [conv.shape(s) for s in traced.output_shapes],
        fixed=[f for f in dict.fromkeys(f.named(symbols, as_is) for f in fixed) if f.axes and not f.trivial],
        data=data)
    for rec in traced.layers:
        if rec.output_shapes:
            result.layers[(rec.name, rec.call)] = conv.shape(rec.output_shapes[0])
        result.macs_of[(rec.name, rec.call)] = conv.dim(rec.macs_total)
    result.macs = conv.dim(traced.totals.macs)
    nbytes = torch.empty((), dtype=getattr(torch, dtype)).element_size()
    result.activations = conv.dim(traced.totals.activation_bytes // nbytes)
    return result


# ---------------------------------------------------------------- the symbolic inputs


Fed = tuple[tuple[Any, ...], dict[str, Any]]  # the args and kwargs of one forward call


def _fed(inputs: Inputs, batch: int, mode: Any, module: nn.Module, scale: int = 1) -> tuple[Fed, dict[Any, str]]:
    """The args and kwargs to feed, every input a fake tensor with symbolic size axes, and
    the name of each symbol (N for the batch; H, W or L:
    :func:`archscope.analysis.probe.size_axes`, of the first input that has them). An input
    of its shape shares its symbols (:func:`archscope.analysis.probe.shares_axes`). The
    size axes are made ``scale`` times the input's."""
    import torch
    from torch.fx.experimental.symbolic_shapes import DimDynamic, StatelessSymbolicContext

    from archscope.analysis.probe import shares_axes, size_axes
    from archscope.builder.inputs import materialise

    args, kwargs = materialise(inputs, batch, torch.device("meta"))
    first = next((leaf for leaf in inputs.leaves() if size_axes(leaf, module)), None)
    symbols: dict[Any, str] = {}
    made: dict[int, Any] = {}
    lead: dict[str, Any] = {}  # name -> the first symbol of that name

    def fake(leaf: Input, t: Any) -> Any:
        named = size_axes(leaf, module) if first is not None and shares_axes(leaf, first) else {}
        if leaf.batch_dim is not None:
            named = {p + (p >= leaf.batch_dim): n for p, n in named.items()} | {leaf.batch_dim: "N"}
        if scale != 1 and named:
            t = t.new_empty([n * (scale if d in named and named[d] != "N" else 1) for d, n in enumerate(t.shape)])
        dynamic = [DimDynamic.DYNAMIC if d in named and t.shape[d] > 1 else DimDynamic.STATIC
                   for d in range(t.dim())]
        out = mode.from_tensor(t, symbolic_context=StatelessSymbolicContext(dynamic_sizes=dynamic))
        for d, n in named.items():
            size = out.shape[d]
            if not isinstance(size, torch.SymInt):
                continue
            if n in lead:  # the same axis as an earlier input's: made one symbol
                torch._check(size == lead[n])
            else:
                lead[n] = size
                symbols[size.node.expr] = n
        return out

    pairs = _leaf_tensors(inputs, (args, kwargs))
    for leaf, t in pairs:
        made[id(t)] = fake(leaf, t)
    return _swapped((args, kwargs), made), symbols


def _leaf_tensors(inputs: Inputs, fed: Fed) -> list[tuple[Input, Any]]:
    from archscope.builder.inputs import tensors_in

    tensors = [t for _, t in tensors_in((fed[0], list(fed[1].values())))]
    return list(zip(inputs.leaves(), tensors, strict=False))


def _swapped(value: Any, made: dict[int, Any]) -> Any:
    """``value`` (args and kwargs, nested) with each tensor replaced by its fake."""
    if id(value) in made:
        return made[id(value)]
    if isinstance(value, dict):
        return {k: _swapped(v, made) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_swapped(v, made) for v in value)
    return value


def _hint(env: Any, symbol: Any) -> int:
    values = getattr(env, "backed_var_to_val", None) or env.var_to_val  # renamed in torch 2.14
    return int(values.get(symbol, 0))


def _data_dependent(layers: list[LayerRecord], symbols: dict[Any, str]) -> list[tuple[str, tuple[str, str]]]:
    """Sizes that depend on the data (``x[x > 0]``, ``nonzero``: torch's unbacked symbols),
    named ``?1``, ``?2`` in ``symbols``, each with the first layer call to output it (in
    the order calls end: a layer before the containers around it)."""
    ends = list(range(len(layers)))
    for i in reversed(range(len(layers))):
        parent = layers[i].parent
        if parent is not None:
            ends[parent] = max(ends[parent], ends[i])
    found: list[tuple[str, tuple[str, str]]] = []
    for i in sorted(range(len(layers)), key=lambda i: (ends[i], -layers[i].depth)):
        for shape in layers[i].output_shapes:
            for size in shape:
                expr = getattr(getattr(size, "node", None), "expr", None)
                for s in expr.free_symbols if expr is not None else ():
                    if s not in symbols and str(s).startswith("u"):
                        symbols[s] = f"?{len(found) + 1}"
                        found.append((symbols[s], (layers[i].name, layers[i].type)))
    return found


# ---------------------------------------------------------------- who fixes a symbol


@dataclass
class _Fixing:
    lhs: Any  # a symbol replaced, or an equality's side
    rhs: Any
    layer: tuple[str, str] | None
    where: str

    def named(self, names: dict[Any, str], conv: _Converter) -> Requirement:
        lhs = names.get(self.lhs) or conv.dim(self.lhs)
        free = {*getattr(self.lhs, "free_symbols", ()), *getattr(self.rhs, "free_symbols", ())}
        axes = tuple(sorted({names[s] for s in free if s in names}, key=lambda n: Floor(n).key))
        rhs = conv.dim(self.rhs)
        return Requirement(f"{_text(lhs)} = {_text(rhs)}", self.layer, axes,
                           _plain(lhs, names) and _plain(rhs, names), self.where)


@contextmanager
def _watching(module: nn.Module, env: Any, symbols: set[Any], deadline: float = math.inf, start: float = 0.0,
              progress: Callable[[int], None] | None = None) -> Iterator[list[_Fixing]]:
    """What the model's forward requires of the symbols, each with the module running when
    torch recorded it: a symbol it replaced (fixed to a size or made another), an equality
    it guards on (a module hook on every call checks what is new since the last one; the
    inequalities torch guards on are the valid sizes, :mod:`archscope.analysis.probe`'s).
    The same hook stops the pass after ``deadline`` (``time.monotonic()``; the seconds
    since ``start`` are its message) and counts calls for ``progress``."""
    import sympy
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    names = {id(m): (n, m._get_name()) for n, m in module.named_modules()}
    stack: list[tuple[str, str] | None] = [None]
    found: list[_Fixing] = []
    seen = set(env.replacements)
    guards = [len(env.guards)]
    slocs = getattr(env, "replacements_slocs", {})

    def check() -> None:
        for s, value in list(env.replacements.items()):
            if s not in seen and s in symbols:
                found.append(_Fixing(s, value, stack[-1], _user_line(slocs.get(s))))
            seen.add(s)
        for guard in env.guards[guards[0]:]:
            expr = guard.expr
            if isinstance(expr, sympy.Eq) and expr.free_symbols & symbols:
                found.append(_Fixing(expr.lhs, expr.rhs, stack[-1], _user_line(getattr(guard, "sloc", None))))
        guards[0] = len(env.guards)

    calls = [0]

    def pre(m: Any, args: Any) -> None:
        if id(m) in names:
            check()
            stack.append(names[id(m)])
            calls[0] += 1
            if progress is not None:
                progress(calls[0])
            if time.monotonic() > deadline:
                raise _OutOfTimeError(f"{time.monotonic() - start:.0f}")

    def post(m: Any, args: Any, out: Any) -> None:
        if id(m) in names and len(stack) > 1:
            check()
            stack.pop()

    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _alarm(deadline: float, start: float) -> Iterator[list[str]]:
    """Stop the pass at ``deadline`` even inside one operator (torch's simplifier can spend
    minutes in a single reshape): a timer signal where there is one, on the main thread;
    elsewhere the module hooks' check is all there is. Yields the seconds it rang at (empty
    until it does): torch's own code may catch the exception it raises (sympy's does) and
    go on, or fail otherwise, and the pass must still be reported as stopped."""
    import signal
    import threading

    rang: list[str] = []
    if deadline == math.inf or not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        yield rang
        return

    def ring(signum: int, frame: Any) -> None:
        rang.append(f"{time.monotonic() - start:.0f}")
        raise _OutOfTimeError(rang[-1])

    import logging

    torch_log = logging.getLogger("torch.fx.experimental.symbolic_shapes")  # it logs the expression it was in
    level = torch_log.level
    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
    torch_log.setLevel(logging.ERROR)
    try:
        yield rang
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        torch_log.setLevel(level)


def _stopped(late: str, where: str) -> SymbolicError:
    return SymbolicError(f"the pass with symbolic sizes was stopped after {late} s, at {where}: "
                         "torch's simplification of its formulas takes too long on this model")


def _out_of_time(exc: BaseException) -> str | None:
    """The seconds taken, when ``exc`` came from the time limit (anywhere in its chain)."""
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in seen:
        if isinstance(cause, _OutOfTimeError):
            return str(cause)
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return None


def _plain(d: Any, names: dict[Any, str]) -> bool:
    """Whether ``d`` is written in archscope's forms (a term, a sum, a symbol's name)."""
    return not isinstance(d, str) or d in names.values()


def _text(d: Any) -> str:
    return shape_text((d,)) if not isinstance(d, str) else d


def _user_line(sloc: Any) -> str:
    """The model's line in torch's record of where a replacement was made (``file.py:12 in
    forward``), when it has one outside torch."""
    text = str(getattr(sloc, "user_loc", "") or "") if sloc is not None else ""
    return "" if not text or "/torch/" in text else text.strip()


def _named(text: str, symbols: dict[Any, str]) -> str:
    """Torch's words with its symbols (``s26``) by their axis names (``N``)."""
    import re

    names = {str(s): n for s, n in symbols.items()}
    return re.sub(r"\bs\d+\b", lambda m: names.get(m.group(0), m.group(0)), text)


def _refusal(exc: ShapeError) -> str:
    from archscope.api import meta_unsupported

    reason = meta_unsupported(exc)
    if reason is None:
        return f"the pass with symbolic sizes fails: {exc}"
    return f"it cannot run with symbolic sizes in {place(exc.layer)} ({reason})"


def place(layer: tuple[str, str] | None) -> str:
    """``blocks.0 (Block)``, ``the root module (Net)``, or ``the model's own forward code``."""
    return f"{layer[0] or 'the root module'} ({layer[1]})" if layer else "the model's own forward code"


# ---------------------------------------------------------------- torch's formulas, converted


class _Converter:
    """Torch's sympy expressions as the spec path's algebra, each symbol by its axis name."""

    def __init__(self, env: Any, names: dict[Any, str], known: dict[Any, Any] | None = None) -> None:
        self.env, self.names = env, names
        self.known = known or {}  # subexpressions the model requires to be a number, replaced by it

    def shape(self, shape: Any) -> tuple[Dim, ...]:
        return tuple(self.dim(d) for d in shape)

    def dim(self, value: Any) -> Dim:
        """A size, MAC count or element count: a :class:`Term` when it is one, else a
        :class:`Poly`, else torch's expression in the axis names."""
        import sympy

        expr = self.env.replace(value.node.expr if hasattr(value, "node") else sympy.sympify(value))
        poly = self.poly(expr)
        if poly is None and self.known:  # in no form of archscope's: with what the model requires put in
            expr = expr.xreplace(self.known)
            poly = self.poly(expr)
        if poly is None:
            return self.text(expr)
        terms = [(f, c) for f, c in poly.terms.items() if c]
        if not terms:
            return Term(0)
        if len(terms) == 1:
            return Term(terms[0][1], terms[0][0])
        return poly

    def poly(self, expr: Any) -> Poly | None:
        import sympy
        from torch.utils._sympy import functions as tf

        if expr.is_Integer:
            return _const(int(expr))
        if expr.is_Symbol:
            axis = self.names.get(expr)
            return _floor(Floor(axis)) if axis is not None else None
        if expr.is_Add or expr.is_Mul:
            parts = [self.poly(a) for a in expr.args]
            out = parts[0]
            for p in parts[1:]:
                if out is None or p is None:
                    return None
                out = _sum(out, p) if expr.is_Add else _product(out, p)
            return _folded(out) if out is not None else None
        if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0 or isinstance(expr, tf.PowByNatural):
            base, exp = expr.args
            inner = self.poly(base)
            if inner is None or not exp.is_Integer:
                return None
            out = _const(1)
            for _ in range(int(exp)):
                out = _product(out, inner)
            return out
        if isinstance(expr, (tf.FloorDiv, tf.CleanDiv)) or (isinstance(expr, tf.CeilToInt)
                                                             and isinstance(expr.args[0], tf.IntTrueDiv)):
            ceil = isinstance(expr, tf.CeilToInt)
            num, den = expr.args[0].args if ceil else expr.args
            if not den.is_Integer or int(den) < 1:
                return None
            inner = self.poly(num + (den - 1) if ceil else num)
            return _divided(inner, int(den)) if inner is not None else None
        if isinstance(expr, (tf.Mod, tf.PythonMod, sympy.Mod)) and expr.args[1].is_Integer and expr.args[1] > 0:
            inner, m = self.poly(expr.args[0]), int(expr.args[1])  # a mod m = a − m·⌊a/m⌋ (a remainder ≥ 0)
            whole = _divided(inner, m) if inner is not None else None
            return _folded(_sum(inner, _product(_const(-m), whole))) if inner is not None and whole is not None \
                else None
        if isinstance(expr, sympy.Integer):
            return _const(int(expr))
        return None

    def text(self, expr: Any) -> str:
        """Torch's expression with its symbols named (``Max(1, H)``, ``Mod(L, 2)``)."""
        import sympy

        named = expr.xreplace({s: sympy.Symbol(n) for s, n in self.names.items()})
        return str(named).replace("**", "^").replace("*", "·")


def _const(value: int) -> Poly:
    return Poly({(): value}) if value else Poly()


def _floor(f: Floor) -> Poly:
    return Poly({(f,): 1})


def _sum(a: Poly, b: Poly) -> Poly:
    out = Poly(dict(a.terms))
    out.extend(b)
    return out


def _folded(p: Poly) -> Poly:
    """``p`` without zero terms, and ``c·F + c·k`` of one floor ``F = ⌊(X + a)/m⌋`` as the
    one term ``c·⌊(X + a + k·m)/m⌋``, as the spec path writes every size (``⌊(H−1)/2⌋ + 1``
    is ``⌈H/2⌉``; a padded ``7 + 7·⌊(H−4)/28⌋`` is ``7·⌊(H+24)/28⌋``)."""
    terms = {f: c for f, c in p.terms.items() if c}
    k = terms.pop((), 0)
    if k and len(terms) == 1:
        (factors, coef), = terms.items()
        if len(factors) == 1 and k % coef == 0:
            return Poly({(factors[0].then(k // coef, 1),): coef})
    return Poly({**terms, (): k}) if k else Poly(terms)


def _product(a: Poly, b: Poly) -> Poly:
    out = Poly()
    for fa, ca in a.terms.items():
        for fb, cb in b.terms.items():
            out.add(Term(ca, fa) * Term(cb, fb))
    return out


def _divided(num: Poly, s: int) -> Poly | None:
    """``⌊num/s⌋`` in the algebra: ``⌊(F + k)/s⌋`` of one floor F is a floor (composed), and
    ``⌊(k − F)/s⌋ = −⌊(F − k + s − 1)/s⌋``; terms whose coefficients ``s`` divides come out
    of the floor; anything else is None."""
    rest = Poly()
    out = Poly()
    for f, c in num.terms.items():
        if f and c % s == 0:
            out.add(Term(c // s, f))
        else:
            rest.add(Term(c, f))
    floors = [(factors, c) for factors, c in rest.terms.items() if factors]
    k = rest.terms.get((), 0)
    if not floors:
        out.add(Term(k // s))
        return _folded(out)
    (factors, coef), = floors if len(floors) == 1 else [((), 0)]
    if coef in (1, -1) and len(factors) == 1:
        one = factors[0]
        out.add(Term.of(one.then(k, s)) if coef == 1 else Term(-1, (one.then(s - 1 - k, s),)))
        return _folded(out)
    return None


def per_sample(dim: Dim) -> Dim | None:
    """``dim`` divided by N, when every term of it has N as a factor (a count per sample)."""
    if isinstance(dim, str):
        return None
    terms = Poly.of(dim).terms
    n = Floor("N")
    out = Poly()
    for factors, coef in terms.items():
        if not coef:
            continue
        if n not in factors:
            return None
        rest = list(factors)
        rest.remove(n)
        out.add(Term(coef, tuple(rest)))
    return out


def shape_text(shape: tuple[Dim, ...]) -> str:
    """``N×2048×⌈H/32⌉×⌈W/32⌉``: a sum is bracketed, ``(⌊H/2⌋ + L)``."""
    return fmt_shape([f"({d.text('', commas=False)})" if isinstance(d, Poly) else d for d in shape], None)
