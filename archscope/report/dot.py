"""Draw a dataflow graph (:mod:`archscope.tracer.flow`) as Graphviz DOT text. Pure functions.

What is drawn: one node per leaf-module call and per function between modules (joins:
add, concat, multiply, each a node of its own), edges labelled with the tensor shape
(``N×256×56×56``), container modules (stages, blocks) as nested clusters, nodes filled
by layer category with a legend; a layer or block whose expected shape does not match
is drawn in red.

Two views of the same graph, both deterministic (the same graph gives the same text):

- *depth*: modules deeper than ``depth`` are collapsed into the module at that depth,
  drawn as one node;
- *folding*: a run of consecutive sibling units with the same structure (same module
  types, attributes, wiring and shapes; channel counts may grow by the same amount, as a
  DenseNet layer's input does) is drawn once, as ``Bottleneck ×5``. A unit is a block,
  or a block and the join after it (DenseNet: ``_DenseLayer + cat ×6``). Only chained runs
  fold: each unit takes its input from the one before and feeds only the next.

Layout: the default depth (``depth="auto"``, :func:`choose_depth`) is the deepest at which
the picture stays about one screen (at most :data:`MAX_NODES` nodes and :data:`MAX_RANKS`
on the longest path); the title then says how deep it goes and which ``--depth`` draws
every layer. If that picture is still larger than :data:`SCREEN` (a chain of blocks that do
not fold, as googlenet's), Graphviz scales it down to fit (its ``size``; ``--size`` chooses
another). The legend is a node of the last rank (``rank=max``: beside the output, at the
bottom in TB, at the right in LR), so it never pushes the first node down. Branches
are drawn left to right in the order the code runs them: invisible ``minlen=0`` edges
(``class="order"``) chain the independent consumers of each tensor in call order (a hint
Graphviz's ``dot`` follows in practice: every Inception block of inception_v3 comes out in
code order; a lone layer beside a branch that is a cluster may still be swapped).

SVG ids and classes (what :mod:`archscope.report.diagram`'s SVG carries, for scripts that
find a layer in the picture; Graphviz writes a node's ``id`` and ``class`` into its
``<g>``, prefixing the class with ``node`` or ``cluster``):

- a node's ``id`` is ``KIND:NAME``, NAME being its DOT node name (also the SVG
  ``<title>``): ``layer:layer1.0.conv1`` (a leaf module's call; ``layer:b#2`` its second
  call), ``module:layer3`` (a module collapsed by the depth), ``op:layer1.0/add`` (a
  function between modules: the module it runs in, ``/``, the function, ``#k`` from the
  second call in that module on; ``op:/cat`` at the top), ``io:/input``, ``io:/output``
  (``#k`` when several). The module a node stands for is NAME for ``layer`` (without the
  ``#k``) and ``module``, the part before the last ``/`` for ``op``, none for ``io``
  (:attr:`Drawing.modules` maps every id to it).
- its ``class`` is ``KIND CATEGORY`` (``layer conv``, ``op add``, ``io input``; just
  ``module`` for a collapsed module), plus ``folded`` when it is drawn for a folded run
  (a node of its first unit, standing for every unit) and ``mismatch`` when drawn red.
- a container module's cluster has ``id`` ``cluster:NAME`` (``cluster:layer1.0``) and
  class ``module``; a folded run's cluster has ``id`` ``run:FIRST..LAST``, the first and
  last modules of the run (``run:layer3.1..layer3.5``,
  ``run:features.denseblock1.denselayer1..features.denseblock1.denselayer6``; module
  names never hold a dot, so ``..`` splits them) and class ``run``; ``mismatch`` is added
  when drawn red.
- the legend node's ``id`` is ``legend``. The ordering hints (``class="order"`` in the DOT)
  are invisible: Graphviz leaves them out of the SVG, whose edges are the tensors drawn.

The graph package (``graphviz``) only assembles the text here; laying it out with the
``dot`` program is :mod:`archscope.report.diagram`'s business.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import graphviz

from archscope.report.units import short
from archscope.spec.expect import Check
from archscope.spec.inputs import fmt_shape
from archscope.tracer.flow import JOINS, FlowEdge, FlowGraph, FlowModule, FlowNode, module_depth

# Fill colour and legend text per category, in legend order.
STYLE: dict[str, tuple[str, str]] = {
    "conv": ("#9ecae1", "convolution"),
    "norm": ("#fdf0a6", "normalisation"),
    "activation": ("#b8e3b0", "activation"),
    "pool": ("#fdc086", "pooling"),
    "linear": ("#cbb6e3", "linear"),
    "dropout": ("#e6e6e6", "dropout"),
    "reshape": ("#f2e0d0", "reshape"),
    "identity": ("#ffffff", "identity"),
    "layer": ("#ffffff", "other layer"),
    "add": ("#fb9a99", "add (join)"),
    "concat": ("#80cdc1", "concat (join)"),
    "multiply": ("#f4a6e3", "multiply (join)"),
    "function": ("#f7f7f7", "function"),
    "module": ("#d9d9d9", "module (collapsed)"),
    "io": ("#ffffff", "input / output"),
}
MISMATCH_COLOR = "#d62728"
MISMATCH_FILL = "#f7c4c4"
RANKDIRS = ("TB", "LR")
AUTO = "auto"  # the depth archscope chooses: the deepest that keeps the picture about one screen
MAX_NODES = 60  # nodes drawn, at most, at the depth chosen by itself
MAX_RANKS = 18  # nodes on the longest path, at most: each costs ~50 px at 96 dpi (a one-line node and its edge label)
SCREEN = "14,10.4"  # inches, 1344×1000 px at 96 dpi: the auto-depth picture is scaled down to fit, if larger
LEGEND_COLUMNS = {"TB": 5, "LR": 1}  # entries per legend row: a short strip below, a column to the right
CLUSTER = {"labeljust": "l", "fontsize": "10", "margin": "4", "color": "#888888", "fontcolor": "#333333"}


# ---------------------------------------------------------------- folding

Item = tuple[str, str]  # ("module", qualified name) or ("node", node id): a parent's direct content
FOLD_IGNORES = ("p",)  # dropout rates may differ along a run (EfficientNet's stochastic depth grows)


@dataclass
class Run:
    """Consecutive identical units (a block, or a block and the join after it) drawn once."""

    parent: str
    units: list[tuple[Item, ...]]
    types: str  # "Bottleneck", "_DenseLayer + cat"
    params: int  # of every unit

    def title(self, local: bool = False) -> str:
        """``layer3.1–5: Bottleneck ×5`` (``1–5: Bottleneck ×5`` when ``local``)."""
        first, last = self.units[0][0][1], self.units[-1][0][1].rpartition(".")[2]
        return f"{first.rpartition('.')[2] if local else first}–{last}: {self.types} ×{len(self.units)}"


@dataclass
class Folding:
    """Which nodes stand for which: units 2..k of a run are drawn as unit 1."""

    rep: dict[str, str] = field(default_factory=dict)  # node id -> the node drawn in its place
    runs: dict[str, Run] = field(default_factory=dict)  # first module of the run -> run
    hidden: set[str] = field(default_factory=set)  # modules folded into another
    member: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))  # node -> run -> unit
    group: dict[str, str] = field(default_factory=dict)  # node of a drawn multi-item unit -> its run

    def resolve(self, node_id: str) -> str:
        while node_id in self.rep:
            node_id = self.rep[node_id]
        return node_id

    def folded_away(self, edge: FlowEdge) -> bool:
        """An edge between two units of a run, or inside a unit not drawn: not drawn either."""
        a, b = self.member.get(edge.src, {}), self.member.get(edge.dst, {})
        return any(run in b and (b[run] != i or i > 0) for run, i in a.items())

    def module_run(self, module: str) -> Run | None:
        """The run drawn as this module's cluster (units of one module each)."""
        run = self.runs.get(module)
        return run if run is not None and len(run.units[0]) == 1 else None


