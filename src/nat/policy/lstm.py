"""The LSTM policy the paper compares against (Sec. 3.3, Table 3).

As in the NAS controllers it stands for (Zoph & Le; Pham et al.), the cell is read as a token
sequence: a cell-type token, then one token per edge in the listed order, each the sum of
embeddings of its op, its source node and its target node. A unidirectional LSTM reads the
sequence and a linear layer turns the output at each edge token into that edge's logits, so an
edge sees only what came before it -- the loss of graph structure the paper argues against.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import OP_VOCAB, CellTensors, Policy

__all__ = ["LSTMPolicy"]

MAX_NODES = 16


class LSTMPolicy(Policy):
    """Args: hidden: LSTM width."""

    name = "lstm"

    def __init__(self, *, hidden: int = 64, **settings) -> None:
        super().__init__(**settings)
        self.op_embedding = nn.Embedding(len(OP_VOCAB), hidden)
        self.src_embedding = nn.Embedding(MAX_NODES, hidden)
        self.dst_embedding = nn.Embedding(MAX_NODES, hidden)
        self.cell_embedding = nn.Embedding(2, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 3)

    def cell_logits(self, cell: CellTensors) -> torch.Tensor:
        tokens = self.op_embedding(cell.ops) + self.src_embedding(cell.src) + self.dst_embedding(cell.dst)
        start = self.cell_embedding.weight[cell.cell_type][None]
        out, _ = self.lstm(torch.cat([start, tokens])[None])
        return self.head(out[0, 1:])
