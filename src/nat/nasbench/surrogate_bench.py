"""``nat bench --surrogate``: NAT's transformations of DARTS-space cells, graded by NAS-Bench-301.

The DARTS-space twin of :mod:`nat.nasbench.bench`. Inputs are seeded random DARTS-space
architectures (:func:`~nat.nasbench.surrogate.random_darts_genotype`) or genotypes from a file;
each is transformed by ``nat transform``'s own function with the selection asked for, and the
result is graded by the surrogate. The surrogate's *oracle* is the best transformation it can
score: every op kept or made a skip connection (no edge becomes null: it never saw one), costing
no more than the input at the size asked for (default C=36, L=20). A result with a null edge is
outside what the surrogate can grade: it is counted apart (``unscorable``), never guessed.

The surrogate only grades. Nothing that chooses a transformation reads it.

Enumerating the oracle is exact and fast: without null edges a cell keeps every node and every
input it reads, so the network's parameters and multiply-adds change by the sum of what each
edge's change costs (each op's cost depends on its own width and input size alone; a test checks
the sum against building the network), and the surrogate scores all 2^k keep-or-skip variants of
an input's k ops in a few batched calls.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..arch.formats import format_pairs, genotype_entries, genotype_from_dict, parse_text, read_genotype_file
from ..arch.genotype import CELL_TYPES, Genotype
from ..costs import Cost, genotype_cost
from ..errors import GenotypeError, NatError
from ..nn.network import NetworkConfig
from ..ops import SKIP, op_kind
from ..runtime.progress import progress
from ..search.selection import Selection
from ..search.transform import Transformer, transform
from .surrogate import COLUMNS, Surrogate, edge_column, encode, random_darts_genotype, unscorable

__all__ = ["KeepOrSkip", "keep_or_skip", "input_file", "random_inputs", "SurrogateRow", "run_surrogate_bench",
           "summarise_surrogate", "format_surrogate_report", "surrogate_rows_as_dicts"]

_MAX_OPS = 20  # 2^20 variants: a DARTS cell pair has 16 edges at most


@dataclass
class KeepOrSkip:
    """Every keep-or-skip transformation of one input that costs no more, with its surrogate value."""

    input_value: float
    masks: np.ndarray     # (n, k) bool: which of the k op edges became skips
    values: np.ndarray    # (n,) surrogate accuracy (percent)
    params: np.ndarray    # (n,) parameters at the size asked for
    madds: np.ndarray     # (n,)
    slots: list[tuple[str, int]]  # (cell, edge index) of each of the k op edges

    def best(self) -> int:
        return int(np.argmax(self.values))

    def cheapest_no_lower(self) -> int:
        """The cheapest variant (fewest parameters, then best value) the surrogate scores no lower than the input."""
        ok = np.flatnonzero(self.values >= self.input_value)
        return int(ok[np.lexsort((-self.values[ok], self.params[ok]))[0]])

    def genotype(self, beta: Genotype, index: int) -> Genotype:
        ops = {name: [e.op for e in getattr(beta, name).edges] for name in CELL_TYPES}
        for (name, i), bit in zip(self.slots, self.masks[index]):
            if bit:
                ops[name][i] = SKIP
        return Genotype(*(getattr(beta, name).replace_ops(ops[name]) for name in CELL_TYPES))


def keep_or_skip(beta: Genotype, surrogate: Surrogate, config: NetworkConfig = NetworkConfig()) -> KeepOrSkip:
    """Enumerate and grade every keep-or-skip transformation of ``beta`` that costs no more."""
    why = unscorable(beta)
    if why:
        raise NatError(f"the surrogate cannot score this input: {why}")
    base = genotype_cost(beta, config)
    slots = [(name, i) for name in CELL_TYPES for i, e in enumerate(getattr(beta, name).edges) if op_kind(e.op) == "O"]
    if len(slots) > _MAX_OPS:
        raise NatError(f"{len(slots)} op edges: more than the {_MAX_OPS} whose variants can be enumerated")
    deltas = []
    for name, i in slots:  # what each single change costs; changes add up (see the module's docs)
        ops = [e.op for e in getattr(beta, name).edges]
        ops[i] = SKIP
        cells = {n: getattr(beta, n) for n in CELL_TYPES}
        cells[name] = cells[name].replace_ops(ops)
        c = genotype_cost(Genotype(**cells), config)
        deltas.append((c.params - base.params, c.madds - base.madds))
    masks = np.array(list(product((False, True), repeat=len(slots))), dtype=bool).reshape(-1, len(slots))
    delta = masks.astype(np.int64) @ np.array(deltas, dtype=np.int64).reshape(len(slots), 2)
    params, madds = base.params + delta[:, 0], base.madds + delta[:, 1]
    legal = (params <= base.params) & (madds <= base.madds)
    masks, params, madds = masks[legal], params[legal], madds[legal]
    row = np.array(encode(beta, surrogate.categories), dtype=np.int32)
    x = np.repeat(row[None, :], len(masks), axis=0)
    for j, (name, i) in enumerate(slots):
        e = getattr(beta, name).edges[i]
        column = edge_column(name, e.src, e.dst)
        x[masks[:, j], column] = surrogate.categories[COLUMNS[column]][SKIP]
    values = surrogate.score_rows(x)
    return KeepOrSkip(float(values[0]), masks, values, params, madds, slots)


def input_file(path: str | Path) -> list[tuple[str, Genotype]]:
    """Every genotype of a file, labelled by name: a DARTS-style ``genotypes.py`` (each ``NAME =
    Genotype(...)``), a zoo-layout JSON (``{"genotypes": {name: ...}}``), a JSON list, or text with one
    genotype a line (DARTS pairs or NAT triples). Each error names the file and the entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise NatError(f"{path}: cannot read the inputs ({err.__class__.__name__}: {getattr(err, 'strerror', err)})") \
            from None
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise NatError(f"{path}: malformed JSON ({err})") from None
        entries = (list(data["genotypes"].items()) if isinstance(data, dict) and isinstance(data.get("genotypes"), dict)
                   else list(enumerate(data)) if isinstance(data, list) else [(path.stem, data)])
        out = []
        for name, raw in entries:
            try:
                out.append((str(name), genotype_from_dict(raw)))
            except GenotypeError as err:
                raise err.located(source=f"{path}, entry {name}") from None
        return _non_empty(out, path)
    names = genotype_entries(text)
    if names:
        return _non_empty([(name, read_genotype_file(path, name)) for name in names], path)
    out = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                out.append((f"line {line_no}", parse_text(line)))
            except GenotypeError as err:
                raise err.located(source=f"{path} line {line_no}") from None
    return _non_empty(out, path)


