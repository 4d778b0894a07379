"""Rewards: the accuracy of an architecture under the shared weights, measured honestly.

No gradients, no augmentation, held-out batches, and batch statistics in every BatchNorm (the
supernet keeps no running averages; see :mod:`nat.search.supernet`). Under DDP each rank scores
its own batches and the accuracies are averaged, so every rank sees the same reward.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..arch.genotype import Genotype
from ..runtime.distributed import Dist
from .supernet import Supernet

__all__ = ["accuracy"]

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
