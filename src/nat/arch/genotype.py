"""Architectures as frozen values: an ``Edge``, a ``Cell`` (a DAG of edges) and a ``Genotype``.

A cell's nodes 0 and 1 are its inputs (the outputs of the cells two back and one back); nodes
2.. are intermediate; each node sums its incoming edges, and the cell output concatenates the
nodes in ``concat``. This module checks only what holds for *every* cell space (known ops,
edges pointing forward, no gaps, a live output); a space adds its own topology rule
(:mod:`nat.arch.space`), e.g. the DARTS-style "exactly two inputs per intermediate node".

Equality and hashing ignore the order in which edges are listed: two genotypes are equal when
their cells hold the same multiset of edges and the same concat set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, NamedTuple

from ..errors import GenotypeError
from ..ops import NULL, OPS, PLAIN_CONVS, SKIP

__all__ = ["Edge", "Cell", "Genotype", "CELL_TYPES", "DARTS_NULL", "MAX_NODES", "MAX_EDGES", "loose_ends"]

CELL_TYPES = ("normal", "reduce")
#: How DARTS code bases (and NAS-Bench-201) spell the null op; read as ``null``, written by the DARTS text forms.
DARTS_NULL = "none"
N_INPUTS = 2
# Bounds on what a genotype may describe. Every analysis is linear in the cell, but a network
# is built from it, drawn and costed: a cell far beyond any published one (DARTS has 6 nodes,
# the largest random cells here 10s) is refused with one line rather than exhausting memory.
MAX_NODES = 5_000
MAX_EDGES = 50_000


class Edge(NamedTuple):
    """One operation ``op`` taking node ``src`` to node ``dst``."""

    op: str
    src: int
    dst: int


def loose_ends(edges: Iterable[Edge]) -> tuple[int, ...]:
    """Intermediate nodes that no edge consumes: the output of a loose-end cell (ENAS-style).

    Null edges count as consuming: the concat is a property of the graph, so transforming an
    edge into null must not change the cell's output width.
    """
    edges = list(edges)
    consumed = {e.src for e in edges}
    n_nodes = max(e.dst for e in edges) + 1
    return tuple(n for n in range(N_INPUTS, n_nodes) if n not in consumed)


@dataclass(frozen=True, eq=False)
class Cell:
    """A validated cell: its edges in the order given, and the nodes concatenated to its output.

    Args:
        edges: ``(op, from_node, to_node)`` triples.
        concat: the nodes concatenated into the output; ``None`` derives the loose ends.
    """

    edges: tuple[Edge, ...]
    concat: tuple[int, ...]

    def __init__(self, edges: Iterable, concat: Iterable[int] | None = None) -> None:
        parsed = []
        for i, e in enumerate(edges):
            if i >= MAX_EDGES:
                raise GenotypeError(f"the cell has more than {MAX_EDGES:,} edges (the limit)")
            parsed.append(_edge(e, i))
        parsed = tuple(parsed)
        if not parsed:
            raise GenotypeError("the cell has no edges")
        top = max(e.dst for e in parsed)
        if top >= MAX_NODES:
            raise GenotypeError(f"node {top} is beyond the limit of {MAX_NODES:,} nodes a cell may have",
                                edge=max(parsed, key=lambda e: e.dst))
        object.__setattr__(self, "edges", parsed)
        object.__setattr__(self, "concat", loose_ends(parsed) if concat is None else tuple(concat))
        self._validate()

    # -- structure -------------------------------------------------------------------------
    # A cell is immutable, so every graph analysis below is computed once, in one pass over the
    # edges, and cached on the instance: callers ask for them per node, and recomputing made
    # `nat show` cubic in the cell size (a 1,000-node cell took over a minute).
    @cached_property
    def n_nodes(self) -> int:
        """Number of nodes, inputs included."""
        return max(e.dst for e in self.edges) + 1

    @property
    def intermediate(self) -> range:
        return range(N_INPUTS, self.n_nodes)

    @cached_property
    def _incoming(self) -> dict[int, tuple[tuple[int, Edge], ...]]:
        into: dict[int, list[tuple[int, Edge]]] = {}
        for i, e in enumerate(self.edges):
            into.setdefault(e.dst, []).append((i, e))
        return {node: tuple(pairs) for node, pairs in into.items()}

    def inputs_of(self, node: int) -> list[tuple[int, Edge]]:
        """``(index, edge)`` for every edge into ``node``."""
        return list(self._incoming.get(node, ()))

    @cached_property
    def _live(self) -> frozenset[int]:
        live = set(range(N_INPUTS))
        for node in self.intermediate:  # edges point forward, so one pass in node order suffices
            if any(e.op != NULL and e.src in live for _, e in self._incoming.get(node, ())):
                live.add(node)
        return frozenset(live)

    def live_nodes(self) -> frozenset[int]:
        """Nodes whose value depends on the cell inputs through non-null edges."""
        return self._live

    def output_nodes(self) -> tuple[int, ...]:
        """The concat nodes that carry signal; dead ones are constant zeros and are dropped."""
        live = self._live
        return tuple(n for n in self.concat if n in live)

    @cached_property
    def _needed(self) -> frozenset[int]:
        # a live node's non-null successors are live, so a live node reaching a concat node reaches
        # a live one (an output node) along live nodes only
        return self._reaching & self._live

    def needed_nodes(self) -> frozenset[int]:
        """Live nodes that reach an output node through non-null edges (what must be computed)."""
        return self._needed

    @cached_property
    def _reaching(self) -> frozenset[int]:
        """Nodes with a non-null path to a concat node, whether or not anything flows into them."""
        reach = set(self.concat)
        for node in reversed(range(self.n_nodes)):  # edges point forward, so one pass backwards suffices
            if node in reach:
                reach.update(e.src for _, e in self._incoming.get(node, ()) if e.op != NULL)
        return frozenset(reach)

    def dead_ends(self) -> tuple[int, ...]:
        """Indices of the non-null edges whose output can reach no output node, whatever flows in.

        Unlike the edges :meth:`computed_edges` skips because their *input* is zero, these change
        nothing even in a network that computes every edge (the NAS-Bench-201 one adds a learned
        BatchNorm shift to an edge out of a zero node, which can travel on): they end at a node no
        non-null path leads from to the output. Making them null keeps the cell's function."""
        reach = self._reaching
        return tuple(i for i, e in enumerate(self.edges) if e.op != NULL and e.dst not in reach)

    def input_free_edges(self) -> tuple[int, ...]:
        """Indices of the non-null edges out of a node that no non-null path from an input reaches:
        they carry no signal from the cell's inputs.

        DARTS-style networks do not build them (:meth:`computed_edges`). The NAS-Bench-201 network
        does, and each then adds a term that does not depend on the input: an edge out of a node
        whose every input is null reads zeros (its weights get no gradient) and adds its BatchNorm
        shift, and an edge further on turns such shifts into a learned map, constant but at the
        image borders (zero padding). Removing them drops that term; nothing else changes."""
        live = self._live
        return tuple(i for i, e in enumerate(self.edges) if e.op != NULL and e.src not in live)

    def nulled(self, indices) -> "Cell":
        """The same cell with the edges at ``indices`` made null (itself when there are none)."""
        drop = set(indices)
        return self.replace_ops(NULL if i in drop else e.op for i, e in enumerate(self.edges)) if drop else self

    def same_tensor(self, strided_inputs: bool = False) -> dict[int, int]:
        """For every node, the node whose tensor it is: itself, or, for a node whose one non-null
        input is a skip (and nothing else, not even an input-free edge, which a network that builds
        it turns into a term of its own), the tensor of that skip's source. ``strided_inputs``: a
        skip out of an input is a learned ``FactorizedReduce`` (a reduction cell read at stride 2),
        not an alias."""
        tensor: dict[int, int] = {}
        for node in range(self.n_nodes):
            built = [e for _, e in self._incoming.get(node, ()) if e.op != NULL]
            aliased = (len(built) == 1 and built[0].op == SKIP and built[0].src in self._live
                       and not (strided_inputs and built[0].src < N_INPUTS))
            tensor[node] = tensor[built[0].src] if aliased else node
        return tensor

    def redundant_branches(self, strided_inputs: bool = False) -> tuple[int, ...]:
        """Indices of the duplicate branches: a plain convolution (:data:`~nat.ops.PLAIN_CONVS`) into
        a node that already has the same op on the same tensor (the first such edge stays).
        Making them null keeps the cell's *function class* (what its weights can express): two
        ReLU-conv-BN branches of one kernel on one tensor compute what one can.

        "The same tensor" follows skips (:meth:`same_tensor`): a node whose one input is a skip from
        node ``i`` is node ``i`` itself, so a convolution out of each is a pair, unless an input-free
        edge also enters the node (remove those first to find every pair). Two nodes
        computed alike from one tensor are not one tensor (their weights differ): merging there
        would halve a width.
        ``strided_inputs``: the cell reads its inputs at stride 2 (a reduction cell of a DARTS-style
        network), where a skip out of an input is a learned ``FactorizedReduce``, not the input.

        A smaller kernel beside a larger one on one tensor (a 1x1 beside a 3x3) is also absorbed in
        principle, but is not listed: such mixed branches train better than one convolution, as in
        RepVGG; on NAS-Bench-201 absorbing them cost 0.10 points a cell, merging duplicates 0.03
        (docs/results/nas-bench-201.md, "Savings that need no judge")."""
        tensor = self.same_tensor(strided_inputs)
        redundant: list[int] = []
        for node in self.intermediate:
            seen: set[tuple[int, str]] = set()  # (the tensor read, the op) of the branches kept
            for i, e in self._incoming.get(node, ()):
                if e.op in PLAIN_CONVS and e.src in self._live:
                    if (tensor[e.src], e.op) in seen:
                        redundant.append(i)
                    seen.add((tensor[e.src], e.op))
        return tuple(sorted(redundant))

    def computed_edges(self) -> list[tuple[int, Edge]]:
        """``(index, edge)`` of the edges a network must compute: non-null, live to needed."""
        live, needed = self._live, self._needed
        return [(i, e) for i, e in enumerate(self.edges)
                if e.op != NULL and e.src in live and e.dst in needed]

    def canonical_edges(self) -> tuple[Edge, ...]:
        return self._canonical

    @cached_property
    def _canonical(self) -> tuple[Edge, ...]:
        return tuple(sorted(self.edges, key=lambda e: (e.dst, e.src, e.op)))

    def replace_ops(self, ops: Iterable[str]) -> "Cell":
        """The same graph with new ops, edge by edge (used by transformations)."""
        ops = list(ops)
        if len(ops) != len(self.edges):
            raise ValueError(f"need {len(self.edges)} ops, got {len(ops)}")
        return Cell([Edge(op, e.src, e.dst) for op, e in zip(ops, self.edges)], self.concat)

    # -- value semantics -------------------------------------------------------------------
    def _key(self) -> tuple:
        return self.canonical_edges(), tuple(sorted(self.concat))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Cell(edges={[tuple(e) for e in self.edges]}, concat={list(self.concat)})"

    # -- validation ------------------------------------------------------------------------
    def _validate(self) -> None:
        for i, e in enumerate(self.edges):
            if e.op not in OPS:
                known = ", ".join(sorted(OPS))
                raise GenotypeError(f"unknown op '{e.op}' (known ops: {known})", edge=e, index=i)
            if e.src < 0:
                raise GenotypeError(f"node {e.src} does not exist", edge=e, index=i)
            if e.dst < N_INPUTS:
                raise GenotypeError(f"an edge cannot end in input node {e.dst}", edge=e, index=i)
            if e.src >= e.dst:
                raise GenotypeError(f"edge goes into node {e.dst}, which is not after its source "
                                    f"node {e.src}", edge=e, index=i)
        for node in self.intermediate:
            if node not in self._incoming:
                raise GenotypeError(f"intermediate node {node} has no incoming edge")
        if not self.concat:
            raise GenotypeError("concat is empty: the cell has no output")
        for node in self.concat:
            if not isinstance(node, int) or isinstance(node, bool):
                raise GenotypeError(f"concat entry {node!r} is not a node number")
            if node not in self.intermediate:
                raise GenotypeError(f"concat names node {node}, but the intermediate nodes are "
                                    f"{self.intermediate.start}..{self.intermediate.stop - 1}")
        if len(set(self.concat)) != len(self.concat):
            raise GenotypeError(f"concat {list(self.concat)} names a node twice")
        if not self.output_nodes():
            raise GenotypeError("the cell output does not depend on its inputs "
                                "(every concat node is reached only through null edges)")


