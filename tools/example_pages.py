"""Write the tutorial pages docs/examples/<name>.md from the scripts in examples/ (their docstring, their code, the
picture and the output of a run at the default budget).

    python tools/example_pages.py              # run every example at its default budget (minutes), then the pages
    python tools/example_pages.py vae gans     # only these
    python tools/example_pages.py --pages-only # rewrite the pages from the stored pictures and outputs

The pictures and outputs are kept in docs/examples/pictures/<name>.png and <name>.txt (with the command, machine
and date of the run); tests/test_examples.py checks that every page is what this script writes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PAGES = ROOT / "docs" / "examples"
PICTURES = PAGES / "pictures"

# (script name, title in the navigation): the order of docs/examples/index.md
ORDER = [("vae", "VAE"), ("flows", "Normalizing flows"), ("gans", "GANs"), ("diffusion", "Diffusion"),
         ("autoregressive", "Autoregressive"), ("transformer", "GPT on text"), ("energy", "Energy-based"),
         ("sparse", "Sparse coding"), ("classical", "Classical (EM)"), ("continuous", "Continuous flows"),
         ("hybrid", "Hybrid (VAE-GAN)"), ("ising", "Ising model"), ("leaderboard", "Leaderboard")]


def names() -> list[str]:
    """Every example script's name (examples/<name>.py)."""
    return sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))


def docstring(name: str) -> tuple[str, str, str]:
    """(title, description, usage lines) of examples/<name>.py, from its module docstring."""
    import ast

    doc = ast.get_docstring(ast.parse((EXAMPLES / f"{name}.py").read_text())) or name
    title, _, rest = doc.partition("\n")
    paragraphs = rest.strip().split("\n\n")
    usage = [p for p in paragraphs if p.startswith("    python ")]
    text = [p for p in paragraphs if not p.startswith("    python ")]
    return title.strip(), "\n\n".join(text), "\n".join(line[4:] for p in usage for line in p.splitlines())


def page(name: str) -> str:
    """The Markdown of docs/examples/<name>.md."""
    title, text, usage = docstring(name)
    code = (EXAMPLES / f"{name}.py").read_text()
    out = PICTURES / f"{name}.txt"
    output = out.read_text().strip() if out.exists() else "(not run yet: python tools/example_pages.py " + name + ")"
    picture = f"![{name}: the picture of the default run](pictures/{name}.png)\n\n" \
        if (PICTURES / f"{name}.png").exists() else ""
    return (f"# {title}\n\n<!-- written by tools/example_pages.py from examples/{name}.py: edit the script -->\n\n"
            f"{text}\n\n{picture}"
            f"```bash\n{usage}\n```\n\n"
            f"## Output of the default run\n\n```text\n{output}\n```\n\n"
            f"## The script: `examples/{name}.py`\n\n```python\n{code}```\n")


def index() -> str:
    """The Markdown of docs/examples/index.md: one row per example, with its picture."""
    rows = []
    for name, label in ORDER:
        title, _, _ = docstring(name)
        rows.append(f'| [{label}]({name}.md) | {title} | <img src="pictures/{name}.png" alt="{name}" width="160"> |')
    return ("# Tutorials\n\n<!-- written by tools/example_pages.py -->\n\n"
            "One short script per family in `examples/`, each going create -> train -> sample -> evaluate -> "
            "save / load through the public API, plus walk-throughs of the Ising model and the leaderboard. Each "
            "takes `--smoke` (seconds: the test suite runs every one this way, `tests/test_examples.py`) and "
            "otherwise runs a default budget of about a minute or less on 2 CPU cores, writing its picture to "
            "`--out` (default `runs/examples`). The pictures and outputs shown are those of the default budget.\n\n"
            "```bash\npython examples/vae.py --out runs/examples\n```\n\n"
            "| tutorial | what it shows | picture |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def run(name: str, out: Path) -> None:
    """Run examples/<name>.py at its default budget; keep its picture and output (with command, machine, date)."""
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from genzoo.provenance import machine

    torch.set_num_threads(1)  # as in the example's process (OMP_NUM_THREADS=1), so machine() says so

    cmd = [sys.executable, str(EXAMPLES / f"{name}.py"), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"examples/{name}.py failed:\n{r.stderr}")
    PICTURES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / f"{name}.png", PICTURES / f"{name}.png")
    stdout = r.stdout.replace(str(out), "runs/examples")
    head = (f"$ python examples/{name}.py --out runs/examples   # {seconds:.0f} s wall, OMP_NUM_THREADS=1\n"
            f"# {machine()}, {datetime.datetime.now(datetime.timezone.utc).date()}\n")
    (PICTURES / f"{name}.txt").write_text(head + stdout)
    print(f"{name}: {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="examples to run (default: all)")
    parser.add_argument("--pages-only", action="store_true", help="do not run the examples, only write the pages")
    parser.add_argument("--out", default="runs/examples", help="the examples' output folder")
    args = parser.parse_args(argv)
    chosen = args.names or names()
    if not args.pages_only:
        for name in chosen:
            run(name, Path(args.out).resolve())
    for name in names():
        (PAGES / f"{name}.md").write_text(page(name))
    (PAGES / "index.md").write_text(index())
    return 0


if __name__ == "__main__":
    sys.exit(main())
