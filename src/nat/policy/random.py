"""The paper's "Random Search" baseline: uniform over the legal, distinct actions of each edge."""

from __future__ import annotations

import torch

from .base import CellTensors, Policy

__all__ = ["RandomPolicy"]


class RandomPolicy(Policy):
    """No parameters; every legal outcome of an edge is equally likely."""

    name = "random"

    def cell_logits(self, cell: CellTensors) -> torch.Tensor:
        return torch.zeros(cell.mask.shape, device=cell.mask.device)
