"""docs/data.md documents every public name of genzoo.data and the shipped files' checksums."""

from pathlib import Path

import genzoo.data as gd
from genzoo.data.idx import read_checksums
from genzoo.data.mnist import MNIST10K
from genzoo.data.text import SHAKESPEARE

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def test_every_public_name_is_in_docs_data():
    text = DOCS.read_text(encoding="utf-8")
    missing = [n for n in gd.__all__ if f"`{n}" not in text]
    assert not missing, f"docs/data.md does not document {missing}"
    assert "`no_such_loader_xyz" not in text  # the other side: the check can fail


def test_docs_list_the_shipped_checksums():
    text = DOCS.read_text(encoding="utf-8")
    sums = {**read_checksums(MNIST10K / "SHA256SUMS"), **read_checksums(SHAKESPEARE.parent / "SHA256SUMS")}
    assert len(sums) == 5
    for name, h in sums.items():
        assert h in text, f"docs/data.md lacks the SHA-256 of {name}"
    assert "0" * 64 not in text
