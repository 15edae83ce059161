"""Symbolic shapes of any nn.Module, from one pass with symbolic sizes
(archscope/analysis/symbolic_trace.py): equal to the spec's formulas on every zoo model
traced as a plain module, equal to plain traces at other sizes on the user corpus, and
what a model fixes (or reads from its data) said with the layer that does it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner
from user_corpus import CASES, HERE, Case

import archscope
from archscope import zoo
from archscope.analysis.symbolic import Floor, Poly, Term, symbolic
from archscope.analysis.symbolic_trace import SymbolicError, TracedSymbolic, per_sample, symbolic_trace
from archscope.api import inputs_for
from archscope.builder.load import Target, resolve
from archscope.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
MYNET = f"{ROOT / 'docs' / 'examples' / 'mynet.py'}:Net"
UNET = f"{ROOT / 'docs' / 'examples' / 'unet.py'}:UNet"
N = Term.of(Floor("N"))


def _poly(dim: object) -> dict[object, int]:
    """A formula's terms, zero ones dropped (a Term as a one-term Poly)."""
    assert isinstance(dim, (Term, Poly)), dim
    return {f: c for f, c in Poly.of(dim).terms.items() if c}


def _traced(name: str, train: bool) -> TracedSymbolic:
    t = resolve(name)
    module = t.module("meta")
    return symbolic_trace(module, inputs_for(t, None, module=module)[0], name=name, train=train)


# Every zoo model in eval mode; in training mode those whose auxiliary heads run only then.
ZOO = [(n, False) for n in zoo.names()] + [("googlenet", True), ("inception_v3", True)]


@pytest.mark.parametrize("name,train", ZOO, ids=[f"{n}-{'train' if t else 'eval'}" for n, t in ZOO])
def test_a_zoo_module_traced_symbolically_has_the_spec_s_formulas(name: str, train: bool) -> None:
    """The zoo's module, traced with symbolic sizes as any user's module is: every module's
    output shape, its MACs including its submodules, the model's MACs and activations are
    the spec-derived formulas (the same Floor/Term/Poly, term by term)."""
    traced, spec = _traced(name, train), symbolic(zoo.get(name).spec())
    modules, subtree = spec.modules(train), spec.subtree_macs(train)
    compared = 0
    for (module, call), shape in traced.layers.items():
        if call != 1 or module not in modules:
            continue
        assert shape[0] == N and tuple(shape[1:]) == modules[module].out_shape, module
        assert _poly(per_sample(traced.macs_of[(module, 1)])) == _poly(subtree[module]), module
        compared += 1
    assert compared == len(modules)
    assert _poly(per_sample(traced.macs)) == _poly(spec.macs(train))
    assert _poly(per_sample(traced.activations)) == _poly(spec.activations(train))
    assert [f.requires for f in traced.fixed] == (["16·⌊(H-12)/4⌋·⌊(W-12)/4⌋ = 400"] if name == "lenet5" else [])


def _value(dim: object, sizes: dict[str, int]) -> int:
    assert isinstance(dim, (Term, Poly)), f"not a formula: {dim}"
    return dim.value(sizes)


def _scaled(case: Case, traced: TracedSymbolic, factor: int) -> tuple[dict[str, int], object]:
    """The case's inputs with every size axis not fixed by the model made ``factor`` times
    larger plus one (a fixed one at the size the formulas were traced at), and the symbols'
    sizes there."""
    t = resolve(f"{HERE}:{case.target}")
    module = t.module("meta")
    inputs = inputs_for(t, **case.api, module=module)[0]
    fixed = {a for f in traced.fixed for a in f.axes}
    sizes = {"N": 3 if "N" not in fixed else traced.traced_at["N"]}

    symbols = iter([dims for _, dims, _ in traced.inputs])

    def grown(leaf: object) -> object:
        dims = list(next(symbols))
        if leaf.batch_dim is not None:  # type: ignore[attr-defined]
            del dims[leaf.batch_dim]  # type: ignore[attr-defined]
        shape = list(leaf.shape)  # type: ignore[attr-defined]
        for d, dim in enumerate(dims):
            axis = dim.floor.axis if isinstance(dim, Term) and dim.floor == Floor(str(dim)) else None
            if axis is not None:
                shape[d] = sizes[axis] = shape[d] * factor + 1 if axis not in fixed else traced.traced_at[axis]
        return replace(leaf, shape=tuple(shape))  # type: ignore[type-var]

    return sizes, inputs.map(grown)


SIZED = [c for c in CASES if "input_size" in c.api]


