"""The HTML report in a real browser: headless Chromium (Debian's package), driven by
Playwright's Python API, opens ``archscope summary MODEL -o report.html`` and checks what a
user sees: the table's rows and cells, rows folding, the filter, a folded run expanding and
collapsing on click, a row highlighting its node and a node selecting its row, the hover
card, and no console error and no network request.

Needs ``playwright`` (PyPI; its own browser download is not used), ``chromium`` and
Graphviz's ``dot``: ``.ci/run`` installs them for its browser stage and sets
``ARCHSCOPE_REQUIRE_BROWSER=1``, which makes their absence a failure. Skipped elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archscope
from archscope.cli.main import app
from archscope.report import units
from archscope.report.rows import shown_macs, shown_params, visible

REQUIRED = os.environ.get("ARCHSCOPE_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [what for what, there in (("playwright", importlib.util.find_spec("playwright") is not None),
                                    ("chromium", CHROMIUM is not None), ("dot", shutil.which("dot") is not None))
           if not there]
if MISSING and REQUIRED:
    raise RuntimeError(f"the browser tests need {', '.join(MISSING)} (ARCHSCOPE_REQUIRE_BROWSER=1)")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (.ci/run's browser stage)")
sync_api = pytest.importorskip("playwright.sync_api") if not MISSING else None
# As root, with this machine's closed network: no sandbox, no background connections.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
LAPTOP = {"width": 1440, "height": 900}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    made = {}
    for key, args in {"resnet50": ["resnet50"], "inception_v3": ["inception_v3", "--input", "299"],
                      "mynet": [str(ROOT / "docs/examples/mynet.py") + ":Net", "--input", "32"]}.items():
        path = out / f"{key}.html"
        result = CliRunner().invoke(app, ["summary", *args, "-o", str(path)])
        assert result.exit_code == 0, result.output
        made[key] = path
    return made


class Opened:
    """A page with the report loaded, and what the browser said and asked for meanwhile."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport=LAPTOP)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#as-graph svg")

    def row(self, name: str) -> Any:
        return self.page.locator(f'.as-table tbody tr[data-name="{name}"]').first

    def visible_rows(self) -> list[str]:
        return self.page.eval_on_selector_all(".as-table tbody tr:not([hidden])", "rs => rs.map(r => r.dataset.name)")

    def node_ids(self) -> list[str]:
        return self.page.eval_on_selector_all("#as-graph g.node", "gs => gs.map(g => g.dataset.id)")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def r50(browser: Any, reports: dict[str, Path]) -> Iterator[Opened]:
    opened = Opened(browser, reports["resnet50"])
    yield opened
    assert opened.errors == []
    opened.close()


@pytest.fixture(scope="module")
def r50_trace() -> Any:
    return archscope.trace("resnet50", analytic=False)


def test_the_table_shows_every_layer_folded_at_depth_3(r50: Opened, r50_trace: Any) -> None:
    rows = r50.page.locator(".as-table tbody tr")
    assert rows.count() == len(r50_trace.layers)
    assert r50.visible_rows() == [r.name for r in visible(r50_trace, 3)]
    conv1 = next(r for r in r50_trace.layers if r.name == "conv1")
    cells = [c.strip() for c in r50.row("conv1").locator("td").all_inner_texts()]
    assert cells[:6] == ["conv1", "Conv2d", units.shapes(conv1.output_shapes), units.count(conv1.params),
                         units.cost(conv1.macs), units.nbytes(conv1.output_bytes)]
    assert cells[6] == f"✓ {conv1.check.expect}"
    checks = r50.page.inner_text("#as-checks")
    assert f"{len(r50_trace.checks)} checked, {len(r50_trace.checks)} match" in checks
    assert units.count(r50_trace.totals.params) in r50.page.inner_text("header")


def test_a_row_folds_and_shows_its_subtree_totals(r50: Opened, r50_trace: Any) -> None:
    layer1 = next(r for r in r50_trace.layers if r.name == "layer1")
    r50.row("layer1").locator(".as-toggle").click()
    shown = r50.visible_rows()
    assert "layer1" in shown and not any(n.startswith("layer1.") for n in shown)
    params, macs = (r50.row("layer1").locator("td").nth(i).inner_text() for i in (3, 4))
    assert (params, macs) == (units.count(layer1.params_total), units.cost(layer1.macs_total))
    r50.row("layer1").locator(".as-toggle").click()
    assert "layer1.0.conv1" in r50.visible_rows()
    assert r50.row("layer1").locator("td").nth(4).inner_text() == units.cost(shown_macs(layer1, 3))


def test_the_depth_bar_and_the_filter(r50: Opened, r50_trace: Any) -> None:
    r50.page.click("#as-depths button[data-depth='1']")
    assert r50.visible_rows() == [r.name for r in visible(r50_trace, 1)]
    r50.page.fill("#as-filter", "downsample.0")
    shown = r50.visible_rows()
    matches = {f"layer{i}.0.downsample.0" for i in range(1, 5)}
    assert {n for n in shown if "downsample.0" in n} == matches
    assert all(n in matches or any(m.startswith(n + ".") for m in matches) for n in shown)  # or an ancestor
    r50.page.fill("#as-filter", "")
    assert r50.visible_rows() == [r.name for r in visible(r50_trace, 1)]


