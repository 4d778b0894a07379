"""nat export: the written program computes what the eager network computes; trained weights
round-trip from a run folder; wrong suffixes and missing extras are one line."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from nat.api import build_model, resolve
from nat.cli import main
from nat.errors import NatError
from nat.exporting import export
from nat.runtime.checkpoint import load_checkpoint
from nat.train import TrainConfig, Trainer
from nat.train.evaluate import network_from_checkpoint

NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("arch, size", [("DARTS", {"channels": 8, "layers": 5}), (NB201, {}),
                                        ("ResNet20", {"backbone": "resnet20"})], ids=["DARTS", "nb201", "ResNet20"])
def test_the_exported_program_computes_what_the_eager_network_computes(arch, size, tmp_path):
    result = export(arch, tmp_path / "m.pt2", **size)
    program = torch.export.load(str(result.path)).module()
    torch.manual_seed(0)  # export builds with seed 0: the same initial weights
    label, genotype = resolve(arch)
    eager = build_model(genotype, **({"backbone": size["backbone"]} if "backbone" in size else
                                     {"channels": size.get("channels"), "layers": size.get("layers")})).eval()
    for batch in ((2, 5) if result.dynamic_batch else (2,)):
        x = torch.randn(batch, 3, 32, 32)
        with torch.no_grad():
            assert torch.allclose(program(x), eager(x), atol=1e-5), batch
    assert not result.trained


@pytest.fixture(scope="module")
def run(tmp_path_factory, image_folder, cache):
    root = image_folder(tmp_path_factory.mktemp("data") / "d", {"train": 16, "test": 4}, ("a", "b"))
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = TrainConfig(data=str(root), cache_dir=str(cache), channels=4, layers=3, epochs=1,
                      batch_size=8, device="cpu", cutout=0)
    Trainer("DARTS", resolve("DARTS")[1], cfg, out, log=None, bars=False).fit()
    return out


def test_trained_weights_round_trip_from_a_run_folder(run, tmp_path, capsys):
    assert main(["export", "--from", str(run), "-o", str(tmp_path / "w.pt")]) == 0
    assert "trained weights" in capsys.readouterr().out
    written = torch.load(tmp_path / "w.pt", weights_only=True)
    trained = load_checkpoint(run / "last.pt")["model"]
    assert written.keys() == trained.keys()
    assert all(torch.equal(written[k], trained[k]) for k in trained)
    # and the program of that run is its trained network, not a fresh one
    export(from_run=run, path=tmp_path / "run.pt2")
    program = torch.export.load(str(tmp_path / "run.pt2")).module()
    _, net, _ = network_from_checkpoint(load_checkpoint(run / "last.pt"), "last.pt")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(program(x), net.eval()(x), atol=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["DARTS", "-o", "{tmp}/m.h5"], "the suffix must be one of .pt2, .onnx, .safetensors, .pt"),
    (["DARTS", "-o", "{tmp}/a-folder.pt2"], "it is a folder"),
    (["-o", "{tmp}/m.pt2"], "give an ARCH or --from RUN_DIR"),
    (["DARTS", "--from", "{tmp}", "-o", "{tmp}/m.pt2"], "give an ARCH or --from RUN_DIR"),
])
def test_export_mistakes_are_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "a-folder.pt2").mkdir()
    code = main(["export", *[a.format(tmp=tmp_path) for a in argv]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix, module", [(".onnx", "onnx"), (".safetensors", "safetensors")])
def test_a_missing_extra_is_named(suffix, module, tmp_path):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    with pytest.raises(NatError, match=rf"needs the '{module}' package: pip install 'nat-transformer\[{module.replace('safetensors', 'safetensors')}\]'"):
        export("DARTS", tmp_path / f"m{suffix}", channels=8, layers=5)
    assert not (tmp_path / f"m{suffix}").exists()


def test_nat_export_is_the_function_every_time(tmp_path):
    import nat
    assert callable(nat.export) and callable(nat.export)
    assert nat.export("DARTS", tmp_path / "w.pt", channels=8, layers=5).path.exists()
