"""`genzoo lab mode-collapse` end to end at a tiny budget (the lab's numbers come from real runs, not this test)."""

import json

import pytest

from genzoo.cli import main


def test_lab_mode_collapse_smoke(tmp_path, capsys):
    rc = main(["lab", "mode-collapse", "--models", "pacgan", "--datasets", "ring8", "--seeds", "0,1",
               "--steps", "3", "--batch-size", "16", "--set", "g_hidden=[8]", "--set", "d_hidden=[8]",
               "--device", "cpu", "--out", str(tmp_path)])
    assert rc == 0
    runs = json.loads((tmp_path / "mode_collapse.json").read_text())["runs"]
    assert {(r["model"], r["seed"]) for r in runs} == {("pacgan", 0), ("pacgan", 1)}
    assert all(r["n_samples"] == 2500 and r["n_modes"] == 8 for r in runs)
    table = (tmp_path / "mode_collapse.md").read_text()
    assert "| pacgan | 0,1 | 3 |" in table and "±" in table
    assert (tmp_path / "mode_collapse_ring8.png").is_file()


def test_lab_per_model_settings_and_steps(tmp_path, capsys):
    rc = main(["lab", "mode-collapse", "--models", "ns-gan,wgan-gp", "--datasets", "grid25", "--seeds", "0",
               "--steps", "4", "--model-steps", "wgan-gp=2", "--batch-size", "16", "--set", "g_hidden=[8]",
               "--set", "d_hidden=[8]", "--device", "cpu", "--out", str(tmp_path)])
    assert rc == 0
    runs = {r["model"]: r for r in json.loads((tmp_path / "mode_collapse.json").read_text())["runs"]}
    assert runs["ns-gan"]["steps"] == 4 and runs["wgan-gp"]["steps"] == 2
    # WGAN-GP gets its own toy settings (Gulrajani et al.'s toy code), the others the lab's Adam 1e-3
    assert runs["wgan-gp"]["train"]["lr"] == 1e-4 and runs["wgan-gp"]["train"]["betas"] == [0.5, 0.9]
    assert runs["wgan-gp"]["config"]["gp_weight"] == 0.1
    assert runs["ns-gan"]["train"]["lr"] == 1e-3 and runs["ns-gan"]["train"]["schedule"] == "cosine"
    table = (tmp_path / "mode_collapse.md").read_text()
    assert table.index("| ns-gan |") < table.index("| wgan-gp |")
    assert main(["lab", "mode-collapse", "--models", "gan", "--datasets", "ring8", "--seeds", "0",
                 "--model-steps", "gan=x", "--out", str(tmp_path)]) == 2


def test_lab_takes_any_registry_model(tmp_path, capsys):
    rc = main(["lab", "mode-collapse", "--models", "vae,realnvp", "--datasets", "ring8", "--seeds", "0",
               "--steps", "2", "--batch-size", "16", "--device", "cpu", "--out", str(tmp_path)])
    assert rc == 0
    runs = {r["model"]: r for r in json.loads((tmp_path / "mode_collapse.json").read_text())["runs"]}
    assert set(runs) == {"vae", "realnvp"} and runs["vae"]["config"]["decoder"] == "gaussian"
    assert all(r["n_samples"] == 2500 for r in runs.values())


def test_lab_errors(tmp_path, capsys):
    assert main(["lab", "mode-collapse", "--models", "nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["lab", "mode-collapse", "--models", "gan", "--datasets", "moons", "--seeds", "0", "--steps", "1",
                 "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("argv", [["lab"], ["lab", "--help"]])
def test_lab_help(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 0
    assert "mode-collapse" in capsys.readouterr().out
