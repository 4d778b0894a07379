"""The ``nat`` command: one sub-command per job, each a thin layer over the library.

Every user mistake (bad file, unknown name, illegal option) is a :class:`~nat.errors.NatError`
and is printed as one line, ``nat: error: ...``, with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Callable, Sequence

from ..errors import NatError

__all__ = ["main", "build_parser"]

#: Modules that add their own sub-commands: each has ``register(subparsers)``; handlers import
#: their heavy dependencies lazily so ``nat --help`` stays fast.
COMMAND_MODULES: tuple[str, ...] = ("nat.cli.search", "nat.cli.train", "nat.cli.bench")

# Spelled out so that building the parser imports no torch; a wrong key is a NatError listing them.
BACKBONE_KEYS = "vgg16, resnet20, resnet56, mobilenetv2, resnet18, resnet50"
MADDS_HELP = ("MAdds: multiply-adds of convolutions and linear layers in one forward pass of one image "
              "(32x32 for cifar10, 224x224 for imagenet), auxiliary head excluded; pooling, BatchNorm, "
              "ReLU and additions are not counted. Params: all parameters, without the auxiliary head "
              "and separately with it.")


def _arch_args(p: argparse.ArgumentParser, nargs: str | None = None) -> None:
    p.add_argument("arch", nargs=nargs, metavar="ARCH",
                   help="a zoo name (see `nat zoo`, any case), a genotype file (.json, or text in the "
                        "DARTS pair or NAT triple form), a NAS-Bench-201 string '|nor_conv_3x3~0|+|...|' "
                        "or a file holding one, or a hand-crafted backbone of Table 1 (VGG16, "
                        "ResNet20, ResNet56, MobileNetV2, ResNet18, ResNet50, and NAT_<name>), which "
                        "stands for its block cell")
    p.add_argument("--name", help="with a zoo-layout JSON file or a DARTS-style genotypes.py of many entries: which genotype in it")


def _size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=("cifar10", "imagenet"),
                   help="default: cifar10, or for a backbone the dataset Table 1 reports it on")
    p.add_argument("--channels", "-C", type=int, help="initial channels C (default 36 cifar10, 48 imagenet)")
    p.add_argument("--layers", "-L", type=int, help="number of cells L (default 20 cifar10, 14 imagenet)")


def _config(args, genotype=None):
    """The network size asked for (:func:`nat.api.network_config`: checked, the network's defaults filled in)."""
    from ..api import network_config
    return network_config(genotype, args.dataset, args.channels, args.layers)


def resolve_arch(arch: str, name: str | None = None):
    """``(label, genotype)``: :func:`nat.api.resolve`, the one resolver of every command."""
    from ..api import resolve
    return resolve(arch, name=name)


def _backbone_key(arch: str, args) -> str | None:
    """The backbone ARCH is built into: --backbone, else ARCH's own if it names one (which then
    wins over a zoo cell of the same name, e.g. MobileNetV2)."""
    from ..arch.zoo import path_exists
    from ..nn.backbones import is_backbone_name, resolve_backbone
    if getattr(args, "backbone", None):
        return resolve_backbone(args.backbone).key
    if not path_exists(arch) and is_backbone_name(arch):
        if args.channels is not None or args.layers is not None:
            raise NatError(f"{arch} is a hand-crafted network: --channels/--layers do not apply")
        return resolve_backbone(arch).key
    return None


# -- sub-commands ---------------------------------------------------------------------------------
def cmd_zoo(args) -> int:
    from ..factory import zoo_costs
    table = zoo_costs()
    rows, networks = ([{k: v for k, v in r.items() if k != "digest"} for r in table[part]]
                      for part in ("cells", "networks"))
    if args.json:
        print(json.dumps(rows + networks, indent=1))
        return 0
    print("Cells, costed as a DARTS-style stack at the default CIFAR-10 size (C=36, L=20); params without the "
          "auxiliary head.\nResBlock, VGG and MobileNetV2 here are those networks' blocks as cells: for the "
          "networks themselves see the second table.\n")
    print(f"{'name':<16}{'params (M)':>11}{'MAdds (M)':>11}  source")
    for r in rows:
        print(f"{r['name']:<16}{r['params'] / 1e6:>11.2f}{r['madds'] / 1e6:>11.1f}  {r['source']}")
    print("\nHand-crafted networks (ARCH for every command; NAT_<name> is the network built from the paper's "
          "NAT block):\n")
    print(f"{'name':<16}{'params (M)':>11}{'MAdds (M)':>11}  network")
    for r in networks:
        print(f"{r['name']:<16}{r['params'] / 1e6:>11.2f}{r['madds'] / 1e6:>11.1f}  {r['network']}")
    return 0


def cmd_show(args) -> int:
    from ..arch import nb201
    from pathlib import Path

    from ..arch.formats import format_assignment, format_pairs, format_triples, genotype_to_dict
    from ..arch.space import space_of
    from ..ops import op_kind
    label, genotype = resolve_arch(args.arch, args.name)
    tied = space_of(genotype).tied
    if args.json:
        print(json.dumps(genotype_to_dict(genotype), indent=1))
    elif args.format == "darts":
        print(format_pairs(genotype))
    elif args.format == "darts-py":
        print(format_assignment(genotype, Path(label).stem if Path(label).suffix else label))
    elif args.format == "triples":
        print(format_triples(genotype))
    elif args.format == "nb201":
        print(nb201.genotype_to_string(genotype))
    else:
        print(f"{label}  (digest {genotype.digest})")
        if tied:
            print(f"NAS-Bench-201 cell {nb201.genotype_to_string(genotype)}: one cell everywhere, input node 1 "
                  f"(benchmark node i is node i + 1 here)")
        cells = {"cell": genotype.normal} if tied else {f"{k} cell": c for k, c in genotype.cells().items()}
        for title, cell in cells.items():
            dead = [n for n in cell.concat if n not in cell.output_nodes()]
            print(f"\n{title}: output = concat of nodes {list(cell.concat)}"
                  + (f" (dead, dropped: {dead})" if dead else ""))
            for node in cell.intermediate:
                inputs = ", ".join(f"{e.op} [{op_kind(e.op)}] <- {e.src}" for _, e in cell.inputs_of(node))
                print(f"  node {node}: {inputs}")
    return 0


def _cost_row(arch: str, args) -> dict:
    from ..api import cost
    from ..arch.space import space_of
    from ..nn.backbones import resolve_backbone
    label, genotype = resolve_arch(arch, args.name)
    key = _backbone_key(arch, args)
    if key is not None:
        dataset = args.dataset or resolve_backbone(key).dataset
        return {"arch": label, "dataset": dataset, "backbone": key,
                **cost(genotype, dataset, backbone=key).as_dict()}
    cfg = _config(args, genotype)
    tied = space_of(genotype)
    return {"arch": label, **({"space": tied.name} if tied.tied else {}), "dataset": cfg.dataset,
            "channels": cfg.channels, "layers": cfg.layers,
            **cost(genotype, cfg.dataset, channels=cfg.channels, layers=cfg.layers).as_dict()}


def cmd_cost(args) -> int:
    rows = [_cost_row(arch, args) for arch in args.arch]
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=1))
        return 0
    width = max(16, *(len(r["arch"]) + 1 for r in rows))  # NAS-Bench-201 strings are long
    print(f"{'arch':<{width}}{'network':<24}{'params':>14}{'params+aux':>14}{'MAdds':>16}")
    for r in rows:
        network = (f"{r['backbone']}, {r['dataset']}" if "backbone" in r
                   else f"{r.get('space', 'cells')}, {r['dataset']}, C={r['channels']}, L={r['layers']}")
        print(f"{r['arch']:<{width}}{network:<24}{r['params']:>14,}{r['params_with_aux']:>14,}{r['madds']:>16,}")
    return 0


