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

import math
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..arch.genotype import CELL_TYPES, Genotype
from ..arch.rules import is_legal_transformation
from ..arch.space import get_space, space_of
from ..costs import Cost, genotype_cost
from ..errors import NatError
from ..nn.network import NetworkConfig
from ..ops import SKIP
from ..policy import Policy, make_policy
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from .config import SearchConfig
from .proxies import Combined, synflow_of
from .refine import one_edge_moves
from .refine import refine as hill_climb
from .rewards import image_losses
from .rewards import score as score_of
from .ensemble import SupernetEnsemble
from .selection import Selection
from .supernets import build_supernet

__all__ = ["Transformer", "TransformResult", "Candidate", "Judge", "Selection", "load_transformer", "pack_transformer", "transform", "changed_edges",
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
    # objective -> Selection.as_dict(): what the file recommends with --select-on (and how it was measured)
    recommended: dict = field(default_factory=dict)

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
    weights, supernet_config, members = None, {}, []
    if supernet_state is not None and supernet_state.get("supernet") is not None:  # none with a table reward
        supernet_config, weights = supernet_state["config"], supernet_state["supernet"]
    elif state.get("supernet") is not None:  # a packed file (`pack_transformer`): the supernet travels with it
        supernet_config, weights = state["supernet"]["config"], state["supernet"]["state_dict"]
        members = [(m["config"], m["state_dict"]) for m in state.get("ensemble") or ()]
    loader = None if weights is None else partial(_supernets_from, [(supernet_config, weights), *members], device)
    return Transformer(policy, state["space"], str(path), None, state["config"], supernet_config,
                       _supernet_loader=loader, recommended=dict(state.get("recommended") or {}))


def recommended_selection(transformer: Transformer, objective: str | None = None, *, judged: bool = True) -> Selection:
    """The selection ``transformer`` recommends for ``objective`` when candidates are judged on
    data (``judged``), else the defaults; either way with that objective."""
    objective = objective or "accurate"
    saved = transformer.recommended.get(objective) if judged else None
    base = Selection.from_dict({k: v for k, v in saved.items() if k != "measured"}) if saved else Selection()
    return base.with_options(objective=objective)


def recommend(path: str | Path, selections: dict[str, Selection], measured: dict[str, str] | None = None) -> Path:
    """Record in a transformer file the selection it recommends for each objective (what
    ``--select-on DATA`` alone then applies), with a line on how each was measured."""
    path = Path(path)
    state = load_checkpoint(path)
    if state.get("format") != "nat-transformer":
        raise NatError(f"{path}: not a transformer file (expected one written by `nat search`)")
    state["recommended"] = {objective: {**sel.with_options(objective=objective).as_dict(),
                                        **({"measured": measured[objective]} if measured and objective in measured
                                           else {})}
                            for objective, sel in selections.items()}
    save_checkpoint(state, path)
    return path


def _supernets_from(saved: list[tuple[dict, dict]], device) -> torch.nn.Module:
    """The supernet, or the ensemble of several (:class:`~nat.search.ensemble.SupernetEnsemble`)."""
    nets = []
    for config, state_dict in saved:
        classes = state_dict["classifier_bias"].shape[0]
        supernet = build_supernet(SearchConfig.from_dict(config), classes, device)
        supernet.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})
        nets.append(supernet.eval())
    return nets[0] if len(nets) == 1 else SupernetEnsemble(nets).eval()


