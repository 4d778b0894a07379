"""Honest costs: parameters and multiply-adds of the network a genotype builds.

MAdds are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on one forward pass of
one image at the dataset's input size (32x32 for CIFAR-10, 224x224 for ImageNet), in eval mode,
without the auxiliary head; FLOPs it reports for convolutions and matrix products are halved to
give multiply-adds. Pooling, BatchNorm, ReLU and additions are not counted (the convention of
the NAS papers the figures come from; together they are under 1% of any zoo network). Because
the count runs the real modules, a skip connection on a stride-2 edge is counted as the
FactorizedReduce it really is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from .arch.genotype import Cell, Genotype
from .arch.space import space_of
from .nn.network import CellNetwork, NetworkConfig
from .ops import SKIP

__all__ = ["Cost", "count_params", "count_madds", "network_cost", "genotype_cost", "resolved_size",
           "cost_increase", "costlier_skips"]


@dataclass(frozen=True)
class Cost:
    """What a network costs; plain counts, not millions."""

    params: int           # without the auxiliary head
    params_with_aux: int  # with it (equal to params when no head is built)
    madds: int            # multiply-adds of one image's forward pass

    def as_dict(self) -> dict:
        return asdict(self)


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def count_madds(model: torch.nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of ``model(example)`` in eval mode (half the FLOPs of convs and matmuls)."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def network_cost(model: CellNetwork) -> Cost:
    """Cost of a built network (a :class:`CellNetwork` or another with ``config.input_size`` and
    ``auxiliary_head``, such as the NAS-Bench-201 network)."""
    head = model.auxiliary_head
    aux = count_params(head) if head is not None else 0
    total = count_params(model)
    size = model.config.input_size
    return Cost(params=total - aux, params_with_aux=total, madds=count_madds(model, torch.zeros(1, 3, size, size)))


def genotype_cost(genotype: Genotype, config: NetworkConfig = NetworkConfig()) -> Cost:
    """The cost of ``genotype`` built at ``config`` by its space's network (:func:`space_of`: the
    NAS-Bench-201 network for an nb201 cell, else the cell stack), always with the auxiliary head
    where there is one, to report both. Unset sizes take the network's own defaults."""
    network = space_of(genotype).builder("network")
    return network_cost(network(genotype, replace(config, auxiliary=True)))


def resolved_size(genotype: Genotype, config: NetworkConfig) -> NetworkConfig:
    """``config`` with the defaults of the network ``genotype`` is built into filled in (C=36,
    L=20 for a CIFAR cell stack; C=16, L=15 for the NAS-Bench-201 network)."""
    network = space_of(genotype).builder("network")
    return network.resolve_config(config) if hasattr(network, "resolve_config") else config.resolved()


def cost_increase(alpha: Genotype, beta: Genotype, config: NetworkConfig = NetworkConfig()) -> list[str]:
    """Why ``alpha`` costs more than ``beta`` at ``config`` (empty when it does not).

    NAT promises never to cost more; this is the check. Note that O->S or N->S on a stride-2
    edge of a reduction cell adds a FactorizedReduce, so a legal transformation *can* cost more.
    """
    a, b = genotype_cost(alpha, config), genotype_cost(beta, config)
    return [f"{key}: {getattr(a, key):,} > {getattr(b, key):,}" for key in ("params", "madds")
            if getattr(a, key) > getattr(b, key)]


@cache
def _op_cost(op: str, stride: int) -> tuple[int, int]:
    """(params, MAdds) of ``op`` at a fixed probe size; op costs scale alike in C and H, so
    comparing two ops at one size compares them at every size."""
    from .ops import NULL, build_op
    if op == NULL:
        return 0, 0
    module = build_op(op, 16, stride)
    return count_params(module), count_madds(module, torch.zeros(1, 16, 16, 16))


def costlier_skips(cell: Cell, reduction: bool) -> frozenset[int]:
    """Edges where a skip connection would cost more than the op they hold now.

    Only stride-2 edges (out of the inputs of a reduction cell) qualify: there a skip is a
    FactorizedReduce, dearer than a pooling op or no edge at all. Policies mask these actions so
    that no search step proposes a transformation that NAT would have to reject.
    """
    if not reduction:
        return frozenset()
    skip = _op_cost(SKIP, 2)
    return frozenset(i for i, e in enumerate(cell.edges)
                     if e.src < 2 and e.op != SKIP and any(s > o for s, o in zip(skip, _op_cost(e.op, 2))))
