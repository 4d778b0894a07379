"""The NAS-Bench-301 surrogate as an answer key: encoding, scoring, the keep-or-skip oracle, and
``nat bench --surrogate``. A tiny ONNX model built here stands in for the real file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from nat.api import resolve
from nat.arch.genotype import Cell, Edge, Genotype
from nat.arch.rules import is_legal_transformation
from nat.cli import main
from nat.costs import genotype_cost
from nat.errors import NatError
from nat.nasbench.surrogate import (COLUMNS, SURROGATE_OPS, edge_column, load_surrogate,
                                    random_darts_genotype, unscorable)
from nat.nasbench.surrogate_bench import input_file, keep_or_skip, random_inputs

onnx = pytest.importorskip("onnx")  # the `bench` extra; CI installs it
pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.usefixtures("one_thread")

_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"


def _categories() -> dict[str, dict[str, int]]:
    """As NAS-Bench-301's encoding: '#na#' is 0, the ops 1..7 in alphabetical order, the node
    inputs by their pairs."""
    out = {}
    for col in COLUMNS:
        if col.startswith("edge_"):
            names = sorted(SURROGATE_OPS)
        else:
            node = int(col[-1])
            names = sorted(f"{a}_{b}" for a in range(node) for b in range(a + 1, node))
        out[_PREFIX + col] = {"#na#": 0, **{n: i + 1 for i, n in enumerate(names)}}
    return out


def _weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.1, size=(34, 1)).astype(np.float32)


def write_tiny_surrogate(folder: Path, weights: np.ndarray) -> Path:
    """accuracy = 90 + x_cat . weights, runtime = 0 -- with N fixed at 1, as the real file."""
    from onnx import TensorProto, helper
    folder.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x_cat"], ["xf"], to=TensorProto.FLOAT),
         helper.make_node("MatMul", ["xf", "w"], ["acc0"]),
         helper.make_node("Add", ["acc0", "base"], ["acc"]),
         helper.make_node("Mul", ["x_cont", "zero"], ["rt"]),
         helper.make_node("Concat", ["acc", "rt"], ["out"], axis=1)],
        "tiny-surrogate",
        [helper.make_tensor_value_info("x_cat", TensorProto.INT32, [1, 34]),
         helper.make_tensor_value_info("x_cont", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [34, 1], weights.ravel().tolist()),
         helper.make_tensor("base", TensorProto.FLOAT, [1], [90.0]),
         helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, folder / "nb301-surrogate.onnx")
    (folder / "encoding.json").write_text(json.dumps(_categories()))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    weights = _weights()
    folder = write_tiny_surrogate(tmp_path_factory.mktemp("nb301"), weights)
    return load_surrogate(folder), weights


def _by_hand(g: Genotype, weights: np.ndarray) -> float:
    """What the tiny model predicts, computed without the module under test: each edge's op code in
    its column, each node's input pair in its own."""
    cats = _categories()
    row = np.zeros(34)
    for ci, name in enumerate(("normal", "reduce")):
        cell = getattr(g, name)
        for node, first in ((2, 0), (3, 2), (4, 5), (5, 9)):
            srcs = sorted(e.src for _, e in cell.inputs_of(node))
            for _, e in cell.inputs_of(node):
                col = f"edge_{name}_{first + e.src}"
                row[14 * ci + first + e.src] = cats[_PREFIX + col][e.op]
            if node > 2:
                col = f"inputs_node_{name}_{node}"
                row[COLUMNS.index(col)] = cats[_PREFIX + col][f"{srcs[0]}_{srcs[1]}"]
    return float(90 + row @ weights.ravel())


def test_scores_match_the_model_computed_by_hand(tiny):
    surrogate, weights = tiny
    rng = random.Random(3)
    gs = [resolve("DARTS")[1]] + [random_darts_genotype(rng) for _ in range(25)]
    assert surrogate.batched  # the onnx package re-declared the batch dimension free
    np.testing.assert_allclose(surrogate.score(gs), [_by_hand(g, weights) for g in gs], atol=1e-4)


def test_one_row_at_a_time_gives_the_same_numbers(tiny):
    surrogate, _ = tiny
    gs = [g for _, g in random_inputs(7, seed=1)]
    surrogate.batched = False
    try:
        single = surrogate.score(gs)
    finally:
        surrogate.batched = True
    np.testing.assert_array_equal(single, surrogate.score(gs))


def test_edge_columns_follow_the_surrogates_order():
    assert [edge_column("normal", s, 2) for s in (0, 1)] == [0, 1]
    assert [edge_column("normal", s, 5) for s in range(5)] == list(range(9, 14))
    assert edge_column("reduce", 0, 2) == 14 and COLUMNS[edge_column("reduce", 3, 5)] == "edge_reduce_12"


@pytest.mark.parametrize("change, why", [
    (lambda n: [Edge("null", *n[0][1:])] + n[1:], "never saw"),
    (lambda n: [Edge("conv_3x3", *n[0][1:])] + n[1:], "never saw"),
    (lambda n: [n[0], Edge(n[1].op, n[0].src, n[1].dst)] + n[2:], "two different inputs"),
])
def test_what_the_surrogate_never_saw_is_refused_not_guessed(tiny, change, why):
    darts = resolve("DARTS")[1]
    bad = Genotype(Cell(change(list(darts.normal.edges)), darts.normal.concat), darts.reduce)
    assert why in unscorable(bad)
    with pytest.raises(NatError, match=why):
        tiny[0].score([darts, bad])


