"""Every tutorial script in examples/ runs at its smoke budget, draws its picture and reloads what it saved; the
tutorial pages docs/examples/*.md are what tools/example_pages.py writes from the scripts.

Each script asserts itself that the saved and loaded model gives identical numbers (log p(x), or samples from the
same seed); here, beyond running, the numbers a smoke budget already pins down are checked: the GMM's held-out
NLL sits at the grid's entropy floor (an exact likelihood of a mixture fitted by EM from k-means++), and a page
that differs from its script by one character is reported stale.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import example_pages  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", example_pages.names())
def test_example_runs_at_smoke_budget(name, tmp_path, capsys):
    t0 = time.perf_counter()
    result = load_example(name).main(["--smoke", "--out", str(tmp_path)])
    seconds = time.perf_counter() - t0
    picture = Path(result["picture"])
    assert picture == tmp_path / f"{name}.png" and picture.read_bytes()[:8] == PNG
    assert "saved and loaded" in capsys.readouterr().out or name == "leaderboard"
    with capsys.disabled():
        print(f" {name}: {seconds:.1f} s", end="")
    if name == "classical":
        import genzoo.data

        floor = genzoo.data.toy2d_entropy("grid25")
        assert abs(result["nll"] - floor) < 0.1, (result["nll"], floor)
        assert abs(result["nll"] - genzoo.data.toy2d_entropy("ring8")) > 0.1  # another set's floor is far off
    if name == "leaderboard":
        (record,) = result["records"]
        assert record["entry"] == "gmm" and record["nll"]["kind"] == "exact"
        assert abs(record["nll"]["gap"]) < 0.1  # held-out NLL minus the ring's entropy


def test_every_example_has_its_page_and_place():
    names = example_pages.names()
    assert [n for n, _ in example_pages.ORDER] and sorted(n for n, _ in example_pages.ORDER) == names
    assert {"vae", "flows", "gans", "diffusion", "autoregressive", "transformer", "energy", "sparse", "classical",
            "continuous", "hybrid", "ising", "leaderboard"} <= set(names)
    nav = (ROOT / "mkdocs.yml").read_text()
    stale = [n for n in names if (ROOT / "docs/examples" / f"{n}.md").read_text() != example_pages.page(n)]
    assert stale == [], f"pages out of date, run: python tools/example_pages.py --pages-only ({stale})"
    assert (ROOT / "docs/examples/index.md").read_text() == example_pages.index()
    for n in names:
        assert f"examples/{n}.md" in nav, f"mkdocs.yml nav has no line for examples/{n}.md"
        assert (ROOT / "docs/examples/pictures" / f"{n}.png").read_bytes()[:8] == PNG, f"no picture for {n}"
    # a page that differs from its script by one character is stale
    assert example_pages.page("vae").replace("latent_dim=16", "latent_dim=17") != example_pages.page("vae")
