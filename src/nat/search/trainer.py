"""Algorithm 1 of the paper: alternate supernet (w) and policy (theta) updates every epoch.

Each epoch makes one pass over the 40% split updating the shared weights w on architectures
beta ~ p(beta) (SGD, cosine learning rate), then one pass over the 60% split updating every
policy by REINFORCE: for m inputs beta and n draws alpha ~ pi(. | beta) each, the reward is
``R(alpha, w) - R(beta, w)`` measured on the same held-out batches (:mod:`.rewards`), with a
moving-average baseline and entropy weight lambda (:mod:`.reinforce`). Several policies can be
trained side by side against the same supernet and the same inputs, which is how the paper's
policy comparison (Table 3) is run under one budget.

With ``reward="table:FILE.csv"`` (NAS-Bench-201 space) the reward is looked up in a benchmark
table instead (:mod:`nat.arch.nb201_table`): no supernet, no data, each epoch ``theta_steps`` policy
steps (default :data:`TABLE_STEPS`) -- for studying the policy learner alone.

The run folder holds ``config.yaml``, ``metrics.jsonl`` (one line per epoch), ``last.pt`` (the
whole state, written atomically every epoch), ``transformer.pt`` (the first policy's weights,
what ``nat transform`` loads), ``transformer-<policy>.pt`` for each policy, ``summary.json`` and
``curves.svg``. ``resume=True`` continues exactly where the last epoch ended.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..arch import nb201
from ..arch.genotype import Genotype
from ..arch.space import CellSpace, get_space
from ..data import Augment, BatchLoader, Dataset, split_indices, subset_indices
from ..errors import NatError, RunAborted, RunStopped
from ..ops import OPS, op_kind
from ..policy import Policy, make_policy
from ..policy.base import PolicyDiverged
from ..runtime import Dist, RunDir, config_to_dict, init_distributed, save_checkpoint
from ..runtime.checkpoint import check_epochs, malformed
from ..runtime.progress import progress
from .config import SearchConfig
from .reinforce import MovingAverageBaseline, leave_one_out_advantages, reinforce_loss
from .rewards import score
from .supernets import build_supernet

__all__ = ["Search", "run_search", "scoring_batches", "search_split", "w_augment", "save_transformer", "TRANSITIONS", "TABLE_STEPS", "describe_reward"]

TRANSITIONS = ("O->S", "O->N", "S->N", "N->S")
TABLE_STEPS = 100  # policy steps per epoch with a table reward (there is no data pass to count)


def describe_reward(config: dict) -> str:
    """What a run's reward was, in words, from its config (``nat search`` and ``nat bench`` say it)."""
    reward = config.get("reward", "supernet")
    if reward == "supernet":
        kind = {"accuracy": "accuracy", "fit": "fit exp(-cross-entropy)"}[config.get("reward_score", "accuracy")]
        proxy = f" + {config['reward_proxy']} in the fit's units" if config.get("reward_proxy") else ""
        return f"supernet {kind}{proxy} on held-out batches (weight sharing)"
    metric = config.get("reward_metric") or "(its only metric)"
    if str(metric).startswith("supernet_") or str(metric) == "combined":
        # a table of the supernet's own cached scores (experiments/nb201_end_to_end.py): not ground truth
        return (f"the supernet's cached scores ({metric} of every cell, looked up in "
                f"{reward[len('table:'):]}), no benchmark table")
    return f"table look-up, {reward[len('table:'):]} column {metric}"


def save_transformer(policy: Policy, cfg: SearchConfig, path: Path, *, epoch: int) -> None:
    """The policy alone: small, and all ``nat transform`` needs (with the supernet for scoring)."""
    save_checkpoint({"format": "nat-transformer", "version": 1, "policy": policy.name,
                     "space": cfg.space, "epoch": epoch, "config": config_to_dict(cfg),
                     "state_dict": policy.state_dict()}, path)


