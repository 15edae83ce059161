"""The dataflow diagram as a Python object: DOT text that renders, saves and shows itself.

:func:`archscope.graph` returns a :class:`Diagram`; the ``graph`` command uses one too, so
the command line and Python render and write the same way:

- ``g.source`` is the DOT text (pure: the same model always gives the same text), with the
  SVG ids and classes :mod:`archscope.report.dot` documents; ``g.modules`` maps each node's
  SVG id to the module it stands for; ``g.trace`` is the run drawn (numbers, expectations)
  and ``g.dataflow`` its graph.
- ``g.pipe("svg")`` lays it out with Graphviz's ``dot`` program (SVG, PNG, PDF, or the DOT
  text itself); ``g.save("net.png")`` takes the format from the suffix (``.svg``, ``.png``,
  ``.pdf``, ``.dot``, ``.gv``) and writes the file whole or not at all.
- In Jupyter, ``g`` shows the SVG inline. Without ``dot`` it shows the DOT source, headed
  by a line saying that Graphviz's ``dot`` is not installed and how to install it (DOT
  text needs no Graphviz; SVG, PNG and PDF do).

The ``graphviz`` Python package runs ``dot``; it is archscope's only graph dependency.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archscope.errors import ArchscopeError, UsageError

if TYPE_CHECKING:
    from archscope.tracer.flow import FlowGraph
    from archscope.tracer.records import Trace

INSTALL_GRAPHVIZ = ("Install Graphviz: 'sudo apt-get install graphviz' (Debian, Ubuntu), "
                    "'brew install graphviz' (macOS) or 'conda install -c conda-forge graphviz'.")
NO_DOT_SHOWN = ("Graphviz's dot is not installed: showing the DOT source; install it for the picture "
                "('sudo apt-get install graphviz', 'brew install graphviz' or 'conda install -c conda-forge "
                "graphviz') and display the diagram again.")
FORMATS = ("svg", "png", "pdf", "dot", "html")
SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".html": "html", ".htm": "html"}


class DotNotInstalledError(ArchscopeError):
    """SVG, PNG or PDF asked for, and Graphviz's ``dot`` is not on PATH (exit code 1)."""


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def dot_missing() -> str:
    """Why no SVG, PNG or PDF can be rendered here ("" when Graphviz's ``dot`` is on PATH)."""
    return "" if dot_available() else f"Graphviz's 'dot' program is not installed (or not on PATH). {INSTALL_GRAPHVIZ}"


def format_of(path: str | Path, format: str | None = None) -> str:
    """``format`` when given, else the one ``path``'s suffix names (``.gv`` is DOT)."""
    if format is not None:
        if format not in FORMATS:
            raise UsageError(f"unknown diagram format {format!r}: use one of {', '.join(FORMATS)}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"cannot tell the format of {str(path)!r} from its suffix: name it .svg, .png, .pdf, "
                         ".dot or .html, or pass --format (format= from Python)")
    return SUFFIXES[suffix]


