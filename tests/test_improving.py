"""What makes NAT's transformations really improve cells: honest scoring batches, the fidelity
probe, the edge-conditioned policy, the leave-one-out learner, fair sampling, the low-resolution
supernet proxy, and Sampling that never returns a cell scored below its input."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nat.arch import nb201
from nat.arch.formats import genotype_from_dict
from nat.arch.genotype import Genotype
from nat.arch.rules import is_legal_transformation
from nat.arch.space import SPACES
from nat.nasbench import fixture
from nat.nasbench.fidelity import fidelity_report, kendall_tau, make_probe, move_kind, rank_correlation
from nat.cli import main
from nat.data.augment import random_crop
from nat.errors import NatError
from nat.nn.nb201 import NB201CostModel
from nat.policy import EdgeGCNPolicy, GCNPolicy
from nat.search.config import PRESETS, SearchConfig
from nat.search.reinforce import leave_one_out_advantages
from nat.search.rewards import accuracy, fit
from nat.search.supernet import SupernetConfig
from nat.search.supernet_nb201 import NB201Supernet
from nat.search.trainer import run_search, scoring_batches
from nat.search.selection import Selection
from nat.search.transform import Transformer, transform

REAL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar.gz"
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


# -- scoring batches ------------------------------------------------------------------------------
def test_scoring_batches_sample_every_class_of_a_class_sorted_set():
    # image folders are read class by class; the first N images would all be one class
    labels = np.repeat(np.arange(10), 100)
    images = np.zeros((1000, 4, 4, 3), dtype=np.uint8)
    batches = scoring_batches(images, labels, np.arange(1000), 200, (0.5,) * 3, (0.25,) * 3, batch=64)
    seen = torch.cat([y for _, y in batches])
    assert len(seen) == 200 and len(set(seen.tolist())) == 10
    again = scoring_batches(images, labels, np.arange(1000), 200, (0.5,) * 3, (0.25,) * 3, batch=64)
    assert torch.equal(seen, torch.cat([y for _, y in again]))  # a function of the seed
    assert [len(y) for _, y in batches] == [64, 64, 64, 8]


def test_crop_padding_with_the_mean_colour():
    images = torch.full((2, 4, 4, 3), 200, dtype=torch.uint8)
    out = random_crop(images, 2, torch.Generator().manual_seed(0), fill=(10, 20, 30))
    border = (out != 200).any(dim=-1)
    assert border.any()
    assert (out[border] == torch.tensor([10, 20, 30], dtype=torch.uint8)).all()


# -- the fidelity probe ---------------------------------------------------------------------------
def test_rank_correlations_by_hand():
    a, b = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    # Spearman without ties: 1 - 6 sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 4 / 120
    assert rank_correlation(a, b) == pytest.approx(0.8)
    # Kendall: 10 pairs, 2 discordant -> (8 - 2) / 10
    assert kendall_tau(a, b) == pytest.approx(0.6)
    assert rank_correlation(a, a[::-1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 1, 1], [1, 2, 3]) == 0.0


def test_probe_moves_are_one_edge_legal_and_connected():
    probe = make_probe(50, seed=3)
    connected = nb201.connected_codes()
    assert len(probe.cells) == len(probe.moves) == 50
    for c, m in zip(probe.cells, probe.moves):
        a, b = nb201.decode(c), nb201.decode(m)
        assert sum(x != y for x, y in zip(a, b)) == 1 and connected[m]
        assert is_legal_transformation(nb201.to_genotype(a), nb201.to_genotype(b))
    assert make_probe(50, seed=3) == probe


def test_probe_with_every_move_of_each_cell():
    connected = nb201.connected_codes()
    probe = make_probe(30, seed=1, moves_per_cell=0)
    assert len(probe.sampled) == 30 and set(probe.sampled) == set(probe.cells)
    for cell in probe.sampled:
        drawn = {m for c, m in zip(probe.cells, probe.moves) if c == cell}
        # every cell one digit away that is connected and a legal transformation, enumerated here
        digits = [(cell // 5 ** k) % 5 for k in range(6)]
        expected = set()
        for k in range(6):
            for d in range(5):
                if d != digits[k]:
                    other = cell + (d - digits[k]) * 5 ** k
                    if connected[other] and is_legal_transformation(nb201.to_genotype(nb201.decode(cell)),
                                                                    nb201.to_genotype(nb201.decode(other))):
                        expected.add(other)
        assert drawn == expected and expected
    # one move a cell is the probe as it always was; k moves a cell are at most k distinct ones
    assert make_probe(30, seed=1, moves_per_cell=1) == make_probe(30, seed=1)
    two = make_probe(30, seed=1, moves_per_cell=2)
    assert all(1 <= two.cells.count(c) <= 2 for c in two.sampled)
    assert len(set(zip(two.cells, two.moves))) == len(two.cells)
    with pytest.raises(NatError, match="--moves"):
        make_probe(30, moves_per_cell=-1)


def test_pair_agreement_by_kind_of_move():
    truth = np.array([fixture.accuracy(nb201.decode(c)) for c in range(nb201.N_CELLS)])
    probe = make_probe(60, seed=2, moves_per_cell=0)
    # a scorer that is the truth except that it sees no cost in any convolution -> skip move:
    # each cell's score gains 100 points per skip, so it gets every such pair "wrong" one way
    skips = {c: nb201.decode(c).count("skip_connect") for c in probe.codes}
    biased = {c: (truth[c] + 100 * skips[c], -(truth[c] + 100 * skips[c])) for c in probe.codes}
    r = fidelity_report(biased, probe, truth)
    kinds = r["pairs_by_kind_acc"]
    assert sum(v["pairs"] for v in kinds.values()) == r["pairs"]
    def share_where_truth(kind, better):  # the biased scorer always calls gaining a skip better, losing one worse
        return np.mean([(truth[m] > truth[c]) == better for c, m in zip(probe.cells, probe.moves)
                        if move_kind(c, m) == kind and abs(truth[m] - truth[c]) >= 0.5])
    assert kinds["nor_conv_3x3->skip_connect"]["agreement"] == pytest.approx(share_where_truth("nor_conv_3x3->skip_connect", True))
    assert kinds["skip_connect->none"]["agreement"] == pytest.approx(share_where_truth("skip_connect->none", False))
    assert kinds["nor_conv_3x3->none"]["agreement"] == 1.0  # moves that touch no skip are judged as the truth
    assert r["pairs_by_kind_loss"] == kinds
    assert move_kind(nb201.encode(["nor_conv_3x3"] * 6), nb201.encode(["nor_conv_3x3"] * 5 + ["none"])) == \
        "nor_conv_3x3->none"
    with pytest.raises(NatError, match="differ on 2 edges"):
        move_kind(nb201.encode(["nor_conv_3x3"] * 6), nb201.encode(["nor_conv_3x3"] * 4 + ["none"] * 2))


def test_fidelity_of_a_perfect_and_of_an_inverted_scorer():
    truth = np.array([fixture.accuracy(nb201.decode(c)) for c in range(nb201.N_CELLS)])
    probe = make_probe(80, seed=0)
    perfect = {c: (truth[c], -truth[c]) for c in probe.codes}  # acc, loss (lower is better)
    r = fidelity_report(perfect, probe, truth, min_diff=0.5)
    assert r["spearman_acc"] == pytest.approx(1) and r["spearman_loss"] == pytest.approx(1)
    assert r["pair_agreement_acc"] == 1.0 and r["pairs"] > 0
    inverted = {c: (-truth[c], truth[c]) for c in probe.codes}
    r = fidelity_report(inverted, probe, truth)
    assert r["spearman_acc"] == pytest.approx(-1) and r["pair_agreement_loss"] == 0.0


@pytest.mark.skipif(not REAL_ARCHIVE.exists(), reason="the real CIFAR-10 archive is not beside the project")
def test_bench_fidelity_command(capsys, tmp_path):
    from nat.data import load_dataset
    data = load_dataset(REAL_ARCHIVE, progress=False)
    cfg = SearchConfig(space="nb201", channels=4, layers=3, resolution=16, batch_size=16, epochs=2, warmup_epochs=1,
                       subset=400, w_steps=2, theta_steps=1, policy="egcn", device="cpu")
    run_search(cfg, data, tmp_path / "run")
    table = fixture.write_fixture_table(tmp_path / "t.csv")
    capsys.readouterr()
    code = main(["bench", "--table", str(table), "--metric", "test_acc", "--transformer", str(tmp_path / "run"),
                 "--fidelity", str(REAL_ARCHIVE), "--cells", "12", "--images", "32", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["cells"] == 12 and out["images"] == 32
    assert -1 <= out["spearman_acc"] <= 1 and -1 <= out["kendall_loss"] <= 1
    code = main(["bench", "--table", str(table), "--metric", "test_acc", "--transformer", str(tmp_path / "run"),
                 "--fidelity", str(REAL_ARCHIVE), "--cells", "12", "--images", "32"])
    assert code == 0 and "pair sign agreement" in capsys.readouterr().out
    # the recommended selection, through nat transform's own function, graded by the table
    bench = ["bench", "--table", str(table), "--metric", "test_acc", "--transformer", str(tmp_path / "run"),
             "--archs", "4", "--select-on", str(REAL_ARCHIVE), "--subset", "64", "--refine", "--json", "--rows"]
    code = main([*bench, "--significance", "0"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and "refined" in out["selection"] and "by 0 SE" in out["selection"]
    for row in out["rows"]:
        beta, alpha = nb201.genotype_from_string(row["arch"]), nb201.genotype_from_string(row["transformed_arch"])
        assert is_legal_transformation(beta, alpha)
    code = main([*bench, "--significance", "1e9"])  # no change is that sure: every input comes back
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["changed"] == 0 and out["mean_gain"] == 0
    code = main(["bench", "--table", str(table), "--metric", "test_acc", "--transformer", str(tmp_path / "run"),
                 "--refine"])
    err = capsys.readouterr().err
    assert code == 2 and "give --select-on DATA" in err and err.count("\n") == 1


# -- the supernet proxy and the samplers ----------------------------------------------------------
def test_low_resolution_supernet_equals_feeding_pooled_images():
    torch.manual_seed(0)
    cfg = SupernetConfig(SPACES["nb201"].ops, channels=4, layers=3, input_size=16)
    net = NB201Supernet(cfg)
    full = NB201Supernet(SupernetConfig(SPACES["nb201"].ops, channels=4, layers=3))
    full.load_state_dict(net.state_dict())
    x = torch.randn(4, 3, 32, 32)
    g = nb201.genotype_from_string(EXAMPLE)
    assert torch.allclose(net(x, g), full(torch.nn.functional.avg_pool2d(x, 2), g), atol=1e-5)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_fair_blocks_give_every_op_of_every_slot_equal_turns(space):
    sp = SPACES[space]
    ops = sp.sample_ops or tuple(o for o in sp.ops if o != "null")
    rng = random.Random(0)
    fair_blocks = 0
    for _ in range(20):
        block = sp.sample_fair_block(rng)
        assert len(block) == len(ops) and all(sp.contains(g) for g in block)
        slots = [[e.op for e in g.normal.edges] for g in block]
        if all(sorted(col) == sorted(ops) for col in zip(*slots)):
            fair_blocks += 1
    assert fair_blocks >= 10  # only blocks where a permutation disconnected a cell are not exact


def test_cells_computing_the_same_function_share_a_structure():
    conv, skip, none, pool = "nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3"
    s = lambda ops: nb201.structure(nb201.encode(ops))  # noqa: E731 -- edges 0>1, 0>2, 1>2, 0>3, 1>3, 2>3
    # dead edges do not count: node 2 feeds nothing, so whatever reaches it is irrelevant
    assert s([conv, pool, conv, conv, none, none]) == s([none, none, none, conv, none, none])
    # a skip chain is the same as the direct edge; a sum does not depend on its order
    assert s([skip, none, none, none, conv, none]) == s([none, none, none, conv, none, none])
    assert s([conv, pool, none, none, skip, skip]) == s([pool, conv, none, none, skip, skip])
    # but a sum of two equal terms is not one term, and ops on a path do not commute
    assert s([skip, none, none, conv, conv, none]) != s([none, none, none, conv, none, none])
    assert s([conv, none, none, none, pool, none]) != s([pool, none, none, none, conv, none])
    classes = nb201.structure_classes()
    codes = np.concatenate(classes)
    assert len(codes) == len(set(codes.tolist())) == int(nb201.connected_codes().sum())
    assert len(classes) == 4929


def test_deiso_sampling_draws_every_function_equally_often():
    classes = nb201.structure_classes()
    of = np.empty(nb201.N_CELLS, dtype=int)
    for i, group in enumerate(classes):
        of[group] = i
    big = {i for i, g in enumerate(classes) if len(g) >= 100}  # functions written by >= 100 codes
    rng = random.Random(0)
    draws = [nb201.sample_structure(rng) for _ in range(20000)]
    assert all(nb201.connected_codes()[c] for c in draws)
    share_big = np.mean([of[c] in big for c in draws])
    expected = len(big) / len(classes)  # uniform over functions; uniform over codes gives ~8x more
    codes_share = sum(len(classes[i]) for i in big) / len(of[nb201.connected_codes()])
    assert abs(share_big - expected) < 0.0015 and codes_share > 50 * expected
    with pytest.raises(ValueError, match="needs space nb201"):
        SearchConfig(sampler="deiso")
    assert SearchConfig(space="nb201", sampler="deiso").sampler == "deiso"


def test_a_deiso_search_trains_on_cells_drawn_by_function(tmp_path, monkeypatch, noise_data):
    data = noise_data(100, 20)
    drawn: list[int] = []
    original = nb201.sample_structure
    monkeypatch.setattr(nb201, "sample_structure", lambda r: drawn.append(original(r)) or drawn[-1])
    cfg = SearchConfig(space="nb201", channels=4, layers=3, resolution=16, batch_size=8, epochs=2, warmup_epochs=1,
                       w_steps=3, theta_steps=1, sampler="deiso", device="cpu")
    run_search(cfg, data, tmp_path / "a")
    first, drawn[:] = list(drawn), []
    run_search(cfg, data, tmp_path / "b")
    assert len(first) == 2 * 3 and drawn == first  # every w step, from the run's own seeded generator
    assert all(nb201.connected_codes()[c] for c in first)


def test_a_supernet_stopped_partway_down_its_cosine(tmp_path, noise_data):
    """w_lr_epochs=4 with epochs=2: the two epochs run at the rates of the first half of a 4-epoch
    cosine (by hand: lr_min + (lr - lr_min) / 2 * (1 + cos(pi * e / 4))), not decaying to lr_min."""
    import json
    import math

    cfg = SearchConfig(space="nb201", channels=4, layers=3, resolution=16, batch_size=8, epochs=2, warmup_epochs=1,
                       w_steps=2, theta_steps=1, w_lr=0.05, w_lr_min=0.001, w_lr_epochs=4, device="cpu")
    run_search(cfg, noise_data(100, 20), tmp_path / "mid")
    rates = [json.loads(line)["lr"] for line in (tmp_path / "mid" / "metrics.jsonl").read_text().splitlines()]
    assert rates == pytest.approx([0.05, 0.001 + 0.049 / 2 * (1 + math.cos(math.pi / 4))])
    with pytest.raises(ValueError, match="at least epochs"):
        SearchConfig(epochs=10, w_lr_epochs=5)
    from nat.search.config import PRESETS
    mid, full = PRESETS["nb201-cpu-deiso-mid"], PRESETS["nb201-cpu-deiso"]
    assert (mid["epochs"], mid["w_lr_epochs"]) == (50, full["epochs"]) and SearchConfig(**mid).sampler == "deiso"


def test_config_refuses_a_loo_baseline_with_one_sample():
    with pytest.raises(ValueError, match="n >= 2"):
        SearchConfig(baseline="loo", n=1)
    with pytest.raises(ValueError, match="needs baseline 'loo'"):
        SearchConfig(advantage_scale="std")
    with pytest.raises(ValueError, match="advantage_scale"):
        SearchConfig(baseline="loo", n=2, advantage_scale="rank")
    with pytest.raises(ValueError, match="sampler"):
        SearchConfig(sampler="greedy")


def test_leave_one_out_advantages_by_hand():
    # rewards 1, 2, 6: each minus the mean of the other two
    assert leave_one_out_advantages([1.0, 2.0, 6.0]) == pytest.approx([1 - 4, 2 - 3.5, 6 - 1.5])
    with pytest.raises(ValueError, match="two draws"):
        leave_one_out_advantages([1.0])


def test_scaled_advantages_ignore_the_units_of_the_reward():
    rng = np.random.default_rng(0)
    for _ in range(50):
        rewards = list(rng.normal(0, 0.05, size=int(rng.integers(2, 12))))
        a, b = float(rng.uniform(0.5, 20)), float(rng.normal())
        scaled = leave_one_out_advantages(rewards, scale=True)
        assert sum(scaled) == pytest.approx(0, abs=1e-9)
        # affine changes of the reward (points instead of fractions, an offset) leave them alone,
        # up to the floor on the spread
        other = leave_one_out_advantages([a * r + b for r in rewards], scale=True)
        assert other == pytest.approx(scaled, rel=0.05, abs=1e-6)
    # draws that all score alike stay a weak signal, not an arbitrary strong one
    assert max(map(abs, leave_one_out_advantages([0.5, 0.5 + 1e-7, 0.5], scale=True))) < 1e-2


# -- the edge-conditioned policy ------------------------------------------------------------------
def _cell(ops):
    return nb201.to_genotype(ops)


def test_egcn_sees_which_op_travels_along_which_edge():
    # node 3 of both cells gets one conv and one skip; they differ in which edge holds which.
    # The paper's GCN sees only the mean of a node's incoming ops there; the edge-conditioned one
    # must tell them apart on an edge whose own op is the same in both.
    a = _cell(("nor_conv_3x3", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"))
    b = _cell(("nor_conv_3x3", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"))
    torch.manual_seed(0)
    policy = EdgeGCNPolicy(cell_types=SPACES["nb201"].cell_types)
    za, zb = policy.logits(a)["normal"], policy.logits(b)["normal"]
    assert not torch.allclose(za[3], zb[3])  # edge 3 holds avg_pool in both


def test_egcn_samples_are_legal_and_its_gradient_flows():
    torch.manual_seed(0)
    policy = EdgeGCNPolicy()
    beta = SPACES["darts"].sample(random.Random(1))
    draws = policy.sample_many(beta, 5, torch.Generator().manual_seed(0))
    assert len(draws) == 5
    for d in draws:
        assert d.alpha is None or is_legal_transformation(beta, d.alpha)
    sum(d.log_prob for d in draws).backward()
    assert all(p.grad is not None for p in policy.head.parameters())


def test_learner_preset_learns_the_fixture(tmp_path):
    table = fixture.write_fixture_table(tmp_path / "t.csv")
    cfg = SearchConfig(**{**PRESETS["nb201-learner"], "reward": f"table:{table}", "reward_metric": "valid_acc",
                          "epochs": 3, "theta_steps": 40, "m": 8, "device": "cpu"})  # m: seconds, not minutes
    run_search(cfg, None, tmp_path / "run")
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["reward"] > history[0]["reward"]  # the policy's transformations got better


# -- Sampling never returns a cell scored below its input -----------------------------------------
class _PrefersInput(nn.Module):
    """A stand-in supernet: perfect on its favourite genotype, at chance on any other."""

    def __init__(self, favourite: Genotype) -> None:
        super().__init__()
        self.favourite = favourite

    def check(self, genotype):
        return None

    def forward(self, x, genotype):
        y = x[:, 0, 0, 0].long()
        logits = torch.zeros(len(x), 10)
        if genotype == self.favourite:
            logits[torch.arange(len(x)), y] = 1.0
        return logits


def _stand_in(supernet: nn.Module) -> tuple[Transformer, list]:
    """A GCN transformer over ``supernet``, and 20 images whose pixel (0, 0, 0) holds their label.
    The policy's initialisation is seeded: its draws must not depend on which tests ran before."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        policy = GCNPolicy(cell_types=SPACES["nb201"].cell_types)
    x = torch.zeros(20, 3, 2, 2)
    x[:, 0, 0, 0] = torch.arange(20) % 10
    return Transformer(policy, "nb201", "test", supernet), [(x, torch.arange(20) % 10)]


