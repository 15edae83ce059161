"""A training step, counted on the meta device: backward MACs per layer, saved tensors, memory.

The hook tracer runs the forward pass with autograd on, then a real ``backward()`` of the
sum of the outputs under the same operator counter (:mod:`archscope.tracer.counting`).
Four observations make the per-layer numbers:

- **Which layer a backward operator belongs to.** After every module call, the autograd
  nodes it created (walked back from its outputs to what existed before it) are tagged
  with its record; in backward, ``torch._C._current_autograd_node()`` names the node that
  is running, so its operators are charged to that record.
- **Input or weight gradient.** A hook on every trainable parameter receives its gradient;
  the priced operator that made that tensor (found by its storage) moves from the input-
  gradient column to the weight-gradient column. A frozen parameter gets no gradient, and
  the first layer's input needs none: autograd itself leaves both out.
- **Saved for backward.** ``torch.autograd.graph.saved_tensors_hooks`` sees every tensor
  autograd keeps; each storage is counted once (a view and its base, an in-place result and
  its input are one), parameters and buffers not at all (the model holds them anyway).
- **What is alive.** Every operator's output storage is counted while it lives (a weak
  reference on the storage tells when it is freed), in forward and backward: the peaks.

The optimizer's state and its step's temporaries are multiples of the trainable
parameters (:mod:`archscope.tracer.training`): an optimizer cannot step on meta tensors.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from archscope.builder.inputs import tensors_in
from archscope.errors import UsageError
from archscope.tracer.records import StepCost
from archscope.tracer.training import AMP_MODES, Training, matching

if TYPE_CHECKING:
    from archscope.tracer.hooks import _Recorder

_TAG = "archscope"  # the key in an autograd node's metadata: the index of the record that made it
_PHASES = ("forward", "backward")
_CARRIED = {"_to_copy", "clone", "add", "add_"}  # backward operators that pass a gradient on as it is


def _storages(value: Any) -> Iterator[Any]:
    for t in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(t, Tensor) and not t.is_sparse and t.layout == torch.strided:
            yield t.untyped_storage()


def _metadata(node: Any) -> dict[str, Any]:
    """An autograd node's own dict (kept on the C++ node, whatever Python object wraps it)."""
    return cast(dict[str, Any], node.metadata)


