"""Genotypes: validation, value semantics and every file format, over the whole zoo."""

import json
from pathlib import Path

import pytest

from nat.arch import (Cell, Edge, Genotype, format_pairs, format_triples, genotype_from_dict,
                      genotype_to_dict, parse_text, read_genotype_file, validate, write_genotype_file)
from nat.arch import zoo
from nat.errors import GenotypeError

SHARED_ZOO = Path(__file__).resolve().parents[2] / "shared" / "zoo" / "genotypes.json"
ZOO = zoo.names()


def test_zoo_has_all_22_entries_with_sources():
    assert len(ZOO) == 22
    assert all(zoo.get(n).source for n in ZOO)


def test_embedded_zoo_matches_the_shared_file():
    if not SHARED_ZOO.exists():
        pytest.skip("shared zoo not present")
    shared = json.loads(SHARED_ZOO.read_text())["genotypes"]
    assert list(shared) == ZOO
    for name, raw in shared.items():
        assert genotype_from_dict(raw) == zoo.get(name).genotype


def test_lookup_is_case_insensitive():
    assert zoo.get("nat_darts") is zoo.get("NAT_DARTS")


@pytest.mark.parametrize("name", ZOO)
def test_round_trip_every_format(name, tmp_path):
    g = zoo.get(name).genotype
    assert genotype_from_dict(json.loads(json.dumps(genotype_to_dict(g)))) == g
    assert parse_text(format_triples(g)) == g
    assert parse_text(format_pairs(g)) == g
    assert parse_text(g.canonical()) == g
    for suffix, fmt in ((".json", None), (".txt", "triples"), (".py", "darts")):
        path = tmp_path / f"g{suffix}"
        write_genotype_file(g, path, fmt)
        assert read_genotype_file(path) == g


def test_equality_ignores_edge_order_but_not_ops():
    g = zoo.get("DARTS").genotype
    shuffled = Cell(reversed(g.normal.edges), reversed(g.normal.concat))
    assert Genotype(shuffled, g.reduce) == g
    assert hash(Genotype(shuffled, g.reduce)) == hash(g)
    assert Genotype(shuffled, g.reduce).digest == g.digest
    assert zoo.get("NAT_DARTS").genotype != g
    assert len({zoo.get(n).genotype.digest for n in ZOO}) == len(ZOO)  # all 22 differ


def test_genotype_is_immutable():
    g = zoo.get("DARTS").genotype
    with pytest.raises(AttributeError):
        g.normal = g.reduce
    with pytest.raises(AttributeError):
        g.normal.edges = ()


def test_darts_pair_form_as_published():
    text = """DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0),
        ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],
        normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2),
        ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)],
        reduce_concat=range(2, 6))"""
    assert parse_text(text) == zoo.get("DARTS").genotype


def test_loose_ends_are_derived_when_concat_is_missing():
    g = zoo.get("ENAS").genotype
    derived = Genotype.from_edges(g.normal.edges, g.reduce.edges)
    assert derived.normal.concat == (2, 3, 4, 5, 6)
    assert derived.reduce.concat == (2, 3, 6)
    assert derived == g


# -- bad input ----------------------------------------------------------------------------------
GOOD = [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2), ("conv_3x3", 0, 3), ("max_pool_3x3", 2, 3)]


def _text(normal, concat="[2, 3]"):
    return f"Genotype(normal={normal!r}, normal_concat={concat}, reduce={GOOD!r}, reduce_concat=[2, 3])"


