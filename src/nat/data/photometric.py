"""Batch colour augmentation of the ImageNet recipe, in torch, on whatever device the batch is on.

Runs after the per-image crops (:mod:`nat.data.crops`), on a whole uint8 NHWC batch, so that on a
GPU it costs next to nothing and the data workers only decode and crop:

1. colour jitter as ``torchvision.transforms.ColorJitter(brightness, contrast, saturation, hue)``
   (DARTS's ImageNet recipe: 0.4, 0.4, 0.4, 0.2): per image, a factor uniform in
   ``[max(0, 1 - b), 1 + b]`` for brightness (scale), contrast (blend with the image's mean grey)
   and saturation (blend with its grey image), and a hue shift uniform in ``[-hue, hue]`` turns
   of the colour wheel, the four applied in an order drawn per image, each result clipped to
   [0, 1];
2. PCA lighting noise (Krizhevsky et al., 2012): add ``eigvec @ (alpha * eigval)`` to every pixel,
   ``alpha ~ N(0, lighting)`` per image and component, with the principal components of ImageNet's
   RGB pixels (the values every public ImageNet pipeline uses);
3. normalisation by the channel mean and standard deviation, giving float32 NCHW.

Random numbers come from the generator passed in (on its own device), so one seed gives the same
batch on CPU and GPU up to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["ColourAugment", "color_jitter", "lighting", "rgb_to_hsv", "hsv_to_rgb",
           "IMAGENET_EIGVAL", "IMAGENET_EIGVEC"]

#: Eigenvalues and eigenvectors (columns) of the covariance of ImageNet's RGB pixels on the [0, 1] scale.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))

_GREY = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, as PIL's convert("L") and torchvision use


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    source = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=source).to(device)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    w = torch.tensor(_GREY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> HSV, each in [0, 1] (hue in turns)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # For each sector i, which of (v, q, p, t) each channel takes.
    table = torch.tensor([[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=x.device)
    choices = torch.stack([v, q, p, t], 1)  # (N, 4, H, W)
    index = table[i].permute(0, 3, 1, 2)  # (N, 3, H, W)
    return choices.gather(1, index)


def color_jitter(x: torch.Tensor, generator: torch.Generator | None = None, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.2) -> torch.Tensor:
    """ColorJitter on a float (N, 3, H, W) batch in [0, 1]; a fresh tensor, also in [0, 1]."""
    n = len(x)
    factors = [1 + (2 * _rand((n,), generator, x.device) - 1) * s for s in (brightness, contrast, saturation)]
    factors = [f.clamp_min(0).view(n, 1, 1, 1) for f in factors]
    shift = ((2 * _rand((n,), generator, x.device) - 1) * hue).view(n, 1, 1)
    order = _rand((n, 4), generator, x.device).argsort(1)  # a random permutation per image
    active = (brightness > 0, contrast > 0, saturation > 0, hue > 0)
    x = x.clone()
    for position in range(4):
        for op in range(4):
            chosen = (order[:, position] == op).nonzero().flatten()
            if not active[op] or len(chosen) == 0:
                continue
            part = x[chosen]
            if op == 0:
                part = part * factors[0][chosen]
            elif op == 1:
                mean = _grey(part).mean((1, 2, 3), keepdim=True)
                part = mean + factors[1][chosen] * (part - mean)
            elif op == 2:
                grey = _grey(part)
                part = grey + factors[2][chosen] * (part - grey)
            else:
                hsv = rgb_to_hsv(part)
                hsv[:, 0] = (hsv[:, 0] + shift[chosen]) % 1.0
                part = hsv_to_rgb(hsv)
            x[chosen] = part.clamp(0, 1)
    return x


def lighting(x: torch.Tensor, std: float, generator: torch.Generator | None = None,
             eigval: Sequence[float] = IMAGENET_EIGVAL,
             eigvec: Sequence[Sequence[float]] = IMAGENET_EIGVEC) -> torch.Tensor:
    """AlexNet's PCA lighting noise on a float (N, 3, H, W) batch (not clipped, as in AlexNet)."""
    if std <= 0:
        return x
    n = len(x)
    source = generator.device if generator is not None else torch.device("cpu")
    alpha = (torch.randn((n, 3), generator=generator, device=source) * std).to(x.device)
    val = torch.tensor(eigval, dtype=x.dtype, device=x.device)
    vec = torch.tensor(eigvec, dtype=x.dtype, device=x.device)
    rgb = (alpha * val) @ vec.T  # (N, 3): sum_k vec[:, k] * alpha_k * val_k
    return x + rgb.view(n, 3, 1, 1)


@dataclass(frozen=True)
class ColourAugment:
    """The training transform after the crops: uint8 NHWC -> jittered, lit, normalised float NCHW.

    Has the call signature of :class:`nat.data.augment.Augment`, so either fits a loader.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.2
    lighting: float = 0.1

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # contiguous: a permuted NHWC batch is channels-last in memory, which torch 2.13's CPU
        # convolutions can crash on at ImageNet sizes (nat train picks the format itself).
        x = images.permute(0, 3, 1, 2).contiguous().float().div_(255)
        if max(self.brightness, self.contrast, self.saturation, self.hue) > 0:
            x = color_jitter(x, generator, self.brightness, self.contrast, self.saturation, self.hue)
        x = lighting(x, self.lighting, generator)
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)

