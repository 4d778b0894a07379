"""Transforming an architecture with a trained policy (paper Sec. 3.4, "Inference").

``Sampling``: draw K transformed cells from the policy (paper: 10), score each with the supernet
on held-out images, keep the best. ``Maximum`` (``greedy``): take every edge's most probable
action. Without a supernet and data to score on, sampling keeps the candidate the policy finds
most probable.

Guarantee: the result is a legal transformation of the input and costs no more, in parameters
and in multiply-adds, at the network size asked for (default: CIFAR-10, C=36, L=20). Every
candidate is checked by building both networks; one that fails is dropped, and if none is left
the input is returned unchanged (the identity is always legal and never costlier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Callable

import torch

from ..arch.genotype import CELL_TYPES, Genotype
from ..arch.rules import is_legal_transformation
from ..arch.space import get_space, space_of
from ..costs import Cost, genotype_cost
from ..errors import NatError
from ..nn.network import NetworkConfig
from ..policy import Policy, make_policy
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from .config import SearchConfig
from .proxies import PROXIES, Combined, synflow_of
from .refine import refine as hill_climb
from .rewards import SCORES, image_losses, paired_z
from .rewards import score as score_of
from .supernet import build_supernet

__all__ = ["Transformer", "TransformResult", "load_transformer", "pack_transformer", "transform", "changed_edges",
           "check_space", "shipped_transformer", "selection_batches"]


@dataclass
class Transformer:
    """A trained policy, and the supernet it was trained with when available (for scoring)."""

    policy: Policy
    space: str
    source: str
    _supernet: torch.nn.Module | None = None  # the space's supernet class; read it as `supernet`
    config: dict = field(default_factory=dict)
    supernet_config: dict = field(default_factory=dict)  # the supernet's run: whose held-out split scores
    # Builds the supernet on first use: a transform without --select-on never pays for it.
    _supernet_loader: Callable[[], torch.nn.Module] | None = field(default=None, repr=False)

    @property
    def supernet(self) -> torch.nn.Module | None:
        if self._supernet is None and self._supernet_loader is not None:
            self._supernet, self._supernet_loader = self._supernet_loader(), None
        return self._supernet

    @property
    def has_supernet(self) -> bool:
        """Whether a supernet comes with this transformer (without building it)."""
        return self._supernet is not None or self._supernet_loader is not None

    @property
    def held_out_config(self) -> dict:
        """The config whose 40/60 split the supernet never trained on (its own run's)."""
        return self.supernet_config or self.config


def shipped_transformer(genotype: Genotype) -> Path:
    """The transformer shipped with the package for this genotype's cell family."""
    if space_of(genotype).tied:  # a NAS-Bench-201 cell
        name = "transformer-nb201.pt"
    else:
        fully_concat = all(tuple(c.concat) == tuple(c.intermediate) for c in genotype.cells().values())
        name = "transformer-darts.pt" if fully_concat else "transformer-loose-end.pt"
    path = Path(str(resources.files("nat").joinpath("pretrained", name)))
    if not path.exists():
        fallback = Path(str(resources.files("nat").joinpath("pretrained", "transformer-darts.pt")))
        if not fallback.exists():
            raise NatError("no transformer is shipped with this installation; train one with `nat search` "
                           "and pass --transformer RUN_DIR")
        path = fallback
    return path


def shipped_caution(path: Path) -> str | None:
    """The warning that ships beside a packaged transformer known to do harm (its folder's CAUTION
    file), said with every result it gives."""
    folder = path.with_name(path.stem.removeprefix("transformer-"))
    try:
        return (folder / "CAUTION").read_text().strip() or None
    except OSError:
        return None


def load_transformer(spec: str | Path | None, genotype: Genotype, device: str | torch.device = "cpu") -> Transformer:
    """From a search run folder (policy + supernet), a transformer file, or the shipped one."""
    path = Path(spec) if spec is not None else shipped_transformer(genotype)
    supernet_state = None
    if path.is_dir():
        if not (path / "transformer.pt").exists():
            raise NatError(f"{path}: no transformer.pt in this folder (is it a `nat search` run?)")
        if (path / "last.pt").exists():
            supernet_state = load_checkpoint(path / "last.pt", device)
        path = path / "transformer.pt"
    state = load_checkpoint(path, device)
    if state.get("format") != "nat-transformer":
        raise NatError(f"{path}: not a transformer file (expected one written by `nat search`)")
    # the file carries the policy's settings: its run's config and space
    policy = make_policy(state["policy"], cost_aware=state["config"].get("cost_aware", True),
                         cell_types=get_space(state["space"]).cell_types).to(device)
    policy.load_state_dict(state["state_dict"])
    policy.eval()
    weights, supernet_config = None, {}
    if supernet_state is not None and supernet_state.get("supernet") is not None:  # none with a table reward
        supernet_config, weights = supernet_state["config"], supernet_state["supernet"]
    elif state.get("supernet") is not None:  # a packed file (`pack_transformer`): the supernet travels with it
        supernet_config, weights = state["supernet"]["config"], state["supernet"]["state_dict"]
    loader = None if weights is None else partial(_supernet_from, supernet_config, weights, device)
    return Transformer(policy, state["space"], str(path), None, state["config"], supernet_config,
                       _supernet_loader=loader)


def _supernet_from(config: dict, state_dict: dict, device) -> torch.nn.Module:
    classes = state_dict["classifier_bias"].shape[0]
    supernet = build_supernet(SearchConfig.from_dict(config), classes, device)
    supernet.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})
    return supernet.eval()


