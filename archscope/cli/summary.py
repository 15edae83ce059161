"""``archscope summary MODEL``: per-layer shapes and parameters, expectations checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archscope.cli.options import (
    AmpOption,
    BatchDimOption,
    BatchOption,
    CheckpointOption,
    DeviceOption,
    FreezeOption,
    InputOption,
    InputsFromOption,
    ModelArgument,
    OptimizerOption,
    OutputOption,
    TrainingFlag,
    fed,
    training_of,
)
from archscope.report import FORMATS
from archscope.spec.inputs import FLOAT_DTYPES
from archscope.tracer.conventions import CONVENTIONS

FLOPS_HELP = ("Show FLOPs instead of MACs. FLOPs = 2 × MACs: one multiply-accumulate is two floating-point "
              "operations (torchvision's 'GFLOPS' and fvcore's 'flops' are MACs).")


if TYPE_CHECKING:  # the members are the registries' keys, which mypy cannot see
    Convention = Any
    Dtype = Any
    Format = Any
else:  # the choices, in the registries' order
    Convention = Enum("Convention", {k: k for k in CONVENTIONS}, type=str)  # archscope.tracer.conventions
    Dtype = Enum("Dtype", {k: k for k in FLOAT_DTYPES}, type=str)  # the parameters' float types
    Format = Enum("Format", {k: k for k in FORMATS}, type=str)  # archscope.report's renderers


def summary(
    model: ModelArgument,
    input: InputOption = None,
    inputs_from: InputsFromOption = None,
    batch: BatchOption = 1,
    batch_dim: BatchDimOption = 0,
    depth: Annotated[int | None, typer.Option("--depth", "-d", min=1, show_default=False,
                                              help="Module depth to show. Default: 3 for table and "
                                                   "markdown, every layer for json and csv.")] = None,
    device: DeviceOption = None,
    train: Annotated[bool, typer.Option("--train", help="Trace in training mode (auxiliary heads run and "
                                                        "are counted).")] = False,
    flops: Annotated[bool, typer.Option("--flops", help=FLOPS_HELP)] = False,
    convention: Annotated[Convention, typer.Option(help="What is counted: torchvision (conv, linear, matmul, "
                                                        "attention; reproduces torchvision's published numbers), "
                                                        "fvcore (reproduces fvcore's FlopCountAnalysis), full (also "
                                                        "norm, activations, pooling, elementwise). See "
                                                        "docs/counting.md.")] = Convention.torchvision,
    dtype: Annotated[Dtype, typer.Option(help="Parameter and activation type, for memory.")] = Dtype.float32,
    traced: Annotated[bool, typer.Option("--traced", help="Run a meta-device forward pass even where the "
                                                          "numbers follow from the spec (zoo models and spec "
                                                          "files in eval mode are computed from it; both give "
                                                          "the same numbers).")] = False,
    by_type: Annotated[bool, typer.Option("--by-type", help="Add MACs per operator type (conv, linear, matmul, "
                                                            "attention, norm, ...).")] = False,
    symbolic: Annotated[bool, typer.Option("--symbolic", help="Write output shapes as formulas of the input's "
                                                              "N, H, W or L (N×64×⌈H/4⌉×⌈W/4⌉), and MACs and "
                                                              "activation memory as formulas too (from the spec "
                                                              "for zoo models and spec files; any other model "
                                                              "is traced with symbolic sizes). See "
                                                              "docs/analysis.md.")] = False,
    receptive_field: Annotated[bool, typer.Option("--receptive-field", help="Add each layer's receptive field, "
                                                                            "jump (effective stride) and start "
                                                                            "(any model fed an image; from the "
                                                                            "spec for zoo models and spec files). "
                                                                            "See docs/analysis.md.")] = False,
    training: TrainingFlag = False,
    optimizer: OptimizerOption = None,
    amp: AmpOption = None,
    freeze: FreezeOption = None,
    checkpoint: CheckpointOption = None,
    fmt: Annotated[Format | None, typer.Option("--format", "-f", show_default=False,
                                               help="Output format. Default: from the suffix of --output "
                                                    "(.json, .csv, .md, .txt, .html), else table. html: one "
                                                    "self-contained page with the table and the dataflow "
                                                    "diagram (docs/report.md).")] = None,
    output: OutputOption = None,
) -> None:
    """Show every layer's output shape, parameters, MACs and output memory, with totals,
    the counting convention, and expected-shape checks.

    With --training (or --optimizer, --amp, --freeze, --checkpoint): the cost of a whole
    training step too, backward MACs and saved activations per layer, gradients, optimizer
    state and the peak memory of each phase.

    Runs on the meta device by default: no memory is allocated, any input size and batch
    works. Exit code 1 when an expected shape does not match.
    """
    from archscope.api import require_expectations, spec_of, trace
    from archscope.cli.options import model_files
    from archscope.cli.output import emit, format_for
    from archscope.fileio import check_writable
    from archscope.report import renderer
    from archscope.report.columns import NONE, merged
    from archscope.snapshot.files import kind_of

    step = training_of(training, optimizer, amp, freeze, checkpoint)
    train = train or step is not None  # a training step runs its forward in training mode
    if output:
        check_writable(output, reads=model_files(model, inputs_from))
    fmt = Format(format_for(fmt, output))
    html = fmt.value == "html"  # the report draws the dataflow too: a traced forward pass, recorded
    module = kind_of(model) == "import"  # a user's module: fields and formulas from its pass
    module_fields = receptive_field and module
    with _recording(html) as flow, _fields(module_fields) as recorder:
        result = trace(model, batch=batch, device=device, train=train, convention=convention.value,
                       dtype=dtype.value, analytic=not traced and not html, training=step,
                       **fed(input, inputs_from, batch_dim))
    if depth is None and fmt.value in ("table", "markdown", "html"):
        depth = 3
    extra = NONE
    if symbolic or receptive_field:
        from archscope.report import analysis

        fields, note = None, None
        if recorder is not None:
            fields, note = analysis.module_fields(recorder)
        elif receptive_field:
            from archscope.analysis.receptive import by_module

            fields = analysis.spec_fields(by_module(spec_of(model, "--receptive-field"), train))
        formulas, why = _formulas(model, result, train, convention.value, dtype.value) if symbolic else (None, None)
        extra = analysis.analysis_additions(result, formulas, fields, train, note, why)
    if result.step is not None:
        from archscope.report.training import training_additions

        extra = merged(extra, training_additions(result, depth, flops))
    more = {"flow": flow.graph(result)} if flow is not None else {}
    emit(renderer(fmt.value)(result, depth=depth, flops=flops, by_type=by_type, extra=extra, **more), output)
    if html:
        from archscope.report.diagram import dot_missing

        if dot_missing():
            typer.echo(f"archscope: note: the report has no diagram, only the table: {dot_missing()}", err=True)
    require_expectations(result)


def _formulas(model: str, result: Any, train: bool, convention: str, dtype: str) -> tuple[Any, str | None]:
    """The symbolic shapes (from the spec, or a pass with symbolic sizes fed what ``result``
    was), or None and why not: the numbers are shown either way."""
    from archscope.analysis.symbolic_trace import SymbolicError
    from archscope.api import symbolic_shapes
    from archscope.cli.output import progress

    try:
        with progress("archscope: tracing with symbolic sizes", "layer calls") as step:
            return symbolic_shapes(model, result.inputs, result.batch, train, convention=convention, dtype=dtype,
                                   progress=step), None
    except SymbolicError as exc:
        return None, str(exc)


@contextmanager
def _fields(on: bool) -> Iterator[Any]:
    """The receptive-field recorder around the trace when ``on`` (a module without a spec), else None."""
    if not on:
        yield None
        return
    from archscope.analysis.fields import recording_fields

    with recording_fields() as recorder:
        yield recorder


@contextmanager
def _recording(on: bool) -> Iterator[Any]:
    """The dataflow recorder around the trace when ``on`` (the HTML report's diagram), else None."""
    if not on:
        yield None
        return
    from archscope.tracer.dataflow import recording

    with recording() as flow:
        yield flow