def test_sampling_returns_the_input_when_it_scores_best():
    beta = nb201.genotype_from_string(EXAMPLE)
    t, batches = _stand_in(_PrefersInput(beta))
    result = transform(beta, t, Selection(candidates=8), batches=batches, cost_fn=NB201CostModel())
    assert result.genotype == beta and result.input_won
    assert any("input won" in n for n in result.notes)


def test_refined_sampling_says_the_input_won_when_it_tops_the_candidates():
    # with --refine the input itself joins the candidates; when it scores best the output must
    # still say so (it once fell silent because the winner was the input's own entry)
    beta = nb201.genotype_from_string(EXAMPLE)
    t, batches = _stand_in(_PrefersInput(beta))
    result = transform(beta, t, Selection(candidates=8, refine=True), batches=batches, cost_fn=NB201CostModel())
    assert result.genotype == beta and result.input_won and result.refinement == []
    assert any("input won" in n for n in result.notes)


class _SureButWrong(_PrefersInput):
    """A stand-in supernet: the input gets every image right but timidly (accuracy 1, loss
    log(1 + 9/e) ~ 1.46); every other cell is very sure of half the images and mildly wrong on
    the rest (accuracy 0.5, loss ~ 1.18): accuracy prefers the input, the fit the others."""

    def forward(self, x, genotype):
        y = x[:, 0, 0, 0].long()
        logits = torch.zeros(len(x), 10)
        rows = torch.arange(len(x))
        if genotype == self.favourite:
            logits[rows, y] = 1.0
        else:
            sure = rows % 2 == 0
            logits[rows[sure], y[sure]] = 10.0
            logits[rows[~sure], (y[~sure] + 1) % 10] = 0.5
        return logits


