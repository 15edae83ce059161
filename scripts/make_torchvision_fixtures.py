"""Generate tests/fixtures/torchvision/<name>.json from torchvision itself.

Run in a separate virtual environment that has torchvision (the project's tests never
import it):

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tvenv/bin/python scripts/make_torchvision_fixtures.py [NAME ...]

Each fixture holds, for one torchvision model built with ``weights=None``:

- ``state_dict``: every key in order with its tensor shape;
- ``module_outputs``: the output shape of every named module at the reference input,
  batch 1, eval mode; modules called more than once (torchvision reuses one ReLU in a
  ResNet block) and modules that return a non-tensor are left out;
- ``functional_check``: the logits of the model, eval mode, after the deterministic fill
  described in ``procedure`` (tests/torchvision_procedure.py, which tests/test_zoo.py uses too),
  on a small input, and ``stage_abs_sums`` (sum of |output| of each module at depth 1
  or 2), so a test can show the rebuilt model computes the same function layer by layer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torchvision
from torchvision import models

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "torchvision"
sys.path.insert(0, str(ROOT / "tests"))
from torchvision_procedure import PROCEDURE, deterministic_fill, functional_input  # noqa: E402

REFERENCE = json.loads((ROOT / "archscope" / "zoo" / "torchvision_reference.json").read_text())["models"]

def module_outputs(model: torch.nn.Module, size: int) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    calls: dict[str, int] = {}
    handles = []
    for name, mod in model.named_modules():
        if not name:
            continue

        def hook(_m, _i, out, name=name):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(out, torch.Tensor):
                shapes[name] = list(out.shape)

        handles.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return {k: v for k, v in shapes.items() if calls[k] == 1}


def stage_sums(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Sum of |output| of every module at depth 1 or 2 called once, on the functional-check
    input: the logits alone hardly depend on the inner layers after this fill (they are close
    to the classifier's bias), the stages do."""
    sums: dict[str, float] = {}
    calls: dict[str, int] = {}
    handles = []
    for name, mod in model.named_modules():
        if name and name.count(".") <= 1:
            def hook(_m, _i, out, name=name):
                calls[name] = calls.get(name, 0) + 1
                if isinstance(out, torch.Tensor):
                    sums[name] = float(out.double().abs().sum())

            handles.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return {k: v for k, v in sums.items() if calls[k] == 1}


def fixture(name: str) -> dict:
    model = models.get_model(name, weights=None).eval()
    size = REFERENCE[name]["input"]
    small = 80 if name == "inception_v3" else 64
    state = {k: list(v.shape) for k, v in model.state_dict().items()}
    outputs = module_outputs(model, size)
    deterministic_fill(model)
    x = functional_input(small)
    stages = stage_sums(model, x)
    with torch.no_grad():
        y = model(x)
    return {
        "generated_by": f"scripts/make_torchvision_fixtures.py with torch {torch.__version__}, "
                        f"torchvision {torchvision.__version__}: "
                        f"torchvision.models.get_model({name!r}, weights=None)",
        "reference_input": [3, size, size],
        "state_dict": state,
        "module_outputs": outputs,
        "functional_check": {
            "procedure": PROCEDURE,
            "input_size": small,
            "output_first8": [round(float(v), 7) for v in y[0, :8]],
            "output_abs_sum": float(y.abs().sum()),
            "stage_abs_sums": stages,
        },
    }


def main(argv: list[str]) -> None:
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in argv or list(REFERENCE):
        data = fixture(name)
        (OUT / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
        print(f"{name}: {len(data['state_dict'])} keys, {len(data['module_outputs'])} module outputs")


if __name__ == "__main__":
    main(sys.argv[1:])
