"""Sub-command ``nat bench``: NAT graded by an answer key -- a NAS-Bench-201 table of true
accuracies (``--table``), or the NAS-Bench-301 surrogate for the DARTS space (``--surrogate``)."""

from __future__ import annotations

import argparse
import json

from ..errors import NatError
from .options import add_threads_option, fraction, non_negative, positive_int
from .search import _selection_args, selection_options

__all__ = ["register"]


def _archs(text: str) -> int | None:
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or 'all', got {text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser("bench", help="grade NAT's transformations by an answer key (NAS-Bench-201 table or "
                                     "NAS-Bench-301 surrogate)",
                       description="Transform input cells with a trained transformer, a random policy and the oracle "
                                   "(the best legal transformation the answer key can grade), and grade all three. "
                                   "The answer key is never used to select.")
    key = p.add_argument_group("the answer key (one of)")
    key.add_argument("--table", help="NAS-Bench-201: CSV with an arch (or arch_str) column of benchmark strings and "
                                     "metric columns, covering all 15,625 cells")
    key.add_argument("--surrogate", metavar="DIR", help="the DARTS space: a folder with the NAS-Bench-301 surrogate "
                                                        "(nb301-surrogate.onnx, encoding.json); needs onnxruntime "
                                                        "(pip install 'nat-transformer[bench]')")
    p.add_argument("--metric", metavar="COLUMN", help="with --table: the column to grade by (default: its only metric)")
    p.add_argument("--transformer", help="a run folder or transformer file (default: the one shipped for the space)")
    p.add_argument("--archs", type=_archs, default=None, metavar="N|all",
                   help="inputs: a seeded sample of N (with --table default all connected cells; with --surrogate "
                        "N random DARTS-space cells, default 100)")
    p.add_argument("--top", type=fraction, metavar="Q", help="with --table: draw inputs only from the best fraction Q "
                                                              "of the connected cells by the graded metric")
    p.add_argument("--inputs", metavar="FILE", help="with --surrogate: the inputs, from a genotypes.py, a zoo-layout "
                                                    "JSON or a text file of one genotype a line, instead of random cells")
    _selection_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--rows", action="store_true", help="with --json: include every input's row (arch, "
                                                       "transformed_arch, values, costs, verdict)")
    p.add_argument("--plot", metavar="FILE.svg", help="with --table: draw gain against input accuracy")
    f = p.add_argument_group("fidelity: does the supernet deserve trust? (instead of transforming)")
    f.add_argument("--fidelity", metavar="DATA", help="score --cells random cells (with --top, good cells) and their "
                                                      "one-edge legal moves with the supernet on held-out images of "
                                                      "DATA, and report rank correlation and pair sign agreement with "
                                                      "the answer key")
    f.add_argument("--cells", type=positive_int, default=200, help="cells in the fidelity probe (default 200)")
    f.add_argument("--moves", type=int, default=1, help="one-edge legal moves drawn per cell (default 1; 0: every "
                                                        "one, about 9 a cell: pair agreement to about a point)")
    f.add_argument("--images", type=positive_int, default=1024, help="held-out images every cell is scored on "
                                                                    "(default 1024)")
    f.add_argument("--min-diff", type=non_negative, default=None,
                   help="count pairs whose true difference is at least this many points (default 0.5 for the "
                        "table, 0.1 for the surrogate)")
    add_threads_option(p)
    p.set_defaults(func=cmd_bench)


def _bench_selection(args, transformer):
    """The selection graded: as `nat transform` makes it (--select-on alone: the file's recommendation);
    without --select-on and without --candidates, Maximum (the per-edge argmax), as the paper's Table 3."""
    from ..search.transform import recommended_selection
    options = selection_options(args)
    if not args.select_on and options["candidates"] is None and options["greedy"] is None:
        options["greedy"] = True
    return recommended_selection(transformer, options["objective"], judged=bool(args.select_on)).with_options(**options)


