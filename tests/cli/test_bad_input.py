"""Every bad input a user met by hand gets one line on stderr and exit code 2 (docs/reliability.md lists them)."""

from __future__ import annotations

import pytest

from genzoo.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "run"
    assert main(["train", "realnvp", "--data", "ring8", "--steps", "3", "--out", str(out), "--no-progress",
                 "--set", "model.n_blocks=2", "--set", "train.batch_size=16"]) == 0
    return out


def one_line_error(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", ".nan"])
def test_non_finite_learning_rate(capsys, tmp_path, value):
    one_line_error(capsys, ["train", "realnvp", "--data", "ring8", "--steps", "2", "--out", str(tmp_path / "r"),
                            "--no-progress", "--set", f"train.lr={value}"], "TrainConfig.lr", "finite")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_sizes(capsys, tmp_path, value):
    one_line_error(capsys, ["train", "realnvp", "--data", "ring8", "--steps", "2", "--out", str(tmp_path / "r"),
                            "--no-progress", "--set", f"model.n_blocks={value}"], "n_blocks")


@pytest.mark.parametrize("argv_tail,needle", [
    (["evaluate", "{run}", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "{run}", "--max-examples", "-1"], "--max-examples"),
    (["sample", "{run}", "-n", "0"], "-n/--num"),
    (["sample", "{run}", "--label", "3"], "unconditional"),
    (["sample", "{run}", "--out", "/proc/x.png"], "/proc/x.png"),
    (["sample", "{run}", "--out", "{run}/config.yaml/x.png"], "is a file"),
    (["sample", "{run}", "--out", "{tmp}/s.xyz"], "PNG"),
    (["train", "--resume", "--out", "{run}", "--steps", "2"], "nothing to resume"),
    (["train", "--resume", "--out", "{run}", "--steps", "9", "--seed", "4"], "--seed"),
    (["train", "realnvp", "--data", "ring8", "--out", "{run}/config.yaml"], "is a file"),
    (["train", "vae", "--data", "shakespeare", "--out", "{tmp}/t"], "text data"),
    (["train", "realnvp", "--data", "ring8", "--steps", "abc"], "--steps"),
    (["sample", "{run}", "--out", "{run}"], "is a folder"),
    (["sample", "{run}", "-n", "10000000000000"], "not enough memory"),
    (["sample", "{run}/config.yaml"], "is a file, not a run folder"),
    (["train", "realnvp", "--data", "ring8", "--out", "{run}/config.yaml/sub"], "is a file, not a folder"),
    (["train", "realnvp", "--data", "ring8", "--steps", "1", "--no-progress", "--out", "/proc/genzoo-run"],
     "cannot make the run folder"),
    (["train", "--resume", "--out", "{run}", "--steps", "9", "--data", "moons"], "trained on ring8"),
    (["train", "realnvp", "--data", "ring8", "--out", "{tmp}/t", "--set", "model.seed=1"], "train setting"),
    (["train", "realnvp", "--data", "ring8", "--out", "{tmp}/t", "--set", "train.n_blocks=1"], "model setting"),
    (["train", "realnvp", "--data", "ring8", "--out", "{tmp}/t", "--set", "model.hidden=[1,"], "column 4"),
    (["train", "realnvp", "--data", "ring8", "--out", "{tmp}/t", "--set", "model.act=*x"], "alias"),
    (["train", "realnvp", "--data", "ring8", "--out", "{tmp}/t", "--set", "mo\nd.x=1"], "mo\\nd.x"),
])
def test_one_line(capsys, run, tmp_path, argv_tail, needle):
    argv = [a.format(run=run, tmp=tmp_path).replace("\\n", "\n") for a in argv_tail]
    one_line_error(capsys, argv, needle)


def test_model_folder_naming_another_model(capsys, run, tmp_path):
    import json
    import shutil

    from genzoo.errors import CheckpointError
    from genzoo.models import load

    other = tmp_path / "mixed"
    shutil.copytree(run, other)
    cfg = other / "model" / "config.json"
    meta = json.loads(cfg.read_text())
    meta["model"] = "glow"
    cfg.write_text(json.dumps(meta))
    err = one_line_error(capsys, ["sample", str(other), "--out", str(tmp_path / "s.png")], '"glow"', '"realnvp"')
    assert "Did you mean" not in err
    with pytest.raises(CheckpointError, match='does not fit model "glow"') as e:
        load(other / "model")
    assert "Did you mean" not in str(e.value)


def test_resume_checks_come_before_any_training(capsys, run, tmp_path):
    """A resume that would do nothing, or train on other data, writes nothing to the run folder."""
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    one_line_error(capsys, ["train", "--resume", "--out", str(run), "--steps", "3"], "--steps 3", "already at step 3")
    one_line_error(capsys, ["train", "--resume", "--out", str(run), "--data", "shakespeare"], "trained on ring8")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_bad_sample_path_is_named_before_sampling(capsys, run, tmp_path, monkeypatch):
    import genzoo.train.run as gr

    def no_load(*a, **k):  # the output check must not need the model
        raise AssertionError("model loaded before the --out check")

    monkeypatch.setattr(gr, "load_run_model", no_load)
    one_line_error(capsys, ["sample", str(run), "--out", str(tmp_path / "s.jpg")], "PNG only")


@pytest.mark.parametrize("edit,needle", [
    (lambda m: m.update(config=[1]), "must be mappings"),
    (lambda m: m.update(config=None), "must be mappings"),
    (lambda m: m.update(extra_state=[1]), "must be mappings"),
    (lambda m: m["config"].update(data_shape=[3]), "size mismatch"),
    (lambda m: m["config"].update(seed=1), 'unknown key "seed"'),
])
def test_corrupt_model_config(capsys, run, tmp_path, edit, needle):
    import json
    import shutil

    other = tmp_path / "corrupt"
    shutil.copytree(run, other)
    cfg = other / "model" / "config.json"
    meta = json.loads(cfg.read_text())
    edit(meta)
    cfg.write_text(json.dumps(meta))
    err = one_line_error(capsys, ["sample", str(other), "--out", str(tmp_path / "s.png")], needle)
    assert "Did you mean" not in err
