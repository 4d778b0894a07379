"""The weight-sharing supernet of the NAS-Bench-201 space (single path, as :mod:`.supernet`).

The benchmark's network (:mod:`nat.nn.nb201`) with every edge of every cell holding one module
per candidate op, so weights are shared per (cell, edge, op); a forward pass runs the ops its
genotype names. As in the DARTS-space supernet, BatchNorm has no affine parameters and keeps no
running statistics: every pass normalises with its own batch. Without affine parameters an edge
out of a zero node outputs zeros, so only the edges that reach the output are run
(:meth:`~nat.arch.genotype.Cell.computed_edges`) -- the same function, and no zero tensors.
``layers`` counts cells, residual blocks in front of cells ``L // 3`` and ``2 * L // 3``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..arch.genotype import Cell, Genotype
from ..arch.space import get_space
from ..errors import GenotypeError, NatError
from ..nn.nb201 import ResidualBlock, stage_layout
from ..ops import NULL
from ..nn.ops import build_op
from .supernet import SupernetConfig, _bn, downsample, register_supernet, to_channels_last, untracked

__all__ = ["NB201Supernet"]


class SuperCell201(nn.Module):
    """Modules for every (edge, op) of a benchmark cell at ``channels``."""

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        space = get_space("nb201")
        n = space.n_intermediate
        self.ops = nn.ModuleDict({f"{src}_{dst}_{op}": build_op(op, channels, 1, affine=False)
                                  for dst in range(2, 2 + n) for src in range(1, dst) for op in ops if op != NULL})
        untracked(self)

    def forward(self, x: torch.Tensor, cell: Cell) -> torch.Tensor:
        states = {1: x}
        for _, e in cell.computed_edges():
            h = self.ops[f"{e.src}_{e.dst}_{e.op}"](states[e.src])
            states[e.dst] = h if e.dst not in states else states[e.dst] + h
        return states[cell.n_nodes - 1]


@register_supernet("nb201")
class NB201Supernet(nn.Module):
    """Stem, L super-cells in three stages with residual blocks between them, BN-ReLU, classifier.

    Args:
        cfg: ``ops`` (the space's), ``channels`` (C of the first stage; benchmark 16), ``layers``
            (cells; benchmark 15) and ``num_classes``; ``n_intermediate`` and
            ``stem_multiplier`` do not apply (the stem outputs C channels, as the benchmark's).
    """

    def __init__(self, cfg: SupernetConfig) -> None:
        super().__init__()
        self.config = cfg
        c = cfg.channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), _bn(c))
        blocks = stage_layout(cfg.layers)
        self.layers = nn.ModuleList()
        for i in range(cfg.layers):
            if i in blocks:
                self.layers.append(untracked(ResidualBlock(c, 2 * c, affine=False)))
                c *= 2
            self.layers.append(SuperCell201(cfg.ops, c))
        self.last_bn = _bn(c)
        self.classifier_weight = nn.Parameter(torch.empty(cfg.num_classes, c))
        self.classifier_bias = nn.Parameter(torch.zeros(cfg.num_classes))
        nn.init.normal_(self.classifier_weight, std=0.01)
        self.memory_format = torch.contiguous_format

    def use_channels_last(self) -> "NB201Supernet":
        """Run in NHWC (faster convolutions at CIFAR sizes on CPU); call before creating optimisers."""
        self.memory_format = torch.channels_last
        to_channels_last(self)
        return self

    def check(self, genotype: Genotype) -> None:
        """Raise :class:`NatError` if ``genotype`` is not a cell of the nb201 space."""
        try:
            get_space("nb201").validate(genotype)
        except GenotypeError as err:
            raise NatError(f"the NAS-Bench-201 supernet runs only cells of the nb201 space: {err}") from None

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        cell = genotype.normal
        h = self.stem(downsample(x, self.config.input_size).contiguous(memory_format=self.memory_format))
        for layer in self.layers:
            h = layer(h, cell) if isinstance(layer, SuperCell201) else layer(h)
        pooled = F.relu(self.last_bn(h)).mean(dim=(2, 3))
        return F.linear(pooled, self.classifier_weight, self.classifier_bias)
