"""Settings of NAT's search (Algorithm 1), with the reference values and CPU-sized presets."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SearchConfig", "PRESETS", "SCORES"]

#: What a supernet can score an architecture by (:mod:`.rewards`): top-1 accuracy (the paper's)
#: or the fit ``exp(-cross-entropy)``.
SCORES = ("accuracy", "fit")
PROXIES = ("synflow",)  # training-free scores `nat transform --proxy` can add (nat.search.proxies)


@dataclass(frozen=True)
class SearchConfig:
    # what is searched
    space: str = "darts"                  # cell space: darts (fully-concat), loose-end or nb201
    extra_ops: tuple[str, ...] = ()       # ops added to the space's list, e.g. NAONet's conv_1x3_3x1
    policy: str = "gcn"                   # gcn, lstm, random, or several "gcn,lstm" trained side by side
    reward: str = "supernet"              # or "table:FILE.csv": look accuracies up in a benchmark table (nb201)
    reward_metric: str | None = None      # the table's column (None: its only numeric column)
    # the supernet (reference: C=20, 8 cells; NAS-Bench-201's network: C=16, 15 cells)
    channels: int = 20                    # C of the first stage
    layers: int = 8                       # cells; reductions (nb201: residual blocks) at L//3 and 2L//3
    resolution: int | None = None         # supernet inputs average-pooled to this size (None: the data's own)
    sampler: str = "uniform"              # p(beta) for w steps: uniform (paper) or fair (every op of every
                                          # edge equally often: blocks of architectures whose ops per edge
                                          # are a permutation of the candidates) or deiso (nb201: each
                                          # distinct function equally often, arch.nb201.sample_structure)
    # data (the paper's 40% / 60% split of the CIFAR-10 training set)
    dataset: str = "cifar10"              # for the input size and class count
    subset: int | None = None             # use only N training images (split 40/60)
    split: tuple[float, float] = (0.4, 0.6)
    split_seed: int = 0                   # the split is a function of this alone
    batch_size: int = 64                  # per rank, for w steps and reward passes
    w_augment: str = "crop"               # supernet training images: crop (pad 4 with black) + flip, as the
                                          # reference; crop-mean (pad with the mean colour) + flip; flip
    # schedule
    epochs: int = 100                     # each: a pass over the 40% (w), then the 60% (theta)
    warmup_epochs: int = 0                # the first epochs train the supernet alone (no theta steps)
    w_steps: int | None = None            # cap on w steps per epoch (None: a full pass)
    theta_steps: int | None = None        # cap on theta steps per epoch (None: a full pass)
    # supernet weights w: SGD with a cosine schedule (the reference's is flat by mistake)
    w_lr: float = 0.01
    w_lr_min: float = 0.001
    w_lr_epochs: int | None = None        # the cosine's length in epochs (None: epochs); longer stops the
                                          # supernet partway down it, its rate still high (nb201-cpu-deiso-mid)
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    w_grad_clip: float = 5.0
    # policy theta: Adam, REINFORCE with entropy weight lambda (Eq. 4)
    theta_lr: float = 3e-4
    theta_beta1: float = 0.5
    theta_beta2: float = 0.999
    theta_weight_decay: float = 5e-4
    entropy: float = 0.003                # lambda
    m: int = 1                            # input architectures per theta step
    n: int = 1                            # transformed samples per input
    baseline: str = "moving"              # moving: a moving average of the reward (paper); loo: for each
                                          # input, the mean reward of its other n-1 samples (needs n >= 2)
    baseline_decay: float = 0.95          # moving average of the reward
    advantage_scale: str = "none"         # none (paper); std: with `loo`, each input's advantages are divided
                                          # by the spread of its n rewards, so inputs whose moves differ by
                                          # tenths of a point teach as much as those that differ by points
    entropy_final: float | None = None    # if set, lambda decays (cosine) from `entropy` to this by the end
    reward_batches: int = 1               # held-out batches one reward is measured on
    reward_score: str = "accuracy"        # accuracy (paper) or fit: exp(-cross-entropy), which ranks
                                          # one-edge moves far better (search/rewards.py)
    reward_proxy: str | None = None       # synflow: reward = the fit plus SynFlow in the fit's units (proxies.Combined,
                                          # scaled on `proxy_reference` random cells), so a weak supernet's liking for
                                          # skips does not teach the policy to delete convolutions
    reward_proxy_weight: float = 1.0      # the proxy's weight in standard units
    proxy_reference: int = 32             # random cells of the space that set the two scores' scales
    cost_aware: bool = True               # mask skips that would cost more (stride-2 edges)
    channels_last: bool = True            # NHWC supernet: ~1.6x faster convolutions at CIFAR sizes
    # run
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if len(self.split) != 2 or not all(0 < f < 1 for f in self.split) or sum(self.split) > 1 + 1e-9:
            raise ValueError(f"split must be two fractions in (0, 1) summing to at most 1, got {self.split}")
        for name in ("epochs", "batch_size", "m", "n", "reward_batches", "channels", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.channels % 2:
            raise ValueError(f"channels must be even, got {self.channels}")
        for name in ("subset", "w_steps", "theta_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or left out), got {value}")
        if not (0 < self.w_lr and 0 <= self.w_lr_min <= self.w_lr):
            raise ValueError(f"need w_lr > 0 and 0 <= w_lr_min <= w_lr, got {self.w_lr}, {self.w_lr_min}")
        if not self.theta_lr > 0:
            raise ValueError(f"theta_lr must be positive, got {self.theta_lr}")
        for name in ("w_weight_decay", "theta_weight_decay", "entropy"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.entropy_final is not None and not self.entropy_final >= 0:
            raise ValueError(f"entropy_final must be at least 0, got {self.entropy_final}")
        for name in ("w_momentum", "baseline_decay", "theta_beta1", "theta_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if not self.w_grad_clip > 0:
            raise ValueError(f"w_grad_clip must be positive, got {self.w_grad_clip}")
        if self.baseline not in ("moving", "loo"):
            raise ValueError(f"baseline must be 'moving' or 'loo', got {self.baseline!r}")
        if self.reward_score not in SCORES:
            raise ValueError(f"reward_score must be one of {', '.join(SCORES)}, got {self.reward_score!r}")
        if self.reward_proxy is not None and self.reward_proxy not in PROXIES:
            raise ValueError(f"reward_proxy must be one of {', '.join(PROXIES)} or null, got {self.reward_proxy!r}")
        if self.reward_proxy is not None and self.reward != "supernet":
            raise ValueError("reward_proxy adds to the supernet's score: it needs reward 'supernet'")
        if not (self.reward_proxy_weight >= 0 and self.proxy_reference >= 2):
            raise ValueError(f"need reward_proxy_weight >= 0 and proxy_reference >= 2, got {self.reward_proxy_weight}, "
                             f"{self.proxy_reference}")
        if self.advantage_scale not in ("none", "std"):
            raise ValueError(f"advantage_scale must be 'none' or 'std', got {self.advantage_scale!r}")
        if self.advantage_scale == "std" and self.baseline != "loo":
            raise ValueError("advantage_scale 'std' scales each input's leave-one-out advantages: it needs baseline 'loo'")
        if self.baseline == "loo" and self.n < 2:
            raise ValueError("baseline 'loo' compares each sample with the input's other samples: it needs n >= 2")
        if self.w_augment not in ("crop", "crop-mean", "flip"):
            raise ValueError(f"w_augment must be crop, crop-mean or flip, got {self.w_augment!r}")
        if self.sampler not in ("uniform", "fair", "deiso"):
            raise ValueError(f"sampler must be 'uniform', 'fair' or 'deiso', got {self.sampler!r}")
        if self.sampler == "deiso" and self.space != "nb201":
            raise ValueError("sampler 'deiso' draws NAS-Bench-201 cells by the function they compute: it needs space nb201")
        if self.resolution is not None and self.resolution < 8:
            raise ValueError(f"resolution must be at least 8 pixels, got {self.resolution}")
        if self.w_lr_epochs is not None and self.w_lr_epochs < self.epochs:
            raise ValueError(f"w_lr_epochs is the cosine's length and must be at least epochs ({self.epochs}), "
                             f"got {self.w_lr_epochs}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in 0..epochs-1, got {self.warmup_epochs} (epochs {self.epochs})")
        if self.reward != "supernet" and not (self.reward.startswith("table:") and len(self.reward) > 6):
            raise ValueError(f"reward must be 'supernet' or 'table:FILE.csv', got {self.reward!r}")

    @classmethod
    def from_dict(cls, saved: dict) -> "SearchConfig":
        """The config as saved in a checkpoint (YAML/torch turn tuples into lists)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})

    def w_lr_at(self, epoch: int) -> float:
        """The supernet's learning rate in (0-based) ``epoch``: the cosine over ``w_lr_epochs`` (else
        ``epochs``), a pure function, so resuming or continuing a schedule needs no scheduler state."""
        return self.w_lr_min + 0.5 * (self.w_lr - self.w_lr_min) * (
            1 + math.cos(math.pi * epoch / (self.w_lr_epochs or self.epochs)))

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.policy.split(",") if p.strip())


