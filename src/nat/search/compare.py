"""The paper's comparison of policy learners (Table 3), under one budget.

A search run trained with ``--policy gcn,lstm,random`` holds three policies trained side by side
against the same supernet on the same input architectures: the same budget by construction.
Each method transforms each architecture:

* Random: K random legal transformations, the best kept on held-out data ("Random Search");
* LSTM: K samples of the LSTM policy, the best kept (as Sampling-GCN);
* Maximum-GCN: the per-edge argmax of the GCN policy;
* Sampling-GCN: K samples of the GCN policy, the best kept (the paper's NAT).

Candidates are selected on images of the 60% split; the results are then scored on *other*
images (the test set), so selection does not flatter the methods that select. The score is the
supernet's accuracy (a proxy; training every result from scratch is what ``nat train`` is for),
reported with each result's cost at the final network size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..arch.genotype import Genotype
from ..errors import NatError
from ..nn.network import NetworkConfig
from .rewards import accuracy
from .selection import Selection
from .transform import Transformer, load_transformer, transform

__all__ = ["METHODS", "ComparisonRow", "compare_policies"]

METHODS = (("Random", "random", False), ("LSTM", "lstm", False), ("Maximum-GCN", "gcn", True),
           ("Sampling-GCN", "gcn", False))


@dataclass
class ComparisonRow:
    arch: str
    method: str
    accuracy: float | None     # supernet top-1 on the scoring images, percent
    gain: float | None         # minus the input's, percentage points
    params: int
    madds: int
    changed: int               # edges changed
    note: str = ""


def compare_policies(run_dir: str | Path, archs: dict[str, Genotype], *, select_batches: list, score_batches: list,
                     candidates: int = 10, cost_config: NetworkConfig = NetworkConfig(), seed: int = 0) -> list[ComparisonRow]:
    """One row per (architecture, method), plus the input itself as method "input"."""
    run_dir = Path(run_dir)
    rows: list[ComparisonRow] = []
    for label, beta in archs.items():
        base = load_transformer(run_dir, beta)  # the GCN run: policy + supernet
        supernet = base.supernet
        try:
            supernet.check(beta)
        except NatError as err:
            rows.append(ComparisonRow(label, "-", None, None, 0, 0, 0, note=f"skipped: {err}"))
            continue
        beta_acc = 100 * accuracy(supernet, beta, score_batches)
        first = None
        for method, policy_name, greedy in METHODS:
            path = run_dir / f"transformer-{policy_name}.pt"
            if not path.exists():
                rows.append(ComparisonRow(label, method, None, None, 0, 0, 0,
                                          note=f"no {policy_name} policy in this run (search with --policy gcn,lstm,random)"))
                continue
            t = load_transformer(path, beta)
            result = transform(beta, Transformer(t.policy, t.space, t.source, supernet, t.config),
                               Selection(candidates=candidates, greedy=greedy),
                               batches=None if greedy else select_batches,  # Maximum: the argmax, unjudged
                               cost_config=cost_config, seed=seed)
            if first is None:
                rows.append(ComparisonRow(label, "input", beta_acc, 0.0, result.cost_before.params,
                                          result.cost_before.madds, 0))
                first = result
            acc = 100 * accuracy(supernet, result.genotype, score_batches)
            rows.append(ComparisonRow(label, method, acc, acc - beta_acc, result.cost_after.params,
                                      result.cost_after.madds, len(result.changed)))
    return rows


def format_table(rows: list[ComparisonRow]) -> str:
    lines = [f"{'arch':<12}{'method':<14}{'acc (%)':>9}{'gain':>8}{'params':>12}{'MAdds':>14}{'changed':>9}  note",
             "-" * 86]
    for r in rows:
        acc = f"{r.accuracy:.2f}" if r.accuracy is not None else "-"
        gain = f"{r.gain:+.2f}" if r.gain is not None else "-"
        lines.append(f"{r.arch:<12}{r.method:<14}{acc:>9}{gain:>8}{r.params:>12,}{r.madds:>14,}{r.changed:>9}  {r.note}")
    by_method: dict[str, list[float]] = {}
    for r in rows:
        if r.gain is not None and r.method != "input":
            by_method.setdefault(r.method, []).append(r.gain)
    if by_method:
        lines.append("-" * 86)
        for method, gains in by_method.items():
            lines.append(f"{'mean':<12}{method:<14}{'':>9}{sum(gains) / len(gains):>+8.2f}")
    return "\n".join(lines)
