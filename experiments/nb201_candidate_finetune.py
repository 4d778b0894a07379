"""Does fine-tuning each candidate on its own, from the shared weights, judge good cells' moves truer?

Among good NAS-Bench-201 cells (the best quarter) the shared supernet ranks cells poorly
(docs/results/nas-bench-201.md, "Good cells"): the moves it calls harmless or better are, in
truth, slightly worse as often as not. Weight sharing is one suspect: every cell is scored with
weights that also serve thousands of others. This script measures the lever the issue names as
"per-candidate" training: for each of ``--cells`` good inputs it takes the ``--moves`` one-edge,
parameter-saving moves (a convolution made a skip or null) that the shared supernet scores best
(the ones a compact selection would consider), copies the supernet once per cell (the input and
each move), trains each copy on that one cell alone for ``--steps`` SGD steps on the same batches
in the same order (paired: only the architecture differs), and scores every copy on the same
held-out images. Step count 0 is the shared supernet as it is.

Reported per step count, over all (input, move) pairs: the Spearman correlation of the judged
change (held-out loss, as a paired z) with the true change, the sign agreement on pairs whose true
change is at least ``0.3`` points either way, and the simulated compact decision "take the move when
its z clears Z" (``--objective compact --tolerance 0 --significance Z --max-changes 1`` on these
moves: true mean change of the taken moves and of every input, share worse by > 0.5).

The table chooses the inputs (as ``nat bench --top`` does) and grades; nothing else reads it.

    python experiments/nb201_candidate_finetune.py --data ../shared/data/cifar10-jpg.tar.gz \\
        --table ../shared/nb201/cifar10-200ep.csv --out runs/cft --cells 48 --steps 0 100 250 --shard 0/2
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nat.arch import nb201
from nat.arch.nb201_table import load_table
from nat.data import BatchLoader, load_dataset
from nat.nasbench.bench import select_inputs
from nat.nasbench.fidelity import rank_correlation, score_codes
from nat.nn.nb201 import NB201CostModel
from nat.search.config import SearchConfig
from nat.search.rewards import paired_z
from nat.search.trainer import scoring_batches, search_split, w_augment
from nat.search.transform import load_transformer

CONV = ("nor_conv_3x3", "nor_conv_1x1")


def saving_moves(code: int) -> list[int]:
    """One-edge legal, connected moves of ``code`` that turn a convolution into a skip or null."""
    ops = nb201.decode(code)
    out = []
    for c in nb201.one_edge_codes(code):
        new = nb201.decode(c)
        k = next(i for i in range(6) if new[i] != ops[i])
        if ops[k] in CONV:
            out.append(c)
    return out


def finetune(base_state, supernet, code: int, loader, steps: list[int], cfg, lr: float, batches) -> dict:
    """Per-image held-out losses of ``code`` after each step count of training on it alone."""
    supernet.load_state_dict(base_state)
    opt = torch.optim.SGD(supernet.parameters(), lr=lr, momentum=0.9, weight_decay=cfg.w_weight_decay)
    genotype = nb201.to_genotype(nb201.decode(code))
    out, done, it = {}, 0, iter(loader)
    for k in sorted(steps):
        supernet.train()
        while done < k:
            try:
                x, y = next(it)
            except StopIteration:
                it = iter(loader)
                continue
            loss = F.cross_entropy(supernet(x, genotype), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(supernet.parameters(), cfg.w_grad_clip)
            opt.step()
            done += 1
        supernet.eval()
        losses: dict[int, np.ndarray] = {}
        with torch.no_grad():
            score_codes(supernet, [code], batches, image_losses=losses)
        out[k] = losses[code]
    return out


def run_cell(code: int, base_state, supernet, cfg, data, w_part, batches, args, cost) -> dict:
    start = time.perf_counter()
    moves = saving_moves(code)
    with torch.no_grad():
        supernet.load_state_dict(base_state)
        supernet.eval()
        shared: dict[int, np.ndarray] = {}
        score_codes(supernet, [code, *moves], batches, image_losses=shared)
    z0 = {m: paired_z(torch.from_numpy(shared[code]), torch.from_numpy(shared[m])) for m in moves}
    chosen = sorted(moves, key=lambda m: -z0[m])[:args.moves]
    per_code = {}
    for c in [code, *chosen]:
        # the same batches in the same order for the input and every move: only the cell differs
        loader = BatchLoader(data.train_images, data.train_labels, cfg.batch_size, indices=w_part,
                             transform=w_augment(cfg, data), seed=code, drop_last=True)
        torch.manual_seed(code)
        per_code[c] = finetune(base_state, supernet, c, loader, args.steps, cfg, args.lr, batches)
    row = {"code": code, "moves": chosen, "params": {str(c): cost(c) for c in [code, *chosen]},
           "z0_all": {str(m): z0[m] for m in moves}, "by_steps": {}}
    for k in args.steps:
        ref = torch.from_numpy(per_code[code][k])
        row["by_steps"][str(k)] = {str(m): {"z": paired_z(ref, torch.from_numpy(per_code[m][k])),
                                            "loss": float(per_code[m][k].mean())}
                                   for m in chosen}
        row["by_steps"][str(k)]["input_loss"] = float(per_code[code][k].mean())
    row["seconds"] = time.perf_counter() - start
    return row


def summarise(rows: list[dict], table_path: str, zs: list[float]) -> dict:
    table = load_table(table_path)
    truth = table.values * (100.0 / table.scale)
    out = {"cells": len(rows), "pairs": sum(len(r["moves"]) for r in rows), "by_steps": {}}
    steps = list(rows[0]["by_steps"])
    for k in steps:
        zs_pair, true_pair = [], []
        for r in rows:
            for m in r["moves"]:
                zs_pair.append(r["by_steps"][k][str(m)]["z"])
                true_pair.append(truth[m] - truth[r["code"]])
        zp, tp = np.array(zs_pair), np.array(true_pair)
        clear = np.abs(tp) >= 0.3
        entry = {"spearman": float(rank_correlation(zp, tp)),
                 "sign_agreement": float((np.sign(zp[clear]) == np.sign(tp[clear])).mean()),
                 "clear_pairs": int(clear.sum()), "decisions": {}}
        for z in zs:
            changes, saved, taken = [], [], []
            for r in rows:
                # the cheapest move judged better at Z paired standard errors (tolerance 0), else the input
                ok = [m for m in r["moves"] if r["by_steps"][k][str(m)]["z"] >= z]
                pick = min(ok, key=lambda m: (r["params"][str(m)], -r["by_steps"][k][str(m)]["z"])) if ok else r["code"]
                changes.append(truth[pick] - truth[r["code"]])
                saved.append(r["params"][str(pick)] / r["params"][str(r["code"])] - 1)
                if pick != r["code"]:
                    taken.append(truth[pick] - truth[r["code"]])
            c = np.array(changes)
            entry["decisions"][f"z{z:g}"] = {
                "mean_change": float(c.mean()), "se": float(c.std(ddof=1) / math.sqrt(len(c))),
                "worse_by_0.5": float((c < -0.5).mean()), "changed": float(len(taken) / len(rows)),
                "taken_mean": float(np.mean(taken)) if taken else 0.0, "params": float(np.mean(saved))}
        out["by_steps"][k] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transformer", default=None, help="an nb201 transformer file or run (default: the shipped one)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--table", required=True, help="chooses the inputs (--top) and grades")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cells", type=int, default=48)
    ap.add_argument("--top", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--moves", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 100, 250])
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--significance", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        index, count = map(int, args.shard.split("/"))
        path = out / f"cells-{index}.jsonl"
        done = {json.loads(line)["code"] for line in path.read_text().splitlines()} if path.exists() else set()
        probe = nb201.to_genotype(["skip_connect"] * 6)
        transformer = load_transformer(args.transformer, probe)
        supernet = transformer.supernet.float()
        cfg = SearchConfig.from_dict(transformer.held_out_config)
        data = load_dataset(args.data)
        w_part, theta_part = search_split(len(data.train_images), subset=cfg.subset, split=cfg.split,
                                          seed=cfg.split_seed)
        batches = scoring_batches(data.train_images, data.train_labels, theta_part, args.images, data.mean,
                                  data.std, seed=cfg.split_seed)
        base_state = copy.deepcopy(supernet.state_dict())
        costs = NB201CostModel()
        cost = lambda c: costs(nb201.to_genotype(nb201.decode(c))).params  # noqa: E731
        table = load_table(args.table)
        mine = select_inputs(args.cells, args.seed, top=args.top, table=table)[index::count]
        del table  # the inputs are drawn; nothing below reads the truth
        for i, code in enumerate(mine):
            if code in done:
                continue
            row = run_cell(code, base_state, supernet, cfg, data, w_part, batches, args, cost)
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{i + 1}/{len(mine)}] cell {code}: {len(row['moves'])} moves in {row['seconds']:.0f} s", flush=True)
    rows = [json.loads(line) for p in sorted(out.glob("cells-*.jsonl")) for line in p.read_text().splitlines()]
    rows = [r for r in rows if r["moves"]]
    if not rows:
        return
    summary = summarise(rows, args.table, args.significance)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"{summary['cells']} good inputs, {summary['pairs']} (input, move) pairs")
    for k, e in summary["by_steps"].items():
        print(f"steps {k:>4}: Spearman {e['spearman']:+.3f}, sign agreement {100 * e['sign_agreement']:.1f}% "
              f"of {e['clear_pairs']} clear pairs")
        for key, d in e["decisions"].items():
            print(f"   compact {key}: change {d['mean_change']:+.3f}±{d['se']:.2f}, worse>0.5 "
                  f"{100 * d['worse_by_0.5']:.0f}%, changed {100 * d['changed']:.0f}% (taken {d['taken_mean']:+.2f}), "
                  f"params {100 * d['params']:+.1f}%")


if __name__ == "__main__":
    main()
