"""`genzoo lab mode-collapse --protocol pacgan`: the preset resolves to the PacGAN code's settings, runs end to end
through the CLI, and a bad protocol or model is a one-line error (exit 2)."""

import json
import math

import numpy as np
import pytest
import torch

from genzoo.cli import main
from genzoo.errors import ConfigError, UnknownNameError
from genzoo.lab.mode_collapse import lab_run, pacgan_variant, protocol_settings
from genzoo.lab.mode_report import PAPER_RESULTS, mean_se, write_protocol_table

# The PacGAN code (github.com/fjxmlzn/PacGAN): synthetic_data_experiments/2D{Ring,Grid}_GAN&PacGAN/config.py and
# pacgan_task.py; stacked_MNIST_experiments/VEEGAN_experiment/config.py and model.py.
TOY_TABLE = {"loss": "ns", "latent_dim": 2, "g_hidden": (400, 400, 400, 400), "g_batch_norm": True,
             "d_hidden": (200, 200, 200), "d_act": "maxout", "maxout_pieces": 5, "init_std": 0.02}
TOY_TRAIN = {"lr": 1e-4, "betas": (0.8, 0.999), "schedule": "constant"}
STACKED_TABLE = {"loss": "ns", "latent_dim": 100, "latent": "uniform", "width": 64, "n_gen": 2}
STACKED_TRAIN = {"lr": 2e-4, "betas": (0.5, 0.999), "schedule": "constant"}


@pytest.mark.parametrize("name,model,pack,label", [("gan", "gan", 1, "GAN"), ("pacgan", "pacgan", 2, "PacGAN2"),
                                                   ("pacgan2", "pacgan", 2, "PacGAN2"),
                                                   ("pacgan3", "pacgan", 3, "PacGAN3"),
                                                   ("pacgan4", "pacgan", 4, "PacGAN4")])
def test_preset_resolves_to_the_pacgan_code_settings(name, model, pack, label):
    assert pacgan_variant(name) == (model, pack, label)
    for ds in ("ring8", "grid25"):
        cfg, train = protocol_settings("pacgan", name, ds)
        assert cfg == {"data_shape": (2,), **TOY_TABLE, "pack": pack} and train == TOY_TRAIN
        run = lab_run(name, ds, 0, 10, 100, protocol="pacgan", device="cpu")
        assert run.model == model and run.label == label and run.model_config["pack"] == pack
        assert run.batch_size == 100 * pack and run.train_config.batch_size == 100 * pack  # 100 packs
        assert run.n_train == 100_000
        tc = run.train_config
        assert (tc.lr, tc.betas, tc.schedule, tc.optimizer) == (1e-4, (0.8, 0.999), "constant", "adam")
    cfg, train = protocol_settings("pacgan", name, "stacked-mnist")
    assert cfg == {"data_shape": (3, 28, 28), **STACKED_TABLE, "pack": pack} and train == STACKED_TRAIN
    run = lab_run(name, "stacked-mnist", 0, 10, 64, protocol="pacgan", device="cpu")
    assert run.batch_size == 64 * pack and run.n_train == 128_000
    assert run.train_config.betas == (0.5, 0.999) and run.train_config.lr == 2e-4


def test_lab_protocol_is_unchanged():
    cfg, train = protocol_settings("lab", "gan", "ring8")
    assert cfg["g_hidden"] == (128, 128, 128) and cfg["latent_dim"] == 2 and train["schedule"] == "cosine"
    assert lab_run("gan", "ring8", 0, 10, 256, device="cpu").batch_size == 256


def test_preset_rejects_other_models_and_protocols():
    for bad in ("wgan-gp", "pacgan1", "pacganx", "ns-gan"):
        with pytest.raises(ConfigError):
            pacgan_variant(bad)
    with pytest.raises(UnknownNameError, match="protocol"):
        protocol_settings("pacgn", "gan", "ring8")