def search_split(n: int, *, subset: int | None, split: tuple[float, float], seed: int) -> tuple:
    """Indices of the w part (40%) and the theta part (60%) of ``n`` training images, after
    taking the seeded ``subset`` if one is asked for: the same for the search and for scoring
    its transformations on held-out images later."""
    pool = subset_indices(n, subset, seed) if subset else None
    # split[1] is honoured: fractions summing to less than 1 leave the rest of the images unused
    rest = 1.0 - split[0] - split[1]
    fractions = (split[0], split[1]) if rest < 1e-9 else (split[0], split[1], rest)
    w_part, theta_part = split_indices(len(pool) if pool is not None else n, fractions, seed=seed)[:2]
    return (pool[w_part], pool[theta_part]) if pool is not None else (w_part, theta_part)


def scoring_batches(images, labels, indices, count: int | None, mean, std, *, batch: int = 64,
                    seed: int = 0) -> list:
    """Normalised, unaugmented batches of a seeded random sample of ``count`` of ``indices`` (all
    of them if ``count`` is None), for scoring architectures with batch-statistics BatchNorm.

    A *random* sample, never the first ``count``: data sets stored class by class (image folders)
    would otherwise give batches of one class, whose batch statistics make every architecture
    score near chance."""
    indices = np.asarray(indices)
    picked = indices[np.random.default_rng(seed).permutation(len(indices))[:count]]
    norm = Augment.for_eval(mean, std)
    x, y = torch.from_numpy(images[picked]), torch.from_numpy(labels[picked])
    return [(norm(x[i:i + batch]), y[i:i + batch]) for i in range(0, len(picked), batch)]


def w_augment(cfg: SearchConfig, data: Dataset) -> Augment:
    """The supernet's training transform (``SearchConfig.w_augment``)."""
    if cfg.w_augment == "flip":
        return Augment(data.mean, data.std, crop_padding=0)
    return Augment(data.mean, data.std, mean_fill=cfg.w_augment == "crop-mean")


