"""Policies: legal sampling, exact log-probabilities and entropies, the REINFORCE gradient,
the own-op regression, and learning a synthetic reward."""

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nat.arch import ACTIONS, Cell, Genotype, action_mask, is_legal_transformation, zoo
from nat.arch.space import SPACES
from nat.ops import SKIP, op_kind
from nat.policy import GCNPolicy, LSTMPolicy, Policy, RandomPolicy, make_policy
from nat.costs import costlier_skips, cost_increase
from nat.nn.network import NetworkConfig
from nat.search.reinforce import MovingAverageBaseline, reinforce_loss

DARTS = zoo.get("DARTS").genotype


# Most tests check the rules of Fig. 2(c) alone, so they build policies with PLAIN; cost-aware
# masking (the default) has its own tests.
PLAIN = {"cost_aware": False}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["gcn", "lstm", "random"]), st.sampled_from(sorted(SPACES)))
def test_samples_are_always_legal(seed, policy_name, space):
    torch.manual_seed(seed)
    beta = SPACES[space].sample(random.Random(seed))
    policy = make_policy(policy_name, **PLAIN)
    for s in (policy.sample(beta, torch.Generator().manual_seed(seed)), policy.argmax(beta)):
        if s.alpha is not None:
            assert is_legal_transformation(beta, s.alpha)
        for name in ("normal", "reduce"):  # never a masked (illegal or duplicate) action
            mask = torch.from_numpy(action_mask(getattr(beta, name)))
            assert mask[torch.arange(len(s.actions[name])), s.actions[name]].all()


def test_cost_aware_policies_never_propose_a_costlier_skip():
    costly = costlier_skips(DARTS.reduce, reduction=True)
    assert costly == {0, 1, 3, 4, 7}  # the five max pools on stride-2 edges
    policy = RandomPolicy()
    gen = torch.Generator().manual_seed(0)
    for k in range(40):
        s = policy.sample(DARTS, gen)
        assert not any(s.actions["reduce"][i] == ACTIONS.index("skip") for i in costly)
        if s.alpha is not None and k % 8 == 0:
            assert cost_increase(s.alpha, DARTS, NetworkConfig("cifar10", 8, 5)) == []


def test_random_policy_probabilities_by_hand():
    # Uniform over distinct legal outcomes: 3 for O edges, 2 for S and N edges.
    counts = [3 if op_kind(e.op) == "O" else 2 for c in (DARTS.normal, DARTS.reduce) for e in c.edges]
    s = RandomPolicy(**PLAIN).sample(DARTS)
    assert s.log_prob.item() == pytest.approx(-sum(math.log(k) for k in counts))
    assert s.entropy.item() == pytest.approx(sum(math.log(k) for k in counts))


class TablePolicy(Policy):
    """Logits are free parameters, one row per edge: gradients can be derived by hand."""

    def __init__(self, n_edges):
        super().__init__(**PLAIN)
        self.z = torch.nn.Parameter(torch.randn(2, n_edges, 3))

    def cell_logits(self, cell):
        return self.z[cell.cell_type]


def test_log_prob_and_entropy_by_hand():
    torch.manual_seed(0)
    policy = TablePolicy(len(DARTS.normal.edges))
    s = policy.sample(DARTS, torch.Generator().manual_seed(1))
    log_prob = entropy = 0.0
    for t, name in enumerate(("normal", "reduce")):
        mask = action_mask(getattr(DARTS, name))
        for i, row in enumerate(policy.z[t].tolist()):
            exps = [math.exp(v) if ok else 0.0 for v, ok in zip(row, mask[i])]
            probs = [e / sum(exps) for e in exps]
            log_prob += math.log(probs[s.actions[name][i]])
            entropy -= sum(p * math.log(p) for p in probs if p > 0)
    assert s.log_prob.item() == pytest.approx(log_prob, rel=1e-5)
    assert s.entropy.item() == pytest.approx(entropy, rel=1e-5)


