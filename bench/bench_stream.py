"""Streaming input pipeline at ImageNet scale: decode + augment throughput per worker, and how many
workers keep a training step fed.

    python bench/bench_stream.py [--images 600] [--workers 1,2] [--steps 8] [--threads 1] [--json FILE]

A folder of realistic JPEGs is generated first (``--images`` training files in 4 classes, 500x375,
quality 90; textures at two scales plus sensor-like noise, so files are about the size of
ImageNet's: ~97 KB on average against ~110 KB; the mean size is printed), or ``--folder`` points at a real one.

1. **Per worker** (in this process, i.e. one worker's work): images/s of the training geometry
   (decode, random-resized crop to 224, flip) with and without JPEG draft decoding, of the
   evaluation geometry (resize 256, centre 224), and of the colour transform (jitter, lighting,
   normalisation; on the device when training on a GPU, in the workers when on the CPU).
2. **Fed step vs fixed batch**: one training step of a network (the ImageNet-layout DARTS network
   at C=8, 5 cells, batch 32, by default), timed fed by :class:`nat.data.StreamLoader` with k
   workers, against the same step on one batch held in memory, alternating in rounds. The figure
   of merit is images/s(fed) / images/s(fixed), goal >= 0.95 with enough workers. The workers
   needed is ceil(step images/s / one CPU worker's images/s, crop and colour).

On a 2-core machine the workers and the training step share the cores, so the step runs on
``--threads`` (default 1) and the ratios say how much of one free core the pipeline needs.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path


def write_folder(root: Path, images: int, classes: int = 4, seed: int = 0) -> float:
    """Realistic-sized JPEGs (500x375, quality 90); returns the mean file size in KB."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    sizes = []
    for split, count in (("train", images), ("val", max(classes, images // 10))):
        for i in range(count):
            folder = root / split / f"class{i % classes}"
            folder.mkdir(parents=True, exist_ok=True)
            low = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC)
            mid = Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC)
            pixels = 0.6 * np.asarray(low, float) + 0.4 * np.asarray(mid, float) + rng.normal(0, 15, (375, 500, 3))
            blob = io.BytesIO()
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(blob, format="JPEG", quality=90)
            (folder / f"{i}.jpg").write_bytes(blob.getvalue())
            sizes.append(len(blob.getvalue()))
    return sum(sizes) / len(sizes) / 1000


def per_worker(source, count: int) -> dict:
    import torch

    from nat.data import ColourAugment
    from nat.data.crops import center_crop, inception_crop
    files = [(source.root / f).read_bytes() for f in source.train_files[:count]]
    out = {}
    for name, fn in [("train crop, draft", lambda b, g: inception_crop(b, 224, g)),
                     ("train crop, full decode", lambda b, g: inception_crop(b, 224, g, draft=False)),
                     ("eval resize 256 + centre 224", lambda b, g: center_crop(b, 224, 256))]:
        g = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        for blob in files:
            fn(blob, g)
        out[name] = len(files) / (time.perf_counter() - start)
    batch = torch.randint(0, 256, (32, 224, 224, 3), dtype=torch.uint8)
    colour = ColourAugment((0.5,) * 3, (0.25,) * 3)
    colour(batch, torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for i in range(3):
        colour(batch, torch.Generator().manual_seed(i))
    out["colour jitter + lighting (main process)"] = 3 * len(batch) / (time.perf_counter() - start)
    return out


def fed_vs_fixed(source, workers: list[int], steps: int, rounds: int, batch: int, channels: int, layers: int,
                 device: str = "cpu") -> dict:
    import torch

    from nat.api import build_model
    from nat.data import ColourAugment, Geometry, StreamLoader
    torch.manual_seed(0)
    net = build_model("DARTS", dataset="imagenet", channels=channels, layers=layers).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    net.train()

    def step(x, y):
        with torch.autocast("cuda", torch.bfloat16, enabled=device.startswith("cuda")):
            out = net(x)
        logits = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.cross_entropy(logits, y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    colour = ColourAugment(source.mean, source.std)
    fixed_x = colour(torch.randint(0, 256, (batch, 224, 224, 3), dtype=torch.uint8), torch.Generator()).to(device)
    fixed_y = torch.randint(0, 4, (batch,)).to(device)
    step(fixed_x, fixed_y)  # warm-up
    times = {"fixed": []} | {k: [] for k in workers}
    epoch = 0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step(fixed_x, fixed_y)
        times["fixed"].append((time.perf_counter() - start) / steps)
        for k in workers:
            loader = StreamLoader(source.root, source.train_files, source.train_labels, batch, workers=k,
                                  geometry=Geometry("inception", 224), transform=colour, drop_last=True, epoch=epoch,
                                  device=device)
            epoch += 1
            it = iter(loader)
            x, y = next(it)  # worker start-up and the first batch are not steady state
            step(x, y)
            start = time.perf_counter()
            done = 0
            for x, y in it:
                step(x, y)
                done += 1
                if done == steps:
                    break
            times[k].append((time.perf_counter() - start) / done)
            del it
    fixed = statistics.median(times["fixed"])
    return {"fixed_step_s": fixed, "fixed_images_per_s": batch / fixed,
            "fed": {str(k): {"step_s": statistics.median(times[k]), "ratio": fixed / statistics.median(times[k])}
                    for k in workers}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, help="an existing image folder (train/<class>/, val/<class>/)")
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the training step")
    ap.add_argument("--device", default="cpu", help="where the step runs (cuda: colours on the GPU, pinned memory)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch

    from nat.data import open_image_folder
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        kb = None
        if folder is None:
            folder = Path(tmp) / "jpegs"
            kb = write_folder(folder, args.images)
            print(f"generated {args.images} training JPEGs of 500x375 (q90), mean {kb:.0f} KB", file=sys.stderr)
        source = open_image_folder(folder, image_size=224, stats_images=100)
        rates = per_worker(source, min(200, len(source.train_files)))
        workers = [int(k) for k in args.workers.split(",")]
        fed = fed_vs_fixed(source, workers, args.steps, args.rounds, args.batch, args.channels, args.layers,
                           args.device)
    # On a CPU run the workers do the colour transform too (StreamLoader's transform_in_workers).
    worker_rate = 1 / (1 / rates["train crop, draft"] + 1 / rates["colour jitter + lighting (main process)"])
    rates["one CPU worker in all (crop + colour)"] = worker_rate
    need = math.ceil(fed["fixed_images_per_s"] / worker_rate)
    print("| per worker (one process) | images/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} |")
    print(f"\ntraining step (DARTS imagenet layout C={args.channels} L={args.layers}, batch {args.batch}, "
          f"{args.device}, {args.threads} thread(s)): {fed['fixed_step_s']:.3f} s = {fed['fixed_images_per_s']:.0f} images/s "
          f"on a fixed batch; workers needed: {need}\n")
    print("| workers | fed step (s) | images/s fed / fixed |\n|---:|---:|---:|")
    for k, row in fed["fed"].items():
        print(f"| {k} | {row['step_s']:.3f} | {row['ratio']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"mean_kb": kb, "per_worker": rates, **fed, "workers_needed": need,
                                         "threads": args.threads}, indent=1))


if __name__ == "__main__":
    main()