class Search:
    """One search run: the supernet, the policies, their optimisers, data and state."""

    def __init__(self, cfg: SearchConfig, data: Dataset | None, run_dir: RunDir, dist: Dist) -> None:
        self.cfg, self.data, self.run_dir, self.dist = cfg, data, run_dir, dist
        self.space: CellSpace = get_space(cfg.space)
        unknown = [op for op in cfg.extra_ops if op not in OPS]
        if unknown:
            raise NatError(f"extra_ops: unknown op(s) {', '.join(unknown)} (known: {', '.join(sorted(OPS))})")
        if cfg.extra_ops and self.space.fixed_ops:
            raise NatError(f"extra_ops: the {self.space.name} space has a fixed op set ({', '.join(self.space.ops)})")
        torch.manual_seed(cfg.seed)
        device = dist.device
        self.table = None
        if cfg.reward != "supernet":
            if self.space.name != "nb201":
                raise NatError(f"--reward {cfg.reward}: a benchmark table scores NAS-Bench-201 cells; use --space nb201")
            from ..arch.nb201_table import load_table
            self.table = load_table(cfg.reward[len("table:"):], cfg.reward_metric)
        elif data is None:
            raise NatError("a search with supernet rewards needs data (--data)")
        self.supernet = None if self.table is not None else build_supernet(cfg, len(data.classes), device)
        self.policies: dict[str, Policy] = {}
        for name in cfg.policies:
            policy = make_policy(name, cost_aware=cfg.cost_aware, cell_types=self.space.cell_types).to(device)
            self.policies[name] = policy
        self.w_opt = None if self.supernet is None else torch.optim.SGD(
            self.supernet.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum, weight_decay=cfg.w_weight_decay)
        self.theta_opts = {name: torch.optim.Adam(p.parameters(), lr=cfg.theta_lr, weight_decay=cfg.theta_weight_decay,
                                                  betas=(cfg.theta_beta1, cfg.theta_beta2))
                           for name, p in self.policies.items() if any(True for _ in p.parameters())}
        self.baselines = {name: MovingAverageBaseline(cfg.baseline_decay) for name in self.policies}
        self.rng = random.Random(cfg.seed)  # draws beta ~ p(beta); identical on every rank
        self.policy_gens = {name: torch.Generator().manual_seed(cfg.seed + 1 + i) for i, name in enumerate(self.policies)}
        self.epoch = 0
        self.history: list[dict] = []
        self.proxy_scale = None  # proxies.Combined, set at the first policy step (reward_proxy)
        self._flows: dict[Genotype, float] = {}
        if self.supernet is not None:
            self._build_loaders()

    # -- data --------------------------------------------------------------------------------
    def _build_loaders(self) -> None:
        cfg, data, dist = self.cfg, self.data, self.dist
        w_part, theta_part = search_split(len(data.train_images), subset=cfg.subset, split=cfg.split,
                                          seed=cfg.split_seed)
        common = dict(device=dist.device, rank=dist.rank, world_size=dist.world_size, drop_last=True)
        self.w_loader = BatchLoader(data.train_images, data.train_labels, cfg.batch_size, indices=w_part,
                                    transform=w_augment(cfg, data), seed=cfg.seed, **common)
        # rewards: held-out images, no augmentation
        self.theta_loader = BatchLoader(data.train_images, data.train_labels, cfg.batch_size, indices=theta_part,
                                        transform=Augment.for_eval(data.mean, data.std), seed=cfg.seed + 1, **common)
        if len(self.w_loader) == 0 or len(self.theta_loader) < cfg.reward_batches:
            raise NatError(f"too few images for batch size {cfg.batch_size}: {len(w_part)} for w, "
                           f"{len(theta_part)} for theta (use a larger --subset or a smaller --batch-size)")

    @property
    def w_steps(self) -> int:
        return min(len(self.w_loader), self.cfg.w_steps or len(self.w_loader))

    @property
    def theta_steps(self) -> int:
        if self.table is not None:
            return self.cfg.theta_steps or TABLE_STEPS
        full = len(self.theta_loader) // self.cfg.reward_batches
        return min(full, self.cfg.theta_steps or full)

    def entropy_at(self, epoch: int) -> float:
        """lambda at ``epoch``: constant (paper), or a cosine from ``entropy`` to ``entropy_final``."""
        cfg = self.cfg
        if cfg.entropy_final is None:
            return cfg.entropy
        t = (epoch - cfg.warmup_epochs) / max(cfg.epochs - cfg.warmup_epochs - 1, 1)
        return cfg.entropy_final + 0.5 * (cfg.entropy - cfg.entropy_final) * (1 + math.cos(math.pi * min(max(t, 0), 1)))

    # -- the two phases ----------------------------------------------------------------------
    def train_weights(self) -> dict:
        """One pass over the 40% split (Algorithm 1, lines 3-6)."""
        lr = self.cfg.w_lr_at(self.epoch)
        for group in self.w_opt.param_groups:
            group["lr"] = lr
        self.supernet.train()
        self.w_loader.set_epoch(self.epoch)
        queue: list[Genotype] = []  # fair blocks start afresh each epoch, so a resumed run draws the same
        loss_sum = correct = seen = 0.0
        start = time.perf_counter()
        batches = progress(zip(range(self.w_steps), self.w_loader), total=self.w_steps, enabled=self.dist.is_main,
                           desc=f"epoch {self.epoch + 1}/{self.cfg.epochs} w", unit_scale=self.cfg.batch_size)
        for step, (x, y) in batches:
            if self.cfg.sampler == "fair":
                queue = queue or self.space.sample_fair_block(self.rng)
                beta = queue.pop()
            elif self.cfg.sampler == "deiso":
                beta = nb201.to_genotype(nb201.decode(nb201.sample_structure(self.rng)))
            else:
                beta = self.space.sample(self.rng)
            logits = self.supernet(x, beta)
            loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                raise RunAborted(f"supernet loss is {loss.item()} at epoch {self.epoch + 1}, step {step + 1}; "
                                 f"the last good state is in {self.run_dir.last}; continue with a lower rate: "
                                 f"nat search --out {self.run_dir.path} --resume --w-lr {self.cfg.w_lr / 10:g}")
            self.w_opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.dist.enabled:  # every rank ran the same beta: average the gradients it produced
                for p in self.supernet.parameters():
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                        p.grad /= self.dist.world_size
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.cfg.w_grad_clip)
            self.w_opt.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        elapsed = time.perf_counter() - start
        return {"lr": lr, "w_loss": loss_sum / seen, "w_top1": 100 * correct / seen,
                "w_images_per_s": seen * self.dist.world_size / elapsed}

    def train_policies(self) -> dict:
        """One pass over the 60% split (Algorithm 1, lines 7-14)."""
        cfg = self.cfg
        for p in self.policies.values():
            p.train()
        batches_iter = None
        if self.table is None:
            self.theta_loader.set_epoch(self.epoch)
            batches_iter = iter(self.theta_loader)
        entropy_weight = self.entropy_at(self.epoch)
        stats = {name: {"reward": [], "advantage": [], "entropy": [], "invalid": 0, "moves": Counter(), "edges": 0}
                 for name in self.policies}
        steps = progress(range(self.theta_steps), total=self.theta_steps, enabled=self.dist.is_main,
                         desc=f"epoch {self.epoch + 1}/{cfg.epochs} theta",
                         unit_scale=cfg.batch_size * cfg.reward_batches if self.table is None else 1)
        for _ in steps:
            batches = [next(batches_iter) for _ in range(cfg.reward_batches)] if batches_iter else []
            losses = {name: 0.0 for name in self.policies}
            for _ in range(cfg.m):
                beta = self.space.sample(self.rng)
                r_beta = self._score(beta, batches)
                for name, policy in self.policies.items():
                    try:
                        if cfg.baseline == "loo":
                            draws = policy.sample_many(beta, cfg.n, self.policy_gens[name])
                        else:
                            draws = [policy.sample(beta, self.policy_gens[name]) for _ in range(cfg.n)]
                    except PolicyDiverged:
                        self._policy_diverged(name)
                    rewards = [self._score(s.alpha, batches) - r_beta for s in draws]
                    if cfg.baseline == "loo":
                        advantages = leave_one_out_advantages(rewards, scale=cfg.advantage_scale == "std")
                    else:
                        advantages = [self.baselines[name].advantage(r) for r in rewards]
                    for s, reward, advantage in zip(draws, rewards, advantages):
                        losses[name] = losses[name] + reinforce_loss(s.log_prob, s.entropy, advantage, entropy_weight) / (cfg.m * cfg.n)
                        st = stats[name]
                        st["reward"].append(reward)
                        st["advantage"].append(advantage)
                        st["entropy"].append(s.entropy.item())
                        st["invalid"] += s.alpha is None
                        _count_moves(beta, s, st)
            for name, opt in self.theta_opts.items():
                opt.zero_grad(set_to_none=True)
                losses[name].backward()
                opt.step()
                if not all(bool(torch.isfinite(p).all()) for p in self.policies[name].parameters()):
                    self._policy_diverged(name)
        row = {}
        for i, (name, st) in enumerate(stats.items()):
            prefix = "" if i == 0 else f"{name}_"
            k = max(len(st["reward"]), 1)
            row.update({f"{prefix}reward": sum(st["reward"]) / k, f"{prefix}advantage": sum(st["advantage"]) / k,
                        f"{prefix}entropy": sum(st["entropy"]) / k, f"{prefix}baseline": self.baselines[name].value,
                        f"{prefix}invalid": st["invalid"] / k})
            for move in TRANSITIONS:
                row[f"{prefix}share_{move.replace('->', '_to_')}"] = st["moves"][move] / max(st["edges"], 1)
        return row

    def _policy_diverged(self, name: str) -> None:
        """Stop before a policy with non-finite weights (or overflowing logits) is saved."""
        raise RunAborted(f"the {name} policy's weights became non-finite at epoch {self.epoch + 1}; the last good "
                         f"state is in {self.run_dir.last}; continue with a lower rate: nat search --out "
                         f"{self.run_dir.path} --resume --theta-lr {self.cfg.theta_lr / 10:g}")

    def _score(self, genotype: Genotype | None, batches: list) -> float:
        """The score in [0, 1] a reward is made of (accuracy or fit, ``reward_score``); an alpha whose output no longer depends on
        its input (``None``) scores zero."""
        if self.table is not None:
            return 0.0 if genotype is None else self.table.fraction(genotype)
        if self.cfg.reward_proxy is None:
            return 0.0 if genotype is None else score(self.cfg.reward_score, self.supernet, genotype, batches, self.dist)
        combined = self._proxy_scale(batches)
        # No flow (or no dependence on the input at all): a score of zero and a proxy three
        # standard deviations below the reference mean, finite so that advantages stay finite.
        floor = combined(0.0, combined.proxy_mean - 3 * combined.proxy_std)
        if genotype is None:
            return floor
        value = combined(score(self.cfg.reward_score, self.supernet, genotype, batches, self.dist), self._flow(genotype))
        return value if math.isfinite(value) else floor

    def _flow(self, genotype: Genotype) -> float:
        """SynFlow of the network ``genotype`` builds at the supernet's size (cached: a pure function)."""
        from .proxies import synflow_of
        if genotype not in self._flows:
            cfg = self.cfg
            self._flows[genotype] = synflow_of(genotype, dataset=cfg.dataset, channels=cfg.channels, layers=cfg.layers,
                                               resolution=cfg.resolution or 32)
        return self._flows[genotype]

    def _proxy_scale(self, batches: list):
        """The scales of fit and proxy, measured once on ``proxy_reference`` cells drawn from the
        space by a generator of their own (so the run's draws of beta do not shift)."""
        from .proxies import Combined
        if self.proxy_scale is None:
            draw = random.Random(f"proxy-reference:{self.cfg.seed}")
            cells = [self.space.sample(draw) for _ in range(self.cfg.proxy_reference)]
            fits = [score(self.cfg.reward_score, self.supernet, g, batches, self.dist) for g in cells]
            try:
                self.proxy_scale = Combined.fitted(fits, [self._flow(g) for g in cells], self.cfg.reward_proxy_weight)
            except ValueError as err:
                raise RunAborted(f"reward_proxy: {err} (reference of {len(cells)} cells)") from None
        return self.proxy_scale

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"format": "nat-search", "epoch": self.epoch, "config": config_to_dict(self.cfg),
                "supernet": self.supernet.state_dict() if self.supernet is not None else None,
                "policies": {k: p.state_dict() for k, p in self.policies.items()},
                "w_opt": self.w_opt.state_dict() if self.w_opt is not None else None,
                "theta_opts": {k: o.state_dict() for k, o in self.theta_opts.items()},
                "baselines": {k: b.state_dict() for k, b in self.baselines.items()},
                "rng": self.rng.getstate(), "policy_gens": {k: g.get_state() for k, g in self.policy_gens.items()},
                "torch_rng": torch.get_rng_state(), "history": self.history,
                "threads": torch.get_num_threads(),  # what it computed with: a resume under auto reuses it
                "proxy_scale": None if self.proxy_scale is None else vars(self.proxy_scale).copy()}

    def load_state_dict(self, state: dict) -> None:
        check_epochs(state, self.cfg.epochs)
        self.epoch = state["epoch"]
        if self.supernet is not None:
            self.supernet.load_state_dict(state["supernet"])
            self.w_opt.load_state_dict(state["w_opt"])
        for k, p in self.policies.items():
            p.load_state_dict(state["policies"][k])
        for k, o in self.theta_opts.items():
            o.load_state_dict(state["theta_opts"][k])
            for group in o.param_groups:  # the config's rate wins: a resume may lower it (--theta-lr)
                group["lr"] = self.cfg.theta_lr
        for k, b in self.baselines.items():
            b.load_state_dict(state["baselines"][k])
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        for k, g in self.policy_gens.items():
            g.set_state(state["policy_gens"][k])
        torch.set_rng_state(state["torch_rng"])
        self.history = list(state["history"])
        if state.get("proxy_scale") is not None:
            from .proxies import Combined
            self.proxy_scale = Combined(**state["proxy_scale"])

    def save(self) -> None:
        if not self.dist.is_main:
            return
        self.run_dir.save(self.state_dict())
        for i, (name, policy) in enumerate(self.policies.items()):
            save_transformer(policy, self.cfg, self.run_dir.path / f"transformer-{name}.pt", epoch=self.epoch)
            if i == 0:
                save_transformer(policy, self.cfg, self.run_dir.path / "transformer.pt", epoch=self.epoch)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, stop_after: int | None = None) -> dict:
        """Train until ``cfg.epochs`` (or ``stop_after`` epochs in total, for tests)."""
        end = self.cfg.epochs if stop_after is None else min(self.cfg.epochs, stop_after)
        if self.dist.is_main:
            print(f"reward: {describe_reward(config_to_dict(self.cfg))}", flush=True)
        with self._stops_on_signals():
            self._epochs(end)
        summary = {"epochs": self.epoch, "policies": list(self.policies),
                   "reward": describe_reward(config_to_dict(self.cfg)),
                   "final": self.history[-1] if self.history else {},
                   "supernet_params": sum(p.numel() for p in self.supernet.parameters()) if self.supernet else None}
        self.run_dir.write_json("summary.json", summary)
        self._plot()
        return summary

    @contextlib.contextmanager
    def _stops_on_signals(self):
        """Ctrl-C or SIGTERM: stop now, keeping the last finished epoch's checkpoint, and say how to
        resume. A search checkpoints at each epoch's end and resumes exactly from there, so the
        epoch in progress is given up rather than finished (minutes a scheduler may not grant)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, _frame):
            raise KeyboardInterrupt(signum)
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        except KeyboardInterrupt as stop:
            signum = stop.args[0] if stop.args and isinstance(stop.args[0], int) else signal.SIGINT
            kept = (f"{self.run_dir.last} holds epoch {self.epoch}" if self.epoch else "no epoch had finished")
            raise RunStopped(f"{signal.Signals(signum).name}: stopped in epoch {self.epoch + 1}; {kept}; continue "
                             f"with: nat search --out {self.run_dir.path} --resume", int(signum)) from None
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _epochs(self, end: int) -> None:
        while self.epoch < end:
            start = time.perf_counter()
            weights = self.train_weights() if self.supernet is not None else {}
            policies = self.train_policies() if self.epoch >= self.cfg.warmup_epochs else {}
            row = {"epoch": self.epoch + 1, **weights, **policies}
            row["time_s"] = time.perf_counter() - start
            self.epoch += 1
            self.history.append(row)
            self.save()
            self.run_dir.append_metrics(row)
            if self.dist.is_main:
                print(_epoch_line(row), flush=True)

    def _plot(self) -> None:
        if not self.dist.is_main or not self.history:
            return
        from ..runtime.plot import plot_metrics
        first = next(iter(self.policies))
        panels = [("supernet", ["w_top1"])] if self.supernet is not None else []
        panels += [("reward R(alpha|beta)", ["reward", "baseline"]), ("entropy", ["entropy"]),
                   (f"decisions ({first})", [f"share_{m.replace('->', '_to_')}" for m in TRANSITIONS])]
        plot_metrics(self.history, panels, self.run_dir.path / "curves.svg", title=f"nat search: {self.run_dir.path.name}")


def _count_moves(beta, sample, st) -> None:
    for name, chosen in sample.actions.items():
        cell = getattr(beta, name)
        actions = chosen.tolist()
        for e, a in zip(cell.edges, actions):
            new = {0: e.op, 1: "skip_connect", 2: "null"}[a]
            move = f"{op_kind(e.op)}->{op_kind(new)}"
            st["moves"][move] += move in TRANSITIONS
            st["edges"] += 1


def _epoch_line(row: dict) -> str:
    if "reward" not in row:  # a warm-up epoch: the supernet alone
        return f"epoch {row['epoch']}: supernet loss {row['w_loss']:.3f} top1 {row['w_top1']:.1f}%  (warm-up, {row['time_s']:.0f}s)"
    shares = " ".join(f"{m} {100 * row['share_' + m.replace('->', '_to_')]:.0f}%" for m in TRANSITIONS)
    weights = f"supernet loss {row['w_loss']:.3f} top1 {row['w_top1']:.1f}%  " if "w_loss" in row else ""
    return (f"epoch {row['epoch']}: {weights}reward {row['reward']:+.4f} entropy {row['entropy']:.2f}  "
            f"{shares}  ({row['time_s']:.0f}s)")


#: settings a resumed search may change: the length, where it runs, and the learning rates (what
#: a NaN asks to lower); anything else would silently make it another run
RESUME_CHANGEABLE = ("epochs", "device", "w_lr", "w_lr_min", "theta_lr")


def run_search(cfg: SearchConfig | None, data: Dataset | None, out: str | Path, *, resume: bool = False,
               epochs: int | None = None, device: str | None = None, stop_after: int | None = None,
               changes: dict | None = None, threads: int | str | None = None) -> dict:
    """Run a search into ``out``, or resume the one there; returns the summary.

    A resumed run keeps its own settings (``cfg`` is ignored); only ``epochs`` (to extend it),
    ``device`` and ``changes`` of :data:`RESUME_CHANGEABLE` settings (e.g. ``{"w_lr": 0.01}``)
    apply.

    ``threads``: torch's CPU threads, a count or ``"auto"`` (the idle cores); ``None`` keeps the
    caller's setting. The run records the count it computed with, and a resume under ``"auto"``
    reuses it: floating-point sums depend on how work is split among threads, so the same count
    is what keeps a resume bit-identical to a run never stopped.
    """
    changes = dict(changes or {})
    # Under torchrun only rank 0 writes, so only rank 0 takes the folder's lock.
    run_dir = RunDir(out, main=int(os.environ.get("RANK", "0")) == 0)
    run_dir.prepare(resume=resume)
    try:
        state = None
        if resume:
            state = run_dir.load_last()
            if state.get("format") != "nat-search":
                kind = ("a `nat train` run: continue it with `nat train ... --resume`"
                        if str(state.get("format", "")).startswith("nat-train") else f"format {state.get('format')!r}")
                raise NatError(f"{run_dir.last}: not a `nat search` checkpoint ({kind})")
            try:
                cfg = SearchConfig.from_dict(state["config"])
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                raise malformed(run_dir.last, err) from None
            # a setting given with the value the run already has (its own --preset, say) is no change
            recorded = config_to_dict(cfg)
            changes = {k: v for k, v in changes.items()
                       if k in RESUME_CHANGEABLE or recorded.get(k, object()) != (list(v) if isinstance(v, tuple) else v)}
            _refuse_fixed(out, changes)
        _set_threads(threads, (state or {}).get("threads"))
        cfg = replace(cfg, **{k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None},
                      **(changes if resume else {}))
        dist = init_distributed(cfg.device)
        run_dir.main = dist.is_main
        search = Search(cfg, data, run_dir, dist)
        if state is not None:
            try:
                search.load_state_dict(state)
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
                raise malformed(run_dir.last, err) from None
            run_dir.rewrite_metrics(search.history)
        run_dir.write_config(config_to_dict(cfg))
        return search.run(stop_after=stop_after)
    finally:
        run_dir.close()


def _refuse_fixed(out, changes: dict) -> None:
    fixed = sorted(set(changes) - set(RESUME_CHANGEABLE))
    if fixed:
        raise NatError(f"{out}: --resume continues the search as it was configured; cannot change "
                       f"{', '.join(fixed)} (those that may change: {', '.join(RESUME_CHANGEABLE)})")


def _set_threads(asked: int | str | None, recorded: int | None) -> None:
    """Compute with ``asked`` threads, or under auto with the count a resumed run ``recorded``
    (:func:`~nat.runtime.threads.apply_resumed_threads`); ``None`` leaves the caller's setting."""
    if asked is None:
        return
    from ..runtime.threads import apply_resumed_threads
    _, warning = apply_resumed_threads(asked, recorded)
    if warning:
        print(warning, flush=True)