def test_cli_pacgan_protocol_smoke(tmp_path, capsys):
    rc = main(["lab", "mode-collapse", "--protocol", "pacgan", "--datasets", "ring8", "--seeds", "0",
               "--steps", "2", "--batch-size", "4", "--set", "g_hidden=[8]", "--set", "d_hidden=[8]",
               "--device", "cpu", "--out", str(tmp_path)])
    assert rc == 0
    runs = json.loads((tmp_path / "mode_collapse_pacgan.json").read_text())["runs"]
    assert sorted(r["label"] for r in runs) == ["GAN", "PacGAN2", "PacGAN3", "PacGAN4"]
    for r in runs:
        pack = r["config"]["pack"]
        assert r["label"] == ("GAN" if pack == 1 else f"PacGAN{pack}")
        assert r["batch_size"] == 4 * pack and r["packs_per_batch"] == 4 and r["steps"] == 2
        assert r["config"]["d_act"] == "maxout" and r["config"]["g_hidden"] == [8] and r["config"]["loss"] == "ns"
        assert r["train"]["betas"] == [0.8, 0.999] and r["n_samples"] == 2500 and r["protocol"] == "pacgan"
    table = (tmp_path / "mode_collapse_pacgan.md").read_text()
    for label in ("GAN", "PacGAN2", "PacGAN3", "PacGAN4"):
        assert f"| {label} | 0 | 2 (" in table
    assert "| 6.3 ± 0.5 |" in table  # the paper's GAN row beside ours
    assert table.index("| GAN |") < table.index("| PacGAN2 |") < table.index("| PacGAN4 |")
    assert (tmp_path / "mode_collapse_pacgan_ring8.png").is_file()
    assert not (tmp_path / "mode_collapse.md").exists()  # the lab protocol's record is left alone
    assert "ring8 PacGAN3 seed 0" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [(["--protocol", "pacgn"], "pacgan"),
                                         (["--protocol", "pacgan", "--models", "wgan-gp"], "wgan-gp"),
                                         (["--protocol", "pacgan", "--steps", "0"], "--steps")])
def test_cli_bad_protocol_is_one_line_exit_2(tmp_path, capsys, argv, needle):
    rc = main(["lab", "mode-collapse", *argv, "--datasets", "ring8", "--seeds", "0", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not any(tmp_path.iterdir())


def test_protocol_table_reports_mean_and_standard_error(tmp_path):
    hq = [90.0, 95.0, 99.0, 80.0, 97.5]
    recs = [{"label": "GAN", "dataset": "ring8", "seed": s, "steps": 100, "paper_steps": 400_000, "n_modes": 8,
             "n_samples": 2500, "modes_covered": 6 + s % 2, "high_quality_pct": h, "reverse_kl": 0.1 * s,
             "train_seconds": 10.0, "protocol": "pacgan"} for s, h in enumerate(hq)]
    text = write_protocol_table(recs, tmp_path).read_text()
    se = np.std(hq, ddof=1) / math.sqrt(len(hq))
    assert f"| {np.mean(hq):.1f} ± {se:.1f} |" in text
    assert f"± {np.std(hq, ddof=1):.1f} |" not in text  # the standard deviation is not what the paper reports
    assert "| 100 (0.0 %) |" in text or "| 100 (" in text
    assert mean_se([1.0]) == "1.00 ± 0.00" and mean_se([]) == "-"
    assert PAPER_RESULTS[("grid25", "GAN")]["modes"] == (17.3, 0.8)


def test_eval_steps_score_the_same_run_on_the_way_without_changing_it():
    """Scores at eval_steps are taken under fork_rng: the final record equals an uninterrupted run's, and the
    record at k steps equals a k-step run's (constant learning rate, same seed); a perturbed run differs."""
    from genzoo.lab.mode_collapse import run_staged

    small = {"g_hidden": (16,), "d_hidden": (16,)}

    def run(steps, seed=0):
        return lab_run("pacgan2", "ring8", seed, steps, 8, overrides=small, protocol="pacgan", device="cpu")

    keys = ("modes_covered", "high_quality_pct", "reverse_kl", "reverse_kl_all")
    staged, x_staged = run_staged(run(6), eval_steps=[3, 6, 9])
    assert [r["steps"] for r in staged] == [3, 6] and staged[0]["run_steps"] == 6 and "run_steps" not in staged[1]
    straight, x_straight = run_staged(run(6))
    assert torch.equal(x_staged, x_straight)  # the same final generator, sample for sample
    short, _ = run_staged(run(3))
    assert all(staged[1][k] == straight[0][k] for k in keys)
    assert all(staged[0][k] == short[0][k] for k in keys)
    other, x_other = run_staged(run(6, seed=1))
    assert any(other[0][k] != straight[0][k] for k in keys) and not torch.equal(x_other, x_straight)
