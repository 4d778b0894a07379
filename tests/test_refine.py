"""Supernet-guided refinement: hill-climbing over one-edge legal transformations."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from nat.arch import nb201
from nat.arch.genotype import Genotype
from nat.arch.rules import is_legal_transformation, legal_replacements
from nat.arch.zoo import resolve
from nat.errors import NatError
from nat.nn.nb201 import NB201CostModel
from nat.ops import SKIP
from nat.search.refine import one_edge_moves, refine
from nat.search.selection import Selection
from nat.search.transform import transform

from test_improving import _PrefersInput, _stand_in  # noqa: E402  (one set of stand-ins for the selection tests)

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _edge_diff(a: Genotype, b: Genotype) -> int:
    return sum(x.op != y.op for name in ("normal", "reduce")
               for x, y in zip(getattr(a, name).edges, getattr(b, name).edges))


@pytest.mark.parametrize("seed", range(12))
def test_refinement_is_a_legal_monotone_local_optimum(seed):
    """Over random cells and random scores: every result is a legal transformation of the input,
    never scores below the start, and no one-edge move from it scores higher."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=nb201.N_CELLS)
    connected = np.flatnonzero(nb201.connected_codes())
    beta = nb201.to_genotype(nb201.decode(int(rng.choice(connected))))
    legal = [int(c) for c in nb201.legal_codes(nb201.encode(beta)) if nb201.connected_codes()[c]]
    start = nb201.to_genotype(nb201.decode(int(rng.choice(legal))))
    calls = []

    def score(g):
        calls.append(g)
        return table[nb201.encode(g)]

    result = refine(beta, start, score)
    assert is_legal_transformation(beta, result.genotype)
    assert result.score == table[nb201.encode(result.genotype)] >= result.start_score == table[nb201.encode(start)]
    assert all(table[nb201.encode(g)] <= result.score for g, _ in one_edge_moves(beta, result.genotype))
    assert len(calls) == len(set(calls)) == result.evaluations  # every cell scored once
    scores = [s["score"] for s in result.steps]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)  # strictly climbing


def test_one_edge_moves_are_every_legal_single_change():
    beta = nb201.genotype_from_string(EXAMPLE)
    moves = list(one_edge_moves(beta, beta))
    # each of the 6 edges may take each legal replacement but itself; tied: both cells change together
    expected = sum(len(legal_replacements(e.op)) - 1 for e in beta.normal.edges)
    assert len(moves) == expected
    for g, move in moves:
        assert g.normal == g.reduce and _edge_diff(beta, g) == 2 and is_legal_transformation(beta, g)
        assert move["cell"] is None and g.normal.edges[move["index"]].op == move["to"]


def test_one_edge_moves_change_one_cell_of_darts():
    _, beta = resolve("DARTS")
    moves = list(one_edge_moves(beta, beta))
    assert {m["cell"] for _, m in moves} == {"normal", "reduce"}
    for g, move in moves:
        other = "reduce" if move["cell"] == "normal" else "normal"
        assert getattr(g, other) == getattr(beta, other) and _edge_diff(beta, g) == 1
        assert is_legal_transformation(beta, g)


def test_refinement_climbs_a_separable_score_to_its_best():
    """A score that adds one value per (edge, op) has its best legal transformation reachable one
    edge at a time when every change is towards a skip (the cell stays connected)."""
    _, beta = resolve("DARTS")
    rng = random.Random(0)
    worth = {(name, i, op): rng.random() for name in ("normal", "reduce")
             for i, e in enumerate(getattr(beta, name).edges) for op in (e.op, SKIP)}

    def score(g):
        return sum(worth.get((name, i, e.op), -10.0) for name in ("normal", "reduce")
                   for i, e in enumerate(getattr(g, name).edges))

    result = refine(beta, beta, score)
    for name in ("normal", "reduce"):
        for i, (eb, ea) in enumerate(zip(getattr(beta, name).edges, getattr(result.genotype, name).edges)):
            assert ea.op == max((eb.op, SKIP), key=lambda op: worth[(name, i, op)])


def test_refinement_takes_only_allowed_moves_and_known_scores_are_not_measured():
    beta = nb201.genotype_from_string(EXAMPLE)
    table = np.random.default_rng(3).normal(size=nb201.N_CELLS)
    calls = []

    def score(g):
        calls.append(g)
        return table[nb201.encode(g)]

    free = refine(beta, beta, score)
    assert free.steps, "this seed must have an improving move for the test to mean anything"
    first = free.steps[0]
    banned = lambda g: g.normal.edges[first["index"]].op != first["to"]  # noqa: E731
    calls.clear()
    held = refine(beta, beta, score, allowed=banned, known={beta: table[nb201.encode(beta)]})
    assert beta not in calls
    assert all(s["index"] != first["index"] or s["to"] != first["to"] for s in held.steps)
    assert refine(beta, beta, score, max_steps=0).genotype == beta
    assert refine(beta, beta, score, min_gain=1e9).steps == []


