"""A synthetic NAS-Bench-201 table whose best transformations are known by construction.

For tests and for trying ``nat bench`` without the benchmark file. Every edge gives its op a
score (:data:`SCORES`); a connected cell's accuracy is a saturating function of the sum,
``100 - 90 exp(-sum / 8)`` (diminishing returns: edges interact), and a cell whose output is
disconnected scores 10, chance. ``none`` scores below ``skip_connect`` on every edge, so the
best legal transformation keeps, per edge, the better of its op and a skip (a skip for S and N
edges) and never disconnects the output: :func:`oracle_accuracy` is that closed form, which
``nat bench`` must find by enumeration. The lesson to learn: convolutions on the main path,
pooling and 1x1 convolutions off it become skips, and the long edge 0 -> 3 wants a skip (a
residual connection) whatever it holds.

``python -m nat.nasbench.fixture OUT.csv`` writes the table: columns ``arch``, ``test_acc`` (the
function above) and ``valid_acc`` (the same minus a small deterministic perturbation).
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from ..arch import nb201

__all__ = ["SCORES", "accuracy", "oracle_accuracy", "write_fixture_table"]

#: Per edge (benchmark order (0,1), (0,2), (1,2), (0,3), (1,3), (2,3)), the score of each op.
SCORES: dict[str, tuple[float, ...]] = {
    "none":         (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "skip_connect": (1.0, 1.0, 1.0, 2.0, 1.0, 1.0),
    "nor_conv_1x1": (2.0, 0.5, 2.0, 0.5, 1.5, 2.0),
    "nor_conv_3x3": (4.0, 2.5, 4.0, 1.0, 3.0, 4.0),
    "avg_pool_3x3": (0.5, 0.3, 0.5, 0.2, 0.5, 0.5),
}
CHANCE = 10.0


def _curve(total: float) -> float:
    return 100.0 - 90.0 * math.exp(-total / 8.0)


def accuracy(ops) -> float:
    """The fixture's accuracy of six benchmark op names (percent)."""
    if not nb201.connected_codes()[nb201.encode(ops)]:
        return CHANCE
    return _curve(sum(SCORES[op][k] for k, op in enumerate(ops)))


def oracle_accuracy(ops) -> float:
    """The accuracy of the best legal NAT transformation of ``ops``, in closed form."""
    best = (max(SCORES[op][k], SCORES["skip_connect"][k]) if op not in ("none", "skip_connect")
            else SCORES["skip_connect"][k] for k, op in enumerate(ops))
    return _curve(sum(best))


def write_fixture_table(path: str | Path) -> Path:
    """Write the table for all 15,625 cells to ``path`` (CSV)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["arch", "test_acc", "valid_acc"])
        for code, text in enumerate(nb201.all_strings()):
            acc = accuracy(nb201.decode(code))
            out.writerow([text, f"{acc:.6f}", f"{acc - 0.3 * ((code * 7919) % 11) / 10:.6f}"])
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m nat.nasbench.fixture OUT.csv")
    print(f"wrote {write_fixture_table(sys.argv[1])}")
