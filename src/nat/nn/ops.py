"""The modules behind the op names of :mod:`nat.ops`: what each operation computes.

Designs follow the DARTS evaluation networks (Liu et al., 2019): ReLU-Conv-BN ordering,
separable convolutions applied twice, dilated convolutions once. On a stride-2 edge a skip
connection is a ``FactorizedReduce``, which *has parameters* -- the cost checks rely on this.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import NULL, SKIP

__all__ = ["BUILDERS", "build_op", "FactorizedReduce", "ReLUConvBN", "FactorizedConv", "DilConv", "SepConv", "SamePool2x2"]


class ReLUConvBN(nn.Sequential):
    """ReLU, one convolution, BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class FactorizedConv(nn.Sequential):
    """ReLU, a 1xk then a kx1 convolution, BatchNorm (NAONet's ``conv_1xk_kx1``)."""

    def __init__(self, c: int, k: int, stride: int, affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, (1, k), (1, stride), (0, k // 2), bias=False),
                         nn.Conv2d(c, c, (k, 1), (stride, 1), (k // 2, 0), bias=False),
                         nn.BatchNorm2d(c, affine=affine))


class DilConv(nn.Sequential):
    """ReLU, dilated depthwise convolution, pointwise convolution, BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    """Two stacked dilation-1 ``DilConv`` blocks; only the first one strides."""

    def __init__(self, c: int, kernel: int, stride: int, affine: bool = True) -> None:
        pad = kernel // 2
        super().__init__(DilConv(c, c, kernel, stride, pad, 1, affine),
                         DilConv(c, c, kernel, 1, pad, 1, affine))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two offset stride-2 1x1 convolutions.

    Odd inputs are padded on the bottom/right so both halves have the size a padded stride-2
    3x3 convolution would give (``ceil(H / 2)``).
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        assert c_out % 2 == 0, f"FactorizedReduce needs an even channel count, got {c_out}"
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class SamePool2x2(nn.Module):
    """2x2 pooling that keeps ``ceil(H / stride)`` like every other op (NAONet's 2x2 pools)."""

    def __init__(self, kind: str, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pool = (nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if kind == "avg"
                     else nn.MaxPool2d(2, stride, ceil_mode=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:  # a 2x2 window needs one extra row/column to keep the size
            x = F.pad(x, (0, 1, 0, 1), mode="replicate")
        return self.pool(x)


def _skip(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)


#: ``name -> (channels, stride, affine) -> nn.Module``; ``None`` for the null op, never computed.
BUILDERS: dict[str, Callable[[int, int, bool], nn.Module] | None] = {
    NULL: None,
    SKIP: _skip,
    "avg_pool_3x3": lambda c, s, a: nn.AvgPool2d(3, s, 1, count_include_pad=False),
    "max_pool_3x3": lambda c, s, a: nn.MaxPool2d(3, s, 1),
    "avg_pool_5x5": lambda c, s, a: nn.AvgPool2d(5, s, 2, count_include_pad=False),
    "avg_pool_2x2": lambda c, s, a: SamePool2x2("avg", s),
    "max_pool_2x2": lambda c, s, a: SamePool2x2("max", s),
    "conv_1x1": lambda c, s, a: ReLUConvBN(c, c, 1, s, 0, a),
    "conv_3x3": lambda c, s, a: ReLUConvBN(c, c, 3, s, 1, a),
    "conv_5x5": lambda c, s, a: ReLUConvBN(c, c, 5, s, 2, a),
    # NAS-Bench-201's names for its ReLU-Conv-BN ops (the modules are conv_1x1 / conv_3x3's)
    "nor_conv_1x1": lambda c, s, a: ReLUConvBN(c, c, 1, s, 0, a),
    "nor_conv_3x3": lambda c, s, a: ReLUConvBN(c, c, 3, s, 1, a),
    "conv_1x3_3x1": lambda c, s, a: FactorizedConv(c, 3, s, a),
    "conv_1x7_7x1": lambda c, s, a: FactorizedConv(c, 7, s, a),
    "sep_conv_3x3": lambda c, s, a: SepConv(c, 3, s, a),
    "sep_conv_5x5": lambda c, s, a: SepConv(c, 5, s, a),
    "sep_conv_7x7": lambda c, s, a: SepConv(c, 7, s, a),
    "dil_conv_3x3": lambda c, s, a: DilConv(c, c, 3, s, 2, 2, a),
    "dil_conv_5x5": lambda c, s, a: DilConv(c, c, 5, s, 4, 2, a),
}



def build_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """The module for ``name`` mapping ``channels`` to ``channels`` at ``stride`` (1 or 2)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown op '{name}' (known: {', '.join(sorted(BUILDERS))})")
    make = BUILDERS[name]
    if make is None:
        raise ValueError(f"'{name}' is the null op: it is never computed, so it has no module")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    return make(channels, stride, affine)
