"""`genzoo analyze RUN` and `genzoo train --diagnostics`: the figures that apply, their numbers, one-line errors."""

import json

import pytest

from genzoo.cli import main


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    for n in needles:
        assert n in err[0], err[0]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gan") / "run"
    argv = ["train", "gan", "--data", "ring8", "--out", str(run), "--steps", "40", "--no-progress",
            "--set", "model.g_hidden=[16,16]", "--set", "model.d_hidden=[16,16]",
            "--diagnostics", "gan,gradients,modes", "--diagnostics-every", "20"]
    assert main(argv) == 0
    return run


def test_train_diagnostics_are_recorded_and_analyzed(gan_run, capsys):
    for name in ("gan", "gradients", "modes"):
        lines = (gan_run / "diagnostics" / f"{name}.jsonl").read_text().splitlines()
        assert [json.loads(x)["step"] for x in lines] == [10, 30]
    capsys.readouterr()
    assert main(["analyze", str(gan_run)]) == 0
    out = capsys.readouterr()
    res = json.loads((gan_run / "analysis" / "analysis.json").read_text())
    assert set(res["analyses"]) == {"gan", "gradients", "modes"}
    assert set(res["skipped"]) >= {"posterior", "ood"}
    for name in ("gan", "gradients", "modes"):
        assert (gan_run / "analysis" / f"{name}.png").stat().st_size > 1000
        assert str(gan_run / "analysis" / f"{name}.png") in out.out
    assert len(res["analyses"]["gan"]["history"]) == 2
    assert (gan_run / "analysis" / "report.html").is_file() and (gan_run / "analysis" / "report.md").is_file()


def test_resume_keeps_the_recorded_diagnostics(gan_run, capsys):
    assert main(["train", "--resume", "--out", str(gan_run), "--steps", "60", "--no-progress"]) == 0
    steps = [json.loads(x)["step"] for x in (gan_run / "diagnostics" / "gan.jsonl").read_text().splitlines()]
    assert steps[:2] == [10, 30] and steps[-1] >= 50


def test_analyze_only_and_errors(gan_run, tmp_path, capsys):
    assert main(["analyze", str(gan_run), "--only", "gradients"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(gan_run), "--only", "posterior"]) == 2
    _one_line(capsys, "posterior does not apply", "encode")
    assert main(["analyze", str(gan_run), "--only", "gradient"]) == 2
    _one_line(capsys, 'Did you mean "gradients"')
    assert main(["analyze", str(tmp_path / "nope")]) == 2
    _one_line(capsys, "no such run folder")
    assert main(["analyze", "--list"]) == 0
    assert "posterior" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needles", [
    (["--diagnostics", "posterior"], ["posterior diagnostic", "encode"]),
    (["--diagnostics", "modez"], ['Did you mean "modes"']),
    (["--diagnostics", ","], ["at least one"]),
    (["--diagnostics-every", "5"], ["needs --diagnostics"]),
])
def test_train_diagnostics_bad_input_writes_nothing(argv, needles, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "gan", "--data", "ring8", "--out", str(run), "--steps", "2", "--no-progress", *argv]) == 2
    _one_line(capsys, *needles)
    assert not (run / "checkpoints").exists()
