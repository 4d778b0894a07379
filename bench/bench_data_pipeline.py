"""Data pipeline overhead of `nat train`: real batches vs one fixed in-memory batch, side by side.

    python bench/bench_data_pipeline.py [--data PATH] [--rounds 6] [--steps 3] [--json FILE]

For each network (DARTS at C=16, L=8 and the ``tiny`` preset's C=8, L=5; batch 64) one
:class:`nat.train.Trainer` is built on the real CIFAR-10 (decoded once into the cache), and its
own training step is timed two ways, alternating in rounds so that drift of a shared machine
hits both alike:

- pipeline: the next batch of the trainer's loader (shuffled indexing, random crop, flip,
  normalisation, cutout 16), then the step;
- fixed: one batch drawn once and kept, then the step.

The figure of merit is images/s(pipeline) / images/s(fixed); the goal is >= 0.95. The loader
alone (no training) is timed too, to show where the remaining difference comes from.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar.gz"
NETWORKS = {"DARTS C=16 L=8": {"channels": 16, "layers": 8}, "DARTS C=8 L=5 (tiny)": {"channels": 8, "layers": 5}}


def measure(name: str, size: dict, args) -> dict:
    import torch

    from nat.arch.zoo import resolve
    from nat.train import TrainConfig, Trainer

    cfg = TrainConfig(data=str(args.data), batch_size=64, epochs=1, device="cpu", threads=args.threads, **size)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(*resolve("DARTS"), cfg, Path(out) / "run", log=None, bars=False)
        trainer.model.train()
        trainer.net.drop_path_prob = cfg.drop_path / 2
        batches = iter(trainer.train_loader)
        fixed = next(batches)
        trainer._step(*fixed)  # warm-up
        timed = {"pipeline": [0.0, 0], "fixed": [0.0, 0]}
        for r in range(args.rounds):
            for mode in ("pipeline", "fixed") if r % 2 == 0 else ("fixed", "pipeline"):  # ABBA: no order bias
                start = time.perf_counter()
                for _ in range(args.steps):
                    images, labels = next(batches) if mode == "pipeline" else fixed
                    trainer._step(images, labels)
                timed[mode][0] += time.perf_counter() - start
                timed[mode][1] += args.steps * len(fixed[0])
        start, n = time.perf_counter(), 0
        for _ in range(20):  # the loader alone
            n += len(next(batches)[0])
        loader_rate = n / (time.perf_counter() - start)
    rate = {mode: images / seconds for mode, (seconds, images) in timed.items()}
    return {"network": name, "threads": torch.get_num_threads(), "pipeline_images_per_s": rate["pipeline"],
            "fixed_images_per_s": rate["fixed"], "ratio": rate["pipeline"] / rate["fixed"],
            "loader_alone_images_per_s": loader_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 (any layout nat reads)")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of pipeline and fixed")
    parser.add_argument("--steps", type=int, default=3, help="training steps per mode and round")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    rows = [measure(name, size, args) for name, size in NETWORKS.items()]
    print(f"{'network':<24}{'threads':>8}{'pipeline img/s':>16}{'fixed img/s':>13}{'ratio':>8}{'loader img/s':>14}")
    for r in rows:
        print(f"{r['network']:<24}{r['threads']:>8}{r['pipeline_images_per_s']:>16.1f}{r['fixed_images_per_s']:>13.1f}"
              f"{r['ratio']:>8.3f}{r['loader_alone_images_per_s']:>14.0f}")
    print("goal: ratio >= 0.95")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "argv": sys.argv[1:]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
