"""``nat bench``: NAT's transformations of NAS-Bench-201 cells, scored by the benchmark's table.

For each input cell (all 15,284 cells whose output is connected, or a seeded sample) the
trained policy transforms it, a random policy transforms it, and the *oracle* -- the best legal
transformation, found by enumerating all of them (at most 3^6, cached per cell) -- bounds what
any policy could gain. All three are looked up in the table.

Honest selection: the table is the answer key, so nothing that picks the policy's result may
read it. With ``greedy`` the result is the per-edge most probable action ("Maximum"); with K
candidates it is the best of them by the run's supernet on held-out images when batches are
given (the paper's "Sampling"), else the most probable of them. The random policy takes one
uniform legal transformation. Only the oracle sees the table, as an upper bound.

A transformed cell whose output became disconnected is not an architecture; the transformation
then returns its input unchanged (as ``nat transform`` does), and the oracle never picks one.
Every legal transformation of an nb201 cell costs no more (a skip or null edge has no
parameters and no multiply-adds at stride 1), so the cost check of :func:`transform` never
drops a candidate here; costs are reported at the benchmark's size by the exact cost model.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..arch import nb201
from ..arch.space import get_space
from ..errors import NatError
from ..nn.nb201 import NB201CostModel
from ..policy import RandomPolicy
from ..runtime.progress import progress
from ..search.trainer import describe_reward
from ..search.transform import Transformer, transform
from ..arch.nb201_table import BenchTable

__all__ = ["Oracle", "BenchRow", "select_inputs", "run_bench", "summarise", "format_report", "rows_as_dicts"]


class Oracle:
    """The best legal, connected transformation of a cell under a table (cached per cell)."""

    def __init__(self, table: BenchTable) -> None:
        self.values = table.values
        self.connected = nb201.connected_codes()
        self._cache: dict[int, tuple[int, float]] = {}

    def __call__(self, code: int) -> tuple[int, float]:
        """``(code, value)`` of the best legal transformation of ``code`` (itself if none is better)."""
        if code not in self._cache:
            codes = nb201.legal_codes(code)
            codes = codes[self.connected[codes]]
            best = int(codes[np.argmax(self.values[codes])])
            self._cache[code] = best, float(self.values[best])
        return self._cache[code]


@dataclass
class BenchRow:
    """One input cell, what became of it, and what it cost (at the benchmark's size)."""

    arch: str
    transformed_arch: str
    input: float
    transformed: float
    random: float
    oracle: float
    params_before: int
    params_after: int
    madds_before: int
    madds_after: int

    @property
    def gain(self) -> float:
        return self.transformed - self.input


def select_inputs(archs: int | None, seed: int) -> list[int]:
    """Codes of the input cells: every connected cell, or a seeded sample of ``archs`` of them."""
    pool = [int(c) for c in np.flatnonzero(nb201.connected_codes())]
    if archs is None:
        return pool
    if not 1 <= archs <= len(pool):
        raise NatError(f"--archs must be between 1 and {len(pool):,} (the cells whose output is connected), got {archs}")
    return sorted(random.Random(seed).sample(pool, archs))


def _shares(gains: np.ndarray) -> dict[str, float]:
    eps = 1e-9  # table values are decimals read from text: equal means equal to rounding
    return {"improved": float((gains > eps).mean()), "unchanged": float((np.abs(gains) <= eps).mean()),
            "worsened": float((gains < -eps).mean())}


def run_bench(table: BenchTable, transformer: Transformer, *, archs: int | None = None, greedy: bool = True,
              candidates: int = 10, seed: int = 0, batches: list | None = None, refine: bool = False,
              significance: float | None = None, margin: float = 0.0, proxy: str | None = None,
              show_progress: bool = False) -> tuple[dict, list[BenchRow]]:
    """Transform the inputs and score everything against ``table``; returns (summary, rows).

    ``refine``, ``significance``, ``margin`` and ``proxy`` (they need ``batches``) make the selection
    ``nat transform --select-on --refine --significance Z`` makes, through the same function
    (:func:`nat.search.transform.transform`), so its claim can be checked on the truth."""
    space = get_space(transformer.space)
    if space.name != "nb201":
        raise NatError(f"{transformer.source}: trained on the {transformer.space} space; `nat bench` needs a "
                       "transformer trained with --space nb201")
    oracle, cost = Oracle(table), NB201CostModel()
    baseline = RandomPolicy(cell_types=space.cell_types)
    randomly = Transformer(baseline, space.name, "random")
    if (refine or significance is not None or margin or proxy) and batches is None:
        raise NatError("refinement, --significance, --margin and --proxy rank by the supernet: give --select-on DATA")
    if batches is not None and transformer.supernet is None:
        raise NatError(f"{transformer.source}: selecting on held-out data needs the run's supernet, and this run has "
                       "none (trained with a table reward?)")
    codes = select_inputs(archs, seed)
    rows = []
    for i, code in enumerate(progress(codes, total=len(codes), desc="nat bench", enabled=show_progress, unit="cell")):
        beta = nb201.to_genotype(nb201.decode(code))
        with torch.no_grad():
            ours = transform(beta, transformer, candidates=candidates, greedy=greedy, batches=batches,
                             seed=seed + i, cost_fn=cost, refine=refine, significance=significance, margin=margin,
                             proxy=proxy)
            theirs = transform(beta, randomly, candidates=1, seed=seed + i, cost_fn=cost)
        rows.append(BenchRow(
            arch=nb201.all_strings()[code], transformed_arch=nb201.genotype_to_string(ours.genotype),
            input=float(table.values[code]), transformed=table[ours.genotype], random=table[theirs.genotype],
            oracle=oracle(code)[1], params_before=ours.cost_before.params, params_after=ours.cost_after.params,
            madds_before=ours.cost_before.madds, madds_after=ours.cost_after.madds))
    return summarise(rows, table, transformer, greedy=greedy, candidates=candidates, batches=batches,
                     seed=seed, archs=archs, refine=refine, significance=significance, margin=margin,
                     proxy=proxy), rows


def summarise(rows: list[BenchRow], table: BenchTable, transformer: Transformer, *, greedy: bool, candidates: int,
              batches: list | None, seed: int, archs: int | None, refine: bool = False,
              significance: float | None = None, margin: float = 0.0, proxy: str | None = None) -> dict:
    col = lambda name: np.array([getattr(r, name) for r in rows], dtype=float)  # noqa: E731
    inp, out, rnd, orc = col("input"), col("transformed"), col("random"), col("oracle")
    oracle_gain = float((orc - inp).mean())
    share = (lambda gain: gain / oracle_gain if oracle_gain > 0 else None)
    if greedy:
        selection = "Maximum: the most probable action on every edge (no selection)"
    elif batches is not None:
        selection = (f"Sampling: the best of {candidates} candidates by the run's supernet on "
                     f"{sum(len(y) for _, y in batches)} held-out training images")
    else:
        selection = f"Sampling: the most probable of {candidates} candidates (no supernet scoring)"
    if proxy:
        selection += f", ranked by the supernet's fit + {proxy}"
    if refine:
        selection += ", then refined one legal edge change at a time on the supernet's score"
    if margin:
        selection += f"; a change kept only {margin:g} points of score above the input"
    if significance is not None:
        selection += f"; a change kept only if its held-out loss beats the input's by {significance:g} paired SE"
    notes = ["the table is read only to score results and to find the oracle; never to select"]
    reward = transformer.config.get("reward", "supernet")
    if reward.startswith("table:"):
        same_file = Path(reward[len("table:"):]).resolve() == Path(table.path).resolve()
        same_column = (transformer.config.get("reward_metric") or table.metric) == table.metric
        if same_file and same_column:
            notes.append("the policy was trained on rewards from this very table and column: this measures how "
                         "well it learned the table, not a prediction")
    summary = {
        "n": len(rows), "archs": "all" if archs is None else archs, "seed": seed,
        "table": table.path, "metric": table.metric, "unit": table.unit,
        "transformer": transformer.source, "policy": transformer.policy.name,
        "transformer_reward": describe_reward(transformer.config), "selection": selection,
        "mean_input": float(inp.mean()), "mean_transformed": float(out.mean()),
        "mean_gain": float((out - inp).mean()), **_shares(out - inp),
        "changed": float(np.mean([r.arch != r.transformed_arch for r in rows])),
        "random_mean_transformed": float(rnd.mean()), "random_mean_gain": float((rnd - inp).mean()),
        **{f"random_{k}": v for k, v in _shares(rnd - inp).items()},
        "oracle_mean": float(orc.mean()), "oracle_gain": oracle_gain,
        "oracle_improvable": float(((orc - inp) > 1e-9).mean()),
        "share_of_oracle": share(float((out - inp).mean())),
        "random_share_of_oracle": share(float((rnd - inp).mean())),
        "params_before": float(col("params_before").mean()), "params_after": float(col("params_after").mean()),
        "madds_before": float(col("madds_before").mean()), "madds_after": float(col("madds_after").mean()),
        "excluded_inputs": nb201.N_CELLS - int(nb201.connected_codes().sum()), "notes": notes,
    }
    return summary


def format_report(s: dict) -> str:
    """The summary as a small text table."""
    u = "%" if s["unit"] == "percent" else ""
    pct = lambda v: f"{100 * v:5.1f}%"  # noqa: E731
    head = f"{'':<22}{'mean ' + s['metric']:>16}{'mean gain':>11}{'improved':>10}{'unchanged':>11}{'worsened':>10}"
    lines = [
        f"nat bench: {s['n']:,} NAS-Bench-201 cells ({'all connected' if s['archs'] == 'all' else 'seeded sample'}) "
        f"scored by {s['table']}, column {s['metric']} ({s['unit']})",
        f"transformer: {s['transformer']} ({s['policy']}; trained with reward: {s['transformer_reward']})",
        f"selection: {s['selection']}", "", head,
        f"{'input':<22}{s['mean_input']:>15.3f}{u}",
        f"{'NAT':<22}{s['mean_transformed']:>15.3f}{u}{s['mean_gain']:>+11.3f}{pct(s['improved']):>10}"
        f"{pct(s['unchanged']):>11}{pct(s['worsened']):>10}",
        f"{'random transformation':<22}{s['random_mean_transformed']:>15.3f}{u}{s['random_mean_gain']:>+11.3f}"
        f"{pct(s['random_improved']):>10}{pct(s['random_unchanged']):>11}{pct(s['random_worsened']):>10}",
        f"{'oracle (enumerated)':<22}{s['oracle_mean']:>15.3f}{u}{s['oracle_gain']:>+11.3f}"
        f"{pct(s['oracle_improvable']):>10}{pct(1 - s['oracle_improvable']):>11}{pct(0):>10}",
        "",
        "share of the oracle's gain: " + ", ".join(
            f"{name} {'n/a' if v is None else f'{100 * v:.1f}%'}"
            for name, v in (("NAT", s["share_of_oracle"]), ("random", s["random_share_of_oracle"]))),
        f"mean cost at the benchmark's size (C=16, L=15): params {s['params_before']:,.0f} -> {s['params_after']:,.0f}, "
        f"MAdds {s['madds_before']:,.0f} -> {s['madds_after']:,.0f}",
        f"inputs exclude the {s['excluded_inputs']} cells whose output is disconnected (not architectures)",
    ]
    lines += [f"note: {n}" for n in s["notes"]]
    return "\n".join(lines)


def rows_as_dicts(rows: list[BenchRow]) -> list[dict]:
    return [{**asdict(r), "gain": r.gain} for r in rows]
