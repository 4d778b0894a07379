"""Supernet-reward NAT on NAS-Bench-201, end to end, judged by the ground truth.

1. Takes a trained nb201 supernet (a `nat search --space nb201` run folder, e.g. the one
   `bench/nb201_fidelity.py` writes).
2. Scores every connected cell once with the frozen supernet on the same held-out images
   (``--images``): accuracy, and the fit ``100 * exp(-cross-entropy)``, which tracks the truth
   better than accuracy (README). The scores go to ``supernet-scores.csv`` -- the supernet's
   judgement, not the benchmark's.
3. For each seed trains the policy (`nb201-learner` preset: edge-conditioned GCN, leave-one-out
   baseline) with those scores as rewards: Algorithm 1's theta phase against a frozen supernet,
   every reward a cache look-up.
4. Only then reads the truth table: each connected cell's greedy transformation, its true gain,
   the share of the oracle's gain, and the shares of cells improved / worsened.

    python bench/nb201_end_to_end.py --run runs/fid --data ../shared/data/cifar10-jpg.tar.gz \\
        --table ../shared/nb201/cifar10-200ep.csv --out runs/e2e
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nb201_learner import greedy_codes, oracle_mean_gain  # noqa: E402

from nat.arch import nb201  # noqa: E402
from nat.bench.fidelity import score_codes  # noqa: E402
from nat.bench.table import load_table  # noqa: E402
from nat.search.commands import _selection_batches  # noqa: E402
from nat.search.config import PRESETS, SearchConfig  # noqa: E402
from nat.search.trainer import run_search  # noqa: E402
from nat.search.transform import load_transformer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="nb201 search run folder holding the trained supernet")
    ap.add_argument("--data", required=True)
    ap.add_argument("--table", required=True, help="the truth, read only at the end")
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, help="score only the first N connected cells (smoke tests of this script)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    here = nb201.to_genotype(["skip_connect"] * 6)
    run = load_transformer(args.run, here)
    supernet_minutes = sum(json.loads(line).get("time_s", 0) for line in
                           (Path(args.run) / "metrics.jsonl").read_text().splitlines() if line.strip()) / 60

    scores_csv = out / "supernet-scores.csv"
    start = time.perf_counter()
    if not scores_csv.exists():
        batches = _selection_batches(run, args.data, args.images)
        connected = [int(c) for c in np.flatnonzero(nb201.connected_codes())][:args.limit]
        scores = score_codes(run.supernet, connected, batches, show_progress=True)
        lines = ["arch,supernet_acc,supernet_fit"]
        for code, text in enumerate(nb201.all_strings()):
            acc, loss = scores.get(code, (10.0, math.log(10)))  # disconnected: never an input or a result
            lines.append(f"{text},{acc:.4f},{100 * math.exp(-loss):.6f}")
        scores_csv.write_text("\n".join(lines) + "\n")
    scoring_minutes = (time.perf_counter() - start) / 60

    truth = load_table(args.table)
    values = truth.values * (100.0 / truth.scale)
    connected = np.flatnonzero(nb201.connected_codes())
    oracle_gain = oracle_mean_gain(truth)
    rows = []
    for seed in args.seeds:
        cfg = SearchConfig(**{**PRESETS["nb201-learner"], "reward": f"table:{scores_csv}",
                              "reward_metric": "supernet_fit", "seed": seed})
        folder = out / f"seed{seed}"
        start = time.perf_counter()
        run_search(cfg, None, folder)
        policy_minutes = (time.perf_counter() - start) / 60
        result = greedy_codes(load_transformer(folder, here).policy)
        gains = np.array([values[result[c]] - values[c] for c in connected])
        row = {"seed": seed, "mean_gain": float(gains.mean()), "share_of_oracle": float(gains.mean() / oracle_gain),
               "improved": float((gains > 1e-9).mean()), "worsened": float((gains < -1e-9).mean()),
               "policy_minutes": policy_minutes}
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"run": args.run, "images": args.images, "supernet_train_minutes": supernet_minutes,
               "scoring_minutes": scoring_minutes, "oracle_gain": oracle_gain,
               "mean_gain": float(np.mean([r["mean_gain"] for r in rows])), "seeds": rows}
    (out / "end_to_end.json").write_text(json.dumps(summary, indent=1))
    print(f"supernet {supernet_minutes:.1f} min + scoring {scoring_minutes:.1f} min + policy "
          f"{np.mean([r['policy_minutes'] for r in rows]):.1f} min per seed; mean true gain "
          f"{summary['mean_gain']:+.3f} (oracle +{oracle_gain:.3f}), worsened "
          f"{100 * np.mean([r['worsened'] for r in rows]):.1f}% of cells")


if __name__ == "__main__":
    main()
