"""Tests of nat.train: exact resume, atomic checkpoints, divergence, DDP, tables, the commands.

Everything trains tiny networks (C=4, L=3) on a small generated image-folder data set whose
classes differ in colour, so a few steps already learn something.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nat.arch.formats import write_genotype_file
from nat.arch.zoo import resolve
from nat.cli import main
from nat.runtime import checkpoint as checkpoint_module
from nat.runtime.checkpoint import load_checkpoint
from nat.runtime.lock import LOCK_NAME
from nat.errors import RunAborted
from nat.train import PRESETS, Interrupted, TrainConfig, Trainer, TrainingDiverged, is_nas_cell, train
from nat.train.table import summarize_runs

CLASSES = ("blue", "green", "red")
TIMING = ("images_per_s", "time")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory, image_folder) -> Path:
    """train/<class>/ (32 PNGs per class) and test/<class>/ (10 per class): noisy images tinted by class
    (blue, green, red channel)."""
    return image_folder(tmp_path_factory.mktemp("data") / "colours", {"train": 32, "test": 10}, CLASSES, tinted=True)


def tiny(data: Path, cache: Path, **changes) -> TrainConfig:
    base = dict(data=str(data), cache_dir=str(cache), channels=4, layers=3, epochs=3, batch_size=16, lr=0.05,
                log_every=2, device="cpu")
    return TrainConfig(**(base | changes))


def quiet(*args, **kwargs) -> Trainer:
    return Trainer(*args, log=None, bars=False, **kwargs)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(folder / "last.pt")["model"]


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


DARTS = resolve("DARTS")


# -- exact resume ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(data, cache, tmp_path_factory) -> Path:
    """An uninterrupted 3-epoch run (drop path, auxiliary head and cutout all on)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    summary = train(*DARTS, tiny(data, cache), out, log=None, bars=False)
    assert summary["finished"] and summary["epochs"] == 3 and summary["test_images"] == 30
    return out


def _stop_after_epoch(k):
    def hook(trainer, row):
        if row["epoch"] == k:
            raise KeyboardInterrupt  # a crash right after epoch k's checkpoint
    return hook


@pytest.mark.parametrize("where", ["after epoch 1", "mid epoch 2", "end of epoch 2"])
def test_resume_is_bit_identical(data, cache, reference, tmp_path, where):
    out = tmp_path / "run"
    cfg = tiny(data, cache)
    if where == "after epoch 1":
        with pytest.raises(KeyboardInterrupt):
            quiet(*DARTS, cfg, out, on_epoch=_stop_after_epoch(1)).fit()
        assert load_checkpoint(out / "last.pt")["epoch"] == 1
    else:
        # As Ctrl-C does: a stop request, honoured at the next check (every 2 steps; 6 steps per epoch).
        at = 2 if where == "mid epoch 2" else 5
        hook = lambda t, e, s: t.request_stop() if (e, s) == (1, at) else None  # noqa: E731
        with pytest.raises(Interrupted, match="--resume"):
            quiet(*DARTS, cfg, out, on_step=hook).fit()
        state = load_checkpoint(out / "last.pt")
        expected = (1, {"epoch": 1, "step": 4}) if where == "mid epoch 2" else (2, {"epoch": 2, "step": 0})
        assert (state["epoch"], state["loader"]) == expected
    quiet(*DARTS, cfg, out, resume=True).fit()
    got, want = weights(out), weights(reference)
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want), "resumed weights differ"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    want_rows = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert untimed(rows) == untimed(want_rows)
    assert json.loads((out / "summary.json").read_text())["test_top1"] == \
        json.loads((reference / "summary.json").read_text())["test_top1"]