PRESETS: dict[str, dict] = {
    # The reference settings (paper Sec. 4 and the authors' code): days on a CPU, hours on a GPU.
    "paper": {},
    # Seconds: a smoke test of the whole loop.
    "tiny": {"channels": 8, "layers": 5, "subset": 640, "batch_size": 32, "epochs": 2},
    # Minutes on a 2-core CPU; what the shipped transformers were trained with. About 900 policy
    # steps instead of the paper's ~47,000, so the policy learning rate is 10x the paper's.
    # The supernet, too, gets far fewer steps than in the paper, hence its larger learning rate.
    "small": {"channels": 8, "layers": 5, "subset": 10000, "batch_size": 64, "epochs": 20, "reward_batches": 2,
              "theta_lr": 3e-3, "w_lr": 0.05},
    # The policy learner with table rewards (nb201): many inputs per step, many samples per input
    # compared with each other (leave-one-out baseline, in units of their spread), and an entropy
    # bonus that decays, so the policy explores long enough to find context-dependent moves.
    "nb201-learner": {"space": "nb201", "policy": "egcn", "m": 32, "n": 8, "baseline": "loo", "advantage_scale": "std",
                      "theta_lr": 1e-3, "entropy": 0.01, "entropy_final": 0.001, "epochs": 10, "theta_steps": 100},
    # NAS-Bench-201 on a 2-core CPU in an hour: a small, low-resolution proxy of the benchmark's
    # network (C=16, one cell per stage, 16x16 inputs) trained for many more steps.
    "nb201-cpu": {"space": "nb201", "channels": 16, "layers": 3, "resolution": 16, "batch_size": 64,
                  "w_lr": 0.05, "w_lr_min": 0.001, "w_weight_decay": 5e-4, "epochs": 100},
    # The DARTS and loose-end spaces on a 2-core CPU in under an hour, with what worked on
    # NAS-Bench-201: a small low-resolution supernet trained alone first (warm-up), then the
    # edge-conditioned policy with many samples per input, scaled leave-one-out advantages and the
    # fit reward, alternating with the supernet as in Algorithm 1.
    "darts-cpu": {"channels": 8, "layers": 5, "resolution": 16, "batch_size": 64, "w_lr": 0.05, "w_lr_min": 0.001,
                  "w_weight_decay": 5e-4, "epochs": 45, "warmup_epochs": 35, "policy": "egcn", "m": 4, "n": 4,
                  "baseline": "loo", "advantage_scale": "std", "reward_score": "fit", "theta_lr": 1e-3,
                  "entropy": 0.01, "entropy_final": 0.001, "theta_steps": 60},
    # darts-cpu with the reward of the selection that worked on NAS-Bench-201: the supernet's fit
    # plus SynFlow in the fit's units. On a CPU-sized supernet the fit alone favours skips
    # (weight-sharing collapse), and a policy trained on it turns convolutions into skips.
    "darts-cpu-synflow": {"channels": 8, "layers": 5, "resolution": 16, "batch_size": 64, "w_lr": 0.05,
                          "w_lr_min": 0.001, "w_weight_decay": 5e-4, "epochs": 45, "warmup_epochs": 35,
                          "policy": "egcn", "m": 4, "n": 4, "baseline": "loo", "advantage_scale": "std",
                          "reward_score": "fit", "theta_lr": 1e-3, "entropy": 0.01, "entropy_final": 0.001,
                          "theta_steps": 60, "reward_proxy": "synflow"},
}

