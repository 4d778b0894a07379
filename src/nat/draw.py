"""Drawings of a genotype's two cells, as Graphviz DOT text or as a self-contained SVG.

Both follow the DARTS/NAT paper figures: inputs c_{k-2} and c_{k-1} on the left, intermediate
nodes by number, the output c_{k} on the right, one arrow per edge labelled with its op. Null
edges stay on the page (dashed grey) so a reader sees what a transformation removed, dead nodes
are greyed, and given ``other`` -- e.g. the architecture a transformation started from -- every
edge whose op changed is drawn red and labelled "old → new".

The SVG is laid out here by a small layered layout (column = longest path from the inputs), so
drawing needs neither the Graphviz binary nor anything beyond the standard library; the DOT text
is for those who have Graphviz and prefer its layout.

A genotype of a tied space (NAS-Bench-201: one cell everywhere, read from one input) is drawn as
that one cell, titled "cell", with only the input its space reads.
"""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

from .arch.genotype import Cell, Genotype
from .arch.space import space_of
from .errors import NatError
from .ops import NULL
from .runtime.atomic import check_output_path, write_text_atomic, written

__all__ = ["cell_to_dot", "genotype_to_dot", "genotype_to_svg", "write_drawing"]

TITLES = {"normal": "normal cell", "reduce": "reduction cell", "cell": "cell (every cell of the network)"}
INPUT_LABELS = ("c_{k-2}", "c_{k-1}")
OUTPUT_LABEL = "c_{k}"
# The DARTS figures' darkseagreen2 / lightblue / palegoldenrod, so drawings look familiar.
FILL = {"input": "#b4eeb4", "mid": "#add8e6", "output": "#eee8aa", "dead": "#eeeeee"}
INK, GREY, RED = "#222222", "#9a9a9a", "#d62728"
SUFFIXES = (".svg", ".dot")

LABEL_FONT = 11
CHAR_W = 0.61 * LABEL_FONT  # labels use a monospace font so their width can be known here
PORT, ROW_GAP, DUMMY_H, BEND = 10, 40, 12, 17
# The SVG layout routes every link around the nodes it skips and places each label against all
# other routes, which grows steeply with the cell (40 random nodes: 1.5 s); a picture of more
# nodes than this is unreadable anyway. DOT text has no such limit.
MAX_DRAWN_NODES = 50


def _changes(cell: Cell, other: Cell | None, title: str) -> dict[int, str]:
    """Edge index -> the op it had in ``other``, for the edges whose op differs."""
    if other is None:
        return {}
    if len(other.edges) != len(cell.edges):
        raise ValueError(f"cannot compare the {title}s: one has {len(cell.edges)} edges, the other "
                         f"{len(other.edges)} (changed edges are matched by position)")
    return {i: o.op for i, (e, o) in enumerate(zip(cell.edges, other.edges)) if e.op != o.op}


def _edge_look(op: str, old: str | None, dead_src: bool) -> tuple[str, str, float, bool]:
    """``(label, colour, width, dashed)``; edges out of dead nodes carry nothing, so are muted."""
    if old is not None:
        return f"{old} → {op}", RED, 2.4, op == NULL
    return op, GREY if op == NULL or dead_src else INK, 1.2, op == NULL


def _node_label(n: int, out: int) -> str:
    return INPUT_LABELS[n] if n < 2 else OUTPUT_LABEL if n == out else str(n)


# Unicode has subscript k, minus and digits, so the paper's c_{k-2} reads right in any renderer
# (SVG tspans with baseline-shift are ignored or misplaced by several) and in DOT alike.
_SUBSCRIPT = str.maketrans("k-0123456789", "ₖ₋₀₁₂₃₄₅₆₇₈₉")


def _display(label: str) -> str:
    """``c_{k-2}`` as ``cₖ₋₂``."""
    if "_{" not in label:
        return label
    base, sub = label[:-1].split("_{", 1)
    return base + sub.translate(_SUBSCRIPT)