class _Index:
    """Nodes and edges by module, computed once."""

    def __init__(self, graph: FlowGraph) -> None:
        self.graph = graph
        self.by_id = {n.id: n for n in graph.nodes}
        self.members: dict[str, list[FlowNode]] = defaultdict(list)
        for node in graph.nodes:
            for module in _ancestors(node.scope):
                self.members[module].append(node)
        self.ins: dict[str, list[FlowEdge]] = defaultdict(list)
        self.outs: dict[str, list[FlowEdge]] = defaultdict(list)
        for e in graph.edges:
            self.ins[e.dst].append(e)
            self.outs[e.src].append(e)

    def items(self, parent: str) -> list[Item]:
        """The parent's direct content in call order: its child modules and its own nodes."""
        level = module_depth(parent)
        items: list[Item] = []
        for node in self.members[parent]:
            item = ("node", node.id) if node.scope == parent else ("module", _prefix(node.scope, level + 1))
            if not items or items[-1] != item:
                items.append(item)
        return items

    def unit_nodes(self, unit: tuple[Item, ...]) -> list[tuple[int, str, FlowNode]]:
        """(item index, the item's base name, node) for every node of a unit, in order."""
        out: list[tuple[int, str, FlowNode]] = []
        for k, (kind, name) in enumerate(unit):
            if kind == "module":
                out += [(k, name, n) for n in self.members[name]]
            else:
                out.append((k, self.by_id[name].scope, self.by_id[name]))
        return out


