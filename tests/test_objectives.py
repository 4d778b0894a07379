"""What the selection returns: the accurate and compact objectives, --no-null, the verdict, and a
transformer file's recommended selection. Stand-in supernets make the right answer known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import nat
from nat.arch import nb201
from nat.arch.genotype import Genotype
from nat.arch.rules import is_legal_transformation
from nat.errors import NatError
from nat.nn.nb201 import NB201CostModel
from nat.ops import NULL
from nat.search.refine import one_edge_moves
from nat.search.rewards import paired_z
from nat.search.selection import Selection
from nat.search.transform import Judge, recommend, recommended_selection, transform

from test_improving import _stand_in  # noqa: E402  (one set of stand-ins for the selection tests)

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
COST = NB201CostModel()


class _Tabled(nn.Module):
    """A stand-in supernet whose loss on every image is ``value(genotype)`` (plus an image-by-image
    wobble of fixed size, the same for every cell, so paired differences are exact)."""

    def __init__(self, value) -> None:
        super().__init__()
        self.value = value

    def check(self, genotype):
        return None

    def forward(self, x, genotype):
        y = x[:, 0, 0, 0].long()
        # cross-entropy of logits (v on the label, 0 elsewhere) is log(1 + 9 e^-v): pick v for the loss
        target = torch.full((len(x),), float(self.value(genotype))) + 0.01 * (torch.arange(len(x)) % 3)
        v = -torch.log((torch.exp(target) - 1) / 9)
        logits = torch.zeros(len(x), 10)
        logits[torch.arange(len(x)), y] = v
        return logits


def _live_convs(g: Genotype) -> int:
    """Convolutions that can reach the cell's output: all a supernet runs (it skips dead ends)."""
    dead = set(g.normal.dead_ends())
    return sum(e.op.startswith("nor_conv") for i, e in enumerate(g.normal.edges) if i not in dead)


def _params(g: Genotype) -> int:
    return COST(g).params


def test_selection_refuses_nonsense_in_one_line():
    for bad, match in [({"candidates": 0}, "--candidates"), ({"subset": -5}, "--subset"),
                       ({"objective": "fast"}, "--objective"), ({"tolerance": -1}, "--tolerance"),
                       ({"significance": float("nan")}, "--significance"), ({"margin": float("inf")}, "--margin"),
                       ({"score": "loss"}, "--score"), ({"proxy": "grasp"}, "--proxy"),
                       ({"candidates": True}, "--candidates")]:
        with pytest.raises(NatError, match=match):
            Selection(**bad)
    with pytest.raises(NatError, match="unknown selection option"):
        Selection().with_options(temperature=2)
    s = Selection(objective="compact", significance=2.0, tolerance=1.5, no_null=True, subset=512)
    assert Selection.from_dict(s.as_dict()) == s
    assert s.with_options(refine=None, significance=3.0) == Selection(**{**s.as_dict(), "significance": 3.0})


def test_compact_takes_the_cheapest_cell_judged_no_worse():
    # every cell equally good: compact descends to the cheapest legal transformation it can reach
    beta = nb201.genotype_from_string(EXAMPLE)
    t, batches = _stand_in(_Tabled(lambda g: 1.0))
    result = transform(beta, t, Selection(objective="compact", candidates=4), batches=batches, cost_fn=COST)
    assert is_legal_transformation(beta, result.genotype)
    assert _params(result.genotype) < _params(beta)
    assert all(_params(g) >= _params(result.genotype) for g, _ in one_edge_moves(beta, result.genotype))
    assert result.verdict.startswith("expected to be no worse") and "fewer parameters" in result.verdict
    assert result.expected["params_change"] < 0 and not result.input_won


def test_compact_keeps_the_input_when_every_saving_costs_accuracy():
    beta = nb201.genotype_from_string(EXAMPLE)
    convs = _live_convs
    t, batches = _stand_in(_Tabled(lambda g: 1.0 + 0.2 * (convs(beta) - convs(g))))
    result = transform(beta, t, Selection(objective="compact", significance=2.0), batches=batches, cost_fn=COST)
    assert result.genotype == beta and result.input_won
    assert result.verdict == "keep your input: no transformation is confidently cheaper at no loss"


