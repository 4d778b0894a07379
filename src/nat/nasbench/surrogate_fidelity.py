"""Whether a DARTS-space supernet deserves trust: its scores against the NAS-Bench-301 surrogate.

The DARTS-space twin of :mod:`nat.nasbench.fidelity`. A seeded probe of random DARTS-space cells
the surrogate can score, and every one-edge *keep-or-skip* move of each (one op made a skip
connection, costing no more at C=36, L=20: the moves NAT makes that the surrogate can grade), are
scored by the supernet (its fit, ``exp(-cross-entropy)``, on held-out images) and by the surrogate.
Reported: rank correlation over the cells, and over the best quarter of them by the surrogate
(where users' cells live: whole-space correlation is carried by the bad cells); the share of moves
where the supernet's difference has the sign of the surrogate's, over moves the surrogate moves by at
least ``min_diff`` points, overall, from good cells only, and by kind of move. Nothing here decides
a transformation.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict

import numpy as np
import torch

from ..arch.genotype import CELL_TYPES, Genotype
from ..costs import genotype_cost
from ..errors import NatError
from ..ops import SKIP, op_kind
from ..runtime.progress import progress
from ..search.rewards import image_losses
from ..search.transform import Transformer
from .fidelity import kendall_tau, rank_correlation
from .surrogate import Surrogate, random_darts_genotype

__all__ = ["skip_moves", "surrogate_fidelity", "format_surrogate_fidelity"]


def skip_moves(beta: Genotype) -> list[tuple[Genotype, str]]:
    """Every one-edge keep-or-skip move of ``beta`` (one op made a skip) costing no more at C=36, L=20,
    with its kind (``normal sep_conv_3x3->skip_connect``)."""
    base = genotype_cost(beta)
    out = []
    for name in CELL_TYPES:
        cell = getattr(beta, name)
        for i, e in enumerate(cell.edges):
            if op_kind(e.op) != "O":
                continue
            ops = [x.op for x in cell.edges]
            ops[i] = SKIP
            cells = {n: getattr(beta, n) for n in CELL_TYPES}
            cells[name] = cell.replace_ops(ops)
            alpha = Genotype(**cells)
            c = genotype_cost(alpha)
            if c.params <= base.params and c.madds <= base.madds:
                out.append((alpha, f"{name} {e.op}->{SKIP}"))
    return out


@torch.no_grad()
def surrogate_fidelity(surrogate: Surrogate, transformer: Transformer, batches: list, *, cells: int = 200,
                       seed: int = 0, min_diff: float = 0.1, top: float = 0.25, show_progress: bool = False) -> dict:
    """The report described in the module's docs (a dict)."""
    if transformer.space != "darts":
        raise NatError(f"{transformer.source}: trained on the {transformer.space} space; the surrogate grades the "
                       "DARTS space")
    if not transformer.has_supernet:
        raise NatError(f"{transformer.source}: no supernet to measure")
    if cells < 4:
        raise NatError(f"--cells must be at least 4, got {cells}")
    supernet = transformer.supernet
    rng = random.Random(seed)
    probe = [random_darts_genotype(rng) for _ in range(cells)]
    fit_cell, sur_cell, pairs = [], [], []  # pairs: (cell index, kind, supernet diff, surrogate diff)
    for i, beta in enumerate(progress(probe, total=len(probe), desc="fidelity", enabled=show_progress, unit="cell")):
        moves = skip_moves(beta)
        values = surrogate.score([beta] + [g for g, _ in moves])
        losses = image_losses(supernet, beta, batches)
        fit_cell.append(math.exp(-float(losses.mean())))
        sur_cell.append(float(values[0]))
        for (alpha, kind), v in zip(moves, values[1:]):
            # the fit's difference in points: exp(-mean loss) of the move minus the cell's
            fit = math.exp(-float(image_losses(supernet, alpha, batches).mean()))
            pairs.append((i, kind, 100 * (fit - fit_cell[-1]), float(v - values[0])))
    fit_cell, sur_cell = np.array(fit_cell), np.array(sur_cell)
    good = sur_cell >= np.quantile(sur_cell, 1 - top)

    def agreement(rows) -> dict:
        rows = [r for r in rows if abs(r[3]) >= min_diff]
        if not rows:
            return {"pairs": 0, "agreement": None}
        return {"pairs": len(rows), "agreement": float(np.mean([np.sign(r[2]) == np.sign(r[3]) for r in rows])),
                "mean_surrogate_diff": float(np.mean([r[3] for r in rows])),
                "mean_supernet_diff": float(np.mean([r[2] for r in rows]))}

    by_kind = defaultdict(list)
    for r in pairs:
        by_kind[r[1]].append(r)
    return {
        "cells": cells, "seed": seed, "images": sum(len(y) for _, y in batches), "min_diff": min_diff, "top": top,
        "transformer": transformer.source, "surrogate": surrogate.folder,
        "spearman": rank_correlation(fit_cell, sur_cell), "kendall": kendall_tau(fit_cell, sur_cell),
        "good_cells": int(good.sum()),
        "spearman_good": rank_correlation(fit_cell[good], sur_cell[good]),
        "moves": len(pairs), **{f"pairs_{k}": v for k, v in agreement(pairs).items()},
        "good": agreement([r for r in pairs if good[r[0]]]),
        "by_kind": {k: agreement(v) for k, v in sorted(by_kind.items())},
        "mean_surrogate": float(sur_cell.mean()),
    }


def format_surrogate_fidelity(r: dict) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines = [
        f"supernet fidelity against the NAS-Bench-301 surrogate: {r['cells']} random DARTS-space cells "
        f"(mean {r['mean_surrogate']:.2f}%), {r['moves']} one-edge keep-or-skip moves; "
        f"{r['images']} held-out images",
        f"rank correlation of the supernet's fit with the surrogate: Spearman {r['spearman']:.3f}, Kendall "
        f"{r['kendall']:.3f}; among the best {100 * r['top']:g}% of the cells ({r['good_cells']}): Spearman "
        f"{r['spearman_good']:.3f}",
        f"pair sign agreement over moves the surrogate moves by >= {r['min_diff']:g} points: "
        f"{pct(r['pairs_agreement'])} of {r['pairs_pairs']}; from the good cells: {pct(r['good']['agreement'])} of "
        f"{r['good']['pairs']} (a coin agrees on 50%)",
        "by kind of move (pairs, agreement, mean difference: surrogate, supernet fit):",
    ]
    for kind, v in r["by_kind"].items():
        if v["pairs"]:
            lines.append(f"  {kind:<36}{v['pairs']:>6}{pct(v['agreement']):>9}   {v['mean_surrogate_diff']:+.3f}  "
                         f"{v['mean_supernet_diff']:+.3f}")
    return "\n".join(lines)
