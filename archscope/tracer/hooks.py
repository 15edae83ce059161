"""The hook tracer: one forward pass, every module's input and output shapes.

Runs on the meta device by default: shapes and parameter counts need no data, so no
tensor memory is allocated and any input size or batch works. Hooks are installed by a
context manager and removed in ``finally``; train/eval flags are restored; the pass
runs under ``torch.no_grad()``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from archscope.builder.inputs import expects, labelled, materialise, tensors_in
from archscope.errors import USER_CODE_ERRORS, ShapeError, one_line
from archscope.spec.expect import Expect
from archscope.spec.inputs import Inputs, describe_all, fmt_shape
from archscope.tracer.backward import StepTracker
from archscope.tracer.conventions import CONVENTIONS, Convention, recurrent_cost
from archscope.tracer.counting import OpCounter
from archscope.tracer.records import (
    LayerRecord,
    Shape,
    Totals,
    Trace,
    add_inclusive_macs,
    check_expectations,
)
from archscope.tracer.training import Training


def shapes_of(value: Any) -> list[Shape]:
    """Shapes of every tensor inside tensors, tuples, lists and dicts, in order."""
    return [tuple(t.shape) for _, t in tensors_in(value)]


def _nbytes(value: Any) -> int:
    return sum(t.numel() * t.element_size() for _, t in tensors_in(value))


# Called with (label, tensor) for every input, right before the forward pass: the
# dataflow recorder names its input nodes so (module hooks do not see keyword arguments).
INPUT_OBSERVERS: list[Callable[[list[tuple[str, Tensor]]], None]] = []


class _Recorder:
    """Module hooks push and pop calls; the operator counter charges the innermost one.

    # NOTE: a recurrent layer (LSTM, GRU, RNN) is priced by formula when it returns
    # (:func:`archscope.tracer.conventions.recurrent_cost`), and the operators it runs are not:
    # on the CPU they are one fused kernel that no counter can price (``mkldnn_rnn_layer``),
    # on meta a loop of matmuls. The formula gives the same numbers on every device.
    """

    def __init__(self, model: nn.Module, convention: Convention) -> None:
        self.convention = convention
        self.recurrent = 0  # recurrent layers under way
        self.names = {id(m): n for n, m in model.named_modules()}
        self.modules = dict(model.named_modules())  # name -> module, for the counter's context
        self.calls: dict[int, int] = {}
        self.records: list[LayerRecord] = []
        self.stack: list[int] = []  # indices of the calls under way, innermost last
        self.by_category: dict[str, int] = {}
        self.unattributed = 0
        self.step: StepTracker | None = None  # a training step's backward half

    def pre(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        name = self.names[id(module)]
        if self.step is not None:
            if self.step.in_backward:  # a checkpointed module run again: counted as recompute, not recorded
                return
            self.step.entered(args, kwargs, self.stack[-1] if self.stack else None)
        call = self.calls[id(module)] = self.calls.get(id(module), 0) + 1
        rec = LayerRecord(name=name, type=module._get_name(), depth=name.count(".") + 1 if name else 0,
                          call=call, input_shapes=shapes_of((args, kwargs)), is_leaf=not module._modules,
                          parent=self.stack[-1] if self.stack else None)
        self.stack.append(len(self.records))
        self.records.append(rec)
        self.recurrent += isinstance(module, nn.RNNBase)

    def post(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.step is not None and self.step.in_backward:
            return
        if isinstance(module, nn.RNNBase):
            self.recurrent -= 1
            for category, cost in recurrent_cost(module, args[0] if args else None).items():
                if self.convention.counts(category):
                    self.charge("", category, cost, formula=True)
        index = self.stack.pop()
        rec = self.records[index]
        rec.output_shapes = shapes_of(output)
        rec.output_bytes = _nbytes(output)
        if self.step is not None:
            self.step.left(output, index)

    def charge(self, op: str, category: str, cost: int | tuple[int, ...], out: Any = None,
               formula: bool = False) -> None:
        if self.step is not None and self.step.in_backward:
            self.step.charge(op, category, cost, out)
            return
        if self.recurrent and not formula:
            return
        cost = sum(cost) if isinstance(cost, tuple) else cost
        self.by_category[category] = self.by_category.get(category, 0) + cost
        if self.stack:
            self.records[self.stack[-1]].macs += cost
        else:
            self.unattributed += cost

    def running_module(self) -> nn.Module | None:
        """The innermost module under way (the counter decides linear vs matmul by its class);
        in backward, the module whose autograd node is running."""
        if self.step is not None and self.step.in_backward:
            index = self.step.node_record()
            return self.modules[self.records[index].name] if index is not None else None
        rec = self.innermost()
        return self.modules[rec.name] if rec is not None else None

    def innermost(self) -> LayerRecord | None:
        return self.records[self.stack[-1]] if self.stack else None

    def failing(self) -> LayerRecord | None:
        return self.records[self.stack[-1]] if self.stack else None


@contextmanager
def hooked(model: nn.Module, recorder: _Recorder, train: bool = False, grad: bool = False) -> Iterator[None]:
    """Hooks on every module and the requested mode, undone whatever happens; autograd off
    unless ``grad`` (a training step)."""
    # NOTE: torch's attention "fast path" (eval mode, no grad) packs a padded batch into a
    # nested tensor and runs fused kernels: no meta kernels, no sizes for the hooks, and the
    # padded positions skipped. It is turned off while tracing, so the dense computation
    # that the model defines is what is traced and counted, on every device.
    modes = [(m, m.training) for m in model.modules()]
    handles: list[RemovableHandle] = []
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(recorder.pre, with_kwargs=True))
            handles.append(m.register_forward_hook(recorder.post))
        model.train(train)
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.set_grad_enabled(grad):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for h in handles:
            h.remove()
        for m, was_training in modes:
            m.training = was_training


def trace_module(model: nn.Module, inputs: Inputs, *, batch: int = 1, name: str = "model",
                 expectations: Mapping[str, Expect] | None = None,
                 reference_input: tuple[int, ...] | None = None, train: bool = False,
                 dtype: torch.dtype = torch.float32, convention: str = "torchvision",
                 training: Training | None = None,
                 feed: tuple[tuple[Any, ...], dict[str, Any]] | None = None) -> Trace:
    """Run one forward pass of ``model`` on ``inputs`` (zeros of each input's shape and dtype,
    or the user's own tensors; ``feed``, the args and kwargs to call it with instead, is for
    tensors of symbolic sizes, :mod:`archscope.analysis.symbolic_trace`); record every
    module call and price every operator by ``convention`` (see
    :mod:`archscope.tracer.conventions`). With ``training``, in train mode with autograd
    on, followed by a backward pass (:mod:`archscope.tracer.backward`)."""
    device = _device_of(model)
    inputs = inputs.with_dtype(str(dtype).removeprefix("torch."))
    try:
        args, kwargs = feed or materialise(inputs, batch, device)
    except ShapeError as exc:
        raise ShapeError(f"{name}: {exc}") from exc
    for observe in INPUT_OBSERVERS:
        observe(labelled(inputs, args, kwargs, batch))
    rules = CONVENTIONS[convention]
    recorder = _Recorder(model, rules)
    step = recorder.step = StepTracker(model, recorder, training) if training is not None else None
    train = train or step is not None
    counter = OpCounter(rules, recorder.charge, recorder.running_module, step.operator if step else None)
    with hooked(model, recorder, train, grad=step is not None):
        try:
            with counter, step.forward() if step else nullcontext():
                if step is not None:
                    step.observe([t for _, t in tensors_in((args, kwargs))])
                out = model(*args, **kwargs)
        except USER_CODE_ERRORS as exc:  # noqa: BLE001 (the failing layer is reported, not the traceback)
            raise _shape_error(exc, recorder, name, model, inputs, batch) from exc
        forward_not_counted = Counter(counter.not_counted)
        if step is not None:
            try:
                with counter:
                    step.backward(out)
            except USER_CODE_ERRORS as exc:  # noqa: BLE001
                raise _backward_error(exc, recorder, step, name, inputs, batch) from exc
    recorder.records = with_uncalled_containers(model, recorder.records)
    add_inclusive_macs(recorder.records)
    totals = _totals(model)
    totals.macs = sum(r.macs for r in recorder.records) + recorder.unattributed
    totals.activation_bytes = sum(r.output_bytes for r in recorder.records if r.is_leaf)
    trace = Trace(model=name, inputs=inputs, batch=batch, device=str(device),
                  mode="train" if train else "eval", dtype=str(dtype).removeprefix("torch."),
                  layers=recorder.records, totals=totals, output_shapes=shapes_of(out),
                  reference_input=tuple(reference_input) if reference_input else None,
                  convention=rules.name, convention_text=rules.description,
                  macs_by_category=dict(sorted(recorder.by_category.items(), key=lambda kv: -kv[1])),
                  not_counted=dict(forward_not_counted.most_common()))
    if step is not None:
        step.cost.forward_macs = totals.macs
        step.cost.not_counted = dict((counter.not_counted - forward_not_counted).most_common())
        trace.step = step.cost
    _attribute_params(model, trace)
    check_expectations(trace, expectations or {})
    return trace


def with_uncalled_containers(model: nn.Module, records: list[LayerRecord]) -> list[LayerRecord]:
    """``records`` with a record for every container that was never called itself but whose
    layers ran (a ModuleList or Sequential that forward loops over, a head called part by
    part), placed before its first layer and made their caller: so a table at any depth
    shows it, with its subtree's parameters and MACs, and the columns still sum to the totals."""
    called = {r.name for r in records}
    types = {n: m._get_name() for n, m in model.named_modules()}
    out: list[LayerRecord] = []
    new_index: dict[int, int] = {}
    made: dict[tuple[str, int | None], int] = {}  # (container, caller's new index) -> its record
    for i, rec in enumerate(records):
        parent = new_index[rec.parent] if rec.parent is not None else None
        if parent is not None:
            caller = out[parent].name
            for container in reversed(_prefixes(rec.name)[1:]):  # outermost first
                inside = not caller or container.startswith(caller + ".")
                if container in called or container not in types or not inside:
                    continue
                if (container, parent) not in made:
                    made[(container, parent)] = len(out)
                    out.append(LayerRecord(name=container, type=types[container], depth=container.count(".") + 1,
                                           call=sum(c == container for c, _ in made), is_leaf=False, parent=parent,
                                           called=False))
                parent = made[(container, parent)]
        rec.parent = parent
        new_index[i] = len(out)
        out.append(rec)
    return out


