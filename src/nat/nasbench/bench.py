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
from ..search.selection import Selection
from ..search.transform import Transformer, transform
from ..arch.nb201_table import BenchTable

__all__ = ["Oracle", "BenchRow", "select_inputs", "run_bench", "summarise", "format_report", "rows_as_dicts"]


class Oracle:
    """The best legal, connected transformation of a cell under a table (cached per cell)."""

    def __init__(self, table: BenchTable, cost: NB201CostModel | None = None) -> None:
        self.values = table.values
        self.cost = cost or NB201CostModel()
        self.connected = nb201.connected_codes()
        self._cache: dict[int, tuple[int, float]] = {}
        self._compact: dict[int, int] = {}

    def cheapest_no_worse(self, code: int) -> int:
        """The legal, connected transformation of ``code`` with the fewest parameters among those the
        table scores no lower than ``code`` (itself if none is cheaper): what ``compact`` could reach."""
        if code not in self._compact:
            codes = nb201.legal_codes(code)
            codes = codes[self.connected[codes] & (self.values[codes] >= self.values[code])]
            params = np.array([self.cost(nb201.to_genotype(nb201.decode(int(c)))).params for c in codes])
            self._compact[code] = int(codes[np.lexsort((-self.values[codes], params))[0]])
        return self._compact[code]

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
    compact_params: int = 0  # the cheapest legal transformation the table scores no lower (the compact oracle)
    verdict: str = ""        # what nat transform said the change is worth
    selection_changed: bool = False  # the policy or the judge changed the cell (not only savings no judge decides)
    unjudged: tuple = ()     # the savings no judge decides that were applied (dead_ends, idle_edges, duplicate_branches)

    @property
    def gain(self) -> float:
        return self.transformed - self.input


def select_inputs(archs: int | None, seed: int, *, top: float | None = None,
                  table: BenchTable | None = None) -> list[int]:
    """Codes of the input cells: every connected cell, or a seeded sample of ``archs`` of them;
    with ``top`` only from the best fraction ``top`` of the connected cells by ``table``'s metric
    (the cells users bring: the good ones)."""
    pool = [int(c) for c in np.flatnonzero(nb201.connected_codes())]
    if top is not None:
        if not 0 < top <= 1:
            raise NatError(f"--top must be a fraction in (0, 1], got {top}")
        if table is None:
            raise NatError("--top draws the best cells by the table: give --table")
        ranked = sorted(pool, key=lambda c: (-table.values[c], c))
        pool = sorted(ranked[:max(1, int(round(top * len(ranked))))])
    if archs is None:
        return pool
    if not 1 <= archs <= len(pool):
        raise NatError(f"--archs must be between 1 and {len(pool):,} (the connected cells"
                       + (f" in the top {top:g}" if top is not None else "") + f"), got {archs}")
    return sorted(random.Random(seed).sample(pool, archs))


def _shares(gains: np.ndarray) -> dict[str, float]:
    eps = 1e-9  # table values are decimals read from text: equal means equal to rounding
    return {"improved": float((gains > eps).mean()), "unchanged": float((np.abs(gains) <= eps).mean()),
            "worsened": float((gains < -eps).mean())}


def run_bench(table: BenchTable, transformer: Transformer, selection: Selection = Selection(greedy=True), *,
              archs: int | None = None, top: float | None = None, seed: int = 0, batches: list | None = None,
              show_progress: bool = False) -> tuple[dict, list[BenchRow]]:
    """Transform the inputs with ``selection`` and score everything against ``table``; returns
    (summary, rows). The selection runs through ``nat transform``'s own function
    (:func:`nat.search.transform.transform`), so what a user would get is what is graded."""
    space = get_space(transformer.space)
    if space.name != "nb201":
        raise NatError(f"{transformer.source}: trained on the {transformer.space} space; `nat bench --table` needs a "
                       "transformer trained with --space nb201")
    if selection.scored and batches is None:
        raise NatError("this selection judges candidates with the supernet (--objective compact, --refine, "
                       "--significance, --margin, --proxy): give --select-on DATA")
    if batches is not None and not transformer.has_supernet:
        raise NatError(f"{transformer.source}: selecting on held-out data needs the run's supernet, and this run has "
                       "none (trained with a table reward?)")
    cost = NB201CostModel()
    oracle = Oracle(table, cost)
    baseline = RandomPolicy(cell_types=space.cell_types)
    randomly = Transformer(baseline, space.name, "random")
    codes = select_inputs(archs, seed, top=top, table=table)
    rows = []
    for i, code in enumerate(progress(codes, total=len(codes), desc="nat bench", enabled=show_progress, unit="cell")):
        beta = nb201.to_genotype(nb201.decode(code))
        with torch.no_grad():
            ours = transform(beta, transformer, selection, batches=batches, seed=seed + i, cost_fn=cost)
            theirs = transform(beta, randomly, Selection(candidates=1, no_null=selection.no_null), seed=seed + i,
                               cost_fn=cost)
        rows.append(BenchRow(
            arch=nb201.all_strings()[code], transformed_arch=nb201.genotype_to_string(ours.genotype),
            input=float(table.values[code]), transformed=table[ours.genotype], random=table[theirs.genotype],
            oracle=oracle(code)[1], params_before=ours.cost_before.params, params_after=ours.cost_after.params,
            madds_before=ours.cost_before.madds, madds_after=ours.cost_after.madds,
            compact_params=cost(nb201.to_genotype(nb201.decode(oracle.cheapest_no_worse(code)))).params,
            verdict=ours.verdict, selection_changed=bool(ours.expected.get("selection_changed")),
            unjudged=tuple(ours.expected.get("unjudged", ()))))
    return summarise(rows, table, transformer, selection, batches=batches, seed=seed, archs=archs, top=top), rows


