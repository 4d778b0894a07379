"""Reading and writing genotypes: JSON, the NAT triple text form, the DARTS pair text form.

* JSON: ``{"normal": {"edges": [[op, from, to], ...], "concat": [...]}, "reduce": {...}}``, the
  layout of the zoo file; a zoo-layout file ``{"genotypes": {name: {...}}}`` is read with a name.
* Triples: ``Genotype(normal=[('sep_conv_3x3', 0, 2), ...], normal_concat=[2, 3, 4, 5], reduce=...,
  reduce_concat=range(2, 6))`` as the NAT authors print it.
* Pairs: ``Genotype(normal=[('sep_conv_3x3', 0), ...], ...)`` as DARTS prints it; pair ``k`` feeds
  node ``2 + k // 2``.
* A NAS-Bench-201 string ``|nor_conv_3x3~0|+|...|`` (:mod:`nat.arch.nb201`), read, not written here.

Text is parsed with :mod:`ast` and a whitelist of literal forms -- never ``eval`` -- so a string
such as ``__import__('os').system(...)`` is rejected as malformed instead of being run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from ..errors import GenotypeError, NatError
from ..runtime.atomic import write_text_atomic
from ..runtime.files import read_text_capped
from ..ops import NULL
from .genotype import CELL_TYPES, DARTS_NULL, MAX_NODES, N_INPUTS, Genotype

__all__ = ["genotype_from_dict", "genotype_to_dict", "parse_text", "format_triples", "format_pairs", "format_assignment", "genotype_entries",
           "read_genotype_file", "write_genotype_file", "FORMATS"]

FORMATS = ("json", "triples", "darts")


# -- JSON -----------------------------------------------------------------------------------------
def genotype_from_dict(data: Any) -> Genotype:
    """A genotype from the JSON layout (extra keys such as ``source`` are ignored)."""
    if not isinstance(data, dict):
        raise GenotypeError(f"expected a JSON object with 'normal' and 'reduce', got {type(data).__name__}")
    cells = {}
    for name in CELL_TYPES:
        cell = data.get(name)
        if not isinstance(cell, dict) or "edges" not in cell:
            raise GenotypeError(f"missing '{name}' cell with an 'edges' list")
        if not isinstance(cell["edges"], list):
            raise GenotypeError("'edges' must be a list of [op, from_node, to_node]", cell=name)
        concat = cell.get("concat")
        if concat is not None and not isinstance(concat, list):
            raise GenotypeError("'concat' must be a list of node numbers", cell=name)
        cells[name] = (cell["edges"], concat)
    return Genotype.from_edges(cells["normal"][0], cells["reduce"][0], cells["normal"][1], cells["reduce"][1])


def genotype_to_dict(genotype: Genotype) -> dict:
    return {name: {"edges": [list(e) for e in cell.edges], "concat": list(cell.concat)}
            for name, cell in genotype.cells().items()}


# -- text -----------------------------------------------------------------------------------------
def _literal(node: ast.AST) -> Any:
    """Evaluate a whitelisted literal: str/int constants, lists, tuples, ``range(a, b)``, ``list(...)``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(el) for el in node.elts]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("range", "list")
            and not node.keywords):
        args = [_literal(a) for a in node.args]
        if node.func.id == "range" and 1 <= len(args) <= 3 and all(isinstance(a, int) for a in args):
            if args[-1] == 0 and len(args) == 3:
                raise GenotypeError("malformed genotype text: range() step must not be zero")
            span = range(*args)
            if len(span) > MAX_NODES:  # a concat names nodes: more than a cell may have is hostile
                raise GenotypeError(f"malformed genotype text: '{ast.unparse(node)[:60]}' has {len(span):,} "
                                    f"entries, more than the {MAX_NODES:,} nodes a cell may have")
            return list(span)
        if node.func.id == "list" and len(args) == 1 and isinstance(args[0], list):
            return args[0]
    raise GenotypeError(f"malformed genotype text: unsupported expression '{ast.unparse(node)[:60]}' "
                        f"at column {getattr(node, 'col_offset', 0) + 1}")


