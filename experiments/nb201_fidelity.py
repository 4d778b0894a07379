"""Supernet fidelity against NAS-Bench-201 ground truth, as a curve over training minutes.

Trains the nb201 supernet of a search recipe (``nat search``'s own trainer, warm-up only: no
policy steps) on the real CIFAR-10, and after every ``--eval-every`` epochs scores a fixed probe
(``--cells`` random connected cells and one one-edge legal move of each, drawn without the
table) on the same held-out images, then reports Spearman / Kendall and pair sign agreement
against the table, and checkpoints the run. Training minutes exclude the scoring passes. The run folder is an ordinary
`nat search` folder (usable by `nat bench --fidelity`, `nat bench`, `nat transform`), plus
``fidelity.jsonl`` and ``fidelity.svg``.

    python experiments/nb201_fidelity.py --data ../shared/data/cifar10-jpg.tar.gz \\
        --table ../shared/nb201/cifar10-200ep.csv --preset nb201-cpu --out runs/fid

The table is an answer key: it is read only after the supernet has answered.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch


from nat.nasbench.fidelity import fidelity_report, format_fidelity, make_probe, score_codes
from nat.arch.nb201_table import load_table
from nat.data import load_dataset
from nat.runtime import RunDir, config_to_dict, init_distributed
from nat.runtime.plot import plot_metrics
from nat.search.config import PRESETS, SearchConfig
from nat.search.trainer import Search, scoring_batches, search_split

FIELDS = ("channels", "layers", "resolution", "batch_size", "w_lr", "w_lr_min", "w_lr_epochs", "w_weight_decay", "subset",
          "sampler", "epochs", "seed")


def held_out_batches(data, cfg: SearchConfig, images: int) -> list:
    """A random sample of ``images`` of the search's held-out (theta) split, as `nat bench --fidelity` takes."""
    _, theta_part = search_split(len(data.train_images), subset=cfg.subset, split=cfg.split, seed=cfg.split_seed)
    return scoring_batches(data.train_images, data.train_labels, theta_part, images, data.mean, data.std,
                           seed=cfg.split_seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--metric", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="nb201-cpu", help="a `nat search` preset (default nb201-cpu)")
    for f in FIELDS:
        kind = {"sampler": str, "w_lr": float, "w_lr_min": float, "w_weight_decay": float}.get(f, int)
        ap.add_argument("--" + f.replace("_", "-"), type=kind, default=None)
    ap.add_argument("--eval-every", type=int, default=5, help="epochs between fidelity points")
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--moves", type=int, default=1, help="one-edge moves per cell in the probe (0: every one)")
    ap.add_argument("--images", type=int, default=1024, help="held-out images every cell is scored on")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop training after this many minutes")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this epoch, the learning rate still on the --epochs schedule (a mid-schedule supernet)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base = {"space": "nb201", **PRESETS[args.preset]}
    base.update({f: getattr(args, f) for f in FIELDS if getattr(args, f) is not None})
    cfg = SearchConfig(**base)
    cfg = replace(cfg, warmup_epochs=cfg.epochs - 1)  # the supernet alone: this measures the reward, not a policy
    data = load_dataset(args.data)
    table = load_table(args.table, args.metric)
    truth = table.values * (100.0 / table.scale)
    probe = make_probe(args.cells, seed=12345, moves_per_cell=args.moves)
    batches = held_out_batches(data, cfg, args.images)

    run_dir = RunDir(args.out)
    run_dir.prepare(resume=False)
    run_dir.write_config(config_to_dict(cfg))
    search = Search(cfg, data, run_dir, init_distributed("cpu"))
    curve, trained_s = [], 0.0
    out = Path(args.out)
    print(f"recipe: {json.dumps({f: getattr(cfg, f) for f in FIELDS})}", flush=True)
    while search.epoch < cfg.epochs:
        start = time.perf_counter()
        row = {"epoch": search.epoch + 1, **search.train_weights()}
        row["time_s"] = time.perf_counter() - start
        trained_s += row["time_s"]
        search.epoch += 1
        search.history.append(row)
        last = (search.epoch == cfg.epochs or search.epoch == args.stop_at
                or (args.max_minutes and trained_s / 60 >= args.max_minutes))
        if search.epoch % args.eval_every == 0 or last:
            search.supernet.eval()
            scores = score_codes(search.supernet, probe.codes, batches)
            rep = fidelity_report(scores, probe, truth)
            point = {"epoch": search.epoch, "train_minutes": trained_s / 60, "w_top1": row["w_top1"],
                     "w_loss": row["w_loss"], **rep}
            curve.append(point)
            with open(out / "fidelity.jsonl", "a") as f:
                f.write(json.dumps(point) + "\n")
            print(f"epoch {search.epoch} ({trained_s / 60:.1f} train-min): w_top1 {row['w_top1']:.1f}%  "
                  f"spearman acc {rep['spearman_acc']:+.3f} loss {rep['spearman_loss']:+.3f}  "
                  f"pairs acc {100 * (rep['pair_agreement_acc'] or 0):.1f}% loss {100 * (rep['pair_agreement_loss'] or 0):.1f}%"
                  f"  (mean cell acc {rep['mean_supernet_acc']:.1f}%)", flush=True)
            search.save()  # keep the supernet at every point, so a stopped run still leaves one to use
        if last:
            break
    search.save()
    run_dir.rewrite_metrics(search.history)
    plot_metrics(curve, [("Spearman with the truth", ["spearman_acc", "spearman_loss"]),
                         ("pair sign agreement", ["pair_agreement_acc", "pair_agreement_loss"]),
                         ("supernet top-1 (train)", ["w_top1"])], out / "fidelity.svg", x="train_minutes",
                 title="nb201 supernet fidelity against NAS-Bench-201")
    print(format_fidelity(curve[-1]))
    print(f"trained {trained_s / 60:.1f} minutes; wrote {out / 'fidelity.jsonl'} and {out / 'fidelity.svg'}")


if __name__ == "__main__":
    main()