def fold(graph: FlowGraph, open_runs: Collection[str] = ()) -> Folding:
    """Find the runs of identical chained sibling units, outermost first. A run whose first
    module is in ``open_runs`` is not folded: its units are drawn one by one (and runs
    inside them fold on their own)."""
    index, folding = _Index(graph), Folding()
    queue = [""]
    while queue:
        parent = queue.pop(0)
        items = index.items(parent)
        modules = [name for kind, name in items if kind == "module"]
        if len(set(modules)) == len(modules):  # each child runs once, in one stretch
            own_ops = any(kind == "node" and index.by_id[name].kind == "op" for kind, name in items)
            i = 0
            while i < len(items):
                units = _run_at(index, items, i, own_ops)
                if units and units[0][0][1] not in open_runs:
                    _fold_run(index, folding, parent, units)
                i += sum(len(u) for u in units) or 1
        queue.extend(m for m in modules if m not in folding.hidden)
    return folding


def _run_at(index: _Index, items: list[Item], i: int, own_ops: bool) -> list[tuple[Item, ...]]:
    """The longest run starting at ``items[i]``, of units of 1 to 3 items starting with a module.

    # NOTE: inside a block that joins its own children (an Inception block's branches
    # meet in its concat), only units that hold a join fold: two identical convs in a
    # row on one branch stay drawn, so the branches keep their names.
    """
    if items[i][0] != "module":
        return []
    for period in (1, 2, 3):
        units = [tuple(items[i:i + period])]
        while i + (len(units) + 1) * period <= len(items):
            following = tuple(items[i + len(units) * period:i + (len(units) + 1) * period])
            if not _foldable(index, units[-1], following):
                break
            units.append(following)
        if len(units) > 1 and (not own_ops or any(n.category in JOINS for _, _, n in index.unit_nodes(units[0]))):
            return units
    return []


def _foldable(index: _Index, a: tuple[Item, ...], b: tuple[Item, ...]) -> bool:
    if len(a) != len(b) or any(x[0] != y[0] or _item_type(index, x) != _item_type(index, y)
                               for x, y in zip(a, b, strict=True)):
        return False
    na, nb = index.unit_nodes(a), index.unit_nodes(b)
    if len(na) != len(nb) or any(_signature(*x) != _signature(*y) for x, y in zip(na, nb, strict=True)):
        return False
    pa, ea = _wiring(index, [n for _, _, n in na])
    pb, eb = _wiring(index, [n for _, _, n in nb])
    if len(ea) != len(eb) or any(x[:2] != y[:2] for x, y in zip(ea, eb, strict=True)):
        return False
    chained = (all(e.src in pa for _, _, n in nb for e in index.ins[n.id] if e.src not in pb)
               and all(e.dst in pb for _, _, n in na for e in index.outs[n.id] if e.dst not in pa))
    return chained and _same_shapes(ea, eb)


def _item_type(index: _Index, item: Item) -> str:
    return index.graph.modules[item[1]].type if item[0] == "module" else index.by_id[item[1]].type


def _signature(k: int, base: str, node: FlowNode) -> tuple[object, ...]:
    where = node.name if node.kind == "module" else node.scope
    attrs = tuple((key, v) for key, v in node.attrs.items() if key not in FOLD_IGNORES)
    return k, node.kind, node.type, node.category, attrs, where[len(base):]