def test_compact_tolerance_is_a_share_of_the_inputs_loss():
    # each conv removed raises the loss by 1%; a 2.5% tolerance admits two removals, not three
    beta = nb201.genotype_from_string(EXAMPLE)
    convs = _live_convs
    t, batches = _stand_in(_Tabled(lambda g: 1.0 * 1.01 ** (convs(beta) - convs(g))))
    result = transform(beta, t, Selection(objective="compact", tolerance=2.5, significance=1.0), batches=batches,
                       cost_fn=COST)
    assert convs(beta) - convs(result.genotype) == 2
    assert result.expected["z_no_worse"] >= 1.0 and result.expected["loss_change"] == pytest.approx(0.0201, abs=2e-3)


def test_the_non_inferiority_statistic_by_hand():
    ref = torch.tensor([1.0, 2.0, 1.5, 1.2], dtype=torch.float64)
    other = ref * 1.01 + torch.tensor([0.0, 0.01, -0.01, 0.0], dtype=torch.float64)
    judge = Judge(nn.Identity(), [], lambda g: 0.0)  # one supernet: only the images' noise is counted
    judge._losses = {"a": ref[None], "b": other[None]}
    d = ref * 1.02 - other
    expected = float(d.mean() / (d.std() / math.sqrt(4)))
    assert judge.z_no_worse("a", "b", 2.0) == pytest.approx(expected)
    assert judge.z_better("a", "b") == pytest.approx(paired_z(ref, other))
    assert judge.loss_change("a", "b") == pytest.approx(100 * (float(other.mean()) / float(ref.mean()) - 1))
    assert not judge.model_noise_counted and judge.model_var == 0.0


def test_an_ensembles_z_counts_its_members_disagreement():
    # two members that disagree on the move by +-0.1 in loss; images add a known spread
    from nat.search.ensemble import SupernetEnsemble
    beta = nb201.genotype_from_string(EXAMPLE)
    judge = Judge(SupernetEnsemble([nn.Identity(), nn.Identity()]), [], lambda g: 0.0, beta=beta)
    images = torch.tensor([0.0, 0.2, -0.2, 0.1, -0.1], dtype=torch.float64)
    moves = [g for g, _ in one_edge_moves(beta, beta)]
    judge._losses = {beta: torch.stack([1.0 + images, 1.0 + images])}
    for k, g in enumerate(moves):  # member A sees the move 0.1 better, member B 0.1 worse (+ a shared shift)
        shift = 0.01 * k
        judge._losses[g] = torch.stack([0.9 + images + shift, 1.1 + images + shift])
    # per move the members' differences are 0.1 - shift and -0.1 - shift: variance 0.02 about their mean
    assert judge.model_var == pytest.approx(0.02)
    g = moves[0]
    d = judge.losses(beta) - judge.losses(g)  # mean 0: the members cancel
    assert judge.z_better(beta, g) == pytest.approx(0.0)
    judge._losses[g] = torch.stack([0.8 + images, 0.9 + images])  # both say better: by 0.15 on average
    expected = 0.15 / math.sqrt(0.0 / 5 + 0.02 / 2)
    assert judge.z_better(beta, g) == pytest.approx(expected)
    assert d.numel() == 5


def _null_seeking(objective: str):
    """A judge that scores every null edge better, and what it returns left free: the case the
    selection's restrictions (no null, at most N changes) are tested against."""
    beta = nb201.genotype_from_string(EXAMPLE)
    t, batches = _stand_in(_Tabled(lambda g: 1.0 - 0.05 * sum(e.op == NULL for e in g.normal.edges)))
    free = transform(beta, t, Selection(objective=objective, refine=True, candidates=8), batches=batches,
                     cost_fn=COST)
    return beta, t, batches, free


@pytest.mark.parametrize("objective", ["accurate", "compact"])
def test_no_null_makes_no_edge_null(objective):
    beta, t, batches, free = _null_seeking(objective)
    assert any(e.op == NULL for e in free.genotype.normal.edges)  # left free, this judge wants nulls
    kept = transform(beta, t, Selection(objective=objective, refine=True, candidates=8, no_null=True),
                     batches=batches, cost_fn=COST)
    for eb, ea in zip(beta.normal.edges, kept.genotype.normal.edges):
        assert ea.op != NULL or eb.op == NULL
    assert is_legal_transformation(beta, kept.genotype)


