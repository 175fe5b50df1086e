"""The documentation site builds in strict mode, and its API reference documents exactly each module's public names.

One strict build of the whole site (mkdocs.yml, as `make docs` runs it) into a temporary folder; then:
- for every module with a reference page (genzoo's top-level modules and subpackages, the CLI excepted, and the model
  families of FAMILY_MODULES), the names the built objects inventory lists on that page equal the module's
  `__all__` (or, without one, the public functions and classes it defines), found by importing the module;
- every picture the pages show exists in the site;
- a tiny site with the same settings fails to build when a link is broken, a page is missing from the navigation
  or a cross-reference does not resolve, and builds when none is (so the strict settings are the ones that fail).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from griffe_extensions import keep_line_breaks  # noqa: E402


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    t0 = time.perf_counter()
    r = mkdocs_build(ROOT / "mkdocs.yml", out)
    print(f"strict site build: {time.perf_counter() - t0:.1f} s")
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    return out


def reference_modules() -> list[str]:
    """Found by import: genzoo's top-level modules and subpackages except the CLI, then FAMILY_MODULES."""
    import genzoo
    from genzoo.models.registry import FAMILY_MODULES

    top = sorted(m.name for m in pkgutil.iter_modules(genzoo.__path__) if m.name not in ("cli", "__main__"))
    return [f"genzoo.{name}" for name in top] + list(FAMILY_MODULES)


def expected_names(module: str) -> set[str]:
    """`__all__`, or the public functions and classes the module defines."""
    mod = importlib.import_module(module)
    if hasattr(mod, "__all__"):
        return set(mod.__all__)
    return {name for name, obj in vars(mod).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module}


def documented_names(site: Path) -> dict[str, set[str]]:
    """{module: names listed in objects.inv as direct children of the module on the module's own page}."""
    from mkdocstrings import Inventory

    with open(site / "objects.inv", "rb") as f:
        inventory = Inventory.parse_sphinx(f)
    out: dict[str, set[str]] = {}
    for name, item in inventory.items():
        module, _, short = name.rpartition(".")
        page = item.uri.split("#")[0]
        if page == f"reference/{module.removeprefix('genzoo.')}/":
            out.setdefault(module, set()).add(short)
    return out


def name_differences(expected: dict[str, set[str]], documented: dict[str, set[str]]) -> list[str]:
    return [f"{m}: missing {sorted(want - documented.get(m, set()))}, extra {sorted(documented.get(m, set()) - want)}"
            for m, want in expected.items() if documented.get(m, set()) != want]


def test_reference_documents_exactly_the_public_names(site):
    expected = {m: expected_names(m) for m in reference_modules()}
    assert "genzoo.math" in expected and "genzoo.models.vae" in expected and "genzoo.cli" not in expected
    assert len(expected["genzoo.math"]) > 50 and "gaussian_kl" in expected["genzoo.math"]
    documented = documented_names(site)
    assert name_differences(expected, documented) == []
    # the check can fail: a name left out of a page (or an extra one) is reported
    short = {**documented, "genzoo.math": documented["genzoo.math"] - {"gaussian_kl"}}
    assert name_differences(expected, short) == ["genzoo.math: missing ['gaussian_kl'], extra []"]
    extra = {**documented, "genzoo.nn": documented["genzoo.nn"] | {"_private"}}
    assert name_differences(expected, extra) == ["genzoo.nn: missing [], extra ['_private']"]


def test_hook_reads_the_same_names_from_source():
    import docs_hooks

    assert docs_hooks.reference_modules() == reference_modules()
    for module in reference_modules():
        assert set(docs_hooks.public_names(module)) == expected_names(module), module


def test_formulas_keep_their_lines(site):
    html = (site / "reference/math/index.html").read_text()
    start = html.index('id="genzoo.math.gaussian_kl"')
    doc = html[start:html.index("</div>", html.index("doc-contents", start))]
    # the formula and the prior's closed form stay on lines of their own, underscores and stars shown as written
    assert "KL = 1/2 sum_i [ logvar_p - logvar_q + (e^logvar_q + (mu_q - mu_p)^2) / e^logvar_p - 1 ]<br" in doc
    assert "never e^logvar_q * e^-logvar_p" in doc
    assert "<em>" not in doc


def test_keep_line_breaks():
    text = "Title line.\n\nx = a_i * b_j\n<y> and `c_1 * d`\n\n    code_x * 2\n    more\n```\nz_1 * z_2\n```"
    out = keep_line_breaks(text).splitlines()
    assert out[2] == "x = a\\_i \\* b\\_j  "             # escaped, hard line break before the next prose line
    assert out[3] == "&lt;y> and `c_1 * d`"              # code span kept; the last line of the paragraph: no break
    assert out[5:7] == ["    code_x * 2", "    more"]     # indented block untouched
    assert out[8] == "z_1 * z_2"                         # fenced code untouched
    assert keep_line_breaks("a\nb") != "a\nb"            # a wrong (identity) rendering would join the lines


def test_pictures_in_pages_exist(site):
    pages = list(site.rglob("index.html"))
    assert len(pages) > 40
    images = 0
    for page in pages:
        for src in re.findall(r'<img [^>]*src="([^"]+)"', page.read_text()):
            if src.startswith(("http:", "https:", "data:")):
                continue
            images += 1
            assert (page.parent / src).resolve().is_file(), f"{page.relative_to(site)}: {src}"
    assert images >= 30


def test_docs_command_lines_parse():
    from genzoo.cli import build_parser

    parser = build_parser()
    text = "".join((ROOT / "docs" / p).read_text() for p in ("index.md", "installation.md"))
    lines = [ln.split("#")[0].strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
             for ln in b.splitlines()]
    cmds = [shlex.split(ln)[1:] for ln in lines if ln.startswith("genzoo ")]
    assert len(cmds) >= 6
    for argv in cmds:
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            if argv != ["--version"] or e.code != 0:
                pytest.fail(f"docs command does not parse: genzoo {' '.join(argv)}")


PAGE_OK = "# Home\n\nSee [the other page](other.md) and [`gaussian_kl`][genzoo.math.gaussian_kl].\n"
BROKEN = {
    "none": {},
    "broken link": {"index.md": PAGE_OK + "\n[gone](missing.md)\n"},
    "page not in the navigation": {"lost.md": "# Lost\n"},
    "unresolved reference": {"index.md": PAGE_OK + "\n[no such function][genzoo.math.no_such_function]\n"},
    "broken anchor": {"index.md": PAGE_OK + "\n[gone](other.md#no-such-heading)\n"},
}


@pytest.mark.parametrize("fault", list(BROKEN))
def test_strict_settings_fail_on_faults(tmp_path, fault):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.pop("hooks", None)
    python = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    python["paths"] = [str(ROOT / "src")]
    python["options"]["extensions"] = [str(ROOT / "tools/griffe_extensions.py") + f":{name}"
                                       for name in ("ExportedNames", "PlainTextDocstrings")]
    config.update(docs_dir=str(tmp_path / "docs"), nav=[{"Home": "index.md"}, {"Other": "other.md"},
                                                        {"Math": "math.md"}])
    config.pop("extra_javascript", None)
    pages = {"index.md": PAGE_OK, "other.md": "# Other\n\n## A heading\n",
             "math.md": "# Math\n\n::: genzoo.math\n    options:\n      members: [gaussian_kl]\n", **BROKEN[fault]}
    for name, text in pages.items():
        (tmp_path / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "docs" / name).write_text(text)
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    r = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    if fault == "none":
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0, f"the strict build passed with a {fault}"
        assert "WARNING" in r.stderr, r.stderr
