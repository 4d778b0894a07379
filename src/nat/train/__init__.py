"""Training architectures from scratch and measuring them: the paper's accuracy claims.

Typical use::

    from nat.arch.zoo import resolve
    from nat.train import PRESETS, TrainConfig, train

    label, genotype = resolve("NAT_DARTS")
    summary = train(label, genotype, TrainConfig(**PRESETS["small"], data="cifar10"), "runs/nat_darts")

Modules: :mod:`~nat.train.config` (settings, presets), :mod:`~nat.train.trainer` (the loop),
:mod:`~nat.train.evaluate` (test accuracy), :mod:`~nat.train.table` (multi-run tables),
:mod:`nat.cli.train` (``nat train``, ``nat evaluate``).
"""

from importlib import import_module

__all__ = ["TrainConfig", "PRESETS", "HAND_CRAFTED", "is_nas_cell", "Trainer", "train", "TrainingDiverged",
           "Interrupted", "evaluate", "evaluate_checkpoint", "summarize_runs", "markdown_table", "write_table"]

# Imported on first use: the command line builds its parser from this package's modules, and
# `nat --help` should not wait for torch.
_HOME = {"TrainConfig": "config", "PRESETS": "config", "HAND_CRAFTED": "config", "is_nas_cell": "config",
         "Trainer": "trainer", "train": "trainer", "TrainingDiverged": "trainer", "Interrupted": "trainer",
         "evaluate": "evaluate", "evaluate_checkpoint": "evaluate", "summarize_runs": "table",
         "markdown_table": "table", "write_table": "table"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'nat.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