def pack_transformer(policy: str | Path, out: str | Path, *, supernet_run: str | Path | None = None,
                     ensemble: Sequence[str | Path] = (), half: bool = True) -> Path:
    """Write one file holding a policy and the supernet that judges its candidates, so that
    ``nat transform --select-on DATA`` works without the run folder (the shipped files are made
    this way).

    ``policy``: a search run folder or a transformer file; ``supernet_run``: the run folder whose
    ``last.pt`` holds the supernet (default: the policy's own folder; a policy trained on cached
    scores names the supernet run that made them). ``ensemble``: more run folders whose supernets
    judge together with it (:class:`~nat.search.ensemble.SupernetEnsemble`; all trained on one
    40/60 split). ``half`` stores the weights in float16: half the size; scores move by about 1e-4.
    """
    policy = Path(policy)
    source = policy / "transformer.pt" if policy.is_dir() else policy
    run = Path(supernet_run) if supernet_run is not None else (policy if policy.is_dir() else policy.parent)
    state = load_checkpoint(source)
    if state.get("format") != "nat-transformer":
        raise NatError(f"{source}: not a transformer file (expected one written by `nat search`)")
    first, *more = [_packed_supernet(Path(r), half) for r in (run, *ensemble)]
    split = lambda c: (tuple(c["split"]), c["split_seed"], c.get("subset"))  # noqa: E731
    for member in more:
        if split(member["config"]) != split(first["config"]):
            raise NatError(f"{member['source']}: trained on another 40/60 split than {first['source']}; an ensemble's "
                           "members are judged on one held-out split")
    save_checkpoint({**state, "supernet": first, "ensemble": more}, out)
    return Path(out)


def _packed_supernet(run: Path, half: bool) -> dict:
    if not (run / "last.pt").exists():
        raise NatError(f"{run}: no last.pt here to take the supernet from (is it a `nat search` run folder?)")
    checkpoint = load_checkpoint(run / "last.pt")
    if checkpoint.get("supernet") is None:
        raise NatError(f"{run}: this run trained no supernet (a table reward): pass supernet_run=, "
                       "the run whose supernet made its scores")
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in checkpoint["supernet"].items()}
    return {"config": checkpoint["config"], "state_dict": weights, "source": str(run)}


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


_SCORED_OPTIONS = "--objective compact, --refine, --margin, --significance and --proxy"


@dataclass
class TransformResult:
    input: Genotype
    genotype: Genotype
    method: str
    cost_before: Cost
    cost_after: Cost
    candidates: list[dict]   # every distinct candidate: its log-prob, score, and why it was dropped
    notes: list[str]
    input_won: bool = False  # with supernet scores: no transformation passed the selection's test
    refinement: list[dict] = field(default_factory=list)  # one-edge moves taken after the policy's choice
    significance: float | None = None  # paired standard errors of the returned change's test (see `expected`)
    transformer: str = ""              # where the policy came from (nat.transform: its source)
    label: str = ""                    # what the input was called (nat.transform: the ARCH as given)
    size: dict = field(default_factory=dict)  # the network the costs are of (dataset, C, L, or the backbone)
    objective: str = "accurate"
    selection: dict = field(default_factory=dict)  # the Selection used (Selection.as_dict)
    verdict: str = ""                  # what the change is worth, in words (see _verdict)
    expected: dict = field(default_factory=dict)  # the numbers behind the verdict

    @property
    def changed(self) -> list[dict]:
        return changed_edges(self.input, self.genotype)


@dataclass
class Candidate:
    """One distinct transformation the selection considered."""

    genotype: Genotype
    log_prob: float
    score: float | None = None
    dropped: str | None = None  # why it may not be returned (illegal, costs more, ...)
    is_input: bool = False

    def as_row(self) -> dict:
        row = {"log_prob": self.log_prob, "score": self.score, "dropped": self.dropped}
        return {**row, "input": True} if self.is_input else row


