"""The data layer: reading, caching, splitting, augmenting and batching image data sets.

Typical use::

    from nat.data import Augment, BatchLoader, load_dataset, split_indices

    data = load_dataset("cifar10")                      # or a folder / archive path
    weights_part, policy_part = split_indices(len(data.train_images), (0.4, 0.6), seed=0)
    train = BatchLoader(data.train_images, data.train_labels, 64, indices=weights_part,
                        transform=Augment(data.mean, data.std, cutout=16), device="cuda")
    for images, labels in train:                        # float NCHW, int64, on the device
        ...

Modules: :mod:`~nat.data.load` (entry point), :mod:`~nat.data.readers` (layouts, folders and
archives), :mod:`~nat.data.decode` (image decoding), :mod:`~nat.data.cache`,
:mod:`~nat.data.download`, :mod:`~nat.data.dataset`, :mod:`~nat.data.split`,
:mod:`~nat.data.augment`, :mod:`~nat.data.loader`; for data too big for memory (ImageNet),
:mod:`~nat.data.stream` (worker processes decode each file), :mod:`~nat.data.crops` (their
random-resized and centre crops) and :mod:`~nat.data.photometric` (colour jitter, lighting), chosen
by :func:`~nat.data.load.open_source`.
"""

from .augment import Augment, cutout, random_crop, random_flip, to_normalized
from .cache import CACHE_ENV, default_cache_dir
from .dataset import Dataset, channel_stats
from .download import CIFAR10_MD5, CIFAR10_URL, URL_ENV, fetch_cifar10
from .load import LOADERS, load_dataset, memory_budget, open_source
from .loader import BatchLoader
from .photometric import ColourAugment
from .stream import Geometry, ImageFolderSource, StreamLoader, list_image_folder, open_image_folder
from .split import shuffled_indices, split_indices, subset_indices

__all__ = [
    "load_dataset", "Dataset", "channel_stats",
    "default_cache_dir", "CACHE_ENV",
    "fetch_cifar10", "CIFAR10_URL", "CIFAR10_MD5", "URL_ENV",
    "split_indices", "subset_indices", "shuffled_indices",
    "Augment", "to_normalized", "random_crop", "random_flip", "cutout",
    "BatchLoader",
    "open_source", "memory_budget", "LOADERS",
    "StreamLoader", "Geometry", "ImageFolderSource", "list_image_folder", "open_image_folder", "ColourAugment",
]
