"""The NAT transformation rules: the table, the action mask, the legality check, the cost trap."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nat.arch import (ACTIONS, KIND_TRANSITIONS, Cell, Edge, Genotype, action_mask, apply_actions,
                      check_transformation, is_legal_transformation, legal_replacements,
                      transformation_violations)
from nat.arch import zoo
from nat.costs import cost_increase
from nat.errors import GenotypeError
from nat.nn.network import NetworkConfig
from nat.ops import OPS, op_kind

ALL_OPS = sorted(OPS)


def test_the_table_is_the_papers():
    # Fig. 2(c): O -> {O, S, N}; S -> {S, N}; N -> {N, S}.
    assert KIND_TRANSITIONS == {"O": {"O", "S", "N"}, "S": {"S", "N"}, "N": {"N", "S"}}
    assert legal_replacements("sep_conv_3x3") == ("sep_conv_3x3", "skip_connect", "null")
    assert legal_replacements("skip_connect") == ("skip_connect", "null")
    assert legal_replacements("null") == ("null", "skip_connect")


@pytest.mark.parametrize("op", ALL_OPS)
def test_replacements_never_swap_one_real_op_for_another(op):
    for new in legal_replacements(op):
        assert new == op or op_kind(new) in ("S", "N")
        assert op_kind(new) in KIND_TRANSITIONS[op_kind(op)]


@st.composite
def cells(draw, min_nodes=1, max_nodes=5):
    """Random two-input cells over every registered op (null included), concat = all nodes."""
    n = draw(st.integers(min_nodes, max_nodes))
    edges = []
    for node in range(2, 2 + n):
        for _ in range(2):
            edges.append(Edge(draw(st.sampled_from(ALL_OPS)), draw(st.integers(0, node - 1)), node))
    # keep the cell valid: node 2 gets one real op from an input so the output is live
    edges[0] = Edge(draw(st.sampled_from([o for o in ALL_OPS if o != "null"])), edges[0].src, 2)
    return Cell(edges, list(range(2, 2 + n)))


@settings(max_examples=200, deadline=None)
@given(cells(), st.randoms(use_true_random=False))
def test_masked_actions_are_exactly_the_legal_distinct_outcomes(cell, rnd):
    mask = action_mask(cell)
    assert mask.shape == (len(cell.edges), len(ACTIONS))
    for i, e in enumerate(cell.edges):
        outcomes = [{"keep": e.op, "skip": "skip_connect", "null": "null"}[a] for a, ok in zip(ACTIONS, mask[i]) if ok]
        assert len(outcomes) == len(set(outcomes))  # no duplicate actions for S and N edges
        assert set(outcomes) == set(legal_replacements(e.op))
        assert mask[i].sum() == (3 if op_kind(e.op) == "O" else 2)
    # any masked choice of actions is a legal transformation
    actions = [rnd.choice(np.flatnonzero(row).tolist()) for row in mask]
    try:
        alpha = apply_actions(cell, actions)
    except GenotypeError:  # e.g. every path to the output removed: not a cell at all
        return
    g_beta, g_alpha = Genotype(cell, cell), Genotype(alpha, alpha)
    assert is_legal_transformation(g_beta, g_alpha)


@settings(max_examples=200, deadline=None)
@given(cells(), st.data())
def test_any_o_to_other_o_is_caught_at_its_edge(cell, data):
    real = [i for i, e in enumerate(cell.edges) if op_kind(e.op) == "O"]
    if not real:
        return
    i = data.draw(st.sampled_from(real))
    new_op = data.draw(st.sampled_from([o for o in ALL_OPS if op_kind(o) == "O" and o != cell.edges[i].op]))
    ops = [e.op for e in cell.edges]
    ops[i] = new_op
    alpha = cell.replace_ops(ops)
    problems = transformation_violations(Genotype(cell, cell), Genotype(alpha, cell))
    assert [p.index for p in problems if p.cell == "normal"] == [i] or _parallel_twin(cell, i, new_op)


def _parallel_twin(cell, i, new_op):
    """A parallel edge between the same nodes already holding ``new_op`` makes the swap legal."""
    e = cell.edges[i]
    return any(j != i and f.src == e.src and f.dst == e.dst for j, f in enumerate(cell.edges))


def test_s_to_o_and_n_to_o_are_illegal():
    beta = zoo.get("NAT_DARTS").genotype
    back = zoo.get("DARTS").genotype  # undoing NAT turns S back into O
    with pytest.raises(GenotypeError, match=r"normal cell: edge 2 \('sep_conv_3x3', 0, 3\): illegal replacement "
                                            r"skip_connect -> sep_conv_3x3"):
        check_transformation(beta, back)


def test_topology_changes_are_illegal():
    g = zoo.get("DARTS").genotype
    moved = Cell([Edge(e.op, 1 if i == 0 else e.src, e.dst) for i, e in enumerate(g.normal.edges)], g.normal.concat)
    problems = transformation_violations(g, Genotype(moved, g.reduce))
    assert problems and all("topology changed" in str(p) for p in problems)


@pytest.mark.parametrize("name", [n for n in zoo.names() if zoo.nat_counterpart(n)])
def test_published_nat_genotypes_are_legal_transformations(name):
    beta, alpha = zoo.get(name).genotype, zoo.get(zoo.nat_counterpart(name)).genotype
    problems = transformation_violations(beta, alpha)
    if name == "NAONet":  # the published NAT-NAONet swaps a 2x2 average pool for a 3x3 one
        assert len(problems) == 1
        assert str(problems[0]) == ("reduce cell: edge 1 ('avg_pool_3x3', 1, 2): illegal replacement "
                                    "avg_pool_2x2 -> avg_pool_3x3: an edge holding avg_pool_2x2 (O) may "
                                    "only become avg_pool_2x2 / skip_connect / null")
    else:
        assert problems == []


def test_parallel_edges_may_be_matched_either_way():
    # R2 -> NAT_R2 turns two parallel 2->3 edges (sep_conv_5x5, avg_pool_3x3) into (null, null);
    # listing the result in the other order must not matter.
    beta = zoo.get("R2").genotype
    e = list(beta.normal.edges)
    e[2], e[3] = e[3], e[2]
    swapped = Genotype(Cell(e, beta.normal.concat), beta.reduce)
    assert is_legal_transformation(swapped, zoo.get("NAT_R2").genotype)


SMALL = NetworkConfig("cifar10", channels=8, layers=5)


def test_skip_on_a_stride_two_reduction_edge_costs_parameters():
    # The trap of the reference code: max_pool (free) -> skip on an input edge of a reduction
    # cell becomes a FactorizedReduce, which has weights. Legal, but costlier.
    beta = zoo.get("DARTS").genotype
    ops = [e.op for e in beta.reduce.edges]
    assert beta.reduce.edges[0] == ("max_pool_3x3", 0, 2)
    ops[0] = "skip_connect"
    alpha = Genotype(beta.normal, beta.reduce.replace_ops(ops))
    assert is_legal_transformation(beta, alpha)
    increases = cost_increase(alpha, beta, SMALL)
    assert any(s.startswith("params") for s in increases)
    # the same change on a stride-1 edge (2 -> 3 is inside the cell) is free
    assert cost_increase(beta, beta, SMALL) == []


def test_published_nat_darts_costs_no_more_at_paper_size():
    assert cost_increase(zoo.get("NAT_DARTS").genotype, zoo.get("DARTS").genotype) == []


def test_apply_actions_rejects_masked_actions():
    cell = zoo.get("DARTS").genotype.normal
    skip_edge = next(i for i, e in enumerate(cell.edges) if e.op == "skip_connect")
    actions = [0] * len(cell.edges)
    actions[skip_edge] = ACTIONS.index("skip")  # a duplicate of keep: masked
    with pytest.raises(ValueError, match="not allowed"):
        apply_actions(cell, actions)