def test_reinforce_gradient_by_hand():
    # d/dz [A log p_a + lam H] for one softmax row: A (onehot_a - p) - lam p (log p + H).
    torch.manual_seed(0)
    policy = TablePolicy(len(DARTS.normal.edges))
    s = policy.sample(DARTS, torch.Generator().manual_seed(2))
    advantage, lam = 0.37, 0.003
    reinforce_loss(s.log_prob, s.entropy, advantage, lam).backward()
    for t, name in enumerate(("normal", "reduce")):
        mask = torch.from_numpy(action_mask(getattr(DARTS, name)))
        z = policy.z.detach()[t].masked_fill(~mask, float("-inf"))
        p = torch.softmax(z, dim=1)
        logp = torch.log_softmax(z, dim=1).masked_fill(~mask, 0.0)
        h = -(p * logp).sum(dim=1, keepdim=True)
        onehot = torch.nn.functional.one_hot(s.actions[name], 3).float()
        ascent = advantage * (onehot - p) - lam * p * (logp + h)
        ascent = ascent.masked_fill(~mask, 0.0)
        assert torch.allclose(-policy.z.grad[t], ascent, atol=1e-6)


def test_own_op_reaches_its_logits():
    # The reference GCN's defect: an edge's own op never reached its logits.
    torch.manual_seed(0)
    policy = GCNPolicy(**PLAIN)
    edges = list(DARTS.normal.edges)
    changed = Genotype(Cell([edges[0]._replace(op="conv_3x3")] + edges[1:], DARTS.normal.concat), DARTS.reduce)
    before, after = policy.distributions(DARTS)["normal"][0], policy.distributions(changed)["normal"][0]
    assert not torch.allclose(before, after, atol=1e-4)


def test_cell_type_reaches_the_logits():
    torch.manual_seed(0)
    policy = GCNPolicy(**PLAIN)
    same = Genotype(DARTS.normal, DARTS.normal)
    d = policy.distributions(same)
    assert not torch.allclose(d["normal"], d["reduce"], atol=1e-4)


def test_baseline_tracks_the_reward():
    b = MovingAverageBaseline(decay=0.5)
    assert b.advantage(1.0) == 0.0  # first reward: its own baseline
    assert b.advantage(1.0) == 0.0 and b.value == 1.0  # constant reward -> baseline equals it
    assert b.advantage(3.0) == 2.0 and b.value == 2.0


POOLS = {"max_pool_3x3", "avg_pool_3x3"}


def _pool_to_skip_reward(beta, alpha):
    pools = sum(e.op in POOLS for c in (beta.normal, beta.reduce) for e in c.edges)
    if alpha is None or pools == 0:
        return 0.0
    hits = sum(eb.op in POOLS and ea.op == SKIP for cb, ca in ((beta.normal, alpha.normal), (beta.reduce, alpha.reduce))
               for eb, ea in zip(cb.edges, ca.edges))
    return hits / pools


@pytest.mark.parametrize("policy_cls", [GCNPolicy, LSTMPolicy])
def test_policy_learns_a_synthetic_reward(policy_cls):
    # +1 for each pooling op replaced by a skip: from 1/3 at the start, the policy must learn it.
    torch.manual_seed(0)
    rng, gen = random.Random(0), torch.Generator().manual_seed(0)
    policy = policy_cls(**PLAIN)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    baseline = MovingAverageBaseline(0.9)
    space = SPACES["darts"]
    for _ in range(300):
        beta = space.sample(rng)
        s = policy.sample(beta, gen)
        advantage = baseline.advantage(_pool_to_skip_reward(beta, s.alpha))
        opt.zero_grad()
        reinforce_loss(s.log_prob, s.entropy, advantage, 1e-3).backward()
        opt.step()
    test = [space.sample(random.Random(1000 + i)) for i in range(50)]
    score = sum(_pool_to_skip_reward(b, policy.argmax(b).alpha) for b in test) / len(test)
    assert score > 0.9


def test_policies_take_their_settings_in_the_constructor():
    from nat.errors import NatError
    for name in ("gcn", "egcn", "lstm", "random"):
        policy = make_policy(name, cost_aware=False, cell_types=("normal",))
        assert policy.cost_aware is False and policy.cell_types == ("normal",)
        assert make_policy(name).cost_aware is True  # per instance, not a class attribute patched in place
    with pytest.raises(NatError, match="cell_types must name some of normal, reduce"):
        make_policy("gcn", cell_types=("stem",))


def test_a_transformer_file_carries_its_policys_settings(tmp_path):
    from nat.arch import nb201
    from nat.search.transform import load_transformer, shipped_transformer
    cell = nb201.genotype_from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    t = load_transformer(shipped_transformer(cell), cell)
    assert t.policy.cell_types == ("normal",) and t.policy.cost_aware is True
