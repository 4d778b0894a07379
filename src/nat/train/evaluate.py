"""Test accuracy of a network, during training and afterwards from a run folder or checkpoint.

A training checkpoint is self-describing (architecture, genotype, config, weights), so
:func:`evaluate_checkpoint` needs nothing but the checkpoint and the data to rebuild the network
and measure it. Accuracies are in percent; top-5 is reported for ImageNet, as papers do.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import NatError
from ..data.load import DOWNLOADABLE
from ..runtime.checkpoint import load_checkpoint, malformed
from ..runtime.distributed import Dist, resolve_device

__all__ = ["evaluate", "autocast_for", "memory_format_for", "test_indices", "find_checkpoint",
           "network_from_checkpoint", "evaluate_checkpoint"]


def autocast_for(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``amp``; CPU runs float32 (bf16 CPU convolutions are slower)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format_for(device: torch.device, channels_last: bool | None, dataset: str) -> torch.memory_format:
    """The layout of weights and batches; ``None`` picks channels-last on CUDA, and on CPU for
    the CIFAR layout only.

    Channels-last is faster on CUDA (tensor cores) and, on CPU, 1.5x for CIFAR cell networks
    (oneDNN's NHWC kernels). But torch 2.13's oneDNN crashes (SIGSEGV) computing the weight
    gradient of a 1x1 stride-2 convolution on NHWC input with at most 14 channels at 56 px or
    more, as in the FactorizedReduce behind a small ImageNet stem; a scan of 1-192 channels,
    1x1 and 3x3 kernels, strides 1 and 2 and batches 32-128 found no fault at 32 px or below,
    the largest size a CIFAR network has. Loader batches are NHWC views of the stored images,
    so they are always made contiguous in the chosen layout.
    """
    wanted = channels_last if channels_last is not None else device.type == "cuda" or dataset == "cifar10"
    return torch.channels_last if wanted else torch.contiguous_format


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
             dist: Dist | None = None, amp: bool = False,
             memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, float]:
    """Cross-entropy and top-1/top-5 accuracy (%) of ``model`` over ``batches``, in eval mode.

    Under DDP each rank passes its own shard; the sums are added across ranks, so the result is
    that of the whole test set whatever its split.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top-1 hits, top-5 hits, images
    try:
        for images, labels in batches:
            images = images.contiguous(memory_format=memory_format)
            with autocast_for(device, amp):
                logits = model(images)
            logits = logits.float()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            hits = top == labels[:, None]
            sums += torch.stack([F.cross_entropy(logits, labels, reduction="sum").double(),
                                 hits[:, 0].sum().double(), hits.any(dim=1).sum().double(),
                                 torch.full((), float(len(labels)), dtype=torch.float64, device=device)])
    finally:
        model.train(was_training)
    if dist is not None and dist.enabled:
        sums = dist.all_reduce_mean(sums) * dist.world_size
    loss, top1, top5, n = sums.tolist()
    if n == 0:
        raise NatError("no test images to evaluate on")
    return {"loss": loss / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n, "images": int(n)}


def test_indices(n: int, subset: int | None, seed: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
    """This rank's share of the (optionally subsetted) test set: every image exactly once over ranks."""
    from ..data import subset_indices
    chosen = subset_indices(n, subset, seed=seed, option="--test-subset") if subset else np.arange(n)
    return chosen[rank::world_size]


def find_checkpoint(path: str | os.PathLike, *, best: bool = False) -> Path:
    """A checkpoint file, or a run folder's ``last.pt`` (``best.pt`` with ``best``)."""
    path = Path(path)
    if path.is_dir():
        name = "best.pt" if best else "last.pt"
        if not (path / name).is_file():
            runs = sorted(p.parent.relative_to(path) for p in path.glob(f"*/seed*/{name}"))
            hint = f" (it holds several runs, e.g. {path / runs[0]}: evaluate one)" if runs else ""
            raise NatError(f"{path}: no {name} in this folder{hint}")
        return path / name
    if not path.exists():
        raise NatError(f"{path}: no such run folder or checkpoint")
    return path


def network_from_checkpoint(state: dict[str, Any], where: str):
    """``(label, network, config)`` rebuilt from a training checkpoint, weights loaded, on CPU."""
    from ..arch.formats import genotype_from_dict
    from ..errors import GenotypeError
    from .config import TrainConfig
    from .model import build_model
    if not {"model", "genotype", "config", "arch"} <= set(state):
        raise NatError(f"{where}: not a training checkpoint of `nat train`")
    try:
        genotype = genotype_from_dict(state["genotype"])
    except GenotypeError as err:
        raise err.located(source=where) from None
    try:
        cfg = TrainConfig(**state["config"])
        net = build_model(genotype, cfg, len(state["classes"]))
        net.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise malformed(where, err) from None
    return state["arch"], net, cfg


def locate_training_data(state: dict[str, Any], override: str | None, where: str) -> str:
    """The data a run trained on, found from wherever the command runs now: ``override``
    (``--data``) if given, else the path as given to the run, else the absolute path it resolved
    to then (a run folder records both, so that it can move, and be used from another folder)."""
    if override:
        return override
    given = state.get("config", {}).get("data")
    resolved = state.get("data_resolved")
    for candidate in (given, resolved):
        if candidate and Path(candidate).expanduser().exists():
            return candidate
    if given and given.lower() in DOWNLOADABLE:
        return given
    tried = given + (f" (then {resolved})" if resolved and resolved != given else "")
    raise NatError(f"{where}: the run's training data {tried} is not found from {os.getcwd()}; "
                   f"pass --data PATH")


def evaluate_checkpoint(path: str | os.PathLike, *, data: str | None = None, best: bool = False,
                        device: str | None = None, batch_size: int | None = None,
                        cache_dir: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Test accuracy of a run folder's (or a checkpoint file's) network on the full test set.

    ``data`` defaults to the data the run was trained on; images are normalised with the training
    set's statistics stored in the checkpoint, whatever data is given.
    """
    from .inputs import open_training_data, test_loader
    file = find_checkpoint(path, best=best)
    state = load_checkpoint(file)
    label, net, cfg = network_from_checkpoint(state, str(file))
    dev = resolve_device(device or "auto")
    data = locate_training_data(state, data, str(file))
    dataset = open_training_data(cfg, data=data, cache_dir=cache_dir, progress=progress)
    if list(dataset.classes) != list(state["classes"]):
        raise NatError(f"{file}: the network was trained on classes {', '.join(state['classes'])}; "
                       f"{data} has {', '.join(dataset.classes)}")
    layout = memory_format_for(dev, cfg.channels_last, cfg.dataset)
    net = net.to(dev, memory_format=layout)
    batches = test_loader(dataset, cfg, batch_size or cfg.batch_size, indices=None, device=dev,
                          mean=state["mean"], std=state["std"])
    result = evaluate(net, batches, amp=cfg.amp, memory_format=layout)
    out = {"arch": label, "checkpoint": str(file), "epoch": state["epoch"], "epochs": cfg.epochs,
           "test_top1": result["top1"], "test_loss": result["loss"], "images": result["images"]}
    if cfg.dataset == "imagenet":
        out["test_top5"] = result["top5"]
    return out