class Judge:
    """The supernet's verdicts on cells, each cell scored once: its score (the fit or accuracy,
    plus a proxy if asked), and its per-image held-out losses for the paired tests.

    How sure a verdict is: the paired z of the per-image losses counts the noise of the *images*.
    A supernet's judgement carries a second noise, its own training run's: two supernets trained
    alike disagree on small differences by about twice the image noise (NAS-Bench-201's good cells:
    docs/results/nas-bench-201.md). With an ensemble the members' disagreement on the input's own
    one-edge moves measures it (``model_var``, pooled), and every z counts both:
    ``z = mean difference / sqrt(image SE^2 + model_var / members)``. One supernet cannot measure
    its own training noise; its z counts the images only, and says so (``model_noise_counted``).
    """

    def __init__(self, supernet, batches: list, rank: Callable[[Genotype], float], *,
                 beta: Genotype | None = None, no_null: bool = False) -> None:
        self.supernet, self.batches, self._rank = supernet, batches, rank
        self.beta, self.no_null = beta, no_null
        self.members = list(supernet.members) if isinstance(supernet, SupernetEnsemble) else [supernet]
        self._scores: dict[Genotype, float] = {}
        self._losses: dict[Genotype, torch.Tensor] = {}  # (members, images)
        self._model_var: float | None = None

    @property
    def model_noise_counted(self) -> bool:
        return len(self.members) > 1

    def score(self, g: Genotype) -> float:
        if g not in self._scores:
            self._scores[g] = float(self._rank(g))
        return self._scores[g]

    def member_losses(self, g: Genotype) -> torch.Tensor:
        """Per-image losses of ``g`` under each member, ``(members, images)``."""
        if g not in self._losses:
            self._losses[g] = torch.stack([image_losses(m, g, self.batches) for m in self.members])
        return self._losses[g]

    def losses(self, g: Genotype) -> torch.Tensor:
        """Per-image losses, averaged over the members."""
        return self.member_losses(g).mean(dim=0)

    @property
    def model_var(self) -> float:
        """The variance of one member's judgement of a loss difference about the members' mean,
        pooled over the input's one-edge moves (0 with one supernet: it cannot be measured)."""
        if self._model_var is None:
            self._model_var = 0.0
            if self.model_noise_counted and self.beta is not None:
                ref = self.member_losses(self.beta).mean(dim=1)
                spreads = [float((ref - self.member_losses(g).mean(dim=1)).var(unbiased=True))
                           for g, _ in one_edge_moves(self.beta, self.beta, no_null=self.no_null)]
                self._model_var = sum(spreads) / len(spreads) if spreads else 0.0
        return self._model_var

    def _z(self, reference: torch.Tensor, other: torch.Tensor) -> float:
        d = (reference - other).double()
        var = float(d.var(unbiased=True)) / d.numel() + self.model_var / len(self.members)
        mean = float(d.mean())
        if var <= 0:
            return 0.0 if mean == 0 else math.copysign(math.inf, mean)
        return mean / math.sqrt(var)

    def z_better(self, reference: Genotype, other: Genotype) -> float:
        """Standard errors by which ``other``'s held-out loss is below ``reference``'s."""
        return self._z(self.losses(reference), self.losses(other))

    def z_no_worse(self, reference: Genotype, other: Genotype, tolerance: float) -> float:
        """Standard errors by which ``other``'s loss is below ``reference``'s plus ``tolerance``
        percent of it: the non-inferiority statistic (large: confidently no worse)."""
        return self._z(self.losses(reference) * (1 + tolerance / 100), self.losses(other))

    def loss_change(self, reference: Genotype, other: Genotype) -> float:
        """``other``'s mean held-out loss relative to ``reference``'s, in percent (negative: lower)."""
        ref = float(self.losses(reference).mean())
        return 100 * (float(self.losses(other).mean()) - ref) / ref if ref > 0 else 0.0


