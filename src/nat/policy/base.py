"""What every NAT policy shares: a cell as tensors, masked distributions, sampling and argmax.

A policy maps a cell to logits over the three actions ``keep / skip / null`` of every edge
(:data:`nat.arch.rules.ACTIONS`). The rules' mask removes illegal and duplicate actions, so
sampling, the log-probability and the entropy all live on the distinct legal outcomes only.
``pi(alpha | beta)`` factorises over the edges of both cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch.genotype import CELL_TYPES, Cell, Genotype
from ..arch.rules import ACTIONS, action_mask, apply_actions
from ..errors import GenotypeError
from ..ops import OPS

__all__ = ["OP_VOCAB", "CellTensors", "Sample", "Policy", "encode_cell"]

#: Every registered op has an embedding, so any genotype (NAONet's ops too) can be encoded.
OP_VOCAB: tuple[str, ...] = tuple(sorted(OPS))
_OP_INDEX = {op: i for i, op in enumerate(OP_VOCAB)}


@dataclass
class CellTensors:
    """One cell as a policy sees it."""

    ops: torch.Tensor     # (E,) op index per edge in OP_VOCAB
    src: torch.Tensor     # (E,) source node
    dst: torch.Tensor     # (E,) target node
    mask: torch.Tensor    # (E, 3) legal, distinct actions
    n_nodes: int
    cell_type: int        # 0 normal, 1 reduction


def encode_cell(cell: Cell, cell_type: int, device: torch.device | str = "cpu", *,
                cost_aware: bool = False) -> CellTensors:
    """Tensors for ``cell``; with ``cost_aware`` the skip action is also masked where it would
    cost more than the edge's op (stride-2 edges of reduction cells, :func:`costlier_skips`)."""
    mask = action_mask(cell)
    if cost_aware:
        from ..cost import costlier_skips  # builds op modules once to measure them
        for i in costlier_skips(cell, reduction=cell_type == 1):
            mask[i, ACTIONS.index("skip")] = False
    return CellTensors(
        ops=torch.tensor([_OP_INDEX[e.op] for e in cell.edges], device=device),
        src=torch.tensor([e.src for e in cell.edges], device=device),
        dst=torch.tensor([e.dst for e in cell.edges], device=device),
        mask=torch.from_numpy(mask).to(device),
        n_nodes=cell.n_nodes, cell_type=cell_type)


@dataclass
class Sample:
    """One draw alpha ~ pi(. | beta).

    ``alpha`` is ``None`` when the drawn actions leave a cell whose output no longer depends on
    its inputs (e.g. every path through a VGG block removed): not an architecture at all.
    """

    alpha: Genotype | None
    actions: dict[str, torch.Tensor]
    log_prob: torch.Tensor  # scalar, differentiable
    entropy: torch.Tensor   # scalar, differentiable: sum of per-edge entropies


class Policy(nn.Module):
    """Base class: subclasses implement :meth:`cell_logits`."""

    name = "policy"
    #: mask skips that would cost more than the op they replace (see :func:`encode_cell`)
    cost_aware = True

    def cell_logits(self, cell: CellTensors) -> torch.Tensor:
        """Raw ``(E, 3)`` logits for one cell."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def logits(self, genotype: Genotype) -> dict[str, torch.Tensor]:
        """Masked logits per cell (``-inf`` on illegal, duplicate or cost-raising actions)."""
        out = {}
        for t, name in enumerate(CELL_TYPES):
            cell = encode_cell(getattr(genotype, name), t, self.device, cost_aware=self.cost_aware)
            out[name] = self.cell_logits(cell).masked_fill(~cell.mask, float("-inf"))
        return out

    def distributions(self, genotype: Genotype) -> dict[str, torch.Tensor]:
        """Per-edge action probabilities, ``(E, 3)`` per cell."""
        return {k: torch.softmax(v, dim=-1) for k, v in self.logits(genotype).items()}

    def _finish(self, beta: Genotype, logits: dict[str, torch.Tensor], actions: dict[str, torch.Tensor]) -> Sample:
        log_prob = entropy = 0
        for name, z in logits.items():
            logp = torch.log_softmax(z, dim=-1)
            log_prob = log_prob + logp.gather(1, actions[name][:, None]).sum()
            # masked actions have p = 0 and logp = -inf: zero their logp so neither the value
            # nor the gradient sees 0 * inf
            entropy = entropy - (logp.exp() * logp.masked_fill(torch.isinf(logp), 0.0)).sum()
        try:
            alpha = Genotype(*(apply_actions(getattr(beta, n), actions[n].tolist()) for n in CELL_TYPES))
        except GenotypeError:
            alpha = None
        return Sample(alpha, actions, log_prob, entropy)

    def sample(self, beta: Genotype, generator: torch.Generator | None = None) -> Sample:
        """Draw alpha ~ pi(. | beta) with its log-probability and the policy's entropy at beta."""
        logits = self.logits(beta)
        actions = {}
        for name, z in logits.items():
            probs = torch.softmax(z.detach(), dim=-1).cpu()
            actions[name] = torch.multinomial(probs, 1, generator=generator)[:, 0].to(z.device)
        return self._finish(beta, logits, actions)

    def log_prob_of(self, beta: Genotype, actions: dict[str, torch.Tensor]) -> Sample:
        """Log-probability and entropy of given actions (for tests and re-scoring)."""
        return self._finish(beta, self.logits(beta), actions)

    @torch.no_grad()
    def argmax(self, beta: Genotype) -> Sample:
        """The most probable action on every edge ("Maximum-GCN" in the paper's Table 3)."""
        logits = self.logits(beta)
        return self._finish(beta, logits, {k: v.argmax(dim=-1) for k, v in logits.items()})