def test_run_folder_contents(reference):
    names = {p.name for p in reference.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "last.pt", "best.pt", "summary.json", "curves.svg"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    config = yaml.safe_load((reference / "config.yaml").read_text())
    assert config["cutout"] == 16 and config["channels"] == 4  # resolved: DARTS is a NAS cell
    assert TrainConfig(**config) == tiny(Path(config["data"]), Path(config["cache_dir"]), cutout=16)
    rows = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert {"epoch", "train_loss", "train_top1", "test_top1", "test_loss", "lr", "images_per_s", "time"} <= set(row)
        assert 0 <= row["test_top1"] <= 100 and row["images_per_s"] > 0
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.05 - (0.049 / 4), 0.001 + 0.049 / 4])
    assert [r["drop_path"] for r in rows] == pytest.approx([0, 0.2 / 3, 0.4 / 3])
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["test_top1"] == rows[-1]["test_top1"]
    assert summary["best_test_top1"] == max(r["test_top1"] for r in rows)
    assert summary["arch"] == "DARTS" and summary["genotype"]["normal"]["concat"] == [2, 3, 4, 5]
    assert 0 < summary["params"] < summary["params_with_aux"] and summary["madds"] > 0
    best = load_checkpoint(reference / "best.pt")
    assert rows[best["epoch"] - 1]["test_top1"] == summary["best_test_top1"]
    assert "<svg" in (reference / "curves.svg").read_text()


def test_cosine_schedule_matches_torch():
    cfg = TrainConfig(epochs=7, lr=0.025, lr_min=0.001)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.025)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.001)
    for epoch in range(7):
        assert cfg.lr_at(epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()
    step = TrainConfig(**PRESETS["imagenet"])
    assert step.lr_at(0) == 0.1 and step.lr_at(10) == pytest.approx(0.1 * 0.97 ** 10)


# -- crashes, divergence, Ctrl-C --------------------------------------------------------------------
def test_crash_during_checkpoint_write_keeps_the_previous_one(data, cache, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save = torch.save

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # some bytes reach the disk, then the machine "dies"
        raise OSError("simulated crash")

    def crash_in_epoch_2(trainer, epoch, step):
        if epoch == 1:
            monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)

    with pytest.raises(RunAborted, match="simulated crash.*the previous checkpoint is intact") as failed:
        quiet(*DARTS, tiny(data, cache), out, on_step=crash_in_epoch_2).fit()
    assert failed.value.exit_code == 1 and "\n" not in str(failed.value)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1  # the epoch-1 checkpoint, intact
    leftovers = [p.name for p in out.iterdir() if (p.name.startswith(".") or p.suffix == ".tmp") and p.name != LOCK_NAME]
    assert leftovers == []
    quiet(*DARTS, tiny(data, cache), out, resume=True).fit()  # and the run goes on from it
    assert load_checkpoint(out / "last.pt")["epoch"] == 3


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data, cache, tmp_path):
    out = tmp_path / "run"

    def poison(trainer, epoch, step):
        if (epoch, step) == (1, 0):
            with torch.no_grad():
                trainer.net.classifier.weight.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"loss became nan in epoch 2 \(by step 2\).*kept .*last.pt"):
        quiet(*DARTS, tiny(data, cache), out, on_step=poison).fit()
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_non_finite_weights_at_an_epoch_end_are_never_saved(data, cache, tmp_path):
    # a NaN in a BatchNorm running mean leaves the training loss finite (training uses batch
    # statistics) but poisons the test pass and the checkpoint: the run must stop before saving it
    out = tmp_path / "run"

    def poison(trainer, epoch, step):
        if (epoch, step) == (0, 0):
            bn = next(m for m in trainer.net.modules() if isinstance(m, torch.nn.BatchNorm2d))
            bn.running_mean.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"epoch 1 ended with non-finite test_loss, .*running_mean.*"
                                               r"no checkpoint had been saved yet; try a lower rate \(--lr [0-9.e-]+\)$"):
        quiet(*DARTS, tiny(data, cache), out, on_step=poison).fit()
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists()
    assert not (out / "metrics.jsonl").exists() or (out / "metrics.jsonl").read_text() == ""