# darts-cpu with fair sampling (every op of every edge trained equally often): against the
# NAS-Bench-301 surrogate a fair supernet judges keep-or-skip moves better than a uniform one
# (docs/results/darts-space.md, "Graded by the NAS-Bench-301 surrogate"), and, as on NAS-Bench-201,
# an early stop down a longer schedule (epoch 25 of a 60-epoch cosine) keeps its judgement.
PRESETS["darts-cpu-fair"] = {**PRESETS["darts-cpu"], "sampler": "fair", "epochs": 25, "warmup_epochs": 15,
                             "w_lr_epochs": 60}

# nb201-cpu with de-isomorphic sampling: each distinct function a cell computes is trained equally
# often. Uniform codes mostly train simple cells written many ways (dead edges), and the supernet
# then cannot see what a convolution is worth against a skip (docs/results/nas-bench-201.md, de-isomorphic sampling).
PRESETS["nb201-cpu-deiso"] = {**PRESETS["nb201-cpu"], "sampler": "deiso"}

# nb201-cpu-deiso stopped halfway down its cosine (epoch 50 of a 100-epoch schedule, the rate still
# at half its peak): the deiso supernet's judgement peaks there and then declines as it goes on
# fitting its training images (docs/results/nas-bench-201.md, deiso-mid). Half the minutes, and truer.
PRESETS["nb201-cpu-deiso-mid"] = {**PRESETS["nb201-cpu-deiso"], "epochs": 50, "w_lr_epochs": 100}

# nb201-cpu-deiso stopped a quarter of the way down its cosine (epoch 25 of 100), the supernet alone
# (one policy step at the end): among the good cells (the best quarter of NAS-Bench-201) such an
# early supernet judges one-edge moves better than the mid-schedule one, which is tuned to the whole
# space; several seeds of it judge together (docs/results/nas-bench-201.md, "Good cells").
PRESETS["nb201-cpu-deiso-early"] = {**PRESETS["nb201-cpu-deiso"], "epochs": 25, "w_lr_epochs": 100,
                                    "warmup_epochs": 24, "theta_steps": 1}
