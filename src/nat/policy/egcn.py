"""An edge-conditioned graph convolutional policy: messages that know the op they travel along.

The paper's GCN (:mod:`.gcn`) mixes vertex features with one normalised adjacency matrix, so
what an edge carries enters only through the mean op embedding of a vertex's incoming edges:
"a 3x3 conv from the input and a skip from node 2" and "a skip from the input and a 3x3 conv
from node 2" look alike. On NAS-Bench-201 the best move on an edge depends on exactly that (a
skip into the output is worth keeping when the other paths hold convolutions, removing it when
they are pools), and the paper's GCN cannot even be *taught* the best moves by supervision
(24% of the oracle's gain, against 47% for the per-op rule; experiments/nb201_learner.py, README).

Here each layer sends a message along every edge, in both directions, computed from the
sender's features *and the edge's op* (a relational graph convolution, Schlichtkrull et al.
2018), averaged per receiver, added to the receiver's features (residual) and normalised. Each
edge is scored from its endpoints, its op, the cell type and a readout of the whole graph.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import OP_VOCAB, CellTensors, Policy

__all__ = ["EdgeGCNPolicy"]

MAX_NODES = 16  # position embeddings; larger cells share the last one


class EdgeGCNPolicy(Policy):
    """Op-conditioned message passing over the cell DAG, both directions, and an edge head.

    Args:
        hidden: width of vertex features.
        op_dim: width of op embeddings.
        layers: rounds of message passing (3 covers any path of a 4-node cell).
    """

    name = "egcn"

    def __init__(self, *, hidden: int = 64, op_dim: int = 32, layers: int = 3, **settings) -> None:
        super().__init__(**settings)
        self.op_embedding = nn.Embedding(len(OP_VOCAB), op_dim)
        self.role_embedding = nn.Embedding(3, hidden)  # input 0, input 1, intermediate
        self.position_embedding = nn.Embedding(MAX_NODES, hidden)
        self.cell_embedding = nn.Embedding(2, hidden)  # normal, reduction
        self.forward_msg = nn.ModuleList(nn.Linear(hidden + op_dim, hidden) for _ in range(layers))
        self.backward_msg = nn.ModuleList(nn.Linear(hidden + op_dim, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(4 * hidden + op_dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def cell_logits(self, cell: CellTensors) -> torch.Tensor:
        n, device = cell.n_nodes, cell.ops.device
        ops = self.op_embedding(cell.ops)  # (E, op_dim)
        index = torch.arange(n, device=device)
        cell_type = self.cell_embedding.weight[cell.cell_type]
        h = (self.role_embedding(torch.clamp(index, max=2)) + self.position_embedding(index.clamp(max=MAX_NODES - 1))
             + cell_type)
        ones = torch.ones(len(cell.ops), device=device)
        in_deg = torch.zeros(n, device=device).index_add_(0, cell.dst, ones).clamp(min=1)[:, None]
        out_deg = torch.zeros(n, device=device).index_add_(0, cell.src, ones).clamp(min=1)[:, None]
        for fwd, bwd, norm in zip(self.forward_msg, self.backward_msg, self.norms):
            to_dst = torch.relu(fwd(torch.cat([h[cell.src], ops], dim=1)))
            to_src = torch.relu(bwd(torch.cat([h[cell.dst], ops], dim=1)))
            incoming = torch.zeros_like(h).index_add_(0, cell.dst, to_dst) / in_deg
            outgoing = torch.zeros_like(h).index_add_(0, cell.src, to_src) / out_deg
            h = norm(h + incoming + outgoing)
        graph = h.mean(dim=0, keepdim=True).expand(len(cell.ops), -1)
        features = torch.cat([h[cell.src], h[cell.dst], ops, cell_type.expand(len(cell.ops), -1), graph], dim=1)
        return self.head(features)
