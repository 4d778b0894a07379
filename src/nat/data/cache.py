"""A disk cache of decoded data sets, so that images are decoded once, not on every run.

An entry is an uncompressed ``.npz`` (a CIFAR-10 entry is 185 MB and loads in well under a
second) named by a digest of everything the decoded arrays depend on:

* the source's absolute path, size and modification time (``st_mtime_ns``); for a folder also
  the relative path, size and modification time of every file below it, because replacing one
  image does not change the folder's own metadata;
* the reading options (e.g. ``image_size``) and :data:`FORMAT_VERSION`.

A changed source therefore maps to a new entry and is never served stale; the entry it replaces
is deleted once the new one is in place. Entries are written to a temporary file and moved into
place with ``os.replace``, so a crash or a concurrent reader (several DDP ranks) never sees a
partial file. An unreadable entry is treated as missing and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .dataset import Dataset

__all__ = ["CACHE_ENV", "FORMAT_VERSION", "default_cache_dir", "source_fingerprint", "cached"]

CACHE_ENV = "NAT_CACHE"
# Bump when the decoded arrays of an unchanged source would differ (a reader fix, a new field).
FORMAT_VERSION = 1

_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def default_cache_dir() -> Path:
    """``$NAT_CACHE`` if set, else ``~/.cache/nat``."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/nat").expanduser()


def source_fingerprint(path: Path) -> str:
    """A digest that changes whenever the file, or any file below the folder, changes."""
    path = path.resolve()
    digest = hashlib.sha256()
    stat = path.stat()
    digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    if path.is_dir():
        for folder, dirs, files in os.walk(path, followlinks=True):
            dirs.sort()
            for name in sorted(files):
                file = Path(folder, name)
                st = file.stat()
                rel = file.relative_to(path)
                digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached(source: Path, build: Callable[[], Dataset], *, cache_dir: Path,
           options: str = "") -> Dataset:
    """The data set decoded from ``source``: from the cache if current, else ``build()`` it and
    store the result.

    ``options`` names the reading options the result depends on, e.g. ``"image_size=224"``.
    """
    slot = _slot(source, options)
    entry = cache_dir / f"{slot}-{_key(source, options)}.npz"
    if entry.exists():
        dataset = _load(entry)
        if dataset is not None:
            return dataset
    dataset = build()
    try:
        _save(entry, dataset)
    except OSError as error:
        # A read-only or full disk should cost the next run time, not fail this one.
        # One line, said once: the run goes on, only the next one decodes again.
        print(f"nat: note: could not cache decoded data in {cache_dir} ({error.strerror or error}); "
              f"the next run decodes it again (set --cache-dir or ${CACHE_ENV} to a writable folder)",
              file=sys.stderr)
        return dataset
    for stale in cache_dir.glob(f"{slot}-*.npz"):
        if stale != entry:
            stale.unlink(missing_ok=True)
    return dataset


def _slot(source: Path, options: str) -> str:
    """What one source read one way is filed under; its entries replace each other."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.name)[:40]
    where = hashlib.sha256(f"{source.resolve()}\0{options}".encode()).hexdigest()[:12]
    return f"{name}-{where}"


def _key(source: Path, options: str) -> str:
    fingerprint = source_fingerprint(source)
    return hashlib.sha256(f"{fingerprint}\0{options}\0{FORMAT_VERSION}".encode()).hexdigest()[:16]


def _save(entry: Path, dataset: Dataset) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:  # a file object: np.savez would append ".npz" to a name
            np.savez(out, name=np.array(dataset.name), classes=np.array(dataset.classes, dtype=str),
                     mean=np.array(dataset.mean), std=np.array(dataset.std),
                     **{key: getattr(dataset, key) for key in _ARRAYS})
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache may be shared
        os.replace(tmp, entry)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(entry: Path) -> Dataset | None:
    try:
        with np.load(entry, allow_pickle=False) as npz:
            return Dataset(name=str(npz["name"]), classes=tuple(str(c) for c in npz["classes"]),
                           mean=tuple(float(m) for m in npz["mean"]),
                           std=tuple(float(s) for s in npz["std"]),
                           **{key: npz[key] for key in _ARRAYS})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
