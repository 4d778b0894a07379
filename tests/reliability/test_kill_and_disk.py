"""Real faults, not simulated ones: kill -9 of a running `nat train` / `nat search` at a random
moment (the resumed run must end identical to one never stopped), and real full and read-only
file systems (small tmpfs mounts; skipped cleanly where this user may not mount).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from nat.runtime.checkpoint import load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TIMING = ("images_per_s", "time", "time_s")


@pytest.fixture(scope="module")
def data(tmp_path_factory, image_folder) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "colours", {"train": 96, "test": 6}, ("a", "b"),
                        tinted=True)


def _train_argv(data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nat", "train", "DARTS", "--out", str(out), "--data", str(data), "--cache-dir",
            str(cache), "-C", "4", "-L", "3", "--epochs", "4", "--batch-size", "8", "--threads", "1",
            *extra]


def _untimed(rows):
    return [{k: v for k, v in r.items() if k not in TIMING and not k.endswith("_s")} for r in rows]


def _same_run(a: Path, b: Path, model_key: str, history_key: str = "history") -> None:
    sa, sb = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    flat_a, flat_b = _flatten(sa[model_key]), _flatten(sb[model_key])
    assert flat_a.keys() == flat_b.keys()
    for key in flat_a:
        assert torch.equal(flat_a[key], flat_b[key]), key
    assert _untimed(sa[history_key]) == _untimed(sb[history_key])


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out |= _flatten(v, f"{prefix}{k}.")
        return out
    return {prefix: tree} if isinstance(tree, torch.Tensor) else {}


def _kill_at_random(argv: list[str], delay: float, ready: str) -> bool:
    """Start ``argv``, wait for a stdout line containing ``ready`` (the work has begun), then
    kill -9 it ``delay`` seconds later; whether it was still running then."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, text=True)
    for line in proc.stdout:
        if ready in line:
            break
    time.sleep(delay)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return alive


@pytest.fixture(scope="module")
def reference_train(data, cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    subprocess.run(_train_argv(data, cache, out), check=True, capture_output=True, env=ENV, timeout=600)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_train_killed_at_a_random_moment_resumes_to_the_same_run(data, cache, reference_train, tmp_path, seed):
    out = tmp_path / "run"
    delay = random.Random(seed).uniform(0.0, 2.5)  # somewhere in the four epochs (about 0.7 s each)
    assert _kill_at_random(_train_argv(data, cache, out), delay, ready=" -> ")
    # the kill may land before the first checkpoint: then there is nothing to resume, and a fresh start it is
    resume = ["--resume"] if (out / "last.pt").exists() else []
    done = subprocess.run(_train_argv(data, cache, out, *resume), capture_output=True, text=True, env=ENV,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    _same_run(reference_train, out, "model")


SEARCH_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from nat.data import Dataset
    from nat.search.config import SearchConfig
    from nat.search.trainer import run_search
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (400, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 400)
    data = Dataset.from_arrays("fake", [str(i) for i in range(10)], images[:320], labels[:320], images[320:],
                               labels[320:])
    cfg = SearchConfig(channels=4, layers=3, batch_size=16, epochs=6, w_steps=3, theta_steps=3, policy="gcn",
                       device="cpu")
    resume = sys.argv[2] == "resume"
    run_search(None if resume else cfg, data, sys.argv[1], resume=resume)
""")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_search_killed_at_a_random_moment_resumes_to_the_same_run(tmp_path, seed):
    script = tmp_path / "search.py"
    script.write_text(SEARCH_SCRIPT)
    reference, out = tmp_path / "reference", tmp_path / "run"
    subprocess.run([sys.executable, str(script), str(reference), "start"], check=True, capture_output=True,
                   env=ENV, timeout=600)
    delay = random.Random(seed).uniform(0.0, 2.0)
    _kill_at_random([sys.executable, str(script), str(out), "start"], delay, ready="reward:")
    mode = "resume" if (out / "last.pt").exists() else "start"
    done = subprocess.run([sys.executable, str(script), str(out), mode], capture_output=True, text=True, env=ENV,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    _same_run(reference, out, "supernet")
    _same_run(reference, out, "policies")


# -- real file systems ----------------------------------------------------------------------------
@contextlib.contextmanager
def _tmpfs(where: Path, *options: str):
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_really_full_disk_fails_in_one_line_and_keeps_the_previous_checkpoint(data, cache, reference_train,
                                                                                tmp_path):
    size = (reference_train / "last.pt").stat().st_size
    # room for last.pt and best.pt, not for the next last.pt written beside them
    with _tmpfs(tmp_path / "small", f"size={int(size * 2.5) // 4096 * 4096 + 4096}") as small:
        out = small / "run"
        done = subprocess.run(_train_argv(data, cache, out), capture_output=True, text=True, env=ENV, timeout=600)
        assert done.returncode == 1, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.startswith("nat:")]
        assert len(lines) == 1 and "Traceback" not in done.stderr
        assert "could not write the checkpoint" in lines[0] and "previous checkpoint is intact" in lines[0]
        assert "No space left on device" in lines[0] or "the disk is probably full" in lines[0]
        state = load_checkpoint(out / "last.pt")  # still whole, still loadable
        assert state["epoch"] >= 0 and not list(out.glob(".*.tmp"))


def test_a_read_only_file_system_is_one_line(data, cache, tmp_path):
    with _tmpfs(tmp_path / "ro", "ro", "size=1m") as ro:
        done = subprocess.run(_train_argv(data, cache, ro / "run"), capture_output=True, text=True, env=ENV,
                              timeout=600)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Read-only file system" in done.stderr
