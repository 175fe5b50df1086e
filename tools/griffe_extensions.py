"""griffe extensions for the API reference (mkdocs.yml, mkdocstrings `extensions`).

`ExportedNames`: a package that exports a function named like one of its submodules (`genzoo.nn.mlp`, the function
`mlp` of the module `genzoo/nn/mlp.py`) documents the function, as Python sees it after the import, not the
submodule.

`PlainTextDocstrings`: docstrings are shown as written. genzoo's docstrings are plain text, hard-wrapped, with
formulas on lines of their own (no Google / NumPy sections). Markdown would join those lines into one paragraph, so
this extension ends every prose line that another prose line follows with a Markdown hard line break (two spaces).
Fenced code, indented blocks (code examples and aligned tables, shown in monospace) and Markdown tables are left as
they are. Outside `code spans`, the characters Markdown
would read as emphasis or HTML (`*`, `_`, `<`) are escaped, so `x_i * y_j` and `<name>` print as written.
"""

from __future__ import annotations

import re

import griffe

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def escape_prose(line: str) -> str:
    """`*`, `_` and `<` outside code spans escaped for Markdown (a leading list bullet `* ` is kept)."""
    indent = line[: len(line) - len(line.lstrip())]
    body = line.lstrip()
    bullet = ""
    if body.startswith(("* ", "- ")):
        bullet, body = body[:2], body[2:]
    elif body.startswith(">"):
        bullet, body = "\\>", body[1:]
    parts, last = [], 0
    for m in _CODE_SPAN.finditer(body):
        parts.append(_escape(body[last:m.start()]))
        parts.append(m.group(0))
        last = m.end()
    parts.append(_escape(body[last:]))
    return indent + bullet + "".join(parts)


def _escape(text: str) -> str:
    return text.replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")


def keep_line_breaks(text: str) -> str:
    """The docstring with a hard line break after each prose line followed by another prose line."""
    lines = text.splitlines()
    out: list[str] = []
    in_fence = False
    in_block = False  # an indented (code) block: starts after a blank line
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        if not stripped:
            in_block = False
            out.append(line)
            continue
        if line.startswith("    ") and (in_block or i == 0 or not lines[i - 1].strip()):
            in_block = True
            out.append(line)
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        prose_follows = nxt.strip() and not nxt.strip().startswith(("```", "~~~", "|"))
        if stripped.startswith(("|", "#")):
            out.append(line)
            continue
        line = escape_prose(line)
        if prose_follows:
            line = line.rstrip() + "  "
        out.append(line)
    return "\n".join(out)


class PlainTextDocstrings(griffe.Extension):
    """Keep the line breaks of every docstring and show its characters literally (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = keep_line_breaks(obj.docstring.value)


class ExportedNames(griffe.Extension):
    """Where a package's `__all__` names a submodule that its `__init__` shadows with an imported object of the same
    name (`from genzoo.nn.mlp import mlp`), the package's member becomes that object."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for module in _modules(pkg):
            for name in module.exports or ():
                member = module.members.get(name)
                target = module.imports.get(name)
                if isinstance(member, griffe.Module) and target and target.startswith(member.path + "."):
                    obj = member.members.get(target.rpartition(".")[2])
                    if obj is not None:
                        _resolve(module)  # aliases resolved through the submodule's path before it is hidden
                        module.set_member(name, griffe.Alias(name, obj, parent=module))


def _modules(module: griffe.Module):
    yield module
    for member in list(module.members.values()):
        if isinstance(member, griffe.Module):
            yield from _modules(member)


def _resolve(module: griffe.Module) -> None:
    for member in module.members.values():
        if isinstance(member, griffe.Alias):
            try:
                member.final_target  # noqa: B018 (caches the target)
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                pass
