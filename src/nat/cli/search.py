"""Sub-commands ``nat search``, ``nat transform`` and ``nat compare-policies``."""

from __future__ import annotations

import argparse
import json

from ..errors import NatError
from .options import add_threads_option, non_negative, positive_int
from ..search.config import PROXIES, SCORES
from ..search.selection import OBJECTIVES

__all__ = ["register", "selection_options"]


def _size_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--dataset", choices=("cifar10", "imagenet"),
                   help=f"network size at which {what} is costed (default cifar10; a backbone's own data set)")
    p.add_argument("--channels", "-C", type=int, help="C of the final network (default 36 cifar10, 48 imagenet)")
    p.add_argument("--layers", "-L", type=int, help="L of the final network (default 20 cifar10, 14 imagenet)")


def _selection_args(p: argparse.ArgumentParser) -> None:
    """The selection's options (nat.search.selection.Selection). Left out, each takes the value the
    transformer recommends with --select-on (see `nat transform --help`), else its default."""
    p.add_argument("--objective", choices=OBJECTIVES,
                   help="accurate (default): the best transformation the supernet is confident improves on the "
                        "input; compact: the cheapest one it is confident loses nothing")
    nulls = p.add_mutually_exclusive_group()
    nulls.add_argument("--no-null", action="store_true", default=None,
                       help="no edge that carries an op becomes null (an op may still become a skip; a null edge "
                            "may become a skip): results a NAS-Bench-301 surrogate can score")
    nulls.add_argument("--allow-null", dest="no_null", action="store_false", default=None,
                       help="let edges become null where the transformer's recommended selection says --no-null "
                            "(the DARTS-space compact one does, so that the surrogate can grade it)")
    p.add_argument("--candidates", type=positive_int, help="K sampled candidates (paper and default: 10)")
    p.add_argument("--greedy", action="store_true", default=None, help="per-edge argmax (Maximum-GCN)")
    p.add_argument("--select-on", metavar="DATA", help="judge candidates with the supernet on the held-out 60%% "
                                                       "split of this data set; alone, it applies the selection the "
                                                       "transformer recommends for the objective")
    p.add_argument("--subset", type=positive_int, help="held-out images the supernet judges on (default 2000)")
    p.add_argument("--score", choices=SCORES,
                   help="what --select-on ranks by: fit = exp(-cross-entropy) (default; tracks the truth far "
                        "better on NAS-Bench-201) or top-1 accuracy (the paper's)")
    p.add_argument("--refine", action="store_true", default=None,
                   help="with --select-on: hill-climb the chosen cell on the supernet's score, one legal edge "
                        "change at a time (with --greedy too)")
    p.add_argument("--margin", type=non_negative, metavar="POINTS",
                   help="with --select-on: return a change only if it scores this many points above the input "
                        "(default 0)")
    p.add_argument("--significance", type=non_negative, metavar="Z",
                   help="with --select-on: accurate: return a change only if its held-out loss beats the input's "
                        "by Z standard errors of the per-image paired difference; compact: only if it is shown no "
                        "worse (within --tolerance) by Z standard errors")
    p.add_argument("--tolerance", type=non_negative, metavar="PERCENT",
                   help="with --objective compact: a held-out loss this many percent above the input's still counts "
                        "as no worse (default 0)")
    p.add_argument("--proxy", choices=PROXIES,
                   help="with --select-on: rank by the supernet's score plus this training-free one (synflow)")
    p.add_argument("--proxy-weight", type=non_negative, metavar="W",
                   help="the proxy's weight in standard units (default 1, untuned)")
    p.add_argument("--max-changes", type=positive_int, metavar="N",
                   help="return a cell that differs from the input in at most N edges (default: any number)")


def selection_options(args) -> dict:
    """The selection options given on the command line (None where left out)."""
    return {k: getattr(args, k, None) for k in ("objective", "no_null", "greedy", "candidates", "subset", "score",
                                                  "refine", "margin", "significance", "tolerance", "proxy",
                                                  "proxy_weight", "max_changes")}


