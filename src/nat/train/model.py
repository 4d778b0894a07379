"""The network a training run builds: a cell stack, or a hand-crafted backbone made of block cells.

A cell stack (DARTS layout, :mod:`nat.nn.network`) has C, L, an auxiliary head and drop path. A
backbone (VGG16, ResNet20, ..., :mod:`nat.nn.backbones`) has the layout of its paper, so those
four do not apply to it; ``width_mult`` scales it down for quick runs instead.
"""

from __future__ import annotations

import torch
from torch import nn

from ..arch.genotype import Genotype
from ..costs import Cost, count_madds, count_params, network_cost
from ..nn.network import DATASETS, CellNetwork
from .config import TrainConfig

__all__ = ["build_model", "model_cost", "forward_train"]


def build_model(genotype: Genotype, cfg: TrainConfig, num_classes: int) -> nn.Module:
    """The network of ``genotype`` as ``cfg`` describes it, freshly initialised from torch's generator."""
    if cfg.backbone is not None:
        from ..nn.backbones import build_backbone
        return build_backbone(cfg.backbone, genotype, dataset=cfg.dataset, width_mult=cfg.width_mult,
                              num_classes=num_classes)
    # the network of the genotype's space (a NAS-Bench-201 cell: the benchmark's network), as
    # `nat cost` and `nat transform` cost it: the network trained is the network costed
    from ..factory import build_model as build
    return build(genotype, cfg.dataset, channels=cfg.channels, layers=cfg.layers, num_classes=num_classes,
                 auxiliary=cfg.aux_weight > 0)


def model_cost(model: nn.Module, dataset: str) -> Cost:
    """Parameters (without, and with, any auxiliary head) and MAdds of one image (see :mod:`nat.costs`)."""
    if isinstance(model, CellNetwork):
        return network_cost(model)
    size = DATASETS[dataset]["input_size"]
    params = count_params(model)
    return Cost(params, params, count_madds(model, torch.zeros(1, 3, size, size)))


def forward_train(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, auxiliary logits or None)`` in training mode, whichever kind ``model`` is."""
    if isinstance(model, CellNetwork):
        return model.forward_train(x)
    return model(x), None
