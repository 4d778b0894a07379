"""Networks built from genotypes."""

from .cell import EvalCell, drop_path
from .network import DATASETS, CellNetwork, NetworkConfig, build_network
from . import nb201  # noqa: F401  (registers the NAS-Bench-201 network)

__all__ = ["EvalCell", "drop_path", "CellNetwork", "NetworkConfig", "build_network", "DATASETS"]