@pytest.mark.parametrize("case", SIZED, ids=[c.name for c in SIZED])
def test_formulas_of_a_user_model_give_the_traced_numbers_at_other_sizes(case: Case) -> None:
    """Every layer call's output shape and MACs, evaluated at two other sizes of the axes
    the model leaves free (and N = 3), equal a plain trace at those sizes."""
    target = f"{HERE}:{case.target}"
    traced = archscope.symbolic_shapes(target, **case.api)
    assert isinstance(traced, TracedSymbolic)
    for factor in (2, 3):
        sizes, inputs = _scaled(case, traced, factor)
        plain = archscope.trace(target, input_size=inputs, batch=sizes["N"])
        for rec in plain.layers:
            shape = traced.shape(rec)
            if shape is not None and rec.output_shapes:
                assert tuple(_value(d, sizes) for d in shape) == rec.output_shapes[0], (rec.name, sizes)
            assert _value(traced.macs_of[(rec.name, rec.call)], sizes) == rec.macs_total, (rec.name, sizes)
        assert _value(traced.macs, sizes) == plain.totals.macs


DATA = [c for c in CASES if "input_data" in c.api]


@pytest.mark.parametrize("case", DATA, ids=[c.name for c in DATA])
def test_a_model_fed_data_gets_formulas_that_give_its_numbers(case: Case) -> None:
    """Fed tensors (several inputs, dicts, lists, states): the formulas at the sizes fed
    are the plain trace's numbers."""
    target = f"{HERE}:{case.target}"
    traced = archscope.symbolic_shapes(target, **case.api)
    assert isinstance(traced, TracedSymbolic)
    plain = archscope.trace(target, **case.api)
    sizes = traced.sizes_of([leaf.full_shape(plain.batch) for leaf in plain.inputs.leaves()])
    sizes |= {a: v for a, v in traced.traced_at.items() if a not in sizes}
    assert _value(traced.macs, sizes) == plain.totals.macs
    assert [tuple(_value(d, sizes) for d in s) for s in traced.output] == plain.output_shapes


def test_inputs_of_one_shape_share_their_symbols() -> None:
    """A token encoder fed ids and a padding mask, both N×L: one L, and attention's L²."""
    traced = archscope.symbolic_shapes(f"{HERE}:TokenEncoder", input_size={"ids": (12,), "src_key_padding_mask": (12,)},
                                       dtypes=["int64", "bool"])
    assert isinstance(traced, TracedSymbolic) and traced.axes == ("N", "L")
    assert [str(d) for _, shape, _ in traced.inputs for d in shape] == ["N", "L", "N", "L"]
    macs = per_sample(traced.macs)
    assert isinstance(macs, Poly) and (Floor("L"), Floor("L")) in macs.terms  # Q·Kᵀ and weights·V
    assert macs.text().startswith("N·(") and "L²" in macs.text()


