"""Hand-crafted networks whose every block is a cell, so NAT can transform them (paper Sec. 4.2).

``build_backbone("resnet20", zoo.get("NAT_ResBlock").genotype)`` is NAT-ResNet20: the same depth,
widths and resolutions as ResNet-20, with the transformed block in every place. Modules:
:mod:`.cell` (a block from its cell, ops between fixed node shapes), :mod:`.blocks` (the block
families and the fit check), :mod:`.networks` (the layouts of Table 1), :mod:`.registry`
(names, building, costs).
"""

from .blocks import BOTTLENECK, FAMILIES, BlockFamily, check_fits
from .cell import BACKBONE_OPS, BlockCell, Shape, Shortcut
from .networks import LAYOUTS, Backbone, Layout, Plain, Slot
from .registry import (BACKBONES, BackboneSpec, ResolvedBackbone, backbone_cost, backbone_cost_increase,
                       backbone_names, build_backbone, is_backbone_name, resolve_backbone)

__all__ = ["BACKBONES", "BackboneSpec", "ResolvedBackbone", "backbone_names", "is_backbone_name",
           "resolve_backbone", "build_backbone", "backbone_cost", "backbone_cost_increase", "Backbone",
           "BlockCell", "BlockFamily", "FAMILIES", "BOTTLENECK", "BACKBONE_OPS", "Shape", "Shortcut", "Layout",
           "Plain", "Slot", "LAYOUTS", "check_fits"]