def cmd_draw(args) -> int:
    from ..draw import write_drawing
    label, genotype = resolve_arch(args.arch, args.name)
    other = resolve_arch(args.vs)[1] if args.vs else None
    try:
        write_drawing(genotype, args.output, other=other, name=label + (f" vs {args.vs}" if args.vs else ""))
    except ValueError as err:  # --vs OTHER has another graph: nothing to compare edge by edge
        raise NatError(f"cannot draw {label} against {args.vs}: {err}") from None
    print(f"wrote {args.output}")
    return 0


def cmd_check(args) -> int:
    from ..arch.rules import transformation_violations
    from ..costs import cost_increase
    from ..nn.backbones import backbone_cost_increase, resolve_backbone
    alpha_label, alpha = resolve_arch(args.arch, args.name)
    beta_label, beta = resolve_arch(args.vs)
    problems = [str(p) for p in transformation_violations(beta, alpha)]
    key = _backbone_key(args.arch, args) or _backbone_key(args.vs, args)
    if key is not None:
        dataset = args.dataset or resolve_backbone(key).dataset
        costlier, size = backbone_cost_increase(alpha, beta, key, dataset=dataset), f"{key}, {dataset}"
    else:
        cfg = _config(args, beta)
        costlier, size = cost_increase(alpha, beta, cfg), f"{cfg.dataset}, C={cfg.channels}, L={cfg.layers}"
    if args.json:
        print(json.dumps({"alpha": alpha_label, "beta": beta_label, "legal": not problems, "violations": problems,
                          "costs_no_more": not costlier, "cost_increases": costlier}, indent=1))
    else:
        verdict = "is" if not problems else "is NOT"
        print(f"{alpha_label} {verdict} a legal NAT transformation of {beta_label}")
        for p in problems:
            print(f"  {p}")
        print(f"{alpha_label} costs no more than {beta_label} ({size})" if not costlier else
              f"{alpha_label} costs MORE than {beta_label} ({size}): " + "; ".join(costlier))
    return 0 if not problems and not costlier else 1