class Diagram:
    """The dataflow diagram of one forward pass (:func:`archscope.graph`).

    ``source``: the DOT text. ``model``: the model's name. ``trace``: the
    :class:`~archscope.tracer.records.Trace` of the run drawn, ``dataflow`` its
    :class:`~archscope.tracer.flow.FlowGraph` (None when built from DOT text alone).
    ``depth``: the depth drawn (None: every layer), ``full_depth`` the one that draws every
    layer; ``nodes``: how many nodes are drawn; ``modules``: the SVG id of every node ->
    the qualified name of the module it stands for (``""`` for the model's inputs and
    outputs and its own top-level functions). ``dpi``: a PNG's resolution (Graphviz's
    default, 96, when None).
    """

    def __init__(self, source: str, model: str = "", *, trace: Trace | None = None,
                 dataflow: FlowGraph | None = None, depth: int | None = None, full_depth: int | None = None,
                 nodes: int = 0, modules: dict[str, str] | None = None, dpi: float | None = None) -> None:
        self.source = source
        self.model = model
        self.trace = trace
        self.dataflow = dataflow
        self.depth = depth
        self.full_depth = full_depth
        self.nodes = nodes
        self.modules = dict(modules or {})
        self.dpi = check_dpi(dpi)
        self._rendered: dict[tuple[str, str, float | None], bytes] = {}

    # ------------------------------------------------------------ rendering

    def pipe(self, format: str = "svg") -> bytes:
        """The diagram laid out by Graphviz's ``dot``, as ``format`` (svg, png, pdf; dot is the
        source itself). Raises :class:`DotNotInstalledError` when ``dot`` is not on PATH."""
        kind = format_of("", format)
        if kind == "dot":
            return self.source.encode("utf-8")
        if kind == "html":
            return self.html().encode("utf-8")
        key = (kind, self.source, self.dpi)
        if key not in self._rendered:
            self._rendered[key] = render(self.source, kind, dpi=self.dpi)
        return self._rendered[key]

    def html(self) -> str:
        """The interactive page (docs/report.md): this diagram beside the table of its run,
        folds that open on click, rows and nodes linked. Without ``dot``, the table and a note."""
        if self.trace is None or self.dataflow is None:
            raise UsageError("an HTML page needs the run the diagram drew: make the diagram with archscope.graph()")
        from archscope.report.html.page import report_html

        return report_html(self.trace, self.dataflow, depth=self.depth, focus="graph", graph_depth=self.depth)

    def svg(self) -> str:
        """The SVG text (needs ``dot``)."""
        return self.pipe("svg").decode("utf-8")

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the diagram to ``path``, whole or not at all; the format from the suffix
        (``.svg``, ``.png``, ``.pdf``, ``.dot``, ``.gv``, ``.html``: :meth:`html`) unless ``format``
        is given. Without
        ``dot``, an SVG, PNG or PDF is not written: the DOT source goes next to it
        (``net.dot`` for ``net.svg``, unless that file exists) and :class:`DotNotInstalledError`
        says how to render it and how to install Graphviz."""
        from archscope.fileio import check_writable, write_atomic

        kind = format_of(path, format)
        check_writable(path)
        data = (self.pipe(kind) if kind in ("dot", "html")
                else render(self.source, kind, str(path), self.dpi))
        write_atomic(path, data)
        return Path(path)

    # ------------------------------------------------------------ display

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter: the SVG; without ``dot`` (or when it fails), the DOT source under a
        line saying why and how to install Graphviz, as text and HTML."""
        if dot_available():
            try:
                return {"image/svg+xml": self.svg(), "text/plain": repr(self)}
            except ArchscopeError as exc:
                return self._as_source(str(exc))
        return self._as_source(NO_DOT_SHOWN)

    def _as_source(self, why: str) -> dict[str, str]:
        return {"text/plain": f"{why}\n\n{self.source}",
                "text/html": f"<p><b>{html.escape(why)}</b></p><pre>{html.escape(self.source)}</pre>"}

    def __repr__(self) -> str:
        drawn = ("every layer" if self.depth is None or self.full_depth is None
                 else f"depth {self.depth} of {self.full_depth}")
        dot = "dot available" if dot_available() else "dot not installed"
        return f"<Diagram {self.model or '?'}: {self.nodes} nodes, {drawn}, {dot}>"

    def __str__(self) -> str:
        """The DOT text: ``print(g)`` shows what ``archscope graph MODEL`` prints."""
        return self.source


def check_dpi(dpi: Any) -> float | None:
    if dpi is None:
        return None
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 1 <= dpi <= 2400:
        raise UsageError(f"dpi must be a number from 1 to 2400 (a PNG's dots per inch), got {dpi!r}")
    return dpi


def with_dpi(source: str, dpi: float | None) -> str:
    """``source`` with a graph-wide ``dpi`` (a PNG's resolution) after its first line."""
    if dpi is None:
        return source
    head, _, rest = source.partition("\n")
    return f"{head}\n\tgraph [dpi={dpi:g}]\n{rest}"


def render(source: str, kind: str, output: str | None = None, dpi: float | None = None) -> bytes:
    """Lay out DOT ``source`` with Graphviz's ``dot`` as ``kind`` (svg, png, pdf). Without
    ``dot``, the DOT source is written next to ``output`` and the error says how to install
    Graphviz; a failing ``dot`` is an :class:`~archscope.errors.ArchscopeError` quoting it."""
    import graphviz

    try:
        if not dot_available():
            raise graphviz.ExecutableNotFound(["dot"])
        text = with_dpi(source, dpi) if kind == "png" else source
        return graphviz.Source(text).pipe(format=kind, engine="dot")
    except graphviz.ExecutableNotFound:
        raise DotNotInstalledError(no_dot(source, kind, output)) from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip() if isinstance(exc.stderr, bytes) else ""
        raise ArchscopeError(f"Graphviz's dot could not render the diagram: {detail or exc}") from None


def no_dot(source: str, kind: str, output: str | None) -> str:
    """What to say when ``dot`` is missing; the DOT source is written next to ``output``
    (``net.dot`` for ``net.svg``) unless a file of that name exists."""
    from archscope.fileio import write_atomic

    message = f"Graphviz's 'dot' program is not installed (or not on PATH), so no {kind.upper()} was rendered."
    dot_file = Path(output).with_suffix(".dot") if output is not None else None
    if dot_file is None or dot_file == Path(output or ""):
        return (f"{message} DOT text needs no Graphviz: use --format dot (from Python: the diagram's .source, "
                f"or save it as .dot). {INSTALL_GRAPHVIZ}")
    if dot_file.exists():  # never replace a file the user did not name
        return (f"{message} The DOT source was not written: {str(dot_file)!r} exists already; write it elsewhere "
                f"with --format dot -o FILE (from Python: save('FILE.dot')). {INSTALL_GRAPHVIZ}")
    write_atomic(dot_file, source)
    return (f"{message} The DOT source is in {str(dot_file)!r}; render it with "
            f"'dot -T{kind} {dot_file} -o {output}'. {INSTALL_GRAPHVIZ}")
