"""One device call that proves the GPU paths and measures them (issue 12), under a hard time cap.

Run on the lent machine through `bench/gpu_check.sh` (which sets PYTHONPATH=src: the device has
PyTorch but no package registry, so the project is not pip-installed there). Every step runs in
its own process with its own timeout, so one failure is reported and the rest still run; what
each step printed goes to ``$OUT/log.txt``, the figures to ``$OUT/summary.json``, and a short
table is printed last. The CIFAR-10 archive and the NAS-Bench-201 table travel inside the
working tree in the ignored folder ``gpu_data/`` (name it in the device call's ``carry``).

Steps (seconds are each step's cap; ``--tiny`` shrinks every size so this runs on a CPU in a
minute or two, to test the script itself):

1. environment: torch, CUDA, bf16, the packages nat imports;
2. the CUDA-only tests (when pytest is there);
3. smoke: `nat train` and `nat search` for one short epoch with bf16 autocast and channels-last;
4. throughput of DARTS and NAT_DARTS at C=36, L=20, batch 96 (training steps, img/s) and the
   600-epoch recipe's projected hours;
5. the streaming ImageNet pipeline (`bench/bench_stream.py`): NAT's ImageNet network (C=48, 14
   cells, batch 128, bf16) fed by 4, 8 and 12 workers against a fixed batch;
6. the search at the paper's settings (C=20, 8 cells, the full 40/60 split): seconds per epoch
   and the projected 100-epoch time, then as many epochs as the remaining cap allows, each
   checkpointed (``--resume``), the run's small files copied to ``$OUT``.

    bash bench/gpu_check.sh                       # on the device: OUT is set by the tool
    OUT=/tmp/gc bash bench/gpu_check.sh --tiny    # here, on the CPU, to test the script
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

THROUGHPUT = r"""
import json, sys, time, torch
from nat.api import build_model
arch, channels, layers, batch, steps, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
model = build_model(arch, dataset="cifar10", channels=channels, layers=layers, auxiliary=True).to(device)
model = model.to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
x = torch.randn(batch, 3, 32, 32, device=device).to(memory_format=torch.channels_last)
y = torch.randint(0, 10, (batch,), device=device)
cuda = device.startswith("cuda")
def step():
    with torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
        out = model(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        if aux is not None:
            loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
model.train()
for _ in range(2):
    step()
if cuda:
    torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(steps):
    step()
if cuda:
    torch.cuda.synchronize()
seconds = time.perf_counter() - start
print(json.dumps({"arch": arch, "img_per_s": steps * batch / seconds}))
"""


class Check:
    def __init__(self, out: Path, cap_s: float) -> None:
        self.out, self.deadline, self.rows, self.summary = out, time.monotonic() + cap_s, [], {}
        self.log = open(out / "log.txt", "a", encoding="utf-8")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, cmd: list[str], cap_s: float) -> tuple[bool, str]:
        """Run one step in its own process, at most ``cap_s`` (and never past the overall cap)."""
        cap = max(1.0, min(cap_s, self.left() - 5))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        start = time.monotonic()
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=cap)
            ok, text = done.returncode == 0, done.stdout + done.stderr
            status = "ok" if ok else f"exit {done.returncode}"
        except subprocess.TimeoutExpired as err:
            ok, text, status = False, (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or ""), f"cap {cap:.0f} s"
        wall = time.monotonic() - start
        self.log.write(f"\n=== {name}: {status} in {wall:.1f} s\n$ {' '.join(cmd)}\n{text[-20000:]}\n")
        self.log.flush()
        self.rows.append((name, status, f"{wall:.1f} s"))
        return ok, text

    def note(self, name: str, value: str) -> None:
        self.rows.append((name, value, ""))

    def finish(self) -> None:
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=1))
        width = max(len(r[0]) for r in self.rows)
        print(f"\n{'step':<{width}}  result")
        for name, status, wall in self.rows:
            print(f"{name:<{width}}  {status}  {wall}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, to test this script on a CPU")
    ap.add_argument("--cap", type=float, default=540, help="seconds for everything (default 540: 9 minutes)")
    ap.add_argument("--data", default=str(ROOT / "gpu_data" / "cifar10-jpg.tar.gz"))
    args = ap.parse_args()
    out = Path(os.environ.get("OUT") or ROOT / "runs" / "gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, args.cap)
    py = sys.executable
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "nat-gpu-check"  # run folders: too big for $OUT
    shutil.rmtree(scratch / "smoke-train", ignore_errors=True)
    shutil.rmtree(scratch / "smoke-search", ignore_errors=True)
    tiny = args.tiny

    ok, text = check.run("environment", [py, "-c", (
        "import torch, importlib; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),"
        " torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-');"
        "[print(m, 'missing') for m in ('numpy', 'PIL', 'tqdm', 'yaml', 'pytest') if importlib.util.find_spec(m) is None]")], 60)
    cuda = "cuda True" in text
    device = "cuda" if cuda else "cpu"
    check.summary["environment"] = text.strip()
    if not Path(args.data).exists():
        check.note("data", f"missing: {args.data} (carry gpu_data/)")
        check.finish()
        return

    if "pytest missing" not in text:
        check.run("CUDA-only tests", [py, "-m", "pytest", "-q", "-x", "-k", "cuda", "tests/test_data.py"], 90)

    subset = ["--subset", "256"] if tiny else ["--subset", "5000"]
    check.run("smoke: nat train bf16 channels-last", [
        py, "-m", "nat", "train", "DARTS", "--preset", "tiny", "--epochs", "1", *subset, "--data", args.data,
        "--device", device, "--amp", "--channels-last", "--out", str(scratch / "smoke-train")], 120)
    check.run("smoke: nat search", [
        py, "-m", "nat", "search", "--preset", "tiny", "--epochs", "1", *subset, "--data", args.data,
        "--device", device, "--out", str(scratch / "smoke-search")], 120)

    channels, layers, batch, steps = (8, 5, 8, 2) if tiny else (36, 20, 96, 30)
    for arch in ("DARTS", "NAT_DARTS"):
        ok, text = check.run(f"throughput {arch} C={channels} L={layers} b={batch}", [
            py, "-c", THROUGHPUT, arch, str(channels), str(layers), str(batch), str(steps), device], 120)
        if ok:
            rate = json.loads(text.strip().splitlines()[-1])["img_per_s"]
            hours = 600 * 50_000 / rate / 3600
            check.summary[f"throughput_{arch}"] = {"img_per_s": rate, "projected_600_epochs_h": hours}
            check.note(f"  {arch}", f"{rate:,.0f} img/s, 600 epochs in {hours:.1f} h (goal <= 4 h)")

    # The streaming ImageNet pipeline (issue 10) feeding a GPU step: workers decode and crop,
    # colours run on the GPU, batches arrive through pinned memory.
    stream = ["--images", "64", "--workers", "1", "--steps", "1", "--rounds", "1"] if tiny else \
        ["--images", "1200", "--workers", "4,8,12", "--steps", "8", "--rounds", "2", "--channels", "48",
         "--layers", "14", "--batch", "128", "--threads", "4"]
    ok, text = check.run("streamed ImageNet-layout batches", [
        py, str(ROOT / "bench" / "bench_stream.py"), *stream, "--device", device,
        "--json", str(out / "stream.json")], 150)
    if ok and (out / "stream.json").exists():
        fed = json.loads((out / "stream.json").read_text())
        check.summary["stream"] = fed
        check.note("  stream", ", ".join(f"{k} workers {v['ratio']:.2f}" for k, v in fed["fed"].items())
                   + f" of the fixed-batch step (goal >= 0.95); {fed['fixed_images_per_s']:.0f} img/s fixed")

    # The search at the paper's settings, in one process under what is left of the cap: it
    # checkpoints every epoch (a kill loses at most the epoch under way), and its metrics.jsonl
    # gives each epoch's seconds. The run folder stays outside $OUT (last.pt is large); its small
    # files are copied there.
    search_out = scratch / "search-paper"
    size = ["--channels", "4", "--layers", "3", "--subset", "256", "--epochs", "2"] if tiny else []
    check.run("search at the paper's settings", [
        py, "-m", "nat", "search", "--preset", "paper", *size, "--data", args.data, "--device", device,
        "--out", str(search_out), *(["--resume"] if (search_out / "last.pt").exists() else [])], check.left() - 15)
    metrics = search_out / "metrics.jsonl"
    epochs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
    if epochs:
        times = sorted(e["time_s"] for e in epochs)
        per = times[len(times) // 2]
        check.summary["search_paper"] = {"epochs_done": len(epochs), "epoch_s_median": per,
                                         "projected_100_epochs_min": 100 * per / 60, "last": epochs[-1]}
        check.note("  search", f"{len(epochs)} epochs, {per:.1f} s each: 100 epochs in {100 * per / 60:.1f} min "
                               f"(goal <= 8); supernet top-1 {epochs[-1]['w_top1']:.1f}%")
        for name in ("metrics.jsonl", "transformer.pt", "config.yaml"):
            if (search_out / name).exists():
                shutil.copy(search_out / name, out / f"search-{name}")
    check.finish()


if __name__ == "__main__":
    main()
