"""The streaming input pipeline: ImageNet-recipe crops and colours, worker-decoded batches that
resume bit-identically, DDP shards, bad files, and the in-memory/stream choice."""

from __future__ import annotations

import colorsys
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nat.data import Augment, BatchLoader, load_dataset, open_source
from nat.data.crops import RATIO, SCALE, center_crop, crop_box, inception_crop
from nat.data.photometric import (IMAGENET_EIGVAL, IMAGENET_EIGVEC, ColourAugment, color_jitter, hsv_to_rgb,
                                  lighting, rgb_to_hsv)
from nat.data.stream import Geometry, ImageFolderSource, StreamLoader, list_image_folder, open_image_folder
from nat.errors import NatError

CLASSES = ("ant", "bee", "cow")


def write_mixed_jpegs(root: Path, counts: dict[str, int], *, seed: int = 0, low: int = 40, high: int = 90) -> Path:
    """``root/<split>/<class>/<i>.jpg`` of random sizes in [low, high): an ImageNet layout in miniature."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for c in CLASSES:
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(count):
                w, h = rng.integers(low, high, 2)
                base = rng.integers(0, 255, 3)
                pixels = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> ImageFolderSource:
    root = write_mixed_jpegs(tmp_path_factory.mktemp("mixed"), {"train": 10, "val": 4})
    return open_image_folder(root, image_size=32)


def run(source: ImageFolderSource, *, workers: int, epoch: int = 0, step: int = 0, epochs: int = 1,
        **options) -> list[tuple[torch.Tensor, torch.Tensor]]:
    options = {"geometry": Geometry("inception", 32), "transform": ColourAugment(source.mean, source.std),
               **options}
    loader = StreamLoader(source.root, source.train_files, source.train_labels, 4, workers=workers, epoch=epoch,
                          step=step, **options)
    out = []
    for _ in range(epochs):
        out += list(loader)
    return out


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))


# --- crops -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_crop_box_lies_inside_with_allowed_area_and_ratio(seed):
    g = torch.Generator().manual_seed(seed)
    width, height = (int(v) for v in torch.randint(1, 600, (2,), generator=g))
    left, top, w, h = crop_box(width, height, g)
    assert 0 <= left and 0 <= top and 0 < w and 0 < h and left + w <= width and top + h <= height
    ratio = w / h
    if not (left == (width - w) // 2 and top == (height - h) // 2):  # not the fall-back centre crop
        # rounding w and h to pixels moves area and ratio a little from the drawn values
        assert SCALE[0] * width * height * 0.8 - 2 * (w + h) <= w * h
        assert RATIO[0] * 0.8 <= ratio <= RATIO[1] * 1.25 or min(w, h) < 10


def test_crop_box_falls_back_to_a_centred_crop_of_allowed_ratio():
    g = torch.Generator().manual_seed(0)
    # a 1000x10 strip: no window of 8-100% area has a ratio within 3/4-4/3, so the fall-back applies
    left, top, w, h = crop_box(1000, 10, g)
    assert (w, h) == (13, 10) and left == (1000 - 13) // 2 and top == 0


def test_crop_box_is_a_function_of_the_seed():
    boxes = [crop_box(500, 375, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert boxes[0] == boxes[1]
    assert crop_box(500, 375, torch.Generator().manual_seed(8)) != boxes[0]


def _jpeg(pixels: np.ndarray, quality: int = 95) -> bytes:
    import io
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _smooth(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin(x / 17.0)], -1).astype(np.uint8)


def test_full_image_crop_equals_a_plain_resize():
    pixels = _smooth(60, 80)
    blob = _jpeg(pixels)
    out = inception_crop(blob, 32, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(0.5, 2.0),
                         flip=False, draft=False)
    with Image.open(__import__("io").BytesIO(blob)) as image:
        expected = np.asarray(image.convert("RGB").resize((32, 32), Image.BILINEAR))
    assert out.shape == (32, 32, 3) and np.array_equal(out, expected)


def test_flip_mirrors_the_same_window():
    blob = _jpeg(_smooth(60, 80))
    seeds = [s for s in range(20)]
    # the flip is the crop's last draw: with flip=False the window is the same, unmirrored
    for s in seeds:
        flipped = inception_crop(blob, 24, torch.Generator().manual_seed(s), draft=False)
        plain = inception_crop(blob, 24, torch.Generator().manual_seed(s), flip=False, draft=False)
        assert np.array_equal(flipped, plain) or np.array_equal(flipped, plain[:, ::-1])
    mirrored = sum(not np.array_equal(inception_crop(blob, 24, torch.Generator().manual_seed(s), draft=False),
                                      inception_crop(blob, 24, torch.Generator().manual_seed(s), flip=False,
                                                     draft=False)) for s in seeds)
    assert 4 <= mirrored <= 16  # about half


def test_draft_decoding_is_close_to_a_full_decode():
    blob = _jpeg(_smooth(600, 800))
    for s in range(5):
        fast = inception_crop(blob, 64, torch.Generator().manual_seed(s), scale=(0.5, 1.0)).astype(float)
        full = inception_crop(blob, 64, torch.Generator().manual_seed(s), scale=(0.5, 1.0), draft=False).astype(float)
        assert np.abs(fast - full).mean() < 3  # grey levels, of 255


def test_center_crop_is_resize_256_then_central_224():
    pixels = _smooth(300, 400)
    blob = _jpeg(pixels)
    out = center_crop(blob, 224, 256)
    with Image.open(__import__("io").BytesIO(blob)) as image:
        resized = np.asarray(image.convert("RGB").resize((341, 256), Image.BILINEAR))  # 400 * 256 / 300
    top, left = 16, 58  # round((256 - 224) / 2), round((341 - 224) / 2)
    assert np.array_equal(out, resized[top:top + 224, left:left + 224])


# --- colours -----------------------------------------------------------------------------------

def test_hsv_agrees_with_colorsys_and_round_trips():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 8, 8, generator=g)
    x[0, :, 0, 0] = torch.tensor([0.3, 0.3, 0.3])  # grey: hue and saturation 0
    x[0, :, 0, 1] = 0  # black
    hsv = rgb_to_hsv(x)
    for n, i, j in [(0, 0, 0), (0, 0, 1), (1, 3, 4), (0, 5, 2), (1, 7, 7)]:
        expected = colorsys.rgb_to_hsv(*x[n, :, i, j].tolist())
        assert torch.allclose(hsv[n, :, i, j], torch.tensor(expected, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(hsv_to_rgb(hsv), x, atol=1e-5)


def test_jitter_of_zero_strength_is_the_identity_and_grey_survives_saturation_and_hue():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 6, 6, generator=g)
    assert torch.allclose(color_jitter(x, g, 0, 0, 0, 0), x)
    grey = x[:, :1].expand(-1, 3, -1, -1).contiguous()
    assert torch.allclose(color_jitter(grey, g, 0, 0, 0.9, 0.5), grey, atol=1e-5)


def test_hue_shift_of_a_third_turns_red_into_green():
    red = torch.zeros(1, 3, 1, 1)
    red[0, 0] = 1
    hsv = rgb_to_hsv(red)
    hsv[:, 0] = (hsv[:, 0] + 1 / 3) % 1
    assert torch.allclose(hsv_to_rgb(hsv).flatten(), torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)


def test_brightness_scales_each_image_by_a_factor_in_range():
    g = torch.Generator().manual_seed(3)
    x = torch.full((200, 3, 2, 2), 0.5)
    out = color_jitter(x, g, brightness=0.4, contrast=0, saturation=0, hue=0)
    factors = out[:, 0, 0, 0] / 0.5
    assert torch.allclose(out, factors.view(-1, 1, 1, 1) * x, atol=1e-6)
    assert factors.min() >= 0.6 - 1e-6 and factors.max() <= 1.4 + 1e-6 and factors.std() > 0.15


def test_lighting_noise_has_the_pca_covariance():
    g = torch.Generator().manual_seed(0)
    offsets = lighting(torch.zeros(20000, 3, 1, 1), 0.1, g).flatten(1)
    vec, val = torch.tensor(IMAGENET_EIGVEC), torch.tensor(IMAGENET_EIGVAL)
    expected = vec @ torch.diag((0.1 * val) ** 2) @ vec.T
    assert torch.allclose(torch.cov(offsets.T), expected, atol=0.05 * expected.abs().max())


def test_colour_augment_gives_normalised_float_nchw():
    images = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    out = ColourAugment((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 0, 0, 0, 0, 0)(images, torch.Generator())
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    assert torch.allclose(out, (images.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25, atol=1e-5)


# --- the streaming loader ----------------------------------------------------------------------

def test_workers_do_not_change_a_pixel(mixed):
    assert same(run(mixed, workers=0), run(mixed, workers=2))


def test_resume_mid_epoch_is_bit_identical(mixed):
    whole = run(mixed, workers=2, epochs=2)  # 7 steps per epoch (30 images, batch 4)
    loader = StreamLoader(mixed.root, mixed.train_files, mixed.train_labels, 4, geometry=Geometry("inception", 32),
                          transform=ColourAugment(mixed.mean, mixed.std), workers=1)
    first = []
    for batch in loader:
        first.append(batch)
        if len(first) == 3:
            break
    state = loader.state_dict()
    assert state == {"epoch": 0, "step": 3}
    resumed = StreamLoader(mixed.root, mixed.train_files, mixed.train_labels, 4,
                           geometry=Geometry("inception", 32), transform=ColourAugment(mixed.mean, mixed.std),
                           workers=2)
    resumed.load_state_dict(state)
    rest = list(resumed) + list(resumed)
    assert same(first + rest, whole)
    assert resumed.state_dict() == {"epoch": 2, "step": 0}


def test_workers_in_a_ddp_process_start_from_a_fork_server_and_give_the_same_batches(mixed, tmp_path):
    """Forking a process whose gloo threads may hold a lock can hang the worker (seen once in CI), so
    under a process group the workers come from a single-threaded fork server instead; the batches,
    which depend only on (seed, epoch, step, rank), are the same."""
    from nat.data.stream import _worker_context

    assert _worker_context().get_start_method() == "fork"
    alone = run(mixed, workers=1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                                         world_size=1)
    try:
        assert _worker_context().get_start_method() == "forkserver"
        assert same(run(mixed, workers=1), alone)
    finally:
        torch.distributed.destroy_process_group()


def test_epochs_differ(mixed):
    two = run(mixed, workers=0, epochs=2)
    assert not torch.equal(two[0][0], two[7][0])


def test_ddp_ranks_read_disjoint_equal_shards(mixed):
    shards = [StreamLoader(mixed.root, mixed.train_files, mixed.train_labels, 4, geometry=Geometry("fit", 32),
                           rank=r, world_size=4).shard(5) for r in range(4)]
    flat = torch.cat(shards)
    assert all(len(s) == 7 for s in shards) and len(set(flat.tolist())) == 28  # 30 images, tail of 2 dropped
    labels = [run(mixed, workers=0, rank=r, world_size=2, epoch=1) for r in range(2)]
    assert not torch.equal(labels[0][0][0], labels[1][0][0])


def test_streamed_pad_crop_batches_equal_the_in_memory_ones(tmp_path, image_folder, cache):
    root = image_folder(tmp_path / "same", {"train": 6, "test": 2}, CLASSES, shape=(20, 20))
    memory = load_dataset(root, cache_dir=cache, progress=False)
    streamed = open_image_folder(root)
    augment = Augment(memory.mean, memory.std, crop_padding=4, cutout=8)
    a = list(BatchLoader(memory.train_images, memory.train_labels, 5, transform=augment, seed=3, drop_last=True))
    b = list(StreamLoader(streamed.root, streamed.train_files, streamed.train_labels, 5, geometry=Geometry("fit"),
                          transform=augment, seed=3, drop_last=True, workers=1))
    assert len(a) == 3 and same(a, b)
    assert np.allclose(memory.mean, streamed.mean) and np.allclose(memory.std, streamed.std)


def _corrupt(source: ImageFolderSource, tmp_path: Path, how: str) -> ImageFolderSource:
    import shutil
    root = tmp_path / "bad"
    shutil.copytree(source.root, root)
    victim = root / source.train_files[4]
    if how == "truncated":
        victim.write_bytes(victim.read_bytes()[:200])
    elif how == "junk":
        victim.write_bytes(b"not an image at all")
    elif how == "unreadable":
        victim.chmod(0)
    return open_image_folder(root, image_size=32)  # the statistics pass over a bad file


@pytest.mark.parametrize("how", ["truncated", "junk"] + ([] if os.geteuid() == 0 else ["unreadable"]))
def test_a_bad_file_stops_with_its_name_or_is_skipped_and_counted(mixed, tmp_path, how):
    bad = _corrupt(mixed, tmp_path, how)
    with pytest.raises(NatError, match=r"bad/train/ant/4\.jpg: .*--bad-images skip"):
        run(bad, workers=1)
    loader = StreamLoader(bad.root, bad.train_files, bad.train_labels, 4, geometry=Geometry("inception", 32),
                          workers=1, bad_images="skip")
    sizes = [len(y) for _, y in loader]
    assert loader.skipped == 1 and "ant/4.jpg" in loader.first_skipped
    assert sum(sizes) == 29 and sorted(sizes)[:2] == [2, 3]  # 30 images in 8 batches, one short by the bad file


def test_a_file_that_never_answers_times_out_instead_of_hanging(mixed, tmp_path):
    import shutil
    root = tmp_path / "fifo"
    shutil.copytree(mixed.root, root)
    victim = root / mixed.train_files[0]
    victim.unlink()
    os.mkfifo(victim)  # open() blocks until someone writes: a stalled network file system
    source = ImageFolderSource(mixed.name, root, mixed.classes, mixed.train_files, mixed.train_labels,
                               mixed.test_files, mixed.test_labels, mixed.test_split, mixed.mean, mixed.std)
    with pytest.raises(NatError, match=r"no batch from the data workers in 3 s"):
        run(source, workers=1, timeout=3, shuffle=False)


def test_class_folders_must_match_between_train_and_val(tmp_path):
    root = write_mixed_jpegs(tmp_path / "d", {"train": 2, "val": 1})
    (root / "val" / "cow" / "0.jpg").rename(root / "val" / "ant" / "9.jpg")
    (root / "val" / "cow").rmdir()
    with pytest.raises(NatError, match=r"classes differ between train/ and val/: only in train: cow; only in val: -"):
        list_image_folder(root)


def test_archives_and_missing_folders_are_refused_for_streaming(tmp_path):
    archive = tmp_path / "d.tar"
    archive.write_bytes(b"")
    with pytest.raises(NatError, match="extract the archive"):
        list_image_folder(archive)
    with pytest.raises(NatError, match="no such folder"):
        list_image_folder(tmp_path / "nowhere")


def test_auto_streams_only_what_does_not_fit(tmp_path, cache):
    root = write_mixed_jpegs(tmp_path / "auto", {"train": 2, "val": 1})
    assert not isinstance(open_source(root, image_size=32, cache_dir=cache, progress=False), ImageFolderSource)
    small_budget = open_source(root, image_size=32, cache_dir=cache, budget=1000, progress=False)
    assert isinstance(small_budget, ImageFolderSource)
    assert isinstance(open_source(root, image_size=32, needs_files=True, progress=False), ImageFolderSource)
    assert isinstance(open_source(root, mode="stream", image_size=32, progress=False), ImageFolderSource)
    with pytest.raises(NatError, match="crops the full-size files"):
        open_source(root, mode="memory", image_size=32, needs_files=True, progress=False)


def test_bad_loader_settings_are_refused(mixed):
    common = (mixed.root, mixed.train_files, mixed.train_labels, 4)
    with pytest.raises(NatError, match="bad_images must be one of stop, skip"):
        StreamLoader(*common, geometry=Geometry("fit"), bad_images="ignore")
    with pytest.raises(NatError, match="workers must be 0 or more"):
        StreamLoader(*common, geometry=Geometry("fit"), workers=-1)
    with pytest.raises(ValueError, match="needs a positive size"):
        Geometry("inception")


def test_the_colour_transform_gives_the_same_batches_in_the_workers_or_after_them(mixed):
    assert same(run(mixed, workers=2, transform_in_workers=True), run(mixed, workers=0, transform_in_workers=False))
