"""Every command that writes checks its destination before it computes: a folder, a missing folder
(created, as run folders are), an unwritable or special file system each get one line and exit 2,
and whatever was computed is still shown."""

from __future__ import annotations

import json
import os

import pytest

from nat.cli import main

PROC = "/proc/nat-no-such-dir"  # a special file system: no file can be created there


def _one_line(capsys, code: int, what: str) -> str:
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("nat: error: cannot ") and err.count("\n") == 1 and what in err
    assert "Traceback" not in err
    return out


@pytest.mark.parametrize("argv, what", [
    (["transform", "DARTS", "--threads", "1", "-o", "{folder}"], "it is a folder"),
    (["transform", "DARTS", "--threads", "1", "-o", PROC + "/x.json"], "write the result"),
    (["transform", "DARTS", "--threads", "1", "--draw", PROC + "/x.svg"], "draw"),
    (["draw", "DARTS", "-o", PROC + "/x.svg"], "draw"),
    (["draw", "DARTS", "-o", "{svg_folder}"], "it is a folder"),
    (["export", "ResNet20", "-o", PROC + "/x.pt2"], "export"),
    (["export", "ResNet20", "-o", "{pt2_folder}"], "it is a folder"),
])
def test_a_bad_destination_is_refused_before_the_work(capsys, tmp_path, argv, what):
    folders = {key: tmp_path / f"a-folder{suffix}" for key, suffix in
               (("folder", ".json"), ("svg_folder", ".svg"), ("pt2_folder", ".pt2"))}
    for f in folders.values():
        f.mkdir()
    code = main([a.format(**folders) for a in argv])
    assert _one_line(capsys, code, what) == ""  # refused before any work: nothing computed, nothing printed


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused_before_the_work(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _one_line(capsys, main(["transform", "DARTS", "--threads", "1", "-o", str(locked / "x.json")]), "denied")
    finally:
        locked.chmod(0o700)


def test_a_missing_folder_is_created(capsys, tmp_path):
    target = tmp_path / "new" / "deeper" / "nat.json"
    assert main(["transform", "DARTS", "--threads", "1", "-o", str(target), "--draw", str(tmp_path / "d" / "x.svg")]) == 0
    assert json.loads(target.read_text())["normal"] and (tmp_path / "d" / "x.svg").read_text().startswith("<svg")
    assert f"wrote {target}" in capsys.readouterr().out


def test_a_disk_failing_after_the_work_still_shows_the_result(capsys, tmp_path, monkeypatch):
    import nat.arch.formats as formats

    def full(*_, **__):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(formats, "write_text_atomic", full)
    code = main(["transform", "DARTS", "--threads", "1", "-o", str(tmp_path / "x.json")])
    out = _one_line(capsys, code, "No space left on device")
    assert "result: Genotype(" in out and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("suffix", [".pt", ".pt2", ".safetensors"])
def test_an_export_onto_a_full_disk_is_one_line_and_leaves_nothing(capsys, tmp_path, monkeypatch, suffix):
    # torch's own zip writer aborts the process on a full disk (exit 134); nat serialises in memory
    # and writes with Python, whose failure is reported
    pytest.importorskip("safetensors") if suffix == ".safetensors" else None
    import nat.runtime.atomic as atomic

    def full(_fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic.os, "fsync", full)
    code = main(["export", "ResNet20", "-o", str(tmp_path / f"x{suffix}")])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no half file, no temporary left


def test_a_pipe_or_device_as_destination_is_refused_before_the_work(capsys, tmp_path):
    fifo = tmp_path / "cell.svg"
    os.mkfifo(fifo)
    _one_line(capsys, main(["draw", "DARTS", "-o", str(fifo)]), "not a regular file")
    _one_line(capsys, main(["transform", "DARTS", "--threads", "1", "-o", str(tmp_path / "x.json"),
                            "--draw", str(fifo)]), "not a regular file")
