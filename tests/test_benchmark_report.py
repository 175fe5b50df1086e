"""benchmarks/report.py: docs/benchmarks.md's ratios are per-round genzoo / reference ratios, min / median / max.

Recorded results are faked in a temporary docs/results: the rows must carry the ratios computed by hand from the
per-round rates (not the ratio of the medians, which differs on these numbers), and a missing result is absent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import report  # noqa: E402


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RES", tmp_path)
    (tmp_path / "vae").mkdir()
    rates = {"trainer": [10.0, 9.0, 12.0], "plain": [10.0, 10.0, 10.0]}
    (tmp_path / "vae" / "vae_overhead.json").write_text(json.dumps(
        {"rates": rates, "command": "python benchmarks/trainer_overhead.py", "machine": "m | 2 CPUs", "date": "d"}))
    (tmp_path / "classical").mkdir()
    rows = [{"implementation": "scikit-learn (float64)", "all_cpu_s": [4.0, 6.0, 3.0]},
            {"implementation": "genzoo (float32)", "all_cpu_s": [1.0, 4.0, 1.0]}]
    (tmp_path / "classical" / "gmm_speed.json").write_text(json.dumps({"rows": rows, "command": "c", "date": "d"}))
    return tmp_path


def test_rows_are_min_median_max_of_per_round_ratios(results):
    (vae,) = report.trainer()
    assert vae["ratio"] == {"min": 0.9, "median": 1.0, "max": 1.2}
    assert vae["met"] is True  # median 1.0 >= 0.95
    (gmm,) = report.gmm()
    assert gmm["ratio"] == {"min": 1.5, "median": 3.0, "max": 4.0}  # 4/1, 6/4, 3/1; medians' ratio would be 4
    assert report.flows() == [] and report.diffusion() == []  # not recorded: no row


def test_the_markdown_names_command_machine_and_goals(results, tmp_path):
    path = report.write_report(tmp_path / "benchmarks.md")
    text = path.read_text()
    assert "0.90 / **1.00** / 1.20" in text and "1.50 / **3.00** / 4.00" in text
    assert "`python benchmarks/trainer_overhead.py`" in text and "m ; 2 CPUs" in text  # no stray table cell
    assert "No GPU" in text and "## The speed goals" in text and "Not recorded yet" in text
