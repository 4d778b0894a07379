"""Which network class builds the cells of each space: owned here, by the layer that builds
networks, so the architecture layer (``nat.arch.space``) names no network code.

A space without an entry is a DARTS-style one: its genotypes build into :class:`CellNetwork`.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

__all__ = ["register_network", "network_class"]

_NETWORKS: dict[str, Callable[..., nn.Module]] = {}


def register_network(space: str, cls: Callable[..., nn.Module]) -> None:
    """Build the genotypes of ``space`` (a :class:`~nat.arch.space.CellSpace` name) with ``cls``,
    called as ``cls(genotype, NetworkConfig)``."""
    _NETWORKS[space] = cls


def network_class(space: str) -> Callable[..., nn.Module]:
    if space not in _NETWORKS and space == "nb201":
        from .nb201 import NB201Network  # imported on first use: it imports the cost counters, which import this
        register_network("nb201", NB201Network)
    if space not in _NETWORKS:
        from .network import CellNetwork
        return CellNetwork
    return _NETWORKS[space]
