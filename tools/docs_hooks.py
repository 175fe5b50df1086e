"""MkDocs hooks of the documentation site (mkdocs.yml `hooks:`): the API reference pages, written at build time.

Every module of genzoo with a public API gets the page `reference/<module>.md` (the module path without the
`genzoo.` prefix): the top-level modules and subpackages of `src/genzoo/` (the CLI excepted: docs/cli.md is its
page) and the family modules of `genzoo.models.registry.FAMILY_MODULES`. A page documents exactly the module's
public names: its `__all__`, or, where it has none, the functions and classes it defines whose names do not start
with "_". So a new public name appears by itself, and a new module needs only its line in mkdocs.yml's `nav` (the
strict build fails until the page is in the navigation). The hand-written `docs/reference/index.md` gets the table of
modules (each with the first line of its docstring) in place of its `<!-- modules -->` line.

Names are read from the source with `ast` (no import of torch at build time); tests/docs/test_docs_site.py checks
them against the imported modules' `__all__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "genzoo"
SKIP = {"cli", "__main__", "__init__"}  # the CLI is documented in docs/cli.md


def module_file(module: str) -> Path:
    """The source file of a dotted module name under src/ (a package's __init__.py)."""
    path = ROOT / "src" / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _tree(module: str) -> ast.Module:
    return ast.parse(module_file(module).read_text(encoding="utf-8"))


def public_names(module: str) -> list[str]:
    """The module's `__all__` if it assigns one (a literal list or tuple, extended by any `__all__ += [...]`), else
    the functions and classes it defines whose names do not start with an underscore (in source order)."""
    tree = _tree(module)
    names: list[str] | None = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            continue
        if isinstance(node, ast.AugAssign):
            names = (names or []) + list(ast.literal_eval(node.value))
        else:
            names = list(ast.literal_eval(node.value))
    if names is not None:
        return names
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]


def summary(module: str) -> str:
    """The first line of the module's docstring (empty if it has none)."""
    doc = ast.get_docstring(_tree(module)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def family_modules() -> list[str]:
    """`FAMILY_MODULES` of genzoo.models.registry, read from its source."""
    for node in _tree("genzoo.models.registry").body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "FAMILY_MODULES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("genzoo.models.registry has no FAMILY_MODULES")


def reference_modules() -> list[str]:
    """Every module that gets a reference page: genzoo's top-level modules and subpackages (sorted), then the model
    families in registry order."""
    top = sorted(p.stem if p.suffix == ".py" else p.name for p in PACKAGE.iterdir()
                 if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem not in SKIP)
    return [f"genzoo.{name}" for name in top] + family_modules()


def page_path(module: str) -> str:
    """reference/math.md for genzoo.math, reference/models.vae.md for genzoo.models.vae."""
    return f"reference/{module.removeprefix('genzoo.')}.md"


def page_markdown(module: str) -> str:
    """A reference page: the module's docstring (as written) and one section per public name."""
    members = ", ".join(f'"{name}"' for name in public_names(module))
    return (f"# `{module}`\n\n"
            f"::: {module}\n"
            f"    options:\n"
            f"      members: [{members}]\n")


def modules_table(modules: list[str]) -> str:
    """The Markdown table of reference/index.md: module (linked), number of public names, docstring summary."""
    rows = "\n".join(f"| [`{m}`]({page_path(m).removeprefix('reference/')}) | {len(public_names(m))} | "
                     f"{summary(m).replace('|', '/')} |" for m in modules)
    return "| module | public names | what it is |\n|---|---|---|\n" + rows + "\n"


def on_files(files, config):
    """Add the generated reference pages to the site's files."""
    modules = reference_modules()
    for module in modules:
        files.append(File.generated(config, page_path(module), content=page_markdown(module)))
    return files


def on_page_markdown(markdown, page, config, files):
    """Put the table of modules into reference/index.md."""
    if page.file.src_uri == "reference/index.md":
        return markdown.replace("<!-- modules -->", modules_table(reference_modules()))
    return markdown
