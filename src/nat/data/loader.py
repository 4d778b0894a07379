"""An in-memory batch loader: shuffled per epoch, optionally sharded for DDP, resumable.

CIFAR-sized data fits on the accelerator, so the loader moves the (subset of the) uint8 images
there once and forms each batch by indexing on the device; no worker processes, no per-batch
host-to-device copies.

All randomness is a function of ``(seed, epoch)`` for the order and ``(seed, epoch, step,
rank)`` for a batch's augmentation, never of a generator's running state. Resuming therefore
needs only ``(epoch, step)`` (:meth:`BatchLoader.state_dict`) to produce exactly the batches an
uninterrupted run would have produced.

Sharding follows ``torch.utils.data.DistributedSampler`` with ``drop_last=True``: every rank
computes the same permutation of an epoch, drops its tail so that it divides by
``world_size``, and takes its own contiguous block, so ranks see disjoint images and all run the
same number of steps (a rank that runs one step more would hang the others in an all-reduce).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..errors import NatError

__all__ = ["BatchLoader", "EpochCursor", "epoch_shard", "batch_seed", "batch_generator"]

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def batch_seed(*parts: object) -> int:
    """A 63-bit seed from a tuple: distinct tuples give unrelated streams (unlike seed + epoch,
    where run 0's epoch 1 would replay run 1's epoch 0)."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def epoch_shard(n: int, epoch: int, *, seed: int, shuffle: bool = True, rank: int = 0,
                world_size: int = 1) -> torch.Tensor:
    """Rank ``rank``'s positions among ``n`` items in ``epoch``, in visiting order: a permutation
    drawn from ``(seed, epoch)`` alone (or the identity), cut into ``world_size`` equal contiguous
    blocks after dropping the tail (``DistributedSampler(drop_last=True)``)."""
    per_rank = n // world_size
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(batch_seed("order", seed, epoch)))
    else:
        order = torch.arange(n)
    return order[rank * per_rank:(rank + 1) * per_rank]


def batch_generator(kind: str, seed: int, epoch: int, step: int, rank: int) -> torch.Generator:
    """The generator a batch's ``kind`` of draws (``"augment"``, ``"crop"``) comes from: a function
    of (seed, epoch, step, rank) alone, so resuming or changing the worker count changes nothing."""
    return torch.Generator().manual_seed(batch_seed(kind, seed, epoch, step, rank))


class EpochCursor:
    """Where a loader stands, ``(epoch, step)``, over equal per-rank shards of ``n`` items: all
    that resuming needs. :class:`BatchLoader` and :class:`~nat.data.stream.StreamLoader` share it."""

    def _start(self, n: int, batch_size: int, *, shuffle: bool, drop_last: bool, seed: int, rank: int,
               world_size: int, epoch: int, step: int, what: str = "images") -> None:
        if batch_size < 1:
            raise NatError(f"batch size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise NatError(f"rank {rank} is outside world size {world_size}")
        self.n, self.per_rank = n, n // world_size
        if self.per_rank == 0:
            raise NatError(f"{n} {what} cannot be shared among {world_size} ranks")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.set_epoch(epoch, step)

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank)."""
        if self.drop_last:
            return self.per_rank // self.batch_size
        return -(-self.per_rank // self.batch_size)

    def set_epoch(self, epoch: int, step: int = 0) -> None:
        """Make the next iteration start at batch ``step`` of ``epoch``."""
        if epoch < 0 or not 0 <= step <= len(self):
            raise NatError(f"cannot start at epoch {epoch}, step {step} ({len(self)} steps/epoch)")
        self.epoch, self.step = epoch, step

    def state_dict(self) -> dict[str, int]:
        """Where the next batch comes from: save this in a checkpoint."""
        return {"epoch": self.epoch, "step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.set_epoch(state["epoch"], state["step"])

    def positions(self, epoch: int) -> torch.Tensor:
        """This rank's positions among the ``n`` items in ``epoch``, in visiting order."""
        return epoch_shard(self.n, epoch, seed=self.seed, shuffle=self.shuffle, rank=self.rank,
                           world_size=self.world_size)


class BatchLoader(EpochCursor):
    """Yields ``(images, labels)`` batches on ``device``.

    Args:
        images: uint8 (N, H, W, C) array.
        labels: int (N,) array.
        batch_size: images per batch (per rank).
        transform: called as ``transform(batch, generator)`` on each uint8 NHWC batch, e.g. an
            :class:`~nat.data.augment.Augment`; ``None`` yields the uint8 batch unchanged.
        indices: use only these images (e.g. one part of :func:`~nat.data.split.split_indices`).
        device: where batches (and the stored images) live.
        shuffle: reshuffle every epoch; otherwise keep the given order.
        drop_last: drop a final batch smaller than ``batch_size``.
        seed: selects the shuffles and augmentations.
        rank, world_size: this process's shard for distributed training.
        epoch, step: where iteration starts (to resume a run).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, *,
                 transform: Transform | None = None, indices: np.ndarray | None = None,
                 device: str | torch.device = "cpu", shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1, epoch: int = 0,
                 step: int = 0) -> None:
        if len(images) != len(labels):
            raise NatError(f"{len(images)} images but {len(labels)} labels")
        if indices is not None:
            images, labels = images[indices], labels[indices]
        self.device = torch.device(device)
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)
        self.transform = transform
        self._start(len(self.images), batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed, rank=rank,
                    world_size=world_size, epoch=epoch, step=step)

    def shard(self, epoch: int) -> torch.Tensor:
        """This rank's indices (into the stored images) for ``epoch``, in visiting order."""
        return self.positions(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The remaining batches of the current epoch; afterwards the loader moves to the next.

        ``step`` is advanced before each batch is handed out, so a checkpoint taken while
        training on a batch resumes with the batch after it.
        """
        shard = self.shard(self.epoch).to(self.device)
        for step in range(self.step, len(self)):
            index = shard[step * self.batch_size:(step + 1) * self.batch_size]
            images, labels = self.images[index], self.labels[index]
            if self.transform is not None:
                images = self.transform(images, batch_generator("augment", self.seed, self.epoch, step, self.rank))
            self.step = step + 1
            yield images, labels
        self.epoch, self.step = self.epoch + 1, 0
