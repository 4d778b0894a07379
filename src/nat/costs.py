"""Honest costs: parameters and multiply-adds of the network a genotype builds.

MAdds are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on one forward pass of
one image at the dataset's input size (32x32 for CIFAR-10, 224x224 for ImageNet), in eval mode,
without the auxiliary head; FLOPs it reports for convolutions and matrix products are halved to
give multiply-adds. Pooling, BatchNorm, ReLU and additions are not counted (the convention of
the NAS papers the figures come from; together they are under 1% of any zoo network). Because
the count runs the real modules, a skip connection on a stride-2 edge is counted as the
FactorizedReduce it really is.

A cell stack (the DARTS layout) is costed part by part (:func:`cell_stack_cost`): the stem,
each distinct cell at its widths and resolution, the classifier and the auxiliary head are each
built once, run on one image, counted by FlopCounterMode's formula (but not by it: see
``count_by_hooks``) and remembered. The counts are the whole network's exactly (a test compares them
with the built network for every zoo genotype), without building or running a 20-cell network
per candidate: costing DARTS and its transformations takes milliseconds instead of seconds each.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import torch

from .arch.genotype import Cell, Genotype
from .arch.space import space_of
from .nn.counting import Cost, count_by_hooks, count_madds, count_params, network_cost
from .nn.network import AuxiliaryHead, CellNetwork, NetworkConfig, cifar_stem, imagenet_stems
from .nn.registry import network_class
from .ops import SKIP

__all__ = ["Cost", "count_params", "count_madds", "network_cost", "genotype_cost", "cell_stack_cost", "resolved_size",
           "cost_increase", "costlier_skips"]


def genotype_cost(genotype: Genotype, config: NetworkConfig = NetworkConfig()) -> Cost:
    """The cost of ``genotype`` built at ``config`` by its space's network (:func:`space_of`: the
    NAS-Bench-201 network for an nb201 cell, else the cell stack), always with the auxiliary head
    where there is one, to report both. Unset sizes take the network's own defaults."""
    network = network_class(space_of(genotype).name)
    if network is CellNetwork:
        return cell_stack_cost(genotype, replace(config, auxiliary=True))
    return network_cost(network(genotype, replace(config, auxiliary=True)))


# -- the cell stack, part by part ----------------------------------------------------------------
# Each part runs once on one image (a few milliseconds: one op, not a 20-cell network). MAdds come
# from forward hooks on the only modules that multiply (Conv2d and Linear), by the formula
# FlopCounterMode uses (output elements x inputs per output). Neither FlopCounterMode nor the meta
# device is used here: both import torch's compiler on first use, 1.5 s of a 3 s command.
def _built(make):
    """Build a part without touching the caller's random generator (weights are drawn, then dropped)."""
    with torch.random.fork_rng(devices=[]):
        return make()


@cache
def _stem_part(dataset: str, c: int, size: int) -> tuple[int, int, int, int]:
    """``(params, MAdds, size of input 0, size of input 1)`` of the stem(s), as :class:`CellNetwork` builds them."""
    x = torch.zeros(1, 3, size, size)
    if dataset == "cifar10":
        p, m, shape = count_by_hooks(_built(lambda: cifar_stem(c)), x)
        return p, m, shape[-1], shape[-1]
    stem0, stem1 = _built(lambda: imagenet_stems(c))
    p0, m0, shape0 = count_by_hooks(stem0, x)
    p1, m1, shape1 = count_by_hooks(stem1, torch.zeros(shape0))
    return p0 + p1, m0 + m1, shape0[-1], shape1[-1]


@cache
def _op_part(op: str, c: int, stride: int, size: int) -> tuple[int, int, int]:
    """``(params, MAdds, output size)`` of one edge's op on a ``c`` x ``size`` x ``size`` input."""
    from .nn.ops import build_op
    return _size_last(count_by_hooks(_built(lambda: build_op(op, c, stride)), torch.zeros(1, c, size, size)))


