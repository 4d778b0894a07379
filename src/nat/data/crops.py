"""Per-image geometry of the ImageNet recipe: decode, random-resized crop, flip; resize + centre crop.

These run in the streaming loader's worker processes (:mod:`nat.data.stream`), one image at a
time, because images of different sizes cannot be batched before they are cropped. Pixels are
resampled by Pillow (bilinear with antialiasing, as ``torchvision.transforms`` does on PIL
images); every random number comes from the ``torch.Generator`` passed in, so a crop is a function
of the generator's seed alone.

1. Training, the "Inception" crop (Szegedy et al., 2015; ``RandomResizedCrop``): a window of
   ``scale`` (default 8%-100%) of the image's area and an aspect ratio log-uniform in ``ratio``
   (3/4-4/3); ten tries, then the whole image clipped to the nearest allowed ratio, centred. The
   window is resized to ``size`` x ``size`` and mirrored with probability 1/2.
2. Evaluation: the shorter side resized to ``resize`` (256 for 224), then the central ``size`` x
   ``size`` window.

``draft`` lets the JPEG decoder skip detail the crop would throw away anyway: when the window is
at least twice the output size, the file is decoded at 1/2, 1/4 or 1/8 scale (DCT scaling) and
the window scaled with it. The pixels then differ slightly from a full decode followed by the same
resize (a different low-pass filter), and decoding is up to several times faster
(``bench/bench_stream.py``). Evaluation never drafts, so test accuracy is the standard one.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image, ImageOps

__all__ = ["crop_box", "inception_crop", "center_crop", "fit_square", "SCALE", "RATIO"]

SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def crop_box(width: int, height: int, generator: torch.Generator, scale: tuple[float, float] = SCALE,
             ratio: tuple[float, float] = RATIO) -> tuple[int, int, int, int]:
    """A random window ``(left, top, width, height)`` of a ``width`` x ``height`` image, drawn as
    ``RandomResizedCrop.get_params`` draws it."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_ratio[0], log_ratio[1], generator))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (), generator=generator))
            left = int(torch.randint(0, width - w + 1, (), generator=generator))
            return left, top, w, h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def _open(blob: bytes) -> Image.Image:
    return Image.open(io.BytesIO(blob))


def inception_crop(blob: bytes, size: int, generator: torch.Generator, *, scale: tuple[float, float] = SCALE,
                   ratio: tuple[float, float] = RATIO, flip: bool = True, draft: bool = True) -> np.ndarray:
    """Decode one encoded image and return its random-resized crop, uint8 (size, size, 3)."""
    with _open(blob) as image:
        width, height = image.size  # from the header: nothing decoded yet
        left, top, w, h = crop_box(width, height, generator, scale, ratio)
        mirror = flip and bool(torch.rand((), generator=generator) < 0.5)
        if draft and image.format == "JPEG" and min(w, h) >= 2 * size:
            # Ask for the smallest decode that still gives the window >= size pixels per side.
            want = (math.ceil(width * size / w), math.ceil(height * size / h))
            image.draft("RGB", want)
            sx, sy = image.size[0] / width, image.size[1] / height
            left, top, w, h = left * sx, top * sy, w * sx, h * sy
        image = image.convert("RGB")
        out = image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    if mirror:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(out, dtype=np.uint8)


def center_crop(blob: bytes, size: int, resize: int) -> np.ndarray:
    """Decode, resize the shorter side to ``resize`` and cut the central ``size`` x ``size``
    window (``Resize(resize)`` then ``CenterCrop(size)``), uint8 (size, size, 3)."""
    with _open(blob) as image:
        image = image.convert("RGB")
        width, height = image.size
        if width <= height:
            new = (resize, int(resize * height / width))
        else:
            new = (int(resize * width / height), resize)
        image = image.resize(new, Image.BILINEAR)
    top = int(round((new[1] - size) / 2.0))
    left = int(round((new[0] - size) / 2.0))
    if top < 0 or left < 0:
        raise ValueError(f"cannot cut {size}x{size} from an image resized to {new[0]}x{new[1]}")
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def fit_square(blob: bytes, size: int | None) -> np.ndarray:
    """Decode; if ``size`` is given, scale and centre-crop to a square of that side. The one
    decoding of both paths: :func:`nat.data.decode.decode_images` (in memory, ``image_size``) and
    the streaming loader's ``Geometry("fit")``."""
    with _open(blob) as image:
        image = image.convert("RGB")
        if size is not None:
            image = ImageOps.fit(image, (size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)
