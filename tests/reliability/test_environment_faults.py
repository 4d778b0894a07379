"""Faults of the environment a user can cause: two runs on one folder, unwritable or odd --out
folders, a full disk, checkpoints that load but are not ours, a read-only cache.

Each must end in one line (exit 2, or 1 for a run that failed midway), with nothing already
written damaged.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from nat.arch.zoo import resolve
from nat.cli import main
from nat.errors import NatError, RunAborted
from nat.runtime import checkpoint as checkpoint_module
from nat.runtime.checkpoint import load_checkpoint, save_checkpoint
from nat.runtime.lock import LOCK_NAME, FolderInUse, RunLock
from nat.train import TrainConfig, Trainer

DARTS = resolve("DARTS")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory, image_folder) -> Path:
    return image_folder(tmp_path_factory.mktemp("data") / "colours", {"train": 16, "test": 4}, ("a", "b"))


def tiny(data: Path, cache: Path, **changes) -> TrainConfig:
    base = dict(data=str(data), cache_dir=str(cache), channels=4, layers=3, epochs=1, batch_size=8, lr=0.05,
                log_every=2, device="cpu", cutout=0)
    return TrainConfig(**(base | changes))


def quiet(*args, **kwargs) -> Trainer:
    return Trainer(*args, log=None, bars=False, **kwargs)


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != LOCK_NAME}


@pytest.fixture(scope="module")
def finished(data, cache, tmp_path_factory) -> Path:
    """A finished one-epoch `nat train` run folder."""
    out = tmp_path_factory.mktemp("finished") / "run"
    quiet(*DARTS, tiny(data, cache), out).fit()
    return out


# -- the run-folder lock -----------------------------------------------------------------------------
def _cli_in_subprocess(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nat", *argv], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def test_a_second_train_on_a_held_folder_exits_2_naming_the_holder(data, cache, tmp_path):
    out = tmp_path / "run"
    with RunLock(out):  # this process is "the first run"
        done = _cli_in_subprocess("train", "DARTS", "--out", str(out), "--data", str(data), "--cache-dir",
                                  str(cache), "-C", "4", "-L", "3", "--epochs", "1", "--batch-size", "8",
                                  cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        line = one_line(done.stderr)
        assert f"in use by another nat process (PID {os.getpid()})" in line and str(out) in line
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written by the second
    quiet(*DARTS, tiny(data, cache), out).fit()  # released: the folder is usable again
    assert (out / "summary.json").exists()


def test_a_second_search_on_a_held_folder_exits_2(tmp_path):
    from nat.search.config import PRESETS
    out = tmp_path / "search"
    with RunLock(out):
        done = _cli_in_subprocess("search", "--out", str(out), "--preset", "tiny", "--space", "nb201",
                                  "--reward", "table:nonexistent.csv", cwd=tmp_path)
    assert "tiny" in PRESETS
    assert done.returncode == 2
    assert f"in use by another nat process (PID {os.getpid()})" in one_line(done.stderr)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_the_lock_is_reentrant_in_one_process_and_exclusive_across_processes(tmp_path):
    folder = tmp_path / "f"
    with RunLock(folder) as outer, RunLock(folder) as inner:
        assert outer.held and inner.held
        probe = textwrap.dedent(f"""
            from nat.runtime.lock import RunLock, FolderInUse
            try:
                RunLock({str(folder)!r}).acquire()
            except FolderInUse as err:
                print("refused:", err)
            else:
                print("acquired")
        """)
        held = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert held.stdout.startswith("refused:") and f"PID {os.getpid()}" in held.stdout
    free = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert free.stdout.strip() == "acquired"


def test_a_lock_left_by_a_killed_process_is_taken_over_and_reported(data, cache, tmp_path, capsys):
    out = tmp_path / "run"
    # a holder that died by kill -9: the OS dropped its lock, only its note remains
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from nat.runtime.lock import RunLock
        RunLock({str(out)!r}).acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    with pytest.raises(FolderInUse):
        RunLock(out).acquire()
    child.kill()
    child.wait()
    quiet(*DARTS, tiny(data, cache), out).fit()
    err = capsys.readouterr().err
    assert f"previous process on this folder ({child.pid} " in err and "killed or crashed" in err
    assert (out / "summary.json").exists()
    assert (out / LOCK_NAME).read_text() == ""  # released cleanly this time: nothing to report next time


def test_two_trains_started_together_one_runs_one_is_refused(data, cache, tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "nat", "train", "DARTS", "--out", str(out), "--data", str(data), "--cache-dir",
            str(cache), "-C", "4", "-L", "3", "--epochs", "2", "--batch-size", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "in use by another nat process" in refused or "already holds a run" in refused
    epochs = [line for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert len(epochs) == 2  # one run's epochs, not two interleaved


# -- --out that cannot be written ----------------------------------------------------------------------
def test_out_that_is_a_file_is_one_line(data, cache, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("keep me")
    code, _, err = cli(capsys, "train", "DARTS", "--out", out, "--data", data, "--cache-dir", cache,
                       "-C", "4", "-L", "3", "--epochs", "1")
    assert code == 2 and "exists and is not a folder" in one_line(err)
    assert out.read_text() == "keep me"


def test_out_on_a_read_only_file_system_is_one_line(data, cache, tmp_path, capsys, monkeypatch):
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if tmp_path in self.parents or self == tmp_path / "ro":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, _, err = cli(capsys, "train", "DARTS", "--out", tmp_path / "ro" / "run", "--data", data,
                       "--cache-dir", cache, "-C", "4", "-L", "3", "--epochs", "1")
    assert code == 2 and "Read-only file system" in one_line(err)


def test_a_full_disk_while_saving_fails_in_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 part")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.torch, "save", full)
    with pytest.raises(RunAborted) as failed:
        save_checkpoint({"epoch": 2}, path)
    message = str(failed.value)
    assert failed.value.exit_code == 1 and "\n" not in message
    assert "No space left on device" in message and "previous checkpoint is intact" in message
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


# -- checkpoints that load but are not ours ------------------------------------------------------------
def _resume(capsys, folder: Path, data: Path, cache: Path) -> tuple[int, str]:
    code, _, err = cli(capsys, "train", "DARTS", "--out", folder, "--resume", "--data", data, "--cache-dir",
                       cache, "-C", "4", "-L", "3", "--epochs", "1", "--batch-size", "8")
    return code, err


def _copy_with(finished: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    for p in finished.iterdir():
        if p.is_file() and p.name != LOCK_NAME:
            (folder / p.name).write_bytes(p.read_bytes())
    state = load_checkpoint(folder / "last.pt")
    torch.save(change(state), folder / "last.pt")
    return folder


def _missing_model(state):
    del state["model"]
    return state


def _wrong_shapes(state):
    name = next(k for k, v in state["model"].items() if v.dim() == 4)
    state["model"][name] = torch.zeros(3, 3, 1, 1)
    return state


def _mistyped_config(state):
    state["config"]["lr"] = "fast"
    return state


def _list(state):
    return [1, 2, 3]


def _edited(field, value):
    def change(state):
        state[field] = value
        return state
    return change


@pytest.mark.parametrize("change, expect", [
    (_list, "not a nat checkpoint (it holds a list, not a dict)"),
    (_edited("epoch", "x"), "field 'epoch' is 'x'"),
    (_edited("epoch", -5), "field 'epoch' is -5"),
    (_edited("partial", "x"), "field 'partial' is 'x'"),
    (_edited("best", "x"), "field 'best' is 'x'"),
    (_edited("history", [{}, {}, {}]), "field 'history' is 3 rows"),
    (_edited("threads", 0), "field 'threads' is 0"),
    (_missing_model, "malformed checkpoint (missing 'model')"),
    (_wrong_shapes, "malformed checkpoint"),
    (_mistyped_config, "config is not one this version reads"),
], ids=["a list", "epoch x", "epoch -5", "partial x", "best x", "history", "threads 0", "missing keys",
        "wrong tensor shapes", "mistyped config field"])
def test_malformed_checkpoints_are_refused_in_one_line_and_left_unchanged(finished, data, cache, tmp_path,
                                                                          capsys, change, expect):
    folder = _copy_with(finished, tmp_path, change)
    before = snapshot(folder)
    code, err = _resume(capsys, folder, data, cache)
    assert code == 2 and expect in one_line(err)
    assert snapshot(folder) == before


def test_search_resume_on_a_train_folder_says_what_it_is(finished, tmp_path, capsys):
    before = snapshot(finished)
    code, _, err = cli(capsys, "search", "--resume", "--out", finished)
    assert code == 2
    assert "not a `nat search` checkpoint (a `nat train` run: continue it with `nat train ... --resume`)" in one_line(err)
    assert snapshot(finished) == before


class _Opaque:  # pickled by reference: loading it would run import machinery
    pass


def test_an_untrusted_checkpoint_is_refused_without_torchs_advice(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"model": _Opaque()}, path)
    with pytest.raises(NatError) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert "not a nat checkpoint, or not one to trust" in message
    assert "weights_only" not in message and "\n" not in message


# -- a read-only cache --------------------------------------------------------------------------------
def test_a_read_only_cache_is_said_once_in_one_line(data, tmp_path, capsys, monkeypatch):
    from nat.data import cache as cache_module
    from nat.data import load_dataset

    def refuse(entry, dataset):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(entry))

    monkeypatch.setattr(cache_module, "_save", refuse)
    dataset = load_dataset(str(data), cache_dir=tmp_path / "ro-cache", progress=False)
    assert len(dataset.train_images) == 32
    err = capsys.readouterr().err
    line = one_line(err)
    assert "could not cache decoded data" in line and "Permission denied" in line


# -- run folders that move --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def relative_run(data, cache, tmp_path_factory) -> Path:
    """A run trained with its data given as a path relative to the folder it was started from."""
    home = tmp_path_factory.mktemp("home")
    before = os.getcwd()
    os.chdir(data.parent)
    try:
        out = home / "run"
        quiet(*DARTS, tiny(Path(data.name), cache), out).fit()
    finally:
        os.chdir(before)
    return out


def test_a_run_records_its_data_as_given_and_resolved(relative_run, data):
    state = load_checkpoint(relative_run / "last.pt")
    assert state["config"]["data"] == data.name
    assert state["data_resolved"] == str(data.resolve())


def test_evaluate_from_another_folder_finds_the_data_by_its_resolved_path(relative_run, tmp_path, capsys,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # data.name leads nowhere from here
    code, out, err = cli(capsys, "evaluate", relative_run, "--json")
    assert code == 0, err
    assert '"images": 8' in out


def test_evaluate_says_to_pass_data_when_neither_path_leads_there(relative_run, tmp_path, capsys, monkeypatch):
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in relative_run.iterdir():
        (moved / p.name).write_bytes(p.read_bytes())
    state = load_checkpoint(moved / "last.pt")
    state["data_resolved"] = str(tmp_path / "gone")
    torch.save(state, moved / "last.pt")
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "evaluate", moved)
    line = one_line(err)
    assert code == 2 and "training data" in line and "is not found from" in line and "pass --data PATH" in line


@pytest.mark.parametrize("change", [_list, _missing_model, _wrong_shapes, _mistyped_config],
                         ids=["a list", "missing keys", "wrong tensor shapes", "mistyped config field"])
def test_evaluate_refuses_malformed_checkpoints_in_one_line(finished, tmp_path, capsys, change):
    folder = _copy_with(finished, tmp_path, change)
    code, _, err = cli(capsys, "evaluate", folder)
    assert code == 2 and "checkpoint" in one_line(err)


def test_resume_from_another_folder_finds_the_data(relative_run, cache, tmp_path, capsys, monkeypatch):
    moved = tmp_path / "run"
    moved.mkdir()
    for p in relative_run.iterdir():
        if p.name != LOCK_NAME:
            (moved / p.name).write_bytes(p.read_bytes())
    monkeypatch.chdir(tmp_path)
    trainer = quiet(*DARTS, tiny(Path("colours"), cache, epochs=1), moved, resume=True)
    assert Path(trainer.cfg.data).is_absolute() and trainer.cfg.data.endswith("colours")
    trainer.fit()


# -- the same command again (a cluster requeue) --------------------------------------------------------
def test_train_requeue_starts_resumes_and_refuses_only_a_finished_run(data, cache, tmp_path, capsys):
    from nat.train.trainer import Interrupted
    out = tmp_path / "run"
    argv = ["train", "DARTS", "--out", out, "--data", data, "--cache-dir", cache, "-C", "4", "-L", "3",
            "--epochs", "2", "--batch-size", "8", "--requeue"]
    # the first attempt dies after epoch 1 (a preempted job)
    trainer = quiet(*DARTS, tiny(data, cache, epochs=2), out,
                    on_epoch=lambda t, row: t.request_stop() if row["epoch"] == 1 else None)
    with pytest.raises(Interrupted):
        trainer.fit()
    code, _, err = cli(capsys, *argv)  # requeued: resumes
    assert code == 0, err
    rows = [line for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) == 2
    code, _, err = cli(capsys, *argv)  # again: finished, the only refusal
    assert code == 2 and "nothing to requeue, the run is finished" in one_line(err)
    fresh = tmp_path / "fresh"
    code, _, err = cli(capsys, *[a if a != out else fresh for a in argv])  # nothing there: starts
    assert code == 0 and (fresh / "summary.json").exists()
