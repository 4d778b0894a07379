"""--threads on every compute command, and the ``auto`` default that does not collapse on a
shared machine (measured by bench/bench_threads.py; here its decisions)."""

from __future__ import annotations

import pytest
import torch

from nat.cli import build_parser, main
from nat.errors import NatError
from nat.runtime import threads as threads_module
from nat.cli.options import parse_threads
from nat.runtime.threads import resolve_threads


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _machine(monkeypatch, cores: int, busy_share: float):
    """A machine of ``cores`` cores whose CPUs are ``busy_share`` busy in /proc/stat's terms."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    ticks = iter([(0, 0), (int(1000 * (1 - busy_share)), 1000)])
    monkeypatch.setattr(threads_module, "_cpu_times", lambda: next(ticks))
    monkeypatch.setattr(threads_module, "_cores", lambda: cores)
    monkeypatch.setattr(threads_module.os, "cpu_count", lambda: cores)
    monkeypatch.setattr("time.sleep", lambda _s: None)


@pytest.mark.parametrize("cores, busy_share, expect", [
    (2, 0.0, 2),    # a quiet 2-core machine: both cores
    (2, 0.5, 1),    # another job holds one core: the other
    (2, 1.0, 1),    # all busy: never fewer than one
    (16, 0.25, 12),
    (8, 0.9, 1),
])
def test_auto_takes_the_idle_cores(monkeypatch, cores, busy_share, expect):
    _machine(monkeypatch, cores, busy_share)
    assert resolve_threads("auto") == expect


def test_auto_falls_back_to_the_load_average_without_proc_stat(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads_module, "_cpu_times", lambda: None)
    monkeypatch.setattr(threads_module, "_cores", lambda: 4)
    monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (3.2, 0.0, 0.0))
    assert resolve_threads(None) == 1


def test_a_number_is_taken_as_given_and_nonsense_is_refused():
    assert resolve_threads(3) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(NatError, match="--threads must be a positive number or 'auto'"):
            resolve_threads(bad)
    assert parse_threads("auto") == "auto" and parse_threads("4") == 4


@pytest.mark.parametrize("command", [
    ["evaluate", "RUN"], ["search", "--out", "R"], ["transform", "DARTS"], ["compare-policies", "--transformer", "R", "--data", "D"],
    ["bench", "--table", "T", "--transformer", "R"], ["train", "DARTS", "--out", "R"],
])
def test_every_compute_command_takes_threads(command):
    args = build_parser().parse_args(command + ["--threads", "1"])
    assert args.threads == 1


def test_bad_threads_is_one_argparse_line(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["transform", "DARTS", "--threads", "0"])
    assert stop.value.code == 2
    assert "a positive number or 'auto', got '0'" in capsys.readouterr().err


def test_transform_computes_with_the_threads_asked_for(capsys):
    torch.set_num_threads(2)
    assert main(["transform", "DARTS", "--threads", "1", "--json"]) == 0
    assert torch.get_num_threads() == 1


def test_auto_shares_the_idle_cores_among_the_processes_torchrun_starts(monkeypatch):
    _machine(monkeypatch, 16, 0.0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert resolve_threads("auto") == 4


def test_auto_respects_omp_num_threads_from_the_environment(monkeypatch):
    _machine(monkeypatch, 16, 0.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads("auto") == 3 and resolve_threads(5) == 5  # a number given still wins


def test_the_api_computes_with_the_threads_asked_for_and_restores_the_callers(monkeypatch):
    import torch

    import nat
    import nat.search.transform as transform_module
    seen = []
    real = transform_module.transform

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)
    monkeypatch.setattr(transform_module, "transform", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        nat.transform("DARTS", threads=1)
        assert seen[-1] == 1 and torch.get_num_threads() == 2
        nat.transform("DARTS", threads=None)  # leave the caller's setting alone
        assert seen[-1] == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # auto respects the environment's choice
        nat.transform("DARTS")
        assert seen[-1] == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
