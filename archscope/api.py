"""The library's front door: resolve a model, trace it, check its expectations.

The CLI computes through this module, :mod:`archscope.analysis` (diff, sizes, symbolic
shapes, receptive fields) and :mod:`archscope.snapshot.check`, and renders with
:mod:`archscope.report`; so can anyone from Python. It never reaches into the builder or
the tracer itself, except for the dataflow recorder around ``graph``'s trace.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from archscope.builder.load import Target, resolve
from archscope.collector import collector_paused
from archscope.errors import ArchscopeError, ExpectationError, ModelLoadError, ShapeError, UsageError, echo
from archscope.spec.inputs import FLOAT_DTYPES, Inputs, from_sizes, single_input
from archscope.tracer import conventions
from archscope.tracer.records import Trace
from archscope.tracer.training import Training

if TYPE_CHECKING:  # torch is imported only when a model is built or run: zoo summaries need none
    from collections.abc import Callable

    import torch
    from torch import nn

    from archscope.analysis.probe import ProbedSizes
    from archscope.analysis.sizes import SizeReport
    from archscope.analysis.symbolic import SymbolicModel
    from archscope.analysis.symbolic_trace import TracedSymbolic
    from archscope.spec.nodes import Model


@collector_paused()
def build(name: str, device: str = "cpu") -> nn.Module:
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"build() takes a zoo name or a spec file, not a {type(name).__name__}")
    target = resolve(str(name))
    module = target.module(_device(device))
    return module.eval()


def inputs_for(target: Target, input_size: Any = None, *, dtypes: Any = None, batch_dim: int | None = 0,
               input_data: Any = None, inputs_from: str | None = None, batch: int = 1,
               module: nn.Module | None = None) -> tuple[Inputs, int]:
    """What ``target`` is fed, and the batch.

    In order: ``input_data`` (real tensors), ``inputs_from`` (a function returning example
    inputs), ``input_size`` (shapes; see :func:`archscope.spec.inputs.from_sizes`), else what
    the model declares: a spec's reference input, an ``example_inputs`` attribute, timm's
    ``pretrained_cfg``; a forward that takes no argument gets none. ``module`` is the built
    model, for an import path (its first layer tells whether it takes images). A size that
    carries a batch (``8x3x224x224``) must agree with ``batch``; tensors carry theirs, and a
    ``batch`` other than 1 feeds them again at that batch (zeros of the same shapes).
    """
    given = [k for k, v in (("input_size", input_size), ("input_data", input_data), ("inputs_from", inputs_from))
             if v is not None]
    if len(given) > 1:
        raise UsageError(f"give one of {' and '.join(given)}: they both say what the model is fed")
    if dtypes is not None and input_size is None:
        raise UsageError("dtypes goes with input_size (tensors in input_data carry their own dtypes)")
    if isinstance(input_size, Inputs):
        return input_size, batch
    if input_data is not None or inputs_from is not None:
        from archscope.builder.inputs import from_example, with_batch

        value = input_data if inputs_from is None else _example_value(inputs_from)
        inputs, held = from_example(value, "input_data" if inputs_from is None else f"--inputs-from {inputs_from}",
                                    module, batch_dim)
        return (with_batch(inputs, batch, held), batch) if batch != 1 else (inputs, held or 1)
    if input_size is not None:
        channels = target.image_channels
        names: list[str] = []
        if module is not None:
            from archscope.builder.inputs import forward_names, image_channels

            channels, names = image_channels(module), forward_names(module)
        inputs, held = from_sizes(input_size, dtypes, batch_dim, channels, names)
        return replace(inputs, source="--input" if _typed_text(input_size) else "input_size"), _batch(batch, held)
    if target.reference_input is not None:
        return single_input(target.reference_input, "the reference input"), batch
    from archscope.builder.inputs import with_batch

    inputs, held = _declared(target, module)
    return (with_batch(inputs, batch, held), batch) if batch != 1 else (inputs, held or 1)


def _typed_text(input_size: Any) -> bool:
    return isinstance(input_size, str) or (isinstance(input_size, (list, tuple)) and bool(input_size)
                                           and all(isinstance(s, str) for s in input_size))


def _example_value(text: str) -> Any:
    from archscope.builder.load import call_user, load_object

    obj = load_object(text)
    return call_user(obj, text) if callable(obj) and not _is_tensorish(obj) else obj


def _is_tensorish(obj: Any) -> bool:
    import torch

    return isinstance(obj, (torch.Tensor, torch.Size))


def _declared(target: Target, module: nn.Module | None) -> tuple[Inputs, int | None]:
    from archscope.builder.inputs import declared, expects, takes_no_input

    assert module is not None
    found = declared(module)
    if found is not None:
        return found
    if takes_no_input(module):
        return Inputs(source="forward takes no argument"), None
    first = expects(module)
    raise UsageError(f"{target.text!r} states no input size: pass one with --input (input_size=...), e.g. "
                     "--input 3x224x224 for an image, --input 20 for 20 features, --input 128:int64 for token "
                     f"ids{'; ' + first if first else ''}")


DTYPES = FLOAT_DTYPES  # the parameters' types; inputs may also be integer, bool or complex
CONVENTIONS = conventions.CONVENTIONS  # the registry itself (no torch): register_convention adds to it


@collector_paused()
def trace(target: str | nn.Module, input_size: Any = None, batch: int = 1, device: str | None = None,
          train: bool = False, convention: str = "torchvision", dtype: str = "float32",
          analytic: bool = True, *, input_data: Any = None, dtypes: Any = None, batch_dim: int | None = 0,
          inputs_from: str | None = None, training: Training | None = None) -> Trace:
    """Trace one forward pass: shapes, parameters, MACs and memory; expectations checked.

    ``target`` is a zoo name, a spec file, ``package.module:attr``, ``file.py:attr`` or an
    ``nn.Module`` (which is copied, never modified). What it is fed (:func:`inputs_for`):
    ``input_size`` per-sample shapes (one, a list, or a dict of keyword inputs; ``dtypes``
    beside them), the batch inserted at ``batch_dim``; or ``input_data``, real tensors
    (a tensor, a tuple or list of positional arguments, a dict of keyword arguments), whose
    shapes and dtypes are taken and whose data is never copied; or ``inputs_from``, a
    function that returns such inputs. By default (``device=None``) the model runs on the
    meta device, which allocates no memory, and on the CPU when it cannot run on meta
    (an operator without a meta kernel, a forward that depends on the data), with a note
    saying so; ``device="meta"`` makes that an error.
    ``convention`` names the counting rules (torchvision, fvcore, full, or one added with
    :func:`archscope.tracer.conventions.register_convention`); ``dtype`` the
    parameters' type (and that of float inputs of no stated dtype). A zoo model or spec
    file in eval mode under the torchvision convention, fed one image, is computed from its
    spec without running torch (:mod:`archscope.tracer.analytic`, tested equal to the traced
    numbers); ``analytic=False`` runs the hook tracer anyway.
    ``training`` (a :class:`~archscope.tracer.training.Training`) prices a whole training
    step in train mode: backward MACs per layer, saved tensors, gradients, optimizer state
    and the peak (``Trace.step``; docs/training.md).
    """
    _check_arguments(convention, dtype, batch, train, analytic, inputs_from)
    if training is not None and not isinstance(training, Training):
        raise TypeError(f"training must be an archscope.Training, got {echo(training)}")
    train = train or training is not None
    resolved = _target(target)
    sources = dict(input_size=input_size, dtypes=dtypes, batch_dim=batch_dim, input_data=input_data,
                   inputs_from=inputs_from)
    try:
        return _trace(resolved, sources, batch, device, train, convention, dtype, analytic, training)
    except ShapeError as exc:  # say what the smallest input is (docs/analysis.md)
        better = with_least_input(exc, resolved, sources, train)
        if better is exc:
            raise
        raise better from exc


if TYPE_CHECKING:
    from archscope.analysis.receptive import Field
    from archscope.report.diagram import Diagram


@collector_paused()
def graph(target: str | nn.Module, input_size: Any = None, batch: int = 1, device: str | None = None, *,
          depth: int | str | None = "auto", expand: bool = False, rankdir: str = "TB", legend: bool = True,
          size: Any = None, dpi: float | None = None, input_data: Any = None, dtypes: Any = None,
          batch_dim: int | None = 0, inputs_from: str | None = None) -> Diagram:
    """The dataflow diagram of one forward pass, as ``archscope graph`` draws it (docs/graph.md).

    ``target`` and what it is fed (``input_size``, ``input_data``, ``inputs_from``,
    ``dtypes``, ``batch_dim``, ``batch``, ``device``) are :func:`trace`'s; the model always
    runs (meta device by default), since the diagram is what actually ran. ``depth``: modules
    deeper are drawn as one node each; ``"auto"`` (the default) the deepest that keeps the
    picture about one screen (the title then says which depth draws every layer), None every
    layer. ``expand``: draw every block (no folding of identical runs; with the default depth,
    every layer too). ``rankdir``: "TB" (top to bottom) or "LR". ``legend``: the colour key.
    ``size``: Graphviz's size in inches, ``"8,10"`` or ``(8, 10)`` (scaled down to fit;
    ``"8,10!"`` up too); ``dpi``: a PNG's resolution.

    Returns a :class:`~archscope.report.diagram.Diagram`: ``.source`` the DOT text,
    ``.save(path)`` (SVG, PNG, PDF or DOT by the suffix), ``.trace`` the run drawn, shown
    inline in Jupyter (as SVG; without Graphviz's ``dot``, the DOT source and how to
    install it). An expected shape that does not match is drawn in red
    (``.trace.mismatches``); nothing is raised for it.
    """
    from archscope.report.diagram import Diagram, check_dpi
    from archscope.report.dot import AUTO, RANKDIRS, draw, graph_size
    from archscope.tracer.dataflow import recording

    if depth != AUTO and depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise UsageError(f"depth must be a positive integer, None (every layer) or 'auto', got {echo(depth)}")
    if rankdir not in RANKDIRS:
        raise UsageError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {echo(rankdir)}")
    for flag, value in (("expand", expand), ("legend", legend)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {echo(value)}")
    if size is not None:
        try:
            size = graph_size(size)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    check_dpi(dpi)
    with recording() as flow:
        result = trace(target, input_size, batch, device, analytic=False,  # the spec shortcut has no dataflow
                       input_data=input_data, dtypes=dtypes, batch_dim=batch_dim, inputs_from=inputs_from)
    dataflow = flow.graph(result)
    drawing = draw(dataflow, depth=None if expand and depth == AUTO else depth, fold_blocks=not expand,
                   rankdir=rankdir, legend=legend, size=size)
    return Diagram(drawing.source, result.model, trace=result, dataflow=dataflow, depth=drawing.depth,
                   full_depth=drawing.full_depth, nodes=drawing.nodes, modules=drawing.modules, dpi=dpi)


@collector_paused()
def receptive_fields(target: str | nn.Module, input_size: Any = None, batch: int = 1, device: str | None = None,
                     train: bool = False, *, input_data: Any = None, dtypes: Any = None, batch_dim: int | None = 0,
                     inputs_from: str | None = None) -> dict[str, Field | None]:
    """Each module's receptive field (:class:`~archscope.analysis.receptive.Field`: size,
    jump and start per axis, or global), by qualified name, at its first call; None where it
    is unknown (after an operator archscope has no rule for). A zoo model or spec file is
    folded from its spec, without torch (fields do not depend on the input size); anything
    else runs one forward pass, fed as :func:`trace` is (docs/analysis.md, "Receptive
    fields"). A model fed no image (a floating-point N×C×H×W tensor) has no field: a usage
    error says so.
    """
    from archscope.analysis.fields import recording_fields
    from archscope.analysis.receptive import by_module

    resolved = _target(target)
    if resolved.spec is not None:  # the same fields as a traced pass gives (tests/test_fields.py)
        return dict(by_module(resolved.spec, train))
    with recording_fields() as recorder:
        trace(target, input_size, batch, device, train, analytic=False, input_data=input_data, dtypes=dtypes,
              batch_dim=batch_dim, inputs_from=inputs_from)
    if not recorder.started:
        raise UsageError(f"{resolved.name} has no receptive field: none of its inputs is an image (a floating-point "
                         "N×C×H×W tensor), which is where a field starts")
    return recorder.by_module


@collector_paused()
def sizes(target: str | nn.Module, input_size: Any = None, train: bool = False, *,
          progress: Callable[[int], None] | None = None) -> SizeReport | ProbedSizes:
    """Which input sizes a model takes, its smallest and the layer that limits it. A zoo
    model or spec file is reasoned over from its spec, without torch (a
    :class:`~archscope.analysis.sizes.SizeReport`); anything else is traced on the meta
    device at the sizes a search picks, around ``input_size`` (or what the model declares;
    an image model that declares nothing starts from 224), and gets a
    :class:`~archscope.analysis.probe.ProbedSizes` (docs/analysis.md, "Valid input sizes").
    ``progress`` is called with the number of sizes traced so far.
    """
    resolved = _target(target)
    if resolved.spec is not None:
        if input_size is not None:
            raise UsageError(f"{resolved.name} has its sizes from its spec (a zoo model or spec file), which "
                             "states its input: leave the input size out")
        from archscope.analysis.sizes import analyse_sizes

        return analyse_sizes(resolved.spec, train=train)
    from archscope.analysis.probe import probe_sizes

    return probe_sizes(resolved, input_size, train=train, progress=progress)


# seconds: torch's simplifier can take minutes on the reshapes of windowed attention (torchvision's maxvit_t)
SYMBOLIC_TIME_LIMIT = 120.0


@collector_paused()
def symbolic_shapes(target: str | nn.Module, input_size: Any = None, batch: int = 1, train: bool = False, *,
                    convention: str = "torchvision", dtype: str = "float32", input_data: Any = None,
                    dtypes: Any = None, batch_dim: int | None = 0, inputs_from: str | None = None,
                    time_limit: float | None = SYMBOLIC_TIME_LIMIT,
                    progress: Callable[[int], None] | None = None) -> SymbolicModel | TracedSymbolic:
    """Every output shape, the MACs and the activations as formulas of the input's sizes
    (docs/analysis.md, "Symbolic shapes"). A zoo model or spec file is derived from its spec,
    without torch (a :class:`~archscope.analysis.symbolic.SymbolicModel`, in N, H, W);
    anything else is traced once on the meta device with symbolic sizes, fed as
    :func:`trace` is (a :class:`~archscope.analysis.symbolic_trace.TracedSymbolic`, in N and
    the input's H, W or L, with what the model requires of them). A forward that reads its
    data cannot be traced so: a :class:`~archscope.analysis.symbolic_trace.SymbolicError`,
    as is one that takes longer than ``time_limit`` seconds (None: no limit); ``progress``
    is called with the number of layer calls traced so far.
    """
    _check_arguments(convention, dtype, batch, train, True, inputs_from)
    resolved = _target(target)
    if resolved.spec is not None:
        from archscope.analysis.symbolic import symbolic

        return symbolic(resolved.spec)
    import torch

    from archscope.analysis.probe import built_on_meta
    from archscope.analysis.symbolic_trace import symbolic_trace

    module = built_on_meta(resolved)
    if dtype != "float32":
        module = module.to(getattr(torch, dtype))
    inputs, batch = inputs_for(resolved, input_size, dtypes=dtypes, batch_dim=batch_dim, input_data=input_data,
                               inputs_from=inputs_from, batch=batch, module=module)
    return symbolic_trace(module, inputs, batch=batch, name=resolved.name, train=train, dtype=dtype,
                          convention=convention, time_limit=time_limit, progress=progress)


def _check_arguments(convention: str, dtype: str, batch: int, train: bool, analytic: bool,
                     inputs_from: str | None) -> None:
    if convention not in CONVENTIONS:
        raise UsageError(f"unknown counting convention {convention!r}: use one of {', '.join(CONVENTIONS)}")
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch must be a positive integer, got {echo(batch)}")
    for flag, value in (("train", train), ("analytic", analytic)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {echo(value)}")
    if inputs_from is not None and not isinstance(inputs_from, str):
        raise TypeError(f"inputs_from must be an import path such as 'inputs.py:example', got {echo(inputs_from)}")


def _trace(resolved: Target, sources: dict[str, Any], batch: int, device: str | None, train: bool,
           convention: str, dtype: str, analytic: bool, training: Training | None = None) -> Trace:
    """:func:`trace` of a resolved target: the computed trace where it applies, else meta,
    else the CPU when the model cannot run on meta (said in a note)."""
    if resolved.spec is not None:
        inputs, batch = inputs_for(resolved, **sources, batch=batch)
        if analytic and device in (None, "meta") and not train and convention == "torchvision":
            from archscope.tracer.analytic import analytic_trace  # a spec's trace computed without torch

            computed = analytic_trace(resolved.spec, inputs, batch=batch, name=resolved.name, dtype=dtype)
            if computed is not None:
                return computed
    if device is not None:
        try:
            return _traced(resolved, sources, batch, _device(device), train, dtype, convention, training)
        except (ShapeError, ModelLoadError) as exc:
            reason = meta_unsupported(exc) if _device(device).type == "meta" else None
            if reason is None:
                raise
            raise type(exc)(f"{exc}. The model cannot run on the meta device ({reason}): use --device cpu "
                            "(device='cpu'), or leave --device out to fall back to the CPU by itself") from exc
    try:
        return _traced(resolved, sources, batch, _device("meta"), train, dtype, convention, training)
    except (ShapeError, ModelLoadError) as exc:
        reason = meta_unsupported(exc)
        if reason is None:
            raise
        _require_memory(exc, resolved.name, reason)
    result = _traced(resolved, sources, batch, _device("cpu"), train, dtype, convention, training)
    result.cpu_reason = reason
    return result


def with_least_input(exc: ShapeError, resolved: Target, sources: dict[str, Any], train: bool) -> ShapeError:
    """``exc`` with the smallest input a spec model takes appended, when the image fed is too
    small (or outside the sizes a fixed classifier takes); ``exc`` itself otherwise."""
    from archscope.analysis.sizes import analyse_sizes
    from archscope.report.analysis import why_not

    if resolved.spec is None:
        return exc
    try:
        image = inputs_for(resolved, **sources)[0].image
        clause = why_not(analyse_sizes(resolved.spec, train=train), *image[1:]) if image is not None else None
    except ArchscopeError:
        return exc
    return exc if clause is None else ShapeError(f"{exc}; {clause}", exc.partial, exc.cpu_bytes)


def spec_of(target: str, what: str) -> Model:
    """The spec behind a zoo name or spec file, for ``what`` (an analysis that runs no code);
    a usage error for an import path, which is refused before anything is imported."""
    from archscope.snapshot.files import kind_of

    if kind_of(target) == "import":
        raise UsageError(f"{what} needs a zoo model or a spec file, which it analyses without running "
                         f"the model; {echo(target)} is an import path")
    spec = resolve(target).spec
    assert spec is not None  # a zoo name or spec file always has one
    return spec


def require_expectations(result: Trace, note: str = "") -> None:
    """Raise :class:`~archscope.errors.ExpectationError` (exit 1) when traced output shapes
    contradict the shapes the spec documents."""
    if result.mismatches:
        raise ExpectationError(f"{len(result.mismatches)} expected shape(s) of {result.model} do not match "
                               f"(first: {result.mismatches[0][0]}){'; ' + note if note else ''}")


def _require_memory(exc: ArchscopeError, name: str, reason: str) -> None:
    """Refuse a CPU run that could not fit, before it starts (rather than be killed by the OS)."""
    from archscope.report.units import nbytes

    need, have = getattr(exc, "cpu_bytes", 0), available_memory()
    if need and have is not None and need > have:
        raise ModelLoadError(f"{name} cannot run on the meta device ({reason}), and on the CPU it would need at "
                             f"least {nbytes(need)} (weights, inputs and its largest activation so far), more than "
                             f"the {nbytes(have)} available: use a smaller --batch or --input") from exc


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _traced(resolved: Target, sources: dict[str, Any], batch: int, device: torch.device, train: bool,
            dtype: str, convention: str, training: Training | None = None) -> Trace:
    import torch

    from archscope.tracer.hooks import trace_module

    module = resolved.module(device)
    if isinstance(module, torch.jit.ScriptModule):
        raise ModelLoadError(f"{resolved.text!r} is a TorchScript module (torch.jit.script or torch.jit.trace), "
                             "which has no module hooks to trace: point archscope at the nn.Module before scripting")
    if dtype != "float32":
        module = module.to(getattr(torch, dtype))
    inputs, batch = inputs_for(resolved, **sources, batch=batch, module=module if resolved.spec is None else None)
    expectations = {}
    if resolved.spec is not None:
        from archscope.spec.sites import layout

        expectations = layout(resolved.spec).expectations()
    return trace_module(module, inputs, batch=batch, name=resolved.name, expectations=expectations,
                        reference_input=resolved.reference_input, train=train, dtype=getattr(torch, dtype),
                        convention=convention, training=training)


_META_WORDS = ("meta tensor", "meta kernel", "meta device", "device meta", "data-dependent", "data dependent",
               "on meta", "fake impl")


def meta_unsupported(exc: BaseException) -> str | None:
    """Why ``exc`` (from building or running on meta) says the model needs real data, or None.
    Torch's own error, the innermost of the chain, is the one read."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in reversed(chain):
        if type(cause).__name__ in ("DataDependentOutputException", "GuardOnDataDependentSymNode"):
            return "its forward depends on the data"
        text = " ".join(str(cause).split()).split(" failed: ", 1)[-1]  # "calling 'x' failed: ..."
        low = text.lower()
        if any(w in low for w in _META_WORDS) or (isinstance(cause, NotImplementedError) and "meta" in low):
            op = next((w for w in text.split() if w.startswith("aten::")), "")
            return (f"{op.rstrip(':')} has no meta kernel" if op
                    else text[:160].rstrip(".") + ("…" if len(text) > 160 else ""))
    return None


def _target(target: Any) -> Target:
    """What ``trace`` was given: a name or path, an ``nn.Module``, a module class or a factory."""
    if isinstance(target, (str, os.PathLike)):
        return resolve(str(target))
    from torch import nn

    if isinstance(target, nn.Module):
        return Target(text=type(target).__name__, kind="module", name=type(target).__name__, instance=target)
    is_class = isinstance(target, type) and issubclass(target, nn.Module)
    if is_class or (callable(target) and not isinstance(target, type)):
        name = getattr(target, "__name__", type(target).__name__)
        return Target(text=name, kind="module", name=name, factory=target)
    raise TypeError(f"trace() takes a zoo name, a spec file, an import path, an nn.Module, a module class or a "
                    f"function returning a module as its target, not a {type(target).__name__}")


def _batch(batch: int, in_inputs: int | None) -> int:
    if in_inputs is not None and batch not in (1, in_inputs):
        raise UsageError(f"the inputs give batch {in_inputs} but --batch is {batch}: give one")
    return in_inputs or batch


def _device(device: str) -> torch.device:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}: use meta (no memory, the default), cpu or cuda") from None
    if dev.type not in ("meta", "cpu"):
        try:
            torch.empty(0, device=dev)
        except (RuntimeError, AssertionError) as exc:
            reason = str(exc).strip().split(". ")[0][:160] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"device {device!r} is not usable here ({reason}); use meta (no memory, "
                             "the default) or cpu") from None
    return dev


