"""archscope's input API on a corpus of user models of every kind (tests/user_corpus.py).

Python: ``archscope.trace(model, input_size=..., dtypes=..., batch=..., batch_dim=...)``
and ``input_data=`` (real tensors: shapes and dtypes taken, data never copied). Command
line: ``--input [NAME=]SHAPE[:DTYPE]`` (per sample; ``--batch`` inserted at ``--batch-dim``)
and ``--inputs-from file.py:func``. For every case: the meta trace's params, output shapes
and MACs equal independent references (each tensor counted once; the closed formula;
``FlopCounterMode`` // 2 of a real CPU forward), ``input_data`` gives the same trace, and
``summary``, ``graph``, ``snapshot`` and ``check`` agree on the command line.

The command line parts are the tests named ``test_cli_*`` (deselect with ``-k "not cli"``).
To keep to a few torch imports, one subprocess runs every case's four commands through
archscope's console entry point (``archscope.cli.main:main``, what ``python -m archscope``
runs), from the repository root; ``test_cli_python_m_archscope`` runs the real
``python -m archscope`` for one case of each input route.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
import torchinfo
from torch import nn
from user_corpus import CASES, Case, flop_counter_macs, unfused_kernels, unique_params, unique_trainable_params

import archscope

ROOT = Path(__file__).resolve().parent.parent
BATCH = 2
IDS = [c.name for c in CASES]
BY_NAME = {c.name: c for c in CASES}
DTYPES = {name: getattr(torch, name) for name in ("float32", "float16", "bfloat16", "float64", "int64", "int32",
                                                  "int16", "int8", "uint8", "bool", "complex64")}

Spec = tuple[tuple[int, ...], torch.dtype]  # one input tensor as the grammar describes it


# ---------------------------------------------------------------- helpers


def leaves(obj: Any) -> list[Any]:
    """Tensors (and shapes) in order of appearance: tuples and lists in order, dicts in key order."""
    if isinstance(obj, (torch.Tensor, torch.Size)):
        return [obj]
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in leaves(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in leaves(v)]
    return []


def structure(obj: Any) -> Any:
    """The nesting of ``obj`` with every tensor replaced by its (shape, dtype)."""
    if isinstance(obj, torch.Tensor):
        return tuple(obj.shape), obj.dtype
    if isinstance(obj, Mapping):
        return {k: structure(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(structure(v) for v in obj)
    return obj


def bound(model: nn.Module, args: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments by parameter name, as the forward would receive them (positional or keyword alike)."""
    return dict(inspect.signature(model.forward).bind(*args, **kwargs).arguments)


def as_input_data(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The example as ``input_data`` takes it: one tensor, a tuple of positional arguments or a dict of
    keyword arguments. A call with both (``ids`` and ``src_key_padding_mask=``, ``x`` and ``scale=``)
    is bound to the forward's signature and given all by name: input_data has no (args, kwargs) form."""
    if not kwargs:
        return args[0] if len(args) == 1 and isinstance(args[0], torch.Tensor) else args
    return kwargs if not args else bound(model, args, kwargs)


def read_inputs_from(obj: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """What an ``--inputs-from`` function's value means: a tensor or a torch.Size is one argument (a
    Size is a tuple, so it is tested first), a dict keyword arguments, a pair ``(tuple, dict)`` args and
    kwargs, a tuple or list positional arguments."""
    if isinstance(obj, torch.Size):
        return (torch.empty(obj),), {}
    if isinstance(obj, torch.Tensor):
        return (obj,), {}
    if isinstance(obj, Mapping):
        return (), dict(obj)
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], tuple) and isinstance(obj[1], Mapping):
        return obj[0], dict(obj[1])
    assert isinstance(obj, (tuple, list)), obj
    return tuple(obj), {}


def with_batch(shape: tuple[int, ...], batch: int, batch_dim: int) -> tuple[int, ...]:
    return (*shape[:batch_dim], batch, *shape[batch_dim:])


def specs_from_cli(cli: tuple[str, ...], batch: int) -> tuple[list[Spec], dict[str, Spec]]:
    """The grammar's reading of ``--input [NAME=]SHAPE[:DTYPE]`` and ``--batch-dim`` (a reference for the
    corpus's own strings, not archscope's parser)."""
    batch_dim = int(cli[cli.index("--batch-dim") + 1]) if "--batch-dim" in cli else 0
    args: list[Spec] = []
    kwargs: dict[str, Spec] = {}
    for flag, value in zip(cli[::2], cli[1::2], strict=True):
        if flag != "--input":
            continue
        name, _, rest = value.rpartition("=")
        shape_text, _, dtype = rest.partition(":")
        spec = with_batch(tuple(int(d) for d in shape_text.split("x")), batch, batch_dim), DTYPES[dtype or "float32"]
        if name:
            kwargs[name] = spec
        else:
            args.append(spec)
    return args, kwargs


