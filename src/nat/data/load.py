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
from .stream import ImageFolderSource, list_image_folder, open_image_folder

__all__ = ["load_dataset", "open_source", "memory_budget", "DOWNLOADABLE", "LOADERS"]

DOWNLOADABLE = ("cifar10", "cifar-10")
LOADERS = ("auto", "memory", "stream")
_BUDGET_CAP = 8 << 30  # auto streams above this many decoded bytes, whatever the free memory


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


def memory_budget() -> int:
    """Decoded bytes ``open_source(mode="auto")`` still keeps in memory: half the memory available
    now (``MemAvailable``), at most 8 GiB (CIFAR-10 takes 0.18 GB; ImageNet at 224, 200 GB)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return min(_BUDGET_CAP, int(line.split()[1]) * 1024 // 2)
    except OSError:
        pass
    return _BUDGET_CAP


def open_source(spec: str | os.PathLike, *, mode: str = "auto", image_size: int | None = None,
                needs_files: bool = False, cache_dir: str | os.PathLike | None = None,
                budget: int | None = None, progress: bool = True) -> Dataset | ImageFolderSource:
    """A data set to train on: decoded in memory (:class:`Dataset`) or streamed from its files
    (:class:`~nat.data.stream.ImageFolderSource`).

    ``mode="auto"`` streams an image folder whose decoded images would exceed ``budget`` bytes
    (default :func:`memory_budget`) or when ``needs_files`` (the ImageNet recipe crops each
    full-size file), and decodes everything else into memory; ``"memory"`` and ``"stream"`` force
    one. Archives and the official CIFAR-10 files are only read into memory.
    """
    if mode not in LOADERS:
        raise NatError(f"loader must be one of {', '.join(LOADERS)}, got {mode!r}")
    path = Path(spec).expanduser()
    tree = readers.open_tree(path.resolve()) if path.is_dir() else None  # one walk of a big folder, not two
    folder = tree is not None and readers.find_image_root(tree) is not None
    if mode == "memory" or (mode == "auto" and not folder and not needs_files):
        if needs_files:
            raise NatError(f"{spec}: the ImageNet recipe (random-resized crops) crops the full-size files, which "
                           f"the in-memory loader does not keep; stream them from an image folder")
        return load_dataset(spec, cache_dir=cache_dir, image_size=image_size, progress=progress)
    if not folder:
        what = "an archive" if path.is_file() else "not an image folder" if path.exists() else "no such folder"
        raise NatError(f"{spec}: {what}; streaming needs a folder of train/<class>/ and val/<class>/ images"
                       + (" (extract the archive)" if path.is_file() else ""))
    listing = list_image_folder(path, tree=tree)
    if mode == "auto" and not needs_files and listing.decoded_bytes(image_size) <= (budget or memory_budget()):
        return load_dataset(spec, cache_dir=cache_dir, image_size=image_size, progress=progress)
    return open_image_folder(listing, image_size=image_size, progress=progress)