def test_the_policy_never_proposes_null_under_no_null():
    beta = nb201.genotype_from_string(EXAMPLE)
    t, _ = _stand_in(_Tabled(lambda g: 1.0))
    gen = torch.Generator().manual_seed(0)
    for d in t.policy.sample_many(beta, 64, gen, no_null=True) + [t.policy.argmax(beta, no_null=True)]:
        assert d.alpha is None or all(e.op != NULL for e in d.alpha.normal.edges)


def test_accurate_verdict_states_the_evidence():
    beta = nb201.genotype_from_string(EXAMPLE)
    better = nb201.genotype_from_string(EXAMPLE.replace("avg_pool_3x3", "skip_connect"))
    t, batches = _stand_in(_Tabled(lambda g: 0.5 if g == better else 1.0))
    result = transform(beta, t, Selection(refine=True, significance=2.0), batches=batches, cost_fn=COST)
    assert result.genotype == better
    assert result.verdict.startswith("expected to be better (held-out loss -49.5%, z = ")
    kept = transform(beta, t, Selection(refine=True, significance=1e9), batches=batches, cost_fn=COST)
    assert kept.verdict == "keep your input: no transformation is confidently better"


def test_judged_options_need_data():
    beta = nb201.genotype_from_string(EXAMPLE)
    t, _ = _stand_in(_Tabled(lambda g: 1.0))
    for sel in (Selection(objective="compact"), Selection(refine=True), Selection(significance=2.0)):
        with pytest.raises(NatError, match="give --select-on DATA"):
            transform(beta, t, sel, cost_fn=COST)


def test_a_file_carries_its_recommended_selection(tmp_path):
    from nat.search.transform import load_transformer
    import shutil
    from importlib import resources
    src = resources.files("nat").joinpath("pretrained", "transformer-nb201.pt")
    path = tmp_path / "t.pt"
    shutil.copyfile(str(src), path)
    recommend(path, {"accurate": Selection(subset=64, refine=True, significance=1e9),
                     "compact": Selection(subset=64, tolerance=1.0, significance=2.0)},
              measured={"accurate": "never changes anything (a test)"})
    t = load_transformer(path, nb201.genotype_from_string(EXAMPLE))
    assert recommended_selection(t).significance == 1e9 and recommended_selection(t).objective == "accurate"
    assert recommended_selection(t, "compact") == Selection(subset=64, tolerance=1.0, significance=2.0,
                                                            objective="compact")
    assert recommended_selection(t, judged=False) == Selection()
    assert t.recommended["accurate"]["measured"] == "never changes anything (a test)"
    # --select-on alone applies it; an option given overrides it
    x = torch.zeros(16, 3, 16, 16)
    batches = [(x, torch.arange(16) % 10)]
    result = nat.transform(EXAMPLE, t, select_on=batches)
    assert result.genotype == nb201.genotype_from_string(EXAMPLE) and result.selection["significance"] == 1e9
    loose = nat.transform(EXAMPLE, t, select_on=batches, significance=0.0)
    assert loose.selection["significance"] == 0.0 and loose.selection["refine"] is True


