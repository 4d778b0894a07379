"""Hostile and oversized architecture files: every one is refused in one line, or analysed fast.

The probes of the reliability review: a 10,000-node JSON once hung `show`/`draw`/`check` (the
graph analyses were cubic), a 180-byte text with ``range(2, 100000000000)`` raised MemoryError,
and a non-UTF-8 file crashed the error handler itself.
"""

from __future__ import annotations

import json
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nat.arch import genotype_from_dict, genotype_to_dict
from nat.arch.formats import MAX_FILE_BYTES, read_genotype_file
from nat.arch.genotype import MAX_EDGES, MAX_NODES, Cell
from nat.arch.rules import is_legal_transformation, transformation_violations
from nat.cli import main
from nat.draw import MAX_DRAWN_NODES, genotype_to_dot, genotype_to_svg
from nat.errors import GenotypeError, NatError

OPS = ["sep_conv_3x3", "skip_connect", "max_pool_3x3", "null"]
PAIR = 'Genotype(normal=[("skip_connect", 0), ("skip_connect", 1)], normal_concat={}, ' \
       'reduce=[("skip_connect", 0), ("skip_connect", 1)], reduce_concat=[2])'


def random_cell(n_nodes: int, rng: random.Random) -> dict:
    """Two random earlier inputs per intermediate node, random ops (some null)."""
    edges = [[rng.choice(OPS), s, d] for d in range(2, n_nodes) for s in rng.sample(range(d), 2)]
    return {"edges": edges}


def _reference_live(cell: Cell) -> set[int]:
    """Live nodes by the definition, recomputed by a fixpoint over all edges (slow, obviously right)."""
    live, grew = {0, 1}, True
    while grew:
        grew = False
        for e in cell.edges:
            if e.op != "null" and e.src in live and e.dst not in live:
                live.add(e.dst)
                grew = True
    return live


def _reference_needed(cell: Cell, live: set[int]) -> set[int]:
    needed, grew = {n for n in cell.concat if n in live}, True
    while grew:
        grew = False
        for e in cell.edges:
            if e.op != "null" and e.dst in needed and e.src in live and e.src not in needed:
                needed.add(e.src)
                grew = True
    return needed


@settings(max_examples=40, deadline=None)
@given(n_nodes=st.integers(3, 60), seed=st.integers(0, 10_000))
def test_cached_analyses_match_the_definition(n_nodes, seed):
    rng = random.Random(seed)
    data = {"normal": random_cell(n_nodes, rng), "reduce": random_cell(n_nodes, rng)}
    try:
        genotype = genotype_from_dict(data)
    except GenotypeError:  # every path to the output may be null: a refused cell, fine
        return
    for cell in genotype.cells().values():
        live = _reference_live(cell)
        assert cell.live_nodes() == live
        assert cell.needed_nodes() == _reference_needed(cell, live)
        assert cell.inputs_of(n_nodes - 1) == [(i, e) for i, e in enumerate(cell.edges) if e.dst == n_nodes - 1]


def test_a_2000_node_cell_is_analysed_in_seconds_not_hours():
    # linear analyses take tens of milliseconds here; the cubic ones they replace took hours. The
    # bound is loose on purpose: it must hold on a loaded machine, and catches any cubic regression
    rng = random.Random(0)
    data = {"normal": random_cell(2_000, rng), "reduce": random_cell(2_000, rng)}
    data["normal"]["edges"][0][0] = data["reduce"]["edges"][0][0] = "sep_conv_3x3"
    start = time.perf_counter()
    genotype = genotype_from_dict(data)
    for cell in genotype.cells().values():
        cell.live_nodes(), cell.needed_nodes(), cell.computed_edges(), cell.output_nodes()
    assert transformation_violations(genotype, genotype) == [] and is_legal_transformation(genotype, genotype)
    assert genotype_from_dict(genotype_to_dict(genotype)) == genotype
    genotype_to_dot(genotype)
    assert time.perf_counter() - start < 30.0


def test_more_nodes_than_the_limit_are_refused_in_one_line():
    edges = [["skip_connect", 0, 2], ["skip_connect", 2, MAX_NODES]]
    with pytest.raises(GenotypeError, match=f"limit of {MAX_NODES:,} nodes"):
        Cell(edges)