def _non_empty(inputs: list, path: Path) -> list:
    if not inputs:
        raise NatError(f"{path}: no genotype in it")
    return inputs


def random_inputs(n: int, seed: int) -> list[tuple[str, Genotype]]:
    """``n`` seeded random DARTS-space architectures the surrogate can score, labelled by index."""
    if n < 1:
        raise NatError(f"--archs must be at least 1, got {n}")
    rng = random.Random(seed)
    return [(f"random-{i}", random_darts_genotype(rng)) for i in range(n)]


@dataclass
class SurrogateRow:
    """One input, what became of it, its surrogate values and costs (at the size asked for)."""

    label: str
    arch: str
    transformed_arch: str
    input: float
    transformed: float | None  # None: the result is outside what the surrogate scores (a null edge)
    oracle: float
    oracle_arch: str
    compact_params: int        # the cheapest keep-or-skip variant the surrogate scores no lower
    params_before: int
    params_after: int
    madds_before: int
    madds_after: int
    changed: int               # edges changed
    verdict: str

    @property
    def gain(self) -> float | None:
        return None if self.transformed is None else self.transformed - self.input


def run_surrogate_bench(surrogate: Surrogate, transformer: Transformer, inputs: Sequence[tuple[str, Genotype]], *,
                        selection: Selection = Selection(greedy=True), batches: list | None = None, seed: int = 0,
                        config: NetworkConfig = NetworkConfig(), show_progress: bool = False,
                        on_row: Callable[[SurrogateRow], None] | None = None) -> tuple[dict, list[SurrogateRow]]:
    """Transform each input with ``selection`` and grade input, result and oracle by the surrogate."""
    if transformer.space != "darts":
        raise NatError(f"{transformer.source}: trained on the {transformer.space} space; grading by the NAS-Bench-301 "
                       "surrogate needs a DARTS-space transformer (nat search --space darts)")
    for label, g in inputs:
        why = unscorable(g)
        if why:
            raise NatError(f"input {label}: the surrogate cannot score it: {why}")
    rows = []
    cost_cache: dict[Genotype, Cost] = {}

    def cost(g: Genotype) -> Cost:
        if g not in cost_cache:
            cost_cache[g] = genotype_cost(g, config)
        return cost_cache[g]

    for i, (label, beta) in enumerate(progress(inputs, total=len(inputs), desc="nat bench", enabled=show_progress,
                                                unit="arch")):
        oracle = keep_or_skip(beta, surrogate, config)
        with torch.no_grad():
            result = transform(beta, transformer, selection, batches=batches, seed=seed + i, cost_fn=cost)
        alpha = result.genotype
        value = None if unscorable(alpha) else float(surrogate.score([alpha])[0])
        best = oracle.best()
        row = SurrogateRow(label=label, arch=format_pairs(beta), transformed_arch=format_pairs(alpha),
                           input=oracle.input_value, transformed=value, oracle=float(oracle.values[best]),
                           oracle_arch=format_pairs(oracle.genotype(beta, best)),
                           compact_params=int(oracle.params[oracle.cheapest_no_lower()]),
                           params_before=result.cost_before.params, params_after=result.cost_after.params,
                           madds_before=result.cost_before.madds, madds_after=result.cost_after.madds,
                           changed=len(result.changed), verdict=result.verdict)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return summarise_surrogate(rows, surrogate, transformer, selection, batches, seed, config), rows


