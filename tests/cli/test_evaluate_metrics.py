"""`genzoo evaluate RUN --metrics ... --samples N`: the records land in the run's JSON with their protocol; bad
names are one line with exit code 2."""

from __future__ import annotations

import json

import pytest

from genzoo.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    quick = ["--steps", "3", "--no-progress", "--set", "train.batch_size=16", "--set", "train.eval_batches=1",
             "--set", "model.hidden=[8]", "--set", "model.latent_dim=2"]
    assert main(["train", "vae", "--data", "ring8", "--out", str(root / "pts"), *quick,
                 "--set", "model.decoder=gaussian"]) == 0
    assert main(["train", "vae", "--data", "mnist", "--out", str(root / "img"), *quick]) == 0
    return root


def test_points_run_gets_its_metrics(runs, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(runs / "pts"), "--metrics", "nll,mmd,modes,precision", "--samples", "300",
                 "--k", "2", "--max-examples", "50", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["metrics"]) == {"mmd", "modes", "precision"} and res["n"] == 50
    assert res["metrics"]["mmd"]["n_samples"] == 300 and res["metrics"]["precision"]["k"] == 3
    assert res["metrics"]["modes"]["n_modes"] == 8
    saved = json.loads((runs / "pts" / "eval_test.json").read_text())
    assert saved["metrics"]["mmd"]["value"] == res["metrics"]["mmd"]["value"]


def test_image_run_prints_every_applicable_metric(runs, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(runs / "img"), "--samples", "100", "--k", "2", "--max-examples", "20"]) == 0
    out = capsys.readouterr().out
    for name in ("NLL", "fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classifier"):
        assert name in out, name
    assert "mnist-classifier" in out and "100 samples" in out
    rec = json.loads((runs / "img" / "eval_test.json").read_text())["metrics"]["fid"]
    assert rec["features"] == "mnist-classifier" and len(rec["features_sha256"]) == 64


@pytest.mark.parametrize("args,needle", [(["--metrics", "fidd"], "fid"), (["--metrics", ","], "at least one"),
                                         (["--metrics", "fid"], "does not apply"), (["--samples", "0"], "--samples")])
def test_bad_metric_requests_are_one_line(runs, capsys, args, needle):
    capsys.readouterr()
    assert main(["evaluate", str(runs / "pts"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]
