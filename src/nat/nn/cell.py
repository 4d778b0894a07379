"""A cell of an evaluation network, built from a :class:`~nat.arch.genotype.Cell`.

Only what affects the output is built and run: null edges, edges out of dead nodes (all of
whose inputs are null) and nodes that reach no output are skipped, dead concat nodes are
dropped from the output (their channels would be constant zeros), and an input whose every
consumer was removed gets no preprocessing layer. No zero tensor is ever computed.
"""

from __future__ import annotations

import torch
from torch import nn

from ..arch.genotype import Cell
from .ops import build_op
from .ops import FactorizedReduce, ReLUConvBN

__all__ = ["EvalCell", "drop_path"]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (Larsson et al.)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class EvalCell(nn.Module):
    """One cell of a network trained from scratch.

    Args:
        cell: the cell's genotype.
        c_prev_prev: channels of the cell two back (input node 0).
        c_prev: channels of the previous cell (input node 1).
        channels: channels of every node inside this cell.
        reduction: whether this cell halves the resolution (edges out of the inputs stride 2).
        reduction_prev: whether the previous cell did, so input node 0 is twice as large.
    """

    def __init__(self, cell: Cell, *, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        computed = cell.computed_edges()
        used_inputs = {e.src for _, e in computed}
        self.preprocess0 = None
        if 0 in used_inputs:
            self.preprocess0 = (FactorizedReduce(c_prev_prev, channels) if reduction_prev
                                else ReLUConvBN(c_prev_prev, channels, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0) if 1 in used_inputs else None
        # Keyed by the edge's index in the genotype, so weights map back to edges.
        self.ops = nn.ModuleDict({
            str(i): build_op(e.op, channels, 2 if reduction and e.src < 2 else 1) for i, e in computed})
        self._edges = [(str(i), e.src, e.dst) for i, e in computed]
        self._nodes = sorted({e.dst for _, e in computed})
        self.outputs = cell.output_nodes()
        self.c_out = channels * len(self.outputs)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = {0: self.preprocess0(s0) if self.preprocess0 is not None else None,
                  1: self.preprocess1(s1) if self.preprocess1 is not None else None}
        for node in self._nodes:
            total = None
            for key, src, dst in self._edges:
                if dst != node:
                    continue
                op = self.ops[key]
                h = op(states[src])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states[node] = total
        return torch.cat([states[n] for n in self.outputs], dim=1)
