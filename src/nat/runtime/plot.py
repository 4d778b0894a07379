"""Line charts of a run's curves as a self-contained SVG, for a person who would rather look than read.

Training and search runs write ``curves.svg`` next to ``metrics.jsonl``: a grid of small panels,
one line per metric. Only the standard library is used (no matplotlib), so every run can draw,
and any browser can show the result.

Non-finite values (NaN, inf) are skipped and break the line, so a diverged epoch shows as a gap
rather than a spike to infinity; an empty series or panel says "no data" instead of failing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .atomic import check_output_path, write_text_atomic

__all__ = ["Panel", "line_panels_svg", "nice_ticks", "plot_metrics"]

# Okabe & Ito's colour-blind-safe palette, ordered for contrast on white (yellow last: faint).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
INK, GRID, FRAME, MUTED = "#222222", "#e6e6e6", "#bbbbbb", "#888888"
PANEL_W, PANEL_H, GAP, MARGIN = 440, 290, 18, 16
TOP, BOTTOM, RIGHT = 30, 40, 14  # room around the plot area for the title, x labels, air
FONT = 11
CHAR_W = 0.6 * FONT  # a generous estimate of a sans-serif character, for sizing boxes
MAX_MARKED = 30  # beyond this many points markers would merge into a thick smudge


@dataclass(frozen=True)
class Panel:
    """One chart: ``series`` maps a legend name to its ``(x, y)`` points, drawn in order.

    ``ylim`` fixes the y range (lines outside it are clipped); by default it fits the data.
    """

    title: str
    series: dict[str, list[tuple[float, float]]]
    xlabel: str = "epoch"
    ylabel: str = ""
    ylim: tuple[float, float] | None = None


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _clean(text: str) -> str:
    """XML 1.0 forbids most control characters even when escaped, so drop them."""
    return escape("".join(ch for ch in str(text) if ch >= " " or ch in "\t\n"), {'"': "&quot;"})


def nice_ticks(lo: float, hi: float, *, cover: bool = True) -> list[float]:
    """4-6 (rarely 7) evenly spaced round values, steps of 1, 2 or 5 x 10^k, spanning ``lo``..``hi``.

    With ``cover`` the ticks reach past both ends (the axis then runs first to last tick);
    without, they stay inside, for a range the caller fixed. The tightest such choice wins.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"nice_ticks needs finite lo < hi, got {lo}, {hi}")
    top = math.floor(math.log10(hi - lo))
    best: tuple | None = None
    for k in range(top - 2, top + 2):
        for m in (1, 2, 5):
            step = m * 10.0 ** k
            # The 1e-9 keeps float noise (0.3 / 0.1 = 2.9999...) from adding a tick.
            a, b = lo / step, hi / step
            i0, i1 = (math.floor(a + 1e-9), math.ceil(b - 1e-9)) if cover else \
                     (math.ceil(a - 1e-9), math.floor(b + 1e-9))
            n = i1 - i0 + 1
            spread = (i1 - i0) * step / (hi - lo)
            # Some ranges (e.g. 0.85..0.95) get 3 or 7 ticks from every 1/2/5 step; 7 says more.
            score = (0 if 4 <= n <= 6 else 1 if n == 7 else 2 + abs(n - 5), spread if cover else -spread)
            if best is None or score < best[0]:
                # Dividing by 10^-k gives the float nearest the decimal: 0.3, not 0.30000000000000004.
                best = (score, [float(i * m * 10 ** k if k >= 0 else i * m / 10 ** -k)
                                for i in range(i0, i1 + 1)])
    return best[1]


