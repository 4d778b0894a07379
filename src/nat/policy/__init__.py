"""Policies pi(alpha | beta): GCN (the paper's), LSTM and random (its baselines)."""

from .base import OP_VOCAB, CellTensors, Policy, Sample, encode_cell
from .gcn import GCNPolicy
from .lstm import LSTMPolicy
from .random import RandomPolicy

POLICIES = {"gcn": GCNPolicy, "lstm": LSTMPolicy, "random": RandomPolicy}

__all__ = ["OP_VOCAB", "CellTensors", "Policy", "Sample", "encode_cell", "GCNPolicy", "LSTMPolicy",
           "RandomPolicy", "POLICIES", "make_policy"]


def make_policy(name: str, **kwargs) -> Policy:
    from ..errors import NatError
    if name not in POLICIES:
        raise NatError(f"unknown policy '{name}' (known: {', '.join(POLICIES)})")
    return POLICIES[name](**kwargs)
