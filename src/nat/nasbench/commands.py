"""Sub-command ``nat bench``: NAT on NAS-Bench-201, scored by the benchmark's table."""

from __future__ import annotations

import argparse
import json

from ..errors import NatError
from ..runtime.threads import parse_threads
from ..search.config import PROXIES

__all__ = ["register"]


def _archs(text: str) -> int | None:
    if text == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser("bench", help="transform NAS-Bench-201 cells and score them with the benchmark's table",
                       description="Transform input cells with a trained transformer (nb201 space), a random policy "
                                   "and the oracle (the best legal transformation, enumerated), and score all three "
                                   "by a table of fully trained accuracies. The table is never used to select.")
    p.add_argument("--table", required=True, help="CSV with an arch (or arch_str) column of benchmark strings and "
                                                  "metric columns, covering all 15,625 cells")
    p.add_argument("--metric", metavar="COLUMN", help="the column to score by (default: the table's only metric)")
    p.add_argument("--transformer", required=True, help="a `nat search --space nb201` run folder or transformer file")
    p.add_argument("--archs", type=_archs, default=None, metavar="N|all",
                   help="input cells: all connected ones (default) or a seeded sample of N")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--greedy", action="store_true", help="Maximum: the per-edge most probable action (default)")
    g.add_argument("--candidates", type=int, metavar="K", help="Sampling: K candidates, the best by the supernet "
                                                               "with --select-on, else the most probable")
    p.add_argument("--select-on", metavar="DATA", help="score candidates with the run's supernet on the held-out 60%% "
                                                       "split of this data set")
    p.add_argument("--subset", type=int, default=500, help="held-out images for --select-on (default 500)")
    p.add_argument("--refine", action="store_true", help="with --select-on: hill-climb the chosen cell one legal "
                                                         "edge change at a time on the supernet's score (as nat "
                                                         "transform --refine)")
    p.add_argument("--significance", type=float, metavar="Z", help="with --select-on: keep a change only if its "
                                                                   "held-out loss beats the input's by Z paired "
                                                                   "standard errors (as nat transform)")
    p.add_argument("--proxy", choices=PROXIES, help="with --select-on: rank by the supernet's fit plus this "
                                                    "training-free score (as nat transform --proxy)")
    p.add_argument("--margin", type=float, default=0.0, help="with --select-on: keep a change only this many points "
                                                             "of score above the input (as nat transform)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object (with --rows, one entry per input)")
    p.add_argument("--rows", action="store_true", help="with --json: include every input's row")
    p.add_argument("--plot", metavar="FILE.svg", help="draw gain against input accuracy")
    f = p.add_argument_group("fidelity: does the run's supernet deserve trust? (instead of transforming)")
    f.add_argument("--fidelity", metavar="DATA", help="score --cells random connected cells and one one-edge legal move "
                                                      "of each with the run's supernet on held-out images of DATA, and "
                                                      "report rank correlation and pair sign agreement with the table")
    f.add_argument("--cells", type=int, default=200, help="cells in the fidelity probe (default 200)")
    f.add_argument("--moves", type=int, default=1, help="one-edge legal moves drawn per cell (default 1; 0: every "
                                                        "one, about 9 a cell: pair agreement to about a point)")
    f.add_argument("--images", type=int, default=1024, help="held-out images every cell is scored on (default 1024)")
    f.add_argument("--min-diff", type=float, default=0.5, help="count pairs whose true difference is at least this "
                                                               "many points (default 0.5)")
    p.add_argument("--threads", type=parse_threads, default="auto",
                   help="CPU threads for torch: a number or auto (default: the cores idle at start)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    import sys

    from ..arch import nb201
    from ..search.commands import _selection_batches
    from ..search.transform import load_transformer
    from .bench import format_report, rows_as_dicts, run_bench
    from .plot import check_plot_path, write_gain_plot
    from ..arch.nb201_table import load_table
    if args.fidelity:
        return cmd_fidelity(args)
    if args.candidates is not None and args.candidates < 1:
        raise NatError(f"--candidates must be at least 1, got {args.candidates}")
    if args.select_on and args.candidates is None and not args.refine:
        raise NatError("--select-on scores sampled candidates: give --candidates K (or --refine) as well")
    if args.plot:
        check_plot_path(args.plot)
    table = load_table(args.table, args.metric)
    transformer = load_transformer(args.transformer, nb201.to_genotype(["skip_connect"] * 6))
    batches = None
    if args.select_on:
        if transformer.supernet is None:
            raise NatError(f"{args.transformer}: --select-on needs the run's supernet (a `nat search` run folder "
                           "trained with supernet rewards)")
        batches = _selection_batches(transformer, args.select_on, args.subset)
    summary, rows = run_bench(table, transformer, archs=args.archs, greedy=args.candidates is None,
                              candidates=args.candidates or 1, seed=args.seed, batches=batches, refine=args.refine,
                              significance=args.significance, margin=args.margin, proxy=args.proxy,
                              show_progress=sys.stderr.isatty())
    if args.plot:
        write_gain_plot(rows, args.plot, metric=table.metric, seed=args.seed)
    if args.json:
        print(json.dumps({**summary, **({"rows": rows_as_dicts(rows)} if args.rows else {})}, indent=1))
        return 0
    print(format_report(summary))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def cmd_fidelity(args) -> int:
    import sys

    from ..arch import nb201
    from ..search.commands import _selection_batches
    from ..search.transform import load_transformer
    from .fidelity import fidelity_report, format_fidelity, make_probe, score_codes
    from ..arch.nb201_table import load_table
    if args.images < 1:
        raise NatError(f"--images must be at least 1, got {args.images}")
    table = load_table(args.table, args.metric)
    transformer = load_transformer(args.transformer, nb201.to_genotype(["skip_connect"] * 6))
    if transformer.space != "nb201":
        raise NatError(f"{args.transformer}: trained on the {transformer.space} space; the fidelity probe scores "
                       "NAS-Bench-201 cells (a `nat search --space nb201` run)")
    if transformer.supernet is None:
        raise NatError(f"{args.transformer}: no supernet to measure (a `nat search` run folder trained with "
                       "supernet rewards is needed)")
    probe = make_probe(args.cells, seed=args.seed, moves_per_cell=args.moves)
    batches = _selection_batches(transformer, args.fidelity, args.images)
    scores = score_codes(transformer.supernet, probe.codes, batches, show_progress=sys.stderr.isatty())
    report = fidelity_report(scores, probe, table.values * (100.0 / table.scale), min_diff=args.min_diff)
    report.update({"transformer": transformer.source, "table": table.path, "metric": table.metric,
                   "images": sum(len(y) for _, y in batches), "seed": args.seed, "moves_per_cell": args.moves})
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_fidelity(report))
    return 0
