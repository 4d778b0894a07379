"""Drawings: every zoo genotype draws, edges and labels match the genotype, changes are marked."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from nat.arch import zoo
from nat.arch.genotype import Genotype
from nat.draw import cell_to_dot, genotype_to_dot, genotype_to_svg, write_drawing
from nat.errors import NatError
from nat.ops import NULL

NS = "{http://www.w3.org/2000/svg}"


def _genotype(name: str) -> Genotype:
    return zoo.get(name).genotype


def _cell_group(root: ET.Element, key: str) -> ET.Element:
    groups = [g for g in root.iter(f"{NS}g") if g.get("id") == key]
    assert len(groups) == 1, f"expected one <g id='{key}'>"
    return groups[0]


def _of_class(group: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in group.iter(f"{NS}{tag}") if cls in el.get("class", "").split()]


def _dot_edges(dot: str, key: str) -> list[str]:
    return re.findall(rf"^\s*{key}_\d+ -> {key}_\d+ .*$", dot, flags=re.M)


@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_genotype_draws_each_edge_once(name):
    genotype = _genotype(name)
    root = ET.fromstring(genotype_to_svg(genotype, name=name))
    dot = genotype_to_dot(genotype, name=name)
    for key, cell in genotype.cells().items():
        group = _cell_group(root, key)
        labels = Counter(t.text for t in _of_class(group, "text", "edge-label"))
        non_null = Counter(e.op for e in cell.edges if e.op != NULL)
        assert {op: labels[op] for op in non_null} == non_null
        assert labels[NULL] == sum(e.op == NULL for e in cell.edges)  # null edges stay visible
        assert sum(labels.values()) == len(cell.edges)
        assert len(_of_class(group, "path", "edge")) == len(cell.edges)
        assert len(_of_class(group, "path", "concat")) == len(cell.concat)
        assert len(_dot_edges(dot, key)) == len(cell.edges) + len(cell.concat)
    assert dot.count("->") == sum(len(c.edges) + len(c.concat) for c in genotype.cells().values())


@pytest.mark.parametrize("name", zoo.names())
def test_edge_labels_do_not_cover_each_other(name):
    root = ET.fromstring(genotype_to_svg(_genotype(name)))
    for key in ("normal", "reduce"):
        group = _cell_group(root, key)
        children = list(group.iter())
        boxes = [tuple(float(r.get(a)) for a in ("x", "y", "width", "height"))
                 for r, t in zip(children, children[1:])
                 if r.tag == f"{NS}rect" and "edge-label" in t.get("class", "")]
        assert len(boxes) == len(_genotype(name).cells()[key].edges)
        for i, (x, y, w, h) in enumerate(boxes):
            for x2, y2, w2, h2 in boxes[:i]:
                assert not (x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h), key


def test_transformed_darts_highlights_exactly_the_changed_edges():
    new, old = _genotype("NAT_DARTS"), _genotype("DARTS")
    root = ET.fromstring(genotype_to_svg(new, other=old, name="NAT_DARTS"))
    dot = genotype_to_dot(new, other=old)
    for key in ("normal", "reduce"):
        after, before = new.cells()[key].edges, old.cells()[key].edges
        expected = {i for i, (a, b) in enumerate(zip(after, before)) if a.op != b.op}
        assert expected, "the check is vacuous if nothing changed"
        group = _cell_group(root, key)
        changed = {int(p.get("data-index")) for p in _of_class(group, "path", "changed")}
        assert changed == expected
        widths = {int(p.get("data-index")): float(p.get("stroke-width"))
                  for p in _of_class(group, "path", "edge")}
        assert min(widths[i] for i in expected) > max(w for i, w in widths.items() if i not in expected)
        labels = {int(t.get("data-index")): t.text for t in _of_class(group, "text", "edge-label")}
        for i, edge in enumerate(after):
            assert labels[i] == (f"{before[i].op} → {edge.op}" if i in expected else edge.op)
        red = [line for line in _dot_edges(dot, key) if "→" in line]
        assert sorted(re.search(r'label="([^"]*)"', line).group(1) for line in red) == \
            sorted(f"{before[i].op} → {after[i].op}" for i in expected)


def test_no_other_means_no_highlight():
    root = ET.fromstring(genotype_to_svg(_genotype("NAT_DARTS")))
    assert not _of_class(root, "path", "changed")
    assert "→" not in genotype_to_dot(_genotype("NAT_DARTS"))


def test_null_edges_are_dashed_and_dead_nodes_greyed():
    genotype = _genotype("NAT_R3")  # its normal cell kills nodes 4 and 5 with null edges
    cell = genotype.normal
    dead = set(range(cell.n_nodes)) - cell.live_nodes()
    assert dead
    group = _cell_group(ET.fromstring(genotype_to_svg(genotype)), "normal")
    for path in _of_class(group, "path", "edge"):
        is_null = cell.edges[int(path.get("data-index"))].op == NULL
        assert (path.get("stroke-dasharray") is not None) == is_null
    node_fills = {t.text: r.get("fill") for r, t in zip(_of_class(group, "rect", "node"),
                                                        _of_class(group, "text", "node-label"))}
    live_fill = node_fills["2"]
    assert all(node_fills[str(n)] != live_fill for n in dead)
    dot = cell_to_dot(cell, title="normal cell")
    assert dot.count("style=dashed") == sum(e.op == NULL for e in cell.edges)
    assert 'label="normal cell"' in dot


def test_parallel_edges_are_bent_apart():
    cell = _genotype("R1").normal
    twins = [i for i, e in enumerate(cell.edges) if (e.src, e.dst) == (1, 2)]
    assert len(twins) == 2
    group = _cell_group(ET.fromstring(genotype_to_svg(_genotype("R1"))), "normal")
    paths = {int(p.get("data-index")): p.get("d") for p in _of_class(group, "path", "edge")}
    assert paths[twins[0]] != paths[twins[1]]
    # the middle control points must be well apart, not just the ports
    mids = [[float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", paths[i])][3] for i in twins]
    assert abs(mids[0] - mids[1]) >= 20


def test_text_is_escaped():
    name = 'a <b> & "c"'
    root = ET.fromstring(genotype_to_svg(_genotype("DARTS"), name=name))
    assert _of_class(root, "text", "title")[0].text == name
    assert root.find(f"{NS}title").text == name
    assert 'digraph "a <b> & \\"c\\""' in genotype_to_dot(_genotype("DARTS"), name=name)


@pytest.mark.parametrize("suffix", [".svg", ".dot", ".SVG"])
def test_write_drawing_by_suffix(tmp_path, suffix):
    path = tmp_path / f"arch{suffix}"
    write_drawing(_genotype("NAT_DARTS"), path, other=_genotype("DARTS"), name="NAT_DARTS")
    text = path.read_text(encoding="utf-8")
    if suffix.lower() == ".svg":
        ET.fromstring(text)
    else:
        assert text.startswith('digraph "NAT_DARTS"')
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_write_drawing_rejects_other_suffixes(tmp_path):
    with pytest.raises(NatError, match=r"\.svg.*\.dot") as info:
        write_drawing(_genotype("DARTS"), tmp_path / "arch.png")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_write_drawing_creates_a_missing_folder_and_refuses_a_file_in_the_way(tmp_path):
    write_drawing(_genotype("DARTS"), tmp_path / "nowhere" / "arch.svg")  # one rule everywhere: created
    assert (tmp_path / "nowhere" / "arch.svg").read_text().startswith("<svg")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NatError, match="cannot draw"):
        write_drawing(_genotype("DARTS"), tmp_path / "a-file" / "arch.svg")


def test_mismatched_edge_counts_raise_value_error(tmp_path):
    darts, enas = _genotype("DARTS"), _genotype("ENAS")
    assert len(darts.normal.edges) != len(enas.normal.edges)
    with pytest.raises(ValueError, match="8 edges.*10"):
        genotype_to_svg(darts, other=enas)
    with pytest.raises(ValueError, match="matched by position"):
        genotype_to_dot(darts, other=enas)
    with pytest.raises(ValueError):
        cell_to_dot(darts.reduce, title="reduction cell", other=enas.reduce)
    with pytest.raises(ValueError):
        write_drawing(darts, tmp_path / "x.svg", other=enas)
    assert not list(tmp_path.iterdir())


def _label_boxes(group: ET.Element) -> list[tuple[float, float, float, float]]:
    children = list(group.iter())
    return [tuple(float(r.get(a)) for a in ("x", "y", "width", "height"))
            for r, t in zip(children, children[1:])
            if r.tag == f"{NS}rect" and "edge-label" in t.get("class", "")]


PAIRS = [(n, n[4:]) for n in zoo.names() if n.startswith("NAT_") and n[4:] in zoo.names()]


@pytest.mark.parametrize("name, base", PAIRS, ids=[p[0] for p in PAIRS])
def test_changed_edge_labels_do_not_stack_on_each_other(name, base):
    """`nat draw NAT_X --vs X` (and `transform --draw`): the longer "old → new" labels still fit apart."""
    genotype, other = _genotype(name), _genotype(base)
    root = ET.fromstring(genotype_to_svg(genotype, other=other, name=f"{name} vs {base}"))
    for key in genotype.cells():
        boxes = _label_boxes(_cell_group(root, key))
        for i, (x, y, w, h) in enumerate(boxes):
            for x2, y2, w2, h2 in boxes[:i]:
                assert not (x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h), key


def _text_width(el: ET.Element) -> float:
    """A generous estimate of a text element's width from its font size and characters."""
    size = float(el.get("font-size", "12"))
    text = "".join(el.itertext())
    per_char = 0.62 if "monospace" in el.get("font-family", "") else 0.68 if el.get("font-weight") == "bold" else 0.6
    return len(text) * size * per_char


NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.parametrize("name", ["DARTS", "NAONet", "NAT_NAONet", "ENAS", NB201])
def test_every_title_and_legend_text_lies_inside_the_canvas(name):
    from nat.api import resolve
    label, genotype = resolve(name)
    root = ET.fromstring(genotype_to_svg(genotype, name=label))
    width = float(root.get("width"))
    for el in root:  # top-level texts: the title and the legend, in canvas coordinates
        if el.tag == f"{NS}text":
            x = float(el.get("x"))
            right = x + _text_width(el) if el.get("text-anchor", "start") == "start" else x + _text_width(el) / 2
            assert 0 <= x and right <= width, (el.get("class"), "".join(el.itertext()), right, width)


def test_node_labels_use_real_subscripts():
    root = ET.fromstring(genotype_to_svg(_genotype("DARTS")))
    texts = {"".join(t.itertext()) for t in root.iter(f"{NS}text") if "node-label" in t.get("class", "")}
    assert not any("_{" in t for t in texts)
    assert {"cₖ₋₂", "cₖ₋₁", "cₖ"} <= texts
    assert "cₖ₋₂" in genotype_to_dot(_genotype("DARTS")) and "c_{" not in genotype_to_dot(_genotype("DARTS"))
