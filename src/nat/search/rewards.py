"""Rewards: how well an architecture does under the shared weights, measured honestly.

Two scores. ``accuracy`` (the paper's): top-1 on the held-out batches. ``fit``: ``exp(-mean
cross-entropy)``, also in (0, 1], higher is better. On NAS-Bench-201 the fit decides one-edge
moves far better than the accuracy on the same images: ranking every cell's legal
transformations by a supernet's fit on 256 images gains +1.7 true points, by its accuracy
-0.05 (README, "Making NAT improve cells"): an image more or less right is a coarse, noisy
signal, while the loss moves with every image.

No gradients, no augmentation, held-out batches, and batch statistics in every BatchNorm (the
supernet keeps no running averages; see :mod:`nat.search.supernet`). Under DDP each rank scores
its own batches and the accuracies are averaged, so every rank sees the same reward.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ..arch.genotype import Genotype
from ..runtime.distributed import Dist
from .config import SCORES
from .supernet import Supernet

__all__ = ["SCORES", "accuracy", "fit", "score", "image_losses", "paired_z"]

Batch = tuple[torch.Tensor, torch.Tensor]


@torch.no_grad()
def accuracy(supernet: Supernet, genotype: Genotype, batches: Sequence[Batch], dist: Dist | None = None) -> float:
    """Top-1 accuracy in [0, 1] of ``genotype`` on ``batches``."""
    correct = total = 0
    for x, y in batches:
        correct += (supernet(x, genotype).argmax(dim=1) == y).sum().item()
        total += len(y)
    value = torch.tensor(correct / max(total, 1), dtype=torch.float64)
    return float(dist.all_reduce_mean(value)) if dist is not None else float(value)


@torch.no_grad()
def fit(supernet: Supernet, genotype: Genotype, batches: Sequence[Batch], dist: Dist | None = None) -> float:
    """``exp(-mean cross-entropy)`` in (0, 1] of ``genotype`` on ``batches``."""
    loss = total = 0.0
    for x, y in batches:
        loss += F.cross_entropy(supernet(x, genotype).float(), y, reduction="sum").item()
        total += len(y)
    value = torch.tensor(loss / max(total, 1), dtype=torch.float64)
    mean_loss = float(dist.all_reduce_mean(value)) if dist is not None else float(value)
    return math.exp(-mean_loss)


def score(kind: str, supernet: Supernet, genotype: Genotype, batches: Sequence[Batch],
          dist: Dist | None = None) -> float:
    """The score named ``kind`` (one of :data:`SCORES`)."""
    if kind == "accuracy":
        return accuracy(supernet, genotype, batches, dist)
    if kind == "fit":
        return fit(supernet, genotype, batches, dist)
    raise ValueError(f"score must be one of {', '.join(SCORES)}, got {kind!r}")


@torch.no_grad()
def image_losses(supernet: Supernet, genotype: Genotype, batches: Sequence[Batch]) -> torch.Tensor:
    """The cross-entropy of every image of ``batches``, in order (float64): what ``fit`` averages."""
    return torch.cat([F.cross_entropy(supernet(x, genotype).float(), y, reduction="none").double()
                      for x, y in batches])


def paired_z(reference: torch.Tensor, other: torch.Tensor) -> float:
    """How many standard errors ``other``'s mean loss lies below ``reference``'s, image by image.

    Both are per-image losses of two cells on the *same* images (``image_losses``), so the
    difference is paired: the images' own difficulty cancels, and what is left is whether one
    cell's advantage is larger than its spread over the images would give by chance. Positive:
    ``other`` is better. The unit carries over between supernets and data sets, where a fixed
    margin in points of fit does not (a supernet whose fit is 22 moves less than one at 60).
    """
    if reference.shape != other.shape or reference.numel() < 2:
        raise ValueError(f"paired_z needs two loss vectors of one length >= 2, got {tuple(reference.shape)} "
                         f"and {tuple(other.shape)}")
    d = (reference - other).double()
    mean, se = float(d.mean()), float(d.std(unbiased=True)) / math.sqrt(d.numel())
    if se == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / se
