"""Every count, size, rate and probability option refuses what makes no sense, in one line, before
any work (it once ran `nat transform --subset -5` for 29 seconds)."""

from __future__ import annotations

import pytest

from nat.cli import main

DATA = "no-such-data"  # never reached: the number is refused first


@pytest.mark.parametrize("argv", [
    ["transform", "DARTS", "--subset", "-5"],
    ["transform", "DARTS", "--candidates", "0"],
    ["transform", "DARTS", "--significance", "-1"],
    ["transform", "DARTS", "--tolerance", "nan"],
    ["transform", "DARTS", "--margin", "inf"],
    ["transform", "DARTS", "--proxy-weight", "-2"],
    ["bench", "--table", "t.csv", "--archs", "0"],
    ["bench", "--table", "t.csv", "--top", "0"],
    ["bench", "--table", "t.csv", "--top", "1.5"],
    ["bench", "--table", "t.csv", "--cells", "0"],
    ["bench", "--table", "t.csv", "--images", "-1"],
    ["bench", "--table", "t.csv", "--min-diff", "-0.5"],
    ["search", "--data", DATA, "--out", "{tmp}/s", "--epochs", "-5"],
    ["search", "--data", DATA, "--out", "{tmp}/s", "--subset", "-5"],
    ["search", "--data", DATA, "--out", "{tmp}/s", "--w-lr", "-1"],
    ["search", "--data", DATA, "--out", "{tmp}/s", "--entropy", "-1"],
    ["search", "--data", DATA, "--out", "{tmp}/s", "--batch-size", "0"],
    ["train", "DARTS", "--data", DATA, "--out", "{tmp}/t", "--epochs", "0"],
    ["train", "DARTS", "--data", DATA, "--out", "{tmp}/t", "--lr", "-1"],
    ["train", "DARTS", "--data", DATA, "--out", "{tmp}/t", "--drop-path", "2"],
    ["train", "DARTS", "--data", DATA, "--out", "{tmp}/t", "--seeds", "0"],
    ["compare-policies", "--transformer", "x", "--data", DATA, "--candidates", "0"],
    ["transform", "DARTS", "--threads", "0"],
])
def test_a_number_that_makes_no_sense_is_one_line(capsys, tmp_path, argv):
    with pytest.raises(SystemExit) as exit_info:  # argparse's own refusals exit; nat's return 2
        raise SystemExit(main([a.format(tmp=tmp_path) for a in argv]))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and "Traceback" not in "\n".join(err)
    assert err[-1].startswith(("nat: error:", "nat transform: error:", "nat bench: error:", "nat search: error:",
                               "nat train: error:", "nat compare-policies: error:"))
