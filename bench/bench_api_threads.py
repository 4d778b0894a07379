"""``nat.transform`` from Python on a busy machine: torch's default threads against the API's
``threads="auto"`` and one thread, side by side in one run.

Starts ``--busy`` processes that keep cores busy (a pure-Python spin each), then times the same
call ``--rounds`` times with each thread policy, interleaved, and reports medians and the ratio of
each to one thread (goal: ``auto`` at most 2x one thread's time).

    python bench/bench_api_threads.py --busy 2 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

import nat

SPIN = "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="DARTS")
    ap.add_argument("--busy", type=int, default=2, help="busy processes started beside the call")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    default = torch.get_num_threads()
    nat.transform(args.arch, threads=1)  # load the transformer and warm the caches once
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    try:
        time.sleep(1.0)
        policies = {"torch default": None, "auto": "auto", "one thread": 1}
        times = {name: [] for name in policies}
        for _ in range(args.rounds):
            for name, threads in policies.items():
                torch.set_num_threads(default)
                start = time.perf_counter()
                nat.transform(args.arch, threads=threads)
                times[name].append(time.perf_counter() - start)
    finally:
        for p in spinners:
            p.kill()
    medians = {name: statistics.median(t) for name, t in times.items()}
    one = medians["one thread"]
    report = {"arch": args.arch, "busy_processes": args.busy, "torch_default_threads": default,
              "median_s": medians, "ratio_to_one_thread": {k: v / one for k, v in medians.items()}}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"nat.transform({args.arch!r}) beside {args.busy} busy processes, median of {args.rounds} "
          f"(torch's default: {default} threads)")
    for name, value in medians.items():
        print(f"  {name:<14} {value:6.2f} s   {value / one:4.2f}x one thread")


if __name__ == "__main__":
    main()