def pack_transformer(policy: str | Path, out: str | Path, *, supernet_run: str | Path | None = None,
                     half: bool = True) -> Path:
    """Write one file holding a policy and the supernet that scores its candidates, so that
    ``nat transform --select-on DATA --refine`` works without the run folder (the shipped files
    are made this way).

    ``policy``: a search run folder or a transformer file; ``supernet_run``: the run folder whose
    ``last.pt`` holds the supernet (default: the policy's own folder; a policy trained on cached
    scores names the supernet run that made them). ``half`` stores the weights in float16: half
    the size; the scores move by about 1e-4.
    """
    policy = Path(policy)
    source = policy / "transformer.pt" if policy.is_dir() else policy
    run = Path(supernet_run) if supernet_run is not None else (policy if policy.is_dir() else policy.parent)
    state = load_checkpoint(source)
    if state.get("format") != "nat-transformer":
        raise NatError(f"{source}: not a transformer file (expected one written by `nat search`)")
    if not (run / "last.pt").exists():
        raise NatError(f"{run}: no last.pt here to take the supernet from (is it a `nat search` run folder?)")
    checkpoint = load_checkpoint(run / "last.pt")
    if checkpoint.get("supernet") is None:
        raise NatError(f"{run}: this run trained no supernet (a table reward): pass supernet_run=, "
                       "the run whose supernet made its scores")
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in checkpoint["supernet"].items()}
    save_checkpoint({**state, "supernet": {"config": checkpoint["config"], "state_dict": weights,
                                           "source": str(run)}}, out)
    return Path(out)


def selection_batches(transformer: Transformer, data_spec: str, subset: int) -> list:
    """A seeded random sample of ``subset`` held-out images of the supernet run's split of
    ``data_spec`` (see :func:`nat.search.trainer.scoring_batches`): the images candidates are scored on."""
    from ..data import load_dataset
    from .trainer import scoring_batches, search_split
    cfg = transformer.held_out_config
    data = load_dataset(data_spec)
    _, held_out = search_split(len(data.train_images), subset=cfg.get("subset"), split=tuple(cfg["split"]),
                               seed=cfg["split_seed"])
    return scoring_batches(data.train_images, data.train_labels, held_out, subset, data.mean, data.std,
                           seed=cfg["split_seed"])


