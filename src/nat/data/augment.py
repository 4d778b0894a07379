"""Batch augmentation in torch, on whatever device the batch is on.

The CIFAR-10 training pipeline of DARTS and NAT, applied to whole batches without per-image
Python loops:

1. random crop: pad 4 pixels of zeros on each side, take a random 32x32 window
   (``transforms.RandomCrop(32, padding=4)``);
2. random horizontal flip with probability 1/2;
3. conversion to float on the [0, 1] scale and normalisation by the data set's channel mean
   and standard deviation;
4. optional cutout (DeVries & Taylor, 2017, arXiv:1708.04552): a ``size`` x ``size`` square,
   centred at a uniform pixel of the image and clipped at its borders, is set to zero. As in
   their code it comes after normalisation, so the square holds the mean colour.

Steps 1-2 work on the stored uint8 NHWC layout (cheap to move and index); steps 3-4 produce the
float NCHW layout models take. Random numbers are drawn from an explicit ``torch.Generator`` on
the generator's own device and then moved to the batch's, so one seed gives the same
augmentation on CPU and GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augment", "to_normalized", "random_crop", "random_flip", "cutout"]


def _randint(high: int, n: int, generator: torch.Generator | None,
             device: torch.device) -> torch.Tensor:
    """n integers uniform in [0, high), drawn on the generator's device, returned on ``device``."""
    source = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(high, (n,), generator=generator, device=source).to(device)


def to_normalized(images: torch.Tensor, mean: Sequence[float],
                  std: Sequence[float]) -> torch.Tensor:
    """uint8 NHWC images -> float32 NCHW, scaled to [0, 1] and normalised per channel."""
    x = images.permute(0, 3, 1, 2).float().div_(255)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(mean_t).div_(std_t)


def random_crop(images: torch.Tensor, padding: int,
                generator: torch.Generator | None = None, fill: Sequence[int] | None = None) -> torch.Tensor:
    """Pad NHWC images by ``padding`` on each side (zeros, or the per-channel ``fill`` value) and
    cut a random window of the original size from each (an independent offset per image)."""
    n, h, w, _ = images.shape
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))
    if fill is not None:
        border = torch.ones(h + 2 * padding, w + 2 * padding, dtype=torch.bool, device=images.device)
        border[padding:padding + h, padding:padding + w] = False
        value = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
        padded[:, border] = value
    top = _randint(2 * padding + 1, n, generator, images.device)
    left = _randint(2 * padding + 1, n, generator, images.device)
    rows = top[:, None] + torch.arange(h, device=images.device)  # (N, H)
    cols = left[:, None] + torch.arange(w, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indexing gathers every image's own window in one call: result (N, H, W, C).
    return padded[batch, rows[:, :, None], cols[:, None, :]]


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each NHWC image left-right with probability 1/2."""
    flip = _randint(2, len(images), generator, images.device).bool()
    return torch.where(flip[:, None, None, None], images.flip(2), images)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero a ``size`` x ``size`` square per NCHW image, centred at a uniform pixel and clipped
    at the borders (so a square near an edge is smaller), as in DeVries & Taylor."""
    n, _, h, w = x.shape
    cy = _randint(h, n, generator, x.device)
    cx = _randint(w, n, generator, x.device)
    top, left = cy - size // 2, cx - size // 2  # [top, top + size) before clipping
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_rows = (ys >= top[:, None]) & (ys < top[:, None] + size)  # (N, H)
    in_cols = (xs >= left[:, None]) & (xs < left[:, None] + size)  # (N, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W); clipping is implicit
    return x.masked_fill(hole[:, None], 0)


@dataclass(frozen=True)
class Augment:
    """The training (or, with :meth:`for_eval`, test) transform of a data set.

    Calling it maps a uint8 NHWC batch to a normalised float32 NCHW batch on the same device.

    Attributes:
        mean, std: the data set's channel statistics on the [0, 1] scale.
        crop_padding: zero padding for the random crop; 0 disables cropping.
        flip: random horizontal flips.
        cutout: side of the cutout square; 0 disables it (16 is the CIFAR-10 setting).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0
    #: pad crops with the data set's mean colour instead of black, so padded training images are
    #: closer to unpadded test images (measured on the nb201 supernet: no difference; README)
    mean_fill: bool = False

    @classmethod
    def for_eval(cls, mean: Sequence[float], std: Sequence[float]) -> "Augment":
        """Normalisation only."""
        return cls(tuple(mean), tuple(std), crop_padding=0, flip=False, cutout=0)

    def __call__(self, images: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        if self.crop_padding:
            fill = tuple(round(255 * m) for m in self.mean) if self.mean_fill else None
            images = random_crop(images, self.crop_padding, generator, fill)
        if self.flip:
            images = random_flip(images, generator)
        x = to_normalized(images, self.mean, self.std)
        if self.cutout:
            x = cutout(x, self.cutout, generator)
        return x