def summarise_surrogate(rows: list[SurrogateRow], surrogate: Surrogate, transformer: Transformer,
                        selection: Selection, batches: list | None, seed: int, config: NetworkConfig) -> dict:
    scored = [r for r in rows if r.transformed is not None]
    col = lambda rs, name: np.array([getattr(r, name) for r in rs], dtype=float)  # noqa: E731
    inp, orc = col(rows, "input"), col(rows, "oracle")
    gains = col(scored, "transformed") - col(scored, "input") if scored else np.zeros(0)
    oracle_gain = float((orc - inp).mean())
    mean_gain = float(gains.mean()) if scored else None
    params_b, params_a = col(rows, "params_before"), col(rows, "params_after")
    eps = 1e-9
    return {
        "n": len(rows), "scored": len(scored), "unscorable": len(rows) - len(scored), "seed": seed,
        "surrogate": surrogate.folder, "transformer": transformer.source, "policy": transformer.policy.name,
        "selection": selection.describe(judged=bool(batches)), "selection_options": selection.as_dict(),
        "supernet_images": sum(len(y) for _, y in batches) if batches else 0,
        "size": {"dataset": config.dataset, "channels": config.resolved().channels, "layers": config.resolved().layers},
        "mean_input": float(inp.mean()), "mean_gain": mean_gain,
        "improved": float((gains > eps).mean()) if scored else None,
        "unchanged": float((np.abs(gains) <= eps).mean()) if scored else None,
        "worsened": float((gains < -eps).mean()) if scored else None,
        "worse_by_0.1": float((gains < -0.1).mean()) if scored else None,
        "changed": float(np.mean([r.changed > 0 for r in rows])),
        "oracle_mean": float(orc.mean()), "oracle_gain": oracle_gain,
        "share_of_oracle": (mean_gain / oracle_gain) if scored and oracle_gain > 0 else None,
        "params_before": float(params_b.mean()), "params_after": float(params_a.mean()),
        "params_change": float((params_a / params_b - 1).mean()),
        "compact_oracle_params_change": float((col(rows, "compact_params") / params_b - 1).mean()),
        "notes": ["the surrogate is read only to grade results and to find the oracle; never to select",
                  "oracle: the best transformation the surrogate can score (every op kept or made a skip, "
                  "no costlier); null edges are outside what it was fitted on"],
    }


def format_surrogate_report(s: dict) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:5.1f}%"  # noqa: E731
    gain = lambda v: "n/a" if v is None else f"{v:+.3f}"  # noqa: E731
    size = s["size"]
    lines = [
        f"nat bench: {s['n']:,} DARTS-space architectures graded by the NAS-Bench-301 surrogate in {s['surrogate']}",
        f"transformer: {s['transformer']} ({s['policy']})",
        f"selection: {s['selection']}", "",
        f"{'':<26}{'mean acc':>10}{'mean gain':>11}{'improved':>10}{'unchanged':>11}{'worsened':>10}",
        f"{'input':<26}{s['mean_input']:>9.3f}%",
        f"{'NAT':<26}{'':>10}{gain(s['mean_gain']):>11}{pct(s['improved']):>10}{pct(s['unchanged']):>11}"
        f"{pct(s['worsened']):>10}",
        f"{'oracle (keep-or-skip)':<26}{s['oracle_mean']:>9.3f}%{s['oracle_gain']:>+11.3f}", "",
        f"share of the oracle's gain: {pct(s['share_of_oracle']).strip()}; worse by more than 0.1 points: "
        f"{pct(s['worse_by_0.1']).strip()}; results the surrogate cannot score (a null edge): {s['unscorable']}",
        f"mean params at {size['dataset']}, C={size['channels']}, L={size['layers']}: {s['params_before']:,.0f} -> "
        f"{s['params_after']:,.0f} ({100 * s['params_change']:+.1f}%); the cheapest keep-or-skip transformation the "
        f"surrogate scores no lower: {100 * s['compact_oracle_params_change']:+.1f}%",
    ]
    lines += [f"note: {n}" for n in s["notes"]]
    return "\n".join(lines)


def surrogate_rows_as_dicts(rows: list[SurrogateRow]) -> list[dict]:
    return [{**asdict(r), "gain": r.gain} for r in rows]
