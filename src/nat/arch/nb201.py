"""NAS-Bench-201 architecture strings (Dong & Yang, ICLR 2020) and their genotypes.

A benchmark cell has one input (node 0) and three nodes, node j summing one edge from every
earlier node: six edges, written ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The benchmark's ops are
``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3`` and ``avg_pool_3x3``; ``none`` is
our ``null``. The cell fits the genotype model unchanged: benchmark node i is our node i + 1, so
our node 1 (the previous cell) is the input, our node 0 (two cells back) is never read, and the
output is node 4 alone. One cell is used everywhere, so the genotype's normal and reduction
cells are the same cell (the ``nb201`` space is *tied*, :mod:`nat.arch.space`).

A cell is also a *code*: the six benchmark op indices as a base-5 number (edge k is digit k), so
the 15,625 cells are ``range(15625)`` and tables, caches and enumerations are plain arrays.
341 of them have an output no path of non-``none`` edges reaches; the benchmark scores them (at
chance) but they are not architectures here (:class:`~nat.arch.genotype.Cell` rejects them),
and NAT never produces one.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from ..errors import GenotypeError
from ..ops import NULL
from .genotype import Cell, Edge, Genotype
from .space import get_space

__all__ = ["BENCH_OPS", "EDGES", "N_CELLS", "one_edge_codes", "parse_arch_string", "format_arch_string", "is_arch_string",
           "to_genotype", "from_genotype", "genotype_from_string", "genotype_to_string", "encode", "decode",
           "connected_codes", "all_strings", "legal_codes", "OFFSET", "structure", "structure_classes",
           "sample_structure"]

#: The benchmark's op names, in its own order (the digits of a code).
BENCH_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_TO_OURS = {"none": NULL, **{op: op for op in BENCH_OPS[1:]}}
_TO_BENCH = {v: k for k, v in _TO_OURS.items()}
#: ``(from, to)`` of the six edges in benchmark numbering, in the order the string lists them.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_CELLS = len(BENCH_OPS) ** len(EDGES)
OFFSET = 1  # benchmark node i is our node i + 1
_ENTRY = re.compile(r"([A-Za-z0-9_]+)~(\d+)")


def is_arch_string(text: str) -> bool:
    """Whether ``text`` is meant as a benchmark string (it may still be malformed)."""
    return text.strip().startswith("|")


def parse_arch_string(text: str) -> tuple[str, ...]:
    """The six benchmark op names of ``|op~0|+|op~0|op~1|+|...|``, strictly validated."""
    s = text.strip()
    if not (s.startswith("|") and s.endswith("|")):
        raise GenotypeError(f"malformed NAS-Bench-201 string {_short(s)}: it must start and end with '|'")
    nodes = s.split("+")
    if len(nodes) != 3:
        raise GenotypeError(f"malformed NAS-Bench-201 string {_short(s)}: {len(nodes)} node group(s) "
                            "separated by '+', expected 3")
    ops = []
    for j, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise GenotypeError(f"malformed NAS-Bench-201 string {_short(s)}: node {j} group {group!r} "
                                "is not enclosed in '|'")
        entries = group[1:-1].split("|")
        if len(entries) != j:
            raise GenotypeError(f"malformed NAS-Bench-201 string {_short(s)}: node {j} has {len(entries)} "
                                f"input(s), expected {j} (one from every earlier node)")
        for i, entry in enumerate(entries):
            m = _ENTRY.fullmatch(entry)
            if m is None:
                raise GenotypeError(f"malformed NAS-Bench-201 string {_short(s)}: node {j} entry {entry!r} "
                                    "is not op~input")
            op, src = m.group(1), int(m.group(2))
            if src != i:
                raise GenotypeError(f"malformed NAS-Bench-201 string {_short(s)}: node {j} entry {entry!r} "
                                    f"reads node {src}, expected ~{i} (inputs in order 0..{j - 1})")
            if op not in _TO_OURS:
                raise GenotypeError(f"unknown NAS-Bench-201 op '{op}' in node {j} entry {entry!r} "
                                    f"(ops: {', '.join(BENCH_OPS)})")
            ops.append(op)
    return tuple(ops)


def format_arch_string(ops) -> str:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` from six benchmark op names (or a code)."""
    ops = decode(ops) if isinstance(ops, (int, np.integer)) else tuple(ops)
    if len(ops) != len(EDGES) or any(op not in _TO_OURS for op in ops):
        raise ValueError(f"need {len(EDGES)} benchmark op names, got {ops!r}")
    groups, k = [], 0
    for j in range(1, 4):
        groups.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(groups)


def to_genotype(ops) -> Genotype:
    """The tied genotype of six benchmark op names: the same cell as normal and reduction cell."""
    edges = [Edge(_TO_OURS[op], s + OFFSET, d + OFFSET) for op, (s, d) in zip(ops, EDGES)]
    cell = Cell(edges, (3 + OFFSET,))
    return Genotype(cell, cell)


def from_genotype(genotype: Genotype) -> tuple[str, ...]:
    """The six benchmark op names of a genotype of the ``nb201`` space."""
    get_space("nb201").validate(genotype)
    by_pair = {(e.src, e.dst): e.op for e in genotype.normal.edges}
    return tuple(_TO_BENCH[by_pair[s + OFFSET, d + OFFSET]] for s, d in EDGES)