def specs_from_api(api: Mapping[str, Any], batch: int) -> tuple[list[Spec], dict[str, Spec]]:
    """The same for ``input_size``, ``dtypes`` and ``batch_dim`` of archscope.trace (none: no input)."""
    if "input_size" not in api:
        return [], {}
    size, batch_dim = api["input_size"], api.get("batch_dim", 0)
    named = isinstance(size, Mapping)
    shapes = list(size.values()) if named else list(size) if isinstance(size, list) else [size]
    dtypes = api.get("dtypes", "float32")
    dtypes = [dtypes] * len(shapes) if isinstance(dtypes, str) else list(dtypes)
    specs = [(with_batch(tuple(s), batch, batch_dim), DTYPES[d]) for s, d in zip(shapes, dtypes, strict=True)]
    return ([], dict(zip(size, specs, strict=True))) if named else (specs, {})


def api_trace(case: Case, model: nn.Module) -> Any:
    """``archscope.trace`` with the case's keyword arguments: per-sample sizes at batch 2, or input_data
    (which carries its batch)."""
    batch = {"batch": BATCH} if "input_size" in case.api else {}
    return archscope.trace(model, **case.api, **batch)


@functools.cache
def reference_trace(name: str) -> Any:
    return api_trace(BY_NAME[name], BY_NAME[name].build())


def layer_rows(trace: Any) -> list[tuple[Any, ...]]:
    return [(r.name, r.call, r.input_shapes, r.output_shapes) for r in trace.layers]


# ---------------------------------------------------------------- the corpus itself (no archscope)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")  # TransformerEncoder's fast path
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_corpus_examples_run_and_match_their_formulas(case: Case) -> None:
    model = case.build()
    args, kwargs = case.example(BATCH)
    with torch.no_grad():
        out = model(*args, **kwargs)
    assert tuple(tuple(t.shape) for t in leaves(out)) == case.output_shapes
    assert len(leaves((args, kwargs))) == case.inputs
    if case.macs is not None:
        assert flop_counter_macs(model, args, kwargs) == case.macs
    again = case.example(BATCH + 1)  # every example builds any batch
    with torch.no_grad():
        model(*again[0], **again[1])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_corpus_inputs_describe_the_example(case: Case) -> None:
    """The corpus's --input strings, input_size/dtypes and --inputs-from functions all mean its example."""
    model = case.build()
    args, kwargs = case.example(BATCH)
    expected = structure(bound(model, args, kwargs))
    if case.inputs_from:
        func = case.cli[case.cli.index("--inputs-from") + 1].rpartition(":")[2]
        got_args, got_kwargs = read_inputs_from(getattr(sys.modules[Case.__module__], func)())
        assert structure(bound(model, got_args, got_kwargs)) == expected
    else:
        assert bound(model, *specs_from_cli(case.cli, BATCH)) == expected
    if "input_data" in case.api:
        assert structure(case.api["input_data"]) == structure(as_input_data(model, args, kwargs))
    else:
        assert bound(model, *specs_from_api(case.api, BATCH)) == expected


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torchinfo_agrees_on_total_params(case: Case) -> None:
    model = case.build()
    args, kwargs = case.example(BATCH)
    with unfused_kernels():  # torchinfo cannot size the nested tensors of the transformer fast path
        stats = torchinfo.summary(model, input_data=list(args), verbose=0, mode="eval", device="cpu", **kwargs)
    shared = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False)) - unique_params(model)
    assert (shared > 0) == (case.target == "TiedLM")
    # torchinfo counts a shared tensor once per module that holds it (TiedLM's 50×16 matrix twice)
    assert stats.total_params == unique_params(model) + shared


