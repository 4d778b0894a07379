"""Deterministic partitions and subsets of a training set.

NAT (Guo et al., 2019, Sec. 5 / supplementary) trains the supernet's weights on 40% of the
CIFAR-10 training images and the transformer policy on the other 60%, following the ENAS/DARTS
practice of searching on a held-out part of the training set. :func:`split_indices` makes that
partition; :func:`subset_indices` gives a seeded subset for quick runs.

The shuffle is a splitmix64 hash of ``(seed, index)`` sorted, not a numpy or torch random
stream: it depends on nothing but its arguments, neither library versions nor global random
state, so a checkpoint's split can be recomputed exactly years later.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import NatError

__all__ = ["shuffled_indices", "split_indices", "subset_indices"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment (odd: distinct inputs stay so)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection on uint64, so distinct inputs give distinct keys.

    numpy array arithmetic on uint64 wraps modulo 2**64, which is what the algorithm wants.
    """
    x = (x ^ (x >> np.uint64(30))) * _MUL1
    x = (x ^ (x >> np.uint64(27))) * _MUL2
    return x ^ (x >> np.uint64(31))


def shuffled_indices(n: int, seed: int = 0) -> np.ndarray:
    """A permutation of ``range(n)`` determined by ``(n, seed)`` alone; prefixes are stable in n
    too: index i's place relative to j does not depend on n."""
    if n < 0:
        raise NatError(f"cannot shuffle {n} items")
    counters = np.arange(1, n + 1, dtype=np.uint64) * _GAMMA + np.uint64(seed % 2**64)
    return np.argsort(_splitmix64(counters), kind="stable").astype(np.int64)


def split_indices(n: int, fractions: Sequence[float] = (0.4, 0.6),
                  seed: int = 0) -> tuple[np.ndarray, ...]:
    """Partition ``range(n)`` at random into parts of the given fractions.

    Parts are disjoint, cover ``range(n)``, and hold ``round(n * cumulative fraction)``
    boundaries, so sizes are within one of ``n * fraction``. Each part is sorted (a set; the
    loader shuffles anyway).

    Args:
        n: number of training images.
        fractions: positive shares summing to 1; the default is NAT's 40% (weights) / 60%
            (policy).
        seed: selects the partition.
    """
    fractions = [float(f) for f in fractions]
    if not fractions or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise NatError(f"split fractions must be positive and sum to 1, got {fractions}")
    order = shuffled_indices(n, seed)
    bounds = np.rint(np.cumsum(fractions)[:-1] * n).astype(np.int64)
    return tuple(np.sort(part) for part in np.split(order, bounds))


def subset_indices(n: int, size: int, seed: int = 0, *, option: str = "--subset") -> np.ndarray:
    """The first ``size`` indices of the seeded shuffle of ``range(n)``, in shuffle order.

    A smaller subset is a prefix of a larger one with the same seed. ``option`` is the setting
    that asked for ``size``, for the message when there are not that many.
    """
    if size < 0:
        raise NatError(f"{option} must not be negative, got {size}")
    if size > n:
        raise NatError(f"{option} {size} asks for more images than there are ({n}): use {option} {n} or fewer")
    return shuffled_indices(n, seed)[:size]
