"""The decoded data set: images, labels, class names and per-channel statistics.

Every reader (official CIFAR-10 pickles, image folders, archives) and the decode cache produce a
:class:`Dataset`; training code only ever sees this one shape of data. Images are kept as they
are stored on disk, ``uint8`` NHWC, so that a whole CIFAR-10 training set stays at 150 MB and can
live on the accelerator; conversion to normalised float NCHW happens per batch
(:mod:`nat.data.augment`). The mean and standard deviation per channel are those of the training
images on the [0, 1] scale, which is what ``transforms.Normalize`` receives in the reference
DARTS/NAT code (0.4914, 0.4822, 0.4465 / 0.2470, 0.2435, 0.2616 for CIFAR-10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NatError

__all__ = ["Dataset", "channel_stats", "channel_histogram", "stats_from_histogram"]

# Images per bincount call in channel_stats: bounds the temporaries whatever N is.
_STATS_CHUNK = 4096


def channel_histogram(images: np.ndarray) -> np.ndarray:
    """(C, 256) counts of each uint8 value per channel of NHWC (or (..., C)) images, in chunks
    that bound the temporaries whatever N is."""
    channels = images.shape[-1]
    hist = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(images), _STATS_CHUNK):
        chunk = images[start:start + _STATS_CHUNK].reshape(-1, channels)
        for c in range(channels):
            hist[c] += np.bincount(chunk[:, c], minlength=256)
    return hist


def stats_from_histogram(hist: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation on [0, 1] from :func:`channel_histogram`
    counts (summed over any number of images)."""
    hist = hist.astype(np.float64)
    values = np.arange(256) / 255.0
    count = hist.sum(axis=1)
    mean = hist @ values / count
    var = (hist * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / count
    return tuple(float(m) for m in mean), tuple(float(s) for s in np.sqrt(var))


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of uint8 NHWC images, in [0, 1].

    Counts a 256-bin histogram per channel instead of summing floats: exact, and it needs no
    float copy of the images (a float64 copy of CIFAR-10 would be 1.2 GB).
    """
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise ValueError(f"channel_stats needs non-empty uint8 NHWC images, got {images.dtype} "
                         f"{images.shape}")
    return stats_from_histogram(channel_histogram(images))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set held in memory.

    Attributes:
        name: short name, e.g. ``"cifar10"`` or the source's file name.
        classes: class names; label ``i`` means ``classes[i]``.
        train_images, test_images: ``uint8`` arrays of shape (N, H, W, 3).
        train_labels, test_labels: ``int64`` arrays of shape (N,).
        mean, std: per-channel statistics of the training images on the [0, 1] scale.
    """

    name: str
    classes: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_arrays(cls, name: str, classes: tuple[str, ...] | list[str], train_images: np.ndarray,
                    train_labels: np.ndarray, test_images: np.ndarray,
                    test_labels: np.ndarray) -> "Dataset":
        """Build a data set, computing the channel statistics from the training images."""
        train_labels = np.asarray(train_labels, dtype=np.int64)
        test_labels = np.asarray(test_labels, dtype=np.int64)
        _check_split(name, "train", train_images, train_labels, len(classes))
        _check_split(name, "test", test_images, test_labels, len(classes))
        mean, std = channel_stats(train_images)
        return cls(name, tuple(classes), train_images, train_labels, test_images, test_labels,
                   mean, std)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(self.train_images.shape[1:])

    def __repr__(self) -> str:
        h, w, _ = self.image_shape
        return (f"Dataset({self.name!r}, {len(self.train_images)} train / {len(self.test_images)} "
                f"test images of {h}x{w}, {self.num_classes} classes)")


def _check_split(name: str, split: str, images: np.ndarray, labels: np.ndarray,
                 num_classes: int) -> None:
    """Reject arrays that would fail later, far from their origin (a bad label, a wrong dtype)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise NatError(f"{name}: {split} images must be uint8 (N, H, W, 3), got {images.dtype} "
                       f"{images.shape}")
    if labels.shape != (len(images),):
        raise NatError(f"{name}: {len(images)} {split} images but {labels.size} labels")
    if len(images) == 0:
        raise NatError(f"{name}: the {split} split has no images")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise NatError(f"{name}: {split} labels must lie in [0, {num_classes}), found "
                       f"{labels.min()}..{labels.max()}")
