"""Inputs that are not regular files, or not text, or far larger than they should be: what is read
is capped (not what the file claims: /dev/zero says it is empty), anything but a regular file is
refused before it is opened for reading (a FIFO would wait for ever), and each gets one line."""

from __future__ import annotations

import os

import pytest

from nat.cli import main


def _one_line(capsys, code: int, *needles: str) -> None:
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("nat: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and all(n in err for n in needles), err


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize("argv", [
    ["show", "{f}"], ["cost", "{f}"], ["transform", "{f}", "--threads", "1"],
    ["train", "DARTS", "--config", "{f}", "--data", "x", "--out", "{tmp}/run"],
    ["search", "--config", "{f}", "--data", "x", "--out", "{tmp}/run"],
    ["bench", "--table", "{f}", "--archs", "2"],
    ["train", "DARTS", "--data", "{f}", "--out", "{tmp}/run", "--preset", "tiny"],
])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_pipe_or_a_device_is_refused_in_one_line(capsys, tmp_path, fifo, argv, kind):
    f, what = (fifo, "FIFO") if kind == "fifo" else ("/dev/zero", "character device")
    code = main([a.format(f=f, tmp=tmp_path) for a in argv])
    _one_line(capsys, code, what, "not a regular file")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_config_far_larger_than_a_config_is_refused_without_parsing(capsys, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (2**20 + 10))
    _one_line(capsys, main(["train", "DARTS", "--config", str(big), "--data", "x", "--out", str(tmp_path / "r")]),
              "more than 1,048,576 bytes")


def test_a_config_that_is_not_utf8_names_the_byte(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"epochs: 3\n# caf\xe9\n")
    _one_line(capsys, main(["search", "--config", str(bad), "--data", "x", "--out", str(tmp_path / "r")]),
              "not UTF-8", "byte 15")


def test_a_deeply_nested_config_is_one_line(capsys, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 100_000 + "]" * 100_000)
    code = main(["train", "DARTS", "--config", str(deep), "--data", "x", "--out", str(tmp_path / "r")])
    _one_line(capsys, code, "deep.yaml")
