"""One model factory: the network of any ARCH, its size and its cost (timm's ``create_model``, for cells).

Every ARCH the ``nat`` commands accept works here -- a zoo name (any case), a genotype file,
genotype text, a NAS-Bench-201 string, a hand-crafted backbone (VGG16, ResNet20, ...: its block
cell, built and costed as that network), a :class:`~nat.arch.genotype.Genotype`, or the
``Genotype`` namedtuple of a DARTS ``genotypes.py``.

One rule decides the network of every ARCH (:func:`build_model`): a backbone name builds that
backbone; a NAS-Bench-201 cell builds the benchmark's network; any other cell builds the DARTS
cell stack. Costing, training, transforming and exporting all go through it, so the network
costed is the network trained. It sits below search and training, which use it; :mod:`nat.api`
re-exports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from .errors import NatError

if TYPE_CHECKING:  # importing torch-heavy modules here would slow `import nat` for no use
    from torch import nn

    from .arch.genotype import Genotype
    from .costs import Cost
    from .nn.network import NetworkConfig

__all__ = ["Arch", "resolve", "backbone_of", "network_config", "build_model", "cost", "zoo_costs",
           "compute_zoo_costs", "write_zoo_costs"]

Arch = Union[str, Path, "Genotype"]


def resolve(arch: Arch, *, name: str | None = None) -> tuple[str, Genotype]:
    """``(label, genotype)`` of ``arch``: a Genotype (label ``"genotype"``), a file (a genotype
    file, or a NAS-Bench-201 string in one), a backbone name (its block cell), a NAS-Bench-201
    string, or a zoo name, tried in that order. ``name`` picks one genotype of a zoo-layout file."""
    from .arch.genotype import Genotype
    if isinstance(arch, Genotype):
        return "genotype", arch
    from .arch.zoo import path_exists
    from .arch.zoo import resolve as resolve_name
    from .nn.backbones import is_backbone_name, resolve_backbone
    if _is_darts_namedtuple(arch):
        from .arch.formats import parse_text
        from .arch.space import validate
        return "genotype", validate(parse_text(_darts_text(arch)))
    text = str(arch)
    if not path_exists(text) and is_backbone_name(text):
        return text, resolve_backbone(text).genotype
    return resolve_name(text, name=name)


def _is_darts_namedtuple(arch) -> bool:
    """A genotype as DARTS code bases hold it: ``Genotype(normal=..., normal_concat=..., reduce=...,
    reduce_concat=...)``, the namedtuple of their ``genotypes.py``."""
    return all(hasattr(arch, f) for f in ("normal", "normal_concat", "reduce", "reduce_concat")) \
        and not isinstance(arch, (str, Path))


def _darts_text(arch) -> str:
    """The DARTS text form of a DARTS namedtuple, read back by the same parser as a file's (``range``
    concats become lists; ops and nodes are checked there, not trusted)."""
    def pairs(edges) -> str:
        return "[" + ", ".join(f"({str(op)!r}, {int(src)})" for op, src, *_ in edges) + "]"
    return (f"Genotype(normal={pairs(arch.normal)}, normal_concat={list(arch.normal_concat)}, "
            f"reduce={pairs(arch.reduce)}, reduce_concat={list(arch.reduce_concat)})")


def backbone_of(arch: Arch, backbone: str | None = None) -> str | None:
    """The hand-crafted backbone ``arch`` is built into (its key), or ``None`` for a cell network:
    ``backbone`` if given, else ``arch``'s own when it names one (that wins over a zoo cell of the
    same name, e.g. MobileNetV2)."""
    from .nn.backbones import is_backbone_name, resolve_backbone
    if backbone:
        return resolve_backbone(backbone).key
    from .arch.zoo import path_exists
    if isinstance(arch, (str, Path)) and not path_exists(arch) and is_backbone_name(str(arch)):
        return resolve_backbone(str(arch)).key
    return None


def network_config(genotype: Genotype | None = None, dataset: str | None = None, channels: int | None = None,
                   layers: int | None = None, num_classes: int | None = None,
                   auxiliary: bool = False) -> NetworkConfig:
    """The size of the cell network ``genotype`` is built into, checked, with that network's own
    defaults for what is left out (a CIFAR cell stack: C=36, L=20; ImageNet: C=48, L=14; a
    NAS-Bench-201 cell: the benchmark's network, C=16, L=15)."""
    from .costs import resolved_size
    from .nn.network import DATASETS, NetworkConfig
    if dataset is not None and dataset not in DATASETS:
        raise NatError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})")
    for opt, value, least in (("channels", channels, 2), ("layers", layers, 3)):
        if value is not None and value < least:
            raise NatError(f"--{opt} must be at least {least}, got {value}")
    if channels is not None and channels % 2:
        raise NatError(f"--channels must be even (reduction skips split channels in two), got {channels}")
    config = NetworkConfig(dataset or "cifar10", channels, layers, num_classes, auxiliary)
    return resolved_size(genotype, config) if genotype is not None else config.resolved()