@collector_paused()
def summary(target: str | nn.Module, input_size: Any = None, batch: int = 1, device: str | None = None,
            train: bool = False, convention: str = "torchvision", dtype: str = "float32", analytic: bool = True,
            *, input_data: Any = None, dtypes: Any = None, batch_dim: int | None = 0,
            inputs_from: str | None = None, training: Training | None = None, depth: int | None = 3,
            flops: bool = False, by_type: bool = False, file: Any = None) -> Trace:
    """:func:`trace`, then print its summary table as ``archscope summary`` does: ``depth``
    levels of modules (None: all), FLOPs (2 × MACs) instead of MACs with ``flops``, MACs per
    operator type with ``by_type``, a training step's columns and lines with ``training``.
    Printed with rich to ``file`` (a text stream; default stdout), fitted to a terminal's width (or
    ``COLUMNS``), else whole, as the CLI writes to a pipe (:mod:`archscope.report.console`);
    returns the trace.
    A mismatched expected shape is a red row and a footer line, not an exception (the CLI
    exits 1 on one: :func:`require_expectations`)."""
    from archscope.report import renderer
    from archscope.report.columns import NONE
    from archscope.report.console import write

    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise UsageError(f"depth must be a positive integer or None (every layer), got {echo(depth)}")
    result = trace(target, input_size, batch, device, train, convention, dtype, analytic, input_data=input_data,
                   dtypes=dtypes, batch_dim=batch_dim, inputs_from=inputs_from, training=training)
    extra = NONE
    if result.step is not None:
        from archscope.report.training import training_additions

        extra = training_additions(result, depth, flops)
    write(renderer("table")(result, depth=depth, flops=flops, by_type=by_type, extra=extra), file)
    return result
