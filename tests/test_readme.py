"""The README's code example runs (with fewer steps) and each of its command lines parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = blocks("python")
    assert "steps=2000" in code
    ns: dict = {}
    exec(compile(code.replace("steps=2000", "steps=20"), "README.md", "exec"), ns)
    assert (tmp_path / "runs/flow/model/model.safetensors").is_file()
    assert ns["same"].log_prob(ns["test"].x[:5]).tolist() == ns["flow"].log_prob(ns["test"].x[:5]).tolist()


def test_readme_command_lines_parse():
    from genzoo.cli import build_parser

    parser = build_parser()
    lines = [ln.split("#")[0].strip() for b in blocks("bash") for ln in b.splitlines()]
    cmds = [shlex.split(ln)[1:] for ln in lines if ln.startswith("genzoo ")]
    assert len(cmds) >= 6
    for argv in cmds:
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # argparse exits on an unknown option
            pytest.fail(f"README command does not parse: genzoo {' '.join(argv)}")
        assert getattr(args, "func", None), argv
