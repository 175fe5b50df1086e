"""`genzoo demo` on a patched job table: tiny models, fake data, report files."""

from __future__ import annotations

import pytest
from cli_toys import MODEL, CliGauss, fake_available, fake_get

import genzoo.data
from genzoo.cli import demo as demo_mod
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


def test_demo_writes_self_contained_report(tmp_path, monkeypatch, capsys):
    jobs = [
        demo_mod.DemoJob("gauss-blobs", MODEL, "blobs", train_config={"batch_size": 16}, steps=5, quick_steps=3,
                         pictures=("samples", "reconstructions", "loss")),
        demo_mod.DemoJob("gauss-img", MODEL, "tinyimg", train_config={"batch_size": 16}, steps=5, quick_steps=3,
                         pictures=("samples", "interpolations", "loss")),
        demo_mod.DemoJob("missing", "no-such-model", "blobs"),
    ]
    if "vae" in available():
        jobs.append(demo_mod.DemoJob("vae-img", "vae", "tinyimg", model_config={"latent_dim": 2, "hidden": [8]},
                                     train_config={"batch_size": 16}, steps=5, quick_steps=3,
                                     pictures=("samples", "reconstructions", "interpolations", "loss"),
                                     eval_kwargs={"k": 5}))
    monkeypatch.setattr(demo_mod, "JOBS", jobs)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "gauss-blobs" in html and "NLL (nats/example)" in html and "bits/dim" in html
    assert "no-such-model" in html and "is not registered" in html
    assert "](gauss-blobs/pictures/samples.png)" in md and "](gauss-img/loss.png)" in md
    assert (out / "gauss-img" / "pictures" / "samples.png").is_file()
    if "vae" in available():
        assert (out / "vae-img" / "pictures" / "interpolations.png").is_file()
        assert (out / "vae-img" / "pictures" / "reconstructions.png").is_file()
    # re-running replaces the previous demo runs
    assert main(["demo", "--out", str(out), "--quick", "--only", "gauss-blobs"]) == 0
    assert main(["demo", "--only", "gauss-blobz"]) == 2
    assert 'Did you mean "gauss-blobs"' in capsys.readouterr().err


def test_demo_table_rows_are_well_formed():
    names = [j.name for j in demo_mod.JOBS]
    assert len(names) == len(set(names))
    allowed = {"samples", "reconstructions", "interpolations", "density", "passage", "loss"}
    for j in demo_mod.JOBS:
        assert set(j.pictures) <= allowed and j.quick_steps <= j.steps


def test_the_real_demo_table_runs_in_quick_mode(tmp_path, monkeypatch):
    """Every row of the shipped table (real models, real data) trains, evaluates and draws in quick mode."""
    monkeypatch.undo()  # the real genzoo.data, not the fakes of the fixture
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    md = (out / "report.md").read_text()
    assert "failed:" not in md and "skipped:" not in md
    for job in demo_mod.JOBS:
        assert f"## {job.name}:" in md
        for pic in job.pictures:
            if pic == "passage":  # generated text, shown verbatim in the report
                assert f"generated tokens after the prompt {job.prompt!r}" in md, job.name
            elif pic != "loss":
                assert (out / job.name / "pictures" / f"{pic}.png").is_file(), (job.name, pic)
    assert "grid mass" not in md  # the mass is in the picture's title; the table has the numbers
    assert "modes covered (2500 samples)" in md and "NLL (nats/example)" in md and "bits/dim" in md