def transform(beta: Genotype, transformer: Transformer, selection: Selection = Selection(), *,
              batches: list | None = None, cost_config: NetworkConfig = NetworkConfig(), seed: int = 0,
              cost_fn: Callable[[Genotype], Cost] | None = None) -> TransformResult:
    """Transform ``beta`` as ``selection`` says (:class:`~nat.search.selection.Selection`).

    The policy proposes (K samples, or its most probable action per edge), every proposal that is
    illegal or costs more is dropped, and what is left is judged by the supernet on ``batches``
    when both exist: the ``accurate`` objective returns the best-scored candidate (refined if
    asked) when it beats the input by the selection's test, the ``compact`` objective the cheapest
    transformation it judges no worse than the input. Without a supernet or batches the policy's
    most probable candidate is returned, unjudged. The result is always a legal transformation of
    ``beta`` that costs no more (in parameters and multiply-adds) at ``cost_config``; ``cost_fn``
    replaces building each candidate (``nat bench`` passes the NAS-Bench-201 cost model).
    """
    if selection.scored and not batches:
        raise NatError(f"{_SCORED_OPTIONS} judge candidates with the supernet: give --select-on DATA too")
    if batches and not transformer.has_supernet:
        raise NatError(f"--select-on needs the supernet, and {transformer.source} holds the policy only: pass "
                       "--transformer RUN_DIR (a `nat search` run folder) or a file packed with its supernet")
    cost = _cost_memo(cost_fn, cost_config)
    before = cost(beta)
    gen = torch.Generator().manual_seed(seed)
    notes: list[str] = []
    pool, drawn = _propose(beta, transformer.policy, selection, gen, notes)
    _screen(pool, beta, before, cost)
    judge = _judge(beta, transformer, selection, batches, gen, notes)
    name = transformer.policy.name.upper() if transformer.policy.name != "random" else "Random"
    method = f"{'Maximum' if selection.greedy else 'Sampling'}-{name}" + ("+refine" if selection.refine else "")
    if selection.objective == "compact":
        method = f"{method}, compact"
    def too_many_changes(g: Genotype) -> bool:
        return selection.max_changes is not None and len(changed_edges(beta, g)) > selection.max_changes

    for c in pool.values():  # before anything is judged: what may not be returned is not scored
        if c.dropped is None and too_many_changes(c.genotype):
            c.dropped = f"changes more than {selection.max_changes} edge(s)"
    usable = [c for c in pool.values() if c.dropped is None]

    def allowed(g: Genotype) -> bool:  # what refinement and the compact descent may step to
        return _cost_problem(g, before, cost) is None and not too_many_changes(g)
    chosen = beta
    steps: list[dict] = []
    searches_on = judge is not None and (selection.refine or selection.objective == "compact")
    if not usable and not searches_on:  # refinement and the compact descent start from the input itself
        notes.append("no candidate was legal and no costlier: the input is returned unchanged")
    elif judge is None:
        top = max(usable, key=lambda c: c.log_prob)
        chosen = top.genotype
        if not selection.greedy:
            method = (f"{name}, the one usable sample of {len(drawn)} (unscored)" if len(usable) == 1 else
                      f"{name}, most probable of {len(drawn)} samples (unscored)")
    elif selection.objective == "accurate":
        chosen, steps = _choose_accurate(beta, usable, judge, selection, allowed, notes)
    else:
        chosen, steps = _choose_compact(beta, usable, judge, selection, allowed, before, cost, notes)
    judged = chosen
    lean, removed, unjudged = _free_savings(chosen, allowed, cost, strided_reduce=not space_of(beta).tied)
    if selection.objective == "compact" and not selection.no_null:
        chosen = lean
        notes.extend(removed)  # what went, or what --max-changes kept
    else:
        if lean != chosen:  # say so: the accurate objective does not trade, and --no-null makes no edge null
            notes.append("the result has idle edges (whose output reaches no output node, or that carry no signal "
                         "from the input) or duplicate branches; " + (
                             "removing them makes edges null, which --no-null forbids (--allow-null lets "
                             "--objective compact remove them)" if selection.no_null else
                             "--objective compact removes them without a judge"))
        unjudged = []
    after = cost(chosen)
    verdict, expected = _verdict(beta, judged, chosen, judge, selection, before, after, unjudged)
    expected["selection_changed"] = judged != beta  # the policy or the judge changed it, not only the savings
    input_won = judge is not None and chosen == beta
    return TransformResult(beta, chosen, method, before, after, [c.as_row() for c in pool.values()], notes,
                           input_won, steps, expected.get("z"), objective=selection.objective,
                           selection=selection.as_dict(), verdict=verdict, expected=expected)


def _cost_memo(cost_fn: Callable[[Genotype], Cost] | None, config: NetworkConfig) -> Callable[[Genotype], Cost]:
    memo: dict[Genotype, Cost] = {}

    def cost(g: Genotype) -> Cost:
        if g not in memo:
            memo[g] = cost_fn(g) if cost_fn is not None else genotype_cost(g, config)
        return memo[g]
    return cost