def changed_edges(beta: Genotype, alpha: Genotype) -> list[dict]:
    """One entry per edge whose op changed: cell, from node, to node, old op, new op. Genotypes of
    a tied space (nb201) list their one cell once, as cell ``"cell"``."""
    tied = space_of(beta).tied and space_of(alpha).tied
    names = {"normal": "cell"} if tied else {name: name for name in CELL_TYPES}
    return [{"cell": shown, "from": eb.src, "to": eb.dst, "old": eb.op, "new": ea.op}
            for name, shown in names.items()
            for eb, ea in zip(getattr(beta, name).edges, getattr(alpha, name).edges) if eb.op != ea.op]


def check_space(beta: Genotype, transformer: Transformer) -> None:
    """Raise :class:`NatError` when ``beta`` and the transformer belong to different kinds of space:
    a tied-space (nb201) policy decides one cell for both, a DARTS-space policy two."""
    space, home = get_space(transformer.space), space_of(beta)
    if space.tied and space is not home:
        raise NatError(f"this transformer was trained on the {space.name} space; the input is not one of its cells")
    if home.tied and not space.tied:
        raise NatError(f"the input is a cell of the {home.name} space, but this transformer was trained on the "
                       f"{space.name} space (train one with `nat search --space {home.name}`)")


@dataclass
class TransformResult:
    input: Genotype
    genotype: Genotype
    method: str
    cost_before: Cost
    cost_after: Cost
    candidates: list[dict]   # every distinct candidate: its log-prob, score, and why it was dropped
    notes: list[str]
    input_won: bool = False  # Sampling with supernet scores: the input scored at least as high as every candidate
    refinement: list[dict] = field(default_factory=list)  # one-edge moves taken after the policy's choice
    significance: float | None = None  # paired standard errors by which the best change's loss beats the input's
    transformer: str = ""              # where the policy came from (nat.transform: its source)
    label: str = ""                    # what the input was called (nat.transform: the ARCH as given)
    size: dict = field(default_factory=dict)  # the network the costs are of (dataset, C, L, or the backbone)

    @property
    def changed(self) -> list[dict]:
        return changed_edges(self.input, self.genotype)


