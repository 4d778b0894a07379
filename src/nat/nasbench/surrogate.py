"""The NAS-Bench-301 surrogate: an answer key for the DARTS space, read through onnxruntime.

The DARTS space has no table of true accuracies. NAS-Bench-301 (Siems et al., 2020) fitted a
model to about 60,000 trained DARTS-space architectures; a folder holding such a model as ONNX
(``nb301-surrogate.onnx``), with ``encoding.json`` (each input column's categories) predicts the
CIFAR-10 accuracy of a normal and reduction cell pair. Like the NAS-Bench-201 table it *grades*
what NAT did; nothing that decides a transformation may read it.

What it can score: 4 intermediate nodes, each with exactly two inputs from two *different*
earlier nodes, and the seven DARTS ops. Nothing else was in its training data -- no ``null``
edge, no ``conv_3x3`` -- so :func:`unscorable` says why a genotype is outside it, and a caller
never extrapolates.

Inputs (batch of N rows): ``x_cat`` int32 ``[N, 34]``, the columns of :data:`COLUMNS` in that
order (each cell's 14 possible edges, then the two sources of nodes 3, 4 and 5 of each cell),
coded by ``encoding.json``; ``x_cont`` float32 ``[N, 1]``, the training epoch (98: the final
accuracy). Output ``[N, 2]``: accuracy in percent, and training seconds. The file fixes N at 1;
the graph itself is batch-agnostic, so the batch dimension is re-declared free when the ``onnx``
package is there to do it (exactly the same numbers, about 7x faster), else rows go one by one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..arch.genotype import CELL_TYPES, Cell, Edge, Genotype
from ..errors import NatError

__all__ = ["SURROGATE_OPS", "COLUMNS", "Surrogate", "load_surrogate", "unscorable", "edge_column", "encode",
           "random_darts_genotype"]

#: The ops the surrogate was fitted on (DARTS's seven, without ``none``).
SURROGATE_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                 "dil_conv_3x3", "dil_conv_5x5")
_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
#: Input columns in the order of ``x_cat`` (the model's, not ``encoding.json``'s alphabetical one).
COLUMNS = tuple([f"edge_{cell}_{i}" for cell in CELL_TYPES for i in range(14)]
                + [f"inputs_node_{cell}_{k}" for cell in CELL_TYPES for k in (3, 4, 5)])
_FIRST_EDGE = {2: 0, 3: 2, 4: 5, 5: 9}  # index of the edge from node 0 into each intermediate node
FINAL_EPOCH = 98


def unscorable(genotype: Genotype) -> str | None:
    """Why the surrogate cannot score ``genotype`` (``None``: it can)."""
    for name in CELL_TYPES:
        cell = getattr(genotype, name)
        if cell.n_nodes != 6 or tuple(sorted(cell.concat)) != (2, 3, 4, 5):
            return f"{name} cell: not 4 intermediate nodes all concatenated (the DARTS layout)"
        for e in cell.edges:
            if e.op not in SURROGATE_OPS:
                return f"{name} cell: edge ({e.op}, {e.src}, {e.dst}) holds an op the surrogate never saw"
        for node in range(2, 6):
            sources = sorted(e.src for _, e in cell.inputs_of(node))
            if len(sources) != 2 or sources[0] == sources[1]:
                return f"{name} cell: node {node} reads {sources}; the surrogate needs two different inputs"
    return None


def edge_column(cell: str, src: int, dst: int) -> int:
    """The ``x_cat`` column of the edge ``src -> dst`` of ``cell`` (``"normal"`` or ``"reduce"``)."""
    return 14 * CELL_TYPES.index(cell) + _FIRST_EDGE[dst] + src


def encode(genotype: Genotype, categories: dict[str, dict[str, int]]) -> list[int]:
    """The ``x_cat`` row of a scorable genotype (:func:`unscorable` first)."""
    values: dict[str, str] = {}
    for name in CELL_TYPES:
        cell = getattr(genotype, name)
        for node in range(2, 6):
            edges = sorted((e for _, e in cell.inputs_of(node)), key=lambda e: e.src)
            for e in edges:
                values[COLUMNS[edge_column(name, e.src, node)]] = e.op
            if node > 2:
                values[f"inputs_node_{name}_{node}"] = f"{edges[0].src}_{edges[1].src}"
    return [categories[col][values.get(col, "#na#")] for col in COLUMNS]


@dataclass
class Surrogate:
    """A loaded surrogate; :meth:`score` predicts final accuracies in percent."""

    folder: str
    categories: dict[str, dict[str, int]]
    session: object
    batched: bool
    epoch: float = FINAL_EPOCH

    def score(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        """Predicted accuracy (percent) of each genotype; raises :class:`NatError` naming the first
        one it cannot score."""
        if not genotypes:
            return np.zeros(0)
        rows = []
        for i, g in enumerate(genotypes):
            why = unscorable(g)
            if why:
                raise NatError(f"the surrogate cannot score architecture {i}: {why}")
            rows.append(encode(g, self.categories))
        return self.score_rows(np.asarray(rows, dtype=np.int32))

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """Predicted accuracy (percent) of encoded rows (``x_cat``, :func:`encode`)."""
        x = np.ascontiguousarray(x, dtype=np.int32)
        if not len(x):
            return np.zeros(0)
        epoch = np.full((len(x), 1), self.epoch, dtype=np.float32)
        if self.batched:
            out = self.session.run(None, {"x_cat": x, "x_cont": epoch})[0]
        else:
            out = np.concatenate([self.session.run(None, {"x_cat": x[i:i + 1], "x_cont": epoch[i:i + 1]})[0]
                                  for i in range(len(x))])
        return out[:, 0].astype(np.float64)


def load_surrogate(folder: str | Path) -> Surrogate:
    """The surrogate in ``folder`` (``nb301-surrogate.onnx`` and ``encoding.json``)."""
    folder = Path(folder)
    model, codes = folder / "nb301-surrogate.onnx", folder / "encoding.json"
    for path in (model, codes):
        if not path.is_file():
            raise NatError(f"{folder}: no {path.name} here (a NAS-Bench-301 surrogate folder holds "
                           "nb301-surrogate.onnx and encoding.json)")
    try:
        import onnxruntime
    except ImportError:
        raise NatError("grading with the surrogate needs onnxruntime: pip install 'nat-transformer[bench]'") from None
    try:
        raw = json.loads(codes.read_text())
        categories = {col: raw[_PREFIX + col] for col in COLUMNS}
    except (OSError, ValueError) as err:
        raise NatError(f"{codes}: cannot read it ({err})") from None
    except KeyError as err:
        raise NatError(f"{codes}: no categories for column {err.args[0]}") from None
    body = model.read_bytes()
    batched, data = _free_batch(body)
    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own types for a corrupt or foreign file
        raise NatError(f"{model}: not a model onnxruntime can load ({str(err).splitlines()[0]})") from None
    names = {i.name for i in session.get_inputs()}
    if names != {"x_cat", "x_cont"}:
        raise NatError(f"{model}: inputs {sorted(names)}, expected x_cat and x_cont (a NAS-Bench-301 surrogate)")
    return Surrogate(str(folder), categories, session, batched)


def _free_batch(body: bytes) -> tuple[bool, bytes]:
    """The model with its batch dimension declared free, when the ``onnx`` package can rewrite it."""
    try:
        import onnx
        proto = onnx.load_from_string(body)
    except Exception:  # no onnx package, or a file it cannot parse (onnxruntime will say which)
        return False, body
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    return True, proto.SerializeToString()


def _random_cell(rng: random.Random) -> Cell:
    edges = [Edge(rng.choice(SURROGATE_OPS), src, node)
             for node in range(2, 6) for src in sorted(rng.sample(range(node), 2))]
    return Cell(edges, range(2, 6))


def random_darts_genotype(rng: random.Random) -> Genotype:
    """A random DARTS-space architecture the surrogate can score: each node's two inputs drawn
    without replacement from the earlier nodes, each op uniform over :data:`SURROGATE_OPS`."""
    return Genotype(_random_cell(rng), _random_cell(rng))
