"""The public face: ``import nat`` and one call each to resolve, build, cost and transform.

What these pin: the calls accept every kind of ARCH the commands do; the network built is the
network costed -- and trained -- for every kind of network (the drift that once trained a
NAS-Bench-201 cell as a DARTS cell stack); the command line prints what the call returns; and
``import nat`` stays light.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import nat
from nat.arch import nb201
from nat.cli import build_parser, main
from nat.arch.formats import genotype_to_dict
from nat.costs import count_madds, count_params
from nat.errors import NatError
from nat.nn.nb201 import NB201Network
from nat.nn.network import CellNetwork

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_import_nat_is_light_and_names_its_api():
    code = "import nat, sys; print('torch' in sys.modules); print(sorted(set(nat.__all__) - set(dir(nat))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "[]"]  # no torch until a call needs it; every public name is there
    with pytest.raises(AttributeError, match="no attribute 'tranform'"):
        nat.tranform  # noqa: B018  (a typo is an AttributeError, not a lazy import of nothing)


@pytest.mark.parametrize("arch, size, kind", [
    ("DARTS", {"channels": 8, "layers": 5}, CellNetwork),        # a DARTS-space cell stack
    ("ResBlock", {"channels": 8, "layers": 5}, CellNetwork),     # a loose-end cell: the same cell stack
    (EXAMPLE, {}, NB201Network),                                 # the benchmark's own network, C=16, L=15
    ("ResNet20", {}, None),                                      # the hand-crafted network of Table 1
])
def test_the_network_built_is_the_network_costed(arch, size, kind):
    torch.manual_seed(0)
    model = nat.build_model(arch, **size)
    if kind is not None:
        assert isinstance(model, kind)
    cost = nat.cost(arch, **size)
    assert count_params(model) == cost.params
    assert count_madds(model.eval(), torch.zeros(1, 3, 32, 32)) == cost.madds


def test_a_nas_bench_201_cell_trains_as_the_network_it_is_costed_as(tmp_path):
    """`nat train STRING` once built the DARTS cell stack (C=36, L=20) while `nat cost` reported
    the benchmark's network: the plan now resolves the benchmark's size, and the trainer's model
    is that network, parameter for parameter."""
    from nat.cli.train import _plan
    from nat.train.model import build_model
    args = build_parser().parse_args(["train", EXAMPLE, "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    (_, genotype, cfg, _, _), = _plan(args)[0]
    assert (cfg.channels, cfg.layers) == (16, 15)
    model = build_model(genotype, cfg, 10)
    assert isinstance(model, NB201Network) and count_params(model) == nat.cost(EXAMPLE).params
    args = build_parser().parse_args(["train", EXAMPLE, "-C", "8", "--data", str(tmp_path), "--out", str(tmp_path / "s")])
    (_, _, asked, _, _), = _plan(args)[0]
    assert (asked.channels, asked.layers) == (8, 15)  # a size asked for is kept


def test_resolve_takes_every_kind_of_arch(tmp_path):
    genotype = nb201.genotype_from_string(EXAMPLE)
    assert nat.resolve(genotype) == ("genotype", genotype)
    assert nat.resolve(EXAMPLE)[1] == genotype
    assert nat.resolve("darts")[0] == "DARTS"
    assert nat.resolve("ResNet20")[0] == "ResNet20"  # a backbone: its block cell
    path = tmp_path / "cell.txt"
    path.write_text(EXAMPLE)
    assert nat.resolve(path)[1] == genotype
    with pytest.raises(NatError):
        nat.resolve("NoSuchNet")


def test_transform_is_what_the_command_prints(capsys):
    result = nat.transform(EXAMPLE, candidates=3, seed=4)
    assert result.label == EXAMPLE.strip() and result.size == {"dataset": "cifar10", "channels": 16, "layers": 15}
    assert result.cost_after.params <= result.cost_before.params
    assert main(["transform", EXAMPLE, "--candidates", "3", "--seed", "4", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["changed"] == result.changed and printed["cost_after"] == result.cost_after.as_dict()
    same = nat.transform(nb201.genotype_from_string(EXAMPLE), nat.load_transformer(None, EXAMPLE), candidates=3,
                         seed=4)  # a Genotype and a loaded transformer give the same answer
    assert same.genotype == result.genotype and same.label == "genotype"


def test_transform_names_misuse():
    with pytest.raises(NatError, match="--select-on"):
        nat.transform(EXAMPLE, refine=True)
    with pytest.raises(NatError, match="--channels must be even"):
        nat.transform("DARTS", channels=9)
    with pytest.raises(NatError, match="do not apply"):
        nat.cost("ResNet20", channels=8)
    with pytest.raises(NatError, match="unknown dataset"):
        nat.build_model("DARTS", "mnist")


def test_the_shipped_loose_end_transformer_keeps_resnet20_and_carries_its_supernet():
    """The previous loose-end policy turned a 3x3 convolution of ResNet20's block into a skip (11
    points lost from scratch); the fit + SynFlow policy keeps every edge unscored, and its file
    carries the supernet that --select-on scores with."""
    import nat
    from nat.search.transform import load_transformer
    result = nat.transform("ResNet20")
    assert result.genotype == nat.resolve("ResNet20")[1]
    assert result.notes[0].startswith("caution: the shipped loose-end transformer keeps cells unchanged")
    assert "57.80%" in result.notes[0] and "60.00%" in result.notes[0]
    assert not any(n.startswith("caution") for n in nat.transform("DARTS").notes)
    assert load_transformer(None, nat.resolve("ResBlock")[1]).supernet is not None


@pytest.mark.parametrize("module, forbidden", [
    ("nat.arch.space", ("nat.nn", "nat.search", "nat.nasbench", "nat.cli")),   # data names no code above it
    ("nat.arch.nb201_table", ("nat.nn", "nat.search", "nat.nasbench", "nat.cli")),
    ("nat.search.transform", ("nat.nasbench", "nat.cli")),                    # the library never imports the CLI
    ("nat.search.trainer", ("nat.nasbench", "nat.cli")),
    ("nat.api", ("nat.cli", "nat.nasbench")),
])
def test_layers_import_only_downwards(module, forbidden):
    code = (f"import sys, {module}; print(sorted({{m for m in sys.modules if m.startswith({forbidden!r})}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def test_each_space_has_its_network_and_supernet_registered_by_the_layer_that_builds_it():
    from nat.nn.nb201 import NB201Network
    from nat.nn.network import CellNetwork
    from nat.nn.registry import network_class
    from nat.search.supernet import Supernet
    from nat.search.supernets import supernet_class
    from nat.search.supernet_nb201 import NB201Supernet
    assert network_class("nb201") is NB201Network and network_class("darts") is CellNetwork
    assert network_class("loose-end") is CellNetwork
    assert supernet_class("nb201") is NB201Supernet and supernet_class("darts") is Supernet


# -- genotypes as DARTS users hold them ------------------------------------------------------------------
def _darts_namedtuple():
    from collections import namedtuple
    Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")  # as DARTS's genotypes.py
    g = nat.resolve("DARTS")[1]
    pairs = lambda cell: [(e.op, e.src) for e in cell.edges]  # noqa: E731
    return Genotype(normal=pairs(g.normal), normal_concat=range(2, 6), reduce=pairs(g.reduce),
                    reduce_concat=range(2, 6))


def test_a_darts_namedtuple_is_an_arch():
    held = _darts_namedtuple()
    assert nat.resolve(held)[1] == nat.resolve("DARTS")[1]
    assert nat.cost(held) == nat.cost("DARTS")
    assert nat.transform(held, candidates=2).input == nat.resolve("DARTS")[1]


@pytest.mark.parametrize("form", ["darts", "darts-py", "triples"])
def test_genotype_text_given_inline_is_read_not_taken_for_a_file(capsys, form):
    from nat.cli import main
    assert main(["show", "NAT_DARTS", "--format", form]) == 0
    text = capsys.readouterr().out.strip()
    assert len(text) > 256  # longer than a file name may be
    assert main(["show", text, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == json.loads(json.dumps(genotype_to_dict(nat.resolve("NAT_DARTS")[1])))
    assert main(["cost", text, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == nat.cost("NAT_DARTS").params


def test_darts_none_is_null_both_ways(tmp_path, capsys):
    from nat.cli import main
    assert main(["show", "NAT_DARTS", "--format", "darts-py"]) == 0
    line = capsys.readouterr().out
    assert "('none', 2)" in line and "null" not in line  # what DARTS code bases can load
    path = tmp_path / "genotypes.py"
    path.write_text("from collections import namedtuple\n" + line)
    assert nat.resolve(str(path))[1] == nat.resolve("NAT_DARTS")[1]


def test_a_long_name_that_is_no_file_is_one_line(capsys):
    from nat.cli import main
    assert main(["show", "x" * 300]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nat: error:") and err.count("\n") == 1
