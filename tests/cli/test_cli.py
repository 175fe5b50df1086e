"""The CLI end to end, in-process through genzoo.cli.main, on a tiny registered model and fake data sets."""

from __future__ import annotations

import json

import pytest
import yaml
from cli_toys import MODEL, CliGauss, fake_available, fake_get

import genzoo.data
from genzoo.cli import main
from genzoo.models import available, register
from genzoo.models.registry import _REGISTRY


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    register(MODEL, family="test")(CliGauss)
    monkeypatch.setattr(genzoo.data, "get", fake_get, raising=False)
    monkeypatch.setattr(genzoo.data, "available", fake_available, raising=False)
    yield
    _REGISTRY.pop(MODEL, None)


def train(out, *extra):
    return main(["train", MODEL, "--data", "blobs", "--out", str(out), "--steps", "6", "--no-progress",
                 "--set", "train.batch_size=8", "--set", "train.ckpt_every=3", "--set", "train.log_every=2", *extra])


def one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    err = [e for e in err if ": error: " in e]
    assert len(err) == 1, err
    for n in needles:
        assert n in err[0], (n, err[0])
    return err[0]


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert MODEL in out and "exact" in out and "likelihood" in out and "blobs" in out


def test_train_resume_sample_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    assert train(run, "--set", "model.init_scale=0.5") == 0
    for f in ("config.yaml", "metrics.jsonl", "loss.png", "model/model.safetensors", "model/config.json",
              "checkpoints/step_00000006/state.json", "samples/step_000006.png"):
        assert (run / f).exists(), f
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["run"] == {"model": MODEL, "data": "blobs", "kind": "points"}
    assert cfg["model"]["data_shape"] == [2] and cfg["model"]["init_scale"] == 0.5
    assert cfg["train"]["batch_size"] == 8 and cfg["train"]["steps"] == 6
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "model/loss" in m] == [2, 4, 6]
    assert any("eval/nll" in m for m in metrics)  # the held-out split was evaluated

    assert main(["train", "--resume", "--out", str(run), "--steps", "9", "--no-progress"]) == 0
    assert (run / "checkpoints" / "step_00000009").is_dir()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["steps"] == 9

    grid = tmp_path / "grid.png"
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "16", "--out", str(grid), "--seed", "1"]) == 0
    assert grid.is_file() and str(grid) in capsys.readouterr().out

    assert main(["evaluate", str(run), "--k", "50", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["split"] == "test" and res["n"] == 32 and res["ignored_kwargs"] == ["k"]
    assert res["nll"] == pytest.approx(json.loads((run / "eval_test.json").read_text())["nll"])
    assert main(["evaluate", str(run)]) == 0
    assert "bits/dim" in capsys.readouterr().out


def test_train_with_yaml_config_images(tmp_path, capsys):
    cfgfile = tmp_path / "c.yaml"
    cfgfile.write_text("model:\n  init_scale: 0.1\ntrain:\n  batch_size: 16\n  lr: 1e-2\n  ema_decay: 0.9\n"
                       "data: {}\n")
    run = tmp_path / "img"
    assert main(["train", MODEL, "--data", "tinyimg", "--config", str(cfgfile), "--out", str(run), "--steps", "3",
                 "--no-progress"]) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["data_shape"] == [1, 4, 4] and cfg["model"]["num_classes"] == 0
    assert cfg["train"]["lr"] == 0.01 and cfg["train"]["ema_decay"] == 0.9
    assert main(["sample", str(run), "-n", "9", "--out", str(tmp_path / "g.png"), "--checkpoint"]) == 0
    assert (tmp_path / "g.png").is_file()


@pytest.mark.parametrize("argv,needles", [
    (["train", "test-cli-gaus", "--data", "blobs"], ['unknown model "test-cli-gaus"', f'Did you mean "{MODEL}"']),
    (["train", MODEL, "--data", "blobz"], ['unknown data set "blobz"', 'Did you mean "blobs"']),
    (["train", MODEL, "--data", "blobs", "--set", "train.lrr=1"], ['unknown key "lrr"', 'Did you mean "lr"']),
    (["train", MODEL, "--data", "blobs", "--set", "train.steps=many"], ["steps: expected int"]),
    (["train", MODEL, "--data", "blobs", "--set", "model.data_shape=[3]"], ["does not match data set blobs"]),
    (["train", MODEL, "--data", "blobs", "--set", "lr=1"], ["expected section.key=value"]),
    (["train", MODEL, "--data", "blobs", "--set", "train.optimizer=adma"], ['Did you mean "adam"']),
    (["sample", "RUN_MISSING"], ["no such run folder"]),
    (["evaluate", "RUN_MISSING"], ["no such run folder"]),
])
def test_bad_input_exit_code_2(argv, needles, tmp_path, capsys):
    argv = [str(tmp_path / a) if a == "RUN_MISSING" else a for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 2
    one_error_line(capsys, *needles)


def test_bad_files_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [1, 2\n")
    assert main(["train", MODEL, "--data", "blobs", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    one_error_line(capsys, "malformed YAML", "line")
    bad.write_text("trian:\n  lr: 1\n")
    assert main(["train", MODEL, "--data", "blobs", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    one_error_line(capsys, 'unknown section "trian"', 'Did you mean "train"')

    run = tmp_path / "run"
    assert train(run) == 0
    assert train(run) == 2
    one_error_line(capsys, "already holds a run", "--resume")
    # a run folder with a config but no model and no checkpoint
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.yaml").write_text((run / "config.yaml").read_text())
    assert main(["evaluate", str(empty)]) == 2
    one_error_line(capsys, "no model/ and no checkpoint")
    assert main(["train", "--resume", "--out", str(empty), "--no-progress"]) == 2
    one_error_line(capsys, "no checkpoint found")
    # a corrupt checkpoint
    f = run / "checkpoints" / "step_00000006" / "state.safetensors"
    f.write_bytes(b"garbage")
    assert main(["train", "--resume", "--out", str(run), "--steps", "8", "--no-progress"]) == 2
    one_error_line(capsys, "corrupt")
    assert main(["sample", str(tmp_path)]) == 2
    one_error_line(capsys, "not a genzoo run folder")


@pytest.mark.skipif("vae" not in available(), reason="the vae model is not registered yet")
def test_vae_end_to_end(tmp_path, capsys):
    run = tmp_path / "vae"
    assert main(["train", "vae", "--data", "tinyimg", "--out", str(run), "--steps", "3", "--no-progress",
                 "--set", "train.batch_size=16", "--set", "model.latent_dim=2", "--set", "model.hidden=[8]"]) == 0
    assert main(["evaluate", str(run), "--k", "4", "--max-examples", "8"]) == 0
    assert "bits/dim" in capsys.readouterr().out
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "v.png")]) == 0


def test_list_summaries_are_whole_first_sentences():
    from genzoo.cli.list_cmd import summary

    assert summary("Glow (Kingma & Dhariwal 2018). Second sentence.") == "Glow (Kingma & Dhariwal 2018)."
    assert summary("DDPM (Ho et al. 2020): a bound.\n  More.") == "DDPM (Ho et al. 2020): a bound."
    long = summary("word " * 40, width=30)
    assert long.endswith("...") and len(long) <= 30 and "wor..." not in long
    assert summary(None) == ""


def test_every_registered_model_has_a_description():
    from genzoo.cli.list_cmd import summary
    from genzoo.models import available, get_class

    missing = [n for n in available() if len(summary(get_class(n).__doc__)) < 10]
    assert not missing, f"models without a docstring for `genzoo list`: {missing}"