def test_a_folded_run_expands_and_collapses_on_click(r50: Opened) -> None:
    folded = r50.node_ids()
    assert "layer1.2.conv1" not in folded and "layer1.1.conv1" in folded
    r50.page.click('#as-graph g.cluster[data-id="cluster_layer1.1"] > text')  # its title, as a user would
    expanded = r50.node_ids()
    assert {"layer1.2.conv1", "layer1.2.conv3"} <= set(expanded)
    assert "layer3.2.conv1" not in expanded  # one run opens, the others stay folded
    assert "Bottleneck ×2 expanded" in r50.page.inner_text("#as-status")
    r50.page.click('#as-graph g.cluster[data-id="cluster_layer1.2"] > text')  # a block of the open run: fold it again
    assert r50.node_ids() == folded


def test_a_row_highlights_its_node_and_a_node_selects_its_row(r50: Opened) -> None:
    r50.row("layer3.4.conv2").click()  # folded away in layer3's run: the run opens to show it
    node = r50.page.locator('#as-graph g.node[data-id="layer3.4.conv2"]')
    assert "as-hl" in (node.get_attribute("class") or "")
    box, pane = node.bounding_box(), r50.page.locator("#as-graph").bounding_box()
    assert pane["y"] <= box["y"] <= pane["y"] + pane["height"]  # scrolled into view
    r50.page.locator('#as-graph g.node[data-id="layer2.0.downsample.0"]').click()
    row = r50.row("layer2.0.downsample.0")
    assert "as-selected" in (row.get_attribute("class") or "") and row.is_visible()


def test_hovering_a_node_shows_its_shapes_params_and_macs(r50: Opened, r50_trace: Any) -> None:
    conv = next(r for r in r50_trace.layers if r.name == "layer1.0.conv2")
    r50.page.hover('#as-graph g.node[data-id="layer1.0.conv2"]')
    card = r50.page.inner_text("#as-tip")
    assert r50.page.locator("#as-tip").is_visible()
    for text in ("layer1.0.conv2", "Conv2d", units.shapes(conv.input_shapes), units.shapes(conv.output_shapes),
                 units.count(shown_params(conv, 3)), units.cost(conv.macs)):
        assert text in card


def test_it_loads_nothing_from_the_network(r50: Opened) -> None:
    assert r50.requests and all(url.startswith(("file:", "data:")) for url in r50.requests)


@pytest.mark.parametrize("key", ["inception_v3", "mynet"])
def test_other_models_open_cleanly(browser: Any, reports: dict[str, Path], key: str, tmp_path: Path) -> None:
    opened = Opened(browser, reports[key])
    assert opened.page.locator(".as-table tbody tr").count() > 5
    first = opened.node_ids()[1]  # after the input
    opened.page.locator(f'#as-graph g.node[data-id="{first}"]').click()
    assert opened.page.locator(".as-table tr.as-selected").count() == 1
    opened.page.screenshot(path=str(tmp_path / f"{key}.png"))
    assert opened.errors == []
    opened.close()


def test_without_dot_the_report_keeps_the_table_and_says_why(browser: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    path = tmp_path / "r18.html"
    result = CliRunner().invoke(app, ["summary", "resnet18", "-o", str(path)])
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport=LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    assert page.locator("#as-graph svg").count() == 0
    assert "dot" in page.inner_text("#as-graph")
    page.click(".as-table tbody tr[data-name='layer1']")
    assert errors == []
    page.close()


def test_the_graph_page_opens_a_collapsed_run_on_click(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "r50.html"
    result = CliRunner().invoke(app, ["graph", "resnet50", "-o", str(path)])  # depth 2: blocks are nodes
    assert result.exit_code == 0, result.output
    opened = Opened(browser, path)
    assert {n.count(".") for n in opened.visible_rows() if n} == {0, 1}  # the table at the diagram's depth
    folded = opened.node_ids()
    assert "layer3.1" in folded and "layer3.2" not in folded
    opened.page.click('#as-graph g.node[data-id="layer3.1"]')
    assert {"layer3.2", "layer3.5"} <= set(opened.node_ids()) and "layer2.2" not in opened.node_ids()
    assert "as-selected" in (opened.row("layer3.1").get_attribute("class") or "")
    opened.page.click("#as-unfold")  # 'Fold repeats'
    assert opened.node_ids() == folded
    assert opened.errors == []
    opened.close()


def test_hostile_layer_names_are_shown_and_linked(browser: Any, tmp_path: Path) -> None:
    from torch import nn

    from archscope.report.html.page import report_html
    from archscope.tracer.dataflow import recording

    names = ["</script><script>alert(1)</script>", 'a:b"\\%41', "<b>"]
    model = nn.Sequential()
    for name in names:
        model.add_module(name, nn.ReLU())
    with recording() as flow:
        trace = archscope.trace(model, input_size=(4,), analytic=False)
    path = tmp_path / "hostile.html"
    path.write_text(report_html(trace, flow.graph(trace)), encoding="utf-8")
    opened = Opened(browser, path)
    assert [n for n in opened.visible_rows() if n] == names
    assert set(names) <= set(opened.node_ids())
    opened.page.locator("#as-graph g.node").nth(2).click()  # the second layer
    assert opened.page.locator(".as-table tr.as-selected").get_attribute("data-name") == names[1]
    assert opened.errors == []
    opened.close()