def register(sub) -> None:
    p = sub.add_parser("search", help="train a transformer: supernet + policy by REINFORCE (Algorithm 1)",
                       description="Alternate every epoch a pass over 40% of the training set updating the "
                                   "supernet and a pass over the other 60% updating the policy.")
    p.add_argument("--data", help="CIFAR-10 folder/archive, or 'cifar10' to download (not needed with a table reward)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--preset", help="paper (default), small, tiny, darts-cpu, darts-cpu-fair, darts-cpu-synflow, "
                                    "nb201-cpu, nb201-cpu-deiso, nb201-cpu-deiso-mid, nb201-cpu-deiso-early, nb201-learner")
    p.add_argument("--config", help="YAML file with settings (any SearchConfig field)")
    p.add_argument("--space", choices=("darts", "loose-end", "nb201"),
                   help="cell space (nb201: NAS-Bench-201; its network has C=16, L=15 at the benchmark's size)")
    p.add_argument("--reward", metavar="SOURCE", help="supernet (default), or table:FILE.csv to look accuracies up "
                                                      "in a NAS-Bench-201 table (no supernet, no data; nb201 only)")
    p.add_argument("--metric", metavar="COLUMN", help="with a table reward: the table's column (default: its only one)")
    p.add_argument("--theta-steps", type=int, help="policy steps per epoch (default: a pass over the 60%% split; "
                                                   "100 with a table reward)")
    p.add_argument("--policy", help="gcn (the paper's), egcn (edge-conditioned), lstm, random, or several trained "
                                     "side by side: gcn,lstm,random")
    p.add_argument("--channels", "-C", type=int, help="supernet's initial channels (default 20, as the reference; see --preset)")
    p.add_argument("--layers", "-L", type=int, help="supernet's number of cells (default 8; see --preset)")
    p.add_argument("--epochs", type=int, help="search epochs (paper 100); with --resume, extends the run")
    p.add_argument("--batch-size", type=int, help="images a step, for both phases")
    p.add_argument("--w-lr", type=float, help="supernet SGD learning rate at the start of the cosine (may change "
                                              "on --resume, e.g. after a NaN)")
    p.add_argument("--w-lr-min", type=float, help="supernet learning rate at the end of the cosine")
    p.add_argument("--theta-lr", type=float, help="policy Adam learning rate (may change on --resume)")
    p.add_argument("--subset", type=int, help="use only N training images (split 40/60)")
    p.add_argument("--entropy", type=float, help="entropy weight lambda (paper 0.003)")
    p.add_argument("--reward-batches", type=int, help="held-out batches each reward is measured on")
    p.add_argument("--extra-ops", help="comma-separated ops added to the space, e.g. NAONet's conv_1x3_3x1")
    p.add_argument("--seed", type=int, help="random seed of the supernet, the policies and the data order")
    p.add_argument("--device", help="cpu, cuda, cuda:1, or auto (default)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out exactly; only --epochs, "
                       "--device, --data, --threads and the learning rates may change")
    again.add_argument("--requeue", action="store_true",
                       help="the same command for a job that may have run before: start when --out holds no "
                            "checkpoint, resume when it holds one, refuse only a finished search")
    add_threads_option(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("transform", help="transform ARCH with a trained transformer",
                       description="Sample K candidates from the policy (or take the per-edge argmax with "
                                   "--greedy), drop any that is illegal or costs more, and keep the best on "
                                   "held-out data (--select-on) or the most probable.")
    p.add_argument("arch", metavar="ARCH", help="zoo name or genotype file")
    p.add_argument("--name", help="with a zoo-layout JSON file or a DARTS-style genotypes.py: which genotype in it")
    p.add_argument("--transformer", help="a `nat search` run folder (policy + supernet) or transformer file; "
                                         "default: the one shipped with nat")
    _selection_args(p)
    p.add_argument("--seed", type=int, default=0)
    _size_args(p, "the result")
    p.add_argument("-o", "--output", help="write the transformed genotype (JSON layout)")
    p.add_argument("--draw", metavar="FILE", help="also draw the result against the input (.svg or .dot)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_option(p)
    p.set_defaults(func=cmd_transform)

    p = sub.add_parser("compare-policies", help="Random vs LSTM vs Maximum-GCN vs Sampling-GCN (paper Table 3)",
                       description="Needs a search run trained with --policy gcn,lstm,random (one supernet, one "
                                   "budget). Candidates are selected on the held-out 60%% split and the results "
                                   "scored by the supernet on the test set.")
    p.add_argument("--transformer", required=True, help="the search run folder")
    p.add_argument("--data", required=True, help="the data set the search used")
    p.add_argument("--archs", nargs="+", default=["DARTS", "R1", "R2", "R3", "R4", "R5"],
                   help="architectures to transform (default: those of the DARTS space in the zoo)")
    p.add_argument("--candidates", type=positive_int, default=10)
    p.add_argument("--subset", type=positive_int, default=2000, help="images for selecting, and again for scoring")
    p.add_argument("--seed", type=int, default=0)
    _size_args(p, "each result")
    p.add_argument("--json", action="store_true")
    add_threads_option(p)
    p.set_defaults(func=cmd_compare)


def _requeue_resumes(args) -> bool:
    """For --requeue: whether --out holds a search to resume (refusing one that is finished)."""
    from pathlib import Path

    from ..runtime.checkpoint import load_checkpoint
    last = Path(args.out) / "last.pt"
    if not last.exists():
        return False
    state = load_checkpoint(last)
    done, total = state.get("epoch"), (state.get("config") or {}).get("epochs")
    if isinstance(done, int) and isinstance(total, int) and done >= max(total, args.epochs or 0):
        raise NatError(f"{args.out}: nothing to requeue, the search is finished ({done}/{total} epochs)")
    return True


def cmd_search(args) -> int:
    from ..data import load_dataset
    from ..runtime.config import load_config
    from ..search.config import PRESETS, SearchConfig
    from ..search.trainer import run_search
    extra = tuple(o.strip() for o in args.extra_ops.split(",")) if args.extra_ops else None
    overrides = {"space": args.space, "policy": args.policy, "channels": args.channels, "layers": args.layers,
                 "epochs": args.epochs, "batch_size": args.batch_size, "subset": args.subset,
                 "entropy": args.entropy, "reward_batches": args.reward_batches, "extra_ops": extra,
                 "seed": args.seed, "device": args.device, "reward": args.reward, "reward_metric": args.metric,
                 "theta_steps": args.theta_steps, "w_lr": args.w_lr, "w_lr_min": args.w_lr_min,
                 "theta_lr": args.theta_lr}
    if args.requeue and _requeue_resumes(args):
        # the command is the one that started the run: its settings are the run's, not changes
        args.resume, args.preset, args.config = True, None, None
        overrides = dict.fromkeys(overrides)
    if args.resume:
        # the run's own --preset or --config is no change: what they set is compared, setting by setting
        asked = {}
        if args.preset:
            if args.preset not in PRESETS:
                raise NatError(f"unknown preset '{args.preset}' (known: {', '.join(PRESETS)})")
            asked |= {k.replace("-", "_"): v for k, v in PRESETS[args.preset].items()}
        if args.config:
            from ..runtime.config import read_config_file
            asked |= {str(k).replace("-", "_"): v for k, v in read_config_file(args.config).items()}
        asked |= {k: v for k, v in overrides.items() if v is not None and k not in ("epochs", "device")}
        data = load_dataset(args.data) if args.data else None  # a table-reward run needs none
        run_search(None, data, args.out, resume=True, epochs=args.epochs, device=args.device, changes=asked,
                   threads=args.threads)
        return 0
    cfg = load_config(SearchConfig, presets=PRESETS, preset=args.preset, config_file=args.config, overrides=overrides)
    if cfg.reward == "supernet" and not args.data:
        raise NatError("--data is required (unless --reward table:FILE.csv)")
    if not args.preset and not args.config and cfg.reward == "supernet":  # silent GPU-hours would surprise
        print(f"no --preset: the paper's search ({cfg.epochs} epochs, C={cfg.channels}, L={cfg.layers}, the whole "
              f"training set); on a CPU try --preset darts-cpu or nb201-cpu", flush=True)
    data = load_dataset(args.data) if cfg.reward == "supernet" else None
    summary = run_search(cfg, data, args.out, threads=args.threads)
    print(f"transformer written to {args.out}/transformer.pt ({summary['epochs']} epochs; reward: {summary['reward']})")
    return 0


def _selection_batches(transformer, data_spec: str, subset: int) -> list:
    from ..search.transform import selection_batches
    return selection_batches(transformer, data_spec, subset)


def cmd_transform(args) -> int:
    from ..api import transform
    from ..arch.formats import write_genotype_file
    from ..runtime.atomic import check_output_path, written
    if args.output:  # checked before the work: a bad destination must not cost the result
        check_output_path(args.output, "write the result", None)
    if args.draw:
        from ..draw import SUFFIXES
        check_output_path(args.draw, "draw", SUFFIXES)
    result = transform(args.arch, args.transformer, select_on=args.select_on, dataset=args.dataset,
                       channels=args.channels, layers=args.layers, seed=args.seed, name=args.name,
                       threads=None, **selection_options(args))  # the command line set its threads already
    label, beta, size = result.label, result.input, result.size
    _report(args, result, label, beta, size)
    # written after the result is shown: a disk that fails now still leaves it on the screen
    if args.output:
        written(args.output, "write the result", lambda: write_genotype_file(
            result.genotype, args.output, "json", source=f"nat transform {label} ({result.method})"))
        if not args.json:
            print(f"  wrote {args.output}")
    if args.draw:
        from ..draw import write_drawing
        written(args.draw, "draw", lambda: write_drawing(result.genotype, args.draw, other=beta,
                                                        name=f"NAT({label}) vs {label}"))
        if not args.json:
            print(f"  drew {args.draw}")
    return 0


def _report(args, result, label, beta, size) -> None:
    from ..arch.formats import genotype_to_dict
    if args.json:
        print(json.dumps({"input": genotype_to_dict(beta), "genotype": genotype_to_dict(result.genotype),
                          "changed": result.changed, "method": result.method, "transformer": result.transformer,
                          "objective": result.objective, "verdict": result.verdict, "expected": result.expected,
                          "selection": result.selection,
                          "cost_before": result.cost_before.as_dict(), "cost_after": result.cost_after.as_dict(),
                          "size": size,
                          "candidates": result.candidates, "notes": result.notes, "input_won": result.input_won,
                          "refinement": result.refinement, "significance": result.significance,
                          "proxy": result.selection.get("proxy")}, indent=1))
        return
    print(f"{label}: {result.method} with {result.transformer}")
    nb201_cell = result.size.get("layers") is not None and _is_nb201(beta)
    if not result.changed:
        print("  no edge changed")
    for c in result.changed:
        if nb201_cell:  # the benchmark's own node numbers (ours are one higher: our node 0 is unused)
            print(f"  edge {c['from'] - 1} -> {c['to'] - 1}: {c['old']} -> {c['new']}")
        else:
            print(f"  {c['cell']:<6} {c['from']} -> {c['to']}: {c['old']} -> {c['new']}")
    b, a = result.cost_before, result.cost_after
    print(f"  params {b.params:,} -> {a.params:,} ({100 * (a.params - b.params) / b.params:+.1f}%)   "
          f"MAdds {b.madds:,} -> {a.madds:,} ({100 * (a.madds - b.madds) / b.madds:+.1f}%)   "
          f"[{', '.join({'channels': 'C=', 'layers': 'L='}.get(k, '') + str(v) for k, v in size.items())}]")
    print(f"  result: {_in_input_format(result.genotype, args.arch)}")
    print(f"  verdict: {result.verdict}")
    for note in dict.fromkeys(result.notes):
        print(f"  note: {note}")


def _is_nb201(genotype) -> bool:
    from ..arch.space import space_of
    return space_of(genotype).tied


def _in_input_format(genotype, arch: str) -> str:
    """The result written as the input was: a NAS-Bench-201 string for a benchmark cell, one line of
    JSON for a JSON file, else a ``Genotype(...)`` line a DARTS ``genotypes.py`` can hold."""
    from ..arch import nb201
    from ..arch.formats import format_pairs, format_triples, genotype_to_dict
    from ..errors import GenotypeError
    if _is_nb201(genotype):
        return nb201.genotype_to_string(genotype)
    if str(arch).lower().endswith(".json"):
        return json.dumps(genotype_to_dict(genotype))
    try:
        return format_pairs(genotype)
    except GenotypeError:
        return format_triples(genotype)


def cmd_compare(args) -> int:
    import dataclasses

    from ..api import resolve
    from ..data import load_dataset
    from ..search.compare import compare_policies, format_table
    from ..search.trainer import scoring_batches
    from ..search.transform import load_transformer
    archs = dict(resolve(a) for a in args.archs)
    transformer = load_transformer(args.transformer, next(iter(archs.values())))
    if transformer.supernet is None:
        raise NatError(f"{args.transformer}: needs a search run folder with its supernet (last.pt)")
    select = _selection_batches(transformer, args.data, args.subset)
    data = load_dataset(args.data)
    score = scoring_batches(data.test_images, data.test_labels, range(len(data.test_images)), args.subset,
                            data.mean, data.std)
    n_scored = sum(len(y) for _, y in score)
    from ..api import network_config
    cfg = network_config(None, args.dataset, args.channels, args.layers)  # the same size checks as `nat cost`
    rows = compare_policies(args.transformer, archs, select_batches=select, score_batches=score,
                            candidates=args.candidates, cost_config=cfg, seed=args.seed)
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    else:
        print(f"supernet top-1 on {n_scored} test images; costs at {cfg.dataset}, C={cfg.channels}, L={cfg.layers}\n")
        print(format_table(rows))
    return 0