def _wiring(index: _Index, nodes: list[FlowNode]) -> tuple[dict[str, int], list[tuple[int, int, tuple[int, ...]]]]:
    """Positions of the nodes and their edges as (src, dst, shape); -1 is outside."""
    pos = {n.id: i for i, n in enumerate(nodes)}
    edges = [(pos.get(e.src, -1), pos[e.dst], e.shape) for n in nodes for e in index.ins[n.id]]
    # what leaves, once per (node, shape): where it goes is the next unit's business
    leaving = [(pos[e.src], -1, e.shape) for n in nodes for e in index.outs[n.id] if e.dst not in pos]
    return pos, edges + list(dict.fromkeys(leaving))


def _same_shapes(ea: Sequence[tuple[int, int, tuple[int, ...]]],
                 eb: Sequence[tuple[int, int, tuple[int, ...]]]) -> bool:
    """Equal shapes, except channel counts that differ by the difference of the inputs'."""
    ins_a, ins_b = [e[2] for e in ea if e[0] == -1], [e[2] for e in eb if e[0] == -1]
    grow = ins_b[0][1] - ins_a[0][1] if ins_a and ins_b and len(ins_a[0]) > 1 and len(ins_b[0]) > 1 else 0
    for (_, _, sa), (_, _, sb) in zip(ea, eb, strict=True):
        if len(sa) != len(sb) or sa[:1] != sb[:1] or sa[2:] != sb[2:]:
            return False
        if len(sa) > 1 and sb[1] not in (sa[1], sa[1] + grow):
            return False
    return True


def _fold_run(index: _Index, folding: Folding, parent: str, units: list[tuple[Item, ...]]) -> None:
    key = units[0][0][1]
    types = " + ".join(_item_type(index, item) for item in units[0])
    params = sum(index.graph.modules[name].params for unit in units for kind, name in unit if kind == "module")
    folding.runs[key] = Run(parent, units, types, params)
    drawn = index.unit_nodes(units[0])
    for j, unit in enumerate(units):
        for (_, _, node), (_, _, rep) in zip(index.unit_nodes(unit), drawn, strict=True):
            folding.member[node.id][key] = j
            if j:
                folding.rep[node.id] = rep.id
            elif len(unit) > 1:
                folding.group[node.id] = key
        for kind, name in unit if j else ():
            if kind == "module":
                folding.hidden.update(m for m in index.graph.modules if m == name or m.startswith(name + "."))


# ---------------------------------------------------------------- the view: visible nodes, clusters, edges


@dataclass
class View:
    nodes: dict[str, dict[str, str]]  # visible id -> DOT attributes, in first-appearance order
    owner: dict[str, str]  # visible id -> the module whose cluster holds it; "" for none
    group: dict[str, str]  # visible id -> the run of multi-item units whose cluster holds it
    edges: list[tuple[str, str, str]]  # (src, dst, shape label)
    categories: list[str]  # present, in legend order
    mismatch: bool
    svg: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # visible id -> (SVG id, class, module)


def build_view(graph: FlowGraph, depth: int | None = None, folding: Folding | None = None) -> View:
    folding = folding or Folding()
    by_id = {n.id: n for n in graph.nodes}
    visible: dict[str, str] = {}
    view = View({}, {}, {}, [], [], False)
    for node in graph.nodes:
        rep = by_id[folding.resolve(node.id)]
        vid, collapsed = _visible(rep, depth)
        visible[node.id] = vid
        if vid in view.nodes:
            continue
        if collapsed is not None:
            view.nodes[vid] = _module_attrs(graph.modules[collapsed], folding.module_run(collapsed))
            view.owner[vid] = collapsed.rpartition(".")[0]
            folded = any(module_depth(collapsed) > module_depth(folding.runs[run].parent)  # inside a unit
                         for run in folding.member.get(rep.id, {}))
            view.svg[vid] = _svg_ids(vid, "module", "", collapsed, folded, view.nodes[vid])
        else:
            view.nodes[vid] = _node_attrs(rep)
            view.owner[vid] = rep.scope
            kind = {"module": "layer", "op": "op"}.get(rep.kind, "io")
            category = rep.kind if kind == "io" else rep.category
            view.svg[vid] = _svg_ids(vid, kind, category, rep.name if kind == "layer" else rep.scope if kind == "op"
                                     else "", rep.id in folding.member, view.nodes[vid])
        run = folding.group.get(rep.id)
        if run is not None and (collapsed is None or module_depth(collapsed) > module_depth(folding.runs[run].parent)):
            view.group[vid] = run
    seen: set[tuple[str, str, str]] = set()
    for e in graph.edges:
        if folding.folded_away(e):
            continue
        src, dst = visible[e.src], visible[e.dst]
        edge = (src, dst, fmt_shape(e.shape[1:], "N" if e.shape else None))  # the batch written N
        if src == dst or ((src, dst) != (e.src, e.dst) and edge in seen):
            continue
        seen.add(edge)
        view.edges.append(edge)
    present = {a["_category"] for a in view.nodes.values()}
    view.categories = [c for c in STYLE if c in present]
    view.mismatch = any(a.get("color") == MISMATCH_COLOR for a in view.nodes.values())
    return view


