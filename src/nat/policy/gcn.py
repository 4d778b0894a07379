"""The graph convolutional policy of NAT (paper Sec. 3.3, Eq. 3; Kipf & Welling, 2017).

The cell DAG is the graph: one vertex per node (two inputs, the intermediate nodes). A vertex
starts from an embedding of its role (input 0, input 1, intermediate), of the cell type
(normal or reduction), and of the ops on its incoming edges (their mean, so any number of
inputs works: two in DARTS-style cells, up to three in NAS-Bench-201). Two graph convolutions
with the symmetric normalised adjacency ``D^-1/2 (A + A^T + I) D^-1/2`` spread information in
both directions along the edges, self-loops keeping each vertex's own features. Each edge is
then scored from its endpoints' features *and its own op and the cell type*.

This fixes the reference code's defect: there, without self-loops and with logits read off the
target vertex only, an edge's own op never reached its logits (a defect of the authors' code); here
changing one edge's op changes that edge's distribution (regression-tested).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import OP_VOCAB, CellTensors, Policy

__all__ = ["GCNPolicy", "normalized_adjacency"]


def normalized_adjacency(src: torch.Tensor, dst: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """``D^-1/2 (A + A^T + I) D^-1/2`` for the cell graph (every edge, null ones too: the
    topology is fixed, and a null edge's op embedding tells the policy it could become a skip)."""
    a = torch.eye(n_nodes, device=src.device)
    a[dst, src] = 1.0
    a[src, dst] = 1.0
    d = a.sum(dim=1).rsqrt()
    return d[:, None] * a * d[None, :]


class GCNPolicy(Policy):
    """Two graph convolutions and an edge head (Eq. 3).

    Args:
        hidden: width of vertex features.
        op_dim: width of op embeddings.
    """

    name = "gcn"

    def __init__(self, *, hidden: int = 64, op_dim: int = 32, **settings) -> None:
        super().__init__(**settings)
        self.op_embedding = nn.Embedding(len(OP_VOCAB), op_dim)
        self.role_embedding = nn.Embedding(3, hidden)  # input 0, input 1, intermediate
        self.cell_embedding = nn.Embedding(2, hidden)  # normal, reduction
        self.incoming = nn.Linear(op_dim, hidden)
        self.gc1 = nn.Linear(hidden, hidden)
        self.gc2 = nn.Linear(hidden, hidden)
        self.head = nn.Sequential(nn.Linear(3 * hidden + op_dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def cell_logits(self, cell: CellTensors) -> torch.Tensor:
        n, device = cell.n_nodes, cell.ops.device
        ops = self.op_embedding(cell.ops)  # (E, op_dim)
        in_sum = torch.zeros(n, ops.shape[1], device=device).index_add_(0, cell.dst, ops)
        in_count = torch.zeros(n, device=device).index_add_(0, cell.dst, torch.ones_like(cell.dst, dtype=ops.dtype))
        roles = torch.clamp(torch.arange(n, device=device), max=2)
        cell_type = self.cell_embedding.weight[cell.cell_type]
        x = self.role_embedding(roles) + cell_type + self.incoming(in_sum / in_count.clamp(min=1)[:, None])
        a = normalized_adjacency(cell.src, cell.dst, n)
        h = torch.relu(a @ self.gc1(x))
        h = a @ self.gc2(h)
        features = torch.cat([h[cell.src], h[cell.dst], ops, cell_type.expand(len(cell.ops), -1)], dim=1)
        return self.head(features)