class StepTracker:
    """The backward half of a trace: installed beside the forward recorder by ``trace_module``."""

    def __init__(self, model: nn.Module, recorder: _Recorder, training: Training) -> None:
        self.recorder = recorder
        self.training = training
        self.cost = StepCost(optimizer=training.optimizer, amp=training.amp)
        self.frozen = freeze(model, training.freeze)
        self.cost.frozen = sum(p.numel() for p in self.frozen)
        self.params = list(dict.fromkeys(p for p in model.parameters() if p.requires_grad))
        held = [*model.parameters(), *model.buffers()]
        self.held = {t.untyped_storage()._cdata for t in held}
        self.cost.weight_bytes = sum(t.numel() * t.element_size() for t in dict.fromkeys(held))
        self.in_backward = False
        self.last: int | None = None  # the record whose backward ran last (for an error)
        self.live = 0
        self.alive: dict[int, weakref.ref[Any]] = {}  # storage -> weak reference; freed: removed
        self.saved: set[int] = set()  # storages kept for backward (still alive)
        self.made: dict[int, list[tuple[int | None, int]]] = {}  # storage -> (record, MACs) that made it, in backward
        self.peaks = dict.fromkeys(_PHASES, 0)
        self.recomputing = 0  # checkpointed modules being run again, in backward
        if not self.params:
            raise UsageError("nothing to train: the model has no trainable parameters"
                             + (f" (--freeze matched all {self.cost.frozen:,})" if self.frozen else ""))
        self.cost.checkpointed = checkpoint(model, training.checkpoint, self)

    # ------------------------------------------------------------ forward: tags and saved tensors

    def entered(self, args: Any, kwargs: Any, caller: int | None) -> None:
        """Before a module call: what exists already was made by the caller's own code."""
        self._tag(tensors_in((args, kwargs)), caller)

    def left(self, output: Any, index: int) -> None:
        """After a module call: the untagged nodes behind its outputs are its own."""
        self._tag(tensors_in(output), index)

    @staticmethod
    def _tag(tensors: list[tuple[str, Tensor]], index: int | None) -> None:
        todo = [t.grad_fn for _, t in tensors if t.grad_fn is not None]
        while todo:
            node = todo.pop()
            meta = _metadata(node)
            if _TAG in meta or type(node).__name__ == "AccumulateGrad":
                continue
            meta[_TAG] = index
            todo.extend(n for n, _ in node.next_functions if n is not None)

    def pack(self, t: Tensor) -> Tensor:
        if t.layout != torch.strided or t.is_sparse:
            return t
        storage = t.untyped_storage()
        key = storage._cdata
        if key not in self.held and key not in self.saved:
            self.observe(t)  # an input saved as it is: alive, and now known
            self.saved.add(key)
            rec = self.recorder.innermost()
            size = storage.nbytes()
            self.cost.saved_bytes += size
            if rec is not None:
                rec.saved_bytes += size
        return t

    # ------------------------------------------------------------ memory

    def operator(self, op: str, args: tuple[Any, ...], out: Any) -> None:
        """Every operator of both passes (from the counter): its output's memory; in backward,
        a gradient carried on by a cast (autocast's float32 weight) or a sum (a tied weight's
        two gradients) is still the one its operator made."""
        self.observe(out)
        if self.in_backward and op in _CARRIED and isinstance(out, Tensor):
            made = [m for t in args if isinstance(t, Tensor) for m in self.made.get(t.untyped_storage()._cdata, [])]
            if made:
                self.made[out.untyped_storage()._cdata] = made

    def observe(self, out: Any) -> None:
        """Count every new storage among ``out`` until it is freed."""
        index = self.node_record() if self.in_backward else None
        if index is not None:
            self.last = index
        for storage in _storages(out):
            key = storage._cdata
            if key in self.alive or key in self.held:
                continue
            size = storage.nbytes()
            self.alive[key] = weakref.ref(storage, functools.partial(self._freed, key, size))
            self.live += size
            phase = _PHASES[self.in_backward]
            self.peaks[phase] = max(self.peaks[phase], self.live)

    def _freed(self, key: int, size: int, _: Any = None) -> None:
        self.live -= size
        self.alive.pop(key, None)
        self.saved.discard(key)
        self.made.pop(key, None)

    # ------------------------------------------------------------ backward

    def charge(self, op: str, category: str, cost: int | tuple[int, ...], out: Any) -> None:
        """A priced operator of the backward pass (or of a checkpointed module run again)."""
        parts = cost if isinstance(cost, tuple) else (cost,)
        if self.recomputing:  # a total only: the layers' columns are their gradients
            self.cost.recompute_macs += sum(parts)
            return
        index = self.node_record()
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for t, part in zip(outs, parts, strict=False):
            if part and isinstance(t, Tensor):
                self.made[t.untyped_storage()._cdata] = [(index, part)]
        self._add(index, "grad_input_macs", sum(parts))

    def node_record(self) -> int | None:
        node = torch._C._current_autograd_node()
        return _metadata(node).get(_TAG) if node is not None else None

    def _add(self, index: int | None, field: str, macs: int) -> None:
        setattr(self.cost, field, getattr(self.cost, field) + macs)
        if index is not None:
            rec = self.recorder.records[index]
            setattr(rec, field, getattr(rec, field) + macs)

    def _weight_grad(self, owners: set[str], grad: Tensor) -> None:
        """A parameter's gradient: the operators of its own modules that made it made a weight gradient."""
        made = self.made.pop(grad.untyped_storage()._cdata, []) if grad.layout == torch.strided else []
        for index, macs in made:
            if index is not None and self.recorder.records[index].name in owners:
                self._add(index, "grad_input_macs", -macs)
                self._add(index, "grad_weight_macs", macs)

    @contextmanager
    def forward(self) -> Iterator[None]:
        """The forward pass: saved tensors counted; under autocast when ``amp`` asks for it."""
        with torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t), self.autocast():
            yield

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        low = self.training.amp
        return Autocast(getattr(torch, AMP_MODES[low])) if low else contextlib.nullcontext()

    def backward(self, out: Any) -> None:
        """Backward of the sum of every floating output that needs a gradient."""
        heads = [t for _, t in tensors_in(out) if t.grad_fn is not None and t.is_floating_point()]
        if not heads:
            raise UsageError("no output of the model depends on a trainable parameter: there is nothing to "
                             "backpropagate")
        loss = heads[0].sum() if len(heads) == 1 else torch.stack([t.sum() for t in heads]).sum()
        owners: dict[int, set[str]] = {}
        for name, module in self.recorder.modules.items():
            for p in module.parameters(recurse=False):
                owners.setdefault(id(p), set()).add(name)
        handles = [p.register_hook(functools.partial(self._weight_grad, owners.get(id(p), set())))
                   for p in self.params]
        self.in_backward = True
        try:
            loss.backward()
        finally:
            self.in_backward = False
            for h in handles:
                h.remove()
        self._finish()

    def _finish(self) -> None:
        """The terms that are multiples of the trainable parameters (optimizers keep their
        state in the parameters' dtype: float32 master weights under ``amp``), and the peaks."""
        cost, rules = self.cost, self.training.rules
        # a parameter this forward pass does not use (a head not run, an embedding bypassed) gets no
        # gradient, so no optimizer state either: optimizers skip parameters whose grad is None
        cost.grad_bytes = sum(p.numel() * p.element_size() for p in self.params if p.grad is not None)
        cost.optimizer_bytes = rules.state * cost.grad_bytes
        cost.step_temporary_bytes = rules.temporaries * cost.grad_bytes
        held = cost.weight_bytes + cost.optimizer_bytes
        cost.peaks = {"forward": held + self.peaks["forward"], "backward": held + self.peaks["backward"],
                      "optimizer step": held + self.live + cost.step_temporary_bytes}


