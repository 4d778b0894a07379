"""Which network class builds the cells of each space: owned here, by the layer that builds
networks, so the architecture layer (``nat.arch.space``) names no network code.

Each network module registers itself (``@register_network("nb201")``), as timm's models do; this
module imports none of them (``nat.nn`` imports them all, so they are registered whenever the
layer is loaded). A space without an entry is a DARTS-style one: its genotypes build into
:class:`~nat.nn.network.CellNetwork`.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

__all__ = ["register_network", "network_class"]

_NETWORKS: dict[str, Callable[..., nn.Module]] = {}


def register_network(space: str) -> Callable:
    """Class decorator: build the genotypes of ``space`` (a :class:`~nat.arch.space.CellSpace`
    name) with the class, called as ``cls(genotype, NetworkConfig)``."""
    def register(cls):
        _NETWORKS[space] = cls
        return cls
    return register


def network_class(space: str) -> Callable[..., nn.Module]:
    return _NETWORKS.get(space) or _NETWORKS["*"]