def _propose(beta: Genotype, policy: Policy, selection: Selection, gen: torch.Generator,
             notes: list[str]) -> tuple[dict[Genotype, Candidate], list]:
    """The policy's distinct proposals (and, for a judged selection, the input itself)."""
    with torch.no_grad():
        drawn = ([policy.argmax(beta, no_null=selection.no_null)] if selection.greedy else
                 [policy.sample(beta, gen, no_null=selection.no_null) for _ in range(selection.candidates)])
    pool: dict[Genotype, Candidate] = {}
    for d in drawn:
        if d.alpha is None:
            notes.append("a candidate left a cell whose output depends on nothing; dropped")
        elif d.alpha not in pool:
            pool[d.alpha] = Candidate(d.alpha, float(d.log_prob), is_input=d.alpha == beta)
    return pool, drawn


def _screen(pool: dict[Genotype, Candidate], beta: Genotype, before: Cost, cost: Callable[[Genotype], Cost]) -> None:
    """Mark every candidate that may not be returned, and why."""
    for c in pool.values():
        if not is_legal_transformation(beta, c.genotype):  # cannot happen with a masked policy; checked anyway
            c.dropped = "illegal"
        else:
            c.dropped = _cost_problem(c.genotype, before, cost)


def _judge(beta: Genotype, transformer: Transformer, selection: Selection, batches: list | None,
           gen: torch.Generator, notes: list[str]) -> Judge | None:
    """The supernet judge, when the transformer has a supernet that holds ``beta`` and there are batches."""
    if not batches:
        return None
    supernet = transformer.supernet
    try:
        supernet.check(beta)
    except NatError as err:
        notes.append(f"not scored with the supernet: {err}")
        return None
    rank = lambda g: score_of(selection.score, supernet, g, batches)  # noqa: E731
    if selection.proxy is not None:
        rank = _with_proxy(rank, beta, transformer, selection.proxy_weight, 32, gen, notes)
    return Judge(supernet, batches, rank, beta=beta, no_null=selection.no_null)


def _choose_accurate(beta: Genotype, usable: list[Candidate], judge: Judge, selection: Selection,
                     allowed: Callable[[Genotype], bool], notes: list[str]) -> tuple[Genotype, list[dict]]:
    """The best-scored candidate (the input counts), refined if asked, then gated."""
    for c in usable:
        c.score = judge.score(c.genotype)
    input_score = judge.score(beta)
    best, best_score = beta, input_score
    if usable:
        top = max(usable, key=lambda c: (c.score, c.log_prob))
        best, best_score = top.genotype, top.score
    rival = max((c.score for c in usable if c.genotype != beta), default=None)
    if input_score >= best_score:  # ties keep the input
        best, best_score = beta, input_score
    steps: list[dict] = []
    if selection.refine:
        known = {c.genotype: c.score for c in usable} | {beta: input_score}
        polished = hill_climb(beta, best, judge.score, known=known, allowed=allowed, no_null=selection.no_null)
        notes.append(f"refined: {len(polished.steps)} one-edge move(s) after the choice, "
                     f"{polished.evaluations} more cell(s) scored")
        best, best_score, steps = polished.genotype, polished.score, polished.steps
        rival = best_score if best != beta else rival
    short = best != beta and best_score < input_score + selection.margin / 100
    if short or (best == beta and rival is not None):
        notes.append(f"the input won: the supernet's {selection.score} is {100 * input_score:.2f} for it, for the "
                     f"best transformation {100 * rival:.2f}"
                     + (f", less than {selection.margin:g} point(s) more" if short else "") + "; returned unchanged")
        return beta, []
    if selection.significance is not None and best != beta:
        z = judge.z_better(beta, best)
        if not z >= selection.significance:
            notes.append(f"the input won: the best transformation's held-out loss is lower by {z:.2f} "
                         f"standard error(s), fewer than {selection.significance:g}; returned unchanged")
            return beta, []
    return best, steps


