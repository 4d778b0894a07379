"""The policy learner alone: table rewards on NAS-Bench-201, greedy transformations scored on the truth.

For each seed, trains a transformer with ``nat search --space nb201 --reward table:TABLE`` (the
`nb201-learner` preset unless ``--config`` says otherwise), then takes every connected cell's
greedy (Maximum) transformation and reports the mean true gain and its share of the oracle's
(the best legal transformation of each cell, enumerated), with the CPU time of the training.

    python experiments/nb201_learner.py --table ../shared/nb201/cifar10-200ep.csv --seeds 0 1 2 --out runs/learner

This studies the learner, not a prediction: the reward and the score come from the same table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml


from nat.arch import nb201
from nat.nasbench.whole_space import grade_choice as summarise, greedy_codes, oracle_mean_gain
from nat.arch.nb201_table import load_table
from nat.search.config import PRESETS, SearchConfig
from nat.search.trainer import run_search
from nat.search.transform import load_transformer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--metric", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="nb201-learner")
    ap.add_argument("--config", help="YAML with SearchConfig fields over the preset")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    table = load_table(args.table, args.metric)
    values = table.values * (100.0 / table.scale)
    connected = np.flatnonzero(nb201.connected_codes())
    oracle_gain = oracle_mean_gain(table)
    fields = {**PRESETS[args.preset], **(yaml.safe_load(Path(args.config).read_text()) if args.config else {})}
    results = []
    for seed in args.seeds:
        cfg = SearchConfig(**{**fields, "space": "nb201", "reward": f"table:{args.table}",
                              "reward_metric": args.metric, "seed": seed})
        out = Path(args.out) / f"seed{seed}"
        cpu, wall = time.process_time(), time.perf_counter()
        run_search(cfg, None, out)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        policy = load_transformer(out, nb201.to_genotype(["skip_connect"] * 6)).policy
        row = {"seed": seed, **summarise(greedy_codes(policy), values, connected, oracle_gain),
               "cpu_minutes": cpu / 60, "wall_minutes": wall / 60}
        results.append(row)
        print(json.dumps(row), flush=True)
    shares = [r["share_of_oracle"] for r in results]
    summary = {"oracle_gain": oracle_gain, "mean_share": float(np.mean(shares)), "min_share": float(np.min(shares)),
               "seeds": results, "config": {k: v for k, v in fields.items()}}
    (Path(args.out) / "learner.json").write_text(json.dumps(summary, indent=1))
    print(f"oracle gain +{oracle_gain:.3f}; greedy share of it: mean {100 * np.mean(shares):.1f}%, "
          f"min {100 * np.min(shares):.1f}% over seeds {args.seeds}")


if __name__ == "__main__":
    main()
