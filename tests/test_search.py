"""NAT's search and transform: the supernet, exact resume, the cost guarantee, the commands."""

import json
import os
import signal

import numpy as np
import pytest
import torch

import nat.search.trainer as trainer_module
from nat.arch import Genotype, is_legal_transformation, zoo
from nat.arch.space import SPACES
from nat.cli import main
from nat.errors import NatError, RunAborted
from nat.nn.network import NetworkConfig
from nat.policy import Policy
from nat.runtime import load_checkpoint
from nat.search.config import SearchConfig
from nat.search.supernet import Supernet, SupernetConfig
from nat.search.trainer import run_search
from nat.search.selection import Selection
from nat.search.transform import Transformer, load_transformer, transform

SMALL = NetworkConfig("cifar10", channels=8, layers=5)


@pytest.fixture(scope="module")
def data(noise_data):
    return noise_data(320, 80)


TINY = SearchConfig(channels=4, layers=3, batch_size=16, epochs=3, w_steps=2, theta_steps=2, policy="gcn,lstm",
                    device="cpu")


def _without_time(rows):
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in rows]


def test_resume_is_exact(data, tmp_path):
    run_search(TINY, data, tmp_path / "straight")
    run_search(TINY, data, tmp_path / "stopped", stop_after=1)
    run_search(None, data, tmp_path / "stopped", resume=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "stopped" / "last.pt")
    for part in ("supernet", "policies"):
        for key, value in _flatten(a[part]).items():
            assert torch.equal(value, _flatten(b[part])[key]), key
    assert _without_time(a["history"]) == _without_time(b["history"])
    lines = [json.loads(x) for x in (tmp_path / "stopped" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for name in ("config.yaml", "summary.json", "curves.svg", "transformer.pt", "transformer-lstm.pt"):
        assert (tmp_path / "stopped" / name).exists()


def _flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_metrics_report_what_the_issue_asks(data, tmp_path):
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    for key in ("w_loss", "w_top1", "reward", "advantage", "entropy", "baseline", "share_O_to_S", "share_O_to_N",
                "share_S_to_N", "share_N_to_S", "lstm_reward"):
        assert key in row
    assert 0 <= row["share_O_to_S"] <= 1 and row["entropy"] > 0


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    good = load_checkpoint(tmp_path / "run" / "last.pt")
    monkeypatch.setattr(trainer_module.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan")))
    with pytest.raises(RunAborted, match="supernet loss is nan at epoch 2"):
        run_search(None, data, tmp_path / "run", resume=True)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == good["epoch"] == 1


def test_supernet_runs_only_the_named_ops():
    net = Supernet(SupernetConfig(SPACES["darts"].ops, channels=4, layers=3))
    g = zoo.get("NAT_DARTS").genotype
    net(torch.randn(2, 3, 32, 32), g).sum().backward()
    for cell in net.cells:
        cell_genotype = g.reduce if cell.reduction else g.normal
        used = {f"{e.src}_{e.dst}_{e.op}" for _, e in cell_genotype.computed_edges()}
        for key, module in cell.ops.items():
            has_grad = any(p.grad is not None for p in module.parameters())
            if any(True for _ in module.parameters()):
                assert has_grad == (key in used), key


def test_supernet_rejects_what_it_cannot_run():
    net = Supernet(SupernetConfig(SPACES["darts"].ops, channels=4, layers=3))
    darts = zoo.get("DARTS").genotype
    nao_op = Genotype(darts.normal.replace_ops(["conv_1x3_3x1"] + [e.op for e in darts.normal.edges[1:]]), darts.reduce)
    with pytest.raises(Exception, match="uses conv_1x3_3x1, which this supernet does not hold"):
        net.check(nao_op)
    with pytest.raises(Exception, match="5 intermediate nodes"):
        net.check(zoo.get("ENAS").genotype)


class AlwaysSkip(Policy):
    """Puts all its mass on 'skip' wherever the rules allow it."""

    name = "always-skip"

    def cell_logits(self, cell):
        return torch.tensor([0.0, 50.0, 0.0]).expand(len(cell.ops), 3)


@pytest.mark.parametrize("name", ["DARTS", "ENAS", "NAONet", "VGG", "R3"])
def test_transform_never_returns_a_costlier_cell(name):
    beta = zoo.get(name).genotype
    if name == "DARTS":  # pools everywhere: skips are free in the normal cell, dearer on stride-2 edges
        beta = Genotype(beta.reduce, beta.reduce)
    policy = AlwaysSkip(cost_aware=False)  # proposes skips on stride-2 pooling edges: FactorizedReduce, costlier
    result = transform(beta, Transformer(policy, "darts", "test"), Selection(candidates=3), cost_config=SMALL)
    assert is_legal_transformation(beta, result.genotype)
    assert result.cost_after.params <= result.cost_before.params
    assert result.cost_after.madds <= result.cost_before.madds
    if name == "DARTS":  # every candidate costs more: the input comes back unchanged
        assert result.genotype == beta and "unchanged" in " ".join(result.notes)


def test_transform_scores_with_the_supernet(data, tmp_path):
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    beta = SPACES["darts"].sample(__import__("random").Random(3))
    t = load_transformer(tmp_path / "run", beta)
    assert t.supernet is not None
    x = torch.randn(8, 3, 32, 32)
    y = torch.randint(0, 10, (8,))
    result = transform(beta, t, Selection(candidates=4), batches=[(x, y)], cost_config=SMALL)
    scored = [c for c in result.candidates if c["dropped"] is None]
    assert all(c["score"] is not None for c in scored) or len(scored) <= 1


def test_transform_command_json(capsys, tmp_path, data):
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    capsys.readouterr()  # the search's own progress lines
    out_file = tmp_path / "alpha.json"
    code = main(["transform", "DARTS", "--transformer", str(tmp_path / "run"), "-C", "8", "-L", "5",
                 "--json", "-o", str(out_file)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("input", "genotype", "changed", "cost_before", "cost_after"):
        assert key in result
    assert result["cost_after"]["params"] <= result["cost_before"]["params"]
    for change in result["changed"]:
        assert set(change) == {"cell", "from", "to", "old", "new"}
    assert json.loads(out_file.read_text())["normal"] == result["genotype"]["normal"]


@pytest.mark.parametrize("argv, expected", [
    (["search", "--data", "x", "--out", "y", "--preset", "huge"], "unknown preset 'huge'"),
    (["transform", "DARTS", "--transformer", "/nonexistent/t.pt"], "no checkpoint there"),
])
def test_search_errors_are_one_line(capsys, argv, expected):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1


def test_resume_needs_a_run(capsys, tmp_path):
    code = main(["search", "--data", "x", "--out", str(tmp_path), "--resume"])
    assert code == 2


def test_config_file_and_unknown_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("channels: 4\nlayres: 3\n")
    code = main(["search", "--data", "x", "--out", str(tmp_path / "r"), "--config", str(cfg)])
    assert code == 2 and "unknown setting 'layres'" in capsys.readouterr().err


def test_config_file_reads_exponents_without_a_dot(tmp_path):
    from nat.runtime.config import load_config
    from nat.search.config import PRESETS, SearchConfig
    cfg = tmp_path / "c.yaml"
    cfg.write_text("theta_lr: 1e-3\nentropy: 3E-3\n")  # YAML 1.1 reads these as strings
    loaded = load_config(SearchConfig, presets=PRESETS, config_file=cfg)
    assert loaded.theta_lr == 1e-3 and loaded.entropy == 3e-3
    cfg.write_text("theta_lr: fast\n")
    with pytest.raises(NatError, match="'theta_lr' must be float, got 'fast'"):
        load_config(SearchConfig, presets=PRESETS, config_file=cfg)


def test_search_help_prints_plain_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = capsys.readouterr().out
    assert "40%" in out and "%%" not in out


def test_ddp_search_on_two_cpu_processes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    worker = Path(__file__).with_name("ddp_search_worker.py")
    out = tmp_path / "ddp"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(worker), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert torch.equal(torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt"))
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize("name", zoo.names() + ["ResNet20"])
def test_shipped_transformer_handles_every_zoo_architecture(name, capsys):
    from nat.nn.backbones import is_backbone_name
    size = [] if is_backbone_name(name) else ["-C", "8", "-L", "5"]  # a backbone has its own size
    code = main(["transform", name, "--candidates", "3", "--json", *size])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "pretrained" in result["transformer"]
    for key in ("params", "madds"):
        assert result["cost_after"][key] <= result["cost_before"][key]


def test_search_split_honours_both_fractions():
    from nat.search.trainer import search_split
    w, theta = search_split(1000, subset=None, split=(0.4, 0.6), seed=3)
    assert len(w) == 400 and len(theta) == 600 and not set(w) & set(theta)
    w, theta = search_split(1000, subset=None, split=(0.2, 0.3), seed=3)  # the other half unused
    assert len(w) == 200 and len(theta) == 300 and not set(w) & set(theta)


def test_the_nan_advice_is_a_command_that_exists_and_resumes_with_the_lower_rate(data, tmp_path, monkeypatch):
    import shlex

    from nat.cli import build_parser
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    real = trainer_module.F.cross_entropy
    monkeypatch.setattr(trainer_module.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan")))
    with pytest.raises(RunAborted) as aborted:
        run_search(None, data, tmp_path / "run", resume=True)
    monkeypatch.setattr(trainer_module.F, "cross_entropy", real)
    advice = str(aborted.value).split("continue with a lower rate: ")[1]
    args = build_parser().parse_args(shlex.split(advice)[1:])  # it parses: every option it names exists
    assert args.resume and args.w_lr == pytest.approx(TINY.w_lr / 10)
    run_search(None, data, tmp_path / "run", resume=True, changes={"w_lr": args.w_lr, "theta_lr": 1e-5})
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["config"]["w_lr"] == args.w_lr and state["config"]["theta_lr"] == 1e-5
    assert state["theta_opts"]["gcn"]["param_groups"][0]["lr"] == 1e-5  # applied, not only recorded


@pytest.mark.parametrize("argv, refused", [
    (["--seed", "3"], "cannot change seed"),
    (["--channels", "8"], "cannot change channels"),
    (["--preset", "darts-cpu"], "channels,"),
])
def test_search_resume_refuses_settings_that_would_make_another_run(data, tmp_path, capsys, argv, refused):
    from nat.cli import main
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    capsys.readouterr()
    code = main(["search", "--out", str(tmp_path / "run"), "--resume", *argv])
    err = capsys.readouterr().err
    assert code == 2 and refused in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_search_without_a_preset_says_it_is_the_paper_run(tmp_path, capsys):
    from nat.cli import main
    code = main(["search", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "missing")])
    out, err = capsys.readouterr()
    assert code == 2 and out.splitlines()[0].startswith("no --preset: the paper's search (100 epochs")


def test_synflow_in_the_reward_resumes_exactly_and_ranks_a_dead_cell_last(data, tmp_path):
    cfg = SearchConfig(channels=4, layers=3, batch_size=16, epochs=3, w_steps=2, theta_steps=2, policy="egcn",
                       device="cpu", baseline="loo", n=2, advantage_scale="std", reward_score="fit",
                       reward_proxy="synflow", proxy_reference=6)
    run_search(cfg, data, tmp_path / "straight")
    run_search(cfg, data, tmp_path / "stopped", stop_after=1)
    run_search(None, data, tmp_path / "stopped", resume=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "stopped" / "last.pt")
    assert a["proxy_scale"] == b["proxy_scale"] and a["proxy_scale"]["proxy_std"] > 0
    for key, value in _flatten(a["policies"]).items():
        assert torch.equal(value, _flatten(b["policies"])[key]), key
    assert _without_time(a["history"]) == _without_time(b["history"])
    # an alpha without a path from the input scores below every cell the reference drew
    from nat.runtime.distributed import Dist
    from nat.runtime.rundir import RunDir
    search = trainer_module.Search(cfg, data, RunDir(tmp_path / "probe"), Dist())
    batches = [next(iter(search.theta_loader))]
    cells = [search.space.sample(__import__("random").Random(i)) for i in range(4)]
    scores = [search._score(g, batches) for g in cells]
    assert all(np.isfinite(scores)) and search._score(None, batches) < min(scores)


def test_reward_proxy_settings_are_checked():
    with pytest.raises(ValueError, match="reward_proxy must be one of synflow"):
        SearchConfig(reward_proxy="snip")
    with pytest.raises(ValueError, match="needs reward 'supernet'"):
        SearchConfig(space="nb201", reward="table:x.csv", reward_proxy="synflow")


# -- several supernets judging as one ------------------------------------------------------------------
NB201_TINY = SearchConfig(space="nb201", channels=4, layers=3, resolution=8, batch_size=16, epochs=2,
                          warmup_epochs=1, w_steps=2, theta_steps=1, policy="egcn", device="cpu")


def test_an_ensemble_judges_by_its_members_mean_prediction(data, tmp_path):
    from dataclasses import replace

    from nat.arch import nb201
    from nat.search.ensemble import SupernetEnsemble
    from nat.search.rewards import image_losses
    from nat.search.transform import pack_transformer
    run_search(NB201_TINY, data, tmp_path / "a")
    run_search(replace(NB201_TINY, seed=1), data, tmp_path / "b")
    packed = pack_transformer(tmp_path / "a", tmp_path / "t.pt", ensemble=[tmp_path / "b"], half=False)
    beta = nb201.genotype_from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                                      "nor_conv_3x3~1|skip_connect~2|")
    both = load_transformer(packed, beta).supernet
    assert isinstance(both, SupernetEnsemble) and len(both.members) == 2
    a, b = (load_transformer(tmp_path / r, beta).supernet for r in "ab")
    x, y = torch.randn(16, 3, 8, 8), torch.arange(16) % 10
    with torch.no_grad():
        p = (torch.softmax(a(x, beta), -1) + torch.softmax(b(x, beta), -1)) / 2
        torch.testing.assert_close(both(x, beta).exp(), p)
        losses = image_losses(both, beta, [(x, y)])
    torch.testing.assert_close(losses, -p[torch.arange(16), y].log().double())
    run_search(replace(NB201_TINY, split_seed=3), data, tmp_path / "c")
    with pytest.raises(NatError, match="another 40/60 split"):
        pack_transformer(tmp_path / "a", tmp_path / "u.pt", ensemble=[tmp_path / "c"])


def test_a_search_resumed_under_auto_reuses_the_threads_it_computed_with(data, tmp_path, monkeypatch, capsys):
    # floating-point sums depend on how work is split among threads: a resume on a busier (or
    # quieter) machine must still compute with the count the run started with
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("nat.runtime.threads.resolve_threads", lambda t="auto": 2 if t == "auto" else t)
        run_search(TINY, data, tmp_path / "run", stop_after=1, threads="auto")
        assert load_checkpoint(tmp_path / "run" / "last.pt")["threads"] == 2
        monkeypatch.setattr("nat.runtime.threads.resolve_threads", lambda t="auto": 1 if t == "auto" else t)
        seen = []
        real = trainer_module.Search.run
        monkeypatch.setattr(trainer_module.Search, "run",
                            lambda self, **kw: (seen.append(torch.get_num_threads()), real(self, **kw))[1])
        run_search(None, data, tmp_path / "run", resume=True, threads="auto")  # the machine got busier
        assert seen == [2] and "no longer bit-identical" not in capsys.readouterr().out
        run_search(None, data, tmp_path / "run", resume=True, epochs=4, threads=1)  # asked for another count
        assert seen == [2, 1] and "no longer bit-identical" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("field, value, says", [("epoch", "x", "field 'epoch' is 'x'"), ("epoch", -5, "is -5"),
                                                ("history", "x", "field 'history'")])
def test_a_hand_edited_search_checkpoint_is_refused_naming_the_field(data, tmp_path, field, value, says):
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    state[field] = value
    torch.save(state, tmp_path / "run" / "last.pt")
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(NatError, match=says):
        run_search(None, data, tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_a_policy_rate_that_blows_up_stops_with_advice_that_parses(data, tmp_path, capsys):
    import shlex

    from nat.cli import build_parser
    run_search(TINY, data, tmp_path / "run", stop_after=1)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(RunAborted, match="policy.s weights became non-finite") as aborted:
        run_search(None, data, tmp_path / "run", resume=True, changes={"theta_lr": 1e30})
    assert (tmp_path / "run" / "last.pt").read_bytes() == before  # nothing non-finite was saved
    args = build_parser().parse_args(shlex.split(str(aborted.value).split("continue with a lower rate: ")[1])[1:])
    assert args.resume and args.theta_lr == pytest.approx(1e29)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_search_saying_what_was_kept_and_how_to_resume(data, tmp_path, monkeypatch, signum):
    from nat.errors import RunStopped
    real = trainer_module.Search.train_weights

    def train_weights(self):
        if self.epoch == 1:  # a scheduler's SIGTERM (or Ctrl-C) in the second epoch
            os.kill(os.getpid(), signum)
        return real(self)
    monkeypatch.setattr(trainer_module.Search, "train_weights", train_weights)
    with pytest.raises(RunStopped) as stopped:
        run_search(TINY, data, tmp_path / "run")
    message = str(stopped.value)
    assert stopped.value.exit_code == 128 + signum and signal.Signals(signum).name in message
    assert "stopped in epoch 2" in message and "holds epoch 1" in message
    assert message.endswith(f"nat search --out {tmp_path / 'run'} --resume")
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(trainer_module.Search, "train_weights", real)
    assert run_search(None, data, tmp_path / "run", resume=True)["epochs"] == TINY.epochs


def test_search_resume_with_the_runs_own_preset_or_config_is_no_change(data, tmp_path, capsys):
    from nat.cli import main
    from nat.runtime.config import write_yaml
    own = tmp_path / "own.yaml"
    write_yaml({"channels": TINY.channels, "layers": TINY.layers, "batch_size": TINY.batch_size, "epochs": 2,
                "w_steps": TINY.w_steps, "theta_steps": TINY.theta_steps, "policy": TINY.policy, "device": "cpu"}, own)
    cfg = SearchConfig(**{**vars(TINY), "epochs": 2})
    run_search(cfg, data, tmp_path / "run", stop_after=1)
    capsys.readouterr()
    # through the command line the settings pass; only the data (in memory here) is missing
    assert main(["search", "--out", str(tmp_path / "run"), "--resume", "--config", str(own), "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "cannot change" not in err and "needs data" in err
    own_settings = {"channels": TINY.channels, "policy": TINY.policy, "seed": 0, "epochs": 2}
    run_search(None, data, tmp_path / "run", resume=True, changes=own_settings)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 2


def test_the_recommended_selection_reports_its_track_record_and_an_overridden_one_does_not():
    from nat.api import _track_record, resolve
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    shipped = load_transformer(None, resolve(cell)[1])
    for objective in ("accurate", "compact"):
        chosen = Selection().with_options(**{k: v for k, v in shipped.recommended[objective].items()
                                             if k != "measured"})
        note = _track_record(shipped, chosen, judged=True)
        assert note.startswith(f"track record of this {objective} selection: ") and "best quarter" in note
        assert _track_record(shipped, chosen.with_options(significance=1.5), judged=True) is None  # not what was measured
        assert _track_record(shipped, chosen, judged=False) is None  # unjudged: the policy alone