def transform(beta: Genotype, transformer: Transformer, *, candidates: int = 10, greedy: bool = False,
              batches: list | None = None, cost_config: NetworkConfig = NetworkConfig(),
              seed: int = 0, cost_fn: Callable[[Genotype], Cost] | None = None,
              score: str = "fit", refine: bool = False, margin: float = 0.0,
              significance: float | None = None, proxy: str | None = None, proxy_weight: float = 1.0,
              proxy_reference: int = 32) -> TransformResult:
    """Transform ``beta``; score sampled candidates on ``batches`` with the supernet if both exist.

    ``score`` ranks them: ``fit`` (``exp(-cross-entropy)``, default: it decides moves far better
    on NAS-Bench-201's ground truth) or ``accuracy`` (the paper's). The input is always scored too.

    ``refine`` (needs the supernet and ``batches``; also after ``greedy``): hill-climb the chosen
    cell on the same score, one legal edge change at a time (:mod:`nat.search.refine`).
    ``margin``: a change is returned only if it scores this many points (percent) above the input;
    otherwise the input is (the safety the end-to-end benchmark measures, README).
    ``significance`` (a number of standard errors, e.g. 2): a change is returned only if its
    held-out loss is below the input's by that many standard errors of the per-image paired
    difference (:func:`nat.search.rewards.paired_z`). Unlike ``margin`` its unit does not depend on
    how well the supernet fits, so one value serves every supernet and space.

    ``proxy`` (``"synflow"``; needs the supernet and ``batches``): rank by the supernet's score
    plus a training-free one (:class:`nat.search.proxies.Combined`, at ``proxy_weight`` in
    standard units), with scales measured on ``proxy_reference`` random legal transformations of
    ``beta``. On NAS-Bench-201 it corrects the supernet's blindness to what convolutions are
    worth (README, "Making NAT improve cells", step 7). Margins stay in the score's points.

    ``cost_fn`` replaces building each candidate at ``cost_config`` (``nat bench`` passes the
    NAS-Bench-201 cost model, exact and without building thousands of networks).
    """
    if candidates < 1:
        raise NatError(f"--candidates must be at least 1, got {candidates}")
    if score not in SCORES:
        raise NatError(f"--score must be one of {', '.join(SCORES)}, got {score!r}")
    if not margin >= 0:
        raise NatError(f"--margin must be a number of points >= 0, got {margin}")
    if significance is not None and not significance >= 0:
        raise NatError(f"--significance must be a number of standard errors >= 0, got {significance}")
    if proxy is not None and proxy not in PROXIES:
        raise NatError(f"--proxy must be one of {', '.join(PROXIES)}, got {proxy!r}")
    if proxy is not None and not (proxy_weight >= 0 and proxy_reference >= 2):
        raise NatError(f"--proxy-weight must be >= 0 and the reference at least 2 cells, got {proxy_weight}, "
                       f"{proxy_reference}")
    policy, notes = transformer.policy, []
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        draws = [policy.argmax(beta)] if greedy else [policy.sample(beta, gen) for _ in range(candidates)]
    name = transformer.policy.name.upper() if transformer.policy.name != "random" else "Random"
    method = f"{'Maximum' if greedy else 'Sampling'}-{name}" + ("+refine" if refine else "")
    cost_cache: dict[Genotype, Cost] = {}

    def cost(g: Genotype) -> Cost:
        if g not in cost_cache:
            cost_cache[g] = cost_fn(g) if cost_fn is not None else genotype_cost(g, cost_config)
        return cost_cache[g]

    before = cost(beta)
    seen: dict[Genotype, dict] = {}
    for d in draws:
        if d.alpha is None:
            notes.append("a candidate left a cell whose output depends on nothing; dropped")
            continue
        if d.alpha in seen:
            continue
        entry = {"genotype": d.alpha, "log_prob": float(d.log_prob), "score": None, "dropped": None}
        seen[d.alpha] = entry
        if not is_legal_transformation(beta, d.alpha):  # cannot happen with a masked policy; checked anyway
            entry["dropped"] = "illegal"
        else:
            entry["dropped"] = _cost_problem(d.alpha, before, cost)
    if refine and beta not in seen:  # refinement may start from the input (every draw may have been dropped)
        seen[beta] = {"genotype": beta, "log_prob": float("-inf"), "score": None, "dropped": None, "input": True}
    usable = [e for e in seen.values() if e["dropped"] is None]
    supernet, input_score = None, None
    if usable and (refine or (not greedy and len(usable) > 1)):
        supernet = transformer.supernet
        if supernet is not None and batches:
            try:
                supernet.check(beta)
            except NatError as err:
                notes.append(f"not scored with the supernet: {err}")
                supernet = None
            if supernet is not None:
                rank = lambda g: score_of(score, supernet, g, batches)  # noqa: E731
                if proxy is not None:
                    rank = _with_proxy(rank, beta, transformer, proxy_weight, proxy_reference, gen, notes)
                for e in usable:
                    e["score"] = rank(e["genotype"])
                # the input is always a candidate: Sampling never returns a cell its own supernet
                # scores below the input
                input_score = seen[beta]["score"] if seen.get(beta, {}).get("score") is not None \
                    else rank(beta)
        if usable[0]["score"] is None:
            notes.append("no supernet scoring (give --transformer RUN_DIR and --select-on DATA): "
                         + ("not refined, " if refine else "") + "kept the most probable candidate")
            if not greedy:  # nothing was selected: do not call it Sampling
                method = f"{name}, most probable of {len(draws)} samples (unscored)"
    elif not greedy and len(usable) == 1:
        method = f"{name}, the one usable sample of {len(draws)} (unscored)"
    input_won, steps, z = False, [], None
    if not usable:
        notes.append("no candidate was legal and no costlier: the input is returned unchanged")
        best = beta
    else:
        key = (lambda e: (e["score"], e["log_prob"])) if usable[0]["score"] is not None else (lambda e: e["log_prob"])
        top = max(usable, key=key)
        best, best_score = top["genotype"], top["score"]
        if best_score is not None:
            # the input is always a candidate: a result never scores below the input (ties keep it)
            # the best score of a real change (the input may be among the candidates, and the top)
            rival = max((e["score"] for e in usable if e["genotype"] != beta), default=None)
            if input_score >= best_score:
                best, best_score = beta, input_score
            if refine:
                known = {e["genotype"]: e["score"] for e in usable} | {beta: input_score}
                polished = hill_climb(beta, best, rank, known=known,
                                      allowed=lambda g: _cost_problem(g, before, cost) is None)
                notes.append(f"refined: {len(polished.steps)} one-edge move(s) after the choice, "
                             f"{polished.evaluations} more cell(s) scored")
                best, best_score, steps = polished.genotype, polished.score, polished.steps
                rival = best_score if best != beta else rival
            short = best != beta and best_score < input_score + margin / 100
            if short or (best == beta and rival is not None):
                input_won = True
                notes.append(f"the input won: the supernet's {score} is {100 * input_score:.2f} for it, for the best "
                             f"transformation {100 * rival:.2f}"
                             + (f", less than {margin:g} point(s) more" if short else "") + "; returned unchanged")
                best, steps = beta, []
            if significance is not None and best != beta:
                z = paired_z(image_losses(supernet, beta, batches), image_losses(supernet, best, batches))
                if not z >= significance:
                    input_won = True
                    notes.append(f"the input won: the best transformation's held-out loss is lower by {z:.2f} "
                                 f"standard error(s), fewer than {significance:g}; returned unchanged")
                    best, steps = beta, []
    table = [{k: v for k, v in e.items() if k != "genotype"} for e in seen.values()]
    return TransformResult(beta, best, method, before, cost(best), table, notes, input_won, steps, z)


