"""Does training the supernet on one input's own transformations make NAT's choice for it truer?

The shared supernet is trained on the whole space, and NAT asks it to compare a handful of cells:
one input's legal transformations (at most 3^6 on NAS-Bench-201: every op may only stay, become
a skip, or go). This script measures, against the ground truth, what a few minutes of further
training *on those cells only* buys. For each of ``--cells`` random connected inputs (drawn
without the table), it copies the supernet, trains it for ``--steps`` SGD steps on cells drawn
from the input's legal transformations (``--sampler``), and after each step count in the list
runs the selection ``nat transform --select-on --refine --significance Z`` makes: hill-climb from
the input on the fit over one-edge legal moves, keep the result only where its held-out loss beats
the input's by Z paired standard errors. Step count 0 is the shared supernet as it is.
The table is read only at the end, to grade.

    python experiments/nb201_specialize.py --run runs/deiso --data ../shared/data/cifar10-jpg.tar.gz \\
        --table ../shared/nb201/cifar10-200ep.csv --out runs/spec --cells 60 --steps 0 150 300 600

``--shard I/N`` runs every N-th cell from the I-th (one process per core); the JSONL of every
shard is read back by ``--summarise``. A cell already in the output file is not run again.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


from nat.arch import nb201
from nat.arch.nb201_table import load_table
from nat.data import BatchLoader, load_dataset
from nat.nasbench.fidelity import score_codes
from nat.search.config import SearchConfig
from nat.search.refine import refine
from nat.search.rewards import paired_z
from nat.search.trainer import scoring_batches, search_split, w_augment
from nat.search.transform import load_transformer
from nat.search.supernets import build_supernet


def input_cells(count: int, seed: int) -> list[int]:
    """``count`` distinct random connected cells, uniform over codes (as the whole-space means are)."""
    connected = np.flatnonzero(nb201.connected_codes())
    return [int(c) for c in np.random.default_rng(seed).choice(connected, count, replace=False)]


class TransformationSampler:
    """Draws legal, connected transformations of one input: uniformly over codes (``codes``), or a
    distinct function first and then one of its codes (``deiso``, as the shared supernet's sampler)."""

    def __init__(self, code: int, how: str, rng: random.Random) -> None:
        connected = nb201.connected_codes()
        self.codes = [int(c) for c in nb201.legal_codes(code) if connected[c]]
        groups: dict[tuple, list[int]] = {}
        for c in self.codes:
            groups.setdefault(nb201.structure(c), []).append(c)
        self.groups = list(groups.values())
        self.how, self.rng = how, rng

    def __call__(self) -> int:
        if self.how == "codes":
            return self.codes[self.rng.randrange(len(self.codes))]
        group = self.groups[self.rng.randrange(len(self.groups))]
        return group[self.rng.randrange(len(group))]


def select(supernet, code: int, batches, zs: list[float]) -> dict:
    """The selection of ``nat transform --select-on --refine --significance Z`` for one input: the
    hill-climb on the fit from the input, then each significance level's verdict."""
    losses: dict[int, np.ndarray] = {}

    def fit(genotype) -> float:
        c = nb201.encode(genotype)
        if c not in losses:
            score_codes(supernet, [c], batches, image_losses=losses)
        return 100.0 * math.exp(-float(losses[c].mean()))

    beta = nb201.to_genotype(nb201.decode(code))
    found = refine(beta, beta, fit)
    best = nb201.encode(found.genotype)
    out = {"climbed": best, "evaluations": found.evaluations, "fit_input": found.start_score, "fit_best": found.score}
    for z in zs:
        keep = best != code and paired_z(torch.from_numpy(losses[code]), torch.from_numpy(losses[best])) >= z
        out[f"z{z:g}"] = best if keep else code
    return out


def run_cell(base_state, cfg: SearchConfig, classes: int, code: int, data, w_part, batches, args) -> dict:
    supernet = build_supernet(cfg, classes, "cpu")
    if args.scratch:
        torch.manual_seed(code)
    else:
        supernet.load_state_dict(base_state)
    sampler = TransformationSampler(code, args.sampler, random.Random(code))
    loader = BatchLoader(data.train_images, data.train_labels, cfg.batch_size, indices=w_part,
                         transform=w_augment(cfg, data), seed=code, drop_last=True)
    opt = torch.optim.SGD(supernet.parameters(), lr=args.lr, momentum=0.9, weight_decay=cfg.w_weight_decay)
    row = {"code": code, "space": len(sampler.codes), "functions": len(sampler.groups), "by_steps": {}}
    done, start, train_s = 0, time.perf_counter(), 0.0
    batches_iter = iter(())
    for k in sorted(args.steps):
        supernet.train()
        t0 = time.perf_counter()
        while done < k:
            try:
                x, y = next(batches_iter)
            except StopIteration:
                batches_iter = iter(loader)
                continue
            genotype = nb201.to_genotype(nb201.decode(sampler()))
            loss = F.cross_entropy(supernet(x, genotype), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(supernet.parameters(), cfg.w_grad_clip)
            opt.step()
            done += 1
        train_s += time.perf_counter() - t0
        supernet.eval()
        with torch.no_grad():
            row["by_steps"][str(k)] = {**select(supernet, code, batches, args.significance), "train_s": train_s}
    row["seconds"] = time.perf_counter() - start
    return row


def summarise(rows: list[dict], table_path: str, zs: list[float]) -> dict:
    table = load_table(table_path)
    truth = table.values * (100.0 / table.scale)
    connected = nb201.connected_codes()
    oracle = np.array([max(truth[c] for c in nb201.legal_codes(r["code"]) if connected[c]) - truth[r["code"]]
                       for r in rows])
    out = {"cells": len(rows), "oracle_gain": float(oracle.mean()), "by_steps": {}}
    for k in rows[0]["by_steps"]:
        entry = {"train_s": float(np.mean([r["by_steps"][k]["train_s"] for r in rows]))}
        for key in ["climbed", *[f"z{z:g}" for z in zs]]:
            gains = np.array([truth[r["by_steps"][k][key]] - truth[r["code"]] for r in rows])
            entry[key] = {"mean_gain": float(gains.mean()), "se": float(gains.std(ddof=1) / math.sqrt(len(gains))),
                          "share_of_oracle": float(gains.mean() / oracle.mean()),
                          "improved": float((gains > 1e-9).mean()), "worsened": float((gains < -1e-9).mean())}
        out["by_steps"][k] = entry
    # paired differences against the shared supernet (step count 0), the honest comparison
    if "0" in out["by_steps"]:
        for k in out["by_steps"]:
            for z in zs:
                key = f"z{z:g}"
                d = np.array([truth[r["by_steps"][k][key]] - truth[r["by_steps"]["0"][key]] for r in rows])
                out["by_steps"][k][key]["vs_shared"] = {"mean": float(d.mean()),
                                                        "se": float(d.std(ddof=1) / math.sqrt(len(d)))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="an nb201 `nat search` run folder or transformer file with a supernet")
    ap.add_argument("--data", required=True)
    ap.add_argument("--table", required=True, help="the truth, read only by --summarise")
    ap.add_argument("--out", required=True, help="a folder: cells-<shard>.jsonl and summary.json")
    ap.add_argument("--cells", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7, help="which random inputs")
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 150, 300, 600])
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--sampler", choices=("codes", "deiso"), default="deiso")
    ap.add_argument("--scratch", action="store_true", help="start from fresh weights instead of the shared ones")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--significance", type=float, nargs="+", default=[2.0, 3.0])
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--summarise", action="store_true", help="only read the shards back and grade them")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        index, count = map(int, args.shard.split("/"))
        path = out / f"cells-{index}.jsonl"
        done = {json.loads(line)["code"] for line in path.read_text().splitlines()} if path.exists() else set()
        transformer = load_transformer(args.run, nb201.to_genotype(["skip_connect"] * 6))
        base = transformer.supernet
        cfg = SearchConfig.from_dict(transformer.held_out_config)
        data = load_dataset(args.data)
        w_part, theta_part = search_split(len(data.train_images), subset=cfg.subset, split=cfg.split,
                                          seed=cfg.split_seed)
        batches = scoring_batches(data.train_images, data.train_labels, theta_part, args.images, data.mean,
                                  data.std, seed=cfg.split_seed)
        base_state = copy.deepcopy(base.state_dict())
        mine = input_cells(args.cells, args.seed)[index::count]
        for i, code in enumerate(mine):
            if code in done:
                continue
            row = run_cell(base_state, cfg, base.classifier_bias.shape[0], code, data, w_part, batches, args)
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{i + 1}/{len(mine)}] cell {code}: {len(row['by_steps'])} points in {row['seconds']:.0f} s", flush=True)
    rows = [json.loads(line) for p in sorted(out.glob("cells-*.jsonl")) for line in p.read_text().splitlines()]
    if not rows:
        return
    summary = summarise(rows, args.table, args.significance)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"{summary['cells']} inputs, oracle +{summary['oracle_gain']:.3f} a cell")
    for k, entry in summary["by_steps"].items():
        parts = [f"{key} {e['mean_gain']:+.3f}±{e['se']:.2f} (worse {100 * e['worsened']:.0f}%"
                 + (f", vs shared {e['vs_shared']['mean']:+.3f}±{e['vs_shared']['se']:.2f}" if "vs_shared" in e else "")
                 + ")" for key, e in entry.items() if key != "train_s"]
        print(f"steps {k:>5} ({entry['train_s']:.0f} s): " + "; ".join(parts))


if __name__ == "__main__":
    main()