def _label(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if decimals > 4 or abs(v) >= 1e6:
        return f"{v:.4g}"
    return f"{v + 0.0:.{decimals}f}"  # + 0.0 turns -0.0 into 0.0


def _runs(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """The series split at non-finite points: each run is drawn as one unbroken line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if math.isfinite(x) and math.isfinite(y):
            runs[-1].append((float(x), float(y)))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _axis(values: list[float], fixed: tuple[float, float] | None, *,
          counts: bool = False) -> tuple[float, float, list[float]]:
    """``(lo, hi, ticks)`` for one axis; a constant range is padded so it has a height."""
    if fixed is not None:
        lo, hi = fixed
        return lo, hi, nice_ticks(lo, hi, cover=False)
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0):
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi)
    if counts and all(float(v).is_integer() for v in values) and ticks[1] - ticks[0] < 1:
        # counts (epochs) have no tick at 1.2: one tick per whole number instead
        ticks = [float(v) for v in range(math.floor(lo), math.ceil(hi) + 1)]
    return ticks[0], ticks[-1], ticks


def _legend(names: list[str], empty: set[str], box: tuple, pts: list[tuple[float, float]]) -> list[str]:
    """The legend in the plot-area corner that hides the fewest drawn points."""
    x0, y0, x1, y1 = box
    texts = [n + (" (no data)" if n in empty else "") for n in names]
    w, h = 34 + CHAR_W * max(len(t) for t in texts), 8 + 15 * len(texts)
    corners = [(x1 - w - 6, y0 + 6), (x1 - w - 6, y1 - h - 6), (x0 + 6, y0 + 6), (x0 + 6, y1 - h - 6)]
    lx, ly = min(corners, key=lambda c: sum(c[0] <= px <= c[0] + w and c[1] <= py <= c[1] + h
                                            for px, py in pts))
    out = [f'<g class="legend"><rect x="{_f(lx)}" y="{_f(ly)}" width="{_f(w)}" height="{_f(h)}" '
           f'rx="3" fill="white" fill-opacity="0.85" stroke="{GRID}"/>']
    for i, (name, text) in enumerate(zip(names, texts)):
        cy, colour = ly + 11.5 + 15 * i, PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="3,3"' if name in empty else ""
        out.append(f'<line x1="{_f(lx + 6)}" y1="{_f(cy)}" x2="{_f(lx + 26)}" y2="{_f(cy)}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{_f(lx + 30)}" y="{_f(cy + 4)}" font-size="{FONT}" '
                   f'fill="{MUTED if name in empty else INK}">{_clean(text)}</text>')
    return out + ["</g>"]


def _panel(panel: Panel, key: int) -> list[str]:
    """SVG elements for one panel in its own coordinates (0, 0)..(PANEL_W, PANEL_H)."""
    runs = {name: _runs(points) for name, points in panel.series.items()}
    flat = [p for rs in runs.values() for r in rs for p in r]
    out = [f'<text class="panel-title" x="{PANEL_W / 2}" y="18" font-size="13" font-weight="bold" '
           f'text-anchor="middle">{_clean(panel.title)}</text>']
    if not flat:
        return out + [f'<rect class="plot-area" x="8" y="{TOP}" width="{PANEL_W - 16}" '
                      f'height="{PANEL_H - TOP - 8}" fill="none" stroke="{FRAME}"/>',
                      f'<text class="no-data" x="{PANEL_W / 2}" y="{PANEL_H / 2 + 10}" font-size="13" '
                      f'fill="{MUTED}" text-anchor="middle">no data</text>']
    xlo, xhi, xticks = _axis([p[0] for p in flat], None, counts=True)  # x: epochs (or steps)
    ylo, yhi, yticks = _axis([p[1] for p in flat], panel.ylim)
    ylabels = [_label(v, yticks[1] - yticks[0]) for v in yticks]
    # At least 48 so that panels with short tick labels (0.5, 20) line up in the grid.
    left = max(48, 12 + CHAR_W * max(map(len, ylabels))) + (16 if panel.ylabel else 0)
    x0, y0, x1, y1 = left, TOP, PANEL_W - RIGHT, PANEL_H - BOTTOM
    sx = lambda v: x0 + (v - xlo) / (xhi - xlo) * (x1 - x0)  # noqa: E731
    sy = lambda v: y1 - (v - ylo) / (yhi - ylo) * (y1 - y0)  # noqa: E731
    # Fitted data is inside the frame anyway; the clip is for a fixed ylim, and otherwise reaches
    # a marker's radius past the frame so that points on an edge are not cut in half.
    pad = 0 if panel.ylim else 4
    out.append(f'<clipPath id="clip-{key}"><rect x="{_f(x0 - pad)}" y="{y0 - pad}" '
               f'width="{_f(x1 - x0 + 2 * pad)}" height="{y1 - y0 + 2 * pad}"/></clipPath>')
    axis = f'font-size="{FONT}" fill="{INK}"'
    for v in xticks:
        out.append(f'<line x1="{_f(sx(v))}" y1="{y0}" x2="{_f(sx(v))}" y2="{y1 + 4}" stroke="{GRID}"/>')
        out.append(f'<text class="xtick" x="{_f(sx(v))}" y="{y1 + 16}" {axis} text-anchor="middle">'
                   f'{_label(v, xticks[1] - xticks[0])}</text>')
    for v, text in zip(yticks, ylabels):
        out.append(f'<line x1="{_f(x0 - 4)}" y1="{_f(sy(v))}" x2="{_f(x1)}" y2="{_f(sy(v))}" '
                   f'stroke="{GRID}"/>')
        out.append(f'<text class="ytick" x="{_f(x0 - 7)}" y="{_f(sy(v) + 4)}" {axis} '
                   f'text-anchor="end">{text}</text>')
    out.append(f'<rect class="plot-area" x="{_f(x0)}" y="{y0}" width="{_f(x1 - x0)}" height="{y1 - y0}" '
               f'fill="none" stroke="{FRAME}"/>')
    out.append(f'<text class="xlabel" x="{_f((x0 + x1) / 2)}" y="{PANEL_H - 6}" {axis} '
               f'text-anchor="middle">{_clean(panel.xlabel)}</text>')
    if panel.ylabel:
        out.append(f'<text class="ylabel" transform="translate(14,{_f((y0 + y1) / 2)}) rotate(-90)" '
                   f'{axis} text-anchor="middle">{_clean(panel.ylabel)}</text>')
    drawn: list[tuple[float, float]] = []  # screen points (and line midpoints) the legend should avoid
    for i, (name, rs) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<g class="series" data-name="{_clean(name)}" clip-path="url(#clip-{key})">')
        marked = sum(map(len, rs)) <= MAX_MARKED
        for r in rs:
            pts = [(sx(x), sy(y)) for x, y in r]
            drawn += pts + [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(pts, pts[1:])]
            if len(pts) > 1:
                coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
                out.append(f'<polyline class="line" points="{coords}" fill="none" stroke="{colour}" '
                           f'stroke-width="1.8" stroke-linejoin="round"/>')
            if not marked and len(pts) > 1:
                continue  # a lone point has no line to show it, so it gets a marker regardless
            for x, y in pts:
                out.append(f'<circle class="marker" cx="{_f(x)}" cy="{_f(y)}" r="2.8" fill="{colour}" '
                           f'stroke="white" stroke-width="0.8"/>')
        out.append("</g>")
    empty = {name for name, rs in runs.items() if not rs}
    return out + _legend(list(runs), empty, (x0, y0, x1, y1), drawn)


def line_panels_svg(panels: list[Panel], *, title: str = "", columns: int = 2) -> str:
    """A self-contained SVG of ``panels`` in a grid, ``columns`` wide, left to right then down."""
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    panels = list(panels) or [Panel(title="", series={})]
    cols = min(columns, len(panels))
    head = 34 if title else 0
    width = 2 * MARGIN + cols * PANEL_W + (cols - 1) * GAP
    rows = math.ceil(len(panels) / cols)
    height = 2 * MARGIN + head + rows * PANEL_H + (rows - 1) * GAP
    body = []
    for k, panel in enumerate(panels):
        x, y = MARGIN + (k % cols) * (PANEL_W + GAP), MARGIN + head + (k // cols) * (PANEL_H + GAP)
        body += [f'<g class="panel" data-title="{_clean(panel.title)}" transform="translate({x},{y})">',
                 *_panel(panel, k), "</g>"]
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{_clean(title or 'curves')}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        *([f'<text class="title" x="{MARGIN}" y="{MARGIN + 18}" font-size="17" font-weight="bold">'
           f'{_clean(title)}</text>'] if title else []),
        *body, "</svg>"]) + "\n"


def _number(value: object) -> float | None:
    """A metric as a float; None, strings and other non-numbers are not points."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def plot_metrics(rows: list[dict], panels: list[tuple[str, list[str]]], path: str | os.PathLike, *,
                 x: str = "epoch", title: str = "") -> None:
    """Draw metrics.jsonl rows to ``path`` atomically: one panel per ``(title, [metric keys])``.

    A row lacking ``x`` or a key (e.g. a test metric logged every few epochs) adds no point.
    """
    path = check_output_path(path, "plot")
    charts = []
    for name, keys in panels:
        series = {}
        for key in keys:
            pairs = ((_number(row.get(x)), _number(row.get(key))) for row in rows)
            series[key] = [(a, b) for a, b in pairs if a is not None and b is not None]
        charts.append(Panel(title=name, series=series, xlabel=x))
    text = line_panels_svg(charts, title=title)
    write_text_atomic(path, text)
