"""Help texts of the sub-commands: whole sentences taken from each command module's docstring."""

from __future__ import annotations


def description(doc: str | None) -> str:
    """The first paragraph of a docstring as one line (whole sentences, never cut mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())
