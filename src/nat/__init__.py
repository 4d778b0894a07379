"""nat: the Neural Architecture Transformer (Guo et al., NeurIPS 2019).

Give it a cell-based architecture; it returns one that is at least as cheap and, in
expectation, more accurate, by replacing operations with skip connections or removing them.

The public face (:mod:`nat.api`; imported on first use, so ``import nat`` and ``nat --help``
stay fast)::

    import nat
    result = nat.transform("DARTS")          # TransformResult: genotype, changed edges, costs, notes
    model = nat.build_model(result.genotype) # a plain torch.nn.Module
    nat.cost("ResNet20")                     # Cost(params=..., params_with_aux=..., madds=...)
    nat.export(result.genotype, "model.pt2") # a torch.export program (or .onnx, .safetensors, .pt)
"""

__version__ = "0.1.0"

__all__ = ["__version__", "resolve", "build_model", "cost", "load_transformer", "transform", "network_config",
           "export"]

_API = frozenset(__all__) - {"__version__", "export"}


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "export":  # nat.export(arch, "model.pt2"): see nat.exporting
        from .exporting import export
        return export
    raise AttributeError(f"module 'nat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API | {"export"})
