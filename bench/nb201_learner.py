"""The policy learner alone: table rewards on NAS-Bench-201, greedy transformations scored on the truth.

For each seed, trains a transformer with ``nat search --space nb201 --reward table:TABLE`` (the
`nb201-learner` preset unless ``--config`` says otherwise), then takes every connected cell's
greedy (Maximum) transformation and reports the mean true gain and its share of the oracle's
(the best legal transformation of each cell, enumerated), with the CPU time of the training.

    python bench/nb201_learner.py --table ../shared/nb201/cifar10-200ep.csv --seeds 0 1 2 --out runs/learner

This studies the learner, not a prediction: the reward and the score come from the same table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nat.arch import nb201  # noqa: E402
from nat.nasbench.bench import Oracle  # noqa: E402
from nat.arch.nb201_table import load_table  # noqa: E402
from nat.search.config import PRESETS, SearchConfig  # noqa: E402
from nat.search.trainer import run_search  # noqa: E402
from nat.search.transform import load_transformer  # noqa: E402


def oracle_mean_gain(table) -> float:
    """Mean gain, in points, of the best legal transformation over every connected cell."""
    oracle = Oracle(table)
    scale = 100.0 / table.scale
    return float(np.mean([(oracle(int(c))[1] - table.values[c]) * scale
                          for c in np.flatnonzero(nb201.connected_codes())]))


def summarise(result: dict[int, int], values: np.ndarray, connected: np.ndarray, oracle_gain: float) -> dict:
    """True gain, in points, of a transformation of every connected cell: mean, share of the
    oracle's, and the shares of cells improved, worsened and changed."""
    gains = np.array([values[result[c]] - values[c] for c in connected])
    return {"mean_gain": float(gains.mean()), "share_of_oracle": float(gains.mean() / oracle_gain),
            "improved": float((gains > 1e-9).mean()), "worsened": float((gains < -1e-9).mean()),
            "changed": float(np.mean([result[c] != c for c in connected]))}


@torch.no_grad()
def greedy_codes(policy) -> dict[int, int]:
    """The greedy transformation of every connected cell (the input if it would disconnect)."""
    out = {}
    for code in np.flatnonzero(nb201.connected_codes()):
        alpha = policy.argmax(nb201.to_genotype(nb201.decode(int(code)))).alpha
        out[int(code)] = int(code) if alpha is None else nb201.encode(alpha)
    return out


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
