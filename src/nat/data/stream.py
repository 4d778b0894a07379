"""Streaming image folders of any size: files decoded on the fly by DataLoader worker processes.

The in-memory path (:class:`~nat.data.loader.BatchLoader`) decodes a data set once and keeps it
as uint8 on the accelerator, right for CIFAR-sized data and impossible for ImageNet (1.28 M
images, about 190 GB decoded at 224). Here only the file list lives in memory: each batch is read,
decoded and cropped by a worker process (``torch.utils.data.DataLoader`` with workers, pinned
memory and prefetching), and the batch-wise colour transform runs on the device afterwards.

The properties of the in-memory loader hold unchanged, and are tested on both:

- **Deterministic and resumable.** The epoch's order is drawn from ``(seed, epoch)`` and each
  batch's crops and colours from ``(seed, epoch, step, rank)``, never from a generator's running
  state or from which worker happens to serve a batch; the sampler hands out ``(epoch, step)``
  keys. A run stopped mid-epoch resumes from ``(epoch, step)`` with bit-identical batches, and
  the number of workers does not change a single pixel.
- **Sharded for DDP** exactly as the in-memory loader (:func:`~nat.data.loader.epoch_shard`):
  disjoint, equal, contiguous blocks of one permutation.
- **Bad files are named.** A file that cannot be read or decoded either stops the run with one
  line naming it (``bad_images="stop"``) or is left out of its batch and counted
  (``"skip"``); a worker that dies or a file system that stops answering (``timeout``) ends the
  run with one line instead of a hang.

The same crops and normalisation as the in-memory path are available (``Geometry("fit")`` decodes
exactly as :func:`~nat.data.decode.decode_images`), so a CIFAR-sized folder gives the same batches
either way.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import NatError
from . import crops
from .dataset import channel_histogram, stats_from_histogram
from .decode import in_process_group
from .loader import EpochCursor, batch_generator, epoch_shard
from .readers import Tree, image_folder_splits, open_tree

__all__ = ["Geometry", "ImageFolderSource", "FolderListing", "list_image_folder", "open_image_folder", "StreamLoader", "BAD_IMAGES",
           "default_workers"]

BAD_IMAGES = ("stop", "skip")
Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Geometry:
    """What a worker does to each decoded image (all outputs are uint8 ``size`` x ``size`` x 3).

    ``kind``: ``"inception"`` (random-resized crop and flip, training), ``"center"`` (resize the
    shorter side to ``resize``, cut the centre: evaluation), or ``"fit"`` (scale and centre-crop
    to ``size``, or keep the decoded size when ``size`` is None: the in-memory path's decoding).
    """

    kind: str = "fit"
    size: int | None = None
    resize: int | None = None  # center: the shorter side before the crop; None: size * 8 / 7 (256 for 224)
    scale: tuple[float, float] = crops.SCALE
    ratio: tuple[float, float] = crops.RATIO
    flip: bool = True
    draft: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("inception", "center", "fit"):
            raise ValueError(f"geometry kind must be inception, center or fit, got {self.kind!r}")
        if self.kind != "fit" and not (self.size and self.size >= 1):
            raise ValueError(f"the {self.kind} crop needs a positive size, got {self.size}")
        if not (0 < self.scale[0] <= self.scale[1] <= 1 and 0 < self.ratio[0] <= self.ratio[1]):
            raise ValueError(f"need 0 < scale_min <= scale_max <= 1 and 0 < ratio_min <= ratio_max, got "
                             f"scale {self.scale}, ratio {self.ratio}")

    @property
    def eval_resize(self) -> int:
        return self.resize or int(round(self.size * 8 / 7))

    def apply(self, blob: bytes, generator: torch.Generator) -> np.ndarray:
        if self.kind == "inception":
            return crops.inception_crop(blob, self.size, generator, scale=self.scale, ratio=self.ratio,
                                        flip=self.flip, draft=self.draft)
        if self.kind == "center":
            return crops.center_crop(blob, self.size, self.eval_resize)
        return crops.fit_square(blob, self.size)


# --- the file list -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ImageFolderSource:
    """An image-folder data set that is streamed: names and labels, not pixels.

    Attributes mirror :class:`~nat.data.dataset.Dataset` where they can (``classes``, labels,
    ``mean``/``std``); ``train_files``/``test_files`` are paths relative to ``root``. The channel
    statistics are estimated from a seeded sample of training images (``stats_images``), the
    same sample every time, so a resumed run normalises exactly as the first.
    """

    name: str
    root: Path
    classes: tuple[str, ...]
    train_files: tuple[str, ...]
    train_labels: np.ndarray
    test_files: tuple[str, ...]
    test_labels: np.ndarray
    test_split: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    first_size: tuple[int, int] = field(default=(0, 0))  # (width, height) of the first training image

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"ImageFolderSource({str(self.root)!r}, {len(self.train_files)} train / {len(self.test_files)} "
                f"{self.test_split} files, {self.num_classes} classes)")


@dataclass(frozen=True)
class FolderListing:
    """The file list of an image folder before anything is decoded (cheap: one directory walk)."""

    path: Path
    base: Path  # the folder holding train/ and val/ (or test/)
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]  # (path relative to base, label)
    test: tuple[tuple[str, int], ...]
    test_split: str
    first_size: tuple[int, int]  # (width, height) of the first training image

    def decoded_bytes(self, image_size: int | None) -> int:
        """What holding both splits in memory as uint8 would take (the in-memory path's cost)."""
        w, h = (image_size, image_size) if image_size else self.first_size
        return (len(self.train) + len(self.test)) * w * h * 3


def list_image_folder(path: str | os.PathLike, *, tree: Tree | None = None) -> FolderListing:
    """Walk an image folder (``train/<class>/`` beside ``val/<class>/`` or ``test/<class>/``).

    Raises:
        NatError: not a folder (archives are read whole: extract them to stream), no image folders,
            class folders that differ between the splits, or an unreadable first image.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        if path.exists():
            raise NatError(f"{path}: streaming reads image files one by one from a folder; extract the archive "
                           f"(tar -xf) and give the folder")
        raise NatError(f"{path}: no such folder")
    splits = image_folder_splits(tree or open_tree(path.resolve()))  # tree: the caller walked it already
    prefix = len(str(splits.root)) + 1 if splits.root.parts else 0
    base = splits.tree.origin / splits.root if splits.root.parts else splits.tree.origin
    train = tuple((n[prefix:], label) for n, label in splits.train)
    test = tuple((n[prefix:], label) for n, label in splits.test)
    first = base / train[0][0]
    try:
        with Image.open(first) as image:
            first_size = image.size
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise NatError(f"{first}: cannot read image ({_reason(error)})") from None
    return FolderListing(path, base, splits.classes, train, test, splits.test_split, first_size)


def open_image_folder(path: str | os.PathLike | FolderListing, *, image_size: int | None = None,
                      stats_images: int = 500, progress: bool = False) -> ImageFolderSource:
    """An image folder ready to stream: its file list and the channel statistics of a seeded sample.

    ``path`` may be a :func:`list_image_folder` result, to walk a large folder only once.
    """
    listing = path if isinstance(path, FolderListing) else list_image_folder(path)
    train = tuple(n for n, _ in listing.train)
    mean, std = _sample_stats(listing.base, train, image_size, stats_images, progress)
    return ImageFolderSource(_name(listing.path), listing.base, listing.classes, train,
                             np.array([label for _, label in listing.train], dtype=np.int64),
                             tuple(n for n, _ in listing.test),
                             np.array([label for _, label in listing.test], dtype=np.int64), listing.test_split,
                             mean, std, listing.first_size)


def _name(path: Path) -> str:
    return path.resolve().name


def _sample_stats(root: Path, files: Sequence[str], image_size: int | None, count: int,
                  progress: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel mean and std of a seeded sample of images, decoded as the loader will (fitted to
    ``image_size``, else at their own size); with every image sampled, exactly the in-memory
    path's statistics (:func:`~nat.data.dataset.channel_stats`)."""
    from tqdm import tqdm
    chosen = np.random.default_rng(0).permutation(len(files))[:max(1, count)]
    hist = np.zeros((3, 256), dtype=np.int64)
    first_error = None
    for i in tqdm(sorted(chosen), desc="channel statistics", unit="img", disable=not progress, leave=False):
        try:
            pixels = crops.fit_square((root / files[i]).read_bytes(), image_size)
        except Exception as error:  # noqa: BLE001 - the loader decides about bad files when it meets them
            first_error = first_error or f"{root / files[i]}: cannot decode image ({_reason(error)})"
            continue
        hist += channel_histogram(pixels[None])
    if not hist.any():
        raise NatError(f"no readable image among the {len(chosen)} sampled for channel statistics, e.g. {first_error}")
    return stats_from_histogram(hist)


def _reason(error: BaseException) -> str:
    if isinstance(error, UnidentifiedImageError):
        return "not in a format Pillow reads"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split()) or type(error).__name__


# --- the worker side ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to produce batch (epoch, step); picklable and small."""

    root: str
    # Fixed-width bytes in one numpy buffer, not a tuple of str: a forked worker that reads a
    # Python object writes its reference count, copying the page, so over an epoch every worker
    # would end up with its own copy of 1.28 M strings (PyTorch issue 13246).
    files: np.ndarray
    labels: np.ndarray
    indices: np.ndarray  # which files this loader uses
    batch_size: int
    geometry: Geometry
    seed: int
    shuffle: bool
    rank: int
    world_size: int
    transform: Transform | None = None  # applied in the worker (CPU training), else on the device


class _Batches(torch.utils.data.Dataset):
    """Maps an ``(epoch, step)`` key to that batch: decoded uint8 images, labels, and what failed."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self._shard: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:  # keys are not positions; the sampler decides what is asked for
        return 0

    def shard(self, epoch: int) -> torch.Tensor:
        if self._shard is None or self._shard[0] != epoch:
            p = self.plan
            self._shard = (epoch, epoch_shard(len(p.indices), epoch, seed=p.seed, shuffle=p.shuffle,
                                              rank=p.rank, world_size=p.world_size))
        return self._shard[1]

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, step = key
        p = self.plan
        positions = self.shard(epoch)[step * p.batch_size:(step + 1) * p.batch_size]
        chosen = p.indices[positions.numpy()]
        generator = batch_generator("crop", p.seed, epoch, step, p.rank)
        images, labels, bad = [], [], []
        for index in chosen:
            path = os.path.join(p.root, p.files[index].decode())
            try:
                with open(path, "rb") as handle:
                    blob = handle.read()
                array = p.geometry.apply(blob, generator)
            except Exception as error:  # noqa: BLE001 - report, do not die: the main process decides
                bad.append((path, _reason(error)))
                continue
            if images and array.shape != images[0].shape:
                h, w = images[0].shape[:2]
                bad.append((path, f"image is {array.shape[1]}x{array.shape[0]}, unlike the {w}x{h} images before "
                                  f"it; pass image_size to resize"))
                continue
            images.append(array)
            labels.append(int(p.labels[index]))
        if images:
            batch = torch.from_numpy(np.stack(images))
            if p.transform is not None:
                batch = p.transform(batch, batch_generator("augment", p.seed, epoch, step, p.rank))
        else:
            batch = torch.zeros((0, 0, 0, 3), dtype=torch.uint8)
        return {"images": batch, "labels": torch.tensor(labels, dtype=torch.int64), "bad": bad}


def _worker_init(_: int) -> None:
    # Each worker decodes one image at a time; torch's own threads would only fight the others.
    torch.set_num_threads(1)


def _worker_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: ``fork`` where it is safe, ``forkserver`` in a DDP process.

    fork starts a worker in milliseconds and shares the file list instead of pickling it. But a
    forked child inherits every lock as it was at the fork, while only the forking thread comes
    with it: a DDP process has gloo's communication threads running, and if one of them holds a
    lock of the C++ runtime at that moment the worker waits for it forever (a rare hang, seen once
    in CI; PyTorch issue 130610 is the same race with the pin-memory thread). The fork server is a
    fresh single-threaded process, started once, that forks the workers instead; the price is the
    plan pickled to each worker (the file list: 37 MB for ImageNet) once an epoch.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and not in_process_group():
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", __name__])  # workers fork from a server with torch loaded
        return context
    return multiprocessing.get_context("spawn")


def default_workers() -> int:
    """Worker processes per training process when none are asked for: the cores this process may
    use, shared with torchrun's other local processes, less one for the training loop."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, cores // local - 1)


# --- the main-process side ---------------------------------------------------------------------

class StreamLoader(EpochCursor):
    """Yields ``(images, labels)`` batches on ``device`` from files decoded by worker processes.

    The interface of :class:`~nat.data.loader.BatchLoader` (``len``, ``set_epoch``,
    ``state_dict``/``load_state_dict``, ``shard``), so trainers take either.

    Args:
        root, files, labels: where the files are, their relative paths and labels.
        batch_size: images per batch (per rank).
        geometry: what workers do to each image (:class:`Geometry`).
        transform: the batch transform on the device, called as ``transform(batch, generator)``
            on the uint8 NHWC batch (:class:`~nat.data.augment.Augment`,
            :class:`~nat.data.photometric.ColourAugment`); ``None`` yields uint8.
        indices, shuffle, drop_last, seed, rank, world_size, epoch, step: as for BatchLoader.
        workers: decoding processes (0: in this process); ``None``: :func:`default_workers`.
        prefetch: batches each worker prepares ahead.
        bad_images: ``"stop"`` at the first unreadable file, or ``"skip"`` it and count it
            (:attr:`skipped`, :attr:`first_skipped`).
        timeout: seconds to wait for one batch before giving up (0: forever).
        transform_in_workers: apply ``transform`` in the workers rather than on ``device``; default:
            when ``device`` is the CPU, where the main process would otherwise spend as long on
            colour jitter as the training step itself (``bench/bench_stream.py``). The batches are
            the same either way: the transform draws from the same per-batch seed.
    """

    def __init__(self, root: str | os.PathLike, files: Sequence[str], labels: np.ndarray, batch_size: int, *,
                 geometry: Geometry, transform: Transform | None = None, indices: np.ndarray | None = None,
                 device: str | torch.device = "cpu", shuffle: bool = True, drop_last: bool = False, seed: int = 0,
                 rank: int = 0, world_size: int = 1, epoch: int = 0, step: int = 0, workers: int | None = None,
                 prefetch: int = 2, bad_images: str = "stop", timeout: float = 600.0,
                 transform_in_workers: bool | None = None) -> None:
        if len(files) != len(labels):
            raise NatError(f"{len(files)} files but {len(labels)} labels")
        if bad_images not in BAD_IMAGES:
            raise NatError(f"bad_images must be one of {', '.join(BAD_IMAGES)}, got {bad_images!r}")
        if workers is not None and workers < 0:
            raise NatError(f"workers must be 0 or more, got {workers}")
        chosen = np.arange(len(files)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.device = torch.device(device)
        in_workers = self.device.type == "cpu" if transform_in_workers is None else transform_in_workers
        self.plan = _Plan(str(root), np.array([f.encode() for f in files]), np.asarray(labels, dtype=np.int64),
                          chosen, batch_size, geometry, seed, shuffle, rank, world_size,
                          transform if in_workers else None)
        self.transform = None if in_workers else transform
        self.workers = default_workers() if workers is None else workers
        self.prefetch, self.bad_images, self.timeout = prefetch, bad_images, timeout
        self.skipped, self.first_skipped = 0, None
        self._start(len(chosen), batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed, rank=rank,
                    world_size=world_size, epoch=epoch, step=step)

    def shard(self, epoch: int) -> torch.Tensor:
        """This rank's file indices for ``epoch``, in visiting order."""
        return torch.from_numpy(self.plan.indices)[self.positions(epoch)]

    def _data_loader(self, keys: list[tuple[int, int]]) -> torch.utils.data.DataLoader:
        options: dict = {}
        if self.workers > 0:
            options = {"num_workers": self.workers, "prefetch_factor": self.prefetch, "timeout": self.timeout,
                       "worker_init_fn": _worker_init}
            options["multiprocessing_context"] = _worker_context()
        return torch.utils.data.DataLoader(_Batches(self.plan), batch_size=None, sampler=keys,
                                           pin_memory=self.device.type == "cuda", **options)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The remaining batches of the current epoch; afterwards the loader moves to the next."""
        steps = range(self.step, len(self))
        batches = iter(self._data_loader([(self.epoch, s) for s in steps]))
        try:
            for step in steps:
                batch = self._next(batches)
                self._account(batch["bad"], step, len(batch["images"]))
                images = batch["images"].to(self.device, non_blocking=True)
                labels = batch["labels"].to(self.device, non_blocking=True)
                if self.transform is not None:
                    images = self.transform(images, batch_generator("augment", self.seed, self.epoch, step, self.rank))
                self.step = step + 1
                yield images, labels
        finally:
            del batches  # shuts the workers down, also when the consumer stops early
        self.epoch, self.step = self.epoch + 1, 0

    def _next(self, batches: Iterator[dict]) -> dict:
        try:
            return next(batches)
        except RuntimeError as error:
            text = " ".join(str(error).split())
            if "timed out" in text:
                raise NatError(f"{self.plan.root}: no batch from the data workers in {self.timeout:g} s "
                               f"(a stalled file system?)") from None
            if "exited unexpectedly" in text or "killed by signal" in text:
                raise NatError(f"a data worker died ({text[:160]}); out of memory? try fewer --workers") from None
            raise

    def _account(self, bad: list[tuple[str, str]], step: int, kept: int) -> None:
        if not bad:
            return
        if self.bad_images == "stop":
            path, reason = bad[0]
            raise NatError(f"{path}: {reason} (--bad-images skip leaves such files out and counts them)")
        self.skipped += len(bad)
        self.first_skipped = self.first_skipped or f"{bad[0][0]}: {bad[0][1]}"
        if kept == 0:
            raise NatError(f"every image of batch {step} of epoch {self.epoch} is unreadable, e.g. "
                           f"{bad[0][0]}: {bad[0][1]}")
