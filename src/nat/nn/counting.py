"""Counting what a built network costs: parameters, and multiply-adds by FlopCounterMode.

The counters below everything that costs architectures (:mod:`nat.costs`): the networks'
own modules (the NAS-Bench-201 cost model, the backbones' part-by-part costs) use them too, so
they live in the layer that builds networks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["Cost", "count_params", "count_madds", "count_by_hooks", "network_cost"]


@dataclass(frozen=True)
class Cost:
    """What a network costs; plain counts, not millions."""

    params: int           # without the auxiliary head
    params_with_aux: int  # with it (equal to params when no head is built)
    madds: int            # multiply-adds of one image's forward pass

    def as_dict(self) -> dict:
        return asdict(self)


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def count_madds(model: torch.nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of ``model(example)`` in eval mode (half the FLOPs of convs and matmuls)."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def network_cost(model: torch.nn.Module) -> Cost:
    """Cost of a built network (a :class:`CellNetwork` or another with ``config.input_size`` and
    ``auxiliary_head``, such as the NAS-Bench-201 network)."""
    head = model.auxiliary_head
    aux = count_params(head) if head is not None else 0
    total = count_params(model)
    size = model.config.input_size
    return Cost(params=total - aux, params_with_aux=total, madds=count_madds(model, torch.zeros(1, 3, size, size)))


# MAdds by forward hooks on the only modules that multiply (Conv2d and Linear), by the formula
# FlopCounterMode uses (output elements x inputs per output). FlopCounterMode itself imports
# torch's compiler on first use (seconds of a command that needs milliseconds): the part-by-part
# costs (nat.costs) and the backbones count this way; count_madds stays the reference the tests
# hold them to.
_MULTIPLYING = (torch.nn.Conv2d, torch.nn.Linear)


def _layer_madds(module: torch.nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, torch.nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    return out.numel() * module.in_features


def count_by_hooks(module: torch.nn.Module, x: torch.Tensor) -> tuple[int, int, tuple[int, ...]]:
    """``(params, MAdds, output shape)`` of ``module`` on ``x``."""
    for m in module.modules():
        if not isinstance(m, _MULTIPLYING) and any(p.dim() > 1 for p in m.parameters(recurse=False)):
            raise TypeError(f"cannot count the multiply-adds of {type(m).__name__}: only Conv2d and Linear multiply")
    madds = [0]
    hooks = [m.register_forward_hook(lambda m, _, out: madds.__setitem__(0, madds[0] + _layer_madds(m, out)))
             for m in module.modules() if isinstance(m, _MULTIPLYING)]
    module.eval()
    try:
        with torch.no_grad():
            out = module(x)
    finally:
        for h in hooks:
            h.remove()
    return count_params(module), madds[0], tuple(out.shape)
