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

The model factory (``resolve``, ``build_model``, ``cost``, ...) is :mod:`nat.factory`, re-exported
here; nothing inside the library imports this module, which sits above search and training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .errors import NatError
from .factory import Arch, _backbone_dataset, backbone_of, build_model, cost, network_config, resolve

if TYPE_CHECKING:  # importing torch-heavy modules here would slow `import nat` for no use
    from .arch.genotype import Genotype
    from .search.selection import Selection
    from .search.transform import Transformer, TransformResult

__all__ = ["resolve", "backbone_of", "network_config", "build_model", "cost", "load_transformer", "transform"]


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
              max_changes: int | None = None, dataset: str | None = None, channels: int | None = None, layers: int | None = None,
              seed: int = 0, name: str | None = None, threads: int | str | None = "auto") -> TransformResult:
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

    ``threads``: CPU threads torch computes with during the call (``"auto"``: the cores idle now,
    as the command line does; a number; ``None``: leave torch's setting alone). The caller's own
    setting is restored afterwards. torch's default, a thread per core, collapses on a machine
    other work keeps busy (``bench/bench_api_threads.py``).
    """
    from .runtime.threads import threads_for_call
    with threads_for_call(threads):
        return _transform(arch, transformer, select_on=select_on, selection=selection, dataset=dataset,
                          channels=channels, layers=layers, seed=seed, name=name,
                          asked={"objective": objective, "no_null": no_null, "greedy": greedy,
                                 "candidates": candidates, "subset": subset, "score": score, "refine": refine,
                                 "margin": margin, "significance": significance, "tolerance": tolerance,
                                 "proxy": proxy, "proxy_weight": proxy_weight, "max_changes": max_changes})


def _track_record(model, selection, *, judged: bool) -> str | None:
    """How the selection just applied did where an answer key could grade it, when it is the one
    the transformer recommends and the file says: a verdict's z alone overstates how sure it is."""
    from .search.transform import recommended_selection
    saved = model.recommended.get(selection.objective) or {}
    if not judged or "measured" not in saved or recommended_selection(model, selection.objective) != selection:
        return None
    return f"track record of this {selection.objective} selection: {saved['measured']}"


def _transform(arch, transformer, *, select_on, selection, dataset, channels, layers, seed, name, asked):
    from .search.transform import Transformer, check_space, recommended_selection, selection_batches
    from .search.transform import transform as run
    label, beta = resolve(arch, name=name)
    model = transformer if isinstance(transformer, Transformer) else load_transformer(transformer, beta)
    check_space(beta, model)
    if selection is None:
        selection = recommended_selection(model, asked["objective"], judged=select_on is not None)
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
    track_record = _track_record(model, selection, judged=select_on is not None)
    if track_record:
        result.notes.append(track_record)
    if transformer is None:
        result.notes.insert(0, _family_note(beta))
        from .search.transform import shipped_caution, shipped_transformer
        caution = shipped_caution(shipped_transformer(beta))
        if caution:
            result.notes.insert(0, "caution: " + caution)
    return result
