"""Policies pi(alpha | beta): GCN (the paper's), an edge-conditioned GCN, LSTM and random (baselines)."""

from .base import OP_VOCAB, CellTensors, Policy, Sample, encode_cell
from .egcn import EdgeGCNPolicy
from .gcn import GCNPolicy
from .lstm import LSTMPolicy
from .random import RandomPolicy

POLICIES = {"gcn": GCNPolicy, "egcn": EdgeGCNPolicy, "lstm": LSTMPolicy, "random": RandomPolicy}

__all__ = ["OP_VOCAB", "CellTensors", "Policy", "Sample", "encode_cell", "GCNPolicy", "EdgeGCNPolicy", "LSTMPolicy",
           "RandomPolicy", "POLICIES", "make_policy"]


def make_policy(name: str, **kwargs) -> Policy:
    from ..errors import NatError
    if name not in POLICIES:
        raise NatError(f"unknown policy '{name}' (known: {', '.join(POLICIES)})")
    return POLICIES[name](**kwargs)