def _choose_compact(beta: Genotype, usable: list[Candidate], judge: Judge, selection: Selection,
                    allowed: Callable[[Genotype], bool], before: Cost, cost: Callable[[Genotype], Cost],
                    notes: list[str]) -> tuple[Genotype, list[dict]]:
    """The cheapest transformation judged no worse than the input.

    Candidates: the policy's proposals, and a descent from the input that removes cost one legal
    edge change at a time, each step the cheaper cell the supernet scores best among those that
    pass the non-inferiority test against the *input* (never against the last step, so small
    losses cannot add up). Of every candidate that passes, the one with the fewest parameters
    (then multiply-adds, then the best score) is returned; none passing returns the input.
    """
    z_needed = selection.significance if selection.significance is not None else 0.0

    def passes(g: Genotype) -> bool:
        return g == beta or judge.z_no_worse(beta, g, selection.tolerance) >= z_needed

    def key(g: Genotype) -> tuple:
        c = cost(g)
        return c.params, c.madds, -judge.score(g)

    passing = [c.genotype for c in usable if c.genotype != beta and cost(c.genotype) != before and passes(c.genotype)]
    steps: list[dict] = []
    current = beta
    while True:
        here = cost(current)
        cheaper = [(g, move) for g, move in one_edge_moves(beta, current, no_null=selection.no_null)
                   if allowed(g) and (cost(g).params, cost(g).madds) < (here.params, here.madds)]
        ok = [(g, move) for g, move in cheaper if passes(g)]
        if not ok:
            break
        current, move = max(ok, key=lambda gm: judge.score(gm[0]))
        steps.append({**move, "score": judge.score(current)})
        passing.append(current)
    for c in usable:
        c.score = judge.score(c.genotype)
    if not passing:
        notes.append("no judged change: no cheaper transformation is judged no worse than the input")
        return beta, []
    best = min(passing, key=key)
    notes.append(f"compact: {len(steps)} cost-lowering one-edge step(s) from the input, "
                 f"{len(set(passing))} cheaper cell(s) judged no worse")
    return best, steps if best == current else []


def _free_savings(chosen: Genotype, allowed: Callable[[Genotype], bool], cost: Callable[[Genotype], Cost], *,
                  strided_reduce: bool) -> tuple[Genotype, list[str], list[str]]:
    """``chosen`` with what can go without a judge, where that lowers cost and stays ``allowed``
    (else ``chosen``); a note for each step taken or refused; and the kinds removed.

    Idle edges (dead ends, and edges that carry no signal from the input) go first: what the cell
    computes from its input stays. Duplicate branches go next (the same plain convolution twice on
    one tensor into one node, :meth:`~nat.arch.genotype.Cell.redundant_branches`; idle edges can
    hide them), with the idle edges that leaves: the function class stays. No judge is needed, and
    a judge could not pass dead ends anyway (its losses are the input's image by image; a
    non-inferiority test at tolerance 0 has nothing to be sure of). What each costs in training was
    measured on NAS-Bench-201's twins: idle edges nothing, a merge a few hundredths of a point
    (:data:`MERGE_COST`). Networks that never build
    idle edges (DARTS-style cells) save nothing by their removal and are left as they are."""
    notes: list[str] = []
    kinds: list[str] = []
    idle = chosen.without_idle_edges()
    lean = idle.without_redundant_branches(strided_reduce=strided_reduce)
    steps = [(idle, ["idle_edges"], f"{len(changed_edges(chosen, idle))} idle edge(s) (whose output reaches no "
                                    "output node, or that carry no signal from the input)")]
    if lean != idle:
        tidy = lean.without_idle_edges()
        left = len(changed_edges(lean, tidy))
        steps.append((tidy, ["duplicate_branches"], f"{len(changed_edges(idle, lean))} duplicate branch(es) (the same "
                      f"convolution twice on one tensor into one node: the same function class)"
                      + (f" and {left} edge(s) that left idle" if left else "")))
    current = chosen
    for step, kind, what in steps:
        if step == current:
            continue
        was, now = cost(current), cost(step)
        if (now.params, now.madds) >= (was.params, was.madds):
            continue
        if not allowed(step):
            notes.append(f"kept {what}: removing them would break --max-changes")
            break
        saved = 100 * (1 - now.params / was.params) if was.params else 0.0
        notes.append(f"removed {what}, {saved:.0f}% fewer parameters")
        kinds += kind
        current = step
    if "idle_edges" in kinds and chosen.without_dead_ends() == current.without_dead_ends():
        kinds[kinds.index("idle_edges")] = "dead_ends"  # only dead ends went: the same function exactly
    return current, notes, kinds


