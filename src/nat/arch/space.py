"""Cell spaces: which ops a cell may use and which graphs it may have.

A space is explicit and swappable so that new ones slot in beside these: its candidate op list
(what a supernet holds on each edge and what a sampler draws from), and its topology rule. The
two spaces of the paper share the rule "every intermediate node has exactly two inputs" and
differ in their ops and in how the cell output is formed (all intermediate nodes for
fully-concat cells, the loose ends for ENAS-style cells). Later issues attach a sampler and a
supernet builder to each space.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from ..errors import GenotypeError
from ..ops import NULL
from .genotype import Cell, Edge, Genotype

__all__ = ["TopologyRule", "TwoInputsPerNode", "CellSpace", "SPACES", "get_space", "validate"]


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
class CellSpace:
    """A cell search space.

    Args:
        name: the name used on the command line (``--space``).
        ops: candidate ops on every edge, ``null`` included.
        topology: the rule every cell of the space obeys.
        concat: ``"all"`` (every intermediate node) or ``"loose_ends"`` (nodes nobody consumes).
        n_intermediate: intermediate nodes per cell in sampled architectures.
    """

    name: str
    ops: tuple[str, ...]
    topology: TopologyRule
    concat: str
    n_intermediate: int

    def sample(self, rng: random.Random) -> Genotype:
        """A random input architecture beta ~ p(beta); normal and reduction cells independent."""
        ops = tuple(op for op in self.ops if op != NULL)
        cells = []
        for _ in range(2):
            edges = self.topology.sample_edges(rng, ops, self.n_intermediate)
            cells.append(Cell(edges, None if self.concat == "loose_ends" else range(2, 2 + self.n_intermediate)))
        return Genotype(*cells)

    def validate(self, genotype: Genotype) -> Genotype:
        """Check the topology rule of this space on both cells; return the genotype."""
        for name, cell in genotype.cells().items():
            try:
                self.topology.check(cell)
            except GenotypeError as err:
                raise err.located(cell=name) from None
        return genotype


FULLY_CONCAT_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                    "dil_conv_3x3", "dil_conv_5x5", "conv_3x3", "null")
LOOSE_END_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                 "conv_1x1", "conv_3x3", "conv_5x5", "null")

SPACES: dict[str, CellSpace] = {
    "darts": CellSpace("darts", FULLY_CONCAT_OPS, TwoInputsPerNode(), "all", 4),
    "loose-end": CellSpace("loose-end", LOOSE_END_OPS, TwoInputsPerNode(), "loose_ends", 5),
}


def get_space(name: str) -> CellSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise GenotypeError(f"unknown cell space '{name}' (known: {', '.join(SPACES)})") from None


def validate(genotype: Genotype, space: str | CellSpace = "darts") -> Genotype:
    """Validate ``genotype`` against a space's topology rule (``darts`` by default)."""
    return (get_space(space) if isinstance(space, str) else space).validate(genotype)