def test_nan_loss_exits_1_without_traceback(data, cache, tmp_path, capsys):
    config = tmp_path / "explode.yaml"
    config.write_text("lr: 1.0e+30\ngrad_clip: 0\nlr_min: 0\n")
    code, _, err = cli(capsys, "train", "DARTS", "--data", data, "--cache-dir", cache, "--out", tmp_path / "run",
                       "-C", 4, "-L", 3, "--epochs", 1, "--batch-size", 16, "--config", config, "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    assert err.startswith("nat: error: DARTS: the training loss became") and len(err.strip().splitlines()) == 1
    assert "or gradient clipping (--grad-clip 5)" in err  # clipping was off here: the advice says to turn it on


def test_ctrl_c_saves_and_exits_130_then_resumes(data, cache, tmp_path, capsys, monkeypatch):
    real_step = Trainer._step
    calls = []

    def step_then_ctrl_c(self, images, labels):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # a real signal, through the real handler
        return real_step(self, images, labels)

    monkeypatch.setattr(Trainer, "_step", step_then_ctrl_c)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in a background job
    checks = tmp_path / "checks.yaml"
    checks.write_text("log_every: 1\n")  # check the stop flag after every step
    args = ["train", "DARTS", "--data", data, "--cache-dir", cache, "--out", tmp_path / "run", "-C", 4, "-L", 3,
            "--epochs", 2, "--batch-size", 16, "--device", "cpu", "--config", checks]
    code, _, err = cli(capsys, *args)
    assert code == 130 and "stopped in epoch 1 at step 3/6" in err and "--resume" in err
    assert load_checkpoint(tmp_path / "run" / "last.pt")["loader"] == {"epoch": 0, "step": 3}
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    code, out, _ = cli(capsys, *args, "--resume")
    assert code == 0 and "resuming in epoch 1 at step 3/6" in out and "DARTS seed 0: test top-1" in out


# -- DDP ------------------------------------------------------------------------------------------
def _interrupt_mid_epoch_2(cfg: TrainConfig, out: Path) -> None:
    hook = lambda t, e, s: t.request_stop() if (e, s) == (1, 2) else None  # noqa: E731
    with pytest.raises(Interrupted, match="--resume"):
        quiet(*DARTS, cfg, out, on_step=hook).fit()
    assert load_checkpoint(out / "last.pt")["loader"] == {"epoch": 1, "step": 4}
    quiet(*DARTS, cfg, out, resume=True).fit()


def test_streamed_run_resumed_mid_epoch_equals_the_in_memory_run(data, cache, reference, tmp_path):
    """Worker-decoded batches (pad-crop recipe) are the in-memory ones, so a streamed run stopped
    mid-epoch and resumed ends with exactly the uninterrupted in-memory run's weights."""
    out = tmp_path / "streamed"
    _interrupt_mid_epoch_2(tiny(data, cache, loader="stream", workers=2), out)
    got, want = weights(out), weights(reference)
    assert all(torch.equal(got[k], want[k]) for k in want), "streamed weights differ"
    assert untimed(load_checkpoint(out / "last.pt")["history"]) == untimed(load_checkpoint(reference / "last.pt")["history"])


def test_imagenet_recipe_run_resumes_bit_identically(cache, tmp_path):
    """Random-resized crops of JPEGs of mixed sizes, colour jitter and lighting, 2 workers."""
    from test_stream import write_mixed_jpegs
    folder = write_mixed_jpegs(tmp_path / "mixed", {"train": 32, "val": 4})
    cfg = tiny(folder, cache, loader="auto", augment="inception", image_size=32, workers=2)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    quiet(*DARTS, cfg, whole).fit()
    _interrupt_mid_epoch_2(dataclasses.replace(cfg, workers=1), cut)  # the worker count changes no pixel
    got, want = weights(cut), weights(whole)
    assert all(torch.equal(got[k], want[k]) for k in want), "resumed weights differ"
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["test_images"] == 12 and load_checkpoint(whole / "last.pt")["config"]["cutout"] == 0


@pytest.mark.parametrize("loader", ["memory", "stream"])
def test_ddp_two_processes_match_one_process(data, cache, tmp_path, loader):
    """Two gloo processes x 24 images == one process x 48 images in two micro-batches of 24.

    BatchNorm normalises over each process's share of the batch (no SyncBatchNorm on CPU), so the
    single-process counterpart of 2 x b must normalise over micro-batches of b too: accum_steps=2.
    Each step uses the whole training set (96 = 2 steps x 48 on both sides, and each rank's half of an
    epoch's permutation is exactly what the single process's micro-batch holds when the batch is the
    whole set), so both see the same images. Augmentation and drop path draw per rank, so they are
    off here; what remains is the order of floating-point sums in the gradient all-reduce. With
    ``stream`` the two ranks decode their shards in worker processes and still match the
    single in-memory process.
    """
    common = ["--data", data, "--cache-dir", cache, "-C", 4, "-L", 3, "--epochs", 2, "--batch-size", 96,
              "--subset", 96, "--cutout", 0, "--drop-path", 0, "--device", "cpu"]
    settings = tmp_path / "no_aug.yaml"
    settings.write_text("crop_padding: 0\nflip: false\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "nat", "train", "DARTS", "--out", tmp_path / "ddp", "--config", settings,
                          "--loader", loader, "--workers", "1", *map(str, common)], env=env, capture_output=True,
                         text=True, timeout=150)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("DARTS epoch 1/2") == 1  # rank 0 alone logs
    one = subprocess.run([sys.executable, "-m", "nat", "train", "DARTS", "--out", tmp_path / "one", "--config",
                          settings, "--accum-steps", "2", *map(str, common)], env=env, capture_output=True,
                         text=True, timeout=150)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = load_checkpoint(tmp_path / "ddp" / "last.pt"), load_checkpoint(tmp_path / "one" / "last.pt")
    assert a["world_size"] == 2 and b["world_size"] == 1
    for key, value in b["model"].items():
        if value.is_floating_point() and "running" not in key:  # running stats: rank 0's half vs both halves
            torch.testing.assert_close(a["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    for ra, rb in zip(a["history"], b["history"]):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
        assert ra["train_top1"] == rb["train_top1"]


# -- several architectures and seeds --------------------------------------------------------------
def test_multi_arch_multi_seed_table(data, cache, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, _ = cli(capsys, "train", "DARTS", "NAT_DARTS", "--seeds", 2, "--data", data, "--cache-dir", cache,
                          "--out", out, "-C", 4, "-L", 3, "--epochs", 1, "--batch-size", 32, "--device", "cpu")
    assert code == 0
    for arch in ("DARTS", "NAT_DARTS"):
        for seed in (0, 1):
            summary = json.loads((out / arch / f"seed{seed}" / "summary.json").read_text())
            assert summary["seed"] == seed and summary["arch"] == arch
    table = json.loads((out / "table.json").read_text())
    rows = {r["arch"]: r for r in table["archs"]}
    assert list(rows) == ["DARTS", "NAT_DARTS"] and len(table["runs"]) == 4
    darts = [r["test_top1"] for r in table["runs"] if r["arch"] == "DARTS"]
    assert rows["DARTS"]["test_top1_mean"] == pytest.approx(np.mean(darts))
    assert rows["DARTS"]["test_top1_std"] == pytest.approx(np.std(darts, ddof=1))
    nat_summary = json.loads((out / "NAT_DARTS" / "seed1" / "summary.json").read_text())
    assert rows["NAT_DARTS"]["params"] == nat_summary["params"]
    assert "| DARTS | 2 |" in stdout and "±" in stdout and (out / "table.md").read_text() in stdout
    # Resuming a finished comparison retrains nothing and rewrites the same table.
    before = (out / "table.json").read_text()
    code, stdout, _ = cli(capsys, "train", "DARTS", "NAT_DARTS", "--seeds", 2, "--data", data, "--cache-dir", cache,
                          "--out", out, "--resume")
    assert code == 0 and "epoch 1/1" not in stdout
    assert json.loads((out / "table.json").read_text())["archs"] == json.loads(before)["archs"]


def test_table_statistics():
    runs = [{"arch": "A", "seed": s, "test_top1": t, "best_test_top1": t + 1, "params": 10, "madds": 20, "epochs": 1,
             "train_images": 5, "test_images": 5} for s, t in enumerate([90.0, 92.0, 94.0])]
    (row,) = summarize_runs(runs)
    assert (row["test_top1_mean"], row["test_top1_std"], row["best_test_top1_mean"]) == (92.0, 2.0, 93.0)
    assert summarize_runs(runs[:1])[0]["test_top1_std"] is None


def test_hand_crafted_backbone_pair(data, cache, tmp_path, capsys):
    out = tmp_path / "resnets"
    code, stdout, _ = cli(capsys, "train", "ResNet20", "NAT_ResNet20", "--width-mult", 0.25, "--data", data,
                          "--cache-dir", cache, "--out", out, "--epochs", 1, "--batch-size", 32, "--device", "cpu")
    assert code == 0 and "| NAT_ResNet20 | 1 |" in stdout
    config = yaml.safe_load((out / "ResNet20" / "seed0" / "config.yaml").read_text())
    assert (config["backbone"], config["width_mult"], config["cutout"]) == ("resnet20", 0.25, 0)  # hand-crafted
    summary = json.loads((out / "NAT_ResNet20" / "seed0" / "summary.json").read_text())
    assert summary["backbone"] == "resnet20" and summary["params"] == summary["params_with_aux"] > 0
    code, stdout, _ = cli(capsys, "evaluate", out / "NAT_ResNet20" / "seed0", "--json")
    assert code == 0 and json.loads(stdout)["test_top1"] == pytest.approx(summary["test_top1"])
    code, _, err = cli(capsys, "train", "ResNet20", "-C", 8, "--data", data, "--out", tmp_path / "x")
    assert code == 2 and "--channels/--layers do not apply" in err
    code, _, err = cli(capsys, "train", "DARTS", "--backbone", "resnet20", "--data", data, "--out", tmp_path / "x")
    assert code == 2 and err.startswith("nat: error: ") and len(err.strip().splitlines()) == 1


# -- nat evaluate ---------------------------------------------------------------------------------
def test_evaluate_reproduces_the_runs_test_accuracy(reference, capsys):
    summary = json.loads((reference / "summary.json").read_text())
    code, out, _ = cli(capsys, "evaluate", reference, "--json")
    result = json.loads(out)
    assert code == 0 and result["arch"] == "DARTS" and result["epoch"] == 3 and result["images"] == 30
    assert result["test_top1"] == pytest.approx(summary["test_top1"]) and "test_top5" not in result
    code, out, _ = cli(capsys, "evaluate", reference / "best.pt", "--batch-size", 7)
    assert code == 0 and out.startswith("DARTS (") and f"{summary['best_test_top1']:.2f}%" in out


def test_imagenet_layout_reports_top5(data, cache, tmp_path, capsys):
    out = tmp_path / "imagenet"  # the imagenet preset scales the 32x32 fixture to 224x224 when decoding
    code, stdout, _ = cli(capsys, "train", "DARTS", "--dataset", "imagenet", "-C", 4, "-L", 3, "--epochs", 1,
                          "--batch-size", 32, "--data", data, "--cache-dir", cache, "--out", out, "--device", "cpu")
    assert code == 0
    (row,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert row["test_top5"] == 100.0 and "test_top5" in json.loads((out / "summary.json").read_text())  # 3 classes
    code, stdout, _ = cli(capsys, "evaluate", out)
    assert code == 0 and f"top-1 {row['test_top1']:.2f}%, top-5 100.00% on 30 images" in stdout


# -- settings and user errors -----------------------------------------------------------------------
def test_cutout_is_for_nas_cells_only(tmp_path):
    assert is_nas_cell(DARTS[1]) and is_nas_cell(resolve("NAT_ENAS")[1])
    for name in ("ResBlock", "NAT_ResBlock", "VGG", "MobileNetV2"):
        assert not is_nas_cell(resolve(name)[1])
    path = tmp_path / "vgg.json"  # a file holding a hand-crafted block counts as hand-crafted
    write_genotype_file(resolve("VGG")[1], path)
    assert not is_nas_cell(resolve(str(path))[1])


def test_imagenet_recipe_and_precedence(tmp_path):
    from nat.cli.train import _plan
    from nat.cli import build_parser
    parse = lambda *a: build_parser().parse_args(["train", *map(str, a)])  # noqa: E731
    ((_, _, cfg, _, _),), nested = _plan(parse("DARTS", "--dataset", "imagenet", "--out", tmp_path / "i"))
    assert not nested and cfg.dataset == "imagenet" and cfg.image_size == 224
    assert (cfg.channels, cfg.layers, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.epochs) == \
        (48, 14, 128, 0.1, 3e-5, 250)
    assert (cfg.label_smoothing, cfg.aux_weight, cfg.drop_path, cfg.schedule, cfg.lr_decay) == \
        (0.1, 0.4, 0.2, "step", 0.97)
    paper = TrainConfig()
    assert (paper.channels, paper.layers, paper.batch_size, paper.lr, paper.lr_min, paper.epochs, paper.grad_clip) == \
        (36, 20, 96, 0.025, 0.001, 600, 5.0)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("epochs: 7\nlr: 0.5\nflip: false\n")
    runs, nested = _plan(parse("DARTS", "ENAS", "--preset", "tiny", "--config", yaml_file, "--lr", 0.3, "--seeds", 2,
                               "--no-amp", "--out", tmp_path / "m"))
    assert nested and [(r[0], r[2].seed, r[3].relative_to(tmp_path)) for r in runs] == [
        ("DARTS", 0, Path("m/DARTS/seed0")), ("DARTS", 1, Path("m/DARTS/seed1")),
        ("ENAS", 0, Path("m/ENAS/seed0")), ("ENAS", 1, Path("m/ENAS/seed1"))]
    cfg = runs[0][2]
    assert (cfg.channels, cfg.epochs, cfg.lr, cfg.flip, cfg.amp) == (8, 7, 0.3, False, False)  # preset < YAML < options


def test_memory_format_rule():
    from nat.train.evaluate import memory_format_for
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert memory_format_for(cpu, None, "cifar10") == torch.channels_last  # fast and safe at 32 px
    assert memory_format_for(cpu, None, "imagenet") == torch.contiguous_format  # oneDNN NHWC fault at 56 px+
    assert memory_format_for(cuda, None, "imagenet") == torch.channels_last
    assert memory_format_for(cuda, False, "cifar10") == torch.contiguous_format
    assert memory_format_for(cpu, True, "imagenet") == torch.channels_last


@pytest.mark.parametrize("argv, message", [
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--config", "{bad}"], "unknown setting 'learning_rate'"),
    (["--resume"], "nothing to resume"),
    (["--batch-size", "0"], "batch_size must be at least 1"),
    (["--subset", "5000"], "--subset 5000 asks for more images than there are (96): use --subset 96 or fewer"),
    (["--test-subset", "500"], "--test-subset 500 asks for more images than there are (30)"),
    (["--image-size", "0"], "image_size must be a positive number or null"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--data", "{missing}"], "no such file or folder"),
    (["--loader", "disk"], "loader must be auto, memory or stream, got 'disk'"),
    (["--bad-images", "ignore"], "bad_images must be stop or skip"),
    (["--augment", "inception"], "augment inception needs image_size"),
    (["--augment", "inception", "--image-size", "32", "--loader", "memory"], "crops the full-size files"),
    (["--workers", "-1"], "workers must be 0 or more"),
    (["--augment", "inception", "--image-size", "32", "--hue", "0.7"], "hue must be at most 0.5"),
])
def test_user_errors_are_one_line_exit_2(data, cache, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    argv = [a.replace("{bad}", str(bad)).replace("{missing}", str(tmp_path / "nope")) for a in argv]
    base = ["train", "DARTS", "--data", data, "--cache-dir", cache, "--out", tmp_path / "run", "-C", 4, "-L", 3,
            "--epochs", 1, "--batch-size", 16, "--device", "cpu"]
    code, _, err = cli(capsys, *base, *argv)
    assert code == 2 and err.startswith("nat: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_existing_run_and_changed_resume_settings_are_refused(reference, capsys, tmp_path):
    config = yaml.safe_load((reference / "config.yaml").read_text())
    base = ["train", "DARTS", "--data", config["data"], "--cache-dir", config["cache_dir"], "--out", reference]
    code, _, err = cli(capsys, *base, "-C", 4)
    assert code == 2 and "already holds a run; use --resume" in err
    code, _, err = cli(capsys, *base, "--resume", "--lr", 0.1)
    assert code == 2 and "cannot change lr: 0.05 -> 0.1" in err
    code, _, err = cli(capsys, "train", "ENAS", *base[2:], "--resume")
    assert code == 2 and "a different genotype" in err
    code, _, err = cli(capsys, "evaluate", tmp_path)
    assert code == 2 and "no last.pt" in err


def test_image_size_option_scales_a_folder_of_other_sizes(cache, tmp_path, capsys, image_folder):
    root = image_folder(tmp_path / "big", {"train": 16, "test": 4}, CLASSES[:2], seed=1, shape=(40, 48))
    argv = ["train", "DARTS", "--data", root, "--cache-dir", cache, "-C", "4", "-L", "3", "--epochs", "1",
            "--batch-size", "8"]
    code, _, err = cli(capsys, *argv, "--out", tmp_path / "refused")
    assert code == 2 and "images are 40x48" in err and "--image-size 32 scales them" in err
    code, _, err = cli(capsys, *argv, "--out", tmp_path / "run", "--image-size", "32")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["image_size"] == 32


def test_a_corrupt_file_stops_a_streamed_run_with_its_name_or_is_skipped_and_reported(cache, tmp_path, capsys):
    from test_stream import write_mixed_jpegs
    folder = write_mixed_jpegs(tmp_path / "mixed", {"train": 8, "val": 2})
    victim = folder / "train" / "bee" / "3.jpg"
    victim.write_bytes(victim.read_bytes()[:150])  # truncated mid-file
    common = ["train", "DARTS", "-C", 4, "-L", 3, "--epochs", 1, "--batch-size", 8, "--data", folder, "--cache-dir",
              cache, "--augment", "inception", "--image-size", 32, "--workers", 1, "--device", "cpu"]
    code, out, err = cli(capsys, *common, "--out", tmp_path / "stop")
    assert code == 2 and err.count("\n") == 1 and "train/bee/3.jpg: " in err and "Traceback" not in err
    code, out, err = cli(capsys, *common, "--out", tmp_path / "skip", "--bad-images", "skip")
    assert code == 0 and "1 unreadable file(s) skipped" in out and "bee/3.jpg" in out
    (row,) = [json.loads(line) for line in (tmp_path / "skip" / "metrics.jsonl").read_text().splitlines()]
    assert row["skipped_images"] == 1


def test_a_resume_under_auto_reuses_the_threads_the_run_computed_with(data, cache, tmp_path, monkeypatch):
    # floating-point sums depend on how work is split among threads: a resume on a busier (or
    # quieter) machine must compute with the run's own count to end bit-identical
    import nat.runtime.threads as threads_module
    monkeypatch.setattr(threads_module, "_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "_busy_cores", lambda window_s=0.2: 0.0)  # quiet: auto gives 2
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cfg = tiny(data, cache)
    whole = tmp_path / "whole"
    quiet(*DARTS, cfg, whole).fit()
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        quiet(*DARTS, cfg, out, on_epoch=_stop_after_epoch(1)).fit()
    assert load_checkpoint(out / "last.pt")["threads"] == 2
    monkeypatch.setattr(threads_module, "_busy_cores", lambda window_s=0.2: 1.0)  # busier: auto would give 1
    seen = []
    quiet(*DARTS, cfg, out, resume=True, on_step=lambda t, e, s: seen.append(torch.get_num_threads())).fit()
    assert set(seen) == {2}
    got, want = weights(out), weights(whole)
    assert all(torch.equal(got[k], want[k]) for k in want), "resumed weights differ"
    # an explicit other count is taken, and the run says exactness is given up
    messages = []
    monkeypatch.setattr(threads_module, "_busy_cores", lambda window_s=0.2: 0.0)
    with pytest.raises(KeyboardInterrupt):
        quiet(*DARTS, cfg, tmp_path / "other", on_epoch=_stop_after_epoch(1)).fit()
    Trainer(*DARTS, dataclasses.replace(cfg, threads=1), tmp_path / "other", resume=True, log=messages.append,
            bars=False).fit()
    assert any("no longer bit-identical" in m for m in messages)


def test_a_stop_asked_after_the_epochs_last_check_stops_at_its_end(data, cache, tmp_path):
    # with log_every beyond an epoch, the only check is the epoch's last step: a Ctrl-C during the
    # test pass or the save used to be seen an epoch later
    out = tmp_path / "run"
    cfg = tiny(data, cache, log_every=100)
    with pytest.raises(Interrupted, match="after epoch 1"):
        quiet(*DARTS, cfg, out, on_epoch=lambda t, row: t.request_stop()).fit()
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_metrics_files_hold_json_every_reader_accepts(tmp_path):
    # Python writes NaN as a bare NaN, which is not JSON (jq, browsers, pandas' strict readers refuse it)
    from nat.runtime.rundir import RunDir
    run = RunDir(tmp_path / "run")
    (tmp_path / "run").mkdir()
    run.append_metrics({"epoch": 1, "test_loss": float("nan"), "lr": [0.1, float("inf")]})
    run.write_json("summary.json", {"best": float("-inf")})
    line = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"epoch": 1, "test_loss": None, "lr": [0.1, None]}
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"best": None}


def test_skipping_bad_images_with_the_in_memory_loader_says_what_it_means(data, cache, tmp_path):
    messages = []
    Trainer(*DARTS, tiny(data, cache, bad_images="skip", loader="memory", epochs=1), tmp_path / "run",
            log=messages.append, bars=False)
    assert any("--bad-images skip applies to the stream loader" in m for m in messages)
    messages.clear()
    Trainer(*DARTS, tiny(data, cache, loader="memory", epochs=1), tmp_path / "other", log=messages.append, bars=False)
    assert not any("--bad-images" in m for m in messages)