def cmd_export(args) -> int:
    from ..exporting import export
    result = export(args.arch, args.output, from_run=args.from_run, dataset=args.dataset, channels=args.channels,
                    layers=args.layers, backbone=args.backbone, name=args.name)
    weights = f"trained weights of {args.from_run}" if result.trained else "freshly initialised weights (seed 0)"
    shape = "x".join(str(d) for d in result.input_shape[1:])
    print(f"wrote {result.path}: {result.label}, {weights}, input N x {shape}"
          + (" (any batch size)" if result.dynamic_batch else f" (batch {result.input_shape[0]})")
          if result.path.suffix in (".pt2", ".onnx") else f"wrote {result.path}: {result.label}, {weights}")
    return 0


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nat", description=__import__("nat").__doc__.strip().splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nat {__import__('nat').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("zoo", help="list the zoo architectures with their costs")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("show", help="print a genotype")
    _arch_args(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print it in the zoo's JSON layout")
    g.add_argument("--format", choices=("darts", "darts-py", "triples", "nb201"),
                   help="print it as DARTS pairs, as a `NAME = Genotype(...)` line for a DARTS genotypes.py, "
                        "as NAT triples, or as a NAS-Bench-201 string (nb201 cells only)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("cost", help="parameters and MAdds of the network built from ARCH",
                       description=MADDS_HELP)
    _arch_args(p, nargs="+")
    _size_args(p)
    p.add_argument("--backbone", metavar="KEY", help=f"build ARCH's cells as the blocks of this hand-crafted "
                   f"network ({BACKBONE_KEYS}) instead of a cell stack: `nat cost NAT_ResBlock --backbone resnet56`")
    p.add_argument("--json", action="store_true",
                   help="print a JSON object (a list for several ARCHs): params, params_with_aux, madds")
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("draw", help="draw both cells as graphs (SVG or DOT)")
    _arch_args(p)
    p.add_argument("--vs", metavar="OTHER", help="highlight the edges that differ from OTHER")
    p.add_argument("-o", "--output", required=True, help="output file ending .svg or .dot")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("check", help="is ARCH a legal NAT transformation of --vs, costing no more?",
                       description="Exit status 0 when legal and no costlier, 1 otherwise. " + MADDS_HELP)
    _arch_args(p)
    p.add_argument("--vs", metavar="INPUT", required=True, help="the input architecture beta")
    _size_args(p)
    p.add_argument("--backbone", metavar="KEY", help=f"compare the costs of this hand-crafted network "
                   f"({BACKBONE_KEYS}) built from each; the default when ARCH or INPUT names a backbone")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("export", help="write ARCH's network (or a trained run's) as a torch.export program, "
                                      "ONNX or weights",
                       description="The format follows the suffix of -o: .pt2 (torch.export), .onnx (needs the onnx "
                                   "extra), .safetensors (needs the safetensors extra), .pt (a state dict). In "
                                   "evaluation mode, without the auxiliary head.")
    _arch_args(p, nargs="?")
    p.add_argument("--from", dest="from_run", metavar="RUN_DIR",
                   help="a `nat train` run folder (or checkpoint): export its network with its trained weights")
    p.add_argument("-o", "--output", required=True, help="output file: .pt2, .onnx, .safetensors or .pt")
    _size_args(p)
    p.add_argument("--backbone", metavar="KEY", help=f"build ARCH's cells into this hand-crafted network ({BACKBONE_KEYS})")
    p.set_defaults(func=cmd_export)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "threads", None) is not None and args.command not in ("train", "search"):
            # train and search set their own: a resumed run reuses the count it computed with
            from ..runtime.threads import apply_threads
            apply_threads(args.threads)
        return func(args)
    except NatError as err:
        print(f"nat: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # `nat zoo | head` is fine
        return 0
    except KeyboardInterrupt:
        print("nat: interrupted", file=sys.stderr)
        return 130
