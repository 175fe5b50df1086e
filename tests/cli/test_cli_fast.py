"""The CLI's fast paths: `--version`, `--help`, `list` and `info` import no torch; the catalog behind `list` matches
the registered classes; every sub-command's description is whole sentences; `genzoo info` on a run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genzoo.cli import main

NO_TORCH = """
import sys
from genzoo.cli import main
try:
    main({args!r})
except SystemExit:
    pass
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["list"], ["list", "data"], ["info", "nowhere"]])
def test_fast_commands_import_no_torch(args):
    r = subprocess.run([sys.executable, "-c", NO_TORCH.format(args=args)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr


def test_catalog_matches_the_registered_classes():
    from genzoo.catalog import DATA, MODELS, current

    models, data = current()
    assert (MODELS, DATA) == (models, data), \
        "genzoo/catalog.py is out of date with the registered models: run `python -m genzoo.catalog`"


def test_list_shows_data_kinds(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "data" in out.splitlines()[1] and "image, points" in out


def test_descriptions_are_whole_sentences():
    from genzoo.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        d = (p.description or "").strip()
        assert d.endswith((".", ".)")), f"genzoo {name}: description cut mid-sentence: {d!r}"


def test_info_summarises_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "realnvp", "--data", "ring8", "--steps", "4", "--out", str(run), "--no-progress",
                 "--set", "model.n_blocks=2", "--set", "train.batch_size=16"]) == 0
    capsys.readouterr()
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert "realnvp on ring8" in out and "4 of 4 done" in out and "nats/dim" in out
    assert f"genzoo train --resume --out {run}" in out
    assert main(["info", str(run), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["steps_done"] == 4 and info["final_model"] and info["checkpoints"][0]["step"] == 4


def test_info_on_a_bad_folder_is_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a genzoo run folder" in err
