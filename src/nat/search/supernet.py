"""The weight-sharing supernet of NAT's search (paper Sec. 3.4; ENAS-style single path).

Every possible edge ``(src, dst)`` of every cell holds one module per candidate op; a forward
pass takes a genotype and runs only the ops it names, so weights are shared per
(cell, edge, op). BatchNorm has no affine parameters and never tracks running statistics: a
shared network sees a different architecture at every step, and running averages pooled over
many architectures would mislead every single one of them (the authors' code tracks them), so every pass,
reward passes included, normalises with the statistics of its own batch.

Cells output a *variable* set of nodes: the loose ends of ENAS-style cells depend on the
sampled graph, and a transformed cell may have dead nodes. Instead of padding with zero tensors,
each cell returns the live nodes and their slot numbers, and the 1x1 convolutions that consume
a cell (the next cells' preprocessing, the classifier) use the weight columns of those slots
only -- the same function as concatenating zeros, without computing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..arch.genotype import Cell, Genotype
from ..errors import NatError
from ..ops import NULL
from ..nn.ops import build_op

__all__ = ["SupernetConfig", "Supernet", "register_supernet", "supernet_class", "Slots", "untracked", "downsample", "to_channels_last"]

Slots = tuple[torch.Tensor, tuple[int, ...]]  # a concatenation of node outputs and their slot ids


@dataclass(frozen=True)
class SupernetConfig:
    """Size and op set of a supernet.

    Args:
        ops: candidate ops on every edge (``null`` is implicit and never built).
        channels: C of the first stage (reference: 20).
        layers: number of cells (reference: 8), reductions at ``L//3`` and ``2L//3``.
        n_intermediate: intermediate nodes per cell (the most any input may use).
        num_classes: classifier outputs.
        stem_multiplier: the stem outputs ``stem_multiplier * C`` channels.
        input_size: if set, images are average-pooled to ``input_size`` x ``input_size`` before
            the stem: a low-resolution proxy that trains ~3x more steps in the same minutes.
    """

    ops: tuple[str, ...]
    channels: int = 20
    layers: int = 8
    n_intermediate: int = 4
    num_classes: int = 10
    stem_multiplier: int = 3
    input_size: int | None = None  # downsample inputs to this size first (a low-resolution proxy)


def downsample(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """``x`` average-pooled to ``size`` pixels a side (unchanged if ``size`` is None or its own)."""
    if size is None or x.shape[-1] == size:
        return x
    return F.adaptive_avg_pool2d(x, size)


def to_channels_last(module: nn.Module) -> None:
    """Put ``module``'s 4-D weights in NHWC memory (call before creating optimisers); its forward
    must turn inputs channels-last too."""
    for p in module.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=False, track_running_stats=False)


def untracked(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm using batch statistics only (the registry builds tracking
    ones; see the module docs); returned for chaining."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
            m.register_buffer("running_mean", None)
            m.register_buffer("running_var", None)
            m.register_buffer("num_batches_tracked", None)
    return module


class ThinPreprocess(nn.Module):
    """ReLU, 1x1 conv (optionally stride 2, factorised), BN over a concatenation of some slots.

    The weight covers every slot the producer may output; a call uses the columns of the slots
    it receives. With ``reduce=True`` it is a FactorizedReduce (two offset stride-2 convs).
    """

    def __init__(self, slot_channels: int, n_slots: int, c_out: int, reduce: bool) -> None:
        super().__init__()
        self.slot_channels, self.reduce = slot_channels, reduce
        halves = 2 if reduce else 1
        self.weight = nn.Parameter(torch.empty(halves, c_out // halves, n_slots * slot_channels, 1, 1))
        nn.init.kaiming_normal_(self.weight.view(-1, n_slots * slot_channels, 1, 1), mode="fan_out")
        self.bn = _bn(c_out)

    def _columns(self, slots: tuple[int, ...]) -> torch.Tensor:
        k = self.slot_channels
        if slots == tuple(range(self.weight.shape[2] // k)):
            return self.weight
        index = torch.cat([torch.arange(s * k, (s + 1) * k) for s in slots]).to(self.weight.device)
        return self.weight.index_select(2, index)

    def forward(self, x: torch.Tensor, slots: tuple[int, ...]) -> torch.Tensor:
        w = self._columns(slots)
        x = F.relu(x)
        if not self.reduce:
            return self.bn(F.conv2d(x, w[0]))
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([F.conv2d(x, w[0], stride=2), F.conv2d(shifted, w[1], stride=2)], dim=1))


class SuperCell(nn.Module):
    """One cell of the supernet: modules for every (src, dst, op) of the space."""

    def __init__(self, cfg: SupernetConfig, *, prev_prev: tuple[int, int], prev: tuple[int, int], channels: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.n_intermediate = cfg.n_intermediate
        self.preprocess0 = ThinPreprocess(*prev_prev, channels, reduce=reduction_prev)
        self.preprocess1 = ThinPreprocess(*prev, channels, reduce=False)
        self.ops = nn.ModuleDict()
        for dst in range(2, 2 + cfg.n_intermediate):
            for src in range(dst):
                for op in cfg.ops:
                    if op != NULL:
                        stride = 2 if reduction and src < 2 else 1
                        self.ops[f"{src}_{dst}_{op}"] = build_op(op, channels, stride, affine=False)
        untracked(self.ops)

    def forward(self, s0: Slots, s1: Slots, cell: Cell) -> Slots:
        states: dict[int, torch.Tensor] = {}
        edges = cell.computed_edges()
        used = {e.src for _, e in edges}
        if 0 in used:
            states[0] = self.preprocess0(*s0)
        if 1 in used:
            states[1] = self.preprocess1(*s1)
        for _, e in edges:
            h = self.ops[f"{e.src}_{e.dst}_{e.op}"](states[e.src])
            states[e.dst] = h if e.dst not in states else states[e.dst] + h
        outputs = cell.output_nodes()
        return torch.cat([states[n] for n in outputs], dim=1), tuple(n - 2 for n in outputs)


class Supernet(nn.Module):
    """A stack of :class:`SuperCell` s in the DARTS search layout (stem, L cells, classifier)."""

    def __init__(self, cfg: SupernetConfig) -> None:
        super().__init__()
        self.config = cfg
        c = cfg.channels
        c_stem = cfg.stem_multiplier * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), _bn(c_stem))
        prev_prev = prev = (c_stem, 1)  # (channels per slot, number of slots)
        reduction_prev = False
        self.cells = nn.ModuleList()
        for i in range(cfg.layers):
            reduction = i in (cfg.layers // 3, 2 * cfg.layers // 3)
            c = c * 2 if reduction else c
            self.cells.append(SuperCell(cfg, prev_prev=prev_prev, prev=prev, channels=c, reduction=reduction,
                                        reduction_prev=reduction_prev))
            prev_prev, prev, reduction_prev = prev, (c, cfg.n_intermediate), reduction
        self.classifier_weight = nn.Parameter(torch.empty(cfg.num_classes, c * cfg.n_intermediate))
        self.classifier_bias = nn.Parameter(torch.zeros(cfg.num_classes))
        nn.init.normal_(self.classifier_weight, std=0.01)
        self._c_last = c
        self.memory_format = torch.contiguous_format

    def use_channels_last(self) -> "Supernet":
        """Run in NHWC: convolutions at CIFAR sizes are ~1.6x faster on CPU (and faster on GPU).

        Call before creating optimisers. Only 4-D weights change layout; the thin 1x1 weights
        are sliced per call and stay as they are."""
        self.memory_format = torch.channels_last
        to_channels_last(self)
        return self

    def check(self, genotype: Genotype) -> None:
        """Raise :class:`NatError` if this supernet cannot run ``genotype``."""
        for name, cell in genotype.cells().items():
            if cell.n_nodes - 2 > self.config.n_intermediate:
                raise NatError(f"{name} cell has {cell.n_nodes - 2} intermediate nodes; this supernet holds "
                               f"at most {self.config.n_intermediate}")
            missing = sorted({e.op for e in cell.edges if e.op != NULL and e.op not in self.config.ops})
            if missing:
                raise NatError(f"{name} cell uses {', '.join(missing)}, which this supernet does not hold "
                               f"(its ops: {', '.join(self.config.ops)})")

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        s = self.stem(downsample(x, self.config.input_size).contiguous(memory_format=self.memory_format))
        s0 = s1 = (s, (0,))
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, genotype.reduce if cell.reduction else genotype.normal)
        features, slots = s1
        # Sums of skips and pools are not normalised, so the scale of the last cell's output
        # differs from one architecture to the next (up to ~10x); a classifier fitted to one
        # scale then blows up on another. Batch statistics put every architecture on one scale.
        features = F.batch_norm(features, None, None, training=True)
        pooled = features.mean(dim=(2, 3))
        k = self._c_last
        if slots == tuple(range(self.config.n_intermediate)):
            w = self.classifier_weight
        else:
            w = torch.cat([self.classifier_weight[:, s * k:(s + 1) * k] for s in slots], dim=1)
        return F.linear(pooled, w, self.classifier_bias)


# -- which supernet each space trains (owned here, by the search layer) --------------------------
# Each supernet module registers itself (``@register_supernet("nb201")``); this module imports none
# of them. :mod:`nat.search.supernets` is the factory that loads them all and builds one.
_SUPERNETS: dict[str, type] = {}


def register_supernet(space: str):
    """Class decorator: train ``space``'s search with the class, called as ``cls(SupernetConfig)``;
    a space without an entry is DARTS-style and gets :class:`Supernet`."""
    def register(cls: type) -> type:
        _SUPERNETS[space] = cls
        return cls
    return register


def supernet_class(space: str) -> type:
    return _SUPERNETS.get(space, Supernet)
