"""docs/math.md documents every public function of genzoo.math, and every function has a docstring with a formula."""

import inspect
import re
from pathlib import Path

import genzoo.math as gm

DOCS = Path(__file__).resolve().parents[2] / "docs" / "math.md"


def documented(name: str, text: str) -> bool:
    return f"`{name}" in text


def test_every_public_name_is_in_docs_math():
    text = DOCS.read_text(encoding="utf-8")
    missing = [n for n in gm.__all__ if not documented(n, text)]
    assert not missing, f"docs/math.md does not document {missing}"
    assert not documented("no_such_function_xyz", text)  # the other side: the check can fail


def has_formula_and_source(doc: str) -> bool:
    return "=" in doc and re.search(r"\b(19|20)\d\d\b", doc) is not None


def test_every_public_function_has_a_docstring_with_formula_and_source():
    for name in gm.__all__:
        obj = getattr(gm, name)
        if inspect.isfunction(obj):
            assert has_formula_and_source(inspect.getdoc(obj) or ""), f"{name}: docstring lacks a formula or a source"
    assert not has_formula_and_source("Returns the thing.")  # the other side
