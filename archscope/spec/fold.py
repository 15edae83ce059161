"""One traversal of a spec, shared by every reading of it.

Each reading (the layout's names, shapes and parameters; the builder's plan; symbolic
shapes; receptive fields) is a :class:`Fold`: a small algebra that says what a leaf makes
of the value flowing into it (a shape, a formula, a field, a plan) and what each join of
:data:`~archscope.spec.nodes.JOINS` makes of its branches' values. The walk itself is
written once, here: execution order, branches, post chains, auxiliary heads and paths, all
read from :meth:`~archscope.spec.nodes.Container.wiring`. A new container type is a new
wiring and touches no fold; a new leaf type adds one rule to each reading that prices it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from archscope.spec.nodes import Aux, Branch, Chain, Container, Node, Wiring, child_path

V = TypeVar("V")
S = TypeVar("S")


class Fold(Generic[V]):
    """Override :meth:`leaf` and :meth:`join`; :meth:`enter`, :meth:`start` and :meth:`leave`
    are hooks with defaults (record a site, open a namespace, pass an auxiliary head's input on)."""

    def leaf(self, node: Node, path: str, x: V) -> V:
        raise NotImplementedError

    def join(self, node: Container, path: str, x: V, how: str, outs: list[tuple[Branch, V]]) -> V:
        """The container's value from its branches' (``how`` is the wiring's join)."""
        raise NotImplementedError

    def enter(self, node: Node, path: str, x: V) -> None:
        """Before ``node`` runs (pre-order)."""

    def start(self, node: Container, path: str, x: V) -> V:
        """What each branch of ``node`` starts from: its input, by default."""
        return x

    def leave(self, node: Node, path: str, x: V, y: V, passthrough: bool) -> V:
        """After ``node`` gave ``y`` from ``x``: the value the enclosing chain goes on with."""
        return x if passthrough else y

    def run(self, node: Node, path: str, x: V) -> V:
        self.enter(node, path, x)
        if not isinstance(node, Container):
            return self.leave(node, path, x, self.leaf(node, path, x), False)
        wiring = node.wiring()
        return self.leave(node, path, x, self.body(node, path, x, wiring), wiring.passthrough)

    def body(self, node: Container, path: str, x: V, wiring: Wiring | None = None) -> V:
        """The container's children, without :meth:`enter` and :meth:`leave` (the model's root)."""
        wiring = wiring or node.wiring()
        begin = self.start(node, path, x)
        outs = [(b, self.chain(b.chain, path, begin)) for b in wiring.branches]
        return self.chain(wiring.post, path, self.join(node, path, begin, wiring.join, outs))

    def chain(self, chain: Chain, path: str, x: V) -> V:
        for suffix, child in chain:
            x = self.run(child, child_path(path, suffix), x)
        return x


class SiteFold(Fold[V], Generic[V, S]):
    """A fold that records one site per node, in pre-order (:meth:`site`), completes it
    with the node's output (:meth:`close`), and knows whether it is inside an auxiliary
    head (:attr:`in_head`), which runs only in training."""

    def __init__(self) -> None:
        self.open: list[S] = []
        self.heads = 0

    @property
    def in_head(self) -> bool:
        return self.heads > 0

    def site(self, node: Node, path: str, x: V) -> S:
        """Make and keep the site of ``node`` on input ``x``."""
        raise NotImplementedError

    def close(self, node: Node, site: S, y: V) -> None:
        """Complete ``site`` with the output ``y``."""
        raise NotImplementedError

    def enter(self, node: Node, path: str, x: V) -> None:
        self.heads += isinstance(node, Aux)
        self.open.append(self.site(node, path, x))

    def leave(self, node: Node, path: str, x: V, y: V, passthrough: bool) -> V:
        self.close(node, self.open.pop(), y)
        self.heads -= isinstance(node, Aux)
        return x if passthrough else y


def branch_path(path: str, branch: Branch) -> str:
    """Where a message about ``branch`` points: its first node, or the container."""
    return child_path(path, branch.chain[0][0]) if branch.chain else path
