"""How long costing and the quick commands take: the part-by-part cost model against building.

Side by side in one run, medians of ``--repeats``:

1. Costing DARTS and ten of its legal transformations at C=36, L=20 (what one ``nat transform
   DARTS`` checks): building each network and counting it with FlopCounterMode (the old path,
   ``network_cost(CellNetwork(...))``) against :func:`nat.costs.cell_stack_cost` in a fresh
   process each (so nothing is remembered from a previous repeat). The counts must agree.
2. ``nat transform DARTS`` and ``nat --help``, wall clock in a fresh process; beside them
   ``python -c "import torch"``, what ``nat --help`` used to pay before it stopped importing torch.

    python bench/cost_speed.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COSTING = """
import sys, time
from nat.arch.genotype import Genotype
from nat.arch.rules import apply_actions, action_mask
from nat.arch.zoo import get
from nat.costs import cell_stack_cost, network_cost
from nat.nn.network import CellNetwork, NetworkConfig
import numpy as np
darts = get("DARTS").genotype
rng = np.random.default_rng(0)
cells = [darts]
def random_legal(cell):
    return apply_actions(cell, [int(rng.choice(np.flatnonzero(m))) for m in action_mask(cell)])
while len(cells) < 11:
    cells.append(Genotype(random_legal(darts.normal), random_legal(darts.reduce)))
config = NetworkConfig(auxiliary=True)
start = time.perf_counter()
if sys.argv[1] == "build":
    costs = [network_cost(CellNetwork(g, config)) for g in cells]
else:
    costs = [cell_stack_cost(g, config) for g in cells]
print(time.perf_counter() - start, [c.madds for c in costs])
"""


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows, counts = {}, {}
    for _ in range(args.repeats):
        for way in ("build", "parts"):
            out = subprocess.run([sys.executable, "-c", COSTING, way], check=True, capture_output=True,
                                 text=True).stdout.split(" ", 1)
            rows.setdefault(f"cost DARTS + 10 transformations ({way})", []).append(float(out[0]))
            counts[way] = out[1].strip()
        rows.setdefault("nat transform DARTS", []).append(wall([sys.executable, "-m", "nat", "transform", "DARTS"]))
        rows.setdefault("nat --help", []).append(wall([sys.executable, "-m", "nat", "--help"]))
        rows.setdefault('python -c "import torch"', []).append(wall([sys.executable, "-c", "import torch"]))
    if counts["build"] != counts["parts"]:
        raise SystemExit(f"the two ways disagree: {counts}")
    medians = {k: statistics.median(v) for k, v in rows.items()}
    width = max(map(len, medians))
    for k, v in medians.items():
        print(f"{k:<{width}}  {v:7.3f} s")
    build, parts = (medians[f"cost DARTS + 10 transformations ({w})"] for w in ("build", "parts"))
    print(f"part by part: {build / parts:.0f}x faster than building, the same counts")
    print(json.dumps({"repeats": args.repeats, "median_s": medians}))


if __name__ == "__main__":
    main()
