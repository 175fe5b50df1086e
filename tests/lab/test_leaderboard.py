"""The leaderboard: its plan is validated before anything trains, a finished run with the same settings is reused,
a failing family is a row with its error, the likelihood columns say what they measure, and the CLI answers bad
input with one line (exit 2)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.lab import leaderboard as lb
from genzoo.lab.leaderboard_report import merge_records, write_report

GMM = lb.BoardEntry("gmm", "gmm", {"components": 8}, {}, "points", "exact")


def _tiny(monkeypatch, entries):
    monkeypatch.setitem(lb.BOARDS, "toy2d", entries)
    monkeypatch.setattr(lb, "N_SAMPLES", 300)
    monkeypatch.setattr(lb, "TOY_REFERENCE", 500)


def test_plan_is_validated_before_training():
    with pytest.raises(GenzooError, match="leaderboard"):
        lb.plan("cifar")
    with pytest.raises(GenzooError, match="(?i)did you mean"):
        lb.plan("mnist", families=["vea"])
    with pytest.raises(GenzooError, match="budget"):
        lb.plan("mnist", budget=0)
    with pytest.raises(GenzooError, match="toy 2-D"):
        lb.plan("toy2d", sets=["ring9"])
    runs = lb.plan("toy2d", families=["flow"], sets=["ring8", "moons"], seeds=[0, 1])
    assert {r.entry.model for r in runs} == {"realnvp", "maf"} and len(runs) == 8


def test_every_mnist_entry_declares_a_column_its_model_can_fill():
    """The column of each entry matches its model's declaration: no likelihood claimed for a model without one,
    and binarized nats only for models of binary pixels, bits/dim only for densities on dequantized data."""
    from genzoo.models import get_class

    for e in lb.MNIST_ENTRIES:
        cls = get_class(e.model)
        assert "image" in cls.data_kinds, e.name
        if e.nll is None:
            continue
        assert cls.likelihood != "none", e.name
        assert e.nll in ("nats", "bpd") and e.nll_kind in ("exact", "bound", "estimate"), e.name
        if cls.likelihood == "bound":
            assert e.nll_kind == "bound", e.name
    assert {get_class(e.model).family for e in lb.MNIST_ENTRIES} >= {"vae", "flow", "gan", "diffusion",
                                                                     "autoregressive", "energy", "sparse", "hybrid"}
    assert {get_class(e.model).family for e in lb.TOY_ENTRIES} >= {"classical", "continuous", "flow", "gan"}


def test_key_changes_with_anything_that_decides_the_result():
    r = lb.BoardRun("toy2d", "ring8", GMM, 0, 0.1)
    assert r.key() == lb.BoardRun("toy2d", "ring8", GMM, 0, 0.1).key()
    for other in (replace(r, seed=1), replace(r, budget=0.2), replace(r, data="moons"),
                  replace(r, entry=replace(GMM, config={"components": 9}))):
        assert other.key() != r.key()


def test_toy_board_run_reuse_and_failure_row(tmp_path, monkeypatch):
    bad = lb.BoardEntry("broken", "realnvp", {"n_blocks": 2, "hidden": [8]}, {"lr": -1.0}, "points", "exact")
    _tiny(monkeypatch, [GMM, bad])
    out, runs = tmp_path / "docs", tmp_path / "runs"
    recs = lb.leaderboard("toy2d", budget=0.01, sets=["ring8"], out=out, runs=runs, isolate=False, progress=False)
    good, failed = recs
    assert "error" in failed and "lr" in failed["error"] and "\n" not in failed["error"]
    # the likelihood column: exact nats on held-out points against the entropy of the ring
    from genzoo.data.toy import toy2d_entropy

    nll = good["nll"]
    assert nll["unit"] == "nats/example" and nll["kind"] == "exact" and nll["n"] == 1000
    assert nll["floor"] == pytest.approx(toy2d_entropy("ring8"))
    assert math.isfinite(nll["gap"]) and nll["gap"] > -0.2  # a fitted model cannot beat the entropy by much
    assert good["metrics"]["mmd"]["n_samples"] == 300 and "modes" in good["metrics"]
    assert good["steps"] > 0 and good["parameters"] > 0 and good["peak_memory_mib"] > 0
    md = (out / "leaderboard.md").read_text()
    assert "### ring8" in md and "failed:" in md and "gmm" in md
    assert (out / "leaderboard" / "toy2d" / "ring8_gmm.png").is_file()
    store = json.loads((out / "leaderboard.json").read_text())["records"]
    assert set(store) == {"toy2d|ring8|gmm|0", "toy2d|ring8|broken|0"}
    # second call: the finished run is reused (same record, nothing retrained); the failed one is tried again
    lines = []
    again = lb.leaderboard("toy2d", budget=0.01, sets=["ring8"], out=out, runs=runs, isolate=False, progress=False,
                           log=lines.append)
    assert again[0]["date"] == good["date"] and lines[0].endswith("reused") and "failed" in lines[1]
    # another budget is another run
    third = lb.leaderboard("toy2d", families=["gmm"], budget=0.02, sets=["ring8"], out=out, runs=runs,
                           isolate=False, progress=False)
    assert third[0]["key"] != good["key"]


def test_isolated_run_in_its_own_process(tmp_path, monkeypatch):
    _tiny(monkeypatch, [GMM])
    # the child reads the module constants afresh, so the plan here uses the default sample count: keep it small
    rec = lb._run_isolated(lb.BoardRun("toy2d", "ring8", GMM, 0, 0.01), tmp_path / "run", tmp_path / "pics", 600)
    assert "error" not in rec, rec.get("error")
    assert rec["nll"]["unit"] == "nats/example" and rec["peak_memory_mib"] > 0
    assert json.loads((tmp_path / "run" / "record.json").read_text())["key"] == rec["key"]


def test_report_keeps_columns_apart(tmp_path):
    base = {"board": "mnist", "data": "mnist", "seed": 0, "family": "f", "parameters": 1, "steps": 1,
            "train_cpu_seconds": 1.0, "sample_seconds": 1.0, "peak_memory_mib": 1.0,
            "metrics": {"fid": {"value": 10.0}}}
    recs = [{**base, "entry": "a", "nll": {"value": 90.0, "se": 0.5, "unit": "nats/example", "kind": "bound",
                                           "note": "k = 500", "n": 1000}},
            {**base, "entry": "b", "nll": {"value": 1.2, "se": 0.01, "unit": "bits/dim", "kind": "exact", "note": "",
                                           "n": 1000}},
            {**base, "entry": "c", "nll": None}]
    merge_records(tmp_path / "leaderboard.json", recs)
    md = write_report(tmp_path).read_text()
    row = {ln.split("|")[1].strip(): ln.split("|") for ln in md.splitlines() if ln.startswith("| ")}
    assert "90.000" in row["a"][3] and "bound; k = 500" in row["a"][3] and row["a"][4].strip() == ""
    assert row["b"][3].strip() == "" and "1.200" in row["b"][4] and "exact" in row["b"][4]
    assert row["c"][3].strip() == "" and row["c"][4].strip() == ""


@pytest.mark.parametrize("argv", [["leaderboard", "--data", "cifar"], ["leaderboard"],
                                  ["leaderboard", "--data", "mnist", "--families", "vea"],
                                  ["leaderboard", "--data", "mnist", "--seeds", "a"],
                                  ["leaderboard", "--data", "mnist", "--budget", "-1"]])
def test_cli_bad_input_is_one_line(argv, capsys, tmp_path):
    code = main(argv + ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len([ln for ln in err.strip().splitlines() if "error" in ln]) == 1
    assert not (tmp_path / "leaderboard.json").exists()


def test_cli_names_the_boards_the_library_defines():
    from genzoo.cli import leaderboard as cli

    assert cli.BOARDS == tuple(lb.BOARDS) and cli.DEFAULT_BUDGET == lb.DEFAULT_BUDGET
