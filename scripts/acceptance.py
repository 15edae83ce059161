"""Acceptance run: archscope on every torchvision model and many timm and transformers models.

What it checks, for every model (the catalogue and how each is built and fed are in
``scripts/acceptance_models.py``):

1. ``archscope.trace("acceptance_models:<key>", <inputs>)`` does not raise. archscope
   builds the model itself (meta device first, the CPU when the model cannot run on
   meta); the device it used (``t.device``) and its notes are recorded.
2. A dataflow graph, ``with recording() as flow: trace(..., analytic=False)`` then
   ``archscope.report.dot.render_dot(flow.graph(t))``, gives DOT text (the ``dot``
   program is not run).
3. ``t.totals.params`` equals the model's unique parameter elements (each shared tensor
   once), and ``t.totals.macs`` equals ``torch.utils.flop_counter.FlopCounterMode``'s
   total // 2 on the same inputs, on the device archscope used (eval mode,
   ``torch.no_grad()``, the attention fast path off as archscope has it while tracing).
   The reference model is built again, seeded as archscope's was, on that device (on
   meta, so big models such as vit_h_14 and regnet_y_128gf allocate nothing). Where the
   MACs differ the aten ops FlopCounterMode counted are reported beside archscope's
   MACs per category and its uncounted ops. FlopCounterMode has no formulas for quantized
   ops, so a ``quantize=True`` model's MACs are compared with its float twin's
   (``quantize=False``, same inputs); its parameters (packed weights are no
   ``nn.Parameter``) with the quantized model's own.
4. Inputs: torchvision by category (classification 3×224×224, inception_v3 299; video
   3×16×112×112, mvit_v1_b, mvit_v2_s and s3d 3×16×224×224; optical flow two 3×128×128;
   segmentation ``input_size=(3, 224, 224)``; detection ``input_data=([image 3×320×320],)``;
   quantization builders with ``quantize=False`` and ``quantize=True``). timm and
   transformers models are fed nothing: archscope must read timm's
   ``pretrained_cfg["input_size"]`` and transformers' ``main_input_name`` and config
   itself, and ``t.inputs.source`` must say so (timm: the shape must equal
   ``pretrained_cfg["input_size"]``); the reference is fed zeros of the shapes and dtypes
   archscope reports.

Each model runs in a try/except under a time limit (``--limit-seconds``, SIGALRM), so a
failure or a hang is recorded and the run goes on; one progress line per model is
printed. The Markdown report (table, per-family summary, details of every failure and
MAC difference) goes to ``--out``; ``--json`` keeps the raw results.

Exit code: 1 if any model raised in archscope (trace or graph), timed out, or has
parameters that differ; MAC differences are reported, and fail the run only with
``--strict-macs``. 0 otherwise.

How it is run. It needs torchvision, timm and transformers, which archscope's own test
environment does not have, so it runs in a virtualenv of its own (not part of
``.ci/run``), offline (nothing is downloaded)::

    python3 -m venv /tmp/tvenv && . /tmp/tvenv/bin/activate
    pip install torch torchvision timm transformers && pip install -e .
    python scripts/acceptance.py                       # everything, report in /tmp/acceptance-results.md
    python scripts/acceptance.py --family timm --out /tmp/timm.md
    python scripts/acceptance.py --only resnet50 'vit_*' --limit-seconds 120
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # acceptance_models, importable by name so archscope finds the builders

import acceptance_models  # noqa: E402
import torch  # noqa: E402
from acceptance_models import Case  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archscope  # noqa: E402
from archscope.report.dot import render_dot  # noqa: E402
from archscope.report.footer import notes  # noqa: E402
from archscope.tracer.dataflow import recording  # noqa: E402

FAMILIES = ("torchvision", "timm", "transformers")


class ModelTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so no ``except Exception`` on the way swallows it."""


def _alarm(signum: int, frame: Any) -> None:
    raise ModelTimeout