def parse_text(text: str, name: str | None = None) -> Genotype:
    """Parse ``Genotype(...)`` in the triple or the pair form (optionally ``NAME = Genotype(...)``),
    or pick the entry ``name`` of a whole DARTS-style ``genotypes.py`` (see :func:`genotype_entries`).

    Nothing is executed: the text is parsed to a syntax tree and only literals are read from it.
    """
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError as err:
        raise GenotypeError(f"malformed genotype text: {err.msg.split(';')[0]} (line {err.lineno})") from None
    except (ValueError, RecursionError, MemoryError) as err:  # e.g. a 5,000-digit integer literal
        raise GenotypeError(f"malformed genotype text: {str(err).split(';')[0] or 'too large to parse'}") from None
    body = tree.body
    if len(body) == 1 and isinstance(body[0], (ast.Expr, ast.Assign)) and name is None:
        return _genotype_from_call(body[0].value)
    entries = _entries(body)
    if not entries:
        raise GenotypeError("malformed genotype text: expected one Genotype(...) expression, or a genotypes.py "
                            "with NAME = Genotype(...) entries")
    if name is None:
        if len(entries) == 1:
            return _genotype_from_call(next(iter(entries.values())))
        raise GenotypeError(f"the file holds {len(entries)} genotypes; choose one with --name "
                            f"(one of: {', '.join(entries)})")
    by_lower = {k.lower(): k for k in entries}
    if name.lower() not in by_lower:
        raise GenotypeError(f"no genotype named '{name}' (names: {', '.join(entries)})")
    try:
        return _genotype_from_call(entries[by_lower[name.lower()]])
    except GenotypeError as err:
        raise GenotypeError(f"{by_lower[name.lower()]}: {err}") from None


def genotype_entries(text: str) -> list[str]:
    """The names of the ``NAME = Genotype(...)`` entries of a DARTS-style ``genotypes.py``, in order.

    Imports, ``Genotype = namedtuple(...)``, ``PRIMITIVES = [...]`` and other statements are
    skipped unread; an alias ``DARTS = DARTS_V2`` names the entry it points to.
    """
    try:
        return list(_entries(ast.parse(text.strip(), mode="exec").body))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []


def _entries(body: list[ast.stmt]) -> dict[str, ast.Call]:
    found: dict[str, ast.Call] = {}
    for stmt in body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        target, value = stmt.targets[0].id, stmt.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "Genotype":
            found[target] = value
        elif isinstance(value, ast.Name) and value.id in found:  # DARTS = DARTS_V2
            found[target] = found[value.id]
    return found