def test_more_edges_than_the_limit_are_refused_before_they_are_all_read():
    def endless():  # a generator that never ends: the limit must stop reading it
        while True:
            yield ("skip_connect", 0, 2)
    with pytest.raises(GenotypeError, match=f"more than {MAX_EDGES:,} edges"):
        Cell(endless())


@pytest.mark.parametrize("content, expected", [
    (PAIR.format("range(2, 100000000000)"), "99,999,999,998 entries"),
    (PAIR.format("range(2, 10, 0)"), "step must not be zero"),
    ('Genotype(normal=' + '[' * 5000 + ']' * 5000 + ', reduce=[])', "malformed genotype text"),
    ('Genotype(normal=[("skip_connect", ' + '9' * 5000 + ')], reduce=[])', "4300 digits"),
    ('{"normal": ' + '[' * 100_000 + ']' * 100_000 + '}', "nested too deeply"),
])
def test_hostile_text_is_refused_in_one_line(content, expected, tmp_path, capsys):
    path = tmp_path / "hostile.txt"
    path.write_text(content)
    with pytest.raises(GenotypeError, match=expected):
        read_genotype_file(path)
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_a_non_utf8_file_names_the_byte(tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes(PAIR.format("[2]").replace("skip", "sk\xefp").encode("latin-1"))
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and str(path) in err and err.count("\n") == 1


def test_an_oversized_file_is_refused_reading_no_more_than_the_cap(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:  # sparse: the size is real, the disk is not used
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(GenotypeError, match="more than 16,777,216 bytes"):
        read_genotype_file(path)


def test_svg_drawings_are_bounded_and_dot_is_not(tmp_path, capsys):
    rng = random.Random(1)
    n = MAX_DRAWN_NODES + 1
    data = {"normal": random_cell(n, rng), "reduce": random_cell(n, rng)}
    for cell in data.values():
        cell["edges"] = [["sep_conv_3x3", s, d] for _, s, d in cell["edges"]]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    genotype = read_genotype_file(path)
    with pytest.raises(NatError, match=f"limited to {MAX_DRAWN_NODES}"):
        genotype_to_svg(genotype)
    assert main(["draw", str(path), "-o", str(tmp_path / "big.svg")]) == 2
    assert "limited to" in capsys.readouterr().err and not (tmp_path / "big.svg").exists()
    assert main(["draw", str(path), "-o", str(tmp_path / "big.dot")]) == 0


# -- files that try to run code ----------------------------------------------------------------------
class _Payload:
    """Pickles as a call to os.system: whoever unpickles it runs the command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def _one_line_refusal(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_pickled_payload_in_a_checkpoint_never_runs(tmp_path, capsys):
    import torch
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "nat-train-1", "model": _Payload(marker)}, run / "last.pt")
    err = _one_line_refusal(capsys, main(["evaluate", str(run)]))
    assert "not a nat checkpoint, or not one to trust" in err
    _one_line_refusal(capsys, main(["search", "--resume", "--out", str(run)]))
    _one_line_refusal(capsys, main(["transform", "DARTS", "--transformer", str(run / "last.pt")]))
    assert not marker.exists()


def test_a_yaml_tag_in_a_config_never_runs(tmp_path, capsys):
    marker = tmp_path / "ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f'lr: !!python/object/apply:os.system ["touch {marker}"]\n')
    code = main(["train", "DARTS", "--out", str(tmp_path / "r"), "--config", str(config), "--data", str(tmp_path)])
    _one_line_refusal(capsys, code)
    code = main(["search", "--out", str(tmp_path / "s"), "--config", str(config), "--data", str(tmp_path)])
    _one_line_refusal(capsys, code)
    assert not marker.exists()


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch {marker}')",
    "Genotype(normal=[('sep_conv_3x3', __import__('os').system('touch {marker}'))], normal_concat=[2], "
    "reduce=[], reduce_concat=[2])",
    "[(lambda: __import__('os').system('touch {marker}'))()]",
])
def test_genotype_text_with_code_never_runs(tmp_path, capsys, text):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.txt"
    path.write_text(text.format(marker=marker))
    _one_line_refusal(capsys, main(["show", str(path)]))
    assert not marker.exists()