@dataclass
class Result:
    family: str
    category: str
    name: str
    status: str = "ok"  # ok, error (archscope raised), timeout
    stage: str = ""  # where it failed: trace, graph, reference
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    inputs: str = ""
    input_source: str = ""
    source_ok: bool | None = None
    device: str = ""
    notes: list[str] = field(default_factory=list)
    params: int | None = None
    params_ref: int | None = None
    macs: int | None = None
    macs_ref: int | None = None
    graph_ok: bool | None = None
    graph_error: str = ""
    graph_chars: int = 0
    ref_error: str = ""
    ref_ops: dict[str, int] = field(default_factory=dict)  # aten op -> MACs (FlopCounterMode flops / 2)
    macs_by_category: dict[str, int] = field(default_factory=dict)
    not_counted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def params_ok(self) -> bool | None:
        return None if self.params is None or self.params_ref is None else self.params == self.params_ref

    @property
    def macs_ok(self) -> bool | None:
        if self.macs is None or self.macs_ref is None:
            return None
        if self.macs == self.macs_ref == 0 and self.not_counted:
            return None  # nothing counted on either side: not a check (quantized ops)
        return self.macs == self.macs_ref

    @property
    def all_ok(self) -> bool:
        return (self.status == "ok" and self.params_ok is True and self.macs_ok is True and self.graph_ok is True
                and self.source_ok is not False)

    @property
    def fails(self) -> bool:
        """Fails the run: archscope raised or hung, or the parameters differ."""
        return self.status != "ok" or self.graph_ok is False or self.params_ok is False


# ---------------------------------------------------------------- inputs

def _full_shape(leaf: Any, batch: int) -> tuple[int, ...]:
    shape = tuple(leaf.shape)
    if leaf.batch_dim is None:
        return shape
    return shape[:leaf.batch_dim] + (batch,) + shape[leaf.batch_dim:]


def describe_inputs(t: Any) -> str:
    """Each tensor fed (its full shape, dtype), and the batch archscope took when it is not 1."""
    parts = [f"{leaf.name} {'×'.join(map(str, _full_shape(leaf, t.batch))) or 'scalar'} {leaf.dtype or 'float32'}"
             for leaf in t.inputs.leaves()]
    return (", ".join(parts) or "(none)") + (f" [batch {t.batch}]" if t.batch != 1 else "")