#: What merging duplicate branches cost on NAS-Bench-201's best quarter, both sides re-measured at
#: twins (``experiments/nb201_table_noise.py``; docs/results/nas-bench-201.md).
MERGE_COST = "on NAS-Bench-201's best quarter a merge cost 0.03 points (SE 0.01)"


#: How the supernet's verdicts on convolutions made skips fared against the truth (NAS-Bench-201's
#: best quarter, one-edge moves; ``experiments/nb201_good_cells.py``): the skip bias of weight sharing.
SKIP_CAUTION = ("caution: it makes {n} convolution(s) a skip, which supernets over-rate: on NAS-Bench-201's best "
                "quarter, convolutions judged this way at z >= 3 lost 0.44 points on average")


def _verdict(beta: Genotype, judged: Genotype, chosen: Genotype, judge: Judge | None, selection: Selection,
             before: Cost, after: Cost, unjudged: list[str]) -> tuple[str, dict]:
    """What the change is worth, in words a user reads, and the numbers behind them. ``judged`` is
    what the selection chose; ``chosen`` that with the savings no judge decides, whose kinds
    ``unjudged`` lists (``dead_ends``, ``idle_edges``, ``duplicate_branches``; see :func:`_free_savings`)."""
    saved = 100 * (1 - after.params / before.params) if before.params else 0.0
    expected: dict = {"params_change": -saved / 100 if before.params else 0.0,
                      "madds_change": (after.madds / before.madds - 1) if before.madds else 0.0}
    if unjudged:
        expected["unjudged"] = list(unjudged)
    costs = (f"{saved:.0f}% fewer parameters" if saved >= 0.5 else "at the same cost" if chosen != beta
             else "the same cost")
    less = ", less what its input-free edges add" if "idle_edges" in unjudged else ""
    if chosen != beta and judged == beta:
        if unjudged == ["dead_ends"]:
            expected["same_function"] = True
            return (f"the same function as your input, {costs}: only edges whose output reaches no output node "
                    "were removed"), expected
        if "duplicate_branches" in unjudged:
            return (f"the same function class as your input{less}, {costs}: duplicate branches merged "
                    f"({MERGE_COST}; not judged)"), expected
        return (f"what your input computes from its input, {costs}: only edges whose output reaches no output "
                "node or that carry no signal from the input were removed (not judged)"), expected
    if "duplicate_branches" in unjudged:
        savings = f"duplicate branches merged, the same function class{less} ({MERGE_COST}; not judged)"
    elif "idle_edges" in unjudged:
        savings = ("idle edges removed: what the cell computes from its input, less the input-independent terms "
                   "its input-free edges add (not judged)")
    else:
        savings = "edges whose output reaches no output node removed: the same function (not judged)"
    then = f"; then {savings}" if unjudged else ""
    if judge is None:
        if chosen == beta:
            return "unchanged (not judged: give --select-on DATA for the supernet's verdict)", expected
        return (f"not judged: the policy's choice, {costs}{then} (give --select-on DATA for the supernet's "
                "verdict)"), expected
    if chosen == beta:
        what = "confidently better" if selection.objective == "accurate" else "confidently cheaper at no loss"
        return f"keep your input: no transformation is {what}", expected
    z_better = judge.z_better(beta, judged)
    change = judge.loss_change(beta, judged)
    expected.update({"z": z_better, "loss_change": change / 100})
    skips = sum("conv" in c["old"] and c["new"] == SKIP for c in changed_edges(beta, judged))
    if skips:
        expected["convolutions_made_skips"] = skips
        then += f" ({SKIP_CAUTION.format(n=skips)})"
    if selection.objective == "compact":
        z = judge.z_no_worse(beta, judged, selection.tolerance)
        expected.update({"z_no_worse": z, "tolerance": selection.tolerance / 100})
        return (f"expected to be no worse (held-out loss {change:+.1f}%, within {selection.tolerance:g}% at "
                f"z = {z:.1f}), {costs}{then}"), expected
    return f"expected to be better (held-out loss {change:+.1f}%, z = {z_better:.1f}), {costs}{then}", expected


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