def summarise(rows: list[BenchRow], table: BenchTable, transformer: Transformer, selection: Selection, *,
              batches: list | None, seed: int, archs: int | None, top: float | None = None) -> dict:
    col = lambda name: np.array([getattr(r, name) for r in rows], dtype=float)  # noqa: E731
    inp, out, rnd, orc = col("input"), col("transformed"), col("random"), col("oracle")
    oracle_gain = float((orc - inp).mean())
    share = (lambda gain: gain / oracle_gain if oracle_gain > 0 else None)
    notes = ["the table is read only to score results, to find the oracle and to draw --top inputs; never to select"]
    reward = transformer.config.get("reward", "supernet")
    if reward.startswith("table:"):
        same_file = Path(reward[len("table:"):]).resolve() == Path(table.path).resolve()
        same_column = (transformer.config.get("reward_metric") or table.metric) == table.metric
        if same_file and same_column:
            notes.append("the policy was trained on rewards from this very table and column: this measures how "
                         "well it learned the table, not a prediction")
    pb, pa = col("params_before"), col("params_after")
    summary = {
        "n": len(rows), "archs": "all" if archs is None else archs, "top": top, "seed": seed,
        "table": table.path, "metric": table.metric, "unit": table.unit,
        "transformer": transformer.source, "policy": transformer.policy.name,
        "transformer_reward": describe_reward(transformer.config),
        "selection": selection.describe(judged=batches is not None) + (f"; judged on {sum(len(y) for _, y in batches)} held-out images"
                                             if batches is not None else ""),
        "selection_options": selection.as_dict(), "objective": selection.objective,
        "mean_input": float(inp.mean()), "mean_transformed": float(out.mean()),
        "mean_gain": float((out - inp).mean()), **_shares(out - inp),
        "worse_by_0.5": float(((out - inp) < -0.5).mean()),
        "changed": float(np.mean([r.arch != r.transformed_arch for r in rows])),
        "random_mean_transformed": float(rnd.mean()), "random_mean_gain": float((rnd - inp).mean()),
        **{f"random_{k}": v for k, v in _shares(rnd - inp).items()},
        "oracle_mean": float(orc.mean()), "oracle_gain": oracle_gain,
        "oracle_improvable": float(((orc - inp) > 1e-9).mean()),
        "share_of_oracle": share(float((out - inp).mean())),
        "random_share_of_oracle": share(float((rnd - inp).mean())),
        "params_before": float(pb.mean()), "params_after": float(pa.mean()),
        "params_change": float((pa / pb - 1).mean()),
        "compact_oracle_params_change": float((col("compact_params") / pb - 1).mean()),
        "madds_before": float(col("madds_before").mean()), "madds_after": float(col("madds_after").mean()),
        "excluded_inputs": nb201.N_CELLS - int(nb201.connected_codes().sum()), "notes": notes,
        "by_source": _by_source(rows),
    }
    return summary


def _by_source(rows: list[BenchRow]) -> dict:
    """Where the changes came from: cells the selection (policy or judge) changed, and cells changed
    only by the savings no judge decides; for each, the share of cells, their mean gain and their
    mean parameter change."""
    groups = {"selection": [r for r in rows if r.selection_changed],
              "unjudged_only": [r for r in rows if not r.selection_changed and r.arch != r.transformed_arch]}
    return {name: {"share": len(g) / len(rows) if rows else 0.0,
                   "mean_gain": float(np.mean([r.gain for r in g])) if g else None,
                   "params_change": float(np.mean([r.params_after / r.params_before - 1 for r in g])) if g else None}
            for name, g in groups.items()}


def format_report(s: dict) -> str:
    """The summary as a small text table."""
    u = "%" if s["unit"] == "percent" else ""
    pct = lambda v: f"{100 * v:5.1f}%"  # noqa: E731
    head = f"{'':<22}{'mean ' + s['metric']:>16}{'mean gain':>11}{'improved':>10}{'unchanged':>11}{'worsened':>10}"
    best = "" if s.get("top") is None else f" in the best {100 * s['top']:g}% by {s['metric']}"
    lines = [
        f"nat bench: {s['n']:,} NAS-Bench-201 cells ({'all' if s['archs'] == 'all' else 'a seeded sample of the'} "
        f"connected cells{best}) "
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
        f"cells made worse by more than 0.5 points: {pct(s['worse_by_0.5']).strip()}",
        f"mean cost at the benchmark's size (C=16, L=15): params {s['params_before']:,.0f} -> {s['params_after']:,.0f} "
        f"({100 * s['params_change']:+.1f}% a cell), MAdds {s['madds_before']:,.0f} -> {s['madds_after']:,.0f}",
        f"the cheapest legal transformation the table scores no lower: {100 * s['compact_oracle_params_change']:+.1f}% "
        "params a cell (what --objective compact could reach)",
        f"inputs exclude the {s['excluded_inputs']} cells whose output is disconnected (not architectures)",
    ]
    for name, what in (("selection", "changed by the selection (policy or judge)"),
                       ("unjudged_only", "changed only by savings no judge decides")):
        g = s.get("by_source", {}).get(name)
        if g and g["share"]:
            lines.insert(-1, f"{what}: {pct(g['share']).strip()} of the cells, mean gain {g['mean_gain']:+.3f}, "
                             f"params {100 * g['params_change']:+.1f}% on them")
    lines += [f"note: {n}" for n in s["notes"]]
    return "\n".join(lines)


def rows_as_dicts(rows: list[BenchRow]) -> list[dict]:
    return [{**asdict(r), "gain": r.gain} for r in rows]
