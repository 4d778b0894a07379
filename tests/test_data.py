"""Tests of nat.data: readers, cache, download, split, augmentation and loader.

Every fixture is generated in tmp_path; only the last test reads the real CIFAR-10 JPEG archive
from ../shared/data (skipped where it is absent).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nat.data import (Augment, BatchLoader, CIFAR10_MD5, URL_ENV, channel_stats, cutout,
                      load_dataset, random_crop, random_flip, split_indices, subset_indices,
                      to_normalized)
from nat.data import decode, readers
from nat.errors import NatError

REAL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar.gz"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")


# --- fixtures: the official python layout -----------------------------------------------------

def _py2_pickle(obj: object) -> bytes:
    """The bytes Python 2's ``cPickle.dump(obj, f, 2)`` writes for the official CIFAR-10 files:
    ``bytes`` stand for Python 2 ``str`` (BINSTRING opcodes), and numpy arrays refer to
    ``numpy.core.multiarray._reconstruct``, as numpy 1 under Python 2 did."""
    out = bytearray(pickle.PROTO + b"\x02")

    def save(o: object) -> None:
        if isinstance(o, bytes):
            out.extend(pickle.SHORT_BINSTRING + bytes([len(o)]) if len(o) < 256
                       else pickle.BINSTRING + struct.pack("<i", len(o)))
            out.extend(o)
        elif o is None:
            out.extend(pickle.NONE)
        elif isinstance(o, bool):
            out.extend(pickle.NEWTRUE if o else pickle.NEWFALSE)
        elif isinstance(o, int):
            out.extend(pickle.BININT + struct.pack("<i", o))
        elif isinstance(o, tuple):
            out.extend(pickle.MARK)
            for item in o:
                save(item)
            out.extend(pickle.TUPLE)
        elif isinstance(o, list):
            out.extend(pickle.EMPTY_LIST + pickle.MARK)
            for item in o:
                save(item)
            out.extend(pickle.APPENDS)
        elif isinstance(o, dict):
            out.extend(pickle.EMPTY_DICT + pickle.MARK)
            for key, value in o.items():
                save(key)
                save(value)
            out.extend(pickle.SETITEMS)
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            out.extend(pickle.MARK + pickle.GLOBAL + b"numpy\nndarray\n")
            save((0,))
            save(b"b")
            out.extend(pickle.TUPLE + pickle.REDUCE)
            out.extend(pickle.MARK)  # state: (version, shape, dtype, fortran order, raw data)
            save(1)
            save(o.shape)
            out.extend(pickle.GLOBAL + b"numpy\ndtype\n")
            save((b"u1", 0, 1))
            out.extend(pickle.REDUCE)
            save((3, b"|", None, None, None, -1, -1, 0))
            out.extend(pickle.BUILD)
            save(False)
            save(o.tobytes())
            out.extend(pickle.TUPLE + pickle.BUILD)
        else:
            raise TypeError(type(o))

    save(obj)
    out.extend(pickle.STOP)
    return bytes(out)


def _write_official(folder: Path, *, per_batch: int = 6, seed: int = 0) -> dict:
    """A miniature cifar-10-batches-py folder; returns the arrays the reader must produce."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    parts = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(x) for x in rng.integers(0, 10, per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(_py2_pickle(batch))
        parts[name] = (data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.array(labels))
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [c.encode() for c in CIFAR_CLASSES],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(_py2_pickle(meta))
    (folder / "readme.html").write_text("<html>not data</html>")
    train = [parts[f"data_batch_{i}"] for i in range(1, 6)]
    return {"train_images": np.concatenate([t[0] for t in train]),
            "train_labels": np.concatenate([t[1] for t in train]),
            "test_images": parts["test_batch"][0], "test_labels": parts["test_batch"][1]}


def _tar(source: Path, archive: Path, arcname: str) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname)
    return archive


def _assert_matches(dataset, expected: dict) -> None:
    for key, value in expected.items():
        np.testing.assert_array_equal(getattr(dataset, key), value, err_msg=key)


@pytest.fixture
def official(tmp_path: Path) -> tuple[Path, dict]:
    folder = tmp_path / "src" / "cifar-10-batches-py"
    return folder, _write_official(folder)


# --- fixtures: image folders -------------------------------------------------------------------

