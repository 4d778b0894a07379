"""The ``nat`` command: outputs, JSON shapes, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from nat.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cost_json_has_plain_counts(capsys):
    code, out, _ = run(capsys, "cost", "darts", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["arch"] == "DARTS" and data["channels"] == 36 and data["layers"] == 20
    assert 3.2e6 < data["params"] < 3.4e6 < data["params_with_aux"]
    assert isinstance(data["madds"], int) and 5.0e8 < data["madds"] < 5.5e8


def test_cost_options_change_the_size(capsys):
    _, out, _ = run(capsys, "cost", "DARTS", "NAT_DARTS", "-C", "16", "-L", "8", "--json")
    small = json.loads(out)
    assert [r["arch"] for r in small] == ["DARTS", "NAT_DARTS"]
    assert small[0]["params"] < 1e6 and small[1]["params"] < small[0]["params"]


def test_cost_of_a_file_in_every_format(capsys, tmp_path):
    _, reference, _ = run(capsys, "cost", "ENAS", "--json")
    for fmt in ("--json", "--format=triples", "--format=darts"):
        _, text, _ = run(capsys, "show", "ENAS", fmt)
        path = tmp_path / ("g.json" if fmt == "--json" else "g.txt")
        path.write_text(text)
        _, out, _ = run(capsys, "cost", str(path), "--json")
        assert {k: v for k, v in json.loads(out).items() if k != "arch"} == \
               {k: v for k, v in json.loads(reference).items() if k != "arch"}


def test_zoo_lists_everything(capsys):
    code, out, _ = run(capsys, "zoo", "--json")
    rows = json.loads(out)
    cells = [r for r in rows if r["network"].startswith("cells")]
    networks = {r["name"]: r for r in rows if not r["network"].startswith("cells")}
    assert code == 0 and len(cells) == 22
    assert {r["name"] for r in cells} >= {"DARTS", "NAT_NAONet", "MobileNetV2"}
    assert set(networks) >= {"VGG16", "ResNet20", "ResNet56", "MobileNetV2", "ResNet18", "ResNet50", "NAT_ResNet20"}
    # the networks as `nat cost` builds them, and no NAT network dearer than its original
    _, cost_out, _ = run(capsys, "cost", "NAT_MobileNetV2", "--json")
    assert json.loads(cost_out)["params"] == networks["NAT_MobileNetV2"]["params"]
    for name, r in networks.items():
        if name.startswith("NAT_"):
            original = networks[name[4:]]
            assert r["params"] <= original["params"] and r["madds"] <= original["madds"], name


def test_show_is_readable(capsys):
    _, out, _ = run(capsys, "show", "NAT_DARTS")
    assert "node 4: skip_connect [S] <- 1, skip_connect [S] <- 0" in out


def test_check_reports_the_broken_edge(capsys):
    code, out, _ = run(capsys, "check", "NAT_NAONet", "--vs", "NAONet", "-C", "16", "-L", "5", "--json")
    data = json.loads(out)
    assert code == 1 and not data["legal"] and data["costs_no_more"]
    assert data["violations"][0].startswith("reduce cell: edge 1 ('avg_pool_3x3', 1, 2)")
    code, _, _ = run(capsys, "check", "NAT_DARTS", "--vs", "DARTS", "-C", "16", "-L", "5")
    assert code == 0


@pytest.mark.parametrize("argv, expected", [
    (["cost", "NoSuchNet"], "'NoSuchNet' is neither a zoo architecture nor a file"),
    (["cost", "DARTS", "--channels", "7"], "--channels must be even"),
    (["transform", "DARTS", "-C", "9"], "--channels must be even"),  # the same size checks everywhere
    (["transform", "DARTS", "-L", "2"], "--layers must be at least 3"),
    (["show", "missing.json"], "missing.json: cannot read the genotype file"),
])
def test_errors_are_one_line_with_status_2(capsys, argv, expected):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("nat: error: ") and expected in err and err.count("\n") == 1


def test_bad_file_through_the_real_command(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"normal": {"edges": [["sep_conv_9x9", 0, 2], ["conv_3x3", 1, 2]], "concat": [2]},
                               "reduce": {"edges": [["conv_3x3", 0, 2], ["conv_3x3", 1, 2]], "concat": [2]}}))
    proc = subprocess.run([sys.executable, "-m", "nat", "cost", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"nat: error: {bad}: normal cell: edge 0 ('sep_conv_9x9', 0, 2): unknown op")


def test_draw_svg_and_mismatch(capsys, tmp_path):
    out_file = tmp_path / "d.svg"
    code, out, _ = run(capsys, "draw", "NAT_DARTS", "--vs", "DARTS", "-o", str(out_file))
    assert code == 0 and "<svg" in out_file.read_text()[:300]
    code, _, err = run(capsys, "draw", "DARTS", "--vs", "ENAS", "-o", str(tmp_path / "x.svg"))
    assert code == 2 and "cannot draw DARTS against ENAS" in err and err.count("\n") == 1
