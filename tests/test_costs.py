"""Costing a cell stack part by part (``cell_stack_cost``) against building and counting it.

The part-by-part count is what every cost check of `nat transform` and `nat cost` now uses, so
it must equal the built network's counts exactly -- parameters, parameters with the auxiliary
head, and MAdds -- for every published genotype, both layouts, several sizes, and random cells
of both two-input spaces (dead nodes, loose ends, skips on stride-2 edges included).
"""

from __future__ import annotations

import random

import pytest
import torch

from nat.arch.space import get_space
from nat.arch.zoo import zoo
from nat.costs import cell_stack_cost, genotype_cost, network_cost
from nat.nn.network import CellNetwork, NetworkConfig

SMALL = [NetworkConfig("cifar10", 8, 5, auxiliary=True), NetworkConfig("cifar10", 6, 7, num_classes=3),
         NetworkConfig("imagenet", 8, 4, auxiliary=True)]


def _built(genotype, config):
    return network_cost(CellNetwork(genotype, config))


@pytest.mark.parametrize("name", sorted(zoo()))
def test_part_by_part_equals_the_built_network_for_every_zoo_genotype(name):
    genotype = zoo()[name].genotype
    for config in SMALL:
        assert cell_stack_cost(genotype, config) == _built(genotype, config), config


@pytest.mark.parametrize("space", ["darts", "loose-end"])
def test_part_by_part_equals_the_built_network_for_random_cells(space):
    rng = random.Random(f"costs-{space}")
    for _ in range(12):
        genotype = get_space(space).sample(rng)
        config = rng.choice(SMALL)
        assert cell_stack_cost(genotype, config) == _built(genotype, config)


def test_paper_sizes_and_the_published_figures():
    darts = zoo()["DARTS"].genotype
    cost = genotype_cost(darts)  # C=36, L=20: the DARTS paper's 3.3M parameters
    assert cost == _built(darts, NetworkConfig(auxiliary=True))
    assert round(cost.params / 1e6, 1) == 3.3
    imagenet = NetworkConfig("imagenet", auxiliary=True)  # C=48, L=14: 4.7M as published; MAdds 529.9M
    cost = cell_stack_cost(darts, imagenet)                # (the published 574M counts more: docs/reference/costs.md)
    assert (round(cost.params / 1e6, 1), round(cost.madds / 1e5)) == (4.7, 5299)


def test_costing_leaves_the_callers_random_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    cell_stack_cost(get_space("darts").sample(random.Random(7)), NetworkConfig("cifar10", 10, 6))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(zoo()))
def test_part_by_part_equals_the_built_network_at_the_paper_sizes(name):
    genotype = zoo()[name].genotype
    for dataset in ("cifar10", "imagenet"):
        config = NetworkConfig(dataset, auxiliary=True)
        assert cell_stack_cost(genotype, config) == _built(genotype, config)


@pytest.mark.parametrize("module, shape", [
    (torch.nn.Conv2d(6, 10, 3, stride=2, padding=1, groups=2, bias=True), (1, 6, 9, 9)),
    (torch.nn.Conv2d(4, 4, (1, 7), padding=(0, 3), dilation=1, groups=4, bias=False), (1, 4, 5, 5)),
    (torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, padding=4, dilation=2), torch.nn.ReLU(), torch.nn.Flatten(),
                         torch.nn.Linear(8 * 7 * 7, 11)), (1, 3, 7, 7)),
])
def test_the_part_counter_counts_as_flop_counter_mode_does(module, shape):
    # The part counter (forward hooks, no FlopCounterMode: see nat.nn.counting.count_by_hooks) against torch's
    # own counter, on grouped, strided, dilated, biased and rectangular kernels.
    from nat.nn.counting import count_by_hooks as _counted, count_madds
    params, madds, _ = _counted(module, torch.zeros(shape))
    assert madds == count_madds(module, torch.zeros(shape)) > 0
    assert params == sum(p.numel() for p in module.parameters())


def test_the_part_counter_refuses_a_layer_it_cannot_count():
    from nat.nn.counting import count_by_hooks as _counted
    with pytest.raises(TypeError, match="Conv1d"):
        _counted(torch.nn.Conv1d(2, 2, 3), torch.zeros(1, 2, 8))


def test_transforming_without_scoring_never_builds_the_supernet():
    # `nat transform ARCH` without --select-on must not pay for the packed supernet (about a
    # third of the command's time); asking for it builds it once.
    from nat.arch.zoo import get
    from nat.search.selection import Selection
    from nat.search.transform import load_transformer, transform
    t = load_transformer(None, get("DARTS").genotype)
    assert t.has_supernet and t._supernet is None
    transform(get("DARTS").genotype, t, Selection(greedy=True), cost_config=SMALL[0])
    assert t._supernet is None
    assert t.supernet is t.supernet is not None