def _backbone_dataset(key: str, dataset: str | None, channels: int | None, layers: int | None, label: str) -> str:
    from .nn.backbones import resolve_backbone
    if channels is not None or layers is not None:
        raise NatError(f"{label} is built as the hand-crafted {key}: --channels/--layers do not apply "
                       "(its widths and depth are its own)")
    return dataset or resolve_backbone(key).dataset


def build_model(arch: Arch, dataset: str | None = None, *, channels: int | None = None, layers: int | None = None,
                num_classes: int | None = None, auxiliary: bool = False, backbone: str | None = None,
                width_mult: float = 1.0, name: str | None = None) -> nn.Module:
    """A freshly initialised ``torch.nn.Module`` for ``arch`` (see the module's docs for which
    network). ``auxiliary`` adds the auxiliary head of a cell stack: ``model(x)`` still returns the
    logits alone (unlike DARTS code, whose ``model(x)`` returns ``(logits, aux)`` in training mode);
    ``model.forward_train(x)`` returns ``(logits, aux_logits)``. ``backbone`` builds the cell
    into that hand-crafted network instead (``width_mult`` scales its widths)."""
    label, genotype = resolve(arch, name=name)
    key = backbone_of(arch, backbone)
    if key is not None:
        from .nn.backbones import build_backbone
        data = _backbone_dataset(key, dataset, channels, layers, label)
        return build_backbone(key, genotype, dataset=data, width_mult=width_mult, num_classes=num_classes)
    from .arch.space import space_of
    from .nn.registry import network_class
    network = network_class(space_of(genotype).name)
    return network(genotype, network_config(genotype, dataset, channels, layers, num_classes, auxiliary))


def cost(arch: Arch, dataset: str | None = None, *, channels: int | None = None, layers: int | None = None,
         backbone: str | None = None, name: str | None = None) -> Cost:
    """Parameters (without and with the auxiliary head) and multiply-adds of one image of the
    network :func:`build_model` builds for ``arch``."""
    label, genotype = resolve(arch, name=name)
    key = backbone_of(arch, backbone)
    if key is not None:
        from .nn.backbones import backbone_cost
        return backbone_cost(key, genotype, dataset=_backbone_dataset(key, dataset, channels, layers, label))
    from .costs import genotype_cost
    return genotype_cost(genotype, network_config(genotype, dataset, channels, layers))


# -- the zoo's costs ------------------------------------------------------------------------------
# `nat zoo` lists ~30 architectures. Costing them means importing torch and building the
# hand-crafted networks (ResNet50 at 224 px alone is a second), 3-14 s in all, for figures that
# change only when the zoo or the network code does. So the package ships them as a table,
# checked against a fresh computation by the test suite; a zoo cell whose genotype no longer
# matches its row is costed afresh, so a stale table can slow `nat zoo` but never mislead it.
ZOO_COSTS = "zoo_costs.json"
_CELL_NETWORK = "cells, cifar10, C=36, L=20"


def compute_zoo_costs() -> dict:
    """The rows of `nat zoo`, computed: every zoo cell as a DARTS-style stack at the default
    CIFAR-10 size, and every hand-crafted network of Table 1 as that network."""
    from .arch.zoo import zoo
    from .nn.backbones import backbone_names, resolve_backbone
    cells = [_cell_row(e) for e in zoo().values()]
    networks = []
    for name in backbone_names():
        spec = resolve_backbone(name)
        networks.append({"name": name, "digest": spec.genotype.digest, "network": f"{spec.key}, {spec.dataset}",
                         **cost(spec.genotype, spec.dataset, backbone=spec.key).as_dict(),
                         "source": "Table 1 (block cell from the zoo)", "note": ""})
    return {"cells": cells, "networks": networks}


def _cell_row(entry) -> dict:
    """One zoo cell's row of `nat zoo`, costed as a DARTS-style stack at the default CIFAR-10 size."""
    from .costs import genotype_cost
    from .nn.network import NetworkConfig
    return {"name": entry.name, "digest": entry.genotype.digest, "network": _CELL_NETWORK,
            **genotype_cost(entry.genotype, NetworkConfig()).as_dict(), "source": entry.source, "note": entry.note}


def write_zoo_costs(path: str | Path | None = None) -> Path:
    """Recompute the shipped table (after changing the zoo or the network code)."""
    import json
    target = Path(path) if path else Path(__file__).with_name(ZOO_COSTS)
    target.write_text(json.dumps(compute_zoo_costs(), indent=1) + "\n")
    return target


def zoo_costs() -> dict:
    """``{"cells": [...], "networks": [...]}``, the rows of `nat zoo`, from the shipped table
    (no torch import); cells whose genotype differs from their row, or that have none, are
    costed afresh."""
    import json
    from importlib import resources

    from .arch.zoo import zoo
    try:
        table = json.loads(resources.files(__package__).joinpath(ZOO_COSTS).read_text())
    except (OSError, ValueError):  # a broken install: cost everything
        return compute_zoo_costs()
    shipped = {row["name"]: row for row in table["cells"]}
    cells = []
    for entry in zoo().values():
        row = shipped.get(entry.name)
        cells.append(row if row is not None and row["digest"] == entry.genotype.digest else _cell_row(entry))
    return {"cells": cells, "networks": table["networks"]}
