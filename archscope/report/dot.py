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

The graph package (``graphviz``) only assembles the text here; laying it out with the
``dot`` program is the CLI's business (:mod:`archscope.cli.graph`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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
CLUSTER = {"labeljust": "l", "fontsize": "10", "color": "#888888", "fontcolor": "#333333"}


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


def fold(graph: FlowGraph) -> Folding:
    """Find the runs of identical chained sibling units, outermost first."""
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
                if units:
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
        else:
            view.nodes[vid] = _node_attrs(rep)
            view.owner[vid] = rep.scope
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
    text = _format_attrs(node.attrs)
    if text:
        lines.append(text)
    if node.params:
        lines.append(f"{short(node.params)} params")
    attrs = {"_category": node.category, "fillcolor": STYLE.get(node.category, STYLE["layer"])[0],
             "tooltip": node.name or node.type}
    return _checked(attrs, lines, node.check)


def _module_attrs(module: FlowModule, run: Run | None) -> dict[str, str]:
    params = run.params if run else module.params
    lines = [run.title(local=True) if run else f"{module.name.rpartition('.')[2]}: {module.type}"]
    if params:
        lines.append(f"{short(params)} params")
    attrs = {"_category": "module", "fillcolor": STYLE["module"][0], "shape": "box3d", "tooltip": module.name}
    return _checked(attrs, lines, module.check)


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


def render_dot(graph: FlowGraph, *, depth: int | None = None, fold_blocks: bool = True,
               rankdir: str = "TB") -> str:
    """DOT text for ``graph``: modules below ``depth`` collapsed, identical blocks folded."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    folding = fold(graph) if fold_blocks else Folding()
    view = build_view(graph, depth, folding)
    dot = graphviz.Digraph(graph.model)
    dot.attr("graph", rankdir=rankdir, label=_label(_title(graph)), labelloc="t", fontname="Helvetica",
             fontsize="14", nodesep="0.2", ranksep="0.3")
    dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10", margin="0.08,0.04")
    dot.attr("edge", fontname="Helvetica", fontsize="8", color="#555555", arrowsize="0.6")
    _emit_clusters(dot, view, graph, folding)
    for src, dst, label in view.edges:
        dot.edge(src, dst, label=label)
    dot.node("/legend", label=_legend(view), shape="plaintext", style="")
    return dot.source


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
                into.node(name, **{k: v for k, v in view.nodes[name].items() if not k.startswith("_")})
                continue
            with into.subgraph(name=f"cluster_{name}") as sub:
                if name.endswith("×"):
                    sub.attr(label=_label([folding.runs[name[:-1]].title()]), style="rounded,dashed", **CLUSTER)
                else:
                    sub.attr(**_cluster_attrs(graph.modules[name], folding.module_run(name)))
                emit(sub, name)

    emit(dot, "")


def _cluster_attrs(module: FlowModule, run: Run | None) -> dict[str, str]:
    lines = [run.title() if run else f"{module.name}: {module.type}"]
    attrs = {**CLUSTER, "style": "rounded,dashed" if run else "rounded"}
    if module.check is not None and not module.check.ok:
        lines.append(_mismatch(module.check))
        attrs.update(color=MISMATCH_COLOR, fontcolor=MISMATCH_COLOR, penwidth="2")
    attrs["label"] = _label(lines)
    return attrs


def _legend(view: View) -> str:
    rows = [f'<TR><TD BGCOLOR="{STYLE[c][0]}" WIDTH="18"></TD><TD ALIGN="LEFT">{STYLE[c][1]}</TD></TR>'
            for c in view.categories]
    if view.mismatch:
        rows.append(f'<TR><TD BGCOLOR="{MISMATCH_FILL}" COLOR="{MISMATCH_COLOR}" WIDTH="18"></TD>'
                    f'<TD ALIGN="LEFT"><FONT COLOR="{MISMATCH_COLOR}">expected shape does not match</FONT></TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="3">'
            '<TR><TD COLSPAN="2"><B>legend</B></TD></TR>' + "".join(rows) + "</TABLE>>")


def _ancestors(module: str) -> list[str]:
    """``""``, then every enclosing module down to ``module`` itself: "", "a", "a.b"."""
    if not module:
        return [""]
    parts = module.split(".")
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _prefix(path: str, depth: int) -> str:
    return ".".join(path.split(".")[:depth])


def _label(lines: list[str]) -> str:
    """A DOT label of several lines; backslashes kept literal, never read as HTML."""
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))
