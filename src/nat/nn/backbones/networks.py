"""The hand-crafted networks of the paper's Table 1, laid out as stems, cell slots and heads.

A :class:`Layout` is what a hand-crafted network is apart from its blocks: a stem, a sequence of
units and a classifier head. Most units are :class:`Slot` s that a cell of the block genotype
fills (``normal`` or ``reduce``, the latter wherever the block's shape changes: stride 2, a new
width, or both). Node 0 of a cell is the output of the unit two back and node 1 of the unit
one back; the first unit sees the stem output as both, as in DARTS.

- VGG16 (Simonyan & Zisserman, 2015; BatchNorm): 13 conv layers in stages of 2, 2, 3, 3, 3. A VGG
  cell holds two convs and, in its reduction form, the pooling that ends a stage, so a stage of
  ``n`` convs is ``n % 2`` :class:`Plain` conv layer followed by ``n // 2`` cells, the last a
  reduction cell: VGG16 is three plain layers and five reduction cells (a stage of three convs
  cannot be cells only, and its normal cell goes unused). Head: 512-512-10 on CIFAR-10 (15.2M parameters, as in Table 1), 4096-4096-1000 on
  7x7 maps on ImageNet.
- ResNet-20/56 (He et al., 2016, Sec. 4.2): 3x3 stem to 16, three stages of (depth - 2) / 6 residual
  blocks at 16/32/64 channels, option-A shortcuts. ResNet-18: the ImageNet stem (7x7/2 conv,
  3x3/2 max pool) and 2+2+2+2 blocks at 64..512 -- with the ResBlock cell's parameter-free
  option-A shortcut where He et al. use a 1x1 projection. ResNet-50: 3+4+6+3 bottleneck blocks,
  the first of each stage a reduction cell holding the projection shortcut.
- MobileNetV2 (Sandler et al., 2018): stem conv to 32 and the first bottleneck, whose expansion
  ratio is 1 and which therefore has no expansion layer and is not the cell's shape (so it is part
  of the stem); then 16 blocks with t = 6, a 1x1 conv to 1280 and the classifier. The CIFAR-10
  variant strides 1 in the stem and in the 24-channel stage (the common CIFAR adaptation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ...arch.genotype import Genotype
from .blocks import BlockFamily
from .cell import BlockCell, Shape, conv_bn

__all__ = ["Slot", "Plain", "Layout", "LayoutFn", "Backbone", "LAYOUTS"]


@dataclass(frozen=True)
class Slot:
    """A place for a cell of the block genotype.

    Args:
        kind: ``"normal"`` or ``"reduce"``: which cell fills it.
        c_out: the block's output width.
        stride: how much the block downsamples.
        mid: the inner width, for blocks that have one (ResNet-50's bottleneck width).
        expansion: MobileNetV2's t; the inner width is then ``t * C_in``.
    """

    kind: str
    c_out: int
    stride: int = 1
    mid: int | None = None
    expansion: int | None = None


@dataclass(frozen=True)
class Plain:
    """A conv3x3-BN-ReLU layer outside the cells (VGG16's odd layers)."""

    c_out: int


@dataclass(frozen=True, eq=False)
class Layout:
    """A network apart from its blocks."""

    stem: nn.Module
    stem_shape: Shape
    units: tuple[Slot | Plain, ...]
    head: nn.Module


# (width, num_classes) -> Layout, where width scales a published channel count.
LayoutFn = Callable[[Callable[[int], int], int], Layout]


class PlainLayer(nn.Module):
    """A :class:`Plain` unit; it takes the two states like a cell and uses the last one."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(conv_bn(c_in, c_out, 3), nn.ReLU(inplace=True))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        return self.layer(s1)


class Backbone(nn.Module):
    """A hand-crafted network whose every :class:`Slot` is a cell of ``genotype``.

    Args:
        genotype: the block genotype (already checked to fit ``family``).
        family: the block family giving every node its shape.
        layout: stem, units and head.
        key: the backbone's registry key, dataset: its dataset (both for reports).
    """

    def __init__(self, genotype: Genotype, family: BlockFamily, layout: Layout, *, key: str, dataset: str) -> None:
        super().__init__()
        self.key, self.dataset, self.genotype = key, dataset, genotype
        self.stem = layout.stem
        states = [layout.stem_shape, layout.stem_shape]
        units = []
        for unit in layout.units:
            s0, s1 = states[-2:]
            if isinstance(unit, Plain):
                module, shape = PlainLayer(s1.channels, unit.c_out), Shape(unit.c_out, s1.scale)
            else:
                mid = unit.mid if unit.expansion is None else unit.expansion * s1.channels
                shapes = family.node_shapes(s0, s1, c_out=unit.c_out, stride=unit.stride, mid=mid)
                module = BlockCell(genotype.cells()[unit.kind], shapes=shapes, activation=family.activation)
                shape = module.shape
            units.append(module)
            states.append(shape)
        self.units = nn.ModuleList(units)
        self.shapes = tuple(states[2:])  # every unit's output shape
        self.head = layout.head

    def blocks(self) -> list[BlockCell]:
        """The cells, in order."""
        return [u for u in self.units if isinstance(u, BlockCell)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for unit in self.units:
            s0, s1 = s1, unit(s0, s1)
        return self.head(s1)


def _classifier(c_in: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))


def _stages(stages, w: Callable[[int], int], *, reduce_first_stage: bool = False, mids=None,
            expansion: int | None = None) -> list[Slot]:
    """Slots for ``(width, blocks, stride)`` stages (``mids``: one inner width per stage). A stage's
    first block is a reduction cell when it changes the shape: in every stage but the first, or
    in all of them with ``reduce_first_stage``."""
    return [Slot("reduce" if j == 0 and (i or reduce_first_stage) else "normal", w(c), s if j == 0 else 1,
                 mid=None if mids is None else w(mids[i]), expansion=expansion)
            for i, (c, n, s) in enumerate(stages) for j in range(n)]


def vgg16(dataset: str) -> LayoutFn:
    pool, hidden = (1, 512) if dataset == "cifar10" else (7, 4096)

    def layout(w: Callable[[int], int], num_classes: int) -> Layout:
        units: list[Slot | Plain] = []
        for c, n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
            units += [Plain(w(c))] * (n % 2) + [Slot("normal", w(c))] * (n // 2 - 1) + [Slot("reduce", w(c), 2)]
        head = nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(),
                             nn.Linear(w(512) * pool * pool, w(hidden)), nn.ReLU(inplace=True), nn.Dropout(),
                             nn.Linear(w(hidden), w(hidden)), nn.ReLU(inplace=True), nn.Dropout(),
                             nn.Linear(w(hidden), num_classes))
        return Layout(nn.Identity(), Shape(3, 1), tuple(units), head)
    return layout


def resnet_cifar(depth: int) -> LayoutFn:
    assert (depth - 2) % 6 == 0, f"CIFAR ResNets have 6n + 2 layers, not {depth}"
    n = (depth - 2) // 6

    def layout(w: Callable[[int], int], num_classes: int) -> Layout:
        stem = nn.Sequential(conv_bn(3, w(16), 3), nn.ReLU(inplace=True))
        units = _stages(((16, n, 1), (32, n, 2), (64, n, 2)), w)
        return Layout(stem, Shape(w(16), 1), tuple(units), _classifier(w(64), num_classes))
    return layout


def _imagenet_resnet_stem(w: Callable[[int], int]) -> tuple[nn.Module, Shape]:
    """7x7/2 conv and 3x3/2 max pooling: 224 -> 56."""
    return nn.Sequential(conv_bn(3, w(64), 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)), Shape(w(64), 4)


def resnet18(w: Callable[[int], int], num_classes: int) -> Layout:
    stem, shape = _imagenet_resnet_stem(w)
    units = _stages(((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)), w)
    return Layout(stem, shape, tuple(units), _classifier(w(512), num_classes))


def resnet50(w: Callable[[int], int], num_classes: int) -> Layout:
    stem, shape = _imagenet_resnet_stem(w)
    # Every stage opens with a projection block, the first one too (64 -> 256 channels).
    units = _stages(((256, 3, 1), (512, 4, 2), (1024, 6, 2), (2048, 3, 2)), w, reduce_first_stage=True,
                    mids=(64, 128, 256, 512))
    return Layout(stem, shape, tuple(units), _classifier(w(2048), num_classes))


def mobilenetv2(dataset: str) -> LayoutFn:
    first, second = (1, 1) if dataset == "cifar10" else (2, 2)

    def layout(w: Callable[[int], int], num_classes: int) -> Layout:
        stem = nn.Sequential(conv_bn(3, w(32), 3, first), nn.ReLU6(inplace=True),
                             conv_bn(w(32), w(32), 3, groups=w(32)), nn.ReLU6(inplace=True),  # the t = 1 block
                             conv_bn(w(32), w(16), 1))
        stages = ((24, 2, second), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1))
        units = _stages(stages, w, reduce_first_stage=True, expansion=6)
        head = nn.Sequential(conv_bn(w(320), w(1280), 1), nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Dropout(0.2), nn.Linear(w(1280), num_classes))
        return Layout(stem, Shape(w(16), first), tuple(units), head)
    return layout


# key -> dataset -> layout; the first dataset is the one Table 1 reports the network on.
LAYOUTS: dict[str, dict[str, LayoutFn]] = {
    "vgg16": {"cifar10": vgg16("cifar10"), "imagenet": vgg16("imagenet")},
    "resnet20": {"cifar10": resnet_cifar(20)},
    "resnet56": {"cifar10": resnet_cifar(56)},
    "mobilenetv2": {"cifar10": mobilenetv2("cifar10"), "imagenet": mobilenetv2("imagenet")},
    "resnet18": {"imagenet": resnet18},
    "resnet50": {"imagenet": resnet50},
}
