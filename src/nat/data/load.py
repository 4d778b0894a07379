"""The single entry point of the data layer: a ``--data`` value in, a :class:`Dataset` out.

``spec`` is a path to any layout :mod:`nat.data.readers` understands (folder or archive), or
the name ``cifar10``, which means the official archive, downloaded into the cache folder on
first use (:mod:`nat.data.download`). An existing path always wins over a name, so a folder
called ``cifar10`` in the working directory is read, not downloaded. Whatever the source, its
decoded arrays come from the cache (:mod:`nat.data.cache`) whenever the source is unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import NatError
from . import readers
from .cache import cached, default_cache_dir
from .dataset import Dataset
from .download import CIFAR10_MD5, fetch_cifar10

__all__ = ["load_dataset", "DOWNLOADABLE"]

DOWNLOADABLE = ("cifar10", "cifar-10")


def load_dataset(spec: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                 image_size: int | None = None, url: str | None = None, md5: str = CIFAR10_MD5,
                 workers: int | None = None, progress: bool = True) -> Dataset:
    """Load a data set, decoding it only if the cache has no current copy.

    Args:
        spec: a folder or archive, or ``"cifar10"`` to use (and if needed download) the
            official archive.
        cache_dir: where decoded arrays and downloads live; default ``$NAT_CACHE`` or
            ``~/.cache/nat``.
        image_size: scale and centre-crop image-folder images to this square side (needed when
            their sizes differ, e.g. ImageNet); ``None`` keeps them as they are.
        url, md5: download source and checksum for ``"cifar10"``; the URL defaults to
            ``$NAT_CIFAR10_URL``, else the official one.
        workers: decoding processes (``None``: automatic).
        progress: show progress bars while downloading and decoding.

    Raises:
        NatError: a missing, unreadable or malformed source, or a failed download.
    """
    if image_size is not None and image_size < 1:
        raise NatError(f"image_size must be a positive number of pixels, got {image_size}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = Path(spec).expanduser()
    if not path.exists():
        if str(spec).lower() not in DOWNLOADABLE:
            raise NatError(f"{spec}: no such file or folder (give a data folder or archive, or "
                           f"'cifar10' to download CIFAR-10)")
        path = fetch_cifar10(cache, url=url, md5=md5, progress=progress)
    path = path.resolve()
    options = f"image_size={image_size}"
    # readers.read_dataset is looked up at call time so tests can stand in for the decoder.
    return cached(path, lambda: readers.read_dataset(path, image_size=image_size, workers=workers,
                                                     progress=progress),
                  cache_dir=cache, options=options)