@pytest.mark.parametrize("normal, concat, expected", [
    ([("sep_conv_9x9", 0, 2)] + GOOD[1:], "[2, 3]", "unknown op 'sep_conv_9x9' (known ops: avg_pool_2x2"),
    (GOOD[:3] + [("max_pool_3x3", 3, 3)], "[2, 3]", "not after its source"),
    (GOOD[:3] + [("max_pool_3x3", 0, 1)], "[2, 3]", "cannot end in input node 1"),
    (GOOD, "[2, 7]", "concat names node 7"),
    (GOOD[:2] + [("conv_3x3", 0, 4), ("conv_3x3", 1, 4)], "[2, 4]", "node 3 has no incoming edge"),
    ([("null", 0, 2), ("null", 1, 2), ("null", 0, 3), ("null", 2, 3)], "[2, 3]", "does not depend on its inputs"),
])
def test_bad_cells_are_located(normal, concat, expected, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(_text(normal, concat))
    with pytest.raises(GenotypeError) as err:
        read_genotype_file(path)
    message = str(err.value)
    assert expected in message
    assert message.startswith(f"{path}: normal cell")
    assert "\n" not in message


def test_error_names_the_edge():
    with pytest.raises(GenotypeError, match=r"normal cell: edge 3 \('max_pool_3x3', 3, 3\): edge goes into node 3"):
        parse_text(_text(GOOD[:3] + [("max_pool_3x3", 3, 3)]))


def test_two_inputs_rule_belongs_to_the_space():
    three = GOOD + [("conv_3x3", 1, 3)]
    g = parse_text(_text(three))  # a valid genotype in general ...
    with pytest.raises(GenotypeError, match="intermediate node 3 has 3 incoming edges"):
        validate(g, "darts")  # ... but not in the DARTS-style spaces


@pytest.mark.parametrize("text, expected", [
    ("__import__('os').system('touch PWNED')", "expected Genotype"),
    ("Genotype(normal=__import__('os').system('touch PWNED'), reduce=[])", "unsupported expression"),
    ("Genotype(normal=[('conv_3x3', 0, 2)], reduce=[], x=1)", "fields"),
    ("Genotype(normal=[('conv_3x3', 0, 2)", "malformed genotype text"),
    ("Genotype(normal=[('conv_3x3', 0)], reduce=[('conv_3x3', 0, 2), ('conv_3x3', 1)])", r"must all be \(op, from\) pairs"),
    ("import os", "or a genotypes.py with NAME = Genotype"),
])
def test_malformed_text_is_rejected_not_run(text, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GenotypeError, match=expected):
        parse_text(text)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content, expected", [
    ("{not json", "malformed JSON"),
    ('{"normal": {"edges": []}}', "missing 'reduce' cell"),
    ('{"normal": {"edges": [["conv_3x3", 0]]}, "reduce": {"edges": []}}', "expected [op, from_node, to_node]"),
    ('{"genotypes": {"A": {}}}', "choose one with --name"),
])
def test_malformed_json(content, expected, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(GenotypeError) as err:
        read_genotype_file(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_zoo_layout_file_with_name():
    if not SHARED_ZOO.exists():
        pytest.skip("shared zoo not present")
    assert read_genotype_file(SHARED_ZOO, "nat_enas") == zoo.get("NAT_ENAS").genotype
    with pytest.raises(GenotypeError, match="no genotype named 'nope'"):
        read_genotype_file(SHARED_ZOO, "nope")


def test_missing_file():
    with pytest.raises(GenotypeError, match="cannot read the genotype file"):
        read_genotype_file("/nonexistent/g.json")


def test_edges_are_plain_tuples():
    e = zoo.get("DARTS").genotype.normal.edges[0]
    assert e == Edge("sep_conv_3x3", 0, 2) == ("sep_conv_3x3", 0, 2)


# -- DARTS-style genotypes.py files ----------------------------------------------------------------


DARTS_FILE = Path(__file__).parent / "data" / "darts_genotypes.py"


def test_a_darts_genotypes_file_lists_its_entries_and_picks_one_by_name():
    from nat.arch.formats import genotype_entries, read_genotype_file
    text = DARTS_FILE.read_text()
    assert genotype_entries(text) == ["NASNet", "DARTS_V1", "DARTS_V2", "DARTS"]
    assert read_genotype_file(DARTS_FILE, "darts_v2") == read_genotype_file(DARTS_FILE, "DARTS")  # the alias
    assert read_genotype_file(DARTS_FILE, "DARTS") == zoo.get("DARTS").genotype  # the published DARTS (V2)
    nasnet = read_genotype_file(DARTS_FILE, "NASNet")
    assert list(nasnet.normal.concat) == [2, 3, 4, 5, 6] and list(nasnet.reduce.concat) == [4, 5, 6]


def test_a_darts_genotypes_file_without_a_name_says_which_names_there_are(capsys):
    from nat.cli import main
    assert main(["show", str(DARTS_FILE)]) == 2
    err = capsys.readouterr().err
    assert "holds 4 genotypes; choose one with --name (one of: NASNet, DARTS_V1, DARTS_V2, DARTS)" in err
    assert main(["show", str(DARTS_FILE), "--name", "PDARTS"]) == 2
    assert "no genotype named 'PDARTS' (names: NASNet, DARTS_V1, DARTS_V2, DARTS)" in capsys.readouterr().err


def test_statements_of_a_genotypes_file_are_never_run(tmp_path):
    from nat.arch.formats import read_genotype_file
    marker = tmp_path / "ran"
    text = DARTS_FILE.read_text() + f"\nimport os\nos.system('touch {marker}')\nX = Genotype(**__import__('os').environ)\n"
    path = tmp_path / "genotypes.py"
    path.write_text(text)
    assert read_genotype_file(path, "DARTS") == zoo.get("DARTS").genotype
    with pytest.raises(GenotypeError, match="X: malformed genotype text"):
        read_genotype_file(path, "X")
    assert not marker.exists()


@pytest.mark.parametrize("name", zoo.names())
def test_the_genotypes_py_line_round_trips(name, tmp_path):
    from nat.arch.formats import format_assignment, read_genotype_file
    genotype = zoo.get(name).genotype
    path = tmp_path / "genotypes.py"
    path.write_text(DARTS_FILE.read_text() + "\n" + format_assignment(genotype, name) + "\n")
    assert read_genotype_file(path, name) == genotype
