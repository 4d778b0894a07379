"""``nat train`` and ``nat evaluate``: thin layers over :mod:`nat.train`.

Exit status: 0 done; 1 the loss diverged (the last good checkpoint is kept); 2 a user error
(one line); 130 (143) stopped by Ctrl-C (SIGTERM) after saving a checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from ..errors import NatError
from .options import add_threads_option

__all__ = ["register", "cmd_train", "cmd_evaluate"]

# Options that set a TrainConfig field of the same name: (flags, type, help).
_OPTIONS = [
    (("--dataset",), str, "network layout and recipe: cifar10 or imagenet (alone, it selects the imagenet preset)"),
    (("--data",), str, "data folder or archive (CIFAR-10 python version or train/ and test/ (val/) class "
                       "folders); 'cifar10' downloads CIFAR-10 into the cache (default)"),
    (("--cache-dir",), str, "decoded-data cache (default $NAT_CACHE or ~/.cache/nat)"),
    (("--channels", "-C"), int, "initial channels C (paper: 36 CIFAR-10, 48 ImageNet)"),
    (("--layers", "-L"), int, "number of cells L (paper: 20 CIFAR-10, 14 ImageNet)"),
    (("--backbone",), str, "build every ARCH's cells as the blocks of this hand-crafted network (vgg16, resnet20, "
                           "resnet56, mobilenetv2, resnet18, resnet50); the default when ARCH names one"),
    (("--width-mult",), float, "scale every width of a backbone (quick runs)"),
    (("--epochs",), int, "epochs (paper: 600 CIFAR-10, 250 ImageNet)"),
    (("--batch-size",), int, "GLOBAL batch size, split evenly over DDP processes (paper: 96 / 128)"),
    (("--accum-steps",), int, "micro-batches per process and step (same gradient, less memory)"),
    (("--lr",), float, "initial learning rate (paper: 0.025 / 0.1)"),
    (("--weight-decay",), float, "weight decay (paper: 3e-4 / 3e-5)"),
    (("--grad-clip",), float, "gradient norm clip, 0 disables (paper: 5)"),
    (("--label-smoothing",), float, "label smoothing of the training loss (paper ImageNet: 0.1)"),
    (("--aux-weight",), float, "auxiliary head loss weight, 0 builds no head (paper: 0.4)"),
    (("--drop-path",), float, "final drop-path probability, ramped from 0 (paper: 0.2)"),
    (("--cutout",), int, "cutout square side, 0 disables (default: 16 for NAS cells on CIFAR-10, 0 for the "
                         "hand-crafted ResBlock/VGG/MobileNetV2 blocks and their NAT versions)"),
    (("--subset",), int, "train on the first N training images of a seeded shuffle"),
    (("--test-subset",), int, "test on the first N test images of a seeded shuffle"),
    (("--image-size",), int, "scale and centre-crop images to this square side when decoding (for folders of "
                             "images of mixed sizes, e.g. ImageNet; CIFAR-10 needs none)"),
    (("--loader",), str, "memory (decode once, batches on the device), stream (worker processes decode each "
                         "file of an image folder), or auto (default: stream when the decoded images would not "
                         "fit in half the free memory, at most 8 GiB, or the inception recipe needs the files)"),
    (("--workers",), int, "stream: decoding processes per training process (default: cores / local processes "
                          "- 1; see bench/bench_stream.py)"),
    (("--bad-images",), str, "stream: at an unreadable or undecodable file, 'stop' naming it (default) or "
                             "'skip' it and count"),
    (("--augment",), str, "pad-crop (CIFAR: pad, crop, flip, cutout) or inception (random-resized crop, flip, "
                          "colour jitter, lighting; tests on a resize + centre crop); the imagenet preset's"),
    (("--jitter",), float, "inception: brightness, contrast and saturation jitter (default 0.4, DARTS ImageNet)"),
    (("--hue",), float, "inception: hue jitter in turns of the colour wheel (default 0.2)"),
    (("--lighting",), float, "inception: std of AlexNet's PCA lighting noise, 0 disables (default 0.1)"),
    (("--crop-scale",), float, "inception: smallest crop as a fraction of the image's area (default 0.08)"),
    (("--seed",), int, "random seed (with --seeds K: the first of K consecutive seeds)"),
    (("--device",), str, "auto (default: CUDA if present), cpu, cuda, cuda:1, ..."),
    (("--threads",), int, "CPU threads for torch (default: auto, the cores idle when the run starts; "
                          "see bench/bench_threads.py)"),
]
_SWITCHES = [("--amp", "bf16 autocast on CUDA (default on)"),
             ("--channels-last", "channels-last (NHWC) memory format (default: on CUDA, and on CPU for CIFAR-10, "
                                 "where it is ~1.5x faster; torch 2.13 on CPU can crash with it at 56 px+)")]


def _field(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def register(sub: argparse._SubParsersAction) -> None:
    from ..train.config import PRESETS
    p = sub.add_parser(
        "train", help="train architectures from scratch (the paper's recipe by default)",
        description="Train each ARCH from scratch with the paper's CIFAR-10 recipe (or --dataset imagenet). "
                    "Settings: defaults < --preset < --config FILE < options. Several ARCHs or --seeds K > 1 "
                    "train each (arch, seed) in OUT/<arch>/seed<k>/ and write OUT/table.json and table.md "
                    "(mean ± std per arch). Under `torchrun --nproc_per_node=N -m nat train ...` training is "
                    "data-parallel (DDP); --batch-size stays the global batch. Ctrl-C saves a checkpoint and "
                    "exits with 130; --resume continues exactly. Exit 1 if the loss diverges.")
    p.add_argument("arch", nargs="+", metavar="ARCH",
                   help="zoo names (see `nat zoo`), genotype files, or hand-crafted backbones (VGG16, ResNet20, "
                        "ResNet56, MobileNetV2, ResNet18, ResNet50 and NAT_<name>), which train as whole networks")
    p.add_argument("--name", help="with a zoo-layout JSON file or a DARTS-style genotypes.py: which genotype in it")
    p.add_argument("--out", "-o", required=True, metavar="RUN_DIR", help="run folder (created)")
    p.add_argument("--preset", help=f"named settings: {', '.join(PRESETS)} (default paper, or imagenet "
                                    f"with --dataset imagenet)")
    p.add_argument("--config", metavar="FILE", help="YAML mapping of settings (any TrainConfig field)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run(s) in --out exactly where they stopped")
    again.add_argument("--requeue", action="store_true",
                       help="the same command for a job that may have run before (a cluster requeue): start what "
                            "has no checkpoint, resume what has one, refuse only when everything is finished")
    p.add_argument("--seeds", type=int, default=1, metavar="K", help="train each ARCH with K seeds (default 1)")
    for flags, kind, text in _OPTIONS:
        p.add_argument(*flags, type=kind, dest=_field(flags[0]), help=text)
    for flag, text in _SWITCHES:
        p.add_argument(flag, dest=_field(flag), action=argparse.BooleanOptionalAction, default=None, help=text)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test accuracy of a trained network (run folder or checkpoint)")
    p.add_argument("run", metavar="RUN_DIR|CHECKPOINT", help="a run folder of `nat train` (its last.pt) or a .pt file")
    p.add_argument("--data", help="data to test on (default: the data the run was trained on)")
    add_threads_option(p)
    p.add_argument("--best", action="store_true", help="with a run folder: best.pt instead of last.pt")
    p.add_argument("--device", help="auto (default), cpu, cuda, ...")
    p.add_argument("--batch-size", type=int, help="images per batch (default: the run's batch size)")
    p.add_argument("--cache-dir", help="decoded-data cache (default: the run's, else $NAT_CACHE or ~/.cache/nat)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_evaluate)


def _explicit_keys(args: argparse.Namespace, preset: str, presets: dict) -> set[str]:
    """Settings the user asked for in this call (preset, YAML file, options): what --resume compares."""
    from ..runtime.config import read_config_file
    keys = set(presets.get(preset, {}))
    if args.config:
        keys |= {str(k).replace("-", "_") for k in read_config_file(args.config)}
    return keys | {_field(flags[0]) for flags, _, _ in _OPTIONS if getattr(args, _field(flags[0])) is not None} \
        | {_field(flag) for flag, _ in _SWITCHES if getattr(args, _field(flag)) is not None}


def _resolve_arch(arch: str, name: str | None, backbone: str | None):
    """``(label, genotype, backbone key or None)`` by the one resolver of every command
    (:func:`nat.api.resolve`): a backbone name trains as that network, a cell as a cell stack
    unless ``backbone`` is given."""
    from ..api import backbone_of, resolve
    label, genotype = resolve(arch, name=name)
    return label, genotype, backbone_of(arch, backbone)


def _check_backbone(label: str, genotype, key: str, dataset: str, args: argparse.Namespace) -> None:
    from ..nn.backbones import BACKBONES, check_fits
    spec = BACKBONES.get(key.lower())
    if spec is None:
        raise NatError(f"unknown backbone '{key}' (backbones: {', '.join(BACKBONES)})")
    if dataset not in spec.layouts:
        raise NatError(f"{spec.name} has no {dataset} layout (it has: {', '.join(spec.layouts)}; use --dataset)")
    if args.channels is not None or args.layers is not None:
        raise NatError(f"{label} trains as the hand-crafted {spec.name}: --channels/--layers do not apply "
                       f"(--width-mult scales it)")
    check_fits(genotype, spec.family, backbone=key.lower())


def _plan(args: argparse.Namespace):
    """``(runs, nested)``: the (label, genotype, config, folder, resume) of every run, checked up front
    so that a bad folder is reported before hours of training, not after."""
    from ..runtime.checkpoint import load_checkpoint
    from ..runtime.config import load_config
    from ..train.config import PRESETS, TrainConfig, merge_for_resume
    if args.seeds < 1:
        raise NatError(f"--seeds must be at least 1, got {args.seeds}")
    from ..api import network_config
    from ..arch.space import space_of
    archs = [_resolve_arch(a, args.name, args.backbone) for a in args.arch]
    labels = [label for label, _, _ in archs]
    if len(set(labels)) < len(labels):
        raise NatError(f"each ARCH may appear once (got {', '.join(labels)})")
    preset = args.preset or ("imagenet" if args.dataset == "imagenet" else "paper")
    overrides = {_field(flags[0]): getattr(args, _field(flags[0])) for flags, _, _ in _OPTIONS}
    overrides |= {_field(flag): getattr(args, _field(flag)) for flag, _ in _SWITCHES}
    requested = load_config(TrainConfig, presets=PRESETS, preset=preset, config_file=args.config, overrides=overrides)
    explicit = _explicit_keys(args, preset, PRESETS) | {"seed", "backbone"}
    out = Path(args.out)
    nested = len(archs) > 1 or args.seeds > 1
    runs, finished = [], []
    for label, genotype, backbone in archs:
        if backbone:
            _check_backbone(label, genotype, backbone, requested.dataset, args)
            backbone = backbone.lower()
        for seed in range(requested.seed, requested.seed + args.seeds):
            folder = out / label / f"seed{seed}" if nested else out
            cfg = dataclasses.replace(requested, seed=seed, backbone=backbone)
            if backbone is None and space_of(genotype).tied:
                # the benchmark's own network (C=16, L=15) unless a size was asked for, as `nat cost` builds it
                size = network_config(genotype, cfg.dataset, cfg.channels if "channels" in explicit else None,
                                      cfg.layers if "layers" in explicit else None)
                cfg = dataclasses.replace(cfg, channels=size.channels, layers=size.layers)
            resume = (args.resume or args.requeue) and (folder / "last.pt").exists()
            if resume:
                saved = load_checkpoint(folder / "last.pt")
                cfg = merge_for_resume(saved.get("config", {}), cfg, explicit, str(folder / "last.pt"))
                if args.requeue and isinstance(saved.get("epoch"), int) and saved["epoch"] >= cfg.epochs:
                    finished.append(f"{folder} ({saved['epoch']}/{cfg.epochs} epochs)")
            elif (folder / "last.pt").exists() or (folder / "metrics.jsonl").exists():
                raise NatError(f"{folder}: already holds a run; use --resume to continue it or choose another --out")
            runs.append((label, genotype, cfg, folder, resume))
    if args.requeue and len(finished) == len(runs):
        raise NatError(f"{out}: nothing to requeue, the run{'s are' if nested else ' is'} finished: "
                       + ", ".join(finished))
    if args.resume and not any(r[4] for r in runs):
        raise NatError(f"{out}: nothing to resume (no last.pt"
                       + (" in any <arch>/seed<k>/ folder" if nested else "") + "); run without --resume to start")
    return runs, nested


def cmd_train(args: argparse.Namespace) -> int:
    from ..runtime.lock import RunLock
    runs, nested = _plan(args)
    # A multi-run folder is one job: lock its top as well as each run (rank 0 only, as it alone writes).
    lock = RunLock(args.out) if nested and int(os.environ.get("RANK", "0")) == 0 else None
    if lock is None:
        return _train_all(runs, nested, args)
    with lock:
        return _train_all(runs, nested, args)


def _train_all(runs, nested: bool, args: argparse.Namespace) -> int:
    from ..runtime.distributed import init_distributed
    from ..train.table import write_table
    from ..train.trainer import Interrupted, Trainer, TrainingDiverged
    dist = init_distributed(runs[0][2].device)
    say = print if dist.is_main else (lambda *_a, **_k: None)
    summaries = []
    try:
        for label, genotype, cfg, folder, resume in runs:
            summaries.append(Trainer(label, genotype, cfg, folder, resume=resume, dist=dist).fit())
    except Interrupted as stop:
        say(f"nat: {stop}", file=sys.stderr)
        return 128 + stop.signum
    except TrainingDiverged as err:
        say(f"nat: error: {err}", file=sys.stderr)
        return 1
    finally:
        if dist.enabled:
            import torch.distributed
            torch.distributed.destroy_process_group()
    for s in summaries:
        say(f"{s['arch']} seed {s['seed']}: test top-1 {s['test_top1']:.2f}% (best {s['best_test_top1']:.2f}% at "
            f"epoch {s['best_epoch']}); {s['params'] / 1e6:.3f}M params, {s['madds'] / 1e6:.1f}M MAdds")
    if nested and dist.is_main:
        say("\n" + write_table(args.out, summaries), end="")
        say(f"wrote {Path(args.out) / 'table.json'} and table.md")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..train.evaluate import evaluate_checkpoint
    if args.batch_size is not None and args.batch_size < 1:
        raise NatError(f"--batch-size must be at least 1, got {args.batch_size}")
    result = evaluate_checkpoint(args.run, data=args.data, best=args.best, device=args.device,
                                 batch_size=args.batch_size, cache_dir=args.cache_dir, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    top5 = f", top-5 {result['test_top5']:.2f}%" if "test_top5" in result else ""
    print(f"{result['arch']} ({result['checkpoint']}, epoch {result['epoch']}/{result['epochs']}): "
          f"test top-1 {result['test_top1']:.2f}%{top5} on {result['images']} images")
    return 0