def test_fit_is_exp_of_minus_the_mean_cross_entropy_by_hand():
    beta = nb201.genotype_from_string(EXAMPLE)
    x = torch.zeros(20, 3, 2, 2)
    x[:, 0, 0, 0] = torch.arange(20) % 10
    batches = [(x[:8], torch.arange(8) % 10), (x[8:], torch.arange(8, 20) % 10)]
    sn = _SureButWrong(beta)
    assert fit(sn, beta, batches) == pytest.approx(1 / (1 + 9 / math.e))  # every image: e / (e + 9)
    other = nb201.genotype_from_string(EXAMPLE.replace("avg_pool_3x3", "skip_connect"))
    sure, wrong = -math.log(math.exp(10) / (math.exp(10) + 9)), -math.log(1 / (math.exp(0.5) + 9))
    assert fit(sn, other, batches) == pytest.approx(math.exp(-(sure + wrong) / 2))
    assert accuracy(sn, beta, batches) == 1.0 and accuracy(sn, other, batches) == 0.5


def test_selection_ranks_by_the_score_it_is_asked_for():
    beta = nb201.genotype_from_string(EXAMPLE)
    t, batches = _stand_in(_SureButWrong(beta))
    by_acc = transform(beta, t, Selection(candidates=8, score="accuracy"), batches=batches, cost_fn=NB201CostModel())
    by_fit = transform(beta, t, Selection(candidates=8, score="fit"), batches=batches, cost_fn=NB201CostModel())
    assert by_acc.input_won and by_acc.genotype == beta
    assert not by_fit.input_won and by_fit.genotype != beta
    with pytest.raises(NatError, match="--score"):
        transform(beta, t, Selection(candidates=8, score="loss"), batches=batches, cost_fn=NB201CostModel())


def test_shipped_nb201_transformer_is_chosen_for_a_benchmark_cell(capsys):
    code = main(["transform", EXAMPLE, "--greedy", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["transformer"].endswith("transformer-nb201.pt")
    beta, alpha = genotype_from_dict(result["input"]), genotype_from_dict(result["genotype"])
    assert beta == nb201.genotype_from_string(EXAMPLE) and is_legal_transformation(beta, alpha)
    assert result["cost_after"]["params"] <= result["cost_before"]["params"]
