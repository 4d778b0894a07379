"""NAS-Bench-201: strings, the space, its network and supernet, policies on it, and `nat bench`.

The bench is checked against a synthetic table whose best transformations are known in closed
form (:mod:`nat.nasbench.fixture`); network sizes against the benchmark's published counts.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from nat.arch import nb201
from nat.arch.genotype import Cell, Genotype
from nat.arch.rules import is_legal_transformation, legal_replacements
from nat.arch.space import SPACES, AllPrevious, space_of
from nat.arch.zoo import get
from nat.nasbench import fixture, load_table
from nat.nasbench.bench import Oracle, select_inputs
from nat.cli import main
from nat.costs import genotype_cost, network_cost
from nat.errors import GenotypeError, NatError
from nat.nn.nb201 import NB201CostModel, NB201Network
from nat.nn.network import NetworkConfig
from nat.nn.ops import build_op
from nat.ops import NULL, OPS, op_kind
from nat.policy import GCNPolicy, LSTMPolicy, RandomPolicy
from nat.search.config import SearchConfig
from nat.search.supernet import SupernetConfig
from nat.search.supernets import supernet_class
from nat.search.trainer import run_search
from nat.search.selection import Selection
from nat.search.transform import Transformer, load_transformer, transform

SPACE = SPACES["nb201"]
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
# node 1 is dead (its only input is none), yet the convolution out of it is part of the benchmark's network
DEAD_NODE = "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    return fixture.write_fixture_table(tmp_path_factory.mktemp("table") / "fixture.csv")


@pytest.fixture(scope="module")
def table_run(table_path, tmp_path_factory):
    """A transformer trained briefly on the fixture table (a few seconds)."""
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = SearchConfig(space="nb201", reward=f"table:{table_path}", reward_metric="test_acc", theta_lr=3e-3,
                       epochs=2, theta_steps=100, device="cpu")
    run_search(cfg, None, out)
    return out


# -- strings --------------------------------------------------------------------------------
def test_every_string_round_trips():
    strings = nb201.all_strings()
    assert len(strings) == len(set(strings)) == 15625
    connected = nb201.connected_codes()
    assert int(connected.sum()) == 15625 - 341
    for code, text in enumerate(strings):
        ops = nb201.parse_arch_string(text)
        assert nb201.format_arch_string(ops) == text and nb201.encode(ops) == code and nb201.decode(code) == ops
        if connected[code]:
            genotype = nb201.genotype_from_string(text)
            assert nb201.genotype_to_string(genotype) == text and genotype.normal is genotype.reduce
        else:
            with pytest.raises(GenotypeError, match="does not depend on its inputs"):
                nb201.genotype_from_string(text)


def test_mapping_to_our_nodes():
    cell = nb201.genotype_from_string(EXAMPLE).normal
    assert [tuple(e) for e in cell.edges] == [
        ("nor_conv_3x3", 1, 2), ("nor_conv_3x3", 1, 3), ("avg_pool_3x3", 2, 3),
        ("skip_connect", 1, 4), ("nor_conv_3x3", 2, 4), ("skip_connect", 3, 4)]
    assert cell.concat == (4,)
    nulls = nb201.genotype_from_string("|none~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert nulls.normal.edges[0].op == "null"


@pytest.mark.parametrize("text, message", [
    ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '|'"),
    ("|nor_conv_3x3~0|+|none~0|none~1|", "2 node group"),
    ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 input"),
    ("|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|", "reads node 1, expected ~0"),
    ("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NAS-Bench-201 op 'conv_9x9'"),
    ("|nor_conv_3x3|+|none~0|none~1|+|none~0|none~1|none~2|", "is not op~input"),
    ("|nor_conv_3x3~0|+none~0|none~1|+|none~0|none~1|none~2|", "not enclosed"),
    ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2||", "node 3 has 4 input"),
])
def test_malformed_strings_are_one_line_errors(text, message):
    with pytest.raises(GenotypeError, match=message) as info:
        nb201.parse_arch_string(text)
    assert "\n" not in str(info.value)


# -- the space ------------------------------------------------------------------------------
def test_all_previous_rule():
    rule = AllPrevious(first=1)
    rule.check(nb201.genotype_from_string(EXAMPLE).normal)
    bad = {"an edge from node 0": [("skip_connect", 0, 2), ("skip_connect", 1, 3), ("skip_connect", 2, 3)],
           "a missing edge": [("skip_connect", 1, 2), ("skip_connect", 2, 3)],
           "a repeated edge": [("skip_connect", 1, 2), ("skip_connect", 1, 3), ("skip_connect", 1, 3)]}
    for edges in bad.values():
        with pytest.raises(GenotypeError, match="exactly one edge from each of"):
            rule.check(Cell(edges, [3]))
    darts = get("DARTS").genotype
    assert not SPACE.contains(darts) and space_of(darts).name == "darts"
    cell = nb201.genotype_from_string(EXAMPLE).normal
    assert not SPACE.contains(Genotype(cell, nb201.genotype_from_string(ALL_SKIP).normal))  # not tied
    assert not SPACE.contains(Genotype(*[cell.replace_ops(["sep_conv_3x3"] + [e.op for e in cell.edges[1:]])] * 2))
    assert SPACE.cell_types == ("normal",) and SPACES["darts"].cell_types == ("normal", "reduce")


def test_sampling_is_legal_and_covers_the_benchmark():
    rng = random.Random(0)
    samples = [SPACE.sample(rng) for _ in range(300)]
    assert all(SPACE.contains(g) and g.normal == g.reduce for g in samples)
    ops = {e.op for g in samples for e in g.normal.edges}
    assert ops == set(SPACE.ops)  # null included: the benchmark's cells, as `nat bench` sees them
    codes = {nb201.encode(g) for g in samples}
    assert all(nb201.connected_codes()[c] for c in codes) and len(codes) > 250


@pytest.mark.parametrize("op, kernel", [("nor_conv_1x1", 1), ("nor_conv_3x3", 3)])
def test_benchmark_conv_ops(op, kernel):
    assert op_kind(op) == "O" and legal_replacements(op) == (op, "skip_connect", "null")
    module = build_op(op, 8, 1)
    assert [type(m).__name__ for m in module] == ["ReLU", "Conv2d", "BatchNorm2d"]
    assert module[1].kernel_size == (kernel, kernel)
    assert module(torch.randn(2, 8, 6, 6)).shape == (2, 8, 6, 6)
    assert op in OPS


def test_legal_codes_are_the_rules():
    rng = random.Random(1)
    for code in rng.sample(range(nb201.N_CELLS), 40):
        beta = nb201.decode(code)
        legal = set(nb201.legal_codes(code).tolist())
        assert len(legal) == np.prod([3 if op not in ("none", "skip_connect") else 2 for op in beta])
        if nb201.connected_codes()[code]:
            g = nb201.to_genotype(beta)
            for other in rng.sample(range(nb201.N_CELLS), 60):
                if nb201.connected_codes()[other]:
                    assert is_legal_transformation(g, nb201.to_genotype(nb201.decode(other))) == (other in legal)


# -- the network, its cost, the supernet ------------------------------------------------------
def test_network_matches_the_published_counts():
    # The benchmark's largest cell has 1.53 M parameters and ~220 M FLOPs (multiply-adds), its
    # smallest 0.073 M / 7.78 M (NAS-Bench-201, CIFAR-10; derived by hand from its network too).
    expected = {ALL_CONV3: (1_531_546, 220_119_680), ALL_SKIP: (73_306, 7_783_040), EXAMPLE: (802_426, 113_951_360)}
    for text, (params, madds) in expected.items():
        cost = genotype_cost(nb201.genotype_from_string(text))
        assert (cost.params, cost.params_with_aux, cost.madds) == (params, params, madds)


def test_cost_model_equals_building_the_network():
    model = NB201CostModel(NetworkConfig("cifar10", 8, 4))
    for text in (EXAMPLE, DEAD_NODE, ALL_SKIP):
        g = nb201.genotype_from_string(text)
        assert model(g) == network_cost(NB201Network(g, NetworkConfig("cifar10", 8, 4)))


def test_network_trains_and_keeps_edges_out_of_dead_nodes():
    g = nb201.genotype_from_string(DEAD_NODE)
    assert 2 not in g.normal.live_nodes()
    net = NB201Network(g, NetworkConfig("cifar10", 4, 3))
    assert len(net.layers[0].ops) == 5  # every non-null edge, the one out of dead node 2 too
    loss = net(torch.randn(4, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(NatError, match="32x32"):
        NB201Network(g, NetworkConfig("imagenet"))


def test_supernet_runs_any_cell_and_shares_weights_per_edge_op():
    net = supernet_class(SPACE.name)(SupernetConfig(SPACE.ops, 4, 3, 3, 10))
    x = torch.randn(2, 3, 32, 32)
    for g in [SPACE.sample(random.Random(i)) for i in range(8)]:
        assert torch.isfinite(net(x, g)).all()
    g = nb201.genotype_from_string(EXAMPLE)
    net.zero_grad()
    net(x, g).sum().backward()
    used = {f"{e.src}_{e.dst}_{e.op}" for _, e in g.normal.computed_edges()}
    for key, module in net.layers[0].ops.items():
        grads = [p.grad for p in module.parameters()]
        assert all((gr is not None) == (key in used) for gr in grads), key
    with pytest.raises(NatError, match="nb201 space"):
        net.check(get("DARTS").genotype)


# -- policies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("policy_cls", [GCNPolicy, LSTMPolicy, RandomPolicy])
def test_policies_decide_one_cell(policy_cls):
    torch.manual_seed(0)
    policy = policy_cls(cell_types=SPACE.cell_types)  # settings go to the constructor
    beta = nb201.genotype_from_string(EXAMPLE)
    assert set(policy.logits(beta)) == {"normal"}
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        s = policy.sample(beta, gen)
        if s.alpha is not None:
            assert s.alpha.normal == s.alpha.reduce and is_legal_transformation(beta, s.alpha)
            assert SPACE.contains(s.alpha)
    with pytest.raises(NatError, match="differ"):
        policy.logits(Genotype(beta.normal, nb201.genotype_from_string(ALL_SKIP).normal))


def test_policies_saved_before_the_new_ops_still_load():
    policy = GCNPolicy()
    state = policy.state_dict()
    state["op_embedding.weight"] = state["op_embedding.weight"][:17]  # the vocabulary of the first release
    GCNPolicy().load_state_dict(state)


# -- drawing and the CLI ----------------------------------------------------------------------
def test_show_cost_draw_accept_strings_and_files(capsys, tmp_path):
    path = tmp_path / "cell.txt"
    path.write_text(EXAMPLE + "\n")
    for arch in (EXAMPLE, path):
        code, out, _ = run(capsys, "cost", arch, "--json")
        row = json.loads(out)
        assert code == 0 and row["space"] == "nb201" and (row["channels"], row["layers"]) == (16, 15)
        assert row["params"] == 802_426
        code, out, _ = run(capsys, "show", arch, "--format", "nb201")
        assert out.strip() == EXAMPLE
    code, out, _ = run(capsys, "show", EXAMPLE)
    assert "node 4: skip_connect [S] <- 1, nor_conv_3x3 [O] <- 2, skip_connect [S] <- 3" in out
    assert "reduce" not in out
    svg = tmp_path / "cell.svg"
    assert run(capsys, "draw", EXAMPLE, "-o", svg, "--vs", ALL_CONV3)[0] == 0
    text = svg.read_text()
    assert 'id="cell"' in text and 'id="reduce"' not in text and "c_{k-2}" not in text
    assert text.count('class="edge changed"') == 3


def test_check_names_the_one_cell_once(capsys):
    swapped = EXAMPLE.replace("nor_conv_3x3~0|+", "nor_conv_1x1~0|+", 1)  # O -> another O: illegal
    code, out, _ = run(capsys, "check", swapped, "--vs", EXAMPLE, "--json")
    data = json.loads(out)
    assert code == 1 and data["costs_no_more"] and len(data["violations"]) == 1
    assert "nor_conv_3x3 -> nor_conv_1x1" in data["violations"][0] and "cell" not in data["violations"][0]
    legal = EXAMPLE.replace("avg_pool_3x3~1", "skip_connect~1")
    assert run(capsys, "check", legal, "--vs", EXAMPLE)[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["show", "|nor_conv_3x3~0|+|none~0|none~1|"], "2 node group"),
    (["cost", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "does not depend on its inputs"),
    (["cost", EXAMPLE, "--dataset", "imagenet"], "32x32"),
])
def test_bad_architectures_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


# -- the table, the oracle, `nat bench` ---------------------------------------------------------
def test_table_reads_the_fixture(table_path):
    table = load_table(table_path, "test_acc")
    assert table.unit == "percent" and table.values.shape == (15625,)
    g = nb201.genotype_from_string(EXAMPLE)
    assert table[g] == pytest.approx(fixture.accuracy(nb201.parse_arch_string(EXAMPLE)), abs=1e-6)
    assert table.fraction(g) == pytest.approx(table[g] / 100)


def test_oracle_is_the_closed_form(table_path):
    oracle = Oracle(load_table(table_path, "test_acc"))
    for code in select_inputs(500, seed=3):
        best, value = oracle(code)
        assert value == pytest.approx(fixture.oracle_accuracy(nb201.decode(code)), abs=1e-5)
        assert best in nb201.legal_codes(code) and nb201.connected_codes()[best]


def _bad_table(tmp_path, table_path, edit) -> str:
    lines = table_path.read_text().splitlines()
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(edit(lines)) + "\n")
    return str(path)


@pytest.mark.parametrize("edit, metric, message", [
    (lambda ls: [ls[0].replace("arch", "name")] + ls[1:], "test_acc", "no architecture column"),
    (lambda ls: ls, "top1", "no column 'top1'"),
    (lambda ls: ls, None, "several metric columns (test_acc, valid_acc): choose one with --metric"),
    (lambda ls: ls[:-5], "test_acc", "5 of the 15,625"),
    (lambda ls: ls[:3] + [ls[3].replace("~1|", "~2|", 1)] + ls[4:], "test_acc", "line 4: malformed"),
    (lambda ls: ls[:3] + [ls[3].rsplit(",", 2)[0] + ",x,1"] + ls[4:], "test_acc", "holds 'x', not a finite number"),
    (lambda ls: ls + [ls[7]], "test_acc", "a second row"),
])
def test_bad_tables_are_one_line_errors(capsys, tmp_path, table_path, table_run, edit, metric, message):
    path = _bad_table(tmp_path, table_path, edit)
    argv = ["bench", "--table", path, "--transformer", table_run, "--archs", "5", "--json"]
    code, _, err = run(capsys, *argv, *(["--metric", metric] if metric else []))
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_bench_json_against_the_constructed_oracle(capsys, table_path, table_run, tmp_path):
    plot = tmp_path / "gain.svg"
    code, out, _ = run(capsys, "bench", "--table", table_path, "--metric", "test_acc", "--transformer", table_run,
                       "--archs", "150", "--seed", "2", "--json", "--plot", plot)
    s = json.loads(out)
    assert code == 0
    assert {"n", "mean_input", "mean_transformed", "mean_gain", "improved", "unchanged", "worsened",
            "random_mean_gain", "oracle_mean", "oracle_gain", "share_of_oracle", "params_before",
            "params_after", "madds_before", "madds_after"} <= set(s)
    inputs = [nb201.decode(c) for c in select_inputs(150, seed=2)]
    assert s["n"] == 150
    assert s["mean_input"] == pytest.approx(np.mean([fixture.accuracy(o) for o in inputs]), abs=1e-5)
    assert s["oracle_mean"] == pytest.approx(np.mean([fixture.oracle_accuracy(o) for o in inputs]), abs=1e-5)
    assert s["oracle_gain"] == pytest.approx(s["oracle_mean"] - s["mean_input"])
    assert s["mean_gain"] == pytest.approx(s["mean_transformed"] - s["mean_input"])
    for prefix in ("", "random_"):
        shares = [s[f"{prefix}{k}"] for k in ("improved", "unchanged", "worsened")]
        assert all(0 <= v <= 1 for v in shares) and sum(shares) == pytest.approx(1)
    assert s["share_of_oracle"] == pytest.approx(s["mean_gain"] / s["oracle_gain"])
    assert s["mean_transformed"] <= s["oracle_mean"] + 1e-9
    assert s["params_after"] <= s["params_before"] and s["madds_after"] <= s["madds_before"]
    assert "table look-up" in s["transformer_reward"] and "Maximum" in s["selection"]
    assert any("this very table" in n for n in s["notes"])
    assert plot.read_text().count("<circle") >= 3 * 150
    # learned from 200 table look-ups: most of the way to the oracle, far beyond random
    assert s["share_of_oracle"] > 0.5 and s["random_mean_gain"] < 0 < s["mean_gain"]
    assert s["improved"] > 0.6 and s["worsened"] < 0.15
    # the accurate objective applies no unjudged savings: every change is the selection's
    assert s["by_source"]["selection"]["share"] == pytest.approx(s["changed"])
    assert s["by_source"]["unjudged_only"]["share"] == 0


def test_bench_says_where_the_changes_came_from():
    from nat.nasbench.bench import BenchRow, _by_source
    row = lambda arch, out, gain, after, selection, unjudged=(): BenchRow(  # noqa: E731
        arch, out, 90.0, 90.0 + gain, 0.0, 0.0, 100, after, 1, 1, selection_changed=selection, unjudged=unjudged)
    rows = [row("a", "a", 0.0, 100, False), row("a", "b", -0.4, 70, True),
            row("a", "c", 0.1, 80, False, ("idle_edges",)), row("a", "d", -0.1, 60, False, ("duplicate_branches",))]
    by = _by_source(rows)
    assert by["selection"] == {"share": 0.25, "mean_gain": pytest.approx(-0.4), "params_change": pytest.approx(-0.3)}
    assert by["unjudged_only"]["share"] == 0.5 and by["unjudged_only"]["mean_gain"] == pytest.approx(0.0)
    assert by["unjudged_only"]["params_change"] == pytest.approx(-0.3)
    assert _by_source([row("a", "a", 0.0, 100, False)])["selection"] == {"share": 0.0, "mean_gain": None,
                                                                          "params_change": None}


def test_bench_text_report_and_sampling(capsys, table_path, table_run):
    code, out, _ = run(capsys, "bench", "--table", table_path, "--metric", "test_acc", "--transformer", table_run,
                       "--archs", "20", "--candidates", "4")
    assert code == 0
    assert "oracle (enumerated)" in out and "share of the oracle's gain" in out
    assert "the most probable of 4 candidates" in out and "never to select" in out


def test_search_reports_its_reward(capsys, table_path, tmp_path):
    code, out, _ = run(capsys, "search", "--space", "nb201", "--reward", f"table:{table_path}", "--metric", "valid_acc",
                       "--out", tmp_path / "r", "--epochs", "1", "--theta-steps", "3", "--policy", "lstm")
    assert code == 0
    assert out.startswith(f"reward: table look-up, {table_path} column valid_acc")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["supernet_params"] is None and "table look-up" in summary["reward"]
    t = load_transformer(tmp_path / "r", nb201.genotype_from_string(EXAMPLE))
    assert t.supernet is None and t.policy.cell_types == ("normal",)


@pytest.mark.parametrize("extra, message", [
    (["--space", "darts", "--reward", "table:x.csv"], "use --space nb201"),
    (["--space", "nb201", "--reward", "tabel:x.csv"], "reward must be"),
    (["--space", "nb201"], "--data is required"),
])
def test_search_option_errors(capsys, tmp_path, extra, message):
    code, _, err = run(capsys, "search", "--out", tmp_path / "r", *extra)
    assert code == 2 and message in err and err.count("\n") == 1


def test_bench_refuses_a_darts_run(capsys, tmp_path, table_path, table_run):
    state = torch.load(table_run / "transformer.pt")
    state["space"] = "darts"
    torch.save(state, tmp_path / "darts.pt")
    code, _, err = run(capsys, "bench", "--table", table_path, "--metric", "test_acc", "--transformer",
                       tmp_path / "darts.pt", "--archs", "3")
    assert code == 2 and "--space nb201" in err


# -- search with supernet rewards, transform ----------------------------------------------------
def test_supernet_search_and_transform(capsys, tmp_path, noise_data):
    data = noise_data(200, 40)
    cfg = SearchConfig(space="nb201", channels=4, layers=3, batch_size=16, epochs=1, w_steps=2, theta_steps=2,
                       policy="gcn,lstm", device="cpu")
    summary = run_search(cfg, data, tmp_path / "run")
    assert summary["supernet_params"] > 0 and "supernet" in summary["reward"]
    t = load_transformer(tmp_path / "run", nb201.genotype_from_string(EXAMPLE))
    assert type(t.supernet).__name__ == "NB201Supernet"
    x = torch.from_numpy(data.train_images[:32]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data.train_labels[:32])
    result = transform(nb201.genotype_from_string(EXAMPLE), t, Selection(candidates=4), batches=[(x, y)])
    assert SPACE.contains(result.genotype) and result.cost_after.params <= result.cost_before.params
    assert all(c["cell"] == "cell" for c in result.changed)
    capsys.readouterr()
    code, out, _ = run(capsys, "transform", EXAMPLE, "--transformer", tmp_path / "run", "--json")
    data_out = json.loads(out)
    assert code == 0 and data_out["size"] == {"dataset": "cifar10", "channels": 16, "layers": 15}
    code, _, err = run(capsys, "transform", "DARTS", "--transformer", tmp_path / "run")
    assert code == 2 and "nb201 space" in err


def test_a_darts_transformer_refuses_an_nb201_cell(tmp_path):
    t = Transformer(GCNPolicy(), "darts", "test")
    from nat.search.transform import check_space
    with pytest.raises(NatError, match="--space nb201"):
        check_space(nb201.genotype_from_string(EXAMPLE), t)


def test_search_requeue_starts_then_extends_then_refuses_a_finished_run(capsys, table_path, tmp_path):
    argv = ["search", "--space", "nb201", "--reward", f"table:{table_path}", "--metric", "valid_acc",
            "--out", tmp_path / "r", "--theta-steps", "3", "--policy", "lstm", "--requeue"]
    assert run(capsys, *argv, "--epochs", "1")[0] == 0  # nothing there: starts
    assert run(capsys, *argv, "--epochs", "2")[0] == 0  # a checkpoint at 1 of 2: resumes
    history = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2]
    code, _, err = run(capsys, *argv, "--epochs", "2")  # finished: the only refusal
    assert code == 2 and "nothing to requeue, the search is finished (2/2 epochs)" in err



def test_dead_ends_can_be_removed_without_changing_the_benchmark_networks_function():
    # The benchmark's network computes every non-null edge, also out of a zero node (it adds a
    # learned BatchNorm shift), so only edges no path leads on from may go. Property over random
    # cells: the same weights give the same outputs, and the removal is a legal, idempotent move.
    from nat.nn.network import NetworkConfig
    from nat.nn.nb201 import NB201Network

    rng = random.Random(3)
    connected = nb201.connected_codes()
    pruned = 0
    for code in rng.sample([int(c) for c in np.flatnonzero(connected)], 40):
        beta = nb201.to_genotype(nb201.decode(code))
        alpha = beta.without_dead_ends()
        assert is_legal_transformation(beta, alpha) and alpha.without_dead_ends() == alpha
        assert alpha.normal.dead_ends() == () and connected[nb201.encode(nb201.from_genotype(alpha))]
        if alpha == beta:
            continue
        pruned += 1
        torch.manual_seed(0)
        full = NB201Network(beta, NetworkConfig(channels=4, layers=3))
        for p in full.parameters():  # BatchNorm shifts away from zero, so a stray constant would show
            torch.nn.init.normal_(p, std=0.5)
        lean = NB201Network(alpha, NetworkConfig(channels=4, layers=3))
        kept = lean.state_dict()
        assert set(kept) <= set(full.state_dict())  # each weight one of the full network's (pools and skips have none)
        lean.load_state_dict({k: v for k, v in full.state_dict().items() if k in kept})
        x = torch.randn(3, 3, 32, 32)
        full.eval(), lean.eval()
        torch.testing.assert_close(lean(x), full(x))
    assert pruned >= 5


def test_dead_ends_by_hand():
    # node 2 feeds nothing (its only way on, 2 -> 3, is none): the edges into it are dead ends.
    # Node 1 is a zero node (0 -> 1 is none) but reaches the output through 1 -> 3, so its edge
    # on stays: a convolution out of it adds a learned shift that travels on.
    beta = nb201.genotype_from_string("|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    dead = {(beta.normal.edges[i].src - nb201.OFFSET, beta.normal.edges[i].dst - nb201.OFFSET)
            for i in beta.normal.dead_ends()}
    assert dead == {(0, 2), (1, 2)}
    assert nb201.genotype_to_string(beta.without_dead_ends()) == \
        "|none~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"


def _conv_input_hooks(net):
    """Record the tensor each cell edge reads, keyed by (layer, edge)."""
    seen = {}
    for li, layer in enumerate(net.layers):
        for key, op in getattr(layer, "ops", {}).items():
            op.register_forward_pre_hook(lambda m, args, li=li, key=key: seen.__setitem__((li, key), args[0].detach()))
    return seen


def test_merged_branches_keep_the_benchmark_networks_function_class():
    # Property over random cells with duplicate branches (and no idle edges, whose BatchNorm shift is
    # a separate matter): the merged network, given the original's weights with every removed
    # convolution folded into the one kept on the same tensor (BatchNorm folded in at inference),
    # computes what the original computes. Which edges read the same tensor is found by running the
    # original, not by asking the code under test.
    rng = random.Random(5)
    connected = nb201.connected_codes()
    merged_cells = 0
    for code in rng.sample([int(c) for c in np.flatnonzero(connected)], 600):
        beta = nb201.to_genotype(nb201.decode(code))
        cell = beta.normal
        if cell.input_free_edges() or cell.dead_ends() or not cell.redundant_branches():
            continue
        alpha = beta.without_unjudged_savings(strided_reduce=False)
        assert is_legal_transformation(beta, alpha) and alpha.without_unjudged_savings(strided_reduce=False) == alpha
        assert alpha.normal.redundant_branches() == () and connected[nb201.encode(nb201.from_genotype(alpha))]
        changed = [i for i, (a, b) in enumerate(zip(cell.edges, alpha.normal.edges)) if a.op != b.op]
        assert all(alpha.normal.edges[i].op == NULL for i in changed)
        # the convolutions removed are the redundant ones; anything else removed was left a dead end
        removed = [str(i) for i in changed if cell.edges[i].op.startswith("nor_conv")]
        assert sorted(int(k) for k in removed) == list(cell.redundant_branches())
        torch.manual_seed(merged_cells)
        full = NB201Network(beta, NetworkConfig(channels=4, layers=3))
        for name, p in full.named_parameters():
            torch.nn.init.normal_(p, mean=1.0 if name.endswith("weight") and p.dim() == 1 else 0.0, std=0.3)
        for m in full.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(std=0.3), m.running_var.uniform_(0.5, 2.0)
        full.eval()
        reads = _conv_input_hooks(full)
        x = torch.randn(2, 3, 32, 32)
        want = full(x)
        lean = NB201Network(alpha, NetworkConfig(channels=4, layers=3)).eval()
        state = {k: v.clone() for k, v in full.state_dict().items() if k in lean.state_dict()}
        for li, layer in enumerate(full.layers):
            if not hasattr(layer, "ops"):
                continue
            into: dict[str, list[str]] = {}
            for r in removed:
                dst = cell.edges[int(r)].dst
                kept = [k for k in layer.ops if k not in removed and cell.edges[int(k)].dst == dst
                        and cell.edges[int(k)].op == cell.edges[int(r)].op and torch.equal(reads[li, k], reads[li, r])]
                assert len(kept) == 1, "a removed branch has not exactly one of its kind left on the same tensor"
                into.setdefault(kept[0], []).append(r)
            for k, members in into.items():  # fold each BatchNorm into its conv, then sum into the kept edge
                weight, bias = 0, 0
                for member in (k, *members):
                    conv, bn = layer.ops[member][1], layer.ops[member][2]
                    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                    weight = weight + conv.weight * scale[:, None, None, None]
                    bias = bias + bn.bias - bn.running_mean * scale
                pre = f"layers.{li}.ops.{k}."
                state[pre + "1.weight"], state[pre + "2.weight"], state[pre + "2.bias"] = weight, torch.ones_like(bias), bias
                state[pre + "2.running_mean"] = torch.zeros_like(bias)
                state[pre + "2.running_var"] = torch.full_like(bias, 1 - layer.ops[k][2].eps)
        lean.load_state_dict(state)
        torch.testing.assert_close(lean(x), want, rtol=1e-4, atol=1e-4)
        merged_cells += 1
    assert merged_cells >= 5


def test_redundant_branches_by_hand():
    # node 1 is a skip of the input, so 0 -> 2 and 1 -> 2 read one tensor: the second 3x3 goes. 0 -> 3
    # (1x1) beside 1 -> 3 (3x3) is absorbable in principle but not a duplicate (mixed kernels train
    # better); 2 -> 3 reads another tensor and stays
    beta = nb201.genotype_from_string("|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    gone = {(beta.normal.edges[i].src - nb201.OFFSET, beta.normal.edges[i].dst - nb201.OFFSET)
            for i in beta.normal.redundant_branches()}
    assert gone == {(1, 2)}
    # a pool between them makes two tensors: nothing to merge
    other = nb201.genotype_from_string("|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert other.normal.redundant_branches() == ()
    # an edge out of a zero node adds a constant shift in the benchmark's network: node 2 below is
    # then no alias of node 1 until that edge is gone (node 0 -> 1 is none, so node 1 is zero)
    shifted = nb201.genotype_from_string("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_1x1~2|")
    assert shifted.normal.redundant_branches() == ()
    assert shifted.without_redundant_branches(strided_reduce=False) == shifted
    lean = shifted.without_unjudged_savings(strided_reduce=False)
    assert nb201.genotype_to_string(lean) == "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"


def test_redundant_branches_follow_strides_and_only_plain_convolutions():
    # In a reduction cell a skip out of an input is a FactorizedReduce with weights, not the input:
    # node 2 is then no alias of node 0, and its convolution into node 3 is its own
    edges = [("skip_connect", 0, 2), ("conv_3x3", 0, 3), ("conv_3x3", 2, 3), ("conv_1x1", 1, 4), ("sep_conv_3x3", 3, 4)]
    cell = Cell(edges, [4])
    assert cell.redundant_branches(strided_inputs=True) == ()
    assert cell.redundant_branches() == (2,)  # at stride 1 node 2 is node 0: the second 3x3 goes
    # separable, dilated and factorised convolutions are not closed under sums: never merged
    cell = Cell([("skip_connect", 0, 2), ("sep_conv_3x3", 0, 3), ("sep_conv_3x3", 2, 3), ("dil_conv_3x3", 0, 4),
                 ("dil_conv_3x3", 2, 4), ("conv_1x7_7x1", 0, 4), ("conv_1x7_7x1", 2, 4)], [3, 4])
    assert cell.redundant_branches() == ()
    # two nodes computed alike from one tensor are two tensors (their weights differ)
    cell = Cell([("conv_3x3", 0, 2), ("conv_3x3", 0, 3), ("conv_3x3", 2, 4), ("conv_3x3", 3, 4)], [4])
    assert cell.redundant_branches() == ()
    darts = get("DARTS").genotype
    assert darts.without_unjudged_savings(strided_reduce=True) == darts  # two inputs a node, never one tensor twice


def test_input_free_edges_add_only_what_their_shifts_make():
    # Node 1 has no input (0 -> 1 is none), so the edges out of it carry no signal from the input:
    # they read zeros, their weights get no gradient, and the benchmark's network adds their
    # BatchNorm shift. With those shifts at zero, the network without the edges computes the same.
    beta = nb201.genotype_from_string("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    idle = beta.normal.input_free_edges()
    assert {(beta.normal.edges[i].src - nb201.OFFSET, beta.normal.edges[i].dst - nb201.OFFSET) for i in idle} == {(1, 2), (1, 3)}
    alpha = beta.without_idle_edges()
    assert is_legal_transformation(beta, alpha) and alpha.normal.input_free_edges() == ()
    torch.manual_seed(0)
    full = NB201Network(beta, NetworkConfig(channels=4, layers=3))
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    before = {k: v.clone() for k, v in full.state_dict().items()}
    torch.nn.functional.cross_entropy(full(x), y).backward()
    torch.optim.SGD(full.parameters(), lr=0.5).step()
    for i in idle:
        for li, layer in enumerate(full.layers):
            if hasattr(layer, "ops"):
                key = f"layers.{li}.ops.{i}.1.weight"
                assert torch.equal(full.state_dict()[key], before[key])  # reads zeros: never trains
                layer.ops[str(i)][2].bias.data.zero_()
    full.eval()
    lean = NB201Network(alpha, NetworkConfig(channels=4, layers=3)).eval()
    lean.load_state_dict({k: v for k, v in full.state_dict().items() if k in lean.state_dict()})
    torch.testing.assert_close(lean(x), full(x))


def test_input_free_edges_further_on_are_found_in_one_pass():
    # node 1 has no input; node 2's only input comes out of node 1, so node 2 carries no signal from
    # the input either, and the edge out of it is input-free too (it does train: it reads node 1's
    # shift, spread by padding). One pass removes both.
    beta = nb201.genotype_from_string("|none~0|+|none~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_3x3~2|")
    pairs = {(beta.normal.edges[i].src - nb201.OFFSET, beta.normal.edges[i].dst - nb201.OFFSET)
             for i in beta.normal.input_free_edges()}
    assert pairs == {(1, 2), (2, 3)}
    lean = beta.without_idle_edges()
    assert nb201.genotype_to_string(lean) == "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    assert lean.without_idle_edges() == lean
