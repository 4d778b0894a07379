"""One device call that proves the GPU paths and measures them, under a hard time cap (issue 28).

Run on the lent machine through `bench/gpu_check.sh` (which sets PYTHONPATH=src: the device has
PyTorch but no package registry, so the project is not pip-installed there). Every step runs in
its own process with its own timeout, so one failure is reported and the rest still run; what
each step printed goes to ``$OUT/log.txt``, the figures to ``$OUT/summary.json``, and a short
table is printed last. The answer keys and the data travel inside the working tree in the ignored
folder ``gpu_data/`` (name it in the device call's ``carry``): ``cifar10-jpg.tar.gz``,
``cifar10-200ep.csv`` (NAS-Bench-201) and ``nb301/`` (the NAS-Bench-301 surrogate).

Steps, in order of priority (seconds are each step's cap; ``--tiny`` shrinks every size so this
runs on a CPU in a few minutes, to test the script itself):

1. environment: torch, CUDA, bf16, onnxruntime, the packages nat imports;
2. smoke: `nat train` with bf16 autocast and channels-last, `nat search`, and `nat train` under
   torchrun (one process, NCCL);
3. throughput of DARTS and NAT_DARTS at C=36, L=20, batch 96 (training steps, img/s) and the
   600-epoch recipe's projected hours (goal: at most 4);
4. a DARTS-space supernet at the paper's search size (C=20, 8 cells, 32x32 inputs, the 40/60
   split; fair sampling, the supernet alone), as many epochs as the cap leaves, checkpointed after
   every epoch; packed with its policy into ``$OUT/transformer-darts-gpu.pt`` (float16);
5. its fidelity against the NAS-Bench-301 surrogate (`nat bench --surrogate --fidelity`): random
   DARTS-space cells and their one-edge keep-or-skip moves, as measured on the CPU (issue 25);
6. if time is left, the streaming ImageNet pipeline (`bench/bench_stream.py`).

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
    ap.add_argument("--surrogate", default=str(ROOT / "gpu_data" / "nb301"))
    args = ap.parse_args()
    out = Path(os.environ.get("OUT") or ROOT / "runs" / "gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, args.cap)
    py = sys.executable
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "nat-gpu-check"  # run folders: too big for $OUT
    for name in ("smoke-train", "smoke-search", "smoke-ddp"):
        shutil.rmtree(scratch / name, ignore_errors=True)
    tiny = args.tiny

    ok, text = check.run("environment", [py, "-c", (
        "import torch, importlib; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),"
        " torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-',"
        " 'bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported());"
        "[print(m, 'missing') for m in ('numpy', 'PIL', 'tqdm', 'yaml', 'onnxruntime', 'onnx')"
        " if importlib.util.find_spec(m) is None]")], 60)
    cuda = "cuda True" in text
    device = "cuda" if cuda else "cpu"
    check.summary["environment"] = text.strip()
    if not Path(args.data).exists():
        check.note("data", f"missing: {args.data} (carry gpu_data/)")
        check.finish()
        return

    subset = ["--subset", "256"] if tiny else ["--subset", "5000"]
    check.run("smoke: nat train bf16 channels-last", [
        py, "-m", "nat", "train", "DARTS", "--preset", "tiny", "--epochs", "1", *subset, "--data", args.data,
        "--device", device, "--amp", "--channels-last", "--out", str(scratch / "smoke-train")], 60)
    check.run("smoke: nat search", [
        py, "-m", "nat", "search", "--preset", "tiny", "--epochs", "1", *subset, "--data", args.data,
        "--device", device, "--out", str(scratch / "smoke-search")], 60)
    check.run("smoke: torchrun, one process (nccl on CUDA)", [
        py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m", "nat", "train", "DARTS",
        "--preset", "tiny", "--epochs", "1", *subset, "--data", args.data, "--device", device,
        "--out", str(scratch / "smoke-ddp")], 60)

    channels, layers, batch, steps = (8, 5, 8, 2) if tiny else (36, 20, 96, 30)
    for arch in ("DARTS", "NAT_DARTS"):
        ok, text = check.run(f"throughput {arch} C={channels} L={layers} b={batch}", [
            py, "-c", THROUGHPUT, arch, str(channels), str(layers), str(batch), str(steps), device], 45)
        if ok:
            rate = json.loads(text.strip().splitlines()[-1])["img_per_s"]
            hours = 600 * 50_000 / rate / 3600
            check.summary[f"throughput_{arch}"] = {"img_per_s": rate, "projected_600_epochs_h": hours}
            check.note(f"  {arch}", f"{rate:,.0f} img/s, 600 epochs in {hours:.1f} h (goal <= 4 h)")

    supernet_run = scratch / "darts-supernet"
    fidelity_s = 25 if tiny else 70
    _darts_supernet(check, py, args, device, supernet_run, tiny, reserve=fidelity_s + (30 if tiny else 70))
    if (supernet_run / "transformer.pt").exists() and Path(args.surrogate).exists():
        cells, images = ("8", "32") if tiny else ("100", "1024")
        ok, text = check.run("fidelity against the NAS-Bench-301 surrogate", [
            py, "-m", "nat", "bench", "--surrogate", args.surrogate, "--transformer", str(supernet_run),
            "--fidelity", args.data, "--cells", cells, "--images", images, "--json"], fidelity_s)
        if ok:
            report = json.loads(text[text.index("{"):])
            (out / "fidelity.json").write_text(json.dumps(report, indent=1))
            check.summary["fidelity"] = {k: report[k] for k in ("spearman", "spearman_good", "pairs_agreement",
                                                                 "pairs_pairs")}
            check.note("  fidelity", f"Spearman {report['spearman']:.3f} (good cells {report['spearman_good']:.3f}), "
                                     f"pairs {100 * (report['pairs_agreement'] or 0):.1f}% of {report['pairs_pairs']} "
                                     "(CPU darts-cpu: 45.6%; fair, 15 epochs: 54.6%)")
    elif not Path(args.surrogate).exists():
        check.note("fidelity", f"skipped: no surrogate at {args.surrogate} (carry gpu_data/nb301)")

    # The streaming ImageNet pipeline (issue 10) feeding a GPU step, with what is left.
    if check.left() > 60:
        stream = ["--images", "64", "--workers", "1", "--steps", "1", "--rounds", "1"] if tiny else \
            ["--images", "1200", "--workers", "4,8,12", "--steps", "8", "--rounds", "1", "--channels", "48",
             "--layers", "14", "--batch", "128", "--threads", "4"]
        ok, text = check.run("streamed ImageNet-layout batches", [
            py, str(ROOT / "bench" / "bench_stream.py"), *stream, "--device", device,
            "--json", str(out / "stream.json")], check.left() - 10)
        if ok and (out / "stream.json").exists():
            fed = json.loads((out / "stream.json").read_text())
            check.summary["stream"] = fed
            check.note("  stream", ", ".join(f"{k} workers {v['ratio']:.2f}" for k, v in fed["fed"].items())
                       + f" of the fixed-batch step (goal >= 0.95); {fed['fixed_images_per_s']:.0f} img/s fixed")
    check.finish()


def _darts_supernet(check: Check, py: str, args, device: str, run: Path, tiny: bool, reserve: float) -> None:
    """Train the paper-size DARTS-space supernet for as many epochs as the cap leaves after
    ``reserve`` seconds: one epoch to measure, then --resume to the count that fits. Each epoch is
    checkpointed; the policy phase is one step an epoch (this measures the supernet)."""
    config = run.parent / "darts-supernet.yaml"
    run.parent.mkdir(parents=True, exist_ok=True)
    size = {"channels": 4, "layers": 3, "subset": 256, "batch_size": 16} if tiny else \
        {"channels": 20, "layers": 8, "batch_size": 96}
    config.write_text("\n".join(f"{k}: {v}" for k, v in {
        "space": "darts", **size, "sampler": "fair", "w_lr": 0.05, "w_lr_min": 0.001, "w_weight_decay": 0.0005,
        "epochs": 1, "w_lr_epochs": 50, "theta_steps": 1, "policy": "egcn", "reward_score": "fit"}.items()) + "\n")
    base = [py, "-m", "nat", "search", "--data", args.data, "--device", device, "--out", str(run)]
    fresh = not (run / "last.pt").exists()
    ok, _ = check.run("darts supernet C=20 L=8 32x32: first epoch",
                      base + (["--config", str(config)] if fresh else ["--resume"]), max(30, check.left() - reserve))
    metrics = run / "metrics.jsonl"
    epochs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
    if not epochs:
        return
    per = max(e["time_s"] for e in epochs)
    more = int((check.left() - reserve - 20) // (per * 1.1))
    if more > 0:
        total = min(len(epochs) + more, 50)
        check.run(f"darts supernet: to epoch {total}", base + ["--resume", "--epochs", str(total)],
                  check.left() - reserve)
        epochs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    check.summary["darts_supernet"] = {"epochs_done": len(epochs), "epoch_s": per, "last": epochs[-1]}
    check.note("  supernet", f"{len(epochs)} epochs of {per:.1f} s; supernet top-1 {epochs[-1]['w_top1']:.1f}%")
    packed = check.out / "transformer-darts-gpu.pt"
    ok, _ = check.run("pack the supernet (float16)", [py, "-c", (
        "import sys; from nat.search.transform import pack_transformer as p; p(sys.argv[1], sys.argv[2])"),
        str(run), str(packed)], 30)
    if ok and packed.stat().st_size > 15 * 2 ** 20:
        packed.unlink()
        check.note("  packed", "over 15 MiB: not brought back")
    for name in ("metrics.jsonl", "config.yaml"):
        if (run / name).exists():
            shutil.copy(run / name, check.out / f"darts-supernet-{name}")


if __name__ == "__main__":
    main()