def _shown(genotype: Genotype) -> tuple[dict[str, Cell], tuple[int, ...]]:
    """The cells to draw by key, and the input nodes to draw in each."""
    space = space_of(genotype)
    return ({"cell": genotype.normal} if space.tied else genotype.cells()), space.input_nodes


def _counterpart(other: Genotype | None, key: str) -> Cell | None:
    return None if other is None else other.normal if key == "cell" else other.cells()[key]


def _node_fill(n: int, out: int, live: frozenset[int]) -> str:
    kind = "input" if n < 2 else "output" if n == out else "mid"
    return FILL["dead"] if n not in live and kind == "mid" else FILL[kind]


# -- DOT ------------------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _dot_cluster(cell: Cell, key: str, title: str, other: Cell | None,
                 inputs: tuple[int, ...] = (0, 1)) -> list[str]:
    changes, live, out = _changes(cell, other, title), cell.live_nodes(), cell.n_nodes
    lines = [f"  subgraph cluster_{key} {{", f"    label={_q(title)};"]
    for n in [*inputs, *range(2, out + 1)]:
        font = INK if n in live or n == out else GREY
        lines.append(f'    {key}_{n} [label={_q(_display(_node_label(n, out)))}, '
                     f'fillcolor="{_node_fill(n, out, live)}", fontcolor="{font}"];')
    for i, e in enumerate(cell.edges):
        label, colour, width, dashed = _edge_look(e.op, changes.get(i), e.src not in live)
        lines.append(f'    {key}_{e.src} -> {key}_{e.dst} [label={_q(label)}, color="{colour}", '
                     f'fontcolor="{colour}", penwidth={width}{", style=dashed" if dashed else ""}];')
    for n in cell.concat:
        lines.append(f'    {key}_{n} -> {key}_{out} [color="{INK if n in live else GREY}"];')
    return lines + ["  }"]


def _dot(clusters: list[list[str]], name: str) -> str:
    head = [f"digraph {_q(name or 'genotype')} {{", "  rankdir=LR;",
            '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
            '  edge [fontname="Helvetica", fontsize=10];']
    if name:
        head += [f"  label={_q(name)};", "  labelloc=t;"]
    return "\n".join(head + [line for c in clusters for line in c] + ["}"]) + "\n"


def cell_to_dot(cell: Cell, *, title: str, other: Cell | None = None) -> str:
    """A DOT digraph of one cell in a cluster called ``title``, highlighting changes from ``other``."""
    return _dot([_dot_cluster(cell, "cell", title, other)], "")


def genotype_to_dot(genotype: Genotype, *, other: Genotype | None = None, name: str = "") -> str:
    """A DOT digraph of both cells, each in its own cluster, highlighting changes from ``other``."""
    cells, inputs = _shown(genotype)
    clusters = [_dot_cluster(cell, key, TITLES[key], _counterpart(other, key), inputs) for key, cell in cells.items()]
    return _dot(clusters, name)


