"""Training-free scores of an architecture, and how one is combined with the supernet's fit.

Why a second opinion: a weight-sharing supernet trained on a CPU budget judges parameter-free
moves well but under-rates convolutions -- on NAS-Bench-201 it calls "conv -> skip" neutral
where full training says it costs about 4 points (README, "Making NAT improve cells"). SynFlow
(Tanaka et al. 2020; as an architecture score, Abdelfattah et al., "Zero-Cost Proxies for
Lightweight NAS", 2021) has the opposite strengths: it needs no data and no training, it ranks
convolution moves well, and it misjudges poolings against skips. Their sum in standard units
(:class:`Combined`) keeps the strengths of both.

SynFlow of a network with parameters ``theta``: make every weight positive, feed one all-ones
image in float64, let ``R`` be the sum of the logits, and return ``log sum |theta * dR/dtheta|``.
BatchNorm runs in eval mode, which at initialisation is the identity (no batch statistics of a
constant image). The network is a fresh copy built from the genotype at the supernet's size,
with a fixed seed, so the score is a pure function of (genotype, size).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from ..arch.genotype import Genotype
from .config import PROXIES

__all__ = ["PROXIES", "synflow", "synflow_of", "Combined"]


def synflow(model: nn.Module, resolution: int, *, in_channels: int = 3) -> float:
    """The log SynFlow score of ``model`` (left untouched: the score is taken on a copy)."""
    if resolution < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    with torch.enable_grad():
        out = net(torch.ones(1, in_channels, resolution, resolution, dtype=torch.float64))
        out = out[0] if isinstance(out, tuple) else out  # networks with an auxiliary head
        out.sum().backward()
    total = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
    if not total > 0 or not math.isfinite(total):
        # a cell whose output does not depend on its input (every path null) has no flow at all
        return -math.inf if total == 0 else math.nan
    return math.log(total)


def synflow_of(genotype: Genotype, *, dataset: str, channels: int, layers: int, resolution: int,
               seed: int = 0) -> float:
    """SynFlow of the network ``genotype`` describes, built at the given size with ``seed``."""
    from ..factory import build_model

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = build_model(genotype, dataset, channels=channels, layers=layers)
    finally:
        torch.random.set_rng_state(state)
    return synflow(model, resolution)


@dataclass(frozen=True)
class Combined:
    """``fit + weight * std_fit * (proxy - mean_proxy) / std_proxy``: the fit, plus the proxy's
    deviation from its mean expressed in the fit's own points.

    Up to the fit's mean and scale this is the sum of the two scores in standard units, so neither
    dominates by its units; keeping the fit's points lets margins stay in points. The means and
    standard deviations come from a reference sample of architectures drawn without looking at
    any answer (:meth:`fitted`). ``weight=1`` (equal weight) is the default and the value measured
    in the README; it was not tuned.
    """

    fit_std: float
    proxy_mean: float
    proxy_std: float
    weight: float = 1.0

    @classmethod
    def fitted(cls, fits: Sequence[float], proxies: Sequence[float], weight: float = 1.0) -> "Combined":
        pairs = [(f, p) for f, p in zip(fits, proxies) if math.isfinite(f) and math.isfinite(p)]
        if len(pairs) < 2:
            raise ValueError("a combined score needs at least two reference architectures with finite scores")
        f = torch.tensor([a for a, _ in pairs], dtype=torch.float64)
        p = torch.tensor([b for _, b in pairs], dtype=torch.float64)
        fs, ps = float(f.std()), float(p.std())
        if fs == 0 or ps == 0:
            raise ValueError("the reference architectures all score the same: no scale to standardise by")
        return cls(fs, float(p.mean()), ps, weight)

    def __call__(self, fit: float, proxy: float) -> float:
        if proxy == -math.inf:  # no flow at all: worse than any architecture with some
            return -math.inf
        return fit + self.weight * self.fit_std * (proxy - self.proxy_mean) / self.proxy_std

    def scorer(self, fit: Callable[[Genotype], float], proxy: Callable[[Genotype], float]) -> Callable[[Genotype], float]:
        """A score of genotypes, for ranking candidates and for refinement."""
        return lambda g: self(fit(g), proxy(g))