def test_cli_transform_prints_the_verdict(capsys):
    from nat.cli import main
    assert main(["transform", EXAMPLE, "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "verdict: " in out and "give --select-on DATA" in out
    assert main(["transform", EXAMPLE, "--objective", "compact"]) == 2
    assert "give --select-on DATA" in capsys.readouterr().err


def test_compact_results_over_random_cells_are_legal_and_no_costlier():
    rng = np.random.default_rng(0)
    connected = np.flatnonzero(nb201.connected_codes())
    for code in rng.choice(connected, 6, replace=False):
        beta = nb201.to_genotype(nb201.decode(int(code)))
        noise = {}
        t, batches = _stand_in(_Tabled(lambda g: noise.setdefault(g, float(rng.uniform(0.9, 1.1)))))
        result = transform(beta, t, Selection(objective="compact", tolerance=5.0, candidates=4), batches=batches,
                           cost_fn=COST)
        assert is_legal_transformation(beta, result.genotype)
        assert _params(result.genotype) <= _params(beta)
        assert result.genotype == beta or _params(result.genotype) < _params(beta)


@pytest.mark.parametrize("objective", ["accurate", "compact"])
def test_max_changes_caps_how_many_edges_the_result_changes(objective):
    beta, t, batches, free = _null_seeking(objective)
    assert len(free.changed) > 1  # left free, this judge wants many nulls
    for cap in (1, 2):
        capped = transform(beta, t, Selection(objective=objective, refine=True, candidates=8, max_changes=cap),
                           batches=batches, cost_fn=COST)
        assert 1 <= len(capped.changed) <= cap and is_legal_transformation(beta, capped.genotype)


def test_max_changes_must_be_a_positive_count():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(NatError, match="--max-changes must be a whole number"):
            Selection(max_changes=bad)


def test_compact_removes_dead_ends_without_the_judge():
    # Every other cell is judged clearly worse; the input's own dead ends (edges into node 2, which
    # feeds nothing) compute the same function, so compact removes them although no test could pass
    # them at tolerance 0 (their losses equal the input's image by image), and says so.
    beta = nb201.genotype_from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    same = beta.without_dead_ends()
    t, batches = _stand_in(_Tabled(lambda g: 1.0 if g.without_dead_ends() == same else 2.0))
    result = transform(beta, t, Selection(objective="compact", significance=3.0, candidates=4), batches=batches,
                       cost_fn=COST)
    assert result.genotype == same and _params(same) < _params(beta)
    assert result.verdict.startswith("the same function as your input, ") and "fewer parameters" in result.verdict
    assert result.expected["same_function"] and any("reaches no output node" in n for n in result.notes)
    # the accurate objective does not trade: it returns the input
    kept = transform(beta, t, Selection(significance=3.0, candidates=4), batches=batches, cost_fn=COST)
    assert kept.genotype == beta and any("--objective compact removes them" in n for n in kept.notes)



def test_dead_ends_cost_nothing_where_the_network_never_builds_them():
    # A DARTS-style cell computes only edges that reach its output, so there a dead end is free and
    # compact leaves it (it changes only what saves cost); every DARTS node is concatenated anyway.
    from nat.arch.genotype import Genotype as G
    from nat.costs import genotype_cost
    from nat.nn.network import NetworkConfig

    _, darts = nat.resolve("DARTS")
    assert darts.without_dead_ends() == darts
    # ENAS-style: node 3's only way on (3 -> 4) is null, so the edges into node 3 are dead ends
    normal = [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2), ("sep_conv_5x5", 0, 3), ("avg_pool_3x3", 1, 3),
              ("null", 3, 4), ("sep_conv_3x3", 2, 4)]
    loose = G.from_edges(normal, normal, normal_concat=[4], reduce_concat=[4])
    lean = loose.without_dead_ends()
    assert lean != loose and sorted(lean.normal.dead_ends()) == []
    size = NetworkConfig(channels=8, layers=5)
    assert genotype_cost(lean, size) == genotype_cost(loose, size)


def test_compact_merges_duplicate_branches_and_says_what_it_keeps():
    # Every other cell is judged clearly worse. The input holds a duplicate (node 1 is a skip of the
    # input, so 0 -> 2 and 1 -> 2 are the same 3x3 on one tensor): compact merges it without the
    # judge and says the function class stays; the accurate objective only says it could.
    beta = nb201.genotype_from_string("|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    t, batches = _stand_in(_Tabled(lambda g: 1.0 if g == beta else 2.0))
    result = transform(beta, t, Selection(objective="compact", significance=3.0, candidates=4), batches=batches,
                       cost_fn=COST)
    want = nb201.genotype_from_string("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert result.genotype == want and is_legal_transformation(beta, want)
    assert result.verdict.startswith("the same function class as your input, ")
    assert result.expected["unjudged"] == ["duplicate_branches"] and "same_function" not in result.expected
    assert any("removed 1 duplicate branch(es)" in n for n in result.notes)
    kept = transform(beta, t, Selection(significance=3.0, candidates=4), batches=batches, cost_fn=COST)
    assert kept.genotype == beta and any("--objective compact removes them" in n for n in kept.notes)
    # --no-null: no edge that carries an op becomes null, so nothing is merged
    strict = transform(beta, t, Selection(objective="compact", significance=3.0, candidates=4, no_null=True),
                       batches=batches, cost_fn=COST)
    assert strict.genotype == beta and strict.verdict.startswith("keep your input")
    assert any("which --no-null forbids (--allow-null" in n for n in strict.notes)


def test_compact_removes_input_free_edges_and_says_what_goes_with_them():
    # 0 -> 1 is none, so node 1 has no input and the convolutions out of it carry no signal from the
    # input: what goes is the input-independent term they add, which the verdict says
    beta = nb201.genotype_from_string("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    t, batches = _stand_in(_Tabled(lambda g: 1.0 if g == beta else 2.0))
    result = transform(beta, t, Selection(objective="compact", significance=3.0, candidates=4), batches=batches,
                       cost_fn=COST)
    assert result.genotype == beta.without_idle_edges() != beta and _params(result.genotype) < _params(beta)
    assert result.verdict.startswith("what your input computes from its input, ")
    assert result.expected["unjudged"] == ["idle_edges"] and "same_function" not in result.expected


def test_merges_an_input_free_edge_hid_and_counts_each_kind():
    # node 2 = skip(x) + a shift out of the input-free node 1: once that edge goes, node 2 is x, and
    # 2 -> 3 duplicates 0 -> 3; the skip into node 2 is then left idle. The verdict says the class
    # stays less what the input-free edge added; the notes count each kind.
    beta = nb201.genotype_from_string("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    t, batches = _stand_in(_Tabled(lambda g: 1.0 if g == beta else 2.0))
    result = transform(beta, t, Selection(objective="compact", significance=3.0, candidates=4), batches=batches,
                       cost_fn=COST)
    assert nb201.genotype_to_string(result.genotype) == "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    assert result.expected["unjudged"] == ["idle_edges", "duplicate_branches"]
    assert result.verdict.startswith("the same function class as your input, less what its input-free edges add")
    assert any(n.startswith("removed 2 idle edge(s)") for n in result.notes)
    assert any(n.startswith("removed 1 duplicate branch(es)") and "1 edge(s) that left idle" in n for n in result.notes)
    # one change at most: the savings would change more edges, and a note says they were kept
    capped = transform(beta, t, Selection(objective="compact", significance=3.0, candidates=4, max_changes=1),
                       batches=batches, cost_fn=COST)
    assert capped.genotype == beta and any("would break --max-changes" in n for n in capped.notes)


def test_a_verdict_that_makes_a_convolution_a_skip_carries_the_caution():
    # the judge likes one move best: a 3x3 made a skip; the verdict keeps its z but says how such
    # verdicts fared on good cells (the skip bias), and `expected` counts the convolutions made skips
    beta = nb201.genotype_from_string(EXAMPLE)
    target = nb201.genotype_from_string(EXAMPLE.replace("|+|skip_connect~0|nor_conv_3x3~1|", "|+|skip_connect~0|skip_connect~1|"))
    assert len([1 for a, b in zip(beta.normal.edges, target.normal.edges) if a.op != b.op]) == 1
    t, batches = _stand_in(_Tabled(lambda g: 1.0 if g == target else 1.2 if g == beta else 2.0))
    result = transform(beta, t, Selection(significance=3.0, candidates=4, refine=True), batches=batches, cost_fn=COST)
    assert result.genotype == target
    assert result.verdict.startswith("expected to be better") and "caution: it makes 1 convolution(s) a skip" in result.verdict
    assert result.expected["convolutions_made_skips"] == 1
    # a change that makes no convolution a skip carries no caution
    pooled = nb201.genotype_from_string(EXAMPLE.replace("avg_pool_3x3~1", "skip_connect~1"))
    t, batches = _stand_in(_Tabled(lambda g: 1.0 if g == pooled else 1.2 if g == beta else 2.0))
    result = transform(beta, t, Selection(significance=3.0, candidates=4, refine=True), batches=batches, cost_fn=COST)
    assert result.genotype == pooled and "caution" not in result.verdict
    assert "convolutions_made_skips" not in result.expected