# -- SVG layout -----------------------------------------------------------------------------
def _layout(cell: Cell, label_chars: int, inputs: tuple[int, ...]) -> tuple[dict, list[tuple[list, float]]]:
    """Node boxes ``{n: (cx, cy, w, h)}`` and, per link (edges, then concat), its route and bend.

    Sugiyama-lite: columns by longest path, a dummy point wherever a link skips a column (so
    long links pass between nodes, not through them), rows ordered by the mean height of what
    feeds them (fewer crossings), and ports spread along box sides so arrows do not pile up.
    """
    out = cell.n_nodes
    links = [(e.src, e.dst) for e in cell.edges] + [(n, out) for n in cell.concat]
    col = {n: 0 for n in inputs}
    for v in range(2, out):
        col[v] = 1 + max(col[s] for s, d in links if d == v)
    col[out] = 1 + max(col.values())
    chains = [[("n", s), *[("d", k, c) for c in range(col[s] + 1, col[d])], ("n", d)]
              for k, (s, d) in enumerate(links)]
    feeds: dict[tuple, list[tuple]] = {}
    columns: list[list[tuple]] = [[] for _ in range(col[out] + 1)]
    for v, c in col.items():
        columns[c].append(("n", v))
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            feeds.setdefault(b, []).append(a)
        for dummy in chain[1:-1]:
            columns[dummy[2]].append(dummy)
    degree = {v: max(sum(s == v for s, _ in links), sum(d == v for _, d in links)) for v in col}
    size = {("n", v): (max(40, 8 * len(_display(_node_label(v, out))) + 16), max(28, PORT * degree[v] + 10))
            for v in col}
    gap = label_chars * CHAR_W + 80  # a label fits between two columns, with room to move
    x = 0.0
    pos: dict[tuple, tuple[float, float]] = {}
    for c, items in enumerate(columns):
        if c:
            items.sort(key=lambda it: (sum(pos[f][1] for f in feeds[it]) / len(feeds[it]), it))
        colw = max((size[it][0] for it in items if it in size), default=0)
        heights = [size[it][1] if it in size else DUMMY_H for it in items]
        y = -(sum(heights) + ROW_GAP * (len(items) - 1)) / 2
        for it, h in zip(items, heights):
            pos[it] = (x + colw / 2, y + h / 2)
            y += h + ROW_GAP
        x += colw + gap
    nodes = {v: (*pos[("n", v)], *size[("n", v)]) for v in col}
    # Ports: outgoing links ordered by where they go, incoming by where they come from.
    port: dict[tuple[int, str], float] = {}
    for v, (cx, cy, _, h) in nodes.items():
        for side, idx, other_end in (("out", 0, 1), ("in", -1, -2)):
            ks = sorted((k for k, ch in enumerate(chains) if ch[idx] == ("n", v)),
                        key=lambda k: (pos[chains[k][other_end]][1], k))
            for j, k in enumerate(ks):
                port[k, side] = cy + (j - (len(ks) - 1) / 2) * PORT
    routes = []
    for k, ((s, d), chain) in enumerate(zip(links, chains)):
        (sx, _, sw, _), (dx, _, dw, _) = nodes[s], nodes[d]
        points = [(sx + sw / 2, port[k, "out"]), *(pos[it] for it in chain[1:-1]),
                  (dx - dw / 2, port[k, "in"])]
        twins = [j for j, link in enumerate(links) if link == (s, d)]
        bend = (twins.index(k) - (len(twins) - 1) / 2) * 2 * BEND if len(chain) == 2 else 0.0
        routes.append((points, bend))
    return nodes, routes


def _segments(points: list, bend: float) -> list[tuple]:
    """Cubic Béziers through ``points``, leaving and entering horizontally; ``bend`` bows them."""
    return [((ax, ay), ((ax + bx) / 2, ay + bend), ((ax + bx) / 2, by + bend), (bx, by))
            for (ax, ay), (bx, by) in zip(points, points[1:])]


