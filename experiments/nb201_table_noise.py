"""How much of the good cells' headroom in the NAS-Bench-201 table is real, and how much is noise?

The table holds one trained accuracy per cell, and a trained accuracy is a noisy draw: cells that
compute the same function (:func:`nat.arch.nb201.structure`: dead edges, the order of a sum, skip
chains) were trained separately and their entries differ. That gives an independent second
measurement ("twin") of many cells, and with it three checks:

1. the table's noise: the pooled standard deviation of the entries within one function, for the
   functions of the best quarter and for the rest;
2. the oracle (the best legal transformation of each good input, picked by the table) is a maximum
   over many noisy entries, so it overstates what is there. Re-read at a twin that is not itself
   one of the input's candidates (so played no part in the pick), it is an honest estimate;
   likewise the compact oracle (the cheapest transformation the table scores no lower than the
   input) and the input itself (picked into the best quarter by its own entry: regression to the
   mean).
3. idle edges: dead ends (``Genotype.without_dead_ends``), edges the benchmark's network builds that
   cannot reach the output, and with them the edges that carry no signal from the input
   (``Genotype.without_idle_edges``): how many cells have them, what removing them saves, and (the
   second kind adds an input-independent term, so the function changes a little) what the table
   says of it at twins;
4. merges: two convolutions on one tensor into one node made one. The function class is kept, not
   the function, so the table is the judge of what it costs: against the input's entry (what ``nat
   bench`` reports), against the input's twin, and twin against twin (both sides re-measured). Two
   rules: duplicates (the same op twice, ``Genotype.without_unjudged_savings``, what the compact
   objective removes), and also a 1x1 absorbed by a 3x3 beside it (RepVGG's branches; not used).

    python experiments/nb201_table_noise.py --table ../shared/nb201/cifar10-200ep.csv
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from nat.arch import nb201
from nat.arch.genotype import Genotype
from nat.arch.nb201_table import load_table
from nat.nasbench.bench import select_inputs
from nat.nn.nb201 import NB201CostModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--top", type=float, default=0.25)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    table = load_table(args.table)
    truth = table.values * (100.0 / table.scale)
    connected = nb201.connected_codes()
    good = select_inputs(None, 0, top=args.top, table=table)
    threshold = min(truth[c] for c in good)
    classes = nb201.structure_classes()
    class_of = {int(c): i for i, g in enumerate(classes) for c in g}

    pooled = {}
    for name, keep in (("good", lambda m: m >= threshold), ("rest", lambda m: m < threshold)):
        num = den = cells = 0
        for g in classes:
            v = truth[g]
            if len(g) > 1 and keep(v.mean()):
                num, den, cells = num + ((v - v.mean()) ** 2).sum(), den + len(g) - 1, cells + len(g)
        pooled[name] = {"sd": float(np.sqrt(num / den)), "cells": cells}

    costs = NB201CostModel()
    params = np.array([costs(nb201.to_genotype(nb201.decode(c))).params if connected[c] else 0
                       for c in range(nb201.N_CELLS)], dtype=float)
    best, compact, inputs = [], [], []
    for x in good:
        legal = nb201.legal_codes(x)
        candidates = np.array([int(c) for c in legal[connected[legal]] if c != x])
        seen = {int(c) for c in candidates} | {x}

        def twin(code: int) -> float | None:
            """The mean entry of the cells computing ``code``'s function that took no part in the pick."""
            others = [int(c) for c in classes[class_of[code]] if int(c) not in seen]
            return float(truth[others].mean()) if others else None

        own_twin = twin(x)
        if own_twin is not None:
            inputs.append(own_twin - truth[x])
        pick = int(candidates[np.argmax(truth[candidates])])
        if (t := twin(pick)) is not None:
            best.append((truth[pick] - truth[x], t - truth[x]))
        no_lower = candidates[truth[candidates] >= truth[x]]
        if len(no_lower):
            cheap = int(no_lower[np.argmin(params[no_lower])])
            if (t := twin(cheap)) is not None:
                compact.append((truth[cheap] - truth[x], t - truth[x], params[cheap] / params[x] - 1))
    dead_ends = {}
    for kind in ("dead_ends", "idle_edges"):
        for name, cells in (("good", good), ("all", [int(c) for c in np.flatnonzero(connected)])):
            saved, changes = [], []
            for c in cells:
                g = nb201.to_genotype(nb201.decode(c))
                lean = nb201.encode(nb201.from_genotype(g.without_dead_ends() if kind == "dead_ends" else g.without_idle_edges()))
                saved.append(params[lean] / params[c] - 1)
                others = [int(o) for o in classes[class_of[c]] if int(o) not in (c, lean)]
                if lean != c and others:  # the same structure, so the others are twins of both
                    changes.append(truth[lean] - truth[others].mean())
            saved_a = np.array(saved)
            dead_ends[f"{kind}/{name}"] = {"cells": len(cells), "share": float((saved_a < 0).mean()),
                                           "params": float(saved_a.mean()),
                                           "vs_twins": float(np.mean(changes)) if changes else None}
    merges = {}
    for rule in ("duplicates", "absorbing_1x1"):
        rows = []  # (vs the input's entry, vs its twin or nan, twin vs twin or nan, params)
        for x in good:
            # idle edges go first (they can hide a duplicate) but do not change a cell's structure,
            # so the twins below see the merge alone; params are counted from the idle-free cell
            idle_free = nb201.encode(nb201.from_genotype(nb201.to_genotype(nb201.decode(x)).without_idle_edges()))
            merged = _merged(x, absorb=rule == "absorbing_1x1")
            if params[merged] >= params[idle_free]:
                continue
            seen = {x, idle_free, merged}
            others = {c: [int(o) for o in classes[class_of[c]] if int(o) not in seen] for c in (x, merged)}
            tx = float(truth[others[x]].mean()) if others[x] else np.nan
            tm = float(truth[others[merged]].mean()) if others[merged] else np.nan
            rows.append((truth[merged] - truth[x], truth[merged] - tx, tm - tx, params[merged] / params[idle_free] - 1))
        merges[rule] = np.array(rows, dtype=float)

    def mean_se(v: np.ndarray) -> dict:
        v = v[np.isfinite(v)]
        return {"n": int(len(v)), "mean": float(v.mean()), "se": float(v.std() / np.sqrt(len(v)))}
    best_a, compact_a = np.array(best), np.array(compact)
    report = {
        "inputs": len(good), "threshold": float(threshold), "within_function_sd": pooled, "dead_ends": dead_ends,
        "input_regression_to_mean": {"inputs": len(inputs), "mean": float(np.mean(inputs))},
        "oracle": {"inputs": len(best), "table": float(best_a[:, 0].mean()), "twin": float(best_a[:, 1].mean())},
        "compact_oracle": {"inputs": len(compact), "table": float(compact_a[:, 0].mean()),
                           "twin": float(compact_a[:, 1].mean()), "twin_worse_by_0.5": float((compact_a[:, 1] < -0.5).mean()),
                           "params": float(compact_a[:, 2].mean())},
        "merges": {rule: {"share": len(a) / len(good), "vs_entry": mean_se(a[:, 0]), "vs_twin": mean_se(a[:, 1]),
                          "twin_vs_twin": mean_se(a[:, 2]), "worse_by_0.5": float((a[:, 0] < -0.5).mean()),
                          "params": float(a[:, 3].mean()), "params_all_inputs": float(a[:, 3].sum() / len(good))}
                   for rule, a in merges.items()},
    }
    print(f"{len(good):,} good inputs (table >= {threshold:.2f})")
    print(f"within-function sd of the table: good functions {pooled['good']['sd']:.3f} "
          f"({pooled['good']['cells']:,} cells), the rest {pooled['rest']['sd']:.3f} ({pooled['rest']['cells']:,} cells)")
    print(f"an input's twin minus its own entry: {report['input_regression_to_mean']['mean']:+.3f} "
          f"({len(inputs):,} inputs with a twin)")
    o, c = report["oracle"], report["compact_oracle"]
    print(f"oracle gain: {o['table']:+.3f} by the table, {o['twin']:+.3f} at a twin ({o['inputs']:,} inputs)")
    print(f"compact oracle: {c['table']:+.3f} by the table, {c['twin']:+.3f} at a twin "
          f"({100 * c['twin_worse_by_0.5']:.0f}% worse by > 0.5), params {100 * c['params']:+.1f}% ({c['inputs']:,} inputs)")
    for name, d in dead_ends.items():
        print(f"{name} cells: {100 * d['share']:.1f}% of {d['cells']:,} cells save parameters by removing them, "
              f"{100 * d['params']:+.1f}% a cell on average; the pruned cell against its twins {d['vs_twins']:+.3f}")
    for rule, m in report["merges"].items():
        print(f"merges ({rule}): {100 * m['share']:.1f}% of the good inputs; {100 * m['params']:+.1f}% params on "
              f"them ({100 * m['params_all_inputs']:+.1f}% over all good inputs), "
              f"{100 * m['worse_by_0.5']:.1f}% worse by > 0.5 against the entry")
        print("  change against the input's entry / its twin / twin against twin: " + ", ".join(
            f"{m[k]['mean']:+.3f} (SE {m[k]['se']:.3f}, {m[k]['n']:,})" for k in ("vs_entry", "vs_twin", "twin_vs_twin")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


def _merged(code: int, *, absorb: bool) -> int:
    """The code of cell ``code`` with its duplicate branches merged; ``absorb``: also every 1x1
    beside a 3x3 on the same tensor into the same node."""
    genotype = nb201.to_genotype(nb201.decode(code)).without_unjudged_savings(strided_reduce=False)
    if absorb:
        cell = genotype.normal
        tensor = cell.same_tensor()  # as Cell.redundant_branches
        big = {(tensor[e.src], e.dst) for e in cell.edges if e.op == "nor_conv_3x3" and e.src in cell.live_nodes()}
        ops = ["null" if e.op == "nor_conv_1x1" and (tensor[e.src], e.dst) in big else e.op for e in cell.edges]
        genotype = Genotype(cell.replace_ops(ops), cell.replace_ops(ops)).without_idle_edges()
    return nb201.encode(nb201.from_genotype(genotype))


if __name__ == "__main__":
    main()
