"""Readers for the data set layouts NAT accepts, given as a folder or a tar archive.

1. The official CIFAR-10 "python version" (https://www.cs.toronto.edu/~kriz/cifar.html): a
   ``cifar-10-batches-py`` folder with ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``,
   each a Python 2 pickle of a dict with ``data`` (uint8, N x 3072: the red, green and blue
   32x32 planes of each image, row-major) and ``labels``, plus ``batches.meta`` with
   ``label_names``. Pickles are parsed by an unpickler that resolves only the three numpy
   globals an array needs, so a crafted file cannot run code.
2. Image folders in the ``torchvision.datasets.ImageFolder`` convention: ``train/<class>/*`` and
   ``test/<class>/*`` (or ``val/<class>/*``, as for ImageNet), any image format Pillow reads.
   Labels are the indices of the sorted class names; images are ordered by class, then path.

Either may sit one or more folders deep in the given folder or in a ``.tar``/``.tar.gz``
archive: layouts are recognised from relative file names alone (a :class:`Tree`), so there is
no code path per combination. Archives are read in one sequential pass that keeps the wanted
members in memory: random access into a gzip stream decompresses it again from the start for
every backward seek, and the encoded files are smaller than the decoded arrays, which must fit
in memory anyway.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..runtime.files import check_regular_file
from ..errors import NatError
from .dataset import Dataset
from .decode import IMAGE_SUFFIXES, decode_images

try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct

__all__ = ["read_dataset", "Tree", "open_tree", "OFFICIAL_FILES", "FolderSplits", "image_folder_splits",
           "find_image_root"]

OFFICIAL_FILES = ("batches.meta", "test_batch")
_BATCH = re.compile(r"data_batch_(\d+)")
_TEST_SPLITS = ("test", "val")


def read_dataset(path: Path, *, image_size: int | None = None, workers: int | None = None,
                 progress: bool = True) -> Dataset:
    """Read a data set in any supported layout from a folder or a tar archive (no caching)."""
    tree = open_tree(path)
    batches = [n for n in tree.names if _BATCH.fullmatch(n.rsplit("/", 1)[-1])]
    if batches:
        return _read_official(tree, batches)
    root = find_image_root(tree)
    if root is not None:
        return _read_image_folders(tree, root, image_size=image_size, workers=workers,
                                   progress=progress)
    raise NatError(f"{path}: unknown data layout; expected the official CIFAR-10 python version "
                   f"(cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta) or image "
                   f"folders train/<class>/ and test/<class>/ (or val/<class>/)")


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return _is_image(base) or base in OFFICIAL_FILES or _BATCH.fullmatch(base) is not None


# --- folders and archives ---------------------------------------------------------------------

@dataclass(frozen=True)
class Tree:
    """The regular files under a folder or inside an archive, by relative POSIX path."""

    origin: Path
    names: tuple[str, ...]  # sorted
    _contents: dict[str, bytes] | None = field(default=None, repr=False)  # archives only

    @property
    def is_archive(self) -> bool:
        return self._contents is not None

    def where(self, name: str) -> str:
        """How to point a user at one file: a path, or ``archive:member``."""
        return f"{self.origin}:{name}" if self.is_archive else str(self.origin / name)

    def read(self, name: str) -> bytes:
        if self._contents is not None:
            return self._contents[name]
        try:
            return (self.origin / name).read_bytes()
        except OSError as error:
            raise NatError(f"{self.where(name)}: cannot read ({error.strerror or error})") from None


def open_tree(path: Path) -> Tree:
    """List a folder, or read an archive's images and CIFAR-10 batch files.

    Folders are listed whole (reading is lazy); archives keep only the files a layout can use,
    so that the official CIFAR-10 archive's ``readme.html``, say, is never held in memory.
    """
    if path.is_dir():
        return Tree(path, tuple(sorted(_walk(path))))
    if not path.exists():
        raise NatError(f"{path}: no such file or folder")
    check_regular_file(path, "data set that is not a folder")  # a FIFO or a device would never end
    if not tarfile.is_tarfile(path):
        raise NatError(f"{path}: not a folder or a tar archive (.tar, .tar.gz, .tgz)")
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if member.isfile() and not _hidden(name) and _wanted(name):
                    contents[name] = archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise NatError(f"{path}: damaged archive ({error})") from None
    return Tree(path, tuple(sorted(contents)), contents)


def _walk(root: Path) -> list[str]:
    # followlinks: data folders are often assembled from symlinks to class folders elsewhere.
    names = []
    for folder, _, files in os.walk(root, followlinks=True):
        rel = Path(folder).relative_to(root)
        names.extend((rel / f).as_posix() for f in files if not _hidden(f))
    return names


def _hidden(name: str) -> bool:
    """Dot files: ``.DS_Store``, and the ``._*`` resource forks macOS puts into tar archives."""
    return name.rsplit("/", 1)[-1].startswith(".")


# --- the official CIFAR-10 python version ------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only what a pickled numpy array refers to; any other global is refused.

    The official files were written by Python 2 with numpy 1, hence ``numpy.core``; files
    re-pickled under numpy 2 say ``numpy._core``.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _unpickle(tree: Tree, name: str) -> dict:
    try:
        # encoding="bytes": Python 2 str objects (the dict keys, the array's raw data) come back
        # as bytes, which is what numpy needs to rebuild the array.
        obj = _ArrayUnpickler(io.BytesIO(tree.read(name)), encoding="bytes").load()
    except Exception as error:  # noqa: BLE001 - unpickling fails in many ways on a bad file
        raise NatError(f"{tree.where(name)}: not a CIFAR-10 batch file ({error})") from None
    if not isinstance(obj, dict):
        raise NatError(f"{tree.where(name)}: not a CIFAR-10 batch file (no dict inside)")
    return {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _read_batch(tree: Tree, name: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(tree, name)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        raise NatError(f"{tree.where(name)}: 'data' must be a uint8 array of shape (N, 3072)")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (len(data),):
        raise NatError(f"{tree.where(name)}: {len(data)} images but {labels.size} labels")
    # Each row is the R, G and B planes one after the other: (N, C, H, W) -> (N, H, W, C).
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def _read_official(tree: Tree, batches: list[str]) -> Dataset:
    roots = {str(PurePosixPath(n).parent) for n in batches}
    if len(roots) > 1:
        raise NatError(f"{tree.origin}: several CIFAR-10 copies inside ({', '.join(sorted(roots))})"
                       f"; point at one")
    root = PurePosixPath(roots.pop())
    for required in OFFICIAL_FILES:
        if str(root / required) not in tree.names:
            raise NatError(f"{tree.where(str(root / required))}: missing (the official layout has "
                           f"data_batch_1..5, test_batch and batches.meta)")
    batches.sort(key=lambda n: int(_BATCH.fullmatch(PurePosixPath(n).name).group(1)))
    train = [_read_batch(tree, n) for n in batches]
    test_images, test_labels = _read_batch(tree, str(root / "test_batch"))
    meta = _unpickle(tree, str(root / "batches.meta"))
    names = meta.get("label_names")
    if not isinstance(names, list) or not names:
        raise NatError(f"{tree.where(str(root / 'batches.meta'))}: no 'label_names' list")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return Dataset.from_arrays("cifar10", classes, np.concatenate([t[0] for t in train]),
                               np.concatenate([t[1] for t in train]), test_images, test_labels)


# --- image folders -----------------------------------------------------------------------------

def _is_image(name: str) -> bool:
    return name[name.rfind("."):].lower() in IMAGE_SUFFIXES


def find_image_root(tree: Tree) -> PurePosixPath | None:
    """The folder holding ``train/``: the shallowest one with images in ``train/<class>/``."""
    roots: set[tuple[str, ...]] = set()
    for name in filter(_is_image, tree.names):  # string ops: PurePosixPath is slow for 1e5 names
        parts = name.split("/")
        roots.update(tuple(parts[:i]) for i, p in enumerate(parts[:-2]) if p == "train")
    if not roots:
        return None
    depth = min(map(len, roots))
    shallowest = sorted("/".join(r) for r in roots if len(r) == depth)
    if len(shallowest) > 1:
        raise NatError(f"{tree.origin}: several data sets inside ({', '.join(shallowest)}); "
                       f"point at one")
    return PurePosixPath(shallowest[0])


def _class_images(tree: Tree, split: PurePosixPath) -> dict[str, list[str]]:
    """Image names under ``split/<class>/`` (at any depth below the class folder), by class."""
    prefix = f"{split}/"
    by_class: dict[str, list[str]] = {}
    for name in tree.names:
        if name.startswith(prefix) and _is_image(name):
            cls, sep, _ = name[len(prefix):].partition("/")
            if sep:  # files directly in split/ belong to no class
                by_class.setdefault(cls, []).append(name)
    return by_class


@dataclass(frozen=True)
class FolderSplits:
    """The two splits of an image-folder data set, as names in a :class:`Tree`.

    ``train`` and ``test`` list ``(name, label)`` pairs ordered by class, then name; labels index
    the sorted ``classes``. ``test_split`` is the folder the test images came from (``test`` or
    ``val``).
    """

    tree: Tree
    root: PurePosixPath
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]
    test: tuple[tuple[str, int], ...]
    test_split: str


def image_folder_splits(tree: Tree, root: PurePosixPath | None = None) -> FolderSplits:
    """List ``train/<class>/`` and ``test/<class>/`` (or ``val/``) under ``root`` (found if not
    given); classes that differ between the splits are refused, naming them."""
    if root is None:
        root = find_image_root(tree)
        if root is None:
            raise NatError(f"{tree.origin}: no image folders train/<class>/ inside")
    train = _class_images(tree, root / "train")
    for split_name in _TEST_SPLITS:
        test = _class_images(tree, root / split_name)
        if test:
            break
    else:
        raise NatError(f"{_at(tree, root / 'train')}: found, but no test/<class>/ or "
                       f"val/<class>/ images beside it")
    if set(train) != set(test):
        only_train = ", ".join(sorted(set(train) - set(test))) or "-"
        only_test = ", ".join(sorted(set(test) - set(train))) or "-"
        raise NatError(f"{_at(tree, root)}: classes differ between train/ and "
                       f"{split_name}/: only in train: {only_train}; only in {split_name}: "
                       f"{only_test}")
    classes = sorted(train)

    def pairs(by_class: dict[str, list[str]]) -> tuple[tuple[str, int], ...]:
        return tuple((n, label) for label, c in enumerate(classes) for n in sorted(by_class[c]))

    return FolderSplits(tree, root, tuple(classes), pairs(train), pairs(test), split_name)


def _read_image_folders(tree: Tree, root: PurePosixPath, *, image_size: int | None,
                        workers: int | None, progress: bool) -> Dataset:
    splits = image_folder_splits(tree, root)
    split_name, classes = splits.test_split, splits.classes
    arrays = []
    for split in (splits.train, splits.test):
        names = [n for n, _ in split]
        labels = np.array([label for _, label in split], dtype=np.int64)
        images = decode_images([tree.read(n) for n in names], [tree.where(n) for n in names],
                               image_size=image_size, workers=workers, progress=progress)
        arrays += [images, labels]
    if arrays[0].shape[1:] != arrays[2].shape[1:]:
        raise NatError(f"{_at(tree, root)}: train images are {arrays[0].shape[2]}x"
                       f"{arrays[0].shape[1]} but {split_name} images {arrays[2].shape[2]}x"
                       f"{arrays[2].shape[1]}; pass image_size to resize")
    return Dataset.from_arrays(_stem(tree.origin), classes, *arrays)


def _at(tree: Tree, folder: PurePosixPath) -> str:
    """A folder inside the tree, for messages; the tree itself when it is the top level."""
    return tree.where(str(folder)) if folder.parts else str(tree.origin)


def _stem(path: Path) -> str:
    """``cifar10-jpg.tar.gz`` -> ``cifar10-jpg``."""
    name = path.name
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name
