"""The zoo: the paper's input architectures and their published NAT versions, as package data.

``zoo.json`` is a copy of the project's curated zoo file; each entry keeps its source note.
Names are looked up case-insensitively. :func:`resolve` turns whatever a user typed for ARCH --
a zoo name, a NAS-Bench-201 string, or a path to a genotype file in any supported format -- into
a validated genotype.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import GenotypeError, NatError
from .formats import genotype_from_dict, parse_text, read_genotype_file
from .genotype import Genotype
from .nb201 import genotype_from_string, is_arch_string
from .space import space_of, validate

__all__ = ["ZooEntry", "zoo", "get", "names", "resolve", "is_genotype_text", "path_exists", "nat_counterpart"]


@dataclass(frozen=True)
class ZooEntry:
    name: str
    genotype: Genotype
    source: str
    note: str = ""


@cache
def zoo() -> dict[str, ZooEntry]:
    """All zoo entries, in file order."""
    data = json.loads(resources.files(__package__).joinpath("zoo.json").read_text())
    out = {}
    for name, raw in data["genotypes"].items():
        try:
            genotype = validate(genotype_from_dict(raw))
        except GenotypeError as err:  # the shipped zoo is tested; this guards hand edits
            raise err.located(source=f"zoo entry {name}") from None
        out[name] = ZooEntry(name, genotype, raw.get("source", ""), raw.get("note", ""))
    return out


def names() -> list[str]:
    return list(zoo())


def get(name: str) -> ZooEntry:
    """The zoo entry called ``name`` (any case)."""
    by_lower = {k.lower(): v for k, v in zoo().items()}
    try:
        return by_lower[name.lower()]
    except KeyError:
        raise NatError(f"'{name}' is neither a zoo architecture nor a file "
                       f"(zoo: {', '.join(zoo())})") from None


def nat_counterpart(name: str) -> str | None:
    """``NAT_<name>`` if the zoo publishes a NAT version of ``name``."""
    key = f"NAT_{get(name).name}".lower()
    return next((n for n in zoo() if n.lower() == key), None)


def is_genotype_text(text: str) -> bool:
    """Whether ``text`` is a genotype written out (``Genotype(...)`` or ``NAME = Genotype(...)``),
    not a name or a path."""
    head = text.lstrip()
    return head.startswith("Genotype(") or ("=" in head.split("(")[0] and "Genotype(" in head)


def path_exists(path: str | Path) -> bool:
    """``Path(path).exists()``, except that text too long to be a file name is no file (not an error)."""
    try:
        return Path(path).exists()
    except OSError:  # a name too long for the file system is not a file
        return False


def resolve(arch: str, *, name: str | None = None, space: str = "darts") -> tuple[str, Genotype]:
    """``(label, genotype)`` for a zoo name, a NAS-Bench-201 string or a genotype file path,
    validated against ``space`` -- or against the tied space (nb201) that holds it."""
    if is_arch_string(arch):
        return arch.strip(), genotype_from_string(arch)
    if is_genotype_text(arch):  # pasted from a genotypes.py or `nat show --format darts`
        genotype = parse_text(arch, name)
        home = space_of(genotype)
        return "genotype", validate(genotype, home if home.tied else space)
    path = Path(arch)
    if path_exists(path) or any(ch in arch for ch in "/\\") or path.suffix:
        genotype = read_genotype_file(path, name)
        home = space_of(genotype)
        try:
            return (name or path.stem), validate(genotype, home if home.tied else space)
        except GenotypeError as err:
            raise err.located(source=str(path)) from None
    entry = get(arch)
    return entry.name, entry.genotype
