"""Does a few steps of fine-tuning per cell make a supernet's judgement truer? Measured on NAS-Bench-201.

Weight sharing underrates convolutions against skips (the every-move fidelity probe:
``nor_conv_3x3 -> skip_connect`` is judged right on fewer than half of its pairs). One suspect is
that shared convolution weights fit no single context, so a cell's convolutions are scored before
they had a chance to fit it. This script scores the probe's cells with the shared weights as they
are, then after ``--steps`` SGD steps on the cell's own path, starting from the shared weights
every time (every cell sees the same training batches, in the same order, so the pairs stay
paired), and reports the fidelity at each step count. The table is read only to grade.

    python bench/nb201_finetune_probe.py --run src/nat/pretrained/transformer-nb201.pt \\
        --data ../shared/data/cifar10-jpg.tar.gz --table ../shared/nb201/cifar10-200ep.csv \\
        --cells 100 --steps 0 10 30 --out runs/finetune.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nat.arch import nb201  # noqa: E402
from nat.arch.nb201_table import load_table  # noqa: E402
from nat.data import load_dataset  # noqa: E402
from nat.nasbench.fidelity import fidelity_report, format_fidelity, make_probe  # noqa: E402
from nat.runtime.progress import progress  # noqa: E402
from nat.search.trainer import scoring_batches, search_split  # noqa: E402
from nat.search.transform import load_transformer, selection_batches  # noqa: E402


@torch.no_grad()
def _score(net, genotype, batches) -> tuple[float, float]:
    correct, loss, total = 0, 0.0, 0
    for x, y in batches:
        logits = net(x, genotype)
        correct += (logits.argmax(1) == y).sum().item()
        loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        total += len(y)
    return 100.0 * correct / total, loss / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a nb201 `nat search` run folder or transformer file with a supernet")
    ap.add_argument("--data", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="the probe's seed (as `nat bench --fidelity`)")
    ap.add_argument("--images", type=int, default=512, help="held-out images every cell is scored on")
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 10, 30], help="fine-tuning steps to score after")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    transformer = load_transformer(args.run, nb201.to_genotype(["skip_connect"] * 6))
    net = transformer.supernet.float()
    cfg = transformer.held_out_config
    data = load_dataset(args.data)
    held_out = selection_batches(transformer, args.data, args.images)
    w_part, _ = search_split(len(data.train_images), subset=cfg.get("subset"), split=tuple(cfg.get("split", (0.4, 0.6))),
                             seed=cfg.get("split_seed", 0))
    train = scoring_batches(data.train_images, data.train_labels, w_part, max(args.steps) * args.batch_size,
                            data.mean, data.std, batch=args.batch_size, seed=1)
    probe = make_probe(args.cells, seed=args.seed, moves_per_cell=0)
    start_state = {k: v.clone() for k, v in net.state_dict().items()}
    scores = {k: {} for k in args.steps}
    start = time.perf_counter()
    for code in progress(probe.codes, total=len(probe.codes), desc="fine-tuning cells", unit="cell"):
        genotype = nb201.to_genotype(nb201.decode(code))
        net.load_state_dict(start_state)
        opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
        done = 0
        for k in sorted(args.steps):
            net.train()
            for x, y in train[done:k]:
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(x, genotype), y).backward()
                opt.step()
            done = k
            scores[k][code] = _score(net, genotype, held_out)
    minutes = (time.perf_counter() - start) / 60
    table = load_table(args.table)
    truth = table.values * (100.0 / table.scale)
    out = {"run": args.run, "cells": args.cells, "seed": args.seed, "lr": args.lr, "images": args.images,
           "minutes": minutes, "by_steps": {}}
    for k in args.steps:
        rep = fidelity_report(scores[k], probe, truth)
        out["by_steps"][k] = rep
        print(f"--- after {k} fine-tuning steps per cell")
        print(format_fidelity(rep))
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"{len(probe.codes)} cells in {minutes:.1f} minutes; wrote {args.out}")


if __name__ == "__main__":
    main()
