"""What every long run needs: configs, run folders, atomic checkpoints, DDP, progress.

The names below are imported on first use: ``nat.runtime.atomic`` (file writing) is needed by
modules that must not pull torch in (``nat --help`` builds its parser from them).
"""

from importlib import import_module

__all__ = ["load_checkpoint", "save_checkpoint", "config_to_dict", "load_config", "write_yaml", "Dist",
           "init_distributed", "RunDir"]

_HOME = {"load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "config_to_dict": "config",
         "load_config": "config", "write_yaml": "config", "Dist": "distributed", "init_distributed": "distributed",
         "RunDir": "rundir"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'nat.runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
