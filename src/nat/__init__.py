"""nat: the Neural Architecture Transformer (Guo et al., NeurIPS 2019).

Give it a cell-based architecture; it returns one that is at least as cheap and, in
expectation, more accurate, by replacing operations with skip connections or removing them.
"""

__version__ = "0.1.0"
