"""Supernet-reward NAT on NAS-Bench-201, end to end, judged by the ground truth.

1. Takes a trained nb201 supernet (a `nat search --space nb201` run folder, e.g. the one
   `experiments/nb201_fidelity.py` writes).
2. Scores every connected cell once with the frozen supernet on the same held-out images
   (``--images``): accuracy, and the fit ``100 * exp(-cross-entropy)``, which tracks the truth
   better than accuracy (docs/results/nas-bench-201.md). The scores go to ``supernet-scores.csv`` -- the supernet's
   judgement, not the benchmark's.
3. For each seed trains the policy (`nb201-learner` preset: edge-conditioned GCN, leave-one-out
   baseline) with those scores as rewards: Algorithm 1's theta phase against a frozen supernet,
   every reward a cache look-up.
4. Selection, as `nat transform --candidates K --select-on` does: for each connected cell the
   greedy transformation and ``--candidates`` samples of the policy, with the input itself
   counted, ranked by the supernet's score; a change is kept only if it beats the input by
   ``--margin`` points of the score (several margins: one selection each).
   *Refined*: the selected cell is then hill-climbed on the same score, one legal edge change at
   a time (`nat.search.refine`, as `nat transform --refine`), before the margin is applied.
5. Only then reads the truth table: each connected cell's greedy and selected transformations,
   their true gains, the share of the oracle's gain, and the shares of cells improved / worsened.
   For reference it also judges the supernet's own best legal transformation of every cell (what
   a perfect learner of this reward would return), with the same margins, and the refinement
   started from the input itself (no policy), to show what the policy adds.

With ``--proxy synflow`` the score is the fit corrected by a training-free second opinion
(`nat.search.proxies.Combined`): every connected cell's SynFlow at the supernet's size
(``synflow.npy``), standardised against the fit on 200 random connected cells (the fidelity
probe's, drawn without the table) and added at ``--proxy-weight`` (1: equal weight, untuned).
The policy is trained on, and candidates ranked by, that combined score (``combined-scores.csv``).

A seed whose policy folder already holds a trained transformer is loaded, not trained again.

    python experiments/nb201_end_to_end.py --run runs/fid --data ../shared/data/cifar10-jpg.tar.gz \\
        --table ../shared/nb201/cifar10-200ep.csv --out runs/e2e
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml


from nat.nasbench.whole_space import grade_choice as summarise, greedy_codes, oracle_mean_gain

from nat.arch import nb201
from nat.nasbench.fidelity import make_probe, rank_correlation, score_codes
from nat.arch.nb201_table import load_table
from nat.search.transform import selection_batches as _selection_batches
from nat.search.config import PRESETS, SearchConfig
from nat.search.proxies import PROXIES, Combined, synflow_of
from nat.search.refine import refine
from nat.search.rewards import paired_z
from nat.search.trainer import run_search
from nat.search.transform import load_transformer


@torch.no_grad()
def policy_pools(policy, greedy: dict[int, int], candidates: int, seed: int) -> dict[int, list[int]]:
    """Per connected cell: its greedy transformation and ``candidates`` policy samples (connected ones)."""
    gen = torch.Generator().manual_seed(seed)
    connected = nb201.connected_codes()
    out = {}
    for code, best in greedy.items():
        pool = {best}
        if candidates:
            for s in policy.sample_many(nb201.to_genotype(nb201.decode(code)), candidates, gen):
                if s.alpha is not None:
                    pool.add(nb201.encode(s.alpha))
        out[code] = [c for c in pool if connected[c]]
    return out


def legal_pools(codes: np.ndarray) -> dict[int, list[int]]:
    """Per cell: every legal, connected transformation (the input among them)."""
    connected = nb201.connected_codes()
    return {int(code): [int(c) for c in nb201.legal_codes(int(code)) if connected[c]] for code in codes}


def choose(pools: dict[int, list[int]], score: np.ndarray, margin: float) -> dict[int, int]:
    """Per cell: the best-scored of its pool, taken only when it scores ``margin`` above the input
    (the input always counts)."""
    return with_margin({code: max(pool, key=lambda c: score[c]) if pool else code for code, pool in pools.items()},
                       score, margin)


def refined(starts: dict[int, int], score: np.ndarray) -> dict[int, int]:
    """Per cell: the hill-climb on ``score`` from its start over one-edge legal transformations of the cell."""
    def value(g):
        return score[nb201.encode(g)]
    out = {}
    for code, start in starts.items():
        beta = nb201.to_genotype(nb201.decode(code))
        out[code] = nb201.encode(refine(beta, nb201.to_genotype(nb201.decode(start)), value).genotype)
    return out


def train_minutes(folder: Path) -> float:
    """Training minutes a run folder's metrics record (NaN for a packed transformer file)."""
    if not (folder / "metrics.jsonl").exists():
        return math.nan
    return sum(json.loads(line).get("time_s", 0) for line in
               (folder / "metrics.jsonl").read_text().splitlines() if line.strip()) / 60