def _svg_ids(vid: str, kind: str, category: str, module: str, folded: bool,
             attrs: dict[str, str]) -> tuple[str, str, str]:
    classes = [kind, category] + ["folded"] * folded + ["mismatch"] * (attrs.get("color") == MISMATCH_COLOR)
    return f"{kind}:{vid}", " ".join(c for c in classes if c), module


def _visible(node: FlowNode, depth: int | None) -> tuple[str, str | None]:
    """The id drawn for ``node`` and, when it is collapsed into a module, that module."""
    if depth is None or node.kind in ("input", "output"):
        return node.id, None
    own = module_depth(node.name) if node.kind == "module" else module_depth(node.scope) + 1
    if own <= depth:
        return node.id, None
    module = _prefix(node.name if node.kind == "module" else node.scope, depth)
    return module, module


def _node_attrs(node: FlowNode) -> dict[str, str]:
    if node.kind in ("input", "output"):
        return {"label": _label([node.name or node.kind]), "shape": "oval", "_category": "io",
                "fillcolor": STYLE["io"][0]}
    if node.kind == "op":
        attrs = {"label": node.type, "shape": "ellipse", "_category": node.category,
                 "fillcolor": STYLE.get(node.category, STYLE["function"])[0]}
        if node.category in JOINS:
            attrs["penwidth"] = "1.5"
        return attrs
    lines = [f"{node.local}: {node.type}" if node.name else node.type]
    details = [text for text in (_format_attrs(node.attrs), _params(node.params)) if text]
    if details:  # one line: a rank costs height, and the width is there
        lines[0] = " · ".join([lines[0], *details])
    attrs = {"_category": node.category, "fillcolor": STYLE.get(node.category, STYLE["layer"])[0],
             "tooltip": _text(node.name or node.type)}
    return _checked(attrs, lines, node.check)


def _module_attrs(module: FlowModule, run: Run | None) -> dict[str, str]:
    params = run.params if run else module.params
    lines = [run.title(local=True) if run else f"{module.name.rpartition('.')[2]}: {module.type}"]
    if params:  # one line: "0: Bottleneck · 75K params"
        lines[0] += f" · {_params(params)}"
    attrs = {"_category": "module", "fillcolor": STYLE["module"][0], "shape": "box3d", "tooltip": _text(module.name)}
    return _checked(attrs, lines, module.check)


def _params(params: int) -> str:
    return f"{short(params)} params" if params else ""


def _checked(attrs: dict[str, str], lines: list[str], check: Check | None) -> dict[str, str]:
    if check is not None and not check.ok:
        lines.append(_mismatch(check))
        attrs.update(color=MISMATCH_COLOR, fontcolor=MISMATCH_COLOR, fillcolor=MISMATCH_FILL, penwidth="2")
    attrs["label"] = _label(lines)
    return attrs


def _mismatch(check: Check) -> str:
    got = check.actual
    return f"expected {check.expect}, got {fmt_shape(got[1:], 'N' if got else None)}"


