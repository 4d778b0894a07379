"""Cell spaces: which ops a cell may use and which graphs it may have.

A space is explicit and swappable so that new ones slot in beside these: its candidate op list
(what a supernet holds on each edge and what a sampler draws from), and its topology rule. The
two spaces of the paper share the rule "every intermediate node has exactly two inputs" and
differ in their ops and in how the cell output is formed (all intermediate nodes for
fully-concat cells, the loose ends for ENAS-style cells). The NAS-Bench-201 space (``nb201``)
has its own rule (every node reads every earlier node once), one input node, a fixed op set, and
one cell used everywhere: it is *tied*, so samplers and policies decide one cell and genotypes
carry it as both their normal and reduction cell (:mod:`nat.arch.nb201`).

A space knows nothing of torch. The network its genotypes are built into and its supernet are
found by the space's name in registries that the owning modules fill in themselves
(:func:`nat.nn.registry.network_class`, :func:`nat.search.supernet.supernet_class`), so a new
space adds its network and supernet beside it without editing this module.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from ..errors import GenotypeError
from ..ops import NULL
from .genotype import CELL_TYPES, Cell, Edge, Genotype

__all__ = ["TopologyRule", "TwoInputsPerNode", "AllPrevious", "CellSpace", "SPACES", "get_space", "validate",
           "space_of"]


class TopologyRule(Protocol):
    """Checks the graph of a cell; raises :class:`GenotypeError` naming the cell's problem."""

    description: str

    def check(self, cell: Cell) -> None: ...

    def sample_edges(self, rng: random.Random, ops: tuple[str, ...], n_intermediate: int) -> list[Edge]:
        """Edges of a random cell: the input distribution p(beta) of the paper (Sec. 3.2)."""


@dataclass(frozen=True)
class TwoInputsPerNode:
    """Every intermediate node has exactly two incoming edges (ENAS, DARTS, NAT; paper Sec. 3.1)."""

    description: str = "every intermediate node has exactly two incoming edges"

    def check(self, cell: Cell) -> None:
        for node in cell.intermediate:
            inputs = cell.inputs_of(node)
            if len(inputs) != 2:
                i, e = inputs[-1]
                raise GenotypeError(f"intermediate node {node} has {len(inputs)} incoming edges; "
                                    f"this space needs exactly two", edge=tuple(e), index=i)

    def sample_edges(self, rng: random.Random, ops: tuple[str, ...], n_intermediate: int) -> list[Edge]:
        # As the reference: each input uniform over the earlier nodes (repeats allowed), each op
        # uniform over the non-null candidates.
        return [Edge(rng.choice(ops), rng.randrange(node), node)
                for node in range(2, 2 + n_intermediate) for _ in range(2)]


@dataclass(frozen=True)
class AllPrevious:
    """Node ``j`` takes exactly one edge from every node ``first .. j-1`` (NAS-Bench-201, whose one
    input is our node 1); nodes before ``first`` are never read."""

    first: int = 1
    description: str = "every intermediate node takes exactly one edge from every earlier node"

    def check(self, cell: Cell) -> None:
        for node in cell.intermediate:
            sources = sorted(e.src for _, e in cell.inputs_of(node))
            expected = list(range(self.first, node))
            if sources != expected:
                i, e = cell.inputs_of(node)[0]
                raise GenotypeError(f"intermediate node {node} reads nodes {sources}; this space needs exactly "
                                    f"one edge from each of {expected}", edge=tuple(e), index=i)

    def sample_edges(self, rng: random.Random, ops: tuple[str, ...], n_intermediate: int) -> list[Edge]:
        return [Edge(rng.choice(ops), src, node) for node in range(2, 2 + n_intermediate)
                for src in range(self.first, node)]


