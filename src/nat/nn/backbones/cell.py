"""A block of a hand-crafted backbone, built from its cell with every node at a fixed shape.

Each edge's op is built to map its source node's shape onto its destination node's shape
(:class:`Shape`: channels, and the downsampling factor from the network input), so the same op
name gives the layer the hand-crafted network has in that place:

- ``conv_kxk``: one convolution ``C_src -> C_dst`` at the stride between the nodes, then
  BatchNorm. The ResNet conv that widens and strides, MobileNetV2's expansion and projection and
  ResNet-50's projection shortcut are all this layer.
- ``sep_conv_kxk``: one depthwise ``k x k`` convolution and BatchNorm -- MobileNetV2's depthwise
  layer -- followed by a pointwise convolution and BatchNorm only where the edge changes width.
  (Not the registry's DARTS op, which stacks two ReLU-depthwise-pointwise-BN units.)
- ``max_pool_3x3`` / ``avg_pool_3x3``: the pooling at the stride -- VGG's downsampling, with the
  3x3 window (padding 1) the cell names where VGG pools 2x2: the same output, no cost either way.
- ``skip_connect``: the identity. Between different shapes it stays parameter-free where it can:
  it subsamples (keeps every s-th row and column) and fills the extra channels with zeros --
  option A of He et al. (2016), which ResNet-20/56 use -- and counts 0 MAdds. Only a skip into a
  *narrower* node cannot be parameter-free without dropping channels; there it is a strided 1x1
  projection with BatchNorm (option B), whose cost is counted. A pooling edge into a different
  width adapts its channels the same way.

Activations belong to nodes, not edges (the node's family says which), so conv-BN-ReLU
networks come out exactly, and an added skip joins the sum before the activation, as a residual
does. Only ``Cell.computed_edges()`` are built: null edges and dead nodes never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...arch.genotype import Cell
from ...ops import NULL, SKIP

__all__ = ["Shape", "Shortcut", "conv_bn", "edge_layer", "BlockCell", "BACKBONE_OPS", "ACTIVATIONS"]


@dataclass(frozen=True)
class Shape:
    """A tensor's shape as a block sees it."""

    channels: int
    scale: int  # downsampling factor from the network input: 1 = full resolution


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Convolution (padding ``kernel // 2``, so outputs are ``ceil(H / stride)``) and BatchNorm."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out))


class Shortcut(nn.Module):
    """Parameter-free identity onto a coarser or wider shape: subsample, then zero-fill channels."""

    def __init__(self, *, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        assert c_out >= c_in, f"a parameter-free shortcut cannot narrow {c_in} -> {c_out} channels"
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, zero_channels={self.extra}"


def _channels(c_in: int, c_out: int) -> nn.Module | None:
    """What a parameter-free op needs after it to reach ``c_out`` channels (None: nothing)."""
    if c_out == c_in:
        return None
    return Shortcut(c_in=c_in, c_out=c_out, stride=1) if c_out > c_in else conv_bn(c_in, c_out, 1)


def _skip(src: Shape, dst: Shape, stride: int) -> nn.Module:
    if dst.channels < src.channels:
        return conv_bn(src.channels, dst.channels, 1, stride)
    if src == dst:
        return nn.Identity()
    return Shortcut(c_in=src.channels, c_out=dst.channels, stride=stride)


def _pool(kind: str) -> Callable[[Shape, Shape, int], nn.Module]:
    def build(src: Shape, dst: Shape, stride: int) -> nn.Module:
        pool = (nn.MaxPool2d(3, stride, 1) if kind == "max"
                else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
        adapt = _channels(src.channels, dst.channels)
        return pool if adapt is None else nn.Sequential(pool, adapt)
    return build


def _conv(kernel: int) -> Callable[[Shape, Shape, int], nn.Module]:
    return lambda src, dst, stride: conv_bn(src.channels, dst.channels, kernel, stride)


def _separable(kernel: int) -> Callable[[Shape, Shape, int], nn.Module]:
    def build(src: Shape, dst: Shape, stride: int) -> nn.Module:
        depthwise = conv_bn(src.channels, src.channels, kernel, stride, groups=src.channels)
        if dst.channels == src.channels:
            return depthwise
        return nn.Sequential(depthwise, conv_bn(src.channels, dst.channels, 1))
    return build


# Exactly the candidate ops of the loose-end cell space, which these blocks belong to.
_LAYERS: dict[str, Callable[[Shape, Shape, int], nn.Module]] = {
    "max_pool_3x3": _pool("max"),
    "avg_pool_3x3": _pool("avg"),
    SKIP: _skip,
    "sep_conv_3x3": _separable(3),
    "sep_conv_5x5": _separable(5),
    "conv_1x1": _conv(1),
    "conv_3x3": _conv(3),
    "conv_5x5": _conv(5),
}
BACKBONE_OPS = (*_LAYERS, NULL)

# Not in place: a node fed by one identity edge holds the very tensor of its source node.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "relu6": nn.ReLU6}


def edge_layer(op: str, src: Shape, dst: Shape) -> nn.Module:
    """The layer for ``op`` from a node of shape ``src`` to one of shape ``dst``."""
    stride, rest = divmod(dst.scale, src.scale)
    assert stride >= 1 and rest == 0, f"no edge can go from scale {src.scale} to scale {dst.scale}"
    return _LAYERS[op](src, dst, stride)


class BlockCell(nn.Module):
    """One block: the cell's computed edges between nodes of fixed shapes.

    Args:
        cell: the block's graph (its output is its single concat node).
        shapes: every node's shape, inputs included (:meth:`BlockFamily.node_shapes`).
        activation: node -> activation name, applied after the node sums its inputs.
    """

    def __init__(self, cell: Cell, *, shapes: Mapping[int, Shape], activation: Mapping[int, str]) -> None:
        super().__init__()
        self.cell = cell
        computed = cell.computed_edges()
        # Keyed by the edge's index in the genotype, so modules map back to edges.
        self.ops = nn.ModuleDict({str(i): edge_layer(e.op, shapes[e.src], shapes[e.dst]) for i, e in computed})
        self.edge_ops = {i: e.op for i, e in computed}
        self._edges = [(str(i), e.src, e.dst) for i, e in computed]
        self._nodes = sorted({e.dst for _, e in computed})
        self.acts = nn.ModuleDict({str(n): ACTIVATIONS[activation[n]]() for n in self._nodes if n in activation})
        (self.output,) = cell.output_nodes()
        self.shape = shapes[self.output]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = {0: s0, 1: s1}
        for node in self._nodes:
            total = None
            for key, src, dst in self._edges:
                if dst == node:
                    h = self.ops[key](states[src])
                    total = h if total is None else total + h
            act = self.acts[str(node)] if str(node) in self.acts else None
            states[node] = act(total) if act is not None else total
        return states[self.output]
