"""Decoding encoded images (JPEG, PNG, ...) into one uint8 NHWC array, in parallel.

Decoding is the only slow step of loading an image-folder data set (60,000 CIFAR-10 JPEGs take
about 6 s on one core of the development machine, 3.5 s on two) and it happens once: the result
is cached (:mod:`nat.data.cache`). Images are decoded in chunks by a process pool; each worker
returns either a stacked chunk or the position and reason of the first image it could not use,
so a bad file is reported by its path as one line instead of a traceback from inside the pool.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence

import numpy as np
from PIL import UnidentifiedImageError
from tqdm import tqdm

from ..errors import NatError
from .crops import fit_square

__all__ = ["IMAGE_SUFFIXES", "decode_images"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif",
                            ".tiff"})

# Below this many images a pool costs more to start than it saves.
_PARALLEL_MIN = 4000
_CHUNK = 1000


def decode_images(blobs: Sequence[bytes], names: Sequence[str], *, image_size: int | None = None,
                  workers: int | None = None, progress: bool = True) -> np.ndarray:
    """Decode encoded images into a uint8 array of shape (N, H, W, 3).

    Args:
        blobs: the encoded files.
        names: where each came from, for error messages (a path, or ``archive:member``).
        image_size: if given, each image is scaled and centre-cropped to a square of this side
            (``ImageOps.fit``); otherwise every image must have the size of the first.
        workers: processes to decode with; ``None`` picks one per available core for large
            inputs on Linux, where a forked worker starts instantly (elsewhere, decoding is
            serial: a spawned worker would re-import torch, costing more than it saves).
        progress: show a progress bar.
    """
    if len(blobs) != len(names):
        raise ValueError("decode_images needs one name per blob")
    if not blobs:
        return np.zeros((0, image_size or 0, image_size or 0, 3), dtype=np.uint8)
    starts = range(0, len(blobs), _CHUNK)
    jobs = [(list(blobs[s:s + _CHUNK]), image_size) for s in starts]
    count = _worker_count(len(blobs), workers)
    chunks: list[np.ndarray] = []
    # The pool is created before the progress bar so that no tqdm monitor thread exists when
    # the workers are forked.
    pool = multiprocessing.get_context("fork").Pool(count) if count > 1 else None
    try:
        results = pool.imap(_decode_chunk, jobs) if pool else map(_decode_chunk, jobs)
        with tqdm(total=len(blobs), desc="decoding images", unit="img", disable=not progress,
                  leave=False) as bar:
            for start, result in zip(starts, results):
                if isinstance(result, tuple):
                    index, reason = result
                    raise NatError(f"{names[start + index]}: {reason}")
                if chunks and result.shape[1:] != chunks[0].shape[1:]:
                    raise NatError(_size_mismatch(names[start], result, names[0], chunks[0]))
                chunks.append(result)
                bar.update(len(result))
    finally:
        if pool:
            pool.terminate()
    return np.concatenate(chunks)


def _worker_count(n: int, workers: int | None) -> int:
    if "fork" not in multiprocessing.get_all_start_methods() or in_process_group():
        return 1
    if workers is not None:
        return max(1, workers)
    if n < _PARALLEL_MIN or not sys.platform.startswith("linux"):
        return 1
    return len(os.sched_getaffinity(0))


def in_process_group() -> bool:
    """Whether this process is a DDP rank, i.e. has gloo's or NCCL's threads running. A child forked
    while one of them holds a lock can hang (nat.data.stream._worker_context), so such a process
    must not fork: it decodes serially, and its streaming workers start from a fork server."""
    import torch.distributed  # here: decoding alone does not need torch at import time

    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _decode_chunk(job: tuple[list[bytes], int | None]) -> np.ndarray | tuple[int, str]:
    """Decode one chunk; on failure return (index in chunk, one-line reason) instead of raising,
    because exceptions crossing the pool lose the context needed to name the file."""
    blobs, image_size = job
    images = []
    for i, blob in enumerate(blobs):
        try:
            # the streaming loader decodes with the same function, so both paths give the same pixels
            array = fit_square(blob, image_size)  # converting loads the pixels: a truncated file fails here
        except UnidentifiedImageError:
            return i, "cannot decode image (not in a format Pillow reads)"
        except Exception as error:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ...
            reason = " ".join(str(error).split()) or type(error).__name__
            return i, f"cannot decode image ({reason})"
        if images and array.shape != images[0].shape:
            h, w = images[0].shape[:2]
            return i, (f"image is {array.shape[1]}x{array.shape[0]}, unlike the {w}x{h} images "
                       f"before it; pass image_size to resize")
        images.append(array)
    return np.stack(images)


def _size_mismatch(name: str, chunk: np.ndarray, first_name: str, first: np.ndarray) -> str:
    return (f"{name}: image is {chunk.shape[2]}x{chunk.shape[1]}, but {first_name} is "
            f"{first.shape[2]}x{first.shape[1]}; pass image_size to resize")
