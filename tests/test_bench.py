"""The benchmark's goal table judges what it measured: ratios against the right rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201 (a module loaded from a path)
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_goal_table_divides_by_the_floor_the_peers_and_the_first_call(bench) -> None:  # noqa: ANN001
    row = bench.Result
    case = "resnet50 224×224 batch 1"
    results = [row(case, "import torch", [1.0], [200.0]), row(case, bench.META_FLOOR, [1.25], [230.0]),
               row(case, "archscope --traced", [1.4], [250.0]), row(case, bench.FIRST, [1.3], [240.0]),
               row(case, bench.TWICE, [1.25], [240.0], inner_s=[0.19, 0.12, 0.15]),  # timed in the process
               row(case, "torchinfo (meta)", [2.0], [260.0]),
               row(case, "FlopCounterMode (meta)", status="failed (exit 1: x)"),
               row("densenet201 224×224 batch 1", "import torch", [1.0]),
               row("densenet201 224×224 batch 1", "archscope --traced", [2.0], [280.0]),
               row("densenet201 224×224 batch 1", bench.TWICE, [2.5], inner_s=[0.3]),
               row("commands", "graph densenet201 --expand (svg)", [3.3]),
               row("commands", "dot -Tsvg alone (densenet201 --expand)", [0.2])]
    judged = {(goal, c): (measured, verdict) for goal, c, measured, verdict in bench.goals(results)}
    assert judged["traced summary ≤ 1.15× the import floor", case] == ("1.40×", "not met")
    assert judged["traced summary ≤ 1.15× the meta floor (import torch, sympy)", case] == ("1.12×", "met")
    assert judged["traced summary ≤ 0.8× torchinfo (meta)", case] == ("0.70×", "met")
    assert judged["first archscope.trace() ≤ 1.2× the import floor", case] == ("1.30×", "not met")
    # the median of what the process timed, not the difference of two wall times (1.25 - 1.3 < 0)
    assert judged["second trace() in the same process ≤ 0.2 s (resnet50)", case] == ("0.15 s", "met")
    # the goal is resnet50's: another model's second call is shown beside it, not judged
    assert judged["second trace() in the same process ≤ 0.2 s (resnet50)", "densenet201 224×224 batch 1"] == (
        "0.30 s", "shown")
    assert judged["peak memory ≤ torchinfo (meta)", case] == ("250 / 260 MiB = 0.96", "met")
    assert judged["graph --expand ≤ 1.5× (dot alone + traced summary)", "densenet201"] == (
        "3.30 s / (0.20 + 2.00) s = 1.50×", "met")
    # not measured, or failed: not judged
    assert not any(goal.endswith(("torchinfo (cpu)", "FlopCounterMode (meta)")) for goal, _ in judged)
    assert "Goals (issue 17)" in bench.markdown(results, {"machine": "m", "versions": {}, "repeat": 1,
                                                          "timeout": 1})


def test_a_case_runs_in_rounds_and_drops_a_contender_once_it_fails(bench, monkeypatch) -> None:  # noqa: ANN001
    """Each round runs every contender once, in order (the machine's drift falls on all of
    them alike); a contender that failed keeps its earlier runs and is not run again."""
    calls: list[str] = []

    def measure(argv: list[str], timeout: float) -> tuple[float, float, str, str]:
        calls.append(argv[0])
        if argv[0] == "b" and calls.count("b") == 2:
            return 9.0, 1.0, "failed (exit 1: x)", ""
        return float(len(calls)), 10.0, "ok", "INNER 0.5\n" if argv[0] == "c" else ""

    monkeypatch.setattr(bench, "measure", measure)
    a, b, c = bench.run("case", {"A": ["a"], "B": ["b"], "C": ["c"]}, 3, 60.0)
    assert calls == ["a", "b", "c", "a", "b", "c", "a", "c"]
    assert (a.seconds, a.status, a.median_s) == ([1.0, 4.0, 7.0], "ok", 4.0)
    assert (b.seconds, b.status) == ([2.0], "failed (exit 1: x)")
    assert (c.seconds, c.inner_s, c.peak) == ([3.0, 6.0, 8.0], [0.5, 0.5, 0.5], 10.0)
