"""Where the time of one ``archscope summary`` goes, phase by phase, in a fresh process.

    python bench/profile.py resnet50 --traced
    python bench/profile.py tests/user_corpus.py:TokenEncoder --input 128:int64 --batch 8
    python bench/profile.py --table resnet50 inception_v3 ...   # one Markdown row per model

The command runs in a child process that imports torch, then archscope's command line,
and runs the command with the model's build (``Target.module``), the forward pass
(``trace_module``) and the rendering (``emit``) timed. What is left of the process's wall
time (interpreter start and exit) is its own column. The last column says whether sympy
was imported: torch's Python meta kernels import it (about 0.2 s) on their first call,
which archscope's shape rules (archscope/shape_rules.py) avoid for the operators
they know; its time is then inside the phase that ran the first such kernel.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from run import as_installed

CHILD = r"""
import atexit, gc, json, sys, time
gc.disable()  # as the command line's main() does before anything else (archscope/cli/main.py)
marks = {}
t = time.perf_counter()
import torch
marks["import torch"] = time.perf_counter() - t
t = time.perf_counter()
from archscope.cli import main as cli, output
from archscope.builder import load
from archscope.tracer import hooks
marks["archscope + typer + rich imports"] = time.perf_counter() - t

def timed(owner, name, label):
    inner = getattr(owner, name)
    def run(*a, **k):
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            marks[label] = marks.get(label, 0.0) + time.perf_counter() - t
    setattr(owner, name, run)

timed(load.Target, "module", "build the model (on meta)")
timed(hooks, "trace_module", "forward pass (hooks, dispatch, meta kernels)")
timed(output, "emit", "render and write")
sys.argv[0] = "archscope"

@atexit.register  # cli.run() runs these before it ends the process, with the exit code
def report():
    sys.stderr.write("\nPHASES " + json.dumps(marks) + "\n")
    sys.stderr.write("SYMPY " + json.dumps("sympy" in sys.modules) + "\n")

cli.run()  # the program's own entry point, its end included
"""


def profile(args: list[str]) -> dict[str, float]:
    """The phases of ``archscope summary ARGS`` (seconds), the process's wall time, and
    whether sympy was imported (1 or 0)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "summary", *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    line = next((x for x in done.stderr.splitlines() if x.startswith("PHASES ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"archscope summary {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    phases: dict[str, float] = json.loads(line.removeprefix("PHASES "))
    phases["python start and exit, rest"] = wall - sum(phases.values())
    phases["wall"] = wall
    phases["sympy imported"] = float("SYMPY true" in done.stderr)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true", help="each argument is a model: one Markdown row each")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the one with the median wall time is shown")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="what follows 'archscope summary'")
    ns = parser.parse_args()
    as_installed()  # archscope's modules read from bytecode, as the benchmark reads them
    runs = [[m, "--traced"] for m in ns.args] if ns.table else [ns.args]
    rows = []
    for args in runs:
        results = sorted((profile(args) for _ in range(ns.repeat)), key=lambda p: p["wall"])
        rows.append((" ".join(args), results[len(results) // 2]))
    names = list(rows[0][1])
    if ns.table:
        print("| command | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for text, phases in rows:
            print(f"| `summary {text}` | " + " | ".join(_cell(n, phases[n]) for n in names) + " |")
        return
    for name in names:
        print(f"{name:48} {_cell(name, rows[0][1][name]):>6}" + ("" if name == "sympy imported" else " s"))


def _cell(name: str, value: float) -> str:
    return ("yes" if value else "no") if name == "sympy imported" else f"{value:.2f}"


if __name__ == "__main__":
    main()