def freeze(model: nn.Module, patterns: Any) -> list[nn.Parameter]:
    """Turn off the gradients of the parameters ``patterns`` match (the model is the tracer's copy)."""
    if not patterns:
        return []
    names = dict(model.named_parameters())
    hit = matching(patterns, list(names) + [n for n, _ in model.named_modules() if n], "--freeze")
    frozen = [p for n, p in names.items() if any(n == h or n.startswith(h + ".") for h in hit)]
    for p in frozen:
        p.requires_grad_(False)
    return frozen


def checkpoint(model: nn.Module, patterns: Any, step: StepTracker) -> list[str]:
    """Run the modules ``patterns`` match under ``torch.utils.checkpoint`` (non-reentrant): their
    activations are not kept but made again in backward, where their MACs count as recompute.
    What a checkpointed call keeps is its inputs: counted as saved."""
    if not patterns:
        return []
    from torch.utils.checkpoint import checkpoint as run_checkpointed

    modules = dict(model.named_modules())
    names = sorted(matching(patterns, [n for n in modules if n], "--checkpoint"))
    names = [n for n in names if not any(n.startswith(o + ".") for o in names)]  # the outermost of nested ones
    for name in names:
        module = modules[name]
        module.forward = functools.partial(_checkpointed, module.forward, run_checkpointed, step)
    return names


def _checkpointed(forward: Callable[..., Any], run: Callable[..., Any], step: StepTracker,
                  *args: Any, **kwargs: Any) -> Any:
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    for _, t in tensors_in((args, kwargs)):
        step.pack(t)

    def again(*a: Any, **k: Any) -> Any:
        if not step.in_backward:
            return forward(*a, **k)
        step.recomputing += 1
        try:  # under the forward's autocast, as torch.utils.checkpoint recomputes
            with step.autocast():
                return forward(*a, **k)
        finally:  # also when checkpoint stops the recomputation early (by raising)
            step.recomputing -= 1

    return run(again, *args, use_reentrant=False, **kwargs)


# PyTorch's autocast lists (ATen's autocast_mode.h, as on CUDA): what runs in the low precision,
# and what is kept in float32 (on the CPU, autocast keeps only the losses in float32)
_LOW_PRECISION = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d,
                  F.linear, F.prelu, F.scaled_dot_product_attention, torch.matmul, torch.mm, torch.bmm,
                  torch.addmm, torch.baddbmm, torch.addbmm, torch.einsum, torch.chain_matmul,
                  Tensor.matmul, Tensor.__matmul__, Tensor.__rmatmul__, Tensor.mm, Tensor.bmm}
_FLOAT32 = {F.layer_norm, F.group_norm, F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, Tensor.softmax,
            Tensor.log_softmax, torch.exp, Tensor.exp, torch.log, torch.pow, Tensor.pow, torch.rsqrt,
            torch.reciprocal, torch.cumsum, torch.logsumexp, F.cross_entropy, F.nll_loss, F.mse_loss, F.l1_loss,
            F.smooth_l1_loss, F.binary_cross_entropy_with_logits, F.kl_div, F.softplus, torch.norm, Tensor.norm}


class Autocast(TorchFunctionMode):
    """``torch.autocast`` for tensors of any device (meta has no autocast of its own): floating
    arguments of the operators in the low-precision list are cast to ``dtype``, those of the
    float32 list to float32; a parameter is cast once per forward pass (autocast's weight cache)."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.cache: dict[int, Tensor] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        try:
            target = self.dtype if func in _LOW_PRECISION else torch.float32 if func in _FLOAT32 else None
        except TypeError:  # an unhashable callable
            target = None
        if target is not None:
            args, kwargs = tree_map(functools.partial(self._cast, target), (args, kwargs))
        return func(*args, **kwargs)

    def _cast(self, dtype: torch.dtype, t: Any) -> Any:
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dtype == dtype:
            return t
        if not (t.is_leaf and t.requires_grad):
            return t.to(dtype)
        key = id(t)
        if key not in self.cache or self.cache[key].dtype != dtype:
            self.cache[key] = t.to(dtype)
        return self.cache[key]

    def __exit__(self, *exc: Any) -> Any:
        self.cache.clear()
        return super().__exit__(*exc)