def _device_of(model: nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def _totals(model: nn.Module) -> Totals:
    params = list(model.parameters())  # each shared tensor once
    buffers = list(model.buffers())
    return Totals(params=sum(p.numel() for p in params),
                  trainable_params=sum(p.numel() for p in params if p.requires_grad),
                  buffers=sum(b.numel() for b in buffers),
                  param_bytes=sum(p.numel() * p.element_size() for p in params),
                  buffer_bytes=sum(b.numel() * b.element_size() for b in buffers))


def _prefixes(name: str) -> list[str]:
    """``a.b.c`` and every module above it: ``a.b.c``, ``a.b``, ``a``, ``""``."""
    parts = name.split(".") if name else []
    return [".".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _attribute_params(model: nn.Module, trace: Trace) -> None:
    """Own and subtree parameters per module; tied tensors and repeated calls counted once."""
    owner: dict[int, str] = {}
    own: dict[str, tuple[int, int, int, list[str]]] = {}
    subtree: dict[str, int] = {}
    for mname, m in model.named_modules():
        total = trainable = 0
        tied = []
        for pname, p in m.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if id(p) in owner:
                tied.append(f"{pname} = {owner[id(p)]}")
                trace.tied.append((full, owner[id(p)]))
                continue
            owner[id(p)] = full
            total += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        own[mname] = (total, trainable, sum(b.numel() for b in m.buffers(recurse=False)), tied)
        subtree[mname] = 0
        node = mname
        while True:  # add to this module and every ancestor
            subtree[node] += total
            if not node:
                break
            node = _parent(node)
    called = set()
    for rec in trace.layers:
        rec.params_total = subtree.get(rec.name, 0)
        if rec.call == 1:
            rec.params, rec.trainable_params, rec.buffers, rec.tied = own.get(rec.name, (0, 0, 0, []))
            called.add(rec.name)
        elif rec.call == 2:
            trace.called_again.append(rec.name)
    # the topmost modules that never ran (e.g. an auxiliary head in eval mode)
    # (a container that is never called itself, a ModuleList looped over, did run if its layers did)
    ran = {prefix for name in called for prefix in _prefixes(name)}
    trace.not_run = [(n, subtree[n]) for n in own if n and n not in ran and _parent(n) in ran]


def _backward_error(exc: BaseException, recorder: _Recorder, step: StepTracker, name: str, inputs: Inputs,
                    batch: int) -> ShapeError:
    last = recorder.records[step.last] if step.last is not None else None
    after = f" (the last layer whose backward ran: {last.name or 'the model'}, {last.type})" if last else ""
    return ShapeError(f"{name} runs forward on {describe_all(inputs, batch)} but its backward pass breaks{after}: "
                      f"{one_line(exc, 300)}")


def _shape_error(exc: BaseException, recorder: _Recorder, name: str, model: nn.Module, inputs: Inputs,
                 batch: int) -> ShapeError:
    text = str(exc).strip()
    reason = one_line(exc) if isinstance(exc, SystemExit) or not text else text.splitlines()[0][:300]
    failing = recorder.failing()
    if failing is None or not failing.name:
        where = "in the model's own forward code"
        shapes = ""
    else:
        where = f"at layer {failing.name} ({failing.type})"
        shapes = f" on input {', '.join(fmt_shape(s, None) for s in failing.input_shapes)}"
    first = expects(model)
    word = "input" if len(inputs.leaves()) == 1 else "inputs"
    ran = [r for r in recorder.records if r.output_shapes]
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    fed = sum(leaf.nbytes(batch) for leaf in inputs.leaves())
    err = ShapeError(f"{name} cannot run on {word} {describe_all(inputs, batch)}: it breaks "
                     f"{where}{shapes}: {reason}" + (f" ({first})" if first else ""), partial=ran,
                     cpu_bytes=weights + fed + 2 * max((r.output_bytes for r in ran), default=0),
                     layer=(failing.name, failing.type) if failing is not None and failing.name else None,
                     reason=reason)
    return err
