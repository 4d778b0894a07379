"""The supernet factory: every space's supernet, built from a search config.

The supernet modules register themselves (:func:`nat.search.supernet.register_supernet`); this
module imports them all, so that asking for any space's supernet finds it.
"""

from __future__ import annotations

import torch
from torch import nn

from . import supernet_nb201  # noqa: F401  (registers the NAS-Bench-201 supernet)
from .supernet import SupernetConfig, supernet_class

__all__ = ["build_supernet", "supernet_class"]


def build_supernet(cfg, num_classes: int, device: torch.device | str = "cpu") -> nn.Module:
    """The supernet of ``cfg``'s space (a :class:`~nat.search.config.SearchConfig`): its ops plus
    ``extra_ops``, in channels-last memory if asked."""
    from ..arch.space import get_space
    space = get_space(cfg.space)
    ops = tuple(dict.fromkeys(space.ops + tuple(cfg.extra_ops)))
    supernet = supernet_class(space.name)(
        SupernetConfig(ops, cfg.channels, cfg.layers, space.n_intermediate, num_classes,
                       input_size=cfg.resolution)).to(device)
    if cfg.channels_last and hasattr(supernet, "use_channels_last"):
        supernet.use_channels_last()
    return supernet
