"""Progress bars with throughput and ETA, drawn by rank 0 only."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress"]

T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True,
             unit: str = "batch", unit_scale: float | int = 1) -> Iterable[T]:
    """A tqdm bar (``unit_scale`` turns batches into images for an images/s rate).

    Disabled off rank 0, and when stderr is not a terminal unless forced by ``enabled=True``
    from a caller that wants log lines; tqdm prints a final line either way.
    """
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, unit=unit if unit_scale == 1 else "img",
                unit_scale=unit_scale, dynamic_ncols=True, leave=False, file=sys.stderr, mininterval=1.0)
