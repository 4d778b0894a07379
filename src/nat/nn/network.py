"""Networks built from any genotype, following the DARTS evaluation design the paper uses.

CIFAR: a 3x3 stem to ``3C`` channels, ``L`` cells with reduction cells at ``L//3`` and
``2L//3`` (channels double there), global average pooling and a linear classifier. ImageNet:
the same stack behind a stem of three stride-2 convolutions (224 -> 28). An auxiliary head
after cell ``2L//3`` helps training (Szegedy et al.); it is not part of the deployed model and
costs are reported with and without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch.genotype import Genotype
from .cell import EvalCell
from .registry import register_network

__all__ = ["NetworkConfig", "CellNetwork", "build_network", "DATASETS"]


@dataclass(frozen=True)
class NetworkConfig:
    """How big a network to build from a genotype.

    Args:
        dataset: ``cifar10`` (32x32 input) or ``imagenet`` (224x224 input).
        channels: C, the width of the first stage's cells (paper: 36 on CIFAR, 48 on ImageNet).
        layers: L, the number of cells (paper: 20 on CIFAR, 14 on ImageNet).
        num_classes: classifier outputs.
        auxiliary: build the auxiliary head.
    """

    dataset: str = "cifar10"
    channels: int | None = None
    layers: int | None = None
    num_classes: int | None = None
    auxiliary: bool = False

    def resolved(self) -> "NetworkConfig":
        """The config with the dataset's defaults filled in."""
        d = DATASETS[self.dataset]
        return NetworkConfig(self.dataset, self.channels or d["channels"], self.layers or d["layers"],
                             self.num_classes or d["num_classes"], self.auxiliary)

    @property
    def input_size(self) -> int:
        return DATASETS[self.dataset]["input_size"]


DATASETS = {
    "cifar10": {"channels": 36, "layers": 20, "num_classes": 10, "input_size": 32},
    "imagenet": {"channels": 48, "layers": 14, "num_classes": 1000, "input_size": 224},
}


class AuxiliaryHead(nn.Sequential):
    """Classifier on the 8x8 (CIFAR) or 7x7 (ImageNet) maps after cell ``2L//3``."""

    def __init__(self, c_in: int, num_classes: int, pool_stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),  # its input also feeds the next cells
            nn.AvgPool2d(5, stride=pool_stride, padding=0, count_include_pad=False),  # -> 2x2
            nn.Conv2d(c_in, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(768, num_classes))


def cifar_stem(c: int) -> nn.Sequential:
    """CIFAR: one 3x3 convolution to 3C channels at full resolution."""
    return nn.Sequential(nn.Conv2d(3, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))


def imagenet_stems(c: int) -> tuple[nn.Sequential, nn.Sequential]:
    """ImageNet: two stride-2 convolutions to C channels (stem0, 56x56), a third (stem1, 28x28)."""
    stem0 = nn.Sequential(
        nn.Conv2d(3, c // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c // 2),
        nn.ReLU(inplace=True),
        nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c))
    stem1 = nn.Sequential(nn.ReLU(inplace=False),  # stem0's output is cell 0's input too
                          nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c))
    return stem0, stem1


@register_network("*")  # every space without a network of its own: the DARTS cell stack
class CellNetwork(nn.Module):
    """A stack of cells built from a genotype (CIFAR or ImageNet layout, see module docs).

    ``forward`` returns logits; :meth:`forward_train` also returns the auxiliary logits. Set
    :attr:`drop_path_prob` (e.g. per epoch) to use drop path during training.
    """

    def __init__(self, genotype: Genotype, config: NetworkConfig = NetworkConfig()) -> None:
        super().__init__()
        cfg = config.resolved()
        assert cfg.layers >= 3, f"need at least 3 layers for two reduction cells, got {cfg.layers}"
        self.config = cfg
        self.genotype = genotype
        self.drop_path_prob = 0.0
        c = cfg.channels
        if cfg.dataset == "cifar10":
            self.stem = cifar_stem(c)
            c_prev_prev, c_prev, reduction_prev = 3 * c, 3 * c, False
        else:
            self.stem0, self.stem1 = imagenet_stems(c)
            c_prev_prev, c_prev, reduction_prev = c, c, True
        self.reduction_indices = (cfg.layers // 3, 2 * cfg.layers // 3)
        self.cells = nn.ModuleList()
        self.aux_index = 2 * cfg.layers // 3
        c_aux = None
        for i in range(cfg.layers):
            reduction = i in self.reduction_indices
            if reduction:
                c *= 2
            cell = EvalCell(genotype.reduce if reduction else genotype.normal, c_prev_prev=c_prev_prev,
                            c_prev=c_prev, channels=c, reduction=reduction, reduction_prev=reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.c_out
            if i == self.aux_index:
                c_aux = c_prev
        self.auxiliary_head = (AuxiliaryHead(c_aux, cfg.num_classes, 3 if cfg.dataset == "cifar10" else 2)
                               if cfg.auxiliary else None)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, cfg.num_classes)

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, auxiliary logits or None)``; the auxiliary head runs only in training mode."""
        if self.config.dataset == "cifar10":
            s0 = s1 = self.stem(x)
        else:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        aux = None
        drop = self.drop_path_prob if self.training else 0.0
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pool(s1), 1))
        return logits, aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)[0]


def build_network(genotype: Genotype, dataset: str = "cifar10", *, channels: int | None = None,
                  layers: int | None = None, num_classes: int | None = None,
                  auxiliary: bool = False) -> CellNetwork:
    """A :class:`CellNetwork` for ``genotype`` (dataset defaults for what is left out)."""
    return CellNetwork(genotype, NetworkConfig(dataset, channels, layers, num_classes, auxiliary))