def _with_proxy(fit: Callable[[Genotype], float], beta: Genotype, transformer: Transformer, weight: float,
                reference: int, gen: torch.Generator, notes: list[str]) -> Callable[[Genotype], float]:
    """``fit`` combined with SynFlow at the supernet's size, scaled on random legal transformations
    of ``beta`` (drawn by the paper's Random policy, so no score decides which)."""
    cfg = transformer.held_out_config
    if not {"channels", "layers"} <= cfg.keys():
        raise NatError(f"--proxy builds networks at the supernet's size, and {transformer.source} does not record it")
    size = {"dataset": cfg.get("dataset", "cifar10"), "channels": cfg["channels"], "layers": cfg["layers"],
            "resolution": cfg.get("resolution") or 32}
    cache: dict[Genotype, float] = {}

    def flow(g: Genotype) -> float:
        if g not in cache:
            cache[g] = synflow_of(g, **size)
        return cache[g]

    uniform = make_policy("random", cost_aware=transformer.policy.cost_aware, cell_types=transformer.policy.cell_types)
    with torch.no_grad():
        drawn = list(dict.fromkeys(d.alpha for d in (uniform.sample(beta, gen) for _ in range(reference))
                                   if d.alpha is not None))
    fits = {g: fit(g) for g in drawn}
    try:
        combine = Combined.fitted([fits[g] for g in drawn], [flow(g) for g in drawn], weight)
    except ValueError as err:
        notes.append(f"not combined with synflow ({err}): ranked by the supernet alone")
        return fit
    notes.append(f"ranked by the supernet's score + synflow (weight {weight:g}; scales from {len(drawn)} random "
                 "legal transformations of the input)")
    return lambda g: combine(fits[g] if g in fits else fit(g), flow(g))


def _cost_problem(g: Genotype, before: Cost, cost: Callable[[Genotype], Cost]) -> str | None:
    """Why ``g`` may not be returned on cost grounds (``None``: it is buildable and no costlier)."""
    try:
        after = cost(g)
    except NatError as err:  # e.g. a block a hand-crafted backbone cannot hold
        return f"cannot be built: {err}"
    return "costs more" if after.params > before.params or after.madds > before.madds else None
