"""Training one network from scratch into one run folder: exact resume, DDP, clean stops.

The loop follows nanoGPT's ``train.py`` (Karpathy, 2022): single process by default, DDP when
``torchrun`` launched us (:func:`nat.runtime.init_distributed`), rank 0 alone logs and writes,
and a checkpoint is one self-describing dict.

Exact resume. Every random draw of a run is a function of ``(seed, epoch, step, rank)``: the
batch order and augmentation by the data loader (:mod:`nat.data.loader`), drop path by
reseeding torch's generator before each step. The learning rate and the drop-path probability
are pure functions of the epoch (:class:`TrainConfig`). So a checkpoint needs only the weights,
the optimiser's momentum, the loader's ``(epoch, step)`` and, mid-epoch, the epoch's running
sums; the numpy and Python generators are saved too, for code outside the trainer that draws
from them. On CPU a run stopped anywhere and resumed ends bit-identical to one never stopped.

Stops. Ctrl-C (SIGINT) or SIGTERM sets a flag; at the next check (every ``log_every`` steps,
agreed by all ranks) the run saves ``last.pt`` and raises :class:`Interrupted`. A second Ctrl-C
aborts at once. A non-finite loss raises :class:`TrainingDiverged` before anything is saved,
so the last checkpoint is the last good one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arch.formats import genotype_to_dict
from ..arch.genotype import Genotype
from ..errors import NatError
from ..nn.network import DATASETS
from ..runtime.config import config_to_dict
from ..runtime.distributed import Dist, resolve_device
from ..runtime.checkpoint import check_epochs, malformed, refuse_field
from ..runtime.progress import progress
from ..runtime.rundir import RunDir
from ..runtime.threads import apply_resumed_threads
from .config import RESUME_CHANGEABLE, TrainConfig, resolve_cutout
from .evaluate import autocast_for, evaluate, locate_training_data, memory_format_for, test_indices
from .model import build_model, forward_train, model_cost

__all__ = ["Trainer", "train", "TrainingDiverged", "Interrupted", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "nat-train-1"
# what reading a checkpoint that loads but is not shaped like ours raises
_MALFORMED = (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_resumable(state: dict, epochs: int) -> None:
    """Refuse, naming the field, a checkpoint whose bookkeeping a hand edit (or a bug) broke, before
    any of it is used: a bad value found only after an epoch of training would cost that epoch."""
    check_epochs(state, epochs)
    best = state["best"]
    if not isinstance(best, dict) or not _number(best.get("test_top1")) or not isinstance(best.get("epoch"), int):
        refuse_field("best", repr(best), "a mapping with a number test_top1 and an int epoch")
    partial = state["partial"]
    if partial is not None and not (isinstance(partial, dict) and isinstance(partial.get("sums"), list)
                                    and len(partial["sums"]) == 3 and all(map(_number, partial["sums"]))
                                    and _number(partial.get("train_time"))):
        refuse_field("partial", repr(partial), "empty (null) or the sums and time of the epoch in progress")
    threads = state.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        refuse_field("threads", repr(threads), "a positive count")


CURVES = [("loss", ["train_loss", "test_loss"]), ("top-1 accuracy (%)", ["train_top1", "test_top1"]),
          ("learning rate", ["lr"]), ("training images/s", ["images_per_s"])]


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; nothing was saved after the last good checkpoint."""


class Interrupted(Exception):
    """A signal stopped the run after a checkpoint was saved; ``signum`` says which."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def _seed(*parts: object) -> int:
    """A 63-bit seed from a tuple (distinct tuples give unrelated streams, unlike seed + step)."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def _print(message: str) -> None:
    print(message, flush=True)  # a log file (nohup, a cluster job) sees each epoch as it ends


