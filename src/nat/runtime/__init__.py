"""What every long run needs: configs, run folders, atomic checkpoints, DDP, progress."""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import config_to_dict, load_config, write_yaml
from .distributed import Dist, init_distributed
from .rundir import RunDir

__all__ = ["load_checkpoint", "save_checkpoint", "config_to_dict", "load_config", "write_yaml", "Dist",
           "init_distributed", "RunDir"]
