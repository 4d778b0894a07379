"""Named backbones: what ``ResNet20`` or ``NAT_ResNet20`` means, building them, and their cost.

A backbone name is a network of Table 1 (``VGG16``, ``ResNet20``, ``ResNet56``, ``MobileNetV2``,
``ResNet18``, ``ResNet50``, any case), optionally prefixed ``NAT_`` (or ``NAT-``): the same network
built from the block cell the zoo publishes as its NAT version (``NAT_VGG``, ``NAT_ResBlock``,
``NAT_MobileNetV2``). ResNet-50's bottleneck has no published NAT version.

Names of backbones are distinct from the zoo's names except ``MobileNetV2`` and
``NAT_MobileNetV2``, which the zoo uses for the *cell* that is that network's block. Where a whole
network is meant (``nat cost``), a backbone name wins; for the block graph (``nat show``,
``nat draw``) both readings give the same genotype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from ...arch.genotype import Genotype
from ..counting import Cost, count_by_hooks
from ...errors import NatError
from ..network import DATASETS
from .blocks import FAMILIES, BlockFamily, block_genotype, check_fits
from .networks import LAYOUTS, Backbone, LayoutFn

__all__ = ["BackboneSpec", "BACKBONES", "ResolvedBackbone", "backbone_names", "is_backbone_name",
           "resolve_backbone", "build_backbone", "backbone_cost", "backbone_cost_increase"]


@dataclass(frozen=True)
class BackboneSpec:
    """One hand-crafted network.

    Args:
        name: as the paper writes it.
        family: its block family (whose cell is the original block).
        layouts: dataset -> layout; the first dataset is the default (Table 1's column).
        nat_block: the zoo name of the published NAT version of its block, if there is one.
    """

    name: str
    family: BlockFamily
    layouts: dict[str, LayoutFn]
    nat_block: str | None

    @property
    def default_dataset(self) -> str:
        return next(iter(self.layouts))


BACKBONES: dict[str, BackboneSpec] = {
    key: BackboneSpec(name, FAMILIES[family], LAYOUTS[key], nat) for key, name, family, nat in (
        ("vgg16", "VGG16", "VGG", "NAT_VGG"),
        ("resnet20", "ResNet20", "ResBlock", "NAT_ResBlock"),
        ("resnet56", "ResNet56", "ResBlock", "NAT_ResBlock"),
        ("mobilenetv2", "MobileNetV2", "MobileNetV2", "NAT_MobileNetV2"),
        ("resnet18", "ResNet18", "ResBlock", "NAT_ResBlock"),
        ("resnet50", "ResNet50", "Bottleneck", None),
    )}


class ResolvedBackbone(NamedTuple):
    key: str            # into BACKBONES
    genotype: Genotype  # the block genotype (what ``nat draw`` draws)
    dataset: str        # the dataset Table 1 reports the network on


def backbone_names() -> list[str]:
    """Every backbone name, originals and NAT versions."""
    return [n for s in BACKBONES.values() for n in (s.name, f"NAT_{s.name}" if s.nat_block else None) if n]


def _split(name: str) -> tuple[str, bool]:
    lowered = name.lower()
    for prefix in ("nat_", "nat-"):
        if lowered.startswith(prefix):
            return lowered[len(prefix):], True
    return lowered, False


def is_backbone_name(name: str) -> bool:
    """Whether ``name`` is a backbone name (``NAT_ResNet50`` counts: it gets its own error)."""
    return _split(name)[0] in BACKBONES


def resolve_backbone(name: str) -> ResolvedBackbone:
    """``(key, block genotype, default dataset)`` for a backbone name such as ``NAT_ResNet20``."""
    key, nat = _split(name)
    if key not in BACKBONES:
        raise NatError(f"'{name}' is not a backbone (backbones: {', '.join(backbone_names())})")
    spec = BACKBONES[key]
    if nat and spec.nat_block is None:
        raise NatError(f"no NAT version of {spec.name} is published (the paper gives its cost in Table 1 "
                       f"but not its block); build a transformed block file with --backbone {key}")
    block = block_genotype(spec.nat_block) if nat else spec.family.genotype
    return ResolvedBackbone(key, block, spec.default_dataset)


def _spec(key: str) -> tuple[str, BackboneSpec]:
    lowered = key.lower()
    if lowered not in BACKBONES:
        raise NatError(f"unknown backbone '{key}' (backbones: {', '.join(BACKBONES)})")
    return lowered, BACKBONES[lowered]


def build_backbone(key: str, genotype: Genotype, *, dataset: str | None = None, width_mult: float = 1.0,
                   num_classes: int | None = None) -> Backbone:
    """The network ``key`` with every block built from ``genotype``'s cells.

    Args:
        key: a key of :data:`BACKBONES` (any case).
        genotype: the block genotype; ``normal`` fills the blocks that keep their input's shape,
            ``reduce`` those that change it.
        dataset: ``cifar10`` or ``imagenet``; default: the one Table 1 reports the network on.
        width_mult: scales every width (inner widths included), for small test networks.
        num_classes: classifier outputs; default: the dataset's.

    Raises:
        NatError: unknown key or dataset; GenotypeError (a NatError) naming the cell and edge
            when a cell does not have the block's shape.
    """
    key, spec = _spec(key)
    dataset = dataset or spec.default_dataset
    if dataset not in spec.layouts:
        raise NatError(f"{spec.name} has no {dataset} layout (it has: {', '.join(spec.layouts)})")
    if not width_mult > 0:
        raise NatError(f"width_mult must be positive, got {width_mult}")
    check_fits(genotype, spec.family, backbone=key)
    layout = spec.layouts[dataset](lambda c: max(1, round(c * width_mult)),
                                   num_classes or DATASETS[dataset]["num_classes"])
    return Backbone(genotype, spec.family, layout, key=key, dataset=dataset)


def backbone_cost(name: str, genotype: Genotype | None = None, *, dataset: str | None = None,
                  width_mult: float = 1.0) -> Cost:
    """Parameters and MAdds of a backbone (see :mod:`nat.costs` for what MAdds count).

    ``name`` is a backbone name or key; ``genotype``, when given, replaces the block it names
    (``backbone_cost("resnet56", my_cell)``). There is no auxiliary head, so
    ``params_with_aux == params``.
    """
    if genotype is None:
        key, genotype, _ = resolve_backbone(name)
    else:
        key = _split(name)[0]
    model = build_backbone(key, genotype, dataset=dataset, width_mult=width_mult)
    size = DATASETS[model.dataset]["input_size"]
    params, madds, _ = count_by_hooks(model, torch.zeros(1, 3, size, size))
    return Cost(params=params, params_with_aux=params, madds=madds)


def backbone_cost_increase(alpha: Genotype, beta: Genotype, key: str, *, dataset: str | None = None) -> list[str]:
    """Why backbone ``key`` built from ``alpha`` costs more than built from ``beta`` (empty if it
    does not): :func:`nat.costs.cost_increase` for hand-crafted networks. A skip into a narrower
    node is a projection with weights, so a legal transformation can cost more here too."""
    a, b = (backbone_cost(key, g, dataset=dataset) for g in (alpha, beta))
    return [f"{what}: {getattr(a, what):,} > {getattr(b, what):,}" for what in ("params", "madds")
            if getattr(a, what) > getattr(b, what)]
