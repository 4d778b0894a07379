"""How many CPU threads torch computes with.

torch's default is one thread per core. On a machine that other work shares, that collapses:
each of torch's many small ops waits for every thread, and a thread that lost its core stalls
them all (measured on 2 cores with one other busy process: ``bench/bench_threads.py``). The
default here, ``auto``, takes the cores that are idle when the command starts (sampled from
``/proc/stat`` over a fifth of a second; elsewhere the load average, which lags by a minute), at
least one, shared among torchrun's local processes; an ``OMP_NUM_THREADS`` in the environment is
taken as the user's choice. A number sets it exactly.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from ..errors import NatError

__all__ = ["resolve_threads", "apply_threads", "threads_for_call"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs since boot, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def _busy_cores(window_s: float = 0.2) -> float:
    """How many cores other work keeps busy right now (this process sleeps while it samples)."""
    import time
    first = _cpu_times()
    if first is not None:
        time.sleep(window_s)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            idle_share = (second[0] - first[0]) / (second[1] - first[1])
            return (os.cpu_count() or 1) * (1 - idle_share)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def resolve_threads(threads: int | str | None = "auto") -> int:
    """``threads`` as a count: a positive int as it is; ``None`` or ``"auto"``: the idle cores."""
    if threads is None or threads == "auto":
        omp = os.environ.get("OMP_NUM_THREADS", "")
        if omp.isdigit() and int(omp) >= 1:  # the user (or torchrun) already chose: respect it
            return int(omp)
        cores = _cores()
        busy = _busy_cores()
        # torchrun starts LOCAL_WORLD_SIZE processes on this machine: they share the idle cores
        local = os.environ.get("LOCAL_WORLD_SIZE", "1")
        local = max(1, int(local)) if local.isdigit() else 1
        return max(1, min(cores, round(cores - busy)) // local)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise NatError(f"--threads must be a positive number or 'auto', got {threads!r}")
    return threads


def apply_threads(threads: int | str | None = "auto") -> int:
    """Set torch's intra-op threads; returns the count set."""
    import torch
    n = resolve_threads(threads)
    torch.set_num_threads(n)
    return n


@contextmanager
def threads_for_call(threads: int | str | None = "auto"):
    """Compute with ``threads`` (``auto``: the idle cores) for the duration of a library call, then
    give the caller back its own setting; ``None`` leaves torch's setting alone. What the command
    line does for a whole process, done for one call of the Python API."""
    if threads is None:
        yield None
        return
    import torch
    before = torch.get_num_threads()
    n = apply_threads(threads)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def apply_resumed_threads(asked: int | str | None, recorded: int | None) -> tuple[int, str | None]:
    """Set torch's threads for a run that may be resumed: ``asked`` (a count; ``None`` or ``"auto"``:
    the idle cores), except that a resumed run under auto computes with the count it ``recorded``.
    Floating-point sums depend on how work is split among threads, so the same count is what keeps
    a resume bit-identical; an explicit other count is taken, and the returned line (else ``None``)
    says that exactness is given up. Returns ``(count set, that line)``."""
    auto = asked is None or asked == "auto"
    n = apply_threads(recorded if recorded is not None and auto else asked)
    if recorded is None or n == recorded:
        return n, None
    return n, (f"resumed with {n} thread(s) where the run computed with {recorded}: it continues, but is no "
               "longer bit-identical to a run never stopped (leave --threads out to reuse its count)")

