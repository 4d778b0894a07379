"""Hand-crafted blocks as cells: which cell describes each block, and the shape of every node.

NAT (Sec. 4.2, Fig. 3) writes each block of VGG, ResNet and MobileNetV2 as a cell with two input
nodes -- node 0 the output of the block two back, node 1 of the previous block -- adding null
edges so that every node has two inputs. A :class:`BlockFamily` adds what the graph cannot say:
for every intermediate node, its width, whether it lies after the block's stride, and the
activation applied once the node has summed its inputs. Widths are named by role:

- ``in``: the block's input width (the previous block's output),
- ``mid``: an inner width the backbone carries -- MobileNetV2's expansion ``t * C_in`` (Sandler
  et al., 2018), ResNet-50's bottleneck width (He et al., 2016) -- since no graph expresses it,
- ``out``: the block's output width.

Because node shapes belong to the backbone and not to the ops, changing the ops of a block (all
that a NAT transformation does) can never change the number of blocks, nor any node's
resolution or width: an op between two shapes is built to map one onto the other (:mod:`.cell`),
so e.g. a skip that replaces VGG's pooling still halves the resolution. What does not fit is a
graph of another shape -- more or fewer nodes (another depth), other output nodes (another
width) -- or an op that has no layer here; :func:`check_fits` rejects those, naming the cell and
edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ...arch.genotype import Genotype
from ...errors import GenotypeError
from .cell import BACKBONE_OPS, Shape

__all__ = ["BlockFamily", "FAMILIES", "BOTTLENECK", "block_genotype", "check_fits"]

# ResNet-50's bottleneck (He et al., 2016, Fig. 5 right) in the zoo's layout: 1x1 reduce, 3x3,
# 1x1 expand, and the shortcut into node 5 -- the identity in a normal block, the 1x1 projection
# (their option B) in the first block of a stage, where the shape changes. It is the MobileNetV2
# cell with a full 3x3 convolution in place of the depthwise one. No NAT version is published.
BOTTLENECK = Genotype.from_edges(
    normal=[("null", 0, 2), ("conv_1x1", 1, 2), ("null", 0, 3), ("conv_3x3", 2, 3), ("null", 0, 4),
            ("conv_1x1", 3, 4), ("skip_connect", 1, 5), ("skip_connect", 4, 5)],
    reduce=[("null", 0, 2), ("conv_1x1", 1, 2), ("null", 0, 3), ("conv_3x3", 2, 3), ("null", 0, 4),
            ("conv_1x1", 3, 4), ("conv_1x1", 1, 5), ("skip_connect", 4, 5)],
    normal_concat=[5], reduce_concat=[5])

_LOCAL_BLOCKS = {"Bottleneck": BOTTLENECK}


def block_genotype(name: str) -> Genotype:
    """The block cell called ``name``: ``Bottleneck`` (defined here) or a zoo entry."""
    if name in _LOCAL_BLOCKS:
        return _LOCAL_BLOCKS[name]
    from ...arch import zoo  # the zoo reads its JSON on first use; keep importing this module cheap
    return zoo.get(name).genotype


@dataclass(frozen=True)
class BlockFamily:
    """The node shapes of one kind of hand-crafted block.

    Args:
        name: the block cell's name (a zoo entry, or ``Bottleneck``).
        widths: intermediate node -> ``"in"``, ``"mid"`` or ``"out"`` (module docs).
        strided: the nodes past the block's stride (at the block's output resolution).
        activation: node -> ``"relu"`` or ``"relu6"``, applied after the node sums its inputs;
            other nodes stay linear (e.g. before a residual sum, or MobileNetV2's projection).
    """

    name: str
    widths: Mapping[int, str]
    strided: frozenset[int]
    activation: Mapping[int, str]

    @property
    def genotype(self) -> Genotype:
        return block_genotype(self.name)

    @property
    def n_nodes(self) -> int:
        return max(self.widths) + 1

    @property
    def output(self) -> int:
        return max(self.widths)

    def node_shapes(self, s0: Shape, s1: Shape, *, c_out: int, stride: int, mid: int | None) -> dict[int, Shape]:
        """Every node's shape in a block fed by ``s0`` (two back) and ``s1`` (one back)."""
        channels = {"in": s1.channels, "mid": mid, "out": c_out}
        assert mid is not None or "mid" not in self.widths.values(), f"a {self.name} block needs a mid width"
        return {0: s0, 1: s1, **{n: Shape(channels[w], s1.scale * (stride if n in self.strided else 1))
                                 for n, w in self.widths.items()}}


def _family(name: str, widths: dict, strided: set, activation: dict) -> BlockFamily:
    return BlockFamily(name, MappingProxyType(widths), frozenset(strided), MappingProxyType(activation))


FAMILIES: dict[str, BlockFamily] = {f.name: f for f in (
    # conv-BN-ReLU twice; the reduction block ends in the pooling that halves the resolution.
    _family("VGG", {2: "in", 3: "out", 4: "out", 5: "out"}, {5}, {3: "relu", 4: "relu"}),
    # x + BN(conv(ReLU(BN(conv(x))))), ReLU after the sum; the first conv strides and widens, and
    # the shortcut of a reduction block is He et al.'s parameter-free option A (Shortcut).
    _family("ResBlock", {2: "in", 3: "out", 4: "out", 5: "out"}, {3, 4, 5}, {3: "relu", 5: "relu"}),
    # expand 1x1 to t*C_in, depthwise 3x3 (strides), linear 1x1 projection, residual in normal blocks.
    _family("MobileNetV2", {2: "mid", 3: "mid", 4: "out", 5: "out"}, {3, 4, 5}, {2: "relu6", 3: "relu6"}),
    # The original ResNet-50 strides in its first 1x1 conv (He et al.'s Caffe model, 3.8 GMAdds);
    # torchvision's "v1.5" strides in the 3x3 and costs 4.1 GMAdds, further from Table 1's 3.5.
    _family("Bottleneck", {2: "mid", 3: "mid", 4: "out", 5: "out"}, {2, 3, 4, 5},
            {2: "relu", 3: "relu", 5: "relu"}),
)}


def check_fits(genotype: Genotype, family: BlockFamily, *, backbone: str) -> None:
    """Raise :class:`GenotypeError` unless both cells of ``genotype`` have the block's shape."""
    for kind, cell in genotype.cells().items():
        shape = (f"a {backbone} block is the {family.name} cell: nodes 0..{family.n_nodes - 1}, "
                 f"output node {family.output}")
        if cell.n_nodes != family.n_nodes:
            raise GenotypeError(f"has nodes 0..{cell.n_nodes - 1}, but {shape}; building it would change the "
                                f"depth of every {backbone} block", cell=kind)
        if tuple(cell.concat) != (family.output,):
            wider = f" ({len(cell.concat)}x as wide, concatenated)" if len(cell.concat) > 1 else ""
            raise GenotypeError(f"outputs node(s) {list(cell.concat)}{wider}, but {shape}; building it would "
                                f"change the widths of the {backbone} blocks", cell=kind)
        for i, e in enumerate(cell.edges):
            if e.op not in BACKBONE_OPS:
                raise GenotypeError(f"op '{e.op}' has no layer in the hand-crafted backbones "
                                    f"(they take {', '.join(BACKBONE_OPS)})", cell=kind, edge=tuple(e), index=i)
