"""Several supernets judging as one.

A weight-sharing supernet's judgement of two close cells carries the noise of its own training
run (its seed, the order it saw architectures in): two supernets trained alike disagree on many
of the small differences that separate good cells. Averaging their predictions -- the mean of the
members' class probabilities, as a deep ensemble does -- keeps what they agree on. The
ensemble is itself a supernet to every caller: ``forward(x, genotype)`` returns log-probabilities
(valid logits: their cross-entropy is that of the averaged prediction) and ``check`` asks every
member. Members must have been trained on one 40/60 split, since candidates are judged on its
held-out part (:func:`nat.search.transform.pack_transformer` checks it).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..arch.genotype import Genotype

__all__ = ["SupernetEnsemble"]


class SupernetEnsemble(nn.Module):
    """The mean prediction of ``members`` (supernets of one space)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one supernet")
        self.members = nn.ModuleList(members)

    def check(self, genotype: Genotype) -> None:
        for member in self.members:
            member.check(genotype)

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        logp = torch.stack([F.log_softmax(m(x, genotype).float(), dim=-1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))
