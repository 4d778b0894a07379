"""Training and inference throughput of `nat train`'s networks, against the reference's figures.

    python bench/bench_train_throughput.py [--steps 4] [--threads N] [--[no-]channels-last] [--skip-large]
                                           [--json FILE]

Each measurement runs in a fresh process: a :class:`nat.train.Trainer` (on a 256-image subset of
the cached real CIFAR-10, only so that it can be built) times its own training step -- forward
with the auxiliary head (weight 0.4), drop path (probability 0.1, the middle of the 0 -> 0.2
ramp), backward, gradient clipping at 5, SGD -- on a fixed batch, and inference (eval mode,
no grad) on a fixed batch of 64. Reported: images/s of the median of ``--steps`` timings after
one warm-up.

Memory layout of weights and batches: `nat train`'s default (NHWC for CIFAR networks, on CPU
too), or NCHW with ``--no-channels-last``.

- small: DARTS and NAT_DARTS at C=16, L=8, batch 64 (the issue's CPU configuration);
- large: the paper's C=36, L=20 with batch 32 (training) and 64 (inference), the configuration
  of the reference's figures on this kind of machine: 9.3 / 12.0 img/s training and 29.4 / 31.7
  img/s inference for DARTS / NAT_DARTS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar.gz"
REFERENCE = {("large", "DARTS"): (9.3, 29.4), ("large", "NAT_DARTS"): (12.0, 31.7)}
SIZES = {"small": {"channels": 16, "layers": 8, "batch_size": 64},
         "large": {"channels": 36, "layers": 20, "batch_size": 32}}


def measure(arch: str, size: str, steps: int, threads: int | None, data: str, channels_last: bool | None) -> dict:
    import torch

    from nat.arch.zoo import resolve
    from nat.train import TrainConfig, Trainer

    cfg = TrainConfig(data=data, subset=256, test_subset=64, epochs=1, device="cpu", threads=threads,
                      channels_last=channels_last, **SIZES[size])
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(*resolve(arch), cfg, Path(out) / "run", log=None, bars=False)
    trainer.model.train()
    trainer.net.drop_path_prob = 0.1
    x, y = torch.randn(cfg.batch_size, 3, 32, 32), torch.randint(0, 10, (cfg.batch_size,))
    train_times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        trainer._step(x, y)
        if i:
            train_times.append(time.perf_counter() - start)
    net, xi = trainer.net.eval(), torch.randn(64, 3, 32, 32).contiguous(memory_format=trainer.memory_format)
    infer_times = []
    with torch.no_grad():
        for i in range(steps + 1):
            start = time.perf_counter()
            net(xi)
            if i:
                infer_times.append(time.perf_counter() - start)
    return {"arch": arch, "size": size, "channels": cfg.channels, "layers": cfg.layers, "train_batch": cfg.batch_size,
            "threads": torch.get_num_threads(), "channels_last": trainer.memory_format == torch.channels_last,
            "params": trainer.cost.params, "madds": trainer.cost.madds,
            "train_images_per_s": cfg.batch_size / statistics.median(train_times),
            "infer_images_per_s": 64 / statistics.median(infer_times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement (after one warm-up)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip-large", action="store_true", help="only C=16, L=8")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                        help="NHWC (or with --no-, NCHW) memory format; default: nat train's choice")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CIFAR-10 (any layout nat reads)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--one", nargs=2, metavar=("ARCH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.steps, args.threads, args.data, args.channels_last)))
        return
    rows = []
    for size in ("small",) if args.skip_large else ("small", "large"):
        for arch in ("DARTS", "NAT_DARTS"):
            cmd = [sys.executable, __file__, "--one", arch, size, "--steps", str(args.steps), "--data", args.data]
            cmd += ["--threads", str(args.threads)] if args.threads else []
            cmd += [] if args.channels_last is None else ["--channels-last" if args.channels_last else
                                                          "--no-channels-last"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'arch':<11}{'C':>4}{'L':>4}{'batch':>7}{'threads':>8}{'layout':>7}{'train img/s':>13}{'ref':>6}"
          f"{'infer img/s':>13}{'ref':>6}")
    for r in rows:
        ref = REFERENCE.get((r["size"], r["arch"]))
        print(f"{r['arch']:<11}{r['channels']:>4}{r['layers']:>4}{r['train_batch']:>7}{r['threads']:>8}"
              f"{'NHWC' if r['channels_last'] else 'NCHW':>7}"
              f"{r['train_images_per_s']:>13.1f}{ref[0] if ref else '':>6}{r['infer_images_per_s']:>13.1f}"
              f"{ref[1] if ref else '':>6}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "reference": {f"{s}/{a}": v for (s, a), v in
                                                                           REFERENCE.items()}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