@dataclass(frozen=True)
class CellSpace:
    """A cell search space.

    Args:
        name: the name used on the command line (``--space``).
        ops: candidate ops on every edge, ``null`` included.
        topology: the rule every cell of the space obeys.
        concat: ``"all"`` (every intermediate node), ``"loose_ends"`` (nodes nobody consumes) or
            ``"last"`` (the last node alone).
        n_intermediate: intermediate nodes per cell in sampled architectures.
        tied: one cell everywhere: normal and reduction cell are the same, decided once.
        fixed_ops: cells may use only ``ops`` (a benchmark's closed op set); otherwise extra ops
            may be added to a search (NAONet's) and any registered op is accepted.
        sample_ops: ops the input distribution p(beta) draws from; ``None``: every op but null,
            the paper's. A space that samples null redraws a cell whose output is disconnected.
        input_nodes: the input nodes its cells read (drawings show these).
    """

    name: str
    ops: tuple[str, ...]
    topology: TopologyRule
    concat: str
    n_intermediate: int
    tied: bool = False
    fixed_ops: bool = False
    sample_ops: tuple[str, ...] | None = None
    input_nodes: tuple[int, ...] = (0, 1)

    @property
    def cell_types(self) -> tuple[str, ...]:
        """The cells a sampler or policy decides: both, or for a tied space the normal cell only."""
        return CELL_TYPES[:1] if self.tied else CELL_TYPES

    def _concat(self) -> range | tuple[int, ...] | None:
        last = 1 + self.n_intermediate
        return {"loose_ends": None, "last": (last,)}.get(self.concat, range(2, last + 1))

    def sample(self, rng: random.Random) -> Genotype:
        """A random input architecture beta ~ p(beta); normal and reduction cells independent
        (one cell for both in a tied space)."""
        ops = self.sample_ops or tuple(op for op in self.ops if op != NULL)
        cells = []
        for _ in self.cell_types:
            while True:
                edges = self.topology.sample_edges(rng, ops, self.n_intermediate)
                try:
                    cells.append(Cell(edges, self._concat()))
                    break
                except GenotypeError:
                    if NULL not in ops:  # cannot happen: without null every node is reached
                        raise
        return Genotype(cells[0], cells[-1])

    def sample_fair_block(self, rng: random.Random) -> list[Genotype]:
        """K architectures, K the number of sampled ops, in which every edge slot holds every op
        exactly once (a random permutation per slot; FairNAS's strict fairness): trained one after
        the other, every op of every edge gets the same number of steps. Topologies are drawn as
        :meth:`sample` draws them; an architecture whose output the permutation disconnects is
        replaced by an ordinary sample."""
        ops = self.sample_ops or tuple(op for op in self.ops if op != NULL)
        k = len(ops)
        per_type = []
        for _ in self.cell_types:
            shapes = [self.topology.sample_edges(rng, ops, self.n_intermediate) for _ in range(k)]
            perms = [rng.sample(ops, k) for _ in shapes[0]]
            cells = []
            for j, edges in enumerate(shapes):
                try:
                    cells.append(Cell([Edge(perms[i][j], e.src, e.dst) for i, e in enumerate(edges)], self._concat()))
                except GenotypeError:
                    cells.append(None)
            per_type.append(cells)
        block = []
        for j in range(k):
            cells = [c[j] for c in per_type]
            block.append(self.sample(rng) if any(c is None for c in cells) else Genotype(cells[0], cells[-1]))
        return block

    def validate(self, genotype: Genotype) -> Genotype:
        """Check the rules of this space on both cells; return the genotype."""
        if self.tied and genotype.normal != genotype.reduce:
            raise GenotypeError(f"the {self.name} space uses one cell everywhere, but the normal and "
                                "reduction cells differ")
        for name in self.cell_types:
            cell = genotype.cells()[name]
            try:
                self.topology.check(cell)
                if self.fixed_ops:
                    other = [e for e in cell.edges if e.op not in self.ops]
                    if other:
                        raise GenotypeError(f"op '{other[0].op}' is not in the {self.name} space "
                                            f"(its ops: {', '.join(self.ops)})", edge=tuple(other[0]),
                                            index=cell.edges.index(other[0]))
                if self.concat == "last" and tuple(cell.concat) != (cell.n_nodes - 1,):
                    raise GenotypeError(f"the output must be the last node {cell.n_nodes - 1} alone, "
                                        f"not concat {list(cell.concat)}")
            except GenotypeError as err:
                raise err.located(cell=None if self.tied else name) from None
        return genotype

    def contains(self, genotype: Genotype) -> bool:
        try:
            self.validate(genotype)
        except GenotypeError:
            return False
        return True


FULLY_CONCAT_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                    "dil_conv_3x3", "dil_conv_5x5", "conv_3x3", "null")
LOOSE_END_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                 "conv_1x1", "conv_3x3", "conv_5x5", "null")

NB201_OPS = ("avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3", "skip_connect", "null")

SPACES: dict[str, CellSpace] = {
    "darts": CellSpace("darts", FULLY_CONCAT_OPS, TwoInputsPerNode(), "all", 4),
    "loose-end": CellSpace("loose-end", LOOSE_END_OPS, TwoInputsPerNode(), "loose_ends", 5),
    # Inputs are drawn as the benchmark's cells are (null included), so that search and `nat bench`
    # see one distribution, and the policy meets N edges it may turn into skips.
    "nb201": CellSpace("nb201", NB201_OPS, AllPrevious(first=1), "last", 3, tied=True, fixed_ops=True,
                       sample_ops=NB201_OPS, input_nodes=(1,)),
}


def get_space(name: str) -> CellSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise GenotypeError(f"unknown cell space '{name}' (known: {', '.join(SPACES)})") from None


def validate(genotype: Genotype, space: str | CellSpace = "darts") -> Genotype:
    """Validate ``genotype`` against a space's topology rule (``darts`` by default)."""
    return (get_space(space) if isinstance(space, str) else space).validate(genotype)


def space_of(genotype: Genotype) -> CellSpace:
    """The space whose networks ``genotype`` is built into: a tied space holding it (nb201), else
    ``darts`` (every two-input cell, loose-end ones too, builds the same cell stack)."""
    return next((sp for sp in SPACES.values() if sp.tied and sp.contains(genotype)), SPACES["darts"])