class _LikesTarget(_PrefersInput):
    """A stand-in supernet more confident the more of its favourite's edges a cell shares."""

    def forward(self, x, genotype):
        y = x[:, 0, 0, 0].long()
        agree = sum(a.op == b.op for a, b in zip(genotype.normal.edges, self.favourite.normal.edges))
        logits = torch.zeros(len(x), 10)
        logits[torch.arange(len(x)), y] = float(agree)
        return logits


def test_transform_refine_reaches_the_supernets_favourite_and_margin_keeps_the_input():
    beta = nb201.genotype_from_string(EXAMPLE)
    target = nb201.genotype_from_string(EXAMPLE.replace("nor_conv_3x3~1", "skip_connect~1")
                                        .replace("avg_pool_3x3", "skip_connect"))
    t, batches = _stand_in(_LikesTarget(target))
    plain = transform(beta, t, Selection(candidates=2), batches=batches, cost_fn=NB201CostModel(), seed=1)
    refined = transform(beta, t, Selection(candidates=2, refine=True), batches=batches, cost_fn=NB201CostModel(), seed=1)
    assert refined.genotype == target and refined.method.endswith("+refine")
    assert plain.genotype != target  # an untrained policy's two draws do not find it
    assert [s["to"] for s in refined.refinement] and any("refined" in n for n in refined.notes)
    greedy = transform(beta, t, Selection(greedy=True, refine=True), batches=batches, cost_fn=NB201CostModel())
    assert greedy.genotype == target  # refinement also follows the per-edge argmax
    safe = transform(beta, t, Selection(candidates=2, refine=True, margin=90.0), batches=batches, cost_fn=NB201CostModel())
    assert safe.genotype == beta and safe.input_won and safe.refinement == []
    assert any("point(s) more" in n for n in safe.notes)
    with pytest.raises(NatError, match="--margin"):
        transform(beta, t, Selection(candidates=2, margin=-1), batches=batches, cost_fn=NB201CostModel())


# -- packed transformers: the supernet travels with the policy -------------------------------------
def test_packed_transformer_scores_as_its_run_folder(tmp_path, noise_data):
    from nat.search.config import SearchConfig
    from nat.search.rewards import fit
    from nat.search.trainer import run_search
    from nat.search.transform import load_transformer, pack_transformer

    data = noise_data(64, 32)
    cfg = SearchConfig(space="nb201", channels=4, layers=3, resolution=16, batch_size=16, epochs=1, w_steps=2,
                       theta_steps=1, policy="gcn", device="cpu")
    run_search(cfg, data, tmp_path / "run")
    beta = nb201.genotype_from_string(EXAMPLE)
    folder = load_transformer(tmp_path / "run", beta)
    x = torch.as_tensor(data.test_images[:16]).permute(0, 3, 1, 2).float() / 255
    batches = [(x, torch.as_tensor(data.test_labels[:16]))]
    exact = load_transformer(pack_transformer(tmp_path / "run", tmp_path / "full.pt", half=False), beta)
    small = load_transformer(pack_transformer(tmp_path / "run", tmp_path / "half.pt"), beta)
    assert (tmp_path / "half.pt").stat().st_size < (tmp_path / "full.pt").stat().st_size
    for g in (beta, *[g for g, _ in one_edge_moves(beta, beta)][:3]):
        assert fit(exact.supernet, g, batches) == fit(folder.supernet, g, batches)
        assert fit(small.supernet, g, batches) == pytest.approx(fit(folder.supernet, g, batches), abs=2e-3)
    assert torch.equal(next(iter(small.policy.state_dict().values())), next(iter(folder.policy.state_dict().values())))


def test_packing_names_what_is_missing(tmp_path):
    from nat.nasbench import fixture
    from nat.search.config import PRESETS, SearchConfig
    from nat.search.trainer import run_search
    from nat.search.transform import pack_transformer

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NatError, match="junk.pt: not a readable checkpoint"):
        pack_transformer(tmp_path / "junk.pt", tmp_path / "out.pt")
    table = fixture.write_fixture_table(tmp_path / "t.csv")
    cfg = SearchConfig(**{**PRESETS["nb201-learner"], "reward": f"table:{table}", "reward_metric": "valid_acc",
                          "epochs": 1, "theta_steps": 1, "m": 2, "n": 2, "device": "cpu"})
    run_search(cfg, None, tmp_path / "table-run")
    with pytest.raises(NatError, match="trained no supernet"):
        pack_transformer(tmp_path / "table-run", tmp_path / "out.pt")
    with pytest.raises(NatError, match="no last.pt"):
        pack_transformer(tmp_path / "table-run", tmp_path / "out.pt", supernet_run=tmp_path)
    assert not (tmp_path / "out.pt").exists()


