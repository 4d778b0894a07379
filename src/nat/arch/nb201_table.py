"""A benchmark table: the fully trained accuracy of every NAS-Bench-201 cell, read from CSV.

The CSV has a header row, an architecture column named ``arch`` or ``arch_str`` (the official
API's name) holding benchmark strings, and one or more numeric columns; ``metric`` names the one
to use, and may be left out when there is only one. The table must cover all 15,625 cells: the
oracle of ``nat bench`` enumerates every legal transformation of every input, so a gap would
silently bias it. Values are kept in the table's own unit -- percent when any value exceeds 1,
else fractions -- and :meth:`BenchTable.fraction` gives them in [0, 1], the unit of rewards.

Every problem is a one-line :class:`~nat.errors.NatError` naming the file (and the line).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.files import check_regular_file
from ..errors import GenotypeError, NatError
from . import nb201
from .genotype import Genotype

__all__ = ["ARCH_COLUMNS", "BenchTable", "load_table"]

ARCH_COLUMNS = ("arch", "arch_str")


@dataclass(frozen=True)
class BenchTable:
    """``values[code]`` is the metric of the cell with that code (:func:`nat.arch.nb201.encode`)."""

    path: str
    metric: str
    values: np.ndarray
    unit: str  # "percent" or "fraction"

    @property
    def scale(self) -> float:
        return 100.0 if self.unit == "percent" else 1.0

    def __getitem__(self, genotype: Genotype) -> float:
        return float(self.values[nb201.encode(genotype)])

    def fraction(self, genotype: Genotype) -> float:
        """The metric of ``genotype`` in [0, 1]."""
        return self[genotype] / self.scale

    def describe(self) -> str:
        return f"{self.path}, column {self.metric} ({self.unit})"


def _fail(path: Path, problem: str, line: int | None = None) -> NatError:
    return NatError(f"{path}{f' line {line}' if line else ''}: {problem}")


def load_table(path: str | Path, metric: str | None = None) -> BenchTable:
    """Read and check a table (see module docs)."""
    path = check_regular_file(path, "table")  # a FIFO or a device would be read without end
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        reason = getattr(err, "strerror", None) or err
        raise _fail(path, f"cannot read the table ({err.__class__.__name__}: {reason})") from None
    if not header:
        raise _fail(path, "the file is empty (expected a CSV header row)")
    header = [h.strip() for h in header]
    arch_col = next((c for c in ARCH_COLUMNS if c in header), None)
    if arch_col is None:
        raise _fail(path, f"no architecture column (expected one named {' or '.join(ARCH_COLUMNS)}; "
                          f"columns: {', '.join(header)})")
    others = [h for h in header if h != arch_col]
    if metric is None:
        first = next((r for r in rows if r), [])
        numeric = [h for h in others if len(first) == len(header) and _is_number(first[header.index(h)])]
        if len(numeric) != 1:
            listed = ", ".join(numeric or others) or "none"
            raise _fail(path, f"{'several' if numeric else 'no'} metric columns ({listed}): choose one with --metric")
        metric = numeric[0]
    elif metric not in others:
        raise _fail(path, f"no column '{metric}' (columns: {', '.join(header)})")
    a, m = header.index(arch_col), header.index(metric)
    code_of = {s: c for c, s in enumerate(nb201.all_strings())}
    values = np.full(nb201.N_CELLS, np.nan)
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise _fail(path, f"{len(row)} fields, the header has {len(header)}", line)
        text = row[a].strip()
        code = code_of.get(text)
        if code is None:
            try:
                nb201.parse_arch_string(text)  # names what is wrong with it
            except GenotypeError as err:
                raise _fail(path, str(err), line) from None
            raise _fail(path, f"{text!r} is not a NAS-Bench-201 string", line)  # e.g. inner spaces
        if not math.isnan(values[code]):
            raise _fail(path, f"a second row for {text}", line)
        value = row[m].strip()
        if not _is_number(value) or not math.isfinite(float(value)):
            raise _fail(path, f"column '{metric}' holds {value!r}, not a finite number", line)
        values[code] = float(value)
    missing = int(np.isnan(values).sum())
    if missing:
        raise _fail(path, f"{missing:,} of the {nb201.N_CELLS:,} NAS-Bench-201 cells have no row (the oracle "
                          "enumerates every legal transformation, so the table must cover the whole space)")
    unit = "percent" if values.max() > 1 else "fraction"
    return BenchTable(str(path), metric, values, unit)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