def genotype_from_string(text: str) -> Genotype:
    """Parse a benchmark string into a genotype; one-line errors, also for a disconnected output."""
    ops = parse_arch_string(text)
    try:
        return to_genotype(ops)
    except GenotypeError as err:
        raise GenotypeError(f"NAS-Bench-201 cell {_short(text.strip())}: {err.problem} -- the benchmark "
                            "scores such cells at chance; they are not architectures here") from None


def genotype_to_string(genotype: Genotype) -> str:
    return format_arch_string(from_genotype(genotype))


# -- codes ----------------------------------------------------------------------------------
def encode(ops) -> int:
    """The base-5 code of six benchmark op names (or of a genotype of the nb201 space)."""
    if isinstance(ops, Genotype):
        ops = from_genotype(ops)
    return sum(BENCH_OPS.index(op) * 5 ** k for k, op in enumerate(ops))


def decode(code: int) -> tuple[str, ...]:
    if not 0 <= code < N_CELLS:
        raise ValueError(f"code {code} is outside 0..{N_CELLS - 1}")
    return tuple(BENCH_OPS[(int(code) // 5 ** k) % 5] for k in range(len(EDGES)))


@cache
def all_strings() -> tuple[str, ...]:
    """Every benchmark string, indexed by code."""
    return tuple(format_arch_string(decode(c)) for c in range(N_CELLS))


@cache
def connected_codes() -> np.ndarray:
    """Boolean mask over codes: the output is reached from the input through non-``none`` edges."""
    digits = np.array([[(c // 5 ** k) % 5 for k in range(len(EDGES))] for c in range(N_CELLS)])
    live = {0: np.ones(N_CELLS, dtype=bool)}
    for k, (s, d) in enumerate(EDGES):  # edges are listed by target node, so one pass suffices
        reach = live[s] & (digits[:, k] != 0)
        live[d] = live.get(d, np.zeros(N_CELLS, dtype=bool)) | reach
    return live[3]


def structure(code: int) -> tuple:
    """What a cell computes, written so that cells computing the same function compare equal.

    Each node is the multiset of its terms: an edge ``op`` from node ``i`` contributes the term
    ``(op, node i)``, a skip contributes node ``i``'s own terms (a sum of sums is one sum), and
    ``none`` or an edge out of a zero node contributes nothing. So dead edges, the order of a sum
    and where a skip chain runs do not matter. The output node's multiset is the cell's
    structure: the 15,284 connected cells have 4,929 of them (NAS-Bench-201's own count, which
    does not merge skip chains, is 6,466)."""
    ops = decode(code)
    nodes: dict[int, tuple] = {0: ("x",)}
    for j in (1, 2, 3):
        terms: list = []
        for k, (src, dst) in enumerate(EDGES):
            if dst != j or ops[k] == "none" or not nodes[src]:
                continue
            if ops[k] == "skip_connect":
                terms += nodes[src]
            else:
                terms.append((ops[k], nodes[src]))
        nodes[j] = tuple(sorted(terms, key=repr))
    return nodes[3]


@cache
def structure_classes() -> tuple[np.ndarray, ...]:
    """The connected cells grouped by :func:`structure`: one array of codes per distinct function."""
    mask = connected_codes()
    groups: dict[tuple, list[int]] = {}
    for code in range(N_CELLS):
        if mask[code]:
            groups.setdefault(structure(code), []).append(code)
    return tuple(np.array(g) for g in groups.values())


def sample_structure(rng) -> int:
    """A connected cell drawn de-isomorphically: a distinct function uniformly, then one of the cells
    computing it. Drawing codes uniformly instead draws simple functions far more often: one
    function of a single convolution is written by 460 codes, most of them dead edges (Ning et
    al., "Evaluating Efficient Performance Estimators of Neural Architectures", Sec. 6.2)."""
    classes = structure_classes()
    group = classes[rng.randrange(len(classes))]
    return int(group[rng.randrange(len(group))])


@cache
def _legal_digits(digit: int) -> tuple[int, ...]:
    """Op indices a NAT transformation may leave on an edge holding op index ``digit`` (the rules'
    table: O -> {O, S, N}, S -> {S, N}, N -> {N, S})."""
    from .rules import legal_replacements
    return tuple(BENCH_OPS.index(_TO_BENCH[op]) for op in legal_replacements(_TO_OURS[BENCH_OPS[digit]]))


def legal_codes(code: int) -> np.ndarray:
    """Codes of every legal NAT transformation of cell ``code`` (itself included; at most 3^6),
    whether or not its output stays connected (mask with :func:`connected_codes`)."""
    out = np.zeros(1, dtype=np.int64)
    for k in range(len(EDGES)):
        digit = (code // 5 ** k) % 5
        out = np.add.outer(out, np.array(_legal_digits(int(digit))) * 5 ** k).ravel()
    return out


def one_edge_codes(code: int) -> list[int]:
    """Codes of the legal, connected transformations of cell ``code`` that change exactly one edge."""
    connected = connected_codes()
    return [int(c) for c in legal_codes(code)
            if c != code and connected[c] and sum(((c // 5 ** k) % 5) != ((code // 5 ** k) % 5) for k in range(6)) == 1]


def _short(text: str) -> str:
    return repr(text if len(text) <= 100 else text[:97] + "...")
