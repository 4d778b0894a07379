"""The transformation rules of NAT (paper, Sec. 3.1 and Fig. 2c) as one explicit table.

An edge of kind O may stay, become a skip connection or be removed; S may stay or be removed;
N may stay or become a skip connection. Other changes (one O for another O, adding an edge) are
illegal: they could raise the cost, which NAT promises never to do.

Policies choose one of three *actions* per edge, ``keep``, ``skip`` and ``null``; for S and N
edges two of them mean the same thing, so :func:`action_mask` offers only the distinct ones
(otherwise the duplicated outcome would get twice the probability and inflate the entropy).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import permutations
from typing import TYPE_CHECKING

from ..errors import GenotypeError
from ..ops import NULL, SKIP, op_kind
from .genotype import Cell, Genotype
from .space import space_of

if TYPE_CHECKING:
    import numpy as np

__all__ = ["KIND_TRANSITIONS", "ACTIONS", "legal_replacements", "action_mask", "apply_actions",
           "transformation_violations", "check_transformation", "is_legal_transformation"]

#: Kind of the original op -> kinds it may become.
KIND_TRANSITIONS: dict[str, frozenset[str]] = {
    "O": frozenset({"O", "S", "N"}),
    "S": frozenset({"S", "N"}),
    "N": frozenset({"N", "S"}),
}

ACTIONS = ("keep", "skip", "null")


def legal_replacements(op: str) -> tuple[str, ...]:
    """The ops an edge holding ``op`` may hold after a transformation (``op`` itself first)."""
    kinds = KIND_TRANSITIONS[op_kind(op)]
    out = [op]
    out += [SKIP] if "S" in kinds and op != SKIP else []
    out += [NULL] if "N" in kinds and op != NULL else []
    return tuple(out)


def _action_result(op: str, action: str) -> str:
    return {"keep": op, "skip": SKIP, "null": NULL}[action]


def action_mask(cell: Cell) -> np.ndarray:
    """Boolean ``(n_edges, 3)`` mask over :data:`ACTIONS`: legal and not a duplicate of ``keep``."""
    import numpy as np  # here, not at the top: `nat --help` parses genotypes' names without numpy
    mask = np.zeros((len(cell.edges), len(ACTIONS)), dtype=bool)
    for i, e in enumerate(cell.edges):
        allowed = legal_replacements(e.op)
        for j, action in enumerate(ACTIONS):
            result = _action_result(e.op, action)
            mask[i, j] = result in allowed and (action == "keep" or result != e.op)
    return mask


def apply_actions(cell: Cell, actions) -> Cell:
    """The cell after taking one action (an index into :data:`ACTIONS`) per edge."""
    actions = [int(a) for a in actions]
    mask = action_mask(cell)
    for i, a in enumerate(actions):
        if not mask[i, a]:
            raise ValueError(f"action {ACTIONS[a]!r} is not allowed on edge {i} {tuple(cell.edges[i])}")
    return cell.replace_ops(_action_result(e.op, ACTIONS[a]) for e, a in zip(cell.edges, actions))


def _cell_violations(beta: Cell, alpha: Cell, name: str | None) -> list[GenotypeError]:
    if sorted(beta.concat) != sorted(alpha.concat):
        return [GenotypeError(f"concat changed from {list(beta.concat)} to {list(alpha.concat)}", cell=name)]
    groups_b, groups_a = defaultdict(list), defaultdict(list)
    for i, e in enumerate(beta.edges):
        groups_b[(e.src, e.dst)].append((i, e))
    for i, e in enumerate(alpha.edges):
        groups_a[(e.src, e.dst)].append((i, e))
    problems = []
    for key in sorted(set(groups_a) | set(groups_b), key=lambda k: (k[1], k[0])):
        b, a = groups_b.get(key, []), groups_a.get(key, [])
        if len(a) != len(b):
            i, e = (a or b)[0]
            problems.append(GenotypeError(
                f"topology changed: the input has {len(b)} edge(s) from node {key[0]} to node {key[1]}, "
                f"the result has {len(a)}", cell=name, edge=tuple(e), index=i))
            continue
        # Parallel edges between the same nodes are interchangeable: accept any legal matching.
        if any(all(ea.op in legal_replacements(eb.op) for (_, eb), (_, ea) in zip(b, perm))
               for perm in permutations(a)):
            continue
        for (_, eb), (i, ea) in zip(b, a):
            if ea.op not in legal_replacements(eb.op):
                problems.append(GenotypeError(
                    f"illegal replacement {eb.op} -> {ea.op}: an edge holding {eb.op} "
                    f"({op_kind(eb.op)}) may only become {' / '.join(legal_replacements(eb.op))}",
                    cell=name, edge=tuple(ea), index=i))
    return problems


def transformation_violations(beta: Genotype, alpha: Genotype) -> list[GenotypeError]:
    """Every reason why ``alpha`` is not a legal transformation of ``beta`` (empty if it is); for
    two genotypes of a tied space (nb201) the one cell is checked once."""
    if space_of(beta).tied and space_of(alpha).tied:
        return _cell_violations(beta.normal, alpha.normal, None)
    return [p for name in ("normal", "reduce")
            for p in _cell_violations(getattr(beta, name), getattr(alpha, name), name)]


def is_legal_transformation(beta: Genotype, alpha: Genotype) -> bool:
    return not transformation_violations(beta, alpha)


def check_transformation(beta: Genotype, alpha: Genotype) -> None:
    """Raise :class:`GenotypeError` naming the first edge of ``alpha`` that breaks the rules."""
    problems = transformation_violations(beta, alpha)
    if problems:
        raise problems[0]
