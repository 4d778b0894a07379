"""Which loaders and transforms a training config gets: in memory or streamed, CIFAR or ImageNet recipe.

One place decides, so ``nat train`` and ``nat evaluate`` feed a network the same way:

=================  ==============================  ===========================================
``augment``        training batches                 test batches
=================  ==============================  ===========================================
``pad-crop``       pad + crop, flip, cutout         normalised as stored (or fitted to
                   (:class:`~nat.data.Augment`)     ``image_size``)
``inception``      random-resized crop + flip in    shorter side to ``image_size * 8/7``
                   the workers, colour jitter and   (256 for 224), central ``image_size``
                   lighting on the device           crop
=================  ==============================  ===========================================

``pad-crop`` works from memory or streamed (the two give identical batches); ``inception``
always streams, since it crops the full-size files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import NatError
from .config import TrainConfig

__all__ = ["TrainingData", "open_training_data", "train_loader", "test_loader"]


@dataclass(frozen=True, eq=False)
class TrainingData:
    """A data set as the trainer sees it, whichever way it is held."""

    source: object  # nat.data.Dataset or nat.data.stream.ImageFolderSource
    streamed: bool
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_train: int
    n_test: int
    image_size: tuple[int, int]  # (height, width) of what the network receives

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def open_training_data(cfg: TrainConfig, *, data: str | None = None, cache_dir: str | None = None,
                       progress: bool = True) -> TrainingData:
    """Open ``data`` (default ``cfg.data``) as ``cfg.loader`` and ``cfg.augment`` ask."""
    from ..data import Dataset, open_source
    source = open_source(data or cfg.data, mode=cfg.loader, image_size=cfg.image_size,
                         needs_files=cfg.augment == "inception", cache_dir=cache_dir or cfg.cache_dir,
                         progress=progress)
    if isinstance(source, Dataset):
        h, w, _ = source.image_shape
        return TrainingData(source, False, source.classes, source.mean, source.std, len(source.train_images),
                            len(source.test_images), (h, w))
    if cfg.image_size is not None:
        size = (cfg.image_size, cfg.image_size)
    else:
        size = source.first_size[::-1]
    return TrainingData(source, True, source.classes, source.mean, source.std, len(source.train_files),
                        len(source.test_files), size)


def train_loader(data: TrainingData, cfg: TrainConfig, batch: int, *, indices: np.ndarray | None,
                 device: torch.device, rank: int, world_size: int):
    """The training loader: shuffled, ``drop_last`` (equal steps on every DDP rank)."""
    from ..data import Augment, BatchLoader
    from ..data.photometric import ColourAugment
    from ..data.stream import Geometry, StreamLoader
    common = {"indices": indices, "device": device, "drop_last": True, "seed": cfg.seed, "rank": rank,
              "world_size": world_size}
    s = data.source
    if cfg.augment == "inception":
        if not data.streamed:  # open_source refuses this; kept for callers that build data themselves
            raise NatError("the inception recipe needs streamed data (loader stream)")
        geometry = Geometry("inception", cfg.image_size, scale=(cfg.crop_scale, 1.0), flip=cfg.flip)
        transform = ColourAugment(s.mean, s.std, cfg.jitter, cfg.jitter, cfg.jitter, cfg.hue, cfg.lighting)
    else:
        geometry = Geometry("fit", cfg.image_size)
        transform = Augment(s.mean, s.std, crop_padding=cfg.crop_padding, flip=cfg.flip, cutout=cfg.cutout)
    if not data.streamed:
        return BatchLoader(s.train_images, s.train_labels, batch, transform=transform, **common)
    return StreamLoader(s.root, s.train_files, s.train_labels, batch, geometry=geometry, transform=transform,
                        workers=cfg.workers, bad_images=cfg.bad_images, **common)


def test_loader(data: TrainingData, cfg: TrainConfig, batch: int, *, indices: np.ndarray | None,
                device: torch.device, mean=None, std=None):
    """The test loader, in order; normalised by ``mean``/``std`` (default: the data's own)."""
    from ..data import Augment, BatchLoader
    from ..data.stream import Geometry, StreamLoader
    transform = Augment.for_eval(mean or data.mean, std or data.std)
    s = data.source
    if not data.streamed:
        return BatchLoader(s.test_images, s.test_labels, batch, indices=indices, device=device, shuffle=False,
                           transform=transform)
    geometry = Geometry("center", cfg.image_size) if cfg.augment == "inception" else Geometry("fit", cfg.image_size)
    return StreamLoader(s.root, s.test_files, s.test_labels, batch, geometry=geometry, transform=transform,
                        indices=indices, device=device, shuffle=False, workers=cfg.workers,
                        bad_images=cfg.bad_images)