def cmd_bench(args) -> int:
    if bool(args.table) == bool(args.surrogate):
        raise NatError("give one answer key: --table FILE (NAS-Bench-201) or --surrogate DIR (the DARTS space)")
    if args.surrogate:
        return cmd_surrogate(args)
    if args.inputs:
        raise NatError("--inputs is for the DARTS space (--surrogate); with --table use --archs and --top")
    if args.fidelity:
        return cmd_fidelity(args)
    import sys

    from ..arch import nb201
    from ..arch.nb201_table import load_table
    from ..search.transform import load_transformer, selection_batches
    from ..nasbench.bench import format_report, rows_as_dicts, run_bench
    from ..nasbench.plot import check_plot_path, write_gain_plot
    if args.plot:
        check_plot_path(args.plot)
    table = load_table(args.table, args.metric)
    transformer = load_transformer(args.transformer, nb201.to_genotype(["skip_connect"] * 6))
    selection = _bench_selection(args, transformer)
    batches = selection_batches(transformer, args.select_on, selection.subset) if args.select_on else None
    summary, rows = run_bench(table, transformer, selection, archs=args.archs, top=args.top, seed=args.seed,
                              batches=batches, show_progress=sys.stderr.isatty())
    if args.plot:
        write_gain_plot(rows, args.plot, metric=table.metric, seed=args.seed)
    if args.json:
        print(json.dumps({**summary, **({"rows": rows_as_dicts(rows)} if args.rows else {})}, indent=1))
        return 0
    print(format_report(summary))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def cmd_surrogate(args) -> int:
    import sys

    from ..api import resolve
    from ..search.transform import load_transformer, selection_batches
    from ..nasbench.surrogate import load_surrogate
    from ..nasbench.surrogate_bench import (format_surrogate_report, input_file, random_inputs, run_surrogate_bench,
                                  surrogate_rows_as_dicts)
    for flag, value in (("--top", args.top), ("--plot", args.plot), ("--metric", args.metric)):
        if value is not None:
            raise NatError(f"{flag} is for the NAS-Bench-201 table (--table), not the surrogate")
    surrogate = load_surrogate(args.surrogate)
    if args.inputs and args.archs is not None:
        raise NatError("give --inputs FILE or --archs N, not both")
    transformer = load_transformer(args.transformer, resolve("DARTS")[1])
    if args.fidelity:
        from ..nasbench.surrogate_fidelity import format_surrogate_fidelity, surrogate_fidelity
        batches = selection_batches(transformer, args.fidelity, args.images)
        report = surrogate_fidelity(surrogate, transformer, batches, cells=args.cells, seed=args.seed,
                                    min_diff=0.1 if args.min_diff is None else args.min_diff,
                                    show_progress=sys.stderr.isatty())
        print(json.dumps(report, indent=1) if args.json else format_surrogate_fidelity(report))
        return 0
    inputs = input_file(args.inputs) if args.inputs else random_inputs(args.archs or 100, args.seed)
    selection = _bench_selection(args, transformer)
    batches = selection_batches(transformer, args.select_on, selection.subset) if args.select_on else None
    summary, rows = run_surrogate_bench(surrogate, transformer, inputs, selection=selection, batches=batches,
                                        seed=args.seed, show_progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps({**summary, **({"rows": surrogate_rows_as_dicts(rows)} if args.rows else {})}, indent=1))
        return 0
    print(format_surrogate_report(summary))
    return 0


def cmd_fidelity(args) -> int:
    import sys

    from ..arch import nb201
    from ..arch.nb201_table import load_table
    from ..search.transform import load_transformer, selection_batches
    from ..nasbench.bench import select_inputs
    from ..nasbench.fidelity import fidelity_report, format_fidelity, make_probe, score_codes
    table = load_table(args.table, args.metric)
    transformer = load_transformer(args.transformer, nb201.to_genotype(["skip_connect"] * 6))
    if transformer.space != "nb201":
        raise NatError(f"{args.transformer}: trained on the {transformer.space} space; the fidelity probe scores "
                       "NAS-Bench-201 cells (a `nat search --space nb201` run)")
    if not transformer.has_supernet:
        raise NatError(f"{transformer.source}: no supernet to measure (a `nat search` run folder trained with "
                       "supernet rewards is needed)")
    pool = select_inputs(None, args.seed, top=args.top, table=table) if args.top is not None else None
    probe = make_probe(args.cells, seed=args.seed, moves_per_cell=args.moves, pool=pool)
    batches = selection_batches(transformer, args.fidelity, args.images)
    scores = score_codes(transformer.supernet, probe.codes, batches, show_progress=sys.stderr.isatty())
    report = fidelity_report(scores, probe, table.values * (100.0 / table.scale),
                             min_diff=0.5 if args.min_diff is None else args.min_diff)
    report.update({"transformer": transformer.source, "table": table.path, "metric": table.metric, "top": args.top,
                   "images": sum(len(y) for _, y in batches), "seed": args.seed, "moves_per_cell": args.moves})
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_fidelity(report))
    return 0
