"""NAT over the whole NAS-Bench-201 space at once: every connected cell's transformation, graded.

What the research scripts in ``experiments/`` share: the oracle's mean gain over the space, the
greedy transformation of every cell by a policy, and the grade of a whole-space choice (one
result code per input code) against a table.
"""

from __future__ import annotations

import numpy as np
import torch

from ..arch import nb201
from ..arch.nb201_table import BenchTable
from .bench import Oracle

__all__ = ["oracle_mean_gain", "grade_choice", "greedy_codes"]


def oracle_mean_gain(table: BenchTable) -> float:
    """Mean gain, in points, of the best legal transformation over every connected cell."""
    oracle = Oracle(table)
    scale = 100.0 / table.scale
    return float(np.mean([(oracle(int(c))[1] - table.values[c]) * scale
                          for c in np.flatnonzero(nb201.connected_codes())]))


def grade_choice(result: dict[int, int], values: np.ndarray, connected: np.ndarray, oracle_gain: float) -> dict:
    """True gain, in points, of a transformation of every connected cell (``result[input] = output``):
    mean, share of the oracle's, and the shares of cells improved, worsened and changed."""
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
