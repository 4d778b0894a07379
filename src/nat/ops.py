"""The operation registry: every op an architecture may name, and its kind.

Kinds follow the paper (Sec. 3.1): ``N`` is the null connection (no edge, never computed), ``S``
the skip connection, ``O`` every other op. The module behind each name is built by
:func:`nat.nn.ops.build_op`; on a stride-2 edge of a reduction cell a skip connection becomes a
``FactorizedReduce``, which *has parameters* -- the cost checks rely on this being honest.

No torch here: architectures as data (:mod:`nat.arch`) and the command line's parser need the
names and kinds only, and ``nat --help`` should not wait for torch to import.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OpSpec", "OPS", "NULL", "SKIP", "op_kind", "PLAIN_CONVS"]

NULL = "null"
SKIP = "skip_connect"

_NAMES = (NULL, SKIP, "avg_pool_3x3", "max_pool_3x3", "avg_pool_5x5", "avg_pool_2x2", "max_pool_2x2",
          "conv_1x1", "conv_3x3", "conv_5x5",
          "nor_conv_1x1", "nor_conv_3x3",  # NAS-Bench-201's names for its ReLU-Conv-BN ops (conv_1x1 / conv_3x3)
          "conv_1x3_3x1", "conv_1x7_7x1", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
          "dil_conv_3x3", "dil_conv_5x5")


@dataclass(frozen=True)
class OpSpec:
    """One registered operation.

    Args:
        name: the name genotypes use.
        kind: ``"O"``, ``"S"`` or ``"N"`` (paper, Sec. 3.1).
    """

    name: str
    kind: str


#: The ops whose module is ReLU, one convolution, BatchNorm. Two of the same on one tensor into one
#: node compute what one can: the ReLU is shared, the two convolutions sum into one, and BatchNorm is
#: an affine map per channel at inference. Factorised, separable and dilated convolutions are not
#: closed under such sums and are not listed.
PLAIN_CONVS = frozenset({"conv_1x1", "conv_3x3", "conv_5x5", "nor_conv_1x1", "nor_conv_3x3"})

OPS: dict[str, OpSpec] = {name: OpSpec(name, "N" if name == NULL else "S" if name == SKIP else "O")
                          for name in _NAMES}


def op_kind(name: str) -> str:
    """``"O"``, ``"S"`` or ``"N"`` for a registered op name."""
    return OPS[name].kind
