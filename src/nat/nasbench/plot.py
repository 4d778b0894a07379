"""A scatter plot as a self-contained SVG: the gain of each transformation against its input.

:mod:`nat.runtime.plot` draws line charts (and marks points only on short series), so the
scatter is drawn here, in its style: the same palette, tick rule and fonts, standard library only.
"""

from __future__ import annotations

import random
from pathlib import Path
from xml.sax.saxutils import escape

from ..errors import NatError
from ..runtime.atomic import check_output_path
from ..runtime.plot import PALETTE, nice_ticks

__all__ = ["scatter_svg", "check_plot_path", "write_gain_plot"]

W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 420, 64, 16, 44, 48
MAX_POINTS = 1500  # per series; more would only thicken the cloud and the file


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _ticks(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    return nice_ticks(lo, hi)


def _label(v: float, step: float) -> str:
    decimals = max(0, -int(f"{step:e}".split("e")[1]))
    return f"{v + 0.0:.{decimals}f}"


def scatter_svg(series: dict[str, list[tuple[float, float]]], *, title: str, xlabel: str, ylabel: str,
                zero_line: bool = True) -> str:
    """One chart, one colour per series, a legend; ``zero_line`` marks y = 0."""
    points = [p for pts in series.values() for p in pts] or [(0.0, 0.0)]
    xt, yt = _ticks([x for x, _ in points]), _ticks([y for _, y in points])
    x0, x1, y0, y1 = LEFT, W - RIGHT, TOP, H - BOTTOM
    sx = lambda v: x0 + (v - xt[0]) / (xt[-1] - xt[0]) * (x1 - x0)  # noqa: E731
    sy = lambda v: y1 - (v - yt[0]) / (yt[-1] - yt[0]) * (y1 - y0)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="Helvetica, Arial, sans-serif">', f"<title>{escape(title)}</title>",
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text class="title" x="{W / 2}" y="22" font-size="14" font-weight="bold" text-anchor="middle">'
           f"{escape(title)}</text>"]
    for v in xt:
        out.append(f'<line x1="{_f(sx(v))}" y1="{y0}" x2="{_f(sx(v))}" y2="{y1 + 4}" stroke="#e6e6e6"/>')
        out.append(f'<text class="xtick" x="{_f(sx(v))}" y="{y1 + 17}" font-size="11" text-anchor="middle">'
                   f"{_label(v, xt[1] - xt[0])}</text>")
    for v in yt:
        out.append(f'<line x1="{x0 - 4}" y1="{_f(sy(v))}" x2="{x1}" y2="{_f(sy(v))}" stroke="#e6e6e6"/>')
        out.append(f'<text class="ytick" x="{x0 - 7}" y="{_f(sy(v) + 4)}" font-size="11" text-anchor="end">'
                   f"{_label(v, yt[1] - yt[0])}</text>")
    if zero_line and yt[0] < 0 < yt[-1]:
        out.append(f'<line x1="{x0}" y1="{_f(sy(0))}" x2="{x1}" y2="{_f(sy(0))}" stroke="#888888"/>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#bbbbbb"/>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{H - 10}" font-size="12" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(16,{(y0 + y1) / 2}) rotate(-90)" font-size="12" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<g class="series" data-name="{escape(name)}" fill="{colour}" fill-opacity="0.55">')
        out += [f'<circle cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="2.4"/>' for x, y in pts]
        out.append("</g>")
        ly = y0 + 18 + 16 * i
        legend.append(f'<circle cx="{x0 + 14}" cy="{ly - 4}" r="4" fill="{colour}"/>')
        legend.append(f'<text x="{x0 + 24}" y="{ly}" font-size="11">{escape(name)}</text>')
    width = 34 + 6.6 * max((len(n) for n in series), default=0)
    out.append(f'<rect class="legend" x="{x0 + 4}" y="{y0 + 4}" width="{_f(width)}" height="{8 + 16 * len(series)}" '
               f'rx="3" fill="white" fill-opacity="0.9" stroke="#e6e6e6"/>')
    return "\n".join(out + legend + ["</svg>"]) + "\n"


def check_plot_path(path: str | Path) -> Path:
    """``path`` if a plot can be written there (checked before a long run, not after)."""
    return check_output_path(path, "plot", (".svg",))


def write_gain_plot(rows, path: str | Path, *, metric: str, seed: int = 0) -> Path:
    """Gain against input accuracy for NAT, the random policy and the oracle (a seeded sample of
    at most :data:`MAX_POINTS` inputs, the same ones in every series)."""
    path = check_plot_path(path)
    shown = rows if len(rows) <= MAX_POINTS else random.Random(seed).sample(rows, MAX_POINTS)
    series = {"oracle": [(r.input, r.oracle - r.input) for r in shown],
              "random transformation": [(r.input, r.random - r.input) for r in shown],
              "NAT": [(r.input, r.transformed - r.input) for r in shown]}
    sampled = f", {len(shown):,} of {len(rows):,} shown" if len(shown) < len(rows) else ""
    path.write_text(scatter_svg(series, title=f"gain against input {metric}{sampled}", xlabel=f"input {metric}",
                                ylabel=f"gain in {metric}"), encoding="utf-8")
    return path