@cache
def _preprocess_part(c_in: int, c_out: int, reduce: bool, size: int) -> tuple[int, int, int]:
    """``(params, MAdds, output size)`` of a cell's input preprocessing (see :class:`EvalCell`)."""
    from .nn.ops import FactorizedReduce, ReLUConvBN
    make = (lambda: FactorizedReduce(c_in, c_out)) if reduce else (lambda: ReLUConvBN(c_in, c_out, 1, 1, 0))
    return _size_last(count_by_hooks(_built(make), torch.zeros(1, c_in, size, size)))


def _size_last(counted: tuple[int, int, tuple[int, ...]]) -> tuple[int, int, int]:
    params, madds, shape = counted
    return params, madds, shape[-1]


@cache
def _cell_part(cell: Cell, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool,
               size0: int, size1: int) -> tuple[int, int, int]:
    """``(params, MAdds, output size)`` of one :class:`~nat.nn.cell.EvalCell`: the same edges
    computed, the same inputs preprocessed, each op counted at the resolution it runs at."""
    computed = cell.computed_edges()
    used = {e.src for _, e in computed}
    params = madds = 0
    if 0 in used:
        p, m, _ = _preprocess_part(c_prev_prev, c, reduction_prev, size0)
        params, madds = params + p, madds + m
    if 1 in used:
        p, m, _ = _preprocess_part(c_prev, c, False, size1)
        params, madds = params + p, madds + m
    inner = -(-size1 // 2) if reduction else size1  # a padded stride-2 op's output: ceil(H / 2)
    for _, e in computed:
        stride = 2 if reduction and e.src < 2 else 1
        p, m, out = _op_part(e.op, c, stride, size1 if e.src < 2 else inner)
        params, madds = params + p, madds + m
        if stride == 2:
            inner = out
    return params, madds, inner


@cache
def _head_part(c_in: int, num_classes: int) -> tuple[int, int]:
    params, madds, _ = count_by_hooks(_built(lambda: torch.nn.Linear(c_in, num_classes)), torch.zeros(1, c_in))
    return params, madds


@cache
def _aux_params(c_in: int, num_classes: int, pool_stride: int) -> int:
    return count_params(_built(lambda: AuxiliaryHead(c_in, num_classes, pool_stride)))


def cell_stack_cost(genotype: Genotype, config: NetworkConfig = NetworkConfig()) -> Cost:
    """The cost of :class:`CellNetwork` ``(genotype, config)``, counted part by part, without
    building the network (see the module's docs). Equal, count for count, to
    :func:`network_cost` of the built network."""
    cfg = config.resolved()
    if cfg.layers < 3:
        raise ValueError(f"need at least 3 layers for two reduction cells, got {cfg.layers}")
    cifar = cfg.dataset == "cifar10"
    c = cfg.channels
    params, madds, size0, size1 = _stem_part(cfg.dataset, c, cfg.input_size)
    c_prev_prev, c_prev, reduction_prev = (3 * c, 3 * c, False) if cifar else (c, c, True)
    reductions, aux_index, aux = (cfg.layers // 3, 2 * cfg.layers // 3), 2 * cfg.layers // 3, 0
    for i in range(cfg.layers):
        reduction = i in reductions
        if reduction:
            c *= 2
        cell = genotype.reduce if reduction else genotype.normal
        p, m, size = _cell_part(cell, c_prev_prev, c_prev, c, reduction, reduction_prev, size0, size1)
        params, madds = params + p, madds + m
        c_prev_prev, c_prev, size0, size1, reduction_prev = c_prev, c * len(cell.output_nodes()), size1, size, reduction
        if i == aux_index and cfg.auxiliary:
            aux = _aux_params(c_prev, cfg.num_classes, 3 if cifar else 2)
    p, m = _head_part(c_prev, cfg.num_classes)
    return Cost(params=params + p, params_with_aux=params + p + aux, madds=madds + m)


def resolved_size(genotype: Genotype, config: NetworkConfig) -> NetworkConfig:
    """``config`` with the defaults of the network ``genotype`` is built into filled in (C=36,
    L=20 for a CIFAR cell stack; C=16, L=15 for the NAS-Bench-201 network)."""
    network = network_class(space_of(genotype).name)
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
    from .nn.ops import build_op
    from .ops import NULL
    if op == NULL:
        return 0, 0
    params, madds, _ = count_by_hooks(_built(lambda: build_op(op, 16, stride)), torch.zeros(1, 16, 16, 16))
    return params, madds


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
