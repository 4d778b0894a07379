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
from ..errors import GenotypeError, NatError
from ..ops import OPS

__all__ = ["OP_VOCAB", "CellTensors", "Sample", "Policy", "PolicyDiverged", "encode_cell"]


class PolicyDiverged(NatError):
    """The policy's action probabilities are not finite (its weights blew up): nothing can be drawn."""

#: Every registered op has an embedding, so any genotype (NAONet's ops too) can be encoded. The
#: order is append-only -- the ops of the first release sorted, then later additions -- so a saved
#: policy's embedding rows keep their meaning (:meth:`Policy.load_state_dict` grows old tables).
_FIRST_VOCAB = ("avg_pool_2x2", "avg_pool_3x3", "avg_pool_5x5", "conv_1x1", "conv_1x3_3x1", "conv_1x7_7x1",
                "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_2x2", "max_pool_3x3", "null",
                "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "skip_connect")
OP_VOCAB: tuple[str, ...] = _FIRST_VOCAB + tuple(sorted(set(OPS) - set(_FIRST_VOCAB)))
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
        from ..costs import costlier_skips  # builds op modules once to measure them
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


def _probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax of one cell's logits, on the CPU for a seeded draw; refused when not finite (masked
    actions are -inf logits and 0 probabilities, which is fine; NaN or +inf is not)."""
    probs = torch.softmax(logits.detach(), dim=-1).cpu()
    if not bool(torch.isfinite(probs).all()):
        raise PolicyDiverged("the policy's action probabilities are not finite (its weights blew up)")
    return probs


class Policy(nn.Module):
    """Base class: subclasses implement :meth:`cell_logits`.

    Args:
        cost_aware: mask skips that would cost more than the op they replace (see
            :func:`encode_cell`).
        cell_types: the cells it decides: both, or in a tied space (NAS-Bench-201) the normal cell
            alone, which stands for every cell (``CellSpace.cell_types``).
    """

    name = "policy"

    def __init__(self, *, cost_aware: bool = True, cell_types: tuple[str, ...] = CELL_TYPES) -> None:
        super().__init__()
        unknown = [c for c in cell_types if c not in CELL_TYPES]
        if not cell_types or unknown:
            raise NatError(f"cell_types must name some of {', '.join(CELL_TYPES)}, got {list(cell_types)}")
        self.cost_aware = bool(cost_aware)
        self.cell_types = tuple(cell_types)

    def cell_logits(self, cell: CellTensors) -> torch.Tensor:
        """Raw ``(E, 3)`` logits for one cell."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def logits(self, genotype: Genotype, *, no_null: bool = False) -> dict[str, torch.Tensor]:
        """Masked logits per cell (``-inf`` on illegal, duplicate or cost-raising actions; with
        ``no_null`` also on turning an edge that carries an op into null)."""
        if len(self.cell_types) < len(CELL_TYPES) and genotype.normal != genotype.reduce:
            raise NatError("this policy decides one cell that stands for both (a tied space such as nb201), "
                           "but the input's normal and reduction cells differ")
        out = {}
        for name in self.cell_types:
            cell = encode_cell(getattr(genotype, name), CELL_TYPES.index(name), self.device,
                               cost_aware=self.cost_aware)
            mask = cell.mask
            if no_null:  # on a null edge "null" is "keep", already masked as its duplicate
                mask = mask.clone()
                mask[:, ACTIONS.index("null")] = False
            out[name] = self.cell_logits(cell).masked_fill(~mask, float("-inf"))
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
            cells = {n: apply_actions(getattr(beta, n), actions[n].tolist()) for n in self.cell_types}
            # in a tied space the decided cell is every cell
            alpha = Genotype(*(cells.get(n, cells[self.cell_types[0]]) for n in CELL_TYPES))
        except GenotypeError:
            alpha = None
        return Sample(alpha, actions, log_prob, entropy)

    def sample(self, beta: Genotype, generator: torch.Generator | None = None, *, no_null: bool = False) -> Sample:
        """Draw alpha ~ pi(. | beta) with its log-probability and the policy's entropy at beta
        (``no_null``: from the policy restricted to actions that make no edge null)."""
        logits = self.logits(beta, no_null=no_null)
        actions = {}
        for name, z in logits.items():
            probs = _probabilities(z)
            actions[name] = torch.multinomial(probs, 1, generator=generator)[:, 0].to(z.device)
        return self._finish(beta, logits, actions)

    def sample_many(self, beta: Genotype, n: int, generator: torch.Generator | None = None, *,
                    no_null: bool = False) -> list[Sample]:
        """``n`` independent draws alpha ~ pi(. | beta) sharing one forward pass (the logits depend
        on beta alone), each with its own differentiable log-probability."""
        logits = self.logits(beta, no_null=no_null)
        draws = {name: torch.multinomial(_probabilities(z), n, replacement=True,
                                         generator=generator).to(z.device) for name, z in logits.items()}
        return [self._finish(beta, logits, {name: d[:, i] for name, d in draws.items()}) for i in range(n)]

    def log_prob_of(self, beta: Genotype, actions: dict[str, torch.Tensor]) -> Sample:
        """Log-probability and entropy of given actions (for tests and re-scoring)."""
        return self._finish(beta, self.logits(beta), actions)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As :meth:`nn.Module.load_state_dict`; op embeddings saved before ops were added to the
        registry are grown to the current :data:`OP_VOCAB` (new rows keep their initialisation)."""
        state_dict = dict(state_dict)
        for key, current in self.state_dict().items():
            saved = state_dict.get(key)
            if key.endswith("op_embedding.weight") and saved is not None and saved.shape[0] < current.shape[0]:
                state_dict[key] = torch.cat([saved.to(current), current[saved.shape[0]:]])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @torch.no_grad()
    def argmax(self, beta: Genotype, *, no_null: bool = False) -> Sample:
        """The most probable action on every edge ("Maximum-GCN" in the paper's Table 3)."""
        logits = self.logits(beta, no_null=no_null)
        return self._finish(beta, logits, {k: v.argmax(dim=-1) for k, v in logits.items()})