def _write_image_folder(root: Path, *, classes=("cat", "dog", "frog"), test_classes=None,
                        per_class=(3, 2), test_name="test", fmt="PNG", size=(8, 6),
                        seed: int = 0) -> dict:
    """train/<class>/ and test/<class>/ images; returns the arrays a PNG fixture decodes to."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split, count, names in (("train", per_class[0], classes),
                                (test_name, per_class[1], test_classes or classes)):
        images, labels = [], []
        for label, cls in enumerate(sorted(names)):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                if fmt == "JPEG":  # smooth, so lossy coding stays close to the source
                    pixels[:] = rng.integers(0, 256, 3, dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i:03d}.{fmt.lower()}", fmt)
                images.append(pixels)
                labels.append(label)
        key = "train" if split == "train" else "test"
        expected[f"{key}_images"] = np.stack(images)
        expected[f"{key}_labels"] = np.array(labels)
    return expected


@pytest.fixture
def images_dir(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "src" / "tiny"
    return root, _write_image_folder(root)


# --- fixtures: a local HTTP server -------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    """Start a file server on 127.0.0.1 (ephemeral port) for a folder; returns its base URL."""
    running = []

    def start(directory: Path) -> str:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"


# --- split -------------------------------------------------------------------------------------

def test_split_is_nat_40_60_partition():
    weights, policy = split_indices(50_000)
    assert (len(weights), len(policy)) == (20_000, 30_000)
    assert np.intersect1d(weights, policy).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([weights, policy])), np.arange(50_000))
    again = split_indices(50_000, (0.4, 0.6), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((weights, policy), again))
    other = split_indices(50_000, seed=1)
    assert not np.array_equal(weights, other[0])


def test_split_depends_only_on_arguments():
    np.random.seed(123)
    torch.manual_seed(123)
    first = split_indices(10, seed=0)
    np.random.seed(7)
    torch.manual_seed(7)
    assert all(np.array_equal(a, b) for a, b in zip(first, split_indices(10, seed=0)))
    # Pinned: the splitmix64 shuffle must not drift, or old checkpoints' splits change meaning.
    assert [p.tolist() for p in first] == [[2, 4, 6, 8], [0, 1, 3, 5, 7, 9]]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3000), weights=st.lists(st.integers(1, 20), min_size=1, max_size=4),
       seed=st.integers(-2**70, 2**70))
def test_split_properties(n, weights, seed):
    fractions = [w / sum(weights) for w in weights]
    parts = split_indices(n, fractions, seed)
    joined = np.concatenate(parts)
    assert len(parts) == len(fractions)
    np.testing.assert_array_equal(np.sort(joined), np.arange(n))  # disjoint and covering
    for part, fraction in zip(parts, fractions):
        assert abs(len(part) - n * fraction) <= 1
        assert np.all(np.diff(part) > 0)


@pytest.mark.parametrize("fractions", [(), (0.5, 0.6), (1.2, -0.2), (0.0, 1.0)])
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(NatError, match="fractions"):
        split_indices(10, fractions)


def test_subset_is_prefix_of_seeded_shuffle():
    small, large = subset_indices(1000, 10, seed=3), subset_indices(1000, 100, seed=3)
    np.testing.assert_array_equal(small, large[:10])
    assert len(np.unique(large)) == 100 and large.min() >= 0 and large.max() < 1000
    assert not np.array_equal(small, subset_indices(1000, 10, seed=4))
    with pytest.raises(NatError):
        subset_indices(5, 6)


# --- augmentation ------------------------------------------------------------------------------

def _random_batch(n: int = 256, h: int = 8, w: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, (n, h, w, 3), dtype=np.uint8)
    images[..., 0] //= 2  # channels with different statistics
    return images


def test_channel_stats_exact():
    images = _random_batch(100, 5, 7)
    mean, std = channel_stats(images)
    floats = images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, floats.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, floats.std(0), rtol=1e-10)


def test_to_normalized_gives_zero_mean_unit_std():
    images = _random_batch(512)
    mean, std = channel_stats(images)
    x = to_normalized(torch.from_numpy(images), mean, std)
    assert x.shape == (512, 3, 8, 8) and x.dtype == torch.float32
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4,
                               rtol=0)


def test_random_crop_takes_a_window_of_the_zero_padded_image():
    images = torch.from_numpy(_random_batch(200))
    out = random_crop(images, 2, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (0, 0, 2, 2, 2, 2))
    offsets = set()
    for i in range(len(images)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, dy:dy + 8, dx:dx + 8])]
        assert found, f"image {i} is not a window of its padded original"
        offsets.add(found[0])
        assert out[i].sum() <= images[i].sum()  # only zeros come in, pixels only leave
    assert len(offsets) == 25  # every offset occurs among 200 images
    assert torch.equal(random_crop(images, 0), images)


def test_random_flip_mirrors_about_half_and_keeps_pixels():
    images = torch.from_numpy(_random_batch(400))
    out = random_flip(images, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, i.flip(1)) for o, i in zip(out, images)])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, images)])
    assert torch.all(flipped | same)
    assert 150 < int(flipped.sum()) < 250
    torch.testing.assert_close(out.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))


def test_cutout_zeroes_one_clipped_16px_square_per_image():
    x = torch.ones(500, 3, 32, 32)
    out = cutout(x, 16, torch.Generator().manual_seed(0))
    assert torch.all((out == 0) | (out == 1))
    holes = out == 0
    assert torch.equal(holes, holes[:, :1].expand_as(holes))  # same square in every channel
    spans = {(max(c - 8, 0), min(c + 8, 32)) for c in range(32)}  # clipped [start, end) per centre
    sides = set()
    for hole in holes[:, 0]:
        rows = torch.nonzero(hole.any(1)).flatten()
        cols = torch.nonzero(hole.any(0)).flatten()
        y = (int(rows[0]), int(rows[-1]) + 1)
        x_ = (int(cols[0]), int(cols[-1]) + 1)
        assert y in spans and x_ in spans
        assert int(hole.sum()) == (y[1] - y[0]) * (x_[1] - x_[0])  # a filled rectangle
        sides.add((y[1] - y[0], x_[1] - x_[0]))
    assert (16, 16) in sides and any(h < 16 or w < 16 for h, w in sides)


def test_augment_is_reproducible_and_shaped():
    images = torch.from_numpy(_random_batch(64, 32, 32))
    mean, std = channel_stats(images.numpy())
    augment = Augment(mean, std, cutout=16)
    a = augment(images, torch.Generator().manual_seed(5))
    b = augment(images, torch.Generator().manual_seed(5))
    c = augment(images, torch.Generator().manual_seed(6))
    assert a.shape == (64, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    evaluate = Augment.for_eval(mean, std)
    assert torch.equal(evaluate(images), to_normalized(images, mean, std))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_augment_and_loader_on_cuda_match_cpu():
    images = _random_batch(64, 32, 32)
    mean, std = channel_stats(images)
    augment = Augment(mean, std, cutout=16)
    cpu = augment(torch.from_numpy(images), torch.Generator().manual_seed(1))
    gpu = augment(torch.from_numpy(images).cuda(), torch.Generator().manual_seed(1))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu)
    x, y = next(iter(BatchLoader(images, np.arange(64), 16, transform=augment, device="cuda")))
    assert x.device.type == y.device.type == "cuda" and x.shape == (16, 3, 32, 32)


# --- the official python layout ----------------------------------------------------------------

def test_official_layout_folder_archive_and_parent(official, tmp_path):
    folder, expected = official
    archive = _tar(folder, tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py")
    for source in (folder, archive, folder.parent):
        data = load_dataset(source, cache_dir=tmp_path / "cache", progress=False)
        _assert_matches(data, expected)
        assert data.classes == CIFAR_CLASSES and data.name == "cifar10"
        assert data.train_labels.dtype == np.int64 and data.train_images.flags.c_contiguous
        assert (data.mean, data.std) == channel_stats(expected["train_images"])


def test_official_layout_refuses_foreign_globals(official, tmp_path):
    folder, _ = official
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": os.getcwd}, protocol=2))
    with pytest.raises(NatError, match=r"data_batch_3: .*refusing to load global"):
        load_dataset(folder, cache_dir=tmp_path / "cache", progress=False)


def test_official_layout_missing_file(official, tmp_path):
    folder, _ = official
    (folder / "test_batch").unlink()
    with pytest.raises(NatError, match="test_batch: missing"):
        load_dataset(folder, cache_dir=tmp_path / "cache", progress=False)


# --- image folders -----------------------------------------------------------------------------

def test_image_folder_png_folder_and_wrapped_archive(images_dir, tmp_path):
    root, expected = images_dir
    archive = _tar(root, tmp_path / "tiny.tar.gz", "wrapper/tiny")
    for source in (root, archive):
        data = load_dataset(source, cache_dir=tmp_path / "cache", progress=False)
        _assert_matches(data, expected)
        assert data.classes == ("cat", "dog", "frog") and data.name == "tiny"
        assert data.image_shape == (6, 8, 3)


def test_image_folder_jpeg_with_val_split(tmp_path):
    root = tmp_path / "imagenet-like"
    expected = _write_image_folder(root, fmt="JPEG", test_name="val", size=(16, 16))
    data = load_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    np.testing.assert_array_equal(data.test_labels, expected["test_labels"])
    diff = np.abs(data.train_images.astype(int) - expected["train_images"].astype(int))
    assert diff.max() <= 8


def test_parallel_decoding_keeps_order(tmp_path, monkeypatch):
    root = tmp_path / "many"
    expected = _write_image_folder(root, classes=[f"c{i}" for i in range(4)], per_class=(9, 5))
    monkeypatch.setattr(decode, "_CHUNK", 4)  # many chunks, so order across workers matters
    data = load_dataset(root, cache_dir=tmp_path / "cache", workers=2, progress=False)
    _assert_matches(data, expected)


def test_image_size_resizes_and_mixed_sizes_are_reported(tmp_path):
    root = tmp_path / "mixed"
    _write_image_folder(root, size=(8, 8))
    Image.new("RGB", (20, 10), (10, 200, 30)).save(root / "train" / "dog" / "wide.png")
    with pytest.raises(NatError, match=r"wide\.png: image is 20x10.*image_size"):
        load_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    data = load_dataset(root, cache_dir=tmp_path / "cache", image_size=4, progress=False)
    assert data.train_images.shape == (10, 4, 4, 3)


# --- the decode cache --------------------------------------------------------------------------

def _forbid_decoding(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("decoded although the cache is current")
    monkeypatch.setattr(readers, "read_dataset", fail)


def _count_decoding(monkeypatch) -> list:
    calls = []
    real = readers.read_dataset

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(readers, "read_dataset", counting)
    return calls


def _bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_cache_serves_unchanged_folder_and_redecodes_changed(images_dir, tmp_path, monkeypatch):
    root, expected = images_dir
    cache = tmp_path / "cache"
    load_dataset(root, cache_dir=cache, progress=False)
    with monkeypatch.context() as patch:
        _forbid_decoding(patch)
        _assert_matches(load_dataset(root, cache_dir=cache, progress=False), expected)
    calls = _count_decoding(monkeypatch)
    _bump_mtime(root / "test" / "dog" / "001.png")  # a touch alone invalidates
    load_dataset(root, cache_dir=cache, progress=False)
    assert len(calls) == 1
    Image.new("RGB", (8, 6), (1, 2, 3)).save(root / "train" / "cat" / "000.png")
    _bump_mtime(root / "train" / "cat" / "000.png")
    data = load_dataset(root, cache_dir=cache, progress=False)
    assert len(calls) == 2 and np.all(data.train_images[0] == (1, 2, 3))
    # The replaced entries are gone and no temporary file is left behind.
    assert [p.suffix for p in cache.iterdir()] == [".npz"]


def test_cache_redecodes_changed_archive(official, tmp_path, monkeypatch):
    folder, expected = official
    archive = _tar(folder, tmp_path / "cifar.tar.gz", "cifar-10-batches-py")
    cache = tmp_path / "cache"
    load_dataset(archive, cache_dir=cache, progress=False)
    calls = _count_decoding(monkeypatch)
    load_dataset(archive, cache_dir=cache, progress=False)
    assert calls == []
    _bump_mtime(archive)
    load_dataset(archive, cache_dir=cache, progress=False)
    assert len(calls) == 1
    (folder / "test_batch").write_bytes((folder / "data_batch_1").read_bytes())
    _tar(folder, archive, "cifar-10-batches-py")
    data = load_dataset(archive, cache_dir=cache, progress=False)
    assert len(calls) == 2
    np.testing.assert_array_equal(data.test_images, expected["train_images"][:6])


def test_cache_dir_from_env_and_damaged_entry_rebuilt(images_dir, tmp_path, monkeypatch):
    root, expected = images_dir
    monkeypatch.setenv("NAT_CACHE", str(tmp_path / "env-cache"))
    load_dataset(root, progress=False)
    (entry,) = (tmp_path / "env-cache").glob("*.npz")
    entry.write_bytes(b"not a zip file")
    _assert_matches(load_dataset(root, progress=False), expected)


# --- download ----------------------------------------------------------------------------------

@pytest.fixture
def served_archive(official, tmp_path, serve) -> tuple[str, str, dict]:
    folder, expected = official
    site = tmp_path / "site"
    site.mkdir()
    archive = _tar(folder, site / "cifar-10-python.tar.gz", "cifar-10-batches-py")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    return f"{serve(site)}/cifar-10-python.tar.gz", md5, expected


def test_download_verifies_and_keeps_archive(served_archive, tmp_path):
    url, md5, expected = served_archive
    cache = tmp_path / "cache"
    _assert_matches(load_dataset("cifar10", cache_dir=cache, url=url, md5=md5, progress=False),
                    expected)
    assert (cache / "cifar-10-python.tar.gz").is_file()
    # Present now: no network needed any more.
    data = load_dataset("cifar10", cache_dir=cache, url=_closed_port_url(), progress=False)
    _assert_matches(data, expected)


def test_download_url_from_environment(served_archive, tmp_path, monkeypatch):
    url, md5, expected = served_archive
    monkeypatch.setenv(URL_ENV, url)
    _assert_matches(load_dataset("cifar10", cache_dir=tmp_path / "cache", md5=md5,
                                 progress=False), expected)


def test_download_with_wrong_checksum_leaves_nothing(served_archive, tmp_path):
    url, _, _ = served_archive
    cache = tmp_path / "cache"
    with pytest.raises(NatError, match="checksum mismatch"):
        load_dataset("cifar10", cache_dir=cache, url=url, progress=False)  # the official md5
    assert list(cache.iterdir()) == []
    assert CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"


def test_offline_fails_fast_with_local_copy_hint(tmp_path):
    start = time.monotonic()
    with pytest.raises(NatError) as error:
        load_dataset("cifar10", cache_dir=tmp_path / "cache", url=_closed_port_url(),
                     progress=False)
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "--data /path/to/cifar-10-python.tar.gz" in message
    assert "cifar-10-batches-py" in message and "\n" not in message
    assert list((tmp_path / "cache").iterdir()) == []


# --- bad data ----------------------------------------------------------------------------------

def test_truncated_jpeg_is_named(tmp_path):
    root = tmp_path / "broken"
    _write_image_folder(root, fmt="JPEG", size=(32, 32))
    bad = root / "train" / "dog" / "001.jpeg"
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    bad.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    with pytest.raises(NatError, match="cannot decode image") as error:
        load_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    assert str(error.value).startswith(f"{bad}: ") and "\n" not in str(error.value)


def test_unreadable_image_in_archive_is_named(images_dir, tmp_path):
    root, _ = images_dir
    (root / "test" / "frog" / "000.png").write_bytes(b"\x89PNG but not really")
    archive = _tar(root, tmp_path / "tiny.tar", "tiny")
    with pytest.raises(NatError, match=r"tiny\.tar:tiny/test/frog/000\.png: cannot decode"):
        load_dataset(archive, cache_dir=tmp_path / "cache", progress=False)


def test_class_mismatch_is_reported(tmp_path):
    root = tmp_path / "mismatch"
    _write_image_folder(root, classes=("cat", "dog"), test_classes=("cat", "frog"))
    with pytest.raises(NatError, match="only in train: dog; only in test: frog"):
        load_dataset(root, cache_dir=tmp_path / "cache", progress=False)


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(NatError, match="no such file or folder"):
        load_dataset(tmp_path / "nowhere", cache_dir=tmp_path / "cache")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    with pytest.raises(NatError, match="unknown data layout"):
        load_dataset(tmp_path / "notes", cache_dir=tmp_path / "cache")
    (tmp_path / "train" / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "train" / "cat" / "a.png")
    with pytest.raises(NatError, match="no test/<class>/ or val/<class>/"):
        load_dataset(tmp_path / "train" / "..", cache_dir=tmp_path / "cache")


def test_damaged_archives(official, tmp_path):
    folder, _ = official
    archive = _tar(folder, tmp_path / "cut.tar.gz", "cifar-10-batches-py")
    archive.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    with pytest.raises(NatError, match="damaged archive"):
        load_dataset(archive, cache_dir=tmp_path / "cache")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(1000))
    with pytest.raises(NatError, match="not a folder or a tar archive"):
        load_dataset(junk, cache_dir=tmp_path / "cache")


# --- loader ------------------------------------------------------------------------------------

def _indexed(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first pixel spells their index, to check that labels stay attached."""
    images = np.zeros((n, 4, 4, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    images[:, 0, 0, 1] = np.arange(n) // 256
    return images, np.arange(n)


def _collect(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


def test_sharded_loader_gives_disjoint_equal_shards():
    images, labels = _indexed(103)
    loaders = [BatchLoader(images, labels, 10, rank=r, world_size=2, seed=1) for r in range(2)]
    assert len(loaders[0]) == len(loaders[1]) == 6  # 51 images each, last batch of 1
    seen = []
    for loader in loaders:
        batches = _collect(loader)
        assert len(batches) == len(loader)
        for x, y in batches:
            pixel = x[:, 0, 0, 0].long() + 256 * x[:, 0, 0, 1].long()
            assert torch.equal(pixel, y)
        seen.append(torch.cat([y for _, y in batches]))
    assert len(seen[0]) == len(seen[1]) == 51
    assert not set(seen[0].tolist()) & set(seen[1].tolist())


def test_loader_reshuffles_each_epoch_and_covers_all():
    images, labels = _indexed(50)
    loader = BatchLoader(images, labels, 8, seed=3)
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(50))
    assert not torch.equal(first, second) and loader.state_dict() == {"epoch": 2, "step": 0}
    again = BatchLoader(images, labels, 8, seed=3)
    assert torch.equal(torch.cat([y for _, y in again]), first)
    ordered = BatchLoader(images, labels, 8, shuffle=False, drop_last=True)
    assert len(ordered) == 6
    assert torch.equal(torch.cat([y for _, y in ordered]), torch.arange(48))


def test_loader_resumes_exactly_with_augmentation():
    images, labels = _random_batch(40, 8, 8), np.arange(40)
    mean, std = channel_stats(images)
    make = functools.partial(BatchLoader, images, labels, 6, seed=9,
                             transform=Augment(mean, std, cutout=4), indices=np.arange(2, 38))
    reference = make()
    epochs = [_collect(reference) for _ in range(2)]
    resumed = make(epoch=1, step=3)
    tail = _collect(resumed)
    assert len(tail) == len(epochs[1]) - 3
    for (x, y), (rx, ry) in zip(tail, epochs[1][3:]):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    interrupted = make()
    for step, _ in enumerate(interrupted):
        if step == 2:
            break
    state = interrupted.state_dict()
    assert state == {"epoch": 0, "step": 3}
    restarted = make()
    restarted.load_state_dict(state)
    assert all(torch.equal(x, rx) for (x, _), (rx, _) in zip(_collect(restarted), epochs[0][3:]))


def test_loader_rejects_bad_arguments():
    images, labels = _indexed(3)
    with pytest.raises(NatError, match="cannot be shared"):
        BatchLoader(images, labels, 2, rank=0, world_size=4)
    with pytest.raises(NatError, match="rank"):
        BatchLoader(images, labels, 2, rank=2, world_size=2)
    with pytest.raises(NatError, match="step"):
        BatchLoader(images, labels, 2, step=5)


# --- the real data -----------------------------------------------------------------------------

@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"{REAL_ARCHIVE} is absent")
def test_real_cifar10_jpeg_archive_through_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    data = load_dataset(REAL_ARCHIVE, cache_dir=cache, progress=False)
    assert data.train_images.shape == (50_000, 32, 32, 3)
    assert data.test_images.shape == (10_000, 32, 32, 3)
    assert data.classes == CIFAR_CLASSES
    assert np.bincount(data.train_labels).tolist() == [5000] * 10
    np.testing.assert_allclose(data.mean, (0.4914, 0.4822, 0.4465), atol=1e-3)
    np.testing.assert_allclose(data.std, (0.2470, 0.2435, 0.2616), atol=5e-3)
    _forbid_decoding(monkeypatch)
    start = time.monotonic()
    cached = load_dataset(REAL_ARCHIVE, cache_dir=cache, progress=False)
    assert time.monotonic() - start < 5
    np.testing.assert_array_equal(cached.test_images, data.test_images)
    assert cached.mean == data.mean
