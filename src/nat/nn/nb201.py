"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020), built from a genotype of the ``nb201`` space.

A 3x3 stem convolution to C channels (BatchNorm, no ReLU), L cells in three stages with a
residual block between stages (a ResNet basic block of stride 2 whose shortcut is a 2x2 average
pool and a 1x1 convolution) doubling the channels, then BatchNorm-ReLU, global average pooling
and a linear classifier. The benchmark's own size is C = 16 and L = 15 (N = 5 cells per stage);
blocks go in front of cells ``L // 3`` and ``2 * L // 3``, the positions of the reduction cells
of the DARTS layout, so ``layers`` means the same thing in every space.

The cell is built as the benchmark builds it, so parameter counts and the trained function
match its table: every non-null edge is computed, also out of a node all of whose inputs are
null. That node is a zero tensor, and a convolution edge out of it still adds its BatchNorm's
learned bias, which is part of the function the benchmark scored. (The DARTS-style
:class:`~nat.nn.cell.EvalCell` drops such edges; here fidelity to the table comes first.)

:class:`NB201CostModel` gives the same parameter and multiply-add counts as building the network,
without building it: the network's cost is its skeleton plus, per stage, the cells' op costs,
each op measured once. ``nat bench`` costs thousands of cells with it.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import torch
from torch import nn

from ..arch.genotype import Cell, Genotype
from .counting import Cost, count_madds, count_params, network_cost
from ..errors import NatError
from ..ops import NULL
from .ops import build_op
from .ops import ReLUConvBN
from .network import DATASETS, NetworkConfig
from .registry import register_network

__all__ = ["NB201_DEFAULTS", "ResidualBlock", "NB201Cell", "NB201Network", "stage_layout", "NB201CostModel"]

NB201_DEFAULTS = {"channels": 16, "layers": 15}


def stage_layout(layers: int) -> tuple[int, int]:
    """The cell indices a residual block precedes (as the DARTS layout's reduction cells)."""
    if layers < 3:
        raise NatError(f"the NAS-Bench-201 network needs at least 3 cells (one per stage), got {layers}")
    return layers // 3, 2 * layers // 3


def resolve_config(config: NetworkConfig) -> NetworkConfig:
    """``config`` with the benchmark's defaults filled in (C = 16, L = 15, CIFAR-10's classes)."""
    if config.dataset != "cifar10":
        raise NatError(f"the NAS-Bench-201 network is built for 32x32 CIFAR inputs; --dataset "
                       f"{config.dataset} does not apply")
    return replace(config, channels=config.channels or NB201_DEFAULTS["channels"],
                   layers=config.layers or NB201_DEFAULTS["layers"],
                   num_classes=config.num_classes or DATASETS["cifar10"]["num_classes"])


class ResidualBlock(nn.Module):
    """The benchmark's stride-2 ResNet basic block between stages.

    Args:
        c_in: input channels.
        c_out: output channels.
        affine: learn BatchNorm scales and shifts (the supernet does not).
    """

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, affine)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Cell(nn.Module):
    """One benchmark cell: every non-null edge computed, nodes in order, node 4 the output."""

    def __init__(self, cell: Cell, channels: int) -> None:
        super().__init__()
        edges = [(i, e) for i, e in enumerate(cell.edges) if e.op != NULL]
        self.ops = nn.ModuleDict({str(i): build_op(e.op, channels, 1) for i, e in edges})
        self._edges = sorted(((str(i), e.src, e.dst) for i, e in edges), key=lambda t: t[2])
        self.output = cell.n_nodes - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states: dict[int, torch.Tensor] = {1: x}
        for key, src, dst in self._edges:
            # A node whose every input is null is zero; the edges out of it still run (module docs).
            h = self.ops[key](states[src] if src in states else torch.zeros_like(x))
            states[dst] = h if dst not in states else states[dst] + h
        return states[self.output]


@register_network("nb201")
class NB201Network(nn.Module):
    """The benchmark's network for a genotype of the ``nb201`` space (see module docs).

    Args:
        genotype: a tied genotype (``nat.arch.nb201.to_genotype``); its normal cell is used.
        config: dataset (cifar10 only), C (default 16), L (default 15), classes; ``auxiliary``
            is ignored: the benchmark has no auxiliary head.
    """

    auxiliary_head = None
    resolve_config = staticmethod(resolve_config)

    def __init__(self, genotype: Genotype, config: NetworkConfig = NetworkConfig()) -> None:
        super().__init__()
        cfg = resolve_config(config)
        self.config, self.genotype = cfg, genotype
        c = cfg.channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        blocks = stage_layout(cfg.layers)
        layers: list[nn.Module] = []
        for i in range(cfg.layers):
            if i in blocks:
                layers.append(ResidualBlock(c, 2 * c))
                c *= 2
            layers.append(NB201Cell(genotype.normal, c))
        self.layers = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lastact(self.layers(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pool(h), 1))


@cache
def _op_cost(op: str, channels: int, size: int) -> tuple[int, int]:
    """(params, MAdds) of one stride-1 ``op`` module at ``channels`` on a ``size`` x ``size`` input."""
    module = build_op(op, channels, 1)
    return count_params(module), count_madds(module, torch.zeros(1, channels, size, size))


class NB201CostModel:
    """Cost of any nb201 genotype at one size, from op costs measured once per stage.

    Exact, not an estimate: the network is its skeleton (stem, residual blocks, head) plus the
    modules of its non-null edges, and each module's parameters and multiply-adds depend only on
    its op, its channels and its input size (tested against building the network).
    """

    def __init__(self, config: NetworkConfig = NetworkConfig()) -> None:
        from ..arch.nb201 import to_genotype
        cfg = self.config = resolve_config(config)
        self.skeleton = network_cost(NB201Network(to_genotype(["skip_connect"] * 6), cfg))  # skips cost nothing
        starts = [0, *stage_layout(cfg.layers), cfg.layers]
        #: (cells, channels, input size) per stage
        self.stages = [(starts[s + 1] - starts[s], cfg.channels * 2 ** s, cfg.input_size // 2 ** s) for s in range(3)]

    def __call__(self, genotype: Genotype) -> Cost:
        params, madds = self.skeleton.params, self.skeleton.madds
        ops = [e.op for e in genotype.normal.edges if e.op != NULL]
        for n_cells, c, size in self.stages:
            for op in ops:
                p, m = _op_cost(op, c, size)
                params, madds = params + n_cells * p, madds + n_cells * m
        return Cost(params=params, params_with_aux=params, madds=madds)
