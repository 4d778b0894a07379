"""Networks built from genotypes."""

from .cell import EvalCell, drop_path
from .network import DATASETS, CellNetwork, NetworkConfig, build_network

__all__ = ["EvalCell", "drop_path", "CellNetwork", "NetworkConfig", "build_network", "DATASETS"]
