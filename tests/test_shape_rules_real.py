"""archscope's shape rules (archscope/shape_rules.py) checked against torch's kernels on
every model of the acceptance run (scripts/acceptance_models.py: torchvision's whole
list_models(), timm families, transformers models built from configs), in eval and train mode:
wherever a rule answers, torch's kernel runs too and the two agree in shape, every stride and
dtype (tests/shape_rule_check.py). Runs only where torchvision is importable (CI's acceptance
venv, torch 2.14.1 + torchvision 0.29.1 + timm + transformers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torchvision")

import archscope  # noqa: E402
from archscope.errors import ShapeError  # noqa: E402
from tests.shape_rule_check import checked  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import acceptance_models  # noqa: E402


@pytest.mark.parametrize("case", acceptance_models.all_cases(), ids=lambda c: c.name)
def test_every_rule_agrees_with_torch_on_an_acceptance_model(case: object, monkeypatch: pytest.MonkeyPatch) -> None:
    target, fed = f"acceptance_models:{case.key}", case.trace_kwargs()  # type: ignore[attr-defined]
    with checked(monkeypatch) as seen:
        archscope.trace(target, **fed)
        try:
            archscope.trace(target, **fed, train=True)
        except ShapeError as exc:  # batch norm on one value per channel, detection models wanting targets
            assert "training" in str(exc), exc
    assert not seen.wrong, seen.wrong[:5]
