"""How ``nat transform`` picks its answer: one frozen, validated set of choices.

The policy proposes candidates; the selection decides which one comes back. Its options travel
together from the command line or the Python API through :func:`nat.search.transform.transform`
and ``nat bench``, so they are one value, checked once where it is built.

Two objectives (``objective``):

- ``accurate`` (default): the candidate the supernet scores best, refined one legal edge change at
  a time if asked, returned only when it beats the input by ``significance`` paired standard
  errors of the held-out loss (else the input: "keep your input").
- ``compact``: the cheapest legal transformation whose held-out loss the supernet judges *no
  worse* than the input's: a non-inferiority test, not worse by more than ``tolerance`` (in
  percent of the input's loss) at ``significance`` standard errors. Costs are never higher under
  either objective; ``compact`` asks for them to be lower.

``no_null`` keeps every edge that carries an op: an op may become a skip, never null (a null edge
may still become a skip). It keeps the result inside what a NAS-Bench-301 surrogate can score, and
inside what users of the DARTS code base can load.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..errors import NatError
from .config import PROXIES, SCORES

__all__ = ["OBJECTIVES", "Selection"]

OBJECTIVES = ("accurate", "compact")


@dataclass(frozen=True)
class Selection:
    """The choices that turn a policy's proposals into one answer.

    Args:
        candidates: policy samples drawn (paper: 10).
        greedy: take every edge's most probable action instead of sampling (Maximum-GCN).
        subset: held-out images the supernet scores on (with ``--select-on``).
        score: ``fit`` (``exp(-cross-entropy)``) or ``accuracy`` (the paper's).
        refine: hill-climb the chosen cell, one legal edge change at a time, on the score.
        margin: points of score a change must gain over the input (``accurate``).
        significance: paired standard errors by which a change must beat the input (``accurate``)
            or be shown no worse than it (``compact``); ``None``: no test.
        tolerance: ``compact``: how much worse than the input's held-out loss, in percent of it,
            still counts as "no worse".
        proxy: a training-free score added to the supernet's (``synflow``).
        proxy_weight: its weight in standard units.
        objective: ``accurate`` or ``compact``.
        no_null: no edge that carries an op becomes null.
        max_changes: the result differs from the input in at most this many edges (``None``: any
            number). Each change a supernet judges adds its error; on good cells, where the true
            differences are tenths of a point, one judged change is worth more than a string of them.
    """

    candidates: int = 10
    greedy: bool = False
    subset: int = 2000
    score: str = "fit"
    refine: bool = False
    margin: float = 0.0
    significance: float | None = None
    tolerance: float = 0.0
    proxy: str | None = None
    proxy_weight: float = 1.0
    objective: str = "accurate"
    no_null: bool = False
    max_changes: int | None = None

    def __post_init__(self) -> None:
        for name in ("candidates", "subset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NatError(f"--{name} must be a whole number of at least 1, got {value!r}")
        if self.max_changes is not None and (isinstance(self.max_changes, bool) or not isinstance(self.max_changes, int)
                                             or self.max_changes < 1):
            raise NatError(f"--max-changes must be a whole number of at least 1, got {self.max_changes!r}")
        if self.score not in SCORES:
            raise NatError(f"--score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if self.objective not in OBJECTIVES:
            raise NatError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.proxy is not None and self.proxy not in PROXIES:
            raise NatError(f"--proxy must be one of {', '.join(PROXIES)}, got {self.proxy!r}")
        for name, least in (("margin", 0.0), ("tolerance", 0.0), ("proxy_weight", 0.0)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= least):
                raise NatError(f"--{name.replace('_', '-')} must be a finite number >= {least:g}, got {value!r}")
        if self.significance is not None and not (isinstance(self.significance, (int, float))
                                                  and math.isfinite(self.significance) and self.significance >= 0):
            raise NatError(f"--significance must be a finite number of standard errors >= 0, got {self.significance!r}")

    @property
    def scored(self) -> bool:
        """Whether this selection ranks by the supernet (and so needs held-out data)."""
        return (self.refine or self.margin > 0 or self.significance is not None or self.proxy is not None
                or self.objective == "compact")

    def with_options(self, **options) -> "Selection":
        """A copy with the options that are not ``None`` replaced (what a user asked for over a
        recommended selection); unknown names are refused."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise NatError(f"unknown selection option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return replace(self, **{k: v for k, v in options.items() if v is not None})

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> "Selection":
        """A selection saved with :meth:`as_dict` (a transformer file's recommendation); keys a
        newer version added and this one does not know are refused by name."""
        return cls().with_options(**saved)

    def describe(self, judged: bool = True) -> str:
        """One line a person reads: what ranks, what gates (``judged``: with the supernet on data)."""
        if self.greedy:
            how = "Maximum: the policy's most probable action on every edge"
        elif judged:
            how = f"Sampling: the best of {self.candidates} policy samples (the input among them) by the supernet's {self.score}"
        else:
            how = f"Sampling: the most probable of {self.candidates} candidates (not judged: no supernet scoring)"
        if self.proxy:
            how += f" + {self.proxy} (weight {self.proxy_weight:g})"
        if self.refine:
            how += ", refined one legal edge change at a time"
        if self.objective == "compact":
            how = ("compact: the cheapest legal transformation the supernet judges no worse than the input"
                   + (f" (loss within {self.tolerance:g}% at {self.significance:g} SE)" if self.significance is not None
                      else f" (loss within {self.tolerance:g}%)"))
        else:
            if self.margin:
                how += f"; kept only {self.margin:g} points above the input"
            if self.significance is not None:
                how += f"; kept only if its held-out loss beats the input's by {self.significance:g} SE"
        if self.no_null:
            how += "; no edge becomes null"
        if self.max_changes is not None:
            how += f"; at most {self.max_changes} edge(s) changed"
        return how
