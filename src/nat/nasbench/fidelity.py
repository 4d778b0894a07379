"""Whether a supernet deserves trust: its scores of NAS-Bench-201 cells against a table of truths.

A policy trained on supernet rewards can only be as good as the supernet's judgement, so before
using one, measure that judgement where the truth is known:

- **rank correlation** (Spearman, Kendall) between the supernet's accuracy and the table's over a
  seeded sample of random connected cells;
- **pair sign agreement**: for each sampled cell, one random *one-edge legal move* (what a NAT
  decision is), or every one of them (``moves_per_cell=0``: about nine times the pairs, so the
  share is known to about a point instead of four); the share of pairs where the supernet's
  difference has the sign of the truth's, counted over the pairs whose true difference is at
  least ``min_diff`` points (closer pairs are within the benchmark's own seed noise), overall and
  by kind of move (``nor_conv_3x3->skip_connect``...), since a supernet's errors are not spread
  evenly: weight sharing underrates convolutions against skips.

The probe (which cells, which moves) is drawn without the table; the table is read only to score
the supernet's answers. Every cell is scored on the same images, so the pairs are compared on
identical batches and the sign is not blurred by sampling different images.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..arch import nb201
from ..errors import NatError
from ..runtime.progress import progress

__all__ = ["FidelityProbe", "make_probe", "move_kind", "score_codes", "rank_correlation", "kendall_tau",
           "fidelity_report", "format_fidelity"]


@dataclass(frozen=True)
class FidelityProbe:
    """Codes of the sampled cells, and one-edge legal moves of them: ``moves[i]`` transforms
    ``cells[i]`` (a cell appears once per move drawn for it)."""

    cells: tuple[int, ...]
    moves: tuple[int, ...]

    @property
    def sampled(self) -> list[int]:
        """The sampled cells, each once, in the order drawn (what the rank correlations are over)."""
        return list(dict.fromkeys(self.cells))

    @property
    def codes(self) -> list[int]:
        """Every distinct code to score, in a fixed order."""
        return sorted(set(self.cells) | set(self.moves))


def make_probe(n_cells: int = 200, seed: int = 0, moves_per_cell: int = 1,
               pool: list[int] | None = None) -> FidelityProbe:
    """``n_cells`` random connected cells (a seeded sample; from ``pool`` if given, e.g. the good
    cells) and ``moves_per_cell`` random one-edge legal moves of each (0: all of them; a cell with
    fewer has all of its own)."""
    pool = [int(c) for c in np.flatnonzero(nb201.connected_codes())] if pool is None else list(pool)
    if not 2 <= n_cells <= len(pool):
        raise NatError(f"--cells must be between 2 and {len(pool):,} (the cells to draw from), got {n_cells}")
    if moves_per_cell < 0:
        raise NatError(f"--moves must be at least 0 (0: every one-edge move), got {moves_per_cell}")
    rng = random.Random(seed)
    cells, moves = [], []
    for code in rng.sample(pool, n_cells):
        options = nb201.one_edge_codes(code)
        if not options:  # none of the connected cells lacks one (a none may become a skip, a skip none), but be safe
            continue
        if moves_per_cell == 1:  # one draw per cell, as the probe always made: its pairs stay the same
            chosen = [rng.choice(options)]
        elif moves_per_cell == 0 or moves_per_cell >= len(options):
            chosen = options
        else:
            chosen = rng.sample(options, moves_per_cell)
        cells += [code] * len(chosen)
        moves += chosen
    return FidelityProbe(tuple(cells), tuple(moves))


def move_kind(cell: int, move: int) -> str:
    """``"op->op"`` of the one edge on which two cells differ (``nor_conv_3x3->skip_connect``)."""
    a, b = nb201.decode(cell), nb201.decode(move)
    changed = [(x, y) for x, y in zip(a, b) if x != y]
    if len(changed) != 1:
        raise NatError(f"cells {cell} and {move} differ on {len(changed)} edges, not one")
    return f"{changed[0][0]}->{changed[0][1]}"


@torch.no_grad()
def score_codes(supernet: torch.nn.Module, codes: Sequence[int], batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                *, show_progress: bool = False,
                image_losses: dict[int, np.ndarray] | None = None) -> dict[int, tuple[float, float]]:
    """``{code: (top-1 accuracy in percent, mean cross-entropy)}`` of each cell under the shared
    weights, on the same ``batches`` (batch statistics, no gradients, as rewards are measured).

    ``image_losses``, if given, receives each cell's per-image cross-entropy (float32, in batch
    order): what a paired significance test of two cells needs (:func:`nat.search.rewards.paired_z`).
    """
    out = {}
    total = sum(len(y) for _, y in batches)
    for code in progress(codes, total=len(codes), desc="scoring cells", enabled=show_progress, unit="cell"):
        genotype = nb201.to_genotype(nb201.decode(code))
        correct, losses = 0, []
        for x, y in batches:
            logits = supernet(x, genotype)
            correct += (logits.argmax(1) == y).sum().item()
            losses.append(F.cross_entropy(logits.float(), y, reduction="none").double())
        per_image = torch.cat(losses)
        out[code] = (100.0 * correct / total, float(per_image.sum()) / total)
        if image_losses is not None:
            image_losses[code] = per_image.float().numpy()
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the (tie-averaged) ranks; 0 if either is constant."""
    ra, rb = _ranks(np.asarray(a, dtype=float)), _ranks(np.asarray(b, dtype=float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either ranking handled); 0 if either is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    da, db = da[iu], db[iu]
    denom = np.sqrt((da != 0).sum() * (db != 0).sum())
    return float((da * db).sum() / denom) if denom > 0 else 0.0


def fidelity_report(scores: dict[int, tuple[float, float]], probe: FidelityProbe, truth: np.ndarray, *,
                    min_diff: float = 0.5) -> dict:
    """Correlations over the probe's cells and sign agreement over its moves, for the supernet's
    accuracy and for its (negated) loss. ``truth[code]`` is the table's value in percent."""
    cells = probe.sampled
    true = truth[cells]
    pairs = list(zip(probe.cells, probe.moves))
    true_diff = np.array([truth[m] - truth[c] for c, m in pairs])
    clear = np.abs(true_diff) >= min_diff
    report: dict = {"cells": len(cells), "min_diff": min_diff, "pairs": int(clear.sum())}
    for name, index, sign in (("acc", 0, 1.0), ("loss", 1, -1.0)):
        est = np.array([sign * scores[c][index] for c in cells])
        report[f"spearman_{name}"] = rank_correlation(est, true)
        report[f"kendall_{name}"] = kendall_tau(est, true)
        est_diff = np.array([sign * (scores[m][index] - scores[c][index]) for c, m in pairs])
        agree = np.sign(est_diff[clear]) == np.sign(true_diff[clear])
        report[f"pair_agreement_{name}"] = float(agree.mean()) if clear.any() else None
        by_kind: dict[str, list] = {}
        for (c, m), ok in zip(np.array(pairs)[clear], agree):
            by_kind.setdefault(move_kind(int(c), int(m)), []).append(bool(ok))
        report[f"pairs_by_kind_{name}"] = {k: {"pairs": len(v), "agreement": float(np.mean(v))}
                                           for k, v in sorted(by_kind.items())}
    accs = np.array([scores[c][0] for c in cells])
    report["mean_supernet_acc"] = float(accs.mean())
    report["supernet_acc_quartiles"] = [float(q) for q in np.percentile(accs, [25, 50, 75])]
    return report


def format_fidelity(r: dict) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    by_kind = []
    if r.get("pairs_by_kind_acc"):  # reports saved before the breakdown existed have none
        by_kind = ["pair sign agreement by kind of move (pairs; by accuracy, by -loss):"] + [
            f"  {kind:<34}{v['pairs']:>6}{pct(v['agreement']):>9}{pct(r['pairs_by_kind_loss'][kind]['agreement']):>9}"
            for kind, v in r["pairs_by_kind_acc"].items()]
    return "\n".join([
        f"supernet fidelity against the table: {r['cells']} random connected cells, {r['pairs']} one-edge moves "
        f"whose true difference is at least {r['min_diff']} points",
        f"{'score':<22}{'Spearman':>10}{'Kendall':>10}{'pair sign agreement':>22}",
        f"{'supernet accuracy':<22}{r['spearman_acc']:>10.3f}{r['kendall_acc']:>10.3f}{pct(r['pair_agreement_acc']):>22}",
        f"{'supernet -loss':<22}{r['spearman_loss']:>10.3f}{r['kendall_loss']:>10.3f}{pct(r['pair_agreement_loss']):>22}",
        f"mean supernet accuracy of the cells: {r['mean_supernet_acc']:.2f}%  (a coin agrees on 50% of pairs)",
        *by_kind,
    ])
