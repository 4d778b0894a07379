"""NAT scored against ground truth: a NAS-Bench-201 table, its oracle, and ``nat bench``."""

from ..arch.nb201_table import BenchTable, load_table

__all__ = ["BenchTable", "load_table"]
