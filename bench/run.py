"""Benchmark archscope against torchinfo and fvcore on the same models, in one run.

    python bench/run.py                      # every case, 3 runs each, writes bench/results.{md,json}
    python bench/run.py --repeat 1 --only resnet50

Every contender runs in a fresh process (so imports count, as they do for a user), and
is measured by wall time (median of ``--repeat`` runs) and peak resident memory of that
process (``ru_maxrss`` from ``wait4``). A case's runs go in rounds, each contender once per
round, so the machine's drift falls on all of them alike. A run that exceeds ``--timeout`` is killed and
reported as such. The other tools get the archscope-built module, whose state_dict is
torchvision's (tests/test_zoo.py), so they measure the same network.

Contenders per case:
  import torch      the floor: a process that only imports torch
  import torch, sympy  the floor of every other meta-device tool: torch's Python meta kernels
                    import sympy (``torch._prims_common.elementwise_dtypes``, ``symbolic_shapes``);
                    archscope's shape rules (archscope/shape_rules.py) avoid them
  archscope         ``archscope summary MODEL --input S --batch B`` (its default path: for a zoo
                    model the numbers are computed from the spec, without torch)
  archscope --traced  the same with the meta-device hook tracer, the path every user model takes
  torchinfo (cpu)   ``torchinfo.summary(model, input_size)`` as its users call it: real CPU tensors
  torchinfo (meta)  the same on a meta-device model and input
  fvcore (cpu)      ``fvcore.nn.FlopCountAnalysis(model, x).total()`` on CPU
  FlopCounterMode (meta)  torch's own counter over a meta forward pass (FLOPs only)
  ptflops (cpu)     ``ptflops.get_model_complexity_info`` (batch-1 cases only: it makes its own input)
  archscope.trace() (python)  the first ``archscope.trace()`` of a fresh Python process, hook tracer
  archscope.trace() ×2 (python)  the same process tracing twice; the second call's own time,
                    measured inside the process, is the goal's number
  (a contender whose package is not installed is left out)

User-model cases (token ids, a torchvision import path) run archscope on the import path
with ``--input`` as a user types it, and the other tools on the same module and inputs;
their floor is a process that imports what the model needs (``import torch, torchvision``).

Training cases (``--training``): ``archscope summary MODEL --training`` (forward, backward
and the memory of a training step, all on meta) beside ``--traced`` (the forward-only
run it is measured against: target at most 2× its time), ``FlopCounterMode`` over a meta
forward + backward (the nearest other tool: total FLOPs only), and a real CPU training
step (forward, backward, SGD step) as the thing the estimate saves the user from.

Commands with a target of their own (``archscope --help``, ``list``, ``check --zoo``,
``graph ... --expand``, ``dot`` alone on the same DOT text, and torchview drawing the same
model fully nested on meta) are timed the same way.

The Markdown ends with the goals of the speed issue (#17) beside the ratios this run
measured (:func:`goals`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
ARCHSCOPE = [PY, "-m", "archscope"]

CASES = [  # (model, input size, batch)
    ("resnet50", 224, 1),
    ("inception_v3", 299, 1),
    ("densenet201", 224, 1),
    ("vgg19", 224, 64),
    ("efficientnet_b7", 600, 16),
]

TRAINING_CASES = [  # (model: a zoo name or an import path, --input, batch)
    ("resnet50", "224", 32),
    ("efficientnet_b7", "600", 16),
    ("bench/vit.py:vit_b_16", "3x224x224", 64),
]
_MODEL = ("import sys, torch, archscope; sys.path.insert(0, 'bench')\n"
          "from vit import vit_b_16\n"
          "model = vit_b_16() if {model!r}.endswith('vit_b_16') else archscope.build({model!r}, device='cpu')\n")
TRAINING_SCRIPTS = {
    "FlopCounterMode fwd+bwd (meta)": _MODEL + "from torch.utils.flop_counter import FlopCounterMode\n"
    "model = model.to('meta').train()\nx = torch.zeros({batch}, 3, {size}, {size}, device='meta')\n"
    "with FlopCounterMode(display=False) as f:\n    model(x).sum().backward()\nf.get_total_flops()\n",
    "real CPU step (SGD)": _MODEL + "model.train(); opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "x = torch.randn({batch}, 3, {size}, {size})\nmodel(x).sum().backward(); opt.step()\n",
}

_BUILD = "import archscope, torch; model = archscope.build({model!r}, device={device!r}).eval()\n"
META_FLOOR = "import torch, sympy"
SCRIPTS = {
    "import torch": "import torch\n",
    META_FLOOR: "import torch, sympy\n",
    "torchinfo (cpu)": _BUILD + "import torchinfo\n"
                       "torchinfo.summary(model, input_size=({batch}, 3, {size}, {size}), verbose=0)\n",
    "torchinfo (meta)": _BUILD + "import torchinfo\n"
                        "torchinfo.summary(model, input_size=({batch}, 3, {size}, {size}), device='meta', "
                        "verbose=0)\n",
    "fvcore (cpu)": _BUILD + "from fvcore.nn import FlopCountAnalysis\n"
                    "x = torch.zeros({batch}, 3, {size}, {size})\n"
                    "f = FlopCountAnalysis(model, x); f.unsupported_ops_warnings(False); "
                    "f.uncalled_modules_warnings(False); f.total()\n",
    "FlopCounterMode (meta)": _BUILD + "from torch.utils.flop_counter import FlopCounterMode\n"
                              "x = torch.zeros({batch}, 3, {size}, {size}, device='meta')\n"
                              "with FlopCounterMode(display=False) as f:\n    model(x)\nf.get_total_flops()\n",
    "ptflops (cpu)": _BUILD + "from ptflops import get_model_complexity_info\n"  # batch 1: its own input
                     "get_model_complexity_info(model, (3, {size}, {size}), as_strings=False, "
                     "print_per_layer_stat=False, verbose=False)\n",
}
DEVICE = {"torchinfo (cpu)": "cpu", "torchinfo (meta)": "meta", "fvcore (cpu)": "cpu",
          "FlopCounterMode (meta)": "meta", "ptflops (cpu)": "cpu"}
# the hook tracer from Python, as a notebook calls it: a fresh process, the first trace()
API = "import archscope\narchscope.trace({target!r}, input_size={size!r}, batch={batch}, analytic=False)\n"
# ... and a second call in the same process, timed there (an ``INNER`` line on stderr): the
# difference of two processes' wall times is lost in their noise
AGAIN = ("import sys, time\nt = time.perf_counter()\n" + API.split("\n", 1)[1]
         + "sys.stderr.write(f'INNER {{time.perf_counter() - t}}\\n')\n")
FIRST, TWICE = "archscope.trace() (python)", "archscope.trace() ×2 (python)"
# a contender whose package is not installed is left out
OPTIONAL = {"torchinfo": ("torchinfo (cpu)", "torchinfo (meta)"), "fvcore": ("fvcore (cpu)",),
            "ptflops": ("ptflops (cpu)",), "torchview": ("torchview",)}


@dataclass(frozen=True)
class UserCase:
    """A model given as archscope's users give theirs: an import path and ``--input`` texts.
    The other tools get the same module and the same inputs (``setup`` makes ``model`` and
    ``inputs``, a tuple of tensors on ``{device}``)."""

    name: str
    target: str
    args: tuple[str, ...]
    setup: str
    floor: str = "import torch"


USER_CASES = [
    UserCase("token ids: TokenEncoder 128:int64 batch 8", "tests/user_corpus.py:TokenEncoder",
             ("--input", "128:int64", "--batch", "8"),
             "import sys, torch; sys.path.insert(0, 'tests'); from user_corpus import TokenEncoder\n"
             "model = TokenEncoder().to({device!r}).eval()\n"
             "inputs = (torch.zeros(8, 128, dtype=torch.int64, device={device!r}),)\n"),
    UserCase("import path: torchvision.models:resnet50 224 batch 1", "torchvision.models:resnet50",
             ("--input", "224"),
             "import torch, torchvision\nwith torch.device({device!r}):\n    model = torchvision.models.resnet50()"
             ".eval()\ninputs = (torch.zeros(1, 3, 224, 224, device={device!r}),)\n",
             floor="import torch, torchvision"),
    UserCase("a timm model: timm.models.convnext:convnext_tiny 224 batch 1", "timm.models.convnext:convnext_tiny",
             ("--input", "224"),
             "import torch, timm.models.convnext as c\nwith torch.device({device!r}):\n    model = c.convnext_tiny()"
             ".eval()\ninputs = (torch.zeros(1, 3, 224, 224, device={device!r}),)\n",
             floor="import torch, timm"),
]
USER_SCRIPTS = {
    "FlopCounterMode (meta)": "from torch.utils.flop_counter import FlopCounterMode\n"
                              "with FlopCounterMode(display=False) as f:\n    model(*inputs)\nf.get_total_flops()\n",
    "torchinfo (cpu)": "import torchinfo\ntorchinfo.summary(model, input_data=list(inputs), verbose=0)\n",
    "torchinfo (meta)": "import torchinfo\ntorchinfo.summary(model, input_data=list(inputs), device='meta', "
                        "verbose=0)\n",
    "fvcore (cpu)": "from fvcore.nn import FlopCountAnalysis\nf = FlopCountAnalysis(model, inputs); "
                    "f.unsupported_ops_warnings(False); f.uncalled_modules_warnings(False); f.total()\n",
}


def user_contenders(case: UserCase) -> dict[str, list[str]]:
    options = dict(zip(case.args[::2], case.args[1::2], strict=True))
    sizes, batch = [options["--input"]], int(options.get("--batch", 1))
    out = {case.floor: [PY, "-c", case.floor + "\n"],
           "archscope": [*ARCHSCOPE, "summary", case.target, *case.args],
           FIRST: [PY, "-c", API.format(target=case.target, size=sizes, batch=batch)]}
    for name, script in USER_SCRIPTS.items():
        if available(name):
            out[name] = [PY, "-c", case.setup.format(device=DEVICE[name]) + script]
    return out


def available(contender: str) -> bool:
    return all(importable(pkg) for pkg, names in OPTIONAL.items() if contender in names)


@functools.cache
def importable(module: str) -> bool:
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True).returncode == 0


@dataclass
class Result:
    case: str
    contender: str
    seconds: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    status: str = "ok"  # ok, timeout (limit in seconds), failed (exit code and last line of stderr)
    inner_s: list[float] = field(default_factory=list)  # what the process timed itself (INNER lines)

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def peak(self) -> float | None:
        return max(self.peak_mib) if self.peak_mib else None


def measure(argv: list[str], timeout: float) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MiB, status, stderr) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    peak = usage.ru_maxrss / 1024
    if proc.returncode == -9 and seconds >= timeout:
        return seconds, peak, f"timeout ({timeout:.0f} s)", err
    if proc.returncode == -9:  # not ours: the kernel's OOM killer (see dmesg)
        return seconds, peak, f"killed by SIGKILL after {seconds:.0f} s at {peak / 1024:.1f} GiB (out of memory)", err
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["?"])[-1]
        return seconds, peak, f"failed (exit {proc.returncode}: {last[:120]})", err
    return seconds, peak, "ok", err


def run(case: str, argvs: dict[str, list[str]], repeat: int, timeout: float) -> list[Result]:
    """Every contender of ``case`` ``repeat`` times, in rounds: each round runs each contender
    once, in order. The machine drifts over the minute or more a case takes (``import torch``
    alone took 1.40 to 2.41 s across one run's cases); in rounds the drift falls on every
    contender alike, so the ratios the goals judge compare runs made side by side. A
    contender that fails or times out is dropped from the later rounds."""
    results = {contender: Result(case, contender) for contender in argvs}
    for _ in range(repeat):
        for contender, argv in argvs.items():
            result = results[contender]
            if result.status != "ok":
                continue
            seconds, peak, status, err = measure(argv, timeout)
            if status != "ok":
                result.status = status
                continue
            result.seconds.append(round(seconds, 3))
            result.peak_mib.append(round(peak, 1))
            result.inner_s += [round(float(line.split()[1]), 3) for line in err.splitlines()
                               if line.startswith("INNER ")]
    for result in results.values():
        print(f"  {result.contender:18} {result.median_s or 0:8.2f} s {result.peak or 0:9.0f} MiB  {result.status}",
              flush=True)
    return list(results.values())


def contenders(model: str, size: int, batch: int) -> dict[str, list[str]]:
    fill = {"model": model, "size": size, "batch": batch}
    out = {"import torch": [PY, "-c", SCRIPTS["import torch"]],
           META_FLOOR: [PY, "-c", SCRIPTS[META_FLOOR]],
           "archscope": [*ARCHSCOPE, "summary", model, "--input", str(size), "--batch", str(batch)],
           "archscope --traced": [*ARCHSCOPE, "summary", model, "--input", str(size), "--batch", str(batch),
                                  "--traced"],
           FIRST: [PY, "-c", API.format(target=model, size=size, batch=batch)],
           TWICE: [PY, "-c", API.format(target=model, size=size, batch=batch)
                   + AGAIN.format(target=model, size=size, batch=batch)]}
    for name in DEVICE:
        if available(name) and not (name == "ptflops (cpu)" and batch != 1):  # ptflops feeds batch 1 only
            out[name] = [PY, "-c", SCRIPTS[name].format(device=DEVICE[name], **fill)]
    return out


def training_contenders(model: str, size: str, batch: int) -> dict[str, list[str]]:
    common = ["summary", model, "--input", size, "--batch", str(batch)]
    side = size.split("x")[-1]
    out = {"archscope --traced (forward only)": [*ARCHSCOPE, *common, "--traced"],
           "archscope --training": [*ARCHSCOPE, *common, "--training"]}
    for name, script in TRAINING_SCRIPTS.items():
        out[name] = [PY, "-c", script.format(model=model, size=side, batch=batch)]
    return out


EXPANDED = {"densenet201": 224, "efficientnet_b7": 600}  # graph --expand: the zoo's largest diagrams
TORCHVIEW = ("import archscope, torchview\nmodel = archscope.build({model!r}, device='meta').eval()\n"
             "g = torchview.draw_graph(model, input_size=(1, 3, {size}, {size}), device='meta', depth=100, "
             "expand_nested=True)\ng.visual_graph.render(filename={out!r}, format='svg', cleanup=True)\n")


def commands(workdir: Path) -> dict[str, list[str]]:
    """The commands with a target of their own. Beside each ``graph --expand``, ``dot`` alone
    on the same DOT text (written here, untimed): the goal is the whole command at most
    1.5× that plus the traced summary; and torchview, the graph tool a user would pick
    instead, on the same model with every level nested (``depth=100``) on meta."""
    out = {
        "archscope --help": [*ARCHSCOPE, "--help"],
        "archscope list": [*ARCHSCOPE, "list"],
        "archscope check --zoo": [*ARCHSCOPE, "check", "--zoo"],
    }
    dot = shutil.which("dot")
    for model, size in EXPANDED.items():
        out[f"graph {model} --expand (svg)"] = [*ARCHSCOPE, "graph", model, "--expand", "-o",
                                                str(workdir / f"{model}.svg")]
        source = workdir / f"{model}.dot"
        made = subprocess.run([*ARCHSCOPE, "graph", model, "--expand", "-o", str(source)], capture_output=True)
        if dot and made.returncode == 0:
            out[f"dot -Tsvg alone ({model} --expand)"] = [dot, "-Tsvg", str(source), "-o",
                                                           str(workdir / f"{model}-dot.svg")]
        if available("torchview"):
            out[f"torchview ({model}, svg)"] = [PY, "-c", TORCHVIEW.format(model=model, size=size,
                                                                              out=str(workdir / f"{model}-tv"))]
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for pkg in ("archscope", "torch", "torchvision", "timm", "torchinfo", "fvcore", "ptflops", "torchview",
                "graphviz"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "not installed"
    dot = shutil.which("dot")
    if dot:
        found["dot"] = subprocess.run([dot, "-V"], capture_output=True, text=True).stderr.strip().removeprefix(
            "dot - graphviz version ")
    return found


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM"


def markdown(results: list[Result], info: dict[str, object]) -> str:
    lines = [f"Machine: {info['machine']}  ", "Versions: " + ", ".join(f"{k} {v}" for k, v in
                                                                        info["versions"].items()) + "  ",  # type: ignore[union-attr]
             f"Runs per contender: {info['repeat']}, in rounds (median wall time; peak RSS is the maximum), "
             f"time limit {info['timeout']} s per run.", ""]
    by_case: dict[str, list[Result]] = {}
    for r in results:
        by_case.setdefault(r.case, []).append(r)
    lines += ["| case | contender | wall time (s) | × first row | peak RSS (MiB) | status |",
              "|---|---|---:|---:|---:|---|"]
    for case, rows in by_case.items():  # the first row is the floor: import torch, or the forward-only trace
        floor = rows[0].median_s if rows[0].contender.startswith(("import torch", "archscope --traced")) else None
        for r in rows:
            ratio = f"{r.median_s / floor:.2f}" if floor and r.median_s is not None else ""
            t = f"{r.median_s:.2f}" if r.median_s is not None else "—"
            m = f"{r.peak:.0f}" if r.peak is not None else "—"
            lines.append(f"| {case} | {r.contender} | {t} | {ratio} | {m} | {r.status} |")
    judged = goals(results)
    if judged:
        lines += ["", "Goals (issue 17) and what this run measured:", "",
                  "| goal | case | measured | verdict |", "|---|---|---:|---|"]
        lines += [f"| {g} | {c} | {m} | {v} |" for g, c, m, v in judged]
    return "\n".join(lines) + "\n"


def goals(results: list[Result]) -> list[tuple[str, str, str, str]]:
    """(goal, case, measured, verdict) for each goal of the speed issue this run can judge."""
    by: dict[tuple[str, str], Result] = {(r.case, r.contender): r for r in results}
    cases = list(dict.fromkeys(r.case for r in results if r.case != "commands"))
    rows: list[tuple[str, str, str, str]] = []

    def time(case: str, contender: str) -> float | None:
        r = by.get((case, contender))
        return r.median_s if r is not None and r.status == "ok" else None

    def judge(goal: str, case: str, value: float | None, limit: float | None, text: str) -> None:
        """A row of the goal table; with no ``limit``, the measure is shown beside the goal's case."""
        if value is not None:
            verdict = "shown" if limit is None else "met" if value <= limit else "not met"
            rows.append((goal, case, text.format(value), verdict))

    for case in cases:
        first = next(r for r in results if r.case == case)
        floor = first.median_s if first.contender.startswith("import torch") else None
        traced = "archscope --traced" if (case, "archscope --traced") in by else "archscope"
        mine = time(case, traced)
        if floor is None or mine is None:
            continue
        judge("traced summary ≤ 1.15× the import floor", case, mine / floor, 1.15, "{:.2f}×")
        meta_floor = time(case, META_FLOOR)
        if meta_floor is not None:
            judge("traced summary ≤ 1.15× the meta floor (import torch, sympy)", case, mine / meta_floor, 1.15,
                  "{:.2f}×")
        for peer in ("torchinfo (meta)", "torchinfo (cpu)", "FlopCounterMode (meta)"):
            theirs = time(case, peer)
            if theirs:
                judge(f"traced summary ≤ 0.8× {peer}", case, mine / theirs, 0.8, "{:.2f}×")
        once, again = time(case, FIRST), by.get((case, TWICE))
        if once is not None:
            judge("first archscope.trace() ≤ 1.2× the import floor", case, once / floor, 1.2, "{:.2f}×")
            if meta_floor is not None:
                judge("first archscope.trace() ≤ 1.2× the meta floor", case, once / meta_floor, 1.2, "{:.2f}×")
        if again is not None and again.inner_s:  # the goal is resnet50's; the other cases are shown beside it
            judge("second trace() in the same process ≤ 0.2 s (resnet50)", case, statistics.median(again.inner_s),
                  0.2 if case.startswith("resnet50 ") else None, "{:.2f} s")
        peak, theirs_peak = by[(case, traced)].peak, by.get((case, "torchinfo (meta)"))
        if peak is not None and theirs_peak is not None and theirs_peak.peak is not None:
            judge("peak memory ≤ torchinfo (meta)", case, peak / theirs_peak.peak, 1.0,
                  f"{peak:.0f} / {theirs_peak.peak:.0f} MiB = {{:.2f}}")
    for model in EXPANDED:
        whole = time("commands", f"graph {model} --expand (svg)")
        dot = time("commands", f"dot -Tsvg alone ({model} --expand)")
        summary = next((time(c, "archscope --traced") for c in cases if c.startswith(f"{model} ")), None)
        if whole is not None and dot is not None and summary is not None:
            judge("graph --expand ≤ 1.5× (dot alone + traced summary)", model, whole / (dot + summary), 1.5,
                  f"{whole:.2f} s / ({dot:.2f} + {summary:.2f}) s = {{:.2f}}×")
    return rows


def as_installed() -> None:
    """Compile archscope's modules to bytecode, as ``pip install`` does for a package: in an
    editable install under ``PYTHONDONTWRITEBYTECODE=1`` (this project's machines) every
    process would otherwise compile them from source, 0.03 s of every command, which the
    other tools, installed from wheels, never pay. (Python reads bytecode under that
    variable; it only does not write it.)"""
    import compileall

    compileall.compile_dir(str(HERE.parent / "archscope"), quiet=1)
    for case in USER_CASES:  # a model in a file (the token case's), which every contender imports
        where = case.target.rpartition(":")[0]
        if where.endswith(".py"):
            compileall.compile_file(str(HERE.parent / where), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (median is reported)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    parser.add_argument("--only", action="append", help="run only this model (repeatable)")
    parser.add_argument("--no-commands", action="store_true", help="skip the command timings")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="writes OUT.md and OUT.json")
    parser.add_argument("--training", action="store_true", help="run the training-step cases instead")
    args = parser.parse_args()
    as_installed()

    results: list[Result] = []
    for model, size, batch in TRAINING_CASES if args.training else []:
        if args.only and model not in args.only:
            continue
        case = f"{model} {size} batch {batch}, training step"
        print(case, flush=True)
        results += run(case, training_contenders(model, size, batch), args.repeat, args.timeout)
    for model, size, batch in [] if args.training else CASES:
        if args.only and model not in args.only:
            continue
        case = f"{model} {size}×{size} batch {batch}"
        print(case, flush=True)
        results += run(case, contenders(model, size, batch), args.repeat, args.timeout)
    for user in [] if args.training else USER_CASES:
        if args.only and user.target not in args.only:
            continue
        print(user.name, flush=True)
        needs = user.floor.removeprefix("import ").split(", ")[-1]
        if not importable(needs):
            results.append(Result(user.name, "archscope", status=f"skipped ({needs} is not installed)"))
            continue
        results += run(user.name, user_contenders(user), args.repeat, args.timeout)
    if not args.no_commands and not args.training:
        print("commands", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            results += run("commands", commands(Path(tmp)), args.repeat, args.timeout)
    info = {"machine": machine(), "versions": versions(), "repeat": args.repeat, "timeout": args.timeout,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    md, js = (args.out.with_name(f"{args.out.name}.{ext}") for ext in ("md", "json"))  # a dot in OUT stays
    js.write_text(json.dumps(
        {**info, "results": [asdict(r) | {"median_s": r.median_s, "peak_mib_max": r.peak} for r in results]},
        indent=1) + "\n")
    md.write_text(markdown(results, info))
    print(f"wrote {md} and {js}")


if __name__ == "__main__":
    main()
