"""SynFlow and the combined score: against hand computations and properties that could fail."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from nat.arch import nb201
from nat.search.proxies import Combined, synflow, synflow_of


def _mlp(res: int, hidden: int = 5, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * res * res, hidden, bias=False), nn.ReLU(),
                         nn.Linear(hidden, 2, bias=False))


def test_synflow_of_a_two_layer_net_is_twice_its_positive_output():
    # With every weight made positive, R = 1' |W2| |W1| 1 is homogeneous of degree 2 in the weights,
    # so sum theta * dR/dtheta = 2 R (Euler): the score is log(2 R), computed here by hand in numpy.
    res = 3
    model = _mlp(res)
    w1 = model[1].weight.detach().double().abs().numpy()
    w2 = model[3].weight.detach().double().abs().numpy()
    r = float(np.ones(2) @ w2 @ w1 @ np.ones(3 * res * res))
    assert synflow(model, res) == pytest.approx(math.log(2 * r), rel=1e-12)


def test_synflow_leaves_the_model_untouched():
    model = _mlp(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    synflow(model, 2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any((v < 0).any() for v in before.values())  # there were negative weights to flip
    assert all(p.grad is None for p in model.parameters())
    assert model.training and next(model.parameters()).dtype == torch.float32


def test_synflow_refuses_a_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        synflow(_mlp(2), 0)


def _nb201_synflow(ops: list[str]) -> float:
    return synflow_of(nb201.to_genotype(ops), dataset="cifar10", channels=8, layers=3, resolution=8)


def test_synflow_of_is_a_pure_function_of_the_genotype():
    ops = ["nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "skip_connect"]
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = _nb201_synflow(ops)
    assert torch.equal(torch.rand(1), expected_next)  # the caller's random stream is not disturbed
    assert _nb201_synflow(ops) == a


@pytest.mark.parametrize("seed", range(4))
def test_removing_a_skip_never_adds_flow(seed):
    # Every weight and activation is positive, so each path from input to output contributes a
    # positive term; a skip -> null move only deletes paths (and no parameters, so every other
    # weight is drawn the same): the score can only fall. Random cells, every skip edge.
    rng = random.Random(seed)
    ops = [rng.choice(nb201.BENCH_OPS) for _ in range(6)]
    ops[rng.randrange(6)] = "skip_connect"
    base = _nb201_synflow(ops)
    for edge, op in enumerate(ops):
        if op == "skip_connect":
            cut = list(ops)
            cut[edge] = "none"
            assert _nb201_synflow(cut) <= base + 1e-12


def test_combined_adds_the_proxy_in_the_fits_points():
    fits, proxies = [20.0, 30.0, 40.0], [1.0, 2.0, 3.0]  # std 10 and 1
    combine = Combined.fitted(fits, proxies)
    assert combine.fit_std == pytest.approx(10.0) and combine.proxy_mean == pytest.approx(2.0)
    assert combine(25.0, 2.0) == pytest.approx(25.0)  # proxy at its mean: the fit unchanged
    assert combine(25.0, 2.5) == pytest.approx(30.0)  # half a standard deviation = 5 fit points
    assert Combined.fitted(fits, proxies, weight=0.0)(25.0, 9.0) == pytest.approx(25.0)
    assert combine(99.0, -math.inf) == -math.inf  # no flow at all loses to everything


def test_combined_ranks_as_the_sum_of_standard_scores():
    rng = np.random.default_rng(0)
    fits, proxies = rng.normal(30, 5, 50), rng.normal(20, 2, 50)
    combine = Combined.fitted(fits, proxies)
    z = (fits - fits.mean()) / fits.std(ddof=1) + (proxies - proxies.mean()) / proxies.std(ddof=1)
    ours = np.array([combine(f, p) for f, p in zip(fits, proxies)])
    assert (np.argsort(ours) == np.argsort(z)).all()


@pytest.mark.parametrize("fits, proxies, match", [([1.0], [2.0], "at least two"),
                                                   ([1.0, 2.0], [3.0, 3.0], "all score the same"),
                                                   ([1.0, math.nan], [1.0, 2.0], "at least two")])
def test_combined_refuses_references_without_a_scale(fits, proxies, match):
    with pytest.raises(ValueError, match=match):
        Combined.fitted(fits, proxies)