def _at(seg: tuple, t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = seg
    a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def _overlap(p: tuple, q: tuple) -> float:
    w = min(p[2], q[2]) - max(p[0], q[0])
    h = min(p[3], q[3]) - max(p[1], q[1])
    return w * h if w > 0 and h > 0 else 0.0


def _place(segs: list, text: str, taken: list, lines: list) -> tuple:
    """The label box on the route that covers the fewest other labels, nodes and edges.

    Labels have an opaque background, so covering another edge hides it; points sampled from
    the other routes count against a spot, and spots near the route's middle are preferred.
    """
    w, h = len(text) * CHAR_W + 8, LABEL_FONT + 5
    mid = (len(segs) - 1) / 2
    best = (float("inf"), None)
    for s, seg in enumerate(segs):
        for t in (0.2 + 0.05 * i for i in range(13)):
            x, y = _at(seg, t)
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            covered = sum(box[0] < px < box[2] and box[1] < py < box[3] for px, py in lines)
            cost = (20 * sum(_overlap(box, o) for o in taken) + 60 * covered
                    + 25 * abs(s - mid) + 40 * abs(t - 0.5))
            best = min(best, (cost, box))
    return best[1]


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _svg_cell(cell: Cell, title: str, other: Cell | None, inputs: tuple[int, ...]) -> tuple[list[str], tuple]:
    """SVG elements for one cell in local coordinates, and their bounding box."""
    changes, live, out = _changes(cell, other, title), cell.live_nodes(), cell.n_nodes
    lines, labels, pts, routed = [], [], [], {}  # pts: every drawn corner, for the bounding box
    looks = [_edge_look(e.op, changes.get(i), e.src not in live) for i, e in enumerate(cell.edges)]
    looks += [(None, INK if n in live else GREY, 1.2, False) for n in cell.concat]
    nodes, routes = _layout(cell, max(len(look[0] or "") for look in looks), inputs)
    taken = [(cx - w / 2 - 3, cy - h / 2 - 3, cx + w / 2 + 3, cy + h / 2 + 3)
             for cx, cy, w, h in nodes.values()]
    # Unchanged edges first so the red ones are drawn on top of them.
    for k in sorted(range(len(routes)), key=lambda k: looks[k][1] == RED):
        (points, bend), (label, colour, width, dashed) = routes[k], looks[k]
        segs = routed[k] = _segments(points, bend)
        pts += [p for seg in segs for p in seg]  # a Bézier stays inside its control points
        d = f"M{_f(segs[0][0][0])},{_f(segs[0][0][1])}" + "".join(
            " C" + " ".join(f"{_f(px)},{_f(py)}" for px, py in s[1:]) for s in segs)
        css = {RED: "red", GREY: "grey"}.get(colour, "ink")
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        kind = f'edge{" changed" if colour == RED else ""}" data-index="{k}' if label else "concat"
        lines.append(f'<path class="{kind}" d="{d}" fill="none" '
                     f'stroke="{colour}" stroke-width="{width}"{dash} marker-end="url(#arrow-{css})"/>')
        if label is not None:
            labels.append((k, label, colour, segs))
    sampled = {k: [_at(seg, i / 24) for seg in segs for i in range(25)] for k, segs in routed.items()}
    for k, label, colour, segs in sorted(labels, key=lambda lab: -len(lab[1])):
        others = [p for j, points in sampled.items() if j != k for p in points]
        box = _place(segs, label, taken, others)
        taken.append(box)
        pts += [box[:2], box[2:]]
        lines.append(f'<rect x="{_f(box[0])}" y="{_f(box[1])}" width="{_f(box[2] - box[0])}" '
                     f'height="{_f(box[3] - box[1])}" rx="3" fill="white" fill-opacity="0.92"/>')
        lines.append(f'<text class="edge-label" data-index="{k}" x="{_f((box[0] + box[2]) / 2)}" '
                     f'y="{_f((box[1] + box[3]) / 2 + LABEL_FONT * 0.36)}" fill="{colour}" '
                     f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
                     f'font-size="{LABEL_FONT}" text-anchor="middle">{escape(label)}</text>')
    for n, (cx, cy, w, h) in nodes.items():
        ink = INK if n in live or n == out else GREY
        pts += [(cx - w / 2, cy - h / 2), (cx + w / 2, cy + h / 2)]
        lines.append(f'<rect class="node" x="{_f(cx - w / 2)}" y="{_f(cy - h / 2)}" width="{_f(w)}" '
                     f'height="{_f(h)}" rx="6" fill="{_node_fill(n, out, live)}" stroke="{ink}"/>')
        lines.append(f'<text class="node-label" x="{_f(cx)}" y="{_f(cy + 4.5)}" fill="{ink}" '
                     f'font-size="13" text-anchor="middle">{escape(_display(_node_label(n, out)))}</text>')
    xs, ys = zip(*pts)
    return lines, (min(xs), min(ys), max(xs), max(ys))


def _clean(text: str) -> str:
    """XML 1.0 forbids most control characters even when escaped, so drop them."""
    return escape("".join(ch for ch in text if ch >= " " or ch in "\t\n"))


def _legend(x: float, y: float) -> list[str]:
    out = []
    for kind, text in (("input", "input"), ("mid", "intermediate"), ("output", "output"),
                       ("dead", "dead node"), (RED, "changed"), (GREY, "null")):
        if kind in FILL:
            out.append(f'<rect x="{x}" y="{y - 10}" width="22" height="14" rx="4" fill="{FILL[kind]}" '
                       f'stroke="{GREY if kind == "dead" else INK}"/>')
        else:
            dash = ' stroke-dasharray="5,4"' if kind == GREY else ""
            out.append(f'<line x1="{x}" y1="{y - 3}" x2="{x + 22}" y2="{y - 3}" stroke="{kind}" '
                       f'stroke-width="{2.4 if kind == RED else 1.2}"{dash}/>')
        out.append(f'<text class="legend" x="{x + 28}" y="{y + 1}" font-size="12">{text}</text>')
        x += 40 + 7 * len(text)
    return out


def genotype_to_svg(genotype: Genotype, *, other: Genotype | None = None, name: str = "") -> str:
    """A self-contained SVG of both cells, stacked, highlighting the changes from ``other``."""
    margin, pad, head = 20, 16, 22
    body, y, width = [], 76.0, 560.0
    cells, inputs = _shown(genotype)
    for key, cell in cells.items():
        if cell.n_nodes > MAX_DRAWN_NODES:
            raise NatError(f"{(name or 'genotype ' + genotype.digest).split(' vs ')[0]}: the {TITLES[key]} has {cell.n_nodes:,} nodes; an SVG drawing is limited to "
                           f"{MAX_DRAWN_NODES} (write .dot for Graphviz, or use `nat show`)")
    for key, cell in cells.items():
        lines, (x0, y0, x1, y1) = _svg_cell(cell, TITLES[key], _counterpart(other, key), inputs)
        w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad + head
        body.append(f'<g class="cell" id="{key}" transform="translate({margin},{_f(y)})">')
        body.append(f'<rect width="{_f(w)}" height="{_f(h)}" rx="10" fill="#fafafa" stroke="#cccccc"/>')
        body.append(f'<text x="{pad}" y="{head - 2}" font-size="14" font-weight="bold">{TITLES[key]}</text>')
        body.append(f'<g transform="translate({_f(pad - x0)},{_f(pad + head - y0)})">')
        body += lines + ["</g>", "</g>"]
        y += h + margin
        width = max(width, w)
    title = _clean(name or f"genotype {genotype.digest}")
    # room for a long title too: bold 20 px Helvetica averages under 0.7 em a character
    total_w, total_h = max(width, 0.7 * 20 * len(name or title)) + 2 * margin, y
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(total_w)}" height="{_f(total_h)}" '
        f'viewBox="0 0 {_f(total_w)} {_f(total_h)}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{title}</title>",
        "<defs>", *(f'<marker id="arrow-{css}" viewBox="0 0 10 10" refX="10" refY="5" '
                    f'markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
                    f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
                    for css, colour in (("ink", INK), ("grey", GREY), ("red", RED))), "</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text class="title" x="{margin}" y="34" font-size="20" font-weight="bold">{title}</text>',
        *_legend(margin, 60), *body, "</svg>"]) + "\n"


def write_drawing(genotype: Genotype, path: str | os.PathLike, *, other: Genotype | None = None,
                  name: str = "") -> None:
    """Write ``genotype`` as SVG or DOT, chosen by the suffix of ``path``, atomically."""
    path = check_output_path(path, "draw", SUFFIXES)
    render = genotype_to_svg if path.suffix.lower() == ".svg" else genotype_to_dot
    text = render(genotype, other=other, name=name)
    written(path, "draw", lambda: write_text_atomic(path, text))