class _FixedSize(nn.Module):
    """A patch embedding that checks its input size, as ViTs do."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = _Patch()
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.patch(x).mean(1))


class _Patch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 16, 8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.shape[-1] == 32, "the input must be 32 wide")
        return self.proj(x).flatten(2).transpose(1, 2)


def _module_target(module: nn.Module, name: str = "m") -> Target:
    return Target(name, "import", name, instance=module)


def test_a_size_the_model_fixes_is_said_with_the_layer_that_fixes_it() -> None:
    traced = archscope.symbolic_shapes(_FixedSize(), input_size=(3, 48, 32))
    assert isinstance(traced, TracedSymbolic)
    assert [(f.requires, f.layer) for f in traced.fixed] == [("W = 32", ("patch", "_Patch"))]
    assert [str(d) for d in traced.layers[("patch.proj", 1)]] == ["N", "16", "⌊H/8⌋", "4"]  # W is 32 from there


class _ReadsData(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate = _Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x)


class _Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0]  # the output size is the data's


def test_a_size_that_depends_on_the_data_is_said_with_the_layer_that_makes_it() -> None:
    traced = archscope.symbolic_shapes(_ReadsData(), input_size=(8,))
    assert isinstance(traced, TracedSymbolic) and traced.data == [("?1", ("gate", "_Gate"))]
    assert [str(d) for d in traced.output[0]] == ["?1"]


class _Item(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[: int(x.sum().item())]


def test_a_forward_that_cannot_run_with_symbolic_sizes_is_refused_with_a_reason() -> None:
    with pytest.raises(SymbolicError, match="data"):
        archscope.symbolic_shapes(_Item(), input_size=(8,))


def test_summary_symbolic_of_a_model_that_reads_data_keeps_its_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gate.py"
    path.write_text("import torch\nfrom torch import nn\n\nclass M(nn.Module):\n"
                    "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 8)\n\n"
                    "    def forward(self, x):\n        y = self.fc(x)\n        return y[y > 0]\n")
    result = CliRunner().invoke(app, ["summary", f"{path}:M", "--input", "8", "--symbolic", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "Total MACs: 64" in result.output
    assert "Symbolic sizes: ?1 depends on the data, from the root" in result.output
    assert "Traceback" not in result.output


def test_summary_symbolic_of_a_user_model_text_and_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["summary", MYNET, "--input", "3x32x32", "--symbolic", "--depth", "1"])
    assert result.exit_code == 0, result.output
    assert "│ N×32×H×W" in result.output.replace("  ", " ") or "N×32×H×W" in result.output
    assert "Symbolic input: N×3×H×W (numbers above: N=1, H=32, W=32)" in result.output
    assert "Symbolic MACs: N·(5,984·H·W + 320)" in result.output  # 3·9·32 + 32·16 + 32·9·16 per pixel; 32·10
    out = tmp_path / "s.json"
    result = CliRunner().invoke(app, ["summary", MYNET, "--input", "3x32x32", "--symbolic", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["symbolic"]["macs"] == "N·(5,984·H·W + 320)" and data["symbolic"]["notes"] == []
    assert {"coef": 320, "factors": []} in data["symbolic"]["macs_terms"]
    pool = next(layer for layer in data["layers"] if layer["name"] == "pool")
    assert pool["symbolic_shape"] == "N×32×⌊H/2⌋×⌊W/2⌋"


def test_a_unet_s_formulas_come_back_to_its_input_size() -> None:
    traced = archscope.symbolic_shapes(UNET, input_size="3x64x64")
    assert isinstance(traced, TracedSymbolic)
    assert [str(d) for d in traced.output[0]] == ["N", "2", "4·⌊H/4⌋", "4·⌊W/4⌋"]  # H itself when 4 divides it
    # the skips' concatenations need the upsampled sizes to be the skips' (sizes: multiples of 4)
    assert [(f.requires, f.layer) for f in traced.fixed] == [
        ("⌊H/2⌋ = 2·⌊H/4⌋", ("", "UNet")), ("⌊W/2⌋ = 2·⌊W/4⌋", ("", "UNet")),
        ("H = 4·⌊H/4⌋", ("", "UNet")), ("W = 4·⌊W/4⌋", ("", "UNet"))]


def test_a_spec_gets_its_spec_formulas_without_tracing() -> None:
    assert archscope.symbolic_shapes("resnet50").output == symbolic(zoo.get("resnet50").spec()).output


def test_a_pass_past_its_time_limit_is_stopped_with_a_reason() -> None:
    with pytest.raises(SymbolicError, match=r"stopped after \d+ s, at "):
        archscope.symbolic_shapes(MYNET, input_size="3x32x32", time_limit=0)


class _Swallows(nn.Module):
    """Catches every exception of a slow stretch, as sympy's code does around its own
    evaluation, then goes on (``fails``: with an error of its own, as torch then does)."""

    def __init__(self, fails: bool) -> None:
        super().__init__()
        self.conv, self.fails = nn.Conv2d(3, 4, 3), fails

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        x = self.conv(x)  # no layer call after the stretch: the hooks' own check of the time never comes
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001, S110 (the point of the model)
                pass
        if self.fails:
            raise TypeError("unsupported operand type(s) for *: 'int' and 'FakeTensor'")
        return x * 2


@pytest.mark.parametrize("fails", [False, True])
def test_a_pass_whose_time_limit_torch_caught_is_still_stopped(fails: bool) -> None:
    """The timer's exception caught on the way (sympy's code does so): the pass is reported
    stopped, not as the error that followed nor as a result computed after it (CI, timm's
    Sequencer, whose LSTM failed with a TypeError once the timer had rung inside it)."""
    with pytest.raises(SymbolicError, match=r"stopped after \d+ s, at "):
        archscope.symbolic_shapes(_Swallows(fails), input_size="3x16x16", time_limit=0.2)


def test_torch_s_size_expressions_convert_to_formulas_with_the_same_values() -> None:
    """Torch's forms (floor and ceil divisions, remainders, a padding to a multiple, powers)
    in the spec path's algebra: equal at every size from 1 to 300, and written as it is."""
    import sympy
    from torch.utils._sympy.functions import CeilToInt, FloorDiv, IntTrueDiv, Mod

    from archscope.analysis.symbolic_trace import _Converter

    h = sympy.Symbol("s0", integer=True, positive=True)

    class Unchanged:
        def replace(self, expr: object) -> object:
            return expr

    convert = _Converter(Unchanged(), {h: "H"})
    quarter = FloorDiv(h, 4)
    cases = {
        FloorDiv(h - 1, 2) + 1: "⌈H/2⌉",
        CeilToInt(IntTrueDiv(h, 3)): "⌈H/3⌉",
        Mod(h, 4): "H − 4·⌊H/4⌋",
        quarter + Mod(7 - Mod(quarter, 7), 7): "7·⌊(H+24)/28⌋",  # Swin's padding to whole windows
        FloorDiv(quarter + Mod(7 - Mod(quarter, 7), 7), 7): "⌊(H+24)/28⌋",
        512 * h + 512: "512·(H+1)",
        FloorDiv(5 - h, 3): "-1·⌊(H-3)/3⌋",
        (h + 1) ** 2: "(H+1)²",
    }
    for expr, text in cases.items():
        dim = convert.dim(expr)
        assert isinstance(dim, (Term, Poly)), expr
        assert (str(dim) if isinstance(dim, Term) else dim.text("", commas=False)) == text
        assert all(dim.value({"H": x}) == int(expr.subs(h, x)) for x in range(1, 301)), expr
    assert convert.dim(sympy.Max(1, h - 3)) == "Max(1, H - 3)"  # no form for it: torch's, named
