"""genzoo.lab.mode_collapse: the library function, its one training loop (genzoo.train.Trainer), and the thin CLI."""

import json

import pytest
import torch

from genzoo.cli import main
from genzoo.cli.lab import parse_lab_sets
from genzoo.data import toy2d
from genzoo.errors import ConfigError
from genzoo.eval.modes import mode_stats
from genzoo.lab import lab_run, mode_collapse_lab, train_lab_model
from genzoo.models import create
from genzoo.train import TrainConfig, Trainer

TINY = {"g_hidden": [8], "d_hidden": [8]}


def test_mode_collapse_lab_writes_its_files(tmp_path):
    lines = []
    recs = mode_collapse_lab(["ns-gan"], ["ring8"], [0], steps=4, batch_size=16, overrides=TINY, device="cpu",
                             out=tmp_path, tag="t", command="genzoo lab mode-collapse --test", log=lines.append)
    assert len(recs) == 1 and len(lines) == 1 and lines[0].startswith("ring8 ns-gan seed 0: ")
    r = recs[0]
    assert (r["model"], r["dataset"], r["seed"], r["steps"], r["batch_size"]) == ("ns-gan", "ring8", 0, 4, 16)
    assert r["trainer"] == "genzoo.train.Trainer" and r["n_samples"] == 2500 and r["n_modes"] == 8
    assert r["train"] == {"lr": 1e-3, "schedule": "cosine"} and r["config"]["g_hidden"] == [8]
    assert r["overrides"] == TINY and r["command"] == "genzoo lab mode-collapse --test"
    assert 0 <= r["modes_covered"] <= 8 and 0.0 <= r["reverse_kl"] <= r["max_kl"] + 1e-12
    # the store holds exactly the returned record (JSON round trip), merged by key with an earlier run
    assert json.loads((tmp_path / "mode_collapse.json").read_text())["runs"] == json.loads(json.dumps(recs))
    table = (tmp_path / "mode_collapse.md").read_text()
    assert "### ring8 (8 modes, 2500 samples)" in table and "| ns-gan | 0 | 4 |" in table
    assert "`genzoo lab mode-collapse --test`" in table
    assert (tmp_path / "mode_collapse_ring8_t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mode_collapse_lab(["ns-gan"], ["ring8"], [1], steps=4, batch_size=16, overrides=TINY, device="cpu",
                      out=tmp_path)
    runs = json.loads((tmp_path / "mode_collapse.json").read_text())["runs"]
    assert sorted(x["seed"] for x in runs) == [0, 1]
    assert "| ns-gan | 0,1 | 4 |" in (tmp_path / "mode_collapse.md").read_text()


def test_lab_training_is_a_plain_trainer_run(tmp_path):
    """One loop: the lab's run equals a Trainer built by hand from the recorded config (weights and mode stats)."""
    run = lab_run("wgan-gp", "ring8", seed=2, steps=3, batch_size=16, overrides=TINY, device="cpu")
    model, _ = train_lab_model(run)
    rec = mode_collapse_lab(["wgan-gp"], ["ring8"], [2], steps=3, batch_size=16, overrides=TINY, device="cpu",
                            out=tmp_path)[0]
    assert rec["train"] == {"lr": 1e-4, "betas": [0.5, 0.9], "schedule": "cosine"} and rec["config"]["gp_weight"] == 0.1

    torch.manual_seed(2)
    plain = create("wgan-gp", **rec["config"])
    cfg = TrainConfig(steps=3, batch_size=16, seed=2, progress=False, log_every=1, device="cpu", **rec["train"])
    Trainer(plain, toy2d("ring8", 100_000, seed=2), cfg, out_dir=None).fit()
    lab_sd, plain_sd = model.state_dict(), plain.state_dict()
    assert lab_sd.keys() == plain_sd.keys()
    assert all(torch.equal(lab_sd[k], plain_sd[k]) for k in lab_sd)

    plain.eval()
    torch.manual_seed(10_000 + 2)
    with torch.no_grad():
        st = mode_stats(plain.sample(2500), "ring8")
    for k in ("modes_covered", "high_quality_pct", "reverse_kl", "reverse_kl_all"):
        assert rec[k] == st[k], k


def test_cli_bad_set_key_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "never"
    argv = ["lab", "mode-collapse", "--models", "gan", "--datasets", "ring8", "--seeds", "0", "--steps", "1",
            "--device", "cpu", "--out", str(out)]
    assert main([*argv, "--set", "bad_key=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad_key" in err[0] and "Valid keys" in err[0]
    assert not out.exists()  # every run is validated before the first one trains
    assert main([*argv, "--train-set", "bad_train=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad_train" in err[0]
    assert main([*argv, "--set", "data.n=5"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main([*argv, "--set", "g_hidden=oops"]) == 2  # wrong type: the expected one named
    assert "g_hidden" in capsys.readouterr().err
    assert not out.exists()


def test_parse_lab_sets_uses_the_shared_section_form():
    model, train = parse_lab_sets(["g_hidden=[64,64]", "train.lr=1e-3"],
                                  ["schedule=cosine", "optim.discriminator.lr=4e-4", "model.gp_weight=1"])
    assert model == {"g_hidden": [64, 64], "gp_weight": 1}
    assert set(train) == {"lr", "schedule", "optim"} and set(train["optim"]["discriminator"]) == {"lr"}
    run = lab_run("wgan-gp", "ring8", 0, steps=2, overrides=model, train_overrides=train)
    assert run.train_config.player("discriminator")["lr"] == 4e-4 and run.train_config.lr == 1e-3
    # recorded as validated (YAML reads 1e-3 as a string; the config's float), the lab's betas kept
    assert run.train == {"lr": 1e-3, "betas": [0.5, 0.9], "schedule": "cosine",
                         "optim": {"discriminator": {"lr": 4e-4}}}
    assert run.model_config["gp_weight"] == 1.0 and run.model_config["g_hidden"] == [64, 64]
    with pytest.raises(ConfigError):
        parse_lab_sets(["no_equals_sign"], [])
