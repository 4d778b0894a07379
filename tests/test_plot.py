"""Curves: the SVG parses, a series is a line of its points inside the plot area, ticks are round."""

from __future__ import annotations

import json
import math
import random
import xml.etree.ElementTree as ET

import pytest

from nat.errors import NatError
from nat.runtime.plot import Panel, line_panels_svg, nice_ticks, plot_metrics

NS = "{http://www.w3.org/2000/svg}"
NAN, INF = float("nan"), float("inf")


def _panels(svg: str) -> list[ET.Element]:
    return [g for g in ET.fromstring(svg).iter(f"{NS}g") if g.get("class") == "panel"]


def _series(panel: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-name"): g for g in panel.iter(f"{NS}g") if g.get("class") == "series"}


def _lines(group: ET.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in line.get("points").split()]
            for line in group.iter(f"{NS}polyline")]


def _area(panel: ET.Element) -> tuple[float, float, float, float]:
    rect = next(r for r in panel.iter(f"{NS}rect") if r.get("class") == "plot-area")
    x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def _ticks(panel: ET.Element, axis: str) -> list[float]:
    return [float(t.text) for t in panel.iter(f"{NS}text") if t.get("class") == f"{axis}tick"]


def _is_nice(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 5, 10))


def _check_ticks(ticks: list[float], lo: float, hi: float) -> None:
    assert 4 <= len(ticks) <= 7, ticks  # 7 only where no 1/2/5 step gives 4-6 (0.85..0.95)
    steps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert all(math.isclose(s, steps[0], rel_tol=1e-6) for s in steps), ticks
    assert _is_nice(steps[0]), ticks
    assert ticks[0] <= lo + 1e-9 * abs(lo) and ticks[-1] >= hi - 1e-9 * abs(hi), (ticks, lo, hi)


def test_two_series_draw_one_line_each_inside_the_plot_area():
    train = [(e, 0.1 + 0.04 * e) for e in range(20)]
    test = [(e, 0.08 + 0.035 * e) for e in range(1, 20, 2)]
    loss = Panel("loss", {"loss": [(e, 2.3 / (e + 1)) for e in range(20)]})
    svg = line_panels_svg([Panel("top-1", {"train_top1": train, "test_top1": test}), loss], title="run")
    panels = _panels(svg)
    assert [p.get("data-title") for p in panels] == ["top-1", "loss"]
    series = _series(panels[0])
    assert list(series) == ["train_top1", "test_top1"]
    x0, y0, x1, y1 = _area(panels[0])
    for name, points in (("train_top1", train), ("test_top1", test)):
        (line,) = _lines(series[name])
        assert len(line) == len(points)
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in line)
        assert line == sorted(line)  # x grows left to right; y is not checked, only the order
    # Few points get markers, one per point.
    assert len(list(series["test_top1"].iter(f"{NS}circle"))) == len(test)
    assert len(_series(panels[1])) == 1


def test_svg_ticks_are_nice_and_cover_the_data():
    points = [(e, 0.37 + 0.5 * math.sin(e)) for e in range(3, 48)]
    (panel,) = _panels(line_panels_svg([Panel("p", {"s": points})]))
    _check_ticks(_ticks(panel, "x"), 3, 47)
    _check_ticks(_ticks(panel, "y"), min(y for _, y in points), max(y for _, y in points))
    assert not list(panel.iter(f"{NS}circle"))  # too many points for markers


@pytest.mark.parametrize("lo, hi", [(0, 1), (0.1, 0.93), (0, 19), (1, 20), (-3.2, 7.9), (0.3, 0.6),
                                    (1e-6, 3e-5), (-12345.6, 2e5), (99.5, 100.5), (0.85, 0.95)])
def test_nice_ticks_cover_the_range(lo, hi):
    _check_ticks(nice_ticks(lo, hi), lo, hi)


def test_nice_ticks_on_random_ranges():
    rng, sevens = random.Random(0), 0
    for _ in range(2000):
        scale = 10 ** rng.uniform(-8, 8)
        lo, hi = sorted(rng.uniform(-1, 1) * scale for _ in range(2))
        if hi > lo:
            ticks = nice_ticks(lo, hi)
            _check_ticks(ticks, lo, hi)
            sevens += len(ticks) == 7
            inside = nice_ticks(lo, hi, cover=False)
            assert lo - 1e-9 * abs(lo) <= inside[0] and inside[-1] <= hi + 1e-9 * abs(hi)
    assert sevens < 40


def test_nice_ticks_are_clean_decimals():
    assert nice_ticks(0.1, 0.93) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.3, 0.6) == [0.3, 0.4, 0.5, 0.6]
    assert nice_ticks(0, 19) == [0, 5, 10, 15, 20]
    assert nice_ticks(0.85, 0.95) == [0.84, 0.86, 0.88, 0.9, 0.92, 0.94, 0.96]
    with pytest.raises(ValueError):
        nice_ticks(1.0, 1.0)


