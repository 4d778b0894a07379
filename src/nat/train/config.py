"""What a from-scratch training run does: one dataclass, named presets, and the cutout rule.

The defaults are the paper's CIFAR-10 recipe, which is DARTS's (Liu et al., 2019, Sec. A.2;
NAT, Guo et al., 2019, Sec. 5): C=36, L=20, batch 96, SGD momentum 0.9, lr 0.025 cosine to
0.001, weight decay 3e-4, 600 epochs, auxiliary head 0.4, drop path 0.2, gradient clip 5,
cutout 16 for NAS cells. The ``imagenet`` preset is the paper's ImageNet recipe (C=48, L=14,
batch 128, lr 0.1, weight decay 3e-5, 250 epochs, label smoothing 0.1, auxiliary 0.4, drop path
0.2) with DARTS's ImageNet schedule (x0.97 per epoch). Sources are layered by
:func:`nat.runtime.load_config`: defaults < preset < YAML file < command-line options.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..arch.genotype import Genotype
from ..errors import NatError

__all__ = ["TrainConfig", "PRESETS", "HAND_CRAFTED", "is_nas_cell", "resolve_cutout", "RESUME_CHANGEABLE",
           "merge_for_resume"]


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (see the module docs for the recipe behind the defaults)."""

    # -- data
    dataset: str = "cifar10"          # network layout and recipe family: cifar10 (32x32) or imagenet (224x224)
    data: str = "cifar10"             # data folder or archive; "cifar10" downloads the official archive once
    cache_dir: str | None = None      # decoded-data cache; None: $NAT_CACHE or ~/.cache/nat
    image_size: int | None = None     # scale and centre-crop images to this side when decoding (ImageNet: 224)
    subset: int | None = None         # train on the first N images of a seeded shuffle (quick runs); None: all
    test_subset: int | None = None    # test on the first N test images of a seeded shuffle; None: all
    subset_seed: int = 0              # picks both subsets; not `seed`, so every seed and arch sees the same images
    # -- network
    channels: int = 36                # C, the first stage's cell width (cell stacks)
    layers: int = 20                  # L, the number of cells (cell stacks)
    backbone: str | None = None       # build the cells as the blocks of this hand-crafted network (resnet20, ...)
    width_mult: float = 1.0           # scales every width of a backbone, for quick runs (C and L do not apply there)
    # -- optimisation
    epochs: int = 600                 # the cosine schedule and the drop-path ramp span exactly this many
    batch_size: int = 96              # GLOBAL batch, split evenly over DDP ranks: the recipe ignores the process count
    accum_steps: int = 1              # micro-batches per rank and step: same gradient, less memory (BatchNorm sees one)
    lr: float = 0.025                 # initial learning rate of SGD
    lr_min: float = 0.001             # where the cosine schedule ends
    schedule: str = "cosine"          # cosine (DARTS CIFAR) or step (x lr_decay per epoch, DARTS ImageNet)
    lr_decay: float = 0.97            # the step schedule's factor per epoch
    momentum: float = 0.9             # SGD momentum
    weight_decay: float = 3e-4        # L2 on every weight, BatchNorm included, as in DARTS
    grad_clip: float = 5.0            # largest gradient L2 norm; 0 disables clipping
    label_smoothing: float = 0.0      # of the training loss (0.1 on ImageNet); test loss is plain cross-entropy
    aux_weight: float = 0.4           # weight of the auxiliary head's loss; 0 builds no head (cell stacks only)
    drop_path: float = 0.2            # final drop-path probability, ramped from 0 over the epochs (cell stacks only)
    loader: str = "auto"              # memory (decode once, batches on the device), stream (worker processes
                                      # decode each file), auto: stream folders too big for memory or for the recipe
    workers: int | None = None        # stream: decoding processes per training process; None: cores / local ranks - 1
    bad_images: str = "stop"          # stream: at an unreadable file, stop naming it, or skip it and count
    # -- augmentation
    augment: str = "pad-crop"         # pad-crop (CIFAR: pad, crop, flip, cutout) or inception (ImageNet:
                                      # random-resized crop, flip, colour jitter, lighting; eval resize + centre crop)
    crop_padding: int = 4             # pad-crop: random crop after zero-padding this many pixels; 0 disables
    flip: bool = True                 # random horizontal flips
    cutout: int | None = None         # cutout square side; None: 16 for NAS cells on CIFAR-10, else 0 (resolve_cutout)
    jitter: float = 0.4               # inception: brightness, contrast and saturation jitter (DARTS ImageNet: 0.4)
    hue: float = 0.2                  # inception: hue jitter in turns of the colour wheel (DARTS ImageNet: 0.2)
    lighting: float = 0.1             # inception: std of AlexNet's PCA lighting noise; 0 disables
    crop_scale: float = 0.08          # inception: smallest crop area as a fraction of the image
    # -- execution
    seed: int = 0                     # initial weights, batch order, augmentation and drop path
    device: str = "auto"              # auto: CUDA when present, else CPU
    threads: int | None = None        # CPU threads for torch; None: torch's default (1 beats 2 on busy cores)
    amp: bool = True                  # bf16 autocast on CUDA (CPU always trains in float32)
    channels_last: bool | None = None  # NHWC memory format; None: on CUDA, and on CPU for CIFAR (memory_format_for)
    log_every: int = 20               # steps between loss syncs (progress bar, NaN and Ctrl-C checks): a device sync

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(what)
        need(self.dataset in ("cifar10", "imagenet"), f"dataset must be cifar10 or imagenet, got {self.dataset!r}")
        need(self.loader in ("auto", "memory", "stream"), f"loader must be auto, memory or stream, got {self.loader!r}")
        need(self.bad_images in ("stop", "skip"), f"bad_images must be stop or skip, got {self.bad_images!r}")
        need(self.augment in ("pad-crop", "inception"), f"augment must be pad-crop or inception, got {self.augment!r}")
        need(self.workers is None or self.workers >= 0, f"workers must be 0 or more, got {self.workers}")
        need(0 < self.crop_scale <= 1, f"crop_scale must lie in (0, 1], got {self.crop_scale}")
        for name in ("jitter", "hue", "lighting"):
            need(getattr(self, name) >= 0, f"{name} must not be negative, got {getattr(self, name)}")
        need(self.hue <= 0.5, f"hue must be at most 0.5 (half a turn), got {self.hue}")
        need(self.augment != "inception" or self.image_size is not None,
             "augment inception needs image_size (the crop's side, 224 for ImageNet)")
        need(self.schedule in ("cosine", "step"), f"schedule must be cosine or step, got {self.schedule!r}")
        need(self.channels >= 2 and self.channels % 2 == 0, f"channels must be even and >= 2, got {self.channels}")
        need(self.layers >= 3, f"layers must be at least 3 (two reduction cells), got {self.layers}")
        for name in ("epochs", "batch_size", "accum_steps", "log_every"):
            need(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("subset", "test_subset", "image_size", "threads"):
            need(getattr(self, name) is None or getattr(self, name) >= 1,
                 f"{name} must be a positive number or null, got {getattr(self, name)}")
        need(self.lr > 0 and 0 <= self.lr_min <= self.lr,
             f"need lr > 0 and 0 <= lr_min <= lr, got {self.lr}, {self.lr_min}")
        need(0 < self.lr_decay <= 1, f"lr_decay must lie in (0, 1], got {self.lr_decay}")
        need(0 <= self.drop_path < 1, f"drop_path must lie in [0, 1), got {self.drop_path}")
        need(0 <= self.label_smoothing < 1, f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        for name in ("momentum", "weight_decay", "grad_clip", "aux_weight", "crop_padding"):
            need(getattr(self, name) >= 0, f"{name} must not be negative, got {getattr(self, name)}")
        need(self.cutout is None or self.cutout >= 0, f"cutout must not be negative, got {self.cutout}")
        need(self.width_mult > 0, f"width_mult must be positive, got {self.width_mult}")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of (0-based) ``epoch``: a pure function, so resuming needs no scheduler state."""
        if self.schedule == "step":
            return self.lr * self.lr_decay ** epoch
        return self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * epoch / self.epochs)) / 2

    def drop_path_at(self, epoch: int) -> float:
        return self.drop_path * epoch / self.epochs


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's CIFAR-10 recipe: the defaults.
    "paper": {},
    # The paper's ImageNet recipe, with DARTS's ImageNet augmentation: random-resized 224 crops,
    # flips, colour jitter (+ PCA lighting), evaluation on the central 224 of a 256 resize; the
    # files are streamed by worker processes (nat.data.stream).
    "imagenet": {"dataset": "imagenet", "channels": 48, "layers": 14, "batch_size": 128, "lr": 0.1,
                 "weight_decay": 3e-5, "epochs": 250, "label_smoothing": 0.1, "aux_weight": 0.4,
                 "drop_path": 0.2, "schedule": "step", "lr_decay": 0.97, "image_size": 224, "augment": "inception"},
    # A smoke test: seconds on a CPU, accuracy meaningless.
    "tiny": {"channels": 8, "layers": 5, "width_mult": 0.5, "subset": 1000, "test_subset": 1000, "epochs": 2,
             "batch_size": 64},
    # Minutes on a CPU: a first look, far from converged (a point or two of accuracy is noise).
    "small": {"channels": 16, "layers": 8, "subset": 2000, "test_subset": 1000, "epochs": 4, "batch_size": 64,
              "lr": 0.05},
}

#: Zoo names of hand-crafted blocks (their NAT versions included): the only cell stacks trained
#: without cutout, as the paper reserves cutout for NAS-based cells (backbone networks never get it).
HAND_CRAFTED = ("ResBlock", "VGG", "MobileNetV2")


def is_nas_cell(genotype: Genotype) -> bool:
    """Every genotype is a NAS cell unless it *is* one of the zoo's hand-crafted blocks
    (:data:`HAND_CRAFTED`) or its published NAT version, compared by value, so a file holding
    the same block counts as hand-crafted too."""
    from ..arch.zoo import get
    blocks = {get(name).genotype for base in HAND_CRAFTED for name in (base, f"NAT_{base}")}
    return genotype not in blocks


def resolve_cutout(cfg: TrainConfig, genotype: Genotype) -> TrainConfig:
    """``cfg`` with an explicit cutout size: ``None`` becomes 16 for a stack of NAS cells on
    CIFAR-10, and 0 for a hand-crafted backbone network, a stack of hand-crafted blocks, ImageNet, or
    the inception augmentation (which has no cutout)."""
    if cfg.cutout is not None:
        return cfg
    nas = cfg.backbone is None and is_nas_cell(genotype)
    return dataclasses.replace(cfg, cutout=16 if cfg.dataset == "cifar10" and nas and cfg.augment == "pad-crop" else 0)


#: Settings a resumed run may change: where things are and how they run, not what is computed.
RESUME_CHANGEABLE = ("data", "cache_dir", "device", "threads", "log_every", "workers", "bad_images")


def merge_for_resume(saved: Mapping[str, Any], requested: TrainConfig, explicit: set[str], where: str) -> TrainConfig:
    """The config a resumed run continues with: the saved one, plus those ``explicit``ly given
    settings that may change. Any other explicit setting that differs is an error, since it
    would silently turn "continue exactly" into a different run."""
    try:
        base = TrainConfig(**{**dataclasses.asdict(TrainConfig()), **saved})
    except (TypeError, ValueError) as err:
        raise NatError(f"{where}: the checkpoint's config is not one this version reads ({err})") from None
    changed = {k: getattr(requested, k) for k in explicit if getattr(requested, k) != getattr(base, k)}
    fixed = sorted(k for k in changed if k not in RESUME_CHANGEABLE)
    if fixed:
        detail = ", ".join(f"{k}: {getattr(base, k)!r} -> {changed[k]!r}" for k in fixed)
        raise NatError(f"{where}: --resume continues the run as it was configured; cannot change {detail} "
                       f"(start a new run in another --out instead)")
    return dataclasses.replace(base, **changed)
