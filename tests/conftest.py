"""Fixtures several test modules share: one torch thread, generated image folders, noise data sets,
a decode cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks are hundreds of small ops: with two threads on a busy 2-core machine every op
    waits for a core, which made these tests 50x slower at times. Results do not depend on it.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_image_folder(root: Path, counts: dict[str, int], classes: tuple[str, ...], *, seed: int = 0,
                       shape: tuple[int, int] = (32, 32), tinted: bool = False) -> Path:
    """``root/<split>/<class>/<i>.png`` for each ``split: count``: uniform noise, or with ``tinted``
    darker noise with one channel raised per class (channel 2 - class index), so classes differ."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                if tinted:
                    pixels = rng.integers(0, 160, (*shape, 3))
                    pixels[..., 2 - label] += 90
                else:
                    pixels = rng.integers(0, 255, (*shape, 3))
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def image_folder():
    """:func:`write_image_folder`, for modules that build their own data sets."""
    return write_image_folder


def noise_dataset(train: int, test: int, *, seed: int = 0):
    """A CIFAR-shaped :class:`~nat.data.Dataset` of uniform noise with random labels: ``train``
    training and ``test`` test images, drawn in that order from one seeded generator."""
    from nat.data import Dataset
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (train + test, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, train + test)
    return Dataset.from_arrays("fake", [str(i) for i in range(10)], images[:train], labels[:train], images[train:],
                               labels[train:])


@pytest.fixture(scope="session")
def noise_data():
    """:func:`noise_dataset`, for modules that need a data set without reading one."""
    return noise_dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A decode cache of the module's own."""
    return tmp_path_factory.mktemp("cache")
