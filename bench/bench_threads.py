"""CPU threads against a shared machine: torch's default, 1, 2, and nat's ``auto``.

    python bench/bench_threads.py [--steps 8] [--json bench/threads.json]

The workload is one training step (forward, backward, SGD) of the DARTS network at a search-like
size (C=16, 8 cells, batch 32, CIFAR-shaped random input): hundreds of small ops, the kind that
collapses when a thread loses its core. Each setting runs in a fresh process, quiet and then
with ``--load`` other processes spinning on the CPU (another job on the machine), alternating
settings so that drift hits all alike. Reported: median seconds a step, and each setting's time
relative to the best one under the same condition.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _measure(threads: str, steps: int) -> dict:
    import torch

    from nat.api import build_model
    from nat.runtime.threads import apply_threads
    n = torch.get_num_threads() if threads == "default" else apply_threads("auto" if threads == "auto" else int(threads))
    torch.manual_seed(0)
    net = build_model("DARTS", channels=16, layers=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        out = net(x)
        logits = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.cross_entropy(logits, y).backward()
        opt.step()
        opt.zero_grad()
        if i:  # the first step warms up the allocator
            times.append(time.perf_counter() - start)
    return {"threads_used": n, "step_s": statistics.median(times)}


def _spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--load", type=int, default=1, help="busy processes for the loaded condition")
    ap.add_argument("--settings", default="default,1,2,auto")
    ap.add_argument("--json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.steps)))
        return
    settings = args.settings.split(",")
    rows = []
    for condition in ("quiet", "loaded"):
        spinners = [_spinner() for _ in range(args.load)] if condition == "loaded" else []
        try:
            if spinners:
                time.sleep(5)  # let the load average see them, as it would see a real job
            for setting in settings:
                done = subprocess.run([sys.executable, __file__, "--child", setting, "--steps", str(args.steps)],
                                      capture_output=True, text=True, check=True)
                rows.append({"condition": condition, "setting": setting, **json.loads(done.stdout.splitlines()[-1])})
        finally:
            for s in spinners:
                s.kill()
                s.wait()
    for condition in ("quiet", "loaded"):
        best = min(r["step_s"] for r in rows if r["condition"] == condition)
        for r in rows:
            if r["condition"] == condition:
                r["vs_best"] = r["step_s"] / best
    print(f"cores: {len(os.sched_getaffinity(0))}; DARTS C=16 L=8 batch 32, one training step\n")
    print("| condition | threads | used | s / step | x best |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['condition']} | {r['setting']} | {r['threads_used']} | {r['step_s']:.3f} | {r['vs_best']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