def with_margin(result: dict[int, int], score: np.ndarray, margin: float) -> dict[int, int]:
    """Keep each cell's result only where it scores ``margin`` above the input."""
    return {code: r if score[r] >= score[code] + margin else code for code, r in result.items()}


def with_significance(result: dict[int, int], losses: np.ndarray, z: float) -> dict[int, int]:
    """Keep each cell's result only where its held-out loss is below the input's by at least ``z``
    standard errors of the per-image paired difference (`nat.search.rewards.paired_z`, as
    ``nat transform --significance``)."""
    out = {}
    for code, r in result.items():
        out[code] = r if r != code and paired_z(torch.from_numpy(losses[code]), torch.from_numpy(losses[r])) >= z \
            else code
    return out


def space_fidelity(score: np.ndarray, truth: np.ndarray, connected: np.ndarray) -> dict:
    """The supernet's score against the truth over the whole space: Spearman over every connected
    cell, and sign agreement over *every* (cell, one-edge legal move) pair whose true difference is
    at least 0.5 / 1 / 2 points -- the 200-cell probe of `nb201_fidelity.py` at its limit, where
    the pair agreement's standard error is a fraction of a point instead of about 4."""
    pairs = np.array([(c, m) for c in connected for m in nb201.one_edge_codes(int(c))])
    true_diff, est_diff = truth[pairs[:, 1]] - truth[pairs[:, 0]], score[pairs[:, 1]] - score[pairs[:, 0]]
    out = {"cells": len(connected), "spearman": rank_correlation(score[connected], truth[connected])}
    for least in (0.5, 1.0, 2.0):
        clear = np.abs(true_diff) >= least
        out[f"pairs_{least:g}"] = int(clear.sum())
        out[f"pair_agreement_{least:g}"] = float((np.sign(est_diff[clear]) == np.sign(true_diff[clear])).mean())
    # by kind of move (the op before and after): where the supernet's judgement fails
    digits = lambda codes: (codes[:, None] // 5 ** np.arange(6)) % 5  # noqa: E731
    before, after = digits(pairs[:, 0]), digits(pairs[:, 1])
    edge = np.argmax(before != after, axis=1)
    rows = np.arange(len(pairs))
    kinds = before[rows, edge] * 5 + after[rows, edge]
    clear = np.abs(true_diff) >= 0.5
    out["by_move"] = {}
    for kind in np.unique(kinds[clear]):
        sel = clear & (kinds == kind)
        ops = nb201.decode(int(kind // 5) + 5 * int(kind % 5))[:2]  # digit 0 = before, digit 1 = after
        out["by_move"][f"{ops[0]} -> {ops[1]}"] = {
            "pairs": int(sel.sum()), "agreement": float((np.sign(est_diff[sel]) == np.sign(true_diff[sel])).mean()),
            "mean_true_diff": float(true_diff[sel].mean()), "mean_supernet_diff": float(est_diff[sel].mean())}
    return out


def score_space(run, data: str, images: int, scores_csv: Path, losses_npy: Path | None, limit: int | None) -> None:
    """Score every connected cell once: the CSV of accuracy and fit, and (``losses_npy``) every
    cell's per-image losses, one row per code (NaN for disconnected cells)."""
    batches = _selection_batches(run, data, images)
    connected = [int(c) for c in np.flatnonzero(nb201.connected_codes())][:limit]
    per_image = {} if losses_npy is not None else None
    scores = score_codes(run.supernet, connected, batches, show_progress=True, image_losses=per_image)
    lines = ["arch,supernet_acc,supernet_fit"]
    for code, text in enumerate(nb201.all_strings()):
        acc, loss = scores.get(code, (10.0, math.log(10)))  # disconnected: never an input or a result
        lines.append(f"{text},{acc:.4f},{100 * math.exp(-loss):.6f}")
    if scores_csv.exists():  # scored before without per-image losses: the same images, so the same means
        before = load_table(scores_csv, "supernet_fit")
        now = np.array([100 * math.exp(-scores[c][1]) for c in connected])
        gap = float(np.abs(before.values[connected] * (100.0 / before.scale) - now).max())
        print(f"re-scored for per-image losses: largest change of a cell's fit {gap:.4f} points", flush=True)
    else:
        scores_csv.write_text("\n".join(lines) + "\n")
    if per_image is not None:
        table = np.full((5 ** 6, len(next(iter(per_image.values())))), np.nan, dtype=np.float32)
        for code, row in per_image.items():
            table[code] = row
        partial = losses_npy.with_suffix(".partial.npy")
        np.save(partial, table)
        partial.replace(losses_npy)


def proxy_space(supernet_config: dict, out: Path) -> np.ndarray:
    """SynFlow of every connected cell at the supernet's size (cached: ``synflow.npy``)."""
    path = out / "synflow.npy"
    if path.exists():
        return np.load(path)
    from nat.runtime.progress import progress

    values = np.full(5 ** 6, np.nan)
    connected = np.flatnonzero(nb201.connected_codes())
    size = {k: supernet_config[k] for k in ("channels", "layers", "resolution")}
    for code in progress(connected, total=len(connected), desc="synflow", unit="cell"):
        values[code] = synflow_of(nb201.to_genotype(nb201.decode(int(code))),
                                  dataset=supernet_config.get("dataset", "cifar10"), **size)
    partial = out / "synflow.partial.npy"
    np.save(partial, values)
    partial.replace(path)
    return values


def combined_scores(fit: np.ndarray, proxy: np.ndarray, weight: float, out: Path) -> tuple[Path, Combined]:
    """The combined score of every cell, as a table the policy's reward can look up."""
    reference = list(make_probe(200, 0).cells)  # random connected cells, no table involved
    combine = Combined.fitted(fit[reference], proxy[reference], weight)
    connected = nb201.connected_codes()
    values = np.array([combine(fit[c], proxy[c]) if connected[c] else np.nan for c in range(5 ** 6)])
    values[~connected] = np.nanmin(values) - 1.0  # disconnected: never an input or a result
    path = out / "combined-scores.csv"
    path.write_text("arch,combined\n" + "".join(f"{t},{v:.6f}\n" for t, v in zip(nb201.all_strings(), values)))
    return path, combine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="nb201 search run folder holding the trained supernet")
    ap.add_argument("--data", required=True)
    ap.add_argument("--table", required=True, help="the truth, read only at the end")
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--metric", default="supernet_fit", choices=("supernet_fit", "supernet_acc"),
                    help="the supernet score the policy is trained on and candidates are ranked by")
    ap.add_argument("--candidates", type=int, default=8, help="policy samples per cell at selection")
    ap.add_argument("--margin", type=float, nargs="+", default=[0.0],
                    help="score points a change must gain over the input (several: one selection each)")
    ap.add_argument("--significance", type=float, nargs="+", default=[],
                    help="also keep a change only where its held-out loss beats the input's by this many paired "
                         "standard errors (several: one selection each; stores per-image losses)")
    ap.add_argument("--config", help="YAML with SearchConfig fields over the nb201-learner preset")
    ap.add_argument("--proxy", choices=PROXIES, help="combine the fit with this training-free score")
    ap.add_argument("--proxy-weight", type=float, default=1.0, help="its weight in standard units (default 1)")
    ap.add_argument("--limit", type=int, help="score only the first N connected cells (smoke tests of this script)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    here = nb201.to_genotype(["skip_connect"] * 6)
    run = load_transformer(args.run, here)
    supernet_minutes = train_minutes(Path(args.run))

    scores_csv = out / "supernet-scores.csv"
    losses_npy = out / "supernet-losses.npy" if args.significance else None
    start = time.perf_counter()
    if not scores_csv.exists() or (losses_npy is not None and not losses_npy.exists()):
        score_space(run, args.data, args.images, scores_csv, losses_npy, args.limit)
    scoring_minutes = (time.perf_counter() - start) / 60

    fields = {**PRESETS["nb201-learner"], **(yaml.safe_load(Path(args.config).read_text()) if args.config else {})}
    score = load_table(scores_csv, args.metric)
    score = score.values * (100.0 / score.scale)
    if args.proxy:
        if args.metric != "supernet_fit":
            ap.error("--proxy corrects the fit: use it with --metric supernet_fit")
        start = time.perf_counter()
        proxy = proxy_space(run.supernet_config, out)
        proxy_minutes = (time.perf_counter() - start) / 60
        scores_csv, combine = combined_scores(score, proxy, args.proxy_weight, out)
        print(f"{args.proxy}: {proxy_minutes:.1f} min; {combine}", flush=True)
        args.metric = "combined"
        score = load_table(scores_csv, "combined")
        score = score.values * (100.0 / score.scale)
    connected = np.flatnonzero(nb201.connected_codes())
    every_move = legal_pools(connected)
    reference = {str(m): choose(every_move, score, m) for m in args.margin}  # before the truth is read
    from_input = refined({int(c): int(c) for c in connected}, score)
    losses = np.load(losses_npy) if losses_npy is not None else None
    best_of_all = choose(every_move, score, 0.0)
    reference.update({f"z{z:g}": with_significance(best_of_all, losses, z) for z in args.significance})
    truth = load_table(args.table)
    values = truth.values * (100.0 / truth.scale)
    oracle_gain = oracle_mean_gain(truth)
    rows = []
    for seed in args.seeds:
        cfg = SearchConfig(**{**fields, "reward": f"table:{scores_csv}", "reward_metric": args.metric, "seed": seed})
        folder = out / f"seed{seed}"
        start = time.perf_counter()
        if (folder / "transformer.pt").exists():
            print(f"seed {seed}: loading the policy trained before in {folder}", flush=True)
            policy_minutes = train_minutes(folder)
        else:
            run_search(cfg, None, folder)
            policy_minutes = (time.perf_counter() - start) / 60
        policy = load_transformer(folder, here).policy
        greedy = greedy_codes(policy)
        start = time.perf_counter()
        pools = policy_pools(policy, greedy, args.candidates, seed)  # drawn once, judged at every margin
        selected = {str(m): summarise(choose(pools, score, m), values, connected, oracle_gain) for m in args.margin}
        polished = refined(choose(pools, score, 0.0), score)
        refined_rows = {str(m): summarise(with_margin(polished, score, m), values, connected, oracle_gain)
                        for m in args.margin}
        plain = choose(pools, score, 0.0)
        for z in args.significance:
            selected[f"z{z:g}"] = summarise(with_significance(plain, losses, z), values, connected, oracle_gain)
            refined_rows[f"z{z:g}"] = summarise(with_significance(polished, losses, z), values, connected,
                                                oracle_gain)
        selection_minutes = (time.perf_counter() - start) / 60
        row = {"seed": seed, **summarise(greedy, values, connected, oracle_gain), "selected": selected,
               "refined": refined_rows,
               "policy_minutes": policy_minutes, "selection_minutes": selection_minutes}
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"run": args.run, "images": args.images, "metric": args.metric, "proxy": args.proxy,
               "proxy_weight": args.proxy_weight if args.proxy else None, "candidates": args.candidates,
               "margin": args.margin, "significance": args.significance, "supernet_train_minutes": supernet_minutes,
               "scoring_minutes": scoring_minutes, "oracle_gain": oracle_gain,
               "mean_gain": float(np.mean([r["mean_gain"] for r in rows])),
               "selected_mean_gain": {m: float(np.mean([r["selected"][m]["mean_gain"] for r in rows]))
                                      for m in rows[0]["selected"]},
               "selected_worsened": {m: float(np.mean([r["selected"][m]["worsened"] for r in rows]))
                                     for m in rows[0]["selected"]},
               "refined_mean_gain": {m: float(np.mean([r["refined"][m]["mean_gain"] for r in rows]))
                                     for m in rows[0]["refined"]},
               "refined_worsened": {m: float(np.mean([r["refined"][m]["worsened"] for r in rows]))
                                    for m in rows[0]["refined"]},
               "fidelity": space_fidelity(score, values, connected),
               "supernet_best": {m: summarise(r, values, connected, oracle_gain) for m, r in reference.items()},
               "refined_from_input": {**{str(m): summarise(with_margin(from_input, score, m), values, connected,
                                                           oracle_gain) for m in args.margin},
                                      **{f"z{z:g}": summarise(with_significance(from_input, losses, z), values,
                                                              connected, oracle_gain) for z in args.significance}},
               "seeds": rows,
               "config": fields}
    (out / "end_to_end.json").write_text(json.dumps(summary, indent=1))
    print(f"supernet {supernet_minutes:.1f} min + scoring {scoring_minutes:.1f} min + policy "
          f"{np.mean([r['policy_minutes'] for r in rows]):.1f} min per seed; mean true gain "
          f"{summary['mean_gain']:+.3f} greedy, worsened {100 * np.mean([r['worsened'] for r in rows]):.1f}% of cells "
          f"(oracle +{oracle_gain:.3f})")
    f = summary["fidelity"]
    print(f"  the supernet's {args.metric} over the whole space: Spearman {f['spearman']:.3f} over {f['cells']:,} cells;"
          f" pair agreement {100 * f['pair_agreement_0.5']:.1f}% over {f['pairs_0.5']:,} one-edge moves >= 0.5 points,"
          f" {100 * f['pair_agreement_1']:.1f}% >= 1, {100 * f['pair_agreement_2']:.1f}% >= 2")
    for move, r in f["by_move"].items():
        print(f"    {move:<28} {r['pairs']:6,} pairs  agreement {100 * r['agreement']:5.1f}%  mean difference:"
              f" true {r['mean_true_diff']:+.2f}, supernet {r['mean_supernet_diff']:+.2f}")
    for m, gain in summary["selected_mean_gain"].items():
        best = summary["supernet_best"][m]
        print(f"  {'margin ' + m if not m.startswith('z') else 'significance ' + m[1:] + ' SE'}: selected mean true gain {gain:+.3f}, worsened {100 * summary['selected_worsened'][m]:.1f}%;"
              f" the supernet's own best {best['mean_gain']:+.3f}, worsened {100 * best['worsened']:.1f}%")
        alone = summary["refined_from_input"][m]
        per_seed = ", ".join(f"{r['refined'][m]['mean_gain']:+.3f}" for r in rows)
        print(f"    refined: {summary['refined_mean_gain'][m]:+.3f}, worsened {100 * summary['refined_worsened'][m]:.1f}%"
              f" (per seed {per_seed}); refinement from"
              f" the input, no policy: {alone['mean_gain']:+.3f}, worsened {100 * alone['worsened']:.1f}%")

if __name__ == "__main__":
    main()