def test_random_cells_are_scorable_and_seeded():
    a, b = random_inputs(20, seed=5), random_inputs(20, seed=5)
    assert a == b and random_inputs(20, seed=6) != a
    assert all(unscorable(g) is None for _, g in a)


def test_the_oracle_enumerates_keep_or_skip_exactly(tiny):
    surrogate, weights = tiny
    beta = resolve("DARTS")[1]
    oracle = keep_or_skip(beta, surrogate)
    assert oracle.input_value == pytest.approx(_by_hand(beta, weights), abs=1e-4)
    assert len(oracle.slots) == 11 and oracle.masks.shape[1] == 11 and not oracle.masks[0].any()
    rng = np.random.default_rng(0)
    for i in [0, oracle.best(), oracle.cheapest_no_lower(), *rng.choice(len(oracle.values), 6)]:
        alpha = oracle.genotype(beta, int(i))
        cost = genotype_cost(alpha)
        # costs add up edge by edge: the sum equals the built network's count
        assert (cost.params, cost.madds) == (oracle.params[i], oracle.madds[i])
        assert oracle.values[i] == pytest.approx(_by_hand(alpha, weights), abs=1e-4)
        assert is_legal_transformation(beta, alpha) and unscorable(alpha) is None
        assert cost.params <= oracle.params[0] and cost.madds <= oracle.madds[0]
    assert oracle.values[oracle.cheapest_no_lower()] >= oracle.input_value
    assert oracle.params[oracle.cheapest_no_lower()] == oracle.params[oracle.values >= oracle.input_value].min()


def test_loading_refuses_what_is_not_a_surrogate(tmp_path):
    with pytest.raises(NatError, match="no nb301-surrogate.onnx"):
        load_surrogate(tmp_path)
    write_tiny_surrogate(tmp_path / "a", _weights())
    (tmp_path / "a" / "nb301-surrogate.onnx").write_bytes(b"not a model")
    with pytest.raises(NatError, match="not a model onnxruntime can load"):
        load_surrogate(tmp_path / "a")
    write_tiny_surrogate(tmp_path / "b", _weights())
    (tmp_path / "b" / "encoding.json").write_text("{}")
    with pytest.raises(NatError, match="no categories for column"):
        load_surrogate(tmp_path / "b")


def test_input_files_of_many_genotypes(tmp_path):
    darts = resolve("DARTS")[1]
    from nat.arch.formats import format_pairs
    py = tmp_path / "genotypes.py"
    py.write_text("from collections import namedtuple\nGenotype = namedtuple('Genotype', 'normal normal_concat "
                  f"reduce reduce_concat')\nA = {format_pairs(darts)}\nB = {format_pairs(darts)}\n")
    assert [n for n, _ in input_file(py)] == ["A", "B"] and input_file(py)[0][1] == darts
    lines = tmp_path / "many.txt"
    lines.write_text(f"# two cells\n{format_pairs(darts)}\n\n{format_pairs(darts)}\n")
    assert [n for n, _ in input_file(lines)] == ["line 2", "line 4"]
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{format_pairs(darts)}\nGenotype(normal=[('sep_conv_3x3', 0)])\n")
    with pytest.raises(NatError, match="bad.txt line 2"):
        input_file(bad)
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(NatError, match="no genotype"):
        input_file(tmp_path / "empty.txt")


def test_bench_with_the_surrogate_end_to_end(tiny, tmp_path, capsys):
    folder = tiny[0].folder
    code = main(["bench", "--surrogate", folder, "--archs", "3", "--no-null", "--json", "--rows", "--threads", "1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["n"] == 3 and out["unscorable"] == 0 and len(out["rows"]) == 3
    for row in out["rows"]:
        assert row["oracle"] >= row["input"] - 1e-9 and row["params_after"] <= row["params_before"]
        assert row["gain"] == pytest.approx(row["transformed"] - row["input"])
        assert "null" not in row["transformed_arch"]
    assert out["mean_gain"] <= out["oracle_gain"] + 1e-9
    darts_py = tmp_path / "g.py"
    from nat.arch.formats import format_assignment
    darts_py.write_text(format_assignment(resolve("DARTS")[1], "DARTS") + "\n")
    code = main(["bench", "--surrogate", folder, "--inputs", str(darts_py), "--threads", "1"])
    text = capsys.readouterr().out
    assert code == 0 and "oracle (keep-or-skip)" in text and "1 DARTS-space architectures" in text


@pytest.mark.parametrize("argv, message", [
    (["--top", "0.25"], "--top is for the NAS-Bench-201 table"),
    (["--inputs", "x.py", "--archs", "3"], "not both"),
    ([], None),
])
def test_bench_surrogate_mistakes_are_one_line(tiny, capsys, argv, message):
    if message is None:  # neither key
        code = main(["bench", "--archs", "3"])
        message = "give one answer key"
    else:
        code = main(["bench", "--surrogate", tiny[0].folder, *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