class _TrainForward(nn.Module):
    """Makes ``forward`` return ``(logits, aux)``: DDP synchronises gradients of ``forward`` only."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return forward_train(self.net, x)


class Trainer:
    """Trains ``genotype`` with ``cfg`` into the run folder ``out``; :meth:`fit` runs it.

    Args:
        arch: the architecture's label (zoo name or file stem), recorded in the run.
        genotype: what to build.
        cfg: the run's settings; ``cutout=None`` is resolved here (see :func:`resolve_cutout`).
        out: the run folder.
        resume: continue from ``out/last.pt`` (the saved config must match ``cfg`` except for
            :data:`RESUME_CHANGEABLE` settings).
        dist: the process group (default: this process alone on ``cfg.device``).
        log: where rank 0's one-line messages go (``None``: nowhere).
        bars: draw progress bars (default: on rank 0 when stderr is a terminal).
        on_step: called as ``on_step(trainer, epoch, step)`` after each optimiser step (tests).
        on_epoch: called as ``on_epoch(trainer, row)`` after each epoch's checkpoint is saved.
    """

    def __init__(self, arch: str, genotype: Genotype, cfg: TrainConfig, out: str | Path, *, resume: bool = False,
                 dist: Dist | None = None, log: Callable[[str], None] | None = _print, bars: bool | None = None,
                 on_step: Callable[["Trainer", int, int], None] | None = None,
                 on_epoch: Callable[["Trainer", dict], None] | None = None) -> None:
        self.arch, self.genotype = arch, genotype
        self.cfg = cfg = resolve_cutout(cfg, genotype)
        self.dist = dist = dist or Dist(device=resolve_device(cfg.device))
        self.device = dist.device
        self.log = log if dist.is_main and log is not None else (lambda _msg: None)
        self.bars = dist.is_main and sys.stderr.isatty() if bars is None else (bars and dist.is_main)
        self.on_step, self.on_epoch = on_step, on_epoch
        self.run = RunDir(out, main=dist.is_main)
        self.run.prepare(resume=resume)
        try:
            self._setup(resume)
        except BaseException:
            self.run.close()  # a refused or failed start leaves the folder free
            raise

    def _setup(self, resume: bool) -> None:
        cfg, dist = self.cfg, self.dist
        dist.barrier()
        state = self.run.load_last() if resume else None
        if state is not None:
            try:
                self._check_same_run(state)
            except _MALFORMED as err:
                raise malformed(self.run.last, err) from None
            # resumed from another folder: the data path as given may not lead there from here
            found = locate_training_data({**state, "config": {"data": cfg.data}}, None, str(self.run.last))
            if found != cfg.data:
                self.cfg = cfg = dataclasses.replace(cfg, data=found)
        given = Path(cfg.data).expanduser()
        self.data_resolved = str(given.resolve()) if given.exists() else None
        if cfg.batch_size % dist.world_size:
            raise NatError(f"batch size {cfg.batch_size} (global) does not divide among {dist.world_size} processes")
        self.batch = cfg.batch_size // dist.world_size
        if cfg.accum_steps > self.batch:
            raise NatError(f"accum_steps {cfg.accum_steps} exceeds the per-process batch {self.batch}")
        self.cuda = self.device.type == "cuda"
        self.memory_format = memory_format_for(self.device, cfg.channels_last, cfg.dataset)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        if state is not None:
            try:
                check_resumable(state, cfg.epochs)
            except _MALFORMED as err:
                raise malformed(self.run.last, err) from None
        self.threads = self._threads(cfg.threads, (state or {}).get("threads"))
        self._load_data()

        torch.manual_seed(cfg.seed)  # the initial weights: the same on every rank
        self.net = build_model(self.genotype, cfg, self.data.num_classes)
        self.cost = model_cost(self.net, cfg.dataset)
        self.net.to(self.device, memory_format=self.memory_format)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        self.epoch, self.history, self.partial = 0, [], None
        self.best = {"test_top1": float("-inf"), "epoch": 0}
        if state is not None:
            try:
                self._restore(state)
            except _MALFORMED as err:  # wrong shapes, missing or mistyped entries: refuse before writing
                raise malformed(self.run.last, err) from None
        self.model: nn.Module = _TrainForward(self.net)
        if dist.enabled:
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.cuda else None)
        self._stop = 0

    # -- setup ------------------------------------------------------------------------------------
    def _check_same_run(self, state: dict) -> None:
        where = str(self.run.last)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise NatError(f"{where}: not a `nat train` checkpoint (format {state.get('format')!r})")
        if genotype_to_dict(self.genotype) != state["genotype"]:
            raise NatError(f"{where}: this run trains {state['arch']}, a different genotype from {self.arch}")
        saved, now = state["config"], config_to_dict(self.cfg)
        differ = sorted(k for k in now if k not in RESUME_CHANGEABLE and saved.get(k) != now[k])
        if differ:
            raise NatError(f"{where}: the run was configured differently ("
                           + ", ".join(f"{k}: {saved.get(k)!r} vs {now[k]!r}" for k in differ) + ")")

    def _load_data(self) -> None:
        from ..data import subset_indices
        from .inputs import open_training_data, test_loader, train_loader
        cfg, dist = self.cfg, self.dist
        if not dist.is_main:  # rank 0 decodes and fills the cache; the others then read it
            dist.barrier()
        data = open_training_data(cfg, progress=self.bars)
        if dist.is_main:
            dist.barrier()
            if cfg.bad_images == "skip" and not data.streamed:
                self.log("note: --bad-images skip applies to the stream loader; the in-memory one decoded every "
                         "image up front, and all were readable (an unreadable one stops it, named; --loader stream "
                         "skips them instead)")
        size = DATASETS[cfg.dataset]["input_size"]
        h, w = data.image_size
        if (h, w) != (size, size):
            raise NatError(f"{cfg.data}: images are {h}x{w}; the {cfg.dataset} network takes {size}x{size} "
                           f"(--image-size {size} scales them when decoding)")
        train = subset_indices(data.n_train, cfg.subset, seed=cfg.subset_seed) if cfg.subset else None
        self.train_images = cfg.subset or data.n_train
        if self.train_images // dist.world_size < self.batch:
            raise NatError(f"{self.train_images} training images give each of {dist.world_size} process(es) "
                           f"fewer than one batch of {self.batch}")
        # drop_last: a last batch of one image would break BatchNorm in the auxiliary head, and
        # equal batches keep DDP ranks in step; each epoch drops different images.
        self.train_loader = train_loader(data, cfg, self.batch, indices=train, device=self.device, rank=dist.rank,
                                         world_size=dist.world_size)
        test = test_indices(data.n_test, cfg.test_subset, cfg.subset_seed, dist.rank, dist.world_size)
        self.test_images = cfg.test_subset or data.n_test
        self.test_loader = test_loader(data, cfg, self.batch, indices=test, device=self.device)
        self.data = data

    def _threads(self, asked: int | None, recorded: int | None) -> int:
        """The CPU threads to compute with: ``asked`` (auto: ``None``), or for a run resumed under
        auto the count it recorded (:func:`~nat.runtime.threads.apply_resumed_threads`)."""
        n, warning = apply_resumed_threads(asked, recorded)
        if warning:
            self.log(warning)
        return n

    def _non_finite_tensors(self) -> list[str]:
        """Names of the network's weights and buffers holding NaN or infinity."""
        return [name for name, t in self.net.state_dict().items()
                if t.is_floating_point() and not bool(torch.isfinite(t).all())]

    def _diverged(self, what: str) -> None:
        """Stop before anything non-finite is saved, with advice that fits this run's settings."""
        kept = f"kept {self.run.last}, the last good state" if self.run.last.exists() else \
            "no checkpoint had been saved yet"
        advice = f"a lower rate (--lr {self.cfg.lr / 10:g})"
        if self.cfg.grad_clip <= 0:
            advice += " or gradient clipping (--grad-clip 5)"
        raise TrainingDiverged(f"{self.arch}: {what}; stopped, {kept}; try {advice}")

    def _restore(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history, self.best = state["epoch"], state["history"], state["best"]
        self.partial = state["partial"]
        self.train_loader.load_state_dict(state["loader"])
        rng = state["rng"]
        random.setstate((rng["python_version"], tuple(rng["python"]), rng["python_gauss"]))
        np.random.set_state(("MT19937", rng["numpy"].numpy().astype(np.uint32), *rng["numpy_rest"]))
        self.run.rewrite_metrics(self.history)

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything to rebuild the network and continue the run exactly (loads with weights_only)."""
        py_version, py_state, py_gauss = random.getstate()
        _, keys, *np_rest = np.random.get_state()
        return {
            "format": CHECKPOINT_FORMAT, "arch": self.arch, "genotype": genotype_to_dict(self.genotype),
            "data_resolved": self.data_resolved,  # beside config's data as given: the run folder may move
            "config": config_to_dict(self.cfg), "classes": list(self.data.classes),
            "mean": list(self.data.mean), "std": list(self.data.std),
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "loader": self.train_loader.state_dict(), "partial": self.partial,
            "history": self.history, "best": self.best, "world_size": self.dist.world_size,
            "threads": self.threads,  # what the run computed with: a resume under auto reuses it
            "rng": {"python_version": py_version, "python": list(py_state), "python_gauss": py_gauss,
                    "numpy": torch.from_numpy(keys.astype(np.int64)), "numpy_rest": list(np_rest)},
        }

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Stop at the next check, as Ctrl-C does."""
        self._stop = signum

    @contextlib.contextmanager
    def _signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, _frame):
            if signum == signal.SIGINT and self._stop:
                raise KeyboardInterrupt  # a second Ctrl-C: abort now, last.pt is the previous one
            # torchrun answers Ctrl-C with SIGTERM a moment later: that must not abort the save.
            if not self._stop:
                self._stop = signum
                if self.dist.is_main:
                    print(f"\nnat: {signal.Signals(signum).name}: saving a checkpoint at the next check "
                          f"(Ctrl-C again to abort without saving)", file=sys.stderr)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs; returns the summary (also written to ``summary.json``)."""
        cfg, d = self.cfg, self.dist
        self.run.write_config(config_to_dict(cfg))
        self.log(f"{self.arch} ({self._network()}): {self.cost.params / 1e6:.3f}M params, "
                 f"{self.cost.madds / 1e6:.1f}M MAdds; "
                 f"{self.train_images} train / {self.test_images} test images "
                 + (f"(streamed, {self.train_loader.workers} workers); " if self.data.streamed else "(in memory); ")
                 + f"batch {cfg.batch_size} "
                 f"({d.world_size} x {self.batch}) on {self.device}; cutout {cfg.cutout}; "
                 + self._start_point()
                 + f" -> {self.run.path}")
        try:
            with self._signals():
                while self.epoch < cfg.epochs:
                    self._epoch()
            summary = self._summary()
            self.run.write_json("summary.json", summary)
        finally:
            self.run.close()
        return summary

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One optimiser step on a batch; returns [loss sum, top-1 hits, images] of the main head."""
        cfg = self.cfg
        images = images.contiguous(memory_format=self.memory_format)
        self.optimizer.zero_grad(set_to_none=True)
        chunks = list(zip(images.chunk(cfg.accum_steps), labels.chunk(cfg.accum_steps)))
        stats = torch.zeros(3, device=self.device)
        for i, (x, y) in enumerate(chunks):
            # Gradients are all-reduced once per step, on the last micro-batch.
            sync = self.model.no_sync() if self.dist.enabled and i < len(chunks) - 1 else contextlib.nullcontext()
            with sync:
                with autocast_for(self.device, cfg.amp):
                    logits, aux = self.model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
                objective = loss
                if aux is not None:
                    objective = loss + cfg.aux_weight * F.cross_entropy(aux.float(), y,
                                                                        label_smoothing=cfg.label_smoothing)
                (objective * (len(x) / len(images))).backward()
            # torch.full is a kernel, not a host-to-device copy: the step stays free of syncs.
            stats += torch.stack([loss.detach() * len(x), (logits.argmax(1) == y).sum().float(),
                                  torch.full((), float(len(x)), device=self.device)])
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        self.optimizer.step()
        return stats

    def _epoch(self) -> None:
        cfg, d, e = self.cfg, self.dist, self.epoch
        loader = self.train_loader
        assert loader.epoch == e, f"loader at epoch {loader.epoch}, trainer at {e}"
        lr = cfg.lr_at(e)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if hasattr(self.net, "drop_path_prob"):  # cell stacks; backbones have no drop path
            self.net.drop_path_prob = cfg.drop_path_at(e)
        self.model.train()
        partial = self.partial or {"sums": [0.0, 0.0, 0.0], "train_time": 0.0}
        sums = torch.tensor(partial["sums"], device=self.device)  # loss, hits, images: this rank's share
        total = d.all_reduce_mean(sums.clone())  # the all-rank mean of `sums` at the last check
        clock = time.perf_counter() - partial["train_time"]
        stop_agreed = False
        steps = len(loader)
        bar = progress(loader, total=steps - loader.step, desc=f"{self.arch} {e + 1}/{cfg.epochs}",
                       enabled=self.bars, unit_scale=cfg.batch_size)
        for images, labels in bar:
            step = loader.step - 1  # the loader counts a batch as taken when it hands it out
            torch.manual_seed(_seed(cfg.seed, "step", e, step, d.rank))  # drop path, dropout: per step
            sums += self._step(images, labels)
            if self.on_step is not None:
                self.on_step(self, e, step)
            if (step + 1) % cfg.log_every and step + 1 < steps:
                continue
            flag = torch.tensor([float(self._stop)], device=self.device)
            total, stop = d.all_reduce_mean(torch.cat([sums, flag])).split([3, 1])
            loss = total[0].item() / max(total[2].item(), 1)
            if not math.isfinite(loss):
                self._diverged(f"the training loss became {loss} in epoch {e + 1} (by step {step + 1})")
            stop_agreed = stop.item() > 0
            bar.set_postfix(loss=f"{loss:.3f}", top1=f"{100 * total[1].item() / total[2].item():.1f}%", refresh=False)
            if stop_agreed and step + 1 < steps:  # at the epoch's end, finish it first, then stop
                self.partial = {"sums": total.tolist(), "train_time": time.perf_counter() - clock}
                self._save()
                raise Interrupted(self._stopped_message(f"in epoch {e + 1} at step {step + 1}/{steps}"),
                                  int(self._stop or signal.SIGINT))
        train_time = time.perf_counter() - clock
        if d.enabled:  # DDP keeps rank 0's BatchNorm buffers at each forward; test with exactly those
            for buffer in self.net.buffers():
                torch.distributed.broadcast(buffer, 0)
        start = time.perf_counter()
        test = evaluate(self.net, self.test_loader, dist=d, amp=cfg.amp, memory_format=self.memory_format)
        row = {"epoch": e + 1, "train_loss": total[0].item() / total[2].item(),
               "train_top1": 100 * total[1].item() / total[2].item(), "test_loss": test["loss"],
               "test_top1": test["top1"], **({"test_top5": test["top5"]} if cfg.dataset == "imagenet" else {}),
               "lr": lr, "drop_path": getattr(self.net, "drop_path_prob", 0.0),
               "images_per_s": total[2].item() * d.world_size / max(train_time, 1e-9),
               "time": train_time + time.perf_counter() - start}
        broken = [k for k in ("train_loss", "test_loss") if not math.isfinite(row[k])] + self._non_finite_tensors()
        if broken:  # a loss that overflowed without becoming NaN can still leave NaN weights: never save those
            self._diverged(f"epoch {e + 1} ended with non-finite {', '.join(broken[:3])}"
                           + (f" and {len(broken) - 3} more" if len(broken) > 3 else ""))
        skipped = self._skipped_images()
        if skipped:
            row["skipped_images"] = skipped
        self.epoch, self.partial = e + 1, None
        self.history.append(row)
        improved = row["test_top1"] > self.best["test_top1"]
        if improved:
            self.best = {"test_top1": row["test_top1"], "epoch": e + 1}
        self._save(best=improved)
        self.run.append_metrics(row)
        self.run.write_json("summary.json", self._summary())
        self._plot()
        self.log(f"{self.arch} epoch {e + 1}/{cfg.epochs}  train loss {row['train_loss']:.4f} "
                 f"top-1 {row['train_top1']:.2f}%  test loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2f}%  "
                 f"lr {lr:.3g}  {row['images_per_s']:.1f} img/s  {row['time']:.1f}s")
        if skipped:
            first = self.train_loader.first_skipped or self.test_loader.first_skipped
            self.log(f"{self.arch}: {skipped} unreadable file(s) skipped by this process so far (--bad-images skip)"
                     + (f", e.g. {first}" if first else ""))
        if self.on_epoch is not None:
            self.on_epoch(self, row)
        # a Ctrl-C that came after the epoch's last check (in the test pass, the save) stops here,
        # at the epoch's end, not one epoch later; the ranks agree on it as at a check
        late = d.all_reduce_mean(torch.tensor([float(self._stop)], device=self.device)).item() > 0
        if (stop_agreed or late) and self.epoch < cfg.epochs:
            raise Interrupted(self._stopped_message(f"after epoch {self.epoch}"), int(self._stop or signal.SIGINT))

    def _skipped_images(self) -> int:
        """Files left out by ``--bad-images skip`` so far, summed over DDP ranks (0 when in memory)."""
        if not self.data.streamed:
            return 0
        count = torch.tensor([float(self.train_loader.skipped + self.test_loader.skipped)], device=self.device)
        return round(self.dist.all_reduce_mean(count).item() * self.dist.world_size)

    def _save(self, best: bool = False) -> None:
        if self.dist.is_main:
            self.run.save(self.state_dict(), best=best)
        self.dist.barrier()  # nobody may run ahead of, or exit before, a checkpoint being written

    def _stopped_message(self, where: str) -> str:
        return f"stopped {where}; saved {self.run.last}; continue with the same command and --resume"

    def _plot(self) -> None:
        if self.dist.is_main:
            from ..runtime.plot import plot_metrics
            plot_metrics(self.history, CURVES, self.run.path / "curves.svg",
                         title=f"{self.arch} ({self._network()}), {self.cfg.dataset}, seed {self.cfg.seed}")

    def _start_point(self) -> str:
        if self.epoch >= self.cfg.epochs:
            return f"finished ({self.epoch}/{self.cfg.epochs} epochs)"
        if self.partial is not None:
            return f"resuming in epoch {self.epoch + 1} at step {self.train_loader.step}/{len(self.train_loader)}"
        return f"resuming after epoch {self.epoch}" if self.epoch else "from scratch"

    def _network(self) -> str:
        cfg = self.cfg
        return f"{cfg.backbone} x{cfg.width_mult:g}" if cfg.backbone else f"cells C={cfg.channels} L={cfg.layers}"

    def _summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        cfg = self.cfg
        size = ({"backbone": cfg.backbone, "width_mult": cfg.width_mult} if cfg.backbone else
                {"channels": cfg.channels, "layers": cfg.layers})
        return {"arch": self.arch, "dataset": cfg.dataset, **size,
               "seed": cfg.seed, "epochs": self.epoch, "epochs_planned": cfg.epochs,
               "finished": self.epoch >= cfg.epochs, "test_top1": last.get("test_top1"),
               "test_loss": last.get("test_loss"),
               **({"test_top5": last.get("test_top5")} if cfg.dataset == "imagenet" else {}),
               "best_test_top1": self.best["test_top1"] if self.history else None,
               "best_epoch": self.best["epoch"] if self.history else None,
               **self.cost.as_dict(), "train_images": self.train_images, "test_images": self.test_images,
               "world_size": self.dist.world_size, "time_s": sum(r["time"] for r in self.history),
               "genotype": genotype_to_dict(self.genotype)}


def train(arch: str, genotype: Genotype, cfg: TrainConfig, out: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Train one network into the run folder ``out`` (see :class:`Trainer`); returns its summary."""
    return Trainer(arch, genotype, cfg, out, **kwargs).fit()