def test_nan_and_inf_split_the_line():
    points = [(0, 1.0), (1, 2.0), (2, NAN), (3, 2.5), (4, INF), (5, 3.0), (6, 3.2), (NAN, 1.0)]
    (panel,) = _panels(line_panels_svg([Panel("p", {"s": points})]))
    group = _series(panel)["s"]
    assert [len(line) for line in _lines(group)] == [2, 2]
    assert len(list(group.iter(f"{NS}circle"))) == 5  # the lone point (3, 2.5) is still shown


def test_single_point_is_a_marker():
    (panel,) = _panels(line_panels_svg([Panel("p", {"one": [(3, 1.5)]})]))
    group = _series(panel)["one"]
    assert not _lines(group) and len(list(group.iter(f"{NS}circle"))) == 1


@pytest.mark.parametrize("value", [0.0, 0.9, -4.0, 1e9])
def test_constant_series_gets_a_padded_range(value):
    (panel,) = _panels(line_panels_svg([Panel("p", {"c": [(e, value) for e in range(10)]})]))
    (line,) = _lines(_series(panel)["c"])
    x0, y0, x1, y1 = _area(panel)
    assert all(y0 < y < y1 for _, y in line)  # strictly inside: the range was padded, not zero
    _check_ticks(_ticks(panel, "y"), value, value)


def test_empty_series_and_panels_say_no_data():
    svg = line_panels_svg([Panel("empty", {}), Panel("all nan", {"s": [(0, NAN), (1, NAN)]}),
                           Panel("mixed", {"gone": [], "here": [(0, 1.0), (1, 2.0)]})], columns=3)
    empty, all_nan, mixed = _panels(svg)
    for panel in (empty, all_nan):
        assert any(t.get("class") == "no-data" for t in panel.iter(f"{NS}text"))
        assert not list(panel.iter(f"{NS}polyline"))
    series = _series(mixed)
    assert not _lines(series["gone"]) and len(_lines(series["here"])) == 1
    assert "gone (no data)" in [t.text for t in mixed.iter(f"{NS}text")]
    assert len(_panels(line_panels_svg([]))) == 1


def test_ylim_fixes_the_range_and_text_is_escaped():
    panel = Panel('a<b & "c"', {"x<y": [(0, -5.0), (1, 0.5), (2, 5.0)]}, ylabel="acc\x01", ylim=(0, 1))
    (group,) = _panels(line_panels_svg([panel], title="t & <u>"))
    ticks = _ticks(group, "y")
    assert 0 <= ticks[0] and ticks[-1] <= 1 and len(ticks) >= 4
    assert group.get("data-title") == 'a<b & "c"' and list(_series(group)) == ["x<y"]


def test_columns_lay_out_a_grid():
    panels = [Panel(str(i), {"s": [(0, i), (1, i + 1)]}) for i in range(5)]
    root = ET.fromstring(line_panels_svg(panels, columns=2))
    origins = {tuple(g.get("transform")[10:-1].split(",")) for g in root.iter(f"{NS}g")
               if g.get("class") == "panel"}
    assert len({x for x, _ in origins}) == 2 and len({y for _, y in origins}) == 3
    with pytest.raises(ValueError):
        line_panels_svg(panels, columns=0)


def test_plot_metrics_writes_the_series_atomically(tmp_path):
    rows = [{"epoch": e, "train_top1": 0.5 + e / 100, "loss": 1 / (e + 1)} for e in range(12)]
    for row in rows[1::3]:
        row["test_top1"] = row["train_top1"] - 0.05
    rows[4]["loss"] = None  # not a number: no point, like a missing key
    rows = [json.loads(json.dumps(row)) for row in rows]  # exactly what metrics.jsonl gives back
    out = tmp_path / "curves.svg"
    plot_metrics(rows, [("top-1", ["train_top1", "test_top1"]), ("loss", ["loss", "lr"])], out,
                 title="run")
    assert [p.name for p in tmp_path.iterdir()] == ["curves.svg"]
    top1, loss = _panels(out.read_text(encoding="utf-8"))
    assert [len(_lines(g)[0]) for g in _series(top1).values()] == [12, 4]
    series = _series(loss)
    assert [len(line) for line in _lines(series["loss"])] == [11] and not _lines(series["lr"])
    assert [t.text for t in loss.iter(f"{NS}text") if t.get("class") == "xlabel"] == ["epoch"]


def test_plot_metrics_creates_a_missing_folder_and_refuses_a_folder(tmp_path):
    plot_metrics([], [("p", ["a"])], tmp_path / "missing" / "curves.svg")
    assert (tmp_path / "missing" / "curves.svg").exists()
    with pytest.raises(NatError, match="it is a folder"):
        plot_metrics([], [("p", ["a"])], tmp_path / "missing")


def test_an_epoch_axis_has_whole_number_ticks_only():
    from nat.runtime.plot import _axis
    for epochs in ([1, 2], [1, 2, 3], [3], [1, 2, 3, 4, 5, 6, 7]):
        lo, hi, ticks = _axis(epochs, None, counts=True)
        assert all(t.is_integer() for t in ticks), (epochs, ticks)
        assert lo <= min(epochs) and hi >= max(epochs)
    ticks = _axis([0.5, 0.75], None, counts=True)[2]
    assert ticks[1] - ticks[0] < 1  # fractions keep fine ticks