# -- significance: a change must beat the input by more than the images' noise -----------------------
def test_paired_z_by_hand_and_its_invariances():
    from nat.search.rewards import paired_z
    reference = torch.tensor([2.0, 1.0, 3.0, 4.0])
    other = reference - torch.tensor([1.0, -1.0, 1.0, 1.0])  # differences: mean 0.5, sd 1, se 0.5
    assert paired_z(reference, other) == pytest.approx(1.0)
    assert paired_z(other, reference) == pytest.approx(-1.0)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(50, generator=g), torch.rand(50, generator=g)
    offset = 10 * torch.rand(50, generator=g)  # how hard each image is: cancels in a paired test
    assert paired_z(a + offset, b + offset) == pytest.approx(paired_z(a, b))
    assert paired_z(3 * a, 3 * b) == pytest.approx(paired_z(a, b))  # no unit: the same in any scale
    assert paired_z(a, a - 0.1) > 1e6 and paired_z(a, a) == 0.0  # the same gain on every image: certain
    assert paired_z(torch.ones(3), torch.zeros(3)) == math.inf
    with pytest.raises(ValueError, match="one length"):
        paired_z(a, b[:10])


class _BetterOnHalf(_PrefersInput):
    """A stand-in supernet: every cell has logit 1 on the right class, except the favourite, which
    has 3 on even images and 0 on odd ones: lower loss on average, but not by much for the spread."""

    def forward(self, x, genotype):
        y = x[:, 0, 0, 0].long()
        rows = torch.arange(len(x))
        logits = torch.zeros(len(x), 10)
        value = torch.where(rows % 2 == 0, 3.0, 0.0) if genotype == self.favourite else torch.ones(len(x))
        logits[rows, y] = value
        return logits


def test_transform_significance_keeps_a_change_only_when_it_beats_the_noise():
    beta = nb201.genotype_from_string(EXAMPLE)
    better = nb201.genotype_from_string(EXAMPLE.replace("avg_pool_3x3", "skip_connect"))
    t, batches = _stand_in(_BetterOnHalf(better))
    ce = lambda v: math.log(1 + 9 * math.exp(-v))  # noqa: E731  (cross-entropy, logit v on the right class)
    d = torch.tensor([ce(1) - (ce(3) if i % 2 == 0 else ce(0)) for i in range(20)], dtype=torch.float64)
    z = float(d.mean() / (d.std() / math.sqrt(20)))
    assert 0.3 < z < 1.0  # better on average, well within the noise
    kept = transform(beta, t, Selection(candidates=2, refine=True, significance=z - 0.01), batches=batches,
                     cost_fn=NB201CostModel())
    assert kept.genotype == better and not kept.input_won and kept.significance == pytest.approx(z)
    held = transform(beta, t, Selection(candidates=2, refine=True, significance=2.0), batches=batches,
                     cost_fn=NB201CostModel())
    assert held.genotype == beta and held.input_won and held.refinement == []
    assert any("standard error" in n for n in held.notes)
    with pytest.raises(NatError, match="--significance"):
        transform(beta, t, Selection(candidates=2, significance=-1), batches=batches, cost_fn=NB201CostModel())


@pytest.mark.parametrize("flag", [["--refine"], ["--significance", "2"], ["--proxy", "synflow"]])
def test_cli_scoring_flags_need_scoring_data(capsys, flag):
    from nat.cli import main
    assert main(["transform", EXAMPLE, *flag]) != 0
    assert "--select-on" in capsys.readouterr().err


# -- a training-free second opinion: --proxy synflow ----------------------------------------------------
class _LikesSkips(_PrefersInput):
    """A stand-in supernet with weight sharing's bias: the more skips, the surer (and the lower its loss)."""

    def forward(self, x, genotype):
        y = x[:, 0, 0, 0].long()
        logits = torch.zeros(len(x), 10)
        skips = sum(e.op == SKIP for e in genotype.normal.edges)
        logits[torch.arange(len(x)), y] = 1.0 + 0.2 * skips
        return logits


def _convs(g: Genotype) -> int:
    return sum(e.op.startswith("nor_conv") for e in g.normal.edges)


def test_transform_with_synflow_keeps_the_convolutions_a_biased_supernet_would_drop():
    beta = nb201.genotype_from_string(EXAMPLE)
    t, batches = _stand_in(_LikesSkips(beta))
    t.supernet_config = {"dataset": "cifar10", "channels": 4, "layers": 3, "resolution": 8}
    run = lambda **kw: transform(beta, t, Selection(candidates=6, refine=True, **kw), batches=batches,  # noqa: E731
                                 cost_fn=NB201CostModel())
    plain = run()
    assert _convs(plain.genotype) < _convs(beta)  # the biased supernet alone trades convolutions for skips
    assert run(proxy="synflow", proxy_weight=0.0).genotype == plain.genotype  # weight 0: the fit alone
    led = run(proxy="synflow", proxy_weight=100.0)
    assert _convs(led.genotype) == _convs(beta)
    assert any("synflow" in n for n in led.notes)
    with pytest.raises(NatError, match="--proxy must be one of"):
        run(proxy="grasp")
    t.supernet_config, t.config = {}, {}
    with pytest.raises(NatError, match="does not record"):
        run(proxy="synflow")