def _edge(raw, index: int) -> Edge:
    if isinstance(raw, Edge):
        return raw
    if not isinstance(raw, (tuple, list)) or len(raw) != 3:
        raise GenotypeError(f"edge {index} is {raw!r}, expected [op, from_node, to_node]")
    op, src, dst = raw
    if not isinstance(op, str) or not all(isinstance(n, int) and not isinstance(n, bool) for n in (src, dst)):
        raise GenotypeError(f"edge {index} is {raw!r}, expected [op (text), from_node (int), to_node (int)]")
    return Edge(NULL if op == DARTS_NULL else op, src, dst)


@dataclass(frozen=True)
class Genotype:
    """A normal cell and a reduction cell: everything needed to build a cell-based network."""

    normal: Cell
    reduce: Cell

    def __post_init__(self) -> None:
        for name in CELL_TYPES:
            if not isinstance(getattr(self, name), Cell):
                raise TypeError(f"Genotype.{name} must be a Cell")

    @classmethod
    def from_edges(cls, normal: Iterable, reduce: Iterable, normal_concat: Iterable[int] | None = None,
                   reduce_concat: Iterable[int] | None = None) -> "Genotype":
        """Build both cells, naming the failing cell in any error."""
        cells = {}
        for name, edges, concat in (("normal", normal, normal_concat), ("reduce", reduce, reduce_concat)):
            try:
                cells[name] = Cell(edges, concat)
            except GenotypeError as err:
                raise err.located(cell=name) from None
        return cls(**cells)

    def cells(self) -> dict[str, Cell]:
        return {"normal": self.normal, "reduce": self.reduce}

    def without_dead_ends(self) -> "Genotype":
        """Every cell with its :meth:`Cell.dead_ends` made null: the same function, and a legal NAT
        transformation (an op or a skip may always be removed). What the compact objective removes
        without asking the supernet, which cannot tell the two apart."""
        return Genotype(**{name: cell.nulled(cell.dead_ends()) for name, cell in self.cells().items()})

    def without_idle_edges(self) -> "Genotype":
        """Every cell without its dead ends and its :meth:`Cell.input_free_edges` (together: *idle
        edges*): what the input computes, less the input-independent terms where a network builds
        edges out of such nodes (NAS-Bench-201's), and a legal NAT transformation. Removing
        input-free edges makes no node input-free and no edge a dead end, so one pass suffices."""
        return Genotype(**{name: cell.nulled(set(cell.dead_ends()) | set(cell.input_free_edges()))
                           for name, cell in self.cells().items()})

    def without_redundant_branches(self, *, strided_reduce: bool) -> "Genotype":
        """Every cell with its :meth:`Cell.redundant_branches` made null: the same function class with
        fewer parameters, and a legal NAT transformation (an op may always be removed); it can leave
        idle edges behind. ``strided_reduce``: the reduction cell reads its inputs at stride 2
        (DARTS-style networks: ``True``; a tied NAS-Bench-201 cell, whose network runs every cell at
        stride 1: ``False``). No default: the wrong one silently merges or misses branches."""
        return Genotype(**{name: cell.nulled(cell.redundant_branches(strided_inputs=strided_reduce and name == "reduce"))
                           for name, cell in self.cells().items()})

    def without_unjudged_savings(self, *, strided_reduce: bool) -> "Genotype":
        """What the compact objective removes without a judge: idle edges, then duplicate branches
        (which idle edges can hide), then the idle edges that leaves."""
        return self.without_idle_edges().without_redundant_branches(strided_reduce=strided_reduce).without_idle_edges()

    def canonical(self) -> str:
        """Order-independent text in the triple form; equal genotypes give equal strings."""
        parts = []
        for name, cell in self.cells().items():
            edges = ", ".join(f"('{e.op}', {e.src}, {e.dst})" for e in cell.canonical_edges())
            parts.append(f"{name}=[{edges}], {name}_concat={sorted(cell.concat)}")
        return f"Genotype({', '.join(parts)})"

    @property
    def digest(self) -> str:
        """A short stable hash of :meth:`canonical` (for file names and caches)."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:12]
