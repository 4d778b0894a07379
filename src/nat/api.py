"""The library's front door: one call each to resolve, build, cost and transform an architecture.

Every ARCH the ``nat`` commands accept works here too -- a zoo name (any case), a genotype file, a
NAS-Bench-201 string, a hand-crafted backbone (VGG16, ResNet20, ...: its block cell, built and
costed as that network) -- and so does a :class:`~nat.arch.genotype.Genotype` object. The commands
are thin layers over these functions, so what a script gets is what the command line prints::

    import nat
    result = nat.transform("DARTS")                 # the shipped DARTS-space transformer
    print(result.changed, result.cost_before, result.cost_after)
    model = nat.build_model(result.genotype)        # a plain torch.nn.Module, C=36, L=20
    print(nat.cost("ResNet20"))                     # the hand-crafted network, not a cell stack

One rule decides the network of every ARCH (:func:`build_model`): a backbone name builds that
backbone; a NAS-Bench-201 cell builds the benchmark's network; any other cell builds the DARTS
cell stack. Costing, training, transforming and exporting all go through it, so the network
costed is the network trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

from .errors import NatError

if TYPE_CHECKING:  # importing torch-heavy modules here would slow `import nat` for no use
    from torch import nn

    from .arch.genotype import Genotype
    from .costs import Cost
    from .nn.network import NetworkConfig
    from .search.selection import Selection
    from .search.transform import Transformer, TransformResult

__all__ = ["resolve", "backbone_of", "network_config", "build_model", "cost", "load_transformer", "transform"]

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
    network). ``auxiliary`` adds the auxiliary head of a cell stack; ``backbone`` builds the cell
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


def load_transformer(spec: str | Path | None = None, arch: Arch = "DARTS", device: str = "cpu") -> Transformer:
    """A trained transformer: a ``nat search`` run folder, a transformer file, or ``None`` for the
    one shipped for ``arch``'s space (DARTS cells, NAS-Bench-201 cells)."""
    from .search.transform import load_transformer as load
    return load(spec, resolve(arch)[1], device)


def _family_note(genotype: Genotype) -> str:
    """Which shipped transformer the input was sent to, why, and how to choose the other."""
    from .arch.space import space_of
    if space_of(genotype).tied:
        return "cell family: NAS-Bench-201 (one cell everywhere): the NAS-Bench-201 transformer"
    loose = {name: list(c.concat) for name, c in genotype.cells().items() if tuple(c.concat) != tuple(c.intermediate)}
    if not loose:
        return "cell family: fully-concat (every intermediate node is concatenated): the DARTS-space transformer"
    which = "; ".join(f"{name} concat {nodes}" for name, nodes in loose.items())
    return (f"cell family: loose-end ({which}: the nodes no edge consumes), so the loose-end transformer; "
            "a cell that concatenates every intermediate node (give its \"concat\" in the file) goes to the "
            "DARTS-space one")


def transform(arch: Arch, transformer: str | Path | Transformer | None = None, *,
              select_on: str | Path | Sequence | None = None, selection: Selection | None = None,
              objective: str | None = None, no_null: bool | None = None, greedy: bool | None = None,
              candidates: int | None = None, subset: int | None = None, score: str | None = None,
              refine: bool | None = None, margin: float | None = None, significance: float | None = None,
              tolerance: float | None = None, proxy: str | None = None, proxy_weight: float | None = None,
              dataset: str | None = None, channels: int | None = None, layers: int | None = None,
              seed: int = 0, name: str | None = None) -> TransformResult:
    """Transform ``arch`` with a trained policy (``nat transform``).

    ``transformer``: a run folder, a transformer file, a loaded :class:`Transformer`, or ``None``
    for the shipped one. ``select_on``: a data set (``nat.data.load_dataset`` spec: a folder or
    archive of CIFAR-10) whose held-out split the supernet judges candidates on -- ``subset``
    images of it -- or a list of ``(images, labels)`` batches.

    The selection (:class:`nat.search.selection.Selection`): ``selection`` if given, else with
    ``select_on`` the one the transformer file recommends for the ``objective`` (``accurate``,
    the default, or ``compact``), else the defaults; any other keyword given here (``no_null``,
    ``refine``, ``significance``, ...) overrides it. The result never costs more than ``arch`` at
    the size asked for (cell networks) or as its backbone.
    """
    from .search.transform import Transformer, check_space, recommended_selection, selection_batches
    from .search.transform import transform as run
    label, beta = resolve(arch, name=name)
    model = transformer if isinstance(transformer, Transformer) else load_transformer(transformer, beta)
    check_space(beta, model)
    asked = {"objective": objective, "no_null": no_null, "greedy": greedy, "candidates": candidates,
             "subset": subset, "score": score, "refine": refine, "margin": margin, "significance": significance,
             "tolerance": tolerance, "proxy": proxy, "proxy_weight": proxy_weight}
    if selection is None:
        selection = recommended_selection(model, objective, judged=select_on is not None)
    selection = selection.with_options(**asked)
    batches = None
    if select_on is not None:
        if not model.has_supernet:
            raise NatError(f"--select-on needs the supernet, and {model.source} holds the policy only: pass "
                           "--transformer RUN_DIR (a `nat search` run folder) or a file packed with its supernet")
        batches = (selection_batches(model, str(select_on), selection.subset) if isinstance(select_on, (str, Path))
                   else list(select_on))
    key = backbone_of(arch)
    if key is not None:
        from .nn.backbones import backbone_cost
        data = _backbone_dataset(key, dataset, channels, layers, label)
        cost_fn, config, size = (lambda g: backbone_cost(key, g, dataset=data)), None, {"backbone": key,
                                                                                       "dataset": data}
    else:
        config = network_config(beta, dataset, channels, layers)
        cost_fn, size = None, {"dataset": config.dataset, "channels": config.channels, "layers": config.layers}
    kwargs = {"cost_config": config} if config is not None else {}
    result = run(beta, model, selection, batches=batches, seed=seed, cost_fn=cost_fn, **kwargs)
    result.label, result.size, result.transformer = label, size, model.source
    if transformer is None:
        result.notes.insert(0, _family_note(beta))
        from .search.transform import shipped_caution, shipped_transformer
        caution = shipped_caution(shipped_transformer(beta))
        if caution:
            result.notes.insert(0, "caution: " + caution)
    return result
