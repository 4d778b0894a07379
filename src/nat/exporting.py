"""Take a network away from ``nat``: a ``torch.export`` program, ONNX, or the weights alone.

The network is the one every other command builds (:func:`nat.build_model`), freshly initialised,
or -- with ``from_run`` -- the network a ``nat train`` run folder holds, with its trained weights.
It is exported in evaluation mode (BatchNorm running statistics, no drop path, no auxiliary head),
for images of the data set's size, with the batch size left free where torch allows it.

======================  ===================================================================
suffix                  what is written
======================  ===================================================================
``.pt2``                a ``torch.export`` program (``torch.export.load(f).module()(x)``)
``.onnx``               ONNX, through torch's exporter (needs the ``onnx`` extra)
``.safetensors``        the state dict as safetensors (needs the ``safetensors`` extra)
``.pt``                 the state dict, loadable with ``weights_only=True``
======================  ===================================================================
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import NatError
from .runtime.atomic import check_output_path, write_bytes_atomic, written

__all__ = ["export", "ExportResult", "EXPORT_SUFFIXES"]

EXPORT_SUFFIXES = (".pt2", ".onnx", ".safetensors", ".pt")
INPUT_SIZE = {"cifar10": 32, "imagenet": 224}


@dataclass
class ExportResult:
    path: Path
    label: str
    input_shape: tuple[int, ...]   # the example input it was traced with
    dynamic_batch: bool            # whether the batch size is free in the written program
    trained: bool                  # weights from a run folder, not a fresh initialisation


def _model(arch, from_run, dataset, channels, layers, backbone, name) -> tuple[str, nn.Module, str, bool]:
    if from_run is not None:
        from .runtime.checkpoint import load_checkpoint
        from .train.evaluate import find_checkpoint, network_from_checkpoint
        file = find_checkpoint(from_run)
        label, net, cfg = network_from_checkpoint(load_checkpoint(file), str(file))
        return label, net, cfg.dataset, True
    from .factory import backbone_of, build_model, network_config, resolve
    label, genotype = resolve(arch, name=name)
    key = backbone_of(arch, backbone)
    if key is not None:
        from .nn.backbones import resolve_backbone
        data = dataset or resolve_backbone(key).dataset
        torch.manual_seed(0)
        return label, build_model(genotype, data, backbone=key), data, False
    size = network_config(genotype, dataset, channels, layers)
    torch.manual_seed(0)
    return label, build_model(genotype, size.dataset, channels=size.channels, layers=size.layers), size.dataset, False


def _optional(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise NatError(f"writing {extra} needs the '{module}' package: pip install 'nat-transformer[{extra}]'") \
            from None


def export(arch: Any = None, path: str | os.PathLike = "model.pt2", *, from_run: str | os.PathLike | None = None,
           dataset: str | None = None, channels: int | None = None, layers: int | None = None,
           backbone: str | None = None, name: str | None = None, batch: int = 2) -> ExportResult:
    """Write ``arch``'s network (or ``from_run``'s trained one) to ``path``; the format follows the
    suffix (see the module's docs). Returns what was written."""
    path = check_output_path(path, "export", EXPORT_SUFFIXES)
    suffix = path.suffix.lower()
    if (arch is None) == (from_run is None):
        raise NatError("give an ARCH or --from RUN_DIR (one of them)")
    label, net, data, trained = _model(arch, from_run, dataset, channels, layers, backbone, name)
    net.eval()
    side = INPUT_SIZE[data]
    example = torch.randn(batch, 3, side, side)
    # Serialised in memory, then written by Python: torch's C++ zip writer aborts the whole process
    # (exit 134) when the disk fills, where a Python write raises an error that can be reported.
    buffer = io.BytesIO()
    dynamic = False
    if suffix == ".pt":
        torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, buffer)
    elif suffix == ".safetensors":
        _optional("safetensors", "safetensors")
        from safetensors.torch import save
        buffer.write(save({k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}))
    elif suffix == ".pt2":
        program, dynamic = _exported(net, example)
        torch.export.save(program, buffer)
    else:
        _optional("onnx", "onnx")
        with torch.no_grad():
            torch.onnx.export(net, (example,), buffer, input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
        dynamic = True
    written(path, "export", lambda: write_bytes_atomic(path, buffer.getvalue()))
    return ExportResult(path, label, tuple(example.shape), dynamic, trained)


def _exported(net: nn.Module, example: torch.Tensor):
    """``torch.export`` with a free batch size, or a fixed one where the network will not allow it."""
    with torch.no_grad():
        try:
            batch = torch.export.Dim("batch", min=1, max=4096)
            return torch.export.export(net, (example,), dynamic_shapes=({0: batch},)), True
        except Exception:  # e.g. a reshape that specialises the batch: export it fixed instead
            return torch.export.export(net, (example,)), False
