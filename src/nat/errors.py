"""One exception type for every user-facing mistake.

The CLI prints ``str(error)`` as a single line and exits with status 2, so every message must
say *where* (file, cell, edge) and *what*; tracebacks are for programming errors only.
"""

from __future__ import annotations

__all__ = ["NatError", "GenotypeError", "RunAborted", "RunStopped"]


class NatError(Exception):
    """A problem with user input (a file, an option, an architecture name)."""

    exit_code = 2


class RunAborted(NatError):
    """A long run stopped on purpose (e.g. a NaN loss); its last good checkpoint is kept."""

    exit_code = 1


class RunStopped(NatError):
    """A long run stopped by a signal (Ctrl-C, SIGTERM from a scheduler); the message says what was
    kept and how to resume. Exits ``128 + signum``, as a shell reports a killed process."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


class GenotypeError(NatError):
    """An invalid architecture, located as precisely as we know.

    Args:
        problem: what is wrong, e.g. ``"unknown op 'conv_9x9'"``.
        cell: ``"normal"`` or ``"reduce"`` when the problem is inside one cell.
        edge: the offending edge ``(op, from_node, to_node)``.
        index: the edge's position in the cell's edge list.
        source: the file (or zoo name) the genotype came from.
    """

    def __init__(self, problem: str, *, cell: str | None = None, edge: tuple | None = None,
                 index: int | None = None, source: str | None = None) -> None:
        self.problem = problem
        self.cell = cell
        self.edge = edge
        self.index = index
        self.source = source
        super().__init__(str(self))

    def located(self, *, source: str | None = None, cell: str | None = None) -> "GenotypeError":
        """A copy with the file and/or cell filled in (keeps what is already known)."""
        return GenotypeError(self.problem, cell=self.cell or cell, edge=self.edge, index=self.index,
                             source=self.source or source)

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.cell:
            where.append(f"{self.cell} cell")
        if self.edge is not None:
            op, src, dst = self.edge
            at = f"edge {self.index} " if self.index is not None else "edge "
            where.append(f"{at}('{op}', {src}, {dst})")
        return ": ".join(where + [self.problem])