def _genotype_from_call(call: ast.AST) -> Genotype:
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise GenotypeError("malformed genotype text: expected Genotype(normal=..., normal_concat=..., "
                            "reduce=..., reduce_concat=...)")
    if call.args:
        raise GenotypeError("malformed genotype text: Genotype(...) takes keyword arguments only")
    fields = {kw.arg: _literal(kw.value) for kw in call.keywords}
    expected = {"normal", "normal_concat", "reduce", "reduce_concat"}
    if set(fields) - expected or not {"normal", "reduce"} <= set(fields):
        raise GenotypeError(f"malformed genotype text: fields {sorted(fields)}, expected {sorted(expected)}")
    cells = {}
    for name in CELL_TYPES:
        raw = fields[name]
        if not isinstance(raw, list):
            raise GenotypeError("expected a list of edges", cell=name)
        lengths = {len(e) if isinstance(e, list) else -1 for e in raw}
        if lengths == {2}:
            edges = [(op, src, N_INPUTS + k // 2) for k, (op, src) in enumerate(raw)]
        elif lengths == {3}:
            edges = raw
        else:
            raise GenotypeError("edges must all be (op, from) pairs or all (op, from, to) triples",
                                cell=name)
        cells[name] = (edges, fields.get(f"{name}_concat"))
    return Genotype.from_edges(cells["normal"][0], cells["reduce"][0], cells["normal"][1], cells["reduce"][1])


def format_triples(genotype: Genotype) -> str:
    """The NAT authors' text form, edges in their stored order."""
    parts = []
    for name, cell in genotype.cells().items():
        edges = ", ".join(f"('{e.op}', {e.src}, {e.dst})" for e in cell.edges)
        parts.append(f"{name}=[{edges}], {name}_concat={list(cell.concat)}")
    return f"Genotype({', '.join(parts)})"


def format_assignment(genotype: Genotype, name: str) -> str:
    """A ``NAME = Genotype(...)`` line for a DARTS-style ``genotypes.py`` (pair form where it
    applies, else triples); ``name`` is made a Python identifier."""
    ident = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "GENOTYPE"
    if ident[0].isdigit():
        ident = "_" + ident
    try:
        body = format_pairs(genotype)
    except GenotypeError:
        body = format_triples(genotype)
    return f"{ident} = {body}"


def format_pairs(genotype: Genotype) -> str:
    """The DARTS text form; only for cells whose nodes each have exactly two inputs."""
    parts = []
    for name, cell in genotype.cells().items():
        pairs = []
        for node in cell.intermediate:
            inputs = cell.inputs_of(node)
            if len(inputs) != 2:
                raise GenotypeError(f"node {node} has {len(inputs)} inputs; the DARTS pair form needs "
                                    "exactly two per node (use the triple form)", cell=name)
            # DARTS code bases name the null op 'none' (their PRIMITIVES): write what they can load
            pairs += [f"('{DARTS_NULL if e.op == NULL else e.op}', {e.src})" for _, e in inputs]
        parts.append(f"{name}=[{', '.join(pairs)}], {name}_concat={list(cell.concat)}")
    return f"Genotype({', '.join(parts)})"


# -- files ----------------------------------------------------------------------------------------
MAX_FILE_BYTES = 16 * 2**20  # a genotype file; the whole zoo of the paper is under 100 kB
def read_genotype_file(path: str | Path, name: str | None = None) -> Genotype:
    """Read a genotype from JSON (single or zoo layout) or from a text file in either text form.

    Every error names the file (and, where it applies, the cell and the edge).
    """
    path = Path(path)
    try:
        # what is read is capped, not what the file claims: /dev/zero says it is empty
        text = read_text_capped(path, MAX_FILE_BYTES, "genotype file")
    except NatError as err:
        message = str(err).removeprefix(f"{path}: ")
        raise GenotypeError(message, source=str(path)) from None
    try:
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise GenotypeError(f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
            except RecursionError:
                raise GenotypeError("malformed JSON: nested too deeply") from None
            if isinstance(data, dict) and "genotypes" in data:
                data = _pick(data["genotypes"], name)
            elif name is not None:
                raise GenotypeError(f"--name {name} given, but the file holds one genotype, not a zoo")
            return genotype_from_dict(data)
        from .nb201 import genotype_from_string, is_arch_string
        if is_arch_string(text):
            if name is not None:
                raise GenotypeError(f"--name {name} given, but the file holds one genotype, not a zoo")
            return genotype_from_string(text)
        return parse_text(text, name)
    except GenotypeError as err:
        raise err.located(source=str(path)) from None


def _pick(genotypes: Any, name: str | None) -> Any:
    if not isinstance(genotypes, dict) or not genotypes:
        raise GenotypeError("'genotypes' must be a non-empty object of name -> genotype")
    if name is None:
        raise GenotypeError(f"the file is a zoo of {len(genotypes)} genotypes; choose one with --name "
                            f"(one of: {', '.join(genotypes)})")
    by_lower = {k.lower(): k for k in genotypes}
    if name.lower() not in by_lower:
        raise GenotypeError(f"no genotype named '{name}' (names: {', '.join(genotypes)})")
    return genotypes[by_lower[name.lower()]]


def write_genotype_file(genotype: Genotype, path: str | Path, fmt: str | None = None, **extra: Any) -> None:
    """Write ``genotype`` to ``path``; the format follows the suffix (``.json`` or text)."""
    path = Path(path)
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "triples")
    if fmt == "json":
        text = json.dumps({**genotype_to_dict(genotype), **extra}, indent=1) + "\n"
    elif fmt == "triples":
        text = format_triples(genotype) + "\n"
    elif fmt == "darts":
        text = format_pairs(genotype) + "\n"
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")
    write_text_atomic(path, text)
