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
3. dead ends (``Genotype.without_dead_ends``): how many cells the benchmark's network builds edges
   for that cannot reach the output, and what removing them saves.

    python experiments/nb201_table_noise.py --table ../shared/nb201/cifar10-200ep.csv
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from nat.arch import nb201
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
    for name, cells in (("good", good), ("all", [int(c) for c in np.flatnonzero(connected)])):
        saved = []
        for c in cells:
            lean = nb201.encode(nb201.from_genotype(nb201.to_genotype(nb201.decode(c)).without_dead_ends()))
            saved.append(params[lean] / params[c] - 1)
        saved_a = np.array(saved)
        dead_ends[name] = {"cells": len(cells), "share": float((saved_a < 0).mean()), "params": float(saved_a.mean())}
    best_a, compact_a = np.array(best), np.array(compact)
    report = {
        "inputs": len(good), "threshold": float(threshold), "within_function_sd": pooled, "dead_ends": dead_ends,
        "input_regression_to_mean": {"inputs": len(inputs), "mean": float(np.mean(inputs))},
        "oracle": {"inputs": len(best), "table": float(best_a[:, 0].mean()), "twin": float(best_a[:, 1].mean())},
        "compact_oracle": {"inputs": len(compact), "table": float(compact_a[:, 0].mean()),
                           "twin": float(compact_a[:, 1].mean()), "twin_worse_by_0.5": float((compact_a[:, 1] < -0.5).mean()),
                           "params": float(compact_a[:, 2].mean())},
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
        print(f"dead ends ({name} cells): {100 * d['share']:.1f}% of {d['cells']:,} cells save parameters by "
              f"removing them, {100 * d['params']:+.1f}% a cell on average")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
