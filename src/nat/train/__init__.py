"""Training architectures from scratch and measuring them: the paper's accuracy claims.

Typical use::

    from nat.arch.zoo import resolve
    from nat.train import PRESETS, TrainConfig, train

    label, genotype = resolve("NAT_DARTS")
    summary = train(label, genotype, TrainConfig(**PRESETS["small"], data="cifar10"), "runs/nat_darts")

Modules: :mod:`~nat.train.config` (settings, presets), :mod:`~nat.train.trainer` (the loop),
:mod:`~nat.train.evaluate` (test accuracy), :mod:`~nat.train.table` (multi-run tables),
:mod:`~nat.train.commands` (``nat train``, ``nat evaluate``).
"""

from .config import HAND_CRAFTED, PRESETS, TrainConfig, is_nas_cell
from .evaluate import evaluate, evaluate_checkpoint
from .table import markdown_table, summarize_runs, write_table
from .trainer import Interrupted, Trainer, TrainingDiverged, train

__all__ = ["TrainConfig", "PRESETS", "HAND_CRAFTED", "is_nas_cell", "Trainer", "train", "TrainingDiverged",
           "Interrupted", "evaluate", "evaluate_checkpoint", "summarize_runs", "markdown_table", "write_table"]