# ---------------------------------------------------------------- the Python API


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api_trace_on_meta_matches_the_references(case: Case) -> None:
    model = case.build()
    trace = api_trace(case, model)
    assert trace.device == "meta"
    assert trace.totals.params == unique_params(model)
    assert trace.totals.trainable_params == unique_trainable_params(model)
    assert trace.output_shapes == list(case.output_shapes)
    args, kwargs = case.example(BATCH)
    assert trace.totals.macs == flop_counter_macs(model, args, kwargs)
    if case.macs is not None:
        assert trace.totals.macs == case.macs
    assert all(p.device.type == "cpu" for p in model.parameters())  # the user's instance is untouched


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api_input_data_gives_the_same_trace(case: Case) -> None:
    model = case.build()
    args, kwargs = case.example(BATCH)
    before = [t.clone() for t in leaves((args, kwargs))]
    trace = archscope.trace(model, input_data=as_input_data(model, args, kwargs))
    ref = reference_trace(case.name)
    assert trace.device == "meta"
    assert (trace.totals.params, trace.totals.trainable_params, trace.totals.macs, trace.output_shapes) == (
        ref.totals.params, ref.totals.trainable_params, ref.totals.macs, ref.output_shapes)
    assert layer_rows(trace) == layer_rows(ref)
    after = leaves((args, kwargs))
    assert all(a.device.type == "cpu" and torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_api_an_empty_list_of_sizes_or_data_is_a_forward_without_arguments() -> None:
    """``input_size`` is a list of per-sample shapes for positional inputs: a list of none feeds none,
    as ``input_data=()`` and giving nothing do (NoInput.forward() takes no argument)."""
    case = BY_NAME["no_input"]
    ref = reference_trace(case.name)
    forms: list[dict[str, Any]] = [{"input_size": []}, {"input_data": ()}]
    for given in forms:
        trace = archscope.trace(case.build(), **given)
        assert (trace.totals.params, trace.totals.macs, trace.output_shapes) == (
            ref.totals.params, ref.totals.macs, ref.output_shapes), given


# ---------------------------------------------------------------- the command line

DRIVER = r"""
import contextlib, io, json, sys, traceback
from archscope.cli.main import main

results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["archscope", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:
            traceback.print_exc()
            code = -1
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
json.dump(results, sys.__stdout__)
"""
COMMANDS = ("summary", "graph", "snapshot", "check")
INPUT_NODE = re.compile(r'^\s*"(/input[^"]*)"\s*\[', re.MULTILINE)  # node statements, not edges


def cli_inputs(case: Case) -> list[str]:
    """The case's input arguments and, for per-sample --input shapes, --batch 2 (--inputs-from tensors
    carry their own batch; see the report on the grammar)."""
    return [*case.cli, *(() if case.inputs_from else ("--batch", str(BATCH)))]


def argv(case: Case, command: str, snapshots: Path) -> list[str]:
    directory = str(snapshots / case.name)
    if command == "check":
        return ["check", directory]
    tail = {"summary": ["-f", "json"], "graph": ["-f", "dot"], "snapshot": ["-o", directory]}[command]
    return [command, case.cli_target, *cli_inputs(case), *tail]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """Every case's four commands, run in one subprocess from the repository root."""
    snapshots = tmp_path_factory.mktemp("snapshots")
    keys = [(case.name, command) for case in CASES for command in COMMANDS]
    jobs = [argv(BY_NAME[name], command, snapshots) for name, command in keys]
    done = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(jobs), capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for (name, _), result, job in zip(keys, results, jobs, strict=True):
        result["argv"] = " ".join(job)
        result["dir"] = snapshots / name
    return dict(zip(keys, results, strict=True))


def _ok(run: dict[str, Any]) -> None:
    assert run["code"] == 0, f"archscope {run['argv']} exited {run['code']}:\n{run['stderr']}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_summary_json_agrees_with_the_api(case: Case, cli_runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    run = cli_runs[case.name, "summary"]
    _ok(run)
    data = json.loads(run["stdout"])
    ref = reference_trace(case.name)
    assert (data["totals"]["params"], data["totals"]["macs"]) == (ref.totals.params, ref.totals.macs)
    assert data["totals"]["trainable_params"] == ref.totals.trainable_params
    assert data["output_shapes"] == [list(s) for s in case.output_shapes]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_graph_has_one_input_node_per_input(case: Case, cli_runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    run = cli_runs[case.name, "graph"]
    _ok(run)
    assert run["stdout"].lstrip().startswith("digraph")
    assert len(INPUT_NODE.findall(run["stdout"])) == case.inputs, INPUT_NODE.findall(run["stdout"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_snapshot_then_check_passes(case: Case, cli_runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    snap, check = cli_runs[case.name, "snapshot"], cli_runs[case.name, "check"]
    _ok(snap)
    assert len(list(Path(snap["dir"]).glob("*.json"))) == 1
    _ok(check)


ROUTES = ["transformer", "gru_seq_first", "lstm_state"]  # NAME=SHAPE:DTYPE, --batch-dim, --inputs-from


@pytest.mark.parametrize("name", ROUTES)
def test_cli_python_m_archscope(name: str) -> None:
    """The real command line, in a fresh process from the repository root."""
    case = BY_NAME[name]
    done = subprocess.run([sys.executable, "-m", "archscope", "summary", case.cli_target, *cli_inputs(case),
                           "-f", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    ref = reference_trace(name)
    assert (data["totals"]["params"], data["totals"]["macs"]) == (ref.totals.params, ref.totals.macs)
    assert data["output_shapes"] == [list(s) for s in case.output_shapes]
