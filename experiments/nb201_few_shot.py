"""Does splitting the supernet on one edge (few-shot NAS) judge good NAS-Bench-201 cells truer?

Among good cells (the table's best quarter) the shipped supernet ranks cells at a Spearman of
0.27 and over-rates convolutions made skips (docs/results/nas-bench-201.md, "Good cells"). Few-shot
NAS (Zhao et al., ICML 2021) blames weight coupling: one set of weights serves every op of every
edge. It splits the one-shot supernet into one sub-supernet per op of a chosen edge, each
warm-started from the shared weights and trained further only on cells holding its op there; a
cell is then scored by the sub-supernet of its op on that edge.

This script measures that lever against its control on the same budget:

- ``--mode control``: the shipped supernet trained ``--epochs`` further epochs with its own
  de-isomorphic sampler, the cosine schedule continued from where it stopped (epoch 50 of 100);
- ``--mode split``: five copies, one per op of edge ``--edge``, each trained the same epochs on
  de-isomorphic draws conditioned on that op (rejection), each scoring the cells with its op there.

Both score the good inputs and their one-edge moves on the same 512 held-out images as the cached
losses of the shipped supernet (``--base``), so the three are compared on the same cells and
images. ``--summarise`` reads the truth (only then) and reports, per supernet: Spearman of the mean
held-out loss against the truth among the good cells; sign agreement over the good cells' one-edge
moves that the truth moves by at least 0.5 points (all, on the split edge (--edge), elsewhere); and the
true change of parameter-saving moves (a convolution made a skip or null) the supernet calls
better at z >= 2 and >= 3.

    python experiments/nb201_few_shot.py --mode control --data ../shared/data/cifar10-jpg.tar.gz \\
        --table ../shared/nb201/cifar10-200ep.csv --out runs/fewshot
    python experiments/nb201_few_shot.py --mode split --edge 0 ...  (same)
    python experiments/nb201_few_shot.py --mode control --epochs 25 ...   # and --epochs 50: read later
    python experiments/nb201_few_shot.py --summarise --table ../shared/nb201/cifar10-200ep.csv \\
        --out runs/fewshot --base runs/cache/shipped512/supernet-losses.npy \\
        --combine shipped control control-e25 control-e50

``--base`` is the shipped supernet's per-image losses on every connected cell, as
``experiments/nb201_end_to_end.py --run src/nat/pretrained/transformer-nb201.pt --images 512
--significance 3`` writes them (``supernet-losses.npy``).

The table chooses which cells are scored (the good inputs, as ``nat bench --top``) and grades;
no weight and no score depends on it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from functools import cache
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
from nat.search.trainer import search_split, w_augment
from nat.search.transform import load_transformer, selection_batches

CONV = (nb201.BENCH_OPS.index("nor_conv_1x1"), nb201.BENCH_OPS.index("nor_conv_3x3"))
SKIP = nb201.BENCH_OPS.index("skip_connect")
NONE = nb201.BENCH_OPS.index("none")


def digit(code: int, edge: int) -> int:
    return (code // 5 ** edge) % 5


def good_and_moves(table) -> tuple[np.ndarray, list[int]]:
    """The good inputs and every code the analysis needs (the inputs and their connected one-edge moves)."""
    good = select_inputs(None, 0, top=0.25, table=table)
    connected = nb201.connected_codes()
    need = {int(g) for g in good}
    for g in good:
        need.update(int(c) for c in nb201.one_edge_codes(int(g)) if connected[c])
    return good, sorted(need)


def train(supernet, cfg: SearchConfig, data, w_part, *, start_epoch: int, epochs: int, op_at: tuple[int, int] | None,
          seed: int) -> float:
    """Continue the supernet's training for ``epochs`` epochs from ``start_epoch`` of its cosine; with
    ``op_at = (edge, op)`` only on de-isomorphic draws holding ``op`` on ``edge``. Returns minutes."""
    rng = random.Random(seed)
    opt = torch.optim.SGD(supernet.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum, weight_decay=cfg.w_weight_decay)
    loader = BatchLoader(data.train_images, data.train_labels, cfg.batch_size, indices=w_part,
                         transform=w_augment(cfg, data), seed=seed, drop_last=True)
    start = time.perf_counter()
    supernet.train()
    for epoch in range(start_epoch, start_epoch + epochs):
        lr = cfg.w_lr_at(epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        loader.set_epoch(epoch)
        for x, y in loader:
            code = nb201.sample_structure(rng)
            while op_at is not None and digit(code, op_at[0]) != op_at[1]:
                code = nb201.sample_structure(rng)
            loss = F.cross_entropy(supernet(x, nb201.to_genotype(nb201.decode(code))), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(supernet.parameters(), cfg.w_grad_clip)
            opt.step()
        print(f"  epoch {epoch + 1} (lr {lr:.4f}) done at {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    supernet.eval()
    return (time.perf_counter() - start) / 60


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    table = load_table(args.table)
    _, need = good_and_moves(table)
    del table  # the cells to score are chosen; nothing below reads the truth
    probe = nb201.to_genotype(["skip_connect"] * 6)
    transformer = load_transformer(args.transformer, probe)
    supernet = transformer.supernet.float()
    cfg = SearchConfig.from_dict(transformer.held_out_config)
    data = load_dataset(args.data)
    w_part, _ = search_split(len(data.train_images), subset=cfg.subset, split=cfg.split, seed=cfg.split_seed)
    batches = selection_batches(transformer, args.data, args.images)
    base = copy.deepcopy(supernet.state_dict())
    groups = {None: need} if args.mode == "control" else {k: [c for c in need if digit(c, args.edge) == k] for k in range(5)}
    name = ("control" if args.mode == "control" else f"split{args.edge}") + (f"-e{args.epochs}" if args.epochs != 10 else "")
    scored = np.full((5 ** 6, args.images), np.nan, dtype=np.float32)
    log = {"name": name, "epochs": args.epochs, "train_minutes": {}, "score_minutes": 0.0}
    for op, codes in groups.items():
        supernet.load_state_dict(base)
        label = "all" if op is None else nb201.BENCH_OPS[op]
        print(f"{name}: training for {label} ({len(codes)} cells to score)", flush=True)
        log["train_minutes"][label] = train(supernet, cfg, data, w_part, start_epoch=args.start_epoch, epochs=args.epochs,
                                            op_at=None if op is None else (args.edge, op), seed=args.seed)
        start = time.perf_counter()
        losses: dict[int, np.ndarray] = {}
        with torch.no_grad():
            score_codes(supernet, codes, batches, show_progress=args.progress, image_losses=losses)
        log["score_minutes"] += (time.perf_counter() - start) / 60
        for c, row in losses.items():
            scored[c] = row
        if args.save_weights:
            torch.save(supernet.state_dict(), out / f"{name}-{label}.pt")
    partial = out / f"{name}.partial.npy"
    np.save(partial, scored)
    partial.replace(out / f"{name}.npy")
    (out / f"{name}.json").write_text(json.dumps(log, indent=1))


def report(name: str, loss: np.ndarray, truth: np.ndarray, good: np.ndarray, params, edge: int | None) -> dict:
    mean = loss.mean(axis=1)
    out = {"name": name, "spearman_good": float(rank_correlation(-mean[good], truth[good]))}
    agree = {"all": [], "on_edge": [], "elsewhere": []}
    saving = {"skip": [], "none": []}
    moves: dict[int, list[tuple[int, float]]] = {}  # per good input: its scored one-edge moves and their z
    for g in good:
        g = int(g)
        moves[g] = []
        for m in nb201.one_edge_codes(g):
            m = int(m)
            if np.isnan(loss[m, 0]):
                continue
            k = next(i for i in range(6) if digit(m, i) != digit(g, i))
            true = truth[m] - truth[g]
            z = paired_z(torch.from_numpy(loss[g]), torch.from_numpy(loss[m]))
            moves[g].append((m, z))
            if abs(true) >= 0.5:
                hit = float(np.sign(mean[g] - mean[m]) == np.sign(true))
                agree["all"].append(hit)
                if edge is not None:
                    agree["on_edge" if k == edge else "elsewhere"].append(hit)
            if digit(g, k) in CONV and digit(m, k) in (SKIP, NONE):
                saving["skip" if digit(m, k) == SKIP else "none"].append((z, true))
    out["agreement"] = {key: (float(np.mean(v)), len(v)) for key, v in agree.items() if v}
    out["one_change"] = one_change(moves, truth, params)
    for kind, rows in saving.items():
        rows = np.array(rows)
        for zmin in (0.0, 2.0, 3.0):
            sel = rows[rows[:, 0] >= zmin, 1]
            out[f"conv_to_{kind}_z{zmin:g}"] = (float(sel.mean()) if len(sel) else math.nan,
                                               float((sel < -0.5).mean()) if len(sel) else math.nan, int(len(sel)))
    return out


def one_change(moves: dict[int, list[tuple[int, float]]], truth: np.ndarray, params) -> dict:
    """Selections of one judged change at most, simulated over each good input's one-edge moves
    (``moves``: per input, ``(move, z)``): accurate (the move of highest z, taken when z >= Z) and
    compact at tolerance 0 (the cheapest parameter-saving move with z >= Z, ties to the higher z)."""
    out = {}
    for objective in ("accurate", "compact"):
        for zmin in (1.0, 2.0, 3.0):
            change, saved = [], []
            for g, rows in moves.items():
                ok = [(m, z) for m, z in rows if z >= zmin and (objective == "accurate" or params(m) < params(g))]
                if not ok:
                    pick = g
                elif objective == "accurate":
                    pick = max(ok, key=lambda r: r[1])[0]
                else:
                    pick = min(ok, key=lambda r: (params(r[0]), -r[1]))[0]
                change.append(truth[pick] - truth[g])
                saved.append(params(pick) / params(g) - 1)
            c = np.array(change)
            out[f"{objective}_z{zmin:g}"] = {"mean_change": float(c.mean()), "se": float(c.std(ddof=1) / math.sqrt(len(c))),
                                            "worse_by_0.5": float((c < -0.5).mean()), "changed": float((c != 0).mean()),
                                            "params": float(np.mean(saved))}
    return out


def summarise(args) -> None:
    out = Path(args.out)
    table = load_table(args.table)
    truth = table.values * (100.0 / table.scale)
    good, need = good_and_moves(table)
    costs = NB201CostModel()
    params = cache(lambda c: costs(nb201.to_genotype(nb201.decode(c))).params)
    base = np.load(args.base).astype(np.float64)
    mask = np.full(5 ** 6, False)
    mask[need] = True
    base[~mask] = np.nan
    rows = [report("shipped", base, truth, good, params, args.edge)]
    arrays = {"shipped": base}
    for path in sorted(out.glob("*.npy")):
        if path.name.endswith(".partial.npy"):
            continue
        arrays[path.stem] = np.load(path).astype(np.float64)
        edge = int(path.stem[5:].split("-")[0]) if path.stem.startswith("split") else None
        rows.append(report(path.stem, arrays[path.stem], truth, good, params, edge if edge is not None else args.edge))
    if args.combine:
        # one judge from several: the mean of their per-image losses (a checkpoint or seed ensemble)
        rows.append(report("mean of " + ", ".join(args.combine), np.mean([arrays[n] for n in args.combine], axis=0),
                           truth, good, params, args.edge))
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        ag = "  ".join(f"{k} {100 * v[0]:.1f}% ({v[1]})" for k, v in r["agreement"].items())
        print(f"{r['name']:>10}: Spearman among good {r['spearman_good']:+.3f}; agreement {ag}")
        for kind in ("skip", "none"):
            cells = "  ".join(f"z>={z}: {r[f'conv_to_{kind}_z{z}'][0]:+.2f} ({100 * r[f'conv_to_{kind}_z{z}'][1]:.0f}% worse>0.5, "
                              f"{r[f'conv_to_{kind}_z{z}'][2]})" for z in ("0", "2", "3"))
            print(f"{'':>12}conv -> {kind}: {cells}")
        for key, d in r["one_change"].items():
            print(f"{'':>12}one change, {key}: {d['mean_change']:+.3f} (SE {d['se']:.3f}), worse>0.5 "
                  f"{100 * d['worse_by_0.5']:.1f}%, changed {100 * d['changed']:.0f}%, params {100 * d['params']:+.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("control", "split"))
    ap.add_argument("--summarise", action="store_true")
    ap.add_argument("--transformer", default=None, help="an nb201 transformer file (default: the shipped one)")
    ap.add_argument("--data")
    ap.add_argument("--table", required=True, help="chooses the cells scored (the good inputs) and grades")
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", help="the shipped supernet's cached per-image losses (for --summarise)")
    ap.add_argument("--edge", type=int, default=0, help="the edge split on (index in nb201.EDGES)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--start-epoch", type=int, default=50, help="where the shipped supernet stopped on its cosine")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--combine", nargs="+", help="with --summarise: also judge by the mean losses of these (names of "
                    "the .npy files in --out, or 'shipped')")
    ap.add_argument("--save-weights", action="store_true", help="also keep each trained supernet's weights")
    args = ap.parse_args()
    if args.summarise:
        summarise(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