def rebuild_inputs(t: Any, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Zeros of every input archscope reports (shape per sample, batch at batch_dim, dtype),
    in the same structure (positional and keyword, nested tuples, lists, dicts)."""

    def make(tree: Any) -> Any:
        if hasattr(tree, "shape") and hasattr(tree, "batch_dim"):
            return torch.zeros(_full_shape(tree, t.batch), dtype=getattr(torch, tree.dtype or "float32"),
                               device=device)
        if isinstance(tree, dict):
            return {k: make(v) for k, v in tree.items()}
        items = [make(v) for v in tree]
        return tuple(items) if isinstance(tree, tuple) else items

    return tuple(make(a) for a in t.inputs.args), {k: make(v) for k, v in t.inputs.kwargs.items()}


def reference_inputs(given: dict[str, Any], t: Any, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """What the reference is fed: the same as archscope. Shapes given: zeros (archscope feeds
    zeros), batch 1. Tensors given: the tensors themselves on the CPU, zeros like them on meta.
    Nothing given: zeros of what archscope reports it fed."""
    if "input_size" in given:
        sizes = given["input_size"]
        sizes = sizes if isinstance(sizes, list) else [sizes]
        return tuple(torch.zeros((1, *s), device=device) for s in sizes), {}
    if "input_data" in given:
        def move(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return v if device.type == "cpu" else torch.zeros_like(v, device=device)
            if isinstance(v, dict):
                return {k: move(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return type(v)(move(x) for x in v)
            return v

        data = given["input_data"]
        if isinstance(data, dict):
            return (), move(data)
        return tuple(move(data)) if isinstance(data, (list, tuple)) else (move(data),), {}
    return rebuild_inputs(t, device)


def unique_params(model: torch.nn.Module) -> int:
    seen: dict[int, torch.Tensor] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen.setdefault(id(p), p)
    return sum(p.numel() for p in seen.values())


# ---------------------------------------------------------------- one model

def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _short_tb(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(lines)[-4000:]


def run_case(case: Case, limit: int) -> Result:
    r = Result(case.family, case.category, case.name)
    target = f"acceptance_models:{case.key}"
    start = time.perf_counter()
    signal.alarm(limit)
    stage = "trace"
    try:
        given = case.trace_kwargs()
        t = archscope.trace(target, **given)
        r.device, r.notes = str(t.device), notes(t)
        r.inputs, r.input_source = describe_inputs(t), t.inputs.source
        r.params, r.macs = t.totals.params, t.totals.macs
        r.macs_by_category, r.not_counted = dict(t.macs_by_category), dict(t.not_counted)
        if case.expect_source is not None:
            r.source_ok = case.expect_source in t.inputs.source

        stage = "graph"
        try:
            with recording() as flow:
                t2 = archscope.trace(target, **case.trace_kwargs(), analytic=False)
            dot = render_dot(flow.graph(t2))
            r.graph_ok = isinstance(dot, str) and dot.lstrip().startswith(("digraph", "strict digraph"))
            r.graph_chars = len(dot)
            if not r.graph_ok:
                r.graph_error = f"render_dot returned {dot[:80]!r}"
            del flow, t2, dot
        except ModelTimeout:
            raise
        except Exception as exc:  # noqa: BLE001
            r.graph_ok, r.graph_error = False, _one_line(exc)
            r.traceback = _short_tb(exc)

        stage = "reference"
        try:
            device = torch.device(t.device)
            with torch.device(device):
                model = case.build()
            model.eval()
            r.params_ref = unique_params(model)
            # FlopCounterMode's module tracker asserts on tensors that require grad but have no
            # grad_fn under no_grad (timm cait, pit); the counts do not depend on it
            model.requires_grad_(False)
            if case.family == "timm" and r.source_ok:
                want = tuple(model.pretrained_cfg["input_size"])
                got = t.inputs.leaves()[0].shape if t.inputs.leaves() else ()
                if tuple(got) != want:
                    r.source_ok = False
                    r.notes.append(f"acceptance: fed {got}, pretrained_cfg input_size is {want}")
            if case.family == "transformers" and r.source_ok:
                names = [leaf.name for leaf in t.inputs.leaves()]
                if names != [model.main_input_name]:
                    r.source_ok = False
                    r.notes.append(f"acceptance: fed {names}, main_input_name is {model.main_input_name}")
            args, kwargs = reference_inputs(given, t, device)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(*args, **kwargs)
            r.macs_ref = counter.get_total_flops() // 2
            r.ref_ops = {str(op): int(n) // 2 for op, n in counter.get_flop_counts().get("Global", {}).items()}
            del model, counter
            float_reference = case.extra.get("float_reference")
            if float_reference is not None:  # a quantized model: its float twin is counted instead
                with torch.device(device):
                    twin = float_reference()
                twin.eval().requires_grad_(False)
                with torch.no_grad(), FlopCounterMode(display=False) as counter:
                    twin(*args, **kwargs)
                r.notes.append(f"acceptance: FlopCounterMode counts {r.macs_ref:,} MACs on the quantized model "
                               "(it has no formulas for quantized ops), so the reference is the float model "
                               f"(quantize=False, {unique_params(twin):,} parameters; the quantized one's weights "
                               "are packed, not nn.Parameters)")
                r.macs_ref = counter.get_total_flops() // 2
                r.ref_ops = {str(op): int(n) // 2 for op, n in counter.get_flop_counts().get("Global", {}).items()}
                del twin, counter
            del args, kwargs
        except ModelTimeout:
            raise
        except Exception as exc:  # noqa: BLE001
            r.ref_error = _one_line(exc)[:1000]
            if not r.traceback:
                r.traceback = _short_tb(exc)
    except ModelTimeout:
        r.status, r.stage = "timeout", stage
        r.error = f"no result after {limit} s (stage {stage})"
    except Exception as exc:  # noqa: BLE001
        if stage == "trace":
            r.status, r.stage = "error", stage
            r.error, r.error_type = _one_line(exc), type(exc).__name__
            r.traceback = _short_tb(exc)
        else:  # an error of this script, not of archscope
            r.ref_error = _one_line(exc)[:1000]
            r.traceback = _short_tb(exc)
    finally:
        signal.alarm(0)
        r.seconds = time.perf_counter() - start
        gc.collect()
    return r


# ---------------------------------------------------------------- report

SDPA_REF_OPS = ("scaled_dot_product", "flash_attention", "efficient_attention", "flex_attention")


def likely_cause(r: Result) -> str:
    """A first reading of a MAC difference, from archscope's categories and the reference's ops."""
    if r.macs is None or r.macs_ref is None:
        return ""
    if r.macs == r.macs_ref == 0 and r.not_counted:
        return ("0 MACs on both sides: none of the ops that ran is counted by either (archscope lists them as "
                f"not counted: {', '.join(sorted(r.not_counted))})")
    if r.macs == r.macs_ref:
        return ""
    diff = r.macs - r.macs_ref
    attention = r.macs_by_category.get("attention", 0)
    ref_sdpa = any(k in op for op in r.ref_ops for k in SDPA_REF_OPS)
    if attention and diff == attention and not ref_sdpa:
        return ("the difference is exactly archscope's attention MACs, and FlopCounterMode counted no attention "
                "op: it has no formula for the SDPA kernel that ran (on the CPU "
                "aten._scaled_dot_product_flash_attention_for_cpu)")
    for cat, n in r.macs_by_category.items():
        if n == diff:
            return f"the difference is exactly archscope's {cat!r} MACs ({n:,})"
    for op, n in r.ref_ops.items():
        if n == -diff:
            return f"the difference is exactly FlopCounterMode's {op} ({n:,} MACs), which archscope does not count"
    return ""


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "–"}[ok]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _note(r: Result) -> str:
    bits = []
    if r.status != "ok":
        bits.append(f"{r.status} ({r.stage}): {r.error[:200]}")
    if r.graph_error:
        bits.append(f"graph: {r.graph_error[:160]}")
    if r.ref_error:
        bits.append(f"reference: {r.ref_error[:160]}")
    if r.source_ok is False:
        bits.append(f"input source ✗: {r.input_source!r}")
    if r.params_ok is False:
        bits.append(f"params {r.params:,} vs {r.params_ref:,}")
    if r.macs_ok is False and r.macs_ref:
        bits.append(f"MACs ×{r.macs / r.macs_ref:.4f}")
    cause = likely_cause(r)
    if cause and r.macs_ok is not True:
        bits.append(cause[:200])
    bits += [n[len("acceptance: "):][:160] for n in r.notes if n.startswith("acceptance: ")]
    cpu = [n for n in r.notes if n.startswith("traced on cpu")]
    if cpu:
        bits.append(cpu[0][:200])
    return "; ".join(bits)


def source_state() -> str:
    """The commit of the archscope tree and whether archscope/ has uncommitted changes."""
    import subprocess

    root = Path(archscope.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--short", "archscope"], capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "git state unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {head or '?'}" + (f", uncommitted changes in {', '.join(changed)}" if changed else "")


STATE = ""


def markdown(results: list[Result], total_seconds: float, argv: list[str]) -> str:
    lines = ["# archscope acceptance run", "",
             f"`{' '.join(['python scripts/acceptance.py', *argv])}`", "",
             f"torch {torch.__version__}, archscope from {Path(archscope.__file__).parent} ({STATE}); "
             f"total {total_seconds:.0f} s ({total_seconds / 60:.1f} min).", "", "## Summary", ""]
    for fam in FAMILIES:
        rs = [r for r in results if r.family == fam]
        if not rs:
            continue
        lines.append(f"- **{fam}**: {len(rs)} models, {sum(r.all_ok for r in rs)} all-ok; "
                     f"{sum(r.status == 'error' for r in rs)} trace errors, {sum(r.status == 'timeout' for r in rs)} "
                     f"timeouts, {sum(r.graph_ok is False for r in rs)} graph errors, "
                     f"{sum(r.params_ok is False for r in rs)} params differ, {sum(r.macs_ok is False for r in rs)} "
                     f"MACs differ, {sum(bool(r.ref_error) for r in rs)} reference errors, "
                     f"{sum(r.device == 'cpu' for r in rs)} traced on cpu")
        if fam == "torchvision":
            for cat in sorted({r.category for r in rs}):
                cs = [r for r in rs if r.category == cat]
                lines.append(f"  - {cat}: {len(cs)} models, {sum(r.all_ok for r in cs)} all-ok")
    lines += ["", "## Models", "",
              "| family | model | inputs (as archscope reported them) | device | params ok? | "
              "MACs archscope / FlopCounterMode÷2 | graph ok? | s | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        fam = r.family if r.family != "torchvision" else f"torchvision/{r.category}"
        macs = (f"{r.macs:,} / {r.macs_ref:,} {_mark(r.macs_ok)}" if r.macs is not None and r.macs_ref is not None
                else f"{r.macs:,} / – " if r.macs is not None else "–")
        inputs = f"{r.inputs} ({r.input_source})" if r.inputs else ""
        lines.append(f"| {fam} | {_cell(r.name)} | {_cell(inputs)} | {r.device or '–'} | {_mark(r.params_ok)} | "
                     f"{macs} | {_mark(r.graph_ok)} | {r.seconds:.1f} | {_cell(_note(r))} |")
    bad = [r for r in results if not r.all_ok]
    if bad:
        lines += ["", "## Details", ""]
    for r in bad:
        lines += [f"### {r.family}: {r.name}", ""]
        if r.status != "ok":
            lines += [f"- **{r.status}** in {r.stage}: `{r.error}`"]
        if r.graph_error:
            lines += [f"- graph: `{r.graph_error}`"]
        if r.ref_error:
            lines += [f"- reference: `{r.ref_error}`"]
        if r.source_ok is False:
            lines += [f"- input source: `{r.input_source}`"]
        if r.params_ok is False:
            lines += [f"- params: archscope {r.params:,}, model {r.params_ref:,} "
                      f"(difference {r.params - r.params_ref:+,})"]
        if r.macs_ok is False:
            lines += [f"- MACs: archscope {r.macs:,}, FlopCounterMode÷2 {r.macs_ref:,} "
                      f"(difference {r.macs - r.macs_ref:+,})",
                      f"  - FlopCounterMode ops (MACs): {json.dumps(r.ref_ops)}",
                      f"  - archscope by category: {json.dumps(r.macs_by_category)}",
                      f"  - archscope not counted: {json.dumps(r.not_counted)}"]
        cause = likely_cause(r)
        if cause:
            lines += [f"- likely cause: {cause}"]
        if r.notes:
            lines += [f"- notes: {' | '.join(r.notes)[:1500]}"]
        if r.traceback and r.status != "ok":
            lines += ["", "<details><summary>traceback</summary>", "", "```", r.traceback.strip()[-3000:], "```",
                      "", "</details>"]
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="models by name (globs allowed, e.g. 'vit_*')")
    p.add_argument("--family", choices=FAMILIES, action="append", help="one family (may be repeated)")
    p.add_argument("--out", default="/tmp/acceptance-results.md", help="the Markdown report")
    p.add_argument("--json", default=None, help="the raw results as JSON (default: --out with .json)")
    p.add_argument("--limit-seconds", type=int, default=300, help="per-model time limit (default 300)")
    p.add_argument("--strict-macs", action="store_true", help="a MAC difference fails the run too")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    args = p.parse_args(raw)

    warnings.filterwarnings("ignore")
    torch.backends.mha.set_fastpath_enabled(False)
    cases = acceptance_models.all_cases(args.family)
    if args.only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.name, pat) or fnmatch.fnmatchcase(c.key, pat)
                                         for pat in args.only)]
    if args.list:
        for c in cases:
            print(f"{c.family}\t{c.category}\t{c.name}")
        return 0
    if not cases:
        print("no model matches", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, _alarm)
    global STATE
    STATE = source_state()
    print(f"archscope {STATE}", flush=True)
    out = Path(args.out)
    js = Path(args.json) if args.json else out.with_suffix(".json")
    results: list[Result] = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases, 1):
        r = run_case(case, args.limit_seconds)
        results.append(r)
        state = r.status if r.status != "ok" else ("all-ok" if r.all_ok else "differs")
        print(f"[{i}/{len(cases)}] {case.family}/{case.name}: {state} device={r.device or '-'} "
              f"params {_mark(r.params_ok)} macs {_mark(r.macs_ok)} graph {_mark(r.graph_ok)} {r.seconds:.1f}s"
              + (f" | {_note(r)[:240]}" if not r.all_ok else ""), flush=True)
        if i % 10 == 0 or i == len(cases):  # keep a partial report in case the run is stopped
            total = time.perf_counter() - t0
            out.write_text(markdown(results, total, raw), encoding="utf-8")
            js.write_text(json.dumps([asdict(x) | {"params_ok": x.params_ok, "macs_ok": x.macs_ok,
                                                   "all_ok": x.all_ok} for x in results], indent=1),
                          encoding="utf-8")
    total = time.perf_counter() - t0
    for fam in FAMILIES:
        rs = [r for r in results if r.family == fam]
        if rs:
            print(f"{fam}: {len(rs)} models, {sum(r.all_ok for r in rs)} all-ok, "
                  f"{sum(r.fails for r in rs)} failing, {sum(r.macs_ok is False for r in rs)} MACs differ")
    print(f"total {total:.0f} s; report {out}, raw {js}")
    failing = any(r.fails for r in results) or (args.strict_macs and any(r.macs_ok is False for r in results))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