def _format_attrs(attrs: dict[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        dims = tuple(value) if isinstance(value, (tuple, list)) else (value,)  # a pool's kernel may be a list
        text = fmt_shape(dims, None)
        if key == "kernel":
            parts.append(text if len(dims) > 1 else fmt_shape(dims * 2, None))
        elif key == "p":
            parts.append(f"p={value}")
        elif key == "output":
            parts.append(f"output {text}")
        elif any(d != 1 for d in dims):
            parts.append(f"{key} {dims[0] if len(set(dims)) == 1 else text}")
    return ", ".join(parts)


# ---------------------------------------------------------------- DOT text


@dataclass(frozen=True)
class Drawing:
    """The DOT text of a graph and what it shows."""

    source: str
    depth: int | None  # the depth drawn; None: every layer
    full_depth: int  # the depth from which every layer is drawn
    nodes: int  # nodes drawn (the legend not counted)
    modules: dict[str, str]  # SVG id of every drawn node -> the module it stands for ("" for none)


def render_dot(graph: FlowGraph, *, depth: int | str | None = None, fold_blocks: bool = True,
               rankdir: str = "TB", legend: bool = True, size: str | None = None,
               open_runs: Collection[str] = ()) -> str:
    """DOT text for ``graph``: modules below ``depth`` collapsed, identical blocks folded."""
    return draw(graph, depth=depth, fold_blocks=fold_blocks, rankdir=rankdir, legend=legend, size=size,
                open_runs=open_runs).source


def draw(graph: FlowGraph, *, depth: int | str | None = None, fold_blocks: bool = True, rankdir: str = "TB",
         legend: bool = True, size: str | None = None, open_runs: Collection[str] = ()) -> Drawing:
    """The DOT text of ``graph`` and what it shows. ``depth``: modules deeper are collapsed
    into one node; None draws every layer, ``"auto"`` the deepest that fits a screen
    (:func:`choose_depth`). ``fold_blocks``: fold runs of identical blocks, except those
    whose first module is in ``open_runs`` (:func:`fold`). ``size``: Graphviz's ``size``
    (inches, ``"8,10"``; see :func:`graph_size`)."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    folding = fold(graph, open_runs) if fold_blocks else Folding()
    full = full_depth(graph)
    if depth == AUTO:
        depth = choose_depth(graph, folding)
        size = SCREEN if size is None else size
    elif depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a positive integer, None or {AUTO!r}, got {depth!r}")
    if depth is not None and depth >= full:
        depth = None
    view = build_view(graph, depth, folding)
    dot = graphviz.Digraph(graph.model)
    title = _title(graph)
    if depth is not None:
        title[0] += f" · depth {depth} of {full}: --depth {full} draws every layer"  # one line: it costs height
    attrs = {"size": graph_size(size)} if size is not None else {}
    dot.attr("graph", rankdir=rankdir, label=_label(title), labelloc="t", fontname="Helvetica",
             fontsize="12", nodesep="0.15", ranksep="0.1", **attrs)
    dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10", margin="0.06,0.02",
             height="0")
    dot.attr("edge", fontname="Helvetica", fontsize="8", color="#555555", arrowsize="0.6")
    _emit_clusters(dot, view, graph, folding)
    for src, dst, label in view.edges:
        dot.edge(dot_name(src), dot_name(dst), label=label)
    for src, dst in order_hints(view):
        dot.edge(dot_name(src), dot_name(dst), _attributes=[("style", "invis"), ("minlen", "0"), ("class", "order")])
    if legend:
        with dot.subgraph() as sink:  # the last rank: beside the output, below the graph in TB, right of it in LR
            sink.attr(rank="max")
            sink.node("/legend", label=_legend(view, LEGEND_COLUMNS[rankdir]), shape="plaintext", style="",
                      fontsize="9", _attributes=[("id", "legend")])
    return Drawing(dot.source, depth, full, len(view.nodes), {svg: module for svg, _, module in view.svg.values()})


def full_depth(graph: FlowGraph) -> int:
    """The depth from which every layer is drawn (a deeper one changes nothing)."""
    own = [module_depth(n.name) if n.kind == "module" else module_depth(n.scope) + 1
           for n in graph.nodes if n.kind in ("module", "op")]
    return max(own, default=1)


def choose_depth(graph: FlowGraph, folding: Folding | None = None) -> int | None:
    """The deepest depth whose picture has at most :data:`MAX_NODES` nodes and
    :data:`MAX_RANKS` on its longest path (None: every layer fits); 1 when none does."""
    folding = folding if folding is not None else fold(graph)
    full, chosen = full_depth(graph), 1
    for depth in range(1, full + 1):
        view = build_view(graph, depth, folding)
        if len(view.nodes) > MAX_NODES or longest_path(view) > MAX_RANKS:
            break
        chosen = depth
    else:
        return None
    return chosen


def _successors(view: View) -> dict[str, list[str]]:
    """Each visible node's consumers, in the order they were called."""
    succ: dict[str, list[str]] = {v: [] for v in view.nodes}
    for src, dst, _ in view.edges:
        if dst not in succ[src]:
            succ[src].append(dst)
    return succ


def _topological(succ: dict[str, list[str]]) -> list[str]:
    """The nodes in an order where every edge goes forward (nodes on a cycle left out)."""
    incoming = dict.fromkeys(succ, 0)
    for dsts in succ.values():
        for d in dsts:
            incoming[d] += 1
    order = [v for v, n in incoming.items() if n == 0]
    for v in order:  # grows while read
        for d in succ[v]:
            incoming[d] -= 1
            if incoming[d] == 0:
                order.append(d)
    return order


def longest_path(view: View) -> int:
    """Nodes on the longest path of the picture: its number of ranks, top to bottom."""
    succ = _successors(view)
    length: dict[str, int] = {}
    for v in reversed(_topological(succ)):
        length[v] = 1 + max((length.get(d, 0) for d in succ[v]), default=0)
    return max(length.values(), default=0)


def order_hints(view: View) -> list[tuple[str, str]]:
    """(a, b): draw ``a`` left of ``b``. For each tensor used by several nodes, its consumers
    that do not depend on one another (the branches of an Inception block), in call order."""
    succ = _successors(view)
    bit = {v: 1 << i for i, v in enumerate(view.nodes)}
    below: dict[str, int] = {}  # node -> the set of nodes reachable from it, as bits
    for v in reversed(_topological(succ)):
        reach = 0
        for d in succ[v]:
            reach |= bit[d] | below.get(d, 0)
        below[v] = reach
    hints: list[tuple[str, str]] = []
    for dsts in succ.values():
        free = [d for d in dsts if not any(below.get(o, 0) & bit[d] for o in dsts if o != d)]
        for pair in zip(free, free[1:], strict=False):
            if pair not in hints and pair[::-1] not in hints:
                hints.append(pair)
    return hints


def graph_size(size: object) -> str:
    """Graphviz's ``size`` from ``"8,10"``, ``"8,10!"``, ``8`` or ``(8, 10)`` (inches): the
    drawing is scaled down to fit, and up too with ``!``."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        size = ",".join(str(v) for v in size)
    elif isinstance(size, (int, float)) and not isinstance(size, bool):
        size = str(size)
    text = str(size).replace(" ", "") if isinstance(size, str) else ""
    parts = text.removesuffix("!").split(",")
    try:
        ok = 1 <= len(parts) <= 2 and all(float(p) > 0 for p in parts)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"size is width,height in inches, like '8,10' ('8,10!' to scale up too), got {size!r}")
    return text


def _title(graph: FlowGraph) -> list[str]:
    fed = graph.inputs.leaves()
    first = fed[0].full_shape(graph.batch) if fed else ()
    shown = (f"input {fmt_shape(first[1:], 'N' if first else None)}" if len(fed) == 1
             else f"{len(fed)} inputs" if fed else "no input")
    lines = [f"{graph.model} · {shown} · {short(graph.params)} params · {short(graph.macs)} MACs"]
    if graph.not_run:
        lines.append(f"not run in eval mode: {', '.join(graph.not_run)}")
    return lines


def _emit_clusters(dot: graphviz.Digraph, view: View, graph: FlowGraph, folding: Folding) -> None:
    content: dict[str, list[tuple[str, str]]] = defaultdict(list)  # cluster -> [("node"|"cluster", id)]
    placed: set[tuple[str, str]] = set()
    for vid, module in view.owner.items():
        chain = _ancestors(module)  # "", then depth 1, 2, ...
        run = view.group.get(vid)
        if run is not None:  # a run of multi-item units: one more cluster, right inside the run's parent
            at = chain.index(folding.runs[run].parent) + 1
            chain = chain[:at] + [f"{run}×"] + chain[at:]
        for parent, child in zip(chain, chain[1:], strict=False):
            if (parent, child) not in placed:
                placed.add((parent, child))
                content[parent].append(("cluster", child))
        content[chain[-1]].append(("node", vid))

    def emit(into: graphviz.Digraph, cluster: str) -> None:
        for kind, name in content[cluster]:
            if kind == "node":
                svg_id, classes, _ = view.svg[name]
                into.node(dot_name(name), **{k: v for k, v in view.nodes[name].items() if not k.startswith("_")},
                          _attributes=[("id", _text(svg_id)), ("class", classes)])
                continue
            with into.subgraph(name=f"cluster_{dot_name(name)}") as sub:
                if name.endswith("×"):
                    run = folding.runs[name[:-1]]
                    sub.attr(label=_label([run.title()]), style="rounded,dashed", **CLUSTER,
                             _attributes=[("id", _text(_run_id(run))), ("class", "run")])
                else:
                    module_run = folding.module_run(name)
                    attrs = _cluster_attrs(graph.modules[name], module_run)
                    ids = [("id", _text(_run_id(module_run) if module_run else f"cluster:{name}")),
                           ("class", ("run" if module_run else "module")
                            + (" mismatch" if attrs.get("color") == MISMATCH_COLOR else ""))]
                    sub.attr(**attrs, _attributes=ids)
                emit(sub, name)

    emit(dot, "")


def _run_id(run: Run) -> str:
    return f"run:{run.units[0][0][1]}..{run.units[-1][0][1]}"


def _cluster_attrs(module: FlowModule, run: Run | None) -> dict[str, str]:
    lines = [run.title() if run else f"{module.name}: {module.type}"]
    attrs = {**CLUSTER, "style": "rounded,dashed" if run else "rounded"}
    if module.check is not None and not module.check.ok:
        lines.append(_mismatch(module.check))
        attrs.update(color=MISMATCH_COLOR, fontcolor=MISMATCH_COLOR, penwidth="2")
    attrs["label"] = _label(lines)
    return attrs


def _legend(view: View, columns: int) -> str:
    """An HTML table of the categories drawn, ``columns`` entries a row."""
    entries = [(STYLE[c][0], "", STYLE[c][1]) for c in view.categories]
    if view.mismatch:
        entries.append((MISMATCH_FILL, f' COLOR="{MISMATCH_COLOR}"',
                        f'<FONT COLOR="{MISMATCH_COLOR}">expected shape does not match</FONT>'))
    cells = [f'<TD BGCOLOR="{fill}"{border} WIDTH="14" HEIGHT="12"></TD><TD ALIGN="LEFT" BORDER="0">{text}</TD>'
             for fill, border, text in entries]
    rows = ["<TR>" + "".join(cells[i:i + columns]) + "</TR>" for i in range(0, len(cells), columns)]
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="2">'
            f'<TR><TD COLSPAN="{2 * columns}" BORDER="0" ALIGN="LEFT"><B>legend</B></TD></TR>'
            + "".join(rows) + "</TABLE>>")


def _ancestors(module: str) -> list[str]:
    """``""``, then every enclosing module down to ``module`` itself: "", "a", "a.b"."""
    if not module:
        return [""]
    parts = module.split(".")
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _prefix(path: str, depth: int) -> str:
    return ".".join(path.split(".")[:depth])


_UNSAFE_IN_NAMES = re.compile(r'[~:"\\<>]')


def dot_name(name: str) -> str:
    """``name`` as a DOT node or cluster name: the characters that DOT or the graphviz
    package would read otherwise (``:`` a port, ``<...>`` an HTML string, ``"`` and ``\\``
    escapes), and ``~`` itself, written ``~HH`` (their hex code; not ``%HH``: Graphviz names
    its anonymous objects ``%N``). Real models' names have none of them and stay as they are;
    the SVG's ``<title>`` is this text, and report.js decodes it."""
    return _UNSAFE_IN_NAMES.sub(lambda m: f"~{ord(m.group()):02X}", name)


def _text(value: str) -> str:
    """An attribute's text (a tooltip, an SVG id) shown as written: never an HTML string,
    backslashes literal (DOT reads ``\\N`` and ``\\G`` in them otherwise)."""
    return graphviz.nohtml(value.replace("\\", "\\\\"))


def _label(lines: list[str]) -> str:
    """A DOT label of several lines; backslashes kept literal, never read as HTML."""
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))
